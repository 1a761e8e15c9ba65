/* Unit tests of inflight tracking: fresh regions, the completion batch protocol, crash repair, resubmission order, regions rewritten by a hostile front-end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/inflight.h"
#include "util/log.h"
#include "tap.h"

#define QSZ 16

static struct vb_inflight_region region;

static struct vb_inflight_split *new_region(uint16_t nq, uint16_t qsz)
{
	uint64_t size;
	int fd = vb_inflight_create(nq, qsz, false, &size);

	vb_inflight_map(&region, fd, size, 0, nq, qsz, false);
	close(fd);
	return vb_inflight_queue(&region, 0);
}

#define PQ 8

/* A packed ring in plain memory: only descriptors are needed here. */
static struct vring_packed_desc ring[PQ];
static struct vring_packed_desc_event drv_ev, dev_ev;

static void make_avail(struct vb_vring *vr, uint16_t slot, uint16_t id, uint16_t flags)
{
	bool wrap = vr->avail_wrap;

	ring[slot] = (struct vring_packed_desc){ .addr = 0x1000 * (slot + 1), .len = 512, .id = id,
		.flags = flags | (wrap ? 1u << VRING_PACKED_DESC_F_AVAIL : 1u << VRING_PACKED_DESC_F_USED) };
}

static struct vb_inflight_packed *packed_region(void)
{
	uint64_t size;
	int fd = vb_inflight_create(1, PQ, true, &size);

	vb_inflight_map(&region, fd, size, 0, 1, PQ, true);
	close(fd);
	return vb_inflight_queue(&region, 0);
}

static void ring_start(struct vb_vring *vr, uint32_t base)
{
	vb_vring_start(vr, PQ, false, true, ring, &drv_ev, &dev_ev, base);
}

static void test_packed(void)
{
	struct vb_inflight_tracker t;
	struct vb_inflight_packed *p = packed_region();
	const struct vring_packed_desc *descs;
	struct vb_vring vr;
	uint16_t head, ndesc, count, id, idx;
	bool wrap;
	int e1, e2;

	memset(ring, 0, sizeof(ring));
	ring_start(&vr, 0x80008000u);
	ok(region.stride >= vb_inflight_packed_min_size(PQ) &&
	   vb_inflight_start_packed(&t, p, region.stride, &vr, 0) == 0 && p->version == 1 &&
	   p->desc_num == PQ && p->used_wrap_counter && p->desc[0].next == 1,
	   "packed: a fresh region gets its free list and the ring's wrap counters");

	/* Two requests: a 2-descriptor chain with id 4, a single descriptor with id 6. */
	make_avail(&vr, 0, 0, VRING_DESC_F_NEXT);
	make_avail(&vr, 1, 4, VRING_DESC_F_WRITE);
	make_avail(&vr, 2, 6, VRING_DESC_F_WRITE);
	vb_vring_pop_head(&vr, &head, &ndesc);
	e1 = vb_inflight_fetch_packed(&t, &vr);
	vb_vring_pop_head(&vr, &head, &ndesc);
	e2 = vb_inflight_fetch_packed(&t, &vr);
	ok(e1 == 0 && e2 == 2 && p->desc[0].inflight && p->desc[0].num == 2 && p->desc[0].last == 1 &&
	   p->desc[2].inflight && p->desc[2].num == 1 && p->free_head == 3 && p->old_free_head == 3,
	   "packed: fetch copies each chain into entries from the free list");
	ok(vb_inflight_chain_packed(&t, e1, &descs, &count, &id) == 0 && count == 2 && id == 4 &&
	   descs[0].addr == 0x1000 && (descs[0].flags & VRING_DESC_F_NEXT) && descs[1].addr == 0x2000,
	   "packed: a chain is rebuilt from its copies");

	/* Complete id 6 (entry 2), then die before its used element is written: roll back. */
	idx = vr.used_idx;
	wrap = vr.used_wrap;
	vb_vring_packed_advance(PQ, &idx, &wrap, 1);
	vb_inflight_complete_packed(&t, e2, idx, wrap);
	vb_inflight_stop(&t);
	memset(ring, 0xaa, sizeof(ring[0]) * 3);	/* the descriptors may be overwritten now */
	ring[0].flags = (1u << VRING_PACKED_DESC_F_AVAIL);	/* still available on lap 1 */
	ring_start(&vr, 0x80008000u);
	ok(vb_inflight_start_packed(&t, p, region.stride, &vr, 0) == 0 && t.nresubmit == 2 &&
	   t.resubmit[0] == e1 && t.resubmit[1] == e2 && vr.used_idx == 0 && vr.last_avail_idx == 3,
	   "packed: an unpublished completion is rolled back and both requests resubmitted");
	ok(vb_inflight_chain_packed(&t, e1, &descs, &count, &id) == 0 && id == 4 && count == 2,
	   "packed: resubmission uses the copies, not the overwritten ring");

	/* Complete id 6 again and die after writing the used element: commit. */
	idx = vr.used_idx;
	wrap = vr.used_wrap;
	vb_vring_packed_advance(PQ, &idx, &wrap, 1);
	vb_inflight_complete_packed(&t, e2, idx, wrap);
	vb_vring_push_used(&vr, 6, 1, 1);
	vb_inflight_stop(&t);
	ring_start(&vr, 0x80008000u);
	ok(vb_inflight_start_packed(&t, p, region.stride, &vr, 0) == 0 && t.nresubmit == 1 &&
	   t.resubmit[0] == e1 && !p->desc[e2].inflight && vr.used_idx == 1 && vr.last_avail_idx == 3,
	   "packed: a written used element commits its completion");
	vb_inflight_stop(&t);

	/* Killed between the two commit stores of a completion that wrapped. */
	memset(p, 0, region.stride);
	memset(ring, 0, sizeof(ring));
	ring_start(&vr, (PQ - 1) | 0x8000 | ((uint32_t)(PQ - 1) | 0x8000) << 16);
	vb_inflight_start_packed(&t, p, region.stride, &vr, 0);
	make_avail(&vr, PQ - 1, 3, VRING_DESC_F_WRITE);
	vb_vring_pop_head(&vr, &head, &ndesc);
	e1 = vb_inflight_fetch_packed(&t, &vr);
	idx = vr.used_idx;
	wrap = vr.used_wrap;
	vb_vring_packed_advance(PQ, &idx, &wrap, 1);
	vb_inflight_complete_packed(&t, e1, idx, wrap);
	vb_vring_push_used(&vr, 3, 1, 1);
	p->desc[e1].inflight = 0;
	p->old_free_head = p->free_head;
	p->old_used_wrap_counter = p->used_wrap_counter;	/* the index store never happened */
	vb_inflight_stop(&t);
	ring_start(&vr, 0x80008000u);
	ok(vb_inflight_start_packed(&t, p, region.stride, &vr, 0) == 0 && t.nresubmit == 0 &&
	   vr.used_idx == 0 && !vr.used_wrap && vr.last_avail_idx == 0 && !vr.avail_wrap,
	   "packed: killed inside a wrapping commit, the restart commits it");
	vb_inflight_stop(&t);

	/* Every descriptor in flight: the free list is empty (free_head == num). */
	memset(p, 0, region.stride);
	memset(ring, 0, sizeof(ring));
	ring_start(&vr, 0x80008000u);
	vb_inflight_start_packed(&t, p, region.stride, &vr, 0);
	for (uint16_t i = 0; i < PQ; i++) {
		make_avail(&vr, i, i, VRING_DESC_F_WRITE);
		vb_vring_pop_head(&vr, &head, &ndesc);
		vb_inflight_fetch_packed(&t, &vr);
	}
	vb_inflight_stop(&t);
	ring_start(&vr, 0x80008000u);
	ok(p->free_head == PQ && vb_inflight_start_packed(&t, p, region.stride, &vr, 0) == 0 &&
	   t.nresubmit == PQ && vr.last_avail_idx == 0 && !vr.avail_wrap,
	   "packed: a region with every descriptor in flight restarts");
	vb_inflight_stop(&t);

	p->desc[e1].num = PQ + 1;
	ring_start(&vr, 0x80008000u);
	ok(vb_inflight_start_packed(&t, p, region.stride, &vr, 0) < 0,
	   "packed: a head entry with an impossible chain is refused");
	ok(vb_inflight_start_packed(&t, p, vb_inflight_packed_min_size(PQ) - 1, &vr, 0) < 0,
	   "packed: a region too small for the ring is refused");
}

/*
 * A front-end rewriting a running packed region. The region is a heap block
 * of exactly its size, so AddressSanitizer reports any access past it.
 */
struct hostile {
	struct vb_inflight_tracker t;
	struct vb_inflight_packed *p;
	struct vb_vring vr;
	int entry;		/* a 2-descriptor chain (id 5), fetched */
};

static void hostile_start(struct hostile *h)
{
	size_t size = vb_inflight_packed_min_size(PQ);
	uint16_t head, ndesc;

	h->p = calloc(1, size);
	if (!h->p)
		abort();
	memset(ring, 0, sizeof(ring));
	ring_start(&h->vr, 0x80008000u);
	vb_inflight_start_packed(&h->t, h->p, size, &h->vr, 0);
	make_avail(&h->vr, 0, 5, VRING_DESC_F_NEXT);
	make_avail(&h->vr, 1, 5, VRING_DESC_F_WRITE);
	vb_vring_pop_head(&h->vr, &head, &ndesc);
	h->entry = vb_inflight_fetch_packed(&h->t, &h->vr);
}

/* Makes a chain of len descriptors (id 6) available after the first one and fetches it. */
static int hostile_fetch(struct hostile *h, uint16_t len)
{
	uint16_t head, ndesc;

	for (uint16_t i = 0; i < len; i++)
		make_avail(&h->vr, 2 + i, 6, i + 1 < len ? VRING_DESC_F_NEXT : VRING_DESC_F_WRITE);
	vb_vring_pop_head(&h->vr, &head, &ndesc);
	return vb_inflight_fetch_packed(&h->t, &h->vr);
}

static int hostile_chain(struct hostile *h, uint16_t entry)
{
	const struct vring_packed_desc *descs;
	uint16_t count, id;

	return vb_inflight_chain_packed(&h->t, entry, &descs, &count, &id);
}

static int hostile_complete(struct hostile *h)
{
	return vb_inflight_complete_packed(&h->t, h->entry, 2, true);
}

static void hostile_end(struct hostile *h)
{
	vb_inflight_stop(&h->t);
	free(h->p);
}

static void test_packed_hostile(void)
{
	struct hostile h;
	uint16_t free_head;

	hostile_start(&h);
	h.p->old_free_head = PQ;
	ok(h.entry == 0 && hostile_fetch(&h, 1) == -EINVAL,
	   "packed, rewritten while running: a free list head past the ring is refused by fetch");
	hostile_end(&h);

	hostile_start(&h);
	h.p->desc[3].next = 0x7fff;
	ok(hostile_fetch(&h, 3) == -EINVAL,
	   "packed, rewritten while running: a free list link out of the ring is refused by fetch");
	hostile_end(&h);

	hostile_start(&h);
	h.p->desc[h.entry].num = PQ + 1;
	ok(hostile_chain(&h, h.entry) == -EINVAL,
	   "packed, rewritten while running: a descriptor count above the ring is refused");
	hostile_end(&h);

	hostile_start(&h);
	h.p->desc[h.entry].next = PQ;
	ok(hostile_chain(&h, h.entry) == -EINVAL,
	   "packed, rewritten while running: a chain link out of the ring is refused");
	hostile_end(&h);

	hostile_start(&h);
	h.p->desc[h.entry].last = 3;
	ok(hostile_chain(&h, h.entry) == -EINVAL,
	   "packed, rewritten while running: a chain that does not end at its last entry is refused");
	hostile_end(&h);

	hostile_start(&h);
	ok(hostile_chain(&h, PQ) == -EINVAL && vb_inflight_complete_packed(&h.t, PQ, 2, false) == -EINVAL,
	   "packed: an entry outside the ring is refused");
	hostile_end(&h);

	hostile_start(&h);
	free_head = h.p->free_head;
	h.p->desc[h.entry].last = PQ;
	ok(hostile_complete(&h) == -EINVAL && h.p->free_head == free_head && h.p->used_idx == 0,
	   "packed, rewritten while running: a last entry out of the ring is refused by complete, which records nothing");
	hostile_end(&h);

	hostile_start(&h);
	h.p->free_head = PQ + 1;
	ok(hostile_complete(&h) == -EINVAL,
	   "packed, rewritten while running: a free list head above the ring is refused by complete");
	hostile_end(&h);

	/* Between complete and published the region's current state is rewritten. */
	hostile_start(&h);
	hostile_complete(&h);
	h.p->free_head = 0xffff;
	h.p->used_idx = 0xffff;
	h.p->used_wrap_counter = 7;
	vb_inflight_published_packed(&h.t, h.entry);
	ok(h.p->old_free_head == h.entry && h.p->old_used_idx == 2 && h.p->old_used_wrap_counter == 1,
	   "packed, rewritten while running: publishing commits what complete recorded, not the rewritten fields");
	hostile_end(&h);
}

/* A front-end rewriting the batch list of a running split region: only a restart follows it, after checks. */
static void test_split_hostile(void)
{
	struct vb_inflight_tracker t;
	struct vb_inflight_split *q = new_region(1, QSZ);
	uint16_t avail;

	vb_inflight_start(&t, q, region.stride, QSZ, 0, 0, &avail);
	vb_inflight_fetch(&t, 2);
	vb_inflight_fetch(&t, 4);
	q->last_batch_head = 0xffff;
	vb_inflight_complete(&t, 2);
	vb_inflight_complete(&t, 4);
	q->desc[4].next = QSZ;
	vb_inflight_stop(&t);
	ok(vb_inflight_start(&t, q, region.stride, QSZ, 0, 2, &avail) == -EINVAL,
	   "split, rewritten while running: a batch list link out of the ring is refused on restart");
	vb_inflight_unmap(&region);
}

int main(void)
{
	struct vb_inflight_tracker t;
	struct vb_inflight_split *q;
	uint16_t avail;
	uint64_t size;
	int fd;

	vb_log_threshold = VB_LOG_ERROR;

	fd = vb_inflight_create(2, QSZ, false, &size);
	ok(fd >= 0 && size == 2 * vb_inflight_split_stride(QSZ) && size % 64 == 0,
	   "created region: 2 queues at a 64-byte aligned stride");
	ok(vb_inflight_map(&region, fd, size, 0, 2, QSZ, false) == 0 && vb_inflight_queue(&region, 1) &&
	   !vb_inflight_queue(&region, 2), "mapped; queue 2 is outside it");
	close(fd);

	/* Other implementations' strides: yc-libvhost-server packs regions tightly. */
	fd = vb_inflight_create(1, 64, false, &size);
	ok(vb_inflight_map(&region, fd, 2 * (16 + 16 * 32), 0, 2, 32, false) == 0 &&
	   region.stride == 16 + 16 * 32, "a tightly packed foreign region is accepted");
	ok(vb_inflight_map(&region, fd, 2 * (16 + 16 * 32) - 16, 0, 2, 32, false) < 0,
	   "a stride below the minimum is refused");
	ok(vb_inflight_map(&region, fd, 1000, 0, 3, 16, false) < 0, "a size not divisible by the queues is refused");
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

	test_packed();
	test_packed_hostile();
	test_split_hostile();
	return tap_done();
}
