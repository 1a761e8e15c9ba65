/* The hardened systemd unit: systemd-analyze verify accepts it, and its SystemCallFilter allow-list holds every system call the daemon makes under strace during a full data path run, on a disk file and on a file in memory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost_inflight.h"
#include "vu_frontend.h"
#include "vu_harness.h"

#define UNIT VBRIDGE_SRC "/tools/systemd/vbridge@.service"
#define DISK_SIZE (64ull << 20)
#define MEM_SIZE (16u << 20)
#define QSIZE 64
#define TMO 5000
#define MAX_NAMES 512
#define PLAN 8

static struct vu_daemon d;
static struct vu_daemon shm;	/* a daemon on a file in /dev/shm */

struct names {
	char *name[MAX_NAMES];
	unsigned n;
};

static bool has(const struct names *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return true;
	return false;
}

static void add(struct names *s, const char *name)
{
	if (has(s, name))
		return;
	if (s->n == MAX_NAMES)
		tap_bail("more than %d system call names", MAX_NAMES);
	s->name[s->n] = strdup(name);
	if (!s->name[s->n++])
		tap_bail("out of memory");
}

static const char *daemon_abspath(void)
{
	static char path[PATH_MAX];
	char rel[PATH_MAX];
	const char *build = getenv("BUILD");

	snprintf(rel, sizeof(rel), "%s/vbridge", build && *build ? build : "build");
	if (!realpath(rel, path))
		tap_bail("%s: %s", rel, strerror(errno));
	return path;
}

/* systemd-analyze verify on an instance of the unit, its ExecStart pointing at the daemon built here. */
static void verify_unit(void)
{
	char copy[PATH_MAX], cmd[PATH_MAX + 64], line[512];
	const char *bin = daemon_abspath();
	FILE *in = fopen(UNIT, "r"), *out, *p;
	unsigned said = 0;
	int st;

	snprintf(copy, sizeof(copy), "%s/vbridge@check.service", d.dir);
	out = fopen(copy, "w");
	if (!in || !out)
		tap_bail("%s: %s", in ? copy : UNIT, strerror(errno));
	while (fgets(line, sizeof(line), in)) {
		const char *at = strstr(line, "/usr/local/bin/vbridge");

		if (at)
			fprintf(out, "%.*s%s%s", (int)(at - line), line, bin,
				at + strlen("/usr/local/bin/vbridge"));
		else
			fputs(line, out);
	}
	fclose(in);
	fclose(out);
	/* Whatever it says is a warning (an unknown key, a bad system call name): none is allowed. */
	snprintf(cmd, sizeof(cmd), "systemd-analyze verify '%s' 2>&1", copy);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p)) {
		tap_diag("systemd-analyze: %s", strtok(line, "\n"));
		said++;
	}
	st = p ? pclose(p) : -1;
	tap_ok(st == 0 && said == 0, "systemd-analyze verify accepts the unit without a word");
	unlink(copy);
}

/* The names on the unit's SystemCallFilter= lines (an allow-list: no ~, no @groups). */
static void read_filter(struct names *allow)
{
	char line[1024];
	FILE *f = fopen(UNIT, "r");
	bool plain = true;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "SystemCallFilter=", 17))
			continue;
		for (char *w = strtok(line + 17, " \t\n"); w; w = strtok(NULL, " \t\n")) {
			plain &= w[0] != '~' && w[0] != '@';
			add(allow, w);
		}
	}
	if (f)
		fclose(f);
	tap_ok(allow->n > 0 && plain, "the unit's SystemCallFilter is an allow-list of %u names",
	       allow->n);
}

/* The system calls strace saw: "PID  name(..." and "PID  <... name resumed>...". */
static void read_trace(const char *trace, struct names *seen)
{
	char line[4096], name[64];
	FILE *f = fopen(trace, "r");

	if (!f)
		tap_bail("%s: %s", trace, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d %63[a-z0-9_](", name) == 1 ||
		    sscanf(line, "%*d <... %63[a-z0-9_] resumed>", name) == 1)
			add(seen, name);
	}
	fclose(f);
}

static bool step(bool ok, const char *what, struct vu_dev *v)
{
	if (!ok)
		tap_diag("%s failed: %s", what, v->err);
	return ok;
}

/* Every request type on both queues. */
static bool all_requests(struct vu_dev *v)
{
	struct vu_blk_req r;
	uint8_t *id = vu_mem_alloc(v, VIRTIO_BLK_ID_BYTES, 64);
	bool ok = id && vu_blk_req_init(v, &r) == 0;

	for (unsigned q = 0; ok && q < 2; q++) {
		ok = vu_roundtrip_ok(&d, v, v->vqs[q], 60 + q);
		vu_blk_prep_flush(&r);
		ok = ok && vu_blk_run(v->vqs[q], &r, TMO) == VIRTIO_BLK_S_OK;
		vu_blk_prep_get_id(&r, id);
		ok = ok && vu_blk_run(v->vqs[q], &r, TMO) == VIRTIO_BLK_S_OK;
		vu_blk_prep_discard(&r, 2048, 64);
		ok = ok && vu_blk_run(v->vqs[q], &r, TMO) == VIRTIO_BLK_S_OK;
		vu_blk_prep_write_zeroes(&r, 4096, 64, q == 1);
		ok = ok && vu_blk_run(v->vqs[q], &r, TMO) == VIRTIO_BLK_S_OK;
	}
	return step(ok, "requests", v);
}

/*
 * A request the last back-end left inflight on stopped ring 1, as after a
 * crash: ring 1 restarts, resubmits it, and probes it for a write fence.
 */
static bool resubmit_one(struct vu_dev *v, int fd, const struct vhost_user_inflight *inf)
{
	struct vu_vq *vq = v->vqs[1];
	uint8_t *base = mmap(NULL, inf->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint8_t *buf = vu_mem_alloc(v, 4096, 4096);
	struct vb_inflight_split *q;
	struct vu_blk_req r;
	uint64_t last = 0;
	bool ok;

	if (base == MAP_FAILED)
		return false;
	q = (void *)(base + inf->mmap_size / inf->num_queues);
	for (unsigned i = 0; i < q->desc_num; i++)
		last = q->desc[i].counter > last ? q->desc[i].counter : last;
	ok = buf && vu_blk_req_init(v, &r) == 0;
	if (ok) {
		vu_blk_prep_read(&r, 0, buf, 4096);
		ok = vu_blk_enqueue(vq, &r) == 0;
	}
	if (ok) {
		q->desc[r.head].counter = last + 1;
		q->desc[r.head].inflight = 1;
		ok = vu_vq_start(vq) == 0 && vu_blk_wait(vq, &r, TMO) == 0 &&
		     r.status == VIRTIO_BLK_S_OK;
	}
	munmap(base, inf->mmap_size);
	return step(ok, "a resubmitted request", v);
}

/*
 * What a VMM does over a guest's life: negotiation, memory, an inflight
 * region, two queues, every request type, dirty logging for a migration, a
 * ring stopped and restarted with a request left inflight, a hang-up; then a
 * malformed message and a fresh connection.
 */
static bool workload(void)
{
	const uint64_t protocol = VU_PROTOCOL_FEATURES |
				  (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
				  (1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD);
	const uint64_t log_size = MEM_SIZE / 4096 / 8;
	struct vhost_user_inflight inf;
	struct vu_dev v;
	int inflight_fd = -1, log_fd;
	bool ok;

	vu_dev_init(&v);
	log_fd = memfd_create("dirty-log", MFD_CLOEXEC);
	ok = step(log_fd >= 0 && ftruncate(log_fd, (off_t)log_size) == 0, "memfd", &v) &&
	     step(vu_connect(&v, d.sock, TMO) == 0 && vu_negotiate(&v, VU_BLK_FEATURES, protocol) == 0,
		  "negotiation", &v) &&
	     step(vu_mem_add_region(&v, 0, MEM_SIZE) >= 0 && vu_mem_set_table(&v) == 0, "memory", &v) &&
	     step(vu_get_inflight_fd(&v, 2, QSIZE, 0, &inf, NULL, &inflight_fd) == 0 &&
			  vu_set_inflight_fd(&v, inflight_fd, &inf) == 0,
		  "inflight region", &v);
	for (unsigned q = 0; ok && q < 2; q++) {
		struct vu_vq *vq = vu_vq_create(&v, q, QSIZE);

		ok = step(vq && vu_vq_start(vq) == 0, "queue start", &v);
	}
	ok = ok && all_requests(&v) &&
	     step(vu_set_log_base(&v, log_fd, log_size, 0) == 0 &&
			  vu_set_features(&v, v.features | (1ull << VHOST_F_LOG_ALL)) == 0,
		  "dirty log", &v) &&
	     vu_roundtrip_ok(&d, &v, v.vqs[0], 70) &&
	     step(vu_vq_stop(v.vqs[1], NULL) == 0, "GET_VRING_BASE", &v) &&
	     resubmit_one(&v, inflight_fd, &inf);
	vu_dev_close(&v);
	if (inflight_fd >= 0)
		close(inflight_fd);
	if (log_fd >= 0)
		close(log_fd);

	/* A header of protocol version 0 ends its connection. */
	vu_dev_init(&v);
	ok = ok && step(vu_connect(&v, d.sock, TMO) == 0 &&
				vu_send_raw(&v, (uint32_t[]){ VHOST_USER_GET_FEATURES, 0, 0 }, 12, NULL, 0) == 0 &&
				vu_wait_closed(&v, TMO) == 1,
			"malformed message", &v);
	vu_dev_close(&v);
	return ok && vu_fresh_io_ok(&d, 80);
}

/*
 * A file in memory takes calls of its own: fstatfs finds it in memory, and
 * a request alone on its ring is read or written in place.
 */
static bool in_memory_run(struct names *seen)
{
	struct vu_daemon_opts o = { .strace = true };
	char path[] = "/dev/shm/vbridge-syscall.XXXXXX";
	int fd = mkstemp(path);
	struct names own = { 0 };
	bool ok;

	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0 || vu_daemon_setup(&shm, 1u << 20) < 0)
		tap_bail("cannot create a disk in /dev/shm");
	vu_daemon_use_disk(&shm, path);
	shm.disk_fd = fd;
	ok = vu_daemon_start(&shm, &o) == 0 && vu_fresh_io_ok(&shm, 90);
	ok = vu_daemon_stop(&shm) == 0 && ok;
	unlink(path);
	read_trace(shm.trace, &own);
	for (unsigned i = 0; i < own.n; i++)
		add(seen, own.name[i]);
	return ok && has(&own, "fstatfs") && has(&own, "preadv2") && has(&own, "pwritev2");
}

int main(void)
{
	struct vu_daemon_opts o = { .queues = 2, .strace = true };
	struct names allow = { 0 }, seen = { 0 }, missing = { 0 };
	char group[32];
	int r;

	vu_harness_init(60);
	tap_plan_vbridge_only(PLAN, "vbridge's own unit", "systemd unit");
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	verify_unit();
	read_filter(&allow);

	/* Our own group: the --socket-group lookup is part of what the daemon does. */
	snprintf(group, sizeof(group), "%u", (unsigned)getgid());
	o.socket_group = group;
	r = vu_daemon_start(&d, &o);
	if (!tap_ok(r == 0, "the daemon starts under strace -f"))
		tap_bail("cannot start the daemon under strace (is strace installed? tools/install-deps)");
	tap_ok(workload(), "a full data path run through it");
	r = vu_daemon_stop(&d);
	tap_ok(r == 0, "it exits 0 on SIGTERM (got %d)", r);

	tap_ok(in_memory_run(&seen),
	       "on a file in /dev/shm: a round trip, fstatfs, preadv2 and pwritev2 in the trace");
	read_trace(d.trace, &seen);
	tap_ok(has(&seen, "io_uring_setup") && has(&seen, "io_uring_enter") && has(&seen, "recvmsg"),
	       "the trace holds the data path (%u distinct system calls)", seen.n);
	for (unsigned i = 0; i < seen.n; i++)
		if (!has(&allow, seen.name[i]))
			add(&missing, seen.name[i]);
#if defined(__SANITIZE_ADDRESS__)
	/* The daemon of this build is sanitized too, and the sanitizers make calls of their own. */
	tap_skip(1, "sanitizer build", "every system call the daemon made is allowed by the unit");
#else
	for (unsigned i = 0; i < missing.n; i++)
		tap_diag("not in the unit's SystemCallFilter: %s", missing.name[i]);
	tap_ok(missing.n == 0, "every system call the daemon made is allowed by the unit");
#endif
	vu_daemon_teardown(&shm);
	vu_daemon_teardown(&d);
	exit(tap_done());
}
