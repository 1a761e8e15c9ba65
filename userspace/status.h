/* SIGUSR1: a thread that logs one status line per device when the signal arrives. */
#ifndef VBRIDGE_STATUS_H
#define VBRIDGE_STATUS_H

#include <pthread.h>

#include "device.h"

#define VB_STATUS_DEVICES 2

struct vb_status {
	pthread_t thread;
	int sig_fd;		/* signalfd of SIGUSR1 */
	int quit_fd;		/* eventfd: stop */
	unsigned int n;
	struct vb_device *devs[VB_STATUS_DEVICES];
	const char *names[VB_STATUS_DEVICES];
};

/*
 * SIGUSR1 must already be blocked in every thread (before any starts). The
 * devices and names must outlive vb_status_stop. Returns 0 or -errno.
 */
int vb_status_start(struct vb_status *s, struct vb_device **devs, const char **names,
		    unsigned int n);
void vb_status_stop(struct vb_status *s);

#endif
