/* Fuzzes the descriptor-chain walker of split and packed rings (vb_vring_pop_head, vb_vring_read_chain, the used ring) over guest memory whose bytes are the input. */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "virtio/virtqueue.h"
#include "fuzz.h"

/*
 * Guest memory: three regions, A and B adjacent in guest physical space (so
 * buffers can straddle them), C apart. Each is a heap buffer of exactly its
 * size, so AddressSanitizer catches any access past a region's end.
 *
 * Input: a 14-byte header, then the contents of A, B and C in that order
 * (what the input does not cover is zero):
 *   u8  log2 of the ring size (mod 11: 1 to 1024 entries)
 *   u8  flags: bit 0 EVENT_IDX, bit 1 also read the chain at extra_head,
 *       bit 2 packed ring, bit 3 use base_hi as bits 16-31 of the base
 *   u16 vring base (split: the avail index to start from; packed: avail
 *       slot and wrap counter), u16 base_hi (packed: used slot and wrap)
 *   u16 extra_head
 *   u16 probe length, u32 probe guest address (translation checks)
 * Split layout: the avail ring at the start of A, the descriptor table right
 * after it (16-byte aligned), the used ring at the start of C. Packed: the
 * driver event area at the start of A, the descriptor ring 16 bytes in, the
 * device event area at the start of C. Indirect tables and buffers are
 * wherever the descriptors point.
 */

#define GPA_A 0x10000ull
#define SIZE_A 0x8000ull
#define GPA_B (GPA_A + SIZE_A)
#define SIZE_B 0x2000ull
#define GPA_C 0x100000ull
#define SIZE_C 0x3000ull
#define UVA_BASE 0x7f0000000000ull

static struct vb_mem_table mem;
static uint8_t *region_a, *region_b, *region_c;

static void add_region(uint8_t **buf, uint64_t gpa, uint64_t size)
{
	struct vb_mem_region *r = &mem.regions[mem.nregions++];

	*buf = aligned_alloc(64, size);
	if (!*buf)
		abort();
	/* Built by hand rather than with vb_mem_add so that the buffers are ASan-checked heap. */
	*r = (struct vb_mem_region){ .gpa = gpa, .size = size, .uva = UVA_BASE + gpa, .hva = *buf,
				     .writable = true };
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init_output();
	vb_log_threshold = fuzz_verbose() ? VB_LOG_DEBUG : VB_LOG_ERROR;
	add_region(&region_a, GPA_A, SIZE_A);
	add_region(&region_b, GPA_B, SIZE_B);
	add_region(&region_c, GPA_C, SIZE_C);
	return 0;
}

static const struct vb_mem_region *region_of(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (unsigned int i = 0; i < mem.nregions; i++) {
		const struct vb_mem_region *r = &mem.regions[i];

		if (b >= r->hva && b <= r->hva + r->size && len <= (size_t)(r->hva + r->size - b))
			return r;
	}
	return NULL;
}

static void check_chain(enum vb_pop_result res, const struct vb_chain *c, uint16_t head)
{
	uint64_t total = 0;

	FUZZ_CHECK(res == VB_POP_OK || res == VB_POP_BAD_CHAIN, "read_chain returned %d", res);
	FUZZ_CHECK(c->head == head, "chain head %u, asked %u", c->head, head);
	if (res != VB_POP_OK)
		return;
	FUZZ_CHECK(c->niov <= VB_CHAIN_IOV_MAX, "%u iovecs", c->niov);
	FUZZ_CHECK(c->nout <= c->niov, "nout %u > niov %u", c->nout, c->niov);
	FUZZ_CHECK(!c->status_ok || c->niov > c->nout, "status_ok without a writable iovec");
	for (unsigned int i = 0; i < c->niov; i++) {
		FUZZ_CHECK(c->iov[i].iov_len > 0, "empty iovec %u", i);
		FUZZ_CHECK(region_of(c->iov[i].iov_base, c->iov[i].iov_len),
			   "iovec %u (%zu bytes) is not inside one guest memory region", i,
			   c->iov[i].iov_len);
		total += c->iov[i].iov_len;
	}
	/* Each descriptor is at most 4 GiB and a chain has at most 1024 of them per table. */
	FUZZ_CHECK(total <= (uint64_t)UINT32_MAX * 2 * VB_QUEUE_SIZE_MAX, "chain of %llu bytes",
		   (unsigned long long)total);
	/* Touch every byte: the pointers must be real guest memory (ASan checks the bounds). */
	for (unsigned int i = 0; i < c->niov; i++) {
		volatile uint8_t *b = c->iov[i].iov_base;

		(void)b[0];
		(void)b[c->iov[i].iov_len - 1];
	}
}

/* Address translation of an arbitrary range: a result must lie inside the region it names. */
static void check_translation(uint64_t gpa, uint64_t len)
{
	uint8_t *h = vb_mem_gpa_to_hva(&mem, gpa, len, false);
	uint64_t back;

	if (h) {
		const struct vb_mem_region *r = region_of(h, len);

		FUZZ_CHECK(r && gpa - r->gpa == (uint64_t)(h - r->hva), "gpa 0x%llx misplaced",
			   (unsigned long long)gpa);
		FUZZ_CHECK(vb_mem_hva_to_gpa(&mem, h, &back) && (len == 0 || back == gpa),
			   "hva of gpa 0x%llx maps back to 0x%llx", (unsigned long long)gpa,
			   (unsigned long long)back);
	}
	h = vb_mem_uva_to_hva(&mem, UVA_BASE + gpa, len, false);
	if (h)
		FUZZ_CHECK(region_of(h, len), "uva range outside guest memory");
	if (len <= UINT32_MAX) {
		struct iovec iov[4];
		unsigned int n = 0;

		if (vb_mem_gpa_to_iov(&mem, gpa, len, false, iov, &n, 4) == 0) {
			uint64_t sum = 0;

			for (unsigned int i = 0; i < n; i++) {
				FUZZ_CHECK(region_of(iov[i].iov_base, iov[i].iov_len), "iov outside");
				sum += iov[i].iov_len;
			}
			FUZZ_CHECK(sum == len, "gpa_to_iov covered %llu of %llu bytes",
				   (unsigned long long)sum, (unsigned long long)len);
		}
	}
}

static bool packed_avail(uint16_t flags, bool wrap)
{
	return !!(flags & (1u << VRING_PACKED_DESC_F_AVAIL)) == wrap &&
	       !!(flags & (1u << VRING_PACKED_DESC_F_USED)) != wrap;
}

/* Advances a packed ring position by n slots, flipping the wrap counter on each lap. */
static void packed_advance(uint16_t *slot, bool *wrap, uint16_t n, uint16_t num)
{
	uint32_t s = (uint32_t)*slot + n;

	while (s >= num) {
		s -= num;
		*wrap = !*wrap;
	}
	*slot = s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vb_chain chain;
	static uint16_t heads[4 * VB_QUEUE_SIZE_MAX];
	struct fuzz_input in = { data, size };
	struct vb_vring vr;
	uint16_t num = 1u << (fuzz_u8(&in) % 11);
	uint8_t flags = fuzz_u8(&in);
	bool packed = flags & 4;
	uint32_t base = fuzz_u16(&in);
	uint16_t base_hi = fuzz_u16(&in);
	uint16_t extra_head = fuzz_u16(&in);
	uint16_t probe_len = fuzz_u16(&in);
	uint32_t probe_gpa = fuzz_u32(&in);
	size_t avail_end = packed ? 16 : (vb_vring_avail_size(num, false) + 15) & ~(size_t)15;
	void *avail_area = region_a, *desc_area = region_a + avail_end, *used_area = region_c;
	struct vring_avail *avail = avail_area;
	struct vring_used *used = used_area;
	struct vring_packed_desc *pdesc = desc_area;
	enum vb_pop_result res = VB_POP_OK;
	unsigned int popped = 0;
	uint16_t used_start, head, ndesc;
	bool started;

	if (flags & 8)
		base |= (uint32_t)base_hi << 16;
	if (avail_end + vb_vring_desc_size(num) > SIZE_A || vb_vring_used_size(num, false) > SIZE_C)
		abort();	/* the layout above must hold the largest ring */
	fuzz_bytes(&in, region_a, SIZE_A);
	fuzz_bytes(&in, region_b, SIZE_B);
	fuzz_bytes(&in, region_c, SIZE_C);

	check_translation(GPA_A + probe_gpa - 0x1000, probe_len);

	started = vb_vring_start(&vr, num, flags & 1, packed, desc_area, avail_area, used_area, base);
	if (packed)
		FUZZ_CHECK(started == ((base & 0x7fff) < num && ((base >> 16) & 0x7fff) < num),
			   "packed base 0x%x on a %u-entry ring: started %d", base, num, started);
	else
		FUZZ_CHECK(started == (base <= UINT16_MAX), "split base 0x%x: started %d", base, started);
	if (!started)
		return 0;
	FUZZ_CHECK(vb_vring_base(&vr) == (packed ? base : (base & 0xffff)),
		   "base 0x%x reads back as 0x%x", base, vb_vring_base(&vr));
	used_start = vr.used_idx;
	if (!packed)
		FUZZ_CHECK(used_start == used->idx, "used_idx not taken from the ring");
	/* A packed ring has no index to bound a pass: completing at once lets heads come back. */
	while (popped < 4u * num) {
		uint16_t before = vr.last_avail_idx, used_slot = vr.used_idx;
		bool before_wrap = vr.avail_wrap, used_wrap = vr.used_wrap;
		uint32_t written = 0;

		res = vb_vring_pop_head(&vr, &head, &ndesc);
		if (res != VB_POP_OK) {
			FUZZ_CHECK(res == VB_POP_EMPTY || res == VB_POP_BROKEN, "pop returned %d", res);
			FUZZ_CHECK(vr.last_avail_idx == before && vr.avail_wrap == before_wrap,
				   "a failed pop moved the avail position");
			if (res == VB_POP_EMPTY && !packed)
				FUZZ_CHECK(avail->idx == vr.last_avail_idx, "empty with entries pending");
			if (res == VB_POP_EMPTY && packed)
				FUZZ_CHECK(!packed_avail(pdesc[before].flags, before_wrap),
					   "empty with slot %u available", before);
			break;
		}
		FUZZ_CHECK(head < num, "head %u of a %u-entry ring", head, num);
		if (!packed)
			FUZZ_CHECK(popped < num, "more than %u requests popped from one avail index", num);
		if (packed) {
			FUZZ_CHECK(ndesc >= 1 && ndesc <= num, "packed chain of %u slots", ndesc);
			FUZZ_CHECK(packed_avail(pdesc[before].flags, before_wrap),
				   "popped slot %u which is not available", before);
			packed_advance(&before, &before_wrap, ndesc, num);
			FUZZ_CHECK(vr.last_avail_idx == before && vr.avail_wrap == before_wrap &&
				   vr.last_avail_idx < num, "packed pop of %u slots moved to %u", ndesc,
				   vr.last_avail_idx);
		} else {
			FUZZ_CHECK(ndesc == 1, "split chain of %u slots", ndesc);
			FUZZ_CHECK(vr.last_avail_idx == (uint16_t)(before + 1), "pop did not advance by one");
		}
		heads[popped++] = head;
		check_chain(vb_vring_read_chain(&vr, &mem, head, &chain), &chain, head);
		for (unsigned int i = chain.nout; i < chain.niov; i++)
			written += chain.iov[i].iov_len;
		vb_vring_push_used(&vr, head, ndesc, written);
		if (packed) {
			const struct vring_packed_desc *d = &pdesc[used_slot];
			uint16_t f = used_wrap ? (1u << VRING_PACKED_DESC_F_AVAIL) |
						 (1u << VRING_PACKED_DESC_F_USED) : 0;

			FUZZ_CHECK(d->id == head && d->len == written && d->flags == f,
				   "used element at slot %u: id %u len %u flags 0x%x", used_slot, d->id,
				   d->len, d->flags);
			packed_advance(&used_slot, &used_wrap, ndesc, num);
			FUZZ_CHECK(vr.used_idx == used_slot && vr.used_wrap == used_wrap,
				   "used position after %u slots", ndesc);
		}
	}
	if (!packed)
		FUZZ_CHECK(vr.last_avail_idx == (uint16_t)(base + popped),
			   "last_avail_idx %u after %u pops from %u", vr.last_avail_idx, popped, base);
	if (flags & 2) {
		head = extra_head % num;
		check_chain(vb_vring_read_chain(&vr, &mem, head, &chain), &chain, head);
	}

	vb_vring_publish_used(&vr);
	if (!packed) {
		/* Every popped head comes back in order, then the index is published. */
		FUZZ_CHECK(used->idx == (uint16_t)(used_start + popped),
			   "used->idx %u after %u entries from %u", used->idx, popped, used_start);
		for (unsigned int i = 0; i < popped; i++)
			FUZZ_CHECK(used->ring[(uint16_t)(used_start + i) & (num - 1)].id == heads[i],
				   "used entry %u is not head %u", i, heads[i]);
	}
	vb_vring_need_notify(&vr);
	FUZZ_CHECK(vr.signalled_used_valid && vr.signalled_used == vr.used_idx, "notification state");
	vb_vring_disable_kicks(&vr);
	if (packed) {
		const struct vring_packed_desc_event *dev_ev = used_area;

		FUZZ_CHECK(dev_ev->flags == VRING_PACKED_EVENT_FLAG_DISABLE, "kicks not disabled");
		if (vb_vring_enable_kicks(&vr))
			FUZZ_CHECK(res != VB_POP_EMPTY || popped == 4u * num,
				   "enable_kicks sees a request the pop did not");
		FUZZ_CHECK(dev_ev->flags == VRING_PACKED_EVENT_FLAG_ENABLE, "kicks not enabled");
		return 0;
	}
	if (!vr.event_idx)
		FUZZ_CHECK(used->flags == VRING_USED_F_NO_NOTIFY, "kicks not disabled");
	FUZZ_CHECK(vb_vring_enable_kicks(&vr) == (avail->idx != vr.last_avail_idx),
		   "enable_kicks disagrees with the avail index");
	if (vr.event_idx) {
		uint16_t avail_event;

		memcpy(&avail_event, &used->ring[num], sizeof(avail_event));
		FUZZ_CHECK(avail_event == vr.last_avail_idx, "avail_event not set");
	} else {
		FUZZ_CHECK(used->flags == 0, "kicks not enabled");
	}
	return 0;
}
