/* I/O engine selection: how a queue executes the disk operations of parsed requests. */
#ifndef VBRIDGE_ENGINE_H
#define VBRIDGE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct vb_blk_req;

enum vb_engine_kind {
	VB_ENGINE_URING,	/* io_uring on the backing disk */
	VB_ENGINE_DELAY,	/* io_uring, after holding each request delay_ns in the daemon */
	VB_ENGINE_NULL,		/* no I/O: reads return zeroes, everything succeeds */
	VB_ENGINE_KABORT,	/* the vbabort kernel module, io_uring for what it cannot take */
};

struct vb_engine {
	enum vb_engine_kind kind;
	uint64_t delay_ns;	/* VB_ENGINE_DELAY only */
};

/* Longest delay the delay engine accepts; anything longer is a typo, not a test. */
#define VB_ENGINE_DELAY_MAX_NS (60ull * 1000000000ull)

/*
 * Parses "uring", "null", "kabort" or "delay:DURATION" (DURATION: an integer with an
 * ns, us, ms or s suffix, e.g. delay:100ms). On failure writes the reason to
 * err and returns -1.
 */
int vb_engine_parse(const char *spec, struct vb_engine *e, char *err, size_t errlen);
/* Describes e for logs, e.g. "delay:100ms"; buf needs 32 bytes. */
const char *vb_engine_describe(const struct vb_engine *e, char *buf, size_t len);
/* The null engine's whole job: a read gets zeroes in every buffer, any operation succeeds. */
void vb_null_execute(struct vb_blk_req *req);

#endif
