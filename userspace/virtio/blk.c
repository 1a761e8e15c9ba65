/* virtio-blk requests: turning a descriptor chain into a disk operation and a status. */
#include "blk.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

static uint64_t iov_total(const struct iovec *iov, unsigned int n)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* Copies the first len bytes out of iov and drops them from it; false if it is shorter. */
static bool iov_pull(struct iovec **iov, unsigned int *n, void *dst, size_t len)
{
	uint8_t *out = dst;

	while (len > 0) {
		size_t chunk;

		if (*n == 0)
			return false;
		chunk = (*iov)->iov_len < len ? (*iov)->iov_len : len;
		memcpy(out, (*iov)->iov_base, chunk);
		out += chunk;
		len -= chunk;
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + chunk;
		(*iov)->iov_len -= chunk;
		if ((*iov)->iov_len == 0) {
			(*iov)++;
			(*n)--;
		}
	}
	return true;
}

static size_t iov_push(const struct iovec *iov, unsigned int n, const void *src, size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, in + done, chunk);
		done += chunk;
	}
	return done;
}

static bool sectors_in_range(const struct vb_blk_target *t, uint64_t sector, uint64_t bytes)
{
	uint64_t capacity = t->size >> VB_SECTOR_SHIFT;
	uint64_t count = bytes >> VB_SECTOR_SHIFT;

	return sector <= capacity && count <= capacity - sector;
}

static void finish_now(struct vb_blk_req *req, uint8_t status)
{
	req->op = VB_IO_NONE;
	req->status = status;
}

static void parse_rw(const struct vb_blk_target *t, struct vb_blk_req *req, bool write,
		     uint64_t sector, struct iovec *data, unsigned int ndata)
{
	uint64_t len = iov_total(data, ndata);

	if (write && t->readonly)
		return finish_now(req, VIRTIO_BLK_S_IOERR);
	/* No data in the request's direction: its buffers, if any, face the wrong way. */
	if (len == 0 || len % VB_SECTOR_SIZE || len > VB_REQ_MAX_BYTES ||
	    !sectors_in_range(t, sector, len)) {
		vb_debug("%s of %llu bytes at sector %llu refused", write ? "write" : "read",
			 (unsigned long long)len, (unsigned long long)sector);
		return finish_now(req, VIRTIO_BLK_S_IOERR);
	}
	req->op = write ? VB_IO_WRITE : VB_IO_READ;
	req->offset = sector << VB_SECTOR_SHIFT;
	req->len = len;
	req->iov = data;
	req->niov = ndata;
	if (!write)
		req->used_len = len + 1;
}

static void parse_discard_zeroes(const struct vb_blk_target *t, struct vb_blk_req *req,
				 bool zeroes, struct iovec *data, unsigned int ndata)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t allowed_flags = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;

	if (t->readonly)
		return finish_now(req, VIRTIO_BLK_S_IOERR);
	/* We advertise one segment per request. */
	if (iov_total(data, ndata) != sizeof(seg) || !iov_pull(&data, &ndata, &seg, sizeof(seg)))
		return finish_now(req, VIRTIO_BLK_S_UNSUPP);
	if (seg.flags & ~allowed_flags)
		return finish_now(req, VIRTIO_BLK_S_UNSUPP);
	if (seg.num_sectors > VB_DISCARD_MAX_SECTORS ||
	    !sectors_in_range(t, seg.sector, (uint64_t)seg.num_sectors << VB_SECTOR_SHIFT))
		return finish_now(req, VIRTIO_BLK_S_IOERR);
	if (seg.num_sectors == 0)
		return finish_now(req, VIRTIO_BLK_S_OK);
	req->op = zeroes ? VB_IO_WRITE_ZEROES : VB_IO_DISCARD;
	req->unmap = seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	req->offset = seg.sector << VB_SECTOR_SHIFT;
	req->len = (uint64_t)seg.num_sectors << VB_SECTOR_SHIFT;
}

void vb_blk_parse(const struct vb_blk_target *t, struct vb_blk_req *req)
{
	struct vb_chain *c = &req->chain;
	struct virtio_blk_outhdr hdr;
	struct iovec *out = c->iov, *in = c->iov + c->nout;
	unsigned int nout = c->nout, nin = c->niov - c->nout;
	struct iovec *last;

	req->used_len = 1;
	req->status_ptr = NULL;
	/* The status is the last byte of the last writable buffer. */
	if (!c->status_ok || nin == 0)
		return finish_now(req, VIRTIO_BLK_S_IOERR);
	last = &in[nin - 1];
	req->status_ptr = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		nin--;
	if (c->bad_addr || !iov_pull(&out, &nout, &hdr, sizeof(hdr)))
		return finish_now(req, VIRTIO_BLK_S_IOERR);

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(t, req, false, hdr.sector, in, nin);
	case VIRTIO_BLK_T_OUT:
		return parse_rw(t, req, true, hdr.sector, out, nout);
	case VIRTIO_BLK_T_FLUSH:
		req->op = VB_IO_FLUSH;
		return;
	case VIRTIO_BLK_T_GET_ID:
		req->used_len = iov_push(in, nin, t->serial, sizeof(t->serial)) + 1;
		return finish_now(req, VIRTIO_BLK_S_OK);
	case VIRTIO_BLK_T_DISCARD:
		return parse_discard_zeroes(t, req, false, out, nout);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_discard_zeroes(t, req, true, out, nout);
	default:
		return finish_now(req, VIRTIO_BLK_S_UNSUPP);
	}
}

uint8_t vb_blk_status_from_errno(int res)
{
	if (res >= 0)
		return VIRTIO_BLK_S_OK;
	return res == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

void vb_blk_copy(struct vb_blk_req *req, size_t skip, void *buf, bool to_guest)
{
	uint8_t *b = buf;

	for (unsigned int i = 0; i < req->niov; i++) {
		uint8_t *g = req->iov[i].iov_base;
		size_t len = req->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		g += skip;
		len -= skip;
		skip = 0;
		if (to_guest)
			memcpy(g, b, len);
		else
			memcpy(b, g, len);
		b += len;
	}
}
