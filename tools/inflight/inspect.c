/* Decodes each queue region and checks the invariants a restarting back-end relies on. */
#include "inflight_tool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends "queue Q: ..." to list; false on ENOMEM. */
static bool add_message(struct ctx *c, char ***list, size_t *n, const char *fmt, va_list ap)
{
	char msg[256];
	int len;
	char **grown;

	len = snprintf(msg, sizeof(msg), "queue %u: ", c->index);
	vsnprintf(msg + len, sizeof(msg) - (size_t)len, fmt, ap);
	grown = realloc(*list, (*n + 1) * sizeof(**list));
	if (!grown)
		return false;
	*list = grown;
	grown[*n] = strdup(msg);
	if (!grown[*n])
		return false;
	(*n)++;
	return true;
}

void fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->q->n_errors >= MAX_KEPT_ERRORS) {
		c->q->n_suppressed++;
		return;
	}
	va_start(ap, fmt);
	if (!add_message(c, &c->q->errors, &c->q->n_errors, fmt, ap))
		c->oom = true;
	va_end(ap);
}

void warning(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	/* Each names a single interrupted operation, so there are only ever a few. */
	if (c->q->n_warnings >= MAX_KEPT_ERRORS)
		return;
	va_start(ap, fmt);
	if (!add_message(c, &c->q->warnings, &c->q->n_warnings, fmt, ap))
		c->oom = true;
	va_end(ap);
}

static size_t desc_off(const struct ctx *c, size_t i)
{
	return c->base + sizeof(struct vb_inflight_split) + i * sizeof(struct vb_inflight_desc_split);
}

static uint8_t desc_inflight(const struct ctx *c, size_t i)
{
	size_t off = desc_off(c, i) + offsetof(struct vb_inflight_desc_split, inflight);

	return off < c->r->size ? c->r->data[off] : 0;
}

static uint16_t desc_next(const struct ctx *c, size_t i)
{
	return region_u16(c->r, desc_off(c, i) + offsetof(struct vb_inflight_desc_split, next));
}

static uint64_t desc_counter(const struct ctx *c, size_t i)
{
	return region_u64(c->r, desc_off(c, i) + offsetof(struct vb_inflight_desc_split, counter));
}

int by_counter(const void *a, const void *b)
{
	const struct inflight_entry *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->desc < y->desc ? -1 : x->desc > y->desc;
}

bool valid_desc_num(uint16_t d)
{
	return d != 0 && d <= MAX_DESC_NUM && (d & (d - 1)) == 0;
}

/* Collects the inflight descriptors among the first n in counter order. */
static void check_descs(struct ctx *c, size_t n)
{
	struct queue_report *q = c->q;
	size_t marked = 0;

	/* Sized by what is there: a hostile region could otherwise cost many times its size. */
	for (size_t i = 0; i < n; i++)
		marked += desc_inflight(c, i) == 1;
	q->inflight = calloc(marked ? marked : 1, sizeof(*q->inflight));
	if (!q->inflight) {
		c->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t state = desc_inflight(c, i);

		if (state > 1)
			fail(c, "desc %zu: inflight byte is %u, expected 0 or 1", i, state);
		if (state != 1)
			continue;
		q->inflight[q->n_inflight].desc = (uint16_t)i;
		q->inflight[q->n_inflight].counter = desc_counter(c, i);
		q->n_inflight++;
	}
	qsort(q->inflight, q->n_inflight, sizeof(*q->inflight), by_counter);
	for (size_t i = 0; i < q->n_inflight; i++) {
		const struct inflight_entry *e = &q->inflight[i];

		/* Counters start at 1, so 0 means the fetch was never recorded. */
		if (e->counter == 0)
			fail(c, "desc %u: inflight with counter 0", e->desc);
		else if (i > 0 && e->counter == e[-1].counter)
			fail(c, "desc %u and desc %u share counter %llu", e[-1].desc, e->desc,
			     (unsigned long long)e->counter);
	}
}

/*
 * The list from last_batch_head runs through older batches and may come back
 * on itself: completing head 0 again and again (queue depth 1) makes 0 -> 0.
 * So a repeat ends the walk and is not an error; what a restarting back-end
 * needs is that every link it may follow names a descriptor of the queue.
 */
static void check_batch_list(struct ctx *c, size_t n)
{
	struct queue_report *q = c->q;
	uint8_t *seen;
	size_t head = q->last_batch_head, prev = 0;

	if (head >= q->desc_num) {
		fail(c, "last_batch_head %u is out of range (desc_num %u)", q->last_batch_head, q->desc_num);
		return;
	}
	seen = calloc(n ? n : 1, 1);
	if (!seen) {
		c->oom = true;
		return;
	}
	q->chain_distinct = 0;
	for (;;) {
		if (head >= q->desc_num) {
			fail(c, "batch list: next of desc %zu is %zu, out of range (desc_num %u)", prev, head,
			     q->desc_num);
			break;
		}
		/* Past the stride: already reported as desc_num not fitting. */
		if (head >= n || seen[head])
			break;
		seen[head] = 1;
		q->chain_distinct++;
		prev = head;
		head = desc_next(c, head);
	}
	free(seen);
}

static const struct slot_kind split_slots = {
	desc_inflight, "desc", "descriptor is", "descriptors are", vb_inflight_split_min_size
};

bool header_checked(struct ctx *c, uint16_t ref_desc_num, unsigned int ref_queue, size_t capacity,
		    const struct slot_kind *k, size_t *n)
{
	struct queue_report *q = c->q;
	size_t marked = 0;

	if (q->version > VB_INFLIGHT_VERSION)
		fail(c, "version %u, expected 0 or 1", q->version);
	if (q->version != 0) {
		if (!valid_desc_num(q->desc_num))
			fail(c, "desc_num %u is not a power of two from 1 to %u", q->desc_num, MAX_DESC_NUM);
		if (c->index != ref_queue && q->desc_num != ref_desc_num)
			fail(c, "desc_num %u differs from queue %u's %u", q->desc_num, ref_queue, ref_desc_num);
		*n = q->desc_num;
		if (*n > capacity) {
			fail(c, "desc_num %u needs %zu bytes, more than the stride of %zu", q->desc_num,
			     k->min_size(q->desc_num), c->r->stride);
			*n = capacity;
		}
		return false;
	}
	/* Its own desc_num is not set yet; the queue's neighbours say how far to look. */
	*n = q->desc_num ? q->desc_num : ref_desc_num ? ref_desc_num : capacity;
	if (*n > capacity)
		*n = capacity;
	for (size_t i = 0; i < *n; i++) {
		uint8_t state = k->inflight(c, i);

		if (state > 1)
			fail(c, "%s %zu: inflight byte is %u, expected 0 or 1", k->name, i, state);
		marked += state == 1;
	}
	if (marked)
		fail(c, "not initialised (version 0) but %zu %s marked inflight", marked,
		     marked == 1 ? k->one : k->many);
	return true;
}

static void check_queue(struct ctx *c, uint16_t ref_desc_num, unsigned int ref_queue)
{
	size_t capacity = (c->r->stride - sizeof(struct vb_inflight_split)) /
			  sizeof(struct vb_inflight_desc_split);
	size_t n;

	if (header_checked(c, ref_desc_num, ref_queue, capacity, &split_slots, &n))
		return;
	check_descs(c, n);
	if (!c->oom)
		check_batch_list(c, n);
}

static void read_header(const struct region *r, size_t base, struct queue_report *q)
{
	q->features = region_u64(r, base + offsetof(struct vb_inflight_split, features));
	q->version = region_u16(r, base + offsetof(struct vb_inflight_split, version));
	q->desc_num = region_u16(r, base + offsetof(struct vb_inflight_split, desc_num));
	q->last_batch_head = region_u16(r, base + offsetof(struct vb_inflight_split, last_batch_head));
	q->used_idx = region_u16(r, base + offsetof(struct vb_inflight_split, used_idx));
	q->chain_distinct = -1;
}

bool inspect(const struct region *r, struct queue_report *reports)
{
	unsigned int ref_queue = 0;
	bool have_ref = false;

	for (unsigned int i = 0; i < r->num_queues; i++) {
		if (r->packed)
			read_packed_header(r, (size_t)i * r->stride, &reports[i]);
		else
			read_header(r, (size_t)i * r->stride, &reports[i]);
	}
	/* Compare against a well-formed queue if there is one, so one bad header is blamed alone. */
	for (unsigned int i = 0; i < r->num_queues && !have_ref; i++) {
		if (reports[i].version == VB_INFLIGHT_VERSION) {
			ref_queue = i;
			have_ref = true;
		}
	}
	for (unsigned int i = 0; i < r->num_queues && !have_ref; i++) {
		if (reports[i].version != 0) {
			ref_queue = i;
			have_ref = true;
		}
	}
	for (unsigned int i = 0; i < r->num_queues; i++) {
		struct ctx c = { .r = r, .q = &reports[i], .index = i, .base = (size_t)i * r->stride };

		if (r->packed)
			check_packed_queue(&c, have_ref ? reports[ref_queue].desc_num : 0, ref_queue);
		else
			check_queue(&c, have_ref ? reports[ref_queue].desc_num : 0, ref_queue);
		if (c.oom)
			return false;
	}
	return true;
}

void report_free(struct queue_report *q)
{
	for (size_t i = 0; i < q->n_errors; i++)
		free(q->errors[i]);
	free(q->errors);
	for (size_t i = 0; i < q->n_warnings; i++)
		free(q->warnings[i]);
	free(q->warnings);
	free(q->inflight);
	free(q->copies);
	memset(q, 0, sizeof(*q));
}
