/* kabort I/O engine: batching requests into a vbabort context, reaping them, and aborting them on suspension. */
#include "kabort_io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "uring_req.h"

static int open_device(void)
{
	int fd = open(VB_KABORT_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		vb_err("--engine kabort: %s does not exist: load the vbabort kernel module (modprobe vbabort, or insmod vbabort.ko)",
		       VB_KABORT_DEVICE);
	else if (fd < 0)
		vb_err("--engine kabort: %s: %s", VB_KABORT_DEVICE, strerror(errno));
	return fd < 0 ? -errno : fd;
}

/* The module must speak our ABI version or a later one (which serves ours as it was). */
static int check_version(int fd, struct vbabort_version *v)
{
	memset(v, 0, sizeof(*v));
	if (ioctl(fd, VBABORT_IOC_VERSION, v) < 0) {
		vb_err("--engine kabort: VBABORT_IOC_VERSION: %s", strerror(errno));
		return -errno;
	}
	if (v->abi_version < VBABORT_ABI_VERSION) {
		vb_err("--engine kabort: the vbabort module has ABI %u, vbridge needs %u or later: load the module built with this vbridge",
		       v->abi_version, VBABORT_ABI_VERSION);
		return -EPROTO;
	}
	return 0;
}

int vb_kabort_probe(void)
{
	struct vbabort_version v;
	int fd = open_device(), ret;

	if (fd < 0)
		return fd;
	ret = check_version(fd, &v);
	close(fd);
	return ret;
}

int vb_kabort_open(struct vb_kabort *k, int disk_fd, const uint8_t *writeback)
{
	struct vbabort_version v;
	/*
	 * Writes read guest memory in place, as the uring engine's O_DIRECT
	 * writes do: the guest does not touch a buffer before its completion,
	 * and a write left running at a stop is fenced either way.
	 */
	struct vbabort_bind b = { .abi_version = VBABORT_ABI_VERSION, .fd = disk_fd,
				  .queue_depth = VBABORT_MAX_REQS, .flags = VBABORT_BIND_DIRECT_WRITES };
	int ret;

	k->queued = (struct vb_req_list){ NULL, NULL };
	k->nfenced = 0;
	k->signalled = false;
	k->owned = 0;
	k->calls = k->requests = 0;
	k->writeback = writeback;
	k->event_fd = -1;
	k->fd = open_device();
	if (k->fd < 0)
		return k->fd;
	ret = check_version(k->fd, &v);
	if (ret < 0)
		goto fail;
	k->max_io_bytes = v.max_io_bytes;
	/*
	 * The queue polls this, not the context: an io_uring poll holds a
	 * reference to its file, and a context released only when a killed
	 * daemon's ring is torn down would turn its writes into fences too late
	 * for the successor.
	 */
	k->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->event_fd < 0) {
		ret = -errno;
		goto fail;
	}
	b.eventfd = k->event_fd;
	if (ioctl(k->fd, VBABORT_IOC_BIND, &b) < 0) {
		ret = -errno;
		vb_err("--engine kabort: binding the disk: %s%s", strerror(errno),
		       errno == ENOTBLK ? " (the disk must be a block device)" : "");
		goto fail;
	}
	/*
	 * A killed predecessor's writes may still be running; the module (ABI 3)
	 * holds back each of ours that overlaps one until it ends, so nothing
	 * waits here.
	 */
	k->logical_block = b.logical_block_size;
	return 0;
fail:
	vb_kabort_close(k);
	return ret;
}

void vb_kabort_close(struct vb_kabort *k)
{
	if (k->fd >= 0 && k->requests)
		vb_info("kabort: %llu requests in %llu SUBMIT_REAP calls", k->requests, k->calls);
	if (k->fd >= 0)
		close(k->fd);
	if (k->event_fd >= 0)
		close(k->event_fd);
	k->fd = k->event_fd = -1;
}

bool vb_kabort_fits(const struct vb_kabort *k, const struct vb_blk_req *req)
{
	uint64_t align = k->logical_block;

	switch (req->op) {
	case VB_IO_READ:
	case VB_IO_WRITE:
		if (req->niov == 0 || req->niov > VBABORT_MAX_SEGS || req->len > k->max_io_bytes ||
		    req->len % align || req->offset % align)
			return false;
		for (unsigned int i = 0; i < req->niov; i++) {
			if (req->iov[i].iov_len == 0)
				return false;
		}
		return true;
	case VB_IO_DISCARD:
	case VB_IO_WRITE_ZEROES:
		return req->len && (req->len >> 9) <= (UINT32_MAX >> 9) && req->len % align == 0 &&
		       req->offset % align == 0;
	case VB_IO_FLUSH:
		return true;
	case VB_IO_NONE:
		break;
	}
	return false;
}

void vb_kabort_queue(struct vb_kabort *k, struct vb_blk_req *req)
{
	vb_req_list_push(&k->queued, req);
}

struct vb_blk_req *vb_kabort_take_queued(struct vb_kabort *k)
{
	return vb_req_list_take(&k->queued);
}

static void describe(struct vb_kabort *k, unsigned int i, const struct vb_blk_req *req)
{
	struct vbabort_req *r = &k->batch[i];
	static const uint16_t ops[] = {
		[VB_IO_READ] = VBABORT_OP_READ, [VB_IO_WRITE] = VBABORT_OP_WRITE,
		[VB_IO_FLUSH] = VBABORT_OP_FLUSH, [VB_IO_DISCARD] = VBABORT_OP_DISCARD,
		[VB_IO_WRITE_ZEROES] = VBABORT_OP_WRITE_ZEROES,
	};

	memset(r, 0, sizeof(*r));
	r->tag = (uint64_t)(uintptr_t)req;
	r->op = ops[req->op];
	if (req->op == VB_IO_FLUSH)
		return;
	r->sector = req->offset >> 9;
	if (req->op == VB_IO_DISCARD || req->op == VB_IO_WRITE_ZEROES) {
		r->nr_sectors = req->len >> 9;
		return;
	}
	for (unsigned int s = 0; s < req->niov; s++)
		k->iov[i][s] = (struct vbabort_iovec){ (uint64_t)(uintptr_t)req->iov[s].iov_base,
						       req->iov[s].iov_len };
	r->iov = (uint64_t)(uintptr_t)k->iov[i];
	r->iov_cnt = req->niov;
	/* Write-through cache mode: as uring_io.c's RWF_DSYNC, durable before it completes. */
	if (req->op == VB_IO_WRITE && !__atomic_load_n(k->writeback, __ATOMIC_RELAXED))
		r->flags = VBABORT_REQ_FUA;
}

/* Discard is a hint: a device that cannot discard has done what was asked. */
static uint8_t status_of(const struct vb_blk_req *req, int result)
{
	if (req->op == VB_IO_DISCARD && result == -EOPNOTSUPP)
		return VIRTIO_BLK_S_OK;
	return vb_blk_status_from_errno(result);
}

void vb_kabort_signalled(struct vb_kabort *k)
{
	/* The counter stays set: a completion SUBMIT_REAP already took still wakes us. */
	if (k->owned)
		k->signalled = true;
}

static void finish_cqes(struct vb_kabort *k, int n,
			void (*finish)(void *ctx, struct vb_blk_req *req), void *ctx)
{
	for (int i = 0; i < n; i++) {
		struct vb_blk_req *req = (void *)(uintptr_t)k->cqes[i].tag;

		/* A fenced write landing: it was left inflight, the ring knows nothing of it. */
		if (vb_uring_req(req)->abandoned) {
			k->nfenced--;
			continue;
		}
		req->status = status_of(req, k->cqes[i].result);
		finish(ctx, req);
	}
}

/* Takes the submitted requests off the FIFO; a refused one is finished with its reason. */
static bool account_submitted(struct vb_kabort *k, const struct vbabort_submit_reap *sr,
			      void (*finish)(void *ctx, struct vb_blk_req *req), void *ctx)
{
	struct vb_blk_req *req;

	k->requests += sr->submitted;
	k->owned += sr->submitted;
	for (uint32_t i = 0; i < sr->submitted; i++)
		vb_req_list_pop(&k->queued);
	if (sr->error == -EAGAIN)
		return false;		/* the context is full: after the next completions */
	if (sr->error && sr->error != -EINTR) {
		req = vb_req_list_pop(&k->queued);
		vb_warn("kabort: request at byte %llu refused: %s",
			(unsigned long long)req->offset, strerror(-sr->error));
		req->status = status_of(req, sr->error);
		finish(ctx, req);
	}
	return true;
}

void vb_kabort_flush(struct vb_kabort *k, void (*finish)(void *ctx, struct vb_blk_req *req),
		     void *ctx)
{
	bool more_reqs = k->queued.head != NULL;

	while (more_reqs || k->signalled) {
		struct vbabort_submit_reap sr = { .reqs = (uint64_t)(uintptr_t)k->batch,
						  .cqes = (uint64_t)(uintptr_t)k->cqes,
						  .nr_cqes = VBABORT_MAX_BATCH };
		int n, err;

		if (more_reqs) {
			for (struct vb_blk_req *req = k->queued.head; req && sr.nr_reqs < VBABORT_MAX_BATCH;
			     req = vb_req_next(req))
				describe(k, sr.nr_reqs++, req);
		}
		k->signalled = false;
		k->calls++;
		n = ioctl(k->fd, VBABORT_IOC_SUBMIT_REAP, &sr);
		err = n < 0 ? errno : 0;
		/* Failed before submitting anything: the first request gets the reason. */
		if (err && sr.nr_reqs && !sr.submitted && !sr.error)
			sr.error = -err;
		else if (err && err != EINTR)
			vb_err("kabort: VBABORT_IOC_SUBMIT_REAP: %s", strerror(err));
		/* Otherwise the submission's outcome is written back even when the reaping failed. */
		more_reqs = account_submitted(k, &sr, finish, ctx) && k->queued.head;
		finish_cqes(k, n, finish, ctx);
		k->owned -= n > 0 ? n : 0;
		/* A full array may have left completions behind. */
		k->signalled = n == VBABORT_MAX_BATCH || err == EINTR;
	}
}

int vb_kabort_abort(struct vb_kabort *k,
		    void (*settle)(void *ctx, struct vb_blk_req *req, enum vb_fate fate), void *ctx)
{
	struct vbabort_abort a = { .fates = (uint64_t)(uintptr_t)k->cqes, .nr = VBABORT_MAX_REQS };
	int n;

	/* No wait for writes here: the queue's loop waits for them, reaping as usual. */
	do
		n = ioctl(k->fd, VBABORT_IOC_ABORT, &a);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		vb_err("kabort: VBABORT_IOC_ABORT: %s", strerror(errno));
		return -errno;
	}
	/* What is still running stays owned, to be reaped. */
	k->owned -= a.count[VBABORT_FATE_COMPLETED] + a.count[VBABORT_FATE_CANCELLED] +
		    a.count[VBABORT_FATE_ABANDONED];
	for (int i = 0; i < n; i++) {
		struct vb_blk_req *req = (void *)(uintptr_t)k->cqes[i].tag;

		switch (k->cqes[i].fate) {
		case VBABORT_FATE_COMPLETED:
			req->status = status_of(req, k->cqes[i].result);
			settle(ctx, req, VB_FATE_COMPLETED);
			break;
		case VBABORT_FATE_CANCELLED:
			settle(ctx, req, VB_FATE_CANCELLED);
			break;
		case VBABORT_FATE_ABANDONED:
			settle(ctx, req, VB_FATE_ABANDONED);
			break;
		default:
			/* The module holds back what overlaps a write from now on; a flush is waited for. */
			if (req->op == VB_IO_FLUSH) {
				settle(ctx, req, VB_FATE_WAITED);
				break;
			}
			vb_uring_req(req)->abandoned = true;
			k->nfenced++;
			settle(ctx, req, VB_FATE_FENCED);
			break;
		}
	}
	return 0;
}
