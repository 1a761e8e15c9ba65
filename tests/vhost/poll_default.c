/* Adaptive polling by default: depth-1 requests need no kick, and an idle daemon with a front-end connected spends no CPU. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (16ull << 20)
#define TMO 5000
#define REQUESTS 2000
#define IDLE_S 10
/* A spinning thread would take all of IDLE_S; a sleeping one takes nothing. */
#define IDLE_CPU_MS_MAX 100
#define PLAN 9

static long cpu_ms(pid_t pid)
{
	char path[64];
	unsigned long utime, stime;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		tap_bail("%s: cannot open", path);
	/* utime and stime are fields 14 and 15; comm (field 2) has no blank here */
	n = fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
		   &stime);
	fclose(f);
	if (n != 2)
		tap_bail("%s: unreadable", path);
	return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * REQUESTS 4k reads one after the other; returns the kicks. The client
 * spins on the used ring and answers each completion at once, as a busy
 * guest does, so that the daemon's window, not the client's wake-up on a
 * shared machine, decides whether a request needs a kick.
 */
static uint64_t depth1_kicks(struct vu_dev *dev, const char *what)
{
	struct vu_blk_req req;
	uint64_t kicks0 = dev->vqs[0]->kicks;
	uint8_t *buf = vu_mem_alloc(dev, 4096, 4096);
	unsigned int bad = 0;

	if (!buf || vu_blk_req_init(dev, &req) < 0)
		tap_bail("guest memory: %s", dev->err);
	for (unsigned int i = 0; i < REQUESTS; i++) {
		uint64_t deadline = now_ms() + TMO;

		vu_blk_prep_read(&req, (i % 4096) * 8, buf, 4096);
		if (vu_blk_submit(dev->vqs[0], &req) < 0)
			tap_bail("%s: submit: %s", what, dev->err);
		while (!req.done && now_ms() < deadline)
			vu_blk_reap(dev->vqs[0]);
		if (!req.done)
			tap_bail("%s: read %u not completed in %d ms", what, i, TMO);
		if (req.status != VIRTIO_BLK_S_OK)
			bad++;
	}
	vu_blk_req_fini(&req);
	tap_ok(bad == 0, "%s: %d depth-1 reads succeed (%u failed)", what, REQUESTS, bad);
	return dev->vqs[0]->kicks - kicks0;
}

/*
 * With two CPUs or more, the daemon gets one and this client another, as
 * a guest's vCPU and its back-end do: on one shared CPU the client could
 * not answer while the daemon spins.
 */
static void pin_apart(pid_t daemon)
{
	cpu_set_t all, one;
	int first = -1, second = -1;
	char path[64];
	struct dirent *t;
	DIR *dir;

	if (sched_getaffinity(0, sizeof(all), &all) < 0)
		tap_bail("sched_getaffinity: %s", strerror(errno));
	for (int c = 0; c < CPU_SETSIZE && second < 0; c++) {
		if (!CPU_ISSET(c, &all))
			continue;
		if (first < 0)
			first = c;
		else
			second = c;
	}
	if (second < 0)
		return;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)daemon);
	dir = opendir(path);
	if (!dir)
		tap_bail("%s: %s", path, strerror(errno));
	while ((t = readdir(dir)))
		if (t->d_name[0] != '.' && sched_setaffinity(atoi(t->d_name), sizeof(one), &one) < 0)
			tap_bail("sched_setaffinity: %s", strerror(errno));
	closedir(dir);
	CPU_ZERO(&one);
	CPU_SET(second, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		tap_bail("sched_setaffinity: %s", strerror(errno));
}

static void open_daemon(struct vu_daemon *d, struct vu_dev *dev, const struct vu_daemon_opts *o,
			const char *what)
{
	struct vu_open_opts oo = { .queue_size = 64 };

	if (vu_daemon_setup(d, DISK_SIZE) < 0)
		tap_bail("temp dir");
	if (!tap_ok(vu_daemon_start(d, o) == 0, "%s: daemon starts", what))
		tap_bail("cannot start vbridge");
	pin_apart(d->pid);
	if (vu_dev_open(dev, d->sock, &oo) < 0)
		tap_bail("%s: set-up: %s", what, dev->err);
}

static void close_daemon(struct vu_daemon *d, struct vu_dev *dev)
{
	vu_dev_close(dev);
	vu_daemon_stop(d);
	vu_daemon_teardown(d);
}

/*
 * Without --poll-us the worker spins before it sleeps, kicks off, and a
 * client that answers a completion within the window needs no kick: a few
 * in 2000 on a loaded machine. A quarter is a generous bound; without
 * polling every request kicks, and when the kick of a request the spin had
 * fetched turned kicks back on, every other one did.
 */
static void test_default(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .engine = "null" };
	uint64_t kicks;
	long cpu0, idle;

	open_daemon(&d, &dev, &o, "default");
	kicks = depth1_kicks(&dev, "default");
	tap_ok(kicks < REQUESTS / 4, "default: polling is on, %llu kicks for %d requests",
	       (unsigned long long)kicks, REQUESTS);
	cpu0 = cpu_ms(d.pid);
	sleep(IDLE_S);
	idle = cpu_ms(d.pid) - cpu0;
	tap_ok(idle <= IDLE_CPU_MS_MAX,
	       "default: idle for %d s with the front-end connected, the daemon spent %ld ms of CPU (at most %d)",
	       IDLE_S, idle, IDLE_CPU_MS_MAX);
	kicks = depth1_kicks(&dev, "default, after idling");
	tap_ok(kicks < REQUESTS / 4, "default: after the idle time, polling picks up again (%llu kicks)",
	       (unsigned long long)kicks);
	close_daemon(&d, &dev);
}

static void test_off(void)
{
	struct vu_daemon d;
	struct vu_dev dev;
	struct vu_daemon_opts o = { .engine = "null", .args = "--poll-us 0" };
	uint64_t kicks;

	open_daemon(&d, &dev, &o, "--poll-us 0");
	kicks = depth1_kicks(&dev, "--poll-us 0");
	tap_ok(kicks == REQUESTS, "--poll-us 0: polling is off, every request kicks (%llu for %d)",
	       (unsigned long long)kicks, REQUESTS);
	close_daemon(&d, &dev);
}

int main(void)
{
	vu_harness_init(60);
	tap_plan(PLAN);
	if (!vu_is_vbridge()) {
		tap_skip(PLAN, "--poll-us is a vbridge option", "poll_default");
		exit(tap_done());
	}
	test_default();
	test_off();
	exit(tap_done());
}
