/* Unit tests of dirty page logging: bit layout, ranges across pages, bounds, host-buffer translation. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/dirty_log.h"
#include "tap.h"

static bool bit(const struct vb_dirty_log *log, uint64_t page)
{
	return log->bitmap[page / 8] & (1u << (page % 8));
}

static unsigned int count_bits(const struct vb_dirty_log *log)
{
	unsigned int n = 0;

	for (uint64_t i = 0; i < log->size * 8; i++)
		n += bit(log, i);
	return n;
}

int main(void)
{
	struct vb_dirty_log log = { 0 };
	struct vb_mem_table mem = { 0 };
	struct vhost_user_mem_region r = { .guest_addr = 0x100000, .size = 0x10000,
					   .user_addr = 0x7f0000, .mmap_offset = 0 };
	int fd = memfd_create("log", 0), mfd = memfd_create("mem", 0);
	struct iovec iov[2];

	if (ftruncate(fd, 4096) < 0 || ftruncate(mfd, 0x10000) < 0)
		return 1;
	ok(vb_dirty_log_map(&log, fd, 64, 0) == 0 && log.size == 64, "64-byte log covers 512 pages");
	vb_dirty_log_mark(&log, 0x5000, 1);
	ok(bit(&log, 5) && count_bits(&log) == 1, "one byte marks its page (bit 5 of byte 0)");
	vb_dirty_log_mark(&log, 0x9fff, 2);
	ok(bit(&log, 9) && bit(&log, 10) && count_bits(&log) == 3, "two bytes across a page boundary mark both pages");
	vb_dirty_log_mark(&log, 0x20000, 0x3000);
	ok(bit(&log, 32) && bit(&log, 33) && bit(&log, 34) && !bit(&log, 35), "a 12 KiB range marks three pages");
	vb_dirty_log_mark(&log, 511ull << 12, 8192);
	ok(bit(&log, 511) && count_bits(&log) == 7, "pages past the end of the bitmap are ignored");
	vb_dirty_log_mark(&log, UINT64_MAX - 10, 5);
	ok(count_bits(&log) == 7, "an address far beyond the bitmap is ignored");

	vb_mem_add(&mem, &r, mfd);
	iov[0].iov_base = vb_mem_gpa_to_hva(&mem, 0x102000, 16, false);
	iov[0].iov_len = 16;
	iov[1].iov_base = &r;		/* not guest memory */
	iov[1].iov_len = 16;
	vb_dirty_log_mark_iov(&log, &mem, iov, 2);
	ok(bit(&log, 0x102) && count_bits(&log) == 8, "host buffers map back to their guest page; others are skipped");

	vb_dirty_log_unmap(&log);
	vb_dirty_log_mark(&log, 0, 4096);
	ok(log.bitmap == NULL, "marking without a log does nothing");
	vb_mem_clear(&mem);
	return tap_done();
}
