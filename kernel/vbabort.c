// SPDX-License-Identifier: GPL-2.0
/* /dev/vbabort: block I/O through kernel bounce pages, so in-flight requests can be aborted. */

#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/vbabort.h>

#define VBA_MAX_PAGES	(VBABORT_MAX_IO_BYTES / PAGE_SIZE)
/*
 * Bounce pages a context keeps for reuse: allocating fresh ones costs a
 * clearing each with init_on_alloc, which Debian enables.
 */
#define VBA_POOL_PAGES	256
/*
 * Requests a context keeps for reuse: a fresh one costs a slab allocation
 * and, with init_on_alloc, the clearing of its 1.5 KiB.
 */
#define VBA_POOL_REQS	64
/* A discard or write-zeroes request's size must fit bi_size. */
#define VBA_MAX_RANGE_SECTORS	(UINT_MAX >> SECTOR_SHIFT)

/*
 * A request lives on exactly one list: its context's pending (accepted, not
 * handed to the block layer), issued (bio submitted) or done (completed,
 * waiting for REAP), or its disk's parked (accepted, held back by a fence).
 * An abandoned read stays on the issued list until its bio completes, and is
 * then freed by the completion, never reported. Freed requests go back to
 * their context's pool; vba_req_get() and vba_req_build() set every field a
 * request uses, so nothing is cleared whole.
 */
struct vba_req {
	struct list_head node;
	struct vba_ctx *ctx;
	u64 tag;
	int result;
	u16 op;
	bool abandoned;
	/* On its disk's fences list; both under the disk's and the context's lock. */
	bool fenced;
	struct list_head fence_node;
	/* The sectors it reaches on the whole disk; none for a flush. */
	sector_t first;
	sector_t nr_sects;
	unsigned int len;
	unsigned int nr_pages;	/* bounce pages, bvecs[0..nr_pages) one each */
	unsigned int pinned;	/* bounce pages counted against the limits */
	unsigned int nr_segs;
	struct iovec iov[VBABORT_MAX_SEGS];
	/* Initialised for each use; no bio_alloc, no separate allocation. */
	struct bio bio;
	struct bio_vec bvecs[VBA_MAX_PAGES];
};

/*
 * What every context bound to sectors of one disk shares (a partition and
 * its disk share one): the write-like requests whose owner no longer waits
 * for them, and the requests held back until those end. One per gendisk, in
 * vba_disks.
 */
struct vba_disk {
	struct list_head node;		/* in vba_disks, under vba_disks_mutex */
	struct gendisk *gendisk;	/* the key; bound contexts keep it alive */
	unsigned int users;		/* bound contexts, under vba_disks_mutex */

	/*
	 * Taken from bi_end_io, so irq-safe; when both are needed it is taken
	 * before a context's lock. Protects the two lists, each request's
	 * fenced flag and nr_parked.
	 *
	 * fences: issued write, discard and write-zeroes requests that ABORT
	 * reported unfenced or whose context was released, until their bio
	 * completes. parked: requests, in SUBMIT order, that overlap a fence
	 * or an earlier parked request; unpark_work hands them to their
	 * contexts as that clears.
	 */
	spinlock_t lock;
	struct list_head fences;
	struct list_head parked;
	struct work_struct unpark_work;
};

struct vba_ctx {
	/*
	 * One reference for the open file and one per bio in flight; the last
	 * put hands the context to free_work, as it may come from bi_end_io.
	 */
	refcount_t refs;
	struct work_struct free_work;
	/* Issues pending requests as earlier bios complete. */
	struct work_struct issue_work;

	/*
	 * Serialises BIND, SUBMIT and ABORT. The binding below is written once
	 * under it, bdev_file last with release semantics, so REAP and
	 * WAIT_ORPHANS (which must not wait behind an ABORT) check bdev_file
	 * with acquire semantics and then read the rest without the mutex.
	 */
	struct mutex mutex;
	struct file *bdev_file;
	struct eventfd_ctx *evfd;
	bool readonly;
	bool direct_writes;	/* VBABORT_BIND_DIRECT_WRITES */
	u32 abi_version;
	unsigned int depth;
	unsigned int lbs;
	/*
	 * The binding's extent on the whole disk: a partition and its disk
	 * share the sectors, so orphans are matched on these, not on dev_t.
	 */
	struct gendisk *disk;
	sector_t start;
	sector_t nr_sects;
	/* Fences and parked requests on that disk; set at BIND. */
	struct vba_disk *vdisk;
	/* The address space SUBMIT recorded user buffers in; REAP copies into it. */
	struct mm_struct *mm;

	/*
	 * Taken from bi_end_io, so irq-safe. Protects the three lists, the
	 * page and request pools, the counters, and closing.
	 */
	spinlock_t lock;
	struct list_head pending;
	struct list_head issued;
	struct list_head done;
	/*
	 * Reused bounce pages, linked through page->lru. Only this context's
	 * requests get them back, and a request only ever exposes bytes its
	 * device or its user wrote into them.
	 */
	struct list_head free_pages;
	unsigned int nr_free_pages;
	/* Reused requests, linked through node; bounded by VBA_POOL_REQS. */
	struct list_head free_reqs;
	unsigned int nr_free_reqs;
	unsigned int nr_reqs;	/* allocated requests, abandoned ones included */
	unsigned int nr_pinned;	/* bounce pages its requests hold */
	unsigned int nr_issued;	/* bios in flight */
	unsigned int nr_done;
	bool closing;		/* file released: issue nothing more */

	/* Woken on every completion: REAP, poll and ABORT wait here. */
	wait_queue_head_t wait;

	/* On vba_closed, under vba_closed_lock, from release to free. */
	struct list_head closed_node;
};

static struct kmem_cache *vba_req_cache;
static struct workqueue_struct *vba_wq;

/* Every vba_disk with a bound context; the mutex also guards their users. */
static LIST_HEAD(vba_disks);
static DEFINE_MUTEX(vba_disks_mutex);

/* Module-wide totals, read-only parameters so that leaks are visible. */
static atomic_t vba_nr_reqs = ATOMIC_INIT(0);
static atomic_t vba_nr_pages = ATOMIC_INIT(0);
static atomic_t vba_nr_pinned = ATOMIC_INIT(0);
static atomic_t vba_nr_fences = ATOMIC_INIT(0);
static atomic_t vba_nr_parked = ATOMIC_INIT(0);

static int vba_counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(kp->arg));
}

static const struct kernel_param_ops vba_counter_ops = {
	.get = vba_counter_get,
};

module_param_cb(requests, &vba_counter_ops, &vba_nr_reqs, 0444);
MODULE_PARM_DESC(requests, "Requests allocated, abandoned and pooled ones included");
module_param_cb(bounce_pages, &vba_counter_ops, &vba_nr_pages, 0444);
MODULE_PARM_DESC(bounce_pages, "Bounce pages allocated");
module_param_cb(pinned_pages, &vba_counter_ops, &vba_nr_pinned, 0444);
MODULE_PARM_DESC(pinned_pages, "Bounce pages held by requests, counted against the limits");
module_param_cb(fences, &vba_counter_ops, &vba_nr_fences, 0444);
MODULE_PARM_DESC(fences, "Abandoned write-like bios still in flight, holding back overlapping requests");
module_param_cb(parked, &vba_counter_ops, &vba_nr_parked, 0444);
MODULE_PARM_DESC(parked, "Requests held back until the fences they overlap end");

/*
 * Limits on bounce pages held by requests (pooled ones are bounded by
 * VBA_POOL_PAGES). Each is at least one request's worth, so that a context
 * with nothing in flight can always take a request of any size.
 */
static unsigned int vba_context_pages = VBABORT_MAX_REQS * VBA_MAX_PAGES;
static unsigned int vba_total_pages = 262144;

static int vba_limit_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, VBA_MAX_PAGES, INT_MAX);
}

static const struct kernel_param_ops vba_limit_ops = {
	.set = vba_limit_set,
	.get = param_get_uint,
};

module_param_cb(context_pages, &vba_limit_ops, &vba_context_pages, 0644);
MODULE_PARM_DESC(context_pages, "Bounce pages one context's requests may hold (beyond: EAGAIN)");
module_param_cb(total_pages, &vba_limit_ops, &vba_total_pages, 0644);
MODULE_PARM_DESC(total_pages, "Bounce pages all requests together may hold (beyond: ENOBUFS)");

/*
 * Contexts whose file is released but which still exist because bios are
 * in flight; WAIT_ORPHANS waits here for those bound to the same device.
 */
static LIST_HEAD(vba_closed);
static DEFINE_SPINLOCK(vba_closed_lock);
static DECLARE_WAIT_QUEUE_HEAD(vba_closed_wait);

/* Operations that change the device's contents; a flush does not. */
static bool vba_op_modifies(u16 op)
{
	return op == VBABORT_OP_WRITE || op == VBABORT_OP_DISCARD ||
	       op == VBABORT_OP_WRITE_ZEROES;
}

static bool vba_op_has_data(u16 op)
{
	return op == VBABORT_OP_READ || op == VBABORT_OP_WRITE;
}

/* Takes the first entry of one of @ctx's pools, counted by @nr; NULL if empty. */
static struct list_head *vba_pool_take(struct vba_ctx *ctx,
				       struct list_head *pool, unsigned int *nr)
{
	struct list_head *entry = NULL;

	spin_lock_irq(&ctx->lock);
	if (!list_empty(pool)) {
		entry = pool->next;
		list_del(entry);
		(*nr)--;
	}
	spin_unlock_irq(&ctx->lock);
	return entry;
}

static struct page *vba_page_get(struct vba_ctx *ctx)
{
	struct list_head *entry;
	struct page *page;

	entry = vba_pool_take(ctx, &ctx->free_pages, &ctx->nr_free_pages);
	if (entry)
		return list_entry(entry, struct page, lru);
	page = alloc_page(GFP_KERNEL_ACCOUNT);
	if (page)
		atomic_inc(&vba_nr_pages);
	return page;
}

/*
 * A request from @ctx's pool, or a new one, with its bio initialised for
 * @bdev and no operation yet. What vba_req_free() reads is set here; the
 * rest is set by vba_req_build() before the request is queued.
 */
static struct vba_req *vba_req_get(struct vba_ctx *ctx,
				   struct block_device *bdev)
{
	struct list_head *entry;
	struct vba_req *req;

	entry = vba_pool_take(ctx, &ctx->free_reqs, &ctx->nr_free_reqs);
	if (entry) {
		req = list_entry(entry, struct vba_req, node);
	} else {
		req = kmem_cache_alloc(vba_req_cache, GFP_KERNEL);
		if (!req)
			return NULL;
		atomic_inc(&vba_nr_reqs);
	}
	req->ctx = ctx;
	req->result = 0;
	req->abandoned = false;
	req->fenced = false;
	req->nr_pages = 0;
	req->pinned = 0;
	bio_init(&req->bio, bdev, req->bvecs, VBA_MAX_PAGES, 0);
	return req;
}

/* May run in interrupt context, from vba_end_io(). */
static void vba_req_free(struct vba_req *req)
{
	struct vba_ctx *ctx = req->ctx;
	unsigned long flags;
	unsigned int i;
	bool pooled;

	/* A direct write's pages are the user's: unpinned, never pooled. */
	bio_release_pages(&req->bio, false);
	bio_uninit(&req->bio);
	spin_lock_irqsave(&ctx->lock, flags);
	ctx->nr_pinned -= req->pinned;
	for (i = 0; i < req->nr_pages && ctx->nr_free_pages < VBA_POOL_PAGES; i++) {
		list_add(&req->bvecs[i].bv_page->lru, &ctx->free_pages);
		ctx->nr_free_pages++;
	}
	/* A released context frees its pool: what it still frees goes too. */
	pooled = !ctx->closing && ctx->nr_free_reqs < VBA_POOL_REQS;
	if (pooled) {
		list_add(&req->node, &ctx->free_reqs);
		ctx->nr_free_reqs++;
	}
	spin_unlock_irqrestore(&ctx->lock, flags);
	for (; i < req->nr_pages; i++) {
		__free_page(req->bvecs[i].bv_page);
		atomic_dec(&vba_nr_pages);
	}
	atomic_sub(req->pinned, &vba_nr_pinned);
	if (!pooled) {
		kmem_cache_free(vba_req_cache, req);
		atomic_dec(&vba_nr_reqs);
	}
}

static bool vba_overlaps(const struct vba_req *a, const struct vba_req *b)
{
	return a->first < b->first + b->nr_sects &&
	       b->first < a->first + a->nr_sects;
}

/*
 * Whether @req must wait: it overlaps a fence, or a request parked before
 * it (which keeps overlapping requests in SUBMIT order). Under @d->lock.
 */
static bool vba_blocked(struct vba_disk *d, const struct vba_req *req)
{
	struct vba_req *o;

	if (!req->nr_sects)
		return false;
	list_for_each_entry(o, &d->fences, fence_node) {
		if (vba_overlaps(req, o))
			return true;
	}
	list_for_each_entry(o, &d->parked, node) {
		if (o == req)
			break;
		if (vba_overlaps(req, o))
			return true;
	}
	return false;
}

/*
 * Makes an issued request that changes the device a fence, until its bio
 * completes. Under @d->lock and the request's context's lock.
 */
static void vba_fence(struct vba_disk *d, struct vba_req *req)
{
	if (req->fenced || !vba_op_modifies(req->op))
		return;
	req->fenced = true;
	list_add_tail(&req->fence_node, &d->fences);
	atomic_inc(&vba_nr_fences);
}

/* At its bio's completion; under the same locks as vba_fence(). */
static void vba_unfence(struct vba_disk *d, struct vba_req *req)
{
	if (!req->fenced)
		return;
	req->fenced = false;
	list_del(&req->fence_node);
	atomic_dec(&vba_nr_fences);
	if (!list_empty(&d->parked))
		queue_work(vba_wq, &d->unpark_work);
}

/* Moves @ctx's parked requests to @list. Under @d->lock. */
static void vba_take_parked(struct vba_disk *d, struct vba_ctx *ctx,
			    struct list_head *list)
{
	struct vba_req *req, *next;

	list_for_each_entry_safe(req, next, &d->parked, node) {
		if (req->ctx == ctx) {
			list_move_tail(&req->node, list);
			atomic_dec(&vba_nr_parked);
		}
	}
	/* Requests parked behind them may be free to go now. */
	if (!list_empty(&d->parked))
		queue_work(vba_wq, &d->unpark_work);
}

/* Hands every parked request that nothing holds back any more to its context. */
static void vba_unpark_work(struct work_struct *work)
{
	struct vba_disk *d = container_of(work, struct vba_disk, unpark_work);
	struct vba_req *req, *next;
	struct vba_ctx *ctx;

	spin_lock_irq(&d->lock);
	list_for_each_entry_safe(req, next, &d->parked, node) {
		if (vba_blocked(d, req))
			continue;
		ctx = req->ctx;
		spin_lock(&ctx->lock);
		list_move_tail(&req->node, &ctx->pending);
		/*
		 * Release takes a context's parked requests before it cancels
		 * issue_work, so the context is open and queueing is safe.
		 */
		queue_work(vba_wq, &ctx->issue_work);
		spin_unlock(&ctx->lock);
		atomic_dec(&vba_nr_parked);
	}
	spin_unlock_irq(&d->lock);
}

static struct vba_disk *vba_disk_get(struct gendisk *gendisk)
{
	struct vba_disk *d;

	mutex_lock(&vba_disks_mutex);
	list_for_each_entry(d, &vba_disks, node) {
		if (d->gendisk == gendisk)
			goto found;
	}
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		goto out;
	d->gendisk = gendisk;
	spin_lock_init(&d->lock);
	INIT_LIST_HEAD(&d->fences);
	INIT_LIST_HEAD(&d->parked);
	INIT_WORK(&d->unpark_work, vba_unpark_work);
	list_add(&d->node, &vba_disks);
found:
	d->users++;
out:
	mutex_unlock(&vba_disks_mutex);
	return d;
}

static void vba_disk_put(struct vba_disk *d)
{
	bool last;

	mutex_lock(&vba_disks_mutex);
	last = !--d->users;
	if (last)
		list_del(&d->node);
	mutex_unlock(&vba_disks_mutex);
	if (!last)
		return;
	/* Nothing is fenced or parked without a context; a last unpark may run. */
	cancel_work_sync(&d->unpark_work);
	kfree(d);
}

static void vba_ctx_put(struct vba_ctx *ctx)
{
	if (refcount_dec_and_test(&ctx->refs))
		queue_work(vba_wq, &ctx->free_work);
}

static void vba_free_work(struct work_struct *work)
{
	struct vba_ctx *ctx = container_of(work, struct vba_ctx, free_work);
	struct page *page, *next;

	list_for_each_entry_safe(page, next, &ctx->free_pages, lru) {
		__free_page(page);
		atomic_dec(&vba_nr_pages);
	}
	if (ctx->vdisk)
		vba_disk_put(ctx->vdisk);
	if (ctx->bdev_file)
		fput(ctx->bdev_file);
	if (ctx->evfd)
		eventfd_ctx_put(ctx->evfd);
	mmdrop(ctx->mm);
	spin_lock(&vba_closed_lock);
	list_del(&ctx->closed_node);
	spin_unlock(&vba_closed_lock);
	kfree(ctx);
	/* destroy_workqueue() at unload waits for this work to return. */
	module_put(THIS_MODULE);
	wake_up_all(&vba_closed_wait);
}

/* Completion, in interrupt context: no user memory, no sleeping. */
static void vba_end_io(struct bio *bio)
{
	struct vba_req *req = bio->bi_private;
	struct vba_ctx *ctx = req->ctx;
	struct vba_disk *d = ctx->vdisk;
	bool modifies = vba_op_modifies(req->op);
	unsigned long flags;
	bool abandoned;

	/* Only requests that change the device are ever fences. */
	if (modifies)
		spin_lock_irqsave(&d->lock, flags);
	else
		local_irq_save(flags);
	spin_lock(&ctx->lock);
	vba_unfence(d, req);
	list_del(&req->node);
	ctx->nr_issued--;
	abandoned = req->abandoned;
	if (abandoned) {
		ctx->nr_reqs--;
	} else {
		req->result = blk_status_to_errno(bio->bi_status);
		list_add_tail(&req->node, &ctx->done);
		ctx->nr_done++;
	}
	if (!ctx->closing && !list_empty(&ctx->pending))
		queue_work(vba_wq, &ctx->issue_work);
	spin_unlock(&ctx->lock);
	if (modifies)
		spin_unlock_irqrestore(&d->lock, flags);
	else
		local_irq_restore(flags);

	if (abandoned)
		vba_req_free(req);
	else if (ctx->evfd)
		eventfd_signal(ctx->evfd);
	wake_up(&ctx->wait);
	vba_ctx_put(ctx);
}

/* Hands pending requests to the block layer while the queue depth allows. */
static void vba_issue_pending(struct vba_ctx *ctx)
{
	struct vba_req *req;
	struct blk_plug plug;

	/* Lets the driver take the batch at once, as io_uring's submissions do. */
	blk_start_plug(&plug);
	for (;;) {
		spin_lock_irq(&ctx->lock);
		if (ctx->closing || ctx->nr_issued >= ctx->depth ||
		    list_empty(&ctx->pending)) {
			spin_unlock_irq(&ctx->lock);
			break;
		}
		req = list_first_entry(&ctx->pending, struct vba_req, node);
		list_move_tail(&req->node, &ctx->issued);
		ctx->nr_issued++;
		refcount_inc(&ctx->refs);
		spin_unlock_irq(&ctx->lock);
		submit_bio(&req->bio);
	}
	blk_finish_plug(&plug);
}

static void vba_issue_work(struct work_struct *work)
{
	vba_issue_pending(container_of(work, struct vba_ctx, issue_work));
}

static int vba_open(struct inode *inode, struct file *file)
{
	struct vba_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	refcount_set(&ctx->refs, 1);
	INIT_WORK(&ctx->free_work, vba_free_work);
	INIT_WORK(&ctx->issue_work, vba_issue_work);
	mutex_init(&ctx->mutex);
	spin_lock_init(&ctx->lock);
	INIT_LIST_HEAD(&ctx->pending);
	INIT_LIST_HEAD(&ctx->issued);
	INIT_LIST_HEAD(&ctx->done);
	INIT_LIST_HEAD(&ctx->free_pages);
	INIT_LIST_HEAD(&ctx->free_reqs);
	INIT_LIST_HEAD(&ctx->closed_node);
	init_waitqueue_head(&ctx->wait);
	ctx->mm = current->mm;
	mmgrab(ctx->mm);
	/* Bios may outlive the file; the code they complete into must stay. */
	__module_get(THIS_MODULE);
	file->private_data = ctx;
	return 0;
}

static void vba_free_list(struct list_head *list)
{
	struct vba_req *req, *next;

	list_for_each_entry_safe(req, next, list, node) {
		list_del(&req->node);
		vba_req_free(req);
	}
}

static int vba_release(struct inode *inode, struct file *file)
{
	struct vba_ctx *ctx = file->private_data;
	struct vba_disk *d = ctx->vdisk;
	struct vba_req *req, *next;
	LIST_HEAD(dropped);
	LIST_HEAD(pool);

	/* Unbound, it never had a request. */
	if (!d) {
		vba_ctx_put(ctx);
		return 0;
	}
	spin_lock_irq(&d->lock);
	spin_lock(&ctx->lock);
	ctx->closing = true;
	list_splice_init(&ctx->pending, &dropped);
	list_splice_init(&ctx->done, &dropped);
	list_splice_init(&ctx->free_reqs, &pool);
	ctx->nr_free_reqs = 0;
	vba_take_parked(d, ctx, &dropped);
	/* Nobody is left to receive data or completions, or to wait for writes. */
	list_for_each_entry(req, &ctx->issued, node) {
		req->abandoned = true;
		vba_fence(d, req);
	}
	spin_unlock(&ctx->lock);
	spin_unlock_irq(&d->lock);
	cancel_work_sync(&ctx->issue_work);
	vba_free_list(&dropped);
	list_for_each_entry_safe(req, next, &pool, node) {
		kmem_cache_free(vba_req_cache, req);
		atomic_dec(&vba_nr_reqs);
	}

	spin_lock(&vba_closed_lock);
	list_add_tail(&ctx->closed_node, &vba_closed);
	spin_unlock(&vba_closed_lock);
	vba_ctx_put(ctx);
	return 0;
}

static bool vba_is_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static long vba_version(void __user *argp)
{
	struct vbabort_version v;

	if (copy_from_user(&v, argp, sizeof(v)))
		return -EFAULT;
	if (!vba_is_zero(v.reserved, sizeof(v.reserved)))
		return -EINVAL;
	v.abi_version = VBABORT_ABI_VERSION;
	v.max_batch = VBABORT_MAX_BATCH;
	v.max_reqs = VBABORT_MAX_REQS;
	v.max_segs = VBABORT_MAX_SEGS;
	v.max_io_bytes = VBABORT_MAX_IO_BYTES;
	v.max_timeout_ms = VBABORT_MAX_TIMEOUT_MS;
	return copy_to_user(argp, &v, sizeof(v)) ? -EFAULT : 0;
}

static long vba_bind(struct vba_ctx *ctx, void __user *argp)
{
	struct eventfd_ctx *evfd = NULL;
	struct block_device *bdev;
	struct vbabort_bind b;
	struct file *f;
	long ret;

	if (copy_from_user(&b, argp, sizeof(b)))
		return -EFAULT;
	/* Version 1 callers never set request flags: they are served as before. */
	if (!b.abi_version || b.abi_version > VBABORT_ABI_VERSION)
		return -EPROTO;
	if ((b.flags & ~VBABORT_BIND_DIRECT_WRITES) ||
	    (b.flags && b.abi_version < 5) ||
	    b.out_flags || b.logical_block_size || b.nr_sectors ||
	    !vba_is_zero(b.reserved, sizeof(b.reserved)) ||
	    b.queue_depth > VBABORT_MAX_REQS || b.eventfd < -1)
		return -EINVAL;
	if (ctx->bdev_file)
		return -EBUSY;

	f = fget(b.fd);
	if (!f)
		return -EBADF;
	if (!S_ISBLK(file_inode(f)->i_mode)) {
		ret = -ENOTBLK;
		goto err_put_file;
	}
	if (b.eventfd >= 0) {
		evfd = eventfd_ctx_fdget(b.eventfd);
		if (IS_ERR(evfd)) {
			ret = PTR_ERR(evfd);
			goto err_put_file;
		}
	}
	bdev = file_bdev(f);
	b.logical_block_size = bdev_logical_block_size(bdev);
	b.nr_sectors = bdev_nr_sectors(bdev);
	if (!(f->f_mode & FMODE_WRITE))
		b.out_flags |= VBABORT_BOUND_READONLY;
	ctx->vdisk = vba_disk_get(bdev->bd_disk);
	if (!ctx->vdisk) {
		ret = -ENOMEM;
		goto err_put_evfd;
	}
	if (copy_to_user(argp, &b, sizeof(b))) {
		ret = -EFAULT;
		goto err_put_disk;
	}
	ctx->evfd = evfd;
	ctx->readonly = !(f->f_mode & FMODE_WRITE);
	ctx->direct_writes = b.flags & VBABORT_BIND_DIRECT_WRITES;
	ctx->abi_version = b.abi_version;
	ctx->depth = b.queue_depth ? b.queue_depth : VBABORT_DEFAULT_DEPTH;
	ctx->lbs = b.logical_block_size;
	ctx->disk = bdev->bd_disk;
	ctx->start = get_start_sect(bdev);
	ctx->nr_sects = bdev_nr_sectors(bdev);
	/* Pairs with the acquire in vba_ioctl(): the fields above are set first. */
	smp_store_release(&ctx->bdev_file, f);
	return 0;

err_put_disk:
	vba_disk_put(ctx->vdisk);
	ctx->vdisk = NULL;
err_put_evfd:
	if (evfd)
		eventfd_ctx_put(evfd);
err_put_file:
	fput(f);
	return ret;
}

/* Checks a request against the binding; returns its data length in bytes. */
static long vba_check_req(struct vba_ctx *ctx, const struct vbabort_req *r,
			  struct iovec *iov)
{
	struct block_device *bdev = file_bdev(ctx->bdev_file);
	struct vbabort_iovec uiov[VBABORT_MAX_SEGS];
	u64 len = 0, sectors;
	unsigned int i;

	if (!vba_is_zero(r->reserved, sizeof(r->reserved)) ||
	    r->op > VBABORT_OP_WRITE_ZEROES)
		return -EINVAL;
	if (r->flags && (ctx->abi_version < 2 || r->flags != VBABORT_REQ_FUA ||
			 r->op != VBABORT_OP_WRITE))
		return -EINVAL;
	if (vba_op_modifies(r->op) && ctx->readonly)
		return -EBADF;
	if (vba_op_modifies(r->op) && bdev_read_only(bdev))
		return -EROFS;

	switch (r->op) {
	case VBABORT_OP_FLUSH:
		if (r->sector || r->iov || r->iov_cnt || r->nr_sectors)
			return -EINVAL;
		return 0;
	case VBABORT_OP_DISCARD:
	case VBABORT_OP_WRITE_ZEROES:
		if (r->iov || r->iov_cnt || !r->nr_sectors ||
		    r->nr_sectors > VBA_MAX_RANGE_SECTORS)
			return -EINVAL;
		sectors = r->nr_sectors;
		break;
	default:
		if (!r->iov_cnt || r->iov_cnt > VBABORT_MAX_SEGS || r->nr_sectors)
			return -EINVAL;
		if (copy_from_user(uiov, u64_to_user_ptr(r->iov),
				   r->iov_cnt * sizeof(uiov[0])))
			return -EFAULT;
		for (i = 0; i < r->iov_cnt; i++) {
			if (!uiov[i].len || uiov[i].len > VBABORT_MAX_IO_BYTES)
				return -EINVAL;
			len += uiov[i].len;
			iov[i].iov_base = u64_to_user_ptr(uiov[i].base);
			iov[i].iov_len = uiov[i].len;
		}
		if (len > VBABORT_MAX_IO_BYTES)
			return -EINVAL;
		sectors = len >> SECTOR_SHIFT;
		break;
	}
	if (((sectors << SECTOR_SHIFT) | (r->sector << SECTOR_SHIFT)) &
	    (ctx->lbs - 1))
		return -EINVAL;
	if (vba_op_has_data(r->op) && (len & (ctx->lbs - 1)))
		return -EINVAL;
	if (r->sector >= bdev_nr_sectors(bdev) ||
	    sectors > bdev_nr_sectors(bdev) - r->sector)
		return -ERANGE;
	return len;
}

/* Copies between bounce pages and user iovec: ITER_SOURCE for writes, ITER_DEST for reads. */
static int vba_copy(struct vba_req *req, unsigned int dir)
{
	struct iov_iter iter;
	unsigned int i;
	size_t n, done;

	iov_iter_init(&iter, dir, req->iov, req->nr_segs, req->len);
	for (i = 0; i < req->nr_pages; i++) {
		n = min_t(size_t, PAGE_SIZE, req->len - i * PAGE_SIZE);
		if (dir == ITER_SOURCE)
			done = copy_page_from_iter(req->bvecs[i].bv_page, 0, n,
						   &iter);
		else
			done = copy_page_to_iter(req->bvecs[i].bv_page, 0, n,
						 &iter);
		if (done != n)
			return -EFAULT;
	}
	return 0;
}

static const blk_opf_t vba_opf[] = {
	[VBABORT_OP_READ]		= REQ_OP_READ,
	/* As O_DIRECT writes are: not throttled as page cache writeback. */
	[VBABORT_OP_WRITE]		= REQ_OP_WRITE | REQ_SYNC | REQ_IDLE,
	[VBABORT_OP_FLUSH]		= REQ_OP_WRITE | REQ_PREFLUSH,
	[VBABORT_OP_DISCARD]		= REQ_OP_DISCARD,
	[VBABORT_OP_WRITE_ZEROES]	= REQ_OP_WRITE_ZEROES | REQ_NOUNMAP,
};

/* Counts @n pages against the module-wide limit; false if it would pass it. */
static bool vba_pin_total(unsigned int n)
{
	int old = atomic_read(&vba_nr_pinned);

	do {
		if (old + n > READ_ONCE(vba_total_pages))
			return false;
	} while (!atomic_try_cmpxchg(&vba_nr_pinned, &old, old + n));
	return true;
}

/*
 * Counts a request's @n bounce pages against both limits before they are
 * allocated; vba_req_free() gives them back.
 */
static int vba_pin(struct vba_req *req, unsigned int n)
{
	struct vba_ctx *ctx = req->ctx;
	int ret = 0;

	spin_lock_irq(&ctx->lock);
	if (ctx->nr_pinned + n > READ_ONCE(vba_context_pages)) {
		ret = -EAGAIN;
	} else if (!vba_pin_total(n)) {
		ret = -ENOBUFS;
	} else {
		ctx->nr_pinned += n;
		req->pinned = n;
	}
	spin_unlock_irq(&ctx->lock);
	return ret;
}

/*
 * Lets a write's bio read the user's pages, pinned as for O_DIRECT, if they
 * meet the device's alignment and fit the bio; true if it does. Otherwise
 * the bio is left empty, for bounce pages.
 */
static bool vba_pin_user(struct vba_req *req, struct block_device *bdev)
{
	struct iov_iter iter;

	iov_iter_init(&iter, ITER_SOURCE, req->iov, req->nr_segs, req->len);
	if (!bdev_iter_is_aligned(bdev, &iter))
		return false;
	if (!bio_iov_iter_get_pages(&req->bio, &iter) && !iov_iter_count(&iter))
		return true;
	/* A fault, or more pages than the bio holds: the copy decides. */
	bio_release_pages(&req->bio, false);
	bio_reset(&req->bio, bdev, req->bio.bi_opf);
	return false;
}

/* Adds @len bytes of bounce pages to the request's bio. */
static int vba_add_bounce(struct vba_req *req, unsigned int len)
{
	unsigned int i, nr_pages = DIV_ROUND_UP(len, PAGE_SIZE);
	struct page *page;
	int ret;

	ret = vba_pin(req, nr_pages);
	if (ret)
		return ret;
	for (i = 0; i < nr_pages; i++) {
		page = vba_page_get(req->ctx);
		if (!page)
			return -ENOMEM;
		__bio_add_page(&req->bio, page,
			       min_t(unsigned int, PAGE_SIZE, len - i * PAGE_SIZE),
			       0);
		req->nr_pages++;
	}
	return 0;
}

/* Builds a request with its bio, and bounce pages unless a direct write. */
static struct vba_req *vba_req_build(struct vba_ctx *ctx,
				     const struct vbabort_req *r)
{
	struct block_device *bdev = file_bdev(ctx->bdev_file);
	struct vba_req *req;
	long len;
	int ret;

	req = vba_req_get(ctx, bdev);
	if (!req)
		return ERR_PTR(-ENOMEM);
	len = vba_check_req(ctx, r, req->iov);
	if (len < 0) {
		ret = len;
		goto err_free;
	}
	req->tag = r->tag;
	req->op = r->op;
	req->len = len;
	req->first = ctx->start + r->sector;
	req->nr_sects = vba_op_has_data(r->op) ? len >> SECTOR_SHIFT :
						 r->nr_sectors;
	req->nr_segs = r->iov_cnt;
	req->bio.bi_opf = vba_opf[r->op];
	if (r->flags & VBABORT_REQ_FUA)
		req->bio.bi_opf |= REQ_FUA;
	if (!vba_op_has_data(r->op)) {
		req->bio.bi_iter.bi_size = r->nr_sectors << SECTOR_SHIFT;
	} else if (r->op != VBABORT_OP_WRITE || !ctx->direct_writes ||
		   !vba_pin_user(req, bdev)) {
		ret = vba_add_bounce(req, len);
		if (!ret && r->op == VBABORT_OP_WRITE)
			ret = vba_copy(req, ITER_SOURCE);
		if (ret)
			goto err_free;
	}
	req->bio.bi_iter.bi_sector = r->sector;
	req->bio.bi_end_io = vba_end_io;
	req->bio.bi_private = req;
	return req;

err_free:
	vba_req_free(req);
	return ERR_PTR(ret);
}

/*
 * Takes @nr requests in order, stopping at the first one refused, whose
 * error goes to @err. Returns how many were accepted. Called under the
 * context's mutex.
 */
static u32 vba_submit_batch(struct vba_ctx *ctx,
			    struct vbabort_req __user *ureqs, u32 nr, long *err)
{
	struct vba_disk *d = ctx->vdisk;
	struct vbabort_req r;
	struct vba_req *req;
	u32 accepted;
	long ret = 0;

	for (accepted = 0; accepted < nr; accepted++) {
		if (copy_from_user(&r, &ureqs[accepted], sizeof(r))) {
			ret = -EFAULT;
			break;
		}
		spin_lock_irq(&ctx->lock);
		if (ctx->nr_reqs >= VBABORT_MAX_REQS) {
			spin_unlock_irq(&ctx->lock);
			ret = -EAGAIN;
			break;
		}
		/* Reserve the slot now so that a failed build only returns it. */
		ctx->nr_reqs++;
		spin_unlock_irq(&ctx->lock);

		req = vba_req_build(ctx, &r);
		spin_lock_irq(&d->lock);
		spin_lock(&ctx->lock);
		if (IS_ERR(req)) {
			ctx->nr_reqs--;
		} else if (vba_blocked(d, req)) {
			list_add_tail(&req->node, &d->parked);
			atomic_inc(&vba_nr_parked);
		} else {
			list_add_tail(&req->node, &ctx->pending);
		}
		spin_unlock(&ctx->lock);
		spin_unlock_irq(&d->lock);
		if (IS_ERR(req)) {
			ret = PTR_ERR(req);
			break;
		}
	}
	vba_issue_pending(ctx);
	*err = ret;
	return accepted;
}

static long vba_submit(struct vba_ctx *ctx, void __user *argp)
{
	struct vbabort_submit s;
	u32 accepted;
	long err;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.flags || !vba_is_zero(s.reserved, sizeof(s.reserved)) || !s.nr)
		return -EINVAL;
	if (s.nr > VBABORT_MAX_BATCH)
		return -E2BIG;
	accepted = vba_submit_batch(ctx, u64_to_user_ptr(s.reqs), s.nr, &err);
	return accepted ? accepted : err;
}

static void vba_fate(struct vbabort_cqe *cqe, struct vba_req *req, u8 fate,
		     int result)
{
	cqe->tag = req->tag;
	cqe->op = req->op;
	cqe->fate = fate;
	cqe->reserved = 0;
	cqe->result = result;
}

/* Fills @cqe for a done request, copying read data out; the request stays. */
static void vba_report(struct vba_req *req, struct vbabort_cqe *cqe)
{
	vba_fate(cqe, req, VBABORT_FATE_COMPLETED, req->result);
	if (req->op == VBABORT_OP_READ && !req->result)
		cqe->result = vba_copy(req, ITER_DEST);
}

/*
 * Waits for @min_complete completions up to @timeout_ms, then writes up to
 * @nr of them to @ucqes. Returns how many, or -errno if none.
 */
static long vba_reap_batch(struct vba_ctx *ctx,
			   struct vbabort_cqe __user *ucqes, u32 nr,
			   u32 min_complete, u32 timeout_ms)
{
	struct vbabort_cqe cqe;
	struct vba_req *req;
	unsigned int n;
	long ret;

	if (min_complete) {
		ret = wait_event_interruptible_timeout(ctx->wait,
						       READ_ONCE(ctx->nr_done) >= min_complete,
						       msecs_to_jiffies(timeout_ms));
		if (ret < 0)
			return ret;
	}

	for (n = 0; n < nr; n++) {
		spin_lock_irq(&ctx->lock);
		req = list_first_entry_or_null(&ctx->done, struct vba_req, node);
		if (req) {
			list_del(&req->node);
			ctx->nr_done--;
		}
		spin_unlock_irq(&ctx->lock);
		if (!req)
			break;
		vba_report(req, &cqe);
		if (copy_to_user(&ucqes[n], &cqe, sizeof(cqe))) {
			/* Undelivered: first in line again, its read data copied again. */
			spin_lock_irq(&ctx->lock);
			list_add(&req->node, &ctx->done);
			ctx->nr_done++;
			spin_unlock_irq(&ctx->lock);
			return n ? n : -EFAULT;
		}
		spin_lock_irq(&ctx->lock);
		ctx->nr_reqs--;
		spin_unlock_irq(&ctx->lock);
		vba_req_free(req);
	}
	return n;
}

static long vba_reap(struct vba_ctx *ctx, void __user *argp)
{
	struct vbabort_reap r;

	if (copy_from_user(&r, argp, sizeof(r)))
		return -EFAULT;
	if (r.flags || r.reserved || !r.nr || r.min_complete > r.nr ||
	    r.timeout_ms > VBABORT_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (r.nr > VBABORT_MAX_BATCH)
		return -E2BIG;
	return vba_reap_batch(ctx, u64_to_user_ptr(r.cqes), r.nr,
			      r.min_complete, r.timeout_ms);
}

/*
 * SUBMIT under the mutex, then REAP without it, as the two calls would: the
 * outcome of the submission is written back before the wait, so that a
 * signal or an unwritable cqes array cannot lose it.
 */
static long vba_submit_reap(struct vba_ctx *ctx, void __user *argp)
{
	struct vbabort_submit_reap sr;
	long err = 0, ret;

	if (copy_from_user(&sr, argp, sizeof(sr)))
		return -EFAULT;
	if (sr.flags || sr.submitted || sr.error ||
	    !vba_is_zero(sr.reserved, sizeof(sr.reserved)) ||
	    (!sr.nr_reqs && !sr.nr_cqes) || sr.min_complete > sr.nr_cqes ||
	    sr.timeout_ms > VBABORT_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (sr.nr_reqs > VBABORT_MAX_BATCH || sr.nr_cqes > VBABORT_MAX_BATCH)
		return -E2BIG;
	if (sr.nr_reqs) {
		mutex_lock(&ctx->mutex);
		sr.submitted = vba_submit_batch(ctx, u64_to_user_ptr(sr.reqs),
						sr.nr_reqs, &err);
		mutex_unlock(&ctx->mutex);
		sr.error = err;
		if (copy_to_user(argp, &sr, sizeof(sr)))
			return -EFAULT;
	}
	if (!sr.nr_cqes)
		return 0;
	ret = vba_reap_batch(ctx, u64_to_user_ptr(sr.cqes), sr.nr_cqes,
			     sr.min_complete, sr.timeout_ms);
	/* A restart would submit the same requests again. */
	if (ret == -ERESTARTSYS && sr.nr_reqs)
		ret = -EINTR;
	return ret;
}

static bool vba_writes_in_flight(struct vba_ctx *ctx)
{
	struct vba_req *req;
	bool found = false;

	spin_lock_irq(&ctx->lock);
	list_for_each_entry(req, &ctx->issued, node) {
		if (!req->abandoned) {
			found = true;
			break;
		}
	}
	spin_unlock_irq(&ctx->lock);
	return found;
}

static long vba_abort(struct vba_ctx *ctx, void __user *argp)
{
	struct vba_disk *d = ctx->vdisk;
	struct vba_req *req, *next;
	struct vbabort_cqe *fates;
	struct vbabort_abort a;
	LIST_HEAD(cancelled);
	LIST_HEAD(finished);
	unsigned int n = 0, held, i;
	long ret;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags || !vba_is_zero(a.count, sizeof(a.count)) ||
	    !vba_is_zero(a.reserved, sizeof(a.reserved)) ||
	    a.timeout_ms > VBABORT_MAX_TIMEOUT_MS)
		return -EINVAL;

	spin_lock_irq(&ctx->lock);
	held = ctx->nr_reqs;
	list_for_each_entry(req, &ctx->issued, node)
		held -= req->abandoned;
	spin_unlock_irq(&ctx->lock);
	/*
	 * SUBMIT waits for the mutex, so nothing is added meanwhile; a REAP
	 * running alongside only takes requests away.
	 */
	if (a.nr < held) {
		a.nr = held;
		return copy_to_user(argp, &a, sizeof(a)) ? -EFAULT : -ENOSPC;
	}
	fates = kvcalloc(max(held, 1U), sizeof(*fates), GFP_KERNEL_ACCOUNT);
	if (!fates)
		return -ENOMEM;

	/* Unissued requests are cancelled; issued reads are left behind. */
	spin_lock_irq(&d->lock);
	spin_lock(&ctx->lock);
	list_splice_init(&ctx->pending, &cancelled);
	vba_take_parked(d, ctx, &cancelled);
	ctx->nr_reqs -= list_count_nodes(&cancelled);
	list_for_each_entry(req, &ctx->issued, node) {
		if (req->op == VBABORT_OP_READ && !req->abandoned) {
			req->abandoned = true;
			vba_fate(&fates[n++], req, VBABORT_FATE_ABANDONED,
				 -ECANCELED);
		}
	}
	spin_unlock(&ctx->lock);
	spin_unlock_irq(&d->lock);
	list_for_each_entry_safe(req, next, &cancelled, node) {
		vba_fate(&fates[n++], req, VBABORT_FATE_CANCELLED, -ECANCELED);
		list_del(&req->node);
		vba_req_free(req);
	}

	/* A signal ends the wait early; what still runs is then unfenced. */
	if (a.timeout_ms)
		wait_event_interruptible_timeout(ctx->wait,
						 !vba_writes_in_flight(ctx),
						 msecs_to_jiffies(a.timeout_ms));

	/* What still changes the device holds back what overlaps it, from now. */
	spin_lock_irq(&d->lock);
	spin_lock(&ctx->lock);
	list_for_each_entry(req, &ctx->issued, node) {
		if (!req->abandoned) {
			vba_fate(&fates[n++], req, VBABORT_FATE_UNFENCED,
				 -EINPROGRESS);
			vba_fence(d, req);
		}
	}
	list_splice_init(&ctx->done, &finished);
	ctx->nr_reqs -= ctx->nr_done;
	ctx->nr_done = 0;
	spin_unlock(&ctx->lock);
	spin_unlock_irq(&d->lock);

	list_for_each_entry_safe(req, next, &finished, node) {
		list_del(&req->node);
		vba_report(req, &fates[n++]);
		vba_req_free(req);
	}
	a.nr = n;
	for (i = 0; i < n; i++)
		a.count[fates[i].fate]++;
	ret = n;
	if (copy_to_user(u64_to_user_ptr(a.fates), fates, n * sizeof(*fates)) ||
	    copy_to_user(argp, &a, sizeof(a)))
		ret = -EFAULT;
	kvfree(fates);
	return ret;
}

/*
 * Counts released contexts with bios in flight on sectors that @ctx's
 * binding shares (a partition, the whole disk, or both), and those bios.
 * One whose last bio completed is only waiting for free_work: not counted.
 */
static unsigned int vba_orphans(const struct vba_ctx *ctx, unsigned int *bios)
{
	unsigned int contexts = 0, n;
	struct vba_ctx *o;

	*bios = 0;
	spin_lock(&vba_closed_lock);
	list_for_each_entry(o, &vba_closed, closed_node) {
		n = READ_ONCE(o->nr_issued);
		if (n && o->disk == ctx->disk &&
		    o->start < ctx->start + ctx->nr_sects &&
		    ctx->start < o->start + o->nr_sects) {
			contexts++;
			*bios += n;
		}
	}
	spin_unlock(&vba_closed_lock);
	return contexts;
}

static long vba_wait_orphans(struct vba_ctx *ctx, void __user *argp)
{
	struct vbabort_orphans o;
	unsigned int bios;
	long ret;

	if (copy_from_user(&o, argp, sizeof(o)))
		return -EFAULT;
	if (o.flags || o.contexts || o.bios ||
	    !vba_is_zero(o.reserved, sizeof(o.reserved)) ||
	    o.timeout_ms > VBABORT_MAX_TIMEOUT_MS)
		return -EINVAL;
	ret = wait_event_interruptible_timeout(vba_closed_wait,
					       !vba_orphans(ctx, &bios),
					       msecs_to_jiffies(o.timeout_ms));
	if (ret < 0)
		return ret;
	o.contexts = vba_orphans(ctx, &bios);
	o.bios = bios;
	if (copy_to_user(argp, &o, sizeof(o)))
		return -EFAULT;
	return o.contexts ? -ETIMEDOUT : 0;
}

static long vba_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vba_ctx *ctx = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	switch (cmd) {
	case VBABORT_IOC_VERSION:
		return vba_version(argp);
	case VBABORT_IOC_BIND:
	case VBABORT_IOC_SUBMIT:
	case VBABORT_IOC_REAP:
	case VBABORT_IOC_ABORT:
	case VBABORT_IOC_WAIT_ORPHANS:
	case VBABORT_IOC_SUBMIT_REAP:
		break;
	default:
		return -ENOTTY;
	}
	/* User addresses in requests belong to the process that opened us. */
	if (current->mm != ctx->mm)
		return -EPERM;

	if (cmd == VBABORT_IOC_BIND) {
		mutex_lock(&ctx->mutex);
		ret = vba_bind(ctx, argp);
		mutex_unlock(&ctx->mutex);
		return ret;
	}
	/* Pairs with the release in vba_bind(). */
	if (!smp_load_acquire(&ctx->bdev_file))
		return -EBADFD;
	/* These wait, so they keep out of the mutex. */
	if (cmd == VBABORT_IOC_REAP)
		return vba_reap(ctx, argp);
	if (cmd == VBABORT_IOC_WAIT_ORPHANS)
		return vba_wait_orphans(ctx, argp);
	if (cmd == VBABORT_IOC_SUBMIT_REAP)
		return vba_submit_reap(ctx, argp);

	mutex_lock(&ctx->mutex);
	if (cmd == VBABORT_IOC_SUBMIT)
		ret = vba_submit(ctx, argp);
	else
		ret = vba_abort(ctx, argp);
	mutex_unlock(&ctx->mutex);
	return ret;
}

static __poll_t vba_poll(struct file *file, poll_table *wait)
{
	struct vba_ctx *ctx = file->private_data;

	poll_wait(file, &ctx->wait, wait);
	return READ_ONCE(ctx->nr_done) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations vba_fops = {
	.owner		= THIS_MODULE,
	.open		= vba_open,
	.release	= vba_release,
	.unlocked_ioctl	= vba_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.poll		= vba_poll,
	.llseek		= noop_llseek,
};

static struct miscdevice vba_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vbabort",
	.fops	= &vba_fops,
	.mode	= 0600,
};

static int __init vba_init(void)
{
	int ret;

	/*
	 * Unmerged, so /proc/slabinfo shows exactly this module's requests;
	 * charged to the submitter's memory cgroup, like the bounce pages.
	 */
	vba_req_cache = kmem_cache_create("vbabort_req", sizeof(struct vba_req),
					  0, SLAB_NO_MERGE | SLAB_ACCOUNT, NULL);
	if (!vba_req_cache)
		return -ENOMEM;
	vba_wq = alloc_workqueue("vbabort", WQ_UNBOUND, 0);
	if (!vba_wq) {
		ret = -ENOMEM;
		goto err_cache;
	}
	ret = misc_register(&vba_misc);
	if (ret)
		goto err_wq;
	return 0;

err_wq:
	destroy_workqueue(vba_wq);
err_cache:
	kmem_cache_destroy(vba_req_cache);
	return ret;
}

static void __exit vba_exit(void)
{
	misc_deregister(&vba_misc);
	destroy_workqueue(vba_wq);
	kmem_cache_destroy(vba_req_cache);
}

module_init(vba_init);
module_exit(vba_exit);
MODULE_DESCRIPTION("Abortable block I/O through bounce pages for vbridge");
MODULE_LICENSE("GPL");
