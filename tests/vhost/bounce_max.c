/* --bounce-max: reads above it go straight to guest memory and a suspension cancels or waits for them; reads up to it, and misaligned ones, bounce and are abandoned; auto reads a tmpfs file direct. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 64
#define KIB 1024u
#define SEED 1616u
#define DELAY_MS 1500
#define POISON 0x5a
#define F_SUSPEND ((1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) | \
		   (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT))
#define NDATA 5
#define NSUSPEND 4
#define NAUTO 3
#define PLAN (NDATA + 2 + NAUTO + NSUSPEND * 7)
#define IN_MEMORY_LOG "is in memory: reads go straight to guest memory"

/* A daemon with ARGS on a disk, and a front-end with one ring that may be suspended. */
struct rig {
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
};

static void rig_up(struct rig *r, const char *disk, const char *args)
{
	struct vu_daemon_opts o = { .args = args };

	if (vu_daemon_setup(&r->d, 64ull << 20) < 0)
		tap_bail("cannot create a temp dir");
	if (disk)
		vu_daemon_use_disk(&r->d, disk);
	if (vu_daemon_start(&r->d, &o) < 0)
		tap_bail("cannot start vbridge %s", args);
	vu_dev_init(&r->dev);
	if (vu_connect(&r->dev, r->d.sock, 5000) < 0 ||
	    vu_negotiate(&r->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND) < 0 ||
	    vu_inflight_open(&r->dev, 1, QS, &r->inf) < 0 ||
	    vu_mem_add_region(&r->dev, 0, 8u << 20) < 0 || vu_mem_set_table(&r->dev) < 0 ||
	    !(r->vq = vu_vq_create(&r->dev, 0, QS)) || vu_vq_start(r->vq) < 0)
		tap_bail("front-end set-up: %s", r->dev.err);
}

static void rig_down(struct rig *r)
{
	vu_dev_close(&r->dev);
	vu_inflight_close(&r->inf);
	vu_daemon_teardown(&r->d);
}

/* A read of len bytes at sector into guest memory misaligned by skew bytes, poisoned first. */
static uint8_t *prep_read(struct rig *r, struct vu_blk_req *req, uint64_t sector, uint32_t len,
			  unsigned skew)
{
	uint8_t *buf = vu_mem_alloc(&r->dev, len + skew, 4096);

	if (!buf || vu_blk_req_init(&r->dev, req) < 0)
		tap_bail("request set-up: %s", r->dev.err);
	buf += skew;
	memset(buf, POISON, len);
	vu_blk_prep_read(req, sector, buf, len);
	return buf;
}

static bool poisoned(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != POISON)
			return false;
	}
	return true;
}

/* Reads below, at and above the limit, and a misaligned one above it, all with the right data. */
static void test_data(void)
{
	static const struct {
		uint32_t len;
		unsigned skew;
		const char *what;
	} reads[NDATA] = {
		{ 4 * KIB, 0, "4 KiB (bounced)" },
		{ 64 * KIB, 0, "64 KiB, the limit (bounced)" },
		{ 68 * KIB, 0, "68 KiB (direct)" },
		{ 1024 * KIB, 0, "1 MiB (direct)" },
		{ 128 * KIB, 1, "128 KiB into a misaligned guest buffer (bounced all the same)" },
	};
	struct rig r;
	uint64_t sector = 0;

	rig_up(&r, NULL, "--bounce-max 64K");
	for (unsigned i = 0; i < NDATA; i++) {
		struct vu_blk_req req;
		uint8_t *buf;
		int st;

		vu_disk_put_pattern(&r.d, sector, reads[i].len, SEED);
		buf = prep_read(&r, &req, sector, reads[i].len, reads[i].skew);
		st = vu_blk_run(r.vq, &req, 10000);
		tap_ok(st == VIRTIO_BLK_S_OK &&
			       vu_pattern_check(buf, reads[i].len, SEED, sector * 512) == reads[i].len,
		       "--bounce-max 64K: a read of %s returns the disk's data", reads[i].what);
		sector += reads[i].len / 512 + 8;
	}
	rig_down(&r);
}

static void test_option(void)
{
	struct vu_daemon d;
	struct vu_daemon_opts o = { .args = "--bounce-max 64Q" };
	bool refused;

	if (vu_daemon_setup(&d, 1u << 20) < 0)
		tap_bail("cannot create a temp dir");
	refused = vu_daemon_start(&d, &o) < 0;
	tap_ok(refused && vu_daemon_log_has(&d, "--bounce-max 64Q: expected a size"),
	       "--bounce-max 64Q is refused, with the reason");
	vu_daemon_teardown(&d);
	o.args = "--bounce-max max";
	if (vu_daemon_setup(&d, 1u << 20) < 0)
		tap_bail("cannot create a temp dir");
	tap_ok(vu_daemon_start(&d, &o) == 0 && vu_daemon_stop(&d) == 0,
	       "--bounce-max max is taken");
	vu_daemon_teardown(&d);
}

/* A daemon with args on the tmpfs file path; whether it read the disk's 1 MiB right and logged that its reads go direct. */
static bool read_in_memory(const char *path, const char *args, bool *direct)
{
	struct rig r;
	struct vu_blk_req req;
	uint8_t *buf;
	bool ok;

	rig_up(&r, path, args);
	buf = prep_read(&r, &req, 0, 1024 * KIB, 0);
	ok = vu_blk_run(r.vq, &req, 10000) == VIRTIO_BLK_S_OK &&
	     vu_pattern_check(buf, 1024 * KIB, SEED, 0) == 1024 * KIB;
	ok = vu_daemon_stop(&r.d) == 0 && ok;
	*direct = vu_daemon_log_has(&r.d, IN_MEMORY_LOG);
	rig_down(&r);
	return ok;
}

/*
 * The default, --bounce-max auto: a file in memory (tmpfs) cannot be slow,
 * so its reads skip the bounce; the delay engine, which plays slow storage,
 * and an explicit max keep bouncing (the slow FUSE disk: test_suspend).
 */
static void test_auto(void)
{
	char path[] = "/dev/shm/vbridge-bounce-auto.XXXXXX";
	uint8_t *pattern = malloc(1024 * KIB);
	int fd = mkstemp(path);
	bool direct, ok;

	if (!pattern || fd < 0 || ftruncate(fd, 8 << 20) < 0)
		tap_bail("cannot create a file in /dev/shm");
	vu_pattern_fill(pattern, 1024 * KIB, SEED, 0);
	if (pwrite(fd, pattern, 1024 * KIB, 0) != 1024 * KIB)
		tap_bail("cannot write the pattern to %s", path);
	close(fd);
	free(pattern);
	ok = read_in_memory(path, NULL, &direct);
	tap_ok(ok && direct, "default on a tmpfs file: reads go straight to guest memory (logged), data right");
	ok = read_in_memory(path, "--bounce-max max", &direct);
	tap_ok(ok && !direct, "--bounce-max max on a tmpfs file: reads bounce, data right");
	ok = read_in_memory(path, "--engine delay:1ms", &direct);
	tap_ok(ok && !direct, "the delay engine on a tmpfs file: reads bounce by default, data right");
	unlink(path);
}

/*
 * On the slow disk, with args: a read of len bytes the storage holds for
 * DELAY_MS when GET_VRING_BASE suspends the ring. A bounced one is
 * abandoned at once, its late data never reaching the guest; a direct one
 * is cancelled (left inflight, its buffer never written) or waited for
 * (completed, with its data, before the reply).
 */
static void test_suspend(const char *args, uint32_t len, bool direct)
{
	struct vu_slowfs fs;
	struct rig r;
	struct vu_blk_req req;
	uint8_t *buf, *pattern = malloc(len);
	FILE *f;
	uint32_t base = ~0u;
	uint64_t t0, took;
	bool ok, waited, cancelled;
	unsigned inflight;

	if (!pattern || vu_slowfs_mount(&fs, "64M", NULL) < 0)
		tap_bail("cannot mount the slow disk");
	vu_pattern_fill(pattern, len, SEED, 0);
	f = fopen(fs.disk, "r+");
	if (!f || fwrite(pattern, len, 1, f) != 1 || fclose(f) != 0)
		tap_bail("cannot write the pattern to the slow disk");
	free(pattern);
	rig_up(&r, fs.disk, args);
	if (vu_slowfs_delay(&fs, DELAY_MS, 0) < 0)
		tap_bail("cannot slow the disk down");
	buf = prep_read(&r, &req, 0, len, 0);
	ok = vu_blk_submit(r.vq, &req) == 0;
	for (unsigned ms = 0; ok && vu_inflight_count(&r.inf, 0) != 1 && ms < 3000; ms += 5)
		usleep(5000);
	/* The daemon fetched it; give it a moment to reach the disk. */
	usleep(100000);
	tap_ok(ok && vu_inflight_count(&r.inf, 0) == 1, "%s: a %u KiB read waits on the slow disk",
	       args, len / KIB);

	t0 = (uint64_t)vu_now_ms();
	ok = vu_vq_stop(r.vq, &base) == 0;
	took = (uint64_t)vu_now_ms() - t0;
	inflight = vu_inflight_count(&r.inf, 0);
	vu_blk_reap(r.vq);
	waited = ok && base == 1 && inflight == 0 && req.done && req.status == VIRTIO_BLK_S_OK &&
		 vu_pattern_check(buf, len, SEED, 0) == len;
	cancelled = ok && base == 0 && inflight == 1 && !req.done && poisoned(buf, len);
	if (direct) {
		/* Not abandoned: that would orphan the ring, its data still headed for the bounce buffer. */
		tap_ok((waited || cancelled) &&
			       !vu_daemon_log_has(&r.d, "abandoned reads left with the host"),
		       "%s: the direct read is %s: GET_VRING_BASE replies in %llu ms with base %u, %u left inflight",
		       args, waited ? "waited for, completed with its data" : "cancelled",
		       (unsigned long long)took, base, inflight);
		tap_ok(vu_daemon_log_has(&r.d, "direct reads in flight (longer than --bounce-max): 1,"),
		       "%s: the daemon logs that a direct read was cancelled or waited for", args);
	} else {
		tap_ok(cancelled,
		       "%s: the bounced read is abandoned: GET_VRING_BASE replies in %llu ms with base %u, %u left inflight",
		       args, (unsigned long long)took, base, inflight);
		tap_ok(!vu_daemon_log_has(&r.d, "direct reads in flight"),
		       "%s: no direct read is reported", args);
	}
	/* Whatever the storage still does must not reach the guest now. */
	usleep((DELAY_MS + 500) * 1000);
	tap_ok(waited || poisoned(buf, len),
	       "%s: the guest buffer of a read left inflight is never written after the reply", args);
	tap_ok(__atomic_load_n(&r.vq->used->idx, __ATOMIC_ACQUIRE) == base,
	       "%s: the used ring is untouched after the reply (index %u)", args, base);

	/* Restarted, the ring resubmits a read left inflight; a completed one is read again. */
	vu_slowfs_delay(&fs, 0, 0);
	ok = vu_vq_start(r.vq) == 0;
	if (ok && !cancelled) {
		memset(buf, POISON, len);
		ok = vu_blk_submit(r.vq, &req) == 0;
	}
	ok = ok && vu_blk_wait(r.vq, &req, 5000) == 0 && req.status == VIRTIO_BLK_S_OK &&
	     vu_pattern_check(buf, len, SEED, 0) == len;
	tap_ok(ok, "%s: restarted, the ring serves the read, data right", args);
	vu_dev_close(&r.dev);
	tap_ok(vu_daemon_stop(&r.d) == 0, "%s: the daemon exits 0 on SIGTERM", args);
	rig_down(&r);
	vu_slowfs_umount(&fs);
}

int main(void)
{
	vu_harness_init(120);
	tap_plan_vbridge_only(PLAN, "--bounce-max is vbridge's", "bounce_max");
	test_data();
	test_option();
	test_auto();
	test_suspend("--bounce-max 64K", 128 * KIB, true);
	test_suspend("--bounce-max max", 128 * KIB, false);
	test_suspend("--bounce-max auto", 128 * KIB, false);
	test_suspend("--bounce-max 0", 4 * KIB, true);
	return tap_done();
}
