/* vbridge-suspend-bench: GET_VRING_BASE latency, drain versus suspend, and what bounce-buffered reads cost. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vb_parse.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 256
#define BLK 4096u
#define DISK_SIZE (256ull << 20)
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define F_SUSPEND (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)
#define MAX_RUNS 1000
#define MAX_DEPTHS 8

struct options {
	unsigned delay_ms;
	unsigned runs;
	unsigned depths[MAX_DEPTHS];
	unsigned ndepths;
	unsigned read_seconds;
	unsigned read_depth;
	bool json;
	bool slow_disk;			/* part 1 on the slow FUSE disk instead of the delay engine */
	bool mixed;			/* part 1 reads of 4 KiB to 1 MiB instead of 4 KiB reads and writes */
	const char *daemon_args;	/* e.g. "--bounce-max 64K"; NULL: none */
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vbridge-suspend-bench [options]\n"
"\n"
"Starts vbridge (from $BUILD, default build/) on a temporary image and\n"
"measures, as a vhost-user front-end:\n"
"  1. GET_VRING_BASE latency with N requests in flight on storage with a\n"
"     fixed latency (--engine delay:D), draining (no protocol feature 20)\n"
"     versus suspending (feature 20 negotiated): median and p99;\n"
"  2. 4 KiB random-read IOPS on the io_uring engine with and without\n"
"     feature 20, which makes every read go through a bounce buffer.\n"
"\n"
"Options:\n"
"  --delay-ms MS      storage latency for part 1 (default 100)\n"
"  --runs N           GET_VRING_BASE samples per depth and mode (default 50)\n"
"  --depths LIST      requests in flight, comma separated, up to %d (default 1,16,256)\n"
"  --read-seconds S   duration of each part-2 run; 0 skips part 2 (default 3)\n"
"  --read-depth N     requests in flight in part 2, up to %d (default 32)\n"
"  --slow-disk        part 1 on the tests' slow FUSE disk (tests/lib/slowfs.sh)\n"
"                     with --delay-ms reads, engine uring, instead of the delay\n"
"                     engine: requests wait on io_uring, as on real storage\n"
"  --mixed            part 1 with reads only, of 4 KiB, 64 KiB, 256 KiB and\n"
"                     1 MiB in turn, instead of half 4 KiB reads, half writes\n"
"  --bounce-max SIZE  pass --bounce-max SIZE to vbridge\n"
"  --json             one JSON object instead of tables\n"
"  -h, --help         this text\n", QS, QS / 2);
}

static int parse_depths(char *s, struct options *o)
{
	o->ndepths = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (o->ndepths == MAX_DEPTHS || vb_parse_uint(tok, 1, QS, &o->depths[o->ndepths]) < 0)
			return -1;
		o->ndepths++;
	}
	return o->ndepths ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_DELAY = 256, OPT_RUNS, OPT_DEPTHS, OPT_READ_SECONDS, OPT_READ_DEPTH, OPT_JSON,
	       OPT_SLOW_DISK, OPT_MIXED, OPT_BOUNCE_MAX };
	static char bounce_arg[64];
	static const struct option opts[] = {
		{ "delay-ms", required_argument, NULL, OPT_DELAY },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "depths", required_argument, NULL, OPT_DEPTHS },
		{ "read-seconds", required_argument, NULL, OPT_READ_SECONDS },
		{ "read-depth", required_argument, NULL, OPT_READ_DEPTH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "slow-disk", no_argument, NULL, OPT_SLOW_DISK },
		{ "mixed", no_argument, NULL, OPT_MIXED },
		{ "bounce-max", required_argument, NULL, OPT_BOUNCE_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .delay_ms = 100, .runs = 50, .depths = { 1, 16, 256 },
			       .ndepths = 3, .read_seconds = 3, .read_depth = 32 };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DELAY:
			if (vb_parse_uint(optarg, 1, 60000, &o->delay_ms) < 0) {
				fprintf(stderr, "--delay-ms %s: expected 1 to 60000\n", optarg);
				return -1;
			}
			break;
		case OPT_RUNS:
			if (vb_parse_uint(optarg, 1, MAX_RUNS, &o->runs) < 0) {
				fprintf(stderr, "--runs %s: expected 1 to %d\n", optarg, MAX_RUNS);
				return -1;
			}
			break;
		case OPT_DEPTHS:
			if (parse_depths(optarg, o) < 0) {
				fprintf(stderr, "--depths: expected up to %d numbers from 1 to %d, e.g. 1,16,256\n",
					MAX_DEPTHS, QS);
				return -1;
			}
			break;
		case OPT_READ_SECONDS:
			if (vb_parse_uint(optarg, 0, 3600, &o->read_seconds) < 0) {
				fprintf(stderr, "--read-seconds %s: expected 0 to 3600\n", optarg);
				return -1;
			}
			break;
		case OPT_READ_DEPTH:
			if (vb_parse_uint(optarg, 1, QS / 2, &o->read_depth) < 0) {
				fprintf(stderr, "--read-depth %s: expected 1 to %d\n", optarg, QS / 2);
				return -1;
			}
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_SLOW_DISK:
			o->slow_disk = true;
			break;
		case OPT_MIXED:
			o->mixed = true;
			break;
		case OPT_BOUNCE_MAX:
			snprintf(bounce_arg, sizeof(bounce_arg), "--bounce-max %s", optarg);
			o->daemon_args = bounce_arg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const struct vu_dev *dev, const char *what)
{
	fprintf(stderr, "vbridge-suspend-bench: %s: %s\n", what, dev ? dev->err : strerror(errno));
	exit(1);
}

/* A daemon and a front-end connected to it with one 256-entry queue and n requests ready. */
struct bench {
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
	struct vu_blk_req req[QS];
	struct vu_blk_req *all[QS];
};

/* Reads of these sizes in turn with --mixed, all into one guest buffer: only the time counts. */
static const uint32_t mixed_sizes[] = { 4096, 64 << 10, 256 << 10, 1 << 20 };
#define NMIXED (sizeof(mixed_sizes) / sizeof(mixed_sizes[0]))

/* A daemon on disk (NULL: its own image) with engine and o's options; mixed: --mixed requests. */
static void bench_open(struct bench *b, const char *engine, uint64_t proto, const char *disk,
		       const struct options *opts, bool mixed)
{
	struct vu_daemon_opts o = { .engine = engine, .args = opts->daemon_args };
	void *shared = NULL;

	if (vu_daemon_setup(&b->d, DISK_SIZE) < 0)
		die(NULL, "cannot create a temp dir");
	if (disk)
		vu_daemon_use_disk(&b->d, disk);
	if (vu_daemon_start(&b->d, &o) < 0)
		die(NULL, "cannot start vbridge (is it built? set BUILD)");
	vu_dev_init(&b->dev);
	if (vu_connect(&b->dev, b->d.sock, 5000) < 0 ||
	    vu_negotiate(&b->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | proto) < 0 ||
	    vu_inflight_open(&b->dev, 1, QS, &b->inf) < 0 ||
	    vu_mem_add_region(&b->dev, 0, 16u << 20) < 0 || vu_mem_set_table(&b->dev) < 0 ||
	    !(b->vq = vu_vq_create(&b->dev, 0, QS)) || vu_vq_start(b->vq) < 0)
		die(&b->dev, "front-end set-up");
	if ((proto & F_SUSPEND) && !(b->dev.protocol_features & F_SUSPEND))
		die(&b->dev, "the daemon does not offer GET_VRING_BASE_INFLIGHT");
	if (mixed && !(shared = vu_mem_alloc(&b->dev, mixed_sizes[NMIXED - 1], BLK)))
		die(&b->dev, "guest memory");
	for (unsigned i = 0; i < QS; i++) {
		void *buf = mixed ? shared : vu_mem_alloc(&b->dev, BLK, BLK);

		if (vu_blk_req_init(&b->dev, &b->req[i]) < 0 || !buf)
			die(&b->dev, "guest memory");
		/* Half reads, half writes, spread over the disk; or reads of every size. */
		if (mixed)
			vu_blk_prep_read(&b->req[i], (uint64_t)i * 64, buf, mixed_sizes[i % NMIXED]);
		else if (i % 2)
			vu_blk_prep_write(&b->req[i], (uint64_t)i * 64, buf, BLK);
		else
			vu_blk_prep_read(&b->req[i], (uint64_t)i * 64, buf, BLK);
		b->req[i].flags |= VU_REQ_INDIRECT;
		b->all[i] = &b->req[i];
	}
}

static void bench_close(struct bench *b)
{
	for (unsigned i = 0; i < QS; i++)
		vu_blk_req_fini(&b->req[i]);
	vu_dev_close(&b->dev);
	vu_inflight_close(&b->inf);
	vu_daemon_stop(&b->d);
	vu_daemon_teardown(&b->d);
}

/* Submits n requests, waits until the daemon has fetched them all, and times GET_VRING_BASE. */
static double sample(struct bench *b, unsigned n, bool suspend, unsigned delay_ms)
{
	/*
	 * Everything before is used: a drain adds n used entries, a suspension
	 * those it waited for (reads longer than --bounce-max), published before
	 * the reply.
	 */
	uint16_t expect = (uint16_t)(b->vq->used->idx + (suspend ? 0 : n));
	uint32_t base;
	double t0, t;

	for (unsigned i = 0; i < n; i++) {
		b->req[i].done = false;
		if (vu_blk_enqueue(b->vq, &b->req[i]) < 0)
			die(&b->dev, "enqueue");
	}
	vu_vq_kick(b->vq);
	for (t0 = now_us(); vu_inflight_count(&b->inf, 0) != n;) {
		if (now_us() - t0 > delay_ms * 500.0)
			die(&b->dev, "the daemon did not fetch the requests in time");
		usleep(100);
	}
	vu_set_vring_enable(&b->dev, 0, false);
	t0 = now_us();
	if (vu_get_vring_base(&b->dev, 0, &base) < 0)
		die(&b->dev, "GET_VRING_BASE");
	t = now_us() - t0;
	if (base != __atomic_load_n(&b->vq->used->idx, __ATOMIC_ACQUIRE) ||
	    (!suspend && base != expect))
		die(&b->dev, "GET_VRING_BASE replied an unexpected base");
	/* Same daemon, same region: a suspended ring's requests are resubmitted and finish now. */
	b->vq->base = (uint16_t)base;
	if (vu_vq_start(b->vq) < 0 || vu_blk_wait_all(&b->dev, b->all, n, 10000 + delay_ms * 4) < 0)
		die(&b->dev, "restarting the ring");
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, unsigned n, double p)
{
	unsigned rank = (unsigned)(p / 100.0 * n + 0.999999);

	return v[rank ? rank - 1 : 0];
}

struct latency {
	double p50[2], p99[2];	/* [0] drain, [1] suspend, in µs */
};

static void measure_latency(const struct options *o, struct latency *res)
{
	char engine[32], delay[32];
	static double v[MAX_RUNS];
	struct vu_slowfs fs = { 0 };

	snprintf(engine, sizeof(engine), "delay:%ums", o->delay_ms);
	snprintf(delay, sizeof(delay), "--delay-ms %u", o->delay_ms);
	if (o->slow_disk && vu_slowfs_mount(&fs, "256M", delay) < 0)
		die(NULL, "cannot mount the slow disk (tests/lib/slowfs.sh, from the repository root)");
	for (int mode = 0; mode < 2; mode++) {
		struct bench *b = calloc(1, sizeof(*b));

		if (!b)
			die(NULL, "memory");
		bench_open(b, o->slow_disk ? "uring" : engine, F_INFLIGHT | (mode ? F_SUSPEND : 0),
			   o->slow_disk ? fs.disk : NULL, o, o->mixed);
		for (unsigned k = 0; k < o->ndepths; k++) {
			for (unsigned r = 0; r < o->runs; r++)
				v[r] = sample(b, o->depths[k], mode, o->delay_ms);
			qsort(v, o->runs, sizeof(v[0]), cmp_double);
			res[k].p50[mode] = pct(v, o->runs, 50);
			res[k].p99[mode] = pct(v, o->runs, 99);
		}
		bench_close(b);
		free(b);
	}
	if (o->slow_disk)
		vu_slowfs_umount(&fs);
}

/* Closed loop of 4 KiB random reads at depth for seconds; returns IOPS. */
static double read_iops(const struct options *o, bool suspend, unsigned depth, unsigned seconds)
{
	struct bench *b = calloc(1, sizeof(*b));
	unsigned long done = 0;
	unsigned seed = 1;
	double t0, end, rate;

	if (!b)
		die(NULL, "memory");
	bench_open(b, "uring", F_INFLIGHT | (suspend ? F_SUSPEND : 0), NULL, o, false);
	for (unsigned i = 0; i < depth; i++) {
		b->req[i * 2].sector = (rand_r(&seed) % (DISK_SIZE / BLK)) * (BLK / 512);
		vu_blk_enqueue(b->vq, &b->req[i * 2]);
	}
	vu_vq_notify(b->vq);
	t0 = now_us();
	end = t0 + seconds * 1e6;
	while (now_us() < end) {
		if (vu_vq_wait(b->vq, 1000) <= 0)
			die(&b->dev, "waiting for reads");
		vu_blk_reap(b->vq);
		for (unsigned i = 0; i < depth; i++) {
			struct vu_blk_req *r = &b->req[i * 2];

			if (!r->done)
				continue;
			if (r->status != VIRTIO_BLK_S_OK)
				die(&b->dev, "a read failed");
			done++;
			r->done = false;
			r->sector = (rand_r(&seed) % (DISK_SIZE / BLK)) * (BLK / 512);
			vu_blk_enqueue(b->vq, r);
		}
		vu_vq_notify(b->vq);
	}
	rate = done / ((now_us() - t0) / 1e6);
	bench_close(b);
	free(b);
	return rate;
}

int main(int argc, char **argv)
{
	struct options o;
	struct latency lat[MAX_DEPTHS];
	double iops[2] = { 0, 0 };

	if (parse_args(argc, argv, &o) < 0) {
		fprintf(stderr, "See vbridge-suspend-bench --help.\n");
		return 2;
	}
	vu_harness_init(3600);
	measure_latency(&o, lat);
	if (o.read_seconds) {
		iops[0] = read_iops(&o, false, o.read_depth, o.read_seconds);
		iops[1] = read_iops(&o, true, o.read_depth, o.read_seconds);
	}
	if (o.json) {
		printf("{\"delay_ms\": %u, \"runs\": %u, \"get_vring_base_us\": [", o.delay_ms, o.runs);
		for (unsigned k = 0; k < o.ndepths; k++)
			printf("%s{\"in_flight\": %u, \"drain_p50\": %.1f, \"drain_p99\": %.1f, "
			       "\"suspend_p50\": %.1f, \"suspend_p99\": %.1f}", k ? ", " : "",
			       o.depths[k], lat[k].p50[0], lat[k].p99[0], lat[k].p50[1],
			       lat[k].p99[1]);
		printf("], \"randread_4k_depth\": %u, \"iops_direct\": %.0f, \"iops_bounce\": %.0f}\n",
		       o.read_depth, iops[0], iops[1]);
		return 0;
	}
	printf("GET_VRING_BASE latency, storage latency %u ms (%s), %s, %u runs each\n\n",
	       o.delay_ms, o.slow_disk ? "slow FUSE disk" : "--engine delay",
	       o.mixed ? "reads of 4 KiB to 1 MiB" : "4 KiB reads and writes", o.runs);
	printf("%-10s %12s %12s %13s %13s %10s\n", "in flight", "drain p50", "drain p99",
	       "suspend p50", "suspend p99", "p99 ratio");
	for (unsigned k = 0; k < o.ndepths; k++)
		printf("%-10u %9.2f ms %9.2f ms %10.3f ms %10.3f ms %9.0fx\n", o.depths[k],
		       lat[k].p50[0] / 1e3, lat[k].p99[0] / 1e3, lat[k].p50[1] / 1e3,
		       lat[k].p99[1] / 1e3, lat[k].p99[0] / lat[k].p99[1]);
	if (o.read_seconds)
		printf("\n4 KiB random reads, depth %u, io_uring engine, %u s each:\n"
		       "  reads into guest memory (no feature 20): %10.0f IOPS\n"
		       "  reads through bounce buffers (feature 20): %8.0f IOPS  (%.2fx)\n",
		       o.read_depth, o.read_seconds, iops[0], iops[1], iops[1] / iops[0]);
	return 0;
}
