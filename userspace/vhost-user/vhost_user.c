/* vhost-user front door: the protocol state machine that configures the device from one front-end. */
#include "vhost_user.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "core/queue.h"
#include "core/rings.h"
#include "vb_bit.h"
#include "vu_socket.h"


/* A front-end that stops reading replies must not stall the daemon forever. */
#define VU_SEND_TIMEOUT_S 10

enum vu_result {
	VU_OK,		/* done; acknowledged with 0 if the front-end asked */
	VU_FAIL,	/* refused; acknowledged with 1, or the connection is closed */
	VU_REPLY,	/* the handler filled a reply */
	VU_SENT,	/* the reply went out already (GET_VRING_BASE, from the ring's worker) */
	VU_CLOSE,	/* protocol error: close the connection */
};

struct vu_request {
	struct vb_vu_server *srv;
	struct vhost_user_msg *msg;
	int *fds;
	size_t nfds;
	struct vhost_user_msg *reply;
	int reply_fd;		/* sent with the reply and then closed, unless -1 */
};

/* Takes ownership of the request's i-th fd (-1 if absent). */
static int take_fd(struct vu_request *r, size_t i)
{
	int fd;

	if (i >= r->nfds)
		return -1;
	fd = r->fds[i];
	r->fds[i] = -1;
	return fd;
}

static enum vu_result reply_u64(struct vu_request *r, uint64_t v)
{
	r->reply->hdr.size = sizeof(uint64_t);
	r->reply->payload.u64 = v;
	return VU_REPLY;
}

static struct vb_queue *ring_of(struct vu_request *r, uint32_t index)
{
	struct vb_device *dev = r->srv->dev;

	if (index >= dev->num_queues) {
		vb_err("vring index %u out of range (the device has %u queues)", index,
		       dev->num_queues);
		return NULL;
	}
	return &dev->queues[index];
}

static bool ring_packed(const struct vb_vu_server *srv)
{
	return srv->dev->features & BIT(VIRTIO_F_RING_PACKED);
}

static int ring_start(struct vb_vu_server *srv, struct vb_queue *q)
{
	const struct vhost_user_vring_addr *a = &srv->rings[q->index].addr;
	const struct vb_ring_config config = {
		.addr = { .desc = a->desc_user_addr, .avail = a->avail_user_addr,
			  .used = a->used_user_addr, .uva = true },
		.inflight_region = vb_inflight_queue(&srv->inflight, q->index),
		.inflight_size = srv->inflight.stride,
		.log_used = a->flags & BIT(VHOST_VRING_F_LOG),
		.used_gpa = a->log_guest_addr,
		.bounce_reads = srv->protocol_features &
				BIT(VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT),
	};
	int ret;

	if (vb_queue_num(q) == 0 || !srv->rings[q->index].addr_set || !vb_queue_has_kick(q)) {
		vb_err("vring %u kicked before its size and addresses were set", q->index);
		return -EINVAL;
	}
	ret = vb_queue_configure(q, &config);
	if (ret == 0)
		ret = vb_queue_start(q);
	if (ret < 0)
		vb_err("vring %u: cannot start: %s", q->index, strerror(-ret));
	return ret;
}

/*
 * Stops every running ring (their I/O completes) so shared state can change;
 * returns which ran. Only for what the workers cannot adopt on the fly
 * (vb_device_publish), which spec-following front-ends change on stopped
 * rings anyway: then this waits for nothing.
 */
static uint64_t pause_rings(struct vb_vu_server *srv)
{
	uint64_t mask = 0;

	for (unsigned int i = 0; i < srv->dev->num_queues; i++) {
		if (vb_queue_running(&srv->dev->queues[i])) {
			vb_queue_stop(&srv->dev->queues[i]);
			mask |= BIT(i);
		}
	}
	return mask;
}

static bool resume_rings(struct vb_vu_server *srv, uint64_t mask)
{
	bool ok = true;

	for (unsigned int i = 0; i < srv->dev->num_queues; i++) {
		if ((mask & BIT(i)) && ring_start(srv, &srv->dev->queues[i]) < 0)
			ok = false;
	}
	return ok;
}

static void reset_connection_state(struct vb_vu_server *srv)
{
	vb_device_reset(srv->dev);
	memset(srv->rings, 0, sizeof(srv->rings));
	srv->status = 0;
}

/* Feature bits that belong to vhost-user rather than to the virtio-blk device. */
#define VU_TRANSPORT_FEATURES (BIT(VHOST_USER_F_PROTOCOL_FEATURES) | BIT(VHOST_F_LOG_ALL))

static enum vu_result vu_get_features(struct vu_request *r)
{
	return reply_u64(r, r->srv->dev->offered_features | VU_TRANSPORT_FEATURES);
}

static enum vu_result vu_set_features(struct vu_request *r)
{
	struct vb_device *dev = r->srv->dev;
	uint64_t f = r->msg->payload.u64;
	uint64_t unknown = f & ~(dev->offered_features | VU_TRANSPORT_FEATURES);
	uint64_t mask;

	if (unknown) {
		vb_err("SET_FEATURES: bits 0x%llx were not offered", (unsigned long long)unknown);
		return VU_FAIL;
	}
	f &= ~BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	r->srv->protocol_features_acked = r->msg->payload.u64 & BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	/* Migration switches LOG_ALL on running rings: the workers adopt it, no drain. */
	if (((f ^ dev->features) & ~BIT(VHOST_F_LOG_ALL)) == 0) {
		pthread_mutex_lock(&dev->cfg_lock);
		dev->features = f;
		pthread_mutex_unlock(&dev->cfg_lock);
		vb_device_publish(dev);
		return VU_OK;
	}
	/* Ring threads read the other features (EVENT_IDX, PACKED) when they start. */
	mask = pause_rings(r->srv);
	dev->features = f;
	return resume_rings(r->srv, mask) ? VU_OK : VU_FAIL;
}

static enum vu_result vu_set_owner(struct vu_request *r)
{
	(void)r;
	return VU_OK;
}

static enum vu_result vu_reset(struct vu_request *r)
{
	reset_connection_state(r->srv);
	return VU_OK;
}

static enum vu_result vu_get_protocol_features(struct vu_request *r)
{
	return reply_u64(r, r->srv->offered_protocol_features);
}

static enum vu_result vu_set_protocol_features(struct vu_request *r)
{
	uint64_t f = r->msg->payload.u64;
	uint64_t unknown = f & ~r->srv->offered_protocol_features;

	/* Refusals keep what was offered, so REPLY_ACK (if asked for) reports them. */
	if (unknown) {
		vb_err("SET_PROTOCOL_FEATURES: bits 0x%llx were not offered",
		       (unsigned long long)unknown);
		r->srv->protocol_features = f & r->srv->offered_protocol_features;
		return VU_FAIL;
	}
	/* Suspended requests live in the inflight region: without one there is nowhere to keep them. */
	if ((f & BIT(VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)) &&
	    !(f & BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))) {
		vb_err("SET_PROTOCOL_FEATURES: GET_VRING_BASE_INFLIGHT (bit 20) needs INFLIGHT_SHMFD (bit 12); refused");
		r->srv->protocol_features = f & ~BIT(VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT);
		return VU_FAIL;
	}
	r->srv->protocol_features = f;
	return VU_OK;
}

static enum vu_result vu_set_mem_table(struct vu_request *r)
{
	const struct vhost_user_mem_table *m = &r->msg->payload.mem;
	struct vb_mem_table *mem;
	int ret = 0;

	if (m->nregions == 0 || m->nregions > VHOST_USER_MEM_REGIONS_MAX) {
		vb_err("SET_MEM_TABLE with %u regions (1 to %d allowed)", m->nregions,
		       VHOST_USER_MEM_REGIONS_MAX);
		return VU_FAIL;
	}
	if (r->msg->hdr.size < offsetof(struct vhost_user_mem_table, regions) +
				   m->nregions * sizeof(m->regions[0])) {
		vb_err("SET_MEM_TABLE payload too short for %u regions", m->nregions);
		return VU_CLOSE;
	}
	if (r->nfds != m->nregions) {
		vb_err("SET_MEM_TABLE with %u regions but %zu file descriptors", m->nregions,
		       r->nfds);
		return VU_FAIL;
	}
	mem = vb_mem_new();
	if (!mem)
		return VU_FAIL;
	for (unsigned int i = 0; i < m->nregions && ret == 0; i++) {
		ret = vb_mem_add(mem, &m->regions[i], r->fds[i]);
		if (ret < 0)
			vb_err("SET_MEM_TABLE region %u (guest 0x%llx, %llu bytes): %s", i,
			       (unsigned long long)m->regions[i].guest_addr,
			       (unsigned long long)m->regions[i].size, strerror(-ret));
	}
	if (ret < 0) {
		vb_mem_put(mem);
		return VU_FAIL;
	}
	/* Running rings move to the new map without waiting for their requests. */
	vb_device_set_mem(r->srv->dev, mem);
	return VU_OK;
}

/* Publishes mem, a changed copy of the map, if the change (ret) worked. */
static enum vu_result replace_map(struct vu_request *r, struct vb_mem_table *mem, int ret)
{
	if (ret < 0) {
		vb_mem_put(mem);
		return VU_FAIL;
	}
	vb_device_set_mem(r->srv->dev, mem);
	return VU_OK;
}

static enum vu_result vu_get_max_mem_slots(struct vu_request *r)
{
	return reply_u64(r, VB_MEM_SLOTS_MAX);
}

static enum vu_result vu_add_mem_reg(struct vu_request *r)
{
	const struct vhost_user_mem_region *reg = &r->msg->payload.mem_reg.region;
	struct vb_mem_table *mem;
	int ret;

	if (r->nfds != 1) {
		vb_err("ADD_MEM_REG needs exactly one file descriptor, got %zu", r->nfds);
		return VU_FAIL;
	}
	mem = vb_mem_copy(r->srv->dev->mem);
	ret = mem ? vb_mem_add(mem, reg, r->fds[0]) : -ENOMEM;
	if (ret < 0)
		vb_err("ADD_MEM_REG (guest 0x%llx, %llu bytes): %s",
		       (unsigned long long)reg->guest_addr, (unsigned long long)reg->size,
		       strerror(-ret));
	return replace_map(r, mem, ret);
}

/* Whether a running ring has an area inside the region that matches reg. */
static bool region_holds_a_ring(struct vb_vu_server *srv, const struct vhost_user_mem_region *reg)
{
	for (unsigned int i = 0; i < srv->dev->num_queues; i++) {
		const struct vhost_user_vring_addr *a = &srv->rings[i].addr;
		uint64_t areas[3] = { a->desc_user_addr, a->avail_user_addr, a->used_user_addr };

		if (!vb_queue_running(&srv->dev->queues[i]))
			continue;
		for (int k = 0; k < 3; k++) {
			if (areas[k] >= reg->user_addr && areas[k] - reg->user_addr < reg->size)
				return true;
		}
	}
	return false;
}

static enum vu_result vu_rem_mem_reg(struct vu_request *r)
{
	const struct vhost_user_mem_region *reg = &r->msg->payload.mem_reg.region;
	struct vb_mem_table *mem;
	int ret;

	if (region_holds_a_ring(r->srv, reg)) {
		vb_err("REM_MEM_REG of guest 0x%llx refused: a running vring lives in it",
		       (unsigned long long)reg->guest_addr);
		return VU_FAIL;
	}
	/* Requests in flight that point into the region keep it mapped through their map. */
	mem = vb_mem_copy(r->srv->dev->mem);
	ret = mem ? vb_mem_remove(mem, reg) : -ENOMEM;
	if (ret == -ENOENT)
		vb_err("REM_MEM_REG: no region at guest 0x%llx with %llu bytes",
		       (unsigned long long)reg->guest_addr, (unsigned long long)reg->size);
	return replace_map(r, mem, ret);
}

static enum vu_result vu_set_vring_num(struct vu_request *r)
{
	const struct vhost_user_vring_state *s = &r->msg->payload.state;
	struct vb_queue *q = ring_of(r, s->index);

	if (!q)
		return VU_FAIL;
	if (vb_queue_running(q)) {
		vb_err("SET_VRING_NUM on running vring %u", s->index);
		return VU_FAIL;
	}
	if (s->num == 0 || s->num > r->srv->dev->max_queue_size || (s->num & (s->num - 1))) {
		vb_err("vring %u: size %u is not a power of two up to %u", s->index, s->num,
		       r->srv->dev->max_queue_size);
		return VU_FAIL;
	}
	vb_queue_set_num(q, s->num);
	return VU_OK;
}

/* Whether a on running ring q only switches used-ring logging, which its worker can adopt. */
static bool only_log_changes(const struct vb_vu_server *srv, const struct vb_queue *q,
			     const struct vhost_user_vring_addr *a)
{
	const struct vhost_user_vring_addr *cur = &srv->rings[q->index].addr;

	return vb_queue_running(q) && a->desc_user_addr == cur->desc_user_addr &&
	       a->avail_user_addr == cur->avail_user_addr &&
	       a->used_user_addr == cur->used_user_addr &&
	       ((a->flags ^ cur->flags) & ~BIT(VHOST_VRING_F_LOG)) == 0;
}

static enum vu_result vu_set_vring_addr(struct vu_request *r)
{
	const struct vhost_user_vring_addr *a = &r->msg->payload.addr;
	struct vb_queue *q = ring_of(r, a->index);
	bool running;

	if (!q)
		return VU_FAIL;
	/* Front-ends re-send addresses on running rings to switch used-ring logging. */
	if (only_log_changes(r->srv, q, a)) {
		r->srv->rings[a->index].addr = *a;
		vb_queue_set_used_log(q, a->flags & BIT(VHOST_VRING_F_LOG), a->log_guest_addr);
		vb_device_publish(r->srv->dev);
		return VU_OK;
	}
	running = vb_queue_running(q);
	vb_queue_stop(q);
	r->srv->rings[a->index].addr = *a;
	r->srv->rings[a->index].addr_set = true;
	if (running && ring_start(r->srv, q) < 0)
		return VU_FAIL;
	return VU_OK;
}

static enum vu_result vu_set_vring_base(struct vu_request *r)
{
	const struct vhost_user_vring_state *s = &r->msg->payload.state;
	struct vb_queue *q = ring_of(r, s->index);

	if (!q)
		return VU_FAIL;
	if (vb_queue_running(q)) {
		vb_err("SET_VRING_BASE on running vring %u", s->index);
		return VU_FAIL;
	}
	if (!ring_packed(r->srv) && s->num > UINT16_MAX) {
		vb_err("vring %u: base %u does not fit a split ring", s->index, s->num);
		return VU_FAIL;
	}
	vb_queue_set_base(q, s->num);
	return VU_OK;
}

/*
 * The one place that decides whether GET_VRING_BASE suspends rather than
 * drains. The seed protocol asks for it by negotiating bit 20 (num is 0);
 * later QEMU revisions also say so per message with num = 1. A ring that
 * is not running, has no inflight region to keep the requests or is packed
 * drains.
 */
static bool suspend_requested(const struct vb_vu_server *srv, const struct vb_queue *q,
			      uint32_t num)
{
	const char *why;

	if (!(srv->protocol_features & BIT(VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)))
		return false;
	if (num > 1) {
		vb_warn("GET_VRING_BASE vring %u: num %u is reserved; draining", q->index, num);
		return false;
	}
	if (!vb_queue_running(q))
		return false;
	why = vb_queue_cannot_suspend(q);
	if (why)
		vb_info("vring %u is not suspended but drained: %s", q->index, why);
	return !why;
}

static void fill_base(struct vu_request *r, uint32_t index, uint32_t base)
{
	r->reply->hdr.size = sizeof(r->reply->payload.state);
	r->reply->payload.state.index = index;
	r->reply->payload.state.num = base;
}

/* GET_VRING_BASE's reply to a suspension, sent the moment the ring is quiesced. */
struct base_reply {
	struct vb_quiesce_notice notice;	/* first: queue.c calls us through it */
	struct vu_request *r;
	uint32_t index;
	int sent;			/* 0: not (the ring was not running), 1: sent, or -errno */
};

/* On the ring's worker thread while the control thread waits, or on the control thread (queue.c). */
static void send_base(struct vb_quiesce_notice *n, uint32_t base)
{
	struct base_reply *b = (struct base_reply *)n;
	int ret;

	fill_base(b->r, b->index, base);
	ret = vb_vu_send_reply(b->r->srv->conn_fd, b->r->reply, -1);
	b->sent = ret < 0 ? ret : 1;
}

static enum vu_result vu_get_vring_base(struct vu_request *r)
{
	const struct vhost_user_vring_state *s = &r->msg->payload.state;
	struct vb_queue *q = ring_of(r, s->index);
	struct base_reply b = { .notice = { send_base }, .r = r, .index = s->index };

	if (!q)
		return VU_CLOSE;
	if (suspend_requested(r->srv, q, s->num)) {
		unsigned int n = vb_queue_suspend(q, &b.notice);

		vb_info("vring %u suspended with %u requests left inflight for the next back-end",
			q->index, n);
	} else {
		vb_queue_stop(q);
	}
	/* The ring restarts only with a new kick fd. */
	vb_queue_set_kick(q, -1);
	if (b.sent < 0) {
		vb_err("cannot reply to GET_VRING_BASE: %s", strerror(-b.sent));
		return VU_CLOSE;
	}
	if (b.sent)
		return VU_SENT;
	fill_base(r, s->index, vb_queue_base(q));
	return VU_REPLY;
}

/* SET_VRING_KICK/CALL/ERR carry the ring in bits 0-7 and "no fd" in bit 8. */
static struct vb_queue *notifier_ring(struct vu_request *r, int *fd)
{
	uint64_t v = r->msg->payload.u64;
	struct vb_queue *q = ring_of(r, v & VHOST_USER_VRING_IDX_MASK);

	*fd = -1;
	if (!q)
		return NULL;
	if (v & VHOST_USER_VRING_NOFD_MASK)
		return q;
	*fd = take_fd(r, 0);
	if (*fd < 0) {
		vb_err("vring %u: notifier message without a file descriptor", q->index);
		return NULL;
	}
	return q;
}

static enum vu_result vu_set_vring_kick(struct vu_request *r)
{
	int fd;
	struct vb_queue *q = notifier_ring(r, &fd);

	if (!q)
		return VU_FAIL;
	if (fd < 0) {
		vb_err("vring %u: polling mode (no kick fd) is not supported", q->index);
		return VU_FAIL;
	}
	vb_queue_stop(q);
	vb_queue_set_kick(q, fd);
	/* Without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled as they start. */
	if (!r->srv->protocol_features_acked)
		vb_queue_set_enabled(q, true);
	return ring_start(r->srv, q) < 0 ? VU_FAIL : VU_OK;
}

static enum vu_result set_notifier(struct vu_request *r, void (*set)(struct vb_queue *, int))
{
	int fd;
	struct vb_queue *q = notifier_ring(r, &fd);

	if (!q)
		return VU_FAIL;
	set(q, fd);
	return VU_OK;
}

static enum vu_result vu_set_vring_call(struct vu_request *r)
{
	return set_notifier(r, vb_queue_set_call_fd);
}

static enum vu_result vu_set_vring_err(struct vu_request *r)
{
	return set_notifier(r, vb_queue_set_err_fd);
}

static enum vu_result vu_set_vring_enable(struct vu_request *r)
{
	const struct vhost_user_vring_state *s = &r->msg->payload.state;
	struct vb_queue *q = ring_of(r, s->index);

	if (!q)
		return VU_FAIL;
	if (s->num > 1) {
		vb_err("SET_VRING_ENABLE vring %u with value %u", s->index, s->num);
		return VU_FAIL;
	}
	/* Disabling only pauses fetching; it is not a reset (QEMU sends it before GET_VRING_BASE). */
	vb_queue_set_enabled(q, s->num);
	return VU_OK;
}

static enum vu_result vu_get_queue_num(struct vu_request *r)
{
	return reply_u64(r, r->srv->dev->num_queues);
}

static enum vu_result vu_get_config(struct vu_request *r)
{
	const struct vhost_user_config *req = &r->msg->payload.config;
	struct vhost_user_config *rep = &r->reply->payload.config;
	struct virtio_blk_config cfg;

	*rep = (struct vhost_user_config){ .offset = req->offset, .flags = req->flags };
	r->reply->hdr.size = VHOST_USER_CONFIG_HDR_SIZE;
	if (req->size != r->msg->hdr.size - VHOST_USER_CONFIG_HDR_SIZE ||
	    req->offset > sizeof(cfg) || req->size > sizeof(cfg) - req->offset) {
		/* An empty config in the reply is how failure is reported. */
		vb_err("GET_CONFIG of %u bytes at offset %u is outside the %zu-byte config space",
		       req->size, req->offset, sizeof(cfg));
		return VU_REPLY;
	}
	vb_device_config(r->srv->dev, &cfg);
	rep->size = req->size;
	memcpy(rep->region, (uint8_t *)&cfg + req->offset, req->size);
	r->reply->hdr.size += req->size;
	return VU_REPLY;
}

static enum vu_result vu_set_config(struct vu_request *r)
{
	const struct vhost_user_config *c = &r->msg->payload.config;

	if (c->size != r->msg->hdr.size - VHOST_USER_CONFIG_HDR_SIZE) {
		vb_err("SET_CONFIG size %u does not match its payload", c->size);
		return VU_CLOSE;
	}
	if (vb_device_write_config(r->srv->dev, c->offset, c->region, c->size) < 0) {
		vb_err("SET_CONFIG of %u bytes at offset %u refused: only the writeback byte is writable",
		       c->size, c->offset);
		return VU_FAIL;
	}
	return VU_OK;
}

static enum vu_result vu_set_status(struct vu_request *r)
{
	if (r->msg->payload.u64 > UINT8_MAX) {
		vb_err("SET_STATUS 0x%llx is not a device status byte",
		       (unsigned long long)r->msg->payload.u64);
		return VU_FAIL;
	}
	r->srv->status = r->msg->payload.u64;
	return VU_OK;
}

static enum vu_result vu_get_status(struct vu_request *r)
{
	return reply_u64(r, r->srv->status);
}

static enum vu_result vu_get_inflight_fd(struct vu_request *r)
{
	const struct vhost_user_inflight *in = &r->msg->payload.inflight;
	struct vhost_user_inflight *out = &r->reply->payload.inflight;
	uint64_t size = 0;
	int fd = -EINVAL;

	/* The reply always has its payload; mmap_size 0 tells the front-end there is no region. */
	*out = (struct vhost_user_inflight){ .num_queues = in->num_queues,
					     .queue_size = in->queue_size };
	r->reply->hdr.size = sizeof(*out);
	if (in->num_queues > r->srv->dev->num_queues ||
	    in->queue_size > r->srv->dev->max_queue_size)
		vb_err("GET_INFLIGHT_FD for %u queues of %u: the device has %u of at most %u",
		       in->num_queues, in->queue_size, r->srv->dev->num_queues,
		       r->srv->dev->max_queue_size);
	else
		fd = vb_inflight_create(in->num_queues, in->queue_size, ring_packed(r->srv), &size);
	if (fd < 0) {
		vb_err("GET_INFLIGHT_FD: no region: %s", strerror(-fd));
		return VU_REPLY;
	}
	out->mmap_size = size;
	r->reply_fd = fd;
	return VU_REPLY;
}

static enum vu_result vu_set_inflight_fd(struct vu_request *r)
{
	const struct vhost_user_inflight *in = &r->msg->payload.inflight;
	uint64_t mask;
	int ret;

	if (r->nfds != 1) {
		vb_err("SET_INFLIGHT_FD needs one file descriptor, got %zu", r->nfds);
		return VU_FAIL;
	}
	if (in->num_queues > r->srv->dev->num_queues) {
		vb_err("SET_INFLIGHT_FD for %u queues; the device has %u", in->num_queues,
		       r->srv->dev->num_queues);
		return VU_FAIL;
	}
	/*
	 * Rings pick up their queue region when they start, and a running
	 * ring's tracker points into the region being replaced. The spec has
	 * the front-end send this before it starts the rings (QEMU does, in
	 * vhost_dev_start), so the pause stops nothing in practice; it is kept
	 * for front-ends that send it to running rings, where the old region
	 * must not go while their requests are tracked in it.
	 */
	mask = pause_rings(r->srv);
	ret = vb_inflight_map(&r->srv->inflight, r->fds[0], in->mmap_size, in->mmap_offset,
			      in->num_queues, in->queue_size, ring_packed(r->srv));
	return resume_rings(r->srv, mask) && ret == 0 ? VU_OK : VU_FAIL;
}

static enum vu_result vu_set_log_base(struct vu_request *r)
{
	const struct vhost_user_log *l = &r->msg->payload.log;
	struct vb_dirty_log *log = NULL;
	int ret = -EINVAL;

	if (r->nfds != 1)
		vb_err("SET_LOG_BASE needs one file descriptor, got %zu", r->nfds);
	else if (!(log = calloc(1, sizeof(*log))))
		ret = -ENOMEM;
	else
		ret = vb_dirty_log_map(log, r->fds[0], l->mmap_size, l->mmap_offset);
	/* Workers adopt the new log; requests completing from then on mark it. */
	if (ret == 0)
		vb_device_set_log(r->srv->dev, log);
	else
		free(log);
	/* With LOG_SHMFD this message always has a reply: 0 once the log is in place. */
	return reply_u64(r, ret != 0);
}

static enum vu_result vu_set_log_fd(struct vu_request *r)
{
	/* The log eventfd is for back-ends that cannot share the log; ours is shared. */
	if (r->nfds != 1) {
		vb_err("SET_LOG_FD needs one file descriptor, got %zu", r->nfds);
		return VU_FAIL;
	}
	return VU_OK;
}

#define ANY_SIZE UINT32_MAX

struct vu_message_type {
	const char *name;
	enum vu_result (*handle)(struct vu_request *r);
	uint32_t size;		/* exact payload size, or ANY_SIZE with min_size */
	uint32_t min_size;
	int protocol_feature;	/* required protocol feature, or -1 */
};

#define MSG(id, fn, sz, feat) [VHOST_USER_##id] = { #id, fn, sz, 0, feat }
#define MSG_VAR(id, fn, min, feat) [VHOST_USER_##id] = { #id, fn, ANY_SIZE, min, feat }
#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhost_user_vring_state)

static const struct vu_message_type message_types[VHOST_USER_MAX_REQUEST] = {
	MSG(GET_FEATURES, vu_get_features, 0, -1),
	MSG(SET_FEATURES, vu_set_features, U64, -1),
	MSG(SET_OWNER, vu_set_owner, 0, -1),
	MSG(RESET_OWNER, vu_reset, 0, -1),
	MSG(SET_LOG_BASE, vu_set_log_base, sizeof(struct vhost_user_log),
	    VHOST_USER_PROTOCOL_F_LOG_SHMFD),
	MSG(SET_LOG_FD, vu_set_log_fd, 0, VHOST_USER_PROTOCOL_F_LOG_SHMFD),
	MSG_VAR(SET_MEM_TABLE, vu_set_mem_table, offsetof(struct vhost_user_mem_table, regions), -1),
	MSG(SET_VRING_NUM, vu_set_vring_num, STATE, -1),
	MSG(SET_VRING_ADDR, vu_set_vring_addr, sizeof(struct vhost_user_vring_addr), -1),
	MSG(SET_VRING_BASE, vu_set_vring_base, STATE, -1),
	MSG(GET_VRING_BASE, vu_get_vring_base, STATE, -1),
	MSG(SET_VRING_KICK, vu_set_vring_kick, U64, -1),
	MSG(SET_VRING_CALL, vu_set_vring_call, U64, -1),
	MSG(SET_VRING_ERR, vu_set_vring_err, U64, -1),
	MSG(GET_PROTOCOL_FEATURES, vu_get_protocol_features, 0, -1),
	MSG(SET_PROTOCOL_FEATURES, vu_set_protocol_features, U64, -1),
	MSG(GET_QUEUE_NUM, vu_get_queue_num, 0, VHOST_USER_PROTOCOL_F_MQ),
	MSG(SET_VRING_ENABLE, vu_set_vring_enable, STATE, -1),
	MSG_VAR(GET_CONFIG, vu_get_config, VHOST_USER_CONFIG_HDR_SIZE, VHOST_USER_PROTOCOL_F_CONFIG),
	MSG_VAR(SET_CONFIG, vu_set_config, VHOST_USER_CONFIG_HDR_SIZE, VHOST_USER_PROTOCOL_F_CONFIG),
	MSG_VAR(GET_INFLIGHT_FD, vu_get_inflight_fd, VHOST_USER_INFLIGHT_MIN_SIZE,
		VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
	MSG_VAR(SET_INFLIGHT_FD, vu_set_inflight_fd, VHOST_USER_INFLIGHT_MIN_SIZE,
		VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
	MSG(RESET_DEVICE, vu_reset, 0, VHOST_USER_PROTOCOL_F_RESET_DEVICE),
	MSG(GET_MAX_MEM_SLOTS, vu_get_max_mem_slots, 0, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
	MSG(ADD_MEM_REG, vu_add_mem_reg, sizeof(struct vhost_user_single_mem_region),
	    VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
	MSG(REM_MEM_REG, vu_rem_mem_reg, sizeof(struct vhost_user_single_mem_region),
	    VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS),
	MSG(SET_STATUS, vu_set_status, U64, VHOST_USER_PROTOCOL_F_STATUS),
	MSG(GET_STATUS, vu_get_status, 0, VHOST_USER_PROTOCOL_F_STATUS),
};

static const struct vu_message_type *lookup(const struct vb_vu_server *srv,
					    const struct vhost_user_msg *msg)
{
	const struct vu_message_type *t;
	uint32_t id = msg->hdr.request, size = msg->hdr.size;

	t = id < VHOST_USER_MAX_REQUEST ? &message_types[id] : NULL;
	if (!t || !t->handle) {
		vb_err("unknown or unsupported message id %u", id);
		return NULL;
	}
	if ((t->size != ANY_SIZE && size != t->size) || (t->size == ANY_SIZE && size < t->min_size)) {
		vb_err("%s with a %u-byte payload", t->name, size);
		return NULL;
	}
	if (t->protocol_feature >= 0 && !(srv->protocol_features & BIT(t->protocol_feature))) {
		vb_err("%s without its protocol feature (bit %d) negotiated", t->name,
		       t->protocol_feature);
		return NULL;
	}
	return t;
}

/* Handles one message; false when the connection must be closed. */
static bool dispatch(struct vb_vu_server *srv, struct vhost_user_msg *msg, int *fds, size_t nfds)
{
	struct vhost_user_msg reply = { .hdr = { .request = msg->hdr.request } };
	struct vu_request r = { srv, msg, fds, nfds, &reply, -1 };
	const struct vu_message_type *t = lookup(srv, msg);
	enum vu_result res;
	bool ack;
	int ret;

	if (!t)
		return false;
	vb_debug("%s (%u bytes, %zu fds)", t->name, msg->hdr.size, nfds);
	res = t->handle(&r);
	/* Read after handling: SET_PROTOCOL_FEATURES may have just negotiated REPLY_ACK. */
	ack = (msg->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
	      (srv->protocol_features & BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	switch (res) {
	case VU_CLOSE:
		return false;
	case VU_SENT:
		return true;
	case VU_REPLY:
		break;
	case VU_OK:
	case VU_FAIL:
		if (!ack) {
			if (res == VU_FAIL)
				vb_err("%s failed and the front-end asked for no reply: closing",
				       t->name);
			return res == VU_OK;
		}
		reply_u64(&r, res == VU_FAIL);
		break;
	}
	ret = vb_vu_send_reply(srv->conn_fd, &reply, r.reply_fd);
	if (r.reply_fd >= 0)
		close(r.reply_fd);
	if (ret < 0) {
		vb_err("cannot reply to %s: %s", t->name, strerror(-ret));
		return false;
	}
	return true;
}

static void close_connection(struct vb_vu_server *srv)
{
	reset_connection_state(srv);
	vb_device_set_mem(srv->dev, NULL);
	vb_inflight_unmap(&srv->inflight);
	vb_device_set_log(srv->dev, NULL);
	srv->protocol_features = 0;
	srv->protocol_features_acked = false;
	close(srv->conn_fd);
	srv->conn_fd = -1;
}

/*
 * Spins up to --control-poll-us for the front-end's next message: one that
 * follows at once (a stop's GET_VRING_BASE) then costs no wake-up.
 */
static void await_next_message(const struct vb_vu_server *srv)
{
	struct pollfd p = { .fd = srv->conn_fd, .events = POLLIN };
	uint64_t end = vb_now_ns() + srv->control_poll_ns;

	while (srv->control_poll_ns && poll(&p, 1, 0) == 0 && vb_now_ns() < end)
		;
}

static void serve_connection(struct vb_vu_server *srv, int stop_fd)
{
	struct vhost_user_msg *msg = malloc(sizeof(*msg));
	int fds[VHOST_USER_MAX_FDS];
	size_t nfds;

	if (!msg) {
		vb_err("out of memory for a connection");
		return;
	}
	for (;;) {
		int ret;
		bool keep;

		await_next_message(srv);
		ret = vb_vu_recv(srv->conn_fd, stop_fd, msg, fds, &nfds);

		if (ret == -ECONNRESET)
			vb_info("front-end disconnected");
		if (ret < 0)
			break;
		keep = dispatch(srv, msg, fds, nfds);
		for (size_t i = 0; i < nfds; i++) {
			if (fds[i] >= 0)
				close(fds[i]);
		}
		if (!keep) {
			vb_err("closing the connection to the front-end after a protocol error");
			break;
		}
	}
	free(msg);
}

int vb_vu_server_init(struct vb_vu_server *srv, struct vb_device *dev, const struct vb_vu_opts *o)
{
	memset(srv, 0, sizeof(*srv));
	srv->dev = dev;
	srv->conn_fd = -1;
	srv->offered_protocol_features =
		BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
		BIT(VHOST_USER_PROTOCOL_F_CONFIG) | BIT(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
		BIT(VHOST_USER_PROTOCOL_F_STATUS) | BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
		BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) | BIT(VHOST_USER_PROTOCOL_F_LOG_SHMFD);
	if (!o->no_suspend)
		srv->offered_protocol_features |= BIT(VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT);
	srv->control_poll_ns = (uint64_t)o->control_poll_us * 1000;
	srv->socket_path = strdup(o->path);
	if (!srv->socket_path)
		return -ENOMEM;
	srv->listen_fd = vb_vu_listen(o->path, o->mode, o->gid);
	if (srv->listen_fd < 0) {
		free(srv->socket_path);
		return srv->listen_fd;
	}
	vb_info("listening on %s", o->path);
	return 0;
}

void vb_vu_server_run(struct vb_vu_server *srv, int stop_fd)
{
	struct timeval tv = { .tv_sec = VU_SEND_TIMEOUT_S };

	for (;;) {
		struct pollfd p[2] = { { .fd = srv->listen_fd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			vb_err("poll: %s", strerror(errno));
			return;
		}
		if (p[1].revents)
			return;
		srv->conn_fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (srv->conn_fd < 0) {
			vb_warn("accept: %s", strerror(errno));
			continue;
		}
		setsockopt(srv->conn_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		vb_info("front-end connected");
		serve_connection(srv, stop_fd);
		close_connection(srv);
	}
}

void vb_vu_server_destroy(struct vb_vu_server *srv)
{
	if (srv->conn_fd >= 0)
		close_connection(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->socket_path);
	}
	free(srv->socket_path);
}
