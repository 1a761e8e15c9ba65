/* What a stopped ring leaves behind: no interrupt while it is stopped. */
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
#define PLAN 9
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

int main(void)
{
	struct vu_daemon d;
	struct vu_daemon_opts o = { 0 };

	vu_test_begin(&d, 120, PLAN, DISK_SIZE, &o);
	if (!vu_is_vbridge()) {
		tap_skip(PLAN - 1, "tests vbridge's own stop semantics", "ring stop");
		exit(tap_done());
	}
	test_owed_interrupt(&d);
	return vu_test_end(&d, 11, "the stops");
}
