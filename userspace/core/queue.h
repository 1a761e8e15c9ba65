/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#ifndef VBRIDGE_QUEUE_H
#define VBRIDGE_QUEUE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/bounce_pool.h"
#include "device.h"
#include "engine/engine.h"
#include "virtio/inflight.h"
#include "virtio/virtqueue.h"

struct io_uring;
struct orphan_reads;
struct vb_blk_req;

/* How a front door attaches a stopped ring; see vb_queue_configure. */
struct vb_ring_config {
	struct vb_ring_addr addr;	/* where the front-end put the ring */
	void *inflight_region;		/* queue region (split or packed); NULL: not tracked */
	size_t inflight_size;		/* bytes of that region */
	bool log_used;			/* mark the used ring in the dirty log too */
	uint64_t used_gpa;		/* guest address of the used ring, for that */
	bool bounce_reads;		/* the ring may be suspended: reads go through bounce buffers */
	/* NULL: interrupt through the call fd; else called from the worker instead (VDUSE). */
	void (*notify)(void *ctx, unsigned int index);
	void *notify_ctx;
};

/*
 * Private to queue.c: front doors use the functions below. Ownership:
 * fields under "set-up" are written by the control thread only while the
 * ring is STOPPED, except config.log_used and config.used_gpa, which
 * vb_queue_set_used_log also changes on a running ring, under dev->cfg_lock,
 * and the caller then publishes (vb_device_publish). The notifier fds may be replaced
 * while it runs, under notify_lock. enabled and state are atomic.
 */
struct vb_queue {
	struct vb_device *dev;
	unsigned int index;
	const struct vb_engine_ops *ops;	/* the device's engine */
	void *engine;			/* its per-queue state, kept across restarts */

	/* set-up */
	uint16_t num;
	uint32_t base;			/* vring base to resume from (vb_vring_base encoding) */
	int kick_fd;
	struct vb_ring_config config;	/* how the front door attached the ring */

	pthread_mutex_t notify_lock;
	int call_fd;			/* -1: the driver polls the used ring */
	bool call_missed;		/* a notification found no call fd: owed to the next one */
	int err_fd;

	int state;			/* atomic enum vb_ring_state; see queue.c */
	int enabled;			/* atomic: fetch new requests only while set */
	int stop;			/* atomic: 0, or how the worker is to stop (enum vb_stop_mode) */
	/* Set with stop (before its release), to be called once quiesced; or NULL. */
	struct vb_quiesce_notice *notice;
	int wake_fd;			/* eventfd the control thread pokes after changing the above */
	/*
	 * Posted by the worker once the ring is quiesced: from then on it touches
	 * nothing of q. It may go on reaping abandoned reads (orphaned), on a
	 * copy of the io_uring it took with it.
	 */
	sem_t stopped;
	bool orphaned;			/* atomic: the worker handed its abandoned reads to a thread */
	/*
	 * Atomic: the worker exists, from its start until the control thread
	 * has collected it after stopped; a ring that has left RUNNING may still
	 * wait for its abandoned reads in it. For the status line.
	 */
	int has_worker;

	/*
	 * The worker's copy of the device's published configuration, adopted
	 * at the top of its loop: the map the ring areas are translated
	 * through (a reference; each request takes its own), and the dirty
	 * log with what to mark (log NULL: not logging).
	 */
	struct {
		struct vb_mem_table *mem;
		struct vb_dirty_log *log;
		bool log_used;
		uint64_t used_gpa;
	} view;
	uint64_t acked_gen;		/* the dev->cfg_gen adopted; under dev->cfg_lock */

	/*
	 * Atomic enum vb_runner: who may touch the worker-owned fields below.
	 * A suspension takes the ring over from a worker asleep in io_uring and
	 * quiesces it on the control thread (see queue.c); handed_back then
	 * tells the worker, which leaves with what the control thread left in
	 * exit.
	 */
	int runner;
	sem_t handed_back;
	struct {
		struct orphan_reads *orphans;	/* for the worker to wait for, or NULL */
		bool fence_batch;		/* the suspension fenced its writes as one batch */
	} exit;

	/* worker-owned while running */
	pthread_t thread;
	struct vb_vring vring;
	struct io_uring *ring;		/* allocated with the queue; an orphan thread takes a copy */
	struct vb_blk_req *reqs;	/* num slots, indexed by descriptor head (see slot()) */
	struct vb_inflight_tracker inflight;
	struct vb_bounce_pool bounce;
	struct vb_engine_io io;		/* what the engine gets of the ring; norphans lives there */
	unsigned int nbusy;		/* requests fetched and neither completed nor suspended */
	unsigned int nsuspended;	/* left inflight for the next back-end by this stop */
	bool need_publish;
	uint16_t unpublished;		/* used entries written since the last publish */
	uint64_t poll_window_ns;	/* how long to spin before the next sleep, up to dev->poll_ns */
};

enum vb_ring_state {
	VB_RING_STOPPED,	/* no worker: set-up may change */
	VB_RING_RUNNING,	/* the worker fetches, submits and completes */
	VB_RING_BROKEN,		/* the guest broke the ring: completes what it has, fetches nothing */
	VB_RING_QUIESCING,	/* asked to stop: drains or suspends until nothing is busy */
};


int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index);
/* Whether the ring has a worker (any state but STOPPED). */
bool vb_queue_running(const struct vb_queue *q);

/* A ring's counters for the status line. */
struct vb_queue_stats {
	bool running;
	unsigned int busy;		/* requests fetched and neither completed nor suspended */
	unsigned int abandoned;		/* reads a stopping ring abandoned and still owns */
};
/*
 * Taken from another thread without stopping the ring, so each counter may
 * be a moment old; the worker goes on writing them.
 */
void vb_queue_stats(const struct vb_queue *q, struct vb_queue_stats *st);
void vb_queue_destroy(struct vb_queue *q);
/*
 * Starts the worker on the ring at q->addr in the device's memory map,
 * fetching from q->base, or, with an inflight region, resubmitting what it
 * records as inflight and then fetching after it. Returns 0 or -errno
 * (-EFAULT, logged: the ring is not in guest memory).
 */
int vb_queue_start(struct vb_queue *q);
/* Pokes the worker: it looks at enabled, stop and the device's published configuration. */
void vb_queue_wake(struct vb_queue *q);
enum vb_stop_mode {
	VB_STOP_DRAIN = 1,	/* complete every request first */
	VB_STOP_SUSPEND,	/* leave requests inflight in the region, host I/O quiesced */
};

/* Stops fetching, waits for every issued request, and records the resume index in q->base. */
void vb_queue_stop(struct vb_queue *q);

/*
 * Told the moment a suspension has quiesced the ring (base and the number
 * suspended final, no I/O of the ring can touch guest memory or the disk any
 * more), before the worker cleans up: on the worker's thread, or on the
 * control thread when the worker was asleep (queue.c). The front door
 * answers the front-end from there, so the reply waits for no other thread
 * to be woken: on a machine whose idle CPUs sleep, each wake-up is a chance
 * for a slow one.
 */
struct vb_quiesce_notice {
	void (*quiesced)(struct vb_quiesce_notice *n, uint32_t base);
};

/*
 * Stops the ring without waiting for the storage: requests the host has not
 * seen are cancelled, reads it has are abandoned (their data goes to bounce
 * buffers that are thrown away), other issued operations are cancelled if
 * io_uring still can and waited for otherwise. What did not complete stays
 * inflight in the ring's inflight region, and q->base is set so that the
 * next back-end's resubmission lines up. On return no I/O of the ring can
 * write guest memory, the disk, the used ring or an eventfd. Only for rings
 * with an inflight region and bounce_reads, split rings only; returns the
 * number suspended. notice, if not NULL, is told first, unless the ring was
 * not running.
 */
unsigned int vb_queue_suspend(struct vb_queue *q, struct vb_quiesce_notice *notice);
void vb_queue_set_enabled(struct vb_queue *q, bool enabled);

/*
 * The control API of a stopped ring (the set-up functions return -EBUSY on
 * a running one): its size, the index it resumes from, its kick fd (taken
 * over, the old one closed; -1: none) and how it is attached.
 */
int vb_queue_set_num(struct vb_queue *q, uint16_t num);
uint16_t vb_queue_num(const struct vb_queue *q);
int vb_queue_set_base(struct vb_queue *q, uint32_t base);
/* The index a stop left for the next back-end (vb_vring_base encoding). */
uint32_t vb_queue_base(const struct vb_queue *q);
int vb_queue_set_kick(struct vb_queue *q, int fd);
bool vb_queue_has_kick(const struct vb_queue *q);
int vb_queue_configure(struct vb_queue *q, const struct vb_ring_config *c);
/*
 * Switches used-ring logging (VHOST_VRING_F_LOG and its guest address),
 * stopped or running: a running worker adopts it, without a drain, at the
 * next vb_device_publish (core/rings.h), which the caller makes.
 */
void vb_queue_set_used_log(struct vb_queue *q, bool log_used, uint64_t used_gpa);
/* Why the running ring cannot be suspended (and must drain), or NULL if it can. */
const char *vb_queue_cannot_suspend(const struct vb_queue *q);
/* Device reset: stops the ring and forgets its set-up, notifiers and owed interrupt. */
void vb_queue_reset(struct vb_queue *q);
/* Replaces a notifier fd, closing the old one; fd -1 means none. */
void vb_queue_set_call_fd(struct vb_queue *q, int fd);
void vb_queue_set_err_fd(struct vb_queue *q, int fd);

#endif
