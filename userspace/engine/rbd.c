/* The rbd engine: requests to a Ceph RBD image through librbd aio, completions on an eventfd in the queue's loop. */
#include <errno.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "disk.h"
#include "engine.h"
#include "util/log.h"

#define RBD_PREFIX "rbd:"
#define RBD_MAX_OPTIONS 16
/* Seconds rados_connect may take: a cluster that is not there must fail the start, not hang it. */
#define RBD_MOUNT_TIMEOUT "20"
#define RBD_POLL_BATCH 32

/* The device's connection to the cluster, shared by its queues (librados handles are thread-safe). */
struct rbd_disk {
	rados_t cluster;
	rados_ioctx_t ioctx;
	char *image;
};

/*
 * Each queue opens the image on its own handle: librbd queues a handle's
 * completions for rbd_poll_io_events and signals one eventfd per handle, so
 * a handle per queue keeps every completion on the thread that issued it.
 */
struct rbd_engine {
	rbd_image_t image;
	int event_fd;
	struct vb_engine_io *io;
};

struct rbd_req {
	rbd_completion_t c;	/* NULL: not with the cluster */
};

/* rbd:POOL/IMAGE[:KEY=VALUE]..., split in place (no escapes). */
struct rbd_spec {
	char *pool, *image, *conf, *id;
	char *keys[RBD_MAX_OPTIONS], *values[RBD_MAX_OPTIONS];
	unsigned int noptions;
};

static int parse_spec(char *s, struct rbd_spec *sp)
{
	char *field, *save = NULL;

	memset(sp, 0, sizeof(*sp));
	if (strncmp(s, RBD_PREFIX, strlen(RBD_PREFIX)) != 0) {
		vb_err("--engine rbd needs --disk rbd:POOL/IMAGE[:conf=PATH][:id=NAME][:KEY=VALUE]..., not '%s'",
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
 * Reads the configuration like qemu's rbd: driver (the default files when
 * conf= is not given), then the options. The cache stays off whatever they
 * say: a write librbd acknowledged from its cache would be lost if the
 * client were fenced, and write-through would not hold.
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
	for (unsigned int i = 0; ret == 0 && i < sp->noptions; i++)
		ret = set_option(rd, sp, sp->keys[i], sp->values[i]);
	if (ret == 0)
		ret = set_option(rd, sp, "rbd_cache", "false");
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

/* The image's size, learnt from a handle of the device's own that is closed again. */
static int probe_image(struct rbd_disk *rd, const struct rbd_spec *sp, struct vb_disk *disk)
{
	rbd_image_t image;
	int ret = open_image(rd->ioctx, sp->image, disk->readonly, &image);

	if (ret < 0) {
		vb_err("rbd:%s/%s: image %s: %s", sp->pool, sp->image, sp->image,
		       ret == -ENOENT ? "no such image" : strerror(-ret));
		return ret;
	}
	ret = rbd_get_size(image, &disk->size);
	rbd_close(image);
	if (ret < 0)
		return ret;
	if (disk->size < VB_SECTOR_SIZE || disk->size % VB_SECTOR_SIZE) {
		vb_err("rbd:%s/%s: size %llu is not a positive multiple of 512", sp->pool,
		       sp->image, (unsigned long long)disk->size);
		return -EINVAL;
	}
	return 0;
}

static void close_rbd_disk(struct vb_disk *disk)
{
	struct rbd_disk *rd = disk->remote;

	if (rd) {
		if (rd->ioctx)
			rados_ioctx_destroy(rd->ioctx);
		if (rd->cluster)
			rados_shutdown(rd->cluster);
		free(rd->image);
		free(rd);
	}
	disk->remote = NULL;
	free(disk->path);
	disk->path = NULL;
}

static int open_rbd_disk(struct vb_disk *disk, const char *spec, bool readonly)
{
	char *copy = strdup(spec);
	struct rbd_disk *rd = calloc(1, sizeof(*rd));
	struct rbd_spec sp;
	int ret = -ENOMEM;

	memset(disk, 0, sizeof(*disk));
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
	if (ret == 0)
		ret = connect_pool(rd, &sp);
	if (ret == 0)
		ret = probe_image(rd, &sp, disk);
	if (ret == 0) {
		rd->image = strdup(sp.image);
		ret = rd->image ? 0 : -ENOMEM;
	}
	if (ret == 0)
		vb_info("disk rbd:%s/%s: %llu bytes%s", sp.pool, sp.image,
			(unsigned long long)disk->size, readonly ? ", read-only" : "");
out:
	free(copy);
	if (ret < 0)
		close_rbd_disk(disk);
	return ret;
}

static int rbd_init(void *state, const struct vb_engine *e)
{
	(void)e;
	((struct rbd_engine *)state)->event_fd = -1;
	return 0;
}

static void rbd_destroy(void *state)
{
	struct rbd_engine *re = state;

	/* rbd_close waits for what is still with the cluster. */
	if (re->image)
		rbd_close(re->image);
	if (re->event_fd >= 0)
		close(re->event_fd);
}

/* The handle is opened at the ring's first start and kept across restarts. */
static int rbd_start(void *state, struct vb_engine_io *io)
{
	struct rbd_engine *re = state;
	struct rbd_disk *rd = io->disk->remote;
	int ret;

	re->io = io;
	if (re->image)
		return 0;
	re->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (re->event_fd < 0)
		return -errno;
	ret = open_image(rd->ioctx, rd->image, io->disk->readonly, &re->image);
	if (ret == 0)
		ret = rbd_set_image_notification(re->image, re->event_fd, EVENT_TYPE_EVENTFD);
	if (ret < 0) {
		vb_err("%s: cannot open the image for a queue: %s", io->disk->path, strerror(-ret));
		rbd_destroy(state);
		re->image = NULL;
		re->event_fd = -1;
	}
	return ret;
}

static void finish(struct rbd_engine *re, struct vb_blk_req *req, int res)
{
	((struct rbd_req *)vb_blk_req_engine_data(req))->c = NULL;
	req->status = res < 0 ? vb_blk_status_from_errno(res) : VIRTIO_BLK_S_OK;
	re->io->settle(re->io->ctx, req, VB_FATE_COMPLETED);
}

static int issue(rbd_image_t image, struct vb_blk_req *req, rbd_completion_t c)
{
	switch (req->op) {
	case VB_IO_READ:
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

static void rbd_submit(void *state, struct vb_blk_req *req)
{
	struct rbd_engine *re = state;
	struct rbd_req *r = vb_blk_req_engine_data(req);
	int ret = rbd_aio_create_completion(req, NULL, &r->c);

	if (ret < 0) {
		finish(re, req, ret);
		return;
	}
	ret = issue(re->image, req, r->c);
	if (ret < 0) {
		rbd_aio_release(r->c);
		finish(re, req, ret);
	}
}

static int rbd_poll_fd(void *state)
{
	return ((struct rbd_engine *)state)->event_fd;
}

static void rbd_reap(void *state)
{
	struct rbd_engine *re = state;
	rbd_completion_t done[RBD_POLL_BATCH];
	uint64_t events;
	int n;

	/* Read first: a completion queued after the poll below signals again. */
	if (read(re->event_fd, &events, sizeof(events)) < 0 && errno != EAGAIN)
		return;
	while ((n = rbd_poll_io_events(re->image, done, RBD_POLL_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			struct vb_blk_req *req = rbd_aio_get_arg(done[i]);
			int res = (int)rbd_aio_get_return_value(done[i]);

			rbd_aio_release(done[i]);
			finish(re, req, res);
		}
	}
}

/*
 * librbd cannot take a request back, and reading every request through a
 * bounce buffer only so that it could be abandoned would cost a copy each:
 * every request with the cluster is waited for.
 */
static int rbd_suspend(void *state)
{
	struct rbd_engine *re = state;
	struct vb_engine_io *io = re->io;

	for (unsigned int i = 0; i < io->nreqs; i++) {
		struct vb_blk_req *req = (void *)((char *)io->reqs + (size_t)i * io->slot_size);

		if (((struct rbd_req *)vb_blk_req_engine_data(req))->c)
			io->settle(io->ctx, req, VB_FATE_WAITED);
	}
	return 0;
}

const struct vb_engine_ops vb_engine_rbd = {
	.name = "rbd",
	.open_disk = open_rbd_disk,
	.close_disk = close_rbd_disk,
	.queue_size = sizeof(struct rbd_engine),
	.req_size = sizeof(struct rbd_req),
	.init = rbd_init,
	.destroy = rbd_destroy,
	.start = rbd_start,
	.submit = rbd_submit,
	.poll_fd = rbd_poll_fd,
	.reap = rbd_reap,
	.suspend = rbd_suspend,
};
