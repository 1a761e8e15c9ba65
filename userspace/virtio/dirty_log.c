/* Dirty page logging for live migration (LOG_SHMFD): marking the guest pages the device writes. */
#include "dirty_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/log.h"

int vb_dirty_log_map(struct vb_dirty_log *log, int fd, uint64_t size, uint64_t offset)
{
	void *base;

	if (size == 0 || offset + size < offset) {
		vb_err("dirty log of %llu bytes at offset %llu is invalid",
		       (unsigned long long)size, (unsigned long long)offset);
		return -EINVAL;
	}
	if (vb_fd_covers(fd, size + offset, "dirty log") < 0)
		return -EINVAL;
	base = mmap(NULL, size + offset, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int err = -errno;

		vb_err("cannot map the dirty log: %s", strerror(errno));
		return err;
	}
	vb_dirty_log_unmap(log);
	log->mmap_base = base;
	log->mmap_len = size + offset;
	log->bitmap = (uint8_t *)base + offset;
	log->size = size;
	return 0;
}

void vb_dirty_log_unmap(struct vb_dirty_log *log)
{
	if (log->mmap_base)
		munmap(log->mmap_base, log->mmap_len);
	memset(log, 0, sizeof(*log));
}

void vb_dirty_log_mark(struct vb_dirty_log *log, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (!log->bitmap || len == 0)
		return;
	page = gpa >> VB_LOG_PAGE_SHIFT;
	last = (gpa + len - 1) >> VB_LOG_PAGE_SHIFT;
	for (; page <= last && page / 8 < log->size; page++)
		__atomic_fetch_or(&log->bitmap[page / 8], 1u << (page % 8), __ATOMIC_RELAXED);
}

void vb_dirty_log_mark_iov(struct vb_dirty_log *log, const struct vb_mem_table *mem,
			   const struct iovec *iov, unsigned int niov)
{
	for (unsigned int i = 0; i < niov && log->bitmap; i++) {
		uint64_t gpa;

		/* Our iovecs never straddle regions: each maps back to one guest range. */
		if (vb_mem_hva_to_gpa(mem, iov[i].iov_base, &gpa))
			vb_dirty_log_mark(log, gpa, iov[i].iov_len);
	}
}

void vb_dirty_log_free(struct vb_dirty_log *log)
{
	if (log) {
		vb_dirty_log_unmap(log);
		free(log);
	}
}
