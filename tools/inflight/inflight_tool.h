/* Shared model of vbridge-inflight: a region read into memory, its layout and the per-queue findings. */
#ifndef VBRIDGE_INFLIGHT_TOOL_H
#define VBRIDGE_INFLIGHT_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_inflight.h"

/* Exit statuses, part of the command's interface. */
#define EXIT_CONSISTENT 0
#define EXIT_VIOLATIONS 1
#define EXIT_USAGE 2

/* The vhost-user protocol carries num_queues in 16 bits. */
#define MAX_QUEUES UINT16_MAX

/* Which queue region layout to read: given by --split/--packed, or detected. */
enum ring_format {
	FORMAT_AUTO,
	FORMAT_SPLIT,
	FORMAT_PACKED,
};

/* A private copy of the region, so a peer changing or shrinking it cannot hurt us. */
struct region {
	const char *name;	/* for messages: the file name or "fd N" */
	uint8_t *data;
	size_t size;
	size_t stride;
	unsigned int num_queues;
	bool packed;		/* queue regions are struct vb_inflight_packed */
};

/* Fails with a message on stderr and returns false; fd is read from offset 0 when seekable. */
bool region_read(struct region *r, int fd);
void region_free(struct region *r);

/*
 * Sets r->stride, r->num_queues and r->packed: the stride from num_queues
 * when non-zero, else by trying the strides known peers use; the layout from
 * format, else from the sizes and the contents. Prints why on failure.
 */
bool region_layout(struct region *r, unsigned int num_queues, enum ring_format format);
/* The per-queue strides known peers use, by layout; a layout is split or packed. */
#define N_LAYOUTS 4
extern const char *const layout_name[N_LAYOUTS];
bool layout_packed(unsigned int layout);
size_t layout_stride(unsigned int layout, uint16_t desc_num);
/* The names of the layouts of that kind whose stride for desc_num is stride, ", "-separated; "" if none. */
void layout_describe(size_t stride, uint16_t desc_num, bool packed, char *buf, size_t len);

/* Field readers that stay inside the region and tolerate any alignment; 0 past the end. */
uint8_t region_u8(const struct region *r, size_t off);
uint16_t region_u16(const struct region *r, size_t off);
uint32_t region_u32(const struct region *r, size_t off);
uint64_t region_u64(const struct region *r, size_t off);

/* A packed chain's descriptor, as copied into an inflight entry. */
struct desc_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t entry;		/* the inflight entry holding it */
};

struct inflight_entry {
	uint64_t counter;
	uint16_t desc;		/* split: the head descriptor; packed: the head entry */
	/* Packed only. */
	uint16_t id;		/* buffer id: the chain's last copy's (the head's if last is unusable) */
	uint16_t num;		/* descriptors in the chain, as recorded */
	size_t first_copy;	/* into queue_report.copies: the chain's copies that could be walked */
	size_t n_copies;
};

struct queue_report {
	bool packed;
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;	/* split */
	uint16_t used_idx;
	/* Packed only. */
	uint16_t free_head, old_free_head;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter, old_used_wrap_counter;
	bool completion_pending;	/* used_idx/wrap differ from old_*: an interrupted completion */
	long fetch_entry;		/* head entry of an interrupted fetch; -1 if none */
	long free_entries;		/* on the free list (see packed.c); -1 when not walked */
	long free_entries_old;		/* on the free list from old_free_head; -1 when not walked */
	struct desc_copy *copies;
	size_t n_copies;

	struct inflight_entry *inflight;	/* in counter order */
	size_t n_inflight;
	/* Distinct heads on the batch list before it repeats; -1 when not walked (split). */
	long chain_distinct;
	char **errors;			/* each "queue Q: ..." */
	size_t n_errors;
	size_t n_suppressed;		/* further errors counted, not kept */
	char **warnings;		/* each "queue Q: ...": states a restart resolves */
	size_t n_warnings;
};

/* Decodes and checks every queue; reports has r->num_queues entries. Returns false on ENOMEM. */
bool inspect(const struct region *r, struct queue_report *reports);
void report_free(struct queue_report *q);

/* Checking one queue region (inspect.c, packed.c). */
struct ctx {
	const struct region *r;
	struct queue_report *q;
	unsigned int index;
	size_t base;		/* offset of the queue region */
	bool oom;
};

/* A garbage queue would otherwise print one line per descriptor. */
#define MAX_KEPT_ERRORS 32
#define MAX_DESC_NUM 32768

__attribute__((format(printf, 2, 3)))
void fail(struct ctx *c, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void warning(struct ctx *c, const char *fmt, ...);
bool valid_desc_num(uint16_t d);

/* A queue layout: what its inflight flags are called, how to read the i-th, its size for desc_num. */
struct slot_kind {
	uint8_t (*inflight)(const struct ctx *c, size_t i);
	const char *name;	/* in "NAME 7: inflight byte is 2" */
	const char *one, *many;	/* "1 ONE marked", "2 MANY marked" */
	size_t (*min_size)(uint16_t desc_num);
};
/*
 * Checks a queue's header: its version and, for a queue not initialised yet
 * (version 0), that none of its slots is marked inflight, which is then all
 * there is to check (true). Otherwise its desc_num, against queue ref_queue's
 * and the stride; *n gets how many slots can be read.
 */
bool header_checked(struct ctx *c, uint16_t ref_desc_num, unsigned int ref_queue, size_t capacity,
		    const struct slot_kind *k, size_t *n);
int by_counter(const void *a, const void *b);
void check_packed_queue(struct ctx *c, uint16_t ref_desc_num, unsigned int ref_queue);
void read_packed_header(const struct region *r, size_t base, struct queue_report *q);

#endif
