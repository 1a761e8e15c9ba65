/* Guest disk workload: tagged O_DIRECT writes and read-back checks with a final on-disk manifest; "check" verifies an image against it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The region is `blocks` blocks of 4 KiB from `offset`. Block b belongs to
 * writer thread b % threads, which has at most one write in flight, so the
 * order of the writes to a block is the order its owner issued them. Every
 * 512-byte sector of a write carries a tag (struct tag); the rest of the
 * sector is filled from a generator seeded with the tag, so one sector can
 * be checked on its own and a sector of the wrong block, generation or run
 * cannot pass. Generation 0 means never written: the block must read as
 * zeroes (the region must start zeroed).
 *
 * Checks while running: each writer reads back one of its own blocks every
 * --verify-every writes (nothing is in flight on it: the tag must be exactly
 * the last completed generation); a reader thread reads random blocks of the
 * whole region concurrently with the writers and accepts, per sector, any
 * generation between the last one completed before the read was issued and
 * the last one issued when the read returned.
 *
 * At the end the final generation of every block goes to the manifest on the
 * disk at --manifest-offset (a 4 KiB header, then one u32 per block), written
 * with O_DIRECT and fsync; the console gets one TAGWRITE-RESULT line with the
 * counters and the FNV-1a hash of that table. `tagwrite check` reads the
 * manifest back from an image (on the host), checks it against that hash and
 * checks every block of the region against it.
 */

#define BLOCK 4096u
#define SECTOR 512u
#define SECTORS (BLOCK / SECTOR)
#define TAG_MAGIC 0x315257474154425full	/* "_BTAGWR1" little endian */
#define MAN_MAGIC 0x314e414d47415442ull	/* "BTAGMAN1" */
#define MAN_VERSION 1u
#define MAX_THREADS 64

struct tag {
	uint64_t magic;
	uint32_t block;
	uint32_t sector;
	uint64_t gen;
	uint64_t seed;
	uint8_t fill[SECTOR - 36];
	uint32_t csum;	/* FNV-1a of everything before it */
};
_Static_assert(sizeof(struct tag) == SECTOR, "one tag per sector");

struct manifest_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t blocks;
	uint64_t seed;
	uint64_t offset;
	uint64_t writes;
	uint64_t verifies;
	uint32_t gens_hash;	/* FNV-1a of the u32 table that follows the header block */
	uint32_t hdr_csum;	/* FNV-1a of the fields above */
};

static struct {
	const char *dev;
	uint64_t offset;
	uint32_t blocks;
	unsigned threads;
	double seconds;
	uint64_t max_writes;
	uint64_t seed;
	unsigned verify_every;
	double stall_timeout;
	uint64_t manifest_offset;
	const char *status_file;
	bool reader;
	const char *expect_hash;
} opt = {
	.offset = 1u << 20,
	.blocks = 4096,
	.threads = 8,
	.seconds = 30,
	.seed = 1,
	.verify_every = 8,
	.stall_timeout = 15,
	.manifest_offset = UINT64_MAX,
	.reader = true,
};

static int fd = -1;
/* Per block: last generation issued, last generation completed. */
static _Atomic uint32_t *gen_issued, *gen_done;
static atomic_bool stop;
static atomic_uint_fast64_t n_writes, n_verifies, n_ioerrors, n_verify_fail;
static atomic_uint_fast64_t max_write_ns;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* What each thread is doing, for the stall watchdog. */
struct worker {
	pthread_t tid;
	unsigned index;
	bool reader;
	_Atomic uint64_t io_start_ns;	/* 0 when no I/O is in flight */
	_Atomic uint32_t io_block;
	_Atomic uint32_t io_gen;
	_Atomic int io_write;
	atomic_bool done;
	uint64_t rng;
	uint8_t *buf;
};
static struct worker workers[MAX_THREADS + 1];

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}
#define FNV_INIT 2166136261u

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_sector(struct tag *t, uint32_t block, uint32_t sector, uint64_t gen)
{
	uint64_t s = opt.seed * 0x100000001b3ull ^ ((uint64_t)block << 32 | sector) ^ gen << 20;

	t->magic = TAG_MAGIC;
	t->block = block;
	t->sector = sector;
	t->gen = gen;
	t->seed = opt.seed;
	for (size_t i = 0; i < sizeof(t->fill); i += 8) {
		uint64_t r = splitmix(&s);
		size_t n = sizeof(t->fill) - i < 8 ? sizeof(t->fill) - i : 8;

		memcpy(t->fill + i, &r, n);
	}
	t->csum = fnv1a(t, offsetof(struct tag, csum), FNV_INIT);
}

static void make_block(uint8_t *buf, uint32_t block, uint64_t gen)
{
	for (uint32_t s = 0; s < SECTORS; s++)
		make_sector((struct tag *)(buf + s * SECTOR), block, s, gen);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Checks one sector: a valid tag of this block and sector, a generation in
 * [lo, hi], and content matching it (generation 0: zeroes). Returns the
 * generation found, or -1 with a description in why.
 */
static int64_t check_sector(const uint8_t *p, uint32_t block, uint32_t sector, uint64_t lo,
			    uint64_t hi, char *why, size_t whylen)
{
	const struct tag *t = (const struct tag *)p;
	struct tag want;

	if (all_zero(p, SECTOR)) {
		if (lo == 0)
			return 0;
		snprintf(why, whylen, "sector %u reads as zeroes (never written), expected generation %" PRIu64
			 "%s", sector, lo, lo == hi ? "" : " or later");
		return -1;
	}
	if (t->magic != TAG_MAGIC) {
		snprintf(why, whylen, "sector %u has no tag (magic %016" PRIx64 ")", sector, t->magic);
		return -1;
	}
	if (t->csum != fnv1a(t, offsetof(struct tag, csum), FNV_INIT)) {
		snprintf(why, whylen, "sector %u: tag checksum mismatch (block %u gen %" PRIu64 ")", sector,
			 t->block, t->gen);
		return -1;
	}
	if (t->seed != opt.seed) {
		snprintf(why, whylen, "sector %u: written by another run (seed %" PRIu64 ")", sector, t->seed);
		return -1;
	}
	if (t->block != block || t->sector != sector) {
		snprintf(why, whylen, "sector %u holds block %u sector %u (misdirected write)", sector, t->block,
			 t->sector);
		return -1;
	}
	if (t->gen < lo || t->gen > hi) {
		if (lo == hi)
			snprintf(why, whylen, "sector %u: generation %" PRIu64 ", expected %" PRIu64, sector,
				 t->gen, lo);
		else
			snprintf(why, whylen, "sector %u: generation %" PRIu64 ", expected %" PRIu64 "..%" PRIu64,
				 sector, t->gen, lo, hi);
		return -1;
	}
	make_sector(&want, block, sector, t->gen);
	if (memcmp(&want, p, SECTOR) != 0) {
		snprintf(why, whylen, "sector %u: content does not match its tag (gen %" PRIu64 ")", sector,
			 t->gen);
		return -1;
	}
	return (int64_t)t->gen;
}

/* Checks a whole block; with lo == hi every sector must hold exactly that generation. */
static bool check_block(const uint8_t *buf, uint32_t block, uint64_t lo, uint64_t hi, char *why, size_t whylen)
{
	for (uint32_t s = 0; s < SECTORS; s++)
		if (check_sector(buf + s * SECTOR, block, s, lo, hi, why, whylen) < 0)
			return false;
	return true;
}

static off_t block_off(uint32_t b)
{
	return (off_t)(opt.offset + (uint64_t)b * BLOCK);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("TAGWRITE-ERROR ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	atomic_store(&stop, true);
}

static void io_begin(struct worker *w, uint32_t b, uint32_t gen, bool write)
{
	atomic_store(&w->io_block, b);
	atomic_store(&w->io_gen, gen);
	atomic_store(&w->io_write, write);
	atomic_store(&w->io_start_ns, now_ns());
}

static uint64_t io_end(struct worker *w)
{
	uint64_t t = now_ns() - atomic_load(&w->io_start_ns);

	atomic_store(&w->io_start_ns, 0);
	return t;
}

/* Reads block b into w->buf; false (reported) on an I/O error. */
static bool read_block(struct worker *w, uint32_t b, uint32_t gen)
{
	ssize_t n;

	io_begin(w, b, gen, false);
	n = pread(fd, w->buf, BLOCK, block_off(b));
	io_end(w);
	if (n == (ssize_t)BLOCK)
		return true;
	atomic_fetch_add(&n_ioerrors, 1);
	fail("read of block %u: %s", b, n < 0 ? strerror(errno) : "short read");
	return false;
}

static void *writer(void *arg)
{
	struct worker *w = arg;
	uint32_t owned = (opt.blocks - w->index + opt.threads - 1) / opt.threads;
	uint64_t since_verify = 0;
	char why[160];

	while (!atomic_load(&stop)) {
		uint32_t b = w->index + (uint32_t)(splitmix(&w->rng) % owned) * opt.threads;
		uint32_t gen = atomic_load(&gen_issued[b]) + 1;
		uint64_t took, prev;
		ssize_t n;

		if (opt.max_writes && atomic_load(&n_writes) >= opt.max_writes)
			break;
		make_block(w->buf, b, gen);
		atomic_store(&gen_issued[b], gen);
		io_begin(w, b, gen, true);
		n = pwrite(fd, w->buf, BLOCK, block_off(b));
		took = io_end(w);
		if (n != (ssize_t)BLOCK) {
			atomic_fetch_add(&n_ioerrors, 1);
			fail("write of block %u generation %u: %s", b, gen, n < 0 ? strerror(errno) : "short write");
			break;
		}
		atomic_store(&gen_done[b], gen);
		atomic_fetch_add(&n_writes, 1);
		prev = atomic_load(&max_write_ns);
		while (took > prev && !atomic_compare_exchange_weak(&max_write_ns, &prev, took))
			;

		if (opt.verify_every && ++since_verify >= opt.verify_every) {
			uint32_t c = w->index + (uint32_t)(splitmix(&w->rng) % owned) * opt.threads;
			uint32_t want = atomic_load(&gen_done[c]);

			since_verify = 0;
			if (!read_block(w, c, want))
				break;
			atomic_fetch_add(&n_verifies, 1);
			if (!check_block(w->buf, c, want, want, why, sizeof(why))) {
				atomic_fetch_add(&n_verify_fail, 1);
				fail("verify of block %u (writer %u, generation %u): %s", c, w->index, want, why);
				break;
			}
		}
	}
	atomic_store(&w->done, true);
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	char why[160];

	while (!atomic_load(&stop)) {
		uint32_t b = (uint32_t)(splitmix(&w->rng) % opt.blocks);
		uint32_t lo = atomic_load(&gen_done[b]), hi;

		if (!read_block(w, b, lo))
			break;
		hi = atomic_load(&gen_issued[b]);
		atomic_fetch_add(&n_verifies, 1);
		if (!check_block(w->buf, b, lo, hi, why, sizeof(why))) {
			atomic_fetch_add(&n_verify_fail, 1);
			fail("concurrent read of block %u: %s", b, why);
			break;
		}
	}
	atomic_store(&w->done, true);
	return NULL;
}

static uint32_t gens_hash(const uint32_t *gens)
{
	return fnv1a(gens, (size_t)opt.blocks * sizeof(*gens), FNV_INIT);
}

static size_t manifest_size(void)
{
	return BLOCK + (((size_t)opt.blocks * 4 + BLOCK - 1) / BLOCK) * BLOCK;
}

/* Writes the manifest with O_DIRECT and flushes it; returns the table's hash through hash. */
static bool write_manifest(uint32_t *hash)
{
	size_t size = manifest_size();
	uint8_t *buf;
	struct manifest_hdr *h;
	uint32_t *gens;
	ssize_t n;

	if (posix_memalign((void **)&buf, BLOCK, size)) {
		fail("out of memory");
		return false;
	}
	memset(buf, 0, size);
	h = (struct manifest_hdr *)buf;
	gens = (uint32_t *)(buf + BLOCK);
	for (uint32_t b = 0; b < opt.blocks; b++)
		gens[b] = atomic_load(&gen_done[b]);
	h->magic = MAN_MAGIC;
	h->version = MAN_VERSION;
	h->blocks = opt.blocks;
	h->seed = opt.seed;
	h->offset = opt.offset;
	h->writes = atomic_load(&n_writes);
	h->verifies = atomic_load(&n_verifies);
	h->gens_hash = *hash = gens_hash(gens);
	h->hdr_csum = fnv1a(h, offsetof(struct manifest_hdr, hdr_csum), FNV_INIT);
	n = pwrite(fd, buf, size, (off_t)opt.manifest_offset);
	free(buf);
	if (n != (ssize_t)size) {
		atomic_fetch_add(&n_ioerrors, 1);
		fail("manifest write: %s", n < 0 ? strerror(errno) : "short write");
		return false;
	}
	if (fsync(fd) < 0) {
		atomic_fetch_add(&n_ioerrors, 1);
		fail("fsync: %s", strerror(errno));
		return false;
	}
	return true;
}

static void write_status(int rc)
{
	FILE *f;

	if (!opt.status_file)
		return;
	f = fopen(opt.status_file, "w");
	if (f) {
		fprintf(f, "%d\n", rc);
		fclose(f);
	}
}

static void result(const char *status, uint64_t written, uint32_t maxgen, bool have_manifest, uint32_t hash,
		   double secs)
{
	char man[32] = "none";

	if (have_manifest)
		snprintf(man, sizeof(man), "%08" PRIx32, hash);
	msg("TAGWRITE-RESULT status=%s writes=%" PRIuFAST64 " verifies=%" PRIuFAST64 " ioerrors=%" PRIuFAST64
	    " verifyfail=%" PRIuFAST64 " blocks=%u written=%" PRIu64 " maxgen=%u max_write_ms=%" PRIu64
	    " seconds=%.1f manifest=%s\n",
	    status, atomic_load(&n_writes), atomic_load(&n_verifies), atomic_load(&n_ioerrors),
	    atomic_load(&n_verify_fail), opt.blocks, written, maxgen, atomic_load(&max_write_ns) / 1000000, secs,
	    man);
}

static int run(void)
{
	unsigned nw = opt.threads + (opt.reader ? 1 : 0);
	uint64_t start, last_progress, deadline;
	bool stalled = false;
	uint64_t written = 0;
	uint32_t maxgen = 0, hash = 0;
	bool have_manifest = false;
	const char *status;
	int rc;

	fd = open(opt.dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "tagwrite: %s: %s\n", opt.dev, strerror(errno));
		return 2;
	}
	gen_issued = calloc(opt.blocks, sizeof(*gen_issued));
	gen_done = calloc(opt.blocks, sizeof(*gen_done));
	if (!gen_issued || !gen_done) {
		fprintf(stderr, "tagwrite: out of memory\n");
		return 2;
	}
	msg("TAGWRITE-START blocks=%u offset=%" PRIu64 " threads=%u reader=%d seconds=%.1f writes=%" PRIu64
	    " seed=%" PRIu64 " manifest_offset=%" PRIu64 "\n",
	    opt.blocks, opt.offset, opt.threads, opt.reader, opt.seconds, opt.max_writes, opt.seed,
	    opt.manifest_offset);
	start = last_progress = now_ns();
	deadline = opt.seconds > 0 ? start + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &workers[i];

		w->index = i;
		w->reader = i == opt.threads;
		w->rng = opt.seed ^ (0x5851f42d4c957f2dull * (i + 1));
		if (posix_memalign((void **)&w->buf, BLOCK, BLOCK)) {
			fprintf(stderr, "tagwrite: out of memory\n");
			return 2;
		}
		if (pthread_create(&w->tid, NULL, w->reader ? reader : writer, w)) {
			fprintf(stderr, "tagwrite: cannot start threads\n");
			return 2;
		}
	}

	/* Watchdog and clock: a request that never completes is a failure, not a hang. */
	for (;;) {
		uint64_t t = now_ns();
		bool all_done = true;

		for (unsigned i = 0; i < nw; i++) {
			struct worker *w = &workers[i];
			uint64_t s = atomic_load(&w->io_start_ns);

			if (!atomic_load(&w->done))
				all_done = false;
			if (s && t > s && (double)(t - s) / 1e9 > opt.stall_timeout && !stalled) {
				stalled = true;
				fail("stall: %s of block %u (generation %u) by thread %u pending for %.1f s",
				     atomic_load(&w->io_write) ? "write" : "read", atomic_load(&w->io_block),
				     atomic_load(&w->io_gen), i, (double)(t - s) / 1e9);
			}
		}
		if (all_done || stalled)
			break;
		if (t >= deadline)
			atomic_store(&stop, true);
		if (t - last_progress >= 10000000000ull) {
			last_progress = t;
			msg("TAGWRITE-PROGRESS t=%.0f writes=%" PRIuFAST64 " verifies=%" PRIuFAST64
			    " max_write_ms=%" PRIu64 "\n",
			    (double)(t - start) / 1e9, atomic_load(&n_writes), atomic_load(&n_verifies),
			    atomic_load(&max_write_ns) / 1000000);
		}
		usleep(50000);
	}

	if (!stalled)
		for (unsigned i = 0; i < nw; i++)
			pthread_join(workers[i].tid, NULL);
	for (uint32_t b = 0; b < opt.blocks; b++) {
		uint32_t g = atomic_load(&gen_done[b]);

		written += g > 0;
		if (g > maxgen)
			maxgen = g;
	}
	if (!stalled && !atomic_load(&n_ioerrors) && !atomic_load(&n_verify_fail))
		have_manifest = write_manifest(&hash);
	if (stalled)
		status = "stalled";
	else if (atomic_load(&n_ioerrors) || atomic_load(&n_verify_fail) || !have_manifest)
		status = "failed";
	else
		status = "ok";
	rc = strcmp(status, "ok") == 0 ? 0 : 1;
	result(status, written, maxgen, have_manifest, hash, (double)(now_ns() - start) / 1e9);
	write_status(rc);
	if (stalled)
		_exit(rc);	/* threads stuck in I/O cannot be joined; the status file tells the caller */
	return rc;
}

/* On the host: checks an image against the manifest the guest wrote into it. */
static int check(void)
{
	size_t size = manifest_size();
	uint8_t *man = malloc(size), blk[BLOCK];
	struct manifest_hdr *h = (struct manifest_hdr *)man;
	uint32_t *gens = (uint32_t *)(man + BLOCK);
	uint64_t written = 0, bad = 0, zero_ok = 0;
	char why[160];

	fd = open(opt.dev, O_RDONLY);
	if (fd < 0 || !man) {
		printf("TAGCHECK-ERROR %s: %s\n", opt.dev, strerror(errno));
		return 2;
	}
	if (pread(fd, man, size, (off_t)opt.manifest_offset) != (ssize_t)size) {
		printf("TAGCHECK-ERROR cannot read the manifest\n");
		return 1;
	}
	if (h->magic != MAN_MAGIC || h->version != MAN_VERSION ||
	    h->hdr_csum != fnv1a(h, offsetof(struct manifest_hdr, hdr_csum), FNV_INIT)) {
		printf("TAGCHECK-ERROR no valid manifest at offset %" PRIu64 "\n", opt.manifest_offset);
		return 1;
	}
	if (h->blocks != opt.blocks || h->seed != opt.seed || h->offset != opt.offset) {
		printf("TAGCHECK-ERROR manifest is for another region or run (blocks %u seed %" PRIu64
		       " offset %" PRIu64 ")\n", h->blocks, h->seed, h->offset);
		return 1;
	}
	if (gens_hash(gens) != h->gens_hash) {
		printf("TAGCHECK-ERROR manifest table does not match its hash\n");
		return 1;
	}
	if (opt.expect_hash && strtoul(opt.expect_hash, NULL, 16) != h->gens_hash) {
		printf("TAGCHECK-ERROR manifest hash %08" PRIx32 " is not the %s the guest reported\n", h->gens_hash,
		       opt.expect_hash);
		return 1;
	}
	for (uint32_t b = 0; b < opt.blocks; b++) {
		if (pread(fd, blk, BLOCK, block_off(b)) != (ssize_t)BLOCK) {
			printf("TAGCHECK-ERROR cannot read block %u\n", b);
			return 1;
		}
		written += gens[b] > 0;
		if (check_block(blk, b, gens[b], gens[b], why, sizeof(why))) {
			zero_ok += gens[b] == 0;
			continue;
		}
		if (++bad <= 20)
			printf("TAGCHECK-BAD block %u manifest generation %u: %s\n", b, gens[b], why);
	}
	printf("TAGCHECK-RESULT blocks=%u written=%" PRIu64 " unwritten_zero=%" PRIu64 " bad=%" PRIu64
	       " writes=%" PRIu64 " verifies=%" PRIu64 " manifest=%08" PRIx32 "\n",
	       opt.blocks, written, zero_ok, bad, h->writes, h->verifies, h->gens_hash);
	return bad ? 1 : 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tagwrite run --dev PATH [options]\n"
		"       tagwrite check --dev IMAGE [--hash HEX] [options]\n"
		"\n"
		"run: tagged O_DIRECT writes and read-back checks on a zeroed region of PATH;\n"
		"ends with a TAGWRITE-RESULT line and the manifest written to PATH.\n"
		"check: verifies every block of the region in IMAGE against that manifest.\n"
		"\n"
		"  --offset BYTES           start of the region (default 1 MiB, 4 KiB aligned)\n"
		"  --blocks N               4 KiB blocks in the region (default 4096)\n"
		"  --manifest-offset BYTES  where the manifest goes (default: right after the region)\n"
		"  --seed N                 run identity and random seed (default 1)\n"
		"  --threads N              writer threads, one write in flight each (default 8)\n"
		"  --no-reader              no concurrent reader thread\n"
		"  --seconds S              run time (default 30; 0: until --writes)\n"
		"  --writes N               stop after N writes\n"
		"  --verify-every N         each writer reads back one of its blocks every N writes (default 8)\n"
		"  --stall-timeout S        fail when an I/O is pending longer than S seconds (default 15)\n"
		"  --status FILE            write the exit status there (when a stuck I/O keeps the\n"
		"                           process from exiting, the caller still learns it)\n"
		"  --hash HEX               check: the manifest hash the guest printed\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "offset", required_argument, NULL, 'o' },
		{ "blocks", required_argument, NULL, 'b' },
		{ "manifest-offset", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "no-reader", no_argument, NULL, 'R' },
		{ "seconds", required_argument, NULL, 's' },
		{ "writes", required_argument, NULL, 'w' },
		{ "verify-every", required_argument, NULL, 'v' },
		{ "stall-timeout", required_argument, NULL, 'T' },
		{ "status", required_argument, NULL, 'x' },
		{ "hash", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || (strcmp(argv[1], "run") && strcmp(argv[1], "check"))) {
		usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': opt.dev = optarg; break;
		case 'o': opt.offset = strtoull(optarg, NULL, 0); break;
		case 'b': opt.blocks = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'm': opt.manifest_offset = strtoull(optarg, NULL, 0); break;
		case 'S': opt.seed = strtoull(optarg, NULL, 0); break;
		case 't': opt.threads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'R': opt.reader = false; break;
		case 's': opt.seconds = strtod(optarg, NULL); break;
		case 'w': opt.max_writes = strtoull(optarg, NULL, 0); break;
		case 'v': opt.verify_every = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'T': opt.stall_timeout = strtod(optarg, NULL); break;
		case 'x': opt.status_file = optarg; break;
		case 'H': opt.expect_hash = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opt.dev || optind != argc || opt.threads < 1 || opt.threads > MAX_THREADS ||
	    opt.blocks < opt.threads || opt.offset % BLOCK ||
	    (opt.seconds <= 0 && !opt.max_writes)) {
		usage(stderr);
		return 2;
	}
	if (opt.manifest_offset == UINT64_MAX)
		opt.manifest_offset = opt.offset + (uint64_t)opt.blocks * BLOCK;
	if (opt.manifest_offset % BLOCK ||
	    (opt.manifest_offset < opt.offset + (uint64_t)opt.blocks * BLOCK &&
	     opt.manifest_offset + manifest_size() > opt.offset)) {
		fprintf(stderr, "tagwrite: --manifest-offset must be 4 KiB aligned and outside the region\n");
		return 2;
	}
	return strcmp(mode, "run") ? check() : run();
}
