/* Layout of the vhost-user inflight I/O tracking region (INFLIGHT_SHMFD), shared by the daemon and its tools. */
#ifndef VBRIDGE_VHOST_INFLIGHT_H
#define VBRIDGE_VHOST_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The region holds one queue region per virtqueue, each at a fixed stride.
 * The spec does not fix the stride and implementations differ, so a region
 * made elsewhere is read with stride = mmap_size / num_queues, which must be
 * at least vb_inflight_split_min_size(queue_size) and a multiple of 8 (the
 * counters are 64-bit). Fields are in host byte order: a saved copy reads
 * correctly only on a machine of the same byte order.
 */

#define VB_INFLIGHT_VERSION 1
/* vbridge aligns the regions it creates to this (as DPDK does). */
#define VB_INFLIGHT_ALIGN 64

/* Split ring: one descriptor state per descriptor index. */
struct vb_inflight_desc_split {
	uint8_t inflight;	/* 1 from fetch until completion is published */
	uint8_t padding[5];
	/*
	 * Completion batch list: last_batch_head, then next, ... The list has
	 * no end and runs on into older batches; only its first (used->idx -
	 * used_idx) entries are meaningful, for repairing an interrupted batch.
	 */
	uint16_t next;
	uint64_t counter;	/* fetch order, increasing */
};

struct vb_inflight_split {
	uint64_t features;	/* negotiated virtio features */
	uint16_t version;	/* VB_INFLIGHT_VERSION; 0 means not initialised */
	uint16_t desc_num;	/* queue size */
	uint16_t last_batch_head;
	uint16_t used_idx;	/* mirror of used->idx */
	struct vb_inflight_desc_split desc[];
};

_Static_assert(sizeof(struct vb_inflight_desc_split) == 16, "inflight descriptor layout");
_Static_assert(sizeof(struct vb_inflight_split) == 16, "inflight queue header layout");
_Static_assert(offsetof(struct vb_inflight_desc_split, next) == 6 &&
	       offsetof(struct vb_inflight_desc_split, counter) == 8, "inflight descriptor fields");
_Static_assert(offsetof(struct vb_inflight_split, used_idx) == 14, "inflight queue header fields");

/*
 * Packed ring. A packed ring's descriptors are overwritten by used elements,
 * so each fetched chain is copied here: a request's entries are linked from
 * its head entry through next, the free ones form a list from free_head, and
 * the old_* fields are the state before the update in progress, so that an
 * interrupted update can be rolled back or committed.
 */
struct vb_inflight_desc_packed {
	uint8_t inflight;	/* head entries: 1 from fetch until completion */
	uint8_t padding;
	uint16_t next;		/* next entry of the chain, or of the free list */
	uint16_t last;		/* head entries: the entry holding the chain's last descriptor */
	uint16_t num;		/* head entries: descriptors in the chain */
	uint64_t counter;	/* head entries: fetch order */
	uint16_t id;		/* copy of the descriptor */
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct vb_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vb_inflight_desc_packed desc[];
};

_Static_assert(sizeof(struct vb_inflight_desc_packed) == 32, "packed inflight entry layout");
_Static_assert(offsetof(struct vb_inflight_packed, desc) == 32, "packed inflight header layout");

static inline size_t vb_inflight_split_min_size(uint16_t queue_size)
{
	return sizeof(struct vb_inflight_split) +
	       (size_t)queue_size * sizeof(struct vb_inflight_desc_split);
}

static inline size_t vb_inflight_packed_min_size(uint16_t queue_size)
{
	return offsetof(struct vb_inflight_packed, desc) +
	       (size_t)queue_size * sizeof(struct vb_inflight_desc_packed);
}

static inline size_t vb_inflight_min_size(uint16_t queue_size, int packed)
{
	return packed ? vb_inflight_packed_min_size(queue_size) :
			vb_inflight_split_min_size(queue_size);
}

static inline size_t vb_inflight_stride(uint16_t queue_size, int packed)
{
	size_t min = vb_inflight_min_size(queue_size, packed);

	return (min + VB_INFLIGHT_ALIGN - 1) & ~(size_t)(VB_INFLIGHT_ALIGN - 1);
}

static inline size_t vb_inflight_split_stride(uint16_t queue_size)
{
	return vb_inflight_stride(queue_size, 0);
}

#endif
