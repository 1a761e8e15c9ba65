/* Unit tests of vhost-user message framing: headers, payload limits, versions, fds, truncation. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "vhost-user/vu_socket.h"
#include "tap.h"

static int sv[2], stop_fd;

static void reopen(void)
{
	close(sv[0]);
	close(sv[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

static void send_raw(const void *buf, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sv[1], &mh, 0) < 0)
		perror("sendmsg");
}

static void send_msg(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		     const int *fds, int nfds)
{
	uint8_t buf[12 + 8192];
	struct vhost_user_header h = { req, flags, size };

	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + 12, payload, size);
	send_raw(buf, 12 + size, fds, nfds);
}

static bool fd_valid(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

int main(void)
{
	static struct vhost_user_msg msg;
	int fds[VHOST_USER_MAX_FDS];
	size_t nfds;
	uint64_t v = 0x1122334455667788ull;
	int efd[3];
	static uint8_t big[8192];

	vb_log_threshold = VB_LOG_ERROR;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	stop_fd = eventfd(0, 0);
	for (int i = 0; i < 3; i++)
		efd[i] = eventfd(0, 0);

	send_msg(VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, &v, 8, NULL, 0);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == 0 && msg.hdr.request == 2 &&
	   msg.hdr.size == 8 && msg.payload.u64 == v && nfds == 0, "well-formed message");

	send_msg(VHOST_USER_SET_VRING_CALL, VHOST_USER_VERSION, &v, 8, efd, 3);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == 0 && nfds == 3 && fd_valid(fds[0]),
	   "message with three fds");
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);

	send_msg(VHOST_USER_GET_FEATURES, 2, NULL, 0, NULL, 0);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -EPROTO, "wrong version is refused");
	reopen();

	send_msg(VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, big, sizeof(big), efd, 1);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -EPROTO && nfds == 0,
	   "payload over the limit is refused and its fds closed");
	reopen();

	send_raw("\x01\x00\x00\x00\x01\x00", 6, NULL, 0);
	shutdown(sv[1], SHUT_WR);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -EPROTO, "truncated header is refused");
	reopen();

	send_msg(VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, &v, 8, efd, 2);
	/* Drop the last four payload bytes by sending a header that promises more. */
	{
		struct vhost_user_header h = { 2, VHOST_USER_VERSION, 16 };

		ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == 0, "message before the truncated one");
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		send_raw(&h, sizeof(h), efd, 1);
		send_raw(&v, 4, NULL, 0);
		shutdown(sv[1], SHUT_WR);
		ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -EPROTO && nfds == 0,
		   "truncated payload is refused and its fds closed");
	}
	reopen();

	ok(close(sv[1]) == 0 && vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -ECONNRESET,
	   "peer closing between messages is a disconnect");
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);

	eventfd_write(stop_fd, 1);
	ok(vb_vu_recv(sv[0], stop_fd, &msg, fds, &nfds) == -EINTR, "stop request interrupts the wait");

	msg.hdr.request = VHOST_USER_GET_FEATURES;
	msg.hdr.size = 8;
	msg.payload.u64 = 42;
	ok(vb_vu_send_reply(sv[0], &msg, -1) == 0, "reply sent");
	{
		uint8_t buf[20];
		struct vhost_user_header h;
		uint64_t got;

		ok(read(sv[1], buf, sizeof(buf)) == 20, "reply is header plus 8 bytes");
		memcpy(&h, buf, sizeof(h));
		memcpy(&got, buf + 12, 8);
		ok(h.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) && h.size == 8 && got == 42,
		   "reply has the REPLY flag and the payload right after the header");
	}
	return tap_done();
}
