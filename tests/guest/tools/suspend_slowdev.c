/* Ring suspension on a block device that really is slow (dm-delay), in a test guest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"
#include "../../lib/read_number.h"

#define QS 128
#define BLK 4096u
#define NREQ 32
#define AREA (NREQ * BLK)	/* reads at [0, AREA), writes at [AREA, 2 AREA) */
#define SEED_OLD 300u
#define SEED_NEW 400u
#define SEED_NEWER 600u
#define POISON 0xa5
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define F_SUSPEND (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define PLAN 25
#define PLAN_KABORT 3		/* test_kill_with_writes */
#define FAST_REQS 32		/* reads per round on the fast device */
#define FAST_BLK (128u << 10)
#define FAST_ROUNDS 12
#define SEED_FAST 500u

static const char *device;
static const char *fast_device;	/* completes each request inside the submitting call (brd) */
static const char *engine = "uring";
static unsigned latency_ms = 1000;
static int dev_fd = -1;		/* the device, O_DIRECT, for set-up and checks */
static uint8_t *io_buf;		/* AREA bytes, aligned, for dev_fd */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One O_DIRECT transfer of the whole area: one latency, not one per block. */
static void area_io(bool write, uint64_t off)
{
	ssize_t r = write ? pwrite(dev_fd, io_buf, AREA, (off_t)off) :
			    pread(dev_fd, io_buf, AREA, (off_t)off);

	if (r != AREA)
		tap_bail("%s of %s at %llu: %s", write ? "pwrite" : "pread", device,
			 (unsigned long long)off, r < 0 ? strerror(errno) : "short");
}

static void start_daemon_on(struct vu_daemon *d, const char *disk)
{
	struct vu_daemon_opts o = { .engine = engine };

	if (vu_daemon_setup(d, 1 << 20) < 0)
		tap_bail("temp dir");
	vu_daemon_use_disk(d, disk);
	if (vu_daemon_start(d, &o) < 0)
		tap_bail("cannot start vbridge on %s", disk);
}

static void start_daemon(struct vu_daemon *d)
{
	start_daemon_on(d, device);
}

struct run {
	struct vu_daemon src;
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
	struct vu_blk_req req[NREQ];
	struct vu_blk_req *all[NREQ];
	uint8_t *buf[NREQ];
};

/* A daemon on the device and NREQ reads or writes of one block each, fetched and with the host. */
static void run_start(struct run *r, bool write, uint64_t proto)
{
	start_daemon(&r->src);
	vu_dev_init(&r->dev);
	if (vu_connect(&r->dev, r->src.sock, 5000) < 0 ||
	    vu_negotiate(&r->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_INFLIGHT | proto) < 0 ||
	    vu_inflight_open(&r->dev, 1, QS, &r->inf) < 0 ||
	    vu_mem_add_region(&r->dev, 0, 4u << 20) < 0 || vu_mem_set_table(&r->dev) < 0 ||
	    !(r->vq = vu_vq_create(&r->dev, 0, QS)) || vu_vq_start(r->vq) < 0)
		tap_bail("front-end set-up: %s", r->dev.err);
	for (unsigned i = 0; i < NREQ; i++) {
		uint64_t off = (write ? AREA : 0) + (uint64_t)i * BLK;

		r->buf[i] = vu_mem_alloc(&r->dev, BLK, BLK);
		if (!r->buf[i] || vu_blk_req_init(&r->dev, &r->req[i]) < 0)
			tap_bail("guest memory: %s", r->dev.err);
		if (write) {
			vu_pattern_fill(r->buf[i], BLK, SEED_NEW, off);
			vu_blk_prep_write(&r->req[i], off / 512, r->buf[i], BLK);
		} else {
			memset(r->buf[i], POISON, BLK);
			vu_blk_prep_read(&r->req[i], off / 512, r->buf[i], BLK);
		}
		r->req[i].flags |= VU_REQ_INDIRECT;
		r->all[i] = &r->req[i];
		if (vu_blk_enqueue(r->vq, &r->req[i]) < 0)
			tap_bail("enqueue: %s", r->dev.err);
	}
	vu_vq_kick(r->vq);
	/* io_uring issues each request as the daemon fetches it: inflight means with the device. */
	for (uint64_t t0 = now_ms(); vu_inflight_count(&r->inf, 0) != NREQ;) {
		if (now_ms() - t0 > latency_ms / 2)
			tap_bail("the daemon did not fetch %u requests in %u ms", NREQ, latency_ms / 2);
		usleep(1000);
	}
}

/* Times GET_VRING_BASE (after SET_VRING_ENABLE 0, as QEMU does). */
static uint64_t get_base(struct run *r, uint32_t *base)
{
	uint64_t t0 = now_ms();

	if (vu_vq_stop(r->vq, base) < 0)
		tap_bail("GET_VRING_BASE: %s", r->dev.err);
	return now_ms() - t0;
}

static unsigned poisoned(const struct run *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NREQ; i++) {
		bool all = true;

		for (unsigned k = 0; k < BLK && all; k++)
			all = r->buf[i][k] == POISON;
		n += all;
	}
	return n;
}

static bool reads_right(const struct run *r)
{
	for (unsigned i = 0; i < NREQ; i++) {
		if (r->req[i].status != VIRTIO_BLK_S_OK ||
		    vu_pattern_check(r->buf[i], BLK, SEED_OLD, (uint64_t)i * BLK) != BLK)
			return false;
	}
	return true;
}

static void run_end(struct run *r)
{
	vu_dev_close(&r->dev);
	vu_inflight_close(&r->inf);
	vu_daemon_teardown(&r->src);
}

/* Starts a second daemon on the device and moves the ring to it, as a migration would. */
static int hand_over_start(struct run *r, struct vu_daemon *dst)
{
	start_daemon(dst);
	return vu_dev_handoff(&r->dev, dst->sock, VU_BLK_FEATURES,
			      VU_PROTOCOL_FEATURES | F_INFLIGHT | F_SUSPEND, &r->inf);
}

/* hand_over_start; 0 once all requests are done. */
static int hand_over(struct run *r, struct vu_daemon *dst)
{
	int rc = hand_over_start(r, dst);

	return rc ? rc : vu_blk_wait_all(&r->dev, r->all, NREQ, 10000 + 4 * latency_ms);
}

static void end_handed_over(struct run *r, struct vu_daemon *dst)
{
	tap_ok(vu_daemon_stop(&r->src) == 0 && vu_daemon_stop(dst) == 0, "both daemons exit 0");
	vu_daemon_teardown(dst);
	run_end(r);
}

/* Reads with the device are abandoned: the reply does not wait, and their late data never lands. */
static void test_reads_suspended(void)
{
	static struct run r;
	struct vu_daemon dst;
	uint8_t used[4 + 8 * QS + 2];
	uint32_t base = ~0u;
	uint64_t took;
	int rc;

	run_start(&r, false, F_SUSPEND);
	took = get_base(&r, &base);
	memcpy(used, (const void *)r.vq->used, sizeof(used));
	tap_ok(took < latency_ms / 2 && base == 0,
	       "reads with the device: GET_VRING_BASE suspends in %llu ms (device latency %u ms), base %u",
	       (unsigned long long)took, latency_ms, base);
	usleep((latency_ms + 500) * 1000u);
	tap_ok(poisoned(&r) == NREQ, "after the device completed them, %u of %u read buffers still hold the poison",
	       poisoned(&r), NREQ);
	tap_ok(memcmp(used, (const void *)r.vq->used, sizeof(used)) == 0,
	       "and the used ring is untouched");
	tap_ok(vu_inflight_count(&r.inf, 0) == NREQ, "the %u reads stay inflight in the region", NREQ);

	rc = hand_over(&r, &dst);
	tap_ok(rc == 0, "a second vbridge on the device resubmits and completes them");
	usleep(200 * 1000);
	vu_blk_reap(r.vq);
	tap_ok(reads_right(&r) && LOAD(r.vq->used->idx) == NREQ && r.vq->bad_used == 0,
	       "each read completed once, with the device's data");
	end_handed_over(&r, &dst);
}

/* Without feature 20 the same reads are drained. */
static void test_reads_drained(void)
{
	static struct run r;
	uint32_t base = ~0u;
	uint64_t took;

	run_start(&r, false, 0);
	took = get_base(&r, &base);
	tap_ok(took >= latency_ms / 2 && base == NREQ && LOAD(r.vq->used->idx) == NREQ,
	       "without feature 20 GET_VRING_BASE drains: %llu ms, base %u",
	       (unsigned long long)took, base);
	tap_ok(vu_blk_wait_all(&r.dev, r.all, NREQ, 1000) == 0 && reads_right(&r),
	       "and every read has its data at the reply");
	tap_ok(vu_daemon_stop(&r.src) == 0, "daemon exits 0");
	run_end(&r);
}

/* Which of the writes' blocks on the device hold the new data; the others must hold the old. */
static bool write_area(unsigned *fresh)
{
	*fresh = 0;
	area_io(false, AREA);
	for (unsigned i = 0; i < NREQ; i++) {
		uint64_t off = AREA + (uint64_t)i * BLK;

		if (vu_pattern_check(io_buf + i * BLK, BLK, SEED_NEW, off) == BLK)
			(*fresh)++;
		else if (vu_pattern_check(io_buf + i * BLK, BLK, SEED_OLD, off) != BLK)
			return false;
	}
	return true;
}

/*
 * Writes with the device: io_uring cancels those it still holds; the rest
 * cannot be recalled, and are fenced (the uring engine by file locks,
 * kabort in the vbabort module): they land after the reply, unpublished,
 * and stay inflight. Nothing else reaches the device after the reply, and
 * the next daemon completes everything left inflight.
 */
static void test_writes_quiesced(void)
{
	static struct run r;
	struct vu_daemon dst;
	uint32_t base = ~0u;
	uint64_t took;
	unsigned used, fresh_at_reply = 0, fresh_later = 0, fresh_end = 0;
	bool clean;
	int rc;

	run_start(&r, true, F_SUSPEND);
	took = get_base(&r, &base);
	used = LOAD(r.vq->used->idx);
	tap_ok(took < latency_ms / 2 && base == used && vu_inflight_count(&r.inf, 0) == NREQ - used,
	       "writes with the device: in %llu ms (device latency %u ms) %u completed, %u suspended (base %u)",
	       (unsigned long long)took, latency_ms, used, NREQ - used, base);
	clean = write_area(&fresh_at_reply);
	usleep((latency_ms + 500) * 1000u);
	clean = clean && write_area(&fresh_later);
	/* Reading the area takes a device latency: fenced writes land meanwhile. */
	tap_ok(clean && LOAD(r.vq->used->idx) == used && fresh_at_reply >= used &&
		       fresh_later >= fresh_at_reply,
	       "at least the %u completed writes are on the device, at the reply and %u ms later (%u, %u), and the fenced ones landing, unpublished",
	       used, latency_ms + 500, fresh_at_reply, fresh_later);
	rc = hand_over(&r, &dst);
	clean = write_area(&fresh_end);
	tap_ok(rc == 0 && clean && fresh_end == NREQ && LOAD(r.vq->used->idx) == NREQ,
	       "a second vbridge completes the suspended ones: all %u writes on the device once", NREQ);
	end_handed_over(&r, &dst);
}

/* The guest writes SEED_NEWER to the write area through r's ring and waits; how many blocks then hold it. */
static unsigned write_newer(struct run *r)
{
	unsigned fresh = 0;

	for (unsigned i = 0; i < NREQ; i++) {
		uint64_t off = AREA + (uint64_t)i * BLK;

		vu_pattern_fill(r->buf[i], BLK, SEED_NEWER, off);
		vu_blk_prep_write(&r->req[i], off / 512, r->buf[i], BLK);
		r->req[i].flags |= VU_REQ_INDIRECT;
		if (vu_blk_enqueue(r->vq, &r->req[i]) < 0)
			tap_bail("enqueue: %s", r->dev.err);
	}
	vu_vq_kick(r->vq);
	if (vu_blk_wait_all(&r->dev, r->all, NREQ, 10000 + 4 * latency_ms) < 0)
		return 0;
	area_io(false, AREA);
	for (unsigned i = 0; i < NREQ; i++)
		fresh += vu_pattern_check(io_buf + i * BLK, BLK, SEED_NEWER, AREA + (uint64_t)i * BLK) == BLK;
	/* The next test starts from the old data. */
	vu_pattern_fill(io_buf, AREA, SEED_OLD, AREA);
	area_io(true, AREA);
	return fresh;
}

/*
 * The race: the ring is handed over at once, with the old daemon's writes
 * still at the device; the next daemon resubmits and completes them, then
 * the guest writes newer data to the same blocks. The fences keep every old
 * write ahead of both: every block ends with the newer data.
 */
static void test_writes_handed_over_at_once(void)
{
	static struct run r;
	struct vu_daemon dst;
	unsigned fresh;
	int rc;

	run_start(&r, true, F_SUSPEND);
	get_base(&r, NULL);
	rc = hand_over(&r, &dst);
	tap_ok(rc == 0, "handed over at once with writes at the device: the next daemon completes them");
	fresh = write_newer(&r);
	tap_ok(fresh == NREQ, "newer writes to their blocks: %u of %u blocks hold the newer data", fresh, NREQ);
	end_handed_over(&r, &dst);
}

/* The same race with the same daemon taking its ring back at once. */
static void test_writes_resumed_at_once(void)
{
	static struct run r;
	uint32_t base = ~0u;
	unsigned fresh;
	int rc;

	run_start(&r, true, F_SUSPEND);
	get_base(&r, &base);
	r.vq->base = (uint16_t)base;
	rc = vu_vq_start(r.vq);
	rc = rc ? rc : vu_blk_wait_all(&r.dev, r.all, NREQ, 10000 + 4 * latency_ms);
	tap_ok(rc == 0, "resumed at once with writes at the device (base %u): the daemon completes them", base);
	fresh = write_newer(&r);
	tap_ok(fresh == NREQ, "newer writes to their blocks: %u of %u blocks hold the newer data", fresh, NREQ);
	tap_ok(vu_daemon_stop(&r.src) == 0, "daemon exits 0");
	run_end(&r);
}

/* SIGTERM right after a suspension: the daemon waits for its abandoned reads, then exits 0. */
static void test_exit_with_abandoned_reads(void)
{
	static struct run r;
	uint32_t base = ~0u;
	uint64_t took, t0;
	int rc;

	run_start(&r, false, F_SUSPEND);
	took = get_base(&r, &base);
	tap_ok(took < latency_ms / 2, "suspended with %u reads at the device in %llu ms", NREQ,
	       (unsigned long long)took);
	t0 = now_ms();
	rc = vu_daemon_stop(&r.src);
	tap_ok(rc == 0, "SIGTERM: exit status %d after %llu ms", rc,
	       (unsigned long long)(now_ms() - t0));
	tap_ok(poisoned(&r) == NREQ, "the read buffers still hold the poison");
	run_end(&r);
}

/*
 * Requests already done when the suspension reaches them (on a device that
 * completes inside the submitting call, the kabort context holds them
 * completed and unreaped at ABORT): GET_VRING_BASE, sent right after the
 * kick, must find each fetched request published in the used ring or
 * inflight in the region, never both, and reply base == used->idx. The
 * window is that of the worker's fetch and submission, so several rounds.
 */
static void test_done_at_abort(void)
{
	static struct run r;
	static uint8_t *buf[FAST_REQS];
	unsigned bad_base = 0, bad_count = 0, bad_data = 0;
	int fd = open(fast_device, O_RDWR | O_DIRECT);
	uint8_t *pattern;

	if (fd < 0 || posix_memalign((void **)&pattern, BLK, FAST_REQS * FAST_BLK))
		tap_bail("open %s: %s", fast_device, strerror(errno));
	vu_pattern_fill(pattern, FAST_REQS * FAST_BLK, SEED_FAST, 0);
	if (pwrite(fd, pattern, FAST_REQS * FAST_BLK, 0) != (ssize_t)(FAST_REQS * FAST_BLK))
		tap_bail("pwrite on %s", fast_device);
	close(fd);
	free(pattern);
	start_daemon_on(&r.src, fast_device);
	vu_dev_init(&r.dev);
	if (vu_connect(&r.dev, r.src.sock, 5000) < 0 ||
	    vu_negotiate(&r.dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_INFLIGHT | F_SUSPEND) < 0 ||
	    vu_inflight_open(&r.dev, 1, QS, &r.inf) < 0 ||
	    vu_mem_add_region(&r.dev, 0, 8u << 20) < 0 || vu_mem_set_table(&r.dev) < 0 ||
	    !(r.vq = vu_vq_create(&r.dev, 0, QS)) || vu_vq_start(r.vq) < 0)
		tap_bail("front-end set-up: %s", r.dev.err);
	for (unsigned i = 0; i < FAST_REQS; i++) {
		buf[i] = vu_mem_alloc(&r.dev, FAST_BLK, BLK);
		if (!buf[i] || vu_blk_req_init(&r.dev, &r.req[i]) < 0)
			tap_bail("guest memory: %s", r.dev.err);
		r.all[i] = &r.req[i];
	}
	for (unsigned round = 0; round < FAST_ROUNDS; round++) {
		uint16_t start = LOAD(r.vq->used->idx), used;
		uint32_t base = ~0u;
		unsigned inflight, done;

		for (unsigned i = 0; i < FAST_REQS; i++) {
			memset(buf[i], POISON, FAST_BLK);
			vu_blk_prep_read(&r.req[i], (uint64_t)i * FAST_BLK / 512, buf[i], FAST_BLK);
			r.req[i].flags |= VU_REQ_INDIRECT;
			if (vu_blk_enqueue(r.vq, &r.req[i]) < 0)
				tap_bail("enqueue: %s", r.dev.err);
		}
		vu_vq_kick(r.vq);
		if (vu_get_vring_base(&r.dev, 0, &base) < 0)
			tap_bail("GET_VRING_BASE: %s", r.dev.err);
		used = LOAD(r.vq->used->idx);
		inflight = vu_inflight_count(&r.inf, 0);
		done = (uint16_t)(used - start);
		if (base != used && bad_base++ < 3)
			tap_diag("round %u: base %u, used->idx %u", round, base, used);
		if (inflight + done > FAST_REQS && bad_count++ < 3)
			tap_diag("round %u: %u used and %u inflight of %u", round, done, inflight,
				 FAST_REQS);
		/* The same daemon takes the ring back and resubmits what it suspended. */
		r.vq->base = (uint16_t)base;
		if (vu_vq_start(r.vq) < 0 || vu_blk_wait_all(&r.dev, r.all, FAST_REQS, 10000) < 0)
			tap_bail("round %u: restart: %s", round, r.dev.err);
		for (unsigned i = 0; i < FAST_REQS; i++) {
			if (r.req[i].status != VIRTIO_BLK_S_OK ||
			    vu_pattern_check(buf[i], FAST_BLK, SEED_FAST, (uint64_t)i * FAST_BLK) !=
				    FAST_BLK)
				bad_data++;
		}
	}
	usleep(200 * 1000);
	vu_blk_reap(r.vq);
	tap_ok(bad_base == 0 && bad_count == 0,
	       "done at ABORT: in %u rounds, every reply's base is used->idx and no request is both used and inflight (%u, %u bad)",
	       FAST_ROUNDS, bad_base, bad_count);
	tap_ok(bad_data == 0 && LOAD(r.vq->used->idx) == FAST_ROUNDS * FAST_REQS &&
	       r.vq->bad_used == 0 && vu_inflight_count(&r.inf, 0) == 0,
	       "done at ABORT: after each restart every read completed once with its data (%u bad, used %u)",
	       bad_data, LOAD(r.vq->used->idx));
	vu_daemon_stop(&r.src);
	run_end(&r);
}

/* A counter of the vbabort module (Documentation/vbabort.rst), or -1. */
static long vbabort_counter(const char *name)
{
	return read_number("/sys/module/vbabort/parameters", name);
}

/*
 * kabort: the daemon dies of SIGKILL with its writes at the device, which
 * the module keeps as fences. The next daemon starts the ring without
 * waiting for them and resubmits the writes from the inflight region: the
 * module holds those back (parked) while the dead daemon's still run. Once
 * they complete the guest writes newer data to the same blocks, and every
 * block ends with it.
 */
static void test_kill_with_writes(void)
{
	static struct run r;
	struct vu_daemon dst;
	long fences, parked = 0, max_parked = 0;
	uint64_t t0, took;
	unsigned fresh = 0;
	bool clean;
	int rc;

	run_start(&r, true, F_SUSPEND);
	kill(r.src.pid, SIGKILL);
	waitpid(r.src.pid, NULL, 0);
	r.src.pid = 0;
	fences = vbabort_counter("fences");
	/* As QEMU after a crash: the ring resumes at used->idx, the region says what to resubmit. */
	r.vq->started = false;
	r.vq->base = LOAD(r.vq->used->idx);
	t0 = now_ms();
	rc = hand_over_start(&r, &dst);
	took = now_ms() - t0;
	/* Until the dead daemon's writes are gone, watch the resubmitted ones wait for them. */
	while (rc == 0 && vbabort_counter("fences") > 0 && now_ms() - t0 < 10000u + 4 * latency_ms) {
		parked = vbabort_counter("parked");
		max_parked = parked > max_parked ? parked : max_parked;
		usleep(1000);
	}
	tap_ok(rc == 0 && fences > 0 && max_parked > 0,
	       "SIGKILL with %ld writes at the device: the next daemon started the ring in %llu ms and its resubmitted writes waited in the module (up to %ld parked)",
	       fences, (unsigned long long)took, max_parked);
	rc = vu_blk_wait_all(&r.dev, r.all, NREQ, 10000 + 4 * latency_ms);
	clean = write_area(&fresh);
	tap_ok(rc == 0 && clean && fresh == NREQ, "the resubmitted writes complete: %u of %u blocks new", fresh,
	       NREQ);
	fresh = write_newer(&r);
	tap_ok(fresh == NREQ, "newer writes to the same blocks: %u of %u blocks hold the newer data", fresh, NREQ);
	vu_daemon_stop(&dst);
	vu_daemon_teardown(&dst);
	run_end(&r);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: suspend_slowdev --device DEV --fast-device FAST [--latency-ms MS] [--engine E]\n"
		     "DEV completes every request after MS (default 1000), FAST inside the call that\n"
		     "submits it (brd); vbridge is $BUILD/vbridge, run with --engine E (default uring).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "fast-device", required_argument, NULL, 'f' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "engine", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "d:f:l:e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			engine = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'f':
			fast_device = optarg;
			break;
		case 'l':
			latency_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!device || !fast_device || latency_ms < 100) {
		usage(stderr);
		return 2;
	}
	vu_harness_init(120);
	tap_plan(PLAN + (strcmp(engine, "kabort") == 0 ? PLAN_KABORT : 0));
	dev_fd = open(device, O_RDWR | O_DIRECT);
	if (dev_fd < 0 || posix_memalign((void **)&io_buf, BLK, AREA))
		tap_bail("open %s: %s", device, strerror(errno));
	vu_pattern_fill(io_buf, AREA, SEED_OLD, 0);
	area_io(true, 0);
	vu_pattern_fill(io_buf, AREA, SEED_OLD, AREA);
	area_io(true, AREA);

	test_reads_suspended();
	test_reads_drained();
	test_writes_quiesced();
	test_writes_handed_over_at_once();
	test_writes_resumed_at_once();
	test_exit_with_abandoned_reads();
	test_done_at_abort();
	if (strcmp(engine, "kabort") == 0)
		test_kill_with_writes();
	return tap_done();
}
