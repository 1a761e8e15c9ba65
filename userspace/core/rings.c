/* The device's rings as a set: creating and destroying them, reset, publishing to their workers, status. */
#include "rings.h"

#include <errno.h>
#include <stdlib.h>

#include "queue.h"
#include "util/log.h"

int vb_device_init(struct vb_device *dev, const struct vb_device_opts *opts)
{
	int ret = vb_device_open(dev, opts);

	if (ret < 0)
		return ret;
	dev->queues = calloc(dev->num_queues, sizeof(*dev->queues));
	if (!dev->queues) {
		vb_device_close(dev);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		ret = vb_queue_init(&dev->queues[i], dev, i);
		if (ret < 0) {
			while (i-- > 0)
				vb_queue_destroy(&dev->queues[i]);
			free(dev->queues);
			dev->queues = NULL;
			vb_device_close(dev);
			return ret;
		}
	}
	return 0;
}

bool vb_device_destroy(struct vb_device *dev)
{
	for (unsigned int i = 0; i < dev->num_queues; i++)
		vb_queue_destroy(&dev->queues[i]);
	free(dev->queues);
	dev->queues = NULL;
	return vb_device_close(dev);
}

void vb_device_log_status(struct vb_device *dev, const char *name)
{
	unsigned int running = 0, busy = 0, stopping = 0, rings, reads;
	char list[256];

	/*
	 * A snapshot taken without stopping the queues: counters may be a moment
	 * old. A stopping ring's abandoned reads are its own until it hands them
	 * off, or waits for them past the limit.
	 */
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		struct vb_queue_stats st;

		vb_queue_stats(&dev->queues[i], &st);
		running += st.running;
		busy += st.busy;
		stopping += st.abandoned;
	}
	reads = vb_device_orphan_summary(dev, &rings, list, sizeof(list));
	vb_info("status %s: %u of %u rings running, %u requests in flight, %u abandoned reads on stopping rings, %u orphaned rings (limit %u) with %u abandoned reads outstanding%s%s",
		name, running, dev->num_queues, busy, stopping, rings, dev->orphan_limit, reads,
		rings ? ": " : "", list);
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
		if (vb_queue_running(&dev->queues[i]))
			vb_queue_wake(&dev->queues[i]);
	}
	pthread_mutex_lock(&dev->cfg_lock);
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		while (vb_queue_running(&dev->queues[i]) && dev->queues[i].acked_gen < gen)
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
	vb_dirty_log_free(old);
}

void vb_device_reset(struct vb_device *dev)
{
	for (unsigned int i = 0; i < dev->num_queues; i++)
		vb_queue_reset(&dev->queues[i]);
	dev->features = 0;
	dev->writeback = 1;
}
