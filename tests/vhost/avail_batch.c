/* A batch published with vu_vq_hold_avail reaches an awake back-end whole, however slowly it is written (the suspend bench relies on it). */
#include <stdio.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 64
#define N 16
#define BLK 4096u
#define DISK_SIZE (16ull << 20)
#define SLOW_MS 200
#define CYCLES 3
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define PLAN 3

static struct vu_dev dev;
static struct vu_inflight inf;
static struct vu_vq *vq;
static struct vu_blk_req req[N];
static struct vu_blk_req *all[N];

static void must(bool ok, const char *what)
{
	if (!ok)
		tap_bail("%s: %s", what, dev.err);
}

/* Whether all N requests were inflight at one moment within 10 s (generous: the storage takes SLOW_MS). */
static bool all_inflight_at_once(void)
{
	for (int64_t t0 = vu_now_ms(); vu_now_ms() - t0 < 10000; usleep(100)) {
		if (vu_inflight_count(&inf, 0) == N)
			return true;
	}
	return false;
}

/*
 * As the bench after a drained ring restarts: the worker is awake (here: kicked)
 * while the batch is written, and writing it takes longer than the storage.
 * Returns whether avail->idx stayed put while held; *at_once, *ok what followed.
 */
static bool slow_batch(bool *at_once, bool *ok)
{
	uint16_t before = vq->avail->idx;
	bool held = true;

	vu_vq_hold_avail(vq, true);
	for (unsigned i = 0; i < N; i++) {
		req[i].done = false;
		must(vu_blk_enqueue(vq, &req[i]) == 0, "enqueue");
		if (i == N / 2 - 1) {
			held = vq->avail->idx == before;
			vu_vq_kick(vq);
			usleep(3 * SLOW_MS * 1000);
		}
	}
	vu_vq_hold_avail(vq, false);
	vu_vq_kick(vq);
	*at_once = all_inflight_at_once();
	*ok = vu_blk_wait_all(&dev, all, N, 20000) == 0;
	for (unsigned i = 0; i < N; i++)
		*ok = *ok && req[i].status == VIRTIO_BLK_S_OK;
	return held;
}

int main(void)
{
	struct vu_slowfs fs;
	struct vu_daemon d;
	char opts[32];
	bool held = true, at_once = true, ok = true;

	vu_harness_init(120);
	tap_plan(PLAN);
	snprintf(opts, sizeof(opts), "--delay-ms %u", SLOW_MS);
	if (vu_slowfs_mount(&fs, "16M", opts) < 0)
		tap_bail("cannot mount the slow disk");
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create a temp dir");
	vu_daemon_use_disk(&d, fs.disk);
	if (vu_daemon_start(&d, &(struct vu_daemon_opts){ .engine = "uring" }) < 0)
		tap_bail("cannot start vbridge on the slow disk");
	vu_dev_init(&dev);
	must(vu_connect(&dev, d.sock, 5000) == 0 &&
	     vu_negotiate(&dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_INFLIGHT) == 0 &&
	     vu_inflight_open(&dev, 1, QS, &inf) == 0 &&
	     vu_mem_add_region(&dev, 0, 2u << 20) == 0 && vu_mem_set_table(&dev) == 0 &&
	     (vq = vu_vq_create(&dev, 0, QS)) && vu_vq_start(vq) == 0, "front-end set-up");
	for (unsigned i = 0; i < N; i++) {
		void *buf = vu_mem_alloc(&dev, BLK, BLK);

		must(vu_blk_req_init(&dev, &req[i]) == 0 && buf, "requests");
		vu_blk_prep_read(&req[i], (uint64_t)i * 8, buf, BLK);
		all[i] = &req[i];
	}
	for (unsigned c = 0; c < CYCLES; c++) {
		bool c_at_once, c_ok;

		held &= slow_batch(&c_at_once, &c_ok);
		at_once &= c_at_once;
		ok &= c_ok;
		/* A drain and a restart, as between the bench's samples. */
		must(vu_vq_stop(vq, NULL) == 0 && vu_vq_start(vq) == 0, "drain and restart");
	}
	tap_ok(held, "avail->idx stays put while the batch is held, even with the back-end kicked");
	tap_ok(at_once, "all %u requests of a batch written over %u ms are inflight at once (%u cycles)",
	       N, 3 * SLOW_MS, CYCLES);
	tap_ok(ok, "and all of them complete");
	if (!at_once)
		vu_daemon_dump_log(&d, 20);
	vu_dev_close(&dev);
	vu_inflight_close(&inf);
	vu_daemon_stop(&d);
	vu_daemon_teardown(&d);
	vu_slowfs_umount(&fs);
	return tap_done();
}
