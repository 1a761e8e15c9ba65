/* Virtqueues (split and packed): fetching descriptor chains from an untrusted guest and publishing used entries. */
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

size_t vb_vring_avail_size(uint16_t num, bool packed)
{
	if (packed)
		return sizeof(struct vring_packed_desc_event);
	/* flags, idx, ring[num], used_event */
	return sizeof(uint16_t) * (3 + num);
}

size_t vb_vring_used_size(uint16_t num, bool packed)
{
	if (packed)
		return sizeof(struct vring_packed_desc_event);
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

#define PACKED_WRAP (1u << 15)

static void *translate(const struct vb_mem_table *mem, bool uva, uint64_t addr, size_t len,
		       bool write)
{
	return uva ? vb_mem_uva_to_hva(mem, addr, len, write) :
		     vb_mem_gpa_to_hva(mem, addr, len, write);
}

static bool areas_overlap(const void *a, size_t alen, const void *b, size_t blen)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y + blen && y < x + alen;
}

const char *vb_vring_translate(const struct vb_mem_table *mem, const struct vb_ring_addr *a,
			       uint16_t num, bool packed, struct vb_ring_areas *out)
{
	uintptr_t avail_align = packed ? 3 : 1;
	size_t used_size = vb_vring_used_size(num, packed);

	if ((a->desc & 15) || (a->avail & avail_align) || (a->used & 3))
		return "ring addresses are misaligned";
	out->desc = translate(mem, a->uva, a->desc, vb_vring_desc_size(num), false);
	out->avail = translate(mem, a->uva, a->avail, vb_vring_avail_size(num, packed), false);
	out->used = translate(mem, a->uva, a->used, used_size, false);
	if (!out->desc || !out->avail || !out->used)
		return "ring addresses are outside guest memory";
	/* We store used entries (and a packed ring's descriptors) there. */
	if (!translate(mem, a->uva, a->used, used_size, true) ||
	    (packed && !translate(mem, a->uva, a->desc, vb_vring_desc_size(num), true)))
		return "the device's ring area is in read-only memory";
	/* A region mapped at an odd offset can misalign what the front-end aligned. */
	if (((uintptr_t)out->desc & 15) || ((uintptr_t)out->avail & avail_align) ||
	    ((uintptr_t)out->used & 3))
		return "ring areas are misaligned in guest memory";
	/* Our used entries would rewrite what the guest publishes, and we would read them back. */
	if (areas_overlap(out->used, used_size, out->desc, vb_vring_desc_size(num)) ||
	    areas_overlap(out->used, used_size, out->avail, vb_vring_avail_size(num, packed)))
		return "the used ring overlaps the descriptor table or the available ring";
	return NULL;
}

void vb_vring_relocate(struct vb_vring *vr, const struct vb_ring_areas *areas)
{
	if (vr->packed) {
		vr->pdesc = areas->desc;
		vr->driver_event = areas->avail;
		vr->device_event = areas->used;
	} else {
		vr->desc = areas->desc;
		vr->avail = areas->avail;
		vr->used = areas->used;
	}
}

bool vb_vring_start(struct vb_vring *vr, uint16_t num, bool event_idx, bool packed, void *desc,
		    void *avail, void *used, uint32_t base)
{
	memset(vr, 0, sizeof(*vr));
	vr->num = num;
	vr->event_idx = event_idx;
	vr->packed = packed;
	vb_vring_relocate(vr, &(struct vb_ring_areas){ desc, avail, used });
	if (packed) {
		vr->last_avail_idx = base & (PACKED_WRAP - 1);
		vr->avail_wrap = base & PACKED_WRAP;
		vr->used_idx = (base >> 16) & (PACKED_WRAP - 1);
		vr->used_wrap = (base >> 16) & PACKED_WRAP;
		return vr->last_avail_idx < num && vr->used_idx < num;
	}
	if (base > UINT16_MAX)
		return false;
	vr->last_avail_idx = base;
	vr->used_idx = LOAD_ONCE(vr->used->idx);
	return true;
}

uint32_t vb_vring_base(const struct vb_vring *vr)
{
	if (!vr->packed)
		return vr->last_avail_idx;
	return (vr->last_avail_idx | (vr->avail_wrap ? PACKED_WRAP : 0)) |
	       (uint32_t)(vr->used_idx | (vr->used_wrap ? PACKED_WRAP : 0)) << 16;
}

/* Appends one buffer of a chain, keeping device-readable buffers before writable ones. */
static enum vb_pop_result add_buffer(struct vb_chain *c, const struct vb_mem_table *mem,
				     uint64_t addr, uint32_t len, bool writable, bool *seen_writable)
{
	if (writable)
		*seen_writable = true;
	else if (*seen_writable)
		return VB_POP_BAD_CHAIN;
	if (len > 0) {
		unsigned int before = c->niov;
		/* The device stores into writable buffers: a read-only region makes them bad. */
		int ret = vb_mem_gpa_to_iov(mem, addr, len, writable, c->iov, &c->niov,
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
	return VB_POP_OK;
}

/*
 * One copy of a descriptor. Indirect tables may sit at any guest address, so
 * the copy makes no alignment assumption.
 */
static void read_desc(const struct vring_desc *table, uint32_t i, struct vring_desc *out)
{
	memcpy(out, (const uint8_t *)table + (size_t)i * sizeof(*out), sizeof(*out));
}

/*
 * Walks one chain. Structural errors (loops, writable-then-readable,
 * indirect misuse) make the whole chain unusable; a descriptor whose buffer
 * is outside guest memory is only recorded in bad_addr so the request can be
 * failed with a status.
 */
static enum vb_pop_result read_chain_split(const struct vb_vring *vr, const struct vb_mem_table *mem,
					   uint16_t head, struct vb_chain *c)
{
	const struct vring_desc *table = vr->desc;
	uint32_t table_num = vr->num;
	uint32_t seen = 0, idx = head;
	bool indirect = false, writable = false;
	struct vring_desc d;

	for (;;) {
		if (idx >= table_num || ++seen > table_num)
			return VB_POP_BAD_CHAIN;
		read_desc(table, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > VB_QUEUE_SIZE_MAX)
				return VB_POP_BAD_CHAIN;
			table = vb_mem_gpa_to_hva(mem, d.addr, d.len, false);
			if (!table)
				return VB_POP_BAD_CHAIN;
			table_num = d.len / sizeof(struct vring_desc);
			indirect = true;
			idx = 0;
			seen = 0;
			continue;
		}
		if (add_buffer(c, mem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, &writable) !=
		    VB_POP_OK)
			return VB_POP_BAD_CHAIN;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return VB_POP_OK;
		idx = d.next;
	}
}

bool vb_vring_packed_avail(uint16_t flags, bool wrap)
{
	bool avail = flags & (1u << VRING_PACKED_DESC_F_AVAIL);
	bool used = flags & (1u << VRING_PACKED_DESC_F_USED);

	return avail == wrap && used != wrap;
}

static uint16_t packed_next(const struct vb_vring *vr, uint16_t slot)
{
	return slot + 1 == vr->num ? 0 : slot + 1;
}

void vb_vring_packed_advance(uint16_t num, uint16_t *idx, bool *wrap, uint16_t n)
{
	uint32_t next = (uint32_t)*idx + n;

	if (next >= num) {
		next -= num;
		*wrap = !*wrap;
	}
	*idx = next;
}

/*
 * A packed chain's buffer id is in its last descriptor, so the chain is
 * scanned for its length first; vb_vring_read_chain checks it again.
 */
static enum vb_pop_result pop_head_packed(struct vb_vring *vr, uint16_t *head, uint16_t *ndesc)
{
	uint16_t slot = vr->last_avail_idx, count = 0, flags;

	flags = LOAD_ACQUIRE(vr->pdesc[slot].flags);
	if (!vb_vring_packed_avail(flags, vr->avail_wrap))
		return VB_POP_EMPTY;
	for (;;) {
		if (++count > vr->num)
			return VB_POP_BROKEN;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		slot = packed_next(vr, slot);
		flags = LOAD_ONCE(vr->pdesc[slot].flags);
	}
	*head = LOAD_ONCE(vr->pdesc[slot].id);
	if (*head >= vr->num)
		return VB_POP_BROKEN;
	*ndesc = count;
	vr->pop_slot = vr->last_avail_idx;
	vr->pop_count = count;
	vb_vring_packed_advance(vr->num, &vr->last_avail_idx, &vr->avail_wrap, count);
	return VB_POP_OK;
}

static enum vb_pop_result read_indirect_packed(const struct vb_mem_table *mem, uint64_t addr,
					       uint32_t len, struct vb_chain *c, bool *writable)
{
	const struct vring_packed_desc *table;
	uint32_t n = len / sizeof(*table);

	if (len == 0 || len % sizeof(*table) || n > VB_QUEUE_SIZE_MAX)
		return VB_POP_BAD_CHAIN;
	table = vb_mem_gpa_to_hva(mem, addr, len, false);
	if (!table)
		return VB_POP_BAD_CHAIN;
	for (uint32_t i = 0; i < n; i++) {
		struct vring_packed_desc d;

		/* Copied once, whatever the table's alignment. */
		memcpy(&d, (const uint8_t *)table + (size_t)i * sizeof(d), sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT ||
		    add_buffer(c, mem, d.addr, d.len, d.flags & VRING_DESC_F_WRITE, writable) !=
			    VB_POP_OK)
			return VB_POP_BAD_CHAIN;
	}
	return VB_POP_OK;
}

static void chain_reset(struct vb_chain *c, uint16_t head)
{
	c->head = head;
	c->niov = c->nout = 0;
	c->bad_addr = false;
	c->status_ok = false;
}

enum vb_pop_result vb_vring_read_packed(const struct vring_packed_desc *descs, uint16_t ring_num,
					uint16_t first, uint16_t count, uint16_t head,
					const struct vb_mem_table *mem, struct vb_chain *c)
{
	uint16_t slot = first;
	bool writable = false;

	chain_reset(c, head);
	if (count == 0 || count > ring_num || first >= ring_num)
		return VB_POP_BAD_CHAIN;
	for (uint16_t i = 0; i < count; i++, slot = slot + 1 == ring_num ? 0 : slot + 1) {
		const struct vring_packed_desc *d = &descs[slot];
		uint64_t addr = LOAD_ONCE(d->addr);
		uint32_t len = LOAD_ONCE(d->len);
		uint16_t flags = LOAD_ONCE(d->flags);
		bool last = i + 1 == count;

		/* The guest may have rewritten the chain since it was scanned. */
		if (!!(flags & VRING_DESC_F_NEXT) == last)
			return VB_POP_BAD_CHAIN;
		if (last && LOAD_ONCE(d->id) != head)
			return VB_POP_BAD_CHAIN;
		if (flags & VRING_DESC_F_INDIRECT) {
			if (count != 1)
				return VB_POP_BAD_CHAIN;
			return read_indirect_packed(mem, addr, len, c, &writable);
		}
		if (add_buffer(c, mem, addr, len, flags & VRING_DESC_F_WRITE, &writable) !=
		    VB_POP_OK)
			return VB_POP_BAD_CHAIN;
	}
	return VB_POP_OK;
}

enum vb_pop_result vb_vring_read_chain(const struct vb_vring *vr, const struct vb_mem_table *mem,
				       uint16_t head, struct vb_chain *c)
{
	if (vr->packed)
		return vb_vring_read_packed(vr->pdesc, vr->num, vr->pop_slot, vr->pop_count, head,
					    mem, c);
	chain_reset(c, head);
	return read_chain_split(vr, mem, head, c);
}

enum vb_pop_result vb_vring_pop_head(struct vb_vring *vr, uint16_t *head, uint16_t *ndesc)
{
	uint16_t avail_idx;

	if (vr->packed)
		return pop_head_packed(vr, head, ndesc);
	*ndesc = 1;
	avail_idx = LOAD_ACQUIRE(vr->avail->idx);
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

void vb_vring_push_used(struct vb_vring *vr, uint16_t head, uint16_t ndesc, uint32_t len)
{
	struct vring_used_elem *e;

	if (vr->packed) {
		struct vring_packed_desc *d = &vr->pdesc[vr->used_idx];
		uint16_t flags = vr->used_wrap ? (1u << VRING_PACKED_DESC_F_AVAIL) |
						 (1u << VRING_PACKED_DESC_F_USED) : 0;

		STORE_ONCE(d->id, head);
		STORE_ONCE(d->len, len);
		/* The flags make the element used: id and len must be visible first. */
		STORE_RELEASE(d->flags, flags);
		vb_vring_packed_advance(vr->num, &vr->used_idx, &vr->used_wrap, ndesc);
		return;
	}
	e = &vr->used->ring[vr->used_idx & (vr->num - 1)];

	STORE_ONCE(e->id, head);
	STORE_ONCE(e->len, len);
	vr->used_idx++;
}

void vb_vring_publish_used(struct vb_vring *vr)
{
	/* Entries (and the buffers they describe) before the index; packed ones are out already. */
	if (!vr->packed)
		STORE_RELEASE(vr->used->idx, vr->used_idx);
}

/* Packed rings: whether the driver's event suppression asks for an interrupt. */
static bool packed_need_notify(struct vb_vring *vr, uint16_t old, uint16_t new, bool valid)
{
	uint16_t flags = LOAD_ONCE(vr->driver_event->flags);
	uint16_t off_wrap, off;

	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vr->event_idx || !valid)
		return true;
	off_wrap = LOAD_ONCE(vr->driver_event->off_wrap);
	off = off_wrap & (PACKED_WRAP - 1);
	/* An event slot of the previous lap counts one ring length back. */
	if (!!(off_wrap & PACKED_WRAP) != vr->used_wrap)
		off -= vr->num;
	return vring_need_event(off, new, old);
}

bool vb_vring_need_notify(struct vb_vring *vr)
{
	uint16_t old = vr->signalled_used, new = vr->used_idx;
	bool valid = vr->signalled_used_valid;

	/* The guest's suppression flags are read after used->idx is visible. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vr->signalled_used = new;
	vr->signalled_used_valid = true;
	if (vr->packed)
		return packed_need_notify(vr, old, new, valid);
	if (!vr->event_idx)
		return !(LOAD_ONCE(vr->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	return vring_need_event(LOAD_ONCE(*avail_used_event(vr)), new, old);
}

void vb_vring_disable_kicks(struct vb_vring *vr)
{
	if (vr->packed)
		STORE_ONCE(vr->device_event->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	else if (!vr->event_idx)
		STORE_ONCE(vr->used->flags, VRING_USED_F_NO_NOTIFY);
}

bool vb_vring_avail_pending(const struct vb_vring *vr)
{
	if (vr->packed)
		return vb_vring_packed_avail(LOAD_ACQUIRE(vr->pdesc[vr->last_avail_idx].flags),
					     vr->avail_wrap);
	return LOAD_ACQUIRE(vr->avail->idx) != vr->last_avail_idx;
}

bool vb_vring_enable_kicks(struct vb_vring *vr)
{
	if (vr->packed)
		STORE_ONCE(vr->device_event->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	else if (vr->event_idx)
		STORE_ONCE(*used_avail_event(vr), vr->last_avail_idx);
	else
		STORE_ONCE(vr->used->flags, 0);
	/* Publish before re-reading the ring, or a kick could be lost. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vb_vring_avail_pending(vr);
}
