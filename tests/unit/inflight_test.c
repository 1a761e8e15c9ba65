/* Unit tests of inflight tracking: fresh regions, the completion batch protocol, crash repair, resubmission order. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../userspace/inflight.h"
#include "../../userspace/log.h"
#include "tap.h"

#define QSZ 16

static struct vb_inflight_region region;

static struct vb_inflight_split *new_region(uint16_t nq, uint16_t qsz)
{
	uint64_t size;
	int fd = vb_inflight_create(nq, qsz, &size);

	vb_inflight_map(&region, fd, size, 0, nq, qsz);
	close(fd);
	return vb_inflight_queue(&region, 0);
}

int main(void)
{
	struct vb_inflight_tracker t;
	struct vb_inflight_split *q;
	uint16_t avail;
	uint64_t size;
	int fd;

	vb_log_threshold = VB_LOG_ERROR - 1;

	fd = vb_inflight_create(2, QSZ, &size);
	ok(fd >= 0 && size == 2 * vb_inflight_split_stride(QSZ) && size % 64 == 0,
	   "created region: 2 queues at a 64-byte aligned stride");
	ok(vb_inflight_map(&region, fd, size, 0, 2, QSZ) == 0 && vb_inflight_queue(&region, 1) &&
	   !vb_inflight_queue(&region, 2), "mapped; queue 2 is outside it");
	close(fd);

	/* Other implementations' strides: yc-libvhost-server packs regions tightly. */
	fd = vb_inflight_create(1, 64, &size);
	ok(vb_inflight_map(&region, fd, 2 * (16 + 16 * 32), 0, 2, 32) == 0 &&
	   region.stride == 16 + 16 * 32, "a tightly packed foreign region is accepted");
	ok(vb_inflight_map(&region, fd, 2 * (16 + 16 * 32) - 16, 0, 2, 32) < 0,
	   "a stride below the minimum is refused");
	ok(vb_inflight_map(&region, fd, 1000, 0, 3, 16) < 0, "a size not divisible by the queues is refused");
	close(fd);

	/* A fresh region on a ring whose used->idx is not 0 (a known peer bug). */
	q = new_region(1, QSZ);
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0x1234, 700, &avail) == 0 && q->version == 1 &&
	   q->desc_num == QSZ && q->used_idx == 700 && avail == 700 && q->features == 0x1234,
	   "fresh region starts with used_idx mirroring used->idx");

	vb_inflight_fetch(&t, 3);
	vb_inflight_fetch(&t, 7);
	vb_inflight_fetch(&t, 1);
	ok(q->desc[3].inflight && q->desc[7].inflight && q->desc[1].inflight &&
	   q->desc[3].counter < q->desc[7].counter && q->desc[7].counter < q->desc[1].counter,
	   "fetch marks inflight with increasing counters");
	vb_inflight_complete(&t, 7);
	ok(q->desc[7].inflight && q->last_batch_head == 7, "completed but unpublished stays inflight");
	vb_inflight_published(&t, 701);
	ok(!q->desc[7].inflight && q->used_idx == 701, "publishing clears the batch and mirrors used_idx");
	vb_inflight_stop(&t);

	/* Restart: 3 and 1 are still inflight, resubmitted in fetch order. */
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0, 701, &avail) == 0 && t.nresubmit == 2 &&
	   t.resubmit[0] == 3 && t.resubmit[1] == 1 && avail == 703,
	   "restart lists inflight heads by counter and resumes after them");
	vb_inflight_fetch(&t, 9);
	ok(q->desc[9].counter > q->desc[1].counter, "new counters continue after the old ones");

	/* Die after publishing a batch of two but before clearing it. */
	vb_inflight_complete(&t, 3);
	vb_inflight_complete(&t, 9);
	vb_inflight_stop(&t);
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0, 703, &avail) == 0 && !q->desc[3].inflight &&
	   !q->desc[9].inflight && q->desc[1].inflight && q->used_idx == 703 &&
	   t.nresubmit == 1 && t.resubmit[0] == 1 && avail == 704,
	   "a published but uncleared batch is repaired from the batch list");
	vb_inflight_stop(&t);

	q->desc[5].inflight = 2;
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0, 703, &avail) < 0, "an impossible inflight state is refused");
	q->desc[5].inflight = 0;
	ok(vb_inflight_start(&t, q, region.stride, QSZ / 2, 0, 703, &avail) < 0, "a region for another queue size is refused");
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0, 703 + QSZ + 1, &avail) < 0,
	   "used index further ahead than a queue is refused");
	ok(vb_inflight_start(&t, q, region.stride, 4 * QSZ, 0, 703, &avail) < 0,
	   "a ring bigger than its queue region is refused");

	vb_inflight_unmap(&region);
	return tap_done();
}
