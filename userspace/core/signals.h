/* A thread for signals the control thread may be too busy to see: SIGUSR1 status lines, and SIGTERM's early notice. */
#ifndef VBRIDGE_SIGNALS_H
#define VBRIDGE_SIGNALS_H

#include <pthread.h>
#include <stdbool.h>

#include "device.h"

#define VB_SIGNAL_DEVICES 2

struct vb_signals {
	pthread_t thread;
	int usr1_fd;		/* signalfd of SIGUSR1 */
	int stop_fd;		/* the control thread's signalfd of SIGINT and SIGTERM; never read here */
	int quit_fd;		/* eventfd: stop the thread */
	unsigned int n;
	struct vb_device *devs[VB_SIGNAL_DEVICES];
	const char *names[VB_SIGNAL_DEVICES];
};

/*
 * Starts the thread: on SIGUSR1 it logs a status line per device; once
 * stop_fd is readable it tells every device that the daemon is exiting
 * (vb_device_begin_exit), even while the control thread waits for a ring.
 * SIGUSR1 must already be blocked in every thread (before any starts). The
 * devices and names must outlive vb_signals_stop. Returns 0 or -errno.
 */
int vb_signals_start(struct vb_signals *s, int stop_fd, struct vb_device **devs,
		     const char **names, unsigned int n);
void vb_signals_stop(struct vb_signals *s);

#endif
