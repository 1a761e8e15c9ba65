/* virtio-blk requests: turning a descriptor chain into a disk operation and a status. */
#ifndef VBRIDGE_BLK_H
#define VBRIDGE_BLK_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtqueue.h"

/* virtio-blk addresses the disk in 512-byte sectors whatever its block size. */
#define VB_SECTOR_SHIFT 9
#define VB_SECTOR_SIZE (1u << VB_SECTOR_SHIFT)

/* Requests bigger than this are refused; seg_max * size_max is far below it. */
#define VB_REQ_MAX_BYTES (128u << 20)
#define VB_SIZE_MAX (1u << 20)
#define VB_DISCARD_MAX_SECTORS ((1u << 30) >> 9)

enum vb_io_op {
	VB_IO_NONE,		/* finished while parsing: status is already known */
	VB_IO_READ,
	VB_IO_WRITE,
	VB_IO_FLUSH,
	VB_IO_DISCARD,
	VB_IO_WRITE_ZEROES,
};

/*
 * One guest request. Slots are indexed by descriptor head, which the guest
 * cannot have in flight twice, so no allocation happens per request.
 */
struct vb_blk_req {
	bool busy;
	uint16_t ndesc;		/* ring slots the request occupies (packed rings) */
	uint16_t inflight_entry;	/* packed rings: its head entry in the inflight region */
	enum vb_io_op op;
	uint8_t status;		/* VIRTIO_BLK_S_* to report */
	bool unmap;		/* WRITE_ZEROES may deallocate */
	uint8_t *status_ptr;	/* guest byte for the status; NULL if the chain has none */
	uint32_t used_len;	/* bytes written to the guest on success, status included */
	uint64_t offset;	/* disk byte offset */
	uint64_t len;		/* bytes to transfer, or to discard/zero */
	struct iovec *iov;	/* data buffers in guest memory (points into chain.iov) */
	unsigned int niov;
	/* The memory map the chain was read through, referenced until the request ends. */
	struct vb_mem_table *mem;
	/*
	 * Fetched again from the inflight region (the queue sets it): a write
	 * of the last back-end may still be on its range, which engines that
	 * order I/O by range must respect.
	 */
	bool resubmitted;
	struct vb_chain chain;
};

/*
 * An engine's own data for a request (vb_engine_ops.req_size bytes, aligned
 * for 8-byte fields) lives right behind it in its slot.
 */
static inline void *vb_blk_req_engine_data(struct vb_blk_req *req)
{
	return req + 1;
}

/* Bytes of one request slot for an engine with req_size bytes of its own per request. */
static inline size_t vb_blk_req_slot_size(size_t req_size)
{
	return (sizeof(struct vb_blk_req) + req_size + 7) & ~(size_t)7;
}

/* What decoding needs to know of the disk a device serves; the device fills it once. */
struct vb_blk_target {
	uint64_t size;				/* bytes */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES];	/* GET_ID's answer; not NUL-terminated when full */
};

/*
 * Decodes req->chain into an operation. Anything the device must refuse
 * (bad address, out of range, read-only, unknown type) comes back as
 * VB_IO_NONE with the status set; GET_ID is also completed here.
 */
void vb_blk_parse(const struct vb_blk_target *t, struct vb_blk_req *req);
/* Status to report for a finished disk operation with result res (bytes or -errno). */
uint8_t vb_blk_status_from_errno(int res);
/*
 * Copies between the request's guest buffers, from byte skip of the
 * transfer on, and buf (a bounce buffer). The iovecs are never edited:
 * completion and dirty logging need them as the guest gave them.
 */
void vb_blk_copy(struct vb_blk_req *req, size_t skip, void *buf, bool to_guest);

#endif
