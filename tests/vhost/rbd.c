/* The rbd engine against a real single-node Ceph cluster (tests/lib/ceph.sh): data path, errors at start. */
#include <errno.h>
#include <fcntl.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define TMO 30000
#define IMAGE_SIZE (1ull << 30)
#define OBJECT_SIZE (4u << 20)	/* rbd create's default */
#define IO_LEN (64u << 10)
/* Where the test writes with its own handle before vbridge takes the image's lock. */
#define OTHER_OFF (5ull << 20)
#define ZEROES_OFF (6ull << 20)
#define DISCARD_OFF (2ull * OBJECT_SIZE)
#define FENCE_OFF (20ull << 20)

static struct {
	pid_t pid;
	int in_fd;		/* its standard input: closing it stops the cluster */
	char dir[64];
	char conf[512];
} cluster = { .pid = -1, .in_fd = -1 };

static struct vu_daemon d, d2;
static struct vu_dev dev;
static rados_t rados;
static rados_ioctx_t ioctx;
static rbd_image_t image;	/* the test's own view of the image, beside vbridge's */

static void stop_cluster(void)
{
	if (cluster.pid <= 0)
		return;
	close(cluster.in_fd);
	kill(cluster.pid, SIGTERM);
	waitpid(cluster.pid, NULL, 0);
	cluster.pid = -1;
	if (!getenv("VU_KEEP")) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", cluster.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", cluster.dir);
	}
}

/* tests/lib/ceph.sh serve DIR, as our child; returns once it printed "ready". */
static bool start_cluster(void)
{
	int in[2], out[2];
	char line[512];
	FILE *f;

	snprintf(cluster.dir, sizeof(cluster.dir), "/tmp/vbridge-ceph.XXXXXX");
	if (!mkdtemp(cluster.dir) || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return false;
	cluster.pid = fork();
	if (cluster.pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execl("/bin/bash", "bash", VBRIDGE_SRC "/tests/lib/ceph.sh", "serve", cluster.dir,
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	cluster.in_fd = in[1];
	atexit(stop_cluster);
	f = fdopen(out[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "conf ", 5) == 0)
			snprintf(cluster.conf, sizeof(cluster.conf), "%s", line + 5);
		if (strcmp(line, "ready") == 0) {
			fclose(f);
			return cluster.conf[0] != '\0';
		}
	}
	if (f)
		fclose(f);
	return false;
}

/* Runs fmt with the conf path as %1$s and arg as %2$s. */
static bool sh_ok(const char *fmt, const char *arg)
{
	char cmd[2048];
	int st;

	snprintf(cmd, sizeof(cmd), fmt, cluster.conf, arg);
	st = system(cmd);
	if (st != 0)
		tap_diag("'%s' failed with status %d", cmd, st);
	return st == 0;
}

static void open_own_view(void)
{
	if (rados_create(&rados, NULL) < 0 || rados_conf_read_file(rados, cluster.conf) < 0 ||
	    rados_conf_set(rados, "rbd_cache", "false") < 0 || rados_connect(rados) < 0 ||
	    rados_ioctx_create(rados, "rbd", &ioctx) < 0 || rbd_open(ioctx, "img", &image, NULL) < 0)
		tap_bail("the test cannot open rbd/img itself");
}

static bool image_has_pattern(uint64_t off, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	bool ok = buf && rbd_read(image, off, len, (char *)buf) == (ssize_t)len;
	size_t at = ok ? vu_pattern_check(buf, len, seed, off) : 0;

	if (ok && at != len)
		tap_diag("the image differs from pattern %u at byte %zu after %llu", seed, at,
			 (unsigned long long)off);
	free(buf);
	return ok && at == len;
}

static bool image_is_zero(uint64_t off, uint32_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = buf && rbd_read(image, off, len, (char *)buf) == (ssize_t)len;
	size_t at = ok ? vu_zero_check(buf, len) : 0;

	if (ok && at != len)
		tap_diag("the image is not zero at byte %zu after %llu", at,
			 (unsigned long long)off);
	free(buf);
	return ok && at == len;
}

static void image_put_pattern(uint64_t off, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	if (!buf)
		tap_bail("out of memory");
	vu_pattern_fill(buf, len, seed, off);
	if (rbd_write(image, off, len, (const char *)buf) != (ssize_t)len)
		tap_bail("rbd_write failed");
	free(buf);
}

static int run(struct vu_vq *vq, struct vu_blk_req *req)
{
	int r = vu_blk_run(vq, req, TMO);

	if (r < 0)
		tap_diag("request type %u: %s", req->type, dev.err);
	return r;
}

static char *disk_spec(const char *pool_image, const char *extra)
{
	static char spec[1400];

	snprintf(spec, sizeof(spec), "rbd:%s:conf=%s%s", pool_image, cluster.conf, extra);
	return spec;
}

static void test_data_path(void)
{
	struct vu_blk_req req;
	struct virtio_blk_config cfg;
	uint8_t *buf, *id;
	uint64_t off = 3ull << 20;
	struct vu_open_opts oo = { .num_queues = 2 };

	if (vu_dev_open(&dev, d.sock, &oo) < 0)
		tap_bail("set-up: %s", dev.err);
	if (vu_blk_get_config(&dev, &cfg) < 0)
		tap_bail("GET_CONFIG: %s", dev.err);
	tap_ok(cfg.capacity == IMAGE_SIZE / 512, "capacity is the image's size (%llu sectors)",
	       (unsigned long long)cfg.capacity);
	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("request: %s", dev.err);
	buf = vu_mem_alloc(&dev, IO_LEN, 4096);
	id = vu_mem_alloc(&dev, VIRTIO_BLK_ID_BYTES, 8);
	if (!buf || !id)
		tap_bail("guest memory: %s", dev.err);

	/* Written through vbridge on queue 1: in the image as librbd sees it, and read back on queue 0. */
	vu_pattern_fill(buf, IO_LEN, 1, off);
	vu_blk_prep_write(&req, off / 512, buf, IO_LEN);
	tap_ok(run(dev.vqs[1], &req) == VIRTIO_BLK_S_OK && image_has_pattern(off, IO_LEN, 1),
	       "a write through vbridge (queue 1) is in the image");
	memset(buf, 0, IO_LEN);
	vu_blk_prep_read(&req, off / 512, buf, IO_LEN);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK &&
	       vu_pattern_check(buf, IO_LEN, 1, off) == IO_LEN &&
	       req.used_len == IO_LEN + 1, "it reads back through vbridge (queue 0)");

	vu_blk_prep_read(&req, OTHER_OFF / 512, buf, IO_LEN);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK &&
	       vu_pattern_check(buf, IO_LEN, 2, OTHER_OFF) == IO_LEN,
	       "data another client wrote reads back through vbridge");

	vu_blk_prep_flush(&req);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK, "flush succeeds");

	/* Whole objects: librbd deallocates them, and reads of a deallocated object are zeroes. */
	vu_blk_prep_discard(&req, DISCARD_OFF / 512, OBJECT_SIZE / 512);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK && image_is_zero(DISCARD_OFF, OBJECT_SIZE),
	       "discard of a whole object leaves zeroes");

	vu_blk_prep_write_zeroes(&req, ZEROES_OFF / 512 + 8, 16, false);
	tap_ok(run(dev.vqs[1], &req) == VIRTIO_BLK_S_OK && image_is_zero(ZEROES_OFF + 4096, 8192) &&
	       image_has_pattern(ZEROES_OFF, 4096, 4) &&
	       image_has_pattern(ZEROES_OFF + 12288, IO_LEN - 12288, 4),
	       "write-zeroes zeroes exactly its 8 KiB");

	vu_blk_prep_read(&req, IMAGE_SIZE / 512 - 8, buf, 8192);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_IOERR, "a read past the end gets IOERR");
	vu_blk_prep_write(&req, IMAGE_SIZE / 512, buf, 512);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_IOERR, "a write at the end gets IOERR");

	vu_blk_prep_get_id(&req, id);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK &&
	       memcmp(id, "rbd-serial", sizeof("rbd-serial")) == 0, "GET_ID gives --serial");
	vu_blk_req_fini(&req);
	vu_dev_close(&dev);
}

static void test_readonly(void)
{
	struct vu_daemon_opts o = { .engine = "rbd", .readonly = true };
	struct vu_blk_req req;
	uint8_t *buf;

	if (!tap_ok(vu_daemon_start(&d, &o) == 0, "--readonly: the daemon starts"))
		return;
	if (vu_dev_open(&dev, d.sock, NULL) < 0)
		tap_bail("set-up: %s", dev.err);
	tap_ok(dev.offered_features & (1ull << VIRTIO_BLK_F_RO), "--readonly: RO offered");
	if (vu_blk_req_init(&dev, &req) < 0 || !(buf = vu_mem_alloc(&dev, 4096, 4096)))
		tap_bail("request: %s", dev.err);
	vu_blk_prep_read(&req, ZEROES_OFF / 512, buf, 4096);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_OK &&
	       vu_pattern_check(buf, 4096, 4, ZEROES_OFF) == 4096, "--readonly: reads work");
	vu_blk_prep_write(&req, (7ull << 20) / 512, buf, 4096);
	tap_ok(run(dev.vqs[0], &req) == VIRTIO_BLK_S_IOERR && image_is_zero(7ull << 20, 4096),
	       "--readonly: a write gets IOERR and does not land");
	vu_blk_req_fini(&req);
	vu_dev_close(&dev);
	tap_ok(vu_daemon_stop(&d) == 0, "--readonly: SIGTERM ends it with status 0");
}

/* One write of pattern seed at FENCE_OFF through daemon x; returns the status or -errno. */
static int write_through(struct vu_daemon *x, struct vu_dev *xd, uint32_t seed)
{
	struct vu_blk_req req;
	uint8_t *buf;
	int r;

	if (vu_blk_req_init(xd, &req) < 0 || !(buf = vu_mem_alloc(xd, IO_LEN, 4096)))
		tap_bail("request: %s", xd->err);
	vu_pattern_fill(buf, IO_LEN, seed, FENCE_OFF);
	vu_blk_prep_write(&req, FENCE_OFF / 512, buf, IO_LEN);
	r = vu_blk_run(xd->vqs[0], &req, TMO);
	if (r < 0)
		tap_diag("%s: %s", x->sock, xd->err);
	vu_blk_req_fini(&req);
	return r;
}

/*
 * A holds the image's exclusive lock; B refuses to start beside it, and
 * with rbd:break-lock breaks it, which blocklists A: A's next write is
 * rejected and never lands, B's does.
 */
static void test_lock_break(void)
{
	struct vu_daemon_opts o = { .engine = "rbd" }, o_break = { .engine = "rbd:break-lock" };
	struct vu_dev dev2;
	int r;

	vu_daemon_use_disk(&d, disk_spec("rbd/img", ""));
	if (vu_daemon_start(&d, &o) < 0 || vu_dev_open(&dev, d.sock, NULL) < 0)
		tap_bail("A does not start");
	tap_ok(write_through(&d, &dev, 10) == VIRTIO_BLK_S_OK && image_has_pattern(FENCE_OFF, IO_LEN, 10),
	       "lock: A writes");
	if (vu_daemon_setup(&d2, 1 << 20) < 0)
		tap_bail("cannot create the temp dir");
	vu_daemon_use_disk(&d2, disk_spec("rbd/img", ""));
	tap_ok(vu_daemon_start(&d2, &o) == -ECHILD &&
	       vu_daemon_log_has(&d2, "the image is locked by another client"),
	       "lock: B without break-lock exits saying the image is locked");
	unlink(d2.log);
	if (!tap_ok(vu_daemon_start(&d2, &o_break) == 0 && vu_daemon_log_has(&d2, "breaking the lock"),
		    "lock: B with rbd:break-lock starts, breaking A's lock"))
		tap_bail("B does not start");
	r = write_through(&d, &dev, 11);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR, "lock: A's write after the break gets IOERR"))
		tap_diag("status %d", r);
	tap_ok(image_has_pattern(FENCE_OFF, IO_LEN, 10), "lock: A's late write did not land");
	if (vu_dev_open(&dev2, d2.sock, NULL) < 0)
		tap_bail("B set-up: %s", dev2.err);
	tap_ok(write_through(&d2, &dev2, 12) == VIRTIO_BLK_S_OK &&
	       image_has_pattern(FENCE_OFF, IO_LEN, 12), "lock: B writes");
	vu_dev_close(&dev2);
	vu_dev_close(&dev);
	vu_daemon_stop(&d);
	tap_ok(vu_daemon_stop(&d2) == 0, "lock: SIGTERM ends B with status 0");
	vu_daemon_teardown(&d2);
}

/* The daemon must exit at start with a message naming what is wrong. */
static void test_bad_start(const char *spec, const char *message, const char *what)
{
	struct vu_daemon_opts o = { .engine = "rbd" };
	bool exited;

	vu_daemon_use_disk(&d, spec);
	unlink(d.log);
	exited = vu_daemon_start(&d, &o) == -ECHILD;
	if (!tap_ok(exited && vu_daemon_log_has(&d, message), "%s: the daemon exits saying '%s'",
		    what, message))
		vu_daemon_dump_log(&d, 10);
	vu_daemon_stop(&d);
}

int main(void)
{
	struct vu_daemon_opts o = { .engine = "rbd", .serial = "rbd-serial", .queues = 2 };
	struct timespec t0, t1;
	char bad_keyring[300];

	vu_harness_init(600);
	tap_plan_vbridge_only(30, "the rbd engine is vbridge's", "rbd engine");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!tap_ok(start_cluster(), "a single-node Ceph cluster starts"))
		tap_bail("no cluster (its log is in %s/log with VU_KEEP=1)", cluster.dir);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tap_diag("the cluster was up after %.1f s", (double)(t1.tv_sec - t0.tv_sec) +
		 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	tap_ok(sh_ok("rbd --conf %1$s bench --io-type write --io-size 4K --io-total 1M %2$s >/dev/null",
		     "rbd/img"), "rbd bench writes to the image");
	open_own_view();
	/* Beside vbridge, before it holds the lock. */
	image_put_pattern(OTHER_OFF, IO_LEN, 2);
	image_put_pattern(ZEROES_OFF, IO_LEN, 4);
	image_put_pattern(DISCARD_OFF, OBJECT_SIZE, 3);

	if (vu_daemon_setup(&d, 1 << 20) < 0)
		tap_bail("cannot create the temp dir");
	vu_daemon_use_disk(&d, disk_spec("rbd/img", ""));
	if (!tap_ok(vu_daemon_start(&d, &o) == 0, "the daemon starts on rbd:rbd/img"))
		tap_bail("cannot start the daemon");
	test_data_path();
	tap_ok(vu_daemon_stop(&d) == 0, "SIGTERM ends it with status 0");
	test_readonly();
	test_lock_break();

	test_bad_start(disk_spec("nopool/img", ""), "no such pool", "a missing pool");
	test_bad_start(disk_spec("rbd/noimage", ""), "no such image", "a missing image");
	/* A key the cluster never issued, for the client it knows. */
	snprintf(bad_keyring, sizeof(bad_keyring), ":keyring=%s/bad.keyring", cluster.dir);
	if (!sh_ok("ceph-authtool --create-keyring %2$s --gen-key -n client.admin >/dev/null",
		   bad_keyring + strlen(":keyring=")))
		tap_bail("cannot make a keyring");
	test_bad_start(disk_spec("rbd/img", bad_keyring), "cannot connect to the cluster",
		       "a wrong key");
	test_bad_start("/tmp/not-rbd", "--engine rbd needs --disk rbd:POOL/IMAGE",
		       "a disk that is not rbd:");

	rbd_close(image);
	rados_ioctx_destroy(ioctx);
	rados_shutdown(rados);
	vu_daemon_teardown(&d);
	stop_cluster();
	return tap_done();
}
