/* Front-end control messages: feature and protocol negotiation, owner, queue count, config, status, vring messages. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vu_internal.h"

static int get_u64(struct vu_dev *dev, uint32_t request, uint64_t *out)
{
	return vu_call(dev, request, NULL, 0, out, sizeof(*out), NULL);
}

int vu_get_features(struct vu_dev *dev, uint64_t *features)
{
	int r = get_u64(dev, VHOST_USER_GET_FEATURES, features);

	if (r == 0)
		dev->offered_features = *features;
	return r;
}

int vu_set_features(struct vu_dev *dev, uint64_t features)
{
	int r = vu_request(dev, VHOST_USER_SET_FEATURES, &features, sizeof(features),
			   NULL, 0);

	if (r == 0)
		dev->features = features;
	return r;
}

int vu_get_protocol_features(struct vu_dev *dev, uint64_t *features)
{
	int r = get_u64(dev, VHOST_USER_GET_PROTOCOL_FEATURES, features);

	if (r == 0)
		dev->offered_protocol_features = *features;
	return r;
}

int vu_set_protocol_features(struct vu_dev *dev, uint64_t features)
{
	/* REPLY_ACK is only in force once this message is processed, so the
	 * message itself never asks for an ack. */
	int r = vu_send_msg(dev, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &features,
			    sizeof(features), NULL, 0);

	if (r == 0)
		dev->protocol_features = features;
	return r;
}

int vu_set_owner(struct vu_dev *dev)
{
	return vu_request(dev, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
}

int vu_get_queue_num(struct vu_dev *dev, uint64_t *num)
{
	int r = get_u64(dev, VHOST_USER_GET_QUEUE_NUM, num);

	if (r == 0)
		dev->num_queues = (unsigned)*num;
	return r;
}

int vu_get_max_mem_slots(struct vu_dev *dev, uint64_t *num)
{
	return get_u64(dev, VHOST_USER_GET_MAX_MEM_SLOTS, num);
}

int vu_reset_device(struct vu_dev *dev)
{
	return vu_request(dev, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0);
}

int vu_set_status(struct vu_dev *dev, uint8_t status)
{
	uint64_t v = status;

	return vu_request(dev, VHOST_USER_SET_STATUS, &v, sizeof(v), NULL, 0);
}

int vu_get_status(struct vu_dev *dev, uint8_t *status)
{
	uint64_t v;
	int r = get_u64(dev, VHOST_USER_GET_STATUS, &v);

	if (r == 0)
		*status = (uint8_t)v;
	return r;
}

int vu_get_config(struct vu_dev *dev, uint32_t offset, void *buf, uint32_t size)
{
	struct vhost_user_config cfg = { .offset = offset, .size = size };
	struct vhost_user_config reply;
	uint32_t len = VHOST_USER_CONFIG_HDR_SIZE + size;
	uint32_t got = 0;
	int r;

	if (size > VHOST_USER_CONFIG_SPACE_MAX)
		return vu_fail(dev, EINVAL, "GET_CONFIG: size %u too big", size);
	r = vu_call(dev, VHOST_USER_GET_CONFIG, &cfg, len, &reply, sizeof(reply), &got);
	if (r < 0)
		return r;
	if (got != len)
		return vu_fail(dev, EPROTO, "GET_CONFIG: reply of %u bytes, expected %u",
			       got, len);
	if (reply.size != size || reply.offset != offset)
		return vu_fail(dev, EPROTO, "GET_CONFIG: reply for offset %u size %u",
			       reply.offset, reply.size);
	memcpy(buf, reply.region, size);
	return 0;
}

int vu_blk_get_config(struct vu_dev *dev, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	return vu_get_config(dev, 0, cfg, VU_BLK_CONFIG_SIZE);
}

int vu_negotiate(struct vu_dev *dev, uint64_t want_features, uint64_t want_protocol)
{
	uint64_t offered, v;
	int r;

	r = vu_get_features(dev, &offered);
	if (r < 0)
		return r;
	r = vu_set_owner(dev);
	if (r < 0)
		return r;
	dev->num_queues = 1;
	if (offered & want_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		r = vu_get_protocol_features(dev, &v);
		if (r < 0)
			return r;
		r = vu_set_protocol_features(dev, v & want_protocol);
		if (r < 0)
			return r;
		if (dev->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
			r = vu_get_queue_num(dev, &v);
			if (r < 0)
				return r;
		}
	}
	return vu_set_features(dev, offered & want_features);
}

/* ---- vring messages ---- */

static int vring_state(struct vu_dev *dev, uint32_t request, unsigned index, unsigned num)
{
	struct vhost_user_vring_state s = { .index = index, .num = num };

	return vu_request(dev, request, &s, sizeof(s), NULL, 0);
}

int vu_set_vring_num(struct vu_dev *dev, unsigned index, unsigned num)
{
	return vring_state(dev, VHOST_USER_SET_VRING_NUM, index, num);
}

int vu_set_vring_base(struct vu_dev *dev, unsigned index, unsigned num)
{
	return vring_state(dev, VHOST_USER_SET_VRING_BASE, index, num);
}

int vu_set_vring_enable(struct vu_dev *dev, unsigned index, bool enable)
{
	return vring_state(dev, VHOST_USER_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int vu_log_create(uint64_t size, uint8_t **bitmap)
{
	int fd = memfd_create("dirty-log", MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) == 0) {
		*bitmap = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*bitmap != MAP_FAILED)
			return fd;
	}
	err = -errno;
	close(fd);
	return err;
}

int vu_set_log_base(struct vu_dev *dev, int fd, uint64_t size, uint64_t offset)
{
	struct vhost_user_log log = { .mmap_size = size, .mmap_offset = offset };
	struct vhost_user_msg reply;
	int r = vu_send_msg(dev, VHOST_USER_SET_LOG_BASE, 0, &log, sizeof(log), &fd, 1);

	if (r == 0)
		r = vu_recv_msg(dev, &reply, NULL, NULL, dev->timeout_ms);
	if (r < 0)
		return r;
	if (reply.hdr.request != VHOST_USER_SET_LOG_BASE || reply.hdr.size != sizeof(uint64_t))
		return vu_fail(dev, EPROTO, "SET_LOG_BASE: reply %u of %u bytes", reply.hdr.request,
			       reply.hdr.size);
	dev->last_ack = reply.payload.u64;
	if (reply.payload.u64)
		return vu_fail(dev, EREMOTEIO, "SET_LOG_BASE answered %llu",
			       (unsigned long long)reply.payload.u64);
	return 0;
}

int vu_set_vring_addr(struct vu_dev *dev, const struct vhost_user_vring_addr *a)
{
	return vu_request(dev, VHOST_USER_SET_VRING_ADDR, a, sizeof(*a), NULL, 0);
}

static int vring_fd(struct vu_dev *dev, uint32_t request, unsigned index, int fd)
{
	uint64_t v = index & VHOST_USER_VRING_IDX_MASK;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD_MASK;
	return vu_request(dev, request, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

int vu_set_vring_kick(struct vu_dev *dev, unsigned index, int fd)
{
	return vring_fd(dev, VHOST_USER_SET_VRING_KICK, index, fd);
}

int vu_set_vring_call(struct vu_dev *dev, unsigned index, int fd)
{
	return vring_fd(dev, VHOST_USER_SET_VRING_CALL, index, fd);
}

int vu_get_vring_base(struct vu_dev *dev, unsigned index, uint32_t *num)
{
	struct vhost_user_vring_state s = { .index = index };
	struct vhost_user_vring_state reply;
	int r = vu_call(dev, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &reply,
			sizeof(reply), NULL);

	if (r < 0)
		return r;
	if (reply.index != index)
		return vu_fail(dev, EPROTO, "GET_VRING_BASE: reply for index %u", reply.index);
	*num = reply.num;
	return 0;
}
