/* Command-line numbers shared by the daemon and the tools: bounded integers and sizes with K/M/G/T suffixes. */
#ifndef VBRIDGE_VB_PARSE_H
#define VBRIDGE_VB_PARSE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* strtoull would take "-1" as 2^64 - 1: a sign is never a valid count. */
static inline int vb_parse_u64_prefix(const char *s, uint64_t *out, char **end)
{
	if (*s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, end, 10);
	return errno || *end == s ? -1 : 0;
}

/* A decimal integer and nothing else. Returns 0 or -1. */
static inline int vb_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	return vb_parse_u64_prefix(s, out, &end) < 0 || *end ? -1 : 0;
}

/* A decimal integer from min to max. Returns 0 or -1. */
static inline int vb_parse_uint(const char *s, unsigned int min, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (vb_parse_u64(s, &v) < 0 || v < min || v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* Bytes, with an optional K, M, G or T suffix (powers of 1024). Returns 0 or -1. */
static inline int vb_parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	uint64_t v;
	char *end;

	if (vb_parse_u64_prefix(s, &v, &end) < 0)
		return -1;
	switch (*end) {
	case 'T': case 't': shift += 10; /* fall through */
	case 'G': case 'g': shift += 10; /* fall through */
	case 'M': case 'm': shift += 10; /* fall through */
	case 'K': case 'k': shift += 10; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

#endif
