/* Fuzzes the virtio-blk request decoder vb_blk_parse on descriptor chains (iovec layout, header, segments, read-only or not) built from the input. */
#include <stdlib.h>
#include <string.h>

#include "virtio/blk.h"
#include "util/log.h"
#include "fuzz.h"

/*
 * Input:
 *   u8  flags: bit 0 read-only disk, bit 1 bad_addr, bit 2 status_ok (the
 *       walker's verdict on the last writable descriptor), bit 3 a disk of
 *       almost 2^64 bytes
 *   u8  iovecs (at most VB_CHAIN_IOV_MAX), u8 readable ones among them
 *   u32 disk size in sectors (plus one)
 *   u16 length - 1 of each iovec
 *   the bytes of the buffers, one after the other (zero where the input ends)
 * The chain keeps the walker's guarantees (fuzz_chain checks them): no
 * empty iovec, readable ones first, status_ok only with a writable one.
 * Each buffer is a heap block of exactly its length, so AddressSanitizer
 * sees any access outside it.
 */

#define SERIAL "vbridge-fuzz-serial0"

static struct vb_blk_target dev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init_output();
	vb_log_threshold = fuzz_verbose() ? VB_LOG_DEBUG : VB_LOG_ERROR;
	memcpy(dev.serial, SERIAL, sizeof(dev.serial));
	return 0;
}

static uint64_t total(const struct iovec *iov, unsigned int n)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* Whether [p, p+len) lies inside one of the n original buffers. */
static bool inside(const struct iovec *orig, unsigned int n, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *s = orig[i].iov_base;

		if (b >= s && b <= s + orig[i].iov_len && len <= orig[i].iov_len - (size_t)(b - s))
			return true;
	}
	return false;
}

/* Gathers the first len bytes of the iovecs; false if they are shorter. */
static bool gather(const struct iovec *iov, unsigned int n, void *dst, size_t len)
{
	uint8_t *out = dst;

	for (unsigned int i = 0; i < n && len > 0; i++) {
		size_t chunk = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(out, iov[i].iov_base, chunk);
		out += chunk;
		len -= chunk;
	}
	return len == 0;
}

static bool in_range(uint64_t sector, uint64_t bytes)
{
	uint64_t cap = dev.size >> VB_SECTOR_SHIFT;

	return sector <= cap && bytes / VB_SECTOR_SIZE <= cap - sector;
}

/* The data iovecs of a read or write lie in the right buffers, away from the header and status. */
static void check_data(const struct vb_blk_req *req, const struct iovec *orig, unsigned int first,
		       unsigned int n)
{
	const struct vb_chain *c = &req->chain;

	FUZZ_CHECK(req->niov == 0 || (req->iov >= c->iov && req->iov + req->niov <= c->iov + c->niov),
		   "data iovecs outside the chain's array");
	FUZZ_CHECK(total(req->iov, req->niov) == req->len, "data iovecs hold %llu bytes, len %llu",
		   (unsigned long long)total(req->iov, req->niov), (unsigned long long)req->len);
	for (unsigned int i = 0; i < req->niov; i++) {
		const uint8_t *b = req->iov[i].iov_base;

		FUZZ_CHECK(inside(orig + first, n, b, req->iov[i].iov_len),
			   "data iovec %u outside the request's buffers", i);
		FUZZ_CHECK(!(req->status_ptr >= b && req->status_ptr < b + req->iov[i].iov_len),
			   "data iovec %u covers the status byte", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vb_blk_req req;
	static struct iovec orig[VB_CHAIN_IOV_MAX];
	struct fuzz_input in = { data, size };
	struct vb_chain *c = &req.chain;
	uint8_t flags = fuzz_u8(&in);
	unsigned int niov = fuzz_u8(&in) % (VB_CHAIN_IOV_MAX + 1);
	unsigned int nout = fuzz_u8(&in);
	uint64_t sectors = (uint64_t)fuzz_u32(&in) + 1;
	uint64_t out_total, in_total;
	struct virtio_blk_outhdr hdr;
	bool hdr_ok;

	memset(&req, 0, sizeof(req));
	nout = niov ? nout % (niov + 1) : 0;
	dev.readonly = flags & 1;
	dev.size = flags & 8 ? UINT64_MAX & ~(uint64_t)(VB_SECTOR_SIZE - 1)
				  : sectors << VB_SECTOR_SHIFT;
	c->head = 0;
	c->niov = niov;
	c->nout = nout;
	c->bad_addr = flags & 2;
	c->status_ok = (flags & 4) && niov > nout;
	for (unsigned int i = 0; i < niov; i++)
		orig[i].iov_len = (size_t)fuzz_u16(&in) + 1;
	for (unsigned int i = 0; i < niov; i++) {
		orig[i].iov_base = malloc(orig[i].iov_len);
		if (!orig[i].iov_base)
			abort();
		fuzz_bytes(&in, orig[i].iov_base, orig[i].iov_len);
		c->iov[i] = orig[i];
	}
	out_total = total(orig, nout);
	in_total = total(orig + nout, niov - nout);
	hdr_ok = gather(orig, nout, &hdr, sizeof(hdr));

	vb_blk_parse(&dev, &req);

	FUZZ_CHECK(req.op <= VB_IO_WRITE_ZEROES, "op %d", req.op);
	if (req.op == VB_IO_NONE)
		FUZZ_CHECK(req.status == VIRTIO_BLK_S_OK || req.status == VIRTIO_BLK_S_IOERR ||
			   req.status == VIRTIO_BLK_S_UNSUPP, "status %u", req.status);
	if (!c->status_ok) {
		FUZZ_CHECK(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR && !req.status_ptr,
			   "a chain without room for the status must fail without one");
		goto out;
	}
	/* The status goes to the last byte of the last writable buffer. */
	FUZZ_CHECK(req.status_ptr == (uint8_t *)orig[niov - 1].iov_base + orig[niov - 1].iov_len - 1,
		   "status byte misplaced");
	if (c->bad_addr || !hdr_ok) {
		FUZZ_CHECK(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR,
			   "bad address or short header accepted");
		goto out;
	}
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN: {
		uint64_t len = in_total - 1;
		bool good = len > 0 && len % VB_SECTOR_SIZE == 0 && len <= VB_REQ_MAX_BYTES &&
			    in_range(hdr.sector, len);

		FUZZ_CHECK(good ? req.op == VB_IO_READ : (req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR),
			   "read of %llu bytes at sector %llu: op %d", (unsigned long long)len,
			   (unsigned long long)hdr.sector, req.op);
		if (good) {
			FUZZ_CHECK(req.offset == hdr.sector << VB_SECTOR_SHIFT && req.len == len &&
				   req.used_len == len + 1, "read offset/length/used length");
			check_data(&req, orig, nout, niov - nout);
		}
		break;
	}
	case VIRTIO_BLK_T_OUT: {
		uint64_t len = out_total - sizeof(hdr);
		bool good = !dev.readonly && len > 0 && len % VB_SECTOR_SIZE == 0 &&
			    len <= VB_REQ_MAX_BYTES && in_range(hdr.sector, len);

		FUZZ_CHECK(good ? req.op == VB_IO_WRITE : (req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR),
			   "write of %llu bytes at sector %llu (read-only %d): op %d",
			   (unsigned long long)len, (unsigned long long)hdr.sector, dev.readonly,
			   req.op);
		if (good) {
			FUZZ_CHECK(req.offset == hdr.sector << VB_SECTOR_SHIFT && req.len == len &&
				   req.used_len == 1, "write offset/length/used length");
			check_data(&req, orig, 0, nout);
		}
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		FUZZ_CHECK(req.op == VB_IO_FLUSH, "flush decoded as %d", req.op);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t room = in_total - 1;
		size_t n = room < sizeof(dev.serial) ? room : sizeof(dev.serial);
		char id[sizeof(dev.serial)];

		FUZZ_CHECK(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_OK && req.used_len == n + 1,
			   "GET_ID: op %d status %u used %u", req.op, req.status, req.used_len);
		FUZZ_CHECK(gather(orig + nout, niov - nout, id, n) && memcmp(id, SERIAL, n) == 0,
			   "GET_ID did not write the serial");
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool zeroes = hdr.type == VIRTIO_BLK_T_WRITE_ZEROES;
		struct virtio_blk_discard_write_zeroes seg;
		bool whole = out_total - sizeof(hdr) == sizeof(seg);

		if (dev.readonly || !whole) {
			FUZZ_CHECK(req.op == VB_IO_NONE &&
				   req.status == (dev.readonly ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_UNSUPP),
				   "discard/write-zeroes: read-only %d, segment bytes %llu: op %d status %u",
				   dev.readonly, (unsigned long long)(out_total - sizeof(hdr)),
				   req.op, req.status);
			break;
		}
		{
			uint8_t all[sizeof(hdr) + sizeof(seg)];

			FUZZ_CHECK(gather(orig, nout, all, sizeof(all)), "segment");
			memcpy(&seg, all + sizeof(hdr), sizeof(seg));
		}
		if (req.op != VB_IO_NONE) {
			FUZZ_CHECK(req.op == (zeroes ? VB_IO_WRITE_ZEROES : VB_IO_DISCARD), "op %d", req.op);
			FUZZ_CHECK(!(seg.flags & ~(zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u)),
				   "unknown segment flags 0x%x accepted", seg.flags);
			FUZZ_CHECK(seg.num_sectors > 0 && seg.num_sectors <= VB_DISCARD_MAX_SECTORS &&
				   in_range(seg.sector, (uint64_t)seg.num_sectors << VB_SECTOR_SHIFT),
				   "segment of %u sectors at %llu accepted", seg.num_sectors,
				   (unsigned long long)seg.sector);
			FUZZ_CHECK(req.offset == seg.sector << VB_SECTOR_SHIFT &&
				   req.len == (uint64_t)seg.num_sectors << VB_SECTOR_SHIFT &&
				   req.unmap == (zeroes && (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)),
				   "segment decoded wrongly");
			FUZZ_CHECK(req.offset + req.len <= dev.size, "past the end of the disk");
		}
		break;
	}
	default:
		FUZZ_CHECK(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_UNSUPP,
			   "unknown type %u: op %d status %u", hdr.type, req.op, req.status);
		break;
	}
out:
	vb_blk_status_from_errno((int)sectors);
	for (unsigned int i = 0; i < niov; i++)
		free(orig[i].iov_base);
	return 0;
}
