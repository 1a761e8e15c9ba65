/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* The vbabort ioctl ABI: block I/O through kernel bounce pages that can be aborted. */
#ifndef _UAPI_LINUX_VBABORT_H
#define _UAPI_LINUX_VBABORT_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * Every structure has a fixed size that is part of its ioctl number, so a
 * caller built against another layout gets -ENOTTY rather than misread
 * fields. Reserved fields and unknown flags must be zero (-EINVAL).
 * Documentation/vbabort.rst is the reference.
 */
#define VBABORT_ABI_VERSION	5	/* 2: VBABORT_REQ_FUA, 3: fences, 4: SUBMIT_REAP,
					 * 5: VBABORT_BIND_DIRECT_WRITES
					 */

/*
 * Limits; they bound the memory a context can pin. The module parameters
 * context_pages and total_pages bound the bounce pages further.
 */
#define VBABORT_MAX_BATCH	256	/* requests per SUBMIT, entries per REAP */
#define VBABORT_MAX_REQS	256	/* requests a context owns at once */
#define VBABORT_MAX_SEGS	16	/* iovec entries per read or write */
#define VBABORT_MAX_IO_BYTES	(256 * 1024)	/* data per read or write */
#define VBABORT_MAX_TIMEOUT_MS	60000
#define VBABORT_DEFAULT_DEPTH	64	/* bios in flight when BIND says 0 */

enum vbabort_op {
	VBABORT_OP_READ		= 0,
	VBABORT_OP_WRITE	= 1,
	VBABORT_OP_FLUSH	= 2,
	VBABORT_OP_DISCARD	= 3,
	VBABORT_OP_WRITE_ZEROES	= 4,
};

enum vbabort_fate {
	VBABORT_FATE_COMPLETED	= 0,	/* ran to the end; result says how */
	VBABORT_FATE_CANCELLED	= 1,	/* never reached the device */
	VBABORT_FATE_ABANDONED	= 2,	/* read left in flight, buffers untouched */
	VBABORT_FATE_UNFENCED	= 3,	/* write-like op still running */
};

struct vbabort_version {
	__u32 abi_version;	/* out: VBABORT_ABI_VERSION */
	__u32 max_batch;	/* out: the limits above */
	__u32 max_reqs;
	__u32 max_segs;
	__u32 max_io_bytes;
	__u32 max_timeout_ms;
	__u32 reserved[2];	/* in: zero */
};

/*
 * BIND flags (ABI version 5): writes whose buffers meet the device's
 * alignment are read from the user's pages, pinned until the write ends,
 * instead of being copied at SUBMIT; their buffers must not change until
 * the write is reported.
 */
#define VBABORT_BIND_DIRECT_WRITES	0x1U

/* BIND out_flags */
#define VBABORT_BOUND_READONLY	0x1U

struct vbabort_bind {
	__u32 abi_version;	/* in: 1..VBABORT_ABI_VERSION, else -EPROTO */
	__s32 fd;		/* in: an open block device */
	__s32 eventfd;		/* in: signalled on each completion, or -1 */
	__u32 queue_depth;	/* in: bios in flight at once, 0 = default */
	__u32 flags;		/* in: VBABORT_BIND_*; zero before version 5 */
	__u32 logical_block_size;	/* out */
	__u64 nr_sectors;	/* out: device size in 512-byte sectors */
	__u32 out_flags;	/* out: VBABORT_BOUND_* */
	__u32 reserved[5];	/* in: zero */
};

struct vbabort_iovec {
	__u64 base;		/* user address */
	__u64 len;		/* bytes */
};

struct vbabort_req {
	__u64 tag;		/* echoed in the completion */
	__u64 sector;		/* 512-byte units; zero for flush */
	__u64 iov;		/* read/write: user address of vbabort_iovec[] */
	__u32 iov_cnt;		/* read/write: 1..VBABORT_MAX_SEGS, else zero */
	__u32 nr_sectors;	/* discard/write-zeroes: length, else zero */
	__u16 op;		/* enum vbabort_op */
	__u16 flags;		/* VBABORT_REQ_*; zero with ABI version 1 */
	__u32 reserved[3];	/* zero */
};

/* vbabort_req flags (ABI version 2) */
#define VBABORT_REQ_FUA	0x1U	/* write: durable before it completes */

struct vbabort_submit {
	__u64 reqs;		/* user address of vbabort_req[nr] */
	__u32 nr;		/* 1..VBABORT_MAX_BATCH, else -E2BIG / -EINVAL */
	__u32 flags;		/* zero */
	__u64 reserved[2];	/* zero */
};

/* A completion (REAP) or a request's fate (ABORT). */
struct vbabort_cqe {
	__u64 tag;
	__s32 result;		/* 0 or -errno; -ECANCELED, -EINPROGRESS otherwise */
	__u8 fate;		/* enum vbabort_fate */
	__u8 op;		/* enum vbabort_op */
	__u16 reserved;		/* zero */
};

struct vbabort_reap {
	__u64 cqes;		/* user address of vbabort_cqe[nr] */
	__u32 nr;		/* 1..VBABORT_MAX_BATCH */
	__u32 min_complete;	/* wait for this many (<= nr) ... */
	__u32 timeout_ms;	/* ... at most this long */
	__u32 flags;		/* zero */
	__u64 reserved;		/* zero */
};

/* SUBMIT then REAP in one call (ABI version 4). */
struct vbabort_submit_reap {
	__u64 reqs;		/* user address of vbabort_req[nr_reqs] */
	__u64 cqes;		/* user address of vbabort_cqe[nr_cqes] */
	__u32 nr_reqs;		/* 0..VBABORT_MAX_BATCH */
	__u32 nr_cqes;		/* 0..VBABORT_MAX_BATCH; not both 0 */
	__u32 min_complete;	/* wait for this many (<= nr_cqes) ... */
	__u32 timeout_ms;	/* ... at most this long */
	__u32 submitted;	/* out: requests accepted */
	__s32 error;		/* out: why the next one was refused, or 0 */
	__u32 flags;		/* zero */
	__u32 reserved[3];	/* zero */
};

struct vbabort_abort {
	__u64 fates;		/* user address of vbabort_cqe[nr] */
	__u32 nr;		/* in: capacity; out: entries written or needed */
	__u32 timeout_ms;	/* wait for write-like requests this long */
	__u32 flags;		/* zero */
	__u32 count[4];		/* out: entries per enum vbabort_fate */
	__u32 reserved[3];	/* zero */
};

struct vbabort_orphans {
	__u32 timeout_ms;	/* in: how long to wait, 0 = just look */
	__u32 flags;		/* in: zero */
	__u32 contexts;		/* out: closed contexts overlapping this one not yet gone */
	__u32 bios;		/* out: their bios still in flight */
	__u64 reserved[2];	/* zero */
};

#define VBABORT_IOC_MAGIC	0xBA
#define VBABORT_IOC_VERSION	_IOWR(VBABORT_IOC_MAGIC, 0x00, struct vbabort_version)
#define VBABORT_IOC_BIND	_IOWR(VBABORT_IOC_MAGIC, 0x01, struct vbabort_bind)
#define VBABORT_IOC_SUBMIT	_IOW(VBABORT_IOC_MAGIC, 0x02, struct vbabort_submit)
#define VBABORT_IOC_REAP	_IOW(VBABORT_IOC_MAGIC, 0x03, struct vbabort_reap)
#define VBABORT_IOC_ABORT	_IOWR(VBABORT_IOC_MAGIC, 0x04, struct vbabort_abort)
#define VBABORT_IOC_WAIT_ORPHANS _IOWR(VBABORT_IOC_MAGIC, 0x05, struct vbabort_orphans)
#define VBABORT_IOC_SUBMIT_REAP	_IOWR(VBABORT_IOC_MAGIC, 0x06, struct vbabort_submit_reap)

#endif /* _UAPI_LINUX_VBABORT_H */
