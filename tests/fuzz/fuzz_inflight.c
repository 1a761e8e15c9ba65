/* Fuzzes the inflight region loader (vb_inflight_map, vb_inflight_start and vb_inflight_start_packed with their crash repair) and the fetch/complete/publish protocols on regions whose bytes and geometry come from the input, also rewritten while the ring runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/inflight.h"
#include "util/log.h"
#include "fuzz.h"

/*
 * Input:
 *   u8  flags: bits 0-1 queues - 1; bit 2 a fresh region from
 *       vb_inflight_create instead of the input's; bit 3 the region starts
 *       4096 bytes into its file; bit 4 an unaligned offset; bit 5 a total
 *       size that is not a whole number of strides; bit 6 packed rings (the
 *       packed region layout); bit 7 a hostile front-end that rewrites the
 *       region while its ring runs (see run_ops and run_packed_ops)
 *   u16 the region's queue size (mod 1040), u8 extra bytes per stride,
 *   u64 negotiated features
 *   per queue (4 always read): u8 log2 of the ring size (mod 11), u16 used->idx
 *       (packed: the used slot, modulo the ring size, and wrap counter in bit 15)
 *   u8  number of operations, then one byte each (see run_ops)
 *   the region's bytes (zero past the end of the input)
 *
 * The region is mapped with vb_inflight_map as SET_INFLIGHT_FD does; each
 * queue region is then tracked in a heap copy of exactly one stride, the
 * size vb_queue_start passes, so AddressSanitizer sees any access past it.
 * A packed ring is a heap descriptor ring that the harness fills as a
 * well-behaved driver would (see run_packed_ops).
 */

#define QSIZE_MOD 1040
#define RING_MAX 1024	/* 1 << (u8 % 11) */
#define PAGE 4096

enum head_state { FREE, INFLIGHT, COMPLETED };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init_output();
	vb_log_threshold = fuzz_verbose() ? VB_LOG_DEBUG : VB_LOG_ERROR;
	return 0;
}

/* A started tracker's resubmit list: distinct heads < num, each inflight, in counter order. */
static void check_started(const struct vb_inflight_tracker *t, const struct vb_inflight_split *q,
			  uint16_t num, uint16_t used_idx, uint16_t last_avail)
{
	static uint8_t seen[RING_MAX];
	unsigned int inflight = 0;

	FUZZ_CHECK(t->q == q && t->num == num, "tracker not bound to its region");
	FUZZ_CHECK(q->version == VB_INFLIGHT_VERSION && q->desc_num == num && q->used_idx == used_idx,
		   "region header: version %u, %u descriptors, used_idx %u (ring %u, used %u)",
		   q->version, q->desc_num, q->used_idx, num, used_idx);
	FUZZ_CHECK(t->nresubmit <= num, "%u heads to resubmit on a %u-entry ring", t->nresubmit, num);
	FUZZ_CHECK(last_avail == (uint16_t)(used_idx + t->nresubmit), "resume at %u, used %u + %u",
		   last_avail, used_idx, t->nresubmit);
	memset(seen, 0, num);
	for (unsigned int i = 0; i < t->nresubmit; i++) {
		uint16_t h = t->resubmit[i];

		FUZZ_CHECK(h < num, "resubmit head %u of a %u-entry ring", h, num);
		FUZZ_CHECK(!seen[h], "head %u listed twice", h);
		seen[h] = 1;
		FUZZ_CHECK(q->desc[h].inflight == 1, "resubmitting head %u which is not inflight", h);
		if (i)
			FUZZ_CHECK(q->desc[t->resubmit[i - 1]].counter <= q->desc[h].counter,
				   "resubmit list not in counter order at %u", i);
		FUZZ_CHECK(t->counter >= q->desc[h].counter, "counter %llu behind head %u's %llu",
			   (unsigned long long)t->counter, h, (unsigned long long)q->desc[h].counter);
	}
	for (unsigned int i = 0; i < num; i++)
		inflight += q->desc[i].inflight == 1;
	FUZZ_CHECK(inflight == t->nresubmit, "%u heads inflight, %u listed", inflight, t->nresubmit);
}

/*
 * A hostile front-end's store into a running queue region: the next four
 * operation bytes are the index of a u16 of the region (modulo the stride's
 * u16s) and its new value. Returns the bytes consumed.
 */
static unsigned int rewrite_region(void *region, size_t stride, struct fuzz_input *ops)
{
	uint16_t index = fuzz_u16(ops), value = fuzz_u16(ops);

	memcpy((uint8_t *)region + index % (stride / 2) * 2, &value, sizeof(value));
	return 4;
}

/*
 * The queue's use of the tracker, as a well-behaved ring would drive it,
 * with restarts ("the daemon died here") checked against a model of which
 * heads are inflight. Operation byte: bits 0-1 fetch, complete, publish,
 * restart; the rest picks the head, or for a restart whether the batch
 * was published to the guest before the death (bit 2). With a hostile
 * front-end, a restart with bit 3 set rewrites the region instead (see
 * rewrite_region); the next restart then may refuse the region, one it
 * accepts must be sound, and the run ends.
 */
static void run_ops(struct vb_inflight_tracker *t, struct vb_inflight_split *q, size_t stride,
		    uint16_t num, uint64_t features, uint16_t used, bool hostile, struct fuzz_input *ops,
		    unsigned int nops)
{
	static uint8_t state[RING_MAX];
	unsigned int nbatch = 0;
	bool rewritten = false;

	memset(state, FREE, num);
	for (unsigned int i = 0; i < t->nresubmit; i++)
		state[t->resubmit[i]] = INFLIGHT;
	/* Counters near the wrap-around only come from made-up regions; order is not checked then. */
	if (t->counter > UINT64_MAX - 512)
		return;
	for (unsigned int k = 0; k < nops; k++) {
		uint8_t op = fuzz_u8(ops);
		unsigned int pick = op >> 2, h, n = 0;
		uint16_t last;

		switch (op & 3) {
		case 0:	/* fetch a free head */
			for (h = pick % num; n < num && state[h] != FREE; h = (h + 1) % num, n++)
				;
			if (n == num)
				break;
			{
				uint64_t before = t->counter;

				vb_inflight_fetch(t, h);
				FUZZ_CHECK(q->desc[h].inflight == 1 && q->desc[h].counter == before + 1 &&
					   t->counter == before + 1, "fetch of head %u", h);
			}
			state[h] = INFLIGHT;
			break;
		case 1:	/* complete an inflight one */
			for (h = pick % num; n < num && state[h] != INFLIGHT; h = (h + 1) % num, n++)
				;
			if (n == num)
				break;
			vb_inflight_complete(t, h);
			FUZZ_CHECK((rewritten || q->desc[h].inflight == 1) && q->last_batch_head == h,
				   "completion of head %u", h);
			state[h] = COMPLETED;
			nbatch++;
			break;
		case 2:	/* publish the batch */
			used += nbatch;
			vb_inflight_published(t, used);
			for (h = 0; h < num; h++) {
				if (state[h] == COMPLETED) {
					FUZZ_CHECK(q->desc[h].inflight == 0, "head %u still inflight after publishing", h);
					state[h] = FREE;
				}
			}
			FUZZ_CHECK(q->used_idx == used, "used_idx mirror %u, published %u", q->used_idx, used);
			nbatch = 0;
			break;
		case 3:	/* die and restart */
			if (hostile && (pick & 2)) {
				k += rewrite_region(q, stride, ops);
				rewritten = true;
				break;
			}
			if (pick & 1) {
				/* used->idx was published, the batch not yet cleared: repaired on start */
				used += nbatch;
				for (h = 0; h < num; h++)
					if (state[h] == COMPLETED)
						state[h] = FREE;
			} else {
				/* died before publishing: the batch is still inflight */
				for (h = 0; h < num; h++)
					if (state[h] == COMPLETED)
						state[h] = INFLIGHT;
			}
			nbatch = 0;
			vb_inflight_stop(t);
			if (rewritten) {
				bool fresh = q->version == 0;
				int ret = vb_inflight_start(t, q, stride, num, features, used, &last);

				FUZZ_CHECK(ret == 0 || ret == -EINVAL, "restart on a rewritten region returned %d", ret);
				/* A fresh region keeps stray inflight marks: nothing is resubmitted. */
				if (ret == 0 && fresh)
					FUZZ_CHECK(t->nresubmit == 0, "a fresh region lists %u heads", t->nresubmit);
				else if (ret == 0)
					check_started(t, q, num, used, last);
				return;
			}
			FUZZ_CHECK(vb_inflight_start(t, q, stride, num, features, used, &last) == 0,
				   "restart on our own region refused");
			check_started(t, q, num, used, last);
			for (unsigned int i = 0; i < t->nresubmit; i++)
				FUZZ_CHECK(state[t->resubmit[i]] == INFLIGHT, "head %u resubmitted but not inflight",
					   t->resubmit[i]);
			for (h = 0, n = 0; h < num; h++)
				n += state[h] == INFLIGHT;
			FUZZ_CHECK(n == t->nresubmit, "%u heads inflight, %u resubmitted", n, t->nresubmit);
			break;
		}
	}
}

/* ---- packed rings ---- */

#define PACKED_AVAIL_F (1u << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED_F (1u << VRING_PACKED_DESC_F_USED)

struct packed_req {
	bool out;		/* fetched and not completed */
	uint16_t id, ndesc;
};

/*
 * Whether the free list of a started packed region is sound: it ends with
 * num, does not loop, and shares no entry with an inflight chain. (Finding
 * 6: the daemon did not check, and two requests then shared entries, or the
 * list ran into a bad link that a later restart refused.)
 */
static bool packed_entries_disjoint(const struct vb_inflight_tracker *t, const struct vb_inflight_packed *p)
{
	static uint8_t owner[RING_MAX];
	uint16_t num = t->num, e = p->free_head;

	memset(owner, 0, num);
	for (unsigned int i = 0; e != num; i++, e = p->desc[e].next) {
		if (e > num || i == num || owner[e])
			return false;
		owner[e] = 1;
	}
	for (unsigned int i = 0; i < t->nresubmit; i++) {
		e = t->resubmit[i];
		for (uint16_t k = 0; k < p->desc[t->resubmit[i]].num; k++, e = p->desc[e].next) {
			if (owner[e])
				return false;
			owner[e] = 1;
		}
	}
	return true;
}

/*
 * A started packed tracker: distinct inflight head entries in counter order
 * whose chains read back and fit the ring (finding 5), fetching resumes
 * after them, the free list is sound (finding 6).
 */
static bool check_started_packed(struct vb_inflight_tracker *t, const struct vb_inflight_packed *p,
				 const struct vb_vring *vr, struct packed_req *reqs, unsigned int *nslots)
{
	static uint8_t seen[RING_MAX];
	uint16_t num = vr->num, slot = vr->used_idx;
	bool wrap = vr->used_wrap;
	unsigned int slots = 0, inflight = 0;

	FUZZ_CHECK(t->p == p && t->num == num, "tracker not bound to its packed region");
	FUZZ_CHECK(p->version == VB_INFLIGHT_VERSION && p->desc_num == num, "packed region header");
	FUZZ_CHECK(vr->used_idx < num && vr->last_avail_idx < num, "ring indexes %u/%u of %u",
		   vr->used_idx, vr->last_avail_idx, num);
	FUZZ_CHECK(t->nresubmit <= num, "%u head entries to resubmit", t->nresubmit);
	memset(seen, 0, num);
	memset(reqs, 0, num * sizeof(*reqs));
	for (unsigned int i = 0; i < t->nresubmit; i++) {
		uint16_t e = t->resubmit[i], count, id;
		const struct vring_packed_desc *descs;

		FUZZ_CHECK(e < num && !seen[e], "resubmit entry %u listed twice or out of range", e);
		seen[e] = 1;
		/* Unlike the split layout, any non-zero state counts as inflight here. */
		FUZZ_CHECK(p->desc[e].inflight, "resubmitting entry %u which is not inflight", e);
		if (i)
			FUZZ_CHECK(p->desc[t->resubmit[i - 1]].counter <= p->desc[e].counter,
				   "resubmit list not in counter order at %u", i);
		FUZZ_CHECK(vb_inflight_chain_packed(t, e, &descs, &count, &id) == 0 && count >= 1 &&
			   count <= num, "entry %u: its chain cannot be read back", e);
		slots += count;
		reqs[e] = (struct packed_req){ true, id, count };
	}
	for (unsigned int i = 0; i < num; i++)
		inflight += p->desc[i].inflight != 0;
	FUZZ_CHECK(inflight == t->nresubmit, "%u entries inflight, %u listed", inflight, t->nresubmit);
	*nslots = slots;
	/* The region's chains hold no more descriptors than the ring has. */
	FUZZ_CHECK(slots <= num, "%u inflight descriptors accepted for a %u-entry ring", slots, num);
	vb_vring_packed_advance(num, &slot, &wrap, slots);
	FUZZ_CHECK(vr->last_avail_idx == slot && vr->avail_wrap == wrap,
		   "fetching resumes at %u/%d, not after the %u inflight descriptors", vr->last_avail_idx,
		   vr->avail_wrap, slots);
	FUZZ_CHECK(packed_entries_disjoint(t, p),
		   "packed region accepted with a free list that loops, ends badly or shares entries with an inflight chain");
	return true;
}

static void packed_restart(struct vb_inflight_tracker *t, struct vb_inflight_packed *p, size_t stride,
			   struct vb_vring *vr, uint64_t features, struct packed_req *reqs,
			   uint16_t used, bool used_wrap, unsigned int *slots)
{
	static struct packed_req now[RING_MAX];

	vb_inflight_stop(t);
	FUZZ_CHECK(vb_inflight_start_packed(t, p, stride, vr, features) == 0,
		   "restart on our own packed region refused");
	FUZZ_CHECK(check_started_packed(t, p, vr, now, slots), "our own packed region is inconsistent");
	FUZZ_CHECK(vr->used_idx == used && vr->used_wrap == used_wrap,
		   "restart resumes used at %u/%d, expected %u/%d", vr->used_idx, vr->used_wrap, used,
		   used_wrap);
	for (unsigned int e = 0; e < vr->num; e++)
		FUZZ_CHECK(now[e].out == reqs[e].out && (!now[e].out || (now[e].id == reqs[e].id &&
			   now[e].ndesc == reqs[e].ndesc)), "entry %u: inflight %d after the restart, expected %d",
			   e, now[e].out, reqs[e].out);
}

/* Length of the region's free list (which a made-up region may have cut short). */
static unsigned int free_entries(const struct vb_inflight_packed *p, uint16_t num)
{
	unsigned int n = 0;

	for (uint16_t e = p->free_head; e < num && n < num; e = p->desc[e].next)
		n++;
	return n;
}

/*
 * A restart after the front-end rewrote the region: it may refuse the
 * region; a region it accepts must be sound, though no longer the model's.
 * One rewritten to version 0 is fresh: nothing is resubmitted, and fetching
 * goes on where the ring is.
 */
static void hostile_restart(struct vb_inflight_tracker *t, struct vb_inflight_packed *p, size_t stride,
			    struct vb_vring *vr, uint64_t features)
{
	static struct packed_req now[RING_MAX];
	bool fresh = p->version == 0;
	unsigned int slots;
	int ret;

	vb_inflight_stop(t);
	ret = vb_inflight_start_packed(t, p, stride, vr, features);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL, "restart on a rewritten packed region returned %d", ret);
	if (ret == 0 && fresh)
		FUZZ_CHECK(t->nresubmit == 0, "a fresh region lists %u requests", t->nresubmit);
	else if (ret == 0)
		check_started_packed(t, p, vr, now, &slots);
}

/*
 * The queue's use of a packed tracker, against a driver that makes chains
 * available one at a time (which the queue fetches at once) and a model of
 * the entries inflight. Operation byte: bits 0-1 make a chain of 1 to 4
 * descriptors available and fetch it; complete a request (the queue's
 * sequence: complete, write the used element, publish); die in the middle of
 * a completion (bit 2: after the used element was written) and restart;
 * restart. The rest picks the request or the chain length.
 *
 * With a hostile front-end, a restart operation with bit 2 set instead
 * rewrites the region (see rewrite_region). From
 * then on the model no longer holds: every call must refuse a bad index
 * (-EINVAL, and the queue stops there) or stay inside the region, which
 * AddressSanitizer checks; a restart ends the run.
 */
static void run_packed_ops(struct vb_inflight_tracker *t, struct vb_inflight_packed *p, size_t stride,
			   struct vb_vring *vr, uint64_t features, bool hostile, unsigned int slots,
			   struct packed_req *reqs, struct fuzz_input *ops, unsigned int nops)
{
	static uint8_t id_used[RING_MAX];
	uint16_t num = vr->num;
	bool rewritten = false;

	memset(id_used, 0, num);
	for (unsigned int e = 0; e < num; e++) {
		if (!reqs[e].out)
			continue;
		/* A made-up region may name ids twice or out of range: the queue stops on those. */
		if (reqs[e].id >= num || id_used[reqs[e].id])
			return;
		id_used[reqs[e].id] = 1;
	}
	if (t->counter > UINT64_MAX - 512)
		return;
	for (unsigned int k = 0; k < nops; k++) {
		uint8_t op = fuzz_u8(ops);
		unsigned int pick = op >> 2, n = 0;
		uint16_t e = 0;

		if ((op & 3) == 0) {
			uint16_t len = 1 + (pick & 3), id, slot = vr->last_avail_idx, head, ndesc;
			bool wrap = vr->avail_wrap;
			uint64_t before = t->counter;
			const struct vring_packed_desc *descs;
			uint16_t count, cid;
			unsigned int free;
			int entry;

			if (slots + len > num)
				continue;
			for (id = (pick >> 2) % num; n < num && id_used[id]; id = (id + 1) % num, n++)
				;
			if (n == num)
				continue;
			/* The driver writes the chain's descriptors, each flagged for its lap. */
			for (uint16_t i = 0; i < len; i++) {
				uint16_t f = (wrap ? PACKED_AVAIL_F : PACKED_USED_F) |
					     (i + 1 < len ? VRING_DESC_F_NEXT : 0) |
					     (i + 1 == len ? VRING_DESC_F_WRITE : 0);

				vr->pdesc[slot] = (struct vring_packed_desc){ .addr = 0x100000 + 0x1000 * k + i,
					.len = 512 + i, .id = id, .flags = f };
				vb_vring_packed_advance(num, &slot, &wrap, 1);
			}
			FUZZ_CHECK(vb_vring_pop_head(vr, &head, &ndesc) == VB_POP_OK && head == id &&
				   ndesc == len, "the chain just made available did not pop");
			free = free_entries(p, num);
			entry = vb_inflight_fetch_packed(t, vr);
			if (entry < 0) {
				/* A made-up region's free list may run out early: the queue stops there. */
				FUZZ_CHECK(entry == -EINVAL && (rewritten || free < len),
					   "fetch of %u descriptors failed with %u free entries", len, free);
				return;
			}
			FUZZ_CHECK(entry < num, "fetch gave entry %d of a %u-entry ring", entry, num);
			if (rewritten) {
				int ret = vb_inflight_chain_packed(t, entry, &descs, &count, &cid);

				FUZZ_CHECK(ret == -EINVAL || (ret == 0 && count >= 1 && count <= num),
					   "entry %d of a rewritten region: chain of %u, returned %d", entry, count, ret);
				if (ret < 0)
					return;
				reqs[entry] = (struct packed_req){ true, id, len };
				id_used[id] = 1;
				slots += len;
				continue;
			}
			FUZZ_CHECK(!reqs[entry].out, "fetch gave entry %d, which is inflight", entry);
			FUZZ_CHECK(p->desc[entry].inflight == 1 && p->desc[entry].counter == before + 1 &&
				   p->desc[entry].num == len, "entry %d after fetch", entry);
			FUZZ_CHECK(vb_inflight_chain_packed(t, entry, &descs, &count, &cid) == 0 &&
				   count == len && cid == id, "entry %d: chain of %u, id %u", entry, count, cid);
			for (uint16_t i = 0; i < len; i++)
				FUZZ_CHECK(descs[i].addr == 0x100000 + 0x1000 * k + i && descs[i].len == 512u + i &&
					   descs[i].id == id, "entry %d: descriptor %u not copied", entry, i);
			reqs[entry] = (struct packed_req){ true, id, len };
			id_used[id] = 1;
			slots += len;
			continue;
		}
		if ((op & 3) == 3 && hostile && (pick & 1)) {
			k += rewrite_region(p, stride, ops);
			rewritten = true;
			continue;
		}
		if ((op & 3) == 3) {
			if (rewritten) {
				hostile_restart(t, p, stride, vr, features);
				return;
			}
			packed_restart(t, p, stride, vr, features, reqs, vr->used_idx, vr->used_wrap, &slots);
			continue;
		}
		/* Complete, or die completing, an inflight request. */
		for (e = pick % num; n < num && !reqs[e].out; e = (e + 1) % num, n++)
			;
		if (n == num)
			continue;
		{
			uint16_t idx = vr->used_idx;
			bool wrap = vr->used_wrap;
			bool die = (op & 3) == 2, written = !die || (pick & 1);

			int ret;

			vb_vring_packed_advance(num, &idx, &wrap, reqs[e].ndesc);
			ret = vb_inflight_complete_packed(t, e, idx, wrap);
			if (ret < 0) {
				FUZZ_CHECK(rewritten && ret == -EINVAL, "completion of entry %u returned %d", e, ret);
				return;
			}
			if (written)
				vb_vring_push_used(vr, reqs[e].id, reqs[e].ndesc, 0);
			if (!die) {
				vb_inflight_published_packed(t, e);
				FUZZ_CHECK(p->desc[e].inflight == 0 && p->old_used_idx == idx &&
					   p->old_used_wrap_counter == wrap, "entry %u after its completion", e);
			}
			if (written) {
				/* Committed, or to be committed by the restart: the slot shows the used element. */
				reqs[e].out = false;
				id_used[reqs[e].id] = 0;
				slots -= reqs[e].ndesc;
			}
			if (die && rewritten) {
				hostile_restart(t, p, stride, vr, features);
				return;
			}
			if (die)
				packed_restart(t, p, stride, vr, features, reqs, written ? idx : vr->used_idx,
					       written ? wrap : vr->used_wrap, &slots);
		}
	}
}

/* One packed queue region: start it on a ring at base (avail and used at the same slot), check, run. */
static void run_packed_queue(const void *mapped, size_t stride, uint16_t num, uint16_t base,
			     uint64_t features, bool hostile, struct fuzz_input *ops, unsigned int nops)
{
	static struct packed_req reqs[RING_MAX];
	struct vring_packed_desc_event events[2] = { { 0 } };
	struct vring_packed_desc *ring = calloc(num, sizeof(*ring));
	uint32_t b = (base & 0x8000) | ((base & 0x7fff) % num);
	struct vb_inflight_packed *p = malloc(stride);
	struct vb_inflight_tracker t;
	struct vb_vring vr;
	unsigned int slots;
	bool fresh;
	int ret;

	if (!ring || !p)
		abort();
	memcpy(p, mapped, stride);
	fresh = p->version == 0;
	FUZZ_CHECK(vb_vring_start(&vr, num, false, true, ring, &events[0], &events[1], b | b << 16),
		   "packed ring base 0x%x refused", b);
	ret = vb_inflight_start_packed(&t, p, stride, &vr, features);
	if (stride < vb_inflight_packed_min_size(num) ||
	    (!fresh && (p->version != VB_INFLIGHT_VERSION || p->desc_num != num)))
		FUZZ_CHECK(ret == -EINVAL, "a region that cannot belong to a %u-entry packed ring accepted", num);
	if (ret == 0) {
		if (fresh)
			FUZZ_CHECK(t.nresubmit == 0 && p->used_idx == vr.used_idx &&
				   p->old_used_idx == vr.used_idx && p->features == features &&
				   p->free_head == 0, "fresh packed region not initialised");
		if (check_started_packed(&t, p, &vr, reqs, &slots)) {
			uint16_t slot = vr.used_idx;
			bool wrap = vr.used_wrap;

			/*
			 * The ring as the driver left it: the inflight chains' slots,
			 * from the used index on, hold descriptors it made available
			 * on their lap (what a restart looks at to settle a completion).
			 */
			for (unsigned int i = 0; i < slots; i++) {
				ring[slot].flags = wrap ? PACKED_AVAIL_F : PACKED_USED_F;
				vb_vring_packed_advance(num, &slot, &wrap, 1);
			}
			run_packed_ops(&t, p, stride, &vr, features, hostile, slots, reqs, ops, nops);
		}
	} else {
		FUZZ_CHECK(ret == -EINVAL && !t.p && !t.resubmit && !t.chain,
			   "failed start left a tracker behind");
	}
	vb_inflight_stop(&t);
	free(p);
	free(ring);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	bool packed = flags & 64;
	uint16_t nq = (flags & 3) + 1;
	uint16_t qs = fuzz_u16(&in) % QSIZE_MOD;
	uint8_t extra = fuzz_u8(&in);
	uint64_t features = fuzz_u64(&in);
	uint16_t ring_num[4], used_idx[4];
	struct fuzz_input ops;
	unsigned int nops;
	struct vb_inflight_region r = { 0 };
	uint64_t region_size = 0, offset = 0;
	size_t min = vb_inflight_min_size(qs, packed);
	bool expect_ok;
	int fd, ret;

	for (int i = 0; i < 4; i++) {
		ring_num[i] = 1u << (fuzz_u8(&in) % 11);
		used_idx[i] = fuzz_u16(&in);
	}
	nops = fuzz_u8(&in);
	ops.p = in.p;
	ops.left = nops < in.left ? nops : in.left;
	in.p += ops.left;
	in.left -= ops.left;

	if (flags & 4) {
		fd = vb_inflight_create(nq, qs, packed, &region_size);
		if (fd < 0) {
			FUZZ_CHECK(qs == 0 && fd == -EINVAL, "vb_inflight_create(%u, %u): %d", nq, qs, fd);
			return 0;
		}
		FUZZ_CHECK(region_size == (uint64_t)vb_inflight_stride(qs, packed) * nq &&
			   region_size % VB_INFLIGHT_ALIGN == 0, "created %llu bytes for %u x %u",
			   (unsigned long long)region_size, nq, qs);
	} else {
		region_size = (uint64_t)(min + extra) * nq;
		if ((flags & 32) && region_size > 16)
			region_size -= 1 + extra % 15;
		if (flags & 8)
			offset = PAGE;
		else if (flags & 16)
			offset = 100;
		fd = memfd_create("fuzz-inflight", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, offset + region_size) < 0)
			abort();
		if (in.left) {
			size_t n = in.left < region_size ? in.left : region_size;

			if (pwrite(fd, in.p, n, offset) != (ssize_t)n)
				abort();
		}
	}

	expect_ok = qs && region_size && region_size % nq == 0 && region_size / nq >= min &&
		    (region_size / nq) % 8 == 0 && offset % PAGE == 0;
	ret = vb_inflight_map(&r, fd, region_size, offset, nq, qs, packed);
	close(fd);
	FUZZ_CHECK((ret == 0) == expect_ok, "vb_inflight_map(%llu bytes at %llu, %u x %u) returned %d",
		   (unsigned long long)region_size, (unsigned long long)offset, nq, qs, ret);
	if (ret < 0) {
		FUZZ_CHECK(!r.base, "a refused region is mapped");
		return 0;
	}
	FUZZ_CHECK(r.base && r.size == region_size && r.stride == region_size / nq &&
		   r.num_queues == nq && r.queue_size == qs, "mapped region geometry");
	FUZZ_CHECK(!vb_inflight_queue(&r, nq), "queue %u is outside the region", nq);

	for (unsigned int i = 0; packed && i < nq; i++) {
		void *mapped = vb_inflight_queue(&r, i);

		FUZZ_CHECK(mapped == (void *)((uint8_t *)r.base + r.stride * i), "queue %u misplaced", i);
		run_packed_queue(mapped, r.stride, ring_num[i], used_idx[i], features, flags & 128, &ops, nops);
	}
	for (unsigned int i = 0; !packed && i < nq; i++) {
		struct vb_inflight_split *mapped = vb_inflight_queue(&r, i), *q;
		struct vb_inflight_tracker t;
		uint16_t num = ring_num[i], last = 0;
		bool fresh, clean = true;

		FUZZ_CHECK(mapped == (void *)((uint8_t *)r.base + r.stride * i), "queue %u misplaced", i);
		q = malloc(r.stride);
		if (!q)
			abort();
		memcpy(q, mapped, r.stride);
		fresh = q->version == 0;
		if (fresh && r.stride >= vb_inflight_split_min_size(num))
			for (unsigned int h = 0; h < num; h++)
				clean &= q->desc[h].inflight == 0;
		ret = vb_inflight_start(&t, q, r.stride, num, features, used_idx[i], &last);
		if (r.stride < vb_inflight_split_min_size(num) ||
		    (!fresh && (q->version != VB_INFLIGHT_VERSION || q->desc_num != num)))
			FUZZ_CHECK(ret == -EINVAL, "a region that cannot belong to a %u-entry ring accepted", num);
		if (ret == 0) {
			if (fresh) {
				FUZZ_CHECK(last == used_idx[i] && q->used_idx == used_idx[i] &&
					   q->version == VB_INFLIGHT_VERSION && q->desc_num == num &&
					   q->features == features && t.nresubmit == 0,
					   "fresh region not initialised");
			}
			/* A fresh region with stray inflight marks keeps them (the front-end made it so). */
			if (!fresh || clean) {
				check_started(&t, q, num, used_idx[i], last);
				run_ops(&t, q, r.stride, num, features, used_idx[i], flags & 128, &ops, nops);
			}
		} else {
			FUZZ_CHECK(ret == -EINVAL && !t.q && !t.batch && !t.resubmit,
				   "failed start left a tracker behind");
		}
		vb_inflight_stop(&t);
		free(q);
	}
	vb_inflight_unmap(&r);
	FUZZ_CHECK(!r.base, "unmapped region still set");
	return 0;
}
