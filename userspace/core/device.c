/* The virtio-blk device every front door shares: backing disk, features, config space, memory map and orphaned rings. */
#include "device.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "util/log.h"
#include "vb_bit.h"


static uint64_t offered_features(const struct vb_device *dev)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_F_RING_PACKED) |
		     BIT(VIRTIO_BLK_F_SIZE_MAX) |
		     BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_TOPOLOGY) |
		     BIT(VIRTIO_BLK_F_CONFIG_WCE) | BIT(VIRTIO_BLK_F_MQ);

	if (dev->disk.readonly)
		f |= BIT(VIRTIO_BLK_F_RO);
	else
		f |= BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

/*
 * Bouncing buys a fast stop only where a read can be slow. A file in memory
 * (tmpfs) answers with a copy, which a stop can wait for, so its reads go
 * straight to guest memory and save the second copy. The delay engine
 * stands in for slow storage whatever the file, so it keeps bouncing.
 */
static uint64_t auto_bounce_max(const struct vb_device *dev)
{
	if (!dev->disk.in_memory || strcmp(dev->engine.ops->name, "uring") != 0)
		return UINT64_MAX;
	vb_info("disk %s is in memory: reads go straight to guest memory, and a suspension waits for those in flight (--bounce-max auto)",
		dev->disk.path);
	return 0;
}

int vb_device_open(struct vb_device *dev, const struct vb_device_opts *opts)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	dev->engine = opts->engine.ops ? opts->engine : vb_engine_default();
	if (dev->engine.ops->open_disk)
		ret = dev->engine.ops->open_disk(&dev->disk, &dev->engine, opts->disk_path,
						 opts->readonly);
	else
		ret = vb_disk_open(&dev->disk, opts->disk_path, opts->readonly, opts->create_size);
	if (ret < 0)
		return ret;
	dev->num_queues = opts->num_queues;
	dev->max_queue_size = opts->max_queue_size;
	dev->blk.size = dev->disk.size;
	dev->blk.readonly = dev->disk.readonly;
	if (opts->serial)
		memcpy(dev->blk.serial, opts->serial, strnlen(opts->serial, sizeof(dev->blk.serial)));
	dev->offered_features = offered_features(dev);
	dev->writeback = 1;
	dev->poll_ns = (uint64_t)opts->poll_us * 1000;
	dev->sqpoll_idle_ms = opts->sqpoll_idle_ms;
	dev->orphan_limit = opts->orphan_limit;
	dev->bounce_max = opts->bounce_auto ? auto_bounce_max(dev) : opts->bounce_max;
	dev->orphan_timeout_ms = opts->orphan_timeout_ms;
	pthread_mutex_init(&dev->orphan_lock, NULL);
	pthread_cond_init(&dev->orphan_done, NULL);
	pthread_mutex_init(&dev->cfg_lock, NULL);
	pthread_cond_init(&dev->cfg_acked, NULL);
	return 0;
}

bool vb_device_orphan_begin(struct vb_device *dev, struct vb_orphan *o)
{
	bool taken;

	pthread_mutex_lock(&dev->orphan_lock);
	taken = dev->orphan_rings < dev->orphan_limit ||
		__atomic_load_n(&dev->exiting, __ATOMIC_ACQUIRE);
	if (taken) {
		o->next = dev->orphans;
		dev->orphans = o;
		dev->orphan_rings++;
	}
	pthread_mutex_unlock(&dev->orphan_lock);
	if (taken)
		vb_info("queue %u: %u abandoned reads left with the host, orphaned ring %u of at most %u%s",
			o->queue, o->reads, dev->orphan_rings, dev->orphan_limit,
			dev->orphan_rings > dev->orphan_limit ? " (past it: the daemon is exiting)" : "");
	else
		vb_warn("queue %u: %u rings are orphaned already (the limit): the ring stops only when the host has finished its %u abandoned reads",
			o->queue, dev->orphan_limit, o->reads);
	return taken;
}

void vb_device_orphan_done(struct vb_device *dev, struct vb_orphan *o)
{
	pthread_mutex_lock(&dev->orphan_lock);
	for (struct vb_orphan **p = &dev->orphans; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			break;
		}
	}
	dev->orphan_rings--;
	pthread_cond_broadcast(&dev->orphan_done);
	pthread_mutex_unlock(&dev->orphan_lock);
}

/* Under orphan_lock: the abandoned reads of every orphaned ring, and "queue Q (N reads), ..." in list. */
static unsigned int orphan_reads(const struct vb_device *dev, char *list, size_t size)
{
	unsigned int total = 0;
	size_t len = 0;

	list[0] = '\0';
	for (const struct vb_orphan *o = dev->orphans; o; o = o->next) {
		unsigned int reads = __atomic_load_n(&o->reads, __ATOMIC_RELAXED);
		int n = snprintf(list + len, size - len, "%squeue %u (%u reads)", len ? ", " : "",
				 o->queue, reads);

		total += reads;
		if (n > 0 && (size_t)n < size - len)
			len += (size_t)n;
	}
	return total;
}

unsigned int vb_device_orphan_summary(struct vb_device *dev, unsigned int *rings, char *list,
				      size_t size)
{
	unsigned int reads;

	pthread_mutex_lock(&dev->orphan_lock);
	*rings = dev->orphan_rings;
	reads = orphan_reads(dev, list, size);
	pthread_mutex_unlock(&dev->orphan_lock);
	return reads;
}

/* Waits for the orphaned rings until deadline; false if some are left. */
static bool wait_for_orphans(struct vb_device *dev)
{
	struct timespec deadline;
	char list[256];
	unsigned int reads;
	bool done;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += dev->orphan_timeout_ms / 1000;
	deadline.tv_nsec += (long)(dev->orphan_timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&dev->orphan_lock);
	if (dev->orphan_rings)
		vb_info("waiting up to %u ms for the host to finish %u rings' abandoned reads",
			dev->orphan_timeout_ms, dev->orphan_rings);
	while (dev->orphan_rings &&
	       pthread_cond_timedwait(&dev->orphan_done, &dev->orphan_lock, &deadline) == 0)
		;
	done = dev->orphan_rings == 0;
	reads = orphan_reads(dev, list, sizeof(list));
	if (!done)
		vb_warn("exiting with %u abandoned reads still with the host after %u ms, on %u orphaned rings: %s",
			reads, dev->orphan_timeout_ms, dev->orphan_rings, list);
	pthread_mutex_unlock(&dev->orphan_lock);
	return done;
}

/*
 * A fence outlives the daemon while its write is in flight, but a daemon
 * that exited with fences held would look done to whoever waits for it:
 * the orphaned rings drop them as their writes land, however long that
 * takes.
 */
static void wait_for_fences(struct vb_device *dev)
{
	struct vb_fence_set *s = &dev->disk.fences;
	unsigned int left;

	if (dev->disk.fd < 0)
		return;
	pthread_mutex_lock(&s->lock);
	left = s->count;
	pthread_mutex_unlock(&s->lock);
	if (!left)
		return;
	vb_info("waiting for %u fenced writes to land before exiting", left);
	do {
		usleep(10000);
		pthread_mutex_lock(&s->lock);
		left = s->count;
		pthread_mutex_unlock(&s->lock);
	} while (left);
	vb_info("every fenced write landed and its fence is dropped");
}

bool vb_device_close(struct vb_device *dev)
{
	wait_for_fences(dev);
	if (!wait_for_orphans(dev))
		return false;
	pthread_cond_destroy(&dev->orphan_done);
	pthread_mutex_destroy(&dev->orphan_lock);
	/* No worker is left to acknowledge anything. */
	vb_mem_put(dev->mem);
	vb_dirty_log_free(dev->log);
	pthread_cond_destroy(&dev->cfg_acked);
	pthread_mutex_destroy(&dev->cfg_lock);
	if (dev->engine.ops->close_disk)
		dev->engine.ops->close_disk(&dev->disk);
	else
		vb_disk_close(&dev->disk);
	return true;
}

void vb_device_begin_exit(struct vb_device *dev)
{
	__atomic_store_n(&dev->exiting, 1, __ATOMIC_RELEASE);
}

static unsigned int ilog2(uint32_t v)
{
	unsigned int r = 0;

	while (v >>= 1)
		r++;
	return r;
}

void vb_device_config(const struct vb_device *dev, struct virtio_blk_config *cfg)
{
	const struct vb_disk *disk = &dev->disk;
	uint32_t sectors_per_block = disk->logical_block / VB_SECTOR_SIZE;

	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = disk->size >> VB_SECTOR_SHIFT;
	cfg->size_max = VB_SIZE_MAX;
	cfg->seg_max = VB_SEG_MAX;
	cfg->blk_size = disk->logical_block;
	cfg->physical_block_exp = ilog2(disk->physical_block / disk->logical_block);
	cfg->min_io_size = 1;
	cfg->opt_io_size = disk->physical_block / disk->logical_block;
	cfg->wce = __atomic_load_n(&dev->writeback, __ATOMIC_RELAXED);
	cfg->num_queues = dev->num_queues;
	cfg->max_discard_sectors = VB_DISCARD_MAX_SECTORS;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = sectors_per_block;
	cfg->max_write_zeroes_sectors = VB_DISCARD_MAX_SECTORS;
	cfg->max_write_zeroes_seg = 1;
	cfg->write_zeroes_may_unmap = 1;
}

int vb_device_write_config(struct vb_device *dev, uint32_t offset, const uint8_t *buf,
			   uint32_t size)
{
	if (offset != offsetof(struct virtio_blk_config, wce) || size != 1)
		return -EPERM;
	if (!(dev->features & BIT(VIRTIO_BLK_F_CONFIG_WCE)) || buf[0] > 1)
		return -EINVAL;
	__atomic_store_n(&dev->writeback, buf[0], __ATOMIC_RELAXED);
	vb_info("cache mode set to %s", buf[0] ? "writeback" : "writethrough");
	return 0;
}
