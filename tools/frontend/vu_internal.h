/* Helpers shared by the front-end library's source files; not part of the public API. */
#ifndef VBRIDGE_VU_INTERNAL_H
#define VBRIDGE_VU_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "vu_frontend.h"

/* Formats the reason into dev->err and returns -err (err is a positive errno). */
int vu_fail(struct vu_dev *dev, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The time left until deadline, a vu_now_ms() value (>= 0). */
int vu_ms_left(int64_t deadline);

/* Name of a request id, for messages. */
const char *vu_request_name(uint32_t request);

/* Unmaps and closes every guest memory region. */
void vu_mem_release_all(struct vu_dev *dev);

#endif
