/* vbridge-bench: a vhost-user-blk load generator; options, device set-up, threads and the report. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "vb_parse.h"

#define MAX_QUEUE_SIZE 1024u /* what vbridge and libvhost-user accept */
#define REGION_MAX (1ull << 30)
#define MAX_REGIONS 8        /* the vhost-user baseline */
#define REQ_MEM_BOUND 2048u  /* a request's own guest memory, rounded up */

static const char usage_text[] =
	"Usage: vbridge-bench --socket PATH [options]\n"
	"\n"
	"Connects to a vhost-user-blk back-end as its front-end (guest memory in\n"
	"memfds, split virtqueues), keeps DEPTH requests in flight on each queue, one\n"
	"thread per queue, and reports IOPS, MiB/s and latency percentiles.\n"
	"\n"
	"  -s, --socket PATH     vhost-user socket of the back-end (required)\n"
	"  -w, --rw MODE         randread (default), randwrite, randrw, read, write, rw\n"
	"                        (read/write/rw are sequential)\n"
	"      --read-pct N      share of reads in randrw and rw, 0-100 (default 50)\n"
	"  -b, --bs SIZE         block size, a multiple of 512 (default 4k; K/M suffix)\n"
	"  -d, --depth N         requests in flight per queue, 1-1024 (default 1)\n"
	"  -q, --queues N        queues, one thread each (default 1)\n"
	"  -t, --time SEC        run this long, fractions allowed (default 5)\n"
	"  -n, --requests N      stop after N requests in all instead\n"
	"      --poll            busy-poll the used ring and ask the back-end not to\n"
	"                        signal; default: sleep on the call eventfd\n"
	"      --span SIZE       use only the first SIZE bytes of the device (default:\n"
	"                        all of it); each queue gets its own slice of it\n"
	"      --queue-size N    ring size, a power of two up to 1024 (default: the\n"
	"                        smallest that holds DEPTH requests, at least 64)\n"
	"      --indirect        put each request in an indirect descriptor table\n"
	"      --suspendable     negotiate fast suspend (INFLIGHT_SHMFD and protocol\n"
	"                        feature 20, GET_VRING_BASE_INFLIGHT): vbridge then\n"
	"                        bounces reads of up to its --bounce-max\n"
	"      --mem-size SIZE   guest memory, up to 8G (default: what the rings and\n"
	"                        buffers need)\n"
	"      --verify          write patterned data and check every read: reads go\n"
	"                        only to blocks this run wrote (a read aimed at an\n"
	"                        unwritten block is issued as a write instead)\n"
	"      --seed N          random seed (default 1)\n"
	"      --timeout MS      longest wait for a completion (default 10000)\n"
	"      --json            print the result as one JSON object\n"
	"  -h, --help            this text\n"
	"\n"
	"Exit status: 0 success, 1 set-up, I/O or verification failure, 2 usage error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vbridge-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vbridge-bench --help'.\n");
	exit(2);
}

static unsigned parse_uint_opt(const char *name, const char *s, unsigned lo, unsigned hi)
{
	unsigned v;

	if (vb_parse_uint(s, lo, hi, &v) < 0)
		usage_error("--%s %s: expected a number from %u to %u", name, s, lo, hi);
	return v;
}

static void parse_rw(struct bench_cfg *c, const char *s)
{
	static const struct {
		const char *name;
		enum bench_op op;
		bool random;
	} modes[] = {
		{ "randread", OP_READ, true }, { "randwrite", OP_WRITE, true },
		{ "randrw", OP_MIX, true },    { "read", OP_READ, false },
		{ "write", OP_WRITE, false },  { "rw", OP_MIX, false },
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, modes[i].name) == 0) {
			c->rw = modes[i].name;
			c->op = modes[i].op;
			c->random = modes[i].random;
			return;
		}
	}
	usage_error("--rw %s: expected randread, randwrite, randrw, read, write or rw", s);
}

static void parse_args(int argc, char **argv, struct bench_cfg *c)
{
	enum { OPT_READ_PCT = 256, OPT_POLL, OPT_SPAN, OPT_QUEUE_SIZE, OPT_INDIRECT,
	       OPT_MEM_SIZE, OPT_VERIFY, OPT_SEED, OPT_TIMEOUT, OPT_JSON,
	       OPT_SUSPENDABLE };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "rw", required_argument, NULL, 'w' },
		{ "read-pct", required_argument, NULL, OPT_READ_PCT },
		{ "bs", required_argument, NULL, 'b' },
		{ "depth", required_argument, NULL, 'd' },
		{ "queues", required_argument, NULL, 'q' },
		{ "time", required_argument, NULL, 't' },
		{ "requests", required_argument, NULL, 'n' },
		{ "poll", no_argument, NULL, OPT_POLL },
		{ "span", required_argument, NULL, OPT_SPAN },
		{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
		{ "indirect", no_argument, NULL, OPT_INDIRECT },
		{ "suspendable", no_argument, NULL, OPT_SUSPENDABLE },
		{ "mem-size", required_argument, NULL, OPT_MEM_SIZE },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int o;

	*c = (struct bench_cfg){ .rw = "randread", .op = OP_READ, .random = true,
				 .read_pct = 50, .bs = 4096, .depth = 1, .queues = 1,
				 .time_s = 5, .seed = 1, .timeout_ms = 10000 };
	while ((o = getopt_long(argc, argv, "s:w:b:d:q:t:n:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			c->socket = optarg;
			break;
		case 'w':
			parse_rw(c, optarg);
			break;
		case OPT_READ_PCT:
			c->read_pct = parse_uint_opt("read-pct", optarg, 0, 100);
			break;
		case 'b':
			if (vb_parse_size(optarg, &v) < 0 || v == 0 || v % VU_SECTOR_SIZE ||
			    v > 64u << 20)
				usage_error("--bs %s: expected a multiple of 512 up to 64M, e.g. 4k", optarg);
			c->bs = (uint32_t)v;
			break;
		case 'd':
			c->depth = parse_uint_opt("depth", optarg, 1, MAX_QUEUE_SIZE);
			break;
		case 'q':
			c->queues = parse_uint_opt("queues", optarg, 1, VU_MAX_QUEUES);
			break;
		case 't':
			errno = 0;
			c->time_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(c->time_s > 0) || c->time_s > 86400)
				usage_error("--time %s: expected seconds, more than 0, e.g. 3 or 0.5", optarg);
			break;
		case 'n':
			if (vb_parse_u64(optarg, &c->requests) < 0 || c->requests == 0)
				usage_error("--requests %s: expected a positive number", optarg);
			break;
		case OPT_POLL:
			c->poll = true;
			break;
		case OPT_SUSPENDABLE:
			c->suspendable = true;
			break;
		case OPT_SPAN:
			if (vb_parse_size(optarg, &c->span) < 0 || c->span == 0)
				usage_error("--span %s: expected a size, e.g. 1G", optarg);
			break;
		case OPT_QUEUE_SIZE:
			c->queue_size = (uint16_t)parse_uint_opt("queue-size", optarg, 1, MAX_QUEUE_SIZE);
			if (c->queue_size & (c->queue_size - 1))
				usage_error("--queue-size %s: expected a power of two", optarg);
			break;
		case OPT_INDIRECT:
			c->indirect = true;
			break;
		case OPT_MEM_SIZE:
			if (vb_parse_size(optarg, &c->mem_size) < 0 || c->mem_size < (1u << 20) ||
			    c->mem_size > MAX_REGIONS * REGION_MAX)
				usage_error("--mem-size %s: expected 1M to 8G", optarg);
			break;
		case OPT_VERIFY:
			c->verify = true;
			break;
		case OPT_SEED:
			if (vb_parse_u64(optarg, &c->seed) < 0)
				usage_error("--seed %s: expected a number", optarg);
			break;
		case OPT_TIMEOUT:
			c->timeout_ms = parse_uint_opt("timeout", optarg, 1, INT_MAX);
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'vbridge-bench --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!c->socket)
		usage_error("--socket PATH is required");
	if (c->span % c->bs)
		usage_error("--span must be a multiple of --bs (%u)", c->bs);
}

static int die_dev(struct vu_dev *dev, const char *what)
{
	fprintf(stderr, "vbridge-bench: %s: %s\n", what, dev->err);
	vu_dev_close(dev);
	return 1;
}

static unsigned pow2_at_least(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Segments per request from the device's limits, then the ring size and
 * whether requests go indirect. Returns a reason on failure. */
static const char *shape_requests(struct bench_cfg *c, const struct vu_dev *dev,
				  const struct virtio_blk_config *cfg)
{
	bool have_indirect = dev->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	unsigned seg_max = VU_BLK_MAX_SEGS, descs;

	c->seg_size = c->bs;
	if ((dev->features & (1ull << VIRTIO_BLK_F_SIZE_MAX)) && cfg->size_max &&
	    cfg->size_max < c->seg_size)
		c->seg_size = cfg->size_max & ~(VU_SECTOR_SIZE - 1);
	if ((dev->features & (1ull << VIRTIO_BLK_F_SEG_MAX)) && cfg->seg_max &&
	    cfg->seg_max < seg_max)
		seg_max = cfg->seg_max;
	if (c->seg_size == 0)
		return "the device's largest segment is smaller than a sector";
	c->nsegs = (c->bs + c->seg_size - 1) / c->seg_size;
	if (c->nsegs > seg_max)
		return "--bs needs more segments than the device accepts per request";
	if (c->indirect && !have_indirect)
		return "--indirect: the back-end does not offer VIRTIO_RING_F_INDIRECT_DESC";
	/* a chain is header + data + status; beyond the largest ring, go indirect
	 * as a guest driver would */
	descs = c->depth * (c->nsegs + 2);
	if (!c->indirect && !c->queue_size && descs > MAX_QUEUE_SIZE && have_indirect)
		c->indirect = true;
	if (c->indirect)
		descs = c->depth;
	if (!c->queue_size)
		c->queue_size = (uint16_t)pow2_at_least(descs < 64 ? 64 : descs);
	if (descs > c->queue_size)
		return "DEPTH requests do not fit in the ring: raise --queue-size, lower --depth or use --indirect";
	return NULL;
}

/* Guest memory: rings, the requests' own blocks and the data buffers, with
 * room for the allocator's alignment. */
static uint64_t mem_needed(const struct bench_cfg *c)
{
	uint64_t ring = 16ull * c->queue_size + 6 + 2ull * c->queue_size + 4096 +
			6 + 8ull * c->queue_size + 4096;
	uint64_t per_queue = ring + (uint64_t)c->depth * (REQ_MEM_BOUND + ((c->bs + 4095ull) & ~4095ull));

	return ((per_queue * c->queues + (1u << 20)) + (1u << 20) - 1) & ~((1ull << 20) - 1);
}

static int setup_memory(struct bench_cfg *c, struct vu_dev *dev)
{
	uint64_t need = mem_needed(c), per;
	unsigned n;
	int r;

	if (!c->mem_size)
		c->mem_size = need;
	if (c->mem_size < need) {
		fprintf(stderr, "vbridge-bench: --mem-size: this workload needs at least %" PRIu64 " MiB\n",
			need >> 20);
		return -EINVAL;
	}
	n = (unsigned)((c->mem_size + REGION_MAX - 1) / REGION_MAX);
	if (n > MAX_REGIONS) {
		fprintf(stderr, "vbridge-bench: the workload needs %" PRIu64 " MiB of guest memory, more than 8 GiB\n",
			c->mem_size >> 20);
		return -EINVAL;
	}
	per = ((c->mem_size / n) + 4095) & ~4095ull;
	for (unsigned i = 0; i < n; i++) {
		r = vu_mem_add_region(dev, (uint64_t)i * REGION_MAX, per);
		if (r < 0)
			return r;
	}
	return vu_mem_set_table(dev);
}

static int setup_workers(struct bench_cfg *c, struct vu_dev *dev, struct worker *ws,
			 pthread_barrier_t *start)
{
	uint64_t blocks = c->span / c->bs;
	uint64_t per = blocks / c->queues;

	if (per < 1 || (c->verify && per <= c->depth)) {
		fprintf(stderr, "vbridge-bench: %" PRIu64 " blocks of %u bytes are too few for %u queues%s\n",
			blocks, c->bs, c->queues, c->verify ? " with --verify (each queue needs more blocks than --depth)" : "");
		return -EINVAL;
	}
	for (unsigned q = 0; q < c->queues; q++) {
		struct worker *w = &ws[q];

		w->cfg = c;
		w->start = start;
		w->index = q;
		w->first_block = q * per;
		w->nblocks = per;
		w->rng = (c->seed + 1) * 0x9e3779b97f4a7c15ull ^ (q + 1);
		w->budget = c->requests ? c->requests / c->queues + (q < c->requests % c->queues)
					: UINT64_MAX;
		hist_init(&w->hist);
		w->vq = vu_vq_create(dev, q, c->queue_size);
		if (!w->vq || vu_vq_start(w->vq) < 0)
			return -1;
		w->slots = calloc(c->depth, sizeof(*w->slots));
		w->done = calloc(c->depth, sizeof(*w->done));
		if (!w->slots || !w->done)
			return -ENOMEM;
		for (unsigned i = 0; i < c->depth; i++) {
			struct slot *s = &w->slots[i];

			if (vu_blk_req_init(dev, &s->req) < 0)
				return -1;
			s->req.user_data = s;
			s->buf = vu_mem_alloc(dev, c->bs, 4096);
			if (!s->buf)
				return -1;
			/* data that is not all zeroes, so no layer can take a shortcut */
			if (!c->verify && c->op != OP_READ)
				bench_fill(s->buf, c->bs, 0, (uint32_t)c->seed);
		}
		if (c->verify) {
			w->gen = calloc(per, sizeof(*w->gen));
			w->busy = calloc(per, 1);
			w->expect = malloc(c->bs);
			if (!w->gen || !w->busy || !w->expect)
				return -ENOMEM;
		}
	}
	return 0;
}

static void free_workers(struct worker *ws, unsigned n)
{
	for (unsigned q = 0; q < n; q++) {
		free(ws[q].slots);
		free(ws[q].done);
		free(ws[q].gen);
		free(ws[q].busy);
		free(ws[q].expect);
	}
	free(ws);
}

struct totals {
	struct hist hist;
	uint64_t reads, writes, verified, mismatches, blocks_written;
	double elapsed, cpu;
};

static void report_text(const struct bench_cfg *c, const struct totals *t)
{
	uint64_t ios = t->reads + t->writes;
	const struct hist *h = &t->hist;

	printf("vbridge-bench: %s %s bs=%u depth=%u queues=%u %s%s\n", c->socket, c->rw, c->bs,
	       c->depth, c->queues, c->poll ? "poll" : "eventfd", c->indirect ? " indirect" : "");
	printf("  %" PRIu64 " requests (%" PRIu64 " reads, %" PRIu64 " writes) in %.3f s\n", ios,
	       t->reads, t->writes, t->elapsed);
	printf("  IOPS %.0f  MiB/s %.1f  client CPU %.0f%%\n", ios / t->elapsed,
	       ios * (double)c->bs / t->elapsed / (1 << 20), 100 * t->cpu / t->elapsed);
	printf("  latency us: min %.1f mean %.1f p50 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
	       h->min / 1e3, hist_mean(h) / 1e3, hist_quantile(h, 0.5) / 1e3,
	       hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, h->max / 1e3);
	if (c->verify)
		printf("  verify: %" PRIu64 " reads checked, %" PRIu64 " mismatches, %" PRIu64 " blocks written\n",
		       t->verified, t->mismatches, t->blocks_written);
}

static void json_string(const char *str)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void report_json(const struct bench_cfg *c, const struct totals *t)
{
	uint64_t ios = t->reads + t->writes;
	const struct hist *h = &t->hist;

	printf("{\"socket\": ");
	json_string(c->socket);
	printf(", \"rw\": \"%s\", \"bs\": %u, \"depth\": %u, \"queues\": %u, "
	       "\"mode\": \"%s\", \"indirect\": %s, \"queue_size\": %u, \"mem_size\": %" PRIu64 ", "
	       "\"span\": %" PRIu64 ", ",
	       c->rw, c->bs, c->depth, c->queues, c->poll ? "poll" : "eventfd",
	       c->indirect ? "true" : "false", c->queue_size, c->mem_size, c->span);
	printf("\"requests\": %" PRIu64 ", \"reads\": %" PRIu64 ", \"writes\": %" PRIu64 ", "
	       "\"elapsed_s\": %.6f, \"iops\": %.1f, \"mib_s\": %.3f, \"client_cpu\": %.3f, ",
	       ios, t->reads, t->writes, t->elapsed, ios / t->elapsed,
	       ios * (double)c->bs / t->elapsed / (1 << 20), t->cpu / t->elapsed);
	printf("\"lat_ns\": {\"min\": %" PRIu64 ", \"mean\": %" PRIu64 ", \"p50\": %" PRIu64
	       ", \"p99\": %" PRIu64 ", \"p99_9\": %" PRIu64 ", \"max\": %" PRIu64 "}",
	       h->count ? h->min : 0, hist_mean(h), hist_quantile(h, 0.5), hist_quantile(h, 0.99),
	       hist_quantile(h, 0.999), h->max);
	if (c->verify)
		printf(", \"verify\": {\"checked\": %" PRIu64 ", \"mismatches\": %" PRIu64
		       ", \"blocks_written\": %" PRIu64 "}",
		       t->verified, t->mismatches, t->blocks_written);
	printf("}\n");
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

/* Runs the workers and adds up their results; false if one failed. */
static bool run(struct bench_cfg *c, struct worker *ws, pthread_barrier_t *start,
		struct totals *t)
{
	pthread_t tids[VU_MAX_QUEUES];
	uint64_t first = UINT64_MAX, last = 0;
	unsigned started = 0;
	bool ok = true;
	double cpu0;

	for (; started < c->queues; started++) {
		if (pthread_create(&tids[started], NULL, bench_worker_run, &ws[started]) != 0) {
			fprintf(stderr, "vbridge-bench: cannot start a thread\n");
			exit(1); /* the started ones wait on the barrier forever */
		}
	}
	cpu0 = cpu_seconds();
	pthread_barrier_wait(start);
	for (unsigned q = 0; q < c->queues; q++)
		pthread_join(tids[q], NULL);
	t->cpu = cpu_seconds() - cpu0;
	hist_init(&t->hist);
	for (unsigned q = 0; q < c->queues; q++) {
		struct worker *w = &ws[q];

		if (w->failed) {
			fprintf(stderr, "vbridge-bench: %s\n", w->err);
			ok = false;
		}
		hist_merge(&t->hist, &w->hist);
		t->reads += w->reads;
		t->writes += w->writes;
		t->verified += w->verified;
		t->mismatches += w->mismatches;
		t->blocks_written += w->blocks_written;
		if (w->start_ns < first)
			first = w->start_ns;
		if (w->end_ns > last)
			last = w->end_ns;
	}
	t->elapsed = last > first ? (last - first) / 1e9 : 1e-9;
	return ok;
}

int main(int argc, char **argv)
{
	static struct vu_dev dev;
	static struct vu_inflight inf;
	const uint64_t suspend = (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
				 (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT);
	struct virtio_blk_config cfg;
	struct bench_cfg c;
	struct sigaction sa = { .sa_handler = on_signal };
	pthread_barrier_t start;
	struct worker *ws;
	struct totals *t;
	const char *why;
	bool ok;

	parse_args(argc, argv, &c);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	vu_dev_init(&dev);
	if (vu_connect(&dev, c.socket, 5000) < 0)
		return die_dev(&dev, "connect");
	if (vu_negotiate(&dev, VU_BLK_FEATURES,
			 VU_PROTOCOL_FEATURES | (c.suspendable ? suspend : 0)) < 0)
		return die_dev(&dev, "negotiation");
	if (c.suspendable && (dev.protocol_features & suspend) != suspend) {
		fprintf(stderr, "vbridge-bench: --suspendable: the back-end does not offer protocol features 5 and 20\n");
		vu_dev_close(&dev);
		return 1;
	}
	if (c.queues > dev.num_queues) {
		fprintf(stderr, "vbridge-bench: --queues %u: the back-end offers %u\n", c.queues,
			dev.num_queues);
		vu_dev_close(&dev);
		return 1;
	}
	if (vu_blk_get_config(&dev, &cfg) < 0)
		return die_dev(&dev, "GET_CONFIG");
	c.capacity = cfg.capacity * VU_SECTOR_SIZE;
	if ((dev.features & (1ull << VIRTIO_BLK_F_RO)) && (c.op != OP_READ || c.verify)) {
		fprintf(stderr, "vbridge-bench: the device is read-only; this workload writes\n");
		vu_dev_close(&dev);
		return 1;
	}
	if (!c.span)
		c.span = c.capacity / c.bs * c.bs;
	if (c.span > c.capacity) {
		fprintf(stderr, "vbridge-bench: --span %" PRIu64 " is larger than the device (%" PRIu64 " bytes)\n",
			c.span, c.capacity);
		vu_dev_close(&dev);
		return 1;
	}
	why = shape_requests(&c, &dev, &cfg);
	if (why) {
		fprintf(stderr, "vbridge-bench: %s\n", why);
		vu_dev_close(&dev);
		return 1;
	}
	if (c.suspendable && vu_inflight_open(&dev, c.queues, c.queue_size, &inf) < 0)
		return die_dev(&dev, "inflight region");
	if (setup_memory(&c, &dev) < 0)
		return die_dev(&dev, "guest memory");
	ws = calloc(c.queues, sizeof(*ws));
	t = calloc(1, sizeof(*t));
	if (!ws || !t) {
		fprintf(stderr, "vbridge-bench: out of memory\n");
		return 1;
	}
	pthread_barrier_init(&start, NULL, c.queues + 1);
	if (setup_workers(&c, &dev, ws, &start) < 0) {
		if (dev.err[0])
			fprintf(stderr, "vbridge-bench: queue set-up: %s\n", dev.err);
		free_workers(ws, c.queues);
		free(t);
		vu_dev_close(&dev);
		return 1;
	}
	ok = run(&c, ws, &start, t);
	if (t->reads + t->writes > 0) {
		if (c.json)
			report_json(&c, t);
		else
			report_text(&c, t);
	}
	pthread_barrier_destroy(&start);
	free_workers(ws, c.queues);
	free(t);
	vu_dev_close(&dev);
	return ok ? 0 : 1;
}
