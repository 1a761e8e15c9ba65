/* The virtio-blk device shared by every front door: backing disk, config, queues and guest memory. */
#include "device.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk.h"
#include "log.h"
#include "queue.h"

#define BIT(n) (1ull << (n))

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

int vb_device_init(struct vb_device *dev, const struct vb_device_opts *opts)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	ret = vb_disk_open(&dev->disk, opts->disk_path, opts->readonly, opts->create_size);
	if (ret < 0)
		return ret;
	dev->num_queues = opts->num_queues;
	dev->max_queue_size = opts->max_queue_size;
	if (opts->serial)
		memcpy(dev->serial, opts->serial, strnlen(opts->serial, sizeof(dev->serial)));
	dev->offered_features = offered_features(dev);
	dev->writeback = 1;
	dev->engine = opts->engine;
	dev->poll_ns = (uint64_t)opts->poll_us * 1000;
	dev->sqpoll_idle_ms = opts->sqpoll_idle_ms;
	pthread_mutex_init(&dev->orphan_lock, NULL);
	pthread_cond_init(&dev->orphan_done, NULL);
	pthread_mutex_init(&dev->cfg_lock, NULL);
	pthread_cond_init(&dev->cfg_acked, NULL);
	dev->queues = calloc(dev->num_queues, sizeof(*dev->queues));
	if (!dev->queues) {
		ret = -ENOMEM;
		goto fail_disk;
	}
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		ret = vb_queue_init(&dev->queues[i], dev, i);
		if (ret < 0) {
			while (i-- > 0)
				vb_queue_destroy(&dev->queues[i]);
			goto fail_queues;
		}
	}
	return 0;
fail_queues:
	free(dev->queues);
fail_disk:
	pthread_cond_destroy(&dev->cfg_acked);
	pthread_mutex_destroy(&dev->cfg_lock);
	pthread_cond_destroy(&dev->orphan_done);
	pthread_mutex_destroy(&dev->orphan_lock);
	vb_disk_close(&dev->disk);
	return ret;
}

void vb_device_orphan_begin(struct vb_device *dev)
{
	pthread_mutex_lock(&dev->orphan_lock);
	dev->orphan_rings++;
	pthread_mutex_unlock(&dev->orphan_lock);
}

void vb_device_orphan_done(struct vb_device *dev)
{
	pthread_mutex_lock(&dev->orphan_lock);
	if (--dev->orphan_rings == 0)
		pthread_cond_broadcast(&dev->orphan_done);
	pthread_mutex_unlock(&dev->orphan_lock);
}

static void free_log(struct vb_dirty_log *log)
{
	if (log) {
		vb_dirty_log_unmap(log);
		free(log);
	}
}

void vb_device_destroy(struct vb_device *dev)
{
	for (unsigned int i = 0; i < dev->num_queues; i++)
		vb_queue_destroy(&dev->queues[i]);
	free(dev->queues);
	pthread_mutex_lock(&dev->orphan_lock);
	if (dev->orphan_rings)
		vb_info("waiting for the host to finish %u rings' abandoned reads", dev->orphan_rings);
	while (dev->orphan_rings)
		pthread_cond_wait(&dev->orphan_done, &dev->orphan_lock);
	pthread_mutex_unlock(&dev->orphan_lock);
	pthread_cond_destroy(&dev->orphan_done);
	pthread_mutex_destroy(&dev->orphan_lock);
	/* No worker is left to acknowledge anything. */
	vb_mem_put(dev->mem);
	free_log(dev->log);
	pthread_cond_destroy(&dev->cfg_acked);
	pthread_mutex_destroy(&dev->cfg_lock);
	vb_disk_close(&dev->disk);
}

void vb_device_publish(struct vb_device *dev)
{
	uint64_t gen;

	pthread_mutex_lock(&dev->cfg_lock);
	gen = dev->cfg_gen + 1;
	__atomic_store_n(&dev->cfg_gen, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->cfg_lock);
	/* Only the control thread starts and stops workers, so running cannot change meanwhile. */
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		if (dev->queues[i].running)
			vb_queue_wake(&dev->queues[i]);
	}
	pthread_mutex_lock(&dev->cfg_lock);
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		while (dev->queues[i].running && dev->queues[i].acked_gen < gen)
			pthread_cond_wait(&dev->cfg_acked, &dev->cfg_lock);
	}
	pthread_mutex_unlock(&dev->cfg_lock);
}

void vb_device_set_mem(struct vb_device *dev, struct vb_mem_table *mem)
{
	struct vb_mem_table *old = dev->mem;

	pthread_mutex_lock(&dev->cfg_lock);
	dev->mem = mem;
	pthread_mutex_unlock(&dev->cfg_lock);
	vb_device_publish(dev);
	vb_mem_put(old);
}

void vb_device_set_log(struct vb_device *dev, struct vb_dirty_log *log)
{
	struct vb_dirty_log *old = dev->log;

	pthread_mutex_lock(&dev->cfg_lock);
	dev->log = log;
	pthread_mutex_unlock(&dev->cfg_lock);
	vb_device_publish(dev);
	free_log(old);
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

void vb_device_reset(struct vb_device *dev)
{
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		struct vb_queue *q = &dev->queues[i];

		vb_queue_stop(q);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		q->kick_fd = -1;
		vb_queue_set_call_fd(q, -1);
		vb_queue_set_err_fd(q, -1);
		q->call_missed = false;
		__atomic_store_n(&q->enabled, 0, __ATOMIC_RELAXED);
		q->num = 0;
		q->base = 0;
	}
	dev->features = 0;
	dev->writeback = 1;
}
