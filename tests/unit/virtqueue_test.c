/* Unit tests of split-ring handling: chain walking, bounds, loops, indirect tables, used ring. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../userspace/virtqueue.h"
#include "tap.h"

#define QSZ 8
#define GPA_A 0x10000ull
#define GPA_B 0x20000ull	/* second region directly after the first */
#define REGION 0x10000ull

static struct vb_mem_table mem;
static struct vb_vring vr;
static void *g2h(uint64_t gpa)
{
	return vb_mem_gpa_to_hva(&mem, gpa, 1);
}

static void setup(bool event_idx)
{
	struct vhost_user_mem_region r = { .size = REGION, .mmap_offset = 0 };
	int fd = memfd_create("vq", 0);

	vb_mem_clear(&mem);
	if (ftruncate(fd, 2 * REGION) < 0)
		abort();
	/* Two regions over one memfd, adjacent in guest physical space. */
	r.guest_addr = GPA_A;
	r.user_addr = 0x7000000;
	vb_mem_add(&mem, &r, fd);
	r.guest_addr = GPA_B;
	r.user_addr = 0x7000000 + REGION;
	r.mmap_offset = REGION;
	vb_mem_add(&mem, &r, fd);
	close(fd);
	vb_vring_start(&vr, QSZ, event_idx, g2h(GPA_A), g2h(GPA_A + 0x1000), g2h(GPA_A + 0x2000), 0);
}

static void set_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vr.desc[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static void make_avail(uint16_t head)
{
	vr.avail->ring[vr.avail->idx % QSZ] = head;
	vr.avail->idx++;
}

static enum vb_pop_result pop(struct vb_chain *c)
{
	uint16_t head;
	enum vb_pop_result r = vb_vring_pop_head(&vr, &head);

	return r == VB_POP_OK ? vb_vring_read_chain(&vr, &mem, head, c) : r;
}

int main(void)
{
	static struct vb_chain c;
	struct vring_desc *ind;
	uint16_t avail_event;

	setup(false);
	ok(pop(&c) == VB_POP_EMPTY, "empty ring pops nothing");

	set_desc(0, GPA_A + 0x4000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, GPA_A + 0x5000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(2, GPA_A + 0x6000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_OK && c.niov == 3 && c.nout == 1 && c.status_ok && !c.bad_addr,
	   "three-descriptor chain: 1 readable, 2 writable");
	ok(c.iov[1].iov_base == g2h(GPA_A + 0x5000) && c.iov[1].iov_len == 512,
	   "data descriptor translated to host memory");

	/* A buffer straddling the two regions becomes two iovecs. */
	set_desc(0, GPA_B - 100, 200, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_OK && c.niov == 2 && c.iov[0].iov_len == 100 &&
	   c.iov[1].iov_len == 100, "buffer across two regions is split");

	set_desc(0, GPA_A + 0x4000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0xdead0000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	make_avail(0);
	ok(pop(&c) == VB_POP_OK && c.bad_addr && c.status_ok && c.niov == 2,
	   "address outside guest memory is flagged, status stays writable");

	set_desc(0, GPA_B + REGION - 8, 16, 0, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_OK && c.bad_addr && !c.status_ok,
	   "buffer running past the end of guest memory is flagged");

	set_desc(0, GPA_A + 0x4000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, GPA_A + 0x5000, 16, VRING_DESC_F_NEXT, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "looping chain is refused");

	set_desc(0, GPA_A + 0x4000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, GPA_A + 0x5000, 16, VRING_DESC_F_NEXT, 200);
	make_avail(0);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "next index beyond the table is refused");

	set_desc(0, GPA_A + 0x4000, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(1, GPA_A + 0x5000, 16, 0, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "readable descriptor after a writable one is refused");

	/* Indirect table with a header, data and status. */
	ind = g2h(GPA_A + 0x8000);
	ind[0] = (struct vring_desc){ GPA_A + 0x4000, 16, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ GPA_A + 0x5000, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	ind[2] = (struct vring_desc){ GPA_A + 0x6000, 1, VRING_DESC_F_WRITE, 0 };
	set_desc(3, GPA_A + 0x8000, 3 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	make_avail(3);
	ok(pop(&c) == VB_POP_OK && c.head == 3 && c.niov == 3 && c.nout == 1 && c.status_ok,
	   "indirect table walked");

	ind[1].flags = VRING_DESC_F_INDIRECT;
	make_avail(3);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "indirect table inside an indirect table is refused");

	ind[1] = (struct vring_desc){ GPA_A + 0x5000, 16, VRING_DESC_F_NEXT, 0 };
	make_avail(3);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "loop inside an indirect table is refused");

	set_desc(3, GPA_A + 0x8000, 20, VRING_DESC_F_INDIRECT, 0);
	make_avail(3);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "indirect table of a length not a multiple of 16 is refused");

	set_desc(3, GPA_A + 0x8000, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 0);
	make_avail(3);
	ok(pop(&c) == VB_POP_BAD_CHAIN, "indirect descriptor with NEXT is refused");

	vr.avail->ring[vr.avail->idx % QSZ] = QSZ + 1;
	vr.avail->idx++;
	ok(pop(&c) == VB_POP_BROKEN, "head index out of range breaks the ring");

	setup(false);
	vr.avail->idx = QSZ + 1;
	ok(pop(&c) == VB_POP_BROKEN, "avail index more than a queue ahead breaks the ring");

	/* Used ring and notification without EVENT_IDX. */
	setup(false);
	vb_vring_push_used(&vr, 5, 513);
	ok(vr.used->idx == 0, "used entry is not visible before publishing");
	vb_vring_publish_used(&vr);
	ok(vr.used->idx == 1 && vr.used->ring[0].id == 5 && vr.used->ring[0].len == 513,
	   "published used entry");
	ok(vb_vring_need_notify(&vr), "notify when the driver did not suppress interrupts");
	vr.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	ok(!vb_vring_need_notify(&vr), "no notification with VRING_AVAIL_F_NO_INTERRUPT");

	/* EVENT_IDX: notify only when used crosses used_event. */
	setup(true);
	vr.avail->ring[QSZ] = 1;	/* used_event: interrupt once used->idx passes 1 */
	vb_vring_push_used(&vr, 0, 1);
	vb_vring_publish_used(&vr);
	ok(vb_vring_need_notify(&vr), "first notification with EVENT_IDX");
	vb_vring_push_used(&vr, 1, 1);
	vb_vring_publish_used(&vr);
	ok(vb_vring_need_notify(&vr), "used_idx crossing used_event notifies");
	vb_vring_push_used(&vr, 2, 1);
	vb_vring_publish_used(&vr);
	ok(!vb_vring_need_notify(&vr), "past used_event: suppressed");
	ok(!vb_vring_enable_kicks(&vr), "no entries arrived while kicks were off");
	memcpy(&avail_event, &vr.used->ring[QSZ], sizeof(avail_event));
	ok(avail_event == vr.last_avail_idx, "avail_event set to the next entry to fetch");
	make_avail(0);
	ok(vb_vring_enable_kicks(&vr), "entries that arrived meanwhile are reported");

	/* Wrap-around of the 16-bit indexes. */
	setup(false);
	vr.last_avail_idx = 0xffff;
	vr.avail->idx = 0xffff;
	set_desc(0, GPA_A + 0x6000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	ok(pop(&c) == VB_POP_OK && vr.last_avail_idx == 0, "avail index wraps at 65536");

	vb_mem_clear(&mem);
	return tap_done();
}
