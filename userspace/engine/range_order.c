/* The byte-range ordering rules the uring and rbd engines share: parked requests ahead, resubmitted ones still busy. */
#include "range_order.h"

static bool overlap(const struct vb_blk_req *a, const struct vb_blk_req *b)
{
	return vb_ranges_overlap(a->offset, a->len, b->offset, b->len);
}

void vb_req_list_resubmit(struct vb_req_list *parked,
			  void (*submit)(void *state, struct vb_blk_req *req), void *state)
{
	for (struct vb_blk_req *req = vb_req_list_take(parked), *next; req; req = next) {
		next = vb_req_next(req);
		submit(state, req);
	}
}

bool vb_req_list_overlaps(struct vb_req_list *list, const struct vb_blk_req *req)
{
	for (struct vb_blk_req *p = list->head; p; p = vb_req_next(p)) {
		if (overlap(p, req))
			return true;
	}
	return false;
}

bool vb_behind_resubmitted(const struct vb_engine_io *io, const struct vb_blk_req *req,
			   bool *watching)
{
	bool any = false;

	for (unsigned int i = 0; i < io->nreqs; i++) {
		const struct vb_blk_req *r = vb_engine_slot(io, i);

		if (r == req || !r->busy || !r->resubmitted)
			continue;
		any = true;
		if (vb_req_has_range(r) && overlap(r, req))
			return true;
	}
	*watching = any;
	return false;
}
