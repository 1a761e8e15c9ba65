/* Storage whose io_uring submission blocks (FUSE without async direct I/O): measured, and detected by the submit watch. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/submit_watch.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define BLK 4096
#define DELAY_MS 100
#define MAX_N 16
#define ROUNDS 8
#define PLAN 4

struct batch {
	int64_t submit_ms, total_ms;
	bool ok;
};

/* n O_DIRECT requests of BLK at 1 MiB apart, submitted at once through w; waited for. */
static struct batch run(int fd, unsigned n, bool write, unsigned flags, struct vb_submit_watch *w)
{
	static void *buf;
	struct batch b = { .ok = true };
	struct io_uring ring;
	int64_t t0;

	if (!buf && posix_memalign(&buf, BLK, (size_t)MAX_N * BLK))
		tap_bail("out of memory");
	if (io_uring_queue_init(MAX_N, &ring, 0) < 0)
		tap_bail("io_uring_queue_init");
	memset(buf, 0x5a, (size_t)MAX_N * BLK);
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		char *p = (char *)buf + (size_t)i * BLK;

		if (write)
			io_uring_prep_write(sqe, fd, p, BLK, (off_t)i << 20);
		else
			io_uring_prep_read(sqe, fd, p, BLK, (off_t)i << 20);
		sqe->flags |= flags;
	}
	t0 = vu_now_ms();
	b.ok = vb_submit_watched(w, &ring) == (int)n;
	b.submit_ms = vu_now_ms() - t0;
	for (unsigned done = 0; b.ok && done < n; done++) {
		struct io_uring_cqe *cqe;

		b.ok = io_uring_wait_cqe(&ring, &cqe) == 0 && cqe->res == BLK;
		io_uring_cqe_seen(&ring, cqe);
	}
	b.total_ms = vu_now_ms() - t0;
	io_uring_queue_exit(&ring);
	return b;
}

static int open_disk(struct vu_slowfs *s, const char *opts)
{
	int fd;

	if (vu_slowfs_mount(s, "32M", opts) < 0)
		tap_bail("cannot mount the slow disk (%s)", opts);
	fd = open(s->disk, O_RDWR | O_DIRECT);
	if (fd < 0)
		tap_bail("open %s: %s", s->disk, strerror(errno));
	return fd;
}

/* Prints how long n requests took to submit and to finish, without and with IOSQE_ASYNC. */
static void measure(int fd, unsigned n, bool write)
{
	struct vb_submit_watch w = { 0 };
	struct batch plain = run(fd, n, write, 0, &w);
	struct batch async = run(fd, n, write, IOSQE_ASYNC, &(struct vb_submit_watch){ 0 });

	tap_diag("%2u %-6s  submit %5lld ms, done %5lld ms | IOSQE_ASYNC: submit %3lld ms, done %5lld ms",
		 n, write ? "writes" : "reads", (long long)plain.submit_ms, (long long)plain.total_ms,
		 (long long)async.submit_ms, (long long)async.total_ms);
	if (!plain.ok || !async.ok)
		tap_bail("a request of the measurement failed");
}

static void test_blocking(void)
{
	struct vu_slowfs s;
	struct vb_submit_watch w = { 0 };
	struct batch b;
	char opts[64];
	bool ok;
	int fd;

	snprintf(opts, sizeof(opts), "--delay-ms %u --no-async-dio", DELAY_MS);
	fd = open_disk(&s, opts);
	tap_diag("FUSE without async direct I/O, %u ms per request:", DELAY_MS);
	for (unsigned n = 1; n <= MAX_N; n *= 4)
		measure(fd, n, true);
	measure(fd, MAX_N, false);

	b = run(fd, 1, true, vb_submit_flags(&w), &w);
	ok = b.ok && !w.async;
	run(fd, 0, true, 0, &w);
	b = run(fd, 1, true, vb_submit_flags(&w), &w);
	tap_ok(ok && b.ok && !w.async,
	       "one slow submission (%lld ms), even twice with a quick one between, is not enough to decide",
	       (long long)b.submit_ms);
	b = run(fd, 4, true, vb_submit_flags(&w), &w);
	tap_ok(b.ok && w.async && vb_submit_flags(&w) == IOSQE_ASYNC,
	       "a second one in a row (4 writes: %lld ms): the disk blocks at submission, "
	       "requests are issued with IOSQE_ASYNC from now on", (long long)b.submit_ms);
	/* Blocking, they would take MAX_N * DELAY_MS to submit. */
	b = run(fd, MAX_N, true, vb_submit_flags(&w), &w);
	tap_ok(b.ok && b.submit_ms < DELAY_MS,
	       "so issued, %u writes are submitted in %lld ms, done in %lld ms",
	       MAX_N, (long long)b.submit_ms, (long long)b.total_ms);
	close(fd);
	vu_slowfs_umount(&s);
}

static void test_async_dio(void)
{
	struct vu_slowfs s;
	struct vb_submit_watch w = { 0 };
	struct batch b = { .ok = true };
	int64_t slowest = 0;
	char opts[64];
	int fd;

	snprintf(opts, sizeof(opts), "--delay-ms %u", DELAY_MS);
	fd = open_disk(&s, opts);
	tap_diag("FUSE with async direct I/O, %u ms per request:", DELAY_MS);
	measure(fd, MAX_N, true);
	measure(fd, MAX_N, false);
	for (unsigned i = 0; i < ROUNDS && b.ok && !w.async; i++) {
		b = run(fd, MAX_N, true, 0, &w);
		slowest = b.submit_ms > slowest ? b.submit_ms : slowest;
	}
	tap_ok(b.ok && !w.async && vb_submit_flags(&w) == 0,
	       "with async direct I/O %u batches of %u writes submit at once (slowest %lld ms): "
	       "the watch leaves them alone", ROUNDS, MAX_N, (long long)slowest);
	close(fd);
	vu_slowfs_umount(&s);
}

int main(void)
{
	vu_harness_init(120);
	tap_plan(PLAN);
	test_blocking();
	test_async_dio();
	return tap_done();
}
