/* vhost-user transport: the listening socket and framing of messages with their file descriptors. */
#include "vu_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

static int fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* True if a live process accepts connections on the socket at path. */
static bool socket_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

int vb_vu_listen(const char *path, mode_t mode, gid_t gid)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_umask;
	int fd, err;

	err = fill_addr(&sun, path);
	if (err < 0) {
		vb_err("socket path %s is too long", path);
		return err;
	}
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			vb_err("%s is a symbolic link; refusing to follow or replace it", path);
			return -ELOOP;
		}
		if (!S_ISSOCK(st.st_mode)) {
			vb_err("%s exists and is not a socket; refusing to replace it", path);
			return -EEXIST;
		}
		if (socket_in_use(&sun)) {
			vb_err("%s is in use by another process", path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* bind creates the file: the umask keeps it from being looser than mode meanwhile. */
	old_umask = umask(0777 & ~mode);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (err < 0) {
		err = -errno;
		vb_err("cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	/* Should the path have been swapped for a symlink meanwhile, its target is left alone. */
	if ((gid != (gid_t)-1 && fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		vb_err("cannot set the owner group or mode of %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Front-ends queue behind the one being served instead of failing at once. */
	if (listen(fd, 16) < 0) {
		err = -errno;
		vb_err("cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	unlink(path);
	close(fd);
	return err;
}

static void close_fds(int *fds, size_t *nfds)
{
	for (size_t i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

/* Waits until fd is readable; -EINTR if stop_fd becomes readable first. */
static int wait_readable(int fd, int stop_fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };

	for (;;) {
		int n = poll(p, 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -EINTR;
		return 0;
	}
}

/* Reads exactly len bytes, collecting fds from any control data on the way. */
static int read_full(int fd, int stop_fd, void *buf, size_t len, int *fds, size_t *nfds)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct iovec iov = { .iov_base = p + got, .iov_len = len - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control, .msg_controllen = sizeof(control),
		};
		struct cmsghdr *cmsg;
		ssize_t n;
		int ret = wait_readable(fd, stop_fd);

		if (ret < 0)
			return ret;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
			size_t count;

			if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
				continue;
			count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
				if (*nfds < VHOST_USER_MAX_FDS)
					fds[(*nfds)++] = f;
				else
					close(f);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			vb_err("front-end sent more than %d file descriptors", VHOST_USER_MAX_FDS);
			return -EPROTO;
		}
		if (n == 0)
			return got == 0 ? -ECONNRESET : -EPIPE;
		got += n;
	}
	return 0;
}

int vb_vu_recv(int fd, int stop_fd, struct vhost_user_msg *msg, int *fds, size_t *nfds)
{
	int ret;

	*nfds = 0;
	ret = read_full(fd, stop_fd, &msg->hdr, VHOST_USER_HDR_SIZE, fds, nfds);
	if (ret == -EPIPE) {
		vb_err("front-end closed the connection in the middle of a message header");
		ret = -EPROTO;
	}
	if (ret < 0)
		goto fail;
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		vb_err("message %u has protocol version %u, expected %u", msg->hdr.request,
		       msg->hdr.flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
		ret = -EPROTO;
		goto fail;
	}
	if (msg->hdr.size > VHOST_USER_PAYLOAD_MAX) {
		vb_err("message %u has a %u-byte payload, the limit is %u", msg->hdr.request,
		       msg->hdr.size, VHOST_USER_PAYLOAD_MAX);
		ret = -EPROTO;
		goto fail;
	}
	ret = read_full(fd, stop_fd, &msg->payload, msg->hdr.size, fds, nfds);
	if (ret == -EPIPE || ret == -ECONNRESET) {
		vb_err("message %u truncated: the front-end closed before its %u-byte payload",
		       msg->hdr.request, msg->hdr.size);
		ret = -EPROTO;
	}
	if (ret < 0)
		goto fail;
	return 0;
fail:
	close_fds(fds, nfds);
	return ret;
}

int vb_vu_send_reply(int fd, struct vhost_user_msg *msg, int reply_fd)
{
	struct iovec iov[2] = {
		{ .iov_base = &msg->hdr, .iov_len = VHOST_USER_HDR_SIZE },
		{ .iov_base = &msg->payload, .iov_len = msg->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	char control[CMSG_SPACE(sizeof(int))];

	if (reply_fd >= 0) {
		struct cmsghdr *cmsg;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &reply_fd, sizeof(int));
	}

	msg->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* The fd went with the first bytes. */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		/* Drop what was sent from the front of the iovecs. */
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}
