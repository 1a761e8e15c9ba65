/* Write fences wired into suspension, on the slow FUSE disk: fast replies with writes in flight, and no old write over newer data. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fence.h"
#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 256
#define NR 32			/* reads in flight at the stop */
#define NW 16			/* writes in flight at the stop */
#define NQ 4			/* writes completed before it */
#define NSLOW (NR + NW)
#define BLK 4096u
#define DISK_SIZE (64ull << 20)
#define DELAY_MS 2000
#define REPLY_MS 50
#define MEM (8u << 20)
#define SEED_OLD 501u		/* on the disk before: what the reads return */
#define SEED_A 502u		/* the writes in flight at the stop */
#define SEED_B 503u		/* the newer writes of the same blocks */
#define SEED_Q 504u
#define F_SUSPEND ((1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) | \
		   (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT))
#define PLAN 42

static uint64_t read_sector(unsigned i) { return 8ull * i; }
static uint64_t write_sector(unsigned i) { return 8ull * (64 + i); }
static uint64_t quick_sector(unsigned i) { return 8ull * (96 + i); }

struct rig {
	const char *name;
	struct vu_slowfs fs;
	struct vu_daemon a, b;
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
	struct vu_blk_req rd[NR], wr[NW], nw[NW], q[NQ];
	uint8_t *rbuf[NR], *wbuf[NW], *nbuf[NW], *qbuf[NQ];
	int probe;		/* the test's own description of the disk, for probing fences */
	uint32_t base;
	uint64_t reply_ms;
};

static void start_daemon(struct vu_daemon *d, const char *disk)
{
	if (vu_daemon_setup(d, DISK_SIZE) < 0)
		tap_bail("cannot create a temp dir");
	vu_daemon_use_disk(d, disk);
	if (vu_daemon_start(d, &(struct vu_daemon_opts){ .args = "--log-level debug" }) < 0)
		tap_bail("cannot start vbridge on the slow disk");
}

static void must(struct rig *r, bool ok, const char *what)
{
	if (!ok)
		tap_bail("%s: %s: %s", r->name, what, r->dev.err);
}

static int run_one(struct rig *r, struct vu_blk_req *req)
{
	return vu_blk_run(r->vq, req, 10000);
}

/*
 * A daemon on the slow disk, NQ writes completed one by one (each its own
 * submission: on a disk that blocks at submission the daemon learns it),
 * then NR reads and NW writes fetched and with the 2 s storage.
 */
static void rig_up(struct rig *r, const char *name, bool async_dio)
{
	uint8_t *pattern = malloc(NR * BLK);
	int fd;

	memset(r, 0, sizeof(*r));
	r->name = name;
	if (vu_slowfs_mount(&r->fs, "64M", async_dio ? NULL : "--no-async-dio") < 0)
		tap_bail("cannot mount the slow disk");
	fd = open(r->fs.disk, O_RDWR);
	vu_pattern_fill(pattern, NR * BLK, SEED_OLD, 0);
	if (fd < 0 || pwrite(fd, pattern, NR * BLK, 0) != NR * BLK || close(fd) < 0)
		tap_bail("cannot fill the slow disk");
	free(pattern);
	r->probe = vb_fence_probe_open(r->fs.disk);
	if (r->probe < 0)
		tap_bail("cannot open the disk for probing");
	start_daemon(&r->a, r->fs.disk);
	vu_dev_init(&r->dev);
	must(r, vu_connect(&r->dev, r->a.sock, 5000) == 0 &&
		vu_negotiate(&r->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND) == 0 &&
		vu_inflight_open(&r->dev, 1, QS, &r->inf) == 0 &&
		vu_mem_add_region(&r->dev, 0, MEM) == 0 && vu_mem_set_table(&r->dev) == 0 &&
		(r->vq = vu_vq_create(&r->dev, 0, QS)) && vu_vq_start(r->vq) == 0,
	     "front-end set-up");
	for (unsigned i = 0; i < NR; i++)
		must(r, vu_blk_req_init(&r->dev, &r->rd[i]) == 0 &&
			(r->rbuf[i] = vu_mem_alloc(&r->dev, BLK, BLK)), "reads");
	for (unsigned i = 0; i < NW; i++)
		must(r, vu_blk_req_init(&r->dev, &r->wr[i]) == 0 &&
			vu_blk_req_init(&r->dev, &r->nw[i]) == 0 &&
			(r->wbuf[i] = vu_mem_alloc(&r->dev, BLK, BLK)) &&
			(r->nbuf[i] = vu_mem_alloc(&r->dev, BLK, BLK)), "writes");
	for (unsigned i = 0; i < NQ; i++)
		must(r, vu_blk_req_init(&r->dev, &r->q[i]) == 0 &&
			(r->qbuf[i] = vu_mem_alloc(&r->dev, BLK, BLK)), "quick writes");

	vu_slowfs_delay(&r->fs, 100, 100);
	for (unsigned i = 0; i < NQ; i++) {
		vu_pattern_fill(r->qbuf[i], BLK, SEED_Q, quick_sector(i) * 512);
		vu_blk_prep_write(&r->q[i], quick_sector(i), r->qbuf[i], BLK);
		if (run_one(r, &r->q[i]) != VIRTIO_BLK_S_OK)
			tap_bail("%s: quick write %u failed", name, i);
	}
	vu_slowfs_delay(&r->fs, DELAY_MS, DELAY_MS);
	for (unsigned i = 0; i < NR; i++) {
		memset(r->rbuf[i], 0x5a, BLK);
		vu_blk_prep_read(&r->rd[i], read_sector(i), r->rbuf[i], BLK);
		must(r, vu_blk_enqueue(r->vq, &r->rd[i]) == 0, "enqueue");
	}
	for (unsigned i = 0; i < NW; i++) {
		vu_pattern_fill(r->wbuf[i], BLK, SEED_A, write_sector(i) * 512);
		vu_blk_prep_write(&r->wr[i], write_sector(i), r->wbuf[i], BLK);
		must(r, vu_blk_enqueue(r->vq, &r->wr[i]) == 0, "enqueue");
	}
	vu_vq_kick(r->vq);
	for (unsigned ms = 0; vu_inflight_count(&r->inf, 0) != NSLOW; ms += 5) {
		if (ms > 3000)
			tap_bail("%s: the daemon did not fetch the %u requests", name, NSLOW);
		usleep(5000);
	}
	/* Fetched is not yet submitted: let the worker hand them to the storage. */
	usleep(200000);
}

/* How many of the writes' ranges are fenced now. */
static unsigned fenced_writes(struct rig *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NW; i++)
		n += vb_fence_probe(r->probe, DISK_SIZE, write_sector(i) * 512, BLK) ==
		     VB_FENCE_FENCED;
	return n;
}

/*
 * GET_VRING_BASE with bit 20: replies fast, base and region right. Two
 * results. With idle, the ring was disabled a while before, so that the
 * worker sleeps: the suspension is made on the control thread.
 */
static void suspend(struct rig *r, bool idle)
{
	uint64_t t0;
	int ret;

	if (idle) {
		must(r, vu_set_vring_enable(&r->dev, 0, false) == 0, "SET_VRING_ENABLE");
		usleep(100000);
	}
	t0 = (uint64_t)vu_now_ms();
	ret = idle ? vu_vq_get_base(r->vq, &r->base) : vu_vq_stop(r->vq, &r->base);

	r->reply_ms = (uint64_t)vu_now_ms() - t0;
	tap_ok(ret == 0 && r->reply_ms < REPLY_MS,
	       "%s: with %u reads and %u writes on %u ms storage GET_VRING_BASE replies in %llu ms",
	       r->name, NR, NW, DELAY_MS, (unsigned long long)r->reply_ms);
	tap_ok(r->base == NQ && vu_inflight_count(&r->inf, 0) == NSLOW,
	       "%s: base %u (last_avail_idx %u less %u inflight), the region marks %u",
	       r->name, r->base, NQ + NSLOW, NSLOW, vu_inflight_count(&r->inf, 0));
}

static bool disk_holds(struct rig *r, uint64_t sector, uint32_t seed)
{
	uint8_t buf[BLK];
	int fd = open(r->fs.disk, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, buf, BLK, (off_t)sector * 512) == BLK &&
		  vu_pattern_check(buf, BLK, seed, sector * 512) == BLK;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Polls up to ms for every fence to be gone. */
static bool fences_gone(struct rig *r, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		if (fenced_writes(r) == 0)
			return true;
		usleep(10000);
	}
	return fenced_writes(r) == 0;
}

/*
 * Polls up to ms for every byte outside the writes' ranges to probe free:
 * the suspension locks the whole disk at once and cuts the lock down to the
 * writes' ranges after its reply.
 */
static bool rest_free(struct rig *r, unsigned ms)
{
	uint64_t first = write_sector(0) * 512, end = write_sector(NW - 1) * 512 + BLK;

	for (unsigned t = 0; t <= ms; t += 5) {
		if (vb_fence_probe(r->probe, DISK_SIZE, 0, first) == VB_FENCE_FREE &&
		    vb_fence_probe(r->probe, DISK_SIZE, end, DISK_SIZE - end) == VB_FENCE_FREE)
			return true;
		usleep(5000);
	}
	return false;
}

static void rig_down(struct rig *r)
{
	vu_dev_close(&r->dev);
	vu_inflight_close(&r->inf);
	if (r->b.pid)
		vu_daemon_stop(&r->b);
	if (r->b.dir[0])
		vu_daemon_teardown(&r->b);
	vu_daemon_teardown(&r->a);
	close(r->probe);
	vu_slowfs_umount(&r->fs);
}

/* The stop itself: fences held, nothing of the ring touched afterwards, fences dropped when the writes land. */
static void test_stop(void)
{
	static struct rig r;
	static uint8_t before[MEM];
	struct vu_blk_req *all[NSLOW];
	uint64_t calls;
	bool ok;

	rig_up(&r, "stop", true);
	/* Calls for the quick writes are consumed; any later one is the daemon's fault. */
	while (read(r.vq->call_fd, &calls, sizeof(calls)) > 0)
		;
	suspend(&r, true);
	memcpy(before, r.dev.regions[0].host, MEM);
	tap_ok(fenced_writes(&r) == NW, "stop: the %u writes' ranges are fenced after the reply",
	       NW);
	tap_ok(rest_free(&r, 1000) && fenced_writes(&r) == NW,
	       "stop: the rest of the disk is free again while the writes are with the storage");
	usleep((DELAY_MS + 700) * 1000);
	tap_ok(memcmp(before, r.dev.regions[0].host, MEM) == 0,
	       "stop: guest memory is byte-identical after the storage finished");
	tap_ok(read(r.vq->call_fd, &calls, sizeof(calls)) < 0 && errno == EAGAIN,
	       "stop: no call signal after the reply");
	tap_ok(fences_gone(&r, 1000) && disk_holds(&r, write_sector(NW - 1), SEED_A),
	       "stop: each fence dropped once its write landed");
	tap_ok(vu_daemon_log_has(&r.a, "vring 0 suspended with 48 requests left inflight"),
	       "stop: the daemon logs the 48 requests left inflight");
	tap_ok(vu_daemon_log_has(&r.a, "queue 0: suspending on the control thread, its worker asleep"),
	       "stop: with its worker asleep, the ring was suspended on the control thread");

	vu_slowfs_delay(&r.fs, 0, 0);
	start_daemon(&r.b, r.fs.disk);
	must(&r, vu_dev_handoff(&r.dev, r.b.sock, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND,
				&r.inf) == 0, "handoff");
	for (unsigned i = 0; i < NR; i++)
		all[i] = &r.rd[i];
	for (unsigned i = 0; i < NW; i++)
		all[NR + i] = &r.wr[i];
	ok = vu_blk_wait_all(&r.dev, all, NSLOW, 10000) == 0;
	for (unsigned i = 0; ok && i < NR; i++)
		ok = r.rd[i].status == VIRTIO_BLK_S_OK &&
		     vu_pattern_check(r.rbuf[i], BLK, SEED_OLD, read_sector(i) * 512) == BLK;
	tap_ok(ok && vu_inflight_count(&r.inf, 0) == 0,
	       "stop: a second vbridge completes the %u requests once, the reads' data right", NSLOW);
	rig_down(&r);
}

enum race { R_HANDOVER, R_RESUME, R_SIGKILL, R_NO_ASYNC_DIO, R_REORDERED };

/*
 * The race: the ring moves on at once, and the front-end at once writes
 * newer data to the blocks of the writes still with the storage. The
 * resubmitted writes must land after the old ones, the newer ones after
 * them. Five results (four without async direct I/O, and reordered).
 *
 * Reordered: the disk holds the old writes until the newer ones of the
 * same blocks could have landed, as storage that reorders may; without the
 * fences honoured the old data would then land last.
 */
static void test_race(enum race how)
{
	static const char *names[] = { "handover", "same daemon", "old daemon killed",
				       "no async DIO", "reordered" };
	static struct rig r;
	struct vu_blk_req *all[NSLOW + NW];
	uint64_t t_free = 0, t_used = 0;
	bool ok;

	rig_up(&r, names[how], how != R_NO_ASYNC_DIO);
	suspend(&r, false);
	if (how == R_SIGKILL) {
		kill(r.a.pid, SIGKILL);
		waitpid(r.a.pid, NULL, 0);
		r.a.pid = 0;
	}
	/*
	 * A second daemon learns that the disk blocks at submission only by
	 * blocking: on 2 s storage that would be minutes. The suspension is
	 * what this variant is about.
	 */
	if (how == R_REORDERED)
		vu_slowfs_hold(&r.fs, true);
	if (how == R_NO_ASYNC_DIO || how == R_REORDERED)
		vu_slowfs_delay(&r.fs, 0, 0);
	if (how == R_RESUME) {
		must(&r, vu_vq_start(r.vq) == 0, "restart");
	} else {
		start_daemon(&r.b, r.fs.disk);
		must(&r, vu_dev_handoff(&r.dev, r.b.sock, VU_BLK_FEATURES,
					VU_PROTOCOL_FEATURES | F_SUSPEND, &r.inf) == 0,
		     "handoff");
	}
	for (unsigned i = 0; i < NW; i++) {
		vu_pattern_fill(r.nbuf[i], BLK, SEED_B, write_sector(i) * 512);
		vu_blk_prep_write(&r.nw[i], write_sector(i), r.nbuf[i], BLK);
		must(&r, vu_blk_enqueue(r.vq, &r.nw[i]) == 0, "newer writes");
	}
	vu_vq_kick(r.vq);

	/* Time for the newer writes to land first, were they not held back by the fences. */
	if (how == R_REORDERED) {
		usleep(1000000);
		vu_slowfs_hold(&r.fs, false);
	}
	/* When the old writes' fences go, and when the resubmitted writes are done. */
	for (unsigned ms = 0; how != R_REORDERED && ms < 15000 && !t_used; ms += 2) {
		bool done = true;

		vu_blk_reap(r.vq);
		for (unsigned i = 0; i < NW; i++)
			done &= r.wr[i].done;
		if (!t_free && fenced_writes(&r) == 0)
			t_free = (uint64_t)vu_now_ms();
		if (done)
			t_used = (uint64_t)vu_now_ms();
		usleep(2000);
	}
	if (how != R_NO_ASYNC_DIO && how != R_REORDERED)
		tap_ok(t_free && t_used && t_used >= t_free + DELAY_MS / 2,
		       "%s: the resubmitted writes are issued only once the old ones landed (done %lld ms after their fences went)",
		       r.name, (long long)(t_used - t_free));

	for (unsigned i = 0; i < NR; i++)
		all[i] = &r.rd[i];
	for (unsigned i = 0; i < NW; i++) {
		all[NR + i] = &r.wr[i];
		all[NSLOW + i] = &r.nw[i];
	}
	ok = vu_blk_wait_all(&r.dev, all, NSLOW + NW, 20000) == 0;
	for (unsigned i = 0; ok && i < NR; i++)
		ok = r.rd[i].status == VIRTIO_BLK_S_OK &&
		     vu_pattern_check(r.rbuf[i], BLK, SEED_OLD, read_sector(i) * 512) == BLK;
	tap_ok(ok, "%s: every request completes, the resubmitted reads with the right data",
	       r.name);
	/* The guest reuses the read buffers; nothing of the old daemon may land there. */
	for (unsigned i = 0; i < NR; i++)
		memset(r.rbuf[i], 0xc3, BLK);
	vu_slowfs_delay(&r.fs, 0, 0);
	usleep(300000);
	ok = fenced_writes(&r) == 0;
	for (unsigned i = 0; ok && i < NW; i++)
		ok = disk_holds(&r, write_sector(i), SEED_B);
	for (unsigned i = 0; ok && i < NR; i++)
		ok = r.rbuf[i][0] == 0xc3 && r.rbuf[i][BLK - 1] == 0xc3;
	tap_ok(ok, "%s: after everything settled every block holds the newer data, the reused read buffers untouched",
	       r.name);
	rig_down(&r);
}

/* A front-end that goes away during a fenced suspension: the fences end with their writes, the daemon goes on. */
static void test_disconnect(void)
{
	static struct rig r;

	rig_up(&r, "disconnect", true);
	suspend(&r, false);
	vu_dev_close(&r.dev);
	tap_ok(fences_gone(&r, DELAY_MS + 3000) && vu_daemon_alive(&r.a),
	       "disconnect: the fences are dropped as the writes land, the daemon lives");
	vu_slowfs_delay(&r.fs, 0, 0);
	/* For vu_fresh_check's look at the disk; the harness closes it. */
	r.a.disk_fd = open(r.fs.disk, O_RDWR);
	vu_fresh_check(&r.a, 9, "a disconnect with fences outstanding");
	tap_ok(vu_daemon_stop(&r.a) == 0, "disconnect: the daemon exits 0 on SIGTERM");
	rig_down(&r);
}

/* SIGTERM with fences outstanding: the daemon exits once they are dropped, and says so. */
static void test_sigterm(void)
{
	static struct rig r;
	int rc;

	rig_up(&r, "sigterm", true);
	suspend(&r, false);
	rc = vu_daemon_stop(&r.a);
	tap_ok(rc == 0 && fenced_writes(&r) == 0,
	       "sigterm: the daemon exits 0, and only once no fence is left");
	tap_ok(vu_daemon_log_has(&r.a, "waiting for 16 fenced writes to land before exiting") &&
		       vu_daemon_log_has(&r.a, "every fenced write landed and its fence is dropped"),
	       "sigterm: it says it waits for the fenced writes, and when they landed");
	rig_down(&r);
}

int main(void)
{
	vu_harness_init(300);
	tap_plan_vbridge_only(PLAN, "write fences are vbridge's", "fence_suspend");
	test_stop();
	test_race(R_HANDOVER);
	test_race(R_RESUME);
	test_race(R_SIGKILL);
	test_race(R_NO_ASYNC_DIO);
	test_race(R_REORDERED);
	test_disconnect();
	test_sigterm();
	return tap_done();
}
