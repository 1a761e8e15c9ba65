/* vhost-user-blk misbehaving front-end tests: vring messages out of order, ring reconfiguration while running, memory removed under a ring, connection floods, a front-end that stops reading replies; each followed by a fresh-connection check. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define REPLY_TMO 3000
#define IO_TMO 3000
#define QUIET_MS 300 /* how long a stopped ring is watched for completions */
#define REGION_SIZE (16u << 20)
#define REGION1_GPA (1ull << 30)
#define QSIZE 64
#define PLAN 40

static struct vu_daemon d;
static uint32_t seed = 5000;
static const uint64_t slots_bit = 1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
static const uint64_t reply_ack_bit = 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fresh(const char *after)
{
	vu_fresh_check(&d, seed++, after);
}

static void check_alive(void)
{
	if (!vu_daemon_alive(&d))
		tap_bail("the daemon is dead");
}

/* Connect + negotiate (all library features, REPLY_ACK included); no memory. */
static bool bare_open(struct vu_dev *dev)
{
	int r;

	vu_dev_init(dev);
	dev->timeout_ms = REPLY_TMO;
	r = vu_connect(dev, d.sock, 5000);
	if (r == 0)
		r = vu_negotiate(dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES);
	if (r < 0) {
		tap_diag("connection set-up: %s", dev->err);
		check_alive();
		return false;
	}
	if (!(dev->protocol_features & reply_ack_bit))
		tap_diag("REPLY_ACK not negotiated");
	return true;
}

static bool full_open(struct vu_dev *dev)
{
	struct vu_open_opts o = { .queue_size = QSIZE, .mem_size = REGION_SIZE };

	if (vu_dev_open(dev, d.sock, &o) < 0) {
		tap_diag("connection set-up: %s", dev->err);
		check_alive();
		return false;
	}
	dev->timeout_ms = REPLY_TMO;
	return true;
}

/* ---------------------------------------------------------------------- */
/* A batch of reads and writes on one queue                                */

#define BATCH 16
#define BLEN 4096u
#define BATCH_SECTOR 20000u /* outside the scratch area of vu_fresh_io_ok */

struct batch {
	struct vu_dev *dev;
	struct vu_vq *vq;
	struct vu_blk_req req[BATCH];
	uint8_t *buf[BATCH];
	uint64_t sector[BATCH];
	uint32_t seed;
	unsigned n;
};

/* Even requests write a pattern, odd ones read a pattern put in the image. */
static bool batch_init(struct batch *b, struct vu_dev *dev, struct vu_vq *vq, unsigned n,
		       uint64_t sector)
{
	memset(b, 0, sizeof(*b));
	b->dev = dev;
	b->vq = vq;
	b->n = n;
	b->seed = seed++;
	for (unsigned i = 0; i < n; i++) {
		b->sector[i] = sector + i * (BLEN / 512);
		b->buf[i] = vu_mem_alloc(dev, BLEN, 4096);
		if (!b->buf[i] || vu_blk_req_init(dev, &b->req[i]) < 0) {
			tap_diag("batch set-up: %s", dev->err);
			return false;
		}
		if (i % 2 == 0) {
			vu_pattern_fill(b->buf[i], BLEN, b->seed, b->sector[i] * 512);
			vu_blk_prep_write(&b->req[i], b->sector[i], b->buf[i], BLEN);
		} else {
			vu_disk_put_pattern(&d, b->sector[i], BLEN, b->seed);
			vu_blk_prep_read(&b->req[i], b->sector[i], b->buf[i], BLEN);
		}
	}
	return true;
}

/* Enqueues requests [from, to) and kicks unconditionally. */
static bool batch_submit(struct batch *b, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		if (vu_blk_enqueue(b->vq, &b->req[i]) < 0) {
			tap_diag("enqueue: %s", b->dev->err);
			return false;
		}
	}
	vu_vq_kick(b->vq);
	return true;
}

/* Waits for requests [from, to); checks status and data. */
static bool batch_check(struct batch *b, unsigned from, unsigned to, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	bool ok = true;

	for (unsigned i = from; i < to; i++) {
		int left = (int)(deadline - now_ms());
		int r = vu_blk_wait(b->vq, &b->req[i], left > 0 ? left : 0);

		if (r < 0) {
			tap_diag("request %u (%s): %s", i, i % 2 ? "read" : "write", b->dev->err);
			ok = false;
			continue;
		}
		if (b->req[i].status != VIRTIO_BLK_S_OK) {
			tap_diag("request %u: status %u", i, b->req[i].status);
			ok = false;
		} else if (i % 2 == 0 && !vu_disk_has_pattern(&d, b->sector[i], BLEN, b->seed)) {
			tap_diag("request %u: written data not in the image", i);
			ok = false;
		} else if (i % 2 == 1 &&
			   vu_pattern_check(b->buf[i], BLEN, b->seed, b->sector[i] * 512) != BLEN) {
			tap_diag("request %u: read wrong data", i);
			ok = false;
		}
	}
	return ok;
}

/* ---------------------------------------------------------------------- */
/* 1. vring messages before SET_MEM_TABLE                                  */

static void vring_before_mem_table(void)
{
	struct vu_dev dev;
	struct vu_vq *vq;
	struct vu_blk_req req;
	uint8_t *buf;
	uint64_t sector = 30000;
	uint32_t s = seed++;
	int rn, rb, ra, rk, r;

	if (!bare_open(&dev)) {
		tap_skip(7, "no connection", "vring messages before SET_MEM_TABLE");
		vu_dev_close(&dev);
		fresh("vring messages before SET_MEM_TABLE");
		return;
	}
	/* memory exists on our side only: no SET_MEM_TABLE yet */
	if (vu_mem_add_region(&dev, 0, REGION_SIZE) < 0 || !(vq = vu_vq_create(&dev, 0, QSIZE)))
		tap_bail("local set-up: %s", dev.err);
	struct vhost_user_vring_addr a = {
		.index = 0,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.log_guest_addr = vq->used_gpa,
	};
	rn = vu_set_vring_num(&dev, 0, QSIZE);
	rb = vu_set_vring_base(&dev, 0, 0);
	ra = vu_set_vring_addr(&dev, &a);
	tap_ok(rn == 0 && rb == 0 && ra == 0,
	       "SET_VRING_NUM/BASE/ADDR before SET_MEM_TABLE are accepted (%d %d %d)", rn, rb, ra);
	r = vu_set_vring_call(&dev, 0, vq->call_fd);
	if (r < 0)
		tap_diag("SET_VRING_CALL: %s", dev.err);
	rk = vu_set_vring_kick(&dev, 0, vq->kick_fd);
	if (!tap_ok(rk == -EREMOTEIO, "SET_VRING_KICK before SET_MEM_TABLE gets a failure ack"))
		tap_diag("got %d: %s", rk, dev.err);
	if (rk == -ECONNRESET) {
		tap_skip(5, "connection closed", "ring start after SET_MEM_TABLE");
		vu_dev_close(&dev);
		fresh("SET_VRING_KICK before SET_MEM_TABLE");
		return;
	}
	vu_set_vring_enable(&dev, 0, true);
	vq->started = true; /* so that the library's waits watch it */

	/* a request made available now must not be processed */
	vu_disk_put_pattern(&d, sector, BLEN, s);
	buf = vu_mem_alloc(&dev, BLEN, 4096);
	if (!buf || vu_blk_req_init(&dev, &req) < 0)
		tap_bail("request set-up: %s", dev.err);
	vu_blk_prep_read(&req, sector, buf, BLEN);
	vu_blk_enqueue(vq, &req);
	vu_vq_kick(vq);
	r = vu_blk_wait(vq, &req, QUIET_MS);
	tap_ok(r == -ETIMEDOUT && *req.status_ptr == VU_STATUS_UNSET && vq->used->idx == 0,
	       "the ring does not start: a kicked request is not processed (wait %d, used idx %u)",
	       r, vq->used->idx);
	check_alive();

	r = vu_mem_set_table(&dev);
	if (!tap_ok(r == 0, "SET_MEM_TABLE afterwards is accepted"))
		tap_diag("%s", dev.err);
	r = vu_set_vring_kick(&dev, 0, vq->kick_fd);
	if (!tap_ok(r == 0, "a new SET_VRING_KICK after SET_MEM_TABLE is accepted"))
		tap_diag("%s", dev.err);
	vu_vq_kick(vq);
	r = vu_blk_wait(vq, &req, IO_TMO);
	if (!tap_ok(r == 0 && req.status == VIRTIO_BLK_S_OK &&
			    vu_pattern_check(buf, BLEN, s, sector * 512) == BLEN,
		    "the ring starts: the pending read completes with the right data"))
		tap_diag("wait %d (%s), status %u", r, r < 0 ? dev.err : "", req.status);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq, seed++), "verified I/O on the same connection");
	vu_dev_close(&dev);
	fresh("vring messages before SET_MEM_TABLE");
}

/* ---------------------------------------------------------------------- */
/* 2. SET_VRING_BASE / SET_VRING_NUM on a running ring                      */

static void reconfigure_running(void)
{
	struct vu_dev dev;
	struct batch *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		tap_bail("out of memory");
	if (!full_open(&dev)) {
		tap_skip(5, "no connection", "running ring reconfiguration");
		goto out;
	}
	if (!batch_init(b, &dev, dev.vqs[0], 8, BATCH_SECTOR) || !batch_submit(b, 0, 8))
		tap_bail("batch set-up failed");
	/* requests are in flight while the bad messages arrive */
	r = vu_set_vring_base(&dev, 0, 0);
	if (!tap_ok(r == -EREMOTEIO, "SET_VRING_BASE on a running ring gets a failure ack"))
		tap_diag("got %d: %s", r, dev.err);
	r = vu_set_vring_num(&dev, 0, QSIZE / 2);
	if (!tap_ok(r == -EREMOTEIO, "SET_VRING_NUM on a running ring gets a failure ack"))
		tap_diag("got %d: %s", r, dev.err);
	r = vu_set_vring_num(&dev, 0, QSIZE);
	if (!tap_ok(r == -EREMOTEIO, "SET_VRING_NUM (same size) on a running ring gets a failure ack"))
		tap_diag("got %d: %s", r, dev.err);
	tap_ok(batch_check(b, 0, 8, IO_TMO), "I/O in flight during the refused messages completes");
	tap_ok(vu_roundtrip_ok(&d, &dev, dev.vqs[0], seed++),
	       "the ring keeps working: verified I/O afterwards");
out:
	vu_dev_close(&dev);
	free(b);
	fresh("SET_VRING_BASE/NUM on a running ring");
}

/* ---------------------------------------------------------------------- */
/* 3. a memory region removed under a running ring                          */

static int mem_reg_msg(struct vu_dev *dev, uint32_t request, uint64_t gpa, uint64_t size,
		       uint64_t uva, int fd)
{
	struct vhost_user_single_mem_region m = {
		.region = { .guest_addr = gpa, .size = size, .user_addr = uva, .mmap_offset = 0 },
	};

	return vu_request(dev, request, &m, sizeof(m), fd >= 0 ? &fd : NULL, fd >= 0);
}

static void region_removed(void)
{
	struct vu_dev dev;
	struct batch *b = calloc(1, sizeof(*b)), *b2 = calloc(1, sizeof(*b2));
	struct vu_vq *vq;
	struct vu_region *r1;
	void *filler;
	int r;

	if (!b || !b2)
		tap_bail("out of memory");
	if (!bare_open(&dev)) {
		tap_skip(9, "no connection", "memory region removal");
		goto out;
	}
	if (!(dev.protocol_features & slots_bit)) {
		tap_skip(9, "CONFIGURE_MEM_SLOTS not negotiated", "memory region removal");
		goto out;
	}
	if (vu_mem_add_region(&dev, 0, REGION_SIZE) < 0 || vu_mem_set_table(&dev) < 0 ||
	    vu_mem_add_region(&dev, REGION1_GPA, REGION_SIZE) < 0)
		tap_bail("memory set-up: %s", dev.err);
	r1 = &dev.regions[1];
	r = mem_reg_msg(&dev, VHOST_USER_ADD_MEM_REG, r1->gpa, r1->size,
			(uint64_t)(uintptr_t)r1->host, r1->fd);
	if (!tap_ok(r == 0, "ADD_MEM_REG of a second region is accepted"))
		tap_diag("got %d: %s", r, dev.err);
	/* rings in region 1 (region 0 filled meanwhile), requests in region 0 */
	filler = vu_mem_alloc_in(&dev, 0, REGION_SIZE, 4096);
	vq = vu_vq_create(&dev, 0, QSIZE);
	if (!filler || !vq || vu_ptr_to_gpa(&dev, vq->desc) < REGION1_GPA ||
	    vu_ptr_to_gpa(&dev, vq->used) < REGION1_GPA)
		tap_bail("cannot place the ring in region 1: %s", dev.err);
	vu_mem_free(&dev, filler);
	r = vu_vq_start(vq);
	if (r < 0)
		tap_diag("ring start: %s", dev.err);
	tap_ok(r == 0 && vu_roundtrip_ok(&d, &dev, vq, seed++),
	       "a ring in the added region does verified I/O");

	/* A running ring lives in region 1: removing it is refused and changes nothing. */
	if (!batch_init(b, &dev, vq, 8, BATCH_SECTOR + 256) || !batch_submit(b, 0, 8))
		tap_bail("batch set-up failed");
	r = mem_reg_msg(&dev, VHOST_USER_REM_MEM_REG, r1->gpa, r1->size,
			(uint64_t)(uintptr_t)r1->host, -1);
	if (!tap_ok(r == -EREMOTEIO,
		    "REM_MEM_REG of the region a running ring lives in is refused (failure ack)"))
		tap_diag("got %d: %s", r, dev.err);
	check_alive();
	tap_ok(batch_check(b, 0, 8, IO_TMO), "the 8 requests in flight complete with correct data");
	if (!batch_init(b2, &dev, vq, 4, BATCH_SECTOR + 512) || !batch_submit(b2, 0, 4))
		tap_bail("batch set-up failed");
	tap_ok(batch_check(b2, 0, 4, IO_TMO), "the ring keeps working: 4 new requests complete");
	tap_ok(vu_daemon_alive(&d), "the daemon is alive");
	{
		uint64_t f;

		r = vu_get_features(&dev, &f);
		if (!tap_ok(r == 0, "the connection still answers (GET_FEATURES)"))
			tap_diag("%s", dev.err);
	}
	r = mem_reg_msg(&dev, VHOST_USER_REM_MEM_REG, 2ull << 30, REGION_SIZE,
			(uint64_t)(uintptr_t)dev.regions[0].host + 4096, -1);
	if (!tap_ok(r == -EREMOTEIO, "REM_MEM_REG of a region that does not exist gets a failure ack"))
		tap_diag("got %d: %s", r, dev.err);
	/* Once the ring is stopped its region may go. */
	r = vu_vq_stop(vq, NULL);
	if (r == 0)
		r = mem_reg_msg(&dev, VHOST_USER_REM_MEM_REG, r1->gpa, r1->size,
				(uint64_t)(uintptr_t)r1->host, -1);
	if (!tap_ok(r == 0, "after GET_VRING_BASE the ring's region can be removed"))
		tap_diag("got %d: %s", r, dev.err);
	/* clean close: the daemon must wait for nothing it cannot reach */
	vu_disconnect(&dev);
	usleep(100 * 1000);
	check_alive();
out:
	vu_dev_close(&dev);
	free(b);
	free(b2);
	fresh("a ring's memory region was removed");
}

/* ---------------------------------------------------------------------- */
/* 4. many connection attempts                                             */

#define EXTRA_CONNS 100
#define CYCLES 200

static int unix_connect(bool nonblock, int *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	*err = 0;
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	/* a blocking connect to a full accept queue waits at most SO_SNDTIMEO */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (strlen(d.sock) >= sizeof(sa.sun_path))
		tap_bail("socket path too long");
	memcpy(sa.sun_path, d.sock, strlen(d.sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static void many_connections(void)
{
	struct vu_dev dev;
	int fds[EXTRA_CONNS];
	unsigned queued = 0, again = 0, other = 0, failed = 0;
	int64_t t0;
	uint64_t f;

	if (!full_open(&dev)) {
		tap_skip(5, "no connection", "many connections");
		vu_dev_close(&dev);
		fresh("a failed set-up");
		return;
	}
	t0 = now_ms();
	for (unsigned i = 0; i < EXTRA_CONNS; i++) {
		int err;

		fds[i] = unix_connect(true, &err);
		if (fds[i] >= 0)
			queued++;
		else if (err == EAGAIN)
			again++;
		else if (other++ == 0)
			tap_diag("connect: %s", strerror(err));
	}
	tap_diag("%d connection attempts while busy: %u queued, %u refused with EAGAIN "
		 "(accept queue full), %u other errors",
		 EXTRA_CONNS, queued, again, other);
	tap_ok(other == 0 && queued > 0,
	       "%d connection attempts while a front-end is connected: queued or EAGAIN only",
	       EXTRA_CONNS);
	tap_ok(vu_get_features(&dev, &f) == 0 && vu_roundtrip_ok(&d, &dev, dev.vqs[0], seed++),
	       "the active connection works while others wait in the accept queue");
	for (unsigned i = 0; i < EXTRA_CONNS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	tap_ok(vu_roundtrip_ok(&d, &dev, dev.vqs[0], seed++),
	       "the active connection works after the waiting ones closed");
	vu_dev_close(&dev);

	for (unsigned i = 0; i < CYCLES; i++) {
		int err, fd = unix_connect(false, &err);

		if (fd < 0 && failed++ == 0)
			tap_diag("cycle %u: connect: %s", i, strerror(err));
		if (fd >= 0)
			close(fd);
	}
	tap_ok(failed == 0, "%d connect-then-close cycles with nobody connected (%u failed)", CYCLES,
	       failed);
	tap_diag("connection storm: %lld ms", (long long)(now_ms() - t0));
	tap_ok(vu_daemon_alive(&d), "the daemon is still up after the connection storm");
	fresh("the connection storm");
}

/* ---------------------------------------------------------------------- */
/* 5. a front-end that stops reading replies                               */

#define FLOOD_CHUNK 64
#define CLOSE_DEADLINE_MS 15000

/* Sends GET_FEATURES requests without reading replies until the socket has
 * not been writable for 500 ms. Returns the number sent, -1 on error. */
static long flood(struct vu_dev *dev)
{
	struct vhost_user_header h[FLOOD_CHUNK];
	size_t off = 0, len = sizeof(h);
	long sent = 0;
	int64_t give_up = now_ms() + 5000;

	for (unsigned i = 0; i < FLOOD_CHUNK; i++)
		h[i] = (struct vhost_user_header){ VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 };
	while (now_ms() < give_up) {
		ssize_t n = send(dev->sock, (uint8_t *)h + off, len - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			off += n;
			if (off == len) {
				off = 0;
				sent += FLOOD_CHUNK;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			tap_diag("flood: send: %s", strerror(errno));
			return -1;
		}
		struct pollfd p = { .fd = dev->sock, .events = POLLOUT };

		if (poll(&p, 1, 500) == 0)
			return sent + off / sizeof(h[0]);
	}
	tap_diag("flood: the socket never stayed full");
	return -1;
}

static void stops_reading(void)
{
	struct vu_dev dev;
	struct batch *b = calloc(1, sizeof(*b));
	struct pollfd p;
	int64_t t_block, waited;
	long sent;
	int r;

	if (!b)
		tap_bail("out of memory");
	if (!full_open(&dev)) {
		tap_skip(4, "no connection", "front-end that stops reading");
		goto out;
	}
	if (!batch_init(b, &dev, dev.vqs[0], BATCH, BATCH_SECTOR + 1024))
		tap_bail("batch set-up failed");
	/* reads and writes in flight while the control socket floods */
	batch_submit(b, 0, BATCH / 2);
	sent = flood(&dev);
	t_block = now_ms();
	if (!tap_ok(sent > 0, "GET_FEATURES flood without reading replies fills the socket")) {
		tap_skip(3, "the flood did not block", "front-end that stops reading");
		goto out;
	}
	tap_diag("%ld GET_FEATURES sent before the socket stayed full", sent);
	/* the control thread is now stuck in send(): the queue must still work */
	batch_submit(b, BATCH / 2, BATCH);
	{
		bool io_ok = batch_check(b, 0, BATCH, IO_TMO);

		p = (struct pollfd){ .fd = dev.sock, .events = POLLRDHUP };
		r = poll(&p, 1, 0);
		if (r != 0)
			tap_diag("the connection was already closed when the I/O was checked");
		tap_ok(io_ok && r == 0,
		       "reads and writes complete (call eventfd) while the control thread is blocked");
	}
	tap_diag("I/O checked %lld ms after the socket filled", (long long)(now_ms() - t_block));

	/* wait for the hang-up without reading (reading would unblock the daemon) */
	p = (struct pollfd){ .fd = dev.sock, .events = POLLRDHUP };
	do {
		r = poll(&p, 1, (int)(CLOSE_DEADLINE_MS - (now_ms() - t_block)) > 0
					? (int)(CLOSE_DEADLINE_MS - (now_ms() - t_block))
					: 0);
	} while (r < 0 && errno == EINTR);
	waited = now_ms() - t_block;
	if (!tap_ok(r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)),
		    "the daemon gives up on the connection within %d ms", CLOSE_DEADLINE_MS))
		tap_diag("still open after %lld ms", (long long)waited);
	else
		tap_diag("hang-up %lld ms after the socket filled", (long long)waited);
	/* now read everything until EOF */
	r = vu_wait_closed(&dev, 3000);
	if (!tap_ok(r == 1, "reading the pending replies ends with EOF"))
		tap_diag("vu_wait_closed: %d %s", r, r < 0 ? dev.err : "");
out:
	vu_dev_close(&dev);
	free(b);
	fresh("a front-end that stopped reading replies");
}

/* ---------------------------------------------------------------------- */

int main(void)
{
	struct vu_daemon_opts o = { .queues = 1 };
	int64_t t0, t;

	vu_test_begin(&d, 28, PLAN, DISK_SIZE, &o);
	t0 = t = now_ms();
	vring_before_mem_table();
	tap_diag("vring messages before SET_MEM_TABLE: %lld ms", (long long)(now_ms() - t));
	t = now_ms();
	reconfigure_running();
	tap_diag("running ring reconfiguration: %lld ms", (long long)(now_ms() - t));
	t = now_ms();
	region_removed();
	tap_diag("region removal: %lld ms", (long long)(now_ms() - t));
	t = now_ms();
	many_connections();
	tap_diag("many connections: %lld ms", (long long)(now_ms() - t));
	t = now_ms();
	stops_reading();
	tap_diag("front-end that stops reading: %lld ms", (long long)(now_ms() - t));
	tap_diag("total: %lld ms", (long long)(now_ms() - t0));

	exit(vu_test_end(&d, seed++, "every misbehaving front-end"));
}
