/* Split virtqueue: fetching descriptor chains from an untrusted guest and publishing used entries. */
#include "virtqueue.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* Memory shared with the guest is read once through these, never re-read after checks. */
#define LOAD_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define LOAD_ACQUIRE(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define STORE_RELEASE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

size_t vb_vring_desc_size(uint16_t num)
{
	return sizeof(struct vring_desc) * num;
}

size_t vb_vring_avail_size(uint16_t num)
{
	/* flags, idx, ring[num], used_event */
	return sizeof(uint16_t) * (3 + num);
}

size_t vb_vring_used_size(uint16_t num)
{
	/* flags, idx, ring[num], avail_event */
	return sizeof(uint16_t) * 3 + sizeof(struct vring_used_elem) * num;
}

static uint16_t *avail_used_event(struct vb_vring *vr)
{
	return &vr->avail->ring[vr->num];
}

static uint16_t *used_avail_event(struct vb_vring *vr)
{
	return (uint16_t *)((uint8_t *)vr->used + offsetof(struct vring_used, ring) +
			    sizeof(struct vring_used_elem) * vr->num);
}

void vb_vring_start(struct vb_vring *vr, uint16_t num, bool event_idx, void *desc,
		    void *avail, void *used, uint16_t last_avail_idx)
{
	vr->num = num;
	vr->event_idx = event_idx;
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->last_avail_idx = last_avail_idx;
	vr->used_idx = LOAD_ONCE(vr->used->idx);
	vr->signalled_used_valid = false;
}

static void read_desc(const struct vring_desc *table, uint16_t i, struct vring_desc *out)
{
	out->addr = LOAD_ONCE(table[i].addr);
	out->len = LOAD_ONCE(table[i].len);
	out->flags = LOAD_ONCE(table[i].flags);
	out->next = LOAD_ONCE(table[i].next);
}

/*
 * Walks one chain. Structural errors (loops, writable-then-readable,
 * indirect misuse) make the whole chain unusable; a descriptor whose buffer
 * is outside guest memory is only recorded in bad_addr so the request can be
 * failed with a status.
 */
enum vb_pop_result vb_vring_read_chain(const struct vb_vring *vr, const struct vb_mem_table *mem,
				       uint16_t head, struct vb_chain *c)
{
	const struct vring_desc *table = vr->desc;
	uint32_t table_num = vr->num;
	uint32_t seen = 0, idx = head;
	bool indirect = false, writable = false;
	struct vring_desc d;

	c->head = head;
	c->niov = c->nout = 0;
	c->bad_addr = false;
	c->status_ok = false;
	for (;;) {
		if (idx >= table_num || ++seen > table_num)
			return VB_POP_BAD_CHAIN;
		read_desc(table, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VB_QUEUE_SIZE_MAX)
				return VB_POP_BAD_CHAIN;
			table = vb_mem_gpa_to_hva(mem, d.addr, d.len);
			if (!table)
				return VB_POP_BAD_CHAIN;
			table_num = d.len / sizeof(struct vring_desc);
			indirect = true;
			idx = 0;
			seen = 0;
			continue;
		}
		if (d.flags & VRING_DESC_F_WRITE)
			writable = true;
		else if (writable)
			return VB_POP_BAD_CHAIN;

		if (d.len > 0) {
			unsigned int before = c->niov;
			int ret = vb_mem_gpa_to_iov(mem, d.addr, d.len, c->iov, &c->niov,
						    VB_CHAIN_IOV_MAX);

			if (ret == -E2BIG)
				return VB_POP_BAD_CHAIN;
			if (ret < 0) {
				c->niov = before;
				c->bad_addr = true;
			}
			if (!writable)
				c->nout = c->niov;
			c->status_ok = writable && ret == 0;
		} else if (writable) {
			/* An empty last descriptor leaves no room for the status. */
			c->status_ok = false;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return VB_POP_OK;
		idx = d.next;
	}
}

enum vb_pop_result vb_vring_pop_head(struct vb_vring *vr, uint16_t *head)
{
	uint16_t avail_idx = LOAD_ACQUIRE(vr->avail->idx);
	uint16_t pending = avail_idx - vr->last_avail_idx;

	if (pending == 0)
		return VB_POP_EMPTY;
	if (pending > vr->num)
		return VB_POP_BROKEN;
	*head = LOAD_ONCE(vr->avail->ring[vr->last_avail_idx & (vr->num - 1)]);
	if (*head >= vr->num)
		return VB_POP_BROKEN;
	vr->last_avail_idx++;
	return VB_POP_OK;
}

void vb_vring_push_used(struct vb_vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->used_idx & (vr->num - 1)];

	STORE_ONCE(e->id, head);
	STORE_ONCE(e->len, len);
	vr->used_idx++;
}

void vb_vring_publish_used(struct vb_vring *vr)
{
	/* Entries (and the buffers they describe) before the index. */
	STORE_RELEASE(vr->used->idx, vr->used_idx);
}

bool vb_vring_need_notify(struct vb_vring *vr)
{
	uint16_t old = vr->signalled_used, new = vr->used_idx;
	bool valid = vr->signalled_used_valid;

	/* The guest's suppression flags are read after used->idx is visible. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vr->signalled_used = new;
	vr->signalled_used_valid = true;
	if (!vr->event_idx)
		return !(LOAD_ONCE(vr->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return vring_need_event(LOAD_ONCE(*avail_used_event(vr)), new, old);
}

void vb_vring_disable_kicks(struct vb_vring *vr)
{
	if (!vr->event_idx)
		STORE_ONCE(vr->used->flags, VRING_USED_F_NO_NOTIFY);
}

bool vb_vring_enable_kicks(struct vb_vring *vr)
{
	if (vr->event_idx)
		STORE_ONCE(*used_avail_event(vr), vr->last_avail_idx);
	else
		STORE_ONCE(vr->used->flags, 0);
	/* Publish before re-reading avail->idx, or a kick could be lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return LOAD_ACQUIRE(vr->avail->idx) != vr->last_avail_idx;
}
