/* The rbd engine: requests to a Ceph RBD image through librbd aio, completions on an eventfd in the queue's loop. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "bounce_pool.h"
#include "disk.h"
#include "engine.h"
#include "range_order.h"
#include "req_list.h"
#include "uring_io.h"
#include "util/log.h"

#define RBD_PREFIX "rbd:"
#define RBD_MAX_OPTIONS 16
/* Seconds rados_connect may take: a cluster that is not there must fail the start, not hang it. */
#define RBD_MOUNT_TIMEOUT "20"
/*
 * Seconds a request may wait for the cluster before it fails (timeout=):
 * librados waits forever by default, and a guest would then hang on a
 * cluster that went away. Long enough for an OSD to restart or fail over.
 */
#define RBD_OP_TIMEOUT "30"
#define RBD_POLL_BATCH 32

/* e->param of --engine rbd:break-lock and rbd:break-lock-late. */
#define RBD_BREAK_LOCK 1
#define RBD_BREAK_LOCK_LATE 2

/*
 * A request a suspension left with the cluster. Its request slot belongs to
 * the ring's next run (or is freed), so the completion is known by c alone;
 * a read's late data lands in bounce, freed when it ends.
 */
struct rbd_abandoned {
	struct rbd_abandoned *next;
	rbd_completion_t c;
	uint64_t offset, len;
	bool writes;			/* a write, write-zeroes or discard: its range is fenced */
	void *bounce;
	size_t bounce_cap;
};

/*
 * The device's image, one handle for every queue: the exclusive lock is a
 * handle's, so queues with handles of their own would pass it to and fro.
 * librbd signals event_fd for every completion of the handle, and every
 * queue polls it; lock orders the reaping (rbd_poll_io_events) and guards
 * the queues' forwarded lists and the abandoned requests.
 */
struct rbd_disk {
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	int event_fd;
	pthread_mutex_t lock;
	/*
	 * rbd:break-lock-late: the lock is broken and taken when the first ring
	 * starts, not at open (under lock). A migration's destination front-end
	 * connects while the source still writes; it starts its rings only
	 * after the source suspended its own.
	 */
	bool lock_pending;
	char *name;			/* POOL/IMAGE, for the log */
	/* Requests failed since the last one that succeeded; under lock. */
	unsigned long failing;
	/*
	 * Under lock; nfenced (abandoned writes) is also read without it, as a
	 * hint that the ranges must be checked. Until an abandoned write ends,
	 * no request of this daemon on its range goes to the cluster.
	 */
	struct rbd_abandoned *abandoned;
	unsigned int nabandoned, nfenced;
	unsigned int nrejected;		/* abandoned writes the cluster refused since the last report */
};

struct rbd_engine {
	struct rbd_disk *rd;
	struct vb_engine_io *io;
	/* Completions another queue reaped for this one, with their results; under rd->lock. */
	struct vb_req_list forwarded;
	/* Requests waiting for their range to clear, in arrival order (range_order.h). */
	struct vb_req_list parked;
	bool watching;			/* resubmitted requests may still be busy */
};

struct rbd_req {
	struct vb_req_link link;	/* first: while forwarded or parked (req_list.h) */
	rbd_completion_t c;		/* NULL: not with the cluster */
	struct rbd_engine *owner;	/* the queue that issued it */
	int res;			/* while forwarded */
	void *bounce;			/* a read's buffer while it may be abandoned */
	size_t bounce_cap;
};

/* rbd:POOL/IMAGE[:KEY=VALUE]..., split in place (no escapes). */
struct rbd_spec {
	char *pool, *image, *conf, *id, *timeout;
	char *keys[RBD_MAX_OPTIONS], *values[RBD_MAX_OPTIONS];
	unsigned int noptions;
};

static int parse_spec(char *s, struct rbd_spec *sp)
{
	char *field, *save = NULL;

	memset(sp, 0, sizeof(*sp));
	if (strncmp(s, RBD_PREFIX, strlen(RBD_PREFIX)) != 0) {
		vb_err("--engine rbd needs --disk rbd:POOL/IMAGE[:conf=PATH][:id=NAME][:timeout=SEC][:KEY=VALUE]..., not '%s'",
		       s);
		return -EINVAL;
	}
	sp->pool = strtok_r(s + strlen(RBD_PREFIX), ":", &save);
	sp->image = sp->pool ? strchr(sp->pool, '/') : NULL;
	if (!sp->image || sp->image == sp->pool || !sp->image[1] || strchr(sp->image + 1, '/') ||
	    strchr(sp->image, '@')) {
		vb_err("rbd: expected POOL/IMAGE (no namespace, no snapshot) after rbd:");
		return -EINVAL;
	}
	*sp->image++ = '\0';
	while ((field = strtok_r(NULL, ":", &save))) {
		char *eq = strchr(field, '=');

		if (!eq || eq == field) {
			vb_err("rbd:%s/%s: option '%s' is not KEY=VALUE", sp->pool, sp->image, field);
			return -EINVAL;
		}
		*eq = '\0';
		if (strcmp(field, "conf") == 0) {
			sp->conf = eq + 1;
		} else if (strcmp(field, "id") == 0) {
			sp->id = eq + 1;
		} else if (strcmp(field, "timeout") == 0) {
			sp->timeout = eq + 1;
			if (strspn(sp->timeout, "0123456789") != strlen(sp->timeout) ||
			    strlen(sp->timeout) > 6) {
				vb_err("rbd:%s/%s: timeout=%s is not a number of seconds",
				       sp->pool, sp->image, sp->timeout);
				return -EINVAL;
			}
		} else if (sp->noptions == RBD_MAX_OPTIONS) {
			vb_err("rbd:%s/%s: more than %d options", sp->pool, sp->image, RBD_MAX_OPTIONS);
			return -EINVAL;
		} else {
			sp->keys[sp->noptions] = field;
			sp->values[sp->noptions++] = eq + 1;
		}
	}
	return 0;
}

static int set_option(struct rbd_disk *rd, const struct rbd_spec *sp, const char *key,
		      const char *value)
{
	int ret = rados_conf_set(rd->cluster, key, value);

	if (ret < 0)
		vb_err("rbd:%s/%s: option %s=%s: %s", sp->pool, sp->image, key, value,
		       strerror(-ret));
	return ret;
}

/*
 * A request timeout: timeout= if given, else the configuration file's if it
 * sets one (librados' default, 0, waits forever), else vbridge's default.
 */
static int set_timeout(struct rbd_disk *rd, const struct rbd_spec *sp, const char *key)
{
	char value[64];

	if (sp->timeout)
		return set_option(rd, sp, key, sp->timeout);
	if (rados_conf_get(rd->cluster, key, value, sizeof(value)) == 0 &&
	    strtod(value, NULL) != 0)
		return 0;
	return set_option(rd, sp, key, RBD_OP_TIMEOUT);
}

/*
 * Reads the configuration like qemu's rbd: driver (the default files when
 * conf= is not given), then the options. timeout= bounds the requests to
 * the OSDs and the monitors. The cache stays off whatever they say: a write
 * librbd acknowledged from its cache would be lost if the client were
 * fenced, and write-through would not hold. Writes copy their data at
 * submission whatever they say (no zero-copy).
 */
static int configure(struct rbd_disk *rd, const struct rbd_spec *sp)
{
	int ret = rados_conf_read_file(rd->cluster, sp->conf);

	if (ret < 0 && sp->conf) {
		vb_err("rbd:%s/%s: cannot read %s: %s", sp->pool, sp->image, sp->conf,
		       strerror(-ret));
		return ret;
	}
	ret = set_option(rd, sp, "client_mount_timeout", RBD_MOUNT_TIMEOUT);
	if (ret == 0)
		ret = set_timeout(rd, sp, "rados_osd_op_timeout");
	if (ret == 0)
		ret = set_timeout(rd, sp, "rados_mon_op_timeout");
	for (unsigned int i = 0; ret == 0 && i < sp->noptions; i++)
		ret = set_option(rd, sp, sp->keys[i], sp->values[i]);
	if (ret == 0)
		ret = set_option(rd, sp, "rbd_cache", "false");
	/* A write abandoned at suspension must not read guest memory after the reply. */
	if (ret == 0)
		ret = set_option(rd, sp, "rbd_disable_zero_copy_writes", "true");
	return ret;
}

static int connect_pool(struct rbd_disk *rd, const struct rbd_spec *sp)
{
	int ret = rados_create(&rd->cluster, sp->id);

	if (ret < 0) {
		vb_err("rbd:%s/%s: rados_create: %s", sp->pool, sp->image, strerror(-ret));
		return ret;
	}
	ret = configure(rd, sp);
	if (ret < 0)
		return ret;
	ret = rados_connect(rd->cluster);
	if (ret < 0) {
		vb_err("rbd:%s/%s: cannot connect to the cluster as client.%s (conf %s): %s",
		       sp->pool, sp->image, sp->id ? sp->id : "admin",
		       sp->conf ? sp->conf : "default", strerror(-ret));
		return ret;
	}
	ret = rados_ioctx_create(rd->cluster, sp->pool, &rd->ioctx);
	if (ret < 0)
		vb_err("rbd:%s/%s: pool %s: %s", sp->pool, sp->image, sp->pool,
		       ret == -ENOENT ? "no such pool" : strerror(-ret));
	return ret;
}

static int open_image(rados_ioctx_t ioctx, const char *name, bool readonly, rbd_image_t *image)
{
	return readonly ? rbd_open_read_only(ioctx, name, image, NULL) :
			  rbd_open(ioctx, name, image, NULL);
}

/*
 * Breaks the lock of whoever holds it: the cluster blocklists the owner, so
 * no write it still sends can land once this returns. Not locked: nothing
 * to do (-ENOENT).
 */
static int break_lock(struct rbd_disk *rd)
{
	rbd_lock_mode_t mode;
	char *owners[4];
	size_t n = 4;
	int ret = rbd_lock_get_owners(rd->image, &mode, owners, &n);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		vb_info("rbd:%s: breaking the lock of %s (it is blocklisted)", rd->name, owners[i]);
		ret = rbd_lock_break(rd->image, RBD_LOCK_MODE_EXCLUSIVE, owners[i]);
	}
	rbd_lock_get_owners_cleanup(owners, n);
	return ret;
}

/*
 * The exclusive lock, held as long as the image is open: no other client
 * writes meanwhile. With may_break the owner's lock is broken first,
 * without asking it: the owner answers a request for the lock only after
 * everything it sent before, so asking would let its late writes land
 * first; a dead owner (a killed daemon) would be waited for until the OSD
 * drops its watch, 30 s, and on a hung owner it would only time out.
 */
static int take_lock(struct rbd_disk *rd, bool may_break)
{
	int ret = may_break ? break_lock(rd) : 0;

	if (ret == 0)
		ret = rbd_lock_acquire(rd->image, RBD_LOCK_MODE_EXCLUSIVE);
	if (ret == -EBUSY || ret == -EROFS)
		vb_err("rbd:%s: the image is locked by another client (--engine rbd:break-lock takes it over)",
		       rd->name);
	else if (ret < 0)
		vb_err("rbd:%s: cannot take the exclusive lock: %s", rd->name, strerror(-ret));
	return ret;
}

static int open_device_image(struct rbd_disk *rd, const struct rbd_spec *sp, struct vb_disk *disk,
			     int lock_mode)
{
	int ret = open_image(rd->ioctx, sp->image, disk->readonly, &rd->image);

	if (ret < 0) {
		rd->image = NULL;
		vb_err("rbd:%s/%s: image %s: %s", sp->pool, sp->image, sp->image,
		       ret == -ENOENT ? "no such image" : strerror(-ret));
		return ret;
	}
	ret = rbd_get_size(rd->image, &disk->size);
	if (ret < 0)
		return ret;
	if (disk->size < VB_SECTOR_SIZE || disk->size % VB_SECTOR_SIZE) {
		vb_err("rbd:%s/%s: size %llu is not a positive multiple of 512", sp->pool,
		       sp->image, (unsigned long long)disk->size);
		return -EINVAL;
	}
	if (!disk->readonly && lock_mode == RBD_BREAK_LOCK_LATE) {
		rd->lock_pending = true;
	} else if (!disk->readonly) {
		ret = take_lock(rd, lock_mode == RBD_BREAK_LOCK);
		if (ret < 0)
			return ret;
	}
	rd->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rd->event_fd < 0)
		return -errno;
	return rbd_set_image_notification(rd->image, rd->event_fd, EVENT_TYPE_EVENTFD);
}

static bool drop_abandoned(struct rbd_disk *rd, rbd_completion_t c);
static void report_abandoned(struct rbd_disk *rd, const char *path);

/*
 * No queue runs any more: waits here for the requests suspensions left with
 * the cluster (rbd_close would too), freeing their buffers. On a cluster
 * that never answers, that is forever.
 */
static void wait_for_abandoned(struct rbd_disk *rd, const char *path)
{
	rbd_completion_t done[RBD_POLL_BATCH];
	struct pollfd pfd = { .fd = rd->event_fd, .events = POLLIN };
	eventfd_t events;
	int n;

	if (!rd->nabandoned)
		return;
	vb_info("%s: waiting for %u requests abandoned at suspension (%u writes) to end before closing the image",
		path, rd->nabandoned, rd->nfenced);
	while (rd->nabandoned) {
		if (poll(&pfd, 1, 100) > 0)
			eventfd_read(rd->event_fd, &events);
		while ((n = rbd_poll_io_events(rd->image, done, RBD_POLL_BATCH)) > 0) {
			for (int i = 0; i < n; i++) {
				if (!drop_abandoned(rd, done[i]))
					vb_warn("%s: a completion of no request at close", path);
				rbd_aio_release(done[i]);
			}
		}
	}
	report_abandoned(rd, path);
}

static void close_rbd_disk(struct vb_disk *disk)
{
	struct rbd_disk *rd = disk->remote;

	if (rd) {
		/* Releases the lock too, and waits for what is still with the cluster. */
		if (rd->image) {
			wait_for_abandoned(rd, disk->path);
			rbd_close(rd->image);
		}
		if (rd->event_fd >= 0)
			close(rd->event_fd);
		pthread_mutex_destroy(&rd->lock);
		if (rd->ioctx)
			rados_ioctx_destroy(rd->ioctx);
		if (rd->cluster)
			rados_shutdown(rd->cluster);
		free(rd->name);
		free(rd);
	}
	disk->remote = NULL;
	free(disk->path);
	disk->path = NULL;
}

/* The request timeout in effect, for the log. */
static void describe_timeout(struct rbd_disk *rd, char *buf, size_t len)
{
	char value[32];

	if (rados_conf_get(rd->cluster, "rados_osd_op_timeout", value, sizeof(value)) < 0)
		snprintf(buf, len, "request timeout unknown");
	else if (strtod(value, NULL) == 0)
		snprintf(buf, len, "no request timeout");
	else
		snprintf(buf, len, "request timeout %s s", value);
}

static int open_rbd_disk(struct vb_disk *disk, const struct vb_engine *e, const char *spec,
			 bool readonly)
{
	char *copy = strdup(spec);
	struct rbd_disk *rd = calloc(1, sizeof(*rd));
	struct rbd_spec sp;
	int ret = -ENOMEM;

	memset(disk, 0, sizeof(*disk));
	if (rd) {
		rd->event_fd = -1;
		pthread_mutex_init(&rd->lock, NULL);
	}
	disk->fd = -1;
	disk->probe_fd = -1;
	disk->readonly = readonly;
	disk->logical_block = disk->physical_block = VB_SECTOR_SIZE;
	disk->dio_mem_align = disk->dio_offset_align = 1;
	disk->remote = rd;
	disk->path = strdup(spec);
	if (!copy || !rd || !disk->path)
		goto out;
	ret = parse_spec(copy, &sp);
	if (ret == 0 && asprintf(&rd->name, "%s/%s", sp.pool, sp.image) < 0) {
		rd->name = NULL;
		ret = -ENOMEM;
	}
	if (ret == 0)
		ret = connect_pool(rd, &sp);
	if (ret == 0)
		ret = open_device_image(rd, &sp, disk, e->param);
	if (ret == 0) {
		char timeout[64];

		describe_timeout(rd, timeout, sizeof(timeout));
		vb_info("disk rbd:%s: %llu bytes, %s, %s", rd->name, (unsigned long long)disk->size,
			readonly ? "read-only" :
			rd->lock_pending ? "exclusive lock broken and taken when a ring starts" :
					   "exclusive lock held", timeout);
	}
out:
	free(copy);
	if (ret < 0)
		close_rbd_disk(disk);
	return ret;
}

static int rbd_parse(const char *arg, struct vb_engine *e, char *err, size_t errlen)
{
	static const char *const modes[] = { [RBD_BREAK_LOCK] = "break-lock",
					     [RBD_BREAK_LOCK_LATE] = "break-lock-late" };

	e->param = 0;
	for (int m = RBD_BREAK_LOCK; arg && m <= RBD_BREAK_LOCK_LATE; m++)
		if (strcmp(arg, modes[m]) == 0)
			e->param = m;
	if (!arg || e->param)
		return 0;
	snprintf(err, errlen, "'rbd:%s': expected rbd, rbd:break-lock or rbd:break-lock-late", arg);
	return -1;
}

static void rbd_describe(const struct vb_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s", e->param == RBD_BREAK_LOCK ? "rbd:break-lock" :
			   e->param == RBD_BREAK_LOCK_LATE ? "rbd:break-lock-late" : "rbd");
}

static int rbd_start(void *state, struct vb_engine_io *io)
{
	struct rbd_engine *re = state;
	int ret = 0;

	re->io = io;
	re->rd = io->disk->remote;
	pthread_mutex_lock(&re->rd->lock);
	if (re->rd->lock_pending) {
		ret = take_lock(re->rd, true);
		re->rd->lock_pending = ret < 0;
	}
	pthread_mutex_unlock(&re->rd->lock);
	if (ret < 0)
		return ret;
	re->parked = (struct vb_req_list){ NULL, NULL };
	re->watching = true;
	return 0;
}

static void finish(struct rbd_engine *re, struct vb_blk_req *req, int res)
{
	struct rbd_req *r = vb_blk_req_engine_data(req);

	r->c = NULL;
	if (r->bounce) {
		if (res >= 0)
			vb_blk_copy(req, 0, r->bounce, true);
		vb_bounce_put(re->io->bounce, r->bounce, r->bounce_cap);
		r->bounce = NULL;
	}
	req->status = res < 0 ? vb_blk_status_from_errno(res) : VIRTIO_BLK_S_OK;
	re->io->settle(re->io->ctx, req, VB_FATE_COMPLETED);
}

/*
 * A read on a ring that may be suspended goes to a bounce buffer (up to
 * --bounce-max, as with io_uring), so that a suspension can abandon it.
 */
static int issue(struct rbd_engine *re, struct vb_blk_req *req, rbd_completion_t c)
{
	rbd_image_t image = re->rd->image;
	struct rbd_req *r = vb_blk_req_engine_data(req);

	switch (req->op) {
	case VB_IO_READ:
		if ((re->io->flags & VB_URING_BOUNCE_READS) && req->len <= re->io->bounce_max)
			r->bounce = vb_bounce_get(re->io->bounce, VB_BOUNCE_ALIGN, req->len,
						  &r->bounce_cap);
		if (r->bounce)
			return rbd_aio_read(image, req->offset, req->len, r->bounce, c);
		return rbd_aio_readv(image, req->iov, (int)req->niov, req->offset, c);
	case VB_IO_WRITE:
		return rbd_aio_writev(image, req->iov, (int)req->niov, req->offset, c);
	case VB_IO_FLUSH:
		return rbd_aio_flush(image, c);
	case VB_IO_DISCARD:
		return rbd_aio_discard(image, req->offset, req->len, c);
	case VB_IO_WRITE_ZEROES:
		return rbd_aio_write_zeroes(image, req->offset, req->len, c, 0, 0);
	case VB_IO_NONE:
		break;
	}
	return -EINVAL;
}

static void send_req(struct rbd_engine *re, struct vb_blk_req *req)
{
	struct rbd_req *r = vb_blk_req_engine_data(req);
	int ret = rbd_aio_create_completion(req, NULL, &r->c);

	if (ret < 0) {
		finish(re, req, ret);
		return;
	}
	r->owner = re;
	ret = issue(re, req, r->c);
	if (ret < 0) {
		rbd_aio_release(r->c);
		finish(re, req, ret);
	}
}

/* Whether a write this daemon abandoned at a suspension is still on req's range. */
static bool on_fenced_range(struct rbd_disk *rd, const struct vb_blk_req *req)
{
	bool fenced = false;

	if (!__atomic_load_n(&rd->nfenced, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&rd->lock);
	for (const struct rbd_abandoned *a = rd->abandoned; a && !fenced; a = a->next)
		fenced = a->writes && vb_ranges_overlap(a->offset, a->len, req->offset, req->len);
	pthread_mutex_unlock(&rd->lock);
	return fenced;
}

/*
 * Whether req must wait: a parked request ahead of it overlaps it, a
 * resubmitted one still busy does (the last back-end's write goes first), or
 * a write abandoned at an earlier suspension of this daemon is still with
 * the cluster on its range. A back-end on another client is kept from the
 * old writes by the lock break instead (blocklisting).
 */
static bool must_wait(struct rbd_engine *re, struct vb_blk_req *req)
{
	if (!vb_req_has_range(req))
		return false;
	if (re->parked.head && vb_req_list_overlaps(&re->parked, req))
		return true;
	if (!req->resubmitted && re->watching && vb_behind_resubmitted(re->io, req, &re->watching))
		return true;
	return on_fenced_range(re->rd, req);
}

/* Sends req, or parks it: the queue goes on, and flush looks again. */
static void rbd_submit(void *state, struct vb_blk_req *req)
{
	struct rbd_engine *re = state;

	if (must_wait(re, req))
		vb_req_list_push(&re->parked, req);
	else
		send_req(re, req);
}

/* Parked requests whose range cleared go out, in order. */
static void rbd_release_parked(void *state)
{
	struct rbd_engine *re = state;

	vb_req_list_resubmit(&re->parked, rbd_submit, re);
}

/* Parked requests clear without a word (an abandoned write ended): the worker looks again every millisecond. */
static bool rbd_backlogged(void *state)
{
	return ((struct rbd_engine *)state)->parked.head != NULL;
}

static int rbd_poll_fd(void *state)
{
	return ((struct rbd_engine *)state)->rd->event_fd;
}

/*
 * The log says when requests start to fail (the cluster went away, or did
 * not answer within timeout=) and when they succeed again, not every failure.
 */
static void note_result(struct rbd_disk *rd, const char *path, int res)
{
	if (res < 0 && rd->failing++ == 0)
		vb_err("%s: requests fail: %s%s", path, strerror(-res),
		       res == -ETIMEDOUT ? " (the cluster did not answer within timeout=)" : "");
	else if (res >= 0 && rd->failing) {
		vb_info("%s: requests succeed again, after %lu failed", path, rd->failing);
		rd->failing = 0;
	}
}

/*
 * Under rd->lock: if c is a request a suspension abandoned, forgets it
 * (its read data goes with its bounce buffer) and returns true.
 */
static bool drop_abandoned(struct rbd_disk *rd, rbd_completion_t c)
{
	for (struct rbd_abandoned **p = &rd->abandoned; *p; p = &(*p)->next) {
		struct rbd_abandoned *a = *p;

		if (a->c != c)
			continue;
		*p = a->next;
		rd->nabandoned--;
		if (a->writes) {
			__atomic_store_n(&rd->nfenced, rd->nfenced - 1, __ATOMIC_RELAXED);
			rd->nrejected += rbd_aio_get_return_value(c) < 0;
		}
		vb_bounce_put(NULL, a->bounce, a->bounce_cap);
		free(a);
		return true;
	}
	return false;
}

/*
 * Under rd->lock, once the last abandoned request ended: says how it went.
 * Refused writes mean a lock break blocklisted this client; none, that the
 * writes landed (this daemon resumed, or nobody took the image).
 */
static void report_abandoned(struct rbd_disk *rd, const char *path)
{
	if (rd->nrejected)
		vb_info("%s: the cluster ended every request abandoned at suspension; %u writes were refused: this client is blocklisted",
			path, rd->nrejected);
	else
		vb_info("%s: the cluster ended every request abandoned at suspension; no write was refused",
			path);
	rd->nrejected = 0;
}

/*
 * Every queue wakes for every completion of the image. The one that reaps
 * it keeps its own and forwards the others' to their lists, then signals
 * the eventfd again so that their owners wake and take them. Completions
 * of abandoned requests only free what they held.
 */
static void rbd_reap(void *state)
{
	struct rbd_engine *re = state;
	struct rbd_disk *rd = re->rd;
	rbd_completion_t done[RBD_POLL_BATCH];
	struct vb_blk_req *mine;
	bool forwarded = false;
	uint64_t events;
	int n;

	/*
	 * The eventfd is never read: a multishot poll reports every write to
	 * it to every queue, whereas a queue that read it could hide a write
	 * from the others, since io_uring checks readiness as it delivers a poll.
	 */
	pthread_mutex_lock(&rd->lock);
	while ((n = rbd_poll_io_events(rd->image, done, RBD_POLL_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			struct vb_blk_req *req;
			struct rbd_req *r;

			if (rd->abandoned && drop_abandoned(rd, done[i])) {
				rbd_aio_release(done[i]);
				if (!rd->abandoned)
					report_abandoned(rd, re->io->disk->path);
				continue;
			}
			req = rbd_aio_get_arg(done[i]);
			r = vb_blk_req_engine_data(req);
			r->res = (int)rbd_aio_get_return_value(done[i]);
			rbd_aio_release(done[i]);
			note_result(rd, re->io->disk->path, r->res);
			vb_req_list_push(&r->owner->forwarded, req);
			forwarded |= r->owner != re;
		}
	}
	mine = vb_req_list_take(&re->forwarded);
	pthread_mutex_unlock(&rd->lock);
	if (forwarded) {
		events = 1;
		if (write(rd->event_fd, &events, sizeof(events)) < 0)
			vb_warn("%s: waking the other queues: %s", re->io->disk->path,
				strerror(errno));
	}
	while (mine) {
		struct vb_blk_req *req = mine;

		mine = vb_req_next(req);
		finish(re, req, ((struct rbd_req *)vb_blk_req_engine_data(req))->res);
	}
}

/*
 * Under rd->lock: hands req, with the cluster, to the device's abandoned
 * list, the request slot to the ring. Returns its fate, or WAITED if it
 * cannot be abandoned (a read straight into guest memory, or no memory).
 */
static enum vb_fate abandon(struct rbd_disk *rd, struct vb_blk_req *req)
{
	struct rbd_req *r = vb_blk_req_engine_data(req);
	bool writes = vb_req_writes_disk(req);
	struct rbd_abandoned *a;

	if (req->op == VB_IO_READ && !r->bounce)
		return VB_FATE_WAITED;
	a = malloc(sizeof(*a));
	if (!a)
		return VB_FATE_WAITED;
	*a = (struct rbd_abandoned){ .next = rd->abandoned, .c = r->c, .offset = req->offset,
				     .len = req->len, .writes = writes, .bounce = r->bounce,
				     .bounce_cap = r->bounce_cap };
	rd->abandoned = a;
	rd->nabandoned++;
	if (writes)
		__atomic_store_n(&rd->nfenced, rd->nfenced + 1, __ATOMIC_RELAXED);
	r->c = NULL;
	r->bounce = NULL;
	return writes ? VB_FATE_FENCED : VB_FATE_ABANDONED;
}

/*
 * librbd cannot take a request back, so nothing with the cluster is waited
 * for that need not be: reads into bounce buffers are abandoned, writes,
 * write-zeroes and discards fenced (the next back-end breaks the lock, which
 * blocklists this client; this daemon resuming holds back what overlaps
 * them), flushes abandoned too (with the cache off, every write the guest
 * saw completed is with the OSDs already; the next back-end flushes again).
 * Only reads straight into guest memory (longer than --bounce-max) are
 * waited for. Parked requests never reached the cluster.
 */
static int rbd_suspend(void *state)
{
	struct rbd_engine *re = state;
	struct vb_engine_io *io = re->io;
	struct rbd_disk *rd = re->rd;
	struct vb_blk_req *done;
	unsigned int waited = 0, left = 0;

	vb_engine_cancel_held(io, vb_req_list_take(&re->parked));
	/*
	 * Under the lock no other queue reaps: a request not forwarded to us
	 * yet is with the cluster. Settling takes no lock of the engine's.
	 */
	pthread_mutex_lock(&rd->lock);
	done = vb_req_list_take(&re->forwarded);
	for (struct vb_blk_req *req = done; req; req = vb_req_next(req))
		((struct rbd_req *)vb_blk_req_engine_data(req))->c = NULL;
	for (unsigned int i = 0; i < io->nreqs; i++) {
		struct vb_blk_req *req = vb_engine_slot(io, i);
		enum vb_fate fate;

		if (!((struct rbd_req *)vb_blk_req_engine_data(req))->c)
			continue;
		fate = abandon(rd, req);
		io->settle(io->ctx, req, fate);
		left++;
		waited += fate == VB_FATE_WAITED;
	}
	pthread_mutex_unlock(&rd->lock);
	while (done) {
		struct vb_blk_req *req = done;

		done = vb_req_next(req);
		finish(re, req, ((struct rbd_req *)vb_blk_req_engine_data(req))->res);
	}
	if (left)
		vb_info("%s: suspension: %u requests left with the cluster, %u of them waited for (reads longer than --bounce-max)",
			io->disk->path, left, waited);
	return 0;
}

const struct vb_engine_ops vb_engine_rbd = {
	.name = "rbd",
	.parse = rbd_parse,
	.describe = rbd_describe,
	.open_disk = open_rbd_disk,
	.close_disk = close_rbd_disk,
	.queue_size = sizeof(struct rbd_engine),
	.req_size = sizeof(struct rbd_req),
	.start = rbd_start,
	.submit = rbd_submit,
	.flush = rbd_release_parked,
	.backlogged = rbd_backlogged,
	.poll_fd = rbd_poll_fd,
	.reap = rbd_reap,
	.suspend = rbd_suspend,
};
