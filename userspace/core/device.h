/* The virtio-blk device every front door shares: backing disk, features, config space, memory map and orphaned rings. */
#ifndef VBRIDGE_DEVICE_H
#define VBRIDGE_DEVICE_H

#include <linux/virtio_blk.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/blk.h"
#include "virtio/dirty_log.h"
#include "engine/disk.h"
#include "engine/engine.h"
#include "virtio/guest_mem.h"

#define VB_QUEUES_MAX 64

struct vb_queue;

struct vb_device_opts {
	const char *disk_path;
	uint64_t create_size;		/* create disk_path sparse with this size if missing */
	bool readonly;
	unsigned int num_queues;
	unsigned int max_queue_size;
	const char *serial;
	struct vb_engine engine;	/* ops NULL: the default engine */
	uint32_t poll_us;		/* queue threads spin this long before sleeping */
	uint32_t sqpoll_idle_ms;	/* 0: no SQPOLL; else its kernel thread's idle time */
	unsigned int orphan_limit;	/* orphaned rings at most; past it a suspension waits */
	unsigned int orphan_timeout_ms;	/* how long destroy waits for orphaned rings */
	uint64_t bounce_max;		/* longer reads skip the bounce buffer (--bounce-max) */
	bool bounce_auto;		/* --bounce-max auto: bounce_max chosen by the disk's kind */
};

/*
 * A suspended ring whose abandoned reads the host still works on; its
 * thread owns it (queue.c) and registers it with the device meanwhile.
 */
struct vb_orphan {
	struct vb_orphan *next;		/* under the device's orphan_lock */
	unsigned int queue;
	unsigned int reads;		/* atomic: abandoned reads not finished yet */
};

struct vb_device {
	struct vb_disk disk;
	unsigned int num_queues;
	unsigned int max_queue_size;
	struct vb_blk_target blk;	/* the disk as request decoding sees it; set at init */
	uint64_t offered_features;	/* device and ring bits we offer */
	uint64_t features;		/* what the driver acknowledged */
	/* Config space writeback flag (CONFIG_WCE); queue threads read it per write. */
	uint8_t writeback;
	/*
	 * What queue workers adopt at a safe point of their loop: the guest
	 * memory map (NULL: none), the dirty log (NULL: none), LOG_ALL in
	 * features and each queue's set-up ring addresses. Written by the
	 * control thread under cfg_lock, then vb_device_publish bumps cfg_gen
	 * and waits until every running worker has adopted it (acked_gen); no
	 * worker waits for storage first, so that takes microseconds.
	 */
	pthread_mutex_t cfg_lock;
	pthread_cond_t cfg_acked;
	uint64_t cfg_gen;		/* atomic reads outside cfg_lock */
	struct vb_mem_table *mem;	/* the device's reference */
	struct vb_dirty_log *log;
	struct vb_queue *queues;	/* num_queues of them */
	struct vb_engine engine;
	uint64_t poll_ns;		/* adaptive polling window, 0: off */
	uint32_t sqpoll_idle_ms;	/* io_uring SQPOLL per queue, 0: off */
	uint64_t bounce_max;		/* vb_engine_io.bounce_max of its rings */
	/*
	 * Suspended rings whose abandoned reads the host still works on, each
	 * with a thread, an io_uring and request slots: at most orphan_limit.
	 * The device (and its disk) must outlive them.
	 */
	pthread_mutex_t orphan_lock;
	pthread_cond_t orphan_done;
	struct vb_orphan *orphans;	/* under orphan_lock */
	unsigned int orphan_rings;	/* under orphan_lock: how many */
	unsigned int orphan_limit;
	unsigned int orphan_timeout_ms;
	int exiting;			/* atomic: the daemon is exiting, the limit no longer holds */
};

/*
 * Opens the disk and sets up everything but the rings (core/rings.h makes
 * those): returns 0 or -errno.
 */
int vb_device_open(struct vb_device *dev, const struct vb_device_opts *opts);
/*
 * Frees what vb_device_open set up once the orphaned rings are done,
 * waiting orphan_timeout_ms for them at most. Returns false, having logged
 * which rings and how many reads it abandons, if some were still with the
 * host: their threads still use the device, so it must stay in memory
 * (not freed, not reused) until the process exits.
 */
bool vb_device_close(struct vb_device *dev);
/* Fills the config space as the driver reads it. */
void vb_device_config(const struct vb_device *dev, struct virtio_blk_config *cfg);
/*
 * Applies a driver write to config space; only the writeback byte is
 * writable, and only with CONFIG_WCE. Returns 0 or -EPERM/-EINVAL.
 */
int vb_device_write_config(struct vb_device *dev, uint32_t offset, const uint8_t *buf,
			   uint32_t size);
/*
 * A suspended ring hands its abandoned reads to a thread of their own:
 * begin registers it, or refuses (false, logged) when orphan_limit rings
 * are orphaned already and the daemon is not exiting; done when the host
 * has finished them.
 */
bool vb_device_orphan_begin(struct vb_device *dev, struct vb_orphan *o);
void vb_device_orphan_done(struct vb_device *dev, struct vb_orphan *o);
/*
 * The daemon is exiting: a ring stopping past orphan_limit stops waiting for
 * its reads and is orphaned anyway, so that the exit is not held up beyond
 * orphan_timeout_ms. Callable from any thread.
 */
void vb_device_begin_exit(struct vb_device *dev);
/*
 * For the status line: the orphaned rings (in *rings), "queue Q (N reads), ..." in list,
 * and the abandoned reads they still have with the host (returned).
 */
unsigned int vb_device_orphan_summary(struct vb_device *dev, unsigned int *rings, char *list,
				      size_t size);

#endif
