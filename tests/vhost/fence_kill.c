/* Write fences survive kill -9 of their holder exactly as long as its io_uring O_DIRECT write is with the slow disk. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fence.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define BLK 4096
#define DISK_SIZE (16u << 20)
#define WRITE_MS 2000
/* Generous: a loaded 2-core machine; the write ends about WRITE_MS after it was issued. */
#define FREE_WITHIN_MS 10000
#define PLAN 5

enum holder {
	FENCE_ONLY,	/* the control: no write in flight */
	PLAIN_FD,	/* the write issued on the fd */
	FIXED_FILE,	/* the fd registered with the ring, closed, the write issued on the fixed file */
};

static const char *const holder_name[] = { "no write in flight", "a plain fd",
					   "a registered file whose fd was closed" };

/*
 * The child: opens the disk O_DIRECT, fences bytes 0-4095, issues a write of
 * them (pattern seed), says so on ready and waits to be killed.
 */
static void holder_child(const char *disk, enum holder how, uint32_t seed, int ready)
{
	struct vb_fence_set set;
	struct vb_fence f;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	void *buf;
	int fd = open(disk, O_RDWR | O_DIRECT), target;

	if (fd < 0 || posix_memalign(&buf, BLK, BLK))
		_exit(1);
	vu_pattern_fill(buf, BLK, seed, 0);
	vb_fence_set_init(&set, fd, DISK_SIZE);
	if (vb_fence_add(&set, &f, 0, BLK) < 0)
		_exit(1);
	if (how != FENCE_ONLY) {
		target = fd;
		if (io_uring_queue_init(4, &ring, 0) < 0)
			_exit(1);
		if (how == FIXED_FILE) {
			if (io_uring_register_files(&ring, &fd, 1) < 0)
				_exit(1);
			close(fd);
			target = 0;
		}
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_write(sqe, target, buf, BLK, 0);
		if (how == FIXED_FILE)
			sqe->flags |= IOSQE_FIXED_FILE;
		if (io_uring_submit(&ring) != 1)
			_exit(1);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* Whether block 0 of the disk holds pattern seed, read through a description of our own. */
static bool block0_has(const char *disk, uint32_t seed)
{
	uint8_t buf[BLK];
	int fd = open(disk, O_RDONLY);
	bool has = fd >= 0 && pread(fd, buf, BLK, 0) == BLK && vu_pattern_check(buf, BLK, seed, 0) == BLK;

	if (fd >= 0)
		close(fd);
	return has;
}

/* Whether this process can fence block 0 itself now (and drops it again). */
static bool fence_taken(const char *disk)
{
	struct vb_fence_set set;
	struct vb_fence f;
	int fd = open(disk, O_RDWR);
	bool taken;

	vb_fence_set_init(&set, fd, DISK_SIZE);
	taken = fd >= 0 && vb_fence_add(&set, &f, 0, BLK) == 0 && vb_fence_drop(&set, &f) == 0;
	vb_fence_set_destroy(&set);
	if (fd >= 0)
		close(fd);
	return taken;
}

/* Starts a holder and, once it is ready, kills it with SIGKILL at *killed_at; whether all went as planned. */
static bool start_and_kill(const char *disk, enum holder how, uint32_t seed, int64_t *killed_at)
{
	int pipefd[2];
	char c;
	pid_t pid;
	int status;

	if (pipe(pipefd) < 0)
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pipefd[0]);
		holder_child(disk, how, seed, pipefd[1]);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1) {
		close(pipefd[0]);
		waitpid(pid, &status, 0);
		return false;
	}
	close(pipefd[0]);
	*killed_at = vu_now_ms();
	kill(pid, SIGKILL);
	return waitpid(pid, &status, 0) == pid && WIFSIGNALED(status);
}

/* Polls the fence until the range is free; the ms from killed_at, or -1 if it stayed fenced. */
static int64_t wait_free(int probe, int64_t killed_at)
{
	int st;

	while ((st = vb_fence_probe(probe, DISK_SIZE, 0, BLK)) == VB_FENCE_FENCED &&
	       vu_now_ms() - killed_at < FREE_WITHIN_MS)
		usleep(5000);
	return st == VB_FENCE_FREE ? vu_now_ms() - killed_at : -1;
}

static void fence_outlives_kill(struct vu_slowfs *s, int probe, enum holder how, uint32_t seed)
{
	int64_t killed_at = 0, freed;
	bool fenced, landed_early;

	if (!start_and_kill(s->disk, how, seed, &killed_at))
		tap_bail("the fence holder (%s) failed", holder_name[how]);
	fenced = vb_fence_probe(probe, DISK_SIZE, 0, BLK) == VB_FENCE_FENCED;
	landed_early = block0_has(s->disk, seed);
	tap_ok(fenced && !landed_early,
	       "%s: after kill -9 the range is still fenced, the write not yet on the disk",
	       holder_name[how]);
	freed = wait_free(probe, killed_at);
	tap_ok(freed >= 0 && block0_has(s->disk, seed) && fence_taken(s->disk),
	       "%s: the fence ends with the write, %lld ms after the kill; the data is on the disk "
	       "then, and another process can fence the range", holder_name[how], (long long)freed);
}

int main(void)
{
	struct vu_slowfs s;
	int64_t killed_at = 0;
	char opts[64];
	int probe;

	vu_harness_init(60);
	tap_plan(PLAN);
	snprintf(opts, sizeof(opts), "--write-delay-ms %u", WRITE_MS);
	if (vu_slowfs_mount(&s, "16M", opts) < 0)
		tap_bail("cannot mount the slow disk");
	probe = vb_fence_probe_open(s.disk);
	if (probe < 0)
		tap_bail("open %s: %s", s.disk, strerror(-probe));

	tap_ok(start_and_kill(s.disk, FENCE_ONLY, 1, &killed_at) &&
	       vb_fence_probe(probe, DISK_SIZE, 0, BLK) == VB_FENCE_FREE,
	       "control, %s: the fence is gone as soon as its holder is dead", holder_name[FENCE_ONLY]);
	fence_outlives_kill(&s, probe, PLAIN_FD, 2);
	fence_outlives_kill(&s, probe, FIXED_FILE, 3);
	close(probe);
	vu_slowfs_umount(&s);
	return tap_done();
}
