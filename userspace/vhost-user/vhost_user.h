/* vhost-user front door: the protocol state machine that configures the device from one front-end. */
#ifndef VBRIDGE_VHOST_USER_H
#define VBRIDGE_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/device.h"
#include "virtio/inflight.h"
#include "vhost_user_proto.h"

struct vb_vu_ring {
	struct vhost_user_vring_addr addr;
	bool addr_set;
};

struct vb_vu_server {
	struct vb_device *dev;
	char *socket_path;
	int listen_fd;
	int conn_fd;			/* -1 between front-ends */
	uint64_t offered_protocol_features;
	uint64_t control_poll_ns;	/* vb_vu_opts.control_poll_us */
	/* Per connection; reset when the front-end goes away. */
	uint64_t protocol_features;
	bool protocol_features_acked;	/* virtio bit 30 was negotiated */
	uint8_t status;
	struct vb_inflight_region inflight;	/* kept by the front-end across our restarts */
	struct vb_vu_ring rings[VB_QUEUES_MAX];
};

struct vb_vu_opts {
	const char *path;	/* the socket; see vb_vu_listen for mode and gid */
	mode_t mode;
	gid_t gid;
	/* Do not offer GET_VRING_BASE_INFLIGHT: every GET_VRING_BASE drains. */
	bool no_suspend;
	/* After each message, how long to watch the connection for the next before sleeping. */
	unsigned int control_poll_us;
};

/* Listens on o->path for dev. Returns 0 or -errno (logged). */
int vb_vu_server_init(struct vb_vu_server *srv, struct vb_device *dev, const struct vb_vu_opts *o);
/*
 * Serves front-ends one after the other until stop_fd becomes readable.
 * A front-end that misbehaves loses its connection, never the daemon.
 */
void vb_vu_server_run(struct vb_vu_server *srv, int stop_fd);
/* Closes the connection and the socket and removes the socket file. */
void vb_vu_server_destroy(struct vb_vu_server *srv);

#endif
