/* Reconfiguration without a drain: memory table and dirty log messages are answered while requests are held on slow storage, and those requests then complete right. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define MEM_SIZE (16ull << 20)		/* region 0 at gpa 0: 4096 pages */
#define EXTRA_GPA (1ull << 30)		/* region 1, added and removed */
#define EXTRA_SIZE (1ull << 20)
#define LOG_BYTES (MEM_SIZE / 4096 / 8)
#define DELAY_MS 2000
/* Generous against microseconds, and half of what a drain behind DELAY_MS takes. */
#define ANSWER_MS (DELAY_MS / 2)
#define STEPS 6
#define PER_STEP 3			/* two reads and a write held across each message */
#define NREQ (STEPS * PER_STEP)
#define SEED 0x6d656d
#define TMO 10000

static struct vu_daemon d;
static struct vu_dev dev;
static uint8_t *bitmap;
static struct vu_blk_req reqs[NREQ];
static uint8_t *bufs[NREQ];
static unsigned int nsubmitted;

static bool marked(uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	return bitmap[page / 8] & (1u << (page % 8));
}

static bool is_read(unsigned int i)
{
	return i % PER_STEP != PER_STEP - 1;
}

/* Request i works on its own 4 KiB: reads of the pattern at sector 8i, writes of it at 4096 + 8i. */
static uint64_t sector_of(unsigned int i)
{
	return is_read(i) ? 8ull * i : 4096 + 8ull * i;
}

static void submit_batch(struct vu_vq *vq)
{
	for (unsigned int k = 0; k < PER_STEP; k++, nsubmitted++) {
		unsigned int i = nsubmitted;

		if (is_read(i)) {
			vu_blk_prep_read(&reqs[i], sector_of(i), bufs[i], 4096);
		} else {
			vu_pattern_fill(bufs[i], 4096, SEED, sector_of(i) * 512);
			vu_blk_prep_write(&reqs[i], sector_of(i), bufs[i], 4096);
		}
		if (vu_blk_submit(vq, &reqs[i]) < 0)
			tap_bail("submit: %s", dev.err);
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int mem_reg(uint32_t request, const struct vu_region *reg)
{
	struct vhost_user_single_mem_region m = {
		.region = { .guest_addr = reg->gpa, .size = reg->size,
			    .user_addr = (uint64_t)(uintptr_t)reg->host },
	};

	return vu_request(&dev, request, &m, sizeof(m), &reg->fd, 1);
}

static int log_used_ring(struct vu_vq *vq)
{
	struct vhost_user_vring_addr a = {
		.index = vq->index,
		.flags = 1u << VHOST_VRING_F_LOG,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.log_guest_addr = vq->used_gpa,
	};

	return vu_set_vring_addr(&dev, &a);
}

/* Holds a fresh batch of requests in the daemon, sends one message, and times its answer. */
static void step(struct vu_vq *vq, const char *what, int log_fd)
{
	double start, ms;
	int r = -EINVAL;

	submit_batch(vq);
	start = now_ms();
	if (!strcmp(what, "SET_LOG_BASE"))
		r = vu_set_log_base(&dev, log_fd, LOG_BYTES, 0);
	else if (!strcmp(what, "SET_FEATURES with LOG_ALL"))
		r = vu_set_features(&dev, dev.features | (1ull << VHOST_F_LOG_ALL));
	else if (!strcmp(what, "SET_VRING_ADDR with the log flag"))
		r = log_used_ring(vq);
	else if (!strcmp(what, "ADD_MEM_REG"))
		r = mem_reg(VHOST_USER_ADD_MEM_REG, &dev.regions[1]);
	else if (!strcmp(what, "REM_MEM_REG"))
		r = mem_reg(VHOST_USER_REM_MEM_REG, &dev.regions[1]);
	else if (!strcmp(what, "SET_MEM_TABLE"))
		r = vu_mem_set_table(&dev);
	ms = now_ms() - start;

	if (!tap_ok(r == 0 && ms < ANSWER_MS, "%s is answered in %.1f ms with %u requests held",
		    what, ms, nsubmitted))
		tap_diag("result %d (%s); a drain would take about %d ms", r, dev.err, DELAY_MS);
}

static bool reads_right(void)
{
	bool ok = true;

	for (unsigned int i = 0; i < NREQ; i++) {
		size_t bad;

		if (reqs[i].status != VIRTIO_BLK_S_OK) {
			tap_diag("request %u: status %u", i, reqs[i].status);
			ok = false;
		}
		if (!is_read(i))
			continue;
		bad = vu_pattern_check(bufs[i], 4096, SEED, sector_of(i) * 512);
		if (bad != 4096) {
			tap_diag("read %u: wrong byte at %zu", i, bad);
			ok = false;
		}
	}
	return ok;
}

static bool writes_on_disk(void)
{
	bool ok = true;

	for (unsigned int i = 0; i < NREQ; i++) {
		if (!is_read(i) && !vu_disk_has_pattern(&d, sector_of(i), 4096, SEED))
			ok = false;
	}
	return ok;
}

/* Every request completed after the log swap: its written pages are in the new log. */
static bool all_marked(struct vu_vq *vq)
{
	bool ok = marked(vq->used_gpa);

	for (unsigned int i = 0; i < NREQ; i++) {
		uint64_t gpa = vu_ptr_to_gpa(&dev, bufs[i]);

		if (!marked(reqs[i].status_gpa) || (is_read(i) && !marked(gpa))) {
			tap_diag("request %u (%s at gpa 0x%llx) not marked", i,
				 is_read(i) ? "read" : "write", (unsigned long long)gpa);
			ok = false;
		}
	}
	return ok;
}

/*
 * A memory table without the ring's region, sent while a request is held:
 * the ring must break (error eventfd) rather than fault, and the held
 * request, which keeps the old map, still completes.
 */
static void ring_dropped(struct vu_vq *vq)
{
	struct vhost_user_mem_table t = { .nregions = 1 };
	const struct vu_region *extra = &dev.regions[1];
	struct vu_blk_req *held = &reqs[0];
	struct pollfd p;
	uint64_t idx = vq->index;
	int err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (err_fd < 0 || vu_request(&dev, VHOST_USER_SET_VRING_ERR, &idx, sizeof(idx), &err_fd, 1))
		tap_bail("SET_VRING_ERR: %s", dev.err);
	t.regions[0] = (struct vhost_user_mem_region){ .guest_addr = extra->gpa, .size = extra->size,
						       .user_addr = (uint64_t)(uintptr_t)extra->host };
	vu_blk_prep_read(held, sector_of(0), bufs[0], 4096);
	if (vu_blk_submit(vq, held) < 0)
		tap_bail("submit: %s", dev.err);
	tap_ok(vu_request(&dev, VHOST_USER_SET_MEM_TABLE, &t,
			  offsetof(struct vhost_user_mem_table, regions[1]), &extra->fd, 1) == 0,
	       "SET_MEM_TABLE without the ring's region is accepted");
	p = (struct pollfd){ .fd = err_fd, .events = POLLIN };
	tap_ok(poll(&p, 1, TMO) == 1, "the ring breaks: its error eventfd is signalled");
	tap_ok(vu_blk_wait(vq, held, TMO) == 0 && held->status == VIRTIO_BLK_S_OK &&
	       vu_pattern_check(bufs[0], 4096, SEED, sector_of(0) * 512) == 4096,
	       "the request held across it completes through its old map, data right");
	close(err_fd);
}

int main(void)
{
	struct vu_daemon_opts o = { .engine = "delay:2000ms" };
	struct vu_open_opts oo = {
		.mem_size = MEM_SIZE,
		.protocol_features = VU_PROTOCOL_FEATURES | (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD),
	};
	struct vu_blk_req *all[NREQ];
	struct vu_vq *vq;
	int log_fd;

	vu_test_begin(&d, 90, 1 + STEPS + 4 + 3 + 4, DISK_SIZE, &o);
	if (vu_dev_open(&dev, d.sock, &oo) < 0)
		tap_bail("set-up failed: %s", dev.err);
	if (!(dev.protocol_features & (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS)))
		tap_bail("CONFIGURE_MEM_SLOTS not negotiated");
	vq = dev.vqs[0];
	for (unsigned int i = 0; i < NREQ; i++) {
		bufs[i] = vu_mem_alloc(&dev, 4096, 4096);
		all[i] = &reqs[i];
		if (!bufs[i] || vu_blk_req_init(&dev, &reqs[i]) < 0)
			tap_bail("guest memory: %s", dev.err);
		if (is_read(i))
			vu_disk_put_pattern(&d, sector_of(i), 4096, SEED);
	}
	if (vu_mem_add_region(&dev, EXTRA_GPA, EXTRA_SIZE) != 1)
		tap_bail("second region: %s", dev.err);
	log_fd = vu_log_create(LOG_BYTES, &bitmap);
	if (log_fd < 0)
		tap_bail("dirty log: %s", strerror(-log_fd));

	/* In the order migration sends them, then the memory table changes. */
	step(vq, "SET_LOG_BASE", log_fd);
	step(vq, "SET_FEATURES with LOG_ALL", log_fd);
	step(vq, "SET_VRING_ADDR with the log flag", log_fd);
	step(vq, "ADD_MEM_REG", log_fd);
	step(vq, "REM_MEM_REG", log_fd);
	step(vq, "SET_MEM_TABLE", log_fd);

	tap_ok(vu_blk_wait_all(&dev, all, NREQ, TMO) == 0 && reads_right(),
	       "every held request completes OK afterwards, reads with the right data");
	tap_ok(writes_on_disk(), "every held write reached the disk");
	tap_ok(all_marked(vq),
	       "requests completed after the log swap marked their pages and the used ring in the new log");
	tap_ok(vu_roundtrip_ok(&d, &dev, vq, SEED + 1),
	       "the ring serves new requests through the new memory table");
	ring_dropped(vq);

	for (unsigned int i = 0; i < NREQ; i++)
		vu_blk_req_fini(&reqs[i]);
	vu_dev_close(&dev);
	munmap(bitmap, LOG_BYTES);
	close(log_fd);
	return vu_test_end(&d, SEED + 2, "reconfiguration with requests held");
}
