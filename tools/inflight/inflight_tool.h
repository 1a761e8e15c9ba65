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

/* A private copy of the region, so a peer changing or shrinking it cannot hurt us. */
struct region {
	const char *name;	/* for messages: the file name or "fd N" */
	uint8_t *data;
	size_t size;
	size_t stride;
	unsigned int num_queues;
};

/* Fails with a message on stderr and returns false; fd is read from offset 0 when seekable. */
bool region_read(struct region *r, int fd);
void region_free(struct region *r);

/*
 * Sets r->stride and r->num_queues: from num_queues when non-zero, else by
 * trying the strides known peers use. Prints why on failure.
 */
bool region_layout(struct region *r, unsigned int num_queues);
/* The per-queue strides known peers use, by layout. */
#define N_LAYOUTS 3
extern const char *const layout_name[N_LAYOUTS];
size_t layout_stride(unsigned int layout, uint16_t desc_num);
/* The names of the layouts whose stride for desc_num is stride, ", "-separated; "" if none. */
void layout_describe(size_t stride, uint16_t desc_num, char *buf, size_t len);

/* Field readers that stay inside the region and tolerate any alignment. */
uint16_t region_u16(const struct region *r, size_t off);
uint64_t region_u64(const struct region *r, size_t off);

struct inflight_entry {
	uint64_t counter;
	uint16_t desc;
};

struct queue_report {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct inflight_entry *inflight;	/* in counter order */
	size_t n_inflight;
	/* Distinct heads on the batch list before it repeats; -1 when not walked. */
	long chain_distinct;
	char **errors;			/* each "queue Q: ..." */
	size_t n_errors;
	size_t n_suppressed;		/* further errors counted, not kept */
};

/* Decodes and checks every queue; reports has r->num_queues entries. Returns false on ENOMEM. */
bool inspect(const struct region *r, struct queue_report *reports);
void report_free(struct queue_report *q);

#endif
