/* vhost-user transport: the listening socket and framing of messages with their file descriptors. */
#ifndef VBRIDGE_VU_SOCKET_H
#define VBRIDGE_VU_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

#include "vhost_user_proto.h"

/*
 * Creates and listens on a Unix socket at path, with permissions mode and,
 * unless gid is (gid_t)-1, that group. The socket never exists with looser
 * permissions than asked for. A stale socket left by a dead daemon is
 * replaced; anything else at that path (a live daemon, a regular file, a
 * symlink) is refused. Returns the fd or -errno (logged).
 */
int vb_vu_listen(const char *path, mode_t mode, gid_t gid);

/*
 * Reads one message and up to VHOST_USER_MAX_FDS fds. While waiting, a
 * readable stop_fd aborts with -EINTR. Returns 0, -ECONNRESET when the peer
 * closed between messages, or -EPROTO for a malformed or truncated message
 * (the reason is logged). On error no fds are left open.
 */
int vb_vu_recv(int fd, int stop_fd, struct vhost_user_msg *msg, int *fds, size_t *nfds);
/* Sends a reply, with fd attached unless it is -1; header flags are set here. Returns 0 or -errno. */
int vb_vu_send_reply(int fd, struct vhost_user_msg *msg, int reply_fd);

#endif
