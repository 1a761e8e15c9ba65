/* Unit tests of virtio-blk request decoding: layouts, ranges, read-only, GET_ID, discard segments. */
#include <string.h>

#include "virtio/blk.h"
#include "tap.h"

#define DISK_SECTORS 2048

static struct vb_blk_target dev;
static struct vb_blk_req req;
static uint8_t hdrbuf[16], data[8192], status;

static void chain_reset(void)
{
	memset(&req, 0, sizeof(req));
}

static void add(void *p, size_t len, bool writable)
{
	struct vb_chain *c = &req.chain;

	c->iov[c->niov].iov_base = p;
	c->iov[c->niov].iov_len = len;
	c->niov++;
	if (!writable)
		c->nout = c->niov;
	c->status_ok = writable;
}

static void header(uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memcpy(hdrbuf, &h, sizeof(h));
}

static void parse(void)
{
	vb_blk_parse(&dev, &req);
}

/* The usual shape: header, one data buffer (unless data_len is 0), status. */
static void simple(uint32_t type, uint64_t sector, const void *buf, size_t data_len,
		   bool data_writable)
{
	chain_reset();
	header(type, sector);
	add(hdrbuf, 16, false);
	if (data_len)
		add((void *)buf, data_len, data_writable);
	add(&status, 1, true);
	parse();
}

int main(void)
{
	struct virtio_blk_discard_write_zeroes seg = { 0 };

	dev.size = DISK_SECTORS * 512;
	memcpy(dev.serial, "serial-1234", 11);

	simple(VIRTIO_BLK_T_IN, 8, data, 4096, true);
	ok(req.op == VB_IO_READ && req.offset == 8 * 512 && req.len == 4096 && req.niov == 1 &&
	   req.status_ptr == &status && req.used_len == 4097, "read: offset, length, status, used length");

	/* Header split over two buffers and status sharing the data buffer. */
	chain_reset();
	header(VIRTIO_BLK_T_IN, 1);
	add(hdrbuf, 7, false);
	add(hdrbuf + 7, 9, false);
	add(data, 513, true);
	parse();
	ok(req.op == VB_IO_READ && req.len == 512 && req.status_ptr == data + 512,
	   "read with a split header and the status in the data buffer");

	chain_reset();
	header(VIRTIO_BLK_T_OUT, 0);
	memcpy(data, hdrbuf, 16);
	add(data, 16 + 1024, false);
	add(&status, 1, true);
	parse();
	ok(req.op == VB_IO_WRITE && req.len == 1024 && req.iov[0].iov_base == data + 16,
	   "write whose data shares the header buffer");

	simple(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, data, 1024, true);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "read past the end of the disk fails");

	simple(VIRTIO_BLK_T_IN, UINT64_MAX - 1, data, 1024, true);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "sector near 2^64 does not wrap");

	simple(VIRTIO_BLK_T_IN, 0, data, 100, true);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "length not a multiple of 512 fails");

	chain_reset();
	header(VIRTIO_BLK_T_IN, 0);
	add(hdrbuf, 8, false);
	add(&status, 1, true);
	parse();
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "truncated header fails");

	chain_reset();
	header(VIRTIO_BLK_T_IN, 0);
	add(hdrbuf, 16, false);
	parse();
	ok(req.op == VB_IO_NONE && req.status_ptr == NULL, "chain without a writable status has no status");

	chain_reset();
	header(VIRTIO_BLK_T_IN, 0);
	add(hdrbuf, 16, false);
	add(data, 512, true);
	add(&status, 1, true);
	req.chain.bad_addr = true;
	parse();
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR && req.status_ptr == &status,
	   "a buffer outside guest memory fails the request with a status");

	chain_reset();
	header(VIRTIO_BLK_T_GET_ID, 0);
	add(hdrbuf, 16, false);
	memset(data, 0xff, 64);
	add(data, 20, true);
	add(&status, 1, true);
	parse();
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_OK && memcmp(data, "serial-1234", 11) == 0 &&
	   data[11] == 0 && data[19] == 0 && req.used_len == 21, "GET_ID returns the NUL-padded serial");

	simple(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
	ok(req.op == VB_IO_FLUSH, "flush");

	simple(77, 0, NULL, 0, false);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_UNSUPP, "unknown type is unsupported");

	seg = (struct virtio_blk_discard_write_zeroes){ .sector = 16, .num_sectors = 8 };
	simple(VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg), false);
	ok(req.op == VB_IO_DISCARD && req.offset == 16 * 512 && req.len == 8 * 512, "discard segment");

	seg.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	simple(VIRTIO_BLK_T_DISCARD, 0, &seg, sizeof(seg), false);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_UNSUPP, "discard with the unmap flag is unsupported");

	simple(VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), false);
	ok(req.op == VB_IO_WRITE_ZEROES && req.unmap, "write zeroes with unmap");

	seg.sector = DISK_SECTORS - 4;
	simple(VIRTIO_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), false);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "write zeroes past the end fails");

	simple(VIRTIO_BLK_T_DISCARD, 0, data, 2 * sizeof(seg), false);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_UNSUPP, "more segments than advertised are refused");

	dev.readonly = true;
	simple(VIRTIO_BLK_T_OUT, 0, data, 512, false);
	ok(req.op == VB_IO_NONE && req.status == VIRTIO_BLK_S_IOERR, "write to a read-only disk fails");

	simple(VIRTIO_BLK_T_IN, 0, data, 512, true);
	ok(req.op == VB_IO_READ, "read from a read-only disk works");

	return tap_done();
}
