/* Latency histogram with logarithmic buckets (HDR style): fixed size, no allocation when recording. */
#ifndef VBRIDGE_BENCH_HIST_H
#define VBRIDGE_BENCH_HIST_H

#include <stdint.h>

/*
 * Values (nanoseconds) below 2^HIST_SUB_BITS are exact; above, each power of
 * two is split into 2^HIST_SUB_BITS / 2 equal buckets, so a reported value is
 * within 1/64 (1.6 %) of the recorded one. Values from 2^HIST_MAX_BITS
 * (about 18 minutes) up land in the last bucket.
 */
#define HIST_SUB_BITS 7
#define HIST_MAX_BITS 40
#define HIST_HALF (1u << (HIST_SUB_BITS - 1))
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 2) * HIST_HALF)

struct hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Adds every sample of from to into. */
void hist_merge(struct hist *into, const struct hist *from);
/* The value at quantile q (0..1): the upper bound of the bucket holding the
 * ceil(q * count)-th smallest sample, clamped to [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
uint64_t hist_mean(const struct hist *h);

#endif
