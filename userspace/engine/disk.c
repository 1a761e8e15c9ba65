/* Backing store: opening or creating the image or block device and learning its geometry. */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/log.h"

static int open_backing(const char *path, bool readonly, bool *direct)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd = open(path, flags | O_DIRECT);

	*direct = fd >= 0;
	/* tmpfs and some FUSE file systems refuse O_DIRECT: fall back to the page cache. */
	if (fd < 0 && errno == EINVAL)
		fd = open(path, flags);
	return fd;
}

static int create_sparse(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		close(fd);
		unlink(path);
		return err;
	}
	close(fd);
	vb_info("created sparse image %s (%llu bytes)", path, (unsigned long long)size);
	return 0;
}

static void probe_blockdev(struct vb_disk *disk)
{
	uint64_t bytes = 0;
	int lbs = 512;
	unsigned int pbs = 512;

	if (ioctl(disk->fd, BLKGETSIZE64, &bytes) == 0)
		disk->size = bytes;
	if (ioctl(disk->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
		disk->logical_block = lbs;
	if (ioctl(disk->fd, BLKPBSZGET, &pbs) == 0 && pbs >= disk->logical_block)
		disk->physical_block = pbs;
}

/* A file whose pages live in memory: reading it is a copy, unless the pages were swapped out. */
static bool file_in_memory(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC ||
	       sfs.f_type == HUGETLBFS_MAGIC;
}

static void probe_dio_alignment(struct vb_disk *disk)
{
	struct statx stx;

	disk->dio_mem_align = disk->logical_block;
	disk->dio_offset_align = disk->logical_block;
	if (!disk->direct)
		return;
	if (statx(disk->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		disk->dio_mem_align = stx.stx_dio_mem_align;
		disk->dio_offset_align = stx.stx_dio_offset_align;
	}
}

int vb_disk_open(struct vb_disk *disk, const char *path, bool readonly, uint64_t create_size)
{
	struct stat st;
	int err;

	memset(disk, 0, sizeof(*disk));
	disk->fd = -1;
	disk->probe_fd = -1;
	if (create_size && access(path, F_OK) < 0 && errno == ENOENT) {
		err = create_sparse(path, create_size);
		if (err < 0) {
			vb_err("cannot create %s: %s", path, strerror(-err));
			return err;
		}
	}
	disk->fd = open_backing(path, readonly, &disk->direct);
	if (disk->fd < 0) {
		err = -errno;
		vb_err("cannot open %s%s: %s", path, readonly ? " read-only" : "", strerror(errno));
		return err;
	}
	if (fstat(disk->fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	disk->readonly = readonly;
	disk->logical_block = 512;
	disk->physical_block = 512;
	if (S_ISBLK(st.st_mode)) {
		disk->blockdev = true;
		probe_blockdev(disk);
	} else if (S_ISREG(st.st_mode)) {
		disk->size = st.st_size;
		disk->in_memory = file_in_memory(disk->fd);
		if (st.st_blksize > 512 && st.st_blksize <= 65536)
			disk->physical_block = st.st_blksize;
	} else {
		vb_err("%s is neither a regular file nor a block device", path);
		err = -EINVAL;
		goto fail;
	}
	if (disk->size < disk->logical_block || disk->size % disk->logical_block) {
		vb_err("%s: size %llu is not a positive multiple of the %u-byte block size",
		       path, (unsigned long long)disk->size, disk->logical_block);
		err = -EINVAL;
		goto fail;
	}
	probe_dio_alignment(disk);
	disk->path = strdup(path);
	if (!disk->path) {
		err = -ENOMEM;
		goto fail;
	}
	vb_info("disk %s: %llu bytes, %s%s%s, block %u/%u", path, (unsigned long long)disk->size,
		disk->blockdev ? "block device" : "file", disk->in_memory ? " in memory" : "",
		disk->direct ? ", O_DIRECT" : "", disk->logical_block, disk->physical_block);
	if (!disk->direct)
		vb_info("disk %s is buffered (O_DIRECT refused): rings that may be suspended write with RWF_DSYNC, so that a fenced write is on the disk when its fence drops",
			path);
	vb_fence_set_init(&disk->fences, disk->fd, disk->size);
	disk->probe_fd = vb_fence_probe_open(path);
	if (disk->probe_fd < 0)
		vb_warn("disk %s: cannot open it for probing write fences (%s): requests left inflight by a suspension are resubmitted without waiting for the last back-end's writes",
			path, strerror(-disk->probe_fd));
	return 0;
fail:
	close(disk->fd);
	disk->fd = -1;
	return err;
}

void vb_disk_close(struct vb_disk *disk)
{
	if (disk->fd >= 0) {
		vb_fence_set_destroy(&disk->fences);
		close(disk->fd);
	}
	if (disk->probe_fd >= 0)
		close(disk->probe_fd);
	disk->probe_fd = -1;
	disk->fd = -1;
	free(disk->path);
	disk->path = NULL;
}
