/* vbridge-suspend-bench: GET_VRING_BASE latency, drain versus suspend, and what bounce-buffered reads cost. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/fence.h"
#include "vb_parse.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 256
#define BLK 4096u
#define DISK_SIZE (256ull << 20)
#define SLOW_DISK_SIZE (64ull << 20)
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define F_SUSPEND (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)
#define MAX_RUNS 1000
#define MAX_DEPTHS 8
#define MAX_SLOW 4
#define MAX_ROWS (MAX_SLOW * MAX_DEPTHS)
#define WHERE_WIDTH 22	/* the table's first column */
#define MAX_ADDED 64	/* rows and notes taken from --add-rows files */

/* One storage latency of the slow disk and how many samples to take on it. */
struct slow {
	unsigned ms, runs;
};

struct options {
	struct slow slow[MAX_SLOW];
	unsigned nslow;
	unsigned depths[MAX_DEPTHS];
	unsigned ndepths;
	unsigned read_seconds;
	unsigned read_depth;
	bool json;
	bool rows;			/* only the latency table's rows, for --add-rows elsewhere */
	enum part1 {
		P1_HALF_WRITES,		/* 4 KiB writes and reads in turn (default) */
		P1_READ_SIZES,		/* --mixed: reads of 4 KiB to 1 MiB in turn */
		P1_WRITES,		/* --writes: 4 KiB writes only */
	} part1;
	const char *daemon_args;	/* e.g. "--bounce-max 64K"; NULL: none */
	const char *disk;		/* --disk: this storage instead of a slow FUSE mount */
	uint64_t disk_size;		/* of --disk, for the fence probes */
	const char *engine;		/* vbridge --engine: uring, kabort or rbd */
	const char *slow_cmd;		/* --slow-cmd: makes the storage slow ("on") or not ("off") */
	const char *where;		/* the rows' first column */
	const char *add_rows[MAX_SLOW];	/* --add-rows files */
	unsigned nadd_rows;
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vbridge-suspend-bench [options]\n"
"\n"
"Starts vbridge (from $BUILD, default build/) and measures, as a vhost-user\n"
"front-end:\n"
"  1. GET_VRING_BASE latency with N requests in flight (half 4 KiB reads,\n"
"     half 4 KiB writes) on the tests' slow FUSE disk (build/slowfs, async\n"
"     direct I/O), whose every read and write the kernel waits for MS ms, or\n"
"     on --disk: draining (no protocol feature 20) versus suspending\n"
"     (feature 20: reads abandoned, writes fenced), median and p99, and how\n"
"     many of the writes were fenced at the reply;\n"
"  2. 4 KiB random-read IOPS on the io_uring engine with and without\n"
"     feature 20, which makes every read go through a bounce buffer.\n"
"\n"
"Options:\n"
"  --slow MS:RUNS     storage latency and samples per depth and mode; repeat\n"
"                     for up to %d latencies (default --slow 100:50 --slow 1000:10)\n"
"  --disk PATH        part 1 on PATH (a file or block device, at least 9 MiB,\n"
"                     overwritten) instead of the FUSE disk; exactly one --slow,\n"
"                     whose MS is PATH's latency (e.g. a dm-delay device's);\n"
"                     MS 0: storage that answers at once (a file on tmpfs),\n"
"                     where GET_VRING_BASE follows as soon as the daemon has\n"
"                     fetched every request, however many are done by then\n"
"  --engine NAME      vbridge's engine in part 1: uring (default), kabort\n"
"                     (needs --disk on a block device and the vbabort module)\n"
"                     or rbd (needs --disk rbd:POOL/IMAGE[:...], as vbridge's)\n"
"  --slow-cmd CMD     the storage is slow only after \"CMD on\": the bench runs\n"
"                     \"CMD off\" before it starts vbridge and \"CMD on\" once\n"
"                     the front-end is set up (for a Ceph OSD's message delay,\n"
"                     which would slow the daemon's start too)\n"
"  --where LABEL      the rows' first column, up to %d characters (default\n"
"                     \"FUSE, host\", or PATH with --disk)\n"
"  --rows             print only the rows of part 1's table, for --add-rows\n"
"                     (no part 2)\n"
"  --add-rows FILE    add FILE's rows (of a --rows run elsewhere, e.g. in a\n"
"                     guest) to the table, and its lines \"note: TEXT\" to the\n"
"                     text above it as one item each; repeatable\n"
"  --depths LIST      requests in flight, comma separated, up to %d (default 1,16,256)\n"
"  --read-seconds S   duration of each part-2 run; 0 skips part 2 (default 3)\n"
"  --read-depth N     requests in flight in part 2, up to %d (default 32)\n"
"  --mixed            part 1 with reads only, of 4 KiB, 64 KiB, 256 KiB and\n"
"                     1 MiB in turn, instead of half 4 KiB reads, half writes\n"
"  --writes           part 1 with 4 KiB writes only\n"
"  --bounce-max SIZE  pass --bounce-max SIZE to vbridge\n"
"  --json             one JSON object instead of tables\n"
"  -h, --help         this text\n", MAX_SLOW, WHERE_WIDTH, QS, QS / 2);
}

static int parse_slow(char *s, struct options *o)
{
	char *colon = strchr(s, ':');
	struct slow *sl = &o->slow[o->nslow];

	if (o->nslow == MAX_SLOW || !colon)
		return -1;
	*colon = '\0';
	if (vb_parse_uint(s, 0, 60000, &sl->ms) < 0 ||
	    vb_parse_uint(colon + 1, 1, MAX_RUNS, &sl->runs) < 0)
		return -1;
	o->nslow++;
	return 0;
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

/* The combinations parse_args cannot judge one option at a time; fills in the defaults. */
static int check_args(struct options *o)
{
	if (o->disk && o->nslow != 1) {
		fprintf(stderr, "--disk needs exactly one --slow MS:RUNS, MS being the latency of %s\n",
			o->disk);
		return -1;
	}
	for (unsigned i = 0; i < o->nslow; i++) {
		if (!o->slow[i].ms && !o->disk) {
			fprintf(stderr, "--slow 0:RUNS needs --disk: the FUSE disk is slow\n");
			return -1;
		}
	}
	if (!strcmp(o->engine, "rbd") != (o->disk && !strncmp(o->disk, "rbd:", 4))) {
		fprintf(stderr, "--engine rbd and --disk rbd:POOL/IMAGE go together\n");
		return -1;
	}
	if (!strcmp(o->engine, "kabort") && !o->disk) {
		fprintf(stderr, "--engine kabort needs --disk, a block device (the FUSE disk is a file)\n");
		return -1;
	}
	if (o->rows && (o->json || o->nadd_rows)) {
		fprintf(stderr, "--rows prints rows only: not with --json or --add-rows\n");
		return -1;
	}
	if (o->json && o->nadd_rows) {
		fprintf(stderr, "--add-rows adds rows to the table: not with --json\n");
		return -1;
	}
	/* An image's size is the cluster's to check; its fences are not probed. */
	if (o->disk && strcmp(o->engine, "rbd")) {
		int fd = open(o->disk, O_RDONLY);
		off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);

		if (fd >= 0)
			close(fd);
		if (size < 0) {
			fprintf(stderr, "--disk %s: %s\n", o->disk, strerror(errno));
			return -1;
		}
		/* Request i is at sector i * 64: the last one ends below 8 MiB + 4 KiB. */
		if ((uint64_t)size < (QS * 64ull * 512 + BLK)) {
			fprintf(stderr, "--disk %s: %lld bytes, at least %llu needed\n", o->disk,
				(long long)size, QS * 64ull * 512 + BLK);
			return -1;
		}
		o->disk_size = (uint64_t)size;
	}
	if (!o->where)
		o->where = o->disk ? o->disk : "FUSE, host";
	if (strlen(o->where) > WHERE_WIDTH) {
		fprintf(stderr, "--disk %s: name longer than %d characters, give --where\n", o->disk,
			WHERE_WIDTH);
		return -1;
	}
	if (o->rows)
		o->read_seconds = 0;
	if (!o->nslow) {
		o->slow[0] = (struct slow){ 100, 50 };
		o->slow[1] = (struct slow){ 1000, 10 };
		o->nslow = 2;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_SLOW = 256, OPT_DEPTHS, OPT_READ_SECONDS, OPT_READ_DEPTH, OPT_JSON, OPT_MIXED, OPT_WRITES,
	       OPT_BOUNCE_MAX, OPT_DISK, OPT_ENGINE, OPT_WHERE, OPT_ROWS, OPT_ADD_ROWS,
	       OPT_SLOW_CMD };
	static char bounce_arg[64];
	static const struct option opts[] = {
		{ "slow", required_argument, NULL, OPT_SLOW },
		{ "depths", required_argument, NULL, OPT_DEPTHS },
		{ "read-seconds", required_argument, NULL, OPT_READ_SECONDS },
		{ "read-depth", required_argument, NULL, OPT_READ_DEPTH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "mixed", no_argument, NULL, OPT_MIXED },
		{ "writes", no_argument, NULL, OPT_WRITES },
		{ "bounce-max", required_argument, NULL, OPT_BOUNCE_MAX },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "where", required_argument, NULL, OPT_WHERE },
		{ "rows", no_argument, NULL, OPT_ROWS },
		{ "add-rows", required_argument, NULL, OPT_ADD_ROWS },
		{ "slow-cmd", required_argument, NULL, OPT_SLOW_CMD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .depths = { 1, 16, 256 }, .ndepths = 3, .read_seconds = 3,
			       .read_depth = 32, .engine = "uring" };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SLOW:
			if (parse_slow(optarg, o) < 0) {
				fprintf(stderr, "--slow %s: expected MS:RUNS, MS 0 to 60000, RUNS 1 to %d, "
					"at most %d times\n", optarg, MAX_RUNS, MAX_SLOW);
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
		case OPT_MIXED:
			o->part1 = P1_READ_SIZES;
			break;
		case OPT_WRITES:
			o->part1 = P1_WRITES;
			break;
		case OPT_BOUNCE_MAX:
			snprintf(bounce_arg, sizeof(bounce_arg), "--bounce-max %s", optarg);
			o->daemon_args = bounce_arg;
			break;
		case OPT_DISK:
			o->disk = optarg;
			break;
		case OPT_ENGINE:
			if (strcmp(optarg, "uring") && strcmp(optarg, "kabort") && strcmp(optarg, "rbd")) {
				fprintf(stderr, "--engine %s: expected uring, kabort or rbd\n", optarg);
				return -1;
			}
			o->engine = optarg;
			break;
		case OPT_SLOW_CMD:
			o->slow_cmd = optarg;
			break;
		case OPT_WHERE:
			if (!*optarg || strlen(optarg) > WHERE_WIDTH) {
				fprintf(stderr, "--where '%s': expected 1 to %d characters\n", optarg,
					WHERE_WIDTH);
				return -1;
			}
			o->where = optarg;
			break;
		case OPT_ROWS:
			o->rows = true;
			break;
		case OPT_ADD_ROWS:
			if (o->nadd_rows == MAX_SLOW) {
				fprintf(stderr, "--add-rows: at most %d files\n", MAX_SLOW);
				return -1;
			}
			o->add_rows[o->nadd_rows++] = optarg;
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
	return check_args(o);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char *daemon_log;	/* of the daemon being measured, shown when the bench fails */

/* The end of the daemon's log on stderr: the harness removes the file at exit. */
static void show_daemon_log(void)
{
	static char buf[65536];
	FILE *f = daemon_log ? fopen(daemon_log, "r") : NULL;
	size_t n;

	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	fprintf(stderr, "vbridge-suspend-bench: the end of the daemon's log:\n%s",
		buf + (n > 2048 ? n - 2048 : 0));
}

static void die(const struct vu_dev *dev, const char *what)
{
	fprintf(stderr, "vbridge-suspend-bench: %s: %s\n", what, dev ? dev->err : strerror(errno));
	show_daemon_log();
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

/* Runs "--slow-cmd STATE", if given; the bench cannot go on if it fails. */
static void slow_cmd(const struct options *o, const char *state)
{
	char cmd[4096];

	if (!o->slow_cmd)
		return;
	snprintf(cmd, sizeof(cmd), "%s %s", o->slow_cmd, state);
	if (system(cmd) != 0)
		die(NULL, "--slow-cmd failed");
}

/* Whether request i of a layout is a write: with half writes, N = 1 is one (the case that used to wait). */
static bool is_write(enum part1 layout, unsigned i)
{
	return layout == P1_WRITES || (layout == P1_HALF_WRITES && i % 2 == 0);
}

/* How many of a layout's first n requests are writes. */
static unsigned writes_among(enum part1 layout, unsigned n)
{
	unsigned w = 0;

	for (unsigned i = 0; i < n; i++)
		w += is_write(layout, i);
	return w;
}

/*
 * A daemon on disk (the image to serve, or NULL for a sparse one of its
 * own) with engine and opts' options, and requests laid out as layout.
 */
static void bench_open(struct bench *b, const char *engine, uint64_t proto, const char *disk,
		       const struct options *opts, enum part1 layout)
{
	bool mixed = layout == P1_READ_SIZES;
	struct vu_daemon_opts o = { .engine = engine, .args = opts->daemon_args };
	void *shared = NULL;

	if (vu_daemon_setup(&b->d, DISK_SIZE) < 0)
		die(NULL, "cannot create a temp dir");
	if (disk)
		vu_daemon_use_disk(&b->d, disk);
	slow_cmd(opts, "off");
	if (vu_daemon_start(&b->d, &o) < 0)
		die(NULL, "cannot start vbridge (is it built? set BUILD)");
	daemon_log = b->d.log;
	vu_dev_init(&b->dev);
	if (vu_connect(&b->dev, b->d.sock, 5000) < 0 ||
	    vu_negotiate(&b->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | proto) < 0 ||
	    vu_inflight_open(&b->dev, 1, QS, &b->inf) < 0 ||
	    vu_mem_add_region(&b->dev, 0, 16u << 20) < 0 || vu_mem_set_table(&b->dev) < 0 ||
	    !(b->vq = vu_vq_create(&b->dev, 0, QS)) || vu_vq_start(b->vq) < 0)
		die(&b->dev, "front-end set-up");
	if ((proto & F_SUSPEND) && !(b->dev.protocol_features & F_SUSPEND))
		die(&b->dev, "the daemon does not offer GET_VRING_BASE_INFLIGHT");
	slow_cmd(opts, "on");
	if (mixed && !(shared = vu_mem_alloc(&b->dev, mixed_sizes[NMIXED - 1], BLK)))
		die(&b->dev, "guest memory");
	for (unsigned i = 0; i < QS; i++) {
		void *buf = mixed ? shared : vu_mem_alloc(&b->dev, BLK, BLK);

		if (vu_blk_req_init(&b->dev, &b->req[i]) < 0 || !buf)
			die(&b->dev, "guest memory");
		/* Spread out. */
		if (mixed)
			vu_blk_prep_read(&b->req[i], (uint64_t)i * 64, buf, mixed_sizes[i % NMIXED]);
		else if (is_write(layout, i))
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
	daemon_log = NULL;
}

/* How many of the first n requests' writes are fenced now, seen from probe_fd on a disk of size bytes. */
static unsigned fenced_writes(const struct options *o, struct bench *b, unsigned n, int probe_fd,
			      uint64_t size)
{
	unsigned fenced = 0;

	for (unsigned i = 0; i < n; i++)
		fenced += is_write(o->part1, i) &&
			  vb_fence_probe(probe_fd, size, b->req[i].sector * 512, BLK) ==
				  VB_FENCE_FENCED;
	return fenced;
}

/*
 * Submits n requests, waits until the daemon has fetched them and handed
 * them to the storage, and times GET_VRING_BASE; *fenced gets how many
 * writes were fenced at the reply. Then restarts the ring in the same daemon
 * and waits for every request: the resubmitted writes wait for the old ones'
 * fences, so when this returns every old write has landed and the next
 * sample starts on idle storage.
 */
/* Samples taken again because their requests completed before all were in flight. */
static unsigned retaken;
#define MAX_RETAKES 5	/* of one sample */

/*
 * Publishes the first n requests and waits until all are inflight at once.
 * False if some completed first: the bench was descheduled for longer than
 * the storage latency (seen in a TCG guest on a loaded host at 100 ms).
 * Storage that answers at once (fast) never has them all inflight: then it
 * waits only until the daemon fetched them all, done or not.
 */
static bool submit_all(struct bench *b, unsigned n, bool suspend, bool fast)
{
	uint16_t before = b->vq->used->idx;
	double t0;

	/*
	 * One avail->idx store for all n: the worker may still be awake from the
	 * restart, and a part it fetched alone could complete before the rest
	 * arrive (the bench preempted for the storage latency), after which
	 * never all n are inflight at once.
	 */
	vu_vq_hold_avail(b->vq, true);
	for (unsigned i = 0; i < n; i++) {
		b->req[i].done = false;
		if (vu_blk_enqueue(b->vq, &b->req[i]) < 0)
			die(&b->dev, "enqueue");
	}
	vu_vq_hold_avail(b->vq, false);
	vu_vq_kick(b->vq);
	for (t0 = now_us(); vu_inflight_count(&b->inf, 0) != n;) {
		uint16_t used = (uint16_t)(__atomic_load_n(&b->vq->used->idx, __ATOMIC_ACQUIRE) - before);

		if (fast && used + vu_inflight_count(&b->inf, 0) >= n)
			break;
		if (used && !fast)
			return false;
		if (now_us() - t0 > 10e6) {
			fprintf(stderr, "vbridge-suspend-bench: %u of %u requests inflight, none used, %s\n",
				vu_inflight_count(&b->inf, 0), n, suspend ? "suspending" : "draining");
			die(&b->dev, "the requests were not all inflight within 10 s");
		}
		usleep(100);
	}
	return true;
}

static double sample(const struct options *o, struct bench *b, unsigned n, bool suspend,
		     unsigned delay_ms, int probe_fd,
		     uint64_t disk_size, unsigned *fenced)
{
	unsigned tries = 0;
	uint16_t drained;	/* used->idx after a drain */
	uint32_t base;
	double t0, t;

	for (;;) {
		drained = (uint16_t)(b->vq->used->idx + n);
		if (submit_all(b, n, suspend, delay_ms == 0))
			break;
		if (vu_blk_wait_all(&b->dev, b->all, n, 20000 + delay_ms * 8) < 0)
			die(&b->dev, "waiting for the requests of a sample taken again");
		if (++tries == MAX_RETAKES) {
			fprintf(stderr, "vbridge-suspend-bench: %d times, requests completed before all %u "
				"were in flight: is the storage as slow as --slow says?\n", MAX_RETAKES, n);
			show_daemon_log();
			exit(1);
		}
		retaken++;
	}
	/* Fetched is not yet issued: a quarter of the latency to issue them, which they outlast. */
	usleep(delay_ms * 250);
	vu_set_vring_enable(&b->dev, 0, false);
	t0 = now_us();
	if (vu_get_vring_base(&b->dev, 0, &base) < 0)
		die(&b->dev, "GET_VRING_BASE");
	t = now_us() - t0;
	/* A suspension publishes what it finds done (storage that answered just then) first. */
	if (base != (suspend ? __atomic_load_n(&b->vq->used->idx, __ATOMIC_ACQUIRE) : drained)) {
		fprintf(stderr, "vbridge-suspend-bench: GET_VRING_BASE replied base %u, used->idx %u, %s %u requests\n",
			base, b->vq->used->idx, suspend ? "suspending" : "draining", n);
		show_daemon_log();
		exit(1);
	}
	*fenced = suspend && probe_fd >= 0 ? fenced_writes(o, b, n, probe_fd, disk_size) : 0;
	/* Same daemon, same region: a suspended ring's requests are resubmitted and finish now. */
	b->vq->base = (uint16_t)base;
	if (vu_vq_start(b->vq) < 0 || vu_blk_wait_all(&b->dev, b->all, n, 20000 + delay_ms * 8) < 0)
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
	unsigned delay_ms, runs, in_flight;
	double p50[2], p99[2];	/* [0] drain, [1] suspend, in µs */
	unsigned fenced_min;	/* fewest writes fenced at a suspension's reply */
};

/*
 * kabort fences its writes in the module, where another process cannot see
 * them; the uring engine's are OFD locks, which the bench probes.
 */
static bool fences_probed(const struct options *o)
{
	return !strcmp(o->engine, "uring");
}

/* Fills res[k] for every depth k, on the slow disk with latency sl (or on --disk). */
static void measure_latency(const struct options *o, const struct slow *sl, struct latency *res)
{
	static double v[MAX_RUNS];
	struct vu_slowfs fs = { .pid = 0 };
	const char *disk = o->disk;
	uint64_t disk_size = o->disk_size;
	int probe_fd = -1;

	if (!disk) {
		char fsopts[32];

		snprintf(fsopts, sizeof(fsopts), "--delay-ms %u", sl->ms);
		if (vu_slowfs_mount(&fs, "64M", fsopts) < 0)
			die(NULL, "cannot mount the slow disk (is build/slowfs built? /dev/fuse?)");
		disk = fs.disk;
		disk_size = SLOW_DISK_SIZE;
	}
	if (fences_probed(o) && (probe_fd = vb_fence_probe_open(disk)) < 0)
		die(NULL, "cannot open the disk for probing fences");
	for (int mode = 0; mode < 2; mode++) {
		struct bench *b = calloc(1, sizeof(*b));

		if (!b)
			die(NULL, "memory");
		bench_open(b, o->engine, F_INFLIGHT | (mode ? F_SUSPEND : 0), disk, o, o->part1);
		for (unsigned k = 0; k < o->ndepths; k++) {
			unsigned fenced, fenced_min = QS;

			for (unsigned r = 0; r < sl->runs; r++) {
				v[r] = sample(o, b, o->depths[k], mode, sl->ms, probe_fd, disk_size,
					      &fenced);
				fenced_min = fenced < fenced_min ? fenced : fenced_min;
			}
			qsort(v, sl->runs, sizeof(v[0]), cmp_double);
			res[k].delay_ms = sl->ms;
			res[k].runs = sl->runs;
			res[k].in_flight = o->depths[k];
			res[k].p50[mode] = pct(v, sl->runs, 50);
			res[k].p99[mode] = pct(v, sl->runs, 99);
			if (mode)
				res[k].fenced_min = fenced_min;
		}
		bench_close(b);
		free(b);
	}
	if (probe_fd >= 0)
		close(probe_fd);
	if (!o->disk)
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
	/* Part 2 reads the odd requests: reads in this layout. */
	bench_open(b, "uring", F_INFLIGHT | (suspend ? F_SUSPEND : 0), NULL, o, P1_HALF_WRITES);
	for (unsigned i = 0; i < depth; i++) {
		b->req[i * 2 + 1].sector = (rand_r(&seed) % (DISK_SIZE / BLK)) * (BLK / 512);
		vu_blk_enqueue(b->vq, &b->req[i * 2 + 1]);
	}
	vu_vq_notify(b->vq);
	t0 = now_us();
	end = t0 + seconds * 1e6;
	while (now_us() < end) {
		if (vu_vq_wait(b->vq, 1000) <= 0)
			die(&b->dev, "waiting for reads");
		vu_blk_reap(b->vq);
		for (unsigned i = 0; i < depth; i++) {
			struct vu_blk_req *r = &b->req[i * 2 + 1];

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

/* The load average now, for the record: the samples are wall-clock times on a shared machine. */
static void loadavg(char *buf, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "r");
	float l1 = 0, l5 = 0;

	if (!f || fscanf(f, "%f %f", &l1, &l5) != 2)
		snprintf(buf, size, "unknown");
	else
		snprintf(buf, size, "%.2f (1 min), %.2f (5 min)", l1, l5);
	if (f)
		fclose(f);
}

static void print_json(const struct options *o, const struct latency *lat, unsigned nlat,
		       const double *iops)
{
	printf("{\"where\": \"%s\", \"engine\": \"%s\", \"get_vring_base_us\": [", o->where, o->engine);
	for (unsigned k = 0; k < nlat; k++) {
		printf("%s{\"storage_ms\": %u, \"runs\": %u, \"in_flight\": %u, "
		       "\"drain_p50\": %.1f, \"drain_p99\": %.1f, \"suspend_p50\": %.1f, "
		       "\"suspend_p99\": %.1f, \"writes\": %u, \"fenced_min\": ", k ? ", " : "",
		       lat[k].delay_ms, lat[k].runs, lat[k].in_flight, lat[k].p50[0], lat[k].p99[0],
		       lat[k].p50[1], lat[k].p99[1], writes_among(o->part1, lat[k].in_flight));
		if (fences_probed(o))
			printf("%u}", lat[k].fenced_min);
		else
			printf("null}");
	}
	printf("], \"randread_4k_depth\": %u, \"iops_direct\": %.0f, \"iops_bounce\": %.0f}\n",
	       o->read_depth, iops[0], iops[1]);
}

static const char table_rule[] = "======================  ======  =======  =========  ====  "
				 "=========  =========  ===========  ===========  =========  =========  "
				 "==========";
/* Where the last column starts: a row from --add-rows is at least that long. */
#define LAST_COLUMN (sizeof(table_rule) - 1 - 10)

/* This run's rows of the latency table. */
static void print_rows(const struct options *o, const struct latency *lat, unsigned nlat)
{
	for (unsigned k = 0; k < nlat; k++) {
		char storage[16], fenced[24] = "-";

		/* On every row: a simple table takes a row with an empty first cell as a continuation. */
		snprintf(storage, sizeof(storage), "%u ms", lat[k].delay_ms);
		if (fences_probed(o))
			snprintf(fenced, sizeof(fenced), "%u of %u", lat[k].fenced_min,
				 writes_among(o->part1, lat[k].in_flight));
		printf("%-*s  %-6s  %-7s  %-9u  %-4u  %6.0f ms  %6.0f ms  %8.3f ms  %8.3f ms  %8.0fx  "
		       "%8.0fx  %s\n", WHERE_WIDTH, o->where, o->engine, storage, lat[k].in_flight,
		       lat[k].runs, lat[k].p50[0] / 1e3, lat[k].p99[0] / 1e3, lat[k].p50[1] / 1e3,
		       lat[k].p99[1] / 1e3, lat[k].p50[0] / lat[k].p50[1],
		       lat[k].p99[0] / lat[k].p99[1], fenced);
	}
}

/* The lines of the --add-rows files: table rows, and "note: TEXT" lines for the text above. */
struct added {
	char *rows[MAX_ADDED], *notes[MAX_ADDED];
	unsigned nrows, nnotes;
};

static int read_added(const struct options *o, struct added *a)
{
	char line[1024];

	for (unsigned i = 0; i < o->nadd_rows; i++) {
		FILE *f = fopen(o->add_rows[i], "r");
		unsigned lineno = 0;

		if (!f) {
			fprintf(stderr, "--add-rows %s: %s\n", o->add_rows[i], strerror(errno));
			return -1;
		}
		while (fgets(line, sizeof(line), f)) {
			bool note = !strncmp(line, "note: ", 6);
			char **slot = note ? &a->notes[a->nnotes] : &a->rows[a->nrows];

			lineno++;
			line[strcspn(line, "\n")] = '\0';
			if (!line[0])
				continue;
			if (!note && (strlen(line) < LAST_COLUMN || line[0] == '=' || line[0] == ' ')) {
				fprintf(stderr, "--add-rows %s: line %u is not a row of a --rows run: %s\n",
					o->add_rows[i], lineno, line);
				fclose(f);
				return -1;
			}
			if ((note ? a->nnotes : a->nrows) == MAX_ADDED ||
			    !(*slot = strdup(note ? line + 6 : line))) {
				fprintf(stderr, "--add-rows: more than %d rows or notes\n", MAX_ADDED);
				fclose(f);
				return -1;
			}
			if (note)
				a->nnotes++;
			else
				a->nrows++;
		}
		fclose(f);
	}
	return 0;
}

static char retaken_text[160];	/* says how many samples were taken again, if any */

/* reStructuredText, so that the documentation includes the output as it is. */
static void print_rst(const struct options *o, const struct latency *lat, unsigned nlat,
		      const double *iops, const struct added *a, const char *load0,
		      const char *load1)
{
	printf("``GET_VRING_BASE`` latency with N requests fetched and with the storage\n"
	       "(%s): draining (no feature 20) versus\n"
	       "suspending (feature 20), median and p99 of *runs* samples each, and the\n"
	       "ratios of draining to suspending. *Fenced* is the fewest writes found fenced at a\n"
	       "suspension's reply (an OFD lock, probed from another open file description),\n"
	       "of those in flight; ``-`` where the engine fences them out of a probe's\n"
	       "sight: kabort in the vbabort module, rbd by the next owner's lock break. The rows:\n\n",
	       o->part1 == P1_READ_SIZES ? "reads of 4 KiB, 64 KiB, 256 KiB and 1 MiB in turn" :
	       o->part1 == P1_WRITES	 ? "4 KiB writes" :
					   "half 4 KiB writes, half 4 KiB reads");
	printf("* ``%s``, ``%s``: this run, ", o->where, o->engine);
	if (o->disk)
		printf("on ``%s``, whose latency is %u ms", o->disk, o->slow[0].ms);
	else
		printf("on the host, on the tests' slow FUSE\n"
		       "  disk (``build/slowfs``, async direct I/O, every read and write held in\n"
		       "  the kernel for the storage latency)");
	printf("%s%s;\n  load average %s at the start, %s at the end;\n"
	       "  the bench and the daemons it started ran at nice %d.",
	       o->daemon_args ? ", vbridge " : "", o->daemon_args ? o->daemon_args : "",
	       load0, load1, getpriority(PRIO_PROCESS, 0));
	if (retaken)
		printf(" %s", retaken_text);
	printf("\n");
	for (unsigned i = 0; i < a->nnotes; i++)
		printf("* %s\n", a->notes[i]);
	printf("\n%s\n%-*s  %-6s  %-7s  %-9s  %-4s  %-9s  %-9s  %-11s  %-11s  %-9s  %-9s  %s\n%s\n",
	       table_rule, WHERE_WIDTH, "where", "engine", "storage", "in flight", "runs",
	       "drain p50", "drain p99", "suspend p50", "suspend p99", "p50 ratio", "p99 ratio",
	       "fenced", table_rule);
	print_rows(o, lat, nlat);
	for (unsigned i = 0; i < a->nrows; i++)
		printf("%s\n", a->rows[i]);
	printf("%s\n", table_rule);
	if (o->read_seconds)
		printf("\n4 KiB random reads, depth %u, io_uring engine, %u s each: %.0f IOPS into\n"
		       "guest memory (no feature 20), %.0f IOPS through bounce buffers (feature 20),\n"
		       "%.2fx.\n", o->read_depth, o->read_seconds, iops[0], iops[1], iops[1] / iops[0]);
}

int main(int argc, char **argv)
{
	struct options o;
	static struct latency lat[MAX_ROWS];
	static struct added added;
	double iops[2] = { 0, 0 };
	char load0[64], load1[64];

	if (parse_args(argc, argv, &o) < 0 || read_added(&o, &added) < 0) {
		fprintf(stderr, "See vbridge-suspend-bench --help.\n");
		return 2;
	}
	vu_harness_init(3600);
	loadavg(load0, sizeof(load0));
	for (unsigned i = 0; i < o.nslow; i++)
		measure_latency(&o, &o.slow[i], &lat[i * o.ndepths]);
	if (o.read_seconds) {
		iops[0] = read_iops(&o, false, o.read_depth, o.read_seconds);
		iops[1] = read_iops(&o, true, o.read_depth, o.read_seconds);
	}
	loadavg(load1, sizeof(load1));
	snprintf(retaken_text, sizeof(retaken_text), "%u samples taken again: their requests had "
		 "completed before all were in flight (the bench descheduled for the latency).",
		 retaken);
	if (o.json)
		print_json(&o, lat, o.nslow * o.ndepths, iops);
	else if (!o.rows)
		print_rst(&o, lat, o.nslow * o.ndepths, iops, &added, load0, load1);
	else {
		print_rows(&o, lat, o.nslow * o.ndepths);
		if (retaken)
			printf("note: ``%s``, ``%s``: %s\n", o.where, o.engine, retaken_text);
	}
	return 0;
}
