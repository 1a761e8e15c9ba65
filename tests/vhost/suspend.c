/* Ring suspension (GET_VRING_BASE_INFLIGHT): quiesce on a slow engine, hand the inflight region to a second daemon, exactly-once completion. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define QS 256
#define DELAY_MS 1000
#define ENGINE "delay:1000ms"
#define BLK 4096u
#define READ_SECTOR 0u		/* request i reads 4 KiB at READ_SECTOR + 8 i */
#define WRITE_SECTOR 8192u	/* and writes at WRITE_SECTOR + 8 i */
#define SEED_DISK 7000u		/* what the disk holds before a scenario */
#define SEED_NEW 9000u		/* what the writes bring */
#define POISON 0x5a
#define F_INFLIGHT (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)
#define F_SUSPEND (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT)
#define F_ACK (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define SCENARIO_CHECKS 11
#define PLAN (6 * SCENARIO_CHECKS + 13)

enum kind { K_READ, K_WRITE, K_GET_ID, K_FLUSH };

/* The mix: reads and writes, with a GET_ID (done at once) and a flush (slow) in every eight. */
static enum kind kind_of(unsigned i)
{
	if (i % 8 == 3)
		return K_GET_ID;
	if (i % 8 == 7)
		return K_FLUSH;
	return i % 2 ? K_WRITE : K_READ;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static bool disk_matches(const struct vu_daemon *d, uint64_t sector, uint32_t seed)
{
	uint8_t buf[BLK];

	return pread(d->disk_fd, buf, BLK, (off_t)(sector * 512)) == BLK &&
	       vu_pattern_check(buf, BLK, seed, sector * 512) == BLK;
}

static void disk_fill(const struct vu_daemon *d, uint64_t sector, uint32_t seed)
{
	uint8_t buf[BLK];

	vu_pattern_fill(buf, BLK, seed, sector * 512);
	if (pwrite(d->disk_fd, buf, BLK, (off_t)(sector * 512)) != BLK)
		tap_bail("pwrite on the test image: %s", strerror(errno));
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != v)
			return false;
	}
	return true;
}

static void start_daemon(struct vu_daemon *d, const char *disk, const char *engine)
{
	struct vu_daemon_opts o = { .engine = engine };

	if (vu_daemon_setup(d, DISK_SIZE) < 0)
		tap_bail("cannot create a temp dir and image");
	/* A second daemon on the first one's image, as after a migration on shared storage. */
	if (disk)
		vu_daemon_use_disk(d, disk);
	if (vu_daemon_start(d, &o) < 0)
		tap_bail("cannot start vbridge --engine %s", engine);
}

/* A connected front-end with an inflight region, guest memory and one started queue. */
struct frontend {
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
};

static void frontend_open(struct frontend *f, const struct vu_daemon *d, uint64_t proto)
{
	struct vu_dev *dev = &f->dev;

	vu_dev_init(dev);
	if (vu_connect(dev, d->sock, 5000) < 0 ||
	    vu_negotiate(dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | proto) < 0 ||
	    vu_inflight_open(dev, 1, QS, &f->inf) < 0 ||
	    vu_mem_add_region(dev, 0, 16u << 20) < 0 || vu_mem_set_table(dev) < 0)
		tap_bail("front-end set-up: %s", dev->err);
	f->vq = vu_vq_create(dev, 0, QS);
	if (!f->vq || vu_vq_start(f->vq) < 0)
		tap_bail("queue set-up: %s", dev->err);
}

static void frontend_close(struct frontend *f)
{
	vu_dev_close(&f->dev);
	vu_inflight_close(&f->inf);
}

/* Requests of a scenario, their buffers in guest memory and what the disk must end up holding. */
struct load {
	unsigned n;
	struct vu_blk_req req[QS];
	uint8_t *buf[QS];
	unsigned slow;		/* requests that wait for the storage: all but GET_ID */
};

static void load_submit(struct load *l, struct frontend *f, const struct vu_daemon *d)
{
	l->slow = 0;
	for (unsigned i = 0; i < l->n; i++) {
		struct vu_blk_req *r = &l->req[i];

		disk_fill(d, READ_SECTOR + 8 * i, SEED_DISK);
		disk_fill(d, WRITE_SECTOR + 8 * i, SEED_DISK);
		if (vu_blk_req_init(&f->dev, r) < 0 ||
		    !(l->buf[i] = vu_mem_alloc(&f->dev, BLK, 4096)))
			tap_bail("request set-up: %s", f->dev.err);
		switch (kind_of(i)) {
		case K_READ:
			memset(l->buf[i], POISON, BLK);
			vu_blk_prep_read(r, READ_SECTOR + 8 * i, l->buf[i], BLK);
			break;
		case K_WRITE:
			vu_pattern_fill(l->buf[i], BLK, SEED_NEW, (WRITE_SECTOR + 8 * i) * 512ull);
			vu_blk_prep_write(r, WRITE_SECTOR + 8 * i, l->buf[i], BLK);
			break;
		case K_GET_ID:
			vu_blk_prep_get_id(r, l->buf[i]);
			break;
		case K_FLUSH:
			vu_blk_prep_flush(r);
			break;
		}
		l->slow += kind_of(i) != K_GET_ID;
		/* Indirect: each request takes one ring slot, so QS of them fit. */
		r->flags |= VU_REQ_INDIRECT;
		if (vu_blk_enqueue(f->vq, r) < 0)
			tap_bail("enqueue: %s", f->dev.err);
	}
	vu_vq_kick(f->vq);
}

/*
 * Waits until the back-end has fetched everything: the slow requests show
 * inflight in the region and the quick ones (GET_ID) are used.
 */
static bool load_fetched(const struct load *l, const struct frontend *f)
{
	for (unsigned ms = 0; ms < DELAY_MS / 2; ms++) {
		if (vu_inflight_count(&f->inf, 0) == l->slow &&
		    LOAD(f->vq->used->idx) == l->n - l->slow)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* What the guest and the disk look like; compared before and after the storage would have finished. */
struct snapshot {
	uint8_t used[4 + 8 * QS + 2];
	unsigned untouched_reads;	/* read buffers still all poison */
	unsigned unset_status;		/* status bytes never written */
	unsigned old_writes;		/* write areas still holding the old data */
};

static void snap(struct snapshot *s, const struct load *l, const struct frontend *f,
		 const struct vu_daemon *d)
{
	memcpy(s->used, (const void *)f->vq->used, sizeof(s->used));
	s->untouched_reads = s->unset_status = s->old_writes = 0;
	for (unsigned i = 0; i < l->n; i++) {
		s->unset_status += LOAD(*l->req[i].status_ptr) == VU_STATUS_UNSET;
		if (kind_of(i) == K_READ)
			s->untouched_reads += all_bytes(l->buf[i], BLK, POISON);
		if (kind_of(i) == K_WRITE)
			s->old_writes += disk_matches(d, WRITE_SECTOR + 8 * i, SEED_DISK);
	}
}

static unsigned count_kind(unsigned n, enum kind k)
{
	unsigned c = 0;

	for (unsigned i = 0; i < n; i++)
		c += kind_of(i) == k;
	return c;
}

/* Every request done exactly once with status OK, read data right, writes on disk. */
static bool load_verified(struct load *l, struct frontend *f, const struct vu_daemon *d)
{
	struct vu_blk_req *all[QS];
	unsigned bad = 0;

	for (unsigned i = 0; i < l->n; i++)
		all[i] = &l->req[i];
	if (vu_blk_wait_all(&f->dev, all, l->n, 10000) < 0) {
		tap_diag("waiting for the requests: %s", f->dev.err);
		return false;
	}
	/* Anything completed twice would show as a used entry beyond n. */
	sleep_ms(200);
	vu_blk_reap(f->vq);
	for (unsigned i = 0; i < l->n; i++) {
		bool ok = l->req[i].status == VIRTIO_BLK_S_OK;

		if (kind_of(i) == K_READ)
			ok = ok && vu_pattern_check(l->buf[i], BLK, SEED_DISK,
						    (READ_SECTOR + 8 * i) * 512ull) == BLK;
		if (kind_of(i) == K_WRITE)
			ok = ok && disk_matches(d, WRITE_SECTOR + 8 * i, SEED_NEW);
		if (kind_of(i) == K_READ)
			ok = ok && disk_matches(d, READ_SECTOR + 8 * i, SEED_DISK);
		if (!ok && bad++ < 3)
			tap_diag("request %u (kind %d): status %u", i, kind_of(i), l->req[i].status);
	}
	if (LOAD(f->vq->used->idx) != l->n || f->vq->bad_used) {
		tap_diag("used->idx %u for %u requests, %u used entries for heads not in flight",
			 LOAD(f->vq->used->idx), l->n, f->vq->bad_used);
		return false;
	}
	return bad == 0;
}

/*
 * One migration: source on a slow engine with n requests fetched, GET_VRING_BASE,
 * then the destination (a second vbridge on the same image) takes over the region.
 */
static void scenario(unsigned n, bool suspend)
{
	const char *mode = suspend ? "suspend" : "drain";
	struct vu_daemon src, dst;
	struct frontend f;
	static struct load l;
	struct snapshot before, after;
	unsigned expect_base = suspend ? n - count_kind(n, K_READ) - count_kind(n, K_WRITE) -
					  count_kind(n, K_FLUSH) : n;
	uint64_t t0, took;
	uint32_t base = ~0u;
	int r;

	tap_diag("%s, %u requests in flight on %s", mode, n, ENGINE);
	start_daemon(&src, NULL, ENGINE);
	frontend_open(&f, &src, F_INFLIGHT | (suspend ? F_SUSPEND : 0));
	l.n = n;
	load_submit(&l, &f, &src);
	tap_ok(load_fetched(&l, &f), "%s/%u: the source fetched all %u slow requests", mode, n,
	       l.slow);

	t0 = now_ms();
	r = vu_vq_stop(f.vq, &base);
	took = now_ms() - t0;
	snap(&before, &l, &f, &src);
	if (!tap_ok(r == 0 && base == expect_base, "%s/%u: GET_VRING_BASE replies %u", mode, n,
		    expect_base))
		tap_diag("reply %d, base %u: %s", r, base, f.dev.err);
	if (suspend) {
		tap_ok(took < DELAY_MS / 2,
		       "%s/%u: it returned in %llu ms, without waiting for the %u ms storage", mode,
		       n, (unsigned long long)took, DELAY_MS);
		tap_ok(vu_inflight_count(&f.inf, 0) == l.slow && before.unset_status == l.slow,
		       "%s/%u: the %u suspended requests stay inflight in the region, unanswered",
		       mode, n, l.slow);
	} else {
		tap_ok(took >= DELAY_MS / 2 && LOAD(f.vq->used->idx) == n,
		       "%s/%u: it waited %llu ms, until all %u were used", mode, n,
		       (unsigned long long)took, n);
		tap_ok(vu_inflight_count(&f.inf, 0) == 0 && before.unset_status == 0,
		       "%s/%u: nothing inflight, every status written", mode, n);
	}

	/* Long after the storage would have finished, nothing may have moved. */
	sleep_ms(DELAY_MS + 300);
	snap(&after, &l, &f, &src);
	tap_ok(memcmp(before.used, after.used, sizeof(before.used)) == 0,
	       "%s/%u: used ring untouched after the reply", mode, n);
	tap_ok(after.untouched_reads == before.untouched_reads &&
	       after.unset_status == before.unset_status,
	       "%s/%u: no guest buffer or status written after the reply (%u reads still poisoned)",
	       mode, n, after.untouched_reads);
	tap_ok(after.old_writes == before.old_writes &&
	       (!suspend || after.old_writes == count_kind(n, K_WRITE)),
	       "%s/%u: no write reached the disk after the reply (%u suspended writes absent)", mode,
	       n, after.old_writes);

	start_daemon(&dst, src.disk, "uring");
	r = vu_dev_handoff(&f.dev, dst.sock, VU_BLK_FEATURES,
			   VU_PROTOCOL_FEATURES | F_INFLIGHT | F_SUSPEND, &f.inf);
	if (!tap_ok(r == 0, "%s/%u: the destination takes the region and base %u", mode, n, base))
		tap_diag("%s", f.dev.err);
	tap_ok(load_verified(&l, &f, &src),
	       "%s/%u: every request completed exactly once with the right data on disk and in memory",
	       mode, n);
	tap_ok(vu_inflight_count(&f.inf, 0) == 0, "%s/%u: the region is clear afterwards", mode, n);
	frontend_close(&f);
	tap_ok(vu_daemon_stop(&src) == 0 && vu_daemon_stop(&dst) == 0,
	       "%s/%u: both daemons exit 0 on SIGTERM", mode, n);
	vu_daemon_teardown(&dst);
	vu_daemon_teardown(&src);
}

/* SET_PROTOCOL_FEATURES with NEED_REPLY; returns the ack value, or -1 if none came. */
static int64_t set_protocol_acked(struct vu_dev *dev, uint64_t features)
{
	struct vhost_user_msg msg;

	if (vu_send_msg(dev, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_NEED_REPLY_MASK,
			&features, sizeof(features), NULL, 0) < 0 ||
	    vu_recv_msg(dev, &msg, NULL, NULL, 5000) < 0 ||
	    msg.hdr.request != VHOST_USER_SET_PROTOCOL_FEATURES || msg.hdr.size != 8)
		return -1;
	dev->protocol_features = features;
	return (int64_t)msg.payload.u64;
}


/* Bit 20 needs bit 12, --no-suspend withdraws it, and a refused bit 20 leaves GET_VRING_BASE draining. */
static void test_negotiation(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .engine = "delay:300ms", .no_suspend = true };
	struct vu_blk_req req;
	uint64_t offered = 0, t0, took;
	uint8_t *buf;
	uint32_t base = ~0u;
	struct vu_vq *vq;
	int64_t ack;

	start_daemon(&d, NULL, "delay:300ms");
	vu_dev_init(&dev);
	if (vu_connect(&dev, d.sock, 5000) < 0 || vu_get_features(&dev, &offered) < 0 ||
	    vu_set_owner(&dev) < 0 || vu_get_protocol_features(&dev, &offered) < 0)
		tap_bail("connect: %s", dev.err);
	tap_ok(offered & F_SUSPEND, "GET_VRING_BASE_INFLIGHT (bit 20) is offered");
	ack = set_protocol_acked(&dev, F_ACK | F_SUSPEND);
	tap_ok(ack > 0, "bit 20 without INFLIGHT_SHMFD is refused with a REPLY_ACK failure (%lld)",
	       (long long)ack);
	tap_ok(vu_daemon_log_has(&d, "needs INFLIGHT_SHMFD"), "and the refusal is logged with its reason");
	/* The connection lives on without bit 20: GET_VRING_BASE must drain. */
	if (vu_set_features(&dev, VU_BLK_FEATURES & dev.offered_features) < 0 ||
	    vu_mem_add_region(&dev, 0, 1u << 20) < 0 || vu_mem_set_table(&dev) < 0 ||
	    !(vq = vu_vq_create(&dev, 0, 64)) || vu_vq_start(vq) < 0 ||
	    vu_blk_req_init(&dev, &req) < 0 || !(buf = vu_mem_alloc(&dev, BLK, 4096)))
		tap_bail("set-up after the refusal: %s", dev.err);
	memset(buf, 0x11, BLK);
	vu_blk_prep_write(&req, 0, buf, BLK);
	vu_blk_submit(vq, &req);
	sleep_ms(50);
	t0 = now_ms();
	vu_vq_stop(vq, &base);
	took = now_ms() - t0;
	tap_ok(base == 1 && LOAD(vq->used->idx) == 1,
	       "after the refusal GET_VRING_BASE drains: base %u, used %u, %llu ms", base,
	       LOAD(vq->used->idx), (unsigned long long)took);
	vu_dev_close(&dev);
	tap_ok(vu_daemon_stop(&d) == 0, "daemon exits 0");
	vu_daemon_teardown(&d);

	if (vu_daemon_setup(&d, DISK_SIZE) < 0 || vu_daemon_start(&d, &o) < 0)
		tap_bail("cannot start vbridge --no-suspend");
	vu_dev_init(&dev);
	if (vu_connect(&dev, d.sock, 5000) < 0 || vu_get_features(&dev, &offered) < 0 ||
	    vu_set_owner(&dev) < 0 || vu_get_protocol_features(&dev, &offered) < 0)
		tap_bail("connect: %s", dev.err);
	tap_ok(!(offered & F_SUSPEND) && (offered & F_INFLIGHT),
	       "--no-suspend: bit 20 is not offered, INFLIGHT_SHMFD still is");
	ack = set_protocol_acked(&dev, F_ACK | F_INFLIGHT | F_SUSPEND);
	tap_ok(ack > 0, "--no-suspend: asking for bit 20 anyway is refused (%lld)", (long long)ack);
	vu_dev_close(&dev);
	tap_ok(vu_daemon_stop(&d) == 0, "daemon exits 0");
	vu_daemon_teardown(&d);
}

/*
 * The same back-end takes the ring back after a suspension (SET_VRING_BASE
 * with the reply, new kick), and GET_VRING_BASE with num = 1, the later
 * QEMU trigger, suspends as well.
 */
static void test_resume_same_backend(void)
{
	struct vu_daemon d;
	struct frontend f;
	static struct load l;
	struct vu_blk_req *all[QS];
	uint32_t base = ~0u;
	uint64_t t0, took;
	int r;

	start_daemon(&d, NULL, ENGINE);
	frontend_open(&f, &d, F_INFLIGHT | F_SUSPEND);
	l.n = 16;
	load_submit(&l, &f, &d);
	tap_ok(load_fetched(&l, &f), "resume: %u slow requests fetched", l.slow);
	vu_set_vring_enable(&f.dev, 0, false);
	t0 = now_ms();
	{
		struct vhost_user_vring_state s = { .index = 0, .num = 1 }, reply;

		r = vu_call(&f.dev, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &reply,
			    sizeof(reply), NULL);
		base = reply.num;
	}
	took = now_ms() - t0;
	tap_ok(r == 0 && took < DELAY_MS / 2 && base == l.n - l.slow,
	       "resume: GET_VRING_BASE num=1 suspends: base %u in %llu ms", base,
	       (unsigned long long)took);
	f.vq->base = base;
	r = vu_vq_start(f.vq);
	tap_ok(r == 0, "resume: the same daemon restarts the ring at base %u", base);
	for (unsigned i = 0; i < l.n; i++)
		all[i] = &l.req[i];
	r = vu_blk_wait_all(&f.dev, all, l.n, 10000);
	tap_ok(r == 0 && load_verified(&l, &f, &d),
	       "resume: it resubmits the suspended requests; each completes once, data right");
	frontend_close(&f);
	tap_ok(vu_daemon_stop(&d) == 0, "resume: daemon exits 0");
	vu_daemon_teardown(&d);
}

int main(void)
{
	static const unsigned depths[] = { 1, 64, 256 };

	vu_harness_init(240);
	tap_plan(PLAN);
	if (!vu_is_vbridge()) {
		tap_skip(PLAN, "ring suspension is a vbridge feature", "suspend");
		exit(tap_done());
	}
	test_negotiation();
	for (unsigned i = 0; i < 3; i++) {
		scenario(depths[i], true);
		scenario(depths[i], false);
	}
	test_resume_same_backend();
	exit(tap_done());
}
