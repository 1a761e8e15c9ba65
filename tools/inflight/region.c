/* Reads an inflight region into memory and works out its stride and number of queues. */
#include "inflight_tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Real regions are KiB to a few MiB (16 bytes per descriptor); the cap only
 * keeps a wrong argument (a disk image, /dev/zero) from eating the memory.
 */
#define MAX_REGION_SIZE ((size_t)1 << 30)

const char *const layout_name[N_LAYOUTS] = {
	"libvhost-user",
	"DPDK/vbridge",
	"yc-libvhost-server",
};

size_t layout_stride(unsigned int layout, uint16_t desc_num)
{
	size_t descs = (size_t)desc_num * sizeof(struct vb_inflight_desc_split);

	switch (layout) {
	case 0:
		/* libvhost-user counts the header as one u16; the alignment hides that. */
		return (descs + sizeof(uint16_t) + VB_INFLIGHT_ALIGN - 1) &
		       ~(size_t)(VB_INFLIGHT_ALIGN - 1);
	case 1:
		return vb_inflight_split_stride(desc_num);
	default:
		return vb_inflight_split_min_size(desc_num);
	}
}

uint16_t region_u16(const struct region *r, size_t off)
{
	uint16_t v = 0;

	if (off <= r->size && r->size - off >= sizeof(v))
		memcpy(&v, r->data + off, sizeof(v));
	return v;
}

uint64_t region_u64(const struct region *r, size_t off)
{
	uint64_t v = 0;

	if (off <= r->size && r->size - off >= sizeof(v))
		memcpy(&v, r->data + off, sizeof(v));
	return v;
}

/*
 * Copying rather than mapping: a live memfd can be truncated by its owner
 * while we look, and a mapping would then die of SIGBUS.
 */
static bool read_seekable(struct region *r, int fd, size_t size)
{
	size_t off = 0;

	r->data = malloc(size ? size : 1);
	if (!r->data) {
		fprintf(stderr, "vbridge-inflight: %s: out of memory for %zu bytes\n", r->name, size);
		return false;
	}
	while (off < size) {
		ssize_t n = pread(fd, r->data + off, size - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "vbridge-inflight: %s: %s\n", r->name, strerror(errno));
			return false;
		}
		if (n == 0) {
			fprintf(stderr, "vbridge-inflight: %s: shrank from %zu to %zu bytes while being read\n",
				r->name, size, off);
			return false;
		}
		off += (size_t)n;
	}
	r->size = size;
	return true;
}

/* Pipes and the like: no size to trust, read to the end. */
static bool read_stream(struct region *r, int fd)
{
	size_t cap = 0;

	r->size = 0;
	for (;;) {
		ssize_t n;

		if (r->size == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *p;

			if (cap >= MAX_REGION_SIZE) {
				fprintf(stderr, "vbridge-inflight: %s: larger than %zu bytes, not an inflight region\n",
					r->name, MAX_REGION_SIZE);
				return false;
			}
			p = realloc(r->data, ncap);
			if (!p) {
				fprintf(stderr, "vbridge-inflight: %s: out of memory\n", r->name);
				return false;
			}
			r->data = p;
			cap = ncap;
		}
		n = read(fd, r->data + r->size, cap - r->size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "vbridge-inflight: %s: %s\n", r->name, strerror(errno));
			return false;
		}
		if (n == 0)
			return true;
		r->size += (size_t)n;
	}
}

bool region_read(struct region *r, int fd)
{
	struct stat st;
	bool ok;

	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "vbridge-inflight: %s: %s\n", r->name, strerror(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vbridge-inflight: %s: is a directory\n", r->name);
		return false;
	}
	if (S_ISREG(st.st_mode)) {
		if ((uintmax_t)st.st_size > MAX_REGION_SIZE) {
			fprintf(stderr, "vbridge-inflight: %s: %jd bytes is larger than any inflight region\n",
				r->name, (intmax_t)st.st_size);
			return false;
		}
		ok = read_seekable(r, fd, (size_t)st.st_size);
	} else {
		ok = read_stream(r, fd);
	}
	if (ok && r->size == 0) {
		fprintf(stderr, "vbridge-inflight: %s: empty, no queue region in it\n", r->name);
		return false;
	}
	return ok;
}

void region_free(struct region *r)
{
	free(r->data);
	r->data = NULL;
	r->size = 0;
}

static uint16_t header_version(const struct region *r, size_t stride, size_t q)
{
	return region_u16(r, q * stride + offsetof(struct vb_inflight_split, version));
}

static uint16_t header_desc_num(const struct region *r, size_t stride, size_t q)
{
	return region_u16(r, q * stride + offsetof(struct vb_inflight_split, desc_num));
}

/* Why stride does not fit, in why (empty when it does); counts the headers initialised for desc_num. */
static void try_stride(const struct region *r, size_t stride, uint16_t desc_num, char *why,
		       size_t len, size_t *initialised)
{
	size_t n = r->size / stride;

	why[0] = 0;
	*initialised = 0;
	if (r->size % stride) {
		snprintf(why, len, "%zu bytes is not a multiple of it", r->size);
		return;
	}
	for (size_t q = 0; q < n; q++) {
		uint16_t version = header_version(r, stride, q);
		uint16_t d = header_desc_num(r, stride, q);

		if (version > VB_INFLIGHT_VERSION) {
			snprintf(why, len, "queue %zu would have version %u", q, version);
			return;
		}
		if (version == 0)
			continue;
		if (d != desc_num) {
			snprintf(why, len, "queue %zu would have desc_num %u", q, d);
			return;
		}
		(*initialised)++;
	}
}

void layout_describe(size_t stride, uint16_t desc_num, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		if (layout_stride(l, desc_num) != stride)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", layout_name[l]);
		if (used >= len)
			return;
	}
}

static bool layout_given(struct region *r, unsigned int num_queues)
{
	uint16_t version, d;

	if (r->size % num_queues) {
		fprintf(stderr, "vbridge-inflight: %s: %zu bytes is not a multiple of %u queues\n",
			r->name, r->size, num_queues);
		return false;
	}
	r->stride = r->size / num_queues;
	r->num_queues = num_queues;
	if (r->stride < sizeof(struct vb_inflight_split)) {
		fprintf(stderr, "vbridge-inflight: %s: a stride of %zu bytes cannot hold a %zu-byte queue header\n",
			r->name, r->stride, sizeof(struct vb_inflight_split));
		return false;
	}
	/*
	 * Queue 0's header is what the given count is checked against; a header
	 * that is itself garbage is left to the per-queue checks to report.
	 */
	version = header_version(r, r->stride, 0);
	d = header_desc_num(r, r->stride, 0);
	if (version == VB_INFLIGHT_VERSION && vb_inflight_split_min_size(d) > r->stride) {
		fprintf(stderr, "vbridge-inflight: %s: a stride of %zu bytes (%u queues) cannot hold the "
			"%u descriptors of queue 0 (%zu bytes); is --queues right?\n",
			r->name, r->stride, num_queues, d, vb_inflight_split_min_size(d));
		return false;
	}
	return true;
}

static bool layout_guessed(struct region *r)
{
	uint16_t d = header_desc_num(r, 0, 0);
	size_t strides[N_LAYOUTS], initialised[N_LAYOUTS];
	char why[N_LAYOUTS][96];
	unsigned int n = 0, plausible = 0, best = 0;
	bool tie = false;

	if (d == 0) {
		fprintf(stderr, "vbridge-inflight: %s: queue 0 has desc_num 0 (not initialised?), so the "
			"stride cannot be derived from it; pass --queues N\n", r->name);
		return false;
	}
	/* Peers that agree on a stride are one candidate, not several. */
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		size_t s = layout_stride(l, d);
		bool seen = false;

		for (unsigned int i = 0; i < n; i++)
			seen |= strides[i] == s;
		if (!seen)
			strides[n++] = s;
	}
	for (unsigned int i = 0; i < n; i++) {
		try_stride(r, strides[i], d, why[i], sizeof(why[i]), &initialised[i]);
		if (why[i][0])
			continue;
		/*
		 * Zeroed bytes read as uninitialised headers, so a wrong stride can
		 * look plausible when both divide the size; the stride that finds
		 * more initialised headers is the one that hits real ones.
		 */
		if (plausible == 0 || initialised[i] > initialised[best]) {
			best = i;
			tie = false;
		} else if (initialised[i] == initialised[best]) {
			tie = true;
		}
		plausible++;
	}
	if (plausible > 0 && !tie) {
		r->stride = strides[best];
		r->num_queues = (unsigned int)(r->size / r->stride);
		return true;
	}
	fprintf(stderr, "vbridge-inflight: %s: cannot tell the layout of %zu bytes from queue 0's desc_num %u:\n",
		r->name, r->size, d);
	for (unsigned int i = 0; i < n; i++) {
		char names[128];

		layout_describe(strides[i], d, names, sizeof(names));
		fprintf(stderr, "  stride %zu (%s): %s\n", strides[i], names,
			why[i][0] ? why[i] : "fits, but so does another");
	}
	fprintf(stderr, "vbridge-inflight: pass --queues N to read it as N queues\n");
	return false;
}

bool region_layout(struct region *r, unsigned int num_queues)
{
	if (r->size < sizeof(struct vb_inflight_split)) {
		fprintf(stderr, "vbridge-inflight: %s: %zu bytes is too small for a %zu-byte queue header\n",
			r->name, r->size, sizeof(struct vb_inflight_split));
		return false;
	}
	return num_queues ? layout_given(r, num_queues) : layout_guessed(r);
}
