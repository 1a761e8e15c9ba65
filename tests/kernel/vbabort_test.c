/* Guest-side checks of /dev/vbabort: data path, FUA, abort fates, orphans, limits, bad input; prints "ok - ..." lines. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/fs.h>
#include <linux/vbabort.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/read_number.h"

#define KiB 1024u
#define POISON 0xa5
/* The dm-delay device the abort tests run on delays every bio this long. */
#define DELAY_MS 2000
/* "Did not wait for the delay": generous, as the host is shared and TCG is slow. */
#define PROMPT_MS 1000

static int failures;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures += !ok;
}

/* The errno of a call that must fail, or 0 if it succeeded. */
static int fails_with(int ret)
{
	return ret < 0 ? errno : 0;
}

static void die(const char *what)
{
	printf("not ok - %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len))
		die("posix_memalign");
	return p;
}

static void fill_random(void *buf, size_t len, unsigned int seed)
{
	uint32_t x = seed * 2654435761u + 1;
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}

static bool all_bytes(const void *buf, size_t len, uint8_t v)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

static int open_ctl(void)
{
	int fd = open("/dev/vbabort", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open /dev/vbabort");
	return fd;
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		die(path);
	return fd;
}

static int bind_version(int ctl, uint32_t version, int devfd, int efd, unsigned int depth,
			struct vbabort_bind *out)
{
	struct vbabort_bind b = {
		.abi_version = version, .fd = devfd, .eventfd = efd, .queue_depth = depth,
	};
	int ret = ioctl(ctl, VBABORT_IOC_BIND, &b);

	if (out)
		*out = b;
	return ret;
}

static int bind_fd(int ctl, int devfd, int efd, unsigned int depth, struct vbabort_bind *out)
{
	return bind_version(ctl, VBABORT_ABI_VERSION, devfd, efd, depth, out);
}

/* A context bound to PATH opened with FLAGS; exits on failure. */
static int context(const char *path, int flags, unsigned int depth)
{
	int ctl = open_ctl(), devfd = open_dev(path, flags);

	if (bind_fd(ctl, devfd, -1, depth, NULL))
		die("VBABORT_IOC_BIND");
	close(devfd);
	return ctl;
}

static struct vbabort_req rw(uint16_t op, uint64_t tag, uint64_t sector, struct vbabort_iovec *iov,
			     unsigned int cnt)
{
	return (struct vbabort_req){
		.tag = tag, .op = op, .sector = sector, .iov = (uintptr_t)iov, .iov_cnt = cnt,
	};
}

static struct vbabort_req range(uint16_t op, uint64_t tag, uint64_t sector, uint32_t sectors)
{
	return (struct vbabort_req){ .tag = tag, .op = op, .sector = sector, .nr_sectors = sectors };
}

static int submit(int ctl, struct vbabort_req *reqs, unsigned int nr)
{
	struct vbabort_submit s = { .reqs = (uintptr_t)reqs, .nr = nr };

	return ioctl(ctl, VBABORT_IOC_SUBMIT, &s);
}

static int reap(int ctl, struct vbabort_cqe *cqes, unsigned int nr, unsigned int min,
		unsigned int timeout_ms)
{
	struct vbabort_reap r = {
		.cqes = (uintptr_t)cqes, .nr = nr, .min_complete = min, .timeout_ms = timeout_ms,
	};

	return ioctl(ctl, VBABORT_IOC_REAP, &r);
}

static int abort_ctx(int ctl, struct vbabort_cqe *fates, unsigned int nr, unsigned int timeout_ms,
		     struct vbabort_abort *out)
{
	struct vbabort_abort a = { .fates = (uintptr_t)fates, .nr = nr, .timeout_ms = timeout_ms };
	int ret = ioctl(ctl, VBABORT_IOC_ABORT, &a);

	if (out)
		*out = a;
	return ret;
}

/* Submits one request and waits for its completion; returns its result. */
static int run1(int ctl, struct vbabort_req req)
{
	struct vbabort_cqe cqe;

	if (submit(ctl, &req, 1) != 1)
		return -errno;
	if (reap(ctl, &cqe, 1, 1, 10000) != 1)
		return -ETIME;
	return cqe.tag == req.tag ? cqe.result : -EBADMSG;
}

static bool dev_equals(int devfd, uint64_t off, const void *want, size_t len)
{
	void *buf = xalloc(len);
	bool same = pread(devfd, buf, len, (off_t)off) == (ssize_t)len && !memcmp(buf, want, len);

	free(buf);
	return same;
}

static bool dev_read(int devfd, uint64_t off, void *buf, size_t len)
{
	return pread(devfd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool fates_all(const struct vbabort_cqe *f, int n, uint8_t fate, int result)
{
	for (int i = 0; i < n; i++)
		if (f[i].fate != fate || f[i].result != result)
			return false;
	return true;
}

/* --- data path ------------------------------------------------------------- */

/* What a daemon's io_uring event loop sees: IORING_OP_POLL_ADD on the context. */
static int uring_poll(int fd)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int res = -ETIME;

	if (io_uring_queue_init(2, &ring, 0))
		return -ENOMEM;
	io_uring_prep_poll_add(io_uring_get_sqe(&ring), fd, POLLIN);
	io_uring_submit(&ring);
	if (!io_uring_wait_cqe_timeout(&ring, &cqe, &ts)) {
		res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	return res;
}

static int submit_reap(int ctl, struct vbabort_submit_reap *sr)
{
	return ioctl(ctl, VBABORT_IOC_SUBMIT_REAP, sr);
}

/*
 * SUBMIT_REAP: writes and reads in one call each, with their completions
 * reaped in the same call; a batch stopping at a bad request; bad arguments.
 */
static void test_submit_reap(const char *path)
{
	enum { NR = 8, LEN = 8 * KiB };
	struct vbabort_iovec iov[NR];
	struct vbabort_cqe cqes[VBABORT_MAX_BATCH + 1];
	struct vbabort_req reqs[VBABORT_MAX_BATCH + 1];
	struct vbabort_submit_reap sr;
	uint8_t *data = xalloc(NR * LEN), *back = xalloc(NR * LEN);
	int ctl = context(path, O_RDWR, 0), devfd = open_dev(path, O_RDONLY);
	bool tags_ok = true;
	int n;

	fill_random(data, NR * LEN, 7);
	memset(back, 0, NR * LEN);
	for (int i = 0; i < NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)(data + i * LEN), LEN };
		reqs[i] = rw(VBABORT_OP_WRITE, 200 + i, 4096 + (uint64_t)i * (LEN / 512), &iov[i], 1);
	}
	sr = (struct vbabort_submit_reap){ .reqs = (uintptr_t)reqs, .nr_reqs = NR, .cqes = (uintptr_t)cqes,
					   .nr_cqes = NR, .min_complete = NR, .timeout_ms = 10000 };
	n = submit_reap(ctl, &sr);
	for (int i = 0; i < n; i++)
		tags_ok &= cqes[i].tag >= 200 && cqes[i].tag < 200 + NR && cqes[i].result == 0 &&
			   cqes[i].op == VBABORT_OP_WRITE;
	check(n == NR && sr.submitted == NR && sr.error == 0 && tags_ok,
	      "%s: SUBMIT_REAP submits %d writes and reaps them in one call (%d, %u)", path, NR, n, sr.submitted);
	check(dev_equals(devfd, 4096 * 512, data, NR * LEN), "%s: SUBMIT_REAP's writes reached the device", path);

	for (int i = 0; i < NR; i++) {
		iov[i].base = (uintptr_t)(back + i * LEN);
		reqs[i] = rw(VBABORT_OP_READ, 300 + i, 4096 + (uint64_t)i * (LEN / 512), &iov[i], 1);
	}
	/* Submit only: the reads complete behind the call's back, a reap-only call collects them. */
	sr = (struct vbabort_submit_reap){ .reqs = (uintptr_t)reqs, .nr_reqs = NR };
	n = submit_reap(ctl, &sr);
	check(n == 0 && sr.submitted == NR && sr.error == 0, "%s: SUBMIT_REAP without cqes only submits (%d, %u)",
	      path, n, sr.submitted);
	sr = (struct vbabort_submit_reap){ .cqes = (uintptr_t)cqes, .nr_cqes = NR, .min_complete = NR,
					   .timeout_ms = 10000 };
	n = submit_reap(ctl, &sr);
	check(n == NR && sr.submitted == 0 && !memcmp(back, data, NR * LEN),
	      "%s: SUBMIT_REAP without requests reaps %d reads with their data (%d)", path, NR, n);

	/* A bad third request: two accepted, the reason reported, the call still reaps. */
	reqs[2].op = 42;
	sr = (struct vbabort_submit_reap){ .reqs = (uintptr_t)reqs, .nr_reqs = 4, .cqes = (uintptr_t)cqes,
					   .nr_cqes = 4, .min_complete = 2, .timeout_ms = 10000 };
	n = submit_reap(ctl, &sr);
	check(n == 2 && sr.submitted == 2 && sr.error == -EINVAL,
	      "%s: SUBMIT_REAP with a bad third request accepts 2, reports EINVAL and reaps 2 (%d, %u, %d)",
	      path, n, sr.submitted, sr.error);
	reqs[2].op = VBABORT_OP_READ;
	sr = (struct vbabort_submit_reap){ .reqs = (uintptr_t)&reqs[2], .nr_reqs = 1 };
	submit_reap(ctl, &sr);
	sr = (struct vbabort_submit_reap){ .reqs = (uintptr_t)&reqs[2], .nr_reqs = 1 };
	n = submit_reap(ctl, &sr);
	check(n == 0 && sr.submitted == 1 && sr.error == 0 && reap(ctl, cqes, 2, 2, 10000) == 2,
	      "%s: SUBMIT_REAP and REAP mix on one context", path);

	static const struct {
		struct vbabort_submit_reap sr;
		int err;
		const char *what;
	} bad[] = {
		{ { .nr_reqs = 1, .flags = 1 }, EINVAL, "flags" },
		{ { .nr_reqs = 1, .reserved = { 0, 0, 1 } }, EINVAL, "reserved set" },
		{ { .nr_reqs = 1, .submitted = 1 }, EINVAL, "submitted set on input" },
		{ { .nr_reqs = 1, .error = -1 }, EINVAL, "error set on input" },
		{ { 0 }, EINVAL, "neither requests nor cqes" },
		{ { .nr_cqes = 1, .min_complete = 2 }, EINVAL, "min_complete > nr_cqes" },
		{ { .nr_cqes = 1, .timeout_ms = VBABORT_MAX_TIMEOUT_MS + 1 }, EINVAL, "too long a timeout" },
		{ { .nr_reqs = VBABORT_MAX_BATCH + 1 }, E2BIG, "too many requests" },
		{ { .nr_cqes = VBABORT_MAX_BATCH + 1 }, E2BIG, "too many cqes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sr = bad[i].sr;
		sr.reqs = (uintptr_t)reqs;
		sr.cqes = (uintptr_t)cqes;
		check(fails_with(submit_reap(ctl, &sr)) == bad[i].err && sr.submitted == bad[i].sr.submitted,
		      "bad: SUBMIT_REAP with %s is %s, nothing submitted", bad[i].what,
		      strerrorname_np(bad[i].err));
	}
	check(fails_with(ioctl(ctl, VBABORT_IOC_SUBMIT_REAP, (void *)8)) == EFAULT,
	      "bad: SUBMIT_REAP at a bad address is EFAULT");
	check(abort_ctx(ctl, cqes, VBABORT_MAX_REQS, 0, NULL) == 0,
	      "%s: nothing left owned after SUBMIT_REAP", path);
	close(ctl);
	close(devfd);
	free(data);
	free(back);
}

static void test_data(const char *path)
{
	enum { NR = 8, LEN = 64 * KiB };
	struct vbabort_iovec iov[NR][3];
	struct vbabort_cqe cqes[NR];
	struct vbabort_req reqs[NR];
	struct vbabort_bind b;
	struct vbabort_version v = { 0 };
	uint8_t *data = xalloc(NR * LEN), *back = xalloc(NR * LEN);
	int ctl = open_ctl(), devfd = open_dev(path, O_RDWR);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t size = 0, count = 0;
	int n, ok;

	ok = ioctl(ctl, VBABORT_IOC_VERSION, &v) == 0;
	check(ok && v.abi_version == VBABORT_ABI_VERSION &&
		      v.max_batch == VBABORT_MAX_BATCH && v.max_io_bytes == VBABORT_MAX_IO_BYTES,
	      "%s: VERSION reports ABI %u and the limits", path, v.abi_version);
	ioctl(devfd, BLKGETSIZE64, &size);
	ok = bind_fd(ctl, devfd, efd, 0, &b) == 0;
	check(ok && b.nr_sectors == size / 512 &&
		      b.logical_block_size >= 512 && !(b.out_flags & VBABORT_BOUND_READONLY),
	      "%s: BIND read-write reports %" PRIu64 " sectors", path, (uint64_t)b.nr_sectors);

	/* Three unequal segments per request, so copies cross page and segment edges. */
	fill_random(data, NR * LEN, 1);
	for (int i = 0; i < NR; i++) {
		uint8_t *p = data + i * LEN;

		iov[i][0] = (struct vbabort_iovec){ (uintptr_t)p, 512 };
		iov[i][1] = (struct vbabort_iovec){ (uintptr_t)p + 512, 40 * KiB };
		iov[i][2] = (struct vbabort_iovec){ (uintptr_t)p + 512 + 40 * KiB, LEN - 512 - 40 * KiB };
		reqs[i] = rw(VBABORT_OP_WRITE, 100 + i, (uint64_t)i * 1000, iov[i], 3);
	}
	struct pollfd pfd = { .fd = ctl, .events = POLLIN };
	check(poll(&pfd, 1, 0) == 0, "%s: poll() reports nothing before any completion", path);
	check(submit(ctl, reqs, NR) == NR, "%s: SUBMIT accepts %d writes", path, NR);
	n = uring_poll(ctl);
	check(n > 0 && (n & POLLIN), "%s: io_uring POLL_ADD on the context reports completions (%d)", path, n);
	check(poll(&pfd, 1, 10000) == 1 && (pfd.revents & POLLIN), "%s: poll() reports completions",
	      path);
	n = reap(ctl, cqes, NR, NR, 10000);
	ok = n == NR;
	for (int i = 0; ok && i < NR; i++)
		ok = cqes[i].result == 0 && cqes[i].fate == VBABORT_FATE_COMPLETED &&
		     cqes[i].op == VBABORT_OP_WRITE && cqes[i].tag >= 100 && cqes[i].tag < 100 + NR;
	check(ok, "%s: REAP returns %d successful write completions (got %d)", path, NR, n);
	ok = read(efd, &count, sizeof(count)) == sizeof(count);
	check(ok && count >= 1,
	      "%s: the eventfd was signalled (%" PRIu64 ")", path, count);
	ok = 1;
	for (int i = 0; i < NR; i++)
		ok &= dev_equals(devfd, (uint64_t)i * 1000 * 512, data + i * LEN, LEN);
	check(ok, "%s: the device holds what was written through the module", path);

	/* The other way: written with pwrite, read back through the module. */
	fill_random(data, NR * LEN, 2);
	ok = 1;
	for (int i = 0; i < NR; i++)
		ok &= pwrite(devfd, data + i * LEN, LEN, (off_t)i * 1000 * 512) == LEN;
	memset(back, 0, NR * LEN);
	for (int i = 0; i < NR; i++) {
		uint8_t *p = back + i * LEN;

		iov[i][0] = (struct vbabort_iovec){ (uintptr_t)p, 3 * 512 };
		iov[i][1] = (struct vbabort_iovec){ (uintptr_t)p + 3 * 512, LEN - 3 * 512 };
		reqs[i] = rw(VBABORT_OP_READ, 200 + i, (uint64_t)i * 1000, iov[i], 2);
	}
	ok &= submit(ctl, reqs, NR) == NR && reap(ctl, cqes, NR, NR, 10000) == NR;
	for (int i = 0; ok && i < NR; i++)
		ok = cqes[i].result == 0;
	check(ok && !memcmp(data, back, NR * LEN),
	      "%s: reads through the module return what pwrite wrote", path);

	check(run1(ctl, range(VBABORT_OP_FLUSH, 300, 0, 0)) == 0, "%s: flush completes", path);
	n = run1(ctl, range(VBABORT_OP_DISCARD, 301, 8000, 128));
	check(n == 0 || n == -EOPNOTSUPP, "%s: discard completes (%d)", path, n);
	n = run1(ctl, range(VBABORT_OP_WRITE_ZEROES, 302, 1000, LEN / 512));
	check((n == 0 && dev_read(devfd, 1000 * 512, back, LEN) && all_bytes(back, LEN, 0)) ||
		      (n == -EOPNOTSUPP && dev_equals(devfd, 1000 * 512, data + LEN, LEN)),
	      "%s: write-zeroes zeroes the range, or is refused and leaves it (%d)", path, n);
	close(ctl);

	/* A read-only fd binds read-only: nothing that changes the device. */
	int rofd = open_dev(path, O_RDONLY);
	struct vbabort_iovec one = { (uintptr_t)back, LEN };
	struct vbabort_req w = rw(VBABORT_OP_WRITE, 1, 0, &one, 1);
	struct vbabort_req d = range(VBABORT_OP_DISCARD, 2, 0, 8);
	struct vbabort_req z = range(VBABORT_OP_WRITE_ZEROES, 3, 0, 8);

	ctl = open_ctl();
	check(bind_fd(ctl, rofd, -1, 0, &b) == 0 && (b.out_flags & VBABORT_BOUND_READONLY),
	      "%s: BIND of an O_RDONLY fd reports read-only", path);
	check(fails_with(submit(ctl, &w, 1)) == EBADF && fails_with(submit(ctl, &d, 1)) == EBADF &&
		      fails_with(submit(ctl, &z, 1)) == EBADF,
	      "%s: read-only context refuses write, discard, write-zeroes with EBADF", path);
	memset(back, 0, LEN);
	check(run1(ctl, rw(VBABORT_OP_READ, 4, 0, &one, 1)) == 0 && !memcmp(back, data, LEN),
	      "%s: read-only context still reads", path);
	check(run1(ctl, range(VBABORT_OP_FLUSH, 5, 0, 0)) == 0, "%s: read-only context may flush",
	      path);
	close(ctl);
	close(rofd);
	close(devfd);
	close(efd);
	free(data);
	free(back);
}

/* --- abort on dm-delay ----------------------------------------------------- */

/* Waits until every closed context on PATH is gone; returns the WAIT_ORPHANS status. */
static int wait_orphans(const char *path, unsigned int timeout_ms, struct vbabort_orphans *out)
{
	int ctl = context(path, O_RDONLY, 0);
	struct vbabort_orphans o = { .timeout_ms = timeout_ms };
	int ret = ioctl(ctl, VBABORT_IOC_WAIT_ORPHANS, &o);
	int err = errno;

	if (out)
		*out = o;
	close(ctl);
	errno = err;
	return ret;
}

static void test_abort_reads(const char *slow)
{
	enum { NR = 8, LEN = 64 * KiB };
	struct vbabort_iovec iov[NR];
	struct vbabort_cqe fates[NR], cqes[NR];
	struct vbabort_req reqs[NR];
	struct vbabort_abort a;
	uint8_t *buf = xalloc(NR * LEN);
	int ctl = context(slow, O_RDWR, 0);
	int64_t t;
	int n;

	memset(buf, POISON, NR * LEN);
	for (int i = 0; i < NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + i * LEN, LEN };
		reqs[i] = rw(VBABORT_OP_READ, i, (uint64_t)i * 128, &iov[i], 1);
	}
	check(submit(ctl, reqs, NR) == NR, "abort: %d reads submitted to the delayed device", NR);
	/* ABORT must tell how much room it needs rather than drop fates. */
	n = fails_with(abort_ctx(ctl, fates, NR - 1, 0, &a));
	check(n == ENOSPC && a.nr == NR,
	      "abort: ABORT with too small a fates array is ENOSPC and says %d (%u)", NR, a.nr);
	t = now_ms();
	n = abort_ctx(ctl, fates, NR, 5000, &a);
	t = now_ms() - t;
	check(n == NR && a.count[VBABORT_FATE_ABANDONED] == NR &&
		      fates_all(fates, n, VBABORT_FATE_ABANDONED, -ECANCELED),
	      "abort: all %d in-flight reads are abandoned (%d fates)", NR, n);
	check(t < PROMPT_MS, "abort: ABORT of reads returned in %" PRId64 " ms, not after the %d ms delay",
	      t, DELAY_MS);
	printf("# abort latency, %d reads in flight: %" PRId64 " ms\n", NR, t);
	check(reap(ctl, cqes, NR, 0, 0) == 0, "abort: abandoned reads never show up in REAP");
	close(ctl);
	check(wait_orphans(slow, 10000, NULL) == 0, "abort: the late read completions drain");
	check(all_bytes(buf, NR * LEN, POISON),
	      "abort: user buffers keep the poison pattern after the late completions");
	free(buf);
}

struct abort_call {
	int ctl;
	struct vbabort_cqe *fates;
	unsigned int nr, timeout_ms;
	struct vbabort_abort out;
	int ret;
};

static void *abort_thread(void *arg)
{
	struct abort_call *c = arg;

	c->ret = abort_ctx(c->ctl, c->fates, c->nr, c->timeout_ms, &c->out);
	return NULL;
}

static void test_abort_writes(const char *slow, const char *back)
{
	enum { NR = 4, LEN = 64 * KiB, SECTOR = 4096, DISCARD_SECTOR = 12288 };
	struct vbabort_iovec iov[NR];
	struct vbabort_cqe fates[NR + 1], cqes[NR + 1];
	struct vbabort_req reqs[NR + 1];
	struct vbabort_abort a;
	uint8_t *data = xalloc(NR * LEN);
	int ctl = context(slow, O_RDWR, 0), backfd = open_dev(back, O_RDONLY);
	int64_t t;
	int n, ok;

	fill_random(data, NR * LEN, 3);
	for (int i = 0; i < NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)data + i * LEN, LEN };
		reqs[i] = rw(VBABORT_OP_WRITE, 10 + i, SECTOR + (uint64_t)i * 128, &iov[i], 1);
	}
	reqs[NR] = range(VBABORT_OP_DISCARD, 10 + NR, DISCARD_SECTOR, 128);
	check(submit(ctl, reqs, NR + 1) == NR + 1, "abort: %d writes and a discard submitted to the delayed device",
	      NR);
	t = now_ms();
	n = abort_ctx(ctl, fates, NR + 1, 100, &a);
	t = now_ms() - t;
	check(n == NR + 1 && a.count[VBABORT_FATE_UNFENCED] == NR + 1 &&
		      fates_all(fates, n, VBABORT_FATE_UNFENCED, -EINPROGRESS),
	      "abort: writes and a discard still running after a 100 ms timeout are reported unfenced (%d)", n);
	check(t < PROMPT_MS, "abort: ABORT waited the 100 ms timeout, not the delay (%" PRId64 " ms)", t);
	n = reap(ctl, cqes, NR + 1, NR + 1, 10000);
	ok = n == NR + 1;
	for (int i = 0; ok && i < n; i++)
		ok = cqes[i].result == 0 && cqes[i].fate == VBABORT_FATE_COMPLETED;
	check(ok, "abort: the unfenced requests complete later through REAP (%d)", n);
	check(dev_equals(backfd, SECTOR * 512ull, data, NR * LEN),
	      "abort: the unfenced writes reached the device");

	/*
	 * With a timeout longer than the delay the writes are fenced. Meanwhile
	 * REAP, from another thread, must not queue behind the waiting ABORT.
	 */
	struct abort_call call = { .ctl = ctl, .fates = fates, .nr = NR, .timeout_ms = 10000 };
	pthread_t thread;
	int64_t reap_ms = -1;

	fill_random(data, NR * LEN, 4);
	n = submit(ctl, reqs, 2);
	t = now_ms();
	if (n == 2 && !pthread_create(&thread, NULL, abort_thread, &call)) {
		usleep(200 * 1000);
		reap_ms = now_ms();
		n = reap(ctl, cqes, NR, 0, 0);
		reap_ms = n == 0 ? now_ms() - reap_ms : -1;
		pthread_join(thread, NULL);
		n = call.ret;
	}
	t = now_ms() - t;
	check(reap_ms >= 0 && reap_ms < PROMPT_MS, "abort: REAP during an ABORT's wait returns at once (%" PRId64 " ms)",
	      reap_ms);
	check(n == 2 && call.out.count[VBABORT_FATE_COMPLETED] == 2 &&
		      fates_all(fates, n, VBABORT_FATE_COMPLETED, 0) &&
		      dev_equals(backfd, SECTOR * 512ull, data, 2 * LEN),
	      "abort: writes that finish within the timeout are completed, waited %" PRId64 " ms", t);
	close(ctl);
	close(backfd);
	free(data);
}

static void test_abort_queued(const char *slow, const char *back)
{
	enum { NR = 4, LEN = 64 * KiB, SECTOR = 8192 };
	struct vbabort_iovec iov[NR];
	struct vbabort_cqe fates[NR], cqe;
	struct vbabort_req reqs[NR];
	struct vbabort_abort a;
	uint8_t *data = xalloc(NR * LEN), *before = xalloc(NR * LEN);
	/* Depth 1: the first write is issued, the others wait in the module. */
	int ctl = context(slow, O_RDWR, 1), backfd = open_dev(back, O_RDONLY);
	int n, ok;

	fill_random(data, NR * LEN, 5);
	dev_read(backfd, SECTOR * 512ull, before, NR * LEN);
	for (int i = 0; i < NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)data + i * LEN, LEN };
		reqs[i] = rw(VBABORT_OP_WRITE, 20 + i, SECTOR + (uint64_t)i * 128, &iov[i], 1);
	}
	check(submit(ctl, reqs, NR) == NR, "abort: %d writes submitted at queue depth 1", NR);
	n = abort_ctx(ctl, fates, NR, 100, &a);
	ok = n == NR && a.count[VBABORT_FATE_UNFENCED] == 1 && a.count[VBABORT_FATE_CANCELLED] == NR - 1;
	for (int i = 0; ok && i < n; i++)
		ok = fates[i].tag == 20 ? fates[i].fate == VBABORT_FATE_UNFENCED :
					  fates[i].fate == VBABORT_FATE_CANCELLED &&
						  fates[i].result == -ECANCELED;
	check(ok, "abort: the issued write is unfenced, the %d queued ones cancelled", NR - 1);
	check(reap(ctl, &cqe, 1, 1, 10000) == 1 && cqe.tag == 20 && cqe.result == 0,
	      "abort: the issued write completes later");
	close(ctl);
	check(wait_orphans(slow, 10000, NULL) == 0 && dev_equals(backfd, SECTOR * 512ull, data, LEN) &&
		      dev_equals(backfd, SECTOR * 512ull + LEN, before + LEN, (NR - 1) * LEN),
	      "abort: cancelled writes never reached the device");
	close(backfd);
	free(data);
	free(before);
}

/* --- a process killed with bios in flight ----------------------------------- */

/*
 * Runs SETUP(PATH) in a child process, which then waits to be killed with
 * its contexts open. Returns the child's pid once SETUP is done, and in
 * *ok what it returned.
 */
static pid_t spawn_holder(bool (*setup)(const char *path), const char *path, bool *ok)
{
	int pipefd[2];
	char c;
	pid_t pid;

	if (pipe(pipefd))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		c = setup(path) ? 'y' : 'n';
		if (write(pipefd[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	*ok = read(pipefd[0], &c, 1) == 1 && c == 'y';
	close(pipefd[0]);
	return pid;
}

enum { KILL_NR = 32, KILL_LEN = 256 * KiB };

/* Puts KILL_NR reads and writes in flight on PATH. */
static bool reads_and_writes(const char *path)
{
	struct vbabort_iovec iov[KILL_NR];
	struct vbabort_req reqs[KILL_NR];
	uint8_t *buf = xalloc(KILL_NR * KILL_LEN);
	int ctl = context(path, O_RDWR, 0);

	memset(buf, POISON, KILL_NR * KILL_LEN);
	for (int i = 0; i < KILL_NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + i * KILL_LEN, KILL_LEN };
		reqs[i] = rw(i % 2 ? VBABORT_OP_WRITE : VBABORT_OP_READ, i,
			     16384 + (uint64_t)i * (KILL_LEN / 512), &iov[i], 1);
	}
	return submit(ctl, reqs, KILL_NR) == KILL_NR;
}

/* A child binds PATH, puts reads and writes in flight and is SIGKILLed: its context is an orphan. */
static void orphan_by_kill(const char *path)
{
	int status;
	bool ok;
	pid_t pid = spawn_holder(reads_and_writes, path, &ok);

	check(ok, "kill: child has %d bios in flight on %s", KILL_NR, path);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "kill: child killed by SIGKILL");
}

static void test_kill(const char *slow)
{
	struct vbabort_orphans o;
	int64_t t;
	int err;

	orphan_by_kill(slow);
	err = fails_with(wait_orphans(slow, 0, &o));
	check(err == ETIMEDOUT && o.contexts == 1 && o.bios > 0,
	      "kill: a new context sees the orphan (%u context, %u bios in flight)", o.contexts, o.bios);
	t = now_ms();
	err = wait_orphans(slow, 15000, &o);
	t = now_ms() - t;
	check(err == 0 && o.contexts == 0 && o.bios == 0,
	      "kill: WAIT_ORPHANS returns once the orphaned bios completed (%" PRId64 " ms)", t);
}

/* --- FUA ------------------------------------------------------------------- */

/* Sectors the FUA test writes at; vbabort.sh looks them up in the block:block_rq_issue trace. */
#define FUA_SECTOR 2048
#define PLAIN_SECTOR 4096

static void test_fua(const char *path)
{
	enum { LEN = 4 * KiB };
	uint8_t *buf = xalloc(LEN);
	struct vbabort_iovec iov = { (uintptr_t)buf, LEN };
	struct vbabort_req fua = rw(VBABORT_OP_WRITE, 1, FUA_SECTOR, &iov, 1);
	struct vbabort_req plain = rw(VBABORT_OP_WRITE, 2, PLAIN_SECTOR, &iov, 1);
	struct vbabort_req fua_read = rw(VBABORT_OP_READ, 3, 0, &iov, 1);
	struct vbabort_req fua_flush = range(VBABORT_OP_FLUSH, 4, 0, 0);
	struct vbabort_req bad_flag = rw(VBABORT_OP_WRITE, 5, 0, &iov, 1);
	struct vbabort_req v1_write = rw(VBABORT_OP_WRITE, 6, PLAIN_SECTOR + 8, &iov, 1);
	int ctl = context(path, O_RDWR, 0), devfd = open_dev(path, O_RDWR), v1 = open_ctl();

	fill_random(buf, LEN, 6);
	fua.flags = VBABORT_REQ_FUA;
	fua_read.flags = VBABORT_REQ_FUA;
	fua_flush.flags = VBABORT_REQ_FUA;
	bad_flag.flags = 2;
	check(run1(ctl, fua) == 0 && dev_equals(devfd, FUA_SECTOR * 512ull, buf, LEN),
	      "fua: a write with VBABORT_REQ_FUA completes and reaches the device");
	check(run1(ctl, plain) == 0, "fua: a write without it completes");
	check(fails_with(submit(ctl, &fua_read, 1)) == EINVAL && fails_with(submit(ctl, &fua_flush, 1)) == EINVAL &&
		      fails_with(submit(ctl, &bad_flag, 1)) == EINVAL,
	      "fua: FUA on a read or a flush, and an unknown flag, are EINVAL");
	/* A context bound as ABI version 1 gets version 1: no flags. */
	check(bind_version(v1, 1, devfd, -1, 0, NULL) == 0 && fails_with(submit(v1, &fua, 1)) == EINVAL &&
		      run1(v1, v1_write) == 0,
	      "fua: a context bound with ABI version 1 refuses FUA and still writes");
	close(v1);
	close(ctl);
	close(devfd);
	free(buf);
}

/* --- REAP into memory it cannot write ---------------------------------------- */

static void test_reap_fault(const char *path)
{
	enum { LEN = 4 * KiB };
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *buf = xalloc(2 * LEN);
	uint8_t *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vbabort_iovec iov[2] = { { (uintptr_t)buf, LEN }, { (uintptr_t)buf + LEN, LEN } };
	struct vbabort_req reqs[2] = { rw(VBABORT_OP_READ, 51, 0, &iov[0], 1),
				       rw(VBABORT_OP_READ, 52, 8, &iov[1], 1) };
	/* Entry 0 at the end of the writable page, entry 1 on the read-only one. */
	struct vbabort_cqe *straddle = (void *)(map + pg - sizeof(struct vbabort_cqe)), got[2];
	int ctl = open_ctl(), devfd = open_dev(path, O_RDWR), efd = eventfd(0, EFD_CLOEXEC);
	uint64_t done = 0, c;
	int n;

	if (map == MAP_FAILED || mprotect(map + pg, pg, PROT_READ) || bind_fd(ctl, devfd, efd, 0, NULL))
		die("REAP fault set-up");
	check(submit(ctl, reqs, 2) == 2, "reap: 2 reads submitted");
	while (done < 2 && read(efd, &c, sizeof(c)) == sizeof(c))
		done += c;
	check(fails_with(reap(ctl, (void *)(map + pg), 2, 0, 0)) == EFAULT,
	      "reap: REAP into a read-only array is EFAULT");
	n = reap(ctl, straddle, 2, 0, 0);
	check(n == 1 && straddle->tag == 51 && straddle->result == 0,
	      "reap: REAP into an array whose second entry is read-only delivers the first (%d)", n);
	n = reap(ctl, got, 2, 0, 0);
	check(n == 1 && got[0].tag == 52 && got[0].result == 0 && dev_equals(devfd, 8 * 512, buf + LEN, LEN),
	      "reap: the completion REAP could not write out is reaped later, with its data (%d)", n);
	close(ctl);
	close(devfd);
	close(efd);
	munmap(map, 2 * pg);
	free(buf);
}

/* --- limits ------------------------------------------------------------------- */

static long param(const char *name)
{
	return read_number("/sys/module/vbabort/parameters", name);
}

static bool set_param(const char *name, long v)
{
	char path[128];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/vbabort/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

static void test_limits(const char *slow)
{
	enum { LEN = VBABORT_MAX_IO_BYTES, PAGES = VBABORT_MAX_IO_BYTES / 4096 };
	uint8_t *buf = xalloc(2 * LEN);
	struct vbabort_iovec iov[2] = { { (uintptr_t)buf, LEN }, { (uintptr_t)buf + LEN, LEN } };
	struct vbabort_req reqs[2] = { rw(VBABORT_OP_READ, 1, 0, &iov[0], 1),
				       rw(VBABORT_OP_READ, 2, LEN / 512, &iov[1], 1) };
	long context_pages = param("context_pages"), total_pages = param("total_pages");
	long pinned, reqs_left;
	int a, b, n;

	check(context_pages >= PAGES && total_pages >= PAGES,
	      "limits: context_pages %ld and total_pages %ld are module parameters", context_pages, total_pages);
	check(!set_param("context_pages", PAGES - 1) && !set_param("total_pages", PAGES - 1),
	      "limits: neither can be set below one request's %d pages", PAGES);

	check(set_param("context_pages", PAGES), "limits: context_pages set to %d", PAGES);
	a = context(slow, O_RDWR, 0);
	n = submit(a, reqs, 2);
	check(n == 1 && fails_with(submit(a, &reqs[1], 1)) == EAGAIN && param("pinned_pages") == PAGES,
	      "limits: a context holding %d pages gets EAGAIN for more (%d accepted, %ld pinned)", PAGES, n,
	      param("pinned_pages"));
	set_param("context_pages", context_pages);

	check(set_param("total_pages", PAGES), "limits: total_pages set to %d", PAGES);
	b = context(slow, O_RDWR, 0);
	check(fails_with(submit(b, &reqs[1], 1)) == ENOBUFS,
	      "limits: with all %d pages held by one context, another gets ENOBUFS", PAGES);
	set_param("total_pages", total_pages);
	check(submit(b, &reqs[1], 1) == 1, "limits: it gets the pages once the limit is raised");

	close(a);
	close(b);
	n = wait_orphans(slow, 10000, NULL);
	pinned = param("pinned_pages");
	reqs_left = param("requests");
	check(n == 0 && pinned == 0 && reqs_left == 0,
	      "limits: once the closed contexts' bios complete, pinned_pages and requests are 0 (%ld, %ld)",
	      pinned, reqs_left);
	free(buf);
}

/* --- memory cgroup accounting ------------------------------------------------- */

/* Run from inside CGROUP: the bounce pages of reads in flight are charged to it. */
static void test_memcg(const char *slow, const char *cgroup)
{
	enum { NR = 16, LEN = 256 * KiB };
	struct vbabort_iovec iov[NR];
	struct vbabort_req reqs[NR];
	uint8_t *buf = xalloc(NR * LEN);
	int ctl = context(slow, O_RDWR, 0);
	long before, during;

	/* The user buffers are charged now, not while the reads are in flight. */
	memset(buf, POISON, NR * LEN);
	for (int i = 0; i < NR; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + i * LEN, LEN };
		reqs[i] = rw(VBABORT_OP_READ, i, (uint64_t)i * (LEN / 512), &iov[i], 1);
	}
	before = read_number(cgroup, "memory.current");
	check(submit(ctl, reqs, NR) == NR, "memcg: %d reads of %u KiB submitted", NR, LEN / KiB);
	during = read_number(cgroup, "memory.current");
	check(before > 0 && during - before >= NR * LEN,
	      "memcg: their %u KiB of bounce pages are charged to the submitter's cgroup (%ld KiB more)",
	      NR * LEN / KiB, (during - before) / 1024);
	close(ctl);
	/* Their bios complete later: the next test must not find this context an orphan. */
	check(wait_orphans(slow, 10000, NULL) == 0, "memcg: the orphaned reads drain");
	free(buf);
}

/* --- orphans on partitions ---------------------------------------------------- */

#define PART_SECTORS 131072u	/* 64 MiB each, the first at sector 2048 */

/* Writes an MBR with two partitions to DISK, has the kernel read it and waits for their nodes. */
static void make_partitions(const char *disk, const char *part2)
{
	const uint32_t start[2] = { 2048, 2048 + PART_SECTORS }, size = PART_SECTORS;
	uint8_t *mbr = xalloc(512);
	int fd = open_dev(disk, O_RDWR);

	memset(mbr, 0, 512);
	for (int i = 0; i < 2; i++) {
		uint8_t *e = mbr + 446 + 16 * i;

		e[4] = 0x83;
		memcpy(e + 8, &start[i], 4);
		memcpy(e + 12, &size, 4);
	}
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (pwrite(fd, mbr, 512, 0) != 512 || ioctl(fd, BLKRRPART) < 0)
		die("partition table");
	for (int i = 0; i < 500 && access(part2, F_OK); i++)
		usleep(10 * 1000);
	close(fd);
	free(mbr);
}

/* Whether WAIT_ORPHANS through PATH, just looking, finds an orphan. */
static bool sees_orphan(const char *path)
{
	struct vbabort_orphans o;

	return fails_with(wait_orphans(path, 0, &o)) == ETIMEDOUT && o.contexts == 1 && o.bios > 0;
}

static void test_parts(const char *disk, const char *part1, const char *part2)
{
	make_partitions(disk, part2);
	orphan_by_kill(part1);
	check(sees_orphan(disk), "parts: WAIT_ORPHANS through the whole disk sees an orphan on its partition 1");
	check(sees_orphan(part1), "parts: through partition 1 it sees it too");
	check(wait_orphans(part2, 0, NULL) == 0,
	      "parts: through partition 2, which shares no sector with it, it does not");
	check(wait_orphans(disk, 15000, NULL) == 0, "parts: WAIT_ORPHANS through the whole disk waits for it");

	orphan_by_kill(disk);
	check(sees_orphan(part2), "parts: WAIT_ORPHANS through partition 2 sees an orphan on the whole disk");
	check(wait_orphans(part2, 15000, NULL) == 0, "parts: and waits for it");
}

/* --- fences: writes left in flight hold back what overlaps them ---------------- */

/* W1, the abandoned write, covers [FENCE_SECTOR, FENCE_SECTOR + FENCE_SECTORS). */
#define FENCE_SECTOR 20480
#define FENCE_LEN (64 * KiB)
#define FENCE_SECTORS (FENCE_LEN / 512)
#define TRACEFS "/sys/kernel/tracing"

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	bool ok = f && fputs(text, f) >= 0;

	return f && fclose(f) == 0 && ok;
}

/* Records bios queued to and completed by the block devices, from an empty trace. */
static bool trace_bios(bool on)
{
	const char *v = on ? "1" : "0";

	return (!on || write_file(TRACEFS "/trace", "")) &&
	       write_file(TRACEFS "/events/block/block_bio_queue/enable", v) &&
	       write_file(TRACEFS "/events/block/block_bio_complete/enable", v);
}

/* The line number in the trace of EVENT (block_bio_queue, block_bio_complete) of the bio at SECTOR + NR on DEV, or -1. */
static int trace_line(dev_t dev, const char *event, uint64_t sector, unsigned int nr)
{
	char line[512], want[96], rwbs[16];
	unsigned int maj, min, n;
	unsigned long long s;
	FILE *f = fopen(TRACEFS "/trace", "r");
	int at = -1;

	snprintf(want, sizeof(want), " %s: ", event);
	for (int i = 0; f && at < 0 && fgets(line, sizeof(line), f); i++) {
		const char *e = strstr(line, want);

		if (e && sscanf(e + strlen(want), "%u,%u %15s %llu + %u", &maj, &min, rwbs, &s, &n) == 5 &&
		    makedev(maj, min) == dev && s == sector && n == nr)
			at = i;
	}
	if (f)
		fclose(f);
	return at;
}

/* --- the request cache -------------------------------------------------------- */

/*
 * Requests one at a time on a warm context: the module frees no request and
 * no bio per request (kmem:kmem_cache_free of vbabort_req and the bio slabs),
 * as it reuses the context's requests with their embedded bios.
 */
static void test_req_cache(const char *path)
{
	enum { NR = 64 };
	static const char filter[] = TRACEFS "/events/kmem/kmem_cache_free/filter";
	static const char enable[] = TRACEFS "/events/kmem/kmem_cache_free/enable";
	uint8_t *buf = xalloc(4096);
	struct vbabort_iovec iov = { (uintptr_t)buf, 4096 };
	int ctl = context(path, O_RDWR, 0), ok = 0, frees = 0;
	char line[512];
	FILE *f;

	fill_random(buf, 4096, 31);
	run1(ctl, rw(VBABORT_OP_WRITE, 0, 0, &iov, 1));
	if (write_file(filter, "name == \"vbabort_req\" || name ~ \"bio-*\"") && write_file(TRACEFS "/trace", "") &&
	    write_file(enable, "1")) {
		for (int i = 0; i < NR; i++)
			ok += run1(ctl, rw(i % 2 ? VBABORT_OP_WRITE : VBABORT_OP_READ, i, (uint64_t)i * 8, &iov, 1)) == 0;
		write_file(enable, "0");
	}
	write_file(filter, "0");
	f = fopen(TRACEFS "/trace", "r");
	while (f && fgets(line, sizeof(line), f))
		frees += strstr(line, "kmem_cache_free:") != NULL;
	if (f)
		fclose(f);
	check(ok == NR && frees < NR / 8,
	      "request cache: %d reads and writes one at a time freed %d requests or bios (%d completed)", NR, frees,
	      ok);
	close(ctl);
	free(buf);
}

/* --- direct writes (ABI 5) ---------------------------------------------------- */

/*
 * On dm-delay (2 s), so that each write is in flight long enough to look at:
 * with VBABORT_BIND_DIRECT_WRITES an aligned write holds no bounce page and
 * the device gets the buffer's bytes as they are when it reads them; one
 * from an unaligned buffer is copied at SUBMIT as without the flag.
 */
static void test_direct(const char *slow, const char *back)
{
	enum { LEN = 64 * KiB, SECTOR = 16384 };
	uint8_t *buf = xalloc(LEN + 4096), *want = xalloc(LEN);
	int ctl = open_ctl(), devfd = open_dev(slow, O_RDWR), backfd = open_dev(back, O_RDONLY);
	struct vbabort_bind b = { .abi_version = VBABORT_ABI_VERSION, .fd = devfd, .eventfd = -1,
				  .flags = VBABORT_BIND_DIRECT_WRITES };
	struct vbabort_iovec iov = { (uintptr_t)buf, LEN };
	struct vbabort_req req = rw(VBABORT_OP_WRITE, 1, SECTOR, &iov, 1);
	struct vbabort_cqe cqe;
	long pinned = -1;
	int n = -1;

	check(ioctl(ctl, VBABORT_IOC_BIND, &b) == 0, "direct: BIND with VBABORT_BIND_DIRECT_WRITES");
	fill_random(buf, LEN, 41);
	if (submit(ctl, &req, 1) == 1) {
		pinned = param("pinned_pages");
		fill_random(buf, LEN, 42);
		n = reap(ctl, &cqe, 1, 1, 10000);
	}
	check(pinned == 0, "direct: an aligned write in flight holds no bounce page (%ld pinned)", pinned);
	check(n == 1 && cqe.result == 0 && dev_equals(backfd, SECTOR * 512ull, buf, LEN),
	      "direct: the device got the bytes the buffer held when the write ran, not those at SUBMIT (%d)", n);

	iov.base = (uintptr_t)buf + 1;
	fill_random(buf + 1, LEN, 43);
	memcpy(want, buf + 1, LEN);
	pinned = -1;
	n = -1;
	if (submit(ctl, &req, 1) == 1) {
		pinned = param("pinned_pages");
		fill_random(buf + 1, LEN, 44);
		n = reap(ctl, &cqe, 1, 1, 10000);
	}
	check(pinned == LEN / 4096, "direct: a write from an unaligned buffer holds %d bounce pages (%ld)", LEN / 4096,
	      pinned);
	check(n == 1 && cqe.result == 0 && dev_equals(backfd, SECTOR * 512ull, want, LEN),
	      "direct: it wrote the bytes copied at SUBMIT (%d)", n);
	close(ctl);
	close(devfd);
	close(backfd);
	free(want);
	free(buf);
}

/* Puts W1 (data seed 7) in flight at FENCE_SECTOR on SLOW; returns the context. */
static int submit_w1(const char *slow)
{
	uint8_t *data = xalloc(FENCE_LEN);
	struct vbabort_iovec iov = { (uintptr_t)data, FENCE_LEN };
	struct vbabort_req w1 = rw(VBABORT_OP_WRITE, 1, FENCE_SECTOR, &iov, 1);
	int ctl = context(slow, O_RDWR, 0), n;

	fill_random(data, FENCE_LEN, 7);
	n = submit(ctl, &w1, 1);	/* copies the data into the module's pages */
	free(data);
	return n == 1 ? ctl : -1;
}

static bool w1_in_flight(const char *slow)
{
	return submit_w1(slow) >= 0;
}

static bool w1_unfenced(const char *slow)
{
	struct vbabort_cqe fate;
	struct vbabort_abort a;
	int ctl = submit_w1(slow);

	return ctl >= 0 && abort_ctx(ctl, &fate, 1, 0, &a) == 1 && a.count[VBABORT_FATE_UNFENCED] == 1;
}

/*
 * A child process puts W1 in flight on SLOW and gives it up with W1 still
 * on the delayed device: by an ABORT that reports it unfenced (the child
 * lives on, its pid returned), or by dying of SIGKILL (0 returned: W1 is an
 * orphan's).
 */
static pid_t abandon_write(const char *slow, bool kill_it)
{
	bool ok;
	pid_t pid = spawn_holder(kill_it ? w1_in_flight : w1_unfenced, slow, &ok);

	check(ok, "fence: another process has write W1 in flight on %s, %s", slow,
	      kill_it ? "then dies of SIGKILL" : "then ABORTs it: unfenced");
	if (!kill_it)
		return pid;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

/*
 * W2 overlaps the abandoned W1 and must reach the device only once W1 has
 * ended, so that W2's data is what stays; a read and a write elsewhere
 * meanwhile go at once.
 */
static void test_fence(const char *slow, const char *back, bool kill_it)
{
	enum { W2 = FENCE_SECTOR + FENCE_SECTORS / 2, R3 = FENCE_SECTOR + 4 * FENCE_SECTORS,
	       W4 = FENCE_SECTOR + 6 * FENCE_SECTORS };
	const char *how = kill_it ? "orphan" : "abort";
	uint8_t *w1 = xalloc(FENCE_LEN), *buf = xalloc(3 * FENCE_LEN);
	struct vbabort_iovec iov[3];
	struct vbabort_req reqs[3], r;
	struct vbabort_cqe cqes[3];
	struct stat st;
	uint64_t size;
	int ctl, backfd = open_dev(back, O_RDONLY), n, ok, rc, q2, q3, q4, c1;
	pid_t pid;
	int64_t t;

	if (stat(slow, &st))
		die(slow);
	fill_random(w1, FENCE_LEN, 7);
	fill_random(buf, 3 * FENCE_LEN, 8);
	for (int i = 0; i < 3; i++)
		iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + i * FENCE_LEN, FENCE_LEN };
	reqs[0] = rw(VBABORT_OP_WRITE, 2, W2, &iov[0], 1);
	reqs[1] = rw(VBABORT_OP_READ, 3, R3, &iov[1], 1);
	reqs[2] = rw(VBABORT_OP_WRITE, 4, W4, &iov[2], 1);

	check(trace_bios(true), "fence (%s): block_bio_queue and block_bio_complete traced", how);
	pid = abandon_write(slow, kill_it);
	check(param("fences") == 1, "fence (%s): the module counts W1 as a fence (%ld)", how, param("fences"));

	/* What the kabort engine does at a queue's start, and then its first requests. */
	t = now_ms();
	ctl = context(slow, O_RDWR, 0);
	check(submit(ctl, &reqs[1], 2) == 2 && param("parked") == 0,
	      "fence (%s): a new context's read and write beside W1 are not held (parked %ld)", how,
	      param("parked"));
	t = now_ms() - t;
	printf("# fence (%s): open, BIND and SUBMIT beside W1 in flight took %" PRId64 " ms\n", how, t);
	check(submit(ctl, &reqs[0], 1) == 1 && param("parked") == 1,
	      "fence (%s): W2, overlapping W1's second half, is accepted and parked", how);

	/* Half of it past the end of the device. */
	if (ioctl(backfd, BLKGETSIZE64, &size))
		die("BLKGETSIZE64");
	r = rw(VBABORT_OP_WRITE, 5, size / 512 - FENCE_SECTORS / 2, &iov[0], 1);
	check(fails_with(submit(ctl, &r, 1)) == ERANGE && param("parked") == 1,
	      "fence (%s): a write past the end of the device is ERANGE, not parked", how);
	rc = system("rmmod vbabort 2>/dev/null");
	check(rc != 0 && param("parked") == 1, "fence (%s): rmmod with a request parked is refused", how);

	n = reap(ctl, cqes, 3, 3, 20000);
	ok = n == 3;
	for (int i = 0; ok && i < n; i++)
		ok = cqes[i].result == 0;
	check(ok, "fence (%s): W2, the read and the write all complete (%d)", how, n);
	check(param("parked") == 0 && param("fences") == 0, "fence (%s): no fence or parked request is left", how);
	check(trace_bios(false), "fence (%s): tracing stopped", how);
	c1 = trace_line(st.st_rdev, "block_bio_complete", FENCE_SECTOR, FENCE_SECTORS);
	q2 = trace_line(st.st_rdev, "block_bio_queue", W2, FENCE_SECTORS);
	q3 = trace_line(st.st_rdev, "block_bio_queue", R3, FENCE_SECTORS);
	q4 = trace_line(st.st_rdev, "block_bio_queue", W4, FENCE_SECTORS);
	printf("# fence (%s): trace lines: W1 completed %d, W2 queued %d, read queued %d, write queued %d\n", how, c1,
	       q2, q3, q4);
	check(c1 >= 0 && q2 > c1, "fence (%s): W2 reached the device only after W1 completed", how);
	check(q3 >= 0 && q3 < c1 && q4 >= 0 && q4 < c1,
	      "fence (%s): the read and the write beside it reached the device before W1 completed", how);
	check(dev_equals(backfd, FENCE_SECTOR * 512ull, w1, FENCE_LEN / 2) &&
		      dev_equals(backfd, W2 * 512ull, buf, FENCE_LEN) &&
		      dev_equals(backfd, W4 * 512ull, buf + 2 * FENCE_LEN, FENCE_LEN),
	      "fence (%s): the device holds W2's data where it overlaps W1, W1's elsewhere", how);
	close(ctl);
	if (pid) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	check(wait_orphans(slow, 15000, NULL) == 0, "fence (%s): nothing is left in flight", how);
	close(backfd);
	free(w1);
	free(buf);
}

/* --- bad input --------------------------------------------------------------- */

static void test_bad(const char *path, const char *regular)
{
	enum { LEN = 4 * KiB };
	uint8_t *buf = xalloc(256 * LEN);
	struct vbabort_iovec iov = { (uintptr_t)buf, LEN }, many[VBABORT_MAX_SEGS + 1];
	struct vbabort_iovec iov8k = { (uintptr_t)buf, 2 * LEN };
	struct vbabort_req reqs[VBABORT_MAX_BATCH + 1], r;
	struct vbabort_cqe cqes[VBABORT_MAX_BATCH];
	struct vbabort_version v = { .reserved = { 1 } };
	struct vbabort_orphans o = { 0 };
	struct vbabort_bind b;
	struct vbabort_abort a;
	int ctl = open_ctl(), devfd = open_dev(path, O_RDWR);
	int regfd = open(regular, O_RDWR | O_CLOEXEC), nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int efd = eventfd(0, EFD_CLOEXEC), n, ok, status;
	uint64_t sectors;
	pid_t pid;

	check(fails_with(ioctl(ctl, _IOWR(VBABORT_IOC_MAGIC, 0x01, char[40]), buf)) == ENOTTY,
	      "bad: BIND with the wrong structure size is ENOTTY");
	check(fails_with(ioctl(ctl, _IO(VBABORT_IOC_MAGIC, 0x7f))) == ENOTTY, "bad: unknown ioctl is ENOTTY");
	check(fails_with(ioctl(ctl, VBABORT_IOC_VERSION, &v)) == EINVAL,
	      "bad: VERSION with a non-zero reserved field is EINVAL");
	r = rw(VBABORT_OP_READ, 1, 0, &iov, 1);
	o.timeout_ms = 0;
	check(fails_with(submit(ctl, &r, 1)) == EBADFD && fails_with(reap(ctl, cqes, 1, 0, 0)) == EBADFD &&
		      fails_with(abort_ctx(ctl, cqes, 1, 0, NULL)) == EBADFD &&
		      fails_with(ioctl(ctl, VBABORT_IOC_WAIT_ORPHANS, &o)) == EBADFD,
	      "bad: SUBMIT, REAP, ABORT, WAIT_ORPHANS before BIND are EBADFD");

	check(fails_with(bind_version(ctl, VBABORT_ABI_VERSION + 1, devfd, -1, 0, NULL)) == EPROTO &&
		      fails_with(bind_version(ctl, 0, devfd, -1, 0, NULL)) == EPROTO,
	      "bad: BIND of ABI version %d or 0 is EPROTO", VBABORT_ABI_VERSION + 1);
	b = (struct vbabort_bind){ .abi_version = 1, .fd = devfd, .eventfd = -1, .reserved = { [4] = 1 } };
	check(fails_with(ioctl(ctl, VBABORT_IOC_BIND, &b)) == EINVAL, "bad: BIND with reserved set is EINVAL");
	b = (struct vbabort_bind){ .abi_version = 1, .fd = devfd, .eventfd = -1, .flags = 1 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_BIND, &b)) == EINVAL, "bad: BIND with flags set is EINVAL");
	b = (struct vbabort_bind){ .abi_version = 4, .fd = devfd, .eventfd = -1, .flags = VBABORT_BIND_DIRECT_WRITES };
	check(fails_with(ioctl(ctl, VBABORT_IOC_BIND, &b)) == EINVAL,
	      "bad: BIND as version 4 with VBABORT_BIND_DIRECT_WRITES is EINVAL");
	b = (struct vbabort_bind){ .abi_version = 5, .fd = devfd, .eventfd = -1, .flags = 2 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_BIND, &b)) == EINVAL, "bad: BIND with an unknown flag is EINVAL");
	check(fails_with(bind_fd(ctl, devfd, -1, VBABORT_MAX_REQS + 1, NULL)) == EINVAL,
	      "bad: BIND with queue depth %d is EINVAL", VBABORT_MAX_REQS + 1);
	check(fails_with(bind_fd(ctl, -1, -1, 0, NULL)) == EBADF && fails_with(bind_fd(ctl, 999, -1, 0, NULL)) == EBADF,
	      "bad: BIND of fd -1 or a closed fd is EBADF");
	check(fails_with(bind_fd(ctl, regfd, -1, 0, NULL)) == ENOTBLK &&
		      fails_with(bind_fd(ctl, nullfd, -1, 0, NULL)) == ENOTBLK &&
		      fails_with(bind_fd(ctl, ctl, -1, 0, NULL)) == ENOTBLK,
	      "bad: BIND of a regular file, /dev/null or itself is ENOTBLK");
	check(fails_with(bind_fd(ctl, devfd, regfd, 0, NULL)) == EINVAL &&
		      fails_with(bind_fd(ctl, devfd, 999, 0, NULL)) == EBADF,
	      "bad: BIND with a non-eventfd is EINVAL, with a closed one EBADF");
	check(fails_with(ioctl(ctl, VBABORT_IOC_BIND, (void *)8)) == EFAULT, "bad: BIND at a bad address is EFAULT");
	check(bind_fd(ctl, devfd, efd, 0, &b) == 0, "bad: BIND after all those still works");
	sectors = b.nr_sectors;
	check(fails_with(bind_fd(ctl, devfd, -1, 0, NULL)) == EBUSY, "bad: a second BIND is EBUSY");

	struct vbabort_submit s = { .reqs = (uintptr_t)&r, .nr = 0 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_SUBMIT, &s)) == EINVAL, "bad: SUBMIT of 0 requests is EINVAL");
	for (int i = 0; i <= VBABORT_MAX_BATCH; i++)
		reqs[i] = rw(VBABORT_OP_READ, i, (uint64_t)i * 8, &iov, 1);
	check(fails_with(submit(ctl, reqs, VBABORT_MAX_BATCH + 1)) == E2BIG,
	      "bad: SUBMIT of %d requests is E2BIG", VBABORT_MAX_BATCH + 1);
	s = (struct vbabort_submit){ .reqs = (uintptr_t)&r, .nr = 1, .reserved = { 0, 1 } };
	check(fails_with(ioctl(ctl, VBABORT_IOC_SUBMIT, &s)) == EINVAL, "bad: SUBMIT with reserved set is EINVAL");
	s = (struct vbabort_submit){ .reqs = 8, .nr = 1 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_SUBMIT, &s)) == EFAULT, "bad: SUBMIT of requests at a bad address is EFAULT");

	struct {
		const char *what;
		struct vbabort_req req;
		int err;
	} cases[] = {
		{ "unknown op", { .op = 9, .iov = (uintptr_t)&iov, .iov_cnt = 1 }, EINVAL },
		{ "flags set", { .flags = 1, .iov = (uintptr_t)&iov, .iov_cnt = 1 }, EINVAL },
		{ "reserved set", { .reserved = { 0, 0, 1 }, .iov = (uintptr_t)&iov, .iov_cnt = 1 }, EINVAL },
		{ "no iovec", rw(VBABORT_OP_READ, 0, 0, &iov, 0), EINVAL },
		{ "17 iovecs", rw(VBABORT_OP_READ, 0, 0, many, VBABORT_MAX_SEGS + 1), EINVAL },
		{ "iovec at a bad address", rw(VBABORT_OP_WRITE, 0, 0, (void *)8, 1), EFAULT },
		{ "sector past the end", rw(VBABORT_OP_READ, 0, sectors, &iov, 1), ERANGE },
		{ "range across the end", rw(VBABORT_OP_READ, 0, sectors - 8, &iov8k, 1), ERANGE },
		{ "huge sector", rw(VBABORT_OP_READ, 0, UINT64_MAX - 7, &iov, 1), ERANGE },
		{ "discard past the end", range(VBABORT_OP_DISCARD, 0, 0, (uint32_t)sectors + 8), ERANGE },
		{ "discard with an iovec", { .op = VBABORT_OP_DISCARD, .nr_sectors = 8, .iov = (uintptr_t)&iov, .iov_cnt = 1 }, EINVAL },
		{ "discard of nothing", range(VBABORT_OP_DISCARD, 0, 0, 0), EINVAL },
		{ "flush with a sector", range(VBABORT_OP_FLUSH, 0, 8, 0), EINVAL },
		{ "read with nr_sectors", { .op = VBABORT_OP_READ, .nr_sectors = 8, .iov = (uintptr_t)&iov, .iov_cnt = 1 }, EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(fails_with(submit(ctl, &cases[i].req, 1)) == cases[i].err, "bad: request with %s is %s",
		      cases[i].what, strerrorname_np(cases[i].err));

	struct vbabort_iovec odd = { (uintptr_t)buf, 100 }, big = { (uintptr_t)buf, VBABORT_MAX_IO_BYTES + 512 };
	struct vbabort_iovec two[2] = { { (uintptr_t)buf, VBABORT_MAX_IO_BYTES }, { (uintptr_t)buf, 512 } };
	for (int i = 0; i <= VBABORT_MAX_SEGS; i++)
		many[i] = (struct vbabort_iovec){ (uintptr_t)buf, 512 };
	r = rw(VBABORT_OP_READ, 0, 0, &odd, 1);
	check(fails_with(submit(ctl, &r, 1)) == EINVAL, "bad: a 100-byte read is EINVAL");
	r = rw(VBABORT_OP_READ, 0, 0, &big, 1);
	check(fails_with(submit(ctl, &r, 1)) == EINVAL, "bad: a segment over %u bytes is EINVAL", VBABORT_MAX_IO_BYTES);
	r = rw(VBABORT_OP_READ, 0, 0, two, 2);
	check(fails_with(submit(ctl, &r, 1)) == EINVAL, "bad: segments adding up to over %u bytes are EINVAL",
	      VBABORT_MAX_IO_BYTES);

	/* A batch stops at its first bad request and says how many went in. */
	reqs[2].op = 42;
	n = submit(ctl, reqs, 4);
	check(n == 2 && reap(ctl, cqes, 4, 2, 10000) == 2, "bad: a batch with a bad third request accepts 2 (%d)", n);

	/* Bounded memory: completions not reaped still count. */
	for (int i = 0; i < VBABORT_MAX_BATCH; i++)
		reqs[i] = rw(VBABORT_OP_READ, i, (uint64_t)i * 8, &iov, 1);
	n = submit(ctl, reqs, VBABORT_MAX_BATCH);
	check(n == VBABORT_MAX_REQS && fails_with(submit(ctl, reqs, 1)) == EAGAIN,
	      "bad: request %d over the in-flight limit is EAGAIN", VBABORT_MAX_REQS + 1);
	check(reap(ctl, cqes, VBABORT_MAX_BATCH, VBABORT_MAX_REQS, 10000) == VBABORT_MAX_REQS,
	      "bad: REAP collects all %d", VBABORT_MAX_REQS);

	struct vbabort_reap rp = { .cqes = (uintptr_t)cqes, .nr = 0 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_REAP, &rp)) == EINVAL, "bad: REAP of 0 entries is EINVAL");
	check(fails_with(reap(ctl, cqes, VBABORT_MAX_BATCH + 1, 0, 0)) == E2BIG, "bad: REAP of %d entries is E2BIG",
	      VBABORT_MAX_BATCH + 1);
	check(fails_with(reap(ctl, cqes, 1, 2, 0)) == EINVAL, "bad: REAP with min_complete > nr is EINVAL");
	check(fails_with(reap(ctl, cqes, 1, 1, VBABORT_MAX_TIMEOUT_MS + 1)) == EINVAL,
	      "bad: REAP with too long a timeout is EINVAL");
	rp = (struct vbabort_reap){ .cqes = (uintptr_t)cqes, .nr = 1, .reserved = 1 };
	check(fails_with(ioctl(ctl, VBABORT_IOC_REAP, &rp)) == EINVAL, "bad: REAP with reserved set is EINVAL");
	a = (struct vbabort_abort){ .fates = (uintptr_t)cqes, .nr = 1, .reserved = { 1 } };
	check(fails_with(ioctl(ctl, VBABORT_IOC_ABORT, &a)) == EINVAL, "bad: ABORT with reserved set is EINVAL");
	a = (struct vbabort_abort){ .fates = (uintptr_t)cqes, .nr = 1, .count = { 0, 1 } };
	check(fails_with(ioctl(ctl, VBABORT_IOC_ABORT, &a)) == EINVAL, "bad: ABORT with output counts set is EINVAL");
	check(fails_with(abort_ctx(ctl, cqes, 1, VBABORT_MAX_TIMEOUT_MS + 1, NULL)) == EINVAL,
	      "bad: ABORT with too long a timeout is EINVAL");
	o = (struct vbabort_orphans){ .reserved = { 1 } };
	check(fails_with(ioctl(ctl, VBABORT_IOC_WAIT_ORPHANS, &o)) == EINVAL,
	      "bad: WAIT_ORPHANS with reserved set is EINVAL");
	check(abort_ctx(ctl, cqes, 1, 0, NULL) == 0, "bad: ABORT of an idle context reports nothing");

	/* Read data goes to user memory at REAP; an unmapped buffer fails that request only. */
	void *gone = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vbabort_iovec giov = { (uintptr_t)gone, LEN };

	munmap(gone, LEN);
	check(run1(ctl, rw(VBABORT_OP_READ, 7, 0, &giov, 1)) == -EFAULT,
	      "bad: a read into unmapped memory completes with EFAULT");
	r = rw(VBABORT_OP_WRITE, 8, 0, &giov, 1);
	check(fails_with(submit(ctl, &r, 1)) == EFAULT, "bad: a write from unmapped memory is EFAULT at SUBMIT");

	/* Buffers are addresses in the opener's memory: another process may not use them. */
	pid = fork();
	if (pid == 0) {
		r = rw(VBABORT_OP_READ, 9, 0, &iov, 1);
		_exit(fails_with(submit(ctl, &r, 1)) == EPERM ? 0 : 1);
	}
	ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	check(ok, "bad: SUBMIT from another process is EPERM");

	close(ctl);
	close(devfd);
	close(regfd);
	close(nullfd);
	close(efd);
	free(buf);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "data")) {
		test_data(argv[2]);
		test_submit_reap(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "abort")) {
		test_abort_reads(argv[2]);
		test_abort_writes(argv[2], argv[3]);
		test_abort_queued(argv[2], argv[3]);
	} else if (argc == 3 && !strcmp(argv[1], "kill")) {
		test_kill(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "fence")) {
		test_fence(argv[2], argv[3], false);
		test_fence(argv[2], argv[3], true);
	} else if (argc == 5 && !strcmp(argv[1], "parts")) {
		test_parts(argv[2], argv[3], argv[4]);
	} else if (argc == 3 && !strcmp(argv[1], "fua")) {
		test_fua(argv[2]);
	} else if (argc == 3 && !strcmp(argv[1], "cache")) {
		test_req_cache(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "direct")) {
		test_direct(argv[2], argv[3]);
	} else if (argc == 3 && !strcmp(argv[1], "limits")) {
		test_limits(argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "memcg")) {
		test_memcg(argv[2], argv[3]);
	} else if (argc == 4 && !strcmp(argv[1], "bad")) {
		test_bad(argv[2], argv[3]);
		test_reap_fault(argv[2]);
	} else {
		fprintf(stderr, "usage: vbabort-test data DEV | fua DEV | abort SLOWDEV BACKDEV | kill SLOWDEV |\n"
				"       fence SLOWDEV BACKDEV | parts SLOWDISK PART1 PART2 | limits SLOWDEV |\n"
				"       cache DEV | direct SLOWDEV BACKDEV |\n"
				"       memcg SLOWDEV CGROUP | bad DEV FILE\n");
		return 2;
	}
	return failures ? 1 : 0;
}
