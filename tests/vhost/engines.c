/* The I/O engines and adaptive polling through the daemon: --engine null, --engine delay:D, --poll-us. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define TMO 5000
#define DEPTH 32
#define ROUNDS 12
#define PLAN 16

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_daemon(struct vu_daemon *d, struct vu_dev *dev, const struct vu_daemon_opts *o,
			const char *what)
{
	struct vu_open_opts oo = { .queue_size = 128 };

	if (vu_daemon_setup(d, DISK_SIZE) < 0)
		tap_bail("temp dir");
	if (!tap_ok(vu_daemon_start(d, o) == 0, "%s: daemon starts", what))
		tap_bail("cannot start vbridge");
	if (vu_dev_open(dev, d->sock, &oo) < 0)
		tap_bail("%s: set-up: %s", what, dev->err);
}

static void close_daemon(struct vu_daemon *d, struct vu_dev *dev, const char *what)
{
	vu_dev_close(dev);
	tap_ok(vu_daemon_stop(d) == 0, "%s: daemon exits 0", what);
	vu_daemon_teardown(d);
}

static bool image_is(const struct vu_daemon *d, uint64_t off, uint32_t len, int seed)
{
	uint8_t *buf = malloc(len);
	bool ok = buf && pread(d->disk_fd, buf, len, (off_t)off) == (ssize_t)len &&
		  (seed < 0 ? vu_zero_check(buf, len) : vu_pattern_check(buf, len, seed, off)) == len;

	free(buf);
	return ok;
}

/* No I/O at all: reads are zeroes whatever the image holds, writes never reach it. */
static void test_null(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .engine = "null" };
	struct vu_blk_req req;
	uint8_t *buf;
	char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 };

	open_daemon(&d, &dev, &o, "null");
	buf = vu_mem_alloc(&dev, 8192, 4096);
	if (!buf || vu_blk_req_init(&dev, &req) < 0)
		tap_bail("guest memory: %s", dev.err);
	vu_pattern_fill(buf, 8192, 5, 0);
	if (pwrite(d.disk_fd, buf, 8192, 0) != 8192)
		tap_bail("pwrite on the image");
	memset(buf, 0xff, 8192);
	vu_blk_prep_read(&req, 0, buf, 8192);
	tap_ok(vu_blk_run(dev.vqs[0], &req, TMO) == VIRTIO_BLK_S_OK &&
	       vu_zero_check(buf, 8192) == 8192 && req.used_len == 8193,
	       "null: a read succeeds with zeroes (the image holds a pattern)");
	vu_pattern_fill(buf, 8192, 6, 1 << 20);
	vu_blk_prep_write(&req, (1 << 20) / 512, buf, 8192);
	tap_ok(vu_blk_run(dev.vqs[0], &req, TMO) == VIRTIO_BLK_S_OK &&
	       image_is(&d, 1 << 20, 8192, -1),
	       "null: a write succeeds and the image stays untouched");
	vu_blk_prep_flush(&req);
	tap_ok(vu_blk_run(dev.vqs[0], &req, TMO) == VIRTIO_BLK_S_OK, "null: flush succeeds");
	vu_blk_prep_get_id(&req, buf);
	tap_ok(vu_blk_run(dev.vqs[0], &req, TMO) == VIRTIO_BLK_S_OK &&
	       strcmp(memcpy(id, buf, VIRTIO_BLK_ID_BYTES), "vbridge") == 0,
	       "null: GET_ID still answers (%s)", id);
	vu_blk_prep_read(&req, DISK_SIZE / 512, buf, 4096);
	tap_ok(vu_blk_run(dev.vqs[0], &req, TMO) == VIRTIO_BLK_S_IOERR,
	       "null: a read past the end still fails");
	vu_blk_req_fini(&req);
	close_daemon(&d, &dev, "null");
}

/* Each request is held the delay, then done for real. */
static void test_delay(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .engine = "delay:200ms" };
	struct vu_blk_req req[4], *all[4];
	uint8_t *buf[4];
	uint64_t t0, took;
	bool ok = true;

	open_daemon(&d, &dev, &o, "delay");
	for (unsigned i = 0; i < 4; i++) {
		buf[i] = vu_mem_alloc(&dev, 4096, 4096);
		if (!buf[i] || vu_blk_req_init(&dev, &req[i]) < 0)
			tap_bail("guest memory: %s", dev.err);
		vu_pattern_fill(buf[i], 4096, 7, i * 4096ull);
		vu_blk_prep_write(&req[i], i * 8, buf[i], 4096);
		all[i] = &req[i];
	}
	t0 = now_ms();
	for (unsigned i = 0; i < 4; i++)
		vu_blk_submit(dev.vqs[0], &req[i]);
	ok = vu_blk_wait_all(&dev, all, 4, TMO) == 0;
	took = now_ms() - t0;
	for (unsigned i = 0; i < 4; i++)
		ok = ok && req[i].status == VIRTIO_BLK_S_OK && image_is(&d, i * 4096ull, 4096, 7);
	tap_ok(ok, "delay: 4 writes complete and reach the image");
	/* A lower bound only: the requests were held together, not one after the other. */
	tap_ok(took >= 190, "delay: they took at least the delay (%llu ms)", (unsigned long long)took);
	memset(buf[0], 0, 4096);
	vu_blk_prep_read(&req[0], 8, buf[0], 4096);
	tap_ok(vu_blk_run(dev.vqs[0], &req[0], TMO) == VIRTIO_BLK_S_OK &&
	       vu_pattern_check(buf[0], 4096, 7, 4096) == 4096, "delay: reads return the data");
	for (unsigned i = 0; i < 4; i++)
		vu_blk_req_fini(&req[i]);
	close_daemon(&d, &dev, "delay");
}

/* Adaptive polling: a steady stream of requests at depth, every one verified. */
static void test_poll(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .poll_us = 200 };
	struct vu_blk_req req[DEPTH], *all[DEPTH];
	uint8_t *buf[DEPTH];
	unsigned bad = 0, done = 0;
	uint64_t kicks0;

	open_daemon(&d, &dev, &o, "poll");
	for (unsigned i = 0; i < DEPTH; i++) {
		buf[i] = vu_mem_alloc(&dev, 4096, 4096);
		if (!buf[i] || vu_blk_req_init(&dev, &req[i]) < 0)
			tap_bail("guest memory: %s", dev.err);
		all[i] = &req[i];
	}
	kicks0 = dev.vqs[0]->kicks;
	for (unsigned r = 0; r < ROUNDS; r++) {
		bool write = r % 2 == 0;

		for (unsigned i = 0; i < DEPTH; i++) {
			uint64_t off = ((r / 2) * DEPTH + i) * 4096ull;

			if (write) {
				vu_pattern_fill(buf[i], 4096, 9, off);
				vu_blk_prep_write(&req[i], off / 512, buf[i], 4096);
			} else {
				memset(buf[i], 0, 4096);
				vu_blk_prep_read(&req[i], off / 512, buf[i], 4096);
			}
			vu_blk_submit(dev.vqs[0], &req[i]);
		}
		if (vu_blk_wait_all(&dev, all, DEPTH, TMO) < 0)
			tap_bail("poll: requests did not complete: %s", dev.err);
		for (unsigned i = 0; i < DEPTH; i++) {
			uint64_t off = ((r / 2) * DEPTH + i) * 4096ull;

			done++;
			if (req[i].status != VIRTIO_BLK_S_OK ||
			    (!write && vu_pattern_check(buf[i], 4096, 9, off) != 4096))
				bad++;
		}
	}
	tap_ok(bad == 0, "poll: %u reads and writes at depth %d, all right (%u bad)", done, DEPTH,
	       bad);
	tap_ok(image_is(&d, 0, DEPTH * 4096, 9), "poll: the image holds what was written");
	tap_diag("poll: %llu kicks for %u requests", (unsigned long long)(dev.vqs[0]->kicks - kicks0),
		 done);
	for (unsigned i = 0; i < DEPTH; i++)
		vu_blk_req_fini(&req[i]);
	close_daemon(&d, &dev, "poll");
}

int main(void)
{
	vu_harness_init(60);
	tap_plan(PLAN);
	if (!vu_is_vbridge()) {
		tap_skip(PLAN, "engines are vbridge options", "engines");
		exit(tap_done());
	}
	test_null();
	test_delay();
	test_poll();
	exit(tap_done());
}
