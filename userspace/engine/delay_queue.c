/* The delay engine's holding pen: a FIFO of held requests and the timerfd that releases them. */
#include "delay_queue.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/clock.h"

/* An absolute deadline of 0 would disarm the timer: the queue is empty then, so that is right. */
static void arm(struct vb_delay_queue *d, uint64_t deadline_ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = deadline_ns / 1000000000ull,
			      .tv_nsec = deadline_ns % 1000000000ull },
	};

	timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

int vb_delay_init(struct vb_delay_queue *d, uint64_t delay_ns)
{
	*d = (struct vb_delay_queue){ .timer_fd = -1, .delay_ns = delay_ns };
	if (delay_ns == 0)
		return 0;
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return d->timer_fd < 0 ? -errno : 0;
}

void vb_delay_destroy(struct vb_delay_queue *d)
{
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	d->timer_fd = -1;
}

static uint64_t deadline_of(struct vb_blk_req *req)
{
	return ((struct vb_delay_req *)vb_blk_req_engine_data(req))->deadline_ns;
}

void vb_delay_hold(struct vb_delay_queue *d, struct vb_blk_req *req)
{
	struct vb_delay_req *dr = vb_blk_req_engine_data(req);

	dr->deadline_ns = vb_now_ns() + d->delay_ns;
	vb_req_list_push(&d->held, req);
	if (d->count++ == 0)
		arm(d, dr->deadline_ns);
}

struct vb_blk_req *vb_delay_pop_due(struct vb_delay_queue *d)
{
	struct vb_blk_req *req = d->held.head;

	if (!req)
		return NULL;
	if (deadline_of(req) > vb_now_ns()) {
		arm(d, deadline_of(req));
		return NULL;
	}
	d->count--;
	return vb_req_list_pop(&d->held);
}

struct vb_blk_req *vb_delay_take_all(struct vb_delay_queue *d)
{
	d->count = 0;
	arm(d, 0);
	return vb_req_list_take(&d->held);
}
