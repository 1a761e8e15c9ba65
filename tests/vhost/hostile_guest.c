/* vhost-user-blk hostile guest tests: hand-written descriptors across region boundaries, overflowing lengths, nested indirect tables, over-long chains, wrong buffer directions, overlapping rings and a runaway avail index. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define REPLY_TMO 3000
#define IO_TMO 3000
#define QUIET_MS 300 /* how long a stopped ring is watched for completions */
#define QSIZE 64
#define REGION_SIZE (16u << 20)
#define BOUNDARY ((uint64_t)REGION_SIZE) /* first byte of region 1 */
#define MEM_END (2 * (uint64_t)REGION_SIZE)
/* Buffers are placed by hand from here on; the allocator only uses the start of region 0. */
#define ARENA (8ull << 20)
#define SECTOR 40000u
#define PLAN 66

static struct vu_daemon d;
static uint32_t seed = 7000;
static struct vu_dev dev;
static struct vu_vq *vq, *vq1;
static struct vu_blk_req req;
/* What guest memory held before a case, to find any byte the daemon should not have written. */
static uint8_t *shadow[2];

struct range {
	uint64_t gpa;
	uint64_t len;
};

/* Two queues on two regions, adjacent in guest physical memory but separate memfds and mappings. */
static void open_two_regions(struct vu_dev *v)
{
	struct vu_open_opts o = { .num_queues = 2, .queue_size = QSIZE, .mem_size = REGION_SIZE,
				  .mem_regions = 2, .region_step = REGION_SIZE };

	if (vu_dev_open(v, d.sock, &o) < 0)
		tap_bail("connection set-up: %s", v->err);
	v->timeout_ms = REPLY_TMO;
}

static void dp_open(void)
{
	open_two_regions(&dev);
	vq = dev.vqs[0];
	vq1 = dev.vqs[1];
	if (vu_blk_req_init(&dev, &req) < 0)
		tap_bail("guest memory: %s", dev.err);
	if (req.itable_gpa >= ARENA || vq1->used_gpa >= ARENA)
		tap_bail("the allocator went past the start of region 0");
	shadow[0] = malloc(REGION_SIZE);
	shadow[1] = malloc(REGION_SIZE);
	if (!shadow[0] || !shadow[1])
		tap_bail("out of memory");
}

static uint8_t *ptr(uint64_t gpa, uint64_t len)
{
	uint8_t *p = vu_gpa_to_ptr(&dev, gpa, len);

	if (!p)
		tap_bail("gpa 0x%llx + %llu is not in one region", (unsigned long long)gpa,
			 (unsigned long long)len);
	return p;
}

/*
 * Fills guest memory at gpa (which may span both regions) with a pattern, or
 * with check, tells whether it holds that pattern.
 */
static bool guest_pattern(uint64_t gpa, uint64_t len, uint32_t s, bool check)
{
	for (uint64_t done = 0; done < len;) {
		uint64_t at = gpa + done;
		uint64_t n = len - done;

		if (at < BOUNDARY && at + n > BOUNDARY)
			n = BOUNDARY - at;
		/* The pattern as the image holds it at SECTOR, the one sector every case uses. */
		if (!check)
			vu_pattern_fill(ptr(at, n), n, s, SECTOR * 512ull + done);
		else if (vu_pattern_check(ptr(at, n), n, s, SECTOR * 512ull + done) != n)
			return false;
		done += n;
	}
	return true;
}

static void guest_fill(uint64_t gpa, uint64_t len, uint32_t s)
{
	guest_pattern(gpa, len, s, false);
}

static bool guest_has(uint64_t gpa, uint64_t len, uint32_t s)
{
	return guest_pattern(gpa, len, s, true);
}

static void snapshot(void)
{
	for (unsigned i = 0; i < 2; i++)
		memcpy(shadow[i], dev.regions[i].host, REGION_SIZE);
}

static bool in_ranges(uint64_t gpa, const struct range *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (gpa >= r[i].gpa && gpa - r[i].gpa < r[i].len)
			return true;
	return false;
}

/*
 * Whether every byte of guest memory is as snapshot() saw it, except the
 * rings, the status byte and the ranges the request may write.
 */
static bool memory_unchanged(const struct range *may, unsigned nmay)
{
	struct range allowed[8];
	unsigned n = 0;

	for (unsigned q = 0; q < 2; q++) {
		struct vu_vq *v = dev.vqs[q];

		allowed[n++] = (struct range){ v->desc_gpa, 16u * v->size };
		allowed[n++] = (struct range){ v->avail_gpa, 6u + 2u * v->size };
		allowed[n++] = (struct range){ v->used_gpa, 6u + 8u * v->size };
	}
	allowed[n++] = (struct range){ req.status_gpa, 1 };
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *now = dev.regions[i].host;

		for (uint64_t off = 0; off < REGION_SIZE; off += 4096) {
			if (!memcmp(now + off, shadow[i] + off, 4096))
				continue;
			for (uint64_t b = off; b < off + 4096; b++) {
				uint64_t gpa = dev.regions[i].gpa + b;

				if (now[b] == shadow[i][b] || in_ranges(gpa, allowed, n) ||
				    in_ranges(gpa, may, nmay))
					continue;
				tap_diag("guest memory written at gpa 0x%llx",
					 (unsigned long long)gpa);
				return false;
			}
		}
	}
	return true;
}

static void set_hdr(uint32_t type, uint64_t sector)
{
	req.hdr->type = type;
	req.hdr->ioprio = 0;
	req.hdr->sector = sector;
}

/*
 * Publishes n descriptors as one chain in the descriptor table: each one's
 * next, when it has VRING_DESC_F_NEXT, is an index into descs. The status
 * byte is reset first, so an unwritten one shows. Waits for the used entry;
 * false (with a diagnostic) if none comes.
 */
static bool run_chain(struct vu_vq *q, const struct vring_desc *descs, unsigned n)
{
	uint16_t ids[QSIZE];
	int r;

	if (vu_vq_alloc_chain(q, n, ids) < 0)
		tap_bail("%s", dev.err);
	*req.status_ptr = VU_STATUS_UNSET;
	for (unsigned i = 0; i < n; i++) {
		q->desc[ids[i]] = descs[i];
		q->desc[ids[i]].next = descs[i].flags & VRING_DESC_F_NEXT ? ids[descs[i].next % n] : 0;
	}
	vu_blk_publish_raw(q, &req, ids[0]);
	vu_vq_kick(q);
	r = vu_blk_wait(q, &req, IO_TMO);
	if (r < 0) {
		tap_diag("no used entry: %s", dev.err);
		if (!vu_daemon_alive(&d))
			tap_bail("the daemon is dead");
		return false;
	}
	return true;
}

static void outcome_diag(void)
{
	tap_diag("got used len %u, status 0x%02x", req.used_len, req.status);
}

static bool refused_ioerr(void)
{
	return req.status == VIRTIO_BLK_S_IOERR && req.used_len == 1;
}

static bool returned_unused(void)
{
	return req.status == VU_STATUS_UNSET && req.used_len == 0;
}

enum refusal { IOERR, UNUSED };

/*
 * Runs a chain that must be refused, as IOERR (used len 1) or returned unused
 * (used len 0, status byte untouched), without guest memory (but the status)
 * or the image at SECTOR changing.
 */
static void bad_case(const char *what, const struct vring_desc *descs, unsigned n,
		     enum refusal expect)
{
	uint32_t s = seed++;
	bool ok;

	vu_disk_put_pattern(&d, SECTOR, 8192, s);
	snapshot();
	ok = run_chain(vq, descs, n);
	if (!tap_ok(ok && (expect == IOERR ? refused_ioerr() : returned_unused()), "%s: %s", what,
		    expect == IOERR ? "fails with IOERR, used len 1" :
				      "returned unused (used len 0, no status)"))
		outcome_diag();
	tap_ok(memory_unchanged(NULL, 0) && vu_disk_has_pattern(&d, SECTOR, 8192, s),
	       "%s: guest memory and image unchanged", what);
}

/* hdr + one data descriptor + status, for a read (data device-writable) or a write. */
static void one_buffer(struct vring_desc *w, uint32_t type, uint64_t addr, uint32_t len)
{
	w[0] = (struct vring_desc){ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 };
	w[1] = (struct vring_desc){ addr, len,
				    VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0),
				    2 };
	w[2] = (struct vring_desc){ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 };
	set_hdr(type, SECTOR);
}

/* ---- descriptors that cross a region boundary ---------------------------- */

static void boundary_cases(void)
{
	uint64_t buf = BOUNDARY - 4096, s = seed++;
	struct range out = { buf, 8192 };
	uint64_t hdr_gpa = BOUNDARY - 8, tbl_gpa = BOUNDARY - 24;
	struct vring_desc w[3] = {
		{ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 },
		{ buf, 8192, VRING_DESC_F_NEXT, 2 },
		{ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 },
	};
	bool ok;

	/* A buffer contiguous in guest memory but split over two mappings is a valid buffer. */
	guest_fill(buf, 8192, (uint32_t)s);
	vu_disk_put_pattern(&d, SECTOR, 8192, 0);
	set_hdr(VIRTIO_BLK_T_OUT, SECTOR);
	snapshot();
	ok = run_chain(vq, w, 3);
	if (!tap_ok(ok && req.status == VIRTIO_BLK_S_OK && req.used_len == 1,
		    "write from a buffer across the region boundary completes OK"))
		outcome_diag();
	tap_ok(vu_disk_has_pattern(&d, SECTOR, 8192, (uint32_t)s), "its data, both halves, reached the image");
	tap_ok(memory_unchanged(NULL, 0), "the write changed no guest memory but the status");

	guest_fill(buf, 8192, 0);
	set_hdr(VIRTIO_BLK_T_IN, SECTOR);
	w[1].flags |= VRING_DESC_F_WRITE;
	snapshot();
	ok = run_chain(vq, w, 3);
	if (!tap_ok(ok && req.status == VIRTIO_BLK_S_OK && req.used_len == 8193,
		    "read into a buffer across the region boundary completes OK, used len 8193"))
		outcome_diag();
	tap_ok(guest_has(buf, 8192, (uint32_t)s), "both halves hold the image's data");
	tap_ok(memory_unchanged(&out, 1), "nothing outside the buffer was written");

	/* The header itself split over the two mappings (the data moves out of its way). */
	buf = out.gpa = BOUNDARY + 4096;
	w[1].addr = buf;
	guest_fill(buf, 8192, 0);
	memcpy(ptr(hdr_gpa, 8), req.hdr, 8);
	w[0].addr = hdr_gpa;
	memcpy(ptr(BOUNDARY, 8), (uint8_t *)req.hdr + 8, 8);
	snapshot();
	ok = run_chain(vq, w, 3);
	if (!tap_ok(ok && req.status == VIRTIO_BLK_S_OK && guest_has(buf, 8192, (uint32_t)s),
		    "a header across the region boundary is read whole"))
		outcome_diag();
	tap_ok(memory_unchanged(&out, 1), "nothing outside the buffer was written");

	/* An indirect table across the boundary: served, or returned unused; never half-read. */
	w[0].addr = req.hdr_gpa;
	w[1].flags = VRING_DESC_F_NEXT | VRING_DESC_F_WRITE;
	memcpy(ptr(tbl_gpa, 24), w, 24);
	memcpy(ptr(BOUNDARY, 24), (uint8_t *)w + 24, 24);
	guest_fill(buf, 8192, 0);
	set_hdr(VIRTIO_BLK_T_IN, SECTOR);
	snapshot();
	ok = run_chain(vq, &(struct vring_desc){ tbl_gpa, 48, VRING_DESC_F_INDIRECT, 0 }, 1);
	if (!tap_ok(ok && ((req.status == VIRTIO_BLK_S_OK && guest_has(buf, 8192, (uint32_t)s)) ||
			   returned_unused()),
		    "an indirect table across the region boundary is served whole or returned unused"))
		outcome_diag();
	tap_diag("indirect table across the boundary: %s",
		 returned_unused() ? "returned unused" : "served");
	tap_ok(memory_unchanged(&out, 1), "nothing outside the buffer was written");

	/* Past the end of guest memory: the part that is inside must not be written either. */
	one_buffer(w, VIRTIO_BLK_T_IN, MEM_END - 4096, 8192);
	bad_case("read across the end of guest memory", w, 3, IOERR);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq1, seed++), "queue 1 still serves I/O");
}

/* ---- lengths that overflow ------------------------------------------------ */

static void overflow_cases(void)
{
	struct vring_desc w[3];

	/* 0xffffffffffffff00 + 0x200 wraps to 0x100: the start of region 0 holds the rings. */
	one_buffer(w, VIRTIO_BLK_T_IN, 0xffffffffffffff00ull, 0x200);
	bad_case("read whose addr + len wraps 2^64", w, 3, IOERR);
	one_buffer(w, VIRTIO_BLK_T_OUT, 0xffffffffffffff00ull, 0x200);
	bad_case("write whose addr + len wraps 2^64", w, 3, IOERR);
	one_buffer(w, VIRTIO_BLK_T_IN, ARENA, 0xffffffffu);
	bad_case("read of len 0xffffffff", w, 3, IOERR);
	one_buffer(w, VIRTIO_BLK_T_OUT, ARENA, 0xffffffffu);
	bad_case("write of len 0xffffffff", w, 3, IOERR);
	one_buffer(w, VIRTIO_BLK_T_OUT, ARENA, 4096);
	w[0].len = 0xffffffffu;
	bad_case("header descriptor of len 0xffffffff", w, 3, IOERR);

	bad_case("indirect table whose addr + len wraps 2^64",
		 &(struct vring_desc){ 0xfffffffffffffff0ull, 48, VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);
	bad_case("indirect table of len 0xfffffff0",
		 &(struct vring_desc){ ARENA, 0xfffffff0u, VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq1, seed++), "queue 1 still serves I/O");
}

/* ---- indirect tables inside indirect tables, chains longer than the queue ---- */

static void nesting_and_length_cases(void)
{
	uint64_t outer = ARENA, inner = ARENA + 4096, data = ARENA + 8192;
	struct vring_desc t[3] = {
		{ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 },
		{ inner, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2 },
		{ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 },
	};
	struct vring_desc inner_t[3] = {
		{ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 },
		{ data, 4096, VRING_DESC_F_NEXT, 2 },
		{ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 },
	};
	struct vring_desc ring[QSIZE];
	struct vring_desc *big;
	unsigned nbig = 1025;

	memcpy(ptr(outer, sizeof(t)), t, sizeof(t));
	memcpy(ptr(inner, sizeof(inner_t)), inner_t, sizeof(inner_t));
	guest_fill(data, 4096, seed);
	set_hdr(VIRTIO_BLK_T_OUT, SECTOR);
	bad_case("indirect table inside an indirect table", &(struct vring_desc){ outer, sizeof(t), VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);
	/* The same nesting with the inner table as the outer one's only entry. */
	memcpy(ptr(outer, 16), &(struct vring_desc){ inner, 48, VRING_DESC_F_INDIRECT, 0 }, 16);
	bad_case("indirect table whose only entry is indirect", &(struct vring_desc){ outer, 16, VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);

	/* Every descriptor of the ring chained, the last pointing back to the first. */
	ring[0] = (struct vring_desc){ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 };
	for (unsigned i = 1; i < QSIZE; i++)
		ring[i] = (struct vring_desc){ data, 512, VRING_DESC_F_NEXT, (uint16_t)(i + 1) };
	bad_case("direct chain of all 64 descriptors and one more (the first again)", ring, QSIZE, UNUSED);

	/* Indirect tables longer than any queue, and than the daemon's request limit. */
	big = (struct vring_desc *)ptr(ARENA + 65536, 16ull * nbig);
	big[0] = (struct vring_desc){ req.hdr_gpa, 16, VRING_DESC_F_NEXT, 1 };
	for (unsigned i = 1; i + 1 < nbig; i++)
		big[i] = (struct vring_desc){ data, 512, VRING_DESC_F_NEXT, (uint16_t)(i + 1) };
	big[nbig - 1] = (struct vring_desc){ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 };
	bad_case("indirect table of 1025 entries", &(struct vring_desc){ ARENA + 65536, 16 * nbig, VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);
	big[199] = (struct vring_desc){ req.status_gpa, 1, VRING_DESC_F_WRITE, 0 };
	bad_case("indirect table of 200 entries (198 data segments)", &(struct vring_desc){ ARENA + 65536, 16 * 200, VRING_DESC_F_INDIRECT, 0 }, 1, UNUSED);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq1, seed++), "queue 1 still serves I/O");
}

/* ---- buffers in the wrong direction ---------------------------------------- */

static void direction_cases(void)
{
	uint64_t data = ARENA;
	struct vring_desc w[3];

	/* A write whose data the device may write: nothing of it may reach the disk. */
	one_buffer(w, VIRTIO_BLK_T_OUT, data, 4096);
	w[1].flags |= VRING_DESC_F_WRITE;
	guest_fill(data, 4096, seed + 100);
	bad_case("write whose data is device-writable", w, 3, IOERR);
	/* A read into a buffer the device may only read. */
	one_buffer(w, VIRTIO_BLK_T_IN, data, 4096);
	w[1].flags = VRING_DESC_F_NEXT;
	bad_case("read into a device-readable buffer", w, 3, IOERR);
	/* The status in a read-only descriptor after a writable one. */
	one_buffer(w, VIRTIO_BLK_T_IN, data, 4096);
	w[2].flags = 0;
	bad_case("read whose status descriptor is read-only", w, 3, UNUSED);
	/* Nothing writable at all: there is nowhere to put a status. */
	one_buffer(w, VIRTIO_BLK_T_OUT, data, 4096);
	w[2].flags = 0;
	bad_case("write whose every descriptor is read-only", w, 3, UNUSED);
	/* A device-writable header: no header to read, and it must not be written either. */
	one_buffer(w, VIRTIO_BLK_T_IN, data, 4096);
	w[0].flags |= VRING_DESC_F_WRITE;
	bad_case("request whose header is device-writable", w, 3, IOERR);
	tap_ok(vu_roundtrip_ok(&d, &dev, vq1, seed++), "queue 1 still serves I/O");
	tap_ok(vu_roundtrip_ok(&d, &dev, vq, seed++), "queue 0 still serves I/O after all bad chains");
}

/* ---- rings that overlap ----------------------------------------------------- */

/*
 * A used ring placed over the descriptor table (or the available ring):
 * the daemon's completions would rewrite what the guest published. The ring
 * must not start, and nothing of it may be written.
 */
static void overlapping_ring(const char *what, bool over_avail)
{
	struct vu_dev v;
	struct vu_vq *q;
	struct vhost_user_vring_addr a;
	struct vu_blk_req r0;
	uint8_t before[16 * QSIZE + 6 + 2 * QSIZE];
	int r;

	open_two_regions(&v);
	q = v.vqs[0];
	if (vu_blk_req_init(&v, &r0) < 0 || vu_vq_stop(q, NULL) < 0)
		tap_bail("queue: %s", v.err);
	a = (struct vhost_user_vring_addr){
		.index = 0,
		.desc_user_addr = (uint64_t)(uintptr_t)q->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)q->avail,
		.used_user_addr = (uint64_t)(uintptr_t)(over_avail ? (void *)q->avail : (void *)q->desc),
		.log_guest_addr = over_avail ? q->avail_gpa : q->desc_gpa,
	};
	r = vu_set_vring_addr(&v, &a);
	if (r == 0)
		r = vu_set_vring_kick(&v, 0, q->kick_fd);
	if (!tap_ok(r == -EREMOTEIO, "%s: the ring is refused (SET_VRING_KICK answered non-zero)", what))
		tap_diag("got %d %s", r, r < 0 ? v.err : "");
	/* A request published anyway must stay unused, its rings untouched. */
	vu_set_vring_call(&v, 0, q->call_fd);
	vu_set_vring_enable(&v, 0, true);
	vu_blk_prep_flush(&r0);
	if (vu_blk_enqueue(q, &r0) < 0)
		tap_bail("%s", v.err);
	memcpy(before, q->desc, 16 * QSIZE);
	memcpy(before + 16 * QSIZE, q->avail, 6 + 2 * QSIZE);
	vu_vq_kick(q);
	r = vu_vq_wait(q, QUIET_MS);
	tap_ok(r == 0 && !memcmp(before, q->desc, 16 * QSIZE) &&
		       !memcmp(before + 16 * QSIZE, q->avail, 6 + 2 * QSIZE),
	       "%s: no completion, descriptor table and available ring unchanged", what);
	tap_ok(vu_roundtrip_ok(&d, &v, v.vqs[1], seed++), "%s: queue 1 still serves I/O", what);
	vu_dev_close(&v);
}

/* ---- an avail index that runs ahead of the ring ------------------------------ */

static void avail_jump(void)
{
	struct vu_dev v;
	struct vu_blk_req r0;
	uint64_t idx = 0;
	int err_fd, r;
	uint8_t *buf;
	uint32_t s = seed++;
	struct pollfd p;

	open_two_regions(&v);
	err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	buf = vu_mem_alloc(&v, 4096, 4096);
	if (err_fd < 0 || !buf || vu_blk_req_init(&v, &r0) < 0)
		tap_bail("set-up: %s", v.err);
	r = vu_request(&v, VHOST_USER_SET_VRING_ERR, &idx, sizeof(idx), &err_fd, 1);
	if (!tap_ok(r == 0, "SET_VRING_ERR on queue 0 accepted"))
		tap_diag("%s", v.err);

	vu_disk_put_pattern(&d, SECTOR, 8192, s);
	vu_pattern_fill(buf, 4096, s + 1, 0);
	vu_blk_prep_write(&r0, SECTOR, buf, 4096);
	if (vu_blk_enqueue(v.vqs[0], &r0) < 0)
		tap_bail("%s", v.err);
	/* One real entry, then an index a whole ring further on: 65 entries in a ring of 64. */
	__atomic_store_n(&v.vqs[0]->avail->idx, (uint16_t)(v.vqs[0]->avail_idx + QSIZE),
			 __ATOMIC_RELEASE);
	vu_vq_kick(v.vqs[0]);
	p = (struct pollfd){ .fd = err_fd, .events = POLLIN };
	r = poll(&p, 1, IO_TMO);
	tap_ok(r == 1, "avail index 65 ahead in a ring of 64: the daemon signals the error eventfd");
	tap_ok(vu_vq_wait(v.vqs[0], QUIET_MS) == 0 && vu_disk_has_pattern(&d, SECTOR, 8192, s),
	       "the broken queue stops: nothing used, the image unchanged");
	tap_ok(vu_roundtrip_ok(&d, &v, v.vqs[1], seed++), "queue 1 of the same device still serves I/O");
	close(err_fd);
	vu_dev_close(&v);
}

int main(void)
{
	struct vu_daemon_opts o = { .queues = 2 };

	vu_test_begin(&d, 60, PLAN, DISK_SIZE, &o);
	dp_open();
	boundary_cases();
	overflow_cases();
	nesting_and_length_cases();
	direction_cases();
	vu_dev_close(&dev);
	free(shadow[0]);
	free(shadow[1]);

	overlapping_ring("used ring over the descriptor table", false);
	overlapping_ring("used ring over the available ring", true);
	avail_jump();
	exit(vu_test_end(&d, seed++, "every hostile guest"));
}
