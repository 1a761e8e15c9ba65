/* Front-end socket layer: connect, send/receive vhost-user messages with SCM_RIGHTS fds, detect EOF. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vu_internal.h"

int vu_fail(struct vu_dev *dev, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->err, sizeof(dev->err), fmt, ap);
	va_end(ap);
	return -err;
}

int64_t vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vu_ms_left(int64_t deadline)
{
	int64_t left = deadline - vu_now_ms();

	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

const char *vu_request_name(uint32_t request)
{
	static const char *const names[] = {
		[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
		[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
		[VHOST_USER_SET_OWNER] = "SET_OWNER",
		[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
		[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
		[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
		[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
		[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
		[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
		[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
		[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
		[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
		[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
		[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
		[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
		[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
		[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
		[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
		[VHOST_USER_SET_STATUS] = "SET_STATUS",
		[VHOST_USER_GET_STATUS] = "GET_STATUS",
	};

	if (request < sizeof(names) / sizeof(names[0]) && names[request])
		return names[request];
	return "request";
}

void vu_dev_init(struct vu_dev *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->sock = -1;
	dev->timeout_ms = VU_DEFAULT_TIMEOUT_MS;
	dev->num_queues = 1;
	for (unsigned i = 0; i < VU_MAX_REGIONS; i++)
		dev->regions[i].fd = -1;
}

int vu_connect(struct vu_dev *dev, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);

	if (strlen(path) >= sizeof(sa.sun_path))
		return vu_fail(dev, ENAMETOOLONG, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	vu_disconnect(dev);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return vu_fail(dev, errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			dev->sock = fd;
			return 0;
		}
		int err = errno;

		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) ||
		    vu_ms_left(deadline) == 0)
			return vu_fail(dev, err, "connect %s: %s", path, strerror(err));
		usleep(20 * 1000);
	}
}

void vu_disconnect(struct vu_dev *dev)
{
	if (dev->sock >= 0)
		close(dev->sock);
	dev->sock = -1;
}

bool vu_dev_reply_ack(const struct vu_dev *dev)
{
	return dev->ack_mode == VU_ACK_AUTO &&
	       (dev->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
}

static int send_iov(struct vu_dev *dev, struct iovec *iov, int iovcnt,
		    const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };

	if (dev->sock < 0)
		return vu_fail(dev, ENOTCONN, "not connected");
	if (nfds > 253)
		return vu_fail(dev, EINVAL, "too many fds");
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(dev->sock, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno == EPIPE ? ECONNRESET : errno;

			return vu_fail(dev, err, "sendmsg: %s", strerror(errno));
		}
		/* fds went with the first chunk */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

int vu_send_raw(struct vu_dev *dev, const void *buf, size_t len, const int *fds,
		unsigned nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return send_iov(dev, &iov, 1, fds, nfds);
}

int vu_send_msg(struct vu_dev *dev, uint32_t request, uint32_t flags,
		const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	struct vhost_user_header hdr = {
		.request = request,
		.flags = VHOST_USER_VERSION | flags,
		.size = size,
	};
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = size },
	};

	return send_iov(dev, iov, size ? 2 : 1, fds, nfds);
}

/* Reads exactly len bytes; collects fds from ancillary data. */
static int recv_exact(struct vu_dev *dev, void *buf, size_t len, int *fds,
		      unsigned *nfds, unsigned max_fds, int64_t deadline, bool forever)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = dev->sock, .events = POLLIN };
		int r = poll(&p, 1, forever ? -1 : vu_ms_left(deadline));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return vu_fail(dev, errno, "poll: %s", strerror(errno));
		}
		if (r == 0)
			return vu_fail(dev, ETIMEDOUT, "no reply from the back-end");

		union {
			char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = (char *)buf + got, .iov_len = len - got };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(dev->sock, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET)
				return vu_fail(dev, ECONNRESET, "connection reset by the back-end");
			return vu_fail(dev, errno, "recvmsg: %s", strerror(errno));
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			unsigned cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *in = (int *)CMSG_DATA(c);

			for (unsigned i = 0; i < cnt; i++) {
				if (fds && *nfds < max_fds)
					fds[(*nfds)++] = in[i];
				else
					close(in[i]);
			}
		}
		if (n == 0)
			return vu_fail(dev, ECONNRESET, "the back-end closed the connection");
		got += n;
	}
	return 0;
}

int vu_recv_msg(struct vu_dev *dev, struct vhost_user_msg *msg, int *fds,
		unsigned *nfds, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	bool forever = timeout_ms < 0;
	unsigned max_fds = (fds && nfds) ? *nfds : 0;
	unsigned dummy = 0;
	int r;

	if (!nfds)
		nfds = &dummy;
	*nfds = 0;
	if (dev->sock < 0)
		return vu_fail(dev, ENOTCONN, "not connected");
	r = recv_exact(dev, &msg->hdr, sizeof(msg->hdr), fds, nfds, max_fds, deadline, forever);
	if (r < 0)
		return r;
	if (msg->hdr.size > sizeof(msg->payload))
		return vu_fail(dev, EPROTO, "reply payload too big: %u", msg->hdr.size);
	return recv_exact(dev, &msg->payload, msg->hdr.size, fds, nfds, max_fds,
			  deadline, forever);
}

int vu_wait_closed(struct vu_dev *dev, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	char buf[4096];

	if (dev->sock < 0)
		return vu_fail(dev, ENOTCONN, "not connected");
	for (;;) {
		struct pollfd p = { .fd = dev->sock, .events = POLLIN | POLLRDHUP };
		int r = poll(&p, 1, vu_ms_left(deadline));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return vu_fail(dev, errno, "poll: %s", strerror(errno));
		}
		if (r == 0)
			return 0;
		ssize_t n = recv(dev->sock, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return vu_fail(dev, errno, "recv: %s", strerror(errno));
		/* received data (and maybe fds, closed by the kernel as we pass
		 * no control buffer): keep waiting */
	}
}

static int recv_reply(struct vu_dev *dev, uint32_t request, struct vhost_user_msg *msg)
{
	int r = vu_recv_msg(dev, msg, NULL, NULL, dev->timeout_ms);

	if (r < 0) {
		char why[sizeof(dev->err)];

		memcpy(why, dev->err, sizeof(why));
		return vu_fail(dev, -r, "%s: %s", vu_request_name(request), why);
	}
	if (msg->hdr.request != request)
		return vu_fail(dev, EPROTO, "%s: reply carries request %u",
			       vu_request_name(request), msg->hdr.request);
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(msg->hdr.flags & VHOST_USER_REPLY_MASK))
		return vu_fail(dev, EPROTO, "%s: bad reply flags 0x%x",
			       vu_request_name(request), msg->hdr.flags);
	return 0;
}

int vu_request(struct vu_dev *dev, uint32_t request, const void *payload,
	       uint32_t size, const int *fds, unsigned nfds)
{
	bool ack = vu_dev_reply_ack(dev);
	struct vhost_user_msg msg;
	int r;

	r = vu_send_msg(dev, request, ack ? VHOST_USER_NEED_REPLY_MASK : 0, payload,
			size, fds, nfds);
	if (r < 0 || !ack)
		return r;
	r = recv_reply(dev, request, &msg);
	if (r < 0)
		return r;
	if (msg.hdr.size != sizeof(uint64_t))
		return vu_fail(dev, EPROTO, "%s: ack of %u bytes", vu_request_name(request),
			       msg.hdr.size);
	dev->last_ack = msg.payload.u64;
	if (msg.payload.u64 != 0)
		return vu_fail(dev, EREMOTEIO, "%s: back-end acked failure (%llu)",
			       vu_request_name(request),
			       (unsigned long long)msg.payload.u64);
	return 0;
}

int vu_call(struct vu_dev *dev, uint32_t request, const void *payload,
	    uint32_t size, void *reply, uint32_t reply_cap, uint32_t *reply_size)
{
	struct vhost_user_msg msg;
	int r;

	r = vu_send_msg(dev, request, 0, payload, size, NULL, 0);
	if (r < 0)
		return r;
	r = recv_reply(dev, request, &msg);
	if (r < 0)
		return r;
	if (reply_size)
		*reply_size = msg.hdr.size;
	else if (msg.hdr.size != reply_cap)
		return vu_fail(dev, EPROTO, "%s: reply of %u bytes, expected %u",
			       vu_request_name(request), msg.hdr.size, reply_cap);
	memcpy(reply, &msg.payload, msg.hdr.size < reply_cap ? msg.hdr.size : reply_cap);
	return 0;
}
