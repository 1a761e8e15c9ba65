/* The tests' slow FUSE disk itself: O_DIRECT io_uring requests wait in the kernel, concurrently, for the set delay. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define NREADS 16
#define BLK 4096
#define DELAY_MS 500
#define PLAN 12

static void *aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len))
		tap_bail("out of memory");
	return p;
}

/* Submits n O_DIRECT reads of BLK at once; how long submitting and finishing them took. */
static bool read_together(int fd, unsigned n, uint64_t *submit_ms, uint64_t *total_ms)
{
	struct io_uring ring;
	void *buf = aligned((size_t)n * BLK);
	uint64_t t0;
	unsigned done = 0;
	bool ok = true;

	*submit_ms = *total_ms = 0;
	if (io_uring_queue_init(n, &ring, 0) < 0)
		tap_bail("io_uring_queue_init");
	t0 = (uint64_t)vu_now_ms();
	for (unsigned i = 0; i < n; i++)
		io_uring_prep_read(io_uring_get_sqe(&ring), fd, (char *)buf + (size_t)i * BLK, BLK,
				   (off_t)i * 1024 * 1024);
	ok = io_uring_submit(&ring) == (int)n;
	*submit_ms = (uint64_t)vu_now_ms() - t0;
	while (ok && done < n) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		ok = cqe->res == BLK;
		io_uring_cqe_seen(&ring, cqe);
		done++;
	}
	*total_ms = (uint64_t)vu_now_ms() - t0;
	io_uring_queue_exit(&ring);
	free(buf);
	return ok && done == n;
}

/* Whether one read submitted now is still unfinished after wait_ms; it is left in flight on ring. */
static bool read_pending_after(struct io_uring *ring, int fd, void *buf, unsigned wait_ms)
{
	struct io_uring_cqe *cqe;

	io_uring_prep_read(io_uring_get_sqe(ring), fd, buf, BLK, 0);
	io_uring_submit(ring);
	usleep(wait_ms * 1000);
	return io_uring_peek_cqe(ring, &cqe) == -EAGAIN;
}

static void test_async(void)
{
	struct vu_slowfs s;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	uint8_t *buf = aligned(16 * BLK), *back = aligned(16 * BLK);
	uint64_t submit = 0, total = 0, t0, took;
	bool ok;
	int fd;

	if (vu_slowfs_mount(&s, "64M", "--delay-ms " "500") < 0)
		tap_bail("cannot mount the slow disk");
	fd = open(s.disk, O_RDWR | O_DIRECT);
	tap_ok(fd >= 0, "the disk opens with O_DIRECT");
	if (fd < 0)
		tap_bail("open %s: %s", s.disk, strerror(errno));

	ok = read_together(fd, NREADS, &submit, &total);
	tap_ok(ok && submit < DELAY_MS / 2,
	       "%u O_DIRECT io_uring reads are submitted at once (%llu ms)", NREADS,
	       (unsigned long long)submit);
	/* Generous: a loaded 2-core machine; served one by one they would take 8 s. */
	tap_ok(total >= DELAY_MS - 50 && total < 3 * DELAY_MS,
	       "they wait for the disk together: all done in %llu ms, about %u ms, not %u",
	       (unsigned long long)total, DELAY_MS, NREADS * DELAY_MS);

	vu_pattern_fill(buf, 16 * BLK, 77, 1 << 20);
	t0 = (uint64_t)vu_now_ms();
	ok = pwrite(fd, buf, 16 * BLK, 1 << 20) == 16 * BLK &&
	     pread(fd, back, 16 * BLK, 1 << 20) == 16 * BLK && memcmp(buf, back, 16 * BLK) == 0;
	took = (uint64_t)vu_now_ms() - t0;
	tap_ok(ok && took >= 2 * DELAY_MS - 50,
	       "data written reads back, each request after the delay (%llu ms for two)",
	       (unsigned long long)took);

	ok = vu_slowfs_delay(&s, 0, 0) == 0 && read_together(fd, 4, &submit, &total);
	tap_ok(ok && total < DELAY_MS, "with the delay set to 0 at run time reads are quick (%llu ms)",
	       (unsigned long long)total);

	/* Hang, then recover: requests already waiting follow the new delay. */
	if (io_uring_queue_init(4, &ring, 0) < 0)
		tap_bail("io_uring_queue_init");
	vu_slowfs_delay(&s, 60000, 60000);
	tap_ok(read_pending_after(&ring, fd, back, 300), "a hung disk holds a read");
	t0 = (uint64_t)vu_now_ms();
	vu_slowfs_delay(&s, 0, 0);
	ok = io_uring_wait_cqe(&ring, &cqe) == 0 && cqe->res == BLK;
	took = (uint64_t)vu_now_ms() - t0;
	tap_ok(ok && took < 1000, "it ends as soon as the disk recovers (%llu ms)",
	       (unsigned long long)took);
	io_uring_queue_exit(&ring);
	close(fd);
	vu_slowfs_umount(&s);
	tap_ok(access(s.disk, F_OK) < 0 && access(s.dir, F_OK) < 0,
	       "unmounted, its directory removed");
	free(buf);
	free(back);
}

/* Without FUSE_ASYNC_DIO the kernel serves a file's O_DIRECT requests one after the other. */
static void test_sync(void)
{
	struct vu_slowfs s;
	uint64_t submit = 0, total = 0;
	bool ok;
	int fd;

	if (vu_slowfs_mount(&s, "16M", "--delay-ms 300 --no-async-dio") < 0)
		tap_bail("cannot mount the slow disk without async DIO");
	fd = open(s.disk, O_RDWR | O_DIRECT);
	tap_ok(fd >= 0, "--no-async-dio: the disk opens with O_DIRECT");
	ok = fd >= 0 && read_together(fd, 4, &submit, &total);
	tap_ok(ok && total >= 4 * 300 - 50,
	       "--no-async-dio: 4 reads of 300 ms are served one by one (submitted in %llu ms, done in %llu ms)",
	       (unsigned long long)submit, (unsigned long long)total);
	if (fd >= 0)
		close(fd);
	vu_slowfs_umount(&s);
}

/* With --backing the data lives in a file: what is written through the disk is in it. */
static void test_backing(void)
{
	char path[] = "/tmp/vbridge-slowfs-backing.XXXXXX", opts[64];
	uint8_t *buf = aligned(8 * BLK), *back = aligned(8 * BLK);
	struct vu_slowfs s;
	int bfd = mkstemp(path), fd = -1;
	bool ok;

	if (bfd < 0 || ftruncate(bfd, 1 << 20) < 0)
		tap_bail("backing file: %s", strerror(errno));
	snprintf(opts, sizeof(opts), "--backing %s", path);
	if (vu_slowfs_mount(&s, "1M", opts) < 0)
		tap_bail("cannot mount the slow disk on a backing file");
	vu_pattern_fill(buf, 8 * BLK, 99, 4 * BLK);
	fd = open(s.disk, O_RDWR | O_DIRECT);
	ok = fd >= 0 && pwrite(fd, buf, 8 * BLK, 4 * BLK) == 8 * BLK &&
	     pread(bfd, back, 8 * BLK, 4 * BLK) == 8 * BLK && memcmp(buf, back, 8 * BLK) == 0;
	tap_ok(ok, "--backing: an O_DIRECT write through the disk is in the backing file");
	if (fd >= 0)
		close(fd);
	vu_slowfs_umount(&s);
	close(bfd);
	unlink(path);
	free(buf);
	free(back);
}

int main(void)
{
	vu_harness_init(60);
	tap_plan(PLAN);
	test_async();
	test_sync();
	test_backing();
	tap_ok(vu_slowfs_mount(&(struct vu_slowfs){ 0 }, "1M", "--no-such-option") < 0,
	       "a server that cannot start is reported, not waited for");
	return tap_done();
}
