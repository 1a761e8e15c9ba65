/* The uring engine: every request is a disk operation on the queue's io_uring. */
#include <errno.h>

#include "virtio/blk.h"
#include "engine.h"
#include "uring_io.h"

struct uring_engine {
	struct vb_engine_io *io;
};

/* Fixed when a request is issued: the cache mode the driver chose, and whether reads may be abandoned. */
static unsigned int io_flags(const struct vb_engine_io *io)
{
	return io->flags | (__atomic_load_n(io->writeback, __ATOMIC_RELAXED) ? VB_URING_WRITEBACK : 0);
}

void vb_uring_engine_submit(struct vb_engine_io *io, struct vb_blk_req *req)
{
	if (!vb_uring_issue(io->ring, io->bounce, io->disk, io_flags(io), req))
		io->settle(io->ctx, req, VB_FATE_COMPLETED);
}

void vb_uring_engine_complete(struct vb_engine_io *io, struct vb_blk_req *req, int res)
{
	if (req->abandoned) {
		vb_uring_release(io->bounce, req);
		io->norphans--;
		return;
	}
	if (io->suspending && res == -ECANCELED) {
		vb_uring_release(io->bounce, req);
		io->settle(io->ctx, req, VB_FATE_CANCELLED);
		return;
	}
	if (vb_uring_complete(io->ring, io->bounce, io->disk, io_flags(io), req, res))
		io->settle(io->ctx, req, VB_FATE_COMPLETED);
}

void vb_uring_engine_suspend(struct vb_engine_io *io)
{
	bool issued = false;

	io->suspending = true;
	for (unsigned int i = 0; i < io->nreqs; i++) {
		struct vb_blk_req *req = (void *)((char *)io->reqs + i * io->slot_size);

		if (!req->busy)
			continue;
		issued = true;
		if (req->op == VB_IO_READ && req->bounce) {
			req->abandoned = true;
			io->norphans++;
			io->settle(io->ctx, req, VB_FATE_ABANDONED);
		}
	}
	if (issued) {
		struct io_uring_sqe *sqe = vb_uring_sqe(io->ring, VB_TAG_CANCEL);

		/* Reaches only what io_uring still holds; the block layer finishes the rest. */
		if (sqe && (io->flags & VB_URING_FIXED_FILE)) {
			io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL);
			sqe->cancel_flags |= IORING_ASYNC_CANCEL_FD_FIXED;
		} else if (sqe) {
			io_uring_prep_cancel_fd(sqe, io->disk->fd, IORING_ASYNC_CANCEL_ALL);
		}
	}
}

static int uring_start(void *state, struct vb_engine_io *io)
{
	((struct uring_engine *)state)->io = io;
	return 0;
}

static void uring_submit(void *state, struct vb_blk_req *req)
{
	vb_uring_engine_submit(((struct uring_engine *)state)->io, req);
}

static void uring_complete(void *state, struct vb_blk_req *req, int res)
{
	vb_uring_engine_complete(((struct uring_engine *)state)->io, req, res);
}

static int uring_suspend(void *state)
{
	vb_uring_engine_suspend(((struct uring_engine *)state)->io);
	return 0;
}

const struct vb_engine_ops vb_engine_uring = {
	.name = "uring",
	.queue_size = sizeof(struct uring_engine),
	.start = uring_start,
	.submit = uring_submit,
	.complete = uring_complete,
	.suspend = uring_suspend,
};
