/* Front-end split virtqueues: ring layout in guest memory, vring set-up, descriptor chains, notification and used-ring reaping. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vu_internal.h"

#define NO_LINK 0xffffu

volatile uint16_t *vu_vq_used_event(struct vu_vq *vq)
{
	return (volatile uint16_t *)&vq->avail->ring[vq->size];
}

volatile uint16_t *vu_vq_avail_event(struct vu_vq *vq)
{
	return (volatile uint16_t *)&vq->used->ring[vq->size];
}

struct vu_vq *vu_vq_create(struct vu_dev *dev, unsigned index, uint16_t size)
{
	struct vu_vq *vq;
	size_t desc_sz = 16u * size;
	size_t avail_sz = 6u + 2u * size;
	size_t used_off, total;
	uint8_t *ring;

	if (index >= VU_MAX_QUEUES || dev->vqs[index]) {
		vu_fail(dev, EINVAL, "queue %u: bad index or already created", index);
		return NULL;
	}
	if (size == 0 || (size & (size - 1)) || size > 32768) {
		vu_fail(dev, EINVAL, "queue size %u is not a power of two", size);
		return NULL;
	}
	vq = calloc(1, sizeof(*vq));
	if (!vq) {
		vu_fail(dev, ENOMEM, "out of memory");
		return NULL;
	}
	vq->dev = dev;
	vq->index = index;
	vq->size = size;
	vq->kick_fd = vq->call_fd = -1;
	vq->event_idx = dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = dev->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);

	/* legacy layout: desc, avail, used aligned to 4096 */
	used_off = (desc_sz + avail_sz + 4095) & ~(size_t)4095;
	total = used_off + 6u + 8u * size;
	ring = vu_mem_alloc(dev, total, 4096);
	if (!ring)
		goto fail;
	vq->desc = (struct vring_desc *)ring;
	vq->avail = (struct vring_avail *)(ring + desc_sz);
	vq->used = (struct vring_used *)(ring + used_off);
	vq->desc_gpa = vu_ptr_to_gpa(dev, vq->desc);
	vq->avail_gpa = vu_ptr_to_gpa(dev, vq->avail);
	vq->used_gpa = vu_ptr_to_gpa(dev, vq->used);

	vq->link = calloc(size, sizeof(*vq->link));
	vq->chain_len = calloc(size, sizeof(*vq->chain_len));
	vq->cookie = calloc(size, sizeof(*vq->cookie));
	vq->busy = calloc(size, sizeof(*vq->busy));
	if (!vq->link || !vq->chain_len || !vq->cookie || !vq->busy) {
		vu_fail(dev, ENOMEM, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < size; i++)
		vq->link[i] = i + 1 < size ? i + 1 : NO_LINK;
	vq->free_head = 0;
	vq->num_free = size;

	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0 || vq->call_fd < 0) {
		vu_fail(dev, errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	dev->vqs[index] = vq;
	return vq;
fail:
	vu_vq_destroy(vq);
	return NULL;
}

void vu_vq_destroy(struct vu_vq *vq)
{
	struct vu_dev *dev;

	if (!vq)
		return;
	dev = vq->dev;
	if (dev->vqs[vq->index] == vq)
		dev->vqs[vq->index] = NULL;
	/* Also undoes a vu_vq_create that failed half way. */
	if (vq->desc)
		vu_mem_free(dev, vq->desc);
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	free(vq->link);
	free(vq->chain_len);
	free(vq->cookie);
	free(vq->busy);
	free(vq);
}

int vu_vq_start(struct vu_vq *vq)
{
	struct vu_dev *dev = vq->dev;
	struct vhost_user_vring_addr a = {
		.index = vq->index,
		.flags = 0,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.log_guest_addr = vq->used_gpa,
	};
	int r;

	if ((r = vu_set_vring_num(dev, vq->index, vq->size)) < 0 ||
	    (r = vu_set_vring_base(dev, vq->index, vq->base)) < 0 ||
	    (r = vu_set_vring_addr(dev, &a)) < 0 ||
	    (r = vu_set_vring_kick(dev, vq->index, vq->kick_fd)) < 0 ||
	    (r = vu_set_vring_call(dev, vq->index, vq->call_fd)) < 0)
		return r;
	if (dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		r = vu_set_vring_enable(dev, vq->index, true);
		if (r < 0)
			return r;
	}
	vq->started = true;
	return 0;
}

int vu_vq_get_base(struct vu_vq *vq, uint32_t *base)
{
	uint32_t b;
	int r = vu_get_vring_base(vq->dev, vq->index, &b);

	if (r < 0)
		return r;
	vq->started = false;
	vq->base = (uint16_t)b;
	if (base)
		*base = b;
	return 0;
}

int vu_vq_stop(struct vu_vq *vq, uint32_t *base)
{
	struct vu_dev *dev = vq->dev;

	if (dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		int r = vu_set_vring_enable(dev, vq->index, false);

		if (r < 0)
			return r;
	}
	return vu_vq_get_base(vq, base);
}

int vu_vq_alloc_chain(struct vu_vq *vq, unsigned n, uint16_t *ids)
{
	if (n == 0 || n > vq->num_free)
		return vu_fail(vq->dev, ENOSPC, "queue %u: %u descriptors wanted, %u free",
			       vq->index, n, vq->num_free);
	for (unsigned i = 0; i < n; i++) {
		ids[i] = vq->free_head;
		vq->free_head = vq->link[ids[i]];
	}
	for (unsigned i = 0; i + 1 < n; i++)
		vq->link[ids[i]] = ids[i + 1];
	vq->link[ids[n - 1]] = NO_LINK;
	vq->num_free -= n;
	vq->chain_len[ids[0]] = n;
	return 0;
}

void vu_vq_free_chain(struct vu_vq *vq, uint16_t head)
{
	uint16_t id = head;
	unsigned n = vq->chain_len[head];

	for (unsigned i = 0; i + 1 < n; i++)
		id = vq->link[id];
	vq->link[id] = vq->free_head;
	vq->free_head = head;
	vq->num_free += n;
	vq->chain_len[head] = 0;
}

static void publish_id(struct vu_vq *vq, uint16_t id)
{
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = id;
	vq->avail_idx++;
	if (!vq->hold_avail)
		__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

void vu_vq_hold_avail(struct vu_vq *vq, bool hold)
{
	vq->hold_avail = hold;
	if (!hold)
		__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

void vu_vq_publish(struct vu_vq *vq, uint16_t head, void *cookie)
{
	vq->cookie[head] = cookie;
	vq->busy[head] = 1;
	vq->in_flight++;
	publish_id(vq, head);
}

void vu_vq_publish_raw(struct vu_vq *vq, uint16_t id)
{
	publish_id(vq, id);
}

int vu_vq_kick(struct vu_vq *vq)
{
	uint64_t one = 1;

	vq->kicked_idx = vq->avail_idx;
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one))
		return vu_fail(vq->dev, errno, "kick: %s", strerror(errno));
	vq->kicks++;
	return 0;
}

int vu_vq_notify(struct vu_vq *vq)
{
	uint16_t old = vq->kicked_idx, new_idx = vq->avail_idx;
	bool need;

	if (new_idx == old && !vq->always_kick)
		return 0;
	/* the avail idx store must be visible before we read the back-end's
	 * suppression state */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->always_kick)
		need = true;
	else if (vq->event_idx)
		need = vring_need_event(*vu_vq_avail_event(vq), new_idx, old);
	else
		need = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	vq->kicked_idx = new_idx;
	if (!need)
		return 0;
	int r = vu_vq_kick(vq);

	return r < 0 ? r : 1;
}

unsigned vu_vq_pending(const struct vu_vq *vq)
{
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vq->last_used);
}

unsigned vu_vq_reap(struct vu_vq *vq, struct vu_used *out, unsigned max)
{
	unsigned n = vu_vq_pending(vq);

	if (n > vq->size) /* a broken used->idx: do not trust it */
		n = vq->size;
	if (n > max)
		n = max;
	for (unsigned i = 0; i < n; i++) {
		struct vring_used_elem e = vq->used->ring[vq->last_used & (vq->size - 1)];

		vq->last_used++;
		out[i].id = e.id;
		out[i].len = e.len;
		out[i].cookie = NULL;
		if (e.id >= vq->size || !vq->busy[e.id]) {
			vq->bad_used++;
			continue;
		}
		out[i].cookie = vq->cookie[e.id];
		vq->busy[e.id] = 0;
		vq->cookie[e.id] = NULL;
		vq->in_flight--;
		vu_vq_free_chain(vq, (uint16_t)e.id);
	}
	return n;
}

/* Asks for an interrupt at the next used entry; true if some are pending. */
static bool arm(struct vu_vq *vq)
{
	if (vu_vq_pending(vq))
		return true;
	if (vq->event_idx) {
		*vu_vq_used_event(vq) = vq->last_used;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		return vu_vq_pending(vq) != 0;
	}
	return false;
}

static void drain_call(struct vu_vq *vq)
{
	uint64_t v;

	if (read(vq->call_fd, &v, sizeof(v)) == sizeof(v))
		vq->calls++;
}

/* Adds the control socket to a poll set so a hang-up ends the wait. */
static unsigned add_sock(const struct vu_dev *dev, struct pollfd *p)
{
	if (dev->sock < 0)
		return 0;
	p->fd = dev->sock;
	p->events = POLLRDHUP;
	p->revents = 0;
	return 1;
}

static bool sock_hung_up(const struct pollfd *p)
{
	return p->revents & (POLLRDHUP | POLLHUP | POLLERR);
}

int vu_vq_wait(struct vu_vq *vq, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	for (;;) {
		if (arm(vq))
			return 1;
		struct pollfd p[2] = { { .fd = vq->call_fd, .events = POLLIN } };
		unsigned np = 1 + add_sock(vq->dev, &p[1]);
		int r = poll(p, np, timeout_ms < 0 ? -1 : vu_ms_left(deadline));

		if (r < 0 && errno != EINTR)
			return vu_fail(vq->dev, errno, "poll: %s", strerror(errno));
		if (r == 0)
			return vu_vq_pending(vq) ? 1 : 0;
		if (r > 0 && (p[0].revents & POLLIN))
			drain_call(vq);
		if (r > 0 && np == 2 && sock_hung_up(&p[1]) && !vu_vq_pending(vq))
			return vu_fail(vq->dev, ECONNRESET,
				       "queue %u: the back-end closed the connection", vq->index);
	}
}

int vu_dev_wait(struct vu_dev *dev, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	for (;;) {
		struct pollfd p[VU_MAX_QUEUES + 1];
		unsigned np = 0;
		int ready = 0;

		for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
			struct vu_vq *vq = dev->vqs[i];

			if (!vq || !vq->started)
				continue;
			if (arm(vq))
				ready++;
			p[np].fd = vq->call_fd;
			p[np].events = POLLIN;
			p[np].revents = 0;
			np++;
		}
		if (ready)
			return ready;
		if (np == 0)
			return vu_fail(dev, EINVAL, "no started queue to wait on");
		unsigned nq = np;

		np += add_sock(dev, &p[np]);
		int r = poll(p, np, timeout_ms < 0 ? -1 : vu_ms_left(deadline));

		if (r < 0 && errno != EINTR)
			return vu_fail(dev, errno, "poll: %s", strerror(errno));
		if (r == 0) {
			for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
				if (dev->vqs[i] && dev->vqs[i]->started && vu_vq_pending(dev->vqs[i]))
					ready++;
			return ready;
		}
		for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
			if (dev->vqs[i] && dev->vqs[i]->started)
				drain_call(dev->vqs[i]);
		if (r > 0 && np > nq && sock_hung_up(&p[nq])) {
			for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
				if (dev->vqs[i] && dev->vqs[i]->started && vu_vq_pending(dev->vqs[i]))
					return 1;
			return vu_fail(dev, ECONNRESET, "the back-end closed the connection");
		}
	}
}
