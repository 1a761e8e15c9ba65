/* vhost-user-blk hostile input tests: malformed and semantically bad messages, bad descriptors, loops, I/O past the end; each followed by a fresh-connection check. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define CAPACITY (DISK_SIZE / 512)
#define CLOSE_TMO 1500 /* how long a back-end may take to drop a bad connection */
#define REPLY_TMO 1500
#define IO_TMO 3000
#define REGION_SIZE (16u << 20)
#define REGION1_GPA (1ull << 30)
#define GAP_GPA (512ull << 20) /* between the two regions */
#define CANARY 0xc5
#define PLAN 92

static struct vu_daemon d;
static uint32_t seed = 1000;
static const uint64_t reply_ack_bit = 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK;

/* ---------------------------------------------------------------------- */

static void fresh(const char *after)
{
	vu_fresh_check(&d, seed++, after);
}

/* Connects and negotiates, with or without REPLY_ACK. */
static void hostile_open(struct vu_dev *dev, bool reply_ack)
{
	int r;

	vu_dev_init(dev);
	dev->timeout_ms = REPLY_TMO;
	r = vu_connect(dev, d.sock, 5000);
	if (r == 0)
		r = vu_negotiate(dev, VU_BLK_FEATURES,
				 reply_ack ? VU_PROTOCOL_FEATURES
					   : VU_PROTOCOL_FEATURES & ~reply_ack_bit);
	if (r < 0) {
		tap_diag("hostile connection set-up: %s", dev->err);
		if (!vu_daemon_alive(&d))
			tap_bail("the daemon is dead");
	}
	if (reply_ack && !(dev->protocol_features & reply_ack_bit))
		tap_diag("REPLY_ACK not offered by the back-end");
}

/* Memory, SET_MEM_TABLE, queue 0 and a round trip on an open connection. */
static bool same_conn_io_ok(struct vu_dev *dev)
{
	struct vu_vq *vq;

	if (dev->nregions == 0 && vu_mem_add_region(dev, 0, REGION_SIZE) < 0)
		goto fail;
	if (vu_mem_set_table(dev) < 0)
		goto fail;
	vq = dev->vqs[0] ? dev->vqs[0] : vu_vq_create(dev, 0, 64);
	if (!vq || vu_vq_start(vq) < 0)
		goto fail;
	return vu_roundtrip_ok(&d, dev, vq, seed++);
fail:
	tap_diag("same connection: %s", dev->err);
	return false;
}

static bool expect_closed(struct vu_dev *dev, const char *what)
{
	int r = vu_wait_closed(dev, CLOSE_TMO);

	if (r == 1)
		return true;
	if (r == 0)
		tap_diag("%s: the connection is still open after %d ms", what, CLOSE_TMO);
	else
		tap_diag("%s: %s", what, dev->err);
	return false;
}

/* Sends a bare header, optionally followed by payload bytes. */
static void send_header(struct vu_dev *dev, uint32_t request, uint32_t flags,
			uint32_t size, const void *payload, uint32_t payload_len)
{
	uint8_t buf[12 + 8192];
	struct vhost_user_header h = { .request = request, .flags = flags, .size = size };

	memcpy(buf, &h, sizeof(h));
	if (payload_len)
		memcpy(buf + sizeof(h), payload, payload_len);
	/* the back-end may close while we send: errors are fine here */
	vu_send_raw(dev, buf, sizeof(h) + payload_len, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* malformed messages: the connection must be closed                       */

static void malformed_truncated(void)
{
	struct vu_dev dev;
	struct vhost_user_header h = { VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0 };
	uint64_t v = 0;

	hostile_open(&dev, true);
	vu_send_raw(&dev, &h, 6, NULL, 0);
	vu_dev_close(&dev);
	fresh("a truncated header then close");

	hostile_open(&dev, true);
	h.request = VHOST_USER_SET_FEATURES;
	h.size = 8;
	uint8_t buf[16];

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &v, 4);
	vu_send_raw(&dev, buf, sizeof(h) + 4, NULL, 0);
	vu_dev_close(&dev);
	fresh("a truncated payload then close");
}

static void malformed_closes(const char *what, uint32_t request, uint32_t flags,
			     uint32_t size, uint32_t payload_len)
{
	struct vu_dev dev;
	static uint8_t zeros[8192];

	hostile_open(&dev, true);
	send_header(&dev, request, flags, size, zeros, payload_len);
	tap_ok(expect_closed(&dev, what), "%s: connection closed", what);
	vu_dev_close(&dev);
	fresh(what);
}

/* ---------------------------------------------------------------------- */
/* semantically bad messages                                                */

enum outcome { NACK, ACK0, CLOSED, TIMEOUT, OTHER };

static enum outcome outcome_of(struct vu_dev *dev, int r)
{
	if (r == -EREMOTEIO)
		return NACK;
	if (r == 0)
		return ACK0;
	if (r == -ECONNRESET)
		return CLOSED;
	tap_diag("%s", dev->err);
	return r == -ETIMEDOUT ? TIMEOUT : OTHER;
}

static const char *outcome_name(enum outcome o)
{
	static const char *const n[] = { "failure ack", "success ack (0)",
					 "connection closed", "no reply", "error" };
	return n[o];
}

/* With REPLY_ACK + NEED_REPLY: must get a non-zero ack and keep a usable
 * connection; allow_close also accepts the connection being closed. */
static void semantic_ack(const char *what, uint32_t request, const void *payload,
			 uint32_t size, const int *fds, unsigned nfds, bool allow_close)
{
	struct vu_dev dev;
	enum outcome o;
	int r;

	hostile_open(&dev, true);
	r = vu_request(&dev, request, payload, size, fds, nfds);
	o = outcome_of(&dev, r);
	if (o == NACK || (allow_close && o == CLOSED))
		tap_ok(true, "%s (REPLY_ACK): %s", what, outcome_name(o));
	else
		tap_ok(false, "%s (REPLY_ACK): expected a failure ack%s, got %s", what,
		       allow_close ? " or a close" : "", outcome_name(o));
	if (o == NACK)
		tap_ok(same_conn_io_ok(&dev), "%s (REPLY_ACK): the same connection stays usable",
		       what);
	else if (o == CLOSED)
		tap_skip(1, "connection closed", "same connection stays usable");
	else
		tap_ok(false, "%s (REPLY_ACK): the same connection stays usable", what);
	vu_dev_close(&dev);
	fresh(what);
}

/* Without REPLY_ACK: the connection must be closed. */
static void semantic_noack(const char *what, uint32_t request, const void *payload,
			   uint32_t size, const int *fds, unsigned nfds)
{
	struct vu_dev dev;

	hostile_open(&dev, false);
	vu_send_msg(&dev, request, 0, payload, size, fds, nfds);
	tap_ok(expect_closed(&dev, what), "%s (no REPLY_ACK): connection closed", what);
	vu_dev_close(&dev);
	fresh(what);
}

static void mem_tables(void)
{
	struct vu_dev tmp;
	uint8_t buf[8 + VU_MAX_REGIONS * sizeof(struct vhost_user_mem_region)];
	int fds[VU_MAX_REGIONS];
	uint32_t len;

	/* the regions live in a scratch device that is never connected */
	vu_dev_init(&tmp);
	for (unsigned i = 0; i < 9; i++)
		if (vu_mem_add_region(&tmp, (uint64_t)i << 30, 1u << 20) < 0)
			tap_bail("%s", tmp.err);

	len = vu_mem_table_payload(&tmp, buf, fds);
	semantic_ack("SET_MEM_TABLE with 9 regions and 9 fds", VHOST_USER_SET_MEM_TABLE, buf,
		     len, fds, 9, true);

	tmp.nregions = 2;
	len = vu_mem_table_payload(&tmp, buf, fds);
	semantic_ack("SET_MEM_TABLE with 2 regions and no fd", VHOST_USER_SET_MEM_TABLE, buf,
		     len, NULL, 0, false);
	semantic_ack("SET_MEM_TABLE with 2 regions and 1 fd", VHOST_USER_SET_MEM_TABLE, buf,
		     len, fds, 1, false);
	semantic_noack("SET_MEM_TABLE with 2 regions and no fd", VHOST_USER_SET_MEM_TABLE, buf,
		       len, NULL, 0);
	tmp.nregions = 9;
	vu_dev_close(&tmp);
}

static void vring_indexes(void)
{
	struct vhost_user_vring_state s200 = { .index = 200, .num = 64 };
	struct vhost_user_vring_addr a = { .index = 1 };
	uint64_t kick = 200;
	int efd = eventfd(0, EFD_CLOEXEC);

	if (efd < 0)
		tap_bail("eventfd: %s", strerror(errno));
	semantic_ack("SET_VRING_NUM index 200", VHOST_USER_SET_VRING_NUM, &s200, sizeof(s200),
		     NULL, 0, false);
	semantic_noack("SET_VRING_NUM index 200", VHOST_USER_SET_VRING_NUM, &s200,
		       sizeof(s200), NULL, 0);
	/* one past the last queue (the daemon runs with 1 queue) */
	semantic_ack("SET_VRING_ADDR index 1 of 1 queue", VHOST_USER_SET_VRING_ADDR, &a,
		     sizeof(a), NULL, 0, false);
	semantic_ack("SET_VRING_KICK index 200", VHOST_USER_SET_VRING_KICK, &kick, sizeof(kick),
		     &efd, 1, false);
	close(efd);
}

/* ---------------------------------------------------------------------- */
/* the data path                                                            */

static struct vu_dev dp;
static struct vu_vq *vq;
static struct vu_blk_req req;
static uint8_t *canary0; /* 4 MiB in region 0 */
static uint8_t *canary1; /* all of region 1 */
static uint8_t *data;    /* 8 KiB of pattern in region 0 */

static void dp_open(void)
{
	struct vu_open_opts o = { .mem_regions = 2, .mem_size = REGION_SIZE, .queue_size = 64 };

	if (vu_dev_open(&dp, d.sock, &o) < 0)
		tap_bail("data path set-up: %s", dp.err);
	dp.timeout_ms = REPLY_TMO;
	vq = dp.vqs[0];
	canary1 = vu_mem_alloc_in(&dp, 1, REGION_SIZE, 4096);
	canary0 = vu_mem_alloc_in(&dp, 0, 4u << 20, 4096);
	data = vu_mem_alloc_in(&dp, 0, 8192, 4096);
	if (!canary0 || !canary1 || !data || vu_blk_req_init(&dp, &req) < 0)
		tap_bail("guest memory: %s", dp.err);
	memset(canary0, CANARY, 4u << 20);
	memset(canary1, CANARY, REGION_SIZE);
}

/* Reopens the data path connection if a previous case lost it. */
static void dp_ensure(void)
{
	if (dp.sock >= 0 && vu_wait_closed(&dp, 0) == 0)
		return;
	tap_diag("data path connection lost, reconnecting");
	vu_dev_close(&dp);
	dp_open();
}

static bool canary_ok(void)
{
	for (size_t i = 0; i < (4u << 20); i++)
		if (canary0[i] != CANARY) {
			tap_diag("guest memory written at region 0 canary byte %zu", i);
			return false;
		}
	for (size_t i = 0; i < REGION_SIZE; i++)
		if (canary1[i] != CANARY) {
			tap_diag("guest memory written at region 1 byte %zu", i);
			return false;
		}
	return true;
}

static void bad_addr(const char *what, uint32_t type, const struct vu_seg *segs, unsigned n)
{
	uint64_t sector = 30000;
	uint32_t s = seed++;
	int r;

	dp_ensure();
	vu_disk_put_pattern(&d, sector, 8192, s);
	vu_blk_prep(&req, type, sector, segs, n, type == VIRTIO_BLK_T_IN);
	r = vu_blk_run(vq, &req, IO_TMO);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR && req.used_len == 1,
		    "%s: completes with IOERR, used len 1", what))
		tap_diag("got %d%s%s, used len %u", r, r < 0 ? " " : "", r < 0 ? dp.err : "",
			 req.used_len);
	tap_ok(vu_disk_has_pattern(&d, sector, 8192, s), "%s: the image is unchanged", what);
	tap_ok(canary_ok(), "%s: no other guest memory written", what);
	memset(canary0, CANARY, 4u << 20);
	memset(canary1, CANARY, REGION_SIZE);
}

static void bad_addresses(void)
{
	uint64_t c0 = vu_ptr_to_gpa(&dp, canary0);
	uint64_t end1 = REGION1_GPA + REGION_SIZE;
	struct vu_seg gap = { GAP_GPA, 4096 };
	struct vu_seg valid_gap[2] = { { c0 + 8192, 4096 }, { GAP_GPA, 4096 } };
	struct vu_seg straddle = { end1 - 2048, 4096 };
	struct vu_seg wrap = { 0xfffffffffffff000ull, 8192 };
	struct vu_seg huge = { REGION1_GPA + 4096, 0xfffff000u };

	bad_addr("write from the gap between regions", VIRTIO_BLK_T_OUT, &gap, 1);
	bad_addr("read into the gap between regions", VIRTIO_BLK_T_IN, &gap, 1);
	bad_addr("write from [valid, gap]", VIRTIO_BLK_T_OUT, valid_gap, 2);
	bad_addr("read into [valid, gap]", VIRTIO_BLK_T_IN, valid_gap, 2);
	bad_addr("write straddling the end of region 1", VIRTIO_BLK_T_OUT, &straddle, 1);
	bad_addr("read straddling the end of region 1", VIRTIO_BLK_T_IN, &straddle, 1);
	bad_addr("read at a gpa that wraps past 2^64", VIRTIO_BLK_T_IN, &wrap, 1);
	bad_addr("read of 4 GiB into region 1", VIRTIO_BLK_T_IN, &huge, 1);
	dp_ensure();
	tap_ok(vu_roundtrip_ok(&d, &dp, vq, seed++), "the queue still serves I/O after bad addresses");
}

enum loop_kind { LOOP_THROUGH_HEAD, LOOP_SELF, LOOP_INDIRECT };

static void loop_case(const char *what, enum loop_kind kind)
{
	uint64_t sector = 31000;
	uint32_t s = seed++;
	uint16_t ids[3];
	int r;

	dp_ensure();
	vu_disk_put_pattern(&d, sector, 4096, s);
	vu_pattern_fill(data, 4096, s + 1, sector * 512);
	vu_blk_prep(&req, VIRTIO_BLK_T_OUT, sector, NULL, 0, false);
	req.hdr->type = VIRTIO_BLK_T_OUT;
	req.hdr->ioprio = 0;
	req.hdr->sector = sector;
	*req.status_ptr = VU_STATUS_UNSET;

	struct vring_desc hdr = { req.hdr_gpa, 16, VRING_DESC_F_NEXT, 0 };
	struct vring_desc dat = { vu_ptr_to_gpa(&dp, data), 4096, VRING_DESC_F_NEXT, 0 };
	struct vring_desc st = { req.status_gpa, 1, VRING_DESC_F_WRITE, 0 };

	if (kind == LOOP_INDIRECT) {
		if (vu_vq_alloc_chain(vq, 1, ids) < 0)
			tap_bail("%s", dp.err);
		/* table: hdr -> data -> data -> ... (data points to itself) */
		hdr.next = 1;
		dat.next = 1;
		req.itable[0] = hdr;
		req.itable[1] = dat;
		req.itable[2] = st;
		vq->desc[ids[0]] = (struct vring_desc){ req.itable_gpa, 3 * 16,
							 VRING_DESC_F_INDIRECT, 0 };
	} else {
		if (vu_vq_alloc_chain(vq, 3, ids) < 0)
			tap_bail("%s", dp.err);
		hdr.next = ids[1];
		if (kind == LOOP_THROUGH_HEAD) {
			dat.next = ids[2];
			st.flags |= VRING_DESC_F_NEXT;
			st.next = ids[0];
		} else {
			dat.next = ids[1];
		}
		vq->desc[ids[0]] = hdr;
		vq->desc[ids[1]] = dat;
		vq->desc[ids[2]] = st;
	}
	vu_blk_publish_raw(vq, &req, ids[0]);
	vu_vq_kick(vq);
	r = vu_blk_wait(vq, &req, IO_TMO);
	if (!tap_ok(r == 0 && req.used_len == 0, "%s: returned in the used ring with len 0", what))
		tap_diag("got %d%s%s, used len %u", r, r < 0 ? " " : "", r < 0 ? dp.err : "",
			 req.used_len);
	tap_ok(r == 0 && req.status == VU_STATUS_UNSET, "%s: status byte not written (0x%02x)",
	       what, req.status);
	tap_ok(vu_disk_has_pattern(&d, sector, 4096, s), "%s: the image is unchanged", what);
}

static void loops(void)
{
	loop_case("chain whose last descriptor loops to the head", LOOP_THROUGH_HEAD);
	loop_case("chain with a descriptor pointing to itself", LOOP_SELF);
	loop_case("indirect table that loops", LOOP_INDIRECT);
	dp_ensure();
	tap_ok(vu_roundtrip_ok(&d, &dp, vq, seed++), "the queue still serves I/O after loops");
}

static void past_end_case(const char *what, uint32_t type, uint64_t sector, uint32_t len,
			  uint64_t check_sector, bool allow_unsupp)
{
	uint32_t s = seed++;
	struct vu_seg seg = { vu_ptr_to_gpa(&dp, data), len };
	int r;

	dp_ensure();
	vu_disk_put_pattern(&d, check_sector, 2048, s);
	vu_pattern_fill(data, 8192, s + 7, 0);
	if (type == VIRTIO_BLK_T_WRITE_ZEROES)
		vu_blk_prep_write_zeroes(&req, sector, len / 512, false);
	else
		vu_blk_prep(&req, type, sector, &seg, 1, type == VIRTIO_BLK_T_IN);
	r = vu_blk_run(vq, &req, IO_TMO);
	if (!tap_ok(r == VIRTIO_BLK_S_IOERR || (allow_unsupp && r == VIRTIO_BLK_S_UNSUPP),
		    "%s: completes with IOERR", what))
		tap_diag("got %d%s%s", r, r < 0 ? " " : "", r < 0 ? dp.err : "");
	tap_ok(vu_disk_has_pattern(&d, check_sector, 2048, s), "%s: the image is unchanged", what);
}

static void past_end(void)
{
	past_end_case("read of the sector at capacity", VIRTIO_BLK_T_IN, CAPACITY, 512,
		      CAPACITY - 4, false);
	past_end_case("write of 4 KiB straddling the end of the disk", VIRTIO_BLK_T_OUT,
		      CAPACITY - 4, 4096, CAPACITY - 4, false);
	/* 2^55 sectors * 512 wraps to byte offset 0 */
	past_end_case("read at sector 2^55 (offset wraps to 0)", VIRTIO_BLK_T_IN, 1ull << 55,
		      4096, 0, false);
	past_end_case("write at sector 2^55 (offset wraps to 0)", VIRTIO_BLK_T_OUT, 1ull << 55,
		      4096, 0, false);
	past_end_case("write-zeroes at sector 2^55 (offset wraps to 0)",
		      VIRTIO_BLK_T_WRITE_ZEROES, 1ull << 55, 4096, 0, true);
	dp_ensure();
	tap_ok(vu_roundtrip_ok(&d, &dp, vq, seed++), "the queue still serves I/O after past-the-end requests");
}

/* ---------------------------------------------------------------------- */

int main(void)
{
	struct vu_daemon_opts o = { .queues = 1 };

	vu_test_begin(&d, 28, PLAN, DISK_SIZE, &o);
	fresh("start");

	malformed_truncated();
	malformed_closes("payload size 4097", VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 4097,
			 4097);
	malformed_closes("payload size 0x7fffffff", VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION,
			 0x7fffffff, 0);
	malformed_closes("unknown request id 99", 99, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
			 0, 0);
	malformed_closes("request id 0 (NONE)", VHOST_USER_NONE, VHOST_USER_VERSION, 0, 0);
	malformed_closes("SET_VRING_NUM with a 4-byte payload", VHOST_USER_SET_VRING_NUM,
			 VHOST_USER_VERSION, 4, 4);
	malformed_closes("SET_FEATURES with a 16-byte payload", VHOST_USER_SET_FEATURES,
			 VHOST_USER_VERSION, 16, 16);
	malformed_closes("version bits 2", VHOST_USER_GET_FEATURES, 0x2, 0, 0);
	malformed_closes("version bits 0", VHOST_USER_GET_FEATURES, 0x0, 0, 0);

	mem_tables();
	vring_indexes();

	dp_open();
	bad_addresses();
	loops();
	past_end();
	vu_dev_close(&dp);

	exit(vu_test_end(&d, seed++, "all hostile input"));
}
