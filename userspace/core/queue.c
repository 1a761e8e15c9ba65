/* One virtqueue's worker: a thread with its own io_uring that fetches, submits and completes requests. */
#include "queue.h"

/*
 * A ring's life (enter() is the only place it changes):
 *
 *   STOPPED --start--> RUNNING --guest fault--> BROKEN
 *                         |                       |
 *                         +---stop requested------+--> QUIESCING --nothing busy--> STOPPED
 *
 * Invariants:
 * - Only the ring's runner (below) writes the used ring, the status bytes
 *   and the inflight region, from the worker's start to leave_ring(), the
 *   one way out, which publishes every completion, turns guest kicks back
 *   on and computes the base. The control thread reads them only once the
 *   worker posted `stopped`; an orphan thread never touches them.
 * - The call fd fires only while the ring is not STOPPED: from the worker
 *   (flush_used, and at its start an interrupt owed from a time without
 *   call fd), or from SET_VRING_CALL paying that debt on a running ring.
 * - Every request fetched is, at any time, with the engine (busy), published,
 *   or suspended inflight in the region for the next back-end; STOPPED
 *   means none is busy.
 * - Set-up fields change only while STOPPED, from the control thread, except
 *   used-ring logging (vb_queue_set_used_log), which, like the memory map
 *   and the dirty log, reaches a running worker by publication: the worker
 *   adopts it at the top of its loop (adopt_config) and acknowledges.
 */

/*
 * Who runs the ring (q->runner). The worker does, except that it lets go
 * while it sleeps in io_uring_enter waiting for a completion, having
 * submitted everything: then nothing of the ring is in use. A suspension
 * finding it so takes the ring over and quiesces it on the control thread,
 * which has the front-end's message in hand, so the reply waits for no
 * wake-up of the worker: on a machine whose idle CPUs sleep, one can take
 * milliseconds. The worker, woken, finds the ring taken, waits for
 * handed_back and leaves the way the control thread prepared.
 *
 *   WORKER --about to sleep--> PARKED --woken--> WORKER
 *                                 |
 *                                 +--suspension--> CONTROL --quiesced--> (worker leaves)
 *
 * Both changes out of PARKED are compare-and-swaps: exactly one side wins.
 */
enum vb_runner {
	VB_RUNNER_WORKER,	/* the worker is in its loop */
	VB_RUNNER_PARKED,	/* the worker sleeps in io_uring_enter and owns nothing */
	VB_RUNNER_CONTROL,	/* a suspension took the ring over */
};

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "util/clock.h"
#include "util/fence.h"
#include "core/poll_window.h"
#include "engine/engine.h"
#include "util/log.h"
#include "engine/uring_io.h"

/* user_data tags that are not request pointers (engine.h reserves up to VB_TAG_MAX). */
#define TAG_KICK 1
#define TAG_WAKE 2
#define TAG_ENGINE 3		/* the engine's poll fd */
#define TAG_CANCEL VB_TAG_CANCEL	/* cancel and poll-remove requests of our own */
#define TAG_MAX VB_TAG_MAX

int vb_queue_init(struct vb_queue *q, struct vb_device *dev, unsigned int index)
{
	const struct vb_engine_ops *ops = dev->engine.ops;
	int ret;

	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->index = index;
	q->ops = ops;
	q->kick_fd = q->call_fd = q->err_fd = -1;
	q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->wake_fd < 0)
		return -errno;
	q->ring = malloc(sizeof(*q->ring));
	q->engine = calloc(1, ops->queue_size);
	ret = q->engine && q->ring ? 0 : -ENOMEM;
	if (!ret && ops->init)
		ret = ops->init(q->engine, &dev->engine);
	if (ret < 0) {
		free(q->engine);
		free(q->ring);
		close(q->wake_fd);
		return ret;
	}
	pthread_mutex_init(&q->notify_lock, NULL);
	sem_init(&q->stopped, 0, 0);
	sem_init(&q->handed_back, 0, 0);
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

/*
 * Completions published while the front-end had no call fd still need their
 * interrupt, but only a running ring may interrupt the guest: a stopped one
 * keeps the debt for its next start.
 */
static void deliver_owed_call(struct vb_queue *q)
{
	pthread_mutex_lock(&q->notify_lock);
	if (q->call_missed && q->call_fd >= 0) {
		eventfd_write(q->call_fd, 1);
		q->call_missed = false;
	}
	pthread_mutex_unlock(&q->notify_lock);
}

void vb_queue_set_call_fd(struct vb_queue *q, int fd)
{
	replace_fd(q, &q->call_fd, fd);
	if (vb_queue_running(q))
		deliver_owed_call(q);
}

void vb_queue_stats(const struct vb_queue *q, struct vb_queue_stats *st)
{
	st->running = __atomic_load_n(&q->has_worker, __ATOMIC_RELAXED);
	st->busy = st->running ? __atomic_load_n(&q->nbusy, __ATOMIC_RELAXED) : 0;
	/* Once handed off, the reads are the device's orphan list's to count. */
	st->abandoned = st->running && !__atomic_load_n(&q->orphaned, __ATOMIC_RELAXED) ?
			__atomic_load_n(&q->io.norphans, __ATOMIC_RELAXED) : 0;
}

void vb_queue_set_err_fd(struct vb_queue *q, int fd)
{
	replace_fd(q, &q->err_fd, fd);
}

void vb_queue_destroy(struct vb_queue *q)
{
	if (vb_queue_running(q))
		vb_queue_stop(q);
	vb_queue_set_call_fd(q, -1);
	vb_queue_set_err_fd(q, -1);
	vb_queue_set_kick(q, -1);
	if (q->wake_fd >= 0)
		close(q->wake_fd);
	q->wake_fd = -1;
	if (q->ops->destroy)
		q->ops->destroy(q->engine);
	free(q->engine);
	q->engine = NULL;
	free(q->ring);
	q->ring = NULL;
	pthread_mutex_destroy(&q->notify_lock);
	sem_destroy(&q->stopped);
	sem_destroy(&q->handed_back);
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
	if (q->config.notify) {
		q->config.notify(q->config.notify_ctx, q->index);
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

static void mark_broken(struct vb_queue *q, const char *why);

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
		if (vb_inflight_complete_packed(&q->inflight, req->inflight_entry, idx, wrap) < 0) {
			/* Unrecorded, the used element would not survive a restart: publish nothing. */
			mark_broken(q, "the packed inflight region's chain links are corrupt");
		} else {
			vb_vring_push_used(&q->vring, req->chain.head, req->ndesc, len);
			vb_inflight_published_packed(&q->inflight, req->inflight_entry);
		}
	} else {
		vb_vring_push_used(&q->vring, req->chain.head, req->ndesc, len);
		vb_inflight_complete(&q->inflight, req->chain.head);
	}
	release_map(req);
	req->busy = false;
	q->nbusy--;
	q->need_publish = true;
}

static enum vb_ring_state state_of(const struct vb_queue *q)
{
	return __atomic_load_n(&q->state, __ATOMIC_ACQUIRE);
}

/* Every change of a ring's state, checked against the picture at the top of this file. */
static void enter(struct vb_queue *q, enum vb_ring_state to)
{
	static const unsigned int allowed_from[] = {
		[VB_RING_RUNNING] = 1u << VB_RING_STOPPED,
		[VB_RING_BROKEN] = 1u << VB_RING_RUNNING,
		[VB_RING_QUIESCING] = 1u << VB_RING_RUNNING | 1u << VB_RING_BROKEN,
		/* From RUNNING only when the worker could not be created. */
		[VB_RING_STOPPED] = 1u << VB_RING_QUIESCING | 1u << VB_RING_RUNNING,
	};

	assert(allowed_from[to] & (1u << state_of(q)));
	__atomic_store_n(&q->state, to, __ATOMIC_RELEASE);
}

bool vb_queue_running(const struct vb_queue *q)
{
	return state_of(q) != VB_RING_STOPPED;
}

/* The ring cannot go on: it fetches nothing more and tells the front-end; a stop ends it. */
static void mark_broken(struct vb_queue *q, const char *why)
{
	if (state_of(q) != VB_RING_RUNNING)
		return;
	enter(q, VB_RING_BROKEN);
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

/* Hands a parsed request to the engine; what parsing already settled is finished here. */
static void execute(struct vb_queue *q, struct vb_blk_req *req)
{
	if (req->op == VB_IO_NONE)
		finish_request(q, req);
	else
		q->ops->submit(q->engine, req);
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
	vb_blk_parse(&q->dev->blk, req);
	execute(q, req);
}

static void claim(struct vb_queue *q, struct vb_blk_req *req, uint16_t ndesc)
{
	req->busy = true;
	req->ndesc = ndesc;
	req->resubmitted = false;
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

/* Where every request the engine took comes back (engine.h). */
static void settle(void *ctx, struct vb_blk_req *req, enum vb_fate fate)
{
	struct vb_queue *q = ctx;

	switch (fate) {
	case VB_FATE_COMPLETED:
		finish_request(q, req);
		break;
	case VB_FATE_CANCELLED:
	case VB_FATE_ABANDONED:
	case VB_FATE_FENCED:
		suspend_request(q, req);
		break;
	case VB_FATE_WAITED:
		break;	/* still busy: the stop waits for its completion */
	}
}

/*
 * A stop was asked for: nothing more is fetched, and with VB_STOP_SUSPEND
 * the engine settles every request it holds with its fate; the drain waits
 * for them instead.
 */
static void begin_quiesce(struct vb_queue *q, int mode)
{
	if (mode == VB_STOP_SUSPEND && q->ops->suspend(q->engine) < 0)
		mark_broken(q, "the engine could not suspend its requests");
	enter(q, VB_RING_QUIESCING);
}

/* New requests are taken only from a healthy ring the front-end enabled and nobody stops. */
static bool fetching(const struct vb_queue *q)
{
	return state_of(q) == VB_RING_RUNNING && __atomic_load_n(&q->enabled, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
}

/* Request slots are indexed by descriptor head. */
static struct vb_blk_req *slot(const struct vb_queue *q, unsigned int head)
{
	return vb_engine_slot(&q->io, head);
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
	req = slot(q, head);
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
			    head >= q->num || slot(q, head)->busy) {
				mark_broken(q, "the packed inflight region lists a bad request");
				break;
			}
			slot(q, head)->inflight_entry = entry;
		}
		req = slot(q, head);
		claim(q, req, ndesc);
		req->resubmitted = true;
		start_request(q, req, head);
	}
	if (q->inflight.nresubmit)
		vb_info("queue %u: resubmitted %u requests left inflight", q->index,
			q->inflight.nresubmit);
	q->inflight.nresubmit = 0;
}

/*
 * Fetches until the ring is empty, with guest kicks off meanwhile. A worker
 * whose polling window is open leaves them off: it spins next, and turns
 * them back on only before it sleeps (poll_for_work). Turned on here, the
 * kick of a request the spin already fetched would turn them on again for
 * the next request, and every other request would kick.
 */
static void fetch_all(struct vb_queue *q)
{
	if (!fetching(q))
		return;
	do {
		vb_vring_disable_kicks(&q->vring);
		while (fetch_one(q))
			;
	} while (state_of(q) == VB_RING_RUNNING && !q->poll_window_ns &&
		 vb_vring_enable_kicks(&q->vring));
}

static void arm_poll(struct vb_queue *q, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe = vb_uring_sqe(q->ring, tag);

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

/* A kick, a wake-up or the engine's fd: returns true if the ring may have new requests. */
static bool notifier_event(struct vb_queue *q, const struct io_uring_cqe *cqe, uint64_t tag)
{
	if (tag == TAG_CANCEL)
		return false;
	/*
	 * A multishot poll reports every write to an eventfd, so the counters
	 * need no read (a system call per kick, about 8% of the thread at high
	 * rates).
	 */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_poll(q, tag == TAG_KICK ? q->kick_fd :
			    tag == TAG_WAKE ? q->wake_fd : q->ops->poll_fd(q->engine), tag);
	if (tag == TAG_ENGINE) {
		q->ops->reap(q->engine);
		return false;
	}
	return true;
}

/* Owns the io_uring of a suspended ring until the host is done with its abandoned reads. */
struct orphan_reads {
	struct vb_device *dev;
	struct vb_orphan rec;		/* which ring, how many reads: the device lists it */
	struct io_uring ring;
	struct vb_blk_req *reqs;
};

/*
 * Waits for count abandoned reads on ring, freeing their bounce buffers;
 * touches no guest memory. With give_up, returns early once it is set.
 */
static void reap_abandoned(struct io_uring *ring, unsigned int *count, const int *give_up)
{
	/* How often give_up is looked at. */
	struct __kernel_timespec tick = { .tv_nsec = 100000000 };

	/* Our notifier polls must stop: the eventfds now belong to the ring's next worker. */
	for (uint64_t tag = TAG_KICK; tag <= TAG_ENGINE; tag++) {
		struct io_uring_sqe *sqe = vb_uring_sqe(ring, TAG_CANCEL);

		if (sqe)
			io_uring_prep_poll_remove(sqe, tag);
	}
	while (__atomic_load_n(count, __ATOMIC_RELAXED) &&
	       !(give_up && __atomic_load_n(give_up, __ATOMIC_ACQUIRE))) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		if (give_up)
			io_uring_submit_and_wait_timeout(ring, &cqe, 1, &tick, NULL);
		else
			io_uring_submit_and_wait(ring, 1);
		io_uring_for_each_cqe(ring, head, cqe) {
			uint64_t tag = io_uring_cqe_get_data64(cqe);
			struct vb_blk_req *req = io_uring_cqe_get_data(cqe);

			seen++;
			if (tag > TAG_MAX && vb_uring_drop_abandoned(NULL, req)) {
				/* Atomic: the status line reads it from another thread. */
				__atomic_sub_fetch(count, 1, __ATOMIC_RELAXED);
			}
		}
		io_uring_cq_advance(ring, seen);
	}
}

static void *orphan_thread(struct orphan_reads *o)
{
	reap_abandoned(&o->ring, &o->rec.reads, NULL);
	vb_info("queue %u: the host finished every abandoned read of an orphaned ring",
		o->rec.queue);
	io_uring_queue_exit(&o->ring);
	free(o->reqs);
	vb_device_orphan_done(o->dev, &o->rec);
	free(o);
	return NULL;
}

/*
 * The ring is quiesced but the host still reads into abandoned bounce
 * buffers: the io_uring and the requests go with this thread, which frees
 * them once the host is done, so the ring can start again at once. Past the
 * device's limit of orphaned rings the reads are waited for here instead,
 * until the daemon exits; without memory, until they are done.
 */
static struct orphan_reads *hand_off_orphans(struct vb_queue *q)
{
	struct orphan_reads *o;

	if (!q->io.norphans)
		return NULL;
	o = malloc(sizeof(*o));
	if (!o) {
		reap_abandoned(q->ring, &q->io.norphans, NULL);
		return NULL;
	}
	*o = (struct orphan_reads){ .dev = q->dev,
				    .rec = { .queue = q->index, .reads = q->io.norphans } };
	while (!vb_device_orphan_begin(q->dev, &o->rec)) {
		reap_abandoned(q->ring, &q->io.norphans, &q->dev->exiting);
		if (!q->io.norphans) {
			free(o);
			return NULL;
		}
		o->rec.reads = q->io.norphans;
	}
	/* Only now: reaping above moves the io_uring's own copy of its queue heads. */
	o->ring = *q->ring;
	o->reqs = q->reqs;
	__atomic_store_n(&q->orphaned, true, __ATOMIC_RELAXED);
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
static bool poll_for_work(struct vb_queue *q, uint64_t window_ns)
{
	bool fetch = fetching(q);
	uint64_t end;

	if (io_uring_cq_ready(q->ring))
		return true;
	io_uring_submit(q->ring);
	if (fetch)
		vb_vring_disable_kicks(&q->vring);
	end = vb_now_ns() + window_ns;
	do {
		if (io_uring_cq_ready(q->ring))
			return true;
		if (fetch && vb_vring_avail_pending(&q->vring)) {
			while (fetch_one(q))
				;
			return true;
		}
		/*
		 * A completion may have to come from an io_uring worker
		 * thread on this CPU (tmpfs and buffered files: io_uring
		 * hands their I/O to iou-wrk, which inherits our affinity):
		 * spinning would delay it. With nothing else runnable the
		 * yield returns at once.
		 */
		if (q->nbusy)
			sched_yield();
		else
			cpu_relax();
	} while (vb_now_ns() < end);
	if (fetch && vb_vring_enable_kicks(&q->vring)) {
		fetch_all(q);
		return true;
	}
	return io_uring_cq_ready(q->ring) > 0;
}

/*
 * Submits what is queued, then sleeps until a completion with the ring let
 * go (enum vb_runner). Returns false if a suspension took the ring over
 * meanwhile: the caller then touches nothing of q until handed_back.
 */
static bool park(struct vb_queue *q, int *ret)
{
	int parked = VB_RUNNER_PARKED;

	*ret = io_uring_submit(q->ring);
	if (*ret < 0 || io_uring_cq_ready(q->ring))
		return true;
	__atomic_store_n(&q->runner, VB_RUNNER_PARKED, __ATOMIC_RELEASE);
	/* Only the system call: liburing's wrappers would touch the rings. */
	*ret = io_uring_enter(q->ring->ring_fd, 0, 1, IORING_ENTER_GETEVENTS, NULL);
	return __atomic_compare_exchange_n(&q->runner, &parked, VB_RUNNER_WORKER, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * Spins for the queue's current window (none right after a long sleep),
 * then parks; the time until work came sets the next window. False as for
 * park().
 */
static bool poll_then_wait(struct vb_queue *q, int *ret)
{
	uint64_t start = vb_now_ns();

	if (q->poll_window_ns && poll_for_work(q, q->poll_window_ns)) {
		*ret = io_uring_submit(q->ring);
		return true;
	}
	if (!park(q, ret))
		return false;
	q->poll_window_ns = vb_poll_window_next(q->poll_window_ns, q->dev->poll_ns,
						vb_now_ns() - start);
	return true;
}

/*
 * The engine is full (backlogged). Its room comes back as requests complete,
 * but some complete without a word: look again after a millisecond at the
 * latest.
 */
static int wait_for_room(struct vb_queue *q)
{
	struct __kernel_timespec ts = { .tv_nsec = 1000000 };
	struct io_uring_cqe *cqe;
	int ret = io_uring_submit_and_wait_timeout(q->ring, &cqe, 1, &ts, NULL);

	return ret == -ETIME ? 0 : ret;
}

/*
 * The one way out of a running ring, in the worker: what finished, even in
 * the suspension itself (an engine reporting requests completed), is
 * published before the reply, so each fetched request is published or
 * inflight, never both; kicks go back on whatever the worker was doing
 * (polling turns them off); and the base is what the next back-end resumes
 * from: the next index to fetch, less the requests it will resubmit (split
 * rings only suspend).
 */
static void leave_ring(struct vb_queue *q)
{
	flush_used(q);
	vb_vring_enable_kicks(&q->vring);
	q->base = vb_vring_base(&q->vring);
	if (q->nsuspended)
		q->base = (uint16_t)(q->base - q->nsuspended);
	enter(q, VB_RING_STOPPED);
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
	q->view.log_used = q->config.log_used;
	q->view.used_gpa = q->config.used_gpa;
	*addr = q->config.addr;
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

enum vb_turn {
	VB_TURN_AGAIN,
	VB_TURN_QUIESCED,	/* stopping, and nothing is busy any more */
	VB_TURN_TAKEN,		/* a suspension took the ring from the parked worker */
};

/*
 * One round of the ring: adopt a new configuration, publish, heed a stop,
 * wait, complete and fetch. The worker's rounds may park (and so lose the
 * ring); a control thread that took it over waits plainly.
 */
static enum vb_turn run_turn(struct vb_queue *q, bool worker)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	bool fetch = false;
	int ret, stop;

	adopt_config(q);
	/* First: the engine may refuse requests, which then need publishing like any other. */
	if (q->ops->flush)
		q->ops->flush(q->engine);
	flush_used(q);
	stop = __atomic_load_n(&q->stop, __ATOMIC_ACQUIRE);
	if (stop && state_of(q) != VB_RING_QUIESCING)
		begin_quiesce(q, stop);
	if (state_of(q) == VB_RING_QUIESCING && q->nbusy == 0)
		return VB_TURN_QUIESCED;
	if (q->ops->backlogged && q->ops->backlogged(q->engine))
		ret = wait_for_room(q);
	else if (!worker)
		ret = io_uring_submit_and_wait(q->ring, 1);
	else if (!(q->dev->poll_ns ? poll_then_wait(q, &ret) : park(q, &ret)))
		return VB_TURN_TAKEN;
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		vb_err("queue %u: io_uring: %s", q->index, strerror(-ret));
		mark_broken(q, "cannot wait for I/O");
	}
	io_uring_for_each_cqe(q->ring, head, cqe) {
		uint64_t tag = io_uring_cqe_get_data64(cqe);
		struct vb_blk_req *req = io_uring_cqe_get_data(cqe);

		seen++;
		if (tag <= TAG_MAX) {
			fetch |= notifier_event(q, cqe, tag);
			continue;
		}
		q->ops->complete(q->engine, req, cqe->res);
	}
	io_uring_cq_advance(q->ring, seen);
	if (fetch)
		fetch_all(q);
	return VB_TURN_AGAIN;
}

/*
 * The ring is quiesced: leaves it, keeps in q->exit what the worker takes
 * with it, and tells the notice. Past the device's limit of orphaned rings,
 * hand_off_orphans waits for the abandoned reads: the reply too.
 */
static void finish_quiesce(struct vb_queue *q)
{
	leave_ring(q);
	q->exit.fence_batch = q->io.fence_batch;
	q->exit.orphans = hand_off_orphans(q);
	if (q->notice)
		q->notice->quiesced(q->notice, q->base);
}

static void *queue_thread(void *arg)
{
	struct vb_queue *q = arg;
	struct orphan_reads *orphans;
	enum vb_turn turn;
	bool fence_batch;

	arm_poll(q, q->kick_fd, TAG_KICK);
	arm_poll(q, q->wake_fd, TAG_WAKE);
	if (q->ops->poll_fd && q->ops->poll_fd(q->engine) >= 0)
		arm_poll(q, q->ops->poll_fd(q->engine), TAG_ENGINE);
	deliver_owed_call(q);
	resubmit_inflight(q);
	/* Entries made available before we started get no kick of their own. */
	fetch_all(q);
	while ((turn = run_turn(q, true)) == VB_TURN_AGAIN)
		;
	if (turn == VB_TURN_QUIESCED)
		finish_quiesce(q);
	else
		while (sem_wait(&q->handed_back) < 0)
			;
	orphans = q->exit.orphans;
	fence_batch = q->exit.fence_batch;
	sem_post(&q->stopped);
	/* Only now, off the reply's path: the lock over the whole disk shrinks to the writes'. */
	if (fence_batch)
		vb_fence_batch_end(&q->dev->disk.fences);
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
	void *region = q->config.inflight_region;
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
	q->reqs = calloc(q->num, vb_blk_req_slot_size(q->ops->req_size));
	if (!q->reqs) {
		ret = -ENOMEM;
		goto fail_map;
	}
	/* One SQE per request slot, plus our polls, their re-arms and a cancellation. */
	ret = io_uring_queue_init_params(q->num + 8, q->ring, &params);
	if (ret < 0) {
		free(q->reqs);
		q->reqs = NULL;
		goto fail_map;
	}
	q->io = (struct vb_engine_io){
		.ring = q->ring, .bounce = &q->bounce, .disk = &q->dev->disk,
		.flags = q->config.bounce_reads ? VB_URING_BOUNCE_READS : 0,
		.bounce_max = q->dev->bounce_max,
		.writeback = &q->dev->writeback, .nbusy = &q->nbusy,
		.reqs = q->reqs, .nreqs = q->num,
		.slot_size = vb_blk_req_slot_size(q->ops->req_size),
		.settle = settle, .ctx = q,
	};
	if (io_uring_register_files(q->ring, &q->dev->disk.fd, 1) == 0)
		q->io.flags |= VB_URING_FIXED_FILE;
	ret = q->ops->start(q->engine, &q->io);
	if (ret < 0)
		goto fail_ring;
	if (!vb_vring_start(&q->vring, q->num, event_idx, packed, areas.desc, areas.avail,
			    areas.used, q->base)) {
		vb_err("queue %u: vring base 0x%x does not fit a %u-entry ring", q->index, q->base,
		       q->num);
		ret = -EINVAL;
		goto fail_ring;
	}
	if (region && packed) {
		ret = vb_inflight_start_packed(&q->inflight, region, q->config.inflight_size,
					       &q->vring, q->dev->features);
		if (ret < 0)
			goto fail_ring;
	} else if (region) {
		ret = vb_inflight_start(&q->inflight, region, q->config.inflight_size, q->num,
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
	q->orphaned = false;
	q->need_publish = false;
	q->unpublished = 0;
	__atomic_store_n(&q->stop, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&q->runner, VB_RUNNER_WORKER, __ATOMIC_RELAXED);
	q->exit.orphans = NULL;
	q->exit.fence_batch = false;
	drain_eventfd(q->wake_fd);
	enter(q, VB_RING_RUNNING);
	__atomic_store_n(&q->has_worker, 1, __ATOMIC_RELAXED);
	ret = pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret) {
		__atomic_store_n(&q->has_worker, 0, __ATOMIC_RELAXED);
		enter(q, VB_RING_STOPPED);
		ret = -ret;
		vb_inflight_stop(&q->inflight);
		goto fail_ring;
	}
	vb_debug("queue %u started: %u entries%s from avail index %u", q->index, q->num,
		 packed ? " (packed)" : "", q->vring.last_avail_idx);
	return 0;
fail_ring:
	io_uring_queue_exit(q->ring);
	free(q->reqs);
	q->reqs = NULL;
fail_map:
	vb_mem_put(q->view.mem);
	q->view.mem = NULL;
	return ret;
}

/*
 * On the control thread, holding the ring a suspension took from its parked
 * worker: quiesces it as the worker would have (the reply goes out from
 * here) and ends the fence batch, then wakes the worker, still asleep in
 * io_uring_enter on the ring it leaves with, and hands back.
 */
static void quiesce_taken_over(struct vb_queue *q)
{
	struct io_uring *ring;
	struct io_uring_sqe *sqe;

	vb_debug("queue %u: suspending on the control thread, its worker asleep", q->index);
	while (run_turn(q, false) == VB_TURN_AGAIN)
		;
	finish_quiesce(q);
	/* After the reply, but not after the worker's wake-up: the lock over the whole disk shrinks now. */
	if (q->exit.fence_batch) {
		vb_fence_batch_end(&q->dev->disk.fences);
		q->exit.fence_batch = false;
	}
	ring = q->exit.orphans ? &q->exit.orphans->ring : q->ring;
	sqe = vb_uring_sqe(ring, TAG_WAKE);
	if (sqe)
		io_uring_prep_nop(sqe);
	else
		vb_err("queue %u: no io_uring entry to wake the worker after a suspension", q->index);
	io_uring_submit(ring);
	sem_post(&q->handed_back);
}

static unsigned int stop_worker(struct vb_queue *q, enum vb_stop_mode mode,
				struct vb_quiesce_notice *notice)
{
	int parked = VB_RUNNER_PARKED;

	if (!vb_queue_running(q))
		return 0;
	q->notice = notice;
	__atomic_store_n(&q->stop, mode, __ATOMIC_RELEASE);
	/* A drain waits for the storage anyway: the worker's wake-up costs it nothing. */
	if (mode == VB_STOP_SUSPEND &&
	    __atomic_compare_exchange_n(&q->runner, &parked, VB_RUNNER_CONTROL, false,
					__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		quiesce_taken_over(q);
	else
		vb_queue_wake(q);
	while (sem_wait(&q->stopped) < 0)
		;
	q->notice = NULL;
	__atomic_store_n(&q->has_worker, 0, __ATOMIC_RELAXED);
	if (q->orphaned)
		pthread_detach(q->thread);
	else
		pthread_join(q->thread, NULL);
	vb_inflight_stop(&q->inflight);
	if (!q->orphaned) {
		io_uring_queue_exit(q->ring);
		free(q->reqs);
	}
	vb_bounce_pool_drain(&q->bounce);
	q->reqs = NULL;
	vb_mem_put(q->view.mem);
	q->view.mem = NULL;
	q->view.log = NULL;
	vb_debug("queue %u stopped at vring base 0x%x, %u requests suspended, %u reads abandoned",
		 q->index, q->base, q->nsuspended, q->io.norphans);
	return q->nsuspended;
}

void vb_queue_stop(struct vb_queue *q)
{
	stop_worker(q, VB_STOP_DRAIN, NULL);
}

unsigned int vb_queue_suspend(struct vb_queue *q, struct vb_quiesce_notice *notice)
{
	return stop_worker(q, VB_STOP_SUSPEND, notice);
}

int vb_queue_set_num(struct vb_queue *q, uint16_t num)
{
	if (vb_queue_running(q))
		return -EBUSY;
	q->num = num;
	return 0;
}

uint16_t vb_queue_num(const struct vb_queue *q)
{
	return q->num;
}

int vb_queue_set_base(struct vb_queue *q, uint32_t base)
{
	if (vb_queue_running(q))
		return -EBUSY;
	q->base = base;
	return 0;
}

uint32_t vb_queue_base(const struct vb_queue *q)
{
	return q->base;
}

int vb_queue_set_kick(struct vb_queue *q, int fd)
{
	if (vb_queue_running(q))
		return -EBUSY;
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	q->kick_fd = fd;
	return 0;
}

bool vb_queue_has_kick(const struct vb_queue *q)
{
	return q->kick_fd >= 0;
}

int vb_queue_configure(struct vb_queue *q, const struct vb_ring_config *c)
{
	if (vb_queue_running(q))
		return -EBUSY;
	q->config = *c;
	return 0;
}

void vb_queue_set_used_log(struct vb_queue *q, bool log_used, uint64_t used_gpa)
{
	pthread_mutex_lock(&q->dev->cfg_lock);
	q->config.log_used = log_used;
	q->config.used_gpa = used_gpa;
	pthread_mutex_unlock(&q->dev->cfg_lock);
}

const char *vb_queue_cannot_suspend(const struct vb_queue *q)
{
	if (!(q->config.inflight_region && q->config.bounce_reads))
		return "it has no inflight region to suspend into";
	/* No front-end can hand a packed ring's region on yet, so nothing has tested that path. */
	if (q->vring.packed)
		return "it is packed (suspension is for split rings)";
	return NULL;
}

void vb_queue_reset(struct vb_queue *q)
{
	vb_queue_stop(q);
	vb_queue_set_kick(q, -1);
	vb_queue_set_call_fd(q, -1);
	vb_queue_set_err_fd(q, -1);
	q->call_missed = false;
	__atomic_store_n(&q->enabled, 0, __ATOMIC_RELAXED);
	q->num = 0;
	q->base = 0;
}
