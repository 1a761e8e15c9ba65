/* The delay engine: holds every request a fixed time in the daemon, then hands it to io_uring. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "delay_queue.h"
#include "engine.h"

/* Longest delay accepted; anything longer is a typo, not a test. */
#define DELAY_MAX_NS (60ull * 1000000000ull)

struct delay_engine {
	struct vb_delay_queue held;
	struct vb_engine_io *io;
};

static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
};
#define NUNITS (sizeof(duration_units) / sizeof(duration_units[0]))

static int parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	for (size_t i = 0; i < NUNITS; i++) {
		if (strcmp(end, duration_units[i].suffix) == 0) {
			if (v > DELAY_MAX_NS / duration_units[i].ns)
				return -1;
			*ns = v * duration_units[i].ns;
			return 0;
		}
	}
	return -1;
}

static int delay_parse(const char *arg, struct vb_engine *e, char *err, size_t errlen)
{
	if (arg && parse_duration(arg, &e->param) == 0 && e->param > 0)
		return 0;
	snprintf(err, errlen, "'delay:%s': expected delay:DURATION with a unit, from 1ns to 60s, e.g. delay:100ms",
		 arg ? arg : "");
	return -1;
}

static void delay_describe(const struct vb_engine *e, char *buf, size_t len)
{
	size_t u = NUNITS;

	/* The largest unit that divides the delay exactly reads best. */
	while (--u > 0 && e->param % duration_units[u].ns)
		;
	snprintf(buf, len, "delay:%" PRIu64 "%s", e->param / duration_units[u].ns,
		 duration_units[u].suffix);
}

static int delay_init(void *state, const struct vb_engine *e)
{
	return vb_delay_init(&((struct delay_engine *)state)->held, e->param);
}

static void delay_destroy(void *state)
{
	vb_delay_destroy(&((struct delay_engine *)state)->held);
}

static int delay_start(void *state, struct vb_engine_io *io)
{
	((struct delay_engine *)state)->io = io;
	return 0;
}

static void delay_submit(void *state, struct vb_blk_req *req)
{
	vb_delay_hold(&((struct delay_engine *)state)->held, req);
}

static int delay_poll_fd(void *state)
{
	return ((struct delay_engine *)state)->held.timer_fd;
}

/* The timer fired: the requests whose time has come go to io_uring. */
static void delay_reap(void *state)
{
	struct delay_engine *d = state;
	struct vb_blk_req *req;
	uint64_t expiries;

	/* The expiry must be read, or the next arming would look expired at once. */
	if (read(d->held.timer_fd, &expiries, sizeof(expiries)) < 0 && errno != EAGAIN)
		return;
	while ((req = vb_delay_pop_due(&d->held)))
		vb_uring_engine_submit(d->io, req);
}

static void delay_complete(void *state, struct vb_blk_req *req, int res)
{
	vb_uring_engine_complete(((struct delay_engine *)state)->io, req, res);
}

/* Held requests never reached the host; the released ones are io_uring's. */
static int delay_suspend(void *state)
{
	struct delay_engine *d = state;

	vb_engine_cancel_held(d->io, vb_delay_take_all(&d->held));
	vb_uring_engine_suspend(d->io);
	return 0;
}

const struct vb_engine_ops vb_engine_delay = {
	.name = "delay",
	.parse = delay_parse,
	.describe = delay_describe,
	.queue_size = sizeof(struct delay_engine),
	.req_size = sizeof(struct vb_delay_req),
	.init = delay_init,
	.destroy = delay_destroy,
	.start = delay_start,
	.submit = delay_submit,
	.poll_fd = delay_poll_fd,
	.reap = delay_reap,
	.complete = delay_complete,
	.suspend = delay_suspend,
};
