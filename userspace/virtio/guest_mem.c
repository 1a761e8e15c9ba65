/* Guest memory map: regions shared by the front-end and translation of guest and front-end addresses. */
#include "guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

static bool range_ok(uint64_t start, uint64_t len)
{
	return len != 0 && start + len > start;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vb_fd_covers(int fd, uint64_t end, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		vb_err("%s: cannot stat its file descriptor: %s", what, strerror(errno));
		return -EINVAL;
	}
	/* Only regular files (memfds among them) have a size that can be checked. */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end) {
		vb_err("%s: the file is %llu bytes, %llu are needed", what,
		       (unsigned long long)st.st_size, (unsigned long long)end);
		return -EINVAL;
	}
	return 0;
}

/* Whether [gpa, gpa+size) can join the table: valid, a free slot, and overlapping no region. */
static int check_new(const struct vb_mem_table *mem, uint64_t gpa, uint64_t size)
{
	if (!range_ok(gpa, size))
		return -EINVAL;
	if (mem->nregions == VB_MEM_SLOTS_MAX)
		return -ENOSPC;
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct vb_mem_region *r = &mem->regions[i];

		if (ranges_overlap(r->gpa, r->size, gpa, size))
			return -EEXIST;
	}
	return 0;
}

/* Appends a region over a new mapping; -ENOMEM (mapping unmapped) without memory for its record. */
static int insert(struct vb_mem_table *mem, uint64_t gpa, uint64_t size, uint64_t uva,
		  void *base, size_t len, uint64_t hva_offset, bool writable)
{
	struct vb_mem_region *r = &mem->regions[mem->nregions];
	struct vb_mapping *m = malloc(sizeof(*m));

	if (!m) {
		munmap(base, len);
		return -ENOMEM;
	}
	*m = (struct vb_mapping){ .refs = 1, .base = base, .len = len };
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->hva = (uint8_t *)base + hva_offset;
	r->writable = writable;
	r->mapping = m;
	/* Queue threads may be looking (see miss): the region is complete before they can see it. */
	__atomic_store_n(&mem->nregions, mem->nregions + 1, __ATOMIC_RELEASE);
	return 0;
}

int vb_mem_add(struct vb_mem_table *mem, const struct vhost_user_mem_region *reg, int fd)
{
	void *base;
	size_t len;
	int ret;

	if (!range_ok(reg->user_addr, reg->size) ||
	    reg->mmap_offset + reg->size < reg->mmap_offset || fd < 0)
		return -EINVAL;
	ret = check_new(mem, reg->guest_addr, reg->size);
	if (ret < 0)
		return ret;
	/*
	 * Map from offset 0 like other back-ends do: hugetlbfs rejects offsets
	 * that are not huge-page aligned, while mmap_offset need not be.
	 */
	len = reg->mmap_offset + reg->size;
	if (vb_fd_covers(fd, len, "memory region") < 0)
		return -EINVAL;
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	return insert(mem, reg->guest_addr, reg->size, reg->user_addr, base, len,
		      reg->mmap_offset, true);
}

int vb_mem_add_exact(struct vb_mem_table *mem, uint64_t gpa, uint64_t size, int fd,
		     uint64_t offset, bool writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *base;
	int ret;

	if (fd < 0 || offset % (uint64_t)sysconf(_SC_PAGESIZE) || offset + size < offset)
		return -EINVAL;
	ret = check_new(mem, gpa, size);
	if (ret < 0)
		return ret;
	base = mmap(NULL, size, prot, MAP_SHARED | MAP_NORESERVE, fd, (off_t)offset);
	if (base == MAP_FAILED)
		return -errno;
	return insert(mem, gpa, size, gpa, base, size, 0, writable);
}

static void region_unmap(struct vb_mem_region *r)
{
	struct vb_mapping *m = r->mapping;

	if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		munmap(m->base, m->len);
		free(m);
	}
}

struct vb_mem_table *vb_mem_new(void)
{
	struct vb_mem_table *mem = calloc(1, sizeof(*mem));

	if (mem)
		mem->refs = 1;
	return mem;
}

struct vb_mem_table *vb_mem_copy(const struct vb_mem_table *mem)
{
	struct vb_mem_table *copy = vb_mem_new();

	if (!copy || !mem)
		return copy;
	copy->nregions = __atomic_load_n(&mem->nregions, __ATOMIC_ACQUIRE);
	memcpy(copy->regions, mem->regions, copy->nregions * sizeof(copy->regions[0]));
	for (unsigned int i = 0; i < copy->nregions; i++)
		__atomic_add_fetch(&copy->regions[i].mapping->refs, 1, __ATOMIC_RELAXED);
	copy->miss = mem->miss;
	copy->miss_ctx = mem->miss_ctx;
	return copy;
}

struct vb_mem_table *vb_mem_get(struct vb_mem_table *mem)
{
	if (mem)
		__atomic_add_fetch(&mem->refs, 1, __ATOMIC_RELAXED);
	return mem;
}

void vb_mem_put(struct vb_mem_table *mem)
{
	if (!mem || __atomic_sub_fetch(&mem->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	vb_mem_clear(mem);
	free(mem);
}

int vb_mem_remove(struct vb_mem_table *mem, const struct vhost_user_mem_region *reg)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		struct vb_mem_region *r = &mem->regions[i];

		if (r->gpa != reg->guest_addr || r->size != reg->size || r->uva != reg->user_addr)
			continue;
		region_unmap(r);
		mem->regions[i] = mem->regions[--mem->nregions];
		return 0;
	}
	return -ENOENT;
}

void vb_mem_clear(struct vb_mem_table *mem)
{
	for (unsigned int i = 0; i < mem->nregions; i++)
		region_unmap(&mem->regions[i]);
	mem->nregions = 0;
}

static unsigned int regions_of(const struct vb_mem_table *mem)
{
	return mem ? __atomic_load_n(&mem->nregions, __ATOMIC_ACQUIRE) : 0;
}

static const struct vb_mem_region *lookup_gpa(const struct vb_mem_table *mem, uint64_t gpa)
{
	unsigned int n = regions_of(mem);

	for (unsigned int i = 0; i < n; i++) {
		const struct vb_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

static const struct vb_mem_region *find_gpa(const struct vb_mem_table *mem, uint64_t gpa)
{
	const struct vb_mem_region *r = lookup_gpa(mem, gpa);

	/* The hook appends to this very map, which is why it gets it without const. */
	if (!r && mem && mem->miss && mem->miss(mem->miss_ctx, (struct vb_mem_table *)mem, gpa))
		r = lookup_gpa(mem, gpa);
	return r;
}

/*
 * The host pointer for [addr, addr+len) in region r, where off is addr's
 * offset in it; NULL if the range leaves the region or write meets a
 * read-only one (a store there would be SIGSEGV).
 */
static void *in_region(const struct vb_mem_region *r, uint64_t off, uint64_t len, bool write)
{
	if (len > r->size - off || (write && !r->writable))
		return NULL;
	return r->hva + off;
}

void *vb_mem_gpa_to_hva(const struct vb_mem_table *mem, uint64_t gpa, uint64_t len, bool write)
{
	const struct vb_mem_region *r = find_gpa(mem, gpa);

	return r ? in_region(r, gpa - r->gpa, len, write) : NULL;
}

void *vb_mem_uva_to_hva(const struct vb_mem_table *mem, uint64_t uva, uint64_t len, bool write)
{
	unsigned int n = regions_of(mem);

	for (unsigned int i = 0; i < n; i++) {
		const struct vb_mem_region *r = &mem->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size)
			return in_region(r, uva - r->uva, len, write);
	}
	return NULL;
}

bool vb_mem_hva_to_gpa(const struct vb_mem_table *mem, const void *hva, uint64_t *gpa)
{
	const uint8_t *p = hva;
	unsigned int n = regions_of(mem);

	for (unsigned int i = 0; i < n; i++) {
		const struct vb_mem_region *r = &mem->regions[i];

		if (p >= r->hva && (uint64_t)(p - r->hva) < r->size) {
			*gpa = r->gpa + (p - r->hva);
			return true;
		}
	}
	return false;
}

int vb_mem_gpa_to_iov(const struct vb_mem_table *mem, uint64_t gpa, uint32_t len, bool write,
		      struct iovec *iov, unsigned int *niov, unsigned int max)
{
	if (gpa + len < gpa)
		return -EFAULT;
	while (len > 0) {
		const struct vb_mem_region *r = find_gpa(mem, gpa);
		uint64_t off, chunk;

		if (!r)
			return -EFAULT;
		if (write && !r->writable)
			return -EACCES;
		if (*niov == max)
			return -E2BIG;
		off = gpa - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		iov[*niov].iov_base = r->hva + off;
		iov[*niov].iov_len = chunk;
		(*niov)++;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}
