/* Dirty page logging through the protocol: SET_LOG_BASE, VHOST_F_LOG_ALL and used-ring logging mark exactly the pages the device writes. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (16ull << 20)
#define MEM_SIZE (16ull << 20)		/* one region at gpa 0: 4096 pages */
#define LOG_BYTES (MEM_SIZE / 4096 / 8)
#define TMO 5000

static struct vu_daemon d;
static struct vu_dev dev;
static uint8_t *bitmap;
/*
 * Where the used ring is logged: the daemon marks the guest address the
 * front-end gives (QEMU gives the used ring's own). A page of its own here,
 * which no request touches (the used ring shares its page with request
 * headers), so only used-ring logging can mark it.
 */
static uint64_t used_log_gpa;

static bool marked(uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	return bitmap[page / 8] & (1u << (page % 8));
}

static unsigned int count_marked(void)
{
	unsigned int n = 0;

	for (uint64_t p = 0; p < LOG_BYTES * 8; p++)
		n += !!(bitmap[p / 8] & (1u << (p % 8)));
	return n;
}

/* Re-sends the ring's addresses with or without used-ring logging, as QEMU does for migration. */
static int set_used_logging(struct vu_vq *vq, bool on)
{
	struct vhost_user_vring_addr a = {
		.index = vq->index,
		.flags = on ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.log_guest_addr = used_log_gpa,
	};

	return vu_set_vring_addr(&dev, &a);
}

int main(void)
{
	struct vu_daemon_opts o = { .queues = 1 };
	struct vu_open_opts oo = {
		.mem_size = MEM_SIZE,
		.protocol_features = VU_PROTOCOL_FEATURES | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD),
	};
	struct vu_blk_req rd, wr;
	struct vu_vq *vq;
	uint8_t *rbuf, *wbuf;
	uint64_t rgpa, wgpa;
	int log_fd, r;

	vu_harness_init(25);
	tap_plan(14);
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	if (!tap_ok(vu_daemon_start(&d, &o) == 0, "daemon starts"))
		tap_bail("cannot start the daemon");
	r = vu_dev_open(&dev, d.sock, &oo);
	if (!tap_ok(r == 0, "connect with LOG_SHMFD negotiated"))
		tap_bail("set-up failed: %s", dev.err);
	vq = dev.vqs[0];

	log_fd = vu_log_create(LOG_BYTES, &bitmap);
	if (log_fd < 0)
		tap_bail("dirty log: %s", strerror(-log_fd));
	tap_ok(vu_set_log_base(&dev, log_fd, LOG_BYTES, 0) == 0, "SET_LOG_BASE is answered with 0");
	tap_ok(vu_set_features(&dev, dev.features | (1ull << VHOST_F_LOG_ALL)) == 0,
	       "SET_FEATURES with VHOST_F_LOG_ALL");
	used_log_gpa = vu_ptr_to_gpa(&dev, vu_mem_alloc(&dev, 4096, 4096));
	tap_ok(set_used_logging(vq, true) == 0, "SET_VRING_ADDR with VHOST_VRING_F_LOG on the running ring");

	/* Three pages to read into (crossing two page boundaries) and a page to write from. */
	rbuf = vu_mem_alloc(&dev, 3 * 4096, 4096);
	wbuf = vu_mem_alloc(&dev, 4096, 4096);
	rgpa = vu_ptr_to_gpa(&dev, rbuf);
	wgpa = vu_ptr_to_gpa(&dev, wbuf);
	vu_blk_req_init(&dev, &rd);
	vu_blk_req_init(&dev, &wr);
	memset(wbuf, 0x5a, 4096);
	memset(bitmap, 0, LOG_BYTES);
	vu_blk_prep_write(&wr, 8, wbuf, 4096);
	tap_ok(vu_blk_run(vq, &wr, TMO) == VIRTIO_BLK_S_OK, "write while logging");
	tap_ok(!marked(wgpa) && marked(wr.status_gpa),
	       "a write marks its status byte's page but not the page it only read");
	tap_ok(marked(used_log_gpa), "the used ring is marked at its log_guest_addr");

	memset(bitmap, 0, LOG_BYTES);
	vu_blk_prep_read(&rd, 8, rbuf + 2048, 8192);
	r = vu_blk_run(vq, &rd, TMO);
	tap_ok(r == VIRTIO_BLK_S_OK && memcmp(rbuf + 2048, wbuf, 4096) == 0, "read while logging");
	tap_ok(marked(rgpa) && marked(rgpa + 4096) && marked(rgpa + 8192),
	       "the three pages the read wrote are marked");
	tap_ok(marked(rd.status_gpa) && marked(used_log_gpa), "status byte and used ring pages marked");
	tap_diag("%u pages marked for the read", count_marked());

	tap_ok(vu_set_features(&dev, dev.features & ~(1ull << VHOST_F_LOG_ALL)) == 0 &&
	       set_used_logging(vq, false) == 0, "logging switched off");
	memset(bitmap, 0, LOG_BYTES);
	vu_blk_prep_read(&rd, 8, rbuf, 4096);
	r = vu_blk_run(vq, &rd, TMO);
	tap_ok(r == VIRTIO_BLK_S_OK && count_marked() == 0, "without VHOST_F_LOG_ALL nothing is marked");

	vu_blk_req_fini(&rd);
	vu_blk_req_fini(&wr);
	vu_dev_close(&dev);
	munmap(bitmap, LOG_BYTES);
	close(log_fd);
	tap_ok(vu_daemon_stop(&d) == 0, "daemon exits 0 on SIGTERM");
	vu_daemon_teardown(&d);
	return tap_done();
}
