/* Fuzzes vhost-user message framing with fds (vb_vu_recv) and the protocol state machine (the real server loop, its queue threads included) with message streams from the input. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/rings.h"
#include "util/log.h"
#include "core/queue.h"
#include "vhost-user/vhost_user.h"
#include "vhost-user/vu_socket.h"
#include "fuzz.h"

/*
 * Input: a stream of vhost-user messages, optionally followed by "#RAM#"
 * and patches for guest memory, and "#INF#" and patches for the other
 * memfds (inflight regions, dirty logs). A patch is u32 offset, u16 length
 * and that many bytes, written over the file (the offset is taken modulo
 * its size).
 *
 * The stream is cut into messages the way the daemon reads it (12-byte
 * header, then hdr.size bytes) and each message is sent with the fds its
 * header asks for in flag bits the daemon ignores:
 *   bits 8-11   number of fds (9 or more overflows the daemon's 8)
 *   bits 12-13  their kind: 0 guest memory memfd (the template below plus
 *               the RAM patches), 1 eventfd, 2 small memfd (zeroes plus the
 *               INF patches), 3 the read end of a pipe (cannot be mapped)
 *   bit 14      send the header and the payload separately, the fds with
 *               the payload
 *   bit 15      split the header after 5 bytes as well
 * At most MAX_MSGS messages are sent.
 *
 * Each input runs twice:
 *  1. framing: the stream goes into a socketpair and vb_vu_recv decodes it;
 *     every message, error and fd must be exactly what was sent, and no fd
 *     may be left open;
 *  2. protocol: a real struct vb_vu_server with a real device (a 1 MiB
 *     image, 2 queues of up to 128 entries) serves the stream as one
 *     connection through vb_vu_server_run: the harness connects to the
 *     server's socket, sends the whole stream, shuts its side down and runs
 *     the server loop in this thread with a stop fd (an epoll set watching
 *     the harness's end for hang-up) that becomes readable only once the
 *     server has closed the connection. Closing stops every queue thread
 *     the stream started, so runs are independent. Afterwards the device
 *     must be back to its unconnected state, every reply well-formed, and
 *     no fd left open.
 *
 * Guest memory template (region offsets; seeds map it at guest address 0):
 * descriptor table at 0x0, avail ring 0x1000, used ring 0x2000, indirect
 * table 0x3000, request headers and discard segments 0x4000, status bytes
 * 0x5000, data buffers from 0x8000. The avail ring offers 7 requests: read,
 * write, flush, GET_ID, an indirect read, discard and write-zeroes.
 */

#define MAX_MSGS 128
#define MAX_CHUNKS (3 * MAX_MSGS + 1)
#define RAM_SIZE 0x40000
#define SMALL_SIZE 0x10000
#define TEMPLATE_SIZE 0x6000
#define DISK_SIZE (1u << 20)

#define FLAG_NFDS(f) (((f) >> 8) & 15)
#define FLAG_KIND(f) (((f) >> 12) & 3)
#define FLAG_FDS_LATE (1u << 14)
#define FLAG_SPLIT_HDR (1u << 15)

enum fd_kind { KIND_RAM, KIND_EVENTFD, KIND_SMALL, KIND_PIPE };

struct chunk {
	size_t off, len;
	unsigned int nfds;
	enum fd_kind kind;
	/* Filled when sent: what each fd was. */
	dev_t dev[15];
	ino_t ino[15];
};

struct plan {
	const uint8_t *s;
	size_t len;		/* bytes of the stream to send */
	size_t sent;		/* bytes that went (a full socket buffer stops the sending) */
	struct chunk chunks[MAX_CHUNKS];
	unsigned int nchunks, nsent;
	const uint8_t *ram, *inf;
	size_t ram_len, inf_len;
};

static struct vb_device dev;
static struct vb_vu_server srv;
static char dir[64], sock_path[128];
static pid_t owner;
static uint8_t template[TEMPLATE_SIZE];

static void put_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(template + i * sizeof(d), &d, sizeof(d));
}

static void put_hdr(unsigned int i, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memcpy(template + 0x4000 + 16 * i, &h, sizeof(h));
}

#define HDR(i) (0x4000u + 16 * (i))
#define STATUS(i) (0x5000u + (i))
#define DATA(i) (0x8000u + 0x1000 * (i))
#define RD VRING_DESC_F_NEXT
#define WR (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE)

static void build_template(void)
{
	static const uint16_t heads[] = { 0, 3, 6, 8, 11, 12, 15 };
	struct virtio_blk_discard_write_zeroes seg[2] = {
		{ .sector = 32, .num_sectors = 8 },
		{ .sector = 40, .num_sectors = 8, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
	};
	struct vring_desc ind[3] = {
		{ HDR(4), 16, RD, 1 }, { DATA(3), 512, WR, 2 }, { STATUS(4), 1, VRING_DESC_F_WRITE, 0 },
	};
	uint16_t idx = sizeof(heads) / sizeof(heads[0]);

	put_hdr(0, VIRTIO_BLK_T_IN, 0);
	put_desc(0, HDR(0), 16, RD, 1);
	put_desc(1, DATA(0), 4096, WR, 2);
	put_desc(2, STATUS(0), 1, VRING_DESC_F_WRITE, 0);
	put_hdr(1, VIRTIO_BLK_T_OUT, 8);
	put_desc(3, HDR(1), 16, RD, 4);
	put_desc(4, DATA(1), 4096, RD, 5);
	put_desc(5, STATUS(1), 1, VRING_DESC_F_WRITE, 0);
	put_hdr(2, VIRTIO_BLK_T_FLUSH, 0);
	put_desc(6, HDR(2), 16, RD, 7);
	put_desc(7, STATUS(2), 1, VRING_DESC_F_WRITE, 0);
	put_hdr(3, VIRTIO_BLK_T_GET_ID, 0);
	put_desc(8, HDR(3), 16, RD, 9);
	put_desc(9, DATA(2), VIRTIO_BLK_ID_BYTES, WR, 10);
	put_desc(10, STATUS(3), 1, VRING_DESC_F_WRITE, 0);
	put_hdr(4, VIRTIO_BLK_T_IN, 16);
	memcpy(template + 0x3000, ind, sizeof(ind));
	put_desc(11, 0x3000, sizeof(ind), VRING_DESC_F_INDIRECT, 0);
	put_hdr(5, VIRTIO_BLK_T_DISCARD, 0);
	memcpy(template + 0x4100, &seg[0], sizeof(seg[0]));
	put_desc(12, HDR(5), 16, RD, 13);
	put_desc(13, 0x4100, sizeof(seg[0]), RD, 14);
	put_desc(14, STATUS(5), 1, VRING_DESC_F_WRITE, 0);
	put_hdr(6, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	memcpy(template + 0x4110, &seg[1], sizeof(seg[1]));
	put_desc(15, HDR(6), 16, RD, 16);
	put_desc(16, 0x4110, sizeof(seg[1]), RD, 17);
	put_desc(17, STATUS(6), 1, VRING_DESC_F_WRITE, 0);
	/* avail: flags 0, idx, ring[] */
	memcpy(template + 0x1002, &idx, 2);
	memcpy(template + 0x1004, heads, sizeof(heads));
}

static void cleanup(void)
{
	/* Forked replay children must not tear down their parent's server. */
	if (getpid() != owner)
		return;
	vb_vu_server_destroy(&srv);
	vb_device_destroy(&dev);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char img[128];
	struct vb_device_opts opts = {
		.disk_path = img, .create_size = DISK_SIZE, .num_queues = 2,
		.max_queue_size = 128, .serial = "fuzz",
	};

	(void)argc;
	(void)argv;
	fuzz_init_output();
	vb_log_threshold = fuzz_verbose() ? VB_LOG_DEBUG : VB_LOG_ERROR;
	signal(SIGPIPE, SIG_IGN);
	build_template();
	snprintf(dir, sizeof(dir), "/tmp/vbridge-fuzz-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/vu.sock", dir);
	if (vb_device_init(&dev, &opts) < 0)
		abort();
	/* The device keeps its fd; nothing is left to clean up if the fuzzer dies. */
	unlink(img);
	if (vb_vu_server_init(&srv, &dev, &(struct vb_vu_opts){ .path = sock_path, .mode = 0600,
							     .gid = (gid_t)-1 }) < 0)
		abort();
	owner = getpid();
	atexit(cleanup);
	return 0;
}

/* ---- input plan ---- */

static void add_chunk(struct plan *p, size_t off, size_t len, unsigned int nfds, enum fd_kind kind)
{
	if (len == 0)
		return;
	p->chunks[p->nchunks++] = (struct chunk){ .off = off, .len = len, .nfds = nfds, .kind = kind };
}

static const uint8_t *find(const uint8_t *data, size_t size, const char *marker)
{
	return memmem(data, size, marker, strlen(marker));
}

static void make_plan(struct plan *p, const uint8_t *data, size_t size)
{
	const uint8_t *ram = find(data, size, "#RAM#"), *inf = find(data, size, "#INF#");
	const uint8_t *end = data + size;
	size_t pos = 0;
	unsigned int msgs = 0;

	memset(p, 0, offsetof(struct plan, chunks));
	p->nchunks = p->nsent = 0;
	p->ram = p->inf = NULL;
	p->ram_len = p->inf_len = 0;
	/* A section runs to the other marker if that comes after it (markers may overlap), else to the end. */
	if (ram) {
		p->ram = ram + 5;
		p->ram_len = (inf && inf >= p->ram ? inf : end) - p->ram;
	}
	if (inf) {
		p->inf = inf + 5;
		p->inf_len = (ram && ram >= p->inf ? ram : end) - p->inf;
	}
	p->s = data;
	p->len = (ram && (!inf || ram < inf) ? ram : inf ? inf : end) - data;

	while (pos < p->len && msgs < MAX_MSGS) {
		struct vhost_user_header h;
		size_t left = p->len - pos, plen, first_end;
		bool late;

		if (left < VHOST_USER_HDR_SIZE) {
			add_chunk(p, pos, left, 0, KIND_RAM);
			pos = p->len;
			break;
		}
		memcpy(&h, p->s + pos, sizeof(h));
		plen = h.size < left - VHOST_USER_HDR_SIZE ? h.size : left - VHOST_USER_HDR_SIZE;
		late = (h.flags & FLAG_FDS_LATE) && plen;
		first_end = pos + VHOST_USER_HDR_SIZE + (late ? 0 : plen);
		if (h.flags & FLAG_SPLIT_HDR) {
			add_chunk(p, pos, 5, late ? 0 : FLAG_NFDS(h.flags), FLAG_KIND(h.flags));
			add_chunk(p, pos + 5, first_end - pos - 5, 0, KIND_RAM);
		} else {
			add_chunk(p, pos, first_end - pos, late ? 0 : FLAG_NFDS(h.flags), FLAG_KIND(h.flags));
		}
		if (late)
			add_chunk(p, pos + VHOST_USER_HDR_SIZE, plen, FLAG_NFDS(h.flags), FLAG_KIND(h.flags));
		pos += VHOST_USER_HDR_SIZE + plen;
		msgs++;
	}
	p->len = pos;
}

/* ---- fds to send ---- */

static void apply_patches(int fd, const uint8_t *patch, size_t len, size_t file_size)
{
	struct fuzz_input in = { patch, len };

	while (in.left >= 6) {
		size_t off = fuzz_u32(&in) % file_size;
		size_t n = fuzz_u16(&in);

		n = n < in.left ? n : in.left;
		n = n < file_size - off ? n : file_size - off;
		if (pwrite(fd, in.p, n, off) != (ssize_t)n)
			abort();
		in.p += n;
		in.left -= n;
	}
}

static int make_fd(const struct plan *p, enum fd_kind kind)
{
	int fd, pfd[2];

	switch (kind) {
	case KIND_RAM:
		fd = memfd_create("fuzz-guest-ram", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, RAM_SIZE) < 0 ||
		    pwrite(fd, template, sizeof(template), 0) != sizeof(template))
			abort();
		apply_patches(fd, p->ram, p->ram_len, RAM_SIZE);
		return fd;
	case KIND_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC);
		if (fd < 0)
			abort();
		return fd;
	case KIND_SMALL:
		fd = memfd_create("fuzz-region", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, SMALL_SIZE) < 0)
			abort();
		apply_patches(fd, p->inf, p->inf_len, SMALL_SIZE);
		return fd;
	case KIND_PIPE:
		if (pipe2(pfd, O_CLOEXEC) < 0)
			abort();
		close(pfd[1]);
		return pfd[0];
	}
	abort();
}

/* Sends the chunks (with fresh fds) until the socket buffer is full; records what went. */
static void send_plan(int sock, struct plan *p)
{
	p->sent = 0;
	p->nsent = 0;
	for (unsigned int i = 0; i < p->nchunks; i++) {
		struct chunk *c = &p->chunks[i];
		char control[CMSG_SPACE(sizeof(int) * 15)];
		struct iovec iov = { (void *)(p->s + c->off), c->len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		int fds[15];
		ssize_t n;

		for (unsigned int j = 0; j < c->nfds; j++) {
			struct stat st;

			fds[j] = make_fd(p, c->kind);
			if (fstat(fds[j], &st) < 0)
				abort();
			c->dev[j] = st.st_dev;
			c->ino[j] = st.st_ino;
		}
		if (c->nfds) {
			struct cmsghdr *cm;

			memset(control, 0, sizeof(control));
			mh.msg_control = control;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * c->nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * c->nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * c->nfds);
		}
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		for (unsigned int j = 0; j < c->nfds; j++)
			close(fds[j]);
		if (n <= 0)
			break;
		p->nsent++;
		p->sent += n;
		if ((size_t)n < c->len) {
			c->len = n;
			break;
		}
	}
}

/* ---- 1. framing ---- */

struct expect {
	int ret;
	unsigned int nfds;
	dev_t dev[VHOST_USER_MAX_FDS];
	ino_t ino[VHOST_USER_MAX_FDS];
};

/* Collects the fds of the sent chunks that start in [from, to); false if one chunk has too many for one recvmsg. */
static bool collect(const struct plan *p, size_t from, size_t to, struct expect *e)
{
	bool ok = true;

	for (unsigned int i = 0; i < p->nsent; i++) {
		const struct chunk *c = &p->chunks[i];

		if (c->off < from || c->off >= to || !c->nfds)
			continue;
		if (c->nfds > VHOST_USER_MAX_FDS)
			ok = false;
		for (unsigned int j = 0; j < c->nfds && e->nfds < VHOST_USER_MAX_FDS; j++) {
			e->dev[e->nfds] = c->dev[j];
			e->ino[e->nfds++] = c->ino[j];
		}
	}
	return ok;
}

/* What vb_vu_recv must return for the message at pos of the sent stream. */
static size_t expect_message(const struct plan *p, size_t pos, struct expect *e)
{
	size_t left = p->sent - pos, hdr = left < VHOST_USER_HDR_SIZE ? left : VHOST_USER_HDR_SIZE;
	struct vhost_user_header h;
	size_t plen;

	memset(e, 0, sizeof(*e));
	if (left == 0) {
		e->ret = -ECONNRESET;
		return 0;
	}
	if (!collect(p, pos, pos + hdr, e) || hdr < VHOST_USER_HDR_SIZE) {
		e->ret = -EPROTO;
		return 0;
	}
	memcpy(&h, p->s + pos, sizeof(h));
	if ((h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION || h.size > VHOST_USER_PAYLOAD_MAX) {
		e->ret = -EPROTO;
		return 0;
	}
	plen = left - hdr < h.size ? left - hdr : h.size;
	if (!collect(p, pos + hdr, pos + hdr + plen, e) || plen < h.size) {
		e->ret = -EPROTO;
		return 0;
	}
	return hdr + plen;
}

static void run_framing(struct plan *p)
{
	static struct vhost_user_msg msg;
	int sv[2], stop = eventfd(0, EFD_CLOEXEC), fds[VHOST_USER_MAX_FDS];
	size_t pos = 0, nfds;

	if (stop < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	send_plan(sv[1], p);
	close(sv[1]);
	for (;;) {
		struct expect e;
		size_t len = expect_message(p, pos, &e);
		int ret = vb_vu_recv(sv[0], stop, &msg, fds, &nfds);

		FUZZ_CHECK(ret == (len ? 0 : e.ret), "message at byte %zu: got %d, expected %d", pos, ret,
			   len ? 0 : e.ret);
		if (ret < 0) {
			FUZZ_CHECK(nfds == 0, "%zu fds left after an error", nfds);
			break;
		}
		FUZZ_CHECK(memcmp(&msg.hdr, p->s + pos, VHOST_USER_HDR_SIZE) == 0 &&
			   memcmp(&msg.payload, p->s + pos + VHOST_USER_HDR_SIZE, msg.hdr.size) == 0,
			   "message at byte %zu decoded wrongly", pos);
		FUZZ_CHECK(nfds == e.nfds, "message at byte %zu: %zu fds, expected %u", pos, nfds, e.nfds);
		for (size_t i = 0; i < nfds; i++) {
			struct stat st;

			FUZZ_CHECK(fstat(fds[i], &st) == 0 && st.st_dev == e.dev[i] && st.st_ino == e.ino[i],
				   "fd %zu of the message at byte %zu is not the one sent", i, pos);
			FUZZ_CHECK(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, "received fd without FD_CLOEXEC");
			close(fds[i]);
		}
		pos += len;
	}
	close(sv[0]);
	close(stop);
}

/* ---- 2. protocol ---- */

/* Reads exactly len bytes of a reply, collecting any fds; false at the end of the stream. */
static bool read_reply_part(int fd, void *buf, size_t len, int *fds, size_t *nfds, size_t *got)
{
	*got = 0;
	while (*got < len) {
		char control[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = { (uint8_t *)buf + *got, len - *got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof(control) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		/* The server closed with our messages unread: the replies before are all there. */
		if (n < 0 && errno == ECONNRESET)
			return false;
		FUZZ_CHECK(n >= 0, "reading replies: %s", strerror(errno));
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < count; i++) {
				int f;

				memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				FUZZ_CHECK(*nfds < 4, "more than one fd with a reply");
				fds[(*nfds)++] = f;
			}
		}
		FUZZ_CHECK(!(mh.msg_flags & MSG_CTRUNC), "replies carry too many fds");
		if (n <= 0)
			return false;
		*got += n;
	}
	return true;
}

/* Every reply is a whole, well-formed message; only GET_INFLIGHT_FD replies carry an fd, of the size they state. */
static void check_replies(int fd)
{
	static struct vhost_user_msg r;

	for (;;) {
		int fds[4];
		size_t nfds = 0, got;

		if (!read_reply_part(fd, &r.hdr, VHOST_USER_HDR_SIZE, fds, &nfds, &got)) {
			FUZZ_CHECK(got == 0 && nfds == 0, "the server sent a partial reply header");
			return;
		}
		FUZZ_CHECK(r.hdr.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK),
			   "reply to %u has flags 0x%x", r.hdr.request, r.hdr.flags);
		FUZZ_CHECK(r.hdr.size <= VHOST_USER_PAYLOAD_MAX, "reply of %u bytes", r.hdr.size);
		FUZZ_CHECK(read_reply_part(fd, &r.payload, r.hdr.size, fds, &nfds, &got),
			   "reply to %u truncated", r.hdr.request);
		if (r.hdr.request == VHOST_USER_GET_INFLIGHT_FD) {
			struct stat st;

			FUZZ_CHECK(r.hdr.size == sizeof(r.payload.inflight), "GET_INFLIGHT_FD reply size");
			FUZZ_CHECK(nfds == (r.payload.inflight.mmap_size != 0),
				   "GET_INFLIGHT_FD reply of %llu bytes with %zu fds",
				   (unsigned long long)r.payload.inflight.mmap_size, nfds);
			if (nfds)
				FUZZ_CHECK(fstat(fds[0], &st) == 0 &&
					   (uint64_t)st.st_size == r.payload.inflight.mmap_size,
					   "inflight fd is not the size the reply states");
		} else {
			FUZZ_CHECK(nfds == 0, "reply to %u carries an fd", r.hdr.request);
		}
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

static void check_disconnected(void)
{
	FUZZ_CHECK(srv.conn_fd == -1, "connection still open");
	FUZZ_CHECK(srv.protocol_features == 0 && !srv.protocol_features_acked && srv.status == 0,
		   "protocol state survived the connection");
	FUZZ_CHECK(dev.features == 0 && dev.writeback == 1, "device state survived the connection");
	FUZZ_CHECK(!dev.mem, "%u memory regions survived the connection", dev.mem->nregions);
	FUZZ_CHECK(!srv.inflight.base && !dev.log, "inflight region or dirty log still mapped");
	for (unsigned int i = 0; i < dev.num_queues; i++) {
		const struct vb_queue *q = &dev.queues[i];

		FUZZ_CHECK(!vb_queue_running(q) && q->kick_fd < 0 && q->call_fd < 0 && q->err_fd < 0 &&
			   q->num == 0 && q->base == 0 && !q->enabled && !q->reqs,
			   "queue %u not reset after the connection", i);
	}
}

static void run_protocol(struct plan *p)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLRDHUP };
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ep = epoll_create1(EPOLL_CLOEXEC);

	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if (c < 0 || ep < 0 || connect(c, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	send_plan(c, p);
	if (shutdown(c, SHUT_WR) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
		abort();
	/* Accepts our connection, serves it to the end, closes it, then sees the stop fd. */
	vb_vu_server_run(&srv, ep);
	check_disconnected();
	check_replies(c);
	close(ep);
	close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct plan plan;
	int fds_before = fuzz_count_fds();

	make_plan(&plan, data, size);
	run_framing(&plan);
	if (fuzz_count_fds() != fds_before)
		fuzz_dump_fds();
	FUZZ_CHECK(fuzz_count_fds() == fds_before, "vb_vu_recv left fds open (%d before, %d after)",
		   fds_before, fuzz_count_fds());
	run_protocol(&plan);
	if (fuzz_count_fds() != fds_before)
		fuzz_dump_fds();
	FUZZ_CHECK(fuzz_count_fds() == fds_before, "the server left fds open (%d before, %d after)",
		   fds_before, fuzz_count_fds());
	return 0;
}
