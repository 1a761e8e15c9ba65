/* kabort I/O engine: requests through the vbabort kernel module, whose in-flight bios can be aborted. */
#ifndef VBRIDGE_KABORT_IO_H
#define VBRIDGE_KABORT_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "engine.h"
#include "req_list.h"
#include "uapi/linux/vbabort.h"

#define VB_KABORT_DEVICE "/dev/vbabort"

/*
 * One queue's vbabort context, bound to the disk. Requests are batched for
 * SUBMIT_REAP, which also collects completions; ones the context cannot
 * take yet (it owns VBABORT_MAX_REQS) wait in a FIFO (req_list.h). Used by
 * one queue thread only.
 */
struct vb_kabort {
	int fd;				/* the context; -1 when closed */
	int event_fd;			/* the module signals it per completion */
	unsigned int max_io_bytes;
	uint32_t logical_block;
	/* The device's writeback flag (CONFIG_WCE), read as each write is submitted. */
	const uint8_t *writeback;
	struct vb_req_list queued;	/* waiting to be submitted */
	/* Writes settled FENCED at a suspension and still in the module (their slots are not ours). */
	unsigned int nfenced;
	/* The event fd fired since the last call with requests owned by the module. */
	bool signalled;
	unsigned int owned;		/* submitted, not reaped nor settled by ABORT */
	/* For the log at close: ioctls per request is what batching saves. */
	unsigned long long calls, requests;
	struct vbabort_req batch[VBABORT_MAX_BATCH];
	struct vbabort_iovec iov[VBABORT_MAX_BATCH][VBABORT_MAX_SEGS];
	struct vbabort_cqe cqes[VBABORT_MAX_REQS];
};

/* Whether the module is there and speaks our ABI; the reason is logged if not. Returns 0 or -errno. */
int vb_kabort_probe(void);
/*
 * Opens a context on disk_fd (a block device), without waiting for writes a
 * previous process left in flight there: the module holds back only our
 * requests that overlap them. While *writeback is 0, writes carry FUA.
 * Returns 0 or -errno, with the reason logged.
 */
int vb_kabort_open(struct vb_kabort *k, int disk_fd, const uint8_t *writeback);
void vb_kabort_close(struct vb_kabort *k);
/* Whether req is an operation the module takes as it is (size, segments, alignment). */
bool vb_kabort_fits(const struct vb_kabort *k, const struct vb_blk_req *req);
/* Queues req for the next vb_kabort_submit. */
void vb_kabort_queue(struct vb_kabort *k, struct vb_blk_req *req);
/* Notes that the event fd fired: the next vb_kabort_flush reaps, if the module owns any request. */
void vb_kabort_signalled(struct vb_kabort *k);
/*
 * Submits what is queued, as much as the context takes, and takes the
 * completions waiting in the context, without blocking, in one SUBMIT_REAP
 * per batch. Each request done or refused gets its status (a read's data is
 * in guest memory by then) and is passed to finish(ctx, req).
 */
void vb_kabort_flush(struct vb_kabort *k, void (*finish)(void *ctx, struct vb_blk_req *req),
		     void *ctx);
/* Empties the submission FIFO, returning its requests as a req_list.h list. */
struct vb_blk_req *vb_kabort_take_queued(struct vb_kabort *k);

/*
 * ABORTs everything the context owns and passes each request to
 * settle(ctx, req, fate): never issued, CANCELLED; issued reads, ABANDONED
 * (the module frees their pages; guest memory is never written); completed
 * ones, COMPLETED with their status; writes, discards and write-zeroes
 * still running, FENCED (the module holds back every later request that
 * overlaps one until it lands; vb_kabort_reap drops its completion);
 * flushes still running, WAITED: they complete through vb_kabort_reap.
 * Returns 0 or -errno.
 */
int vb_kabort_abort(struct vb_kabort *k,
		    void (*settle)(void *ctx, struct vb_blk_req *req, enum vb_fate fate), void *ctx);

#endif
