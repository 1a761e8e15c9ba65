/* io_uring disk operations: issuing a parsed virtio-blk request to the disk and finishing it (uring, delay and kabort engines). */
#include "uring_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "util/log.h"

#define FLAG_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define FLAG_SET(x) __atomic_store_n(&(x), 1, __ATOMIC_RELAXED)

static bool dio_aligned(const struct vb_disk *disk, const struct vb_blk_req *req)
{
	if (!disk->direct)
		return true;
	for (unsigned int i = 0; i < req->niov; i++) {
		if ((uintptr_t)req->iov[i].iov_base % disk->dio_mem_align ||
		    req->iov[i].iov_len % disk->dio_offset_align)
			return false;
	}
	return true;
}

/* Moves the rest of a transfer, from byte from on, into an aligned bounce buffer. */
static bool use_bounce(struct vb_bounce_pool *pool, const struct vb_disk *disk,
		       struct vb_blk_req *req, uint64_t from)
{
	struct vb_uring_req *ur = vb_uring_req(req);
	size_t align = disk->dio_mem_align > VB_BOUNCE_ALIGN ? disk->dio_mem_align : VB_BOUNCE_ALIGN;

	ur->bounce = vb_bounce_get(pool, align, req->len - from, &ur->bounce_cap);
	if (!ur->bounce)
		return false;
	ur->bounce_from = from;
	if (req->op == VB_IO_WRITE)
		vb_blk_copy(req, from, ur->bounce, false);
	return true;
}

/* Queue threads size their rings so that this practically never has to submit early. */
struct io_uring_sqe *vb_uring_sqe(struct io_uring *ring, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	if (sqe)
		io_uring_sqe_set_data64(sqe, user_data);
	return sqe;
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring, struct vb_blk_req *req)
{
	return vb_uring_sqe(ring, (uint64_t)(uintptr_t)req);
}

/* Points a prepared SQE at the ring's registered copy of the disk fd, which spares a file lookup. */
static void target_disk(struct io_uring_sqe *sqe, unsigned int flags)
{
	if (flags & VB_URING_FIXED_FILE) {
		sqe->fd = 0;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	if (flags & VB_URING_ASYNC)
		sqe->flags |= IOSQE_ASYNC;
}

static bool queue_rw(struct io_uring *ring, const struct vb_disk *disk, unsigned int flags,
		     struct vb_blk_req *req)
{
	struct vb_uring_req *ur = vb_uring_req(req);
	struct io_uring_sqe *sqe = get_sqe(ring, req);
	bool write = req->op == VB_IO_WRITE;
	uint64_t off = req->offset + ur->done;

	if (!sqe)
		return false;
	if (ur->bounce) {
		void *buf = (uint8_t *)ur->bounce + (ur->done - ur->bounce_from);
		unsigned int len = req->len - ur->done;

		if (write)
			io_uring_prep_write(sqe, disk->fd, buf, len, off);
		else
			io_uring_prep_read(sqe, disk->fd, buf, len, off);
	} else if (write) {
		io_uring_prep_writev(sqe, disk->fd, req->iov, req->niov, off);
	} else {
		io_uring_prep_readv(sqe, disk->fd, req->iov, req->niov, off);
	}
	target_disk(sqe, flags);
	/* Write-through cache mode: every write is durable before it completes. */
	if (write && !(flags & VB_URING_WRITEBACK))
		sqe->rw_flags = RWF_DSYNC;
	return true;
}

static bool queue_fallocate(struct io_uring *ring, const struct vb_disk *disk, unsigned int flags,
			    struct vb_blk_req *req)
{
	struct io_uring_sqe *sqe = get_sqe(ring, req);

	if (!sqe)
		return false;
	io_uring_prep_fallocate(sqe, disk->fd, vb_uring_req(req)->fallocate_mode, req->offset,
				req->len);
	target_disk(sqe, flags);
	return true;
}

/*
 * Write-zeroes tries the mode that matches the unmap hint first and the other
 * one if the file system or device lacks it; both guarantee zeroes on read.
 */
static int zeroes_mode(const struct vb_disk *disk, bool unmap, int tried)
{
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	const int zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	int first = unmap ? punch : zero, second = unmap ? zero : punch;

	for (int i = 0; i < 2; i++) {
		int mode = i == 0 ? first : second;
		bool missing = mode == punch ? FLAG_LOAD(disk->no_punch_hole) :
					       FLAG_LOAD(disk->no_zero_range);

		if (!missing && mode != tried)
			return mode;
	}
	return -1;
}

void vb_uring_release(struct vb_bounce_pool *pool, struct vb_blk_req *req)
{
	struct vb_uring_req *ur = vb_uring_req(req);

	vb_bounce_put(pool, ur->bounce, ur->bounce_cap);
	ur->bounce = NULL;
	ur->on_uring = false;
	ur->abandoned = false;
	if (ur->fenced_on) {
		vb_fence_drop(ur->fenced_on, &ur->fence);
		ur->fenced_on = NULL;
	}
}

bool vb_uring_drop_abandoned(struct vb_bounce_pool *pool, struct vb_blk_req *req)
{
	if (!vb_uring_req(req)->abandoned)
		return false;
	vb_uring_release(pool, req);
	return true;
}

static bool finish(struct vb_bounce_pool *pool, struct vb_blk_req *req, uint8_t status)
{
	req->status = status;
	vb_uring_release(pool, req);
	return true;
}

bool vb_uring_issue(struct io_uring *ring, struct vb_bounce_pool *pool, struct vb_disk *disk,
		    unsigned int flags, struct vb_blk_req *req)
{
	bool bounce_read = req->op == VB_IO_READ && (flags & VB_URING_BOUNCE_READS);
	struct vb_uring_req *ur = vb_uring_req(req);
	struct io_uring_sqe *sqe;

	ur->done = 0;
	switch (req->op) {
	case VB_IO_READ:
	case VB_IO_WRITE:
		if ((bounce_read || !dio_aligned(disk, req)) && !use_bounce(pool, disk, req, 0))
			break;
		if (queue_rw(ring, disk, flags, req))
			return true;
		break;
	case VB_IO_FLUSH:
		sqe = get_sqe(ring, req);
		if (!sqe)
			break;
		io_uring_prep_fsync(sqe, disk->fd, IORING_FSYNC_DATASYNC);
		target_disk(sqe, flags);
		return true;
	case VB_IO_DISCARD:
		/* Discard is a hint: where holes cannot be punched, doing nothing is correct. */
		if (FLAG_LOAD(disk->no_punch_hole)) {
			req->status = VIRTIO_BLK_S_OK;
			return false;
		}
		ur->fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		if (queue_fallocate(ring, disk, flags, req))
			return true;
		break;
	case VB_IO_WRITE_ZEROES:
		ur->fallocate_mode = zeroes_mode(disk, req->unmap, 0);
		if (ur->fallocate_mode < 0) {
			req->status = VIRTIO_BLK_S_IOERR;
			return false;
		}
		if (queue_fallocate(ring, disk, flags, req))
			return true;
		break;
	case VB_IO_NONE:
		return false;
	}
	finish(pool, req, VIRTIO_BLK_S_IOERR);
	return false;
}

/* One preadv2/pwritev2 of the rest of req; bytes moved or -errno. */
static ssize_t transfer_now(const struct vb_disk *disk, unsigned int flags, struct vb_blk_req *req)
{
	struct vb_uring_req *ur = vb_uring_req(req);
	bool write = req->op == VB_IO_WRITE;
	int rwf = write && !(flags & VB_URING_WRITEBACK) ? RWF_DSYNC : 0;
	off_t off = (off_t)(req->offset + ur->done);
	struct iovec one;
	ssize_t n;

	if (ur->bounce) {
		one.iov_base = (uint8_t *)ur->bounce + (ur->done - ur->bounce_from);
		one.iov_len = req->len - ur->done;
	}
	do {
		if (ur->bounce)
			n = write ? pwritev2(disk->fd, &one, 1, off, rwf) :
				    preadv2(disk->fd, &one, 1, off, 0);
		else
			n = write ? pwritev2(disk->fd, req->iov, (int)req->niov, off, rwf) :
				    preadv2(disk->fd, req->iov, (int)req->niov, off, 0);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

void vb_uring_rw_now(struct vb_bounce_pool *pool, struct vb_disk *disk, unsigned int flags,
		     struct vb_blk_req *req)
{
	bool bounce_read = req->op == VB_IO_READ && (flags & VB_URING_BOUNCE_READS);
	struct vb_uring_req *ur = vb_uring_req(req);

	ur->done = 0;
	if ((bounce_read || !dio_aligned(disk, req)) && !use_bounce(pool, disk, req, 0)) {
		finish(pool, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	while (ur->done < req->len) {
		ssize_t n = transfer_now(disk, flags, req);

		if (n <= 0) {
			finish(pool, req, n == 0 ? VIRTIO_BLK_S_IOERR : vb_blk_status_from_errno((int)n));
			return;
		}
		ur->done += n;
		/* Short transfer (rare): the rest through a bounce buffer, as complete_rw does. */
		if (ur->done < req->len && !ur->bounce && !use_bounce(pool, disk, req, ur->done)) {
			finish(pool, req, VIRTIO_BLK_S_IOERR);
			return;
		}
	}
	if (ur->bounce && req->op == VB_IO_READ)
		vb_blk_copy(req, ur->bounce_from, ur->bounce, true);
	finish(pool, req, VIRTIO_BLK_S_OK);
}

static bool complete_rw(struct io_uring *ring, struct vb_bounce_pool *pool, struct vb_disk *disk,
			unsigned int flags, struct vb_blk_req *req, int res)
{
	struct vb_uring_req *ur = vb_uring_req(req);

	if (res <= 0)
		return finish(pool, req,
			      res == 0 ? VIRTIO_BLK_S_IOERR : vb_blk_status_from_errno(res));
	ur->done += res;
	if (ur->done < req->len) {
		/* Short transfer (rare): carry on from where it stopped, through a bounce buffer. */
		if (!ur->bounce && !use_bounce(pool, disk, req, ur->done))
			return finish(pool, req, VIRTIO_BLK_S_IOERR);
		if (queue_rw(ring, disk, flags, req))
			return false;
		return finish(pool, req, VIRTIO_BLK_S_IOERR);
	}
	if (ur->bounce && req->op == VB_IO_READ)
		vb_blk_copy(req, ur->bounce_from, ur->bounce, true);
	return finish(pool, req, VIRTIO_BLK_S_OK);
}

bool vb_uring_complete(struct io_uring *ring, struct vb_bounce_pool *pool, struct vb_disk *disk,
		       unsigned int flags, struct vb_blk_req *req, int res)
{
	struct vb_uring_req *ur = vb_uring_req(req);
	int mode;

	switch (req->op) {
	case VB_IO_READ:
	case VB_IO_WRITE:
		return complete_rw(ring, pool, disk, flags, req, res);
	case VB_IO_DISCARD:
		if (res == -EOPNOTSUPP) {
			FLAG_SET(disk->no_punch_hole);
			res = 0;
		}
		break;
	case VB_IO_WRITE_ZEROES:
		if (res != -EOPNOTSUPP)
			break;
		if (ur->fallocate_mode & FALLOC_FL_PUNCH_HOLE)
			FLAG_SET(disk->no_punch_hole);
		else
			FLAG_SET(disk->no_zero_range);
		mode = zeroes_mode(disk, req->unmap, ur->fallocate_mode);
		if (mode < 0) {
			vb_warn("%s supports neither hole punching nor zero ranges", disk->path);
			break;
		}
		ur->fallocate_mode = mode;
		if (queue_fallocate(ring, disk, flags, req))
			return false;
		break;
	case VB_IO_FLUSH:
	case VB_IO_NONE:
		break;
	}
	return finish(pool, req, vb_blk_status_from_errno(res));
}
