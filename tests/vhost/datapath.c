/* vhost-user-blk data path tests against the daemon: negotiation, config, read/write/flush/get-id/discard/write-zeroes, indirect, readonly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define SERIAL "vbridge-dp-serial"
#define TMO 5000

static struct vu_daemon d;
static struct vu_dev dev;

static bool disk_has_pattern(uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	bool ok;

	ok = buf && pread(d.disk_fd, buf, len, (off_t)(sector * 512)) == (ssize_t)len;
	if (ok) {
		size_t at = vu_pattern_check(buf, len, seed, sector * 512);

		ok = at == len;
		if (!ok)
			tap_diag("image differs from the pattern at byte %zu of sector %llu",
				 at, (unsigned long long)sector);
	}
	free(buf);
	return ok;
}

static bool disk_is_zero(uint64_t sector, uint32_t len)
{
	uint8_t *buf = malloc(len);
	bool ok;

	ok = buf && pread(d.disk_fd, buf, len, (off_t)(sector * 512)) == (ssize_t)len;
	if (ok) {
		size_t at = vu_zero_check(buf, len);

		ok = at == len;
		if (!ok)
			tap_diag("image not zero at byte %zu after sector %llu", at,
				 (unsigned long long)sector);
	}
	free(buf);
	return ok;
}

static void disk_put_pattern(uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	if (!buf)
		tap_bail("out of memory");
	vu_pattern_fill(buf, len, seed, sector * 512);
	if (pwrite(d.disk_fd, buf, len, (off_t)(sector * 512)) != (ssize_t)len)
		tap_bail("pwrite: %s", strerror(errno));
	fsync(d.disk_fd);
	free(buf);
}

/* submit + wait, with a diagnostic on failure; returns the status or -errno */
static int run(struct vu_vq *vq, struct vu_blk_req *req)
{
	int r = vu_blk_run(vq, req, TMO);

	if (r < 0)
		tap_diag("request type %u: %s", req->type, dev.err);
	else if (r != VIRTIO_BLK_S_OK)
		tap_diag("request type %u: status %d, used len %u", req->type, r, req->used_len);
	return r;
}

static void *galloc(uint64_t size, unsigned region)
{
	void *p = vu_mem_alloc_in(&dev, region, size, 4096);

	if (!p)
		tap_bail("guest memory: %s", dev.err);
	return p;
}

static const uint64_t contract_features =
	(1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	(1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
	(1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
	(1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
	(1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_CONFIG_WCE) |
	(1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_DISCARD) |
	(1ull << VIRTIO_BLK_F_WRITE_ZEROES);

static const uint64_t contract_protocol =
	(1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	(1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
	(1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
	(1ull << VHOST_USER_PROTOCOL_F_STATUS) |
	(1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE);

static void stop_checks(const char *what)
{
	struct stat st;
	int code = vu_daemon_stop(&d);

	if (!tap_ok(code == 0, "%s: daemon exits 0 on SIGTERM", what))
		tap_diag("exit code %d", code);
	tap_ok(stat(d.sock, &st) < 0 && errno == ENOENT, "%s: daemon removed its socket", what);
}

/* ---- the writable device ---- */

static void test_negotiation(void)
{
	uint64_t f = dev.offered_features, pf = dev.offered_protocol_features;
	struct virtio_blk_config cfg;
	int r;

	tap_diag("offered features 0x%llx, protocol features 0x%llx, queues %u",
		 (unsigned long long)f, (unsigned long long)pf, dev.num_queues);
	if (vu_is_vbridge()) {
		if (!tap_ok((f & contract_features) == contract_features,
			    "all contract virtio features offered"))
			tap_diag("missing 0x%llx",
				 (unsigned long long)(contract_features & ~f));
		if (!tap_ok((pf & contract_protocol) == contract_protocol,
			    "all contract protocol features offered"))
			tap_diag("missing 0x%llx",
				 (unsigned long long)(contract_protocol & ~pf));
	} else {
		tap_skip(2, "contract of vbridge only", "contract features offered");
	}
	tap_ok(!(f & (1ull << VIRTIO_BLK_F_RO)), "RO not offered without --readonly");
	tap_ok(dev.num_queues == 2, "GET_QUEUE_NUM returns 2 (got %u)", dev.num_queues);
	r = vu_blk_get_config(&dev, &cfg);
	if (!tap_ok(r == 0, "GET_CONFIG succeeds"))
		tap_diag("%s", dev.err);
	tap_ok(cfg.capacity == DISK_SIZE / 512, "config capacity is %llu sectors (got %llu)",
	       DISK_SIZE / 512, (unsigned long long)cfg.capacity);
	tap_ok(cfg.num_queues == 2, "config num_queues is 2 (got %u)", cfg.num_queues);
	tap_diag("config: size_max %u seg_max %u blk_size %u wce %u max_discard_sectors %u "
		 "max_write_zeroes_sectors %u may_unmap %u",
		 cfg.size_max, cfg.seg_max, cfg.blk_size, cfg.wce, cfg.max_discard_sectors,
		 cfg.max_write_zeroes_sectors, cfg.write_zeroes_may_unmap);
	tap_ok((dev.features & (1ull << VIRTIO_RING_F_EVENT_IDX)) &&
		       (dev.features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)),
	       "EVENT_IDX and INDIRECT_DESC negotiated");
}

static void test_write_read(void)
{
	struct vu_vq *vq = dev.vqs[0];
	struct vu_blk_req req;
	uint8_t *a = galloc(16384, 0), *b = galloc(8192, 1), *c = galloc(4096, 0);
	struct vu_seg segs[3];
	int r;

	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);

	/* single 4 KiB write, checked on the host */
	vu_pattern_fill(a, 4096, 1, 8 * 512);
	vu_blk_prep_write(&req, 8, a, 4096);
	r = run(vq, &req);
	tap_ok(r == VIRTIO_BLK_S_OK, "write 4 KiB at sector 8: status OK");
	tap_diag("write used len %u", req.used_len);
	tap_ok(disk_has_pattern(8, 4096, 1), "write 4 KiB: pread() finds the data");

	/* 3 segments, one in the second memory region */
	vu_pattern_fill(a, 1024, 2, 1000 * 512);
	vu_pattern_fill(b, 8192, 2, 1000 * 512 + 1024);
	vu_pattern_fill(c, 3072, 2, 1000 * 512 + 1024 + 8192);
	segs[0] = (struct vu_seg){ vu_ptr_to_gpa(&dev, a), 1024 };
	segs[1] = (struct vu_seg){ vu_ptr_to_gpa(&dev, b), 8192 };
	segs[2] = (struct vu_seg){ vu_ptr_to_gpa(&dev, c), 3072 };
	vu_blk_prep(&req, VIRTIO_BLK_T_OUT, 1000, segs, 3, false);
	r = run(vq, &req);
	tap_ok(r == VIRTIO_BLK_S_OK && disk_has_pattern(1000, 12288, 2),
	       "3-segment write across 2 memory regions lands on disk");

	/* host writes, front-end reads */
	disk_put_pattern(2048, 65536, 3);
	uint8_t *big = galloc(65536, 1);

	vu_blk_prep_read(&req, 2048, big, 65536);
	r = run(vq, &req);
	tap_ok(r == VIRTIO_BLK_S_OK, "read 64 KiB: status OK");
	tap_ok(vu_pattern_check(big, 65536, 3, 2048 * 512) == 65536,
	       "read 64 KiB returns what pwrite() put in the image");
	tap_diag("read used len %u (data 65536 + status 1 = 65537 expected by virtio)",
		 req.used_len);

	/* multi-segment read with uneven (sector multiple) segments */
	memset(a, 0, 16384);
	memset(b, 0, 8192);
	segs[0] = (struct vu_seg){ vu_ptr_to_gpa(&dev, b), 1536 };
	segs[1] = (struct vu_seg){ vu_ptr_to_gpa(&dev, a), 14336 };
	segs[2] = (struct vu_seg){ vu_ptr_to_gpa(&dev, b) + 4096, 512 };
	vu_blk_prep(&req, VIRTIO_BLK_T_IN, 2050, segs, 3, true);
	r = run(vq, &req);
	tap_ok(r == VIRTIO_BLK_S_OK &&
		       vu_pattern_check(b, 1536, 3, 2050 * 512) == 1536 &&
		       vu_pattern_check(a, 14336, 3, 2050 * 512 + 1536) == 14336 &&
		       vu_pattern_check(b + 4096, 512, 3, 2050 * 512 + 1536 + 14336) == 512,
	       "3-segment read scatters the data correctly");
	vu_mem_free(&dev, big);
	vu_blk_req_fini(&req);
}

static void test_inflight_two_queues(void)
{
	enum { PER_Q = 16, LEN = 8192 };
	struct vu_blk_req reqs[2 * PER_Q];
	struct vu_blk_req *ptrs[2 * PER_Q];
	uint8_t *bufs[2 * PER_Q];
	bool ok = true;
	int r;

	for (unsigned i = 0; i < 2 * PER_Q; i++) {
		uint64_t sector = 4096 + i * (LEN / 512);

		bufs[i] = galloc(LEN, i & 1);
		if (vu_blk_req_init(&dev, &reqs[i]) < 0)
			tap_bail("%s", dev.err);
		vu_pattern_fill(bufs[i], LEN, 4 + i, sector * 512);
		vu_blk_prep_write(&reqs[i], sector, bufs[i], LEN);
		if (i % 3 == 0)
			reqs[i].flags |= VU_REQ_INDIRECT;
		ptrs[i] = &reqs[i];
		if (vu_blk_enqueue(dev.vqs[i % 2], &reqs[i]) < 0)
			tap_bail("%s", dev.err);
	}
	vu_vq_notify(dev.vqs[0]);
	vu_vq_notify(dev.vqs[1]);
	r = vu_blk_wait_all(&dev, ptrs, 2 * PER_Q, TMO);
	if (r < 0)
		tap_diag("%s", dev.err);
	for (unsigned i = 0; i < 2 * PER_Q; i++)
		ok = ok && reqs[i].done && reqs[i].status == VIRTIO_BLK_S_OK;
	tap_ok(r == 0 && ok, "%d writes in flight on 2 queues all complete OK", 2 * PER_Q);
	ok = true;
	for (unsigned i = 0; i < 2 * PER_Q; i++)
		ok = disk_has_pattern(4096 + i * (LEN / 512), LEN, 4 + i) && ok;
	tap_ok(ok, "in-flight writes: pread() finds every pattern");

	for (unsigned i = 0; i < 2 * PER_Q; i++) {
		memset(bufs[i], 0, LEN);
		/* read the neighbour's data to catch mixed-up completions */
		unsigned j = (i + 5) % (2 * PER_Q);

		vu_blk_prep_read(&reqs[i], 4096 + j * (LEN / 512), bufs[i], LEN);
		if (vu_blk_enqueue(dev.vqs[i % 2], &reqs[i]) < 0)
			tap_bail("%s", dev.err);
	}
	vu_vq_notify(dev.vqs[0]);
	vu_vq_notify(dev.vqs[1]);
	r = vu_blk_wait_all(&dev, ptrs, 2 * PER_Q, TMO);
	ok = r == 0;
	for (unsigned i = 0; i < 2 * PER_Q; i++) {
		unsigned j = (i + 5) % (2 * PER_Q);

		ok = ok && reqs[i].status == VIRTIO_BLK_S_OK &&
		     vu_pattern_check(bufs[i], LEN, 4 + j, (4096 + j * (LEN / 512)) * 512) == LEN;
	}
	tap_ok(ok, "%d reads in flight on 2 queues return the right data", 2 * PER_Q);
	tap_diag("queue 0: %llu kicks, %llu calls; queue 1: %llu kicks, %llu calls",
		 (unsigned long long)dev.vqs[0]->kicks, (unsigned long long)dev.vqs[0]->calls,
		 (unsigned long long)dev.vqs[1]->kicks, (unsigned long long)dev.vqs[1]->calls);
	for (unsigned i = 0; i < 2 * PER_Q; i++) {
		vu_blk_req_fini(&reqs[i]);
		vu_mem_free(&dev, bufs[i]);
	}
}

static void test_flush_getid(void)
{
	struct vu_blk_req req;
	uint8_t *id = galloc(VIRTIO_BLK_ID_BYTES, 0);
	char want[VIRTIO_BLK_ID_BYTES] = { 0 };
	int r;

	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);
	vu_blk_prep_flush(&req);
	r = run(dev.vqs[1], &req);
	tap_ok(r == VIRTIO_BLK_S_OK, "flush: status OK");

	memset(id, 0xff, VIRTIO_BLK_ID_BYTES);
	vu_blk_prep_get_id(&req, id);
	r = run(dev.vqs[0], &req);
	tap_ok(r == VIRTIO_BLK_S_OK, "get-id: status OK");
	if (vu_is_vbridge()) {
		strncpy(want, SERIAL, sizeof(want));
		if (!tap_ok(memcmp(id, want, sizeof(want)) == 0,
			    "get-id returns the --serial, NUL padded to 20 bytes")) {
			char shown[VIRTIO_BLK_ID_BYTES * 3 + 1];

			for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES; i++)
				sprintf(shown + 3 * i, "%02x ", id[i]);
			tap_diag("got %s", shown);
		}
	} else {
		tap_skip(1, "qemu-storage-daemon has no --serial", "get-id content");
	}
	vu_mem_free(&dev, id);
	vu_blk_req_fini(&req);
}

static void test_discard_write_zeroes(void)
{
	struct vu_blk_req req;
	const uint32_t len = 1u << 20;
	uint8_t *buf = galloc(len, 1);
	static const struct {
		const char *name;
		uint64_t sector;
		int kind; /* 0 discard, 1 write-zeroes, 2 write-zeroes + unmap */
	} cases[] = {
		{ "discard", 8192, 0 },
		{ "write-zeroes without unmap", 16384, 1 },
		{ "write-zeroes with unmap", 24576, 2 },
	};
	int r;

	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t s = cases[i].sector;

		disk_put_pattern(s, len, 10 + i);
		if (cases[i].kind == 0)
			vu_blk_prep_discard(&req, s, len / 512);
		else
			vu_blk_prep_write_zeroes(&req, s, len / 512, cases[i].kind == 2);
		r = run(dev.vqs[i & 1], &req);
		tap_ok(r == VIRTIO_BLK_S_OK, "%s of 1 MiB: status OK", cases[i].name);
		memset(buf, 0xaa, len);
		vu_blk_prep_read(&req, s, buf, len);
		r = run(dev.vqs[0], &req);
		tap_ok(r == VIRTIO_BLK_S_OK && vu_zero_check(buf, len) == len,
		       "%s: the range reads back as zeros through the front-end", cases[i].name);
		tap_ok(disk_is_zero(s, len), "%s: the range is zero in the image", cases[i].name);
		/* neighbours untouched */
		tap_ok(disk_is_zero(s - 8, 4096) && disk_is_zero(s + len / 512, 4096),
		       "%s: neighbouring sectors untouched", cases[i].name);
	}
	vu_mem_free(&dev, buf);
	vu_blk_req_fini(&req);
}

static void test_indirect(void)
{
	struct vu_blk_req req;
	enum { NSEG = 16 };
	struct vu_seg segs[NSEG];
	uint8_t *bufs[NSEG];
	bool ok = true;
	int r;

	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);
	for (unsigned i = 0; i < NSEG; i++) {
		bufs[i] = galloc(4096, i & 1);
		vu_pattern_fill(bufs[i], 512, 20, 40000 * 512 + i * 512);
		segs[i] = (struct vu_seg){ vu_ptr_to_gpa(&dev, bufs[i]), 512 };
	}
	vu_blk_prep(&req, VIRTIO_BLK_T_OUT, 40000, segs, NSEG, false);
	req.flags |= VU_REQ_INDIRECT;
	r = run(dev.vqs[1], &req);
	tap_ok(r == VIRTIO_BLK_S_OK && disk_has_pattern(40000, NSEG * 512, 20),
	       "indirect write with %d segments lands on disk", NSEG);
	for (unsigned i = 0; i < NSEG; i++)
		memset(bufs[i], 0, 4096);
	/* read it back in reverse segment order */
	for (unsigned i = 0; i < NSEG; i++)
		segs[i].gpa = vu_ptr_to_gpa(&dev, bufs[NSEG - 1 - i]);
	vu_blk_prep(&req, VIRTIO_BLK_T_IN, 40000, segs, NSEG, true);
	req.flags |= VU_REQ_INDIRECT;
	r = run(dev.vqs[0], &req);
	for (unsigned i = 0; i < NSEG; i++)
		ok = ok && vu_pattern_check(bufs[NSEG - 1 - i], 512, 20, 40000 * 512 + i * 512) == 512;
	tap_ok(r == VIRTIO_BLK_S_OK && ok, "indirect read with %d segments returns the data",
	       NSEG);
	for (unsigned i = 0; i < NSEG; i++)
		vu_mem_free(&dev, bufs[i]);
	vu_blk_req_fini(&req);
}

static void test_vring_base(void)
{
	struct vu_vq *vq = dev.vqs[1];
	uint32_t base = 0;
	int r = vu_vq_stop(vq, &base);

	if (r < 0)
		tap_diag("%s", dev.err);
	tap_ok(r == 0 && base == vq->avail_idx,
	       "GET_VRING_BASE after the I/O returns the avail index %u (got %u)",
	       vq->avail_idx, base);
	/* SET_VRING_BASE(base) + kick resumes the ring where it stopped */
	r = vu_vq_start(vq);
	if (r < 0)
		tap_diag("restart: %s", dev.err);
	tap_ok(r == 0 && vu_roundtrip_ok(&d, &dev, vq, 77),
	       "the stopped queue resumes after SET_VRING_BASE(%u) and does I/O", base);
}

/* Second connection without EVENT_IDX / INDIRECT_DESC / protocol features. */
static void test_plain_features(void)
{
	struct vu_open_opts o = {
		.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH),
		.mem_regions = 1,
	};
	struct vu_blk_req req;
	uint8_t *buf;
	int r;

	vu_dev_close(&dev);
	r = vu_dev_open(&dev, d.sock, &o);
	if (!tap_ok(r == 0, "reconnect with only VERSION_1 + FLUSH (no bit 30)")) {
		tap_diag("%s", dev.err);
		tap_skip(1, "no connection", "plain ring I/O");
		return;
	}
	buf = galloc(8192, 0);
	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);
	vu_pattern_fill(buf, 8192, 30, 50000 * 512);
	vu_blk_prep_write(&req, 50000, buf, 8192);
	r = run(dev.vqs[0], &req);
	bool ok = r == VIRTIO_BLK_S_OK && disk_has_pattern(50000, 8192, 30);

	memset(buf, 0, 8192);
	vu_blk_prep_read(&req, 50000, buf, 8192);
	r = run(dev.vqs[0], &req);
	ok = ok && r == VIRTIO_BLK_S_OK && vu_pattern_check(buf, 8192, 30, 50000 * 512) == 8192;
	tap_ok(ok, "write + read without EVENT_IDX/INDIRECT (rings enabled at kick)");
	vu_dev_close(&dev);
}

/* ---- read-only device ---- */

static void test_readonly(void)
{
	struct vu_daemon_opts o = { .readonly = true };
	struct vu_open_opts oo = { .mem_regions = 1 };
	struct vu_blk_req req;
	uint8_t *buf;
	int r;

	disk_put_pattern(60000, 8192, 40);
	r = vu_daemon_start(&d, &o);
	if (!tap_ok(r == 0, "daemon starts with --readonly"))
		tap_bail("cannot start the daemon");
	r = vu_dev_open(&dev, d.sock, &oo);
	if (r < 0)
		tap_bail("readonly set-up: %s", dev.err);
	tap_ok(dev.offered_features & (1ull << VIRTIO_BLK_F_RO), "readonly: RO feature offered");
	buf = galloc(8192, 0);
	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("%s", dev.err);

	vu_pattern_fill(buf, 8192, 41, 60000 * 512);
	vu_blk_prep_write(&req, 60000, buf, 8192);
	r = vu_blk_run(dev.vqs[0], &req, TMO);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR, "readonly: write completes with IOERR"))
		tap_diag("got %d (%s), used len %u", r, r < 0 ? dev.err : "status", req.used_len);
	tap_ok(disk_has_pattern(60000, 8192, 40), "readonly: image unchanged by the write");

	vu_blk_prep_write_zeroes(&req, 60000, 16, false);
	r = vu_blk_run(dev.vqs[0], &req, TMO);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR || r == VIRTIO_BLK_S_UNSUPP,
		    "readonly: write-zeroes fails (IOERR or UNSUPP)"))
		tap_diag("got %d", r);
	vu_blk_prep_discard(&req, 60000, 16);
	r = vu_blk_run(dev.vqs[0], &req, TMO);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR || r == VIRTIO_BLK_S_UNSUPP,
		    "readonly: discard fails (IOERR or UNSUPP)"))
		tap_diag("got %d", r);
	tap_ok(disk_has_pattern(60000, 8192, 40), "readonly: image unchanged");

	memset(buf, 0, 8192);
	vu_blk_prep_read(&req, 60000, buf, 8192);
	r = run(dev.vqs[0], &req);
	tap_ok(r == VIRTIO_BLK_S_OK && vu_pattern_check(buf, 8192, 40, 60000 * 512) == 8192,
	       "readonly: reads work");
	vu_blk_req_fini(&req);
	vu_dev_close(&dev);
	stop_checks("readonly");
}

int main(void)
{
	struct vu_daemon_opts o = { .queues = 2, .serial = SERIAL };
	struct vu_open_opts oo = { .num_queues = 2, .mem_regions = 2, .queue_size = 64 };
	int r;

	vu_harness_init(25);
	tap_plan(53);
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	r = vu_daemon_start(&d, &o);
	if (!tap_ok(r == 0, "daemon starts (--queues 2 --serial %s)", SERIAL))
		tap_bail("cannot start the daemon");
	r = vu_dev_open(&dev, d.sock, &oo);
	if (!tap_ok(r == 0, "connect, negotiate, 2 memory regions, 2 queues"))
		tap_bail("set-up failed: %s", dev.err);

	test_negotiation();
	test_write_read();
	test_inflight_two_queues();
	test_flush_getid();
	test_discard_write_zeroes();
	test_indirect();
	test_vring_base();
	test_plain_features();
	tap_ok(vu_daemon_alive(&d), "daemon still running");
	stop_checks("writable");

	test_readonly();

	vu_daemon_teardown(&d);
	exit(tap_done());
}
