/* What a stopped ring leaves behind: no interrupt while stopped, guest kicks back on, even when the worker polled. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define TMO 5000
#define PLAN 11
#define POLL_US 1000000u	/* the worker's window may grow to a whole second */
#define WARM_READS 16u		/* 4 us doubled 12 times is 16 ms */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_queue(struct vu_dev *dev, const struct vu_daemon *d, uint64_t features)
{
	struct vu_open_opts oo = { .queue_size = 64, .features = features };

	if (vu_dev_open(dev, d->sock, &oo) < 0)
		tap_bail("set-up: %s", dev->err);
}

/* Waits for used->idx to reach idx by watching the ring itself (there may be no call fd). */
static bool used_reaches(struct vu_vq *vq, uint16_t idx)
{
	for (uint64_t t0 = now_ms(); now_ms() - t0 < TMO;) {
		if (LOAD(vq->used->idx) == idx)
			return true;
		usleep(100);
	}
	return false;
}

static bool signalled(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

static uint8_t *guest_buf(struct vu_dev *dev, struct vu_blk_req *req)
{
	uint8_t *buf = vu_mem_alloc(dev, 4096, 4096);

	if (!buf || vu_blk_req_init(dev, req) < 0)
		tap_bail("guest memory: %s", dev->err);
	return buf;
}

/*
 * A completion published while the front-end had no call fd is owed an
 * interrupt. QEMU sends SET_VRING_CALL after GET_VRING_BASE: the debt must
 * wait for the ring to run again, never reach a suspended guest.
 */
static void test_owed_interrupt(const struct vu_daemon *d)
{
	struct vu_dev dev;
	struct vu_blk_req req;
	struct vu_vq *vq;
	uint8_t *buf;
	uint32_t base = ~0u;
	int efd;

	open_queue(&dev, d, VU_BLK_FEATURES & ~F_EVENT_IDX);
	vq = dev.vqs[0];
	buf = guest_buf(&dev, &req);
	if (vu_set_vring_call(&dev, 0, -1) < 0)
		tap_bail("SET_VRING_CALL without fd: %s", dev.err);
	vu_blk_prep_read(&req, 0, buf, 4096);
	vu_blk_submit(vq, &req);
	tap_ok(used_reaches(vq, 1), "owed: a read completes while the ring has no call fd");
	if (vu_vq_stop(vq, &base) < 0)
		tap_bail("GET_VRING_BASE: %s", dev.err);
	tap_ok(base == 1, "owed: GET_VRING_BASE replies 1 (%u)", base);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || vu_set_vring_call(&dev, 0, efd) < 0)
		tap_bail("SET_VRING_CALL: %s", dev.err);
	tap_ok(!signalled(efd, 200), "owed: SET_VRING_CALL on the stopped ring does not signal it");
	close(vq->call_fd);
	vq->call_fd = efd;
	tap_ok(vu_vq_start(vq) == 0 && signalled(efd, TMO),
	       "owed: the interrupt is delivered once the ring runs again");
	vu_blk_reap(vq);
	vu_dev_close(&dev);
}

/*
 * With --poll-us the worker turns guest kicks off while it spins. A stop in
 * that window must turn them back on: NO_NOTIFY cleared, or with EVENT_IDX
 * avail_event at the resume index, for whoever drives the ring next.
 */
static void test_kicks_restored(const struct vu_daemon *d, bool event_idx)
{
	const char *what = event_idx ? "EVENT_IDX" : "NO_NOTIFY";
	struct vu_dev dev;
	struct vu_blk_req req[2];
	struct vu_vq *vq;
	uint8_t *buf;
	uint32_t base = ~0u;
	uint16_t *avail_event;

	open_queue(&dev, d, event_idx ? VU_BLK_FEATURES : VU_BLK_FEATURES & ~F_EVENT_IDX);
	vq = dev.vqs[0];
	avail_event = (uint16_t *)&vq->used->ring[vq->size];
	buf = guest_buf(&dev, &req[0]);
	if (vu_blk_req_init(&dev, &req[1]) < 0)
		tap_bail("guest memory: %s", dev.err);
	/*
	 * The window adapts: reads 10 ms apart open it to at least 10 ms
	 * (doubled from 4 us per wait), so that the last read, made available
	 * without a kick, is found by polling, and the stop finds the worker
	 * still spinning.
	 */
	for (unsigned int i = 0; i < WARM_READS; i++) {
		usleep(10000);
		vu_blk_prep_read(&req[0], 0, buf, 4096);
		if (vu_blk_run(vq, &req[0], TMO) != VIRTIO_BLK_S_OK)
			tap_bail("%s: read %u did not complete: %s", what, i, dev.err);
	}
	vu_blk_prep_read(&req[1], 8, buf, 4096);
	vu_blk_enqueue(vq, &req[1]);
	if (!used_reaches(vq, WARM_READS + 1))
		tap_bail("%s: the polled read did not complete", what);
	if (vu_vq_stop(vq, &base) < 0)
		tap_bail("GET_VRING_BASE: %s", dev.err);
	if (event_idx)
		tap_ok(base == WARM_READS + 1 && LOAD(*avail_event) == WARM_READS + 1,
		       "%s: stopped while polling, avail_event is the resume index (%u, base %u)",
		       what, LOAD(*avail_event), base);
	else
		tap_ok(base == WARM_READS + 1 && !(LOAD(vq->used->flags) & VRING_USED_F_NO_NOTIFY),
		       "%s: stopped while polling, used->flags asks for kicks again (0x%x, base %u)",
		       what, LOAD(vq->used->flags), base);
	vu_blk_reap(vq);
	vu_dev_close(&dev);
}

int main(void)
{
	struct vu_daemon d;
	struct vu_daemon_opts o = { .poll_us = POLL_US };

	vu_test_begin(&d, 120, PLAN, DISK_SIZE, &o);
	if (!vu_is_vbridge()) {
		tap_skip(PLAN - 1, "tests vbridge's own stop semantics", "ring stop");
		exit(tap_done());
	}
	test_owed_interrupt(&d);
	test_kicks_restored(&d, false);
	test_kicks_restored(&d, true);
	return vu_test_end(&d, 11, "the stops");
}
