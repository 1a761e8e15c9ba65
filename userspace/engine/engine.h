/* The I/O engine interface: how a queue's worker hands parsed requests to an engine and gets them back. */
#ifndef VBRIDGE_ENGINE_H
#define VBRIDGE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "submit_watch.h"

struct io_uring;
struct vb_blk_req;
struct vb_bounce_pool;
struct vb_disk;
struct vb_engine_ops;

/*
 * io_uring user_data values up to VB_TAG_MAX are not request pointers: the
 * queue's notifier polls, and cancellations (VB_TAG_CANCEL), whose
 * completions are ignored.
 */
#define VB_TAG_CANCEL 4
#define VB_TAG_MAX 4

/* The engine a device runs, as --engine chose it. */
struct vb_engine {
	const struct vb_engine_ops *ops;
	uint64_t param;		/* what the engine parsed after "NAME:" (delay: nanoseconds) */
};

/*
 * How a request leaves its engine. Every request the queue submits comes
 * back exactly once, through vb_engine_io.settle, with one of these; a
 * WAITED request comes back a second time, COMPLETED, when it finishes.
 */
enum vb_fate {
	VB_FATE_COMPLETED,	/* done, req->status set: the queue publishes it */
	/* Suspension only; the request stays inflight for the next back-end: */
	VB_FATE_CANCELLED,	/* never reached the host */
	VB_FATE_ABANDONED,	/* a read the host still works on; its data will never reach the guest */
	/*
	 * A write, write-zeroes or discard the host still works on: its byte
	 * range is fenced (fence.h; with kabort, by the vbabort module) until
	 * it lands, and then it touches nothing of the ring.
	 */
	VB_FATE_FENCED,
	/*
	 * A write the host cannot give back and no fence covers (kabort), or a
	 * read going straight to guest memory (longer than --bounce-max): the
	 * stop waits for it. A waited io_uring request comes back CANCELLED
	 * instead if the cancellation reached it.
	 */
	VB_FATE_WAITED,
};

/*
 * What a queue lends its engine for one run of the ring. The engine uses the
 * io_uring for disk I/O; its completions come back through
 * vb_engine_ops.complete.
 */
struct vb_engine_io {
	struct io_uring *ring;
	struct vb_bounce_pool *bounce;
	struct vb_disk *disk;
	unsigned int flags;		/* VB_URING_* fixed for the run (bounce reads, fixed file) */
	/*
	 * With VB_URING_BOUNCE_READS, reads longer than this go straight to
	 * guest memory all the same: faster, but a suspension cannot abandon
	 * them, only cancel them or wait for them.
	 */
	uint64_t bounce_max;
	const uint8_t *writeback;	/* the device's write cache flag, read per request */
	const unsigned int *nbusy;	/* the queue's requests fetched and not yet settled */
	struct vb_blk_req *reqs;	/* the queue's request slots, nreqs of them */
	unsigned int nreqs;
	size_t slot_size;		/* bytes from one slot to the next (vb_blk_req_slot_size) */
	bool suspending;		/* set by vb_uring_engine_suspend */
	/*
	 * The suspension fenced under a batch (vb_fence_batch_begin) of the
	 * disk's fence set: the queue ends it once it has replied.
	 */
	bool fence_batch;
	/* Abandoned io_uring reads and fenced writes the host still works on. */
	unsigned int norphans;
	struct vb_submit_watch watch;	/* whether this ring's submissions block */
	void (*settle)(void *ctx, struct vb_blk_req *req, enum vb_fate fate);
	void *ctx;
};

/* Request slot i (a descriptor head); each has the engine's data behind it. */
static inline struct vb_blk_req *vb_engine_slot(const struct vb_engine_io *io, unsigned int i)
{
	return (void *)((char *)io->reqs + (size_t)i * io->slot_size);
}

/*
 * One engine. state is queue_size bytes the queue keeps for it from
 * vb_queue_init to vb_queue_destroy; only the queue's worker calls the
 * data-path operations. Optional operations may be NULL.
 */
struct vb_engine_ops {
	const char *name;
	/* Parses what follows "NAME:" into e->param; NULL: the engine takes no argument. */
	int (*parse)(const char *arg, struct vb_engine *e, char *err, size_t errlen);
	/* Writes NAME[:ARG] for logs. NULL: the name alone. */
	void (*describe)(const struct vb_engine *e, char *buf, size_t len);
	/*
	 * Opens storage that is not a local file (rbd:POOL/IMAGE): fills disk's
	 * size, block sizes and readonly, leaves disk->fd at -1 and keeps its
	 * own handle in disk->remote; logs why it failed and returns -errno.
	 * NULL: --disk is a file or block device (vb_disk_open).
	 */
	int (*open_disk)(struct vb_disk *disk, const struct vb_engine *e, const char *spec,
			 bool readonly);
	void (*close_disk)(struct vb_disk *disk);
	/* Whether the engine can serve disk (called once, at start-up). NULL: any. */
	int (*check)(const struct vb_engine *e, const struct vb_disk *disk);
	size_t queue_size;
	/* Bytes of the engine's own per-request data (vb_blk_req_engine_data). */
	size_t req_size;
	int (*init)(void *state, const struct vb_engine *e);
	void (*destroy)(void *state);
	/* A ring starts with io; returns 0 or -errno. */
	int (*start)(void *state, struct vb_engine_io *io);
	/* Takes a parsed request; it comes back through io->settle, maybe at once. */
	void (*submit)(void *state, struct vb_blk_req *req);
	/* Pushes out what submit batched; called before the worker waits. */
	void (*flush)(void *state);
	/* An fd that becomes readable when reap has work; -1: none. */
	int (*poll_fd)(void *state);
	void (*reap)(void *state);
	/* An io_uring completion res of req. */
	void (*complete)(void *state, struct vb_blk_req *req, int res);
	/* Whether requests wait for room in the engine, which frees up without a word. */
	bool (*backlogged)(void *state);
	/*
	 * Suspension: settles every request the engine holds with its fate
	 * (COMPLETED ones too); returns -errno if the engine cannot.
	 */
	int (*suspend)(void *state);
};

/*
 * Parses NAME or NAME:ARG against the registered engines (e.g. uring, null,
 * kabort, delay:100ms). On failure writes the reason to err and returns -1.
 */
int vb_engine_parse(const char *spec, struct vb_engine *e, char *err, size_t errlen);
/* Describes e for logs, e.g. "delay:100ms"; buf needs 32 bytes. */
const char *vb_engine_describe(const struct vb_engine *e, char *buf, size_t len);
/* The engine --engine defaults to. */
struct vb_engine vb_engine_default(void);

/*
 * The io_uring engine's data path, which the delay and kabort engines build
 * on for what they pass to io_uring.
 */
void vb_uring_engine_submit(struct vb_engine_io *io, struct vb_blk_req *req);
void vb_uring_engine_complete(struct vb_engine_io *io, struct vb_blk_req *req, int res);
/*
 * Suspension of what is on io_uring (the other engines settle theirs first):
 * reads with a bounce buffer are abandoned, writes, write-zeroes and
 * discards fenced (both count in norphans until they land), reads into
 * guest memory WAITED, and everything busy gets a cancellation; what it
 * reaches of the rest comes back CANCELLED, what it misses COMPLETED.
 */
void vb_uring_engine_suspend(struct vb_engine_io *io);
/* Settles requests an engine held (a list from req_list.h), which never reached the host, CANCELLED. */
void vb_engine_cancel_held(struct vb_engine_io *io, struct vb_blk_req *held);

#endif
