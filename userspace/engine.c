/* I/O engine selection: parsing --engine and the null engine, which does no I/O at all. */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"

static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
};

static int parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(end, duration_units[i].suffix) == 0) {
			if (v > VB_ENGINE_DELAY_MAX_NS / duration_units[i].ns)
				return -1;
			*ns = v * duration_units[i].ns;
			return 0;
		}
	}
	return -1;
}

int vb_engine_parse(const char *spec, struct vb_engine *e, char *err, size_t errlen)
{
	*e = (struct vb_engine){ .kind = VB_ENGINE_URING };
	if (strcmp(spec, "uring") == 0 || strcmp(spec, "io_uring") == 0)
		return 0;
	if (strcmp(spec, "null") == 0) {
		e->kind = VB_ENGINE_NULL;
		return 0;
	}
	if (strcmp(spec, "kabort") == 0) {
		e->kind = VB_ENGINE_KABORT;
		return 0;
	}
	if (strncmp(spec, "delay:", 6) == 0) {
		e->kind = VB_ENGINE_DELAY;
		if (parse_duration(spec + 6, &e->delay_ns) == 0 && e->delay_ns > 0)
			return 0;
		snprintf(err, errlen, "'%s': expected delay:DURATION with a unit, from 1ns to 60s, e.g. delay:100ms",
			 spec);
		return -1;
	}
	snprintf(err, errlen, "'%s': expected uring, kabort, null or delay:DURATION", spec);
	return -1;
}

const char *vb_engine_describe(const struct vb_engine *e, char *buf, size_t len)
{
	size_t u = sizeof(duration_units) / sizeof(duration_units[0]);

	switch (e->kind) {
	case VB_ENGINE_URING:
		return "uring";
	case VB_ENGINE_NULL:
		return "null";
	case VB_ENGINE_KABORT:
		return "kabort";
	case VB_ENGINE_DELAY:
		/* The largest unit that divides the delay exactly reads best. */
		while (--u > 0 && e->delay_ns % duration_units[u].ns)
			;
		snprintf(buf, len, "delay:%" PRIu64 "%s", e->delay_ns / duration_units[u].ns,
			 duration_units[u].suffix);
		return buf;
	}
	return "?";
}

void vb_null_execute(struct vb_blk_req *req)
{
	if (req->op == VB_IO_NONE)
		return;
	if (req->op == VB_IO_READ) {
		for (unsigned int i = 0; i < req->niov; i++)
			memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
	}
	req->status = VIRTIO_BLK_S_OK;
}
