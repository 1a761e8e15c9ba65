/* Inflight I/O tracking (INFLIGHT_SHMFD): the shared region and the per-queue fetch/complete protocol. */
#ifndef VBRIDGE_INFLIGHT_H
#define VBRIDGE_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_inflight.h"
#include "virtqueue.h"

/* A mapped inflight region: num_queues queue regions at a fixed stride. */
struct vb_inflight_region {
	void *base;		/* NULL when no region is set */
	size_t size;
	size_t stride;
	uint16_t num_queues;
	uint16_t queue_size;
};

/*
 * Creates a zeroed region for GET_INFLIGHT_FD. Returns a memfd and its size
 * in *size, or -errno.
 */
int vb_inflight_create(uint16_t num_queues, uint16_t queue_size, bool packed, uint64_t *size);
/*
 * Maps a region given by SET_INFLIGHT_FD, possibly made by another back-end:
 * the stride is size / num_queues and must hold queue_size descriptors of
 * the split or packed layout. Returns 0 or -errno (reason logged).
 */
int vb_inflight_map(struct vb_inflight_region *r, int fd, uint64_t size, uint64_t offset,
		    uint16_t num_queues, uint16_t queue_size, bool packed);
void vb_inflight_unmap(struct vb_inflight_region *r);
/* The queue region of vring index, or NULL if the region does not cover it. */
void *vb_inflight_queue(const struct vb_inflight_region *r, unsigned int index);

/*
 * One ring's use of its queue region. Only the ring's worker thread touches
 * it while the ring runs; the region lives in memory the front-end keeps, so
 * it survives the daemon being killed.
 */
struct vb_inflight_tracker {
	struct vb_inflight_split *q;	/* split ring region; NULL if not tracked */
	struct vb_inflight_packed *p;	/* packed ring region; NULL if not tracked */
	struct vring_packed_desc *chain;	/* packed: a chain rebuilt from its copies */
	uint16_t *links;		/* packed: the entries of that chain, as read once from the region */
	uint16_t used_idx;		/* packed: where the completion in progress moves the used index */
	bool used_wrap;
	uint16_t num;
	uint64_t counter;		/* last counter handed out */
	uint16_t *batch;		/* heads completed since the last publish */
	unsigned int nbatch;
	uint16_t *resubmit;		/* heads (packed: head entries) found inflight, in counter order */
	unsigned int nresubmit;
};

/*
 * Starts tracking ring of num entries whose used->idx is used_idx, in the
 * queue region q of region_size bytes (too small for num is refused). A fresh
 * region is initialised; an existing one is repaired (a batch published but
 * not cleared) and its inflight heads listed for resubmission. On return
 * *last_avail_idx is where fetching must continue: used_idx plus the heads
 * still inflight. Returns 0 or -EINVAL for a region that cannot belong to this
 * ring (reason logged).
 */
int vb_inflight_start(struct vb_inflight_tracker *t, struct vb_inflight_split *q,
		      size_t region_size, uint16_t num, uint64_t features, uint16_t used_idx,
		      uint16_t *last_avail_idx);
void vb_inflight_stop(struct vb_inflight_tracker *t);

/*
 * Packed rings. The region is shared with the front-end, which may rewrite
 * it at any time: each function checks every index it reads from it and
 * fails with -EINVAL (the queue must stop) rather than follow a bad one.
 *
 * Starting takes the ring's indexes from the region when it holds state
 * (rolling back or committing an interrupted completion) and lists the head
 * entries to resubmit; a fresh region is initialised from the ring. Returns
 * 0 or -EINVAL (logged).
 */
int vb_inflight_start_packed(struct vb_inflight_tracker *t, struct vb_inflight_packed *p,
			     size_t region_size, struct vb_vring *vr, uint64_t features);
/* Records the chain just taken by vb_vring_pop_head; returns its head entry, or -EINVAL. */
int vb_inflight_fetch_packed(struct vb_inflight_tracker *t, const struct vb_vring *vr);
/* The recorded chain of a head entry, as descriptors to read the request from; or -EINVAL. */
int vb_inflight_chain_packed(struct vb_inflight_tracker *t, uint16_t entry,
			     const struct vring_packed_desc **descs, uint16_t *count, uint16_t *id);
/*
 * Before the used element is written: frees the entry's chain and records the
 * next used index. Returns 0, or -EINVAL when the region's links are corrupt:
 * then nothing is recorded and the used element must not be written.
 */
int vb_inflight_complete_packed(struct vb_inflight_tracker *t, uint16_t entry, uint16_t used_idx,
				bool used_wrap);
/* After it is written: the completion is committed. */
void vb_inflight_published_packed(struct vb_inflight_tracker *t, uint16_t entry);
/* Records that head was fetched; call before any I/O of it is issued. */
void vb_inflight_fetch(struct vb_inflight_tracker *t, uint16_t head);
/* Adds head to the batch being completed; call before its used entry is published. */
void vb_inflight_complete(struct vb_inflight_tracker *t, uint16_t head);
/* Clears the batch; call after used->idx (now used_idx) was published. */
void vb_inflight_published(struct vb_inflight_tracker *t, uint16_t used_idx);

#endif
