/* Unit tests of write fences: taking, probing from another description, overlapping fences, bad ranges, threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/fence.h"
#include "tap.h"

#define KB 1024u
#define DISK (1024u * KB)

static char path[] = "/tmp/vbridge-fence-test.XXXXXX";
static int probe_fd;

static int state(uint64_t off, uint64_t len)
{
	return vb_fence_probe(probe_fd, DISK, off, len);
}

static void test_one(struct vb_fence_set *s, int holder_fd)
{
	struct vb_fence f;
	int ret = vb_fence_add(s, &f, 0, 4 * KB);

	ok(ret == 0 && s->count == 1, "a fence on bytes 0-4095 is taken");
	ok(state(0, 4 * KB) == VB_FENCE_FENCED && state(4095, 1) == VB_FENCE_FENCED,
	   "another description probes it fenced, also on its last byte");
	ok(state(4 * KB, 4 * KB) == VB_FENCE_FREE,
	   "the bytes after it probe free, and the probe took nothing: they probe free again");
	ok(vb_fence_probe(holder_fd, DISK, 0, 4 * KB) == VB_FENCE_FREE,
	   "the holder's own description does not see its fence: probes need a description of their own");
	ok(state(4 * KB, 4 * KB) == VB_FENCE_FREE, "a probe leaves no lock behind");
	ok(vb_fence_drop(s, &f) == 0 && s->count == 0 && !s->head &&
	   state(0, 4 * KB) == VB_FENCE_FREE, "dropped, the range probes free");
}

/* Another description's fence over part of the range: refused whole, nothing taken. */
static void test_conflict(struct vb_fence_set *s)
{
	struct vb_fence_set other;
	struct vb_fence f, g;
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	vb_fence_set_init(&other, fd, DISK);
	vb_fence_add(s, &f, 8 * KB, 4 * KB);
	ret = vb_fence_add(&other, &g, 4 * KB, 8 * KB);
	ok(ret == -EAGAIN && other.count == 0,
	   "a fence overlapping another description's is refused with EAGAIN (%d)", ret);
	vb_fence_drop(s, &f);
	ok(state(4 * KB, 8 * KB) == VB_FENCE_FREE, "and the refused one took no part of its range");
	vb_fence_set_destroy(&other);
	close(fd);
}

/* Two writes of the same block: the block stays fenced until both are dropped. */
static void test_same_range(struct vb_fence_set *s)
{
	struct vb_fence a, b;

	vb_fence_add(s, &a, 16 * KB, 4 * KB);
	vb_fence_add(s, &b, 16 * KB, 4 * KB);
	vb_fence_drop(s, &a);
	ok(state(16 * KB, 4 * KB) == VB_FENCE_FENCED,
	   "two fences on one range: dropping one leaves it fenced");
	vb_fence_drop(s, &b);
	ok(state(16 * KB, 4 * KB) == VB_FENCE_FREE, "dropping the other frees it");
}

static void test_overlap(struct vb_fence_set *s)
{
	struct vb_fence a, b;

	vb_fence_add(s, &a, 0, 8 * KB);
	vb_fence_add(s, &b, 4 * KB, 8 * KB);
	vb_fence_drop(s, &a);
	ok(state(0, 4 * KB) == VB_FENCE_FREE && state(4 * KB, 8 * KB) == VB_FENCE_FENCED &&
	   state(4 * KB, 1) == VB_FENCE_FENCED,
	   "overlapping fences 0-8K and 4K-12K: dropping the first frees 0-4K only");
	vb_fence_drop(s, &b);
	ok(state(0, 12 * KB) == VB_FENCE_FREE, "dropping the second frees the rest");
}

static void test_adjacent(struct vb_fence_set *s)
{
	struct vb_fence a, b;

	vb_fence_add(s, &a, 0, 4 * KB);
	vb_fence_add(s, &b, 4 * KB, 4 * KB);
	vb_fence_drop(s, &b);
	ok(state(0, 4 * KB) == VB_FENCE_FENCED && state(4 * KB, 4 * KB) == VB_FENCE_FREE,
	   "adjacent fences (merged by the kernel): dropping the second leaves the first");
	vb_fence_drop(s, &a);
}

/* A long write over two short ones, with a gap between them. */
static void test_nested(struct vb_fence_set *s)
{
	struct vb_fence big, b1, b2;

	vb_fence_add(s, &b1, 4 * KB, 4 * KB);
	vb_fence_add(s, &big, 0, 16 * KB);
	vb_fence_add(s, &b2, 12 * KB, 8 * KB);
	vb_fence_drop(s, &big);
	ok(state(0, 4 * KB) == VB_FENCE_FREE && state(4 * KB, 4 * KB) == VB_FENCE_FENCED &&
	   state(8 * KB, 4 * KB) == VB_FENCE_FREE && state(12 * KB, 8 * KB) == VB_FENCE_FENCED,
	   "a fence over two others dropped: exactly the gaps between them are freed");
	vb_fence_drop(s, &b2);
	vb_fence_drop(s, &b1);
	ok(state(0, 20 * KB) == VB_FENCE_FREE && s->count == 0, "all dropped, all free");
}

static void test_bad_ranges(struct vb_fence_set *s)
{
	struct vb_fence f;

	ok(vb_fence_add(s, &f, DISK - 4 * KB, 8 * KB) == -ERANGE && s->count == 0 &&
	   state(DISK - 4 * KB, 4 * KB) == VB_FENCE_FREE,
	   "a fence running past the end of the disk is refused (ERANGE), nothing taken");
	ok(vb_fence_add(s, &f, DISK, 512) == -ERANGE, "a fence starting at the end is refused");
	ok(vb_fence_add(s, &f, UINT64_MAX - 511, 1024) == -ERANGE,
	   "a range whose end wraps 2^64 is refused");
	ok(vb_fence_add(s, &f, 0, 0) == -EINVAL && s->count == 0,
	   "an empty range (l_len 0 would lock to infinity) is refused (EINVAL)");
	ok(state(DISK - 512, 1024) == -ERANGE && state(0, 0) == -EINVAL,
	   "a probe past the end or of nothing is refused the same way");
	ok(vb_fence_add(s, &f, DISK - 4 * KB, 4 * KB) == 0 && vb_fence_drop(s, &f) == 0,
	   "the last 4 KiB of the disk can be fenced");
}

/* A suspension's batch: one lock over the disk at once, cut down to the writes' ranges at its end. */
static void test_batch(struct vb_fence_set *s)
{
	struct vb_fence a, b, c;
	bool covered;

	ok(vb_fence_batch_begin(s) && s->blankets == 1, "a batch begins on a disk nobody else locks");
	vb_fence_add(s, &a, 8 * KB, 4 * KB);
	vb_fence_add(s, &b, 32 * KB, 8 * KB);
	vb_fence_add(s, &c, 64 * KB, 4 * KB);
	ok(s->count == 3 && state(0, 4 * KB) == VB_FENCE_FENCED &&
	   state(DISK - 4 * KB, 4 * KB) == VB_FENCE_FENCED,
	   "during the batch every byte of the disk probes fenced, not only the writes'");
	vb_fence_drop(s, &c);
	ok(state(64 * KB, 4 * KB) == VB_FENCE_FENCED && s->count == 2,
	   "a write that lands during the batch leaves its range under the blanket");
	ok(vb_fence_batch_begin(s) && s->blankets == 2, "a second queue's batch begins beside it");
	ok(vb_fence_batch_end(s) == 0 && state(0, 4 * KB) == VB_FENCE_FENCED,
	   "the end of one batch leaves the other's blanket");
	ok(vb_fence_batch_end(s) == 0 && s->blankets == 0, "the end of the last batch succeeds");
	covered = state(8 * KB, 4 * KB) == VB_FENCE_FENCED && state(32 * KB, 8 * KB) == VB_FENCE_FENCED &&
		  state(39 * KB, 1) == VB_FENCE_FENCED;
	ok(covered && state(0, 8 * KB) == VB_FENCE_FREE && state(12 * KB, 20 * KB) == VB_FENCE_FREE &&
	   state(40 * KB, DISK - 40 * KB) == VB_FENCE_FREE,
	   "then exactly the writes still in flight are fenced: the landed one and the gaps are free");
	vb_fence_drop(s, &a);
	vb_fence_drop(s, &b);
	ok(state(0, DISK) == VB_FENCE_FREE && s->count == 0, "dropped after the batch, all free");
}

/* Another description's fence anywhere: no blanket, the fences are taken one by one. */
static void test_batch_refused(struct vb_fence_set *s)
{
	struct vb_fence_set other;
	struct vb_fence f, g;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	vb_fence_set_init(&other, fd, DISK);
	vb_fence_add(&other, &g, DISK - 4 * KB, 4 * KB);
	ok(!vb_fence_batch_begin(s) && s->blankets == 0,
	   "no batch while another description holds a fence on the disk");
	ok(vb_fence_add(s, &f, 0, 4 * KB) == 0 && state(0, 4 * KB) == VB_FENCE_FENCED &&
	   state(4 * KB, 4 * KB) == VB_FENCE_FREE,
	   "a fence outside a batch locks its range alone");
	vb_fence_drop(s, &f);
	vb_fence_drop(&other, &g);
	vb_fence_set_destroy(&other);
	close(fd);
}

/* A write lock needs a description opened for writing. */
static void test_readonly(void)
{
	struct vb_fence_set ro;
	struct vb_fence f;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	vb_fence_set_init(&ro, fd, DISK);
	ok(vb_fence_add(&ro, &f, 0, 4 * KB) == -EBADF && ro.count == 0,
	   "a fence on a read-only description fails with EBADF");
	vb_fence_set_destroy(&ro);
	close(fd);
}

struct churn {
	struct vb_fence_set *s;
	uint64_t off;
};

#define ROUNDS 2000

/* Threads of two queues fencing and dropping overlapping ranges of one description. */
static void *churn(void *arg)
{
	struct churn *c = arg;
	struct vb_fence f[2];
	long bad = 0;

	for (unsigned i = 0; i < ROUNDS; i++) {
		bad += vb_fence_add(c->s, &f[0], c->off, 8 * KB) != 0;
		bad += vb_fence_add(c->s, &f[1], c->off + 4 * KB, 8 * KB) != 0;
		bad += vb_fence_drop(c->s, &f[0]) != 0;
		bad += vb_fence_drop(c->s, &f[1]) != 0;
	}
	return (void *)bad;
}

static void test_threads(struct vb_fence_set *s)
{
	struct churn c[2] = { { s, 64 * KB }, { s, 68 * KB } };
	struct vb_fence keep;
	pthread_t t[2];
	void *bad[2] = { (void *)1, (void *)1 };
	bool fenced = true;

	vb_fence_add(s, &keep, 72 * KB, 4 * KB);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, &c[i]);
	for (unsigned i = 0; i < 200; i++)
		fenced &= state(72 * KB, 4 * KB) == VB_FENCE_FENCED;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], &bad[i]);
	ok(!bad[0] && !bad[1] && s->count == 1 && s->head == &keep,
	   "two threads fence and drop overlapping ranges %u times each without an error", ROUNDS);
	ok(fenced && state(72 * KB, 4 * KB) == VB_FENCE_FENCED && state(64 * KB, 8 * KB) == VB_FENCE_FREE &&
	   state(76 * KB, 4 * KB) == VB_FENCE_FREE,
	   "a fence under their ranges stayed fenced all along; the rest is free");
	vb_fence_drop(s, &keep);
}

int main(void)
{
	struct vb_fence_set s;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, DISK) < 0)
		return 1;
	probe_fd = vb_fence_probe_open(path);
	ok(probe_fd >= 0, "the disk opens again for probing");
	vb_fence_set_init(&s, fd, DISK);
	test_one(&s, fd);
	test_conflict(&s);
	test_same_range(&s);
	test_overlap(&s);
	test_adjacent(&s);
	test_nested(&s);
	test_bad_ranges(&s);
	test_readonly();
	test_batch(&s);
	test_batch_refused(&s);
	test_threads(&s);
	ok(vb_fence_probe_open("/nonexistent/disk") == -ENOENT, "probe_open reports errors as -errno");
	vb_fence_set_destroy(&s);
	close(probe_fd);
	close(fd);
	unlink(path);
	return tap_done();
}
