/* Backing store: opening or creating the image or block device and learning its geometry. */
#ifndef VBRIDGE_DISK_H
#define VBRIDGE_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "util/fence.h"

struct vb_disk {
	int fd;
	char *path;
	uint64_t size;			/* bytes, a multiple of 512 */
	bool readonly;
	bool blockdev;
	bool direct;			/* opened with O_DIRECT */
	bool in_memory;			/* a file on tmpfs, ramfs or hugetlbfs: its I/O is a memory copy */
	uint32_t logical_block;		/* bytes; what the guest sees as blk_size */
	uint32_t physical_block;
	/* O_DIRECT needs buffers aligned to mem_align and lengths to offset_align. */
	uint32_t dio_mem_align;
	uint32_t dio_offset_align;
	/* Fallocate modes found unsupported at run time; written by any queue thread. */
	int no_zero_range;
	int no_punch_hole;
	/* Fences of writes a suspension left with the host, on fd (every queue's description). */
	struct vb_fence_set fences;
	int probe_fd;			/* a description of its own for probing fences; -1: none */
	void *remote;			/* storage an engine opened itself (open_disk); fd is -1 */
};

/*
 * Opens path. If it does not exist and create_size is non-zero, a sparse file
 * of that size is created. Errors are logged with the reason; returns -errno.
 */
int vb_disk_open(struct vb_disk *disk, const char *path, bool readonly, uint64_t create_size);
void vb_disk_close(struct vb_disk *disk);

#endif
