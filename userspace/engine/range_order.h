/* Which requests must wait for others on the same byte range: the ordering rules the uring and rbd engines share. */
#ifndef VBRIDGE_RANGE_ORDER_H
#define VBRIDGE_RANGE_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "engine.h"
#include "req_list.h"

static inline bool vb_req_writes_disk(const struct vb_blk_req *req)
{
	return req->op == VB_IO_WRITE || req->op == VB_IO_WRITE_ZEROES ||
	       req->op == VB_IO_DISCARD;
}

/* Whether req reads or changes bytes of the disk (a flush or GET_ID does not). */
static inline bool vb_req_has_range(const struct vb_blk_req *req)
{
	return req->len && (req->op == VB_IO_READ || vb_req_writes_disk(req));
}

static inline bool vb_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Takes every request parked and hands it to submit again, in arrival
 * order (submit parks again what must still wait).
 */
void vb_req_list_resubmit(struct vb_req_list *parked,
			  void (*submit)(void *state, struct vb_blk_req *req), void *state);
/* Whether a request of list (parked ahead of req) overlaps req. */
bool vb_req_list_overlaps(struct vb_req_list *list, const struct vb_blk_req *req);

/*
 * Whether the new request req must wait for an overlapping resubmitted one
 * still busy: the last back-end's write goes first. Clears *watching once
 * no resubmitted request is busy, so that callers stop looking.
 */
bool vb_behind_resubmitted(const struct vb_engine_io *io, const struct vb_blk_req *req,
			   bool *watching);

#endif
