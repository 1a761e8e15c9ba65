/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#ifndef VBRIDGE_QUEUE_H
#define VBRIDGE_QUEUE_H

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "blk.h"
#include "bounce_pool.h"
#include "delay_queue.h"
#include "device.h"
#include "inflight.h"
#include "kabort_io.h"
#include "virtqueue.h"

/*
 * Ownership: fields under "set-up" are written by the control thread only
 * while the worker thread is not running, except addr, log_used and
 * used_gpa, which it may also write under dev->cfg_lock and then publish
 * (vb_device_publish). The notifier fds may be replaced while it runs,
 * under notify_lock. enabled is atomic.
 */
struct vb_queue {
	struct vb_device *dev;
	unsigned int index;

	/* set-up */
	uint16_t num;
	uint32_t base;			/* vring base to resume from (vb_vring_base encoding) */
	int kick_fd;
	struct vb_ring_addr addr;	/* where the front-end put the ring */
	void *inflight_region;		/* queue region (split or packed); NULL: not tracked */
	size_t inflight_size;		/* bytes of that region */
	bool log_used;			/* mark the used ring in the dirty log too */
	uint64_t used_gpa;		/* guest address of the used ring, for that */
	bool bounce_reads;		/* the ring may be suspended: reads go through bounce buffers */
	bool running;

	/*
	 * How the guest is interrupted when a front door cannot take an eventfd
	 * (VDUSE injects through an ioctl): if set, called from the worker
	 * instead of writing call_fd. Set-up, like the fields above.
	 */
	void (*notify)(void *ctx, unsigned int index);
	void *notify_ctx;

	pthread_mutex_t notify_lock;
	int call_fd;			/* -1: the driver polls the used ring */
	bool call_missed;		/* a notification found no call fd: owed to the next one */
	int err_fd;

	int enabled;			/* atomic: fetch new requests only while set */
	int stop;			/* atomic: 0, or how the worker is to stop (enum vb_stop_mode) */
	int wake_fd;			/* eventfd the control thread pokes after changing the above */
	/*
	 * Posted by the worker once the ring is quiesced: from then on it touches
	 * nothing of q. It may go on reaping abandoned reads (orphaned), on a
	 * copy of the io_uring it took with it.
	 */
	sem_t stopped;
	bool orphaned;

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

	/* worker-owned while running */
	pthread_t thread;
	struct vb_vring vring;
	struct io_uring ring;
	struct vb_blk_req *reqs;	/* num slots, indexed by descriptor head */
	struct vb_inflight_tracker inflight;
	struct vb_delay_queue delay;	/* requests the delay engine holds back */
	struct vb_kabort *kabort;	/* kabort engine: the queue's context, kept across restarts */
	struct vb_bounce_pool bounce;
	bool fixed_file;		/* the disk is registered with the io_uring */
	unsigned int nbusy;		/* requests fetched and neither completed nor suspended */
	bool suspending;
	unsigned int nsuspended;	/* left inflight for the next back-end by this stop */
	unsigned int norphans;		/* abandoned reads the host still works on */
	bool need_publish;
	uint16_t unpublished;		/* used entries written since the last publish */
	bool broken;
};

int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index);
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
 * Stops the ring without waiting for the storage: requests the host has not
 * seen are cancelled, reads it has are abandoned (their data goes to bounce
 * buffers that are thrown away), other issued operations are cancelled if
 * io_uring still can and waited for otherwise. What did not complete stays
 * inflight in the ring's inflight region, and q->base is set so that the
 * next back-end's resubmission lines up. On return no I/O of the ring can
 * write guest memory, the disk, the used ring or an eventfd. Only for rings
 * with an inflight region and bounce_reads, split rings only; returns the
 * number suspended.
 */
unsigned int vb_queue_suspend(struct vb_queue *q);
void vb_queue_set_enabled(struct vb_queue *q, bool enabled);
/* Replaces a notifier fd, closing the old one; fd -1 means none. */
void vb_queue_set_call_fd(struct vb_queue *q, int fd);
void vb_queue_set_err_fd(struct vb_queue *q, int fd);

#endif
