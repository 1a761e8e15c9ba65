/* vhost-user-blk multi-queue tests: 1, 2 and 4 queues with many requests in flight on each, plus a notification ping-pong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define TMO 5000
#define PER_Q 48   /* requests in flight per queue */
#define LEN 8192   /* bytes per request */
#define QSIZE 256
#define PINGPONG 400

static struct vu_daemon d;
static struct vu_dev dev;

static uint64_t sector_of(unsigned q, unsigned i)
{
	return 1024 + ((uint64_t)q * PER_Q + i) * (LEN / 512);
}

static bool run_queues(unsigned nq)
{
	unsigned n = nq * PER_Q;
	struct vu_blk_req *reqs = calloc(n, sizeof(*reqs));
	struct vu_blk_req **ptrs = calloc(n, sizeof(*ptrs));
	uint8_t **bufs = calloc(n, sizeof(*bufs));
	uint8_t *host = malloc(LEN);
	bool ok;
	int r;

	if (!reqs || !ptrs || !bufs || !host)
		tap_bail("out of memory");
	for (unsigned k = 0; k < n; k++) {
		bufs[k] = vu_mem_alloc(&dev, LEN, 4096);
		if (!bufs[k] || vu_blk_req_init(&dev, &reqs[k]) < 0)
			tap_bail("guest memory: %s", dev.err);
		ptrs[k] = &reqs[k];
	}

	/* writes: enqueue everything on every queue, then notify each queue */
	for (unsigned i = 0; i < PER_Q; i++) {
		for (unsigned q = 0; q < nq; q++) {
			unsigned k = q * PER_Q + i;
			uint64_t s = sector_of(q, i);

			vu_pattern_fill(bufs[k], LEN, nq * 1000 + k, s * 512);
			if (i % 4 == 1) {
				/* two segments */
				struct vu_seg segs[2] = {
					{ vu_ptr_to_gpa(&dev, bufs[k]), 4096 },
					{ vu_ptr_to_gpa(&dev, bufs[k]) + 4096, LEN - 4096 },
				};
				vu_blk_prep(&reqs[k], VIRTIO_BLK_T_OUT, s, segs, 2, false);
			} else {
				vu_blk_prep_write(&reqs[k], s, bufs[k], LEN);
			}
			if (i % 4 == 2)
				reqs[k].flags |= VU_REQ_INDIRECT;
			if (vu_blk_enqueue(dev.vqs[q], &reqs[k]) < 0)
				tap_bail("enqueue: %s", dev.err);
		}
	}
	for (unsigned q = 0; q < nq; q++)
		vu_vq_notify(dev.vqs[q]);
	r = vu_blk_wait_all(&dev, ptrs, n, TMO);
	if (r < 0)
		tap_diag("%s", dev.err);
	ok = r == 0;
	for (unsigned k = 0; k < n && ok; k++)
		if (reqs[k].status != VIRTIO_BLK_S_OK) {
			tap_diag("write %u: status %u", k, reqs[k].status);
			ok = false;
		}
	tap_ok(ok, "%u queues: %u writes in flight (%u per queue) complete OK", nq, n, PER_Q);

	ok = true;
	for (unsigned q = 0; q < nq; q++)
		for (unsigned i = 0; i < PER_Q; i++) {
			unsigned k = q * PER_Q + i;
			uint64_t s = sector_of(q, i);

			if (pread(d.disk_fd, host, LEN, (off_t)(s * 512)) != LEN ||
			    vu_pattern_check(host, LEN, nq * 1000 + k, s * 512) != LEN) {
				if (ok)
					tap_diag("queue %u request %u: data not in the image", q, i);
				ok = false;
			}
		}
	tap_ok(ok, "%u queues: pread() finds every write", nq);

	/* reads: each queue reads what another queue wrote */
	for (unsigned q = 0; q < nq; q++) {
		for (unsigned i = 0; i < PER_Q; i++) {
			unsigned k = q * PER_Q + i;
			unsigned src = ((q + 1) % nq) * PER_Q + (PER_Q - 1 - i);

			memset(bufs[k], 0, LEN);
			vu_blk_prep_read(&reqs[k], sector_of((q + 1) % nq, PER_Q - 1 - i),
					 bufs[k], LEN);
			reqs[k].user_data = (void *)(uintptr_t)src;
			if (i % 3 == 0)
				reqs[k].flags |= VU_REQ_INDIRECT;
			if (vu_blk_enqueue(dev.vqs[q], &reqs[k]) < 0)
				tap_bail("enqueue: %s", dev.err);
		}
		vu_vq_notify(dev.vqs[q]);
	}
	r = vu_blk_wait_all(&dev, ptrs, n, TMO);
	if (r < 0)
		tap_diag("%s", dev.err);
	ok = r == 0;
	for (unsigned k = 0; k < n && ok; k++) {
		unsigned src = (unsigned)(uintptr_t)reqs[k].user_data;
		unsigned sq = src / PER_Q, si = src % PER_Q;

		if (reqs[k].status != VIRTIO_BLK_S_OK ||
		    vu_pattern_check(bufs[k], LEN, nq * 1000 + src, sector_of(sq, si) * 512) != LEN) {
			tap_diag("read %u: status %u or wrong data", k, reqs[k].status);
			ok = false;
		}
	}
	tap_ok(ok, "%u queues: %u reads in flight return the right data", nq, n);

	for (unsigned k = 0; k < n; k++) {
		vu_blk_req_fini(&reqs[k]);
		vu_mem_free(&dev, bufs[k]);
	}
	free(reqs);
	free(ptrs);
	free(bufs);
	free(host);
	return ok;
}

/* One request at a time, alternating queues: a lost kick or call shows up as
 * a timeout (exercises EVENT_IDX suppression on both sides). */
static void pingpong(unsigned nq)
{
	struct vu_blk_req req;
	uint8_t *buf = vu_mem_alloc(&dev, 4096, 4096);
	bool ok = true;
	unsigned i;

	if (!buf || vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);
	for (i = 0; i < PINGPONG && ok; i++) {
		uint64_t s = 20000 + ((i / 2) % 64) * 8;
		int r;

		if (i & 1) {
			vu_blk_prep_read(&req, s, buf, 4096);
		} else {
			vu_pattern_fill(buf, 4096, i, s * 512);
			vu_blk_prep_write(&req, s, buf, 4096);
		}
		r = vu_blk_run(dev.vqs[(i / 2) % nq], &req, 2000);
		if (r != VIRTIO_BLK_S_OK) {
			tap_diag("request %u: %d %s", i, r, r < 0 ? dev.err : "");
			ok = false;
		} else if ((i & 1) && vu_pattern_check(buf, 4096, i - 1, s * 512) != 4096) {
			tap_diag("request %u read wrong data", i);
			ok = false;
		}
	}
	tap_ok(ok, "%u queues: %d sequential write/read round trips, no lost notification",
	       nq, PINGPONG);
	vu_blk_req_fini(&req);
	vu_mem_free(&dev, buf);
}

static void one_config(unsigned nq)
{
	struct vu_daemon_opts o = { .queues = nq };
	struct vu_open_opts oo = { .num_queues = nq, .queue_size = QSIZE, .mem_size = 32u << 20 };
	struct virtio_blk_config cfg;
	struct stat st;
	int r;

	r = vu_daemon_start(&d, &o);
	if (!tap_ok(r == 0, "daemon starts with --queues %u", nq))
		tap_bail("cannot start the daemon");
	r = vu_dev_open(&dev, d.sock, &oo);
	if (!tap_ok(r == 0, "%u queues: set-up of every queue", nq))
		tap_bail("set-up: %s", dev.err);
	tap_ok(dev.num_queues == nq, "GET_QUEUE_NUM returns %u (got %u)", nq, dev.num_queues);
	r = vu_blk_get_config(&dev, &cfg);
	tap_ok(r == 0 && cfg.num_queues == nq, "config num_queues is %u (got %u)", nq,
	       cfg.num_queues);
	run_queues(nq);
	pingpong(nq);
	vu_dev_close(&dev);
	r = vu_daemon_stop(&d);
	tap_ok(r == 0, "%u queues: daemon exits 0 on SIGTERM (got %d)", nq, r);
	tap_ok(stat(d.sock, &st) < 0 && errno == ENOENT, "%u queues: socket removed", nq);
}

int main(void)
{
	static const unsigned configs[] = { 1, 2, 4 };

	vu_harness_init(25);
	tap_plan(3 * 10);
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	for (unsigned i = 0; i < 3; i++)
		one_config(configs[i]);
	vu_daemon_teardown(&d);
	exit(tap_done());
}
