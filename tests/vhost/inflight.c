/* Inflight I/O tracking (INFLIGHT_SHMFD) through the daemon: GET/SET_INFLIGHT_FD, region upkeep, restart recovery, batch repair, bad layouts, crash recovery. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define SERIAL "vbridge-inflight"
#define TMO 5000
#define NQ 2		/* --queues of the daemon */
#define MAX_QS 1024	/* the daemon's default --queue-size */
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define PLAN 76
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)

static struct vu_daemon d;
static const struct vu_daemon_opts dopts = { .queues = NQ, .serial = SERIAL };

/* ---- helpers ---- */

/* An inflight region as this process maps it. */
struct region {
	int fd;
	uint8_t *base;
	size_t size;
	size_t stride;
	unsigned nq;
};

static struct vb_inflight_split *rq(const struct region *r, unsigned i)
{
	return (struct vb_inflight_split *)(r->base + r->stride * i);
}

static void region_map(struct region *r, int fd, size_t size, unsigned nq)
{
	r->fd = fd;
	r->size = size;
	r->nq = nq;
	r->stride = size / nq;
	r->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED)
		tap_bail("mmap of an inflight region of %zu bytes: %s", size, strerror(errno));
}

/* A zeroed memfd of exactly file_size bytes, mapped as size bytes for nq queues. */
static void region_new(struct region *r, size_t file_size, size_t size, unsigned nq)
{
	int fd = memfd_create("inflight-test", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)file_size) < 0)
		tap_bail("memfd: %s", strerror(errno));
	region_map(r, fd, size, nq);
}

static void region_free(struct region *r)
{
	if (r->base && r->base != MAP_FAILED)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Connects and negotiates with INFLIGHT_SHMFD, adds one memory region (no SET_MEM_TABLE yet). */
static void conn_open(struct vu_dev *dev, uint64_t mem_size)
{
	vu_dev_init(dev);
	if (vu_connect(dev, d.sock, TMO) < 0 ||
	    vu_negotiate(dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_INFLIGHT) < 0)
		tap_bail("set-up: %s", dev->err);
	if (!(dev->protocol_features & F_INFLIGHT))
		tap_bail("INFLIGHT_SHMFD (protocol feature 12) is not offered");
	if (vu_mem_add_region(dev, 0, mem_size) < 0)
		tap_bail("guest memory: %s", dev->err);
}

static void mem_table(struct vu_dev *dev)
{
	if (vu_mem_set_table(dev) < 0)
		tap_bail("SET_MEM_TABLE: %s", dev->err);
}

static struct vu_vq *vq_new(struct vu_dev *dev, unsigned index, uint16_t size)
{
	struct vu_vq *vq = vu_vq_create(dev, index, size);

	if (!vq)
		tap_bail("queue %u: %s", index, dev->err);
	return vq;
}

static void *galloc(struct vu_dev *dev, uint64_t size)
{
	void *p = vu_mem_alloc(dev, size, 4096);

	if (!p)
		tap_bail("guest memory: %s", dev->err);
	return p;
}

static void req_init(struct vu_dev *dev, struct vu_blk_req *req)
{
	if (vu_blk_req_init(dev, req) < 0)
		tap_bail("request: %s", dev->err);
}

/* Prepares a write of len bytes of pattern seed at sector (buf in guest memory). */
static void prep_write(struct vu_blk_req *req, uint8_t *buf, uint64_t sector, uint32_t len,
		       uint32_t seed)
{
	vu_pattern_fill(buf, len, seed, sector * VU_SECTOR_SIZE);
	vu_blk_prep_write(req, sector, buf, len);
}

static void enqueue(struct vu_vq *vq, struct vu_blk_req *req)
{
	if (vu_blk_enqueue(vq, req) < 0)
		tap_bail("enqueue: %s", vq->dev->err);
}

static bool disk_has_pattern(uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	bool ok = buf && pread(d.disk_fd, buf, len, (off_t)(sector * 512)) == (ssize_t)len &&
		  vu_pattern_check(buf, len, seed, sector * 512) == len;

	free(buf);
	return ok;
}

static bool disk_is_zero(uint64_t sector, uint32_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = buf && pread(d.disk_fd, buf, len, (off_t)(sector * 512)) == (ssize_t)len &&
		  vu_zero_check(buf, len) == len;

	free(buf);
	return ok;
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

/* Alive, and still alive a moment later (a crashing daemon closes its socket before it can be reaped). */
static bool daemon_stays_up(void)
{
	for (unsigned i = 0; i < 20; i++) {
		if (!vu_daemon_alive(&d))
			return false;
		sleep_ms(10);
	}
	return vu_daemon_alive(&d);
}

/* Polls used->idx (no reliance on interrupts) until it reaches target. */
static bool wait_used(struct vu_vq *vq, uint16_t target, unsigned ms)
{
	for (unsigned i = 0; i <= ms; i++) {
		if (LOAD(vq->used->idx) == target)
			return true;
		sleep_ms(1);
	}
	return LOAD(vq->used->idx) == target;
}

/*
 * The daemon publishes used->idx before it clears the batch in the region,
 * so a front-end that saw a completion may look at the region a moment too
 * early: wait until the region's used_idx caught up with used->idx.
 */
static bool settle(struct vb_inflight_split *q, struct vu_vq *vq, unsigned ms)
{
	for (unsigned i = 0; i <= ms; i++) {
		if (LOAD(q->used_idx) == LOAD(vq->used->idx))
			return true;
		sleep_ms(1);
	}
	return false;
}

static unsigned count_inflight(struct vb_inflight_split *q, unsigned num, int *first)
{
	unsigned n = 0;

	*first = -1;
	for (unsigned i = 0; i < num; i++) {
		if (LOAD(q->desc[i].inflight)) {
			if (*first < 0)
				*first = (int)i;
			n++;
		}
	}
	return n;
}

/* One TAP line: the region mirrors used->idx and no head of it is inflight. */
static bool mirror_ok(struct vb_inflight_split *q, struct vu_vq *vq, const char *what)
{
	bool settled = settle(q, vq, 1000);
	int first;
	unsigned n = count_inflight(q, vq->size, &first);
	uint16_t used = LOAD(vq->used->idx);

	if (!tap_ok(settled && n == 0,
		    "%s: region used_idx mirrors used->idx (%u) and no head is inflight", what,
		    used))
		tap_diag("region used_idx %u, used->idx %u, %u heads inflight (first %d)",
			 LOAD(q->used_idx), used, n, first);
	return settled && n == 0;
}

/* ---- 1. GET_INFLIGHT_FD ---- */

static void test_get_inflight(struct vu_dev *dev, struct region *reg,
			      struct vhost_user_inflight *valid)
{
	static const struct {
		uint16_t nq, qs;
		const char *what;
	} bad[] = {
		{ NQ + 1, 128, "num_queues 3 above --queues 2" },
		{ 1, MAX_QS * 2, "queue_size 2048 above --queue-size 1024" },
		{ 0, 128, "num_queues 0" },
	};
	struct vhost_user_inflight rep;
	uint32_t size;
	uint64_t qn = 0;
	struct stat st;
	int fd, r;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size = 0;
		r = vu_get_inflight_fd(dev, bad[i].nq, bad[i].qs, 0, &rep, &size, &fd);
		if (!tap_ok(r == 0 && size == sizeof(rep) && rep.mmap_size == 0 && fd < 0,
			    "GET_INFLIGHT_FD with %s: 24-byte reply, mmap_size 0, no fd",
			    bad[i].what))
			tap_diag("r %d (%s), reply %u bytes, mmap_size %llu, fd %d", r,
				 r < 0 ? dev->err : "-", size, (unsigned long long)rep.mmap_size, fd);
		if (fd >= 0)
			close(fd);
		if (r < 0)
			tap_bail("the connection is lost");
	}
	r = vu_get_queue_num(dev, &qn);
	tap_ok(r == 0 && qn == NQ, "the connection still answers after the refused requests");

	r = vu_get_inflight_fd(dev, 1, 64, VHOST_USER_INFLIGHT_MIN_SIZE, &rep, &size, &fd);
	if (!tap_ok(r == 0 && size == sizeof(rep) && fd >= 0 &&
			    rep.mmap_size >= vb_inflight_split_min_size(64),
		    "GET_INFLIGHT_FD with a 20-byte payload: 24-byte reply with an fd"))
		tap_diag("r %d (%s), reply %u bytes, mmap_size %llu, fd %d", r,
			 r < 0 ? dev->err : "-", size, (unsigned long long)rep.mmap_size, fd);
	if (fd >= 0)
		close(fd);

	r = vu_get_inflight_fd(dev, NQ, 128, 0, &rep, &size, &fd);
	if (!tap_ok(r == 0 && size == sizeof(rep) && fd >= 0,
		    "GET_INFLIGHT_FD for 2 queues of 128: 24-byte reply with one fd"))
		tap_bail("r %d (%s), reply %u bytes, fd %d", r, r < 0 ? dev->err : "-", size, fd);
	if (!tap_ok(rep.mmap_size >= NQ * vb_inflight_split_min_size(128) &&
			    rep.mmap_offset == 0 && rep.num_queues == NQ && rep.queue_size == 128 &&
			    fstat(fd, &st) == 0 &&
			    (uint64_t)st.st_size >= rep.mmap_size + rep.mmap_offset,
		    "reply: mmap_size %llu >= %zu, offset 0, num_queues/queue_size echoed, file large enough",
		    (unsigned long long)rep.mmap_size, NQ * vb_inflight_split_min_size(128)))
		tap_bail("mmap_size %llu offset %llu num_queues %u queue_size %u",
			 (unsigned long long)rep.mmap_size, (unsigned long long)rep.mmap_offset,
			 rep.num_queues, rep.queue_size);
	region_map(reg, fd, rep.mmap_size, NQ);
	tap_ok(vu_zero_check(reg->base, reg->size) == reg->size,
	       "the new region is zero-filled (no queue initialised)");
	*valid = rep;
}

/* ---- 2. SET_INFLIGHT_FD before any vring ---- */

static void test_set_before_rings(struct vu_dev *dev, struct region *reg,
				  const struct vhost_user_inflight *inf)
{
	struct vb_inflight_split *q0 = rq(reg, 0), *q1 = rq(reg, 1);
	struct vu_vq *vq0, *vq1;
	int r;

	r = vu_set_inflight_fd(dev, reg->fd, inf);
	if (!tap_ok(r == 0, "SET_INFLIGHT_FD before SET_MEM_TABLE and any vring: acknowledged"))
		tap_diag("%s", dev->err);
	tap_ok(daemon_stays_up(), "the daemon survives SET_INFLIGHT_FD without vrings");
	mem_table(dev);
	vq0 = vq_new(dev, 0, 128);
	vq1 = vq_new(dev, 1, 128);
	r = vu_vq_start(vq0);
	if (r < 0)
		tap_diag("start ring 0: %s", dev->err);
	if (!tap_ok(r == 0 && q0->version == VB_INFLIGHT_VERSION && q0->desc_num == 128 &&
			    q0->used_idx == LOAD(vq0->used->idx),
		    "starting ring 0 initialises its region: version 1, desc_num 128, used_idx = used->idx"))
		tap_diag("version %u desc_num %u used_idx %u; used->idx %u", q0->version,
			 q0->desc_num, q0->used_idx, LOAD(vq0->used->idx));
	tap_diag("queue 0 region features 0x%llx (negotiated 0x%llx)",
		 (unsigned long long)q0->features, (unsigned long long)dev->features);
	tap_ok(q1->version == 0, "queue 1's region stays uninitialised while ring 1 is not started");
	r = vu_vq_start(vq1);
	if (!tap_ok(r == 0 && q1->version == VB_INFLIGHT_VERSION && q1->desc_num == 128 &&
			    q1->used_idx == LOAD(vq1->used->idx),
		    "starting ring 1 initialises queue 1's region (at the stride %zu)", reg->stride))
		tap_diag("r %d, version %u desc_num %u used_idx %u", r, q1->version, q1->desc_num,
			 q1->used_idx);
	tap_ok(vu_roundtrip_ok(&d, dev, vq0, 11) && vu_roundtrip_ok(&d, dev, vq1, 12),
	       "I/O round trip on both tracked rings");
	mirror_ok(q0, vq0, "ring 0 after I/O");
	mirror_ok(q1, vq1, "ring 1 after I/O");
}

/* ---- 4. many requests in flight ---- */

static void test_in_flight(struct vu_dev *dev, struct region *reg)
{
	enum { PER_Q = 60, LEN = 32768, TOTAL = 2 * PER_Q };
	static struct vu_blk_req reqs[TOTAL];
	struct vu_blk_req *ptrs[TOTAL];
	uint8_t *bufs[TOTAL];
	uint16_t heads[2][PER_Q], start[2];
	bool is_head[2][128] = { { false } };
	unsigned nh[2] = { 0, 0 }, samples = 0, max_seen = 0, bad_head = 0, bad_state = 0,
		 ahead = 0;
	bool done = false, ok;
	int r;

	for (unsigned qi = 0; qi < 2; qi++)
		start[qi] = LOAD(dev->vqs[qi]->used->idx);
	for (unsigned i = 0; i < TOTAL; i++) {
		unsigned qi = i % 2;

		bufs[i] = galloc(dev, LEN);
		req_init(dev, &reqs[i]);
		prep_write(&reqs[i], bufs[i], 8192 + i * (LEN / 512), LEN, 100 + i);
		if ((i / 2) % 2)
			reqs[i].flags |= VU_REQ_INDIRECT;
		ptrs[i] = &reqs[i];
		enqueue(dev->vqs[qi], &reqs[i]);
		heads[qi][nh[qi]++] = reqs[i].head;
		is_head[qi][reqs[i].head] = true;
	}
	vu_vq_kick(dev->vqs[0]);
	vu_vq_kick(dev->vqs[1]);
	/* Sample the regions while the daemon works through the requests. */
	for (unsigned spin = 0; !done && spin < 5000000; spin++) {
		unsigned now = 0;

		done = true;
		for (unsigned qi = 0; qi < 2; qi++) {
			struct vb_inflight_split *q = rq(reg, qi);
			uint16_t ru = LOAD(q->used_idx);

			for (unsigned h = 0; h < 128; h++) {
				uint8_t f = LOAD(q->desc[h].inflight);

				if (f > 1)
					bad_state++;
				if (f && !is_head[qi][h])
					bad_head++;
				now += f != 0;
			}
			uint16_t uu = LOAD(dev->vqs[qi]->used->idx);

			if ((uint16_t)(ru - start[qi]) > (uint16_t)(uu - start[qi]) ||
			    (uint16_t)(uu - start[qi]) > PER_Q)
				ahead++;
			if (uu != (uint16_t)(start[qi] + PER_Q))
				done = false;
		}
		samples++;
		if (now > max_seen)
			max_seen = now;
	}
	tap_diag("%u samples of the regions while in flight; at most %u heads marked inflight at once",
		 samples, max_seen);
	tap_ok(done, "%d writes on 2 queues all completed", TOTAL);
	if (!tap_ok(bad_head == 0 && bad_state == 0 && ahead == 0,
		    "while in flight: only published heads are marked inflight (state 0/1), used_idx never ahead of used->idx"))
		tap_diag("%u samples with a non-head inflight, %u with a state > 1, %u with used_idx ahead",
			 bad_head, bad_state, ahead);
	r = vu_blk_wait_all(dev, ptrs, TOTAL, TMO);
	ok = r == 0;
	for (unsigned i = 0; i < TOTAL && ok; i++)
		ok = reqs[i].status == VIRTIO_BLK_S_OK &&
		     disk_has_pattern(8192 + i * (LEN / 512), LEN, 100 + i);
	tap_ok(ok, "all %d writes completed OK and their data is on disk", TOTAL);
	for (unsigned qi = 0; qi < 2; qi++) {
		struct vb_inflight_split *q = rq(reg, qi);
		bool incr = true, in_batch = false;

		mirror_ok(q, dev->vqs[qi], qi ? "queue 1 after the batch" : "queue 0 after the batch");
		for (unsigned k = 0; k < PER_Q; k++) {
			uint64_t c = LOAD(q->desc[heads[qi][k]].counter);

			if (c == 0 || (k && c <= LOAD(q->desc[heads[qi][k - 1]].counter)))
				incr = false;
		}
		for (unsigned k = 0; k < PER_Q; k++)
			in_batch = in_batch || heads[qi][k] == LOAD(q->last_batch_head);
		if (!tap_ok(incr && in_batch,
			    "queue %u: counters strictly increase in avail (fetch) order; last_batch_head is one of the heads",
			    qi))
			tap_diag("first counter %llu, last %llu, last_batch_head %u",
				 (unsigned long long)q->desc[heads[qi][0]].counter,
				 (unsigned long long)q->desc[heads[qi][PER_Q - 1]].counter,
				 q->last_batch_head);
	}
	for (unsigned i = 0; i < TOTAL; i++) {
		vu_blk_req_fini(&reqs[i]);
		vu_mem_free(dev, bufs[i]);
	}
}

/* ---- 3. fresh region on a ring whose used->idx is not 0 ---- */

static void test_fresh_nonzero(void)
{
	struct vu_dev dev;
	struct region reg = { .fd = -1 };
	struct vhost_user_inflight rep;
	struct vb_inflight_split *q;
	struct vu_vq *vq;
	int fd, r;

	conn_open(&dev, 16u << 20);
	r = vu_get_inflight_fd(&dev, 1, 64, 0, &rep, NULL, &fd);
	if (r < 0 || fd < 0 || rep.mmap_size == 0)
		tap_bail("GET_INFLIGHT_FD: %s", r < 0 ? dev.err : "no region");
	region_map(&reg, fd, rep.mmap_size, 1);
	q = rq(&reg, 0);
	if (vu_set_inflight_fd(&dev, fd, &rep) < 0)
		tap_bail("SET_INFLIGHT_FD: %s", dev.err);
	mem_table(&dev);
	vq = vq_new(&dev, 0, 64);
	vu_vq_set_index(vq, 1000);
	r = vu_vq_start(vq);
	if (r < 0)
		tap_diag("start: %s", dev.err);
	if (!tap_ok(r == 0 && q->version == VB_INFLIGHT_VERSION && q->desc_num == 64 &&
			    q->used_idx == 1000,
		    "fresh region, ring started with SET_VRING_BASE 1000 and used->idx 1000: region used_idx 1000 (got %u)",
		    q->used_idx))
		tap_diag("version %u desc_num %u", q->version, q->desc_num);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq, 21), "I/O works on that ring");
	tap_ok(LOAD(vq->used->idx) == 1002, "used->idx went 1000 -> 1002 (got %u)",
	       LOAD(vq->used->idx));
	mirror_ok(q, vq, "after the I/O");
	vu_dev_close(&dev);
	region_free(&reg);
}

/* ---- 5. restart recovery from a hand-made region ---- */

static void test_restart_recovery(void)
{
	enum { N = 6, QS = 64 };
	const uint16_t U = 65533;	/* the ring indices wrap during the test */
	const uint64_t C0 = 1000;
	/* avail order: G0 W0 G1 W1 G2 W2 (G = GET_ID, W = write) */
	static const bool is_get[N] = { true, false, true, false, true, false };
	/* fetch order of the crashed back-end: G1 W0 G2 W2 G0 W1 */
	static const unsigned cnt[N] = { 5, 2, 1, 6, 3, 4 };
	static const uint64_t sector[N] = { 0, 30000, 0, 30000, 0, 30016 };
	struct vu_dev dev;
	struct vu_blk_req req[N], extra;
	uint8_t *buf[N], *xbuf;
	uint16_t head[N], order[N];
	unsigned seen[QS] = { 0 }, ngets = 0, nfound = 0;
	struct region reg = { .fd = -1 };
	struct vb_inflight_split *q;
	struct vhost_user_inflight inf;
	struct vu_vq *vq;
	char want_id[VIRTIO_BLK_ID_BYTES] = { 0 };
	size_t stride = vb_inflight_split_min_size(QS);
	bool ok, called, done;
	uint16_t now;
	int r;

	strncpy(want_id, SERIAL, sizeof(want_id));
	conn_open(&dev, 16u << 20);
	vq = vq_new(&dev, 1, QS);
	vu_vq_set_index(vq, U);
	for (unsigned p = 0; p < N; p++) {
		req_init(&dev, &req[p]);
		buf[p] = galloc(&dev, 4096);
		if (is_get[p]) {
			memset(buf[p], 0xff, VIRTIO_BLK_ID_BYTES);
			vu_blk_prep_get_id(&req[p], buf[p]);
		} else {
			prep_write(&req[p], buf[p], sector[p], 4096, 50 + p);
		}
		enqueue(vq, &req[p]);
		head[p] = req[p].head;
	}
	/* The region a crashed back-end left: 2 queues at the smallest stride (yc-libvhost-server's). */
	region_new(&reg, 2 * stride, 2 * stride, 2);
	q = rq(&reg, 1);
	q->features = dev.features & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	q->version = VB_INFLIGHT_VERSION;
	q->desc_num = QS;
	q->last_batch_head = 0;
	q->used_idx = U;
	for (unsigned p = 0; p < N; p++) {
		q->desc[head[p]].counter = C0 + cnt[p];
		q->desc[head[p]].inflight = 1;
	}
	/* QEMU after a back-end crash: SET_INFLIGHT_FD, memory, vring with base = used->idx. */
	inf = (struct vhost_user_inflight){ .mmap_size = 2 * stride, .num_queues = 2,
					    .queue_size = QS };
	r = vu_set_inflight_fd(&dev, reg.fd, &inf);
	if (!tap_ok(r == 0, "SET_INFLIGHT_FD with a hand-made region (2 queues, stride %zu) accepted",
		    stride))
		tap_diag("%s", dev.err);
	mem_table(&dev);
	r = vu_vq_start(vq);
	if (!tap_ok(r == 0, "ring 1 set up with SET_VRING_BASE %u (= used->idx) and kicked", U))
		tap_diag("%s", dev.err);
	done = wait_used(vq, (uint16_t)(U + N), TMO);
	{
		/* before anything drains the call eventfd */
		struct pollfd p = { .fd = vq->call_fd, .events = POLLIN };

		called = poll(&p, 1, 1000) == 1;
	}
	sleep_ms(100);
	now = LOAD(vq->used->idx);
	tap_ok(done && now == (uint16_t)(U + N),
	       "the daemon completes exactly the %d inflight requests (used->idx %u -> %u, got %u)",
	       N, U, (uint16_t)(U + N), now);
	for (unsigned i = 0; i < N; i++) {
		uint32_t id = vq->used->ring[(uint16_t)(U + i) & (QS - 1)].id;

		order[i] = (uint16_t)id;
		if (id < QS)
			seen[id]++;
	}
	ok = true;
	for (unsigned p = 0; p < N; p++)
		ok = ok && seen[head[p]] == 1;
	for (unsigned i = 0; i < N; i++)
		nfound += order[i] < QS && seen[order[i]] == 1;
	if (!tap_ok(ok && nfound == N, "each of the %d heads appears exactly once in the used ring", N))
		tap_diag("used ids: %u %u %u %u %u %u; heads %u %u %u %u %u %u", order[0], order[1],
			 order[2], order[3], order[4], order[5], head[0], head[1], head[2], head[3],
			 head[4], head[5]);
	/* GET_ID completes as soon as it is started: their used order is the resubmission order. */
	{
		uint16_t want[3] = { head[2], head[4], head[0] }, got[3] = { 0, 0, 0 };

		for (unsigned i = 0; i < N; i++)
			for (unsigned p = 0; p < N; p++)
				if (is_get[p] && order[i] == head[p] && ngets < 3)
					got[ngets++] = order[i];
		if (!tap_ok(ngets == 3 && memcmp(got, want, sizeof(want)) == 0,
			    "resubmission in counter order: the GET_ID heads complete as G1, G2, G0 (counters 1001, 1003, 1005)"))
			tap_diag("GET_ID heads completed as %u %u %u; expected %u %u %u", got[0],
				 got[1], got[2], want[0], want[1], want[2]);
	}
	if (!tap_ok(called,
		    "the front-end is notified (call eventfd) of the resubmitted completions"))
		tap_diag("messages: SET_INFLIGHT_FD, SET_MEM_TABLE, SET_VRING_NUM 64, SET_VRING_BASE %u, "
			 "SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ENABLE 1 (ring 1); "
			 "used->idx reached %u but the call eventfd was never written within 1 s",
			 U, now);
	vu_blk_reap(vq);
	ok = true;
	for (unsigned p = 0; p < N; p++) {
		ok = ok && req[p].done && req[p].status == VIRTIO_BLK_S_OK;
		if (is_get[p])
			ok = ok && memcmp(buf[p], want_id, sizeof(want_id)) == 0;
	}
	ok = ok && disk_has_pattern(30016, 4096, 55);
	tap_ok(ok, "resubmitted requests: status OK, GET_ID data written, write data on disk");
	/*
	 * W0 (counter 1002) and W1 (counter 1006) overlap. The daemon starts W0
	 * first, but both run concurrently in io_uring, so which one lands last
	 * is not guaranteed: check that one of them is there whole, report which.
	 */
	if (disk_has_pattern(30000, 4096, 53))
		tap_ok(true, "overlapping resubmitted writes: the sector holds W1, the highest counter");
	else if (disk_has_pattern(30000, 4096, 51))
		tap_ok(true, "overlapping resubmitted writes: the sector holds W0 whole "
			     "(W1 has the higher counter, but concurrent writes are not ordered)");
	else
		tap_ok(false, "overlapping resubmitted writes: the sector holds W0 or W1 whole");
	q = rq(&reg, 1);
	mirror_ok(q, vq, "after the recovery");
	tap_ok(rq(&reg, 0)->version == 0, "queue 0's region (ring 0 never started) is untouched");

	/* new requests continue after the recovered ones */
	req_init(&dev, &extra);
	xbuf = galloc(&dev, 4096);
	prep_write(&extra, xbuf, 30032, 4096, 56);
	r = vu_blk_run(vq, &extra, TMO);
	now = LOAD(vq->used->idx);
	if (!tap_ok(r == VIRTIO_BLK_S_OK && now == (uint16_t)(U + N + 1) &&
			    vq->used->ring[(uint16_t)(U + N) & (QS - 1)].id == extra.head &&
			    disk_has_pattern(30032, 4096, 56),
		    "a request made after them completes: last used idx = start + N + 1 = %u",
		    (uint16_t)(U + N + 1)))
		tap_diag("r %d (%s), used->idx %u", r, r < 0 ? dev.err : "-", now);
	settle(q, vq, 1000);
	if (!tap_ok(LOAD(q->desc[extra.head].counter) == C0 + N + 1,
		    "its fetch counter continues after the highest one left (%llu)",
		    (unsigned long long)(C0 + N + 1)))
		tap_diag("counter %llu", (unsigned long long)q->desc[extra.head].counter);
	mirror_ok(q, vq, "after the new request");
	vu_dev_close(&dev);
	region_free(&reg);
}

/* ---- 6. batch repair, then 7. disable/enable ---- */

static void test_batch_repair_and_enable(void)
{
	enum { N = 5, QS = 64, LEN = 8192 };
	const uint16_t U = 62;
	struct vu_dev dev;
	struct vu_blk_req req[N + 1], p, qreq;
	uint8_t *buf[N + 1], *pbuf, *qbuf;
	uint16_t head[N];
	unsigned seen[QS] = { 0 };
	struct region reg = { .fd = -1 };
	struct vhost_user_inflight rep;
	struct vb_inflight_split *q;
	struct vu_vq *vq;
	uint32_t base = 0;
	uint16_t now, before;
	bool ok;
	int fd, r;

	conn_open(&dev, 16u << 20);
	r = vu_get_inflight_fd(&dev, 1, QS, 0, &rep, NULL, &fd);
	if (r < 0 || fd < 0 || rep.mmap_size == 0)
		tap_bail("GET_INFLIGHT_FD: %s", r < 0 ? dev.err : "no region");
	region_map(&reg, fd, rep.mmap_size, 1);
	q = rq(&reg, 0);
	vq = vq_new(&dev, 0, QS);
	vu_vq_set_index(vq, U);
	for (unsigned i = 0; i < N; i++) {
		req_init(&dev, &req[i]);
		buf[i] = galloc(&dev, LEN);
		prep_write(&req[i], buf[i], 20000 + i * 16, LEN, 60 + i);
		enqueue(vq, &req[i]);
		head[i] = req[i].head;
	}
	/*
	 * The previous back-end fetched R0..R4, completed R3 then R1 as one
	 * batch, published it (used entries + used->idx) and died before
	 * clearing it: both still inflight, linked from last_batch_head, and
	 * the region's used_idx still the old value.
	 */
	*req[1].status_ptr = VIRTIO_BLK_S_OK;
	*req[3].status_ptr = VIRTIO_BLK_S_OK;
	vq->used->ring[U & (QS - 1)].id = head[3];
	vq->used->ring[U & (QS - 1)].len = 1;
	vq->used->ring[(uint16_t)(U + 1) & (QS - 1)].id = head[1];
	vq->used->ring[(uint16_t)(U + 1) & (QS - 1)].len = 1;
	__atomic_store_n(&vq->used->idx, (uint16_t)(U + 2), __ATOMIC_RELEASE);
	q->features = dev.features & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	q->version = VB_INFLIGHT_VERSION;
	q->desc_num = QS;
	for (unsigned i = 0; i < N; i++) {
		q->desc[head[i]].counter = 100 + i;
		q->desc[head[i]].inflight = 1;
	}
	/* an older batch ended at R0: the walk must stop after R1 and R3 */
	q->last_batch_head = head[0];
	q->desc[head[3]].next = q->last_batch_head;
	q->last_batch_head = head[3];
	q->desc[head[1]].next = q->last_batch_head;
	q->last_batch_head = head[1];
	q->used_idx = U;

	r = vu_set_inflight_fd(&dev, fd, &rep);
	if (r < 0)
		tap_diag("SET_INFLIGHT_FD: %s", dev.err);
	mem_table(&dev);
	if (r == 0)
		r = vu_vq_start(vq);
	if (!tap_ok(r == 0, "batch repair: SET_INFLIGHT_FD, ring set up with base %u, kicked",
		    (uint16_t)(U + 2)))
		tap_diag("%s", dev.err);
	wait_used(vq, (uint16_t)(U + N), TMO);
	sleep_ms(100);
	now = LOAD(vq->used->idx);
	tap_ok(now == (uint16_t)(U + N),
	       "batch repair: exactly the 3 unpublished requests complete (used->idx %u -> %u, got %u)",
	       (uint16_t)(U + 2), (uint16_t)(U + N), now);
	for (unsigned i = 0; i < N; i++) {
		uint32_t id = vq->used->ring[(uint16_t)(U + i) & (QS - 1)].id;

		if (id < QS)
			seen[id]++;
	}
	ok = true;
	for (unsigned i = 0; i < N; i++)
		ok = ok && seen[head[i]] == 1;
	tap_ok(ok, "batch repair: R0, R2, R4 appear once after R3, R1; the published batch is not completed again");
	if (!tap_ok(disk_has_pattern(20000, LEN, 60) && disk_has_pattern(20032, LEN, 62) &&
			    disk_has_pattern(20064, LEN, 64),
		    "batch repair: R0 (left in the batch list after the published batch), R2, R4 resubmitted: data on disk"))
		tap_diag("R0 %s, R2 %s, R4 %s", disk_has_pattern(20000, LEN, 60) ? "ok" : "missing",
			 disk_has_pattern(20032, LEN, 62) ? "ok" : "missing",
			 disk_has_pattern(20064, LEN, 64) ? "ok" : "missing");
	tap_ok(disk_is_zero(20016, LEN) && disk_is_zero(20048, LEN),
	       "batch repair: R1 and R3 (done before the crash) not resubmitted: their sectors are still zero");
	vu_blk_reap(vq);
	ok = true;
	for (unsigned i = 0; i < N; i++)
		ok = ok && req[i].done && req[i].status == VIRTIO_BLK_S_OK;
	tap_ok(ok && vq->bad_used == 0, "batch repair: all five requests reaped once with status OK");
	mirror_ok(q, vq, "batch repair");
	req_init(&dev, &req[N]);
	buf[N] = galloc(&dev, LEN);
	prep_write(&req[N], buf[N], 20080, LEN, 65);
	r = vu_blk_run(vq, &req[N], TMO);
	tap_ok(r == VIRTIO_BLK_S_OK && LOAD(vq->used->idx) == (uint16_t)(U + N + 1) &&
		       disk_has_pattern(20080, LEN, 65),
	       "batch repair: a new request completes next (used->idx %u)", (uint16_t)(U + N + 1));

	/* 7. SET_VRING_ENABLE(0) + GET_VRING_BASE is a stop, not a reset */
	r = vu_vq_stop(vq, &base);
	if (r < 0)
		tap_diag("%s", dev.err);
	tap_ok(r == 0 && base == vq->avail_idx && base == LOAD(vq->used->idx),
	       "SET_VRING_ENABLE(0) then GET_VRING_BASE returns %u (got %u)", vq->avail_idx, base);
	mirror_ok(q, vq, "stopped ring");
	req_init(&dev, &p);
	pbuf = galloc(&dev, LEN);
	prep_write(&p, pbuf, 20096, LEN, 66);
	enqueue(vq, &p);	/* made available while the ring is stopped */
	r = vu_vq_start(vq);
	if (r < 0)
		tap_diag("restart: %s", dev.err);
	if (r == 0)
		r = vu_blk_wait(vq, &p, TMO);
	tap_ok(r == 0 && p.status == VIRTIO_BLK_S_OK && disk_has_pattern(20096, LEN, 66) &&
		       LOAD(vq->used->idx) == (uint16_t)(base + 1),
	       "SET_VRING_BASE %u + kick + enable resumes: the request made while stopped completes", base);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq, 67), "the resumed ring does I/O");
	/* SET_VRING_ENABLE(0) alone pauses; (1) resumes at the same place */
	before = LOAD(vq->used->idx);
	r = vu_set_vring_enable(&dev, 0, false);
	req_init(&dev, &qreq);
	qbuf = galloc(&dev, LEN);
	prep_write(&qreq, qbuf, 20112, LEN, 68);
	enqueue(vq, &qreq);
	vu_vq_kick(vq);
	sleep_ms(100);
	tap_diag("while disabled: used->idx %u -> %u", before, LOAD(vq->used->idx));
	if (r == 0)
		r = vu_set_vring_enable(&dev, 0, true);
	if (r == 0)
		r = vu_blk_wait(vq, &qreq, TMO);
	if (!tap_ok(r == 0 && qreq.status == VIRTIO_BLK_S_OK && disk_has_pattern(20112, LEN, 68) &&
			    LOAD(vq->used->idx) == (uint16_t)(before + 1) &&
			    vq->used->ring[before & (QS - 1)].id == qreq.head,
		    "SET_VRING_ENABLE(0), request, kick, SET_VRING_ENABLE(1): it completes in the next used slot"))
		tap_diag("r %d (%s), used->idx %u (before %u)", r, r < 0 ? dev.err : "-",
			 LOAD(vq->used->idx), before);
	mirror_ok(q, vq, "after disable/enable");
	vu_dev_close(&dev);
	region_free(&reg);
}

/* ---- 8. bad layouts ---- */

static void restart_daemon_if_dead(const char *after)
{
	if (daemon_stays_up())
		return;
	tap_diag("the daemon died after %s; end of its log:", after);
	vu_daemon_dump_log(&d, 15);
	if (vu_daemon_start(&d, &dopts) < 0)
		tap_bail("cannot restart the daemon");
}

static void test_bad_layouts(void)
{
	const size_t m64 = vb_inflight_split_min_size(64);
	const struct {
		uint64_t size, offset;
		uint16_t nq, qs;
		const char *what;
	} bad[] = {
		{ m64 - 16, 0, 1, 64, "a stride below the minimum (1024 < 1040 for 64 descriptors)" },
		{ 2 * m64 + 1, 0, 2, 64, "mmap_size not divisible by num_queues" },
		{ m64, 0, 0, 64, "num_queues 0" },
		{ m64, 0, 1, 0, "queue_size 0" },
		{ 3 * m64, 0, 3, 64, "num_queues 3 above the device's 2" },
		{ m64, 100, 1, 64, "an mmap_offset that is not page aligned" },
	};
	struct vu_dev dev;
	struct vhost_user_inflight inf;
	struct region reg = { .fd = -1 };
	struct vu_vq *vq;
	uint64_t qn;
	int r;

	conn_open(&dev, 16u << 20);
	mem_table(&dev);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = memfd_create("inflight-bad", MFD_CLOEXEC);

		if (fd < 0 || ftruncate(fd, 16384) < 0)
			tap_bail("memfd: %s", strerror(errno));
		inf = (struct vhost_user_inflight){ .mmap_size = bad[i].size,
						    .mmap_offset = bad[i].offset,
						    .num_queues = bad[i].nq,
						    .queue_size = bad[i].qs };
		dev.last_ack = 0;
		r = vu_set_inflight_fd(&dev, fd, &inf);
		close(fd);
		bool refused = r == -EREMOTEIO && dev.last_ack != 0;

		qn = 0;
		if (!tap_ok(refused && vu_get_queue_num(&dev, &qn) == 0 && qn == NQ,
			    "SET_INFLIGHT_FD with %s: failure ack, connection usable", bad[i].what)) {
			tap_diag("r %d (%s)", r, r < 0 ? dev.err : "acknowledged OK");
			if (r == -ECONNRESET || r == -ETIMEDOUT) {
				restart_daemon_if_dead(bad[i].what);
				conn_open(&dev, 16u << 20);
				mem_table(&dev);
			}
		}
	}
	inf = (struct vhost_user_inflight){ .mmap_size = m64, .num_queues = 1, .queue_size = 64 };
	r = vu_set_inflight_fd(&dev, -1, &inf);
	tap_ok(r == -EREMOTEIO, "SET_INFLIGHT_FD without an fd: failure ack (r %d)", r);
	tap_ok(daemon_stays_up(), "the daemon is still running after the refused regions");

	/* a queue region initialised for another ring size */
	region_new(&reg, m64, m64, 1);
	rq(&reg, 0)->version = VB_INFLIGHT_VERSION;
	rq(&reg, 0)->desc_num = 32;
	r = vu_set_inflight_fd(&dev, reg.fd, &inf);
	vq = vq_new(&dev, 0, 64);
	if (r == 0)
		r = vu_vq_start(vq);
	tap_ok(r == -EREMOTEIO && daemon_stays_up(),
	       "a region initialised for 32 descriptors: kicking a 64-entry ring is refused (r %d)", r);
	vu_vq_destroy(vq);
	region_free(&reg);

	/* a region sized for 4 descriptors under a 512-entry ring */
	{
		size_t m4 = vb_inflight_split_min_size(4);
		struct vu_blk_req req;
		uint8_t *buf = galloc(&dev, 4096);
		uint16_t ids[500];
		int rk, rw = 0;

		region_new(&reg, m4, m4, 1);
		inf = (struct vhost_user_inflight){ .mmap_size = m4, .num_queues = 1,
						    .queue_size = 4 };
		r = vu_set_inflight_fd(&dev, reg.fd, &inf);
		vq = vq_new(&dev, 0, 512);
		rk = vu_vq_start(vq);
		if (r == 0 && rk == 0) {
			/* a head far beyond what the region holds */
			if (vu_vq_alloc_chain(vq, 498, ids) < 0)
				tap_bail("%s", dev.err);
			req_init(&dev, &req);
			prep_write(&req, buf, 31000, 4096, 91);
			enqueue(vq, &req);
			vu_vq_kick(vq);
			rw = vu_blk_wait(vq, &req, 1000);
			tap_diag("head %u on the 512-entry ring: %s, status %u", req.head,
				 rw == 0 ? "completed" : dev.err, req.status);
		} else {
			tap_diag("SET_INFLIGHT_FD r %d, ring start r %d (%s)", r, rk, dev.err);
		}
		if (!tap_ok(daemon_stays_up(),
			    "a region sized for 4 descriptors under a 512-entry ring: the daemon refuses or copes, and stays up"))
			tap_diag("messages: SET_INFLIGHT_FD {mmap_size %zu, offset 0, num_queues 1, queue_size 4} "
				 "(acked %s), SET_VRING_NUM 512, BASE 0, ADDR, KICK (%s), CALL, ENABLE; "
				 "write request at head 498, kick",
				 m4, r == 0 ? "OK" : "failure", rk == 0 ? "acked OK" : "refused");
		restart_daemon_if_dead("a 512-entry ring on a 4-descriptor region");
		region_free(&reg);
	}
	vu_dev_close(&dev);
	tap_ok(vu_fresh_io_ok(&d, 93), "a fresh connection does I/O after the bad layouts");
}

/* ---- 9. SIGKILL with requests in flight, recovery by a new daemon ---- */

static void test_crash_recovery(void)
{
	enum { PER_Q = 60, LEN = 32768, TOTAL = 2 * PER_Q, QS = 128 };
	static struct vu_blk_req reqs[TOTAL];
	uint8_t *bufs[TOTAL];
	uint16_t start[2];
	struct vu_dev dev;
	struct region reg = { .fd = -1 };
	struct vhost_user_inflight rep;
	bool ok = true;
	int fd, r;

	conn_open(&dev, 32u << 20);
	r = vu_get_inflight_fd(&dev, NQ, QS, 0, &rep, NULL, &fd);
	if (r < 0 || fd < 0 || rep.mmap_size == 0)
		tap_bail("GET_INFLIGHT_FD: %s", r < 0 ? dev.err : "no region");
	region_map(&reg, fd, rep.mmap_size, NQ);
	if (vu_set_inflight_fd(&dev, fd, &rep) < 0)
		tap_bail("SET_INFLIGHT_FD: %s", dev.err);
	mem_table(&dev);
	for (unsigned qi = 0; qi < 2; qi++) {
		struct vu_vq *vq = vq_new(&dev, qi, QS);

		vu_vq_set_index(vq, (uint16_t)(qi ? 40000 : 65500));
		if (vu_vq_start(vq) < 0)
			tap_bail("start: %s", dev.err);
		start[qi] = LOAD(vq->used->idx);
	}
	for (unsigned i = 0; i < TOTAL; i++) {
		bufs[i] = galloc(&dev, LEN);
		req_init(&dev, &reqs[i]);
		prep_write(&reqs[i], bufs[i], 40000 + i * (LEN / 512), LEN, 200 + i);
		if ((i / 2) % 2)
			reqs[i].flags |= VU_REQ_INDIRECT;
		enqueue(dev.vqs[i % 2], &reqs[i]);
	}
	vu_vq_kick(dev.vqs[0]);
	vu_vq_kick(dev.vqs[1]);
	/* kill it as soon as the first completion shows: most requests are still in flight */
	for (unsigned i = 0; i < 1000000 && LOAD(dev.vqs[0]->used->idx) == start[0] &&
			     LOAD(dev.vqs[1]->used->idx) == start[1]; i++)
		;
	kill(d.pid, SIGKILL);
	for (unsigned i = 0; i < 5000 && vu_daemon_alive(&d); i++)
		sleep_ms(1);
	for (unsigned qi = 0; qi < 2; qi++) {
		int first;
		struct vb_inflight_split *q = rq(&reg, qi);

		tap_diag("at the SIGKILL, queue %u: %u of %u completed, %u marked inflight, region used_idx %u, used->idx %u",
			 qi, (uint16_t)(LOAD(dev.vqs[qi]->used->idx) - start[qi]), PER_Q,
			 count_inflight(q, QS, &first), LOAD(q->used_idx),
			 LOAD(dev.vqs[qi]->used->idx));
	}
	r = vu_daemon_start(&d, &dopts);
	if (!tap_ok(r == 0, "crash: a new daemon starts on the same disk"))
		tap_bail("cannot restart the daemon");
	/* the same guest (memory, rings, region), a new back-end */
	r = vu_connect(&dev, d.sock, TMO);
	dev.protocol_features = 0;	/* nothing is negotiated on the new connection yet */
	dev.features = 0;
	if (r == 0)
		r = vu_negotiate(&dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_INFLIGHT);
	if (r == 0)
		r = vu_set_inflight_fd(&dev, fd, &rep);
	if (r == 0)
		r = vu_mem_set_table(&dev);
	for (unsigned qi = 0; qi < 2 && r == 0; qi++) {
		dev.vqs[qi]->base = LOAD(dev.vqs[qi]->used->idx);
		r = vu_vq_start(dev.vqs[qi]);
	}
	if (!tap_ok(r == 0, "crash: reconnect, SET_INFLIGHT_FD with the old region, SET_VRING_BASE = used->idx, kick"))
		tap_diag("%s", dev.err);
	for (unsigned qi = 0; qi < 2; qi++)
		ok = wait_used(dev.vqs[qi], (uint16_t)(start[qi] + PER_Q), TMO) && ok;
	sleep_ms(100);
	for (unsigned qi = 0; qi < 2; qi++)
		ok = ok && LOAD(dev.vqs[qi]->used->idx) == (uint16_t)(start[qi] + PER_Q);
	if (!tap_ok(ok, "crash: every request completes, no more: used->idx = start + %d on both queues",
		    PER_Q))
		tap_diag("queue 0: %u of %u, queue 1: %u of %u",
			 (uint16_t)(LOAD(dev.vqs[0]->used->idx) - start[0]), PER_Q,
			 (uint16_t)(LOAD(dev.vqs[1]->used->idx) - start[1]), PER_Q);
	ok = true;
	for (unsigned qi = 0; qi < 2; qi++) {
		unsigned seen[QS] = { 0 };

		for (unsigned k = 0; k < PER_Q; k++) {
			uint32_t id = dev.vqs[qi]->used->ring[(uint16_t)(start[qi] + k) & (QS - 1)].id;

			if (id < QS)
				seen[id]++;
		}
		for (unsigned i = qi; i < TOTAL; i += 2)
			ok = ok && seen[reqs[i].head] == 1;
	}
	tap_ok(ok, "crash: each head appears exactly once in the used rings across both daemons");
	for (unsigned qi = 0; qi < 2; qi++)
		vu_blk_reap(dev.vqs[qi]);
	ok = dev.vqs[0]->bad_used == 0 && dev.vqs[1]->bad_used == 0;
	for (unsigned i = 0; i < TOTAL; i++)
		ok = ok && reqs[i].done && reqs[i].status == VIRTIO_BLK_S_OK &&
		     disk_has_pattern(40000 + i * (LEN / 512), LEN, 200 + i);
	tap_ok(ok, "crash: all %d writes done with status OK and on disk", TOTAL);
	mirror_ok(rq(&reg, 0), dev.vqs[0], "crash: queue 0 after recovery");
	mirror_ok(rq(&reg, 1), dev.vqs[1], "crash: queue 1 after recovery");
	vu_dev_close(&dev);
	region_free(&reg);
}

int main(void)
{
	struct vu_dev dev;
	struct region reg = { .fd = -1 };
	struct vhost_user_inflight inf;
	int r;

	vu_harness_init(28);
	tap_plan_vbridge_only(PLAN, "inflight tests are for vbridge", "inflight tracking");
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	r = vu_daemon_start(&d, &dopts);
	if (!tap_ok(r == 0, "daemon starts (--queues %d)", NQ))
		tap_bail("cannot start the daemon");

	conn_open(&dev, 32u << 20);
	tap_ok(dev.offered_protocol_features & F_INFLIGHT, "INFLIGHT_SHMFD offered and negotiated");
	test_get_inflight(&dev, &reg, &inf);
	test_set_before_rings(&dev, &reg, &inf);
	test_in_flight(&dev, &reg);
	vu_dev_close(&dev);
	region_free(&reg);

	test_fresh_nonzero();
	test_restart_recovery();
	test_batch_repair_and_enable();
	test_bad_layouts();
	test_crash_recovery();

	tap_ok(daemon_stays_up(), "daemon still running");
	r = vu_daemon_stop(&d);
	tap_ok(r == 0, "daemon exits 0 on SIGTERM (got %d)", r);
	vu_daemon_teardown(&d);
	exit(tap_done());
}
