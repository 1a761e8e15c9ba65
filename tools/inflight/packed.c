/* Decodes a packed-ring queue region (struct vb_inflight_packed) and checks its invariants. */
#include "inflight_tool.h"

#include <stdlib.h>
#include <string.h>

/*
 * The protocol, as vbridge (userspace/virtio/inflight.c) and DPDK run it:
 *
 * fetch: the chain's descriptors are copied into entries taken from the free
 *   list at old_free_head (== free_head); the head entry gets num 0, counter,
 *   inflight 1, then per descriptor last, num + 1, the copy, free_head moves
 *   on; finally old_free_head = free_head.
 * completion: desc[last].next = free_head; free_head = head; used_idx,
 *   used_wrap_counter; the used element goes to the ring; then inflight 0,
 *   old_free_head, old_used_idx, old_used_wrap_counter = the current values.
 * restart: an interrupted completion (used_idx != old_used_idx) is committed
 *   or rolled back, then free_head/used_* = old_*; entries on the free list
 *   are not inflight.
 *
 * The free list ends with next == desc_num: both initialise entry i's next to
 * i + 1, and the list only ever grows at its head. free_head/old_free_head are
 * desc_num when every entry is in use. So desc_num is a valid value for those
 * and for next (the end of the list), never for anything followed further.
 *
 * A daemon may die between any two of those stores, so besides the resting
 * state the checks accept the two interrupted operations, as warnings:
 * - a fetch: old_free_head is itself marked inflight (the head entry is
 *   marked before old_free_head moves). Its num, last and copies may be
 *   partial; a restart rolls it back, since the entries are still on the free
 *   list from old_free_head, and fetches the request from the ring again.
 * - a completion: free_head != old_free_head, free_head being the completed
 *   chain's head whose last entry links to old_free_head; used_idx and the
 *   wrap counter may have moved too.
 */

/* VRING_DESC_F_NEXT, the same bit in split and packed descriptors. */
#define DESC_F_NEXT 1

/* owner[] values besides 0 (neither) and chain k + 1. */
#define OWNER_FREE (-1)
#define OWNER_COMPLETED (-2)	/* the chain of an interrupted completion, no longer inflight */

#define HDR_SIZE offsetof(struct vb_inflight_packed, desc)
#define ENTRY_SIZE sizeof(struct vb_inflight_desc_packed)
#define FIELD(c, i, f) \
	((c)->base + HDR_SIZE + (size_t)(i) * ENTRY_SIZE + offsetof(struct vb_inflight_desc_packed, f))

static uint8_t e_inflight(const struct ctx *c, size_t i) { return region_u8(c->r, FIELD(c, i, inflight)); }
static uint16_t e_next(const struct ctx *c, size_t i) { return region_u16(c->r, FIELD(c, i, next)); }
static uint16_t e_last(const struct ctx *c, size_t i) { return region_u16(c->r, FIELD(c, i, last)); }
static uint16_t e_num(const struct ctx *c, size_t i) { return region_u16(c->r, FIELD(c, i, num)); }
static uint64_t e_counter(const struct ctx *c, size_t i) { return region_u64(c->r, FIELD(c, i, counter)); }
static uint16_t e_id(const struct ctx *c, size_t i) { return region_u16(c->r, FIELD(c, i, id)); }
static uint16_t e_flags(const struct ctx *c, size_t i) { return region_u16(c->r, FIELD(c, i, flags)); }
static uint32_t e_len(const struct ctx *c, size_t i) { return region_u32(c->r, FIELD(c, i, len)); }
static uint64_t e_addr(const struct ctx *c, size_t i) { return region_u64(c->r, FIELD(c, i, addr)); }

void read_packed_header(const struct region *r, size_t base, struct queue_report *q)
{
	q->packed = true;
	q->features = region_u64(r, base + offsetof(struct vb_inflight_packed, features));
	q->version = region_u16(r, base + offsetof(struct vb_inflight_packed, version));
	q->desc_num = region_u16(r, base + offsetof(struct vb_inflight_packed, desc_num));
	q->free_head = region_u16(r, base + offsetof(struct vb_inflight_packed, free_head));
	q->old_free_head = region_u16(r, base + offsetof(struct vb_inflight_packed, old_free_head));
	q->used_idx = region_u16(r, base + offsetof(struct vb_inflight_packed, used_idx));
	q->old_used_idx = region_u16(r, base + offsetof(struct vb_inflight_packed, old_used_idx));
	q->used_wrap_counter = region_u8(r, base + offsetof(struct vb_inflight_packed, used_wrap_counter));
	q->old_used_wrap_counter =
		region_u8(r, base + offsetof(struct vb_inflight_packed, old_used_wrap_counter));
	q->fetch_entry = -1;
	q->free_entries = -1;
	q->free_entries_old = -1;
	q->chain_distinct = -1;
}

struct walk {
	struct ctx *c;
	uint16_t d;		/* desc_num */
	size_t n;		/* entries readable: desc_num, or fewer if the stride is short */
	int32_t *owner;		/* per entry: 0, OWNER_FREE, or chain k + 1 */
	bool broken;		/* a walk was cut short: the counts mean nothing */
};

static void check_header(struct ctx *c, uint16_t d)
{
	const struct queue_report *q = c->q;

	if (q->free_head > d)
		fail(c, "free_head %u is out of range (desc_num %u)", q->free_head, d);
	if (q->old_free_head > d)
		fail(c, "old_free_head %u is out of range (desc_num %u)", q->old_free_head, d);
	if (q->used_idx >= d)
		fail(c, "used_idx %u is out of range (desc_num %u)", q->used_idx, d);
	if (q->old_used_idx >= d)
		fail(c, "old_used_idx %u is out of range (desc_num %u)", q->old_used_idx, d);
	if (q->used_wrap_counter > 1)
		fail(c, "used_wrap_counter is %u, expected 0 or 1", q->used_wrap_counter);
	if (q->old_used_wrap_counter > 1)
		fail(c, "old_used_wrap_counter is %u, expected 0 or 1", q->old_used_wrap_counter);
}

/* Fields every entry must have in range, head or not, whatever it was used for last. */
static void check_entries(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		uint8_t state = e_inflight(w->c, i);
		uint16_t next = e_next(w->c, i), last = e_last(w->c, i);

		if (state > 1)
			fail(w->c, "entry %zu: inflight byte is %u, expected 0 or 1", i, state);
		if (next > w->d)
			fail(w->c, "entry %zu: next %u is out of range (desc_num %u)", i, next, w->d);
		if (last >= w->d)
			fail(w->c, "entry %zu: last %u is out of range (desc_num %u)", i, last, w->d);
	}
}

/* Marks the free list from old_free_head; returns its length. */
static size_t walk_free_list(struct walk *w)
{
	size_t count = 0;
	size_t e = w->c->q->old_free_head;

	while (e < w->d) {
		if (e >= w->n) {
			/* Past the stride: reported as desc_num not fitting. */
			w->broken = true;
			break;
		}
		if (w->owner[e]) {
			fail(w->c, "free list from old_free_head %u is cyclic: it comes back to entry %zu",
			     w->c->q->old_free_head, e);
			w->broken = true;
			break;
		}
		w->owner[e] = OWNER_FREE;
		count++;
		e = e_next(w->c, e);
	}
	/* An index past desc_num is reported where it is stored. */
	if (e > w->d)
		w->broken = true;
	return count;
}

/* Collects the inflight head entries but the interrupted fetch's, in counter order. */
static bool collect_heads(struct walk *w)
{
	struct queue_report *q = w->c->q;
	size_t marked = 0, copies = 0;

	/* Sized by what is there: a hostile region could otherwise cost many times its size. */
	for (size_t i = 0; i < w->n; i++) {
		if (e_inflight(w->c, i) == 1 && (long)i != q->fetch_entry) {
			marked++;
			copies += e_num(w->c, i);
		}
	}
	/* The chains' entries are disjoint, so they hold at most n copies. */
	q->inflight = calloc(marked ? marked : 1, sizeof(*q->inflight));
	q->copies = calloc(copies < w->n ? copies + 1 : w->n + 1, sizeof(*q->copies));
	if (!q->inflight || !q->copies)
		return false;
	for (size_t i = 0; i < w->n; i++) {
		if (e_inflight(w->c, i) != 1 || (long)i == q->fetch_entry)
			continue;
		q->inflight[q->n_inflight].desc = (uint16_t)i;
		q->inflight[q->n_inflight].counter = e_counter(w->c, i);
		q->n_inflight++;
	}
	qsort(q->inflight, q->n_inflight, sizeof(*q->inflight), by_counter);
	for (size_t i = 0; i < q->n_inflight; i++) {
		const struct inflight_entry *e = &q->inflight[i];

		/* Counters start at 1, so 0 means the fetch was never recorded. */
		if (e->counter == 0)
			fail(w->c, "entry %u: inflight with counter 0", e->desc);
		else if (i > 0 && e->counter == e[-1].counter)
			fail(w->c, "entry %u and entry %u share counter %llu", e[-1].desc, e->desc,
			     (unsigned long long)e->counter);
	}
	return true;
}

/* Walks head k's chain: num entries through next, ending at last, claiming each entry. */
static void walk_chain(struct walk *w, size_t k)
{
	struct queue_report *q = w->c->q;
	struct inflight_entry *h = &q->inflight[k];
	uint16_t head = h->desc, last = e_last(w->c, head);
	size_t e = head, prev = head, j;

	h->num = e_num(w->c, head);
	h->id = e_id(w->c, last < w->n ? last : head);
	h->first_copy = q->n_copies;
	if (h->num == 0) {
		fail(w->c, "entry %u: inflight with num 0", head);
		w->broken = true;
		return;
	}
	if (h->num > w->d) {
		fail(w->c, "entry %u: num %u is more than desc_num %u", head, h->num, w->d);
		w->broken = true;
	}
	/* Every step claims a new entry or stops, so this ends within n + 1 steps. */
	for (j = 0; j < h->num; j++) {
		uint16_t flags;

		if (j > 0) {
			e = e_next(w->c, prev);
			if (e >= w->d) {
				fail(w->c, "entry %u: chain of %u: next of entry %zu is %zu, out of range (desc_num %u)",
				     head, h->num, prev, e, w->d);
				break;
			}
		}
		if (e >= w->n)
			break;
		if (w->owner[e] == OWNER_FREE) {
			fail(w->c, "entry %u: chain entry %zu is also on the free list from old_free_head", head, e);
			break;
		}
		if (w->owner[e] == (int32_t)k + 1) {
			fail(w->c, "entry %u: chain of %u comes back to entry %zu", head, h->num, e);
			break;
		}
		if (w->owner[e]) {
			fail(w->c, "entry %u: chain entry %zu also belongs to the chain of entry %u", head, e,
			     q->inflight[w->owner[e] - 1].desc);
			break;
		}
		w->owner[e] = (int32_t)k + 1;
		flags = e_flags(w->c, e);
		q->copies[q->n_copies++] = (struct desc_copy){ .addr = e_addr(w->c, e), .len = e_len(w->c, e),
			.flags = flags, .entry = (uint16_t)e };
		if (j + 1 < h->num && !(flags & DESC_F_NEXT))
			fail(w->c, "entry %u: copy %zu of %u (entry %zu) has flags 0x%04x, without NEXT", head,
			     j + 1, h->num, e, flags);
		else if (j + 1 == h->num && (flags & DESC_F_NEXT))
			fail(w->c, "entry %u: last copy (entry %zu) has flags 0x%04x, with NEXT", head, e, flags);
		prev = e;
	}
	h->n_copies = q->n_copies - h->first_copy;
	if (j < h->num) {
		w->broken = true;
		return;
	}
	if (e != last)
		fail(w->c, "entry %u: chain of %u ends at entry %zu, not at last %u", head, h->num, e, last);
}

/*
 * With free_head != old_free_head and no fetch in progress, a completion was
 * interrupted: free_head is the completed head, its chain (num entries, ending
 * at last) is followed by old_free_head. Returns the chain's length, or 0 when
 * the list from free_head is not that.
 */
static size_t completing_chain(struct walk *w)
{
	const struct queue_report *q = w->c->q;
	size_t e = q->free_head, num, steps;
	int32_t mine = 0;

	if (e >= w->n)
		return 0;
	num = e_num(w->c, e);
	if (num == 0 || num > w->n)
		return 0;
	/* Still marked inflight, its entries are its own chain's; cleared, they are nobody's. */
	for (size_t k = 0; k < q->n_inflight; k++)
		if (q->inflight[k].desc == e)
			mine = (int32_t)k + 1;
	for (steps = 1;; steps++) {
		if (w->owner[e] != mine)
			return 0;
		if (!mine)
			w->owner[e] = OWNER_COMPLETED;
		if (steps == num)
			break;
		e = e_next(w->c, e);
		if (e >= w->n)
			return 0;
	}
	if (e != e_last(w->c, q->free_head) || e_next(w->c, e) != q->old_free_head)
		return 0;
	return num;
}

static void check_accounting(struct walk *w, size_t free_old)
{
	struct queue_report *q = w->c->q;
	size_t in_chains = 0, completing = 0, total;

	for (size_t k = 0; k < q->n_inflight; k++)
		in_chains += q->inflight[k].num;
	q->free_entries = (long)free_old;
	if (q->fetch_entry >= 0) {
		/* The fetch has taken entries off the list from free_head; a restart undoes that. */
		if (q->free_head != q->old_free_head && q->free_head < w->n &&
		    w->owner[q->free_head] != OWNER_FREE)
			fail(w->c, "a fetch is in progress at entry %ld, but free_head %u is not on the free list from it",
			     q->fetch_entry, q->free_head);
	} else if (q->free_head != q->old_free_head) {
		completing = completing_chain(w);
		if (!completing) {
			fail(w->c, "free_head %u differs from old_free_head %u, but is not a completed chain leading to it",
			     q->free_head, q->old_free_head);
			return;
		}
		q->free_entries = (long)(free_old + completing);
	}
	total = in_chains + (size_t)q->free_entries;
	if (total == w->d)
		return;
	/*
	 * Between "free_head = head" and "inflight = 0" the completed chain is
	 * both on the free list from free_head and an inflight chain, so the two
	 * together count it twice. That is no corruption: a restart either
	 * commits the completion (its used element reached the ring: the free
	 * list from free_head is kept and the chain is dropped from the inflight
	 * set) or rolls it back (free_head returns to old_free_head and the
	 * request is resubmitted), and either way every entry is counted once.
	 */
	if (completing && e_inflight(w->c, q->free_head) == 1 && total == (size_t)w->d + completing) {
		warning(w->c, "free list from free_head %u is %zu entries longer than expected: it starts with "
			"the chain of entry %u, whose completion was interrupted while still marked inflight",
			q->free_head, completing, q->free_head);
		return;
	}
	if (total < w->d) {
		size_t lost = 0;

		while (lost < w->n && w->owner[lost])
			lost++;
		fail(w->c, "%zu entries in inflight chains and %ld free make %zu, not desc_num %u (entry %zu is in neither)",
		     in_chains, q->free_entries, total, w->d, lost);
	} else {
		fail(w->c, "%zu entries in inflight chains and %ld free make %zu, not desc_num %u", in_chains,
		     q->free_entries, total, w->d);
	}
}

static void check_state(struct ctx *c, uint16_t d, size_t n)
{
	struct queue_report *q = c->q;
	struct walk w = { .c = c, .d = d, .n = n };
	size_t free_old;

	q->completion_pending = q->used_idx != q->old_used_idx ||
				q->used_wrap_counter != q->old_used_wrap_counter;
	if (q->used_idx != q->old_used_idx)
		warning(c, "a completion was interrupted (used_idx %u, old_used_idx %u): a restart commits it if "
			"its used element reached the ring, else rolls it back", q->used_idx, q->old_used_idx);
	else if (q->completion_pending)
		warning(c, "used_wrap_counter %u differs from old_used_wrap_counter %u at the same used_idx %u: a "
			"completion was interrupted just before its last store, or it spanned the whole ring",
			q->used_wrap_counter, q->old_used_wrap_counter, q->used_idx);
	check_entries(&w);
	w.owner = calloc(n ? n : 1, sizeof(*w.owner));
	if (!w.owner) {
		c->oom = true;
		return;
	}
	free_old = walk_free_list(&w);
	q->free_entries_old = (long)free_old;
	if (q->old_free_head < n && e_inflight(c, q->old_free_head) == 1) {
		q->fetch_entry = q->old_free_head;
		warning(c, "entry %u at old_free_head is marked inflight: a fetch was interrupted; a restart "
			"rolls it back and fetches the request from the ring again", q->old_free_head);
	}
	if (!collect_heads(&w)) {
		free(w.owner);
		c->oom = true;
		return;
	}
	for (size_t k = 0; k < q->n_inflight; k++)
		walk_chain(&w, k);
	if (!w.broken)
		check_accounting(&w, free_old);
	free(w.owner);
}

static const struct slot_kind packed_slots = {
	e_inflight, "entry", "entry is", "entries are", vb_inflight_packed_min_size
};

void check_packed_queue(struct ctx *c, uint16_t ref_desc_num, unsigned int ref_queue)
{
	struct queue_report *q = c->q;
	size_t capacity = c->r->stride > HDR_SIZE ? (c->r->stride - HDR_SIZE) / ENTRY_SIZE : 0;
	size_t n;

	if (header_checked(c, ref_desc_num, ref_queue, capacity, &packed_slots, &n) || q->desc_num == 0)
		return;
	check_header(c, q->desc_num);
	check_state(c, q->desc_num, n);
}
