/* A front-end that rewrites a packed ring's inflight region while a request is in flight: the queue stops cleanly, the daemon stays up. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define QS 16
#define TMO 5000
#define PLAN 12
#define F_PACKED (1ull << 34)
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
/* Packed descriptor flags (virtio 1.1): available and used bits, for wrap counter 1. */
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_AVAIL (1u << 7)
/* Long enough that the request is still held when the region is rewritten. */
#define DELAY "delay:2s"

static struct vu_daemon d;

struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Starts queue 0 as a packed ring at index 0, wrap counters 1, with an error eventfd. */
static void start_packed(struct vu_dev *dev, struct vu_vq *vq, int err_fd)
{
	struct vhost_user_vring_addr a = {
		.index = 0,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
	};
	uint64_t idx = 0;

	if (vu_set_vring_num(dev, 0, QS) < 0 || vu_set_vring_base(dev, 0, 0x80008000u) < 0 ||
	    vu_set_vring_addr(dev, &a) < 0 ||
	    vu_request(dev, VHOST_USER_SET_VRING_ERR, &idx, sizeof(idx), &err_fd, 1) < 0 ||
	    vu_set_vring_kick(dev, 0, vq->kick_fd) < 0 || vu_set_vring_call(dev, 0, vq->call_fd) < 0 ||
	    vu_set_vring_enable(dev, 0, true) < 0)
		tap_bail("packed ring set-up: %s", dev->err);
}

/* Makes a 4 KiB read of sector 0 available at slots 0-2 (id 0) and kicks. */
static void post_read(struct vu_dev *dev, struct vu_vq *vq)
{
	struct virtio_blk_outhdr *hdr = vu_mem_alloc(dev, sizeof(*hdr), 16);
	uint8_t *buf = vu_mem_alloc(dev, 4096, 4096), *status = vu_mem_alloc(dev, 1, 1);
	struct pdesc *ring = (struct pdesc *)vq->desc;

	if (!hdr || !buf || !status)
		tap_bail("guest memory: %s", dev->err);
	*hdr = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN };
	*status = 0xff;
	ring[1] = (struct pdesc){ vu_ptr_to_gpa(dev, buf), 4096, 0,
				  DESC_F_NEXT | DESC_F_WRITE | DESC_F_AVAIL };
	ring[2] = (struct pdesc){ vu_ptr_to_gpa(dev, status), 1, 0, DESC_F_WRITE | DESC_F_AVAIL };
	ring[0] = (struct pdesc){ vu_ptr_to_gpa(dev, hdr), sizeof(*hdr), 0, 0 };
	/* The head's flags last: the chain is complete once they are visible. */
	__atomic_store_n(&ring[0].flags, DESC_F_NEXT | DESC_F_AVAIL, __ATOMIC_RELEASE);
	if (vu_vq_kick(vq) < 0)
		tap_bail("kick: %s", dev->err);
}

static bool wait_inflight(struct vb_inflight_packed *p)
{
	for (unsigned ms = 0; ms < TMO; ms++) {
		if (__atomic_load_n(&p->desc[0].inflight, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&p->old_free_head, __ATOMIC_ACQUIRE) == 3)
			return true;
		sleep_ms(1);
	}
	return false;
}

static bool log_has(const char *what)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(d.log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

int main(void)
{
	struct vu_daemon_opts o = { .queues = 1, .engine = DELAY };
	struct vb_inflight_packed *p;
	struct vu_inflight inf;
	struct pollfd pfd;
	struct vu_dev dev;
	struct vu_vq *vq;
	int err_fd;

	vu_test_begin(&d, 60, PLAN, DISK_SIZE, &o);
	vu_dev_init(&dev);
	if (vu_connect(&dev, d.sock, TMO) < 0 ||
	    vu_negotiate(&dev, VU_BLK_FEATURES | F_PACKED, VU_PROTOCOL_FEATURES | F_INFLIGHT) < 0 ||
	    vu_mem_add_region(&dev, 0, 1 << 20) < 0 || vu_mem_set_table(&dev) < 0)
		tap_bail("set-up: %s", dev.err);
	tap_ok((dev.features & F_PACKED) && (dev.protocol_features & F_INFLIGHT),
	       "VIRTIO_F_RING_PACKED and INFLIGHT_SHMFD negotiated");
	if (vu_inflight_open(&dev, 1, QS, &inf) < 0)
		tap_bail("inflight region: %s", dev.err);
	tap_ok(inf.info.mmap_size >= vb_inflight_packed_min_size(QS), "a packed-layout inflight region");
	vq = vu_vq_create(&dev, 0, QS);
	err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!vq || err_fd < 0)
		tap_bail("queue: %s", dev.err);
	start_packed(&dev, vq, err_fd);
	p = inf.base;

	post_read(&dev, vq);
	tap_ok(wait_inflight(p), "the read is recorded inflight in entries 0-2 of the region");
	/* The chain's last entry, which completion links into the free list, far out of the ring. */
	__atomic_store_n(&p->desc[0].last, 0x7fff, __ATOMIC_RELEASE);

	pfd = (struct pollfd){ .fd = err_fd, .events = POLLIN };
	tap_ok(poll(&pfd, 1, 4 * TMO) == 1,
	       "completing the request with a rewritten last entry: the daemon signals the error eventfd");
	tap_ok(vu_daemon_alive(&d), "the daemon is still running");
	tap_ok(log_has("packed inflight region's chain links are corrupt"), "the log says why the queue stopped");
	tap_ok(!(__atomic_load_n(&((struct pdesc *)vq->desc)[0].flags, __ATOMIC_ACQUIRE) & (1u << 15)),
	       "the unrecorded completion is not published: no used element in slot 0");
	close(err_fd);
	vu_dev_close(&dev);
	vu_inflight_close(&inf);
	exit(vu_test_end(&d, 1, "a packed inflight region rewritten under a running ring"));
}
