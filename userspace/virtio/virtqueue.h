/* Virtqueues (split and packed): fetching descriptor chains from an untrusted guest and publishing used entries. */
#ifndef VBRIDGE_VIRTQUEUE_H
#define VBRIDGE_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#include "guest_mem.h"

#define VB_QUEUE_SIZE_MAX 1024
/*
 * iovecs one request may use: seg_max data segments plus header and status,
 * with room for segments that straddle two memory regions.
 */
#define VB_SEG_MAX 126
#define VB_CHAIN_IOV_MAX (VB_SEG_MAX + 34)

/*
 * A ring as the device sees it. The ring memory belongs to the guest and may
 * change under us at any time, so every descriptor is copied once before it
 * is checked and used.
 *
 * Split ring: last_avail_idx and used_idx are free-running 16-bit indexes.
 * Packed ring: they are slots (0 to num - 1) in the one descriptor ring, each
 * with a wrap counter, and a used element is visible as soon as its flags are
 * written.
 */
struct vb_vring {
	uint16_t num;			/* entries; a power of two */
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool packed;			/* VIRTIO_F_RING_PACKED negotiated */
	struct vring_desc *desc;		/* split */
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;	/* packed */
	struct vring_packed_desc_event *driver_event;
	struct vring_packed_desc_event *device_event;
	uint16_t last_avail_idx;	/* next avail entry to fetch */
	uint16_t used_idx;		/* next used entry to write */
	bool avail_wrap;		/* packed wrap counters */
	bool used_wrap;
	uint16_t pop_slot;		/* packed: the chain taken by the last pop_head */
	uint16_t pop_count;
	uint16_t signalled_used;	/* used_idx at the last guest notification */
	bool signalled_used_valid;
};

/* A fetched descriptor chain: the first nout iovecs are device-readable, the rest writable. */
struct vb_chain {
	uint16_t head;
	unsigned int niov;
	unsigned int nout;
	/* Some descriptor pointed outside guest memory; it is not in iov[]. */
	bool bad_addr;
	/* The last writable descriptor is intact, so the status byte can be written. */
	bool status_ok;
	struct iovec iov[VB_CHAIN_IOV_MAX];
};

enum vb_pop_result {
	VB_POP_EMPTY,		/* nothing to fetch */
	VB_POP_OK,		/* a head was taken, or a chain read (it may carry bad_addr) */
	VB_POP_BAD_CHAIN,	/* malformed chain: loop, bad flags, too long; the head is valid */
	VB_POP_BROKEN,		/* the ring itself is corrupt: stop using it */
};

/*
 * Sizes of the three ring areas: descriptors, then the available ring (the
 * driver event suppression area of a packed ring), then the used ring (the
 * device area).
 */
size_t vb_vring_desc_size(uint16_t num);
size_t vb_vring_avail_size(uint16_t num, bool packed);
size_t vb_vring_used_size(uint16_t num, bool packed);

/*
 * Where the front-end put a ring's three areas: front-end virtual addresses
 * (vhost-user) or guest physical / IO virtual addresses (VDUSE).
 */
struct vb_ring_addr {
	uint64_t desc, avail, used;
	bool uva;
};

/* The three areas as mapped here. */
struct vb_ring_areas {
	void *desc, *avail, *used;
};

/*
 * Maps the areas at a through mem: each must lie in one region, aligned,
 * the device's areas in writable memory, the used ring apart from the
 * others. Returns NULL, or why not.
 */
const char *vb_vring_translate(const struct vb_mem_table *mem, const struct vb_ring_addr *a,
			       uint16_t num, bool packed, struct vb_ring_areas *out);
/* Points a started ring at a new mapping of its areas (a new memory map), keeping its indexes. */
void vb_vring_relocate(struct vb_vring *vr, const struct vb_ring_areas *areas);
/*
 * Prepares a ring whose areas are mapped, from a vring base as vhost-user
 * gives it: a split ring's next avail index (its used index is read from
 * used->idx), or a packed ring's avail index and wrap counter in bits 0-15
 * and used index and wrap counter in bits 16-31. Returns false if the base
 * does not fit the ring.
 */
bool vb_vring_start(struct vb_vring *vr, uint16_t num, bool event_idx, bool packed, void *desc,
		    void *avail, void *used, uint32_t base);
/* The vring base to resume from, in the same encoding. */
uint32_t vb_vring_base(const struct vb_vring *vr);
/*
 * Takes the next available request: its head (split) or buffer id (packed),
 * always < num, without reading its chain; *ndesc is the number of ring
 * slots it occupies (packed; 1 for split).
 */
enum vb_pop_result vb_vring_pop_head(struct vb_vring *vr, uint16_t *head, uint16_t *ndesc);
/*
 * Reads and checks the chain of head into *chain. For a packed ring this is
 * the chain taken by the last vb_vring_pop_head.
 */
enum vb_pop_result vb_vring_read_chain(const struct vb_vring *vr, const struct vb_mem_table *mem,
				       uint16_t head, struct vb_chain *chain);
/*
 * Reads a packed chain of count descriptors starting at first in descs, a
 * ring of ring_num entries (the live ring, or copies of a chain). The last
 * descriptor must carry buffer id head.
 */
enum vb_pop_result vb_vring_read_packed(const struct vring_packed_desc *descs, uint16_t ring_num,
					uint16_t first, uint16_t count, uint16_t head,
					const struct vb_mem_table *mem, struct vb_chain *chain);
/* Moves a packed ring index n slots on, flipping its wrap counter at the end of the ring. */
void vb_vring_packed_advance(uint16_t num, uint16_t *idx, bool *wrap, uint16_t n);
/* Whether packed descriptor flags mean "available" on the lap with wrap counter wrap. */
bool vb_vring_packed_avail(uint16_t flags, bool wrap);

/*
 * Writes a used entry for a request that occupied ndesc slots; the guest of a
 * split ring sees it after vb_vring_publish_used(), of a packed ring at once.
 */
void vb_vring_push_used(struct vb_vring *vr, uint16_t head, uint16_t ndesc, uint32_t len);
void vb_vring_publish_used(struct vb_vring *vr);
/* Whether the guest asked to be interrupted for what was published since the last notification. */
bool vb_vring_need_notify(struct vb_vring *vr);
/*
 * Re-enables guest kicks after the ring was drained; returns true if more
 * entries arrived meanwhile, so the caller must fetch again.
 */
bool vb_vring_enable_kicks(struct vb_vring *vr);
void vb_vring_disable_kicks(struct vb_vring *vr);
/* Whether the guest made requests available that were not taken yet (a cheap look, for polling). */
bool vb_vring_avail_pending(const struct vb_vring *vr);

#endif
