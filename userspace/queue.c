/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#include "queue.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "log.h"
#include "uring_io.h"

/* user_data tags that are not request pointers. */
#define TAG_KICK 1
#define TAG_WAKE 2
#define TAG_TIMER 3		/* the delay engine's timerfd */
#define TAG_KABORT 4		/* the kabort context's completion eventfd */
#define TAG_CANCEL 5		/* cancel and poll-remove requests of our own */
#define TAG_MAX TAG_CANCEL
/* How long a ring start waits for a killed predecessor's requests with vbabort. */
#define KABORT_ORPHAN_WAIT_MS 30000

int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index)
{
	int ret;

	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->index = index;
	q->kick_fd = q->call_fd = q->err_fd = -1;
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return -errno;
	ret = vb_delay_init(&q->delay, dev->engine.kind == VB_ENGINE_DELAY ?
				       dev->engine.delay_ns : 0);
	if (ret < 0) {
		close(q->wake_fd);
		return ret;
	}
	pthread_mutex_init(&q->notify_lock, NULL);
	sem_init(&q->stopped, 0, 0);
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
	vb_delay_destroy(&q->delay);
	if (q->kabort) {
		vb_kabort_close(q->kabort);
		free(q->kabort);
		q->kabort = NULL;
	}
	pthread_mutex_destroy(&q->notify_lock);
	sem_destroy(&q->stopped);
}

void vb_queue_wake(struct vb_queue *q)
{
	eventfd_write(q->wake_fd, 1);
}

void vb_queue_set_enabled(struct vb_queue *q, bool enabled)
{
	__atomic_store_n(&q->enabled, enabled, __ATOMIC_RELEASE);
	vb_queue_wake(q);
}

static void notify_guest(struct vb_queue *q)
{
	if (q->notify) {
		q->notify(q->notify_ctx, q->index);
		return;
	}
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
		vb_dirty_log_mark_iov(q->view.log, q->view.mem, &ring, 1);
	else
		vb_dirty_log_mark(q->view.log, q->view.used_gpa, vb_vring_used_size(q->num, false));
}

/* Publishes every used entry written since the last call and interrupts the guest if it wants. */
static void flush_used(struct vb_queue *q)
{
	if (!q->need_publish)
		return;
	q->need_publish = false;
	q->unpublished = 0;
	vb_vring_publish_used(&q->vring);
	if (q->view.log && q->view.log_used)
		log_used_ring(q);
	vb_inflight_published(&q->inflight, q->vring.used_idx);
	if (vb_vring_need_notify(&q->vring))
		notify_guest(q);
}

/*
 * Marks every guest page the request may have written, now that the writes
 * are done: in the log adopted last, through the map the request started with.
 */
static void log_request(struct vb_queue *q, const struct vb_blk_req *req)
{
	const struct vb_chain *c = &req->chain;
	struct iovec status = { req->status_ptr, 1 };

	vb_dirty_log_mark_iov(q->view.log, req->mem, c->iov + c->nout, c->niov - c->nout);
	if (req->status_ptr)
		vb_dirty_log_mark_iov(q->view.log, req->mem, &status, 1);
}

/* The request no longer touches guest memory: its map may go. */
static void release_map(struct vb_blk_req *req)
{
	vb_mem_put(req->mem);
	req->mem = NULL;
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
	if (q->view.log)
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
	release_map(req);
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
		return vb_vring_read_chain(&q->vring, req->mem, head, &req->chain);
	if (vb_inflight_chain_packed(&q->inflight, req->inflight_entry, &descs, &count, &id) < 0)
		return VB_POP_BAD_CHAIN;
	return vb_vring_read_packed(descs, count, 0, count, head, req->mem, &req->chain);
}

/* Fixed when a request is issued: the cache mode the driver chose, and whether reads may be abandoned. */
static unsigned int io_flags(const struct vb_queue *q)
{
	unsigned int flags = (q->bounce_reads ? VB_URING_BOUNCE_READS : 0) |
			     (q->fixed_file ? VB_URING_FIXED_FILE : 0);

	if (__atomic_load_n(&q->dev->writeback, __ATOMIC_RELAXED))
		flags |= VB_URING_WRITEBACK;
	return flags;
}

/* Hands the request to io_uring, or finishes it if nothing was queued. */
static void issue(struct vb_queue *q, struct vb_blk_req *req)
{
	if (!vb_uring_issue(&q->ring, &q->bounce, &q->dev->disk, io_flags(q), req))
		finish_request(q, req);
}

/* Executes a parsed request with the device's engine. */
static void execute(struct vb_queue *q, struct vb_blk_req *req)
{
	switch (q->dev->engine.kind) {
	case VB_ENGINE_NULL:
		vb_null_execute(req);
		break;
	case VB_ENGINE_DELAY:
		if (req->op == VB_IO_NONE)
			break;
		req->held = true;
		vb_delay_hold(&q->delay, req);
		return;
	case VB_ENGINE_KABORT:
		if (req->op == VB_IO_NONE)
			break;
		/* What the module cannot take as it is (too big, misaligned) goes by io_uring. */
		if (vb_kabort_fits(q->kabort, req)) {
			vb_kabort_queue(q->kabort, req);
			return;
		}
		issue(q, req);
		return;
	case VB_ENGINE_URING:
		issue(q, req);
		return;
	}
	finish_request(q, req);
}

/* The delay engine lets go of the requests whose time has come. */
static void release_held(struct vb_queue *q)
{
	struct vb_blk_req *req;

	while ((req = vb_delay_pop_due(&q->delay))) {
		req->held = false;
		issue(q, req);
	}
}

/* Reads, decodes and executes the request at head, which the caller claimed. */
static void start_request(struct vb_queue *q, struct vb_blk_req *req, uint16_t head)
{
	req->mem = vb_mem_get(q->view.mem);
	if (read_request(q, req, head) != VB_POP_OK) {
		vb_warn("queue %u: malformed descriptor chain at head %u, returned unused",
			q->index, head);
		req->chain.head = head;
		req->status_ptr = NULL;
		finish_request(q, req);
		return;
	}
	vb_blk_parse(q->dev, req);
	execute(q, req);
}

static void claim(struct vb_queue *q, struct vb_blk_req *req, uint16_t ndesc)
{
	req->busy = true;
	req->ndesc = ndesc;
	req->held = false;
	req->abandoned = false;
	q->nbusy++;
}

/* The request stays inflight in the region; the next back-end resubmits it. */
static void suspend_request(struct vb_queue *q, struct vb_blk_req *req)
{
	release_map(req);
	req->busy = false;
	q->nbusy--;
	q->nsuspended++;
}

static void kabort_finish(void *ctx, struct vb_blk_req *req)
{
	finish_request(ctx, req);
}

static void kabort_suspend(void *ctx, struct vb_blk_req *req)
{
	suspend_request(ctx, req);
}

/* Suspends requests the host never saw, linked by held_next. */
static void suspend_list(struct vb_queue *q, struct vb_blk_req *req)
{
	for (struct vb_blk_req *next; req; req = next) {
		next = req->held_next;
		req->held = false;
		suspend_request(q, req);
	}
}

/*
 * Quiesces the ring: held requests never reach the host; the kabort
 * context cancels what it has not issued and abandons issued reads; reads
 * with io_uring are abandoned to their bounce buffers; everything else
 * issued gets a cancellation and is waited for by the caller's loop.
 */
static void begin_suspend(struct vb_queue *q)
{
	const struct vb_kabort_fates fates = { kabort_finish, kabort_suspend, q };
	struct vb_blk_req *req;
	bool issued = false;

	q->suspending = true;
	suspend_list(q, vb_delay_take_all(&q->delay));
	if (q->kabort) {
		suspend_list(q, vb_kabort_take_queued(q->kabort));
		if (vb_kabort_abort(q->kabort, &fates) < 0)
			mark_broken(q, "the vbabort module refused to abort");
	}
	for (unsigned int i = 0; i < q->num; i++) {
		req = &q->reqs[i];
		if (!req->busy)
			continue;
		issued = true;
		if (req->op == VB_IO_READ && req->bounce) {
			req->abandoned = true;
			q->norphans++;
			suspend_request(q, req);
		}
	}
	if (issued) {
		struct io_uring_sqe *sqe = vb_uring_sqe(&q->ring, TAG_CANCEL);

		/* Reaches only what io_uring still holds; the block layer finishes the rest. */
		if (sqe && q->fixed_file) {
			io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL);
			sqe->cancel_flags |= IORING_ASYNC_CANCEL_FD_FIXED;
		} else if (sqe) {
			io_uring_prep_cancel_fd(sqe, q->dev->disk.fd, IORING_ASYNC_CANCEL_ALL);
		}
	}
}

/* A completion seen while suspending; true if it was settled here. */
static bool settle_suspended(struct vb_queue *q, struct vb_blk_req *req, int res)
{
	if (req->abandoned) {
		vb_uring_release(&q->bounce, req);
		q->norphans--;
		return true;
	}
	if (q->suspending && res == -ECANCELED) {
		vb_uring_release(&q->bounce, req);
		suspend_request(q, req);
		return true;
	}
	return false;
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
	claim(q, req, ndesc);
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
		claim(q, req, ndesc);
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
	struct io_uring_sqe *sqe = vb_uring_sqe(&q->ring, tag);

	if (sqe)
		io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	else
		mark_broken(q, "no io_uring entry for a notifier poll");
}

static void drain_eventfd(int fd)
{
	eventfd_t v;

	eventfd_read(fd, &v);
}

static int poll_fd(const struct vb_queue *q, uint64_t tag)
{
	switch (tag) {
	case TAG_KICK:
		return q->kick_fd;
	case TAG_WAKE:
		return q->wake_fd;
	case TAG_TIMER:
		return q->delay.timer_fd;
	default:
		return q->kabort->event_fd;
	}
}

/*
 * A kick, a wake-up, the delay timer or kabort completions: returns true if
 * the ring may have new requests.
 */
static bool notifier_event(struct vb_queue *q, const struct io_uring_cqe *cqe, uint64_t tag)
{
	if (tag == TAG_CANCEL)
		return false;
	/*
	 * A multishot poll reports every write to an eventfd, so the counters
	 * need no read (a system call per kick, about 8% of the thread at high
	 * rates). The timer's expiry must be read, or the next arming of it
	 * would look expired at once.
	 */
	if (tag == TAG_TIMER)
		drain_eventfd(poll_fd(q, tag));
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_poll(q, poll_fd(q, tag), tag);
	if (tag == TAG_TIMER) {
		release_held(q);
		return false;
	}
	if (tag == TAG_KABORT) {
		vb_kabort_reap(q->kabort, kabort_finish, q);
		return false;
	}
	return true;
}

/* Owns the io_uring of a suspended ring until the host is done with its abandoned reads. */
struct orphan_reads {
	struct vb_device *dev;
	unsigned int index;
	struct io_uring ring;
	struct vb_blk_req *reqs;
	unsigned int count;
};

/* Waits for count abandoned reads on ring, freeing their bounce buffers; touches no guest memory. */
static void reap_abandoned(struct io_uring *ring, unsigned int *count)
{
	/* Our notifier polls must stop: the eventfds now belong to the ring's next worker. */
	for (uint64_t tag = TAG_KICK; tag <= TAG_KABORT; tag++) {
		struct io_uring_sqe *sqe = vb_uring_sqe(ring, TAG_CANCEL);

		if (sqe)
			io_uring_prep_poll_remove(sqe, tag);
	}
	while (*count) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		io_uring_submit_and_wait(ring, 1);
		io_uring_for_each_cqe(ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			struct vb_blk_req *req = io_uring_cqe_get_data(cqe);

			seen++;
			if (tag > TAG_MAX && req->abandoned) {
				vb_uring_release(NULL, req);
				req->abandoned = false;
				(*count)--;
			}
		}
		io_uring_cq_advance(ring, seen);
	}
}

static void *orphan_thread(struct orphan_reads *o)
{
	struct vb_device *dev = o->dev;

	reap_abandoned(&o->ring, &o->count);
	vb_debug("queue %u: the host finished every abandoned read", o->index);
	io_uring_queue_exit(&o->ring);
	free(o->reqs);
	free(o);
	vb_device_orphan_done(dev);
	return NULL;
}

/*
 * The ring is quiesced but the host still reads into abandoned bounce
 * buffers: the io_uring and the requests go with this thread, which frees
 * them once the host is done, so the ring can start again at once. Without
 * memory for that, the reads are waited for here instead.
 */
static struct orphan_reads *hand_off_orphans(struct vb_queue *q)
{
	struct orphan_reads *o;

	if (!q->norphans)
		return NULL;
	o = malloc(sizeof(*o));
	if (!o) {
		reap_abandoned(&q->ring, &q->norphans);
		return NULL;
	}
	*o = (struct orphan_reads){ .dev = q->dev, .index = q->index, .ring = q->ring,
				    .reqs = q->reqs, .count = q->norphans };
	vb_device_orphan_begin(q->dev);
	q->orphaned = true;
	return o;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Adaptive polling (--poll-us): before sleeping, spin for a while watching
 * the avail ring and the completion queue, with guest kicks off so that a
 * busy guest spends no exits on them. Sleeping is only safe once kicks are
 * back on and the ring was seen empty after that; returns true, without
 * that, when work turned up (requests fetched, completions, a control
 * change), so that the caller does not block.
 */
static bool poll_for_work(struct vb_queue *q)
{
	bool fetching = !q->broken && __atomic_load_n(&q->enabled, __ATOMIC_ACQUIRE) &&
			!__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
	uint64_t end;

	if (io_uring_cq_ready(&q->ring))
		return true;
	io_uring_submit(&q->ring);
	if (fetching)
		vb_vring_disable_kicks(&q->vring);
	end = vb_now_ns() + q->dev->poll_ns;
	do {
		if (io_uring_cq_ready(&q->ring))
			return true;
		if (fetching && vb_vring_avail_pending(&q->vring)) {
			while (fetch_one(q))
				;
			return true;
		}
		cpu_relax();
	} while (vb_now_ns() < end);
	if (fetching && vb_vring_enable_kicks(&q->vring)) {
		fetch_all(q);
		return true;
	}
	return io_uring_cq_ready(&q->ring) > 0;
}

/*
 * The kabort context is full. Its room comes back as requests complete, but
 * reads abandoned by an earlier suspension complete without a word: look
 * again after a millisecond at the latest.
 */
static int wait_for_room(struct vb_queue *q)
{
	struct __kernel_timespec ts = { .tv_nsec = 1000000 };
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit_and_wait_timeout(&q->ring, &cqe, 1, &ts, NULL);

	return ret == -ETIME ? 0 : ret;
}

/*
 * Takes the device's published configuration under cfg_lock. A log counts
 * only with LOG_ALL negotiated. The caller owns the map reference.
 */
static uint64_t read_config(struct vb_queue *q, struct vb_ring_addr *addr)
{
	struct vb_device *dev = q->dev;
	struct vb_dirty_log *log = dev->log;

	q->view.mem = vb_mem_get(dev->mem);
	q->view.log = (dev->features & (1ull << VHOST_F_LOG_ALL)) && log && log->bitmap ? log :
										      NULL;
	q->view.log_used = q->log_used;
	q->view.used_gpa = q->used_gpa;
	*addr = q->addr;
	return dev->cfg_gen;
}

/*
 * A safe point: no chain is being read. Adopts a newly published map (the
 * ring areas translated again from the front-end's addresses) and log, and
 * acknowledges. Requests in flight keep the map they started with. If the
 * new map no longer holds the ring, the ring breaks and keeps its old map.
 */
static void adopt_config(struct vb_queue *q)
{
	struct vb_device *dev = q->dev;
	struct vb_mem_table *old = q->view.mem;
	struct vb_ring_areas areas;
	struct vb_ring_addr addr;
	const char *err;
	uint64_t gen;

	if (__atomic_load_n(&dev->cfg_gen, __ATOMIC_ACQUIRE) == q->acked_gen)
		return;
	pthread_mutex_lock(&dev->cfg_lock);
	gen = read_config(q, &addr);
	pthread_mutex_unlock(&dev->cfg_lock);
	err = vb_vring_translate(q->view.mem, &addr, q->num, q->vring.packed, &areas);
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "after a memory map change: %s", err);
		mark_broken(q, why);
		vb_mem_put(q->view.mem);
		q->view.mem = old;
	} else {
		vb_vring_relocate(&q->vring, &areas);
		vb_mem_put(old);
	}
	pthread_mutex_lock(&dev->cfg_lock);
	q->acked_gen = gen;
	pthread_cond_broadcast(&dev->cfg_acked);
	pthread_mutex_unlock(&dev->cfg_lock);
}

static void *queue_thread(void *arg)
{
	struct vb_queue *q = arg;
	struct orphan_reads *orphans;

	arm_poll(q, q->kick_fd, TAG_KICK);
	arm_poll(q, q->wake_fd, TAG_WAKE);
	if (q->delay.timer_fd >= 0)
		arm_poll(q, q->delay.timer_fd, TAG_TIMER);
	if (q->kabort)
		arm_poll(q, q->kabort->event_fd, TAG_KABORT);
	resubmit_inflight(q);
	/* Entries made available before we started get no kick of their own. */
	fetch_all(q);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		bool fetch = false;
		int ret, stopping;

		adopt_config(q);
		/* First: the module may refuse requests, which then need publishing like any other. */
		if (q->kabort)
			vb_kabort_submit(q->kabort, kabort_finish, q);
		flush_used(q);
		stopping = __atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
		if (stopping == VB_STOP_SUSPEND && !q->suspending)
			begin_suspend(q);
		if (stopping && q->nbusy == 0)
			break;
		if (q->kabort && q->kabort->queued.head)
			ret = wait_for_room(q);
		else if (q->dev->poll_ns && poll_for_work(q))
			ret = io_uring_submit(&q->ring);
		else
			ret = io_uring_submit_and_wait(&q->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			vb_err("queue %u: io_uring: %s", q->index, strerror(-ret));
			mark_broken(q, "cannot wait for I/O");
		}
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			struct vb_blk_req *req = io_uring_cqe_get_data(cqe);

			seen++;
			if (tag <= TAG_MAX) {
				fetch |= notifier_event(q, cqe, tag);
				continue;
			}
			if (settle_suspended(q, req, cqe->res))
				continue;
			if (vb_uring_complete(&q->ring, &q->bounce, &q->dev->disk, io_flags(q), req,
					      cqe->res))
				finish_request(q, req);
		}
		io_uring_cq_advance(&q->ring, seen);
		if (fetch && !__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE))
			fetch_all(q);
	}
	orphans = hand_off_orphans(q);
	sem_post(&q->stopped);
	return orphans ? orphan_thread(orphans) : NULL;
}

int vb_queue_start(struct vb_queue *q)
{
	bool event_idx = q->dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	bool packed = q->dev->features & (1ull << VIRTIO_F_RING_PACKED);
	/* A kernel thread per ring polls the submission queue: no submit system calls. */
	struct io_uring_params params = {
		.flags = q->dev->sqpoll_idle_ms ? IORING_SETUP_SQPOLL : 0,
		.sq_thread_idle = q->dev->sqpoll_idle_ms,
	};
	struct vb_ring_areas areas;
	struct vb_ring_addr addr;
	const char *err;
	int ret;

	/* The worker is not running: nothing else adopts, but cfg_lock keeps the reads tidy. */
	pthread_mutex_lock(&q->dev->cfg_lock);
	q->acked_gen = read_config(q, &addr);
	pthread_mutex_unlock(&q->dev->cfg_lock);
	err = vb_vring_translate(q->view.mem, &addr, q->num, packed, &areas);
	if (err) {
		vb_err("queue %u: %s", q->index, err);
		ret = -EFAULT;
		goto fail_map;
	}
	q->reqs = calloc(q->num, sizeof(*q->reqs));
	if (!q->reqs) {
		ret = -ENOMEM;
		goto fail_map;
	}
	/* One SQE per request slot, plus our polls, their re-arms and a cancellation. */
	ret = io_uring_queue_init_params(q->num + 8, &q->ring, &params);
	if (ret < 0) {
		free(q->reqs);
		q->reqs = NULL;
		goto fail_map;
	}
	q->fixed_file = io_uring_register_files(&q->ring, &q->dev->disk.fd, 1) == 0;
	if (q->dev->engine.kind == VB_ENGINE_KABORT && !q->kabort) {
		q->kabort = malloc(sizeof(*q->kabort));
		ret = q->kabort ? vb_kabort_open(q->kabort, q->dev->disk.fd, KABORT_ORPHAN_WAIT_MS) :
				  -ENOMEM;
		if (ret < 0) {
			free(q->kabort);
			q->kabort = NULL;
			goto fail_ring;
		}
	}
	if (!vb_vring_start(&q->vring, q->num, event_idx, packed, areas.desc, areas.avail,
			    areas.used, q->base)) {
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
	q->nsuspended = 0;
	q->norphans = 0;
	q->suspending = false;
	q->orphaned = false;
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
fail_map:
	vb_mem_put(q->view.mem);
	q->view.mem = NULL;
	return ret;
}

static unsigned int stop_worker(struct vb_queue *q, enum vb_stop_mode mode)
{
	if (!q->running)
		return 0;
	__atomic_store_n(&q->stop, mode, __ATOMIC_RELEASE);
	vb_queue_wake(q);
	while (sem_wait(&q->stopped) < 0)
		;
	if (q->orphaned)
		pthread_detach(q->thread);
	else
		pthread_join(q->thread, NULL);
	q->running = false;
	/* The next back-end resumes at used->idx plus the requests it resubmits (split rings only). */
	q->base = vb_vring_base(&q->vring);
	if (q->nsuspended)
		q->base = (uint16_t)(q->base - q->nsuspended);
	vb_inflight_stop(&q->inflight);
	if (!q->orphaned) {
		io_uring_queue_exit(&q->ring);
		free(q->reqs);
	}
	vb_bounce_pool_drain(&q->bounce);
	q->reqs = NULL;
	vb_mem_put(q->view.mem);
	q->view.mem = NULL;
	q->view.log = NULL;
	vb_debug("queue %u stopped at vring base 0x%x, %u requests suspended, %u reads abandoned",
		 q->index, q->base, q->nsuspended, q->norphans);
	return q->nsuspended;
}

void vb_queue_stop(struct vb_queue *q)
{
	stop_worker(q, VB_STOP_DRAIN);
}

unsigned int vb_queue_suspend(struct vb_queue *q)
{
	return stop_worker(q, VB_STOP_SUSPEND);
}
