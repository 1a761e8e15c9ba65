/* Reads an inflight region into memory and works out its stride and number of queues. */
#include "inflight_tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Real regions are KiB to a few MiB (16 or 32 bytes per descriptor); the cap
 * only keeps a wrong argument (a disk image, /dev/zero) from eating the memory.
 */
#define MAX_REGION_SIZE ((size_t)1 << 30)

/* Split layouts first; only DPDK and vbridge implement the packed one (with the same stride). */
const char *const layout_name[N_LAYOUTS] = {
	"libvhost-user",
	"DPDK/vbridge",
	"yc-libvhost-server",
	"DPDK/vbridge",
};

bool layout_packed(unsigned int layout)
{
	return layout == 3;
}

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
	case 2:
		return vb_inflight_split_min_size(desc_num);
	default:
		return vb_inflight_stride(desc_num, 1);
	}
}

static const char *format_name(bool packed)
{
	return packed ? "packed" : "split";
}

static size_t header_size(bool packed)
{
	return packed ? offsetof(struct vb_inflight_packed, desc) : sizeof(struct vb_inflight_split);
}

uint8_t region_u8(const struct region *r, size_t off)
{
	return off < r->size ? r->data[off] : 0;
}

uint16_t region_u16(const struct region *r, size_t off)
{
	uint16_t v = 0;

	if (off <= r->size && r->size - off >= sizeof(v))
		memcpy(&v, r->data + off, sizeof(v));
	return v;
}

uint32_t region_u32(const struct region *r, size_t off)
{
	uint32_t v = 0;

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


/* desc_num and version sit at the same offsets in split and packed headers. */
static uint16_t header_version(const struct region *r, size_t stride, size_t q)
{
	return region_u16(r, q * stride + offsetof(struct vb_inflight_split, version));
}

static uint16_t header_desc_num(const struct region *r, size_t stride, size_t q)
{
	return region_u16(r, q * stride + offsetof(struct vb_inflight_split, desc_num));
}

/* One way of reading the region: a queue region layout at a stride. */
struct candidate {
	size_t stride;
	bool packed;
	char why[128];		/* why it does not fit; "" when it does */
	size_t initialised;	/* headers found initialised for desc_num */
	int reads_well;		/* -1 not tried, else see reads_well() */
};

/* Why stride does not fit, in c->why (empty when it does); counts the headers initialised for desc_num. */
static void try_stride(const struct region *r, struct candidate *c, uint16_t desc_num)
{
	size_t n = r->size / c->stride;

	c->why[0] = 0;
	c->initialised = 0;
	c->reads_well = -1;
	if (r->size % c->stride) {
		snprintf(c->why, sizeof(c->why), "%zu bytes is not a multiple of it", r->size);
		return;
	}
	if (n > MAX_QUEUES) {
		snprintf(c->why, sizeof(c->why), "it would make %zu queues, more than the protocol's %u", n,
			 MAX_QUEUES);
		return;
	}
	for (size_t q = 0; q < n; q++) {
		uint16_t version = header_version(r, c->stride, q);
		uint16_t d = header_desc_num(r, c->stride, q);

		if (version > VB_INFLIGHT_VERSION) {
			snprintf(c->why, sizeof(c->why), "queue %zu would have version %u", q, version);
			return;
		}
		if (version == 0)
			continue;
		if (d != desc_num) {
			snprintf(c->why, sizeof(c->why), "queue %zu would have desc_num %u", q, d);
			return;
		}
		c->initialised++;
	}
}

/*
 * Peers never write the 5 padding bytes of a split descriptor state, while a
 * packed entry keeps next and last there, next being i + 1 from the start.
 */
static bool split_padding_clear(const struct region *r, uint16_t ref_desc_num)
{
	size_t capacity = (r->stride - sizeof(struct vb_inflight_split)) /
			  sizeof(struct vb_inflight_desc_split);

	for (size_t q = 0; q < r->num_queues; q++) {
		size_t base = q * r->stride + sizeof(struct vb_inflight_split);
		size_t n = header_desc_num(r, r->stride, q);

		if (n == 0)
			n = ref_desc_num;
		if (n > capacity)
			n = capacity;
		for (size_t i = 0; i < n; i++) {
			size_t off = base + i * sizeof(struct vb_inflight_desc_split) +
				     offsetof(struct vb_inflight_desc_split, padding);

			for (size_t b = 0; b < sizeof(((struct vb_inflight_desc_split *)0)->padding); b++)
				if (region_u8(r, off + b))
					return false;
		}
	}
	return true;
}

/*
 * Whether the contents read well with the candidate: no invariant violation
 * and, for split, no padding written. 1 yes, 0 no, -1 out of memory.
 */
static int reads_well(const struct region *r, const struct candidate *c)
{
	struct region t = *r;
	struct queue_report *reports;
	size_t errors = 0;
	bool ok;

	t.stride = c->stride;
	t.num_queues = (unsigned int)(r->size / c->stride);
	t.packed = c->packed;
	reports = calloc(t.num_queues, sizeof(*reports));
	if (!reports)
		return -1;
	ok = inspect(&t, reports);
	for (unsigned int i = 0; i < t.num_queues; i++) {
		errors += reports[i].n_errors + reports[i].n_suppressed;
		report_free(&reports[i]);
	}
	free(reports);
	if (!ok)
		return -1;
	if (errors)
		return 0;
	return c->packed || split_padding_clear(&t, header_desc_num(r, 0, 0));
}

void layout_describe(size_t stride, uint16_t desc_num, bool packed, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		if (layout_packed(l) != packed || layout_stride(l, desc_num) != stride)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", layout_name[l]);
		if (used >= len)
			return;
	}
}

enum { CHOSEN_NONE = -1, CHOSEN_TIE = -2, CHOSEN_OOM = -3 };

/*
 * The fitting candidate that finds the most initialised headers: zeroed
 * bytes read as uninitialised headers, so a wrong stride can look plausible
 * when both divide the size, and the one that hits real headers wins. On a
 * tie (split and packed at the same stride, say), the only one whose
 * contents read well. Returns its index or a CHOSEN_ value.
 */
static int pick_best(const struct region *r, struct candidate *c, unsigned int n, size_t *best_initialised)
{
	unsigned int fits = 0, tied = 0, good = 0;
	int pick = CHOSEN_NONE;

	*best_initialised = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (c[i].why[0])
			continue;
		if (!fits++ || c[i].initialised > *best_initialised)
			*best_initialised = c[i].initialised;
	}
	if (!fits)
		return CHOSEN_NONE;
	for (unsigned int i = 0; i < n; i++) {
		if (!c[i].why[0] && c[i].initialised == *best_initialised) {
			tied++;
			pick = (int)i;
		}
	}
	if (tied == 1)
		return pick;
	for (unsigned int i = 0; i < n; i++) {
		if (c[i].why[0] || c[i].initialised != *best_initialised)
			continue;
		c[i].reads_well = reads_well(r, &c[i]);
		if (c[i].reads_well < 0)
			return CHOSEN_OOM;
		if (c[i].reads_well) {
			good++;
			pick = (int)i;
		}
	}
	return good == 1 ? pick : CHOSEN_TIE;
}

/* Both layout searches end here: r takes the best candidate's layout, and running out of memory is said once. */
static int choose(struct region *r, struct candidate *c, unsigned int n, size_t *best_initialised)
{
	int pick = pick_best(r, c, n, best_initialised);

	if (pick >= 0) {
		r->stride = c[pick].stride;
		r->num_queues = (unsigned int)(r->size / c[pick].stride);
		r->packed = c[pick].packed;
	} else if (pick == CHOSEN_OOM) {
		fprintf(stderr, "vbridge-inflight: out of memory\n");
	}
	return pick;
}

/* Says why no candidate was taken, one line each, and what to pass; pick is a CHOSEN_ value. */
static void explain(const struct candidate *c, unsigned int n, int pick, size_t best_initialised,
		    uint16_t desc_num, bool strides_known, enum ring_format format)
{
	bool split = false, packed = false, several_strides = false, any = false;
	size_t first_stride = 0;

	for (unsigned int i = 0; i < n; i++) {
		char names[128];
		const char *state;
		bool left;

		layout_describe(c[i].stride, desc_num, c[i].packed, names, sizeof(names));
		left = !c[i].why[0] && c[i].initialised == best_initialised;
		if (c[i].why[0])
			state = c[i].why;
		else if (!left)
			state = "fits, but finds fewer initialised queue headers than another";
		else if (c[i].reads_well == 0)
			state = "fits, but its contents do not read consistently";
		else
			state = "fits, but so does another";
		fprintf(stderr, "  %s, stride %zu%s%s%s: %s\n", format_name(c[i].packed), c[i].stride,
			names[0] ? " (" : "", names, names[0] ? ")" : "", state);
		/* What is left to choose between: the tied candidates. */
		if (!left)
			continue;
		several_strides |= any && c[i].stride != first_stride;
		first_stride = c[i].stride;
		any = true;
		split |= !c[i].packed;
		packed |= c[i].packed;
	}
	if (pick == CHOSEN_NONE && strides_known)
		fprintf(stderr, "vbridge-inflight: is --queues right?\n");
	else if (pick == CHOSEN_NONE)
		fprintf(stderr, "vbridge-inflight: pass --queues N to read it as N queues%s\n",
			format == FORMAT_AUTO ? " (and --packed or --split)" : "");
	else if (split && packed && several_strides)
		fprintf(stderr, "vbridge-inflight: pass --packed or --split, and --queues N to read it as N queues\n");
	else if (split && packed)
		fprintf(stderr, "vbridge-inflight: pass --packed or --split to say which layout it has\n");
	else
		fprintf(stderr, "vbridge-inflight: pass --queues N to read it as N queues\n");
}

static bool layout_given(struct region *r, unsigned int num_queues, enum ring_format format)
{
	struct candidate c[2];
	unsigned int n = 0;
	size_t stride, best_initialised;
	uint16_t version, d;
	int pick;

	if (r->size % num_queues) {
		fprintf(stderr, "vbridge-inflight: %s: %zu bytes is not a multiple of %u queues\n",
			r->name, r->size, num_queues);
		return false;
	}
	stride = r->size / num_queues;
	/*
	 * Queue 0's header is what the given count is checked against; a header
	 * that is itself garbage is left to the per-queue checks to report.
	 */
	version = header_version(r, stride, 0);
	d = header_desc_num(r, stride, 0);
	for (int packed = 0; packed < 2; packed++) {
		struct candidate *k = &c[n];

		if ((format == FORMAT_SPLIT && packed) || (format == FORMAT_PACKED && !packed))
			continue;
		n++;
		k->stride = stride;
		k->packed = packed;
		k->why[0] = 0;
		k->initialised = 0;	/* the same headers either way */
		k->reads_well = -1;
		if (stride < header_size(packed))
			snprintf(k->why, sizeof(k->why), "cannot hold a %zu-byte queue header", header_size(packed));
		else if (version == VB_INFLIGHT_VERSION && vb_inflight_min_size(d, packed) > stride)
			snprintf(k->why, sizeof(k->why), "cannot hold the %u descriptors of queue 0 (%zu bytes)", d,
				 vb_inflight_min_size(d, packed));
	}
	pick = choose(r, c, n, &best_initialised);
	if (pick >= 0 || pick == CHOSEN_OOM)
		return pick >= 0;
	if (n == 1) {
		fprintf(stderr, "vbridge-inflight: %s: a stride of %zu bytes (%u queues) %s; is --queues right?\n",
			r->name, stride, num_queues, c[0].why);
		return false;
	}
	fprintf(stderr, "vbridge-inflight: %s: cannot tell how to read %u queues of %zu bytes:\n", r->name,
		num_queues, stride);
	explain(c, n, pick, best_initialised, d, true, format);
	return false;
}

static bool layout_guessed(struct region *r, enum ring_format format)
{
	uint16_t d = header_desc_num(r, 0, 0);
	struct candidate c[N_LAYOUTS];
	unsigned int n = 0;
	size_t best_initialised;
	int pick;

	if (d == 0) {
		fprintf(stderr, "vbridge-inflight: %s: queue 0 has desc_num 0 (not initialised?), so the "
			"stride cannot be derived from it; pass --queues N\n", r->name);
		return false;
	}
	/* Peers that agree on a stride are one candidate, not several. */
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		size_t s = layout_stride(l, d);
		bool packed = layout_packed(l), seen = false;

		if ((format == FORMAT_SPLIT && packed) || (format == FORMAT_PACKED && !packed))
			continue;
		for (unsigned int i = 0; i < n; i++)
			seen |= c[i].stride == s && c[i].packed == packed;
		if (seen)
			continue;
		c[n].stride = s;
		c[n].packed = packed;
		try_stride(r, &c[n], d);
		n++;
	}
	pick = choose(r, c, n, &best_initialised);
	if (pick >= 0 || pick == CHOSEN_OOM)
		return pick >= 0;
	fprintf(stderr, "vbridge-inflight: %s: cannot tell the layout of %zu bytes from queue 0's desc_num %u:\n",
		r->name, r->size, d);
	explain(c, n, pick, best_initialised, d, false, format);
	return false;
}

bool region_layout(struct region *r, unsigned int num_queues, enum ring_format format)
{
	size_t min = header_size(format == FORMAT_PACKED);

	if (r->size < min) {
		fprintf(stderr, "vbridge-inflight: %s: %zu bytes is too small for a %zu-byte queue header\n",
			r->name, r->size, min);
		return false;
	}
	return num_queues ? layout_given(r, num_queues, format) : layout_guessed(r, format);
}
