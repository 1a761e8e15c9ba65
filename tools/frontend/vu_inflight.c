/* Front-end inflight I/O tracking messages (GET/SET_INFLIGHT_FD) and ring index positioning. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vu_internal.h"

int vu_get_inflight_fd(struct vu_dev *dev, uint16_t num_queues, uint16_t queue_size,
		       uint32_t payload_size, struct vhost_user_inflight *reply,
		       uint32_t *reply_size, int *fd)
{
	struct vhost_user_inflight req = { .num_queues = num_queues, .queue_size = queue_size };
	struct vhost_user_msg msg;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds = VHOST_USER_MAX_FDS;
	int r;

	*fd = -1;
	memset(reply, 0, sizeof(*reply));
	if (payload_size == 0 || payload_size > sizeof(req))
		payload_size = sizeof(req);
	r = vu_send_msg(dev, VHOST_USER_GET_INFLIGHT_FD, 0, &req, payload_size, NULL, 0);
	if (r < 0)
		return r;
	r = vu_recv_msg(dev, &msg, fds, &nfds, dev->timeout_ms);
	if (r < 0)
		return r;
	if (nfds > 1) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		return vu_fail(dev, EPROTO, "GET_INFLIGHT_FD: reply carries %u fds", nfds);
	}
	if (msg.hdr.request != VHOST_USER_GET_INFLIGHT_FD ||
	    (msg.hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(msg.hdr.flags & VHOST_USER_REPLY_MASK)) {
		if (nfds)
			close(fds[0]);
		return vu_fail(dev, EPROTO, "GET_INFLIGHT_FD: reply with request %u flags 0x%x",
			       msg.hdr.request, msg.hdr.flags);
	}
	if (reply_size)
		*reply_size = msg.hdr.size;
	memcpy(reply, &msg.payload,
	       msg.hdr.size < sizeof(*reply) ? msg.hdr.size : sizeof(*reply));
	if (nfds)
		*fd = fds[0];
	return 0;
}

int vu_set_inflight_fd(struct vu_dev *dev, int fd, const struct vhost_user_inflight *in)
{
	return vu_request(dev, VHOST_USER_SET_INFLIGHT_FD, in, sizeof(*in),
			  fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

void vu_vq_set_index(struct vu_vq *vq, uint16_t idx)
{
	vq->avail_idx = idx;
	vq->kicked_idx = idx;
	vq->last_used = idx;
	vq->base = idx;
	if (vq->event_idx) {
		*vu_vq_used_event(vq) = idx;
		*vu_vq_avail_event(vq) = idx;
	}
	__atomic_store_n(&vq->used->idx, idx, __ATOMIC_RELEASE);
	__atomic_store_n(&vq->avail->idx, idx, __ATOMIC_RELEASE);
}
