/* Write fences: OFD write locks on the byte ranges of writes still with the storage, and probes for them. */
#ifndef VBRIDGE_FENCE_H
#define VBRIDGE_FENCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * A fence is an open-file-description lock (F_OFD_SETLK, F_WRLCK) on the
 * byte range of one write, taken on the description the write was issued
 * on. The in-flight request holds that description, so the lock lasts until
 * the write completes even if the process dies (Documentation/suspend.rst,
 * "Write fences").
 */
struct vb_fence {
	uint64_t off, len;
	struct vb_fence *prev, *next;
};

/*
 * The fences held on one open file description. Locks of one description
 * merge and split by range whatever thread or queue took them, so every
 * queue issuing on that description must use the same set: the set keeps
 * each write's range and, when one is dropped, unlocks only the bytes no
 * other fence of the set covers.
 */
struct vb_fence_set {
	int fd;			/* the description the fenced writes were issued on */
	uint64_t disk_size;	/* bytes; a range past it is refused */
	pthread_mutex_t lock;	/* guards head, count and blankets, and orders the fcntl calls */
	struct vb_fence *head;
	unsigned count;
	/*
	 * Open batches (vb_fence_batch_begin): while there is one, a lock over
	 * the whole disk covers every fence, and adding or dropping one makes
	 * no system call.
	 */
	unsigned blankets;
};

enum vb_fence_state {
	VB_FENCE_FREE,		/* nobody else holds a fence on any byte of the range */
	VB_FENCE_FENCED,	/* another description holds one: a write there is in flight */
};

void vb_fence_set_init(struct vb_fence_set *s, int fd, uint64_t disk_size);
/* The set must be empty: its fences are dropped when their writes complete. */
void vb_fence_set_destroy(struct vb_fence_set *s);

/*
 * Fences [off, off + len) with f, which stays the caller's until dropped.
 * Returns 0, -EINVAL for an empty range, -ERANGE for one past the end of
 * the disk (both logged), or the fcntl error: -EAGAIN when another
 * description holds a lock on part of it (a fence, or someone's probe of
 * the moment), in which case nothing was taken.
 */
int vb_fence_add(struct vb_fence_set *s, struct vb_fence *f, uint64_t off, uint64_t len);
/* Drops f; bytes another fence of the set covers stay locked. Returns 0 or -errno. */
int vb_fence_drop(struct vb_fence_set *s, struct vb_fence *f);

/*
 * A batch of fences for one suspension, cheap where it matters: a fence
 * costs a system call (about 1.5 us on the development VM), so 128 writes
 * in flight would add 0.2 ms to GET_VRING_BASE's reply. Instead, begin
 * locks the whole disk with one call, the fences added during the batch are
 * only recorded, and end, called after the reply, unlocks every byte no
 * fence of the set covers. Between the two, more is fenced than needed,
 * never less: a probe of any range finds it fenced for those microseconds.
 * begin returns false, and the fences are taken one by one, when another
 * description holds a lock on any byte (the last back-end's fences). Every
 * begin that returned true needs exactly one end.
 */
bool vb_fence_batch_begin(struct vb_fence_set *s);
int vb_fence_batch_end(struct vb_fence_set *s);

/*
 * Opens the disk again for probing: a description of its own, since a
 * description never conflicts with its own locks. Read access is enough,
 * the probe takes a read lock, and a read lock conflicts with a write lock.
 * Returns the fd or -errno.
 */
int vb_fence_probe_open(const char *path);
/*
 * Whether [off, off + len) is fenced, without waiting: takes a read lock on
 * probe_fd and releases it at once. Returns a vb_fence_state, or -EINVAL /
 * -ERANGE (logged) as vb_fence_add, or another -errno.
 */
int vb_fence_probe(int probe_fd, uint64_t disk_size, uint64_t off, uint64_t len);

#endif
