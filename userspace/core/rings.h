/* The device's rings as a set: creating and destroying them, reset, publishing to their workers, status. */
#ifndef VBRIDGE_RINGS_H
#define VBRIDGE_RINGS_H

#include <stdbool.h>

#include "device.h"

/* vb_device_open, then one stopped ring per queue. Returns 0 or -errno. */
int vb_device_init(struct vb_device *dev, const struct vb_device_opts *opts);
/*
 * Stops and frees the rings, then vb_device_close: false if orphaned rings
 * still use the device when the wait for them ends.
 */
bool vb_device_destroy(struct vb_device *dev);
/* Logs one line: rings running, requests in flight, orphaned rings and their reads. */
void vb_device_log_status(struct vb_device *dev, const char *name);
/*
 * Publishes a new memory map (taking over the caller's reference; NULL:
 * none) or dirty log (allocated with malloc; NULL: none) and returns once
 * every running worker uses it. Requests that started with the old map keep
 * it until they end; the old log is unmapped at once, since workers mark
 * through the log they adopted, the new one, from then on.
 */
void vb_device_set_mem(struct vb_device *dev, struct vb_mem_table *mem);
void vb_device_set_log(struct vb_device *dev, struct vb_dirty_log *log);
/* Makes running workers adopt what changed under cfg_lock; returns once each has. */
void vb_device_publish(struct vb_device *dev);
/* Device reset: stops every queue (draining its I/O) and forgets ring state and features. */
void vb_device_reset(struct vb_device *dev);

#endif
