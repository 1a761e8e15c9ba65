/* Front-end guest memory: memfd regions, SET_MEM_TABLE, gpa/pointer translation and a first-fit allocator. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vu_internal.h"

int vu_mem_add_region(struct vu_dev *dev, uint64_t gpa, uint64_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vu_region *r;
	int fd;
	void *p;

	if (dev->nregions >= VU_MAX_REGIONS)
		return vu_fail(dev, ENOSPC, "too many regions");
	if (size == 0 || size % page || gpa % page)
		return vu_fail(dev, EINVAL, "region gpa/size must be page multiples");
	for (unsigned i = 0; i < dev->nregions; i++) {
		const struct vu_region *o = &dev->regions[i];

		if (gpa < o->gpa + o->size && o->gpa < gpa + size)
			return vu_fail(dev, EINVAL, "region overlaps region %u", i);
	}
	fd = memfd_create("vu-guest-mem", MFD_CLOEXEC);
	if (fd < 0)
		return vu_fail(dev, errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = errno;

		close(fd);
		return vu_fail(dev, err, "ftruncate memfd: %s", strerror(err));
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(fd);
		return vu_fail(dev, err, "mmap memfd: %s", strerror(err));
	}
	r = &dev->regions[dev->nregions];
	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->host = p;
	r->fd = fd;
	return (int)dev->nregions++;
}

void vu_mem_release_all(struct vu_dev *dev)
{
	for (unsigned i = 0; i < dev->nregions; i++) {
		struct vu_region *r = &dev->regions[i];

		munmap(r->host, r->size);
		close(r->fd);
		free(r->blocks);
		memset(r, 0, sizeof(*r));
		r->fd = -1;
	}
	dev->nregions = 0;
}

uint32_t vu_mem_table_payload(const struct vu_dev *dev, void *buf, int *fds)
{
	struct {
		uint32_t nregions;
		uint32_t padding;
	} head = { .nregions = dev->nregions };
	uint8_t *out = buf;

	memcpy(out, &head, sizeof(head));
	for (unsigned i = 0; i < dev->nregions; i++) {
		const struct vu_region *r = &dev->regions[i];
		struct vhost_user_mem_region m = {
			.guest_addr = r->gpa,
			.size = r->size,
			.user_addr = (uint64_t)(uintptr_t)r->host,
			.mmap_offset = 0,
		};

		memcpy(out + sizeof(head) + i * sizeof(m), &m, sizeof(m));
		if (fds)
			fds[i] = r->fd;
	}
	return sizeof(head) + dev->nregions * sizeof(struct vhost_user_mem_region);
}

int vu_mem_set_table(struct vu_dev *dev)
{
	uint8_t buf[8 + VU_MAX_REGIONS * sizeof(struct vhost_user_mem_region)];
	int fds[VU_MAX_REGIONS];
	uint32_t len = vu_mem_table_payload(dev, buf, fds);

	return vu_request(dev, VHOST_USER_SET_MEM_TABLE, buf, len, fds, dev->nregions);
}

void *vu_gpa_to_ptr(const struct vu_dev *dev, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < dev->nregions; i++) {
		const struct vu_region *r = &dev->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t vu_ptr_to_gpa(const struct vu_dev *dev, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;

	for (unsigned i = 0; i < dev->nregions; i++) {
		const struct vu_region *r = &dev->regions[i];
		uintptr_t base = (uintptr_t)r->host;

		if (p >= base && p - base < r->size)
			return r->gpa + (p - base);
	}
	return VU_GPA_INVALID;
}

static void *alloc_in(struct vu_region *r, uint64_t size, uint64_t align)
{
	uint64_t start = 0;

	for (unsigned i = 0; i <= r->nblocks; i++) {
		uint64_t off = (start + align - 1) & ~(align - 1);
		uint64_t end = i < r->nblocks ? r->blocks[i].off : r->size;

		if (off <= end && end - off >= size) {
			if (r->nblocks == r->cap) {
				unsigned cap = r->cap ? r->cap * 2 : 32;
				void *nb = realloc(r->blocks, cap * sizeof(*r->blocks));

				if (!nb)
					return NULL;
				r->blocks = nb;
				r->cap = cap;
			}
			memmove(&r->blocks[i + 1], &r->blocks[i],
				(r->nblocks - i) * sizeof(*r->blocks));
			r->blocks[i].off = off;
			r->blocks[i].len = size;
			r->nblocks++;
			memset(r->host + off, 0, size);
			return r->host + off;
		}
		if (i < r->nblocks)
			start = r->blocks[i].off + r->blocks[i].len;
	}
	return NULL;
}

static void *alloc_range(struct vu_dev *dev, unsigned first, unsigned last,
			 uint64_t size, uint64_t align)
{
	if (align == 0)
		align = 16;
	if (align & (align - 1)) {
		vu_fail(dev, EINVAL, "alignment %llu is not a power of two",
			(unsigned long long)align);
		return NULL;
	}
	if (size == 0)
		size = 1;
	for (unsigned i = first; i < last && i < dev->nregions; i++) {
		void *p = alloc_in(&dev->regions[i], size, align);

		if (p)
			return p;
	}
	vu_fail(dev, ENOMEM, "guest memory exhausted (%llu bytes wanted)",
		(unsigned long long)size);
	return NULL;
}

void *vu_mem_alloc(struct vu_dev *dev, uint64_t size, uint64_t align)
{
	return alloc_range(dev, 0, dev->nregions, size, align);
}

void *vu_mem_alloc_in(struct vu_dev *dev, unsigned region, uint64_t size, uint64_t align)
{
	return alloc_range(dev, region, region + 1, size, align);
}

void vu_mem_free(struct vu_dev *dev, void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;

	if (!ptr)
		return;
	for (unsigned i = 0; i < dev->nregions; i++) {
		struct vu_region *r = &dev->regions[i];
		uintptr_t base = (uintptr_t)r->host;

		if (p < base || p - base >= r->size)
			continue;
		for (unsigned j = 0; j < r->nblocks; j++) {
			if (r->blocks[j].off == p - base) {
				memmove(&r->blocks[j], &r->blocks[j + 1],
					(r->nblocks - j - 1) * sizeof(*r->blocks));
				r->nblocks--;
				return;
			}
		}
	}
}
