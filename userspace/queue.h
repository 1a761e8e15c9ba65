/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#ifndef VBRIDGE_QUEUE_H
#define VBRIDGE_QUEUE_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "blk.h"
#include "device.h"
#include "inflight.h"
#include "virtqueue.h"

/*
 * Ownership: fields under "set-up" are written by the control thread only
 * while the worker thread is not running. The notifier fds may be replaced
 * while it runs, under notify_lock. enabled is atomic.
 */
struct vb_queue {
	struct vb_device *dev;
	unsigned int index;

	/* set-up */
	uint16_t num;
	uint32_t base;			/* vring base to resume from (vb_vring_base encoding) */
	int kick_fd;
	void *inflight_region;		/* queue region (split or packed); NULL: not tracked */
	size_t inflight_size;		/* bytes of that region */
	bool log_used;			/* mark the used ring in the dirty log too */
	uint64_t used_gpa;		/* guest address of the used ring, for that */
	bool running;

	pthread_mutex_t notify_lock;
	int call_fd;			/* -1: the driver polls the used ring */
	bool call_missed;		/* a notification found no call fd: owed to the next one */
	int err_fd;

	int enabled;			/* atomic: fetch new requests only while set */
	int stop;			/* atomic: the worker drains and exits */
	int wake_fd;			/* eventfd the control thread pokes after changing the above */

	/* worker-owned while running */
	pthread_t thread;
	struct vb_vring vring;
	struct io_uring ring;
	struct vb_blk_req *reqs;	/* num slots, indexed by descriptor head */
	struct vb_inflight_tracker inflight;
	bool logging;			/* VHOST_F_LOG_ALL with a log mapped */
	unsigned int nbusy;		/* requests fetched and not yet completed */
	bool need_publish;
	uint16_t unpublished;		/* used entries written since the last publish */
	bool broken;
};

int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index);
void vb_queue_destroy(struct vb_queue *q);
/*
 * Starts the worker on a ring whose areas are mapped at desc/avail/used,
 * fetching from q->base, or, with an inflight region, resubmitting what it
 * records as inflight and then fetching after it. Returns 0 or -errno.
 */
int vb_queue_start(struct vb_queue *q, void *desc, void *avail, void *used);
/* Stops fetching, waits for every issued request, and records the resume index in q->base. */
void vb_queue_stop(struct vb_queue *q);
void vb_queue_set_enabled(struct vb_queue *q, bool enabled);
/* Replaces a notifier fd, closing the old one; fd -1 means none. */
void vb_queue_set_call_fd(struct vb_queue *q, int fd);
void vb_queue_set_err_fd(struct vb_queue *q, int fd);

#endif
