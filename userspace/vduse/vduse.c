/* VDUSE front door: the device as a kernel vDPA device (/dev/vdX through virtio-vdpa), served from /dev/vduse/NAME. */
#include "vduse.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "core/queue.h"
#include "core/rings.h"
#include "vdpa_netlink.h"
#include "vb_bit.h"

#define VDUSE_CONTROL "/dev/vduse/control"

/*
 * VDUSE refuses a writable config space (CONFIG_WCE). Packed rings are left
 * out because the inflight log has the split layout (as QEMU's libvduse
 * keeps it): a packed ring could not be recovered after a kill.
 */
#define VDUSE_REFUSED (BIT(VIRTIO_BLK_F_CONFIG_WCE) | BIT(VIRTIO_F_RING_PACKED))

static int open_control(void)
{
	uint64_t version = VDUSE_API_VERSION;
	int fd = open(VDUSE_CONTROL, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		if (errno == ENOENT)
			vb_err("%s does not exist: load the vduse kernel module (modprobe vduse)",
			       VDUSE_CONTROL);
		else
			vb_err("cannot open %s: %s", VDUSE_CONTROL, strerror(errno));
		return err;
	}
	if (ioctl(fd, VDUSE_SET_API_VERSION, &version) < 0) {
		int err = -errno;

		vb_err("VDUSE does not speak API version %llu: %s", (unsigned long long)version,
		       strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/* VDUSE_CREATE_DEV with the shared device's config; -EEXIST if the name is taken. */
static int create_device(struct vb_vduse *v, int ctl)
{
	/* The config space follows the header as its flexible array member. */
	union {
		struct vduse_dev_config c;
		uint8_t bytes[sizeof(struct vduse_dev_config) + sizeof(struct virtio_blk_config)];
	} cfg;
	struct virtio_blk_config blk;
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.c.name, v->name, sizeof(cfg.c.name));
	cfg.c.device_id = VIRTIO_ID_BLOCK;
	cfg.c.features = (v->dev->offered_features & ~VDUSE_REFUSED) |
			 BIT(VIRTIO_F_ACCESS_PLATFORM);
	cfg.c.vq_num = v->dev->num_queues;
	cfg.c.vq_align = sysconf(_SC_PAGESIZE);
	cfg.c.config_size = sizeof(blk);
	vb_device_config(v->dev, &blk);
	memcpy(cfg.c.config, &blk, sizeof(blk));
	if (ioctl(ctl, VDUSE_CREATE_DEV, &cfg) < 0) {
		ret = -errno;
		if (errno != EEXIST)
			vb_err("the kernel refused to create VDUSE device '%s': %s (an empty or "
			       "malformed name, or a configuration this kernel's VDUSE rejects)",
			       v->name, strerror(errno));
		return ret;
	}
	v->created = true;
	return 0;
}

/* Every queue needs its size limit before the device may join the vDPA bus. */
static int setup_queues(struct vb_vduse *v)
{
	for (unsigned int i = 0; i < v->dev->num_queues; i++) {
		struct vduse_vq_config vq = { .index = i, .max_size = v->dev->max_queue_size };

		if (ioctl(v->fd, VDUSE_VQ_SETUP, &vq) < 0) {
			int ret = -errno;

			vb_err("VDUSE device %s: cannot set up queue %u: %s", v->name, i,
			       strerror(errno));
			return ret;
		}
	}
	return 0;
}

/* name is shorter than VDUSE_NAME_MAX (checked at init). */
static bool destroy_device(const char *name)
{
	char buf[VDUSE_NAME_MAX] = { 0 };
	int ctl = open_control();
	bool ok;

	if (ctl < 0)
		return false;
	memcpy(buf, name, strlen(name));
	ok = ioctl(ctl, VDUSE_DESTROY_DEV, buf) == 0;
	if (!ok)
		vb_warn("cannot destroy VDUSE device %s: %s", name, strerror(errno));
	close(ctl);
	return ok;
}

/*
 * Maps the first IOTLB entry overlapping [start, last] into mem, IOVA as
 * guest address, read-only unless the entry lets the device write, and says
 * where it ends in *end. Returns 0, -ENOENT if there is none, or -errno.
 * Callers hold iotlb_lock.
 */
static int map_entry(struct vb_vduse *v, struct vb_mem_table *mem, uint64_t start, uint64_t last,
		     uint64_t *end)
{
	struct vduse_iotlb_entry e = { .start = start, .last = last };
	int fd = ioctl(v->fd, VDUSE_IOTLB_GET_FD, &e);
	int ret;

	if (fd < 0)
		return errno == EINVAL ? -ENOENT : -errno;
	*end = e.last;
	ret = vb_mem_add_exact(mem, e.start, e.last - e.start + 1, fd, e.offset,
			       e.perm & VDUSE_ACCESS_WO);
	close(fd);
	/* Another queue thread's miss got there first. */
	if (ret == -EEXIST)
		return 0;
	if (ret < 0) {
		vb_err("cannot map VDUSE IOVA 0x%llx-0x%llx: %s", (unsigned long long)e.start,
		       (unsigned long long)e.last, strerror(-ret));
		return ret;
	}
	vb_debug("IOVA 0x%llx-0x%llx mapped", (unsigned long long)e.start,
		 (unsigned long long)e.last);
	return 0;
}

static bool iotlb_miss(void *ctx, struct vb_mem_table *mem, uint64_t iova);

/*
 * Publishes a new map of every IOTLB entry there is now (the kernel's ring
 * allocations, or a VM's memory). Running rings move to it without a
 * drain; their requests in flight keep the old one.
 */
static int map_iotlb(struct vb_vduse *v)
{
	struct vb_mem_table *mem = vb_mem_new();
	uint64_t start = 0, end;
	int ret = 0;

	if (!mem)
		return -ENOMEM;
	mem->miss = iotlb_miss;
	mem->miss_ctx = v;
	pthread_mutex_lock(&v->iotlb_lock);
	for (;;) {
		ret = map_entry(v, mem, start, UINT64_MAX, &end);
		if (ret < 0 || end == UINT64_MAX)
			break;
		start = end + 1;
	}
	pthread_mutex_unlock(&v->iotlb_lock);
	if (ret < 0 && ret != -ENOENT) {
		vb_mem_put(mem);
		return ret;
	}
	vb_device_set_mem(v->dev, mem);
	return 0;
}

/*
 * A queue thread met an IOVA outside the table. For virtio-vdpa the kernel
 * creates its bounce area on the first I/O and sends no UPDATE_IOTLB for it,
 * so it is looked up when first used, as libvduse does.
 */
static bool iotlb_miss(void *ctx, struct vb_mem_table *mem, uint64_t iova)
{
	struct vb_vduse *v = ctx;
	uint64_t end;
	int ret;

	pthread_mutex_lock(&v->iotlb_lock);
	ret = map_entry(v, mem, iova, iova, &end);
	pthread_mutex_unlock(&v->iotlb_lock);
	return ret == 0;
}

static void inject_irq(void *ctx, unsigned int index)
{
	struct vb_vduse *v = ctx;
	uint32_t i = index;

	if (ioctl(v->fd, VDUSE_VQ_INJECT_IRQ, &i) < 0)
		vb_debug("queue %u: VDUSE_VQ_INJECT_IRQ: %s", index, strerror(errno));
}

/* Starts queue q on the ring the driver described, translated through the IOTLB map. */
static int ring_start(struct vb_vduse *v, struct vb_queue *q)
{
	const struct vduse_vq_info *info = &v->vqs[q->index];
	const struct vb_ring_config config = {
		.addr = { .desc = info->desc_addr, .avail = info->driver_addr,
			  .used = info->device_addr },
		.inflight_region = vb_inflight_queue(&v->inflight, q->index),
		.inflight_size = v->inflight.stride,
		.notify = inject_irq,
		.notify_ctx = v,
	};
	int ret;

	ret = vb_queue_configure(q, &config);
	if (ret == 0)
		ret = vb_queue_start(q);
	if (ret < 0)
		vb_err("queue %u: cannot start: %s", q->index, strerror(-ret));
	return ret;
}

/* Sets up and starts every ring the driver made ready; the inflight log is kept only on reconnect. */
static int start_rings(struct vb_vduse *v, bool reconnect)
{
	struct vb_device *dev = v->dev;
	int ret;

	if (ioctl(v->fd, VDUSE_DEV_GET_FEATURES, &dev->features) < 0)
		return -errno;
	if (!reconnect)
		memset(v->inflight.base, 0, v->inflight.size);
	ret = map_iotlb(v);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		struct vduse_vq_info *info = &v->vqs[i];
		struct vb_queue *q = &dev->queues[i];
		struct vduse_vq_eventfd kick = { .index = i };

		memset(info, 0, sizeof(*info));
		info->index = i;
		if (ioctl(v->fd, VDUSE_VQ_GET_INFO, info) < 0)
			return -errno;
		if (!info->ready)
			continue;
		if (info->num == 0 || info->num > dev->max_queue_size) {
			vb_err("queue %u: the driver set up %u entries (at most %u)", i, info->num,
			       dev->max_queue_size);
			return -EINVAL;
		}
		vb_queue_set_num(q, info->num);
		vb_queue_set_base(q, info->split.avail_index);
		kick.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (kick.fd < 0)
			return -errno;
		vb_queue_set_kick(q, kick.fd);
		if (ioctl(v->fd, VDUSE_VQ_SETUP_KICKFD, &kick) < 0)
			return -errno;
		vb_queue_set_enabled(q, true);
		ret = ring_start(v, q);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Device reset or teardown: rings stopped (their I/O completes), maps dropped. */
static void stop_rings(struct vb_vduse *v)
{
	vb_device_reset(v->dev);
	vb_device_set_mem(v->dev, NULL);
}

static int set_status(struct vb_vduse *v, uint8_t status)
{
	int ret = 0;

	vb_debug("VDUSE status 0x%x", status);
	if (status == 0) {
		stop_rings(v);
	} else if ((status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		   !(v->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		ret = start_rings(v, false);
		if (ret < 0) {
			vb_err("VDUSE device %s: cannot start its rings: %s", v->name,
			       strerror(-ret));
			stop_rings(v);
			return ret;
		}
		vb_info("VDUSE device %s: driver ready, %u queues", v->name, v->dev->num_queues);
	}
	if (status & VIRTIO_CONFIG_S_FAILED)
		vb_warn("VDUSE device %s: the driver gave up on the device (status 0x%x)", v->name,
			status);
	v->status = status;
	return 0;
}

/*
 * A running ring's state as the kernel asks for it (vhost-vdpa's
 * VHOST_GET_VRING_BASE): only a stopped ring has one, so the ring is stopped
 * first, its requests completing, and stays stopped until the driver sets
 * DRIVER_OK again. The answer is the next avail index to fetch, with every
 * request before it used.
 */
static uint16_t vq_state(struct vb_queue *q)
{
	vb_queue_stop(q);
	return (uint16_t)vb_queue_base(q);
}

static void handle(struct vb_vduse *v, const struct vduse_dev_request *req,
		   struct vduse_dev_response *resp)
{
	int ret = 0;

	memset(resp, 0, sizeof(*resp));
	resp->request_id = req->request_id;
	switch (req->type) {
	case VDUSE_GET_VQ_STATE:
		if (req->vq_state.index >= v->dev->num_queues) {
			ret = -EINVAL;
			break;
		}
		resp->vq_state.index = req->vq_state.index;
		resp->vq_state.split.avail_index = vq_state(&v->dev->queues[req->vq_state.index]);
		break;
	case VDUSE_SET_STATUS:
		ret = set_status(v, req->s.status);
		break;
	case VDUSE_UPDATE_IOTLB:
		vb_debug("VDUSE IOTLB update 0x%llx-0x%llx", (unsigned long long)req->iova.start,
			 (unsigned long long)req->iova.last);
		ret = map_iotlb(v);
		break;
	default:
		vb_warn("VDUSE device %s: unknown request type %u", v->name, req->type);
		ret = -EINVAL;
		break;
	}
	resp->result = ret < 0 ? VDUSE_REQ_RESULT_FAILED : VDUSE_REQ_RESULT_OK;
}

/* Waits for a request; false once quit_fd is written or the device broke. */
static bool wait_request(struct vb_vduse *v)
{
	struct pollfd p[2] = { { .fd = v->fd, .events = POLLIN },
			       { .fd = v->quit_fd, .events = POLLIN } };

	while (poll(p, 2, -1) < 0) {
		if (errno != EINTR) {
			vb_err("poll: %s", strerror(errno));
			return false;
		}
	}
	if (p[1].revents)
		return false;
	if (p[0].revents & POLLERR) {
		vb_err("VDUSE device %s is broken (a request went unanswered): restart it",
		       v->name);
		return false;
	}
	return true;
}

/* Answers the kernel's requests until quit_fd is written or the device breaks. */
static void *serve_thread(void *arg)
{
	struct vb_vduse *v = arg;

	while (wait_request(v)) {
		struct vduse_dev_request req;
		struct vduse_dev_response resp;
		ssize_t n = read(v->fd, &req, sizeof(req));

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n != sizeof(req)) {
			vb_err("VDUSE device %s: read: %s", v->name, n < 0 ? strerror(errno) : "short");
			break;
		}
		handle(v, &req, &resp);
		if (write(v->fd, &resp, sizeof(resp)) != sizeof(resp))
			vb_err("VDUSE device %s: cannot answer request %u: %s", v->name,
			       req.request_id, strerror(errno));
	}
	return NULL;
}

static int open_device(struct vb_vduse *v)
{
	char path[sizeof("/dev/vduse/") + VDUSE_NAME_MAX];
	int ret;

	snprintf(path, sizeof(path), "/dev/vduse/%s", v->name);
	v->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (v->fd >= 0)
		return 0;
	ret = -errno;
	if (errno == EBUSY)
		vb_err("VDUSE device name %s is in use: another process serves %s", v->name, path);
	else
		vb_err("cannot open %s: %s", path, strerror(errno));
	return ret;
}

/*
 * The inflight log: a file with the split inflight layout, so that a
 * restarted daemon finds what its predecessor had fetched and not completed.
 * A reconnecting daemon must find the file its predecessor left, of the
 * size this geometry gives: that is also what says the device is ours.
 */
static int open_log(struct vb_vduse *v, bool reconnect)
{
	const char *path = v->log_path;
	uint16_t qs = v->dev->max_queue_size;
	size_t size = vb_inflight_split_stride(qs) * v->dev->num_queues;
	struct stat st;
	int ret;

	v->log_fd = open(path, O_RDWR | O_CLOEXEC | (reconnect ? 0 : O_CREAT | O_TRUNC), 0600);
	if (v->log_fd < 0) {
		ret = -errno;
		if (reconnect && errno == ENOENT)
			vb_err("VDUSE device %s exists but %s, its inflight log, does not: it belongs "
			       "to someone else (pick another name, or destroy it)", v->name, path);
		else
			vb_err("cannot open the inflight log %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(v->log_fd, &st) < 0)
		return -errno;
	if (reconnect && (size_t)st.st_size != size) {
		vb_err("inflight log %s has %lld bytes, not the %zu that %u queues of %u need: "
		       "the VDUSE device %s was made with other options", path,
		       (long long)st.st_size, size, v->dev->num_queues, qs, v->name);
		return -EINVAL;
	}
	if (!reconnect && ftruncate(v->log_fd, size) < 0) {
		ret = -errno;
		vb_err("cannot size the inflight log %s: %s", path, strerror(errno));
		return ret;
	}
	return vb_inflight_map(&v->inflight, v->log_fd, size, 0, v->dev->num_queues, qs, false);
}

/* A killed predecessor left the device running: pick up its rings where the log says. */
static int reconnect(struct vb_vduse *v)
{
	struct vduse_vq_info info = { .index = 0 };
	uint64_t features = 0;
	int ret;

	if (ioctl(v->fd, VDUSE_DEV_GET_FEATURES, &features) < 0 ||
	    ioctl(v->fd, VDUSE_VQ_GET_INFO, &info) < 0)
		return -errno;
	/* VDUSE has no status to read back; a driver with features and a ready ring is running. */
	if (!features || !info.ready) {
		vb_info("VDUSE device %s: reconnected, no driver running yet", v->name);
		return 0;
	}
	ret = start_rings(v, true);
	if (ret < 0) {
		vb_err("VDUSE device %s: cannot resume its rings: %s", v->name, strerror(-ret));
		stop_rings(v);
		return ret;
	}
	v->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		    VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	/* The predecessor may have died between publishing completions and interrupting. */
	for (unsigned int i = 0; i < v->dev->num_queues; i++) {
		if (vb_queue_running(&v->dev->queues[i]))
			inject_irq(v, i);
	}
	vb_info("VDUSE device %s: reconnected, rings resumed", v->name);
	return 0;
}

static int attach(struct vb_vduse *v)
{
	int ret = vb_vdpa_dev_add("vduse", v->name);

	/* A reconnected device usually still is on the bus. */
	if (ret == 0 || (ret == -EEXIST && !v->created)) {
		v->attached = true;
		return 0;
	}
	if (ret == -ENOENT)
		vb_err("no vdpa generic netlink family: load the vdpa kernel module");
	else
		vb_err("cannot attach VDUSE device %s to the vDPA bus: %s", v->name, strerror(-ret));
	return ret;
}

int vb_vduse_init(struct vb_vduse *v, struct vb_device *dev, const struct vb_vduse_opts *o)
{
	bool reconnecting;
	int ctl, ret;

	memset(v, 0, sizeof(*v));
	v->dev = dev;
	v->fd = v->log_fd = v->quit_fd = -1;
	pthread_mutex_init(&v->iotlb_lock, NULL);
	if (strlen(o->name) >= sizeof(v->name) || strchr(o->name, '/')) {
		vb_err("VDUSE device name '%s': at most %d bytes and no '/'", o->name,
		       VDUSE_NAME_MAX - 1);
		return -EINVAL;
	}
	strcpy(v->name, o->name);
	v->log_path = o->log_path;
	ctl = open_control();
	if (ctl < 0)
		return ctl;
	ret = create_device(v, ctl);
	close(ctl);
	reconnecting = ret == -EEXIST;
	if (ret < 0 && !reconnecting)
		goto fail;
	ret = open_device(v);
	if (ret == 0 && v->created)
		ret = setup_queues(v);
	if (ret < 0)
		goto fail;
	ret = open_log(v, reconnecting);
	if (ret < 0)
		goto fail;
	if (reconnecting) {
		ret = reconnect(v);
		if (ret < 0)
			goto fail;
	}
	v->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (v->quit_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&v->thread, NULL, serve_thread, v);
	if (ret < 0)
		goto fail;
	v->thread_running = true;
	ret = attach(v);
	if (ret < 0)
		goto fail;
	vb_info("VDUSE device %s %s", v->name, reconnecting ? "taken over" : "created and attached");
	return 0;
fail:
	vb_vduse_destroy(v);
	return ret;
}

void vb_vduse_destroy(struct vb_vduse *v)
{
	int ret;

	/* Detaching resets the device, which the serving thread must answer. */
	if (v->attached) {
		ret = vb_vdpa_dev_del(v->name);
		if (ret < 0)
			vb_warn("cannot detach VDUSE device %s from the vDPA bus: %s", v->name,
				strerror(-ret));
	}
	if (v->thread_running) {
		eventfd_write(v->quit_fd, 1);
		pthread_join(v->thread, NULL);
	}
	stop_rings(v);
	if (v->quit_fd >= 0)
		close(v->quit_fd);
	vb_inflight_unmap(&v->inflight);
	if (v->log_fd >= 0)
		close(v->log_fd);
	pthread_mutex_destroy(&v->iotlb_lock);
	if (v->fd >= 0)
		close(v->fd);
	/* Gone for good: nothing is left in flight for a successor to find. */
	if ((v->created || v->attached) && destroy_device(v->name))
		unlink(v->log_path);
	v->fd = v->log_fd = v->quit_fd = -1;
}
