/* The uring engine: every request is a disk operation on the queue's io_uring (or, alone on a disk in memory, done in place), issued once no write fence is on its range. */
#include <errno.h>
#include <string.h>

#include "virtio/blk.h"
#include "engine.h"
#include "util/log.h"
#include "range_order.h"
#include "req_list.h"
#include "uring_io.h"

struct uring_engine {
	struct vb_engine_io *io;
	/* Requests waiting for their range to clear, in arrival order. */
	struct vb_req_list parked;
	/* Resubmitted requests may still be busy: new requests are checked against them. */
	bool watching;
	/*
	 * On a disk in memory, a read or write that came alone: flush does it
	 * in place if it is still alone then, else it goes to io_uring like
	 * the rest (see lone_request).
	 */
	struct vb_blk_req *lone;
};

/*
 * Fixed when a request is issued: the cache mode the driver chose, whether
 * the read may be abandoned (it bounces: the ring may be suspended and it
 * is no longer than bounce_max), whether submission blocks. A buffered disk
 * that may be suspended writes through: a fence then lasts until the data
 * is on the disk, not only in the page cache.
 */
static unsigned int io_flags(const struct vb_engine_io *io, const struct vb_blk_req *req)
{
	bool writeback = __atomic_load_n(io->writeback, __ATOMIC_RELAXED) &&
			 (io->disk->direct || !(io->flags & VB_URING_BOUNCE_READS));
	unsigned int flags = io->flags;

	if (req->len > io->bounce_max)
		flags &= ~VB_URING_BOUNCE_READS;
	return flags | (writeback ? VB_URING_WRITEBACK : 0) |
	       (io->watch.async ? VB_URING_ASYNC : 0);
}

void vb_uring_engine_submit(struct vb_engine_io *io, struct vb_blk_req *req)
{
	struct vb_uring_req *ur = vb_uring_req(req);

	ur->on_uring = vb_uring_issue(io->ring, io->bounce, io->disk, io_flags(io, req), req);
	if (!ur->on_uring)
		io->settle(io->ctx, req, VB_FATE_COMPLETED);
}

void vb_uring_engine_complete(struct vb_engine_io *io, struct vb_blk_req *req, int res)
{
	if (vb_uring_drop_abandoned(io->bounce, req)) {
		io->norphans--;
		return;
	}
	if (io->suspending && res == -ECANCELED) {
		vb_uring_release(io->bounce, req);
		io->settle(io->ctx, req, VB_FATE_CANCELLED);
		return;
	}
	if (vb_uring_complete(io->ring, io->bounce, io->disk, io_flags(io, req), req, res))
		io->settle(io->ctx, req, VB_FATE_COMPLETED);
}

/*
 * Fences the range of a write the host may be working on, on the
 * description it was issued on. A probe of the same instant by another
 * back-end makes it fail with EAGAIN: try again a few times, then leave the
 * write to the cancellation and, failing that, to the stop's wait.
 */
static bool fence_write(struct vb_engine_io *io, struct vb_blk_req *req, bool *batch_tried)
{
	struct vb_uring_req *ur = vb_uring_req(req);
	int ret = -EAGAIN;

	/* Once per suspension: refused (another description's locks), it stays refused. */
	if (!*batch_tried) {
		*batch_tried = true;
		io->fence_batch = vb_fence_batch_begin(&io->disk->fences);
	}
	for (int tries = 0; tries < 8 && ret == -EAGAIN; tries++)
		ret = vb_fence_add(&io->disk->fences, &ur->fence, req->offset, req->len);
	if (ret) {
		vb_warn("cannot fence bytes %llu+%llu of a write in flight (%s): the stop waits for it",
			(unsigned long long)req->offset, (unsigned long long)req->len,
			strerror(-ret));
		return false;
	}
	ur->fenced_on = &io->disk->fences;
	return true;
}

void vb_uring_engine_suspend(struct vb_engine_io *io)
{
	unsigned int direct_reads = 0;
	bool issued = false, batch_tried = false;

	io->suspending = true;
	for (unsigned int i = 0; i < io->nreqs; i++) {
		struct vb_blk_req *req = vb_engine_slot(io, i);
		struct vb_uring_req *ur = vb_uring_req(req);

		if (!req->busy)
			continue;
		issued = true;
		if ((req->op == VB_IO_READ && ur->bounce) ||
		    (ur->on_uring && vb_req_writes_disk(req) && req->len &&
		     fence_write(io, req, &batch_tried))) {
			ur->abandoned = true;
			io->norphans++;
			io->settle(io->ctx, req,
				   ur->fenced_on ? VB_FATE_FENCED : VB_FATE_ABANDONED);
		} else if (req->op == VB_IO_READ && ur->on_uring) {
			/* Its data goes to guest memory, which is the next back-end's once we reply. */
			direct_reads++;
			io->settle(io->ctx, req, VB_FATE_WAITED);
		}
	}
	if (direct_reads)
		vb_info("suspension: direct reads in flight (longer than --bounce-max): %u, cancelled or waited for where the storage has them",
			direct_reads);
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
	struct uring_engine *u = state;

	u->io = io;
	u->parked = (struct vb_req_list){ NULL, NULL };
	u->watching = true;
	u->lone = NULL;
	return 0;
}

/*
 * Whether req must wait: a parked request ahead of it overlaps it, or a
 * resubmitted one still busy does, or another description holds a fence on
 * its range (a write of the last back-end, or of this daemon before it
 * suspended the ring, still with the host).
 */
static bool must_wait(struct uring_engine *u, struct vb_blk_req *req)
{
	const struct vb_disk *disk = u->io->disk;

	if (!vb_req_has_range(req) || !(req->resubmitted || u->watching || u->parked.head))
		return false;
	if (vb_req_list_overlaps(&u->parked, req))
		return true;
	if (!req->resubmitted && vb_behind_resubmitted(u->io, req, &u->watching))
		return true;
	/* Parked ones ahead were checked above; without busy resubmitted ones nothing is fenced. */
	if (!req->resubmitted && !u->watching)
		return false;
	return disk->probe_fd >= 0 &&
	       vb_fence_probe(disk->probe_fd, disk->size, req->offset, req->len) ==
		       VB_FENCE_FENCED;
}

/*
 * io_uring cannot read or write a file in memory (tmpfs) without blocking,
 * so it hands every such request to a worker thread: two thread switches
 * around a copy. A request with nothing else of the ring in flight is
 * copied here instead. Not with company: a batch done in place would make
 * its requests wait for each other (1 MiB writes at depth 8 measured 0.81x).
 */
static bool may_go_alone(const struct uring_engine *u, const struct vb_blk_req *req)
{
	return u->io->disk->in_memory && (req->op == VB_IO_READ || req->op == VB_IO_WRITE) &&
	       !u->lone && !io_uring_sq_ready(u->io->ring) && *u->io->nbusy == 1;
}

/* The lone request, done in place if it is still alone, else issued as usual. */
static void lone_request(struct uring_engine *u)
{
	struct vb_blk_req *req = u->lone;

	u->lone = NULL;
	if (*u->io->nbusy != 1 || io_uring_sq_ready(u->io->ring)) {
		vb_uring_engine_submit(u->io, req);
		return;
	}
	vb_uring_rw_now(u->io->bounce, u->io->disk, io_flags(u->io, req), req);
	u->io->settle(u->io->ctx, req, VB_FATE_COMPLETED);
}

/* Issues req, or parks it: the queue goes on, and flush looks again. */
static void uring_submit(void *state, struct vb_blk_req *req)
{
	struct uring_engine *u = state;

	/* Company came: the lone one goes first, to io_uring. */
	if (u->lone)
		lone_request(u);
	if (must_wait(u, req))
		vb_req_list_push(&u->parked, req);
	else if (may_go_alone(u, req))
		u->lone = req;
	else
		vb_uring_engine_submit(u->io, req);
}

/* Parked requests whose range cleared go out, in order; then the batch, timed. */
static void uring_flush(void *state)
{
	struct uring_engine *u = state;

	vb_req_list_resubmit(&u->parked, uring_submit, u);
	if (u->lone)
		lone_request(u);
	/* An empty submission says nothing about the disk: only batches are timed. */
	if (io_uring_sq_ready(u->io->ring))
		vb_submit_watched(&u->io->watch, u->io->ring);
}

/* Parked requests clear without a word: the worker looks again every millisecond. */
static bool uring_backlogged(void *state)
{
	return ((struct uring_engine *)state)->parked.head != NULL;
}

static void uring_complete(void *state, struct vb_blk_req *req, int res)
{
	vb_uring_engine_complete(((struct uring_engine *)state)->io, req, res);
}

void vb_engine_cancel_held(struct vb_engine_io *io, struct vb_blk_req *held)
{
	for (struct vb_blk_req *req = held, *next; req; req = next) {
		next = vb_req_next(req);
		io->settle(io->ctx, req, VB_FATE_CANCELLED);
	}
}

/* Parked requests never reached the host. */
static int uring_suspend(void *state)
{
	struct uring_engine *u = state;

	vb_engine_cancel_held(u->io, vb_req_list_take(&u->parked));
	/* Flush runs before every stop, so none is left; were one, it never reached the host. */
	if (u->lone) {
		u->io->settle(u->io->ctx, u->lone, VB_FATE_CANCELLED);
		u->lone = NULL;
	}
	vb_uring_engine_suspend(u->io);
	return 0;
}

const struct vb_engine_ops vb_engine_uring = {
	.name = "uring",
	.queue_size = sizeof(struct uring_engine),
	.req_size = sizeof(struct vb_uring_req),
	.start = uring_start,
	.submit = uring_submit,
	.flush = uring_flush,
	.backlogged = uring_backlogged,
	.complete = uring_complete,
	.suspend = uring_suspend,
};
