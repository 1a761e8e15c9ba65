/* Front-end batched completion and interrupt suppression, for drivers that keep many requests in flight. */
#include "vu_batch.h"

#define REAP_CHUNK 64

unsigned vu_blk_reap_batch(struct vu_vq *vq, struct vu_blk_req **done, unsigned max)
{
	struct vu_used u[REAP_CHUNK];
	unsigned total = 0;

	while (total < max) {
		unsigned want = max - total < REAP_CHUNK ? max - total : REAP_CHUNK;
		unsigned got = vu_vq_reap(vq, u, want);

		for (unsigned i = 0; i < got; i++) {
			struct vu_blk_req *r = u[i].cookie;

			if (!r)
				continue;
			r->status = *(volatile uint8_t *)r->status_ptr;
			r->used_len = u[i].len;
			r->in_flight = false;
			r->done = true;
			done[total++] = r;
		}
		if (got < want)
			break;
	}
	return total;
}

void vu_vq_calls_off(struct vu_vq *vq)
{
	vq->avail->flags |= VRING_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx)
		*vu_vq_used_event(vq) = (uint16_t)(vq->last_used + 0x8000u);
}
