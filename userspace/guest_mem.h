/* Guest memory map: regions shared by the front-end and translation of guest and front-end addresses. */
#ifndef VBRIDGE_GUEST_MEM_H
#define VBRIDGE_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost_user_proto.h"

/* What GET_MAX_MEM_SLOTS reports; SET_MEM_TABLE alone carries at most 8. */
#define VB_MEM_SLOTS_MAX 32

struct vb_mem_region {
	uint64_t gpa;		/* guest physical address of the first byte */
	uint64_t size;
	uint64_t uva;		/* the front-end's virtual address of the first byte */
	uint8_t *hva;		/* our mapping of the first byte */
	void *mmap_base;	/* what to munmap */
	size_t mmap_len;
};

/*
 * Regions never overlap in guest physical space. The table is read by queue
 * threads without locks: the control thread changes it only while every
 * queue thread is paused (see device.c).
 */
struct vb_mem_table {
	unsigned int nregions;		/* read with acquire: it may grow while queues run */
	struct vb_mem_region regions[VB_MEM_SLOTS_MAX];
	/*
	 * For front doors that learn mappings only when they are used (VDUSE
	 * maps its bounce area on the driver's first I/O, telling no one): a
	 * queue thread that finds no region for gpa calls miss, which may add
	 * regions with vb_mem_add_exact (serialising itself; regions are only
	 * ever appended, never moved, while queues run) and returns whether it
	 * did. NULL: a miss is an error.
	 */
	bool (*miss)(void *ctx, uint64_t gpa);
	void *miss_ctx;
};

/*
 * Whether fd can back [0, end): a file shorter than that would kill the
 * daemon with SIGBUS when the missing pages are touched. Returns 0 or
 * -EINVAL (reason logged with what).
 */
int vb_fd_covers(int fd, uint64_t end, const char *what);
/* Maps fd (not consumed) as a new region; -EINVAL, -ENOSPC, -EEXIST or the mmap errno. */
int vb_mem_add(struct vb_mem_table *mem, const struct vhost_user_mem_region *reg, int fd);
/*
 * Maps [offset, offset+size) of fd (not consumed; offset page-aligned) as the
 * region at gpa, its front-end address being gpa too: what VDUSE's IOTLB
 * hands out, where the file (a kernel bounce or ring area) has no size to
 * check and offsets reach past where mapping from 0 would be sensible.
 */
int vb_mem_add_exact(struct vb_mem_table *mem, uint64_t gpa, uint64_t size, int fd,
		     uint64_t offset, bool writable);
/* Unmaps the region matching guest_addr, size and user_addr; -ENOENT if none. */
int vb_mem_remove(struct vb_mem_table *mem, const struct vhost_user_mem_region *reg);
void vb_mem_clear(struct vb_mem_table *mem);

/* Host pointer for [gpa, gpa+len) if it lies within one region, else NULL. */
void *vb_mem_gpa_to_hva(const struct vb_mem_table *mem, uint64_t gpa, uint64_t len);
/* Same for a front-end virtual address (vring addresses are given that way). */
void *vb_mem_uva_to_hva(const struct vb_mem_table *mem, uint64_t uva, uint64_t len);
/* The guest physical address of a host pointer into guest memory; false if it is not in it. */
bool vb_mem_hva_to_gpa(const struct vb_mem_table *mem, const void *hva, uint64_t *gpa);
/*
 * Describes [gpa, gpa+len) as iovecs, one per region it crosses, appended at
 * iov[*niov]. Returns 0, -EFAULT if any byte is outside guest memory, or
 * -E2BIG if more than max iovecs would be needed.
 */
int vb_mem_gpa_to_iov(const struct vb_mem_table *mem, uint64_t gpa, uint32_t len,
		      struct iovec *iov, unsigned int *niov, unsigned int max);

#endif
