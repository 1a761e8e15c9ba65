/* Storage whose io_uring submission blocks: timing submissions, and issuing with IOSQE_ASYNC once one blocked. */
#include "submit_watch.h"

#include "util/clock.h"
#include "util/log.h"

int vb_submit_watched(struct vb_submit_watch *w, struct io_uring *ring)
{
	uint64_t t0 = vb_now_ns(), took;
	int ret = io_uring_submit(ring);

	took = vb_now_ns() - t0;
	if (w->async)
		return ret;
	w->slow = took > VB_SUBMIT_BLOCKS_MS * 1000000ull ? w->slow + 1 : 0;
	if (w->slow >= VB_SUBMIT_BLOCKS_TIMES) {
		w->async = true;
		vb_warn("the disk blocks at submission (a batch of %d took %llu ms to submit): "
			"issuing with IOSQE_ASYNC from now on",
			ret, (unsigned long long)(took / 1000000));
	}
	return ret;
}
