/* Dirty page logging for live migration (LOG_SHMFD): marking the guest pages the device writes. */
#ifndef VBRIDGE_DIRTY_LOG_H
#define VBRIDGE_DIRTY_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

#define VB_LOG_PAGE_SHIFT 12

/*
 * The front-end's bitmap, one bit per 4 KiB guest page, indexed by guest
 * physical address. Queue threads set bits with atomic ors; the mapping only
 * changes while every queue thread is paused.
 */
struct vb_dirty_log {
	uint8_t *bitmap;	/* NULL: no log set */
	uint64_t size;		/* bytes of bitmap */
	void *mmap_base;
	size_t mmap_len;
};

/* Maps the log given by SET_LOG_BASE, replacing any previous one. Returns 0 or -errno (logged). */
int vb_dirty_log_map(struct vb_dirty_log *log, int fd, uint64_t size, uint64_t offset);
void vb_dirty_log_unmap(struct vb_dirty_log *log);
/* Unmaps and frees a log allocated with malloc; NULL is fine. */
void vb_dirty_log_free(struct vb_dirty_log *log);
/* Marks the pages of [gpa, gpa+len). Pages past the end of the bitmap are ignored. */
void vb_dirty_log_mark(struct vb_dirty_log *log, uint64_t gpa, uint64_t len);
/* Marks the guest pages behind host buffers that lie in guest memory. */
void vb_dirty_log_mark_iov(struct vb_dirty_log *log, const struct vb_mem_table *mem,
			   const struct iovec *iov, unsigned int niov);

#endif
