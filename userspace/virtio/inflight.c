/* Inflight I/O tracking (INFLIGHT_SHMFD): the shared region and the per-queue fetch/complete protocol. */
#include "inflight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_mem.h"
#include "util/log.h"

/*
 * The region must be consistent at every instant, since the daemon may be
 * killed between any two stores: each store is ordered after the ones it
 * depends on (release), which also keeps the compiler from reordering them.
 */
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

int vb_inflight_create(uint16_t num_queues, uint16_t queue_size, bool packed, uint64_t *size)
{
	int fd;

	if (num_queues == 0 || queue_size == 0)
		return -EINVAL;
	*size = (uint64_t)vb_inflight_stride(queue_size, packed) * num_queues;
	fd = memfd_create("vbridge-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* A memfd starts zeroed: every queue region is "not initialised" (version 0). */
	if (ftruncate(fd, *size) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int vb_inflight_map(struct vb_inflight_region *r, int fd, uint64_t size, uint64_t offset,
		    uint16_t num_queues, uint16_t queue_size, bool packed)
{
	size_t stride;
	void *base;

	if (num_queues == 0 || queue_size == 0 || size == 0 || size % num_queues) {
		vb_err("inflight region of %llu bytes cannot hold %u queues",
		       (unsigned long long)size, num_queues);
		return -EINVAL;
	}
	stride = size / num_queues;
	if (stride < vb_inflight_min_size(queue_size, packed) || stride % 8) {
		vb_err("inflight region stride %zu is too small for %u descriptors", stride, queue_size);
		return -EINVAL;
	}
	if (offset + size < offset || vb_fd_covers(fd, offset + size, "inflight region") < 0)
		return -EINVAL;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (base == MAP_FAILED) {
		int err = -errno;

		vb_err("cannot map the inflight region: %s", strerror(errno));
		return err;
	}
	vb_inflight_unmap(r);
	r->base = base;
	r->size = size;
	r->stride = stride;
	r->num_queues = num_queues;
	r->queue_size = queue_size;
	return 0;
}

void vb_inflight_unmap(struct vb_inflight_region *r)
{
	if (r->base)
		munmap(r->base, r->size);
	memset(r, 0, sizeof(*r));
}

void *vb_inflight_queue(const struct vb_inflight_region *r, unsigned int index)
{
	if (!r->base || index >= r->num_queues)
		return NULL;
	return (uint8_t *)r->base + r->stride * index;
}

/*
 * used->idx moved past our mirror: the daemon died after publishing a batch
 * and before clearing it. The batch is the first (used_idx - mirror) heads of
 * the list from last_batch_head.
 */
static int repair_batch(struct vb_inflight_split *q, uint16_t num, uint16_t used_idx)
{
	uint16_t n = used_idx - LOAD(q->used_idx);
	uint16_t head = LOAD(q->last_batch_head);

	if (n > num) {
		vb_err("inflight region: used index %u is %u entries past its mirror %u",
		       used_idx, n, q->used_idx);
		return -EINVAL;
	}
	for (uint16_t i = 0; i < n; i++) {
		if (head >= num) {
			vb_err("inflight region: batch list leaves the queue");
			return -EINVAL;
		}
		STORE(q->desc[head].inflight, 0);
		head = LOAD(q->desc[head].next);
	}
	STORE(q->used_idx, used_idx);
	return 0;
}

struct pending {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	uint64_t ca = ((const struct pending *)a)->counter;
	uint64_t cb = ((const struct pending *)b)->counter;

	return ca < cb ? -1 : ca > cb;
}

/* Lists the inflight heads of q in fetch order, the order they must be resubmitted in. */
static int list_inflight(struct vb_inflight_tracker *t, const struct vb_inflight_split *q)
{
	struct pending *p = calloc(t->num, sizeof(*p));
	unsigned int n = 0;

	if (!p)
		return -ENOMEM;
	for (uint16_t i = 0; i < t->num; i++) {
		uint8_t state = LOAD(q->desc[i].inflight);

		if (state > 1) {
			vb_err("inflight region: descriptor %u has state %u", i, state);
			free(p);
			return -EINVAL;
		}
		if (state) {
			p[n].counter = q->desc[i].counter;
			p[n++].head = i;
		}
	}
	qsort(p, n, sizeof(*p), by_counter);
	for (unsigned int i = 0; i < n; i++)
		t->resubmit[i] = p[i].head;
	t->nresubmit = n;
	t->counter = n ? p[n - 1].counter : 0;
	free(p);
	return 0;
}

int vb_inflight_start(struct vb_inflight_tracker *t, struct vb_inflight_split *q,
		      size_t region_size, uint16_t num, uint64_t features, uint16_t used_idx,
		      uint16_t *last_avail_idx)
{
	memset(t, 0, sizeof(*t));
	if (region_size < vb_inflight_split_min_size(num)) {
		vb_err("inflight queue region of %zu bytes cannot track a %u-entry ring",
		       region_size, num);
		return -EINVAL;
	}
	t->batch = calloc(num, sizeof(*t->batch));
	t->resubmit = calloc(num, sizeof(*t->resubmit));
	if (!t->batch || !t->resubmit)
		goto fail;
	t->num = num;
	if (LOAD(q->version) == 0) {
		/* Fresh region: the mirror must start equal to used->idx, whatever it is. */
		q->features = features;
		q->desc_num = num;
		q->last_batch_head = 0;
		STORE(q->used_idx, used_idx);
		STORE(q->version, VB_INFLIGHT_VERSION);
		t->q = q;
		*last_avail_idx = used_idx;
		return 0;
	}
	if (q->version != VB_INFLIGHT_VERSION || q->desc_num != num) {
		vb_err("inflight region has version %u for %u descriptors; the ring has %u",
		       q->version, q->desc_num, num);
		goto fail;
	}
	if (LOAD(q->used_idx) != used_idx && repair_batch(q, num, used_idx) < 0)
		goto fail;
	if (list_inflight(t, q) < 0)
		goto fail;
	t->q = q;
	*last_avail_idx = used_idx + t->nresubmit;
	return 0;
fail:
	vb_inflight_stop(t);
	return -EINVAL;
}

void vb_inflight_stop(struct vb_inflight_tracker *t)
{
	free(t->batch);
	free(t->resubmit);
	free(t->chain);
	free(t->links);
	memset(t, 0, sizeof(*t));
}

void vb_inflight_fetch(struct vb_inflight_tracker *t, uint16_t head)
{
	if (!t->q)
		return;
	STORE(t->q->desc[head].counter, ++t->counter);
	STORE(t->q->desc[head].inflight, 1);
}

void vb_inflight_complete(struct vb_inflight_tracker *t, uint16_t head)
{
	if (!t->q)
		return;
	STORE(t->q->desc[head].next, t->q->last_batch_head);
	STORE(t->q->last_batch_head, head);
	t->batch[t->nbatch++] = head;
}

void vb_inflight_published(struct vb_inflight_tracker *t, uint16_t used_idx)
{
	if (!t->q)
		return;
	for (unsigned int i = 0; i < t->nbatch; i++)
		STORE(t->q->desc[t->batch[i]].inflight, 0);
	STORE(t->q->used_idx, used_idx);
	t->nbatch = 0;
}

/*
 * Packed rings ------------------------------------------------------------
 *
 * The front-end can rewrite the region while the ring runs. So every value
 * that indexes it (free list heads, next and last links, chain lengths) is
 * read from it once, into a local, and checked against the ring size before
 * that local is used; a value the daemon stored itself is not read back.
 */

static void packed_init(struct vb_inflight_packed *p, const struct vb_vring *vr,
			uint64_t features)
{
	for (uint16_t i = 0; i < vr->num; i++) {
		p->desc[i].inflight = 0;
		p->desc[i].next = i + 1;
	}
	p->features = features;
	p->desc_num = vr->num;
	p->free_head = p->old_free_head = 0;
	p->used_idx = p->old_used_idx = vr->used_idx;
	p->used_wrap_counter = p->old_used_wrap_counter = vr->used_wrap;
	STORE(p->version, VB_INFLIGHT_VERSION);
}

/* The region's state after or before the update in progress (its fields, or their old_* copies). */
struct packed_pos {
	uint16_t free_head;
	uint16_t used_idx;
	uint8_t used_wrap;
};

/* A free head of num is the end of the list: every entry is in use. */
static bool packed_pos_fits(const struct packed_pos *pos, uint16_t num)
{
	return pos->free_head <= num && pos->used_idx < num && pos->used_wrap <= 1;
}

/*
 * An interrupted completion either reached the ring or did not. Until the
 * used element is written, the slot at old_used_idx holds a descriptor the
 * driver made available on that lap; anything else there (the used element,
 * or the driver's next use of the slot) means it was written: commit.
 * Otherwise roll back. Returns the state to continue from.
 */
static struct packed_pos packed_settle(const struct packed_pos *cur, const struct packed_pos *old,
				       const struct vb_vring *vr)
{
	/* A chain as long as the ring moves the used index a whole lap: compare wraps too. */
	if ((cur->used_idx != old->used_idx || cur->used_wrap != old->used_wrap) &&
	    !vb_vring_packed_avail(LOAD(vr->pdesc[old->used_idx].flags), old->used_wrap))
		return *cur;
	return *old;
}

static void packed_store_pos(struct vb_inflight_packed *p, const struct packed_pos *pos)
{
	STORE(p->old_free_head, pos->free_head);
	STORE(p->old_used_idx, pos->used_idx);
	STORE(p->old_used_wrap_counter, pos->used_wrap);
	STORE(p->free_head, pos->free_head);
	STORE(p->used_idx, pos->used_idx);
	STORE(p->used_wrap_counter, pos->used_wrap);
}

/*
 * Reads the chain of head entry `entry` into t->links, each link once.
 * Returns its length, or -EINVAL if its length or a link leaves the ring or
 * it does not end at the entry's last.
 */
static int packed_links(struct vb_inflight_tracker *t, const struct vb_inflight_packed *p,
			uint16_t entry)
{
	uint16_t n, last, e = entry;

	if (entry >= t->num)
		return -EINVAL;
	n = LOAD(p->desc[entry].num);
	last = LOAD(p->desc[entry].last);
	if (n == 0 || n > t->num)
		return -EINVAL;
	t->links[0] = entry;
	for (uint16_t i = 1; i < n; i++) {
		e = LOAD(p->desc[e].next);
		if (e >= t->num)
			return -EINVAL;
		t->links[i] = e;
	}
	return e == last ? n : -EINVAL;
}

int vb_inflight_start_packed(struct vb_inflight_tracker *t, struct vb_inflight_packed *p,
			     size_t region_size, struct vb_vring *vr, uint64_t features)
{
	struct packed_pos cur, old, pos;
	struct pending *pend = NULL;
	uint8_t *owned = NULL;
	unsigned int n = 0;
	uint32_t slots = 0;
	uint16_t num = vr->num, version, e;

	memset(t, 0, sizeof(*t));
	if (region_size < vb_inflight_packed_min_size(num)) {
		vb_err("inflight queue region of %zu bytes cannot track a %u-entry packed ring",
		       region_size, num);
		return -EINVAL;
	}
	t->resubmit = calloc(num, sizeof(*t->resubmit));
	t->chain = calloc(num, sizeof(*t->chain));
	t->links = calloc(num, sizeof(*t->links));
	pend = calloc(num, sizeof(*pend));
	owned = calloc(num, 1);
	if (!t->resubmit || !t->chain || !t->links || !pend || !owned)
		goto fail;
	t->num = num;
	version = LOAD(p->version);
	if (version == 0) {
		packed_init(p, vr, features);
		t->p = p;
		free(pend);
		free(owned);
		return 0;
	}
	cur = (struct packed_pos){ LOAD(p->free_head), LOAD(p->used_idx), LOAD(p->used_wrap_counter) };
	old = (struct packed_pos){ LOAD(p->old_free_head), LOAD(p->old_used_idx),
				   LOAD(p->old_used_wrap_counter) };
	if (version != VB_INFLIGHT_VERSION || LOAD(p->desc_num) != num ||
	    !packed_pos_fits(&cur, num) || !packed_pos_fits(&old, num)) {
		vb_err("packed inflight region does not fit a %u-entry ring", num);
		goto fail;
	}
	pos = packed_settle(&cur, &old, vr);
	packed_store_pos(p, &pos);
	/* Entries on the free list belong to no request; each entry is in one place only. */
	for (e = pos.free_head; e < num; e = LOAD(p->desc[e].next)) {
		if (owned[e]++) {
			vb_err("packed inflight region: the free list loops at entry %u", e);
			goto fail;
		}
		STORE(p->desc[e].inflight, 0);
	}
	/* The list is built with next = i + 1 and always ends at exactly num. */
	if (e != num) {
		vb_err("packed inflight region: the free list ends at %u, outside the ring", e);
		goto fail;
	}
	for (uint16_t i = 0; i < num; i++) {
		int len;

		if (!LOAD(p->desc[i].inflight))
			continue;
		len = packed_links(t, p, i);
		if (len < 0) {
			vb_err("packed inflight region: entry %u has a broken chain", i);
			goto fail;
		}
		for (int k = 0; k < len; k++) {
			if (owned[t->links[k]]++) {
				vb_err("packed inflight region: entry %u belongs to two chains or the free list",
				       t->links[k]);
				goto fail;
			}
		}
		pend[n].counter = LOAD(p->desc[i].counter);
		pend[n++].head = i;
		slots += len;
	}
	if (slots > num) {
		vb_err("packed inflight region holds %u descriptors for a %u-entry ring", (unsigned int)slots,
		       num);
		goto fail;
	}
	qsort(pend, n, sizeof(*pend), by_counter);
	for (unsigned int i = 0; i < n; i++)
		t->resubmit[i] = pend[i].head;
	t->nresubmit = n;
	t->counter = n ? pend[n - 1].counter : 0;
	/* Fetching continues after the chains still inflight, which follow the used index. */
	vr->used_idx = pos.used_idx;
	vr->used_wrap = pos.used_wrap;
	vr->last_avail_idx = vr->used_idx;
	vr->avail_wrap = vr->used_wrap;
	vb_vring_packed_advance(num, &vr->last_avail_idx, &vr->avail_wrap, slots);
	t->p = p;
	free(pend);
	free(owned);
	return 0;
fail:
	free(pend);
	free(owned);
	vb_inflight_stop(t);
	return -EINVAL;
}

int vb_inflight_fetch_packed(struct vb_inflight_tracker *t, const struct vb_vring *vr)
{
	struct vb_inflight_packed *p = t->p;
	uint16_t head = LOAD(p->old_free_head), f = head, slot = vr->pop_slot;

	for (uint16_t i = 0; i < vr->pop_count; i++) {
		const struct vring_packed_desc *d = &vr->pdesc[slot];
		uint16_t next;

		/* Past the end of the free list, or a link out of the ring. */
		if (f >= t->num)
			return -EINVAL;
		next = LOAD(p->desc[f].next);
		if (i == 0) {
			STORE(p->desc[head].num, 0);
			STORE(p->desc[head].counter, ++t->counter);
			STORE(p->desc[head].inflight, 1);
		}
		if (i + 1 == vr->pop_count)
			STORE(p->desc[head].last, f);
		STORE(p->desc[head].num, i + 1);
		STORE(p->desc[f].addr, __atomic_load_n(&d->addr, __ATOMIC_RELAXED));
		STORE(p->desc[f].len, __atomic_load_n(&d->len, __ATOMIC_RELAXED));
		STORE(p->desc[f].flags, __atomic_load_n(&d->flags, __ATOMIC_RELAXED));
		STORE(p->desc[f].id, __atomic_load_n(&d->id, __ATOMIC_RELAXED));
		STORE(p->free_head, next);
		f = next;
		slot = slot + 1 == vr->num ? 0 : slot + 1;
	}
	STORE(p->old_free_head, f);
	return head;
}

int vb_inflight_chain_packed(struct vb_inflight_tracker *t, uint16_t entry,
			     const struct vring_packed_desc **descs, uint16_t *count, uint16_t *id)
{
	const struct vb_inflight_packed *p = t->p;
	int n = packed_links(t, p, entry);

	if (n < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const struct vb_inflight_desc_packed *d = &p->desc[t->links[i]];

		t->chain[i] = (struct vring_packed_desc){ .addr = LOAD(d->addr), .len = LOAD(d->len),
			.id = LOAD(d->id), .flags = LOAD(d->flags) };
	}
	*descs = t->chain;
	*count = n;
	*id = t->chain[n - 1].id;
	return 0;
}

int vb_inflight_complete_packed(struct vb_inflight_tracker *t, uint16_t entry, uint16_t used_idx,
				bool used_wrap)
{
	struct vb_inflight_packed *p = t->p;
	uint16_t last, free_head;

	if (entry >= t->num)
		return -EINVAL;
	last = LOAD(p->desc[entry].last);
	free_head = LOAD(p->free_head);
	if (last >= t->num || free_head > t->num)
		return -EINVAL;
	STORE(p->desc[last].next, free_head);
	STORE(p->free_head, entry);
	STORE(p->used_idx, used_idx);
	STORE(p->used_wrap_counter, used_wrap);
	t->used_idx = used_idx;
	t->used_wrap = used_wrap;
	return 0;
}

void vb_inflight_published_packed(struct vb_inflight_tracker *t, uint16_t entry)
{
	struct vb_inflight_packed *p = t->p;

	STORE(p->desc[entry].inflight, 0);
	/* The values vb_inflight_complete_packed stored, not what the region holds now. */
	STORE(p->old_free_head, entry);
	/*
	 * Wrap before index: killed between the two, the slot at the old index
	 * still shows the used element on its lap, so the restart commits.
	 */
	STORE(p->old_used_wrap_counter, t->used_wrap);
	STORE(p->old_used_idx, t->used_idx);
}
