/* Guest microbenchmark: 4 KiB random I/O through /dev/vbabort against io_uring O_DIRECT, and ABORT latency. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/fs.h>
#include <linux/vbabort.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BS 4096u

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "vbabort-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t blocks;
static uint64_t rnd_state = 88172645463325252ull;

static uint64_t random_sector(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (rnd_state % blocks) * (BS / 512);
}

static int open_dev(const char *path)
{
	int fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	uint64_t size;

	if (fd < 0)
		die(path);
	if (ioctl(fd, BLKGETSIZE64, &size))
		die("BLKGETSIZE64");
	blocks = size / BS;
	return fd;
}

/*
 * Binds as the module's ABI version if it is older than ours (4 at least, for
 * SUBMIT_REAP), so that the module of an earlier commit can be measured in the
 * same run; from version 5 writes read the buffers in place, as O_DIRECT does.
 */
static int vba_context(int devfd, unsigned int depth)
{
	static bool announced;
	struct vbabort_version v = { 0 };
	int ctl = open("/dev/vbabort", O_RDWR | O_CLOEXEC);

	if (ctl < 0 || ioctl(ctl, VBABORT_IOC_VERSION, &v))
		die("vbabort VERSION");
	if (v.abi_version < 4)
		die("vbabort module older than ABI 4");
	if (!announced) {
		printf("vbabort module of ABI %u\n", v.abi_version);
		announced = true;
	}
	struct vbabort_bind b = { .abi_version = v.abi_version < VBABORT_ABI_VERSION ? v.abi_version : VBABORT_ABI_VERSION,
				  .fd = devfd, .eventfd = -1, .queue_depth = depth,
				  .flags = v.abi_version >= 5 ? VBABORT_BIND_DIRECT_WRITES : 0 };

	if (ioctl(ctl, VBABORT_IOC_BIND, &b))
		die("vbabort BIND");
	return ctl;
}

/* Slot TAG's request at a new random place. */
static struct vbabort_req slot_req(uint64_t tag, uint16_t op, struct vbabort_iovec *iov)
{
	return (struct vbabort_req){ .tag = tag, .op = op, .iov = (uintptr_t)&iov[tag], .iov_cnt = 1,
				     .sector = random_sector() };
}

/*
 * Keeps DEPTH requests in flight for SECONDS, resubmitting what completed and
 * waiting for the next completion in one SUBMIT_REAP, as io_uring_submit_and_wait
 * does below; returns IOPS.
 */
static double run_vbabort(int devfd, uint16_t op, unsigned int depth, double seconds)
{
	struct vbabort_iovec iov[VBABORT_MAX_BATCH];
	struct vbabort_req reqs[VBABORT_MAX_BATCH];
	struct vbabort_cqe cqes[VBABORT_MAX_BATCH];
	uint8_t *buf = aligned_alloc(BS, (size_t)depth * BS);
	int ctl = vba_context(devfd, depth);
	unsigned int inflight = 0, nr = depth;
	uint64_t done = 0;
	double start, end;
	int n;

	memset(buf, 0x5a, (size_t)depth * BS);
	for (unsigned int i = 0; i < depth; i++) {
		iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + (size_t)i * BS, BS };
		reqs[i] = slot_req(i, op, iov);
	}
	start = now_s();
	end = start + seconds;
	do {
		struct vbabort_submit_reap sr = { .reqs = (uintptr_t)reqs, .nr_reqs = nr, .cqes = (uintptr_t)cqes,
						  .nr_cqes = depth, .min_complete = 1, .timeout_ms = 10000 };

		n = ioctl(ctl, VBABORT_IOC_SUBMIT_REAP, &sr);
		if (n <= 0 || sr.submitted != nr)
			die("vbabort SUBMIT_REAP");
		inflight += nr - (unsigned int)n;
		done += (uint64_t)n;
		nr = 0;
		if (now_s() >= end)
			continue;
		for (int i = 0; i < n; i++) {
			if (cqes[i].result)
				die("vbabort I/O error");
			reqs[i] = slot_req(cqes[i].tag, op, iov);
		}
		nr = (unsigned int)n;
	} while (inflight || nr);
	close(ctl);
	free(buf);
	return (double)done / (now_s() - start);
}

static double run_uring(int devfd, bool write, unsigned int depth, double seconds)
{
	uint8_t *buf = aligned_alloc(BS, (size_t)depth * BS);
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	uint64_t done = 0;
	double start, end;
	unsigned int inflight = 0;

	memset(buf, 0x5a, (size_t)depth * BS);
	if (io_uring_queue_init(depth, &ring, 0))
		die("io_uring_queue_init");
	for (unsigned int i = 0; i < depth; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		void *p = buf + (size_t)i * BS;

		if (write)
			io_uring_prep_write(sqe, devfd, p, BS, random_sector() * 512);
		else
			io_uring_prep_read(sqe, devfd, p, BS, random_sector() * 512);
		io_uring_sqe_set_data64(sqe, i);
	}
	inflight = depth;
	start = now_s();
	end = start + seconds;
	io_uring_submit(&ring);
	while (inflight) {
		unsigned int head, n = 0;
		bool more = now_s() < end;

		if (io_uring_wait_cqe(&ring, &cqe))
			die("io_uring_wait_cqe");
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t i = io_uring_cqe_get_data64(cqe);

			if (cqe->res != (int)BS)
				die("io_uring I/O error");
			n++;
			if (!more)
				continue;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			void *p = buf + i * BS;

			if (write)
				io_uring_prep_write(sqe, devfd, p, BS, random_sector() * 512);
			else
				io_uring_prep_read(sqe, devfd, p, BS, random_sector() * 512);
			io_uring_sqe_set_data64(sqe, i);
		}
		io_uring_cq_advance(&ring, n);
		done += n;
		inflight -= more ? 0 : n;
		if (more)
			io_uring_submit(&ring);
	}
	io_uring_queue_exit(&ring);
	free(buf);
	return (double)done / (now_s() - start);
}

/* ABORT latency with NR reads in flight on a slow device, over ROUNDS rounds. */
static void abort_latency(const char *slow, unsigned int nr, int rounds)
{
	struct vbabort_iovec iov[VBABORT_MAX_BATCH];
	struct vbabort_req reqs[VBABORT_MAX_BATCH];
	struct vbabort_cqe fates[VBABORT_MAX_REQS];
	uint8_t *buf = aligned_alloc(BS, (size_t)nr * BS);
	int devfd = open_dev(slow);
	double best = 1e9, worst = 0, sum = 0;

	for (int round = 0; round < rounds; round++) {
		int ctl = vba_context(devfd, nr);
		struct vbabort_submit s = { .reqs = (uintptr_t)reqs, .nr = nr };
		struct vbabort_abort a = { .fates = (uintptr_t)fates, .nr = VBABORT_MAX_REQS, .timeout_ms = 5000 };

		for (unsigned int i = 0; i < nr; i++) {
			iov[i] = (struct vbabort_iovec){ (uintptr_t)buf + (size_t)i * BS, BS };
			reqs[i] = slot_req(i, VBABORT_OP_READ, iov);
		}
		if (ioctl(ctl, VBABORT_IOC_SUBMIT, &s) != (int)nr)
			die("vbabort SUBMIT");
		double t = now_s();
		int n = ioctl(ctl, VBABORT_IOC_ABORT, &a);

		t = (now_s() - t) * 1000;
		if (n != (int)nr || a.count[VBABORT_FATE_ABANDONED] != nr)
			die("vbabort ABORT did not abandon every read");
		best = t < best ? t : best;
		worst = t > worst ? t : worst;
		sum += t;
		close(ctl);
	}
	printf("abort latency, %u reads in flight: min %.2f ms, mean %.2f ms, max %.2f ms over %d rounds\n", nr,
	       best, sum / rounds, worst, rounds);
	close(devfd);
	free(buf);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* One workload alone, for a profiler to watch (tools/bench/vbabort-profile.sh). */
static int run_one(const char *dev, const char *engine, const char *op, unsigned int depth, double seconds)
{
	bool write = !strcmp(op, "write");
	int devfd = open_dev(dev);
	double iops;

	if (!strcmp(engine, "vbabort"))
		iops = run_vbabort(devfd, write ? VBABORT_OP_WRITE : VBABORT_OP_READ, depth, seconds);
	else
		iops = run_uring(devfd, write, depth, seconds);
	printf("%s %s depth %u: %.0f IOPS\n", engine, op, depth, iops);
	close(devfd);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int depths[] = { 1, 32 };
	enum { ROUNDS = 5 };
	double seconds, k[ROUNDS], u[ROUNDS];
	int devfd;

	if (argc == 7 && !strcmp(argv[1], "--one") && (!strcmp(argv[3], "vbabort") || !strcmp(argv[3], "io_uring")) &&
	    (!strcmp(argv[4], "read") || !strcmp(argv[4], "write")) && atoi(argv[5]) >= 1 &&
	    atoi(argv[5]) <= VBABORT_MAX_BATCH)
		return run_one(argv[2], argv[3], argv[4], (unsigned int)atoi(argv[5]), atof(argv[6]));
	if (argc != 4) {
		fprintf(stderr, "usage: vbabort-bench FASTDEV SLOWDEV SECONDS_PER_ROUND\n"
				"       vbabort-bench --one DEV vbabort|io_uring read|write DEPTH SECONDS\n");
		return 2;
	}
	seconds = atof(argv[3]);
	devfd = open_dev(argv[1]);
	/* Unmeasured: the first I/O of a run pays for TCG translating the paths it takes. */
	run_vbabort(devfd, VBABORT_OP_READ, 32, seconds / 2);
	run_uring(devfd, false, 32, seconds / 2);
	/* Alternating rounds and medians, as the host's load drifts under the guest. */
	printf("IOPS, median of %d alternating rounds of %.1f s each\n", ROUNDS, seconds);
	printf("%-6s %5s %12s %12s %7s\n", "op", "depth", "vbabort", "io_uring", "ratio");
	for (int w = 0; w < 2; w++) {
		for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
			for (int r = 0; r < ROUNDS; r++) {
				k[r] = run_vbabort(devfd, w ? VBABORT_OP_WRITE : VBABORT_OP_READ, depths[d], seconds);
				u[r] = run_uring(devfd, w, depths[d], seconds);
			}
			double km = median(k, ROUNDS), um = median(u, ROUNDS);

			printf("%-6s %5u %12.0f %12.0f %7.2f\n", w ? "write" : "read", depths[d], km, um, km / um);
		}
	}
	close(devfd);
	abort_latency(argv[2], 256, 5);
	return 0;
}
