/* io_uring disk operations: issuing a parsed virtio-blk request to the disk and finishing it (uring, delay and kabort engines). */
#ifndef VBRIDGE_URING_IO_H
#define VBRIDGE_URING_IO_H

#include <liburing.h>

#include "virtio/blk.h"
#include "bounce_pool.h"
#include "disk.h"
#include "uring_req.h"

/* How requests are issued; fixed per request when it is issued. */
#define VB_URING_WRITEBACK 0x1u	/* volatile write cache: writes need no RWF_DSYNC */
/*
 * Reads land in a bounce buffer and are copied to the guest at completion,
 * so a read still with the host can be abandoned without it ever writing
 * guest memory (ring suspension).
 */
#define VB_URING_BOUNCE_READS 0x2u
/* The disk fd is registered as file 0 of the ring (io_uring_register_files). */
#define VB_URING_FIXED_FILE 0x4u
/* Submission blocks on this disk (submit_watch.h): issue with IOSQE_ASYNC. */
#define VB_URING_ASYNC 0x8u

/*
 * Queues the disk operation of req on ring (the caller submits in batches).
 * Returns true if queued; false if the request finished at once (req->status set).
 */
bool vb_uring_issue(struct io_uring *ring, struct vb_bounce_pool *pool, struct vb_disk *disk,
		    unsigned int flags, struct vb_blk_req *req);
/*
 * Accounts completion res of req. Returns true when the request is finished
 * (req->status set); false when it was queued again (short transfer, or a
 * fallback fallocate mode).
 */
bool vb_uring_complete(struct io_uring *ring, struct vb_bounce_pool *pool, struct vb_disk *disk,
		       unsigned int flags, struct vb_blk_req *req, int res);
/*
 * Reads or writes req at once, in this thread (preadv2/pwritev2), and sets
 * req->status. For a disk in memory, where io_uring would only hand the
 * copy to a worker thread and wake this one again when it is done.
 */
void vb_uring_rw_now(struct vb_bounce_pool *pool, struct vb_disk *disk, unsigned int flags,
		     struct vb_blk_req *req);
/* An SQE carrying user_data; if the ring is full, what is queued is submitted first. NULL if none. */
struct io_uring_sqe *vb_uring_sqe(struct io_uring *ring, uint64_t user_data);
/*
 * Drops a request that will not complete here (suspended), or is done:
 * gives back what issuing it allocated, to pool or (NULL) to the
 * allocator, and drops its fence, its write having landed.
 */
void vb_uring_release(struct vb_bounce_pool *pool, struct vb_blk_req *req);
/*
 * The completion of a request a suspension abandoned (a read) or fenced (a
 * write) ends nothing of the ring: if req is one, releases it (as
 * vb_uring_release) and returns true.
 */
bool vb_uring_drop_abandoned(struct vb_bounce_pool *pool, struct vb_blk_req *req);

#endif
