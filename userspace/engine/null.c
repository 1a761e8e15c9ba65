/* The null engine: no I/O at all; reads return zeroes, everything succeeds at once. */
#include <string.h>

#include "virtio/blk.h"
#include "engine.h"

struct null_engine {
	struct vb_engine_io *io;
};

static int null_start(void *state, struct vb_engine_io *io)
{
	((struct null_engine *)state)->io = io;
	return 0;
}

static void null_submit(void *state, struct vb_blk_req *req)
{
	struct vb_engine_io *io = ((struct null_engine *)state)->io;

	if (req->op == VB_IO_READ) {
		for (unsigned int i = 0; i < req->niov; i++)
			memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
	}
	req->status = VIRTIO_BLK_S_OK;
	io->settle(io->ctx, req, VB_FATE_COMPLETED);
}

/* Nothing is ever held: every request completed in submit. */
static int null_suspend(void *state)
{
	(void)state;
	return 0;
}

const struct vb_engine_ops vb_engine_null = {
	.name = "null",
	.queue_size = sizeof(struct null_engine),
	.start = null_start,
	.submit = null_submit,
	.suspend = null_suspend,
};
