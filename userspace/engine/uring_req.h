/* What a request issued through io_uring keeps behind it: transfer progress, bounce buffer, write fence, FIFO link. */
#ifndef VBRIDGE_URING_REQ_H
#define VBRIDGE_URING_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "util/fence.h"
#include "req_list.h"

/*
 * The per-request data (vb_blk_req_engine_data) of every engine that issues
 * through uring_io.h (uring, delay, kabort): it comes first, so such an
 * engine's req_size is sizeof(struct vb_uring_req) or a struct that starts
 * with one. Slots start zeroed and vb_uring_release leaves it so (no
 * bounce, not on io_uring, no fence, not abandoned): nothing resets it per
 * request.
 */
struct vb_uring_req {
	/* First: the FIFOs engines keep requests in before they go out (req_list.h). */
	struct vb_req_link link;
	uint64_t done;		/* bytes already transferred (short I/O is issued again) */
	void *bounce;		/* aligned copy when guest buffers do not suit O_DIRECT */
	size_t bounce_cap;	/* its size class in the queue's bounce pool (0: none) */
	uint64_t bounce_from;	/* request byte the bounce buffer starts at */
	int fallocate_mode;	/* discard and write-zeroes: the mode tried */
	bool on_uring;		/* issued to io_uring and not yet released */
	/*
	 * Suspended while its read (or fenced write) was with the host: the
	 * request stays inflight for the next back-end, its late data goes to
	 * the bounce buffer only, and its completion only releases it.
	 */
	bool abandoned;
	/* Suspended while its write was with the host: fence holds the range on this set until it lands. */
	struct vb_fence_set *fenced_on;
	struct vb_fence fence;
};

static inline struct vb_uring_req *vb_uring_req(struct vb_blk_req *req)
{
	return vb_blk_req_engine_data(req);
}

#endif
