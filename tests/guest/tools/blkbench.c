/* Guest block benchmark: O_DIRECT random or sequential reads or writes at a given depth (one thread per request in flight). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

enum mode { RANDREAD, RANDWRITE, SEQREAD };

struct job {
	const char *dev;
	enum mode mode;
	size_t bs;
	uint64_t blocks;	/* of bs in the device */
	unsigned int index, threads;
	double deadline;
	uint64_t ops;
	int err;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct job *j = arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (j->index + 1), seq = j->index;
	void *buf;
	int fd = open(j->dev, (j->mode == RANDWRITE ? O_RDWR : O_RDONLY) | O_DIRECT);

	if (fd < 0 || posix_memalign(&buf, 4096, j->bs)) {
		j->err = errno;
		return NULL;
	}
	memset(buf, 0xa5, j->bs);
	while (now() < j->deadline) {
		uint64_t block;
		ssize_t n;

		if (j->mode == SEQREAD) {
			/* Each thread reads every threads-th block: together, one sequential stream. */
			block = seq % j->blocks;
			seq += j->threads;
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			block = x % j->blocks;
		}
		n = j->mode == RANDWRITE ? pwrite(fd, buf, j->bs, block * j->bs) :
					   pread(fd, buf, j->bs, block * j->bs);
		if (n != (ssize_t)j->bs) {
			j->err = n < 0 ? errno : EIO;
			break;
		}
		j->ops++;
	}
	free(buf);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *modes[] = { "randread", "randwrite", "seqread" };
	struct job *jobs;
	pthread_t *tids;
	uint64_t size, ops = 0;
	unsigned int threads;
	double secs, start;
	int fd, m = -1;

	if (argc != 6) {
		fprintf(stderr, "usage: blkbench DEVICE randread|randwrite|seqread BLOCK_BYTES DEPTH SECONDS\n");
		return 2;
	}
	for (int i = 0; i < 3; i++)
		if (strcmp(argv[2], modes[i]) == 0)
			m = i;
	threads = atoi(argv[4]);
	secs = atof(argv[5]);
	fd = open(argv[1], O_RDONLY);
	if (m < 0 || threads == 0 || secs <= 0 || fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		fprintf(stderr, "blkbench: bad arguments or device %s\n", argv[1]);
		return 2;
	}
	close(fd);
	jobs = calloc(threads, sizeof(*jobs));
	tids = calloc(threads, sizeof(*tids));
	start = now();
	for (unsigned int i = 0; i < threads; i++) {
		jobs[i] = (struct job){ .dev = argv[1], .mode = m, .bs = strtoul(argv[3], NULL, 0),
					.index = i, .threads = threads, .deadline = start + secs };
		jobs[i].blocks = size / jobs[i].bs;
		pthread_create(&tids[i], NULL, run, &jobs[i]);
	}
	for (unsigned int i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		if (jobs[i].err) {
			fprintf(stderr, "blkbench: %s\n", strerror(jobs[i].err));
			return 1;
		}
		ops += jobs[i].ops;
	}
	secs = now() - start;
	printf("%.0f %.1f\n", ops / secs, ops * (double)jobs[0].bs / secs / 1048576);
	return 0;
}
