/* Front-end virtio-blk requests: preparation, chain building (direct or indirect), submission and completion. */
#include <errno.h>
#include <string.h>

#include "vu_internal.h"

/* Layout of the request's own guest memory block. */
#define HDR_OFF 0
#define DWZ_OFF 16
#define STATUS_OFF 32
#define ITABLE_OFF 64
#define ITABLE_ENTRIES (VU_BLK_MAX_SEGS + 2)
#define REQ_MEM (ITABLE_OFF + ITABLE_ENTRIES * sizeof(struct vring_desc))

int vu_blk_req_init(struct vu_dev *dev, struct vu_blk_req *req)
{
	uint8_t *mem;
	uint64_t gpa;

	memset(req, 0, sizeof(*req));
	mem = vu_mem_alloc(dev, REQ_MEM, 64);
	if (!mem)
		return -ENOMEM;
	gpa = vu_ptr_to_gpa(dev, mem);
	req->dev = dev;
	req->hdr = (struct virtio_blk_outhdr *)(mem + HDR_OFF);
	req->dwz = (struct virtio_blk_discard_write_zeroes *)(mem + DWZ_OFF);
	req->status_ptr = mem + STATUS_OFF;
	req->itable = (struct vring_desc *)(mem + ITABLE_OFF);
	req->hdr_gpa = gpa + HDR_OFF;
	req->dwz_gpa = gpa + DWZ_OFF;
	req->status_gpa = gpa + STATUS_OFF;
	req->itable_gpa = gpa + ITABLE_OFF;
	return 0;
}

void vu_blk_req_fini(struct vu_blk_req *req)
{
	if (req->dev && req->hdr)
		vu_mem_free(req->dev, req->hdr);
	req->hdr = NULL;
}

void vu_blk_prep(struct vu_blk_req *req, uint32_t type, uint64_t sector,
		 const struct vu_seg *segs, unsigned nsegs, bool data_write)
{
	if (nsegs > VU_BLK_MAX_SEGS)
		nsegs = VU_BLK_MAX_SEGS;
	req->type = type;
	req->ioprio = 0;
	req->sector = sector;
	req->nsegs = nsegs;
	if (nsegs)
		memcpy(req->segs, segs, nsegs * sizeof(*segs));
	req->data_write = data_write;
	req->flags = 0;
	req->done = false;
	req->status = VU_STATUS_UNSET;
	req->used_len = 0;
}

static struct vu_seg seg_of(struct vu_blk_req *req, const void *buf, uint32_t len)
{
	struct vu_seg s = { .gpa = vu_ptr_to_gpa(req->dev, buf), .len = len };

	return s;
}

void vu_blk_prep_read(struct vu_blk_req *req, uint64_t sector, void *buf, uint32_t len)
{
	struct vu_seg s = seg_of(req, buf, len);

	vu_blk_prep(req, VIRTIO_BLK_T_IN, sector, &s, 1, true);
}

void vu_blk_prep_write(struct vu_blk_req *req, uint64_t sector, const void *buf,
		       uint32_t len)
{
	struct vu_seg s = seg_of(req, buf, len);

	vu_blk_prep(req, VIRTIO_BLK_T_OUT, sector, &s, 1, false);
}

void vu_blk_prep_flush(struct vu_blk_req *req)
{
	vu_blk_prep(req, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
}

void vu_blk_prep_get_id(struct vu_blk_req *req, void *buf)
{
	struct vu_seg s = seg_of(req, buf, VIRTIO_BLK_ID_BYTES);

	vu_blk_prep(req, VIRTIO_BLK_T_GET_ID, 0, &s, 1, true);
}

static void prep_dwz(struct vu_blk_req *req, uint32_t type, uint64_t sector,
		     uint32_t nsectors, uint32_t flags)
{
	struct vu_seg s = { .gpa = req->dwz_gpa, .len = sizeof(*req->dwz) };

	req->dwz->sector = sector;
	req->dwz->num_sectors = nsectors;
	req->dwz->flags = flags;
	vu_blk_prep(req, type, 0, &s, 1, false);
}

void vu_blk_prep_discard(struct vu_blk_req *req, uint64_t sector, uint32_t nsectors)
{
	prep_dwz(req, VIRTIO_BLK_T_DISCARD, sector, nsectors, 0);
}

void vu_blk_prep_write_zeroes(struct vu_blk_req *req, uint64_t sector,
			      uint32_t nsectors, bool unmap)
{
	prep_dwz(req, VIRTIO_BLK_T_WRITE_ZEROES, sector, nsectors,
		 unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0);
}

/* Fills table[0..n) with header, data and status descriptors; links them
 * through next_ids (ring ids, or 0..n-1 for an indirect table). */
static void fill_chain(struct vu_blk_req *req, struct vring_desc *const *slots,
		       const uint16_t *next_ids, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vring_desc *d = slots[i];

		if (i == 0) {
			d->addr = req->hdr_gpa;
			d->len = sizeof(*req->hdr);
			d->flags = 0;
		} else if (i == n - 1) {
			d->addr = req->status_gpa;
			d->len = 1;
			d->flags = VRING_DESC_F_WRITE;
		} else {
			d->addr = req->segs[i - 1].gpa;
			d->len = req->segs[i - 1].len;
			d->flags = req->data_write ? VRING_DESC_F_WRITE : 0;
		}
		if (i + 1 < n) {
			d->flags |= VRING_DESC_F_NEXT;
			d->next = next_ids[i + 1];
		} else {
			d->next = 0;
		}
	}
}

int vu_blk_enqueue(struct vu_vq *vq, struct vu_blk_req *req)
{
	unsigned n = req->nsegs + 2;
	struct vring_desc *slots[ITABLE_ENTRIES];
	uint16_t ids[ITABLE_ENTRIES];
	int r;

	if (req->in_flight)
		return vu_fail(vq->dev, EBUSY, "request already in flight");
	req->hdr->type = req->type;
	req->hdr->ioprio = req->ioprio;
	req->hdr->sector = req->sector;
	*(volatile uint8_t *)req->status_ptr = VU_STATUS_UNSET;
	req->done = false;
	req->status = VU_STATUS_UNSET;
	req->used_len = 0;

	if (req->flags & VU_REQ_INDIRECT) {
		uint16_t head;

		for (unsigned i = 0; i < n; i++) {
			slots[i] = &req->itable[i];
			ids[i] = i;
		}
		fill_chain(req, slots, ids, n);
		r = vu_vq_alloc_chain(vq, 1, &head);
		if (r < 0)
			return r;
		vq->desc[head].addr = req->itable_gpa;
		vq->desc[head].len = n * sizeof(struct vring_desc);
		vq->desc[head].flags = VRING_DESC_F_INDIRECT;
		vq->desc[head].next = 0;
		ids[0] = head;
	} else {
		r = vu_vq_alloc_chain(vq, n, ids);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < n; i++)
			slots[i] = &vq->desc[ids[i]];
		fill_chain(req, slots, ids, n);
	}
	vu_blk_publish_raw(vq, req, ids[0]);
	return 0;
}

void vu_blk_publish_raw(struct vu_vq *vq, struct vu_blk_req *req, uint16_t head)
{
	req->vq = vq;
	req->head = head;
	req->in_flight = true;
	req->done = false;
	vu_vq_publish(vq, head, req);
}

int vu_blk_submit(struct vu_vq *vq, struct vu_blk_req *req)
{
	int r = vu_blk_enqueue(vq, req);

	if (r < 0)
		return r;
	r = vu_vq_notify(vq);
	return r < 0 ? r : 0;
}

unsigned vu_blk_reap(struct vu_vq *vq)
{
	struct vu_used u[64];
	unsigned total = 0, n;

	while ((n = vu_vq_reap(vq, u, 64)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			struct vu_blk_req *req = u[i].cookie;

			if (!req)
				continue;
			req->used_len = u[i].len;
			req->status = *(volatile uint8_t *)req->status_ptr;
			req->in_flight = false;
			req->done = true;
			total++;
		}
	}
	return total;
}

int vu_blk_wait(struct vu_vq *vq, struct vu_blk_req *req, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	for (;;) {
		vu_blk_reap(vq);
		if (req->done)
			return 0;
		int left = timeout_ms < 0 ? -1 : vu_ms_left(deadline);
		int r = vu_vq_wait(vq, left);

		if (r < 0)
			return r;
		if (r == 0) {
			vu_blk_reap(vq);
			if (req->done)
				return 0;
			return vu_fail(vq->dev, ETIMEDOUT,
				       "queue %u: request (type %u) not completed in %d ms",
				       vq->index, req->type, timeout_ms);
		}
	}
}

int vu_blk_wait_all(struct vu_dev *dev, struct vu_blk_req **reqs, unsigned n,
		    int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	for (;;) {
		unsigned missing = 0;

		for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
			if (dev->vqs[i])
				vu_blk_reap(dev->vqs[i]);
		for (unsigned i = 0; i < n; i++)
			if (!reqs[i]->done)
				missing++;
		if (missing == 0)
			return 0;
		if (timeout_ms >= 0 && vu_ms_left(deadline) == 0)
			return vu_fail(dev, ETIMEDOUT, "%u of %u requests not completed in %d ms",
				       missing, n, timeout_ms);
		int r = vu_dev_wait(dev, timeout_ms < 0 ? -1 : vu_ms_left(deadline));

		if (r < 0)
			return r;
	}
}

int vu_blk_run(struct vu_vq *vq, struct vu_blk_req *req, int timeout_ms)
{
	int r = vu_blk_submit(vq, req);

	if (r < 0)
		return r;
	r = vu_blk_wait(vq, req, timeout_ms);
	return r < 0 ? r : req->status;
}
