/* Unit tests of split-ring handling: chain walking, bounds, loops, indirect tables, used ring. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "virtio/virtqueue.h"
#include "tap.h"

#define QSZ 8
#define GPA_A 0x10000ull
#define GPA_B 0x20000ull	/* second region directly after the first */
#define REGION 0x10000ull

static struct vb_mem_table mem;
static struct vb_vring vr;
static void *g2h(uint64_t gpa)
{
	return vb_mem_gpa_to_hva(&mem, gpa, 1, false);
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
	vb_vring_start(&vr, QSZ, event_idx, false, g2h(GPA_A), g2h(GPA_A + 0x1000), g2h(GPA_A + 0x2000), 0);
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
	uint16_t ndesc;
	enum vb_pop_result r = vb_vring_pop_head(&vr, &head, &ndesc);

	return r == VB_POP_OK ? vb_vring_read_chain(&vr, &mem, head, c) : r;
}

#define AVAIL_F (1u << VRING_PACKED_DESC_F_AVAIL)
#define USED_F (1u << VRING_PACKED_DESC_F_USED)

/* Makes a packed descriptor available the way a driver on lap "wrap" does. */
static void pset(unsigned int slot, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags,
		 bool wrap)
{
	vr.pdesc[slot] = (struct vring_packed_desc){ .addr = addr, .len = len, .id = id,
		.flags = flags | (wrap ? AVAIL_F : USED_F) };
}

static void test_packed(void)
{
	static struct vb_chain c;
	struct vring_packed_desc *ind;
	uint16_t head, ndesc;

	setup(false);
	ok(vb_vring_start(&vr, QSZ, false, true, g2h(GPA_A), g2h(GPA_A + 0x1000),
			  g2h(GPA_A + 0x2000), 0x80008000u), "packed ring starts at base 0x80008000");
	ok(vb_vring_base(&vr) == 0x80008000u && vr.avail_wrap && vr.used_wrap,
	   "fresh packed base: both wrap counters set");
	ok(!vb_vring_start(&vr, QSZ, false, true, g2h(GPA_A), g2h(GPA_A + 0x1000),
			   g2h(GPA_A + 0x2000), QSZ), "packed base beyond the ring is refused");
	vb_vring_start(&vr, QSZ, false, true, g2h(GPA_A), g2h(GPA_A + 0x1000), g2h(GPA_A + 0x2000),
		       0x80008000u);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_EMPTY, "empty packed ring");

	pset(0, GPA_A + 0x4000, 16, 0, VRING_DESC_F_NEXT, true);
	pset(1, GPA_A + 0x5000, 512, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, true);
	pset(2, GPA_A + 0x6000, 1, 5, VRING_DESC_F_WRITE, true);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_OK && head == 5 && ndesc == 3 &&
	   vr.last_avail_idx == 3, "three-descriptor packed chain: buffer id from its last descriptor");
	ok(vb_vring_read_chain(&vr, &mem, head, &c) == VB_POP_OK && c.niov == 3 && c.nout == 1 &&
	   c.status_ok, "packed chain read");

	vb_vring_push_used(&vr, 5, 3, 513);
	ok(vr.pdesc[0].id == 5 && vr.pdesc[0].len == 513 &&
	   vr.pdesc[0].flags == (AVAIL_F | USED_F) && vr.used_idx == 3,
	   "used element written at the used slot with both flags of the lap");

	/* Rewritten between the scan and the read: the buffer id changed. */
	pset(3, GPA_A + 0x6000, 1, 6, VRING_DESC_F_WRITE, true);
	vb_vring_pop_head(&vr, &head, &ndesc);
	vr.pdesc[3].id = 7;
	ok(vb_vring_read_chain(&vr, &mem, head, &c) == VB_POP_BAD_CHAIN,
	   "a chain rewritten after the scan is refused");

	/* Indirect table. */
	ind = g2h(GPA_A + 0x8000);
	ind[0] = (struct vring_packed_desc){ GPA_A + 0x4000, 16, 0, 0 };
	ind[1] = (struct vring_packed_desc){ GPA_A + 0x5000, 4096, 0, VRING_DESC_F_WRITE };
	ind[2] = (struct vring_packed_desc){ GPA_A + 0x6000, 1, 0, VRING_DESC_F_WRITE };
	pset(4, GPA_A + 0x8000, 3 * sizeof(*ind), 2, VRING_DESC_F_INDIRECT, true);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_OK && head == 2 && ndesc == 1 &&
	   vb_vring_read_chain(&vr, &mem, head, &c) == VB_POP_OK && c.niov == 3 && c.status_ok,
	   "packed indirect table");
	ind[1].flags = VRING_DESC_F_INDIRECT;
	pset(5, GPA_A + 0x8000, 3 * sizeof(*ind), 2, VRING_DESC_F_INDIRECT, true);
	vb_vring_pop_head(&vr, &head, &ndesc);
	ok(vb_vring_read_chain(&vr, &mem, head, &c) == VB_POP_BAD_CHAIN,
	   "indirect inside a packed indirect table is refused");

	pset(6, GPA_A + 0x6000, 1, QSZ, VRING_DESC_F_WRITE, true);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_BROKEN, "buffer id beyond the ring breaks it");

	/* Wrap: a two-descriptor chain in the last slot and the first slot of the next lap. */
	setup(false);
	vb_vring_start(&vr, QSZ, false, true, g2h(GPA_A), g2h(GPA_A + 0x1000), g2h(GPA_A + 0x2000),
		       (QSZ - 1) | 0x8000 | ((uint32_t)(QSZ - 1) | 0x8000) << 16);
	pset(QSZ - 1, GPA_A + 0x4000, 16, 0, VRING_DESC_F_NEXT, true);
	pset(0, GPA_A + 0x6000, 1, 3, VRING_DESC_F_WRITE, false);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_OK && head == 3 && ndesc == 2 &&
	   vr.last_avail_idx == 1 && !vr.avail_wrap, "a chain across the end of the ring flips the avail wrap counter");
	ok(vb_vring_read_chain(&vr, &mem, head, &c) == VB_POP_OK && c.niov == 2, "and reads across it");
	vb_vring_push_used(&vr, 3, 2, 1);
	ok(vr.used_idx == 1 && !vr.used_wrap && vr.pdesc[QSZ - 1].flags == (AVAIL_F | USED_F) &&
	   vb_vring_base(&vr) == (1u | 1u << 16), "used index and wrap counter follow; base has both cleared wraps");
	pset(1, GPA_A + 0x6000, 1, 4, VRING_DESC_F_WRITE, true);
	ok(vb_vring_pop_head(&vr, &head, &ndesc) == VB_POP_EMPTY,
	   "a descriptor of the previous lap is not available");
	vb_vring_push_used(&vr, 4, 1, 1);
	ok(vr.pdesc[1].flags == 0, "used flags of the second lap are both clear");

	/* Event suppression. */
	vr.driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	ok(!vb_vring_need_notify(&vr), "driver disabled interrupts");
	vr.driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	ok(vb_vring_need_notify(&vr), "driver enabled interrupts");
	vb_vring_disable_kicks(&vr);
	ok(vr.device_event->flags == VRING_PACKED_EVENT_FLAG_DISABLE, "device disables kicks while fetching");
	ok(!vb_vring_enable_kicks(&vr) && vr.device_event->flags == VRING_PACKED_EVENT_FLAG_ENABLE,
	   "and enables them again, nothing new arrived");
	pset(vr.last_avail_idx, GPA_A + 0x6000, 1, 1, VRING_DESC_F_WRITE, vr.avail_wrap);
	ok(vb_vring_enable_kicks(&vr), "a descriptor made available meanwhile is reported");
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
	vb_vring_push_used(&vr, 5, 1, 513);
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
	vb_vring_push_used(&vr, 0, 1, 1);
	vb_vring_publish_used(&vr);
	ok(vb_vring_need_notify(&vr), "first notification with EVENT_IDX");
	vb_vring_push_used(&vr, 1, 1, 1);
	vb_vring_publish_used(&vr);
	ok(vb_vring_need_notify(&vr), "used_idx crossing used_event notifies");
	vb_vring_push_used(&vr, 2, 1, 1);
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

	test_packed();
	vb_mem_clear(&mem);
	return tap_done();
}
