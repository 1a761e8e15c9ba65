/* Storage whose io_uring submission blocks: timing submissions, and issuing with IOSQE_ASYNC once one blocked. */
#ifndef VBRIDGE_SUBMIT_WATCH_H
#define VBRIDGE_SUBMIT_WATCH_H

#include <liburing.h>
#include <stdbool.h>

/*
 * A submission slower than this blocked on the storage: io_uring served a
 * request inline instead of queueing it (FUSE without async direct I/O
 * does, for every O_DIRECT request). A disk that takes requests at once
 * submits a batch in microseconds.
 */
#define VB_SUBMIT_BLOCKS_MS 10
/* In a row: one slow submission may be a preempted thread on a loaded host. */
#define VB_SUBMIT_BLOCKS_TIMES 2

/* One per ring (a queue's); zero-initialised it watches a disk not yet seen blocking. */
struct vb_submit_watch {
	bool async;		/* submission blocked: new requests go with IOSQE_ASYNC */
	unsigned int slow;	/* submissions slower than VB_SUBMIT_BLOCKS_MS in a row */
};

/*
 * io_uring_submit, timed. VB_SUBMIT_BLOCKS_TIMES submissions in a row slower
 * than VB_SUBMIT_BLOCKS_MS set w->async, logged once with what the last one
 * took. Returns what io_uring_submit returned.
 */
int vb_submit_watched(struct vb_submit_watch *w, struct io_uring *ring);

/* The SQE flags a new request needs: IOSQE_ASYNC once submission was seen to block. */
static inline unsigned int vb_submit_flags(const struct vb_submit_watch *w)
{
	return w->async ? IOSQE_ASYNC : 0;
}

#endif
