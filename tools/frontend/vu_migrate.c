/* Front-end side of ring suspension and inflight migration: moving a device to another back-end. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_internal.h"

int vu_inflight_open(struct vu_dev *dev, uint16_t num_queues, uint16_t queue_size,
		     struct vu_inflight *inf)
{
	uint32_t size = 0;
	int r;

	inf->fd = -1;
	inf->base = NULL;
	r = vu_get_inflight_fd(dev, num_queues, queue_size, 0, &inf->info, &size, &inf->fd);
	if (r < 0)
		return r;
	/* QEMU reads only the size and offset of the reply; yc-libvhost-server leaves the rest 0. */
	if (inf->info.num_queues == 0 && inf->info.queue_size == 0) {
		inf->info.num_queues = num_queues;
		inf->info.queue_size = queue_size;
	}
	if (inf->fd < 0 || inf->info.mmap_size == 0 || inf->info.num_queues != num_queues)
		return vu_fail(dev, EPROTO, "GET_INFLIGHT_FD: no usable region (fd %d, %llu bytes)",
			       inf->fd, (unsigned long long)inf->info.mmap_size);
	inf->base = mmap(NULL, inf->info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, inf->fd,
			 (off_t)inf->info.mmap_offset);
	if (inf->base == MAP_FAILED) {
		inf->base = NULL;
		return vu_fail(dev, errno, "mmap of the inflight region: %m");
	}
	r = vu_set_inflight_fd(dev, inf->fd, &inf->info);
	return r < 0 ? r : 0;
}

void vu_inflight_close(struct vu_inflight *inf)
{
	if (inf->base)
		munmap(inf->base, inf->info.mmap_size);
	if (inf->fd >= 0)
		close(inf->fd);
	inf->base = NULL;
	inf->fd = -1;
}

unsigned vu_inflight_count(const struct vu_inflight *inf, unsigned index)
{
	size_t stride = inf->info.mmap_size / inf->info.num_queues;
	const struct vb_inflight_split *q =
		(const void *)((const uint8_t *)inf->base + stride * index);
	unsigned n = 0;

	for (unsigned i = 0; i < inf->info.queue_size; i++)
		n += __atomic_load_n(&q->desc[i].inflight, __ATOMIC_ACQUIRE) != 0;
	return n;
}

int vu_dev_handoff(struct vu_dev *dev, const char *path, uint64_t features,
		   uint64_t protocol_features, const struct vu_inflight *inf)
{
	int r;

	vu_disconnect(dev);
	/* Nothing negotiated with the source holds for the destination until it is negotiated again. */
	dev->features = dev->protocol_features = 0;
	if ((r = vu_connect(dev, path, dev->timeout_ms)) < 0 ||
	    (r = vu_negotiate(dev, features, protocol_features)) < 0)
		return r;
	/* The destination gets the migrated region as it is: no GET_INFLIGHT_FD. */
	if (inf && (r = vu_set_inflight_fd(dev, inf->fd, &inf->info)) < 0)
		return r;
	if ((r = vu_mem_set_table(dev)) < 0)
		return r;
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (dev->vqs[i] && (r = vu_vq_start(dev->vqs[i])) < 0)
			return r;
	}
	return 0;
}
