/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#include "queue.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "uring_io.h"

/* user_data tags that are not request pointers. */
#define TAG_KICK 1
#define TAG_WAKE 2

int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index)
{
	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->index = index;
	q->kick_fd = q->call_fd = q->err_fd = -1;
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return -errno;
	pthread_mutex_init(&q->notify_lock, NULL);
	return 0;
}

static void replace_fd(struct vb_queue *q, int *slot, int fd)
{
	int old;

	pthread_mutex_lock(&q->notify_lock);
	old = *slot;
	*slot = fd;
	pthread_mutex_unlock(&q->notify_lock);
	if (old >= 0)
		close(old);
}

void vb_queue_set_call_fd(struct vb_queue *q, int fd)
{
	replace_fd(q, &q->call_fd, fd);
	/* Completions published before the front-end gave us a call fd still need their interrupt. */
	pthread_mutex_lock(&q->notify_lock);
	if (q->call_missed && q->call_fd >= 0) {
		eventfd_write(q->call_fd, 1);
		q->call_missed = false;
	}
	pthread_mutex_unlock(&q->notify_lock);
}

void vb_queue_set_err_fd(struct vb_queue *q, int fd)
{
	replace_fd(q, &q->err_fd, fd);
}

void vb_queue_destroy(struct vb_queue *q)
{
	if (q->running)
		vb_queue_stop(q);
	vb_queue_set_call_fd(q, -1);
	vb_queue_set_err_fd(q, -1);
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	q->kick_fd = -1;
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	q->wake_fd = -1;
	pthread_mutex_destroy(&q->notify_lock);
}

static void wake(struct vb_queue *q)
{
	eventfd_write(q->wake_fd, 1);
}

void vb_queue_set_enabled(struct vb_queue *q, bool enabled)
{
	__atomic_store_n(&q->enabled, enabled, __ATOMIC_RELEASE);
	wake(q);
}

static void notify_guest(struct vb_queue *q)
{
	pthread_mutex_lock(&q->notify_lock);
	if (q->call_fd >= 0)
		eventfd_write(q->call_fd, 1);
	else
		q->call_missed = true;
	pthread_mutex_unlock(&q->notify_lock);
}

/* Marks where used entries are written: the used ring, or a packed ring's descriptors. */
static void log_used_ring(struct vb_queue *q)
{
	struct iovec ring = { q->vring.pdesc, vb_vring_desc_size(q->num) };

	if (q->vring.packed)
		vb_dirty_log_mark_iov(&q->dev->log, &q->dev->mem, &ring, 1);
	else
		vb_dirty_log_mark(&q->dev->log, q->used_gpa, vb_vring_used_size(q->num, false));
}

/* Publishes every used entry written since the last call and interrupts the guest if it wants. */
static void flush_used(struct vb_queue *q)
{
	if (!q->need_publish)
		return;
	q->need_publish = false;
	q->unpublished = 0;
	vb_vring_publish_used(&q->vring);
	if (q->logging && q->log_used)
		log_used_ring(q);
	vb_inflight_published(&q->inflight, q->vring.used_idx);
	if (vb_vring_need_notify(&q->vring))
		notify_guest(q);
}

/* Marks every guest page the request may have written, now that the writes are done. */
static void log_request(struct vb_queue *q, const struct vb_blk_req *req)
{
	const struct vb_chain *c = &req->chain;
	struct iovec status = { req->status_ptr, 1 };

	vb_dirty_log_mark_iov(&q->dev->log, &q->dev->mem, c->iov + c->nout, c->niov - c->nout);
	if (req->status_ptr)
		vb_dirty_log_mark_iov(&q->dev->log, &q->dev->mem, &status, 1);
}

static void finish_request(struct vb_queue *q, struct vb_blk_req *req)
{
	uint32_t len = 0;

	/*
	 * A guest that makes the same head available again before seeing it
	 * used could otherwise pile up more than a ring of unpublished entries.
	 */
	if (q->unpublished == q->num)
		flush_used(q);
	q->unpublished++;

	if (req->status_ptr) {
		__atomic_store_n(req->status_ptr, req->status, __ATOMIC_RELAXED);
		len = req->status == VIRTIO_BLK_S_OK ? req->used_len : 1;
	}
	if (q->logging)
		log_request(q, req);
	if (q->inflight.p) {
		uint16_t idx = q->vring.used_idx;
		bool wrap = q->vring.used_wrap;

		/* Packed used elements are visible at once: complete each in its own batch. */
		vb_vring_packed_advance(q->num, &idx, &wrap, req->ndesc);
		vb_inflight_complete_packed(&q->inflight, req->inflight_entry, idx, wrap);
		vb_vring_push_used(&q->vring, req->chain.head, req->ndesc, len);
		vb_inflight_published_packed(&q->inflight, req->inflight_entry);
	} else {
		vb_vring_push_used(&q->vring, req->chain.head, req->ndesc, len);
		vb_inflight_complete(&q->inflight, req->chain.head);
	}
	req->busy = false;
	q->nbusy--;
	q->need_publish = true;
}

static void mark_broken(struct vb_queue *q, const char *why)
{
	if (q->broken)
		return;
	q->broken = true;
	vb_err("queue %u: %s; the queue stops until the front-end resets it", q->index, why);
	pthread_mutex_lock(&q->notify_lock);
	if (q->err_fd >= 0)
		eventfd_write(q->err_fd, 1);
	pthread_mutex_unlock(&q->notify_lock);
}

/* Reads the request's chain: from the ring, or from the copies a packed inflight region keeps. */
static enum vb_pop_result read_request(struct vb_queue *q, struct vb_blk_req *req, uint16_t head)
{
	const struct vring_packed_desc *descs;
	uint16_t count, id;

	if (!q->inflight.p)
		return vb_vring_read_chain(&q->vring, &q->dev->mem, head, &req->chain);
	if (vb_inflight_chain_packed(&q->inflight, req->inflight_entry, &descs, &count, &id) < 0)
		return VB_POP_BAD_CHAIN;
	return vb_vring_read_packed(descs, count, 0, count, head, &q->dev->mem, &req->chain);
}

/* Reads, decodes and issues the request at head, which the caller marked busy. */
static void start_request(struct vb_queue *q, struct vb_blk_req *req, uint16_t head)
{
	struct vb_device *dev = q->dev;

	if (read_request(q, req, head) != VB_POP_OK) {
		vb_warn("queue %u: malformed descriptor chain at head %u, returned unused",
			q->index, head);
		req->chain.head = head;
		req->status_ptr = NULL;
		finish_request(q, req);
		return;
	}
	vb_blk_parse(dev, req);
	if (!vb_uring_issue(&q->ring, &dev->disk, __atomic_load_n(&dev->writeback, __ATOMIC_RELAXED),
			    req))
		finish_request(q, req);
}

static bool fetch_one(struct vb_queue *q)
{
	struct vb_blk_req *req;
	uint16_t head, ndesc;

	switch (vb_vring_pop_head(&q->vring, &head, &ndesc)) {
	case VB_POP_EMPTY:
		return false;
	case VB_POP_BROKEN:
		mark_broken(q, "avail ring index or head out of range");
		return false;
	default:
		break;
	}
	req = &q->reqs[head];
	if (req->busy) {
		mark_broken(q, "the guest made a descriptor head available twice");
		return false;
	}
	req->busy = true;
	req->ndesc = ndesc;
	q->nbusy++;
	if (q->inflight.p) {
		int entry = vb_inflight_fetch_packed(&q->inflight, &q->vring);

		if (entry < 0) {
			/* Our own region is corrupt: stop before issuing untracked I/O. */
			mark_broken(q, "the packed inflight region's free list is corrupt");
			return false;
		}
		req->inflight_entry = entry;
	} else {
		vb_inflight_fetch(&q->inflight, head);
	}
	start_request(q, req, head);
	return true;
}

/* Requests a previous instance fetched but never completed go first, in fetch order. */
static void resubmit_inflight(struct vb_queue *q)
{
	for (unsigned int i = 0; i < q->inflight.nresubmit; i++) {
		uint16_t head = q->inflight.resubmit[i], ndesc = 1;
		struct vb_blk_req *req;

		if (q->inflight.p) {
			const struct vring_packed_desc *descs;
			uint16_t entry = head;

			if (vb_inflight_chain_packed(&q->inflight, entry, &descs, &ndesc, &head) < 0 ||
			    head >= q->num || q->reqs[head].busy) {
				mark_broken(q, "the packed inflight region lists a bad request");
				break;
			}
			q->reqs[head].inflight_entry = entry;
		}
		req = &q->reqs[head];
		req->busy = true;
		req->ndesc = ndesc;
		q->nbusy++;
		start_request(q, req, head);
	}
	if (q->inflight.nresubmit)
		vb_info("queue %u: resubmitted %u requests left inflight", q->index,
			q->inflight.nresubmit);
	q->inflight.nresubmit = 0;
}

/* Fetches until the ring is empty, with guest kicks off meanwhile. */
static void fetch_all(struct vb_queue *q)
{
	if (q->broken || !__atomic_load_n(&q->enabled, __ATOMIC_ACQUIRE))
		return;
	do {
		vb_vring_disable_kicks(&q->vring);
		while (fetch_one(q))
			;
	} while (!q->broken && vb_vring_enable_kicks(&q->vring));
}

static void arm_poll(struct vb_queue *q, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	/* The ring is sized with spare entries for these two polls. */
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, tag);
}

static void drain_eventfd(int fd)
{
	eventfd_t v;

	eventfd_read(fd, &v);
}

static void *queue_thread(void *arg)
{
	struct vb_queue *q = arg;
	struct vb_device *dev = q->dev;

	arm_poll(q, q->kick_fd, TAG_KICK);
	arm_poll(q, q->wake_fd, TAG_WAKE);
	resubmit_inflight(q);
	/* Entries made available before we started get no kick of their own. */
	fetch_all(q);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		bool fetch = false, stopping;
		int ret;

		flush_used(q);
		stopping = __atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
		if (stopping && q->nbusy == 0)
			break;
		ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			vb_err("queue %u: io_uring: %s", q->index, strerror(-ret));
			mark_broken(q, "cannot wait for I/O");
		}
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);

			seen++;
			if (tag == TAG_KICK || tag == TAG_WAKE) {
				drain_eventfd(tag == TAG_KICK ? q->kick_fd : q->wake_fd);
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_poll(q, tag == TAG_KICK ? q->kick_fd : q->wake_fd, tag);
				fetch = true;
				continue;
			}
			struct vb_blk_req *req = io_uring_cqe_get_data(cqe);

			if (vb_uring_complete(&q->ring, &dev->disk,
					      __atomic_load_n(&dev->writeback, __ATOMIC_RELAXED),
					      req, cqe->res))
				finish_request(q, req);
		}
		io_uring_cq_advance(&q->ring, seen);
		if (fetch && !__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE))
			fetch_all(q);
	}
	return NULL;
}

int vb_queue_start(struct vb_queue *q, void *desc, void *avail, void *used)
{
	bool event_idx = q->dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	bool packed = q->dev->features & (1ull << VIRTIO_F_RING_PACKED);
	int ret;

	q->reqs = calloc(q->num, sizeof(*q->reqs));
	if (!q->reqs)
		return -ENOMEM;
	/* One SQE per request slot, plus the two polls and their re-arms. */
	ret = io_uring_queue_init(q->num + 4, &q->ring, 0);
	if (ret < 0) {
		free(q->reqs);
		q->reqs = NULL;
		return ret;
	}
	if (!vb_vring_start(&q->vring, q->num, event_idx, packed, desc, avail, used, q->base)) {
		vb_err("queue %u: vring base 0x%x does not fit a %u-entry ring", q->index, q->base,
		       q->num);
		ret = -EINVAL;
		goto fail_ring;
	}
	if (q->inflight_region && packed) {
		ret = vb_inflight_start_packed(&q->inflight, q->inflight_region, q->inflight_size,
					       &q->vring, q->dev->features);
		if (ret < 0)
			goto fail_ring;
	} else if (q->inflight_region) {
		ret = vb_inflight_start(&q->inflight, q->inflight_region, q->inflight_size, q->num,
					q->dev->features, q->vring.used_idx,
					&q->vring.last_avail_idx);
		if (ret < 0)
			goto fail_ring;
		if (q->vring.last_avail_idx != q->base)
			vb_info("queue %u: resuming at avail index %u (front-end said %u)",
				q->index, q->vring.last_avail_idx, q->base);
	}
	q->nbusy = 0;
	q->logging = (q->dev->features & (1ull << VHOST_F_LOG_ALL)) && q->dev->log.bitmap;
	q->broken = false;
	q->need_publish = false;
	q->unpublished = 0;
	__atomic_store_n(&q->stop, 0, __ATOMIC_RELAXED);
	drain_eventfd(q->wake_fd);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret) {
		ret = -ret;
		vb_inflight_stop(&q->inflight);
		goto fail_ring;
	}
	q->running = true;
	vb_debug("queue %u started: %u entries%s from avail index %u", q->index, q->num,
		 packed ? " (packed)" : "", q->vring.last_avail_idx);
	return 0;
fail_ring:
	io_uring_queue_exit(&q->ring);
	free(q->reqs);
	q->reqs = NULL;
	return ret;
}

void vb_queue_stop(struct vb_queue *q)
{
	if (!q->running)
		return;
	__atomic_store_n(&q->stop, 1, __ATOMIC_RELEASE);
	wake(q);
	pthread_join(q->thread, NULL);
	q->running = false;
	q->base = vb_vring_base(&q->vring);
	vb_inflight_stop(&q->inflight);
	io_uring_queue_exit(&q->ring);
	free(q->reqs);
	q->reqs = NULL;
	vb_debug("queue %u stopped at vring base 0x%x", q->index, q->base);
}
