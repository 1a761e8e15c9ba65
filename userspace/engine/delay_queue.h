/* The delay engine's holding pen: requests wait here, in arrival order, until their deadline. */
#ifndef VBRIDGE_DELAY_QUEUE_H
#define VBRIDGE_DELAY_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "req_list.h"
#include "uring_req.h"

/*
 * What the delay engine keeps behind each request (vb_blk_req_engine_data):
 * first what the request goes to io_uring with, when its time has come.
 */
struct vb_delay_req {
	struct vb_uring_req uring;
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC */
};

/*
 * Every request waits the same delay, so deadlines grow in arrival order and
 * a FIFO is a priority queue. One timerfd, armed for the oldest deadline,
 * wakes the queue thread. Used by one queue thread only.
 */
struct vb_delay_queue {
	int timer_fd;		/* -1 when the queue's engine does not delay */
	uint64_t delay_ns;
	struct vb_req_list held;
	unsigned int count;
};

/* Sets up an empty queue; delay_ns 0 makes a queue that is never used (no timerfd). Returns 0 or -errno. */
int vb_delay_init(struct vb_delay_queue *d, uint64_t delay_ns);
void vb_delay_destroy(struct vb_delay_queue *d);
/* Holds req until now + delay_ns. */
void vb_delay_hold(struct vb_delay_queue *d, struct vb_blk_req *req);
/* Takes the oldest request if its deadline has passed, else NULL (and re-arms the timer). */
struct vb_blk_req *vb_delay_pop_due(struct vb_delay_queue *d);
/* Empties the queue, returning its requests as a list as a req_list.h list (suspend cancels them). */
struct vb_blk_req *vb_delay_take_all(struct vb_delay_queue *d);

#endif
