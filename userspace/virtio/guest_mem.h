/* Guest memory map: regions shared by the front-end and translation of guest and front-end addresses. */
#ifndef VBRIDGE_GUEST_MEM_H
#define VBRIDGE_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vhost_user_proto.h"

/* What GET_MAX_MEM_SLOTS reports; SET_MEM_TABLE alone carries at most 8. */
#define VB_MEM_SLOTS_MAX 32

/* One mmap of a front-end file, shared by every map that holds a region over it. */
struct vb_mapping {
	int refs;		/* atomic: the regions (of any map) that use it */
	void *base;		/* what to munmap */
	size_t len;
};

struct vb_mem_region {
	uint64_t gpa;		/* guest physical address of the first byte */
	uint64_t size;
	uint64_t uva;		/* the front-end's virtual address of the first byte */
	uint8_t *hva;		/* our mapping of the first byte */
	bool writable;		/* mapped PROT_WRITE: the device may write here */
	struct vb_mapping *mapping;
};

/*
 * A memory map: the regions the front-end shares, never overlapping in
 * guest physical space. Once published (vb_device_set_mem) a map does not
 * change, except that miss may append regions to it; a changed memory table
 * is a new map. Queue threads read maps without locks. Each holder (the
 * device, a queue thread, a request) keeps a reference; the last put unmaps
 * what no other map shares and frees the map. Maps built in place (tests)
 * have refs 0 and are only ever cleared.
 */
struct vb_mem_table {
	int refs;			/* atomic */
	unsigned int nregions;		/* read with acquire: miss may append while queues run */
	struct vb_mem_region regions[VB_MEM_SLOTS_MAX];
	/*
	 * For front doors that learn mappings only when they are used (VDUSE
	 * maps its bounce area on the driver's first I/O, telling no one): a
	 * queue thread that finds no region for gpa calls miss, which may add
	 * regions to that map with vb_mem_add_exact (serialising itself;
	 * regions are only ever appended, never moved, while queues run) and
	 * returns whether it did. NULL: a miss is an error.
	 */
	bool (*miss)(void *ctx, struct vb_mem_table *mem, uint64_t gpa);
	void *miss_ctx;
};

/* An empty map with one reference, or NULL without memory. */
struct vb_mem_table *vb_mem_new(void);
/* A new map (one reference) with the regions and miss hook of mem (NULL: empty), sharing their mappings. */
struct vb_mem_table *vb_mem_copy(const struct vb_mem_table *mem);
/* Takes a reference (mem may be NULL); returns mem. */
struct vb_mem_table *vb_mem_get(struct vb_mem_table *mem);
/* Drops a reference (mem may be NULL); the last one unmaps and frees. */
void vb_mem_put(struct vb_mem_table *mem);

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

/*
 * Host pointer for [gpa, gpa+len) if it lies within one region (a writable
 * one if write: the device will store there), else NULL. mem may be NULL.
 */
void *vb_mem_gpa_to_hva(const struct vb_mem_table *mem, uint64_t gpa, uint64_t len, bool write);
/* Same for a front-end virtual address (vring addresses are given that way). */
void *vb_mem_uva_to_hva(const struct vb_mem_table *mem, uint64_t uva, uint64_t len, bool write);
/* The guest physical address of a host pointer into guest memory; false if it is not in it. */
bool vb_mem_hva_to_gpa(const struct vb_mem_table *mem, const void *hva, uint64_t *gpa);
/*
 * Describes [gpa, gpa+len) as iovecs, one per region it crosses, appended at
 * iov[*niov]. Returns 0, -EFAULT if any byte is outside guest memory,
 * -EACCES if write and a byte is in a read-only region, or -E2BIG if more
 * than max iovecs would be needed.
 */
int vb_mem_gpa_to_iov(const struct vb_mem_table *mem, uint64_t gpa, uint32_t len, bool write,
		      struct iovec *iov, unsigned int *niov, unsigned int max);

#endif
