/* vbridge-bench per-queue worker: keeps depth requests in flight, times each one, verifies data. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vu_batch.h"
#include "vu_harness.h"

volatile int bench_stop;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct tag {
	char magic[8];
	uint64_t sector;
	uint64_t seed;
};

void bench_fill(uint8_t *buf, uint32_t len, uint64_t off, uint32_t seed)
{
	vu_pattern_fill(buf, len, seed, off);
	for (uint32_t o = 0; o + sizeof(struct tag) <= len; o += VU_SECTOR_SIZE) {
		struct tag t = { .magic = BENCH_TAG_MAGIC, .sector = (off + o) / VU_SECTOR_SIZE,
				 .seed = seed };

		memcpy(buf + o, &t, sizeof(t));
	}
}

static void fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->failed) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	w->failed = true;
	bench_stop = 1;
}

/* xorshift64*: cheap, and good enough to spread offsets. */
static uint64_t next_rand(struct worker *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545f4914f6cdd1dull;
}

/* Each write of a run gets its own pattern seed, so stale data is caught. */
static uint32_t write_seed(const struct worker *w, uint32_t gen)
{
	return (uint32_t)(w->cfg->seed * 0x9e3779b9u) ^ (w->index << 24) ^ gen;
}

static uint64_t byte_offset(const struct worker *w, uint64_t block)
{
	return (w->first_block + block) * w->cfg->bs;
}

static void choose(struct worker *w, struct slot *s)
{
	const struct bench_cfg *c = w->cfg;
	uint64_t b = c->random ? next_rand(w) % w->nblocks : w->next_seq++ % w->nblocks;

	switch (c->op) {
	case OP_READ:
		s->write = false;
		break;
	case OP_WRITE:
		s->write = true;
		break;
	case OP_MIX:
		s->write = next_rand(w) % 100 >= c->read_pct;
		break;
	}
	if (c->verify) {
		/* one request per block at a time keeps the expected data exact;
		 * the stripe holds more blocks than the depth, so one is free */
		while (w->busy[b])
			b = (b + 1) % w->nblocks;
		w->busy[b] = 1;
		/* only data this run wrote can be checked */
		if (!w->gen[b])
			s->write = true;
		if (s->write) {
			s->gen = ++w->next_gen;
			bench_fill(s->buf, c->bs, byte_offset(w, b), write_seed(w, s->gen));
		}
	}
	s->block = b;
}

static int issue(struct worker *w, struct slot *s)
{
	const struct bench_cfg *c = w->cfg;
	struct vu_seg segs[VU_BLK_MAX_SEGS];
	uint64_t gpa = vu_ptr_to_gpa(w->vq->dev, s->buf);
	int r;

	choose(w, s);
	for (unsigned i = 0; i < c->nsegs; i++) {
		uint32_t done = i * c->seg_size;

		segs[i].gpa = gpa + done;
		segs[i].len = c->bs - done < c->seg_size ? c->bs - done : c->seg_size;
	}
	vu_blk_prep(&s->req, s->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		    byte_offset(w, s->block) / VU_SECTOR_SIZE, segs, c->nsegs, !s->write);
	if (c->indirect)
		s->req.flags = VU_REQ_INDIRECT;
	s->t0 = bench_now_ns();
	r = vu_blk_enqueue(w->vq, &s->req);
	if (r < 0) {
		fail(w, "queue %u: cannot queue a request: %s", w->index, w->vq->dev->err);
		return r;
	}
	w->issued++;
	return 0;
}

static void check_read(struct worker *w, struct slot *s)
{
	const struct bench_cfg *c = w->cfg;
	uint64_t off = byte_offset(w, s->block);
	uint32_t i;

	bench_fill(w->expect, c->bs, off, write_seed(w, w->gen[s->block]));
	if (s->req.used_len != c->bs + 1) {
		w->mismatches++;
		fail(w, "queue %u: read of %u bytes at byte %" PRIu64 ": used length %u, expected %u",
		     w->index, c->bs, off, s->req.used_len, c->bs + 1);
		return;
	}
	if (memcmp(s->buf, w->expect, c->bs) == 0) {
		w->verified++;
		return;
	}
	for (i = 0; s->buf[i] == w->expect[i]; i++)
		;
	w->mismatches++;
	fail(w, "queue %u: read at byte %" PRIu64 ": wrong data from byte %u on (got 0x%02x, expected 0x%02x of write generation %u)",
	     w->index, off, i, s->buf[i], w->expect[i], w->gen[s->block]);
}

static void complete(struct worker *w, struct slot *s, uint64_t now)
{
	hist_record(&w->hist, now - s->t0);
	if (s->write)
		w->writes++;
	else
		w->reads++;
	if (s->req.status != VIRTIO_BLK_S_OK) {
		fail(w, "queue %u: %s at byte %" PRIu64 ": status %u", w->index,
		     s->write ? "write" : "read", byte_offset(w, s->block), s->req.status);
		return;
	}
	if (!w->cfg->verify)
		return;
	if (s->write) {
		if (!w->gen[s->block])
			w->blocks_written++;
		w->gen[s->block] = s->gen;
	} else {
		check_read(w, s);
	}
	w->busy[s->block] = 0;
}

/* Polls the used ring until something is there; false after timeout_ms
 * without a completion. */
static bool spin(struct worker *w)
{
	uint64_t limit = bench_now_ns() + (uint64_t)w->cfg->timeout_ms * 1000000u;

	for (unsigned n = 1;; n++) {
		if (vu_vq_pending(w->vq))
			return true;
		if (n % 4096 == 0 && bench_now_ns() > limit)
			return false;
	}
}

static bool wait_used(struct worker *w)
{
	int r;

	if (w->cfg->poll) {
		if (spin(w))
			return true;
		fail(w, "queue %u: no completion in %u ms (%u in flight)", w->index,
		     w->cfg->timeout_ms, w->vq->in_flight);
		return false;
	}
	r = vu_vq_wait(w->vq, (int)w->cfg->timeout_ms);
	if (r > 0)
		return true;
	if (r == 0)
		fail(w, "queue %u: no completion in %u ms (%u in flight)", w->index,
		     w->cfg->timeout_ms, w->vq->in_flight);
	else
		fail(w, "queue %u: %s", w->index, w->vq->dev->err);
	return false;
}

static int notify(struct worker *w)
{
	if (vu_vq_notify(w->vq) < 0) {
		fail(w, "queue %u: %s", w->index, w->vq->dev->err);
		return -1;
	}
	return 0;
}

void *bench_worker_run(void *arg)
{
	struct worker *w = arg;
	const struct bench_cfg *c = w->cfg;
	uint64_t deadline, now;
	unsigned inflight = 0;

	if (c->poll)
		vu_vq_calls_off(w->vq);
	pthread_barrier_wait(w->start);
	w->start_ns = now = bench_now_ns();
	deadline = now + (uint64_t)(c->time_s * 1e9);
	for (unsigned i = 0; i < c->depth && w->issued < w->budget; i++) {
		if (issue(w, &w->slots[i]) < 0)
			break;
		inflight++;
	}
	if (notify(w) < 0)
		return NULL;

	while (inflight > 0) {
		unsigned n = vu_blk_reap_batch(w->vq, w->done, c->depth);

		if (n == 0) {
			if (!wait_used(w))
				break;
			continue;
		}
		now = bench_now_ns();
		/* with a request count the count alone ends the run */
		bool timed_out = w->budget == UINT64_MAX && now >= deadline;

		for (unsigned i = 0; i < n; i++) {
			struct slot *s = w->done[i]->user_data;

			complete(w, s, now);
			inflight--;
			if (!bench_stop && !timed_out && w->issued < w->budget && issue(w, s) == 0)
				inflight++;
		}
		if (c->poll)
			vu_vq_calls_off(w->vq);
		if (notify(w) < 0)
			break;
	}
	w->end_ns = bench_now_ns();
	return NULL;
}
