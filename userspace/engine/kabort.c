/* The kabort engine: requests through the vbabort kernel module, io_uring for what it cannot take. */
#include <errno.h>

#include "virtio/blk.h"
#include "disk.h"
#include "engine.h"
#include "kabort_io.h"
#include "uring_req.h"
#include "util/log.h"

/* The context is opened at the ring's first start and kept across restarts. */
struct kabort_engine {
	struct vb_kabort k;
	struct vb_engine_io *io;
};

static int kabort_check(const struct vb_engine *e, const struct vb_disk *disk)
{
	(void)e;
	if (!disk->blockdev) {
		vb_err("--engine kabort needs a block device; %s is a file", disk->path);
		return -ENOTBLK;
	}
	return vb_kabort_probe();
}

static int kabort_init(void *state, const struct vb_engine *e)
{
	struct kabort_engine *ke = state;

	(void)e;
	ke->k.fd = ke->k.event_fd = -1;
	return 0;
}

static void kabort_destroy(void *state)
{
	vb_kabort_close(&((struct kabort_engine *)state)->k);
}

static int kabort_start(void *state, struct vb_engine_io *io)
{
	struct kabort_engine *ke = state;

	ke->io = io;
	/*
	 * Fenced writes carry tags of request slots the new ring reuses:
	 * closing the context hands them to the module, which drops their
	 * completions and keeps them as fences.
	 */
	if (ke->k.fd >= 0 && ke->k.nfenced)
		vb_kabort_close(&ke->k);
	if (ke->k.fd >= 0)
		return 0;
	return vb_kabort_open(&ke->k, io->disk->fd, io->writeback);
}

/* What the module cannot take as it is (too big, misaligned) goes by io_uring. */
static void kabort_submit(void *state, struct vb_blk_req *req)
{
	struct kabort_engine *ke = state;

	if (vb_kabort_fits(&ke->k, req))
		vb_kabort_queue(&ke->k, req);
	else
		vb_uring_engine_submit(ke->io, req);
}

static void kabort_finished(void *state, struct vb_blk_req *req)
{
	struct kabort_engine *ke = state;

	ke->io->settle(ke->io->ctx, req, VB_FATE_COMPLETED);
}

/*
 * Once per pass of the queue's loop: what the ring gave since, and what
 * completed, in one call. Requests the module refuses come back completed,
 * with the reason as status.
 */
static void kabort_flush(void *state)
{
	vb_kabort_flush(&((struct kabort_engine *)state)->k, kabort_finished, state);
}

static int kabort_poll_fd(void *state)
{
	return ((struct kabort_engine *)state)->k.event_fd;
}

/* Each completion fires the event fd; the loop's next flush reaps them all at once. */
static void kabort_reap(void *state)
{
	vb_kabort_signalled(&((struct kabort_engine *)state)->k);
}

static void kabort_complete(void *state, struct vb_blk_req *req, int res)
{
	vb_uring_engine_complete(((struct kabort_engine *)state)->io, req, res);
}

/*
 * Full context: room comes back as requests complete, but reads abandoned
 * by an earlier suspension complete without a word.
 */
static bool kabort_backlogged(void *state)
{
	return ((struct kabort_engine *)state)->k.queued.head != NULL;
}

static int kabort_suspend(void *state)
{
	struct kabort_engine *ke = state;
	struct vb_engine_io *io = ke->io;
	int ret;

	vb_engine_cancel_held(io, vb_kabort_take_queued(&ke->k));
	ret = vb_kabort_abort(&ke->k, io->settle, io->ctx);
	vb_uring_engine_suspend(io);
	return ret < 0 ? ret : 0;
}

const struct vb_engine_ops vb_engine_kabort = {
	.name = "kabort",
	.check = kabort_check,
	.queue_size = sizeof(struct kabort_engine),
	/* What the module cannot take goes by io_uring; the FIFO link is there too. */
	.req_size = sizeof(struct vb_uring_req),
	.init = kabort_init,
	.destroy = kabort_destroy,
	.start = kabort_start,
	.submit = kabort_submit,
	.flush = kabort_flush,
	.poll_fd = kabort_poll_fd,
	.reap = kabort_reap,
	.complete = kabort_complete,
	.backlogged = kabort_backlogged,
	.suspend = kabort_suspend,
};
