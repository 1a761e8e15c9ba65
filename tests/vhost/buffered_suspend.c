/* A buffered disk (O_DIRECT refused, writes cached by the kernel) with fast suspend: completed writes are on the disk, fenced ones land before newer data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fence.h"
#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 64
#define NW 8			/* writes with the storage at the stop */
#define NQ 4			/* writes completed before it */
#define BLK 4096u
#define DISK_SIZE (16ull << 20)
#define MEM (2u << 20)
#define SLOW_MS 500
#define SEED_Q 601u		/* the completed writes */
#define SEED_A 602u		/* the writes with the storage at the stop */
#define SEED_B 603u		/* newer writes of the same blocks, to the next back-end */
#define F_SUSPEND ((1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) | \
		   (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT))
#define PLAN 6

static uint64_t quick_sector(unsigned i) { return 8ull * i; }
static uint64_t write_sector(unsigned i) { return 8ull * (64 + i); }

static struct vu_slowfs fs;
static struct vu_daemon a, b;
static struct vu_dev dev;
static struct vu_inflight inf;
static struct vu_vq *vq;
static struct vu_blk_req q[NQ], wr[NW], nw[NW];
static char backing[] = "/tmp/vbridge-buffered.XXXXXX";
static int probe_fd;

static void must(bool ok, const char *what)
{
	if (!ok)
		tap_bail("%s: %s", what, dev.err);
}

static void start_daemon(struct vu_daemon *d)
{
	if (vu_daemon_setup(d, DISK_SIZE) < 0)
		tap_bail("cannot create a temp dir");
	vu_daemon_use_disk(d, fs.disk);
	if (vu_daemon_start(d, &(struct vu_daemon_opts){ 0 }) < 0)
		tap_bail("cannot start vbridge on the buffered slow disk");
}

/* Whether the block at sector holds seed's pattern where the data is durable: slowfs's backing file, not the page cache. */
static bool on_disk(uint64_t sector, uint32_t seed)
{
	uint8_t buf[BLK];
	int fd = open(backing, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, buf, BLK, (off_t)sector * 512) == BLK &&
		  vu_pattern_check(buf, BLK, seed, sector * 512) == BLK;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* The same through the mount, i.e. what any reader of the file sees. */
static bool in_file(uint64_t sector, uint32_t seed)
{
	uint8_t buf[BLK];
	int fd = open(fs.disk, O_RDONLY);
	bool ok = fd >= 0 && pread(fd, buf, BLK, (off_t)sector * 512) == BLK &&
		  vu_pattern_check(buf, BLK, seed, sector * 512) == BLK;

	if (fd >= 0)
		close(fd);
	return ok;
}

static unsigned fenced_writes(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NW; i++)
		n += vb_fence_probe(probe_fd, DISK_SIZE, write_sector(i) * 512, BLK) ==
		     VB_FENCE_FENCED;
	return n;
}

static void set_up(void)
{
	char opts[128];
	int fd = mkstemp(backing);

	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0 || close(fd) < 0)
		tap_bail("cannot create the slow disk's backing file");
	snprintf(opts, sizeof(opts), "--page-cache --backing %s", backing);
	if (vu_slowfs_mount(&fs, "16M", opts) < 0)
		tap_bail("cannot mount the slow disk");
	probe_fd = vb_fence_probe_open(fs.disk);
	if (probe_fd < 0)
		tap_bail("cannot open the disk for probing");
	start_daemon(&a);
	tap_ok(vu_daemon_log_has(&a, "is buffered (O_DIRECT refused)"),
	       "the daemon finds O_DIRECT refused and says it writes with RWF_DSYNC");
	vu_dev_init(&dev);
	must(vu_connect(&dev, a.sock, 5000) == 0 &&
	     vu_negotiate(&dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND) == 0 &&
	     vu_inflight_open(&dev, 1, QS, &inf) == 0 &&
	     vu_mem_add_region(&dev, 0, MEM) == 0 && vu_mem_set_table(&dev) == 0 &&
	     (vq = vu_vq_create(&dev, 0, QS)) && vu_vq_start(vq) == 0, "front-end set-up");
	for (unsigned i = 0; i < NQ; i++)
		must(vu_blk_req_init(&dev, &q[i]) == 0, "requests");
	for (unsigned i = 0; i < NW; i++)
		must(vu_blk_req_init(&dev, &wr[i]) == 0 && vu_blk_req_init(&dev, &nw[i]) == 0,
		     "requests");
}

static void write_all(struct vu_blk_req *reqs, unsigned n, uint64_t (*sector)(unsigned),
		      uint32_t seed)
{
	for (unsigned i = 0; i < n; i++) {
		void *buf = vu_mem_alloc(&dev, BLK, BLK);

		must(buf != NULL, "guest memory");
		vu_pattern_fill(buf, BLK, seed, sector(i) * 512);
		vu_blk_prep_write(&reqs[i], sector(i), buf, BLK);
		must(vu_blk_enqueue(vq, &reqs[i]) == 0, "enqueue");
	}
	vu_vq_kick(vq);
}

/*
 * With the kernel caching writes, a write completed into the page cache
 * alone would reach slowfs only when written back, long after its used
 * entry (and after any fence of it was dropped).
 */
static void test_durable(void)
{
	struct vu_blk_req *all[NQ];
	bool ok = true;

	vu_slowfs_delay(&fs, 0, 300);
	write_all(q, NQ, quick_sector, SEED_Q);
	for (unsigned i = 0; i < NQ; i++)
		all[i] = &q[i];
	must(vu_blk_wait_all(&dev, all, NQ, 10000) == 0, "the first writes");
	for (unsigned i = 0; i < NQ; i++)
		ok &= q[i].status == VIRTIO_BLK_S_OK && on_disk(quick_sector(i), SEED_Q);
	tap_ok(ok, "a completed write is on the disk (slowfs's backing file) when its used entry appears");
}

static void test_suspend_and_handover(void)
{
	struct vu_blk_req *all[2 * NW];
	uint64_t t0, ms;
	uint32_t base;
	bool ok;

	vu_slowfs_delay(&fs, 0, SLOW_MS);
	write_all(wr, NW, write_sector, SEED_A);
	usleep(200000);
	t0 = (uint64_t)vu_now_ms();
	must(vu_vq_stop(vq, &base) == 0, "GET_VRING_BASE");
	ms = (uint64_t)vu_now_ms() - t0;
	tap_diag("GET_VRING_BASE replied in %llu ms, %u of the %u write ranges fenced",
		 (unsigned long long)ms, fenced_writes(), NW);
	tap_ok(base == NQ && vu_inflight_count(&inf, 0) == NW,
	       "writes still being written back at the stop are left inflight (base %u, %u inflight)",
	       base, vu_inflight_count(&inf, 0));

	start_daemon(&b);
	must(vu_dev_handoff(&dev, b.sock, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND,
			    &inf) == 0, "handoff");
	write_all(nw, NW, write_sector, SEED_B);
	for (unsigned i = 0; i < NW; i++) {
		all[i] = &wr[i];
		all[NW + i] = &nw[i];
	}
	ok = vu_blk_wait_all(&dev, all, 2 * NW, 30000) == 0;
	for (unsigned i = 0; ok && i < 2 * NW; i++)
		ok = all[i]->status == VIRTIO_BLK_S_OK;
	tap_ok(ok && vu_inflight_count(&inf, 0) == 0,
	       "a second vbridge completes the %u resubmitted and the %u newer writes", NW, NW);

	vu_slowfs_delay(&fs, 0, 0);
	for (unsigned t = 0; fenced_writes() && t < 5000; t += 10)
		usleep(10000);
	ok = fenced_writes() == 0;
	for (unsigned i = 0; ok && i < NW; i++)
		ok = in_file(write_sector(i), SEED_B) && on_disk(write_sector(i), SEED_B);
	tap_ok(ok, "after everything settled every block holds the newer data, in the file and on the disk");
	for (unsigned i = 0; i < NQ; i++)
		ok &= on_disk(quick_sector(i), SEED_Q);
	tap_ok(ok, "the first writes are still on the disk");
}

int main(void)
{
	vu_harness_init(120);
	tap_plan_vbridge_only(PLAN, "write fences are vbridge's", "buffered_suspend");
	set_up();
	test_durable();
	test_suspend_and_handover();
	vu_dev_close(&dev);
	vu_inflight_close(&inf);
	vu_daemon_stop(&b);
	vu_daemon_teardown(&b);
	vu_daemon_stop(&a);
	vu_daemon_teardown(&a);
	close(probe_fd);
	vu_slowfs_umount(&fs);
	unlink(backing);
	return tap_done();
}
