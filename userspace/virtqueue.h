/* Split virtqueue: fetching descriptor chains from an untrusted guest and publishing used entries. */
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
 * A split ring as the device sees it. The ring memory belongs to the guest and
 * may change under us at any time, so every descriptor is copied once before
 * it is checked and used.
 */
struct vb_vring {
	uint16_t num;			/* entries; a power of two */
	bool event_idx;			/* VIRTIO_RING_F_EVENT_IDX negotiated */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;	/* next avail entry to fetch */
	uint16_t used_idx;		/* our copy of used->idx, published in batches */
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

/* Checks that the ring areas fit and are aligned as the split ring layout needs. */
size_t vb_vring_desc_size(uint16_t num);
size_t vb_vring_avail_size(uint16_t num);
size_t vb_vring_used_size(uint16_t num);

/* Prepares a ring whose areas are mapped; used_idx is taken from the guest-visible used->idx. */
void vb_vring_start(struct vb_vring *vr, uint16_t num, bool event_idx, void *desc,
		    void *avail, void *used, uint16_t last_avail_idx);
/* Takes the next available head (always < num) without reading its chain. */
enum vb_pop_result vb_vring_pop_head(struct vb_vring *vr, uint16_t *head);
/* Reads and checks the chain starting at head into *chain. */
enum vb_pop_result vb_vring_read_chain(const struct vb_vring *vr, const struct vb_mem_table *mem,
				       uint16_t head, struct vb_chain *chain);
/* Writes a used entry; the guest sees it after vb_vring_publish_used(). */
void vb_vring_push_used(struct vb_vring *vr, uint16_t head, uint32_t len);
void vb_vring_publish_used(struct vb_vring *vr);
/* Whether the guest asked to be interrupted for what was published since the last notification. */
bool vb_vring_need_notify(struct vb_vring *vr);
/*
 * Re-enables guest kicks after the ring was drained; returns true if more
 * entries arrived meanwhile, so the caller must fetch again.
 */
bool vb_vring_enable_kicks(struct vb_vring *vr);
void vb_vring_disable_kicks(struct vb_vring *vr);

#endif
