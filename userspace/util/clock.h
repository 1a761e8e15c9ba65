/* Monotonic time in nanoseconds, for the delay engine's deadlines and the polling window. */
#ifndef VBRIDGE_CLOCK_H
#define VBRIDGE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t vb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#endif
