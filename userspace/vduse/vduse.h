/* VDUSE front door: the device as a kernel vDPA device (/dev/vdX through virtio-vdpa), served from /dev/vduse/NAME. */
#ifndef VBRIDGE_VDUSE_H
#define VBRIDGE_VDUSE_H

#include <linux/vduse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "virtio/inflight.h"

struct vb_vduse_opts {
	const char *name;	/* VDUSE and vDPA device name */
	const char *log_path;	/* inflight log file; kept across daemon restarts */
};

struct vb_vduse {
	struct vb_device *dev;
	char name[VDUSE_NAME_MAX];
	int fd;			/* /dev/vduse/NAME */
	bool created;		/* by us, so ours to destroy */
	bool attached;		/* to the vDPA bus, by us or a previous instance */
	uint8_t status;		/* virtio status as last set by the driver */
	const char *log_path;
	int log_fd;
	struct vb_inflight_region inflight;
	pthread_mutex_t iotlb_lock;	/* serialises mapping IOTLB entries */
	struct vduse_vq_info vqs[VB_QUEUES_MAX];	/* as the driver set them up */
	/* The thread answering the kernel's requests, and the eventfd that stops it. */
	pthread_t thread;
	bool thread_running;
	int quit_fd;
};

/*
 * Creates the VDUSE device for dev (or reconnects to the one a killed
 * instance left, resuming its rings from the inflight log), starts
 * answering the kernel and attaches the device to the vDPA bus. Returns 0
 * or -errno, with the reason logged.
 */
int vb_vduse_init(struct vb_vduse *v, struct vb_device *dev, const struct vb_vduse_opts *o);
/* Detaches the device from the bus, stops its rings and destroys it. */
void vb_vduse_destroy(struct vb_vduse *v);

#endif
