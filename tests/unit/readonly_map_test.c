/* Unit tests of per-region permissions: a hostile map puts device-writable buffers in read-only memory (VDUSE IOTLB entries without write access). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "tap.h"

#define QSZ 8
#define GPA_RW 0x10000ull	/* ring, headers and good buffers */
#define GPA_RO 0x20000ull	/* mapped without PROT_WRITE */
#define REGION 0x10000ull
#define DESC GPA_RW
#define AVAIL (GPA_RW + 0x1000)
#define USED (GPA_RW + 0x2000)

static struct vb_mem_table mem;
static struct vb_vring vr;
static struct vb_blk_target dev;
static struct vb_blk_req req;
static uint8_t *guest;		/* the guest's own, writable view of both regions */

static void *gp(uint64_t gpa)
{
	return guest + (gpa - GPA_RW);
}

static void setup(void)
{
	int fd = memfd_create("ro", 0);

	if (fd < 0 || ftruncate(fd, 2 * REGION) < 0)
		abort();
	guest = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (guest == MAP_FAILED)
		abort();
	if (vb_mem_add_exact(&mem, GPA_RW, REGION, fd, 0, true) < 0 ||
	    vb_mem_add_exact(&mem, GPA_RO, REGION, fd, REGION, false) < 0)
		abort();
	close(fd);
	vb_vring_start(&vr, QSZ, false, false, gp(DESC), gp(AVAIL), gp(USED), 0);
	dev.size = 1 << 20;
}

/* A three-descriptor request: header (device-readable), data, status. */
static void post(uint32_t type, uint64_t hdr, uint64_t data, bool data_writable, uint64_t status)
{
	struct virtio_blk_outhdr h = { .type = type };
	struct vring_desc *d = vr.desc;

	memcpy(gp(hdr), &h, sizeof(h));
	d[0] = (struct vring_desc){ hdr, sizeof(h), VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ data, 512,
				    VRING_DESC_F_NEXT | (data_writable ? VRING_DESC_F_WRITE : 0), 2 };
	d[2] = (struct vring_desc){ status, 1, VRING_DESC_F_WRITE, 0 };
	vr.avail->ring[vr.avail->idx % QSZ] = 0;
	vr.avail->idx++;
}

/* Fetches and parses the request, then stores what the device would: data for a read, the status. */
static enum vb_pop_result run(void)
{
	uint16_t head, ndesc;
	enum vb_pop_result r = vb_vring_pop_head(&vr, &head, &ndesc);
	const struct vb_chain *c = &req.chain;

	if (r != VB_POP_OK)
		return r;
	memset(&req, 0, sizeof(req));
	r = vb_vring_read_chain(&vr, &mem, head, &req.chain);
	if (r != VB_POP_OK)
		return r;
	vb_blk_parse(&dev, &req);
	if (req.op == VB_IO_READ)
		for (unsigned int i = c->nout; i < c->niov; i++)
			memset(c->iov[i].iov_base, 0x5a, c->iov[i].iov_len);
	if (req.status_ptr)
		*req.status_ptr = req.status;
	return r;
}

int main(void)
{
	struct vb_ring_addr addr = { .desc = DESC, .avail = AVAIL, .used = USED };
	struct vb_ring_areas areas;

	setup();
	ok(vb_mem_gpa_to_hva(&mem, GPA_RO, 1, false) && !vb_mem_gpa_to_hva(&mem, GPA_RO, 1, true) &&
	   vb_mem_gpa_to_hva(&mem, GPA_RW, 1, true),
	   "a read-only region translates for reading only");

	post(VIRTIO_BLK_T_IN, GPA_RW + 0x4000, GPA_RO + 0x1000, true, GPA_RW + 0x5000);
	ok(run() == VB_POP_OK && req.chain.bad_addr && req.op == VB_IO_NONE &&
	   *(uint8_t *)gp(GPA_RW + 0x5000) == VIRTIO_BLK_S_IOERR,
	   "a read into a read-only region fails with IOERR, nothing stored there");

	post(VIRTIO_BLK_T_IN, GPA_RW + 0x4000, GPA_RW + 0x6000, true, GPA_RO + 0x2000);
	ok(run() == VB_POP_OK && !req.chain.status_ok && !req.status_ptr,
	   "a status byte in a read-only region: the request is returned without a status");

	memset(gp(GPA_RW + 0x6000), 0, 512);
	post(VIRTIO_BLK_T_IN, GPA_RO + 0x3000, GPA_RW + 0x6000, true, GPA_RW + 0x5000);
	ok(run() == VB_POP_OK && !req.chain.bad_addr && req.op == VB_IO_READ &&
	   *(uint8_t *)gp(GPA_RW + 0x6000) == 0x5a,
	   "a header in a read-only region is fine: the device only reads it");

	post(VIRTIO_BLK_T_OUT, GPA_RW + 0x4000, GPA_RO + 0x4000, false, GPA_RW + 0x5000);
	ok(run() == VB_POP_OK && !req.chain.bad_addr && req.op == VB_IO_WRITE,
	   "a write from a read-only region is fine: the device only reads its data");

	ok(vb_vring_translate(&mem, &addr, QSZ, false, &areas) == NULL,
	   "a ring in writable memory translates");
	addr.used = GPA_RO;
	ok(vb_vring_translate(&mem, &addr, QSZ, false, &areas) != NULL,
	   "a used ring in a read-only region is refused");

	vb_mem_clear(&mem);
	munmap(guest, 2 * REGION);
	return tap_done();
}
