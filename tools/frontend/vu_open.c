/* Front-end one-call set-up and teardown: connect, negotiate, guest memory, queues. */
#include <errno.h>
#include <string.h>

#include "vu_internal.h"

void vu_dev_close(struct vu_dev *dev)
{
	vu_disconnect(dev);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		if (dev->vqs[i])
			vu_vq_destroy(dev->vqs[i]);
	vu_mem_release_all(dev);
}

int vu_dev_open(struct vu_dev *dev, const char *path, const struct vu_open_opts *opts)
{
	struct vu_open_opts o = opts ? *opts : (struct vu_open_opts){ 0 };
	int r;

	if (!o.connect_timeout_ms)
		o.connect_timeout_ms = 5000;
	if (!o.features)
		o.features = VU_BLK_FEATURES;
	if (!o.protocol_features)
		o.protocol_features = VU_PROTOCOL_FEATURES;
	if (!o.num_queues)
		o.num_queues = 1;
	if (!o.queue_size)
		o.queue_size = 128;
	if (!o.mem_size)
		o.mem_size = 16u << 20;
	if (!o.mem_regions)
		o.mem_regions = 1;
	if (!o.region_step)
		o.region_step = 1ull << 30;

	vu_dev_init(dev);
	r = vu_connect(dev, path, o.connect_timeout_ms);
	if (r < 0)
		goto fail;
	r = vu_negotiate(dev, o.features, o.protocol_features);
	if (r < 0)
		goto fail;
	if (o.num_queues > dev->num_queues || o.num_queues > VU_MAX_QUEUES) {
		r = vu_fail(dev, EINVAL, "%u queues wanted, the back-end has %u",
			    o.num_queues, dev->num_queues);
		goto fail;
	}
	for (unsigned i = 0; i < o.mem_regions; i++) {
		r = vu_mem_add_region(dev, i * o.region_step, o.mem_size);
		if (r < 0)
			goto fail;
	}
	r = vu_mem_set_table(dev);
	if (r < 0)
		goto fail;
	for (unsigned i = 0; i < o.num_queues; i++) {
		struct vu_vq *vq = vu_vq_create(dev, i, o.queue_size);

		if (!vq) {
			r = -ENOMEM;
			goto fail;
		}
		r = vu_vq_start(vq);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	vu_dev_close(dev);
	return r;
}
