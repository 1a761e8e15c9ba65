/* Orphaned rings on a hung disk (the FUSE slow disk): bounded per device, reported by SIGUSR1, abandoned on SIGTERM after a timeout. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_slowfs.h"

#define QS 64
#define NREADS 8
#define BLK 4096u
#define LIMIT 2
#define TIMEOUT_S 1
#define HANG_MS 600000
#define SEED 4242u
#define F_SUSPEND ((1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) | \
		   (1ull << VHOST_USER_PROTOCOL_F_GET_VRING_BASE_INFLIGHT))
#define PLAN (LIMIT + 21)

/* Threads of the daemon, from /proc. */
static unsigned tasks(const struct vu_daemon *d)
{
	char path[64];
	unsigned n = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* Polls for up to ms until the daemon has want threads. */
static bool tasks_become(const struct vu_daemon *d, unsigned want, unsigned ms)
{
	for (unsigned t = 0; t < ms / 10; t++) {
		if (tasks(d) == want)
			return true;
		usleep(10000);
	}
	return tasks(d) == want;
}

/* Polls the daemon log for up to ms for a line containing needle. */
static bool log_shows(const struct vu_daemon *d, const char *needle, unsigned ms)
{
	static char buf[1 << 16];

	for (unsigned t = 0; t <= ms / 20; t++) {
		FILE *f = fopen(d->log, "r");
		size_t len = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[len] = '\0';
		if (strstr(buf, needle))
			return true;
		usleep(20000);
	}
	return false;
}

/* A daemon on the slow disk with the orphan options, and a front-end with one ring of NREADS reads. */
struct rig {
	struct vu_slowfs fs;
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_inflight inf;
	struct vu_vq *vq;
	struct vu_blk_req req[NREADS];
	uint8_t *buf[NREADS];
};

static void rig_up(struct rig *r)
{
	struct vu_daemon_opts o = { .args = "--orphan-limit 2 --orphan-timeout 1" };

	_Static_assert(LIMIT == 2 && TIMEOUT_S == 1, "the options above");
	if (vu_slowfs_mount(&r->fs, "64M", NULL) < 0)
		tap_bail("cannot mount the slow disk");
	if (vu_daemon_setup(&r->d, 64ull << 20) < 0)
		tap_bail("cannot create a temp dir");
	vu_daemon_use_disk(&r->d, r->fs.disk);
	if (vu_daemon_start(&r->d, &o) < 0)
		tap_bail("cannot start vbridge on the slow disk");
	vu_dev_init(&r->dev);
	if (vu_connect(&r->dev, r->d.sock, 5000) < 0 ||
	    vu_negotiate(&r->dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES | F_SUSPEND) < 0 ||
	    vu_inflight_open(&r->dev, 1, QS, &r->inf) < 0 ||
	    vu_mem_add_region(&r->dev, 0, 4u << 20) < 0 || vu_mem_set_table(&r->dev) < 0 ||
	    !(r->vq = vu_vq_create(&r->dev, 0, QS)) || vu_vq_start(r->vq) < 0)
		tap_bail("front-end set-up: %s", r->dev.err);
	for (unsigned i = 0; i < NREADS; i++) {
		if (vu_blk_req_init(&r->dev, &r->req[i]) < 0 ||
		    !(r->buf[i] = vu_mem_alloc(&r->dev, BLK, 4096)))
			tap_bail("request set-up: %s", r->dev.err);
	}
}

static void rig_down(struct rig *r)
{
	vu_dev_close(&r->dev);
	vu_inflight_close(&r->inf);
	vu_daemon_teardown(&r->d);
	vu_slowfs_umount(&r->fs);
}

/* NREADS reads of a pattern written through the slow disk, fetched by the daemon while the disk hangs. */
static bool submit_hung_reads(struct rig *r)
{
	uint8_t *pattern = malloc(NREADS * BLK);
	FILE *f = fopen(r->fs.disk, "r+");
	bool ok = f && pattern;

	if (ok) {
		vu_pattern_fill(pattern, NREADS * BLK, SEED, 0);
		ok = fwrite(pattern, BLK, NREADS, f) == NREADS;
	}
	if (f)
		ok = fclose(f) == 0 && ok;
	free(pattern);
	ok = ok && vu_slowfs_delay(&r->fs, HANG_MS, HANG_MS) == 0;
	for (unsigned i = 0; ok && i < NREADS; i++) {
		memset(r->buf[i], 0x5a, BLK);
		vu_blk_prep_read(&r->req[i], 8 * i, r->buf[i], BLK);
		ok = vu_blk_enqueue(r->vq, &r->req[i]) == 0;
	}
	vu_vq_kick(r->vq);
	for (unsigned ms = 0; ok && ms < 3000; ms += 5) {
		if (vu_inflight_count(&r->inf, 0) == NREADS)
			return true;
		usleep(5000);
	}
	return false;
}

/* GET_VRING_BASE with a suspension: the reply's time, or ~0 if it failed or did not suspend them all. */
static uint64_t suspend_ms(struct rig *r)
{
	uint64_t t0 = (uint64_t)vu_now_ms();
	uint32_t base = ~0u;

	if (vu_vq_stop(r->vq, &base) < 0 || base != 0 || vu_inflight_count(&r->inf, 0) != NREADS)
		return ~0ull;
	return (uint64_t)vu_now_ms() - t0;
}

/* Restarts the ring: the daemon resubmits the suspended reads, which hang again; wait till they do. */
static void restart(struct rig *r)
{
	if (vu_vq_start(r->vq) < 0)
		tap_bail("restarting the ring: %s", r->dev.err);
	usleep(300000);
}

struct blocked_stop {
	struct rig *r;
	uint64_t took;
	int done;	/* atomic */
};

static void *stop_in_background(void *arg)
{
	struct blocked_stop *b = arg;

	b->took = suspend_ms(b->r);
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* LIMIT suspensions orphan their reads; the next one waits for them instead; all of it logged and counted. */
static void test_bound(void)
{
	struct rig r;
	struct blocked_stop b = { .r = &r };
	pthread_t t;
	unsigned base_tasks, during;
	uint64_t t0, took;
	bool ok, joined;

	rig_up(&r);
	tap_ok(submit_hung_reads(&r), "%u reads wait on the hung disk", NREADS);
	/* The control thread, the status thread and the ring's worker. */
	base_tasks = tasks(&r.d);
	for (unsigned i = 1; i <= LIMIT; i++) {
		took = suspend_ms(&r);
		tap_ok(took < 1000, "suspension %u of the hung ring replies in %llu ms, %u reads left inflight",
		       i, (unsigned long long)took, NREADS);
		restart(&r);
	}
	during = tasks(&r.d);
	tap_ok(during == base_tasks + LIMIT,
	       "the daemon has %u threads: %u more for the %u orphaned rings", during, LIMIT, LIMIT);

	if (pthread_create(&t, NULL, stop_in_background, &b))
		tap_bail("pthread_create");
	usleep(1500000);
	joined = __atomic_load_n(&b.done, __ATOMIC_ACQUIRE);
	tap_ok(!joined, "suspension %u, past the limit of %u orphaned rings, waits for the reads",
	       LIMIT + 1, LIMIT);
	/* Without a bound the ring would start again with one more orphaned ring behind it. */
	if (joined) {
		pthread_join(t, NULL);
		restart(&r);
	}
	during = tasks(&r.d);
	tap_ok(during <= base_tasks + LIMIT, "never more than %u threads for orphaned rings (%u in all)",
	       LIMIT, during);
	tap_ok(log_shows(&r.d, "2 rings are orphaned already (the limit)", 1000),
	       "the daemon says why the ring does not stop");
	kill(r.d.pid, SIGUSR1);
	tap_ok(log_shows(&r.d, "1 of 1 rings running, 0 requests in flight, 8 abandoned reads on "
			       "stopping rings, 2 orphaned rings (limit 2) with 16 abandoned reads "
			       "outstanding: queue 0 (8 reads), queue 0 (8 reads)", 2000),
	       "SIGUSR1: a status line with the rings, requests in flight, orphans and their reads");

	t0 = (uint64_t)vu_now_ms();
	vu_slowfs_delay(&r.fs, 0, 0);
	if (!joined)
		pthread_join(t, NULL);
	took = (uint64_t)vu_now_ms() - t0;
	tap_ok(b.took != ~0ull && took < 2000,
	       "when the disk recovers it replies (%llu ms later), the reads still suspended",
	       (unsigned long long)took);
	/* The worker and both orphaned rings are gone. */
	ok = tasks_become(&r.d, base_tasks - 1, 3000);
	during = tasks(&r.d);
	tap_ok(ok, "the orphaned rings' threads end (%u threads left)", during);
	tap_ok(log_shows(&r.d, "the host finished every abandoned read of an orphaned ring", 0),
	       "and the daemon says so");

	restart(&r);
	{
		struct vu_blk_req *all[NREADS];

		ok = true;
		for (unsigned i = 0; i < NREADS; i++)
			all[i] = &r.req[i];
		ok = vu_blk_wait_all(&r.dev, all, NREADS, 5000) == 0;
		for (unsigned i = 0; ok && i < NREADS; i++)
			ok = r.req[i].status == VIRTIO_BLK_S_OK &&
			     vu_pattern_check(r.buf[i], BLK, SEED, (uint64_t)i * BLK) == BLK;
	}
	tap_ok(ok && __atomic_load_n(&r.vq->used->idx, __ATOMIC_ACQUIRE) == NREADS,
	       "restarted, the ring completes the %u suspended reads once, data right", NREADS);
	vu_dev_close(&r.dev);
	tap_ok(vu_daemon_stop(&r.d) == 0, "the daemon exits 0 on SIGTERM");
	rig_down(&r);
}

/*
 * SIGTERM with orphaned rings on a disk that never answers: the daemon waits
 * the timeout, then exits. Past the limit, even with a suspension waiting for
 * its reads when the signal comes.
 */
static void test_sigterm(bool past_limit)
{
	const char *name = past_limit ? "sigterm past the limit" : "sigterm";
	unsigned rings = past_limit ? LIMIT + 1 : 1;
	struct rig r;
	struct blocked_stop b = { .r = &r };
	pthread_t t;
	char line[160];
	uint64_t t0, took;
	int rc;

	rig_up(&r);
	tap_ok(submit_hung_reads(&r), "%s: %u reads wait on the hung disk", name, NREADS);
	for (unsigned i = 1; past_limit && i <= LIMIT; i++) {
		if (suspend_ms(&r) > 1000)
			tap_bail("suspension %u did not orphan its reads", i);
		restart(&r);
	}
	if (past_limit) {
		if (pthread_create(&t, NULL, stop_in_background, &b))
			tap_bail("pthread_create");
		usleep(500000);
		tap_ok(!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE),
		       "%s: the ring waits for its reads", name);
	} else {
		took = suspend_ms(&r);
		tap_ok(took < 1000, "%s: the ring is suspended at once", name);
	}
	t0 = (uint64_t)vu_now_ms();
	rc = vu_daemon_stop(&r.d);
	took = (uint64_t)vu_now_ms() - t0;
	if (past_limit)
		pthread_join(t, NULL);
	tap_ok(rc == 0 && took >= TIMEOUT_S * 1000 - 100 && took < TIMEOUT_S * 1000 + 2500,
	       "%s: the daemon exits 0 after the %d s --orphan-timeout (%llu ms), not when the disk answers",
	       name, TIMEOUT_S, (unsigned long long)took);
	snprintf(line, sizeof(line), "exiting with %u abandoned reads still with the host after 1000 ms, "
		 "on %u orphaned rings: queue 0 (8 reads)", rings * NREADS, rings);
	tap_ok(log_shows(&r.d, line, 0), "%s: it logs what it abandoned: how many reads, which rings",
	       name);
	snprintf(line, sizeof(line), "waiting up to 1000 ms for the host to finish %u rings' "
		 "abandoned reads", rings);
	tap_ok(log_shows(&r.d, line, 0), "%s: and that it waited", name);
	rig_down(&r);
}

int main(void)
{
	vu_harness_init(120);
	tap_plan_vbridge_only(PLAN, "orphaned rings are vbridge's", "orphans");
	test_bound();
	test_sigterm(false);
	test_sigterm(true);
	return tap_done();
}
