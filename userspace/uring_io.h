/* io_uring I/O engine: issuing a parsed virtio-blk request to the disk and finishing it. */
#ifndef VBRIDGE_URING_IO_H
#define VBRIDGE_URING_IO_H

#include <liburing.h>

#include "blk.h"
#include "disk.h"

/*
 * Queues the disk operation of req on ring (the caller submits in batches).
 * Returns true if queued; false if the request finished at once (req->status set).
 */
bool vb_uring_issue(struct io_uring *ring, struct vb_disk *disk, bool writeback,
		    struct vb_blk_req *req);
/*
 * Accounts completion res of req. Returns true when the request is finished
 * (req->status set); false when it was queued again (short transfer, or a
 * fallback fallocate mode).
 */
bool vb_uring_complete(struct io_uring *ring, struct vb_disk *disk, bool writeback,
		       struct vb_blk_req *req, int res);

#endif
