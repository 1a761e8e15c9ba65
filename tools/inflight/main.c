/* vbridge-inflight: prints and checks a vhost-user inflight region (a saved copy or an inherited fd). */
#include "inflight_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vbridge-inflight [--queues N] [--split|--packed] [--json] FILE\n"
		"       vbridge-inflight [--queues N] [--split|--packed] [--json] --fd N\n"
		"       vbridge-inflight --help\n"
		"\n"
		"Prints a vhost-user inflight I/O tracking region (split or packed rings) and\n"
		"checks it. FILE is a saved copy (e.g. of /proc/PID/fd/N); --fd N reads an\n"
		"inherited fd.\n"
		"\n"
		"  --queues N  the region holds N queues (stride = size / N); without it the\n"
		"              stride is derived from queue 0's desc_num and the strides of\n"
		"              libvhost-user, DPDK/vbridge and yc-libvhost-server\n"
		"  --split     the queue regions have the split-ring layout\n"
		"  --packed    the queue regions have the packed-ring layout (DPDK/vbridge);\n"
		"              without either, the layout is told from the size and contents\n"
		"  --json      print one JSON object\n"
		"\n"
		"Inflight requests are listed in counter order, the order a restarted back-end\n"
		"resubmits them in; for packed rings with the descriptors copied for each.\n"
		"Exit status: 0 consistent, 1 invariant violations (printed as \"error: queue\n"
		"Q: ...\"), 2 usage or I/O error, or a layout that cannot be told. Interrupted\n"
		"updates a restart resolves are printed as \"warning: queue Q: ...\".\n");
}

/* Strict: digits only, so "--queues 2x" or "-1" is refused rather than misread. */
static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == 0 && *out <= max;
}

static size_t total_errors(const struct queue_report *reports, unsigned int n)
{
	size_t total = 0;

	for (unsigned int i = 0; i < n; i++)
		total += reports[i].n_errors + reports[i].n_suppressed;
	return total;
}

static size_t total_warnings(const struct queue_report *reports, unsigned int n)
{
	size_t total = 0;

	for (unsigned int i = 0; i < n; i++)
		total += reports[i].n_warnings;
	return total;
}

static void print_findings(FILE *f, const struct queue_report *q, unsigned int index)
{
	for (size_t e = 0; e < q->n_warnings; e++)
		fprintf(f, "warning: %s\n", q->warnings[e]);
	for (size_t e = 0; e < q->n_errors; e++)
		fprintf(f, "error: %s\n", q->errors[e]);
	if (q->n_suppressed)
		fprintf(f, "error: queue %u: %zu more errors not shown\n", index, q->n_suppressed);
}

static void print_split_queue(const struct queue_report *q, unsigned int i)
{
	printf("queue %u: version %u%s, desc_num %u, features 0x%016" PRIx64
	       ", last_batch_head %u, used_idx %u\n",
	       i, q->version, q->version == 0 ? " (not initialised)" : "", q->desc_num,
	       q->features, q->last_batch_head, q->used_idx);
	if (q->chain_distinct >= 0)
		printf("  batch list: %ld distinct head%s from last_batch_head\n", q->chain_distinct,
		       q->chain_distinct == 1 ? "" : "s");
	printf("  %zu inflight%s\n", q->n_inflight, q->n_inflight ? ", in resubmission order:" : "");
	for (size_t e = 0; e < q->n_inflight; e++)
		printf("  desc %u counter %" PRIu64 "\n", q->inflight[e].desc, q->inflight[e].counter);
}

static void print_packed_queue(const struct queue_report *q, unsigned int i)
{
	printf("queue %u: version %u%s, desc_num %u, features 0x%016" PRIx64
	       ", free_head %u, old_free_head %u, used_idx %u, old_used_idx %u"
	       ", used_wrap_counter %u, old_used_wrap_counter %u\n",
	       i, q->version, q->version == 0 ? " (not initialised)" : "", q->desc_num, q->features,
	       q->free_head, q->old_free_head, q->used_idx, q->old_used_idx, q->used_wrap_counter,
	       q->old_used_wrap_counter);
	if (q->version != 0 && q->desc_num != 0)
		printf("  interrupted completion pending: %s\n", q->completion_pending ? "yes" : "no");
	if (q->fetch_entry >= 0)
		printf("  interrupted fetch at entry %ld (a restart rolls it back)\n", q->fetch_entry);
	if (q->free_entries >= 0 && q->free_entries != q->free_entries_old)
		printf("  free entries: %ld from free_head, %ld from old_free_head\n", q->free_entries,
		       q->free_entries_old);
	else if (q->free_entries >= 0)
		printf("  free entries: %ld\n", q->free_entries);
	else if (q->free_entries_old >= 0)
		printf("  free entries: %ld from old_free_head\n", q->free_entries_old);
	printf("  %zu inflight%s\n", q->n_inflight, q->n_inflight ? ", in resubmission order:" : "");
	for (size_t e = 0; e < q->n_inflight; e++) {
		const struct inflight_entry *h = &q->inflight[e];

		printf("  entry %u counter %" PRIu64 " id %u num %u\n", h->desc, h->counter, h->id, h->num);
		for (size_t k = 0; k < h->n_copies; k++) {
			const struct desc_copy *d = &q->copies[h->first_copy + k];

			printf("    entry %u: addr 0x%016" PRIx64 " len %" PRIu32 " flags 0x%04x\n", d->entry,
			       d->addr, d->len, d->flags);
		}
		if (h->n_copies < h->num)
			printf("    (%u more not readable)\n", (unsigned int)(h->num - h->n_copies));
	}
}

static void print_human(const struct region *r, const struct queue_report *reports)
{
	char names[128];
	uint16_t d = reports[0].desc_num;
	size_t errors = total_errors(reports, r->num_queues);
	size_t warnings = total_warnings(reports, r->num_queues);

	layout_describe(r->stride, d, r->packed, names, sizeof(names));
	printf("size %zu bytes, stride %zu (%s), %u queue%s, %s layout\n", r->size, r->stride,
	       names[0] ? names : "no known layout", r->num_queues, r->num_queues == 1 ? "" : "s",
	       r->packed ? "packed" : "split");
	for (unsigned int i = 0; i < r->num_queues; i++) {
		if (r->packed)
			print_packed_queue(&reports[i], i);
		else
			print_split_queue(&reports[i], i);
		print_findings(stdout, &reports[i], i);
	}
	if (errors)
		printf("%zu invariant violation%s", errors, errors == 1 ? "" : "s");
	else
		printf("consistent");
	if (warnings)
		printf(", %zu warning%s", warnings, warnings == 1 ? "" : "s");
	printf("\n");
}

/* Our messages are ASCII without controls, but a JSON writer should not rely on that. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_strings(const char *key, char *const *list, size_t n)
{
	printf("\"%s\": [", key);
	for (size_t e = 0; e < n; e++) {
		printf("%s", e ? ", " : "");
		json_string(list[e]);
	}
	printf("]");
}

static void json_count(const char *key, long n)
{
	if (n >= 0)
		printf("\"%s\": %ld, ", key, n);
	else
		printf("\"%s\": null, ", key);
}

static void json_split_queue(const struct queue_report *q)
{
	printf("\"last_batch_head\": %u, \"used_idx\": %u, ", q->last_batch_head, q->used_idx);
	json_count("batch_list_distinct", q->chain_distinct);
	printf("\"inflight_count\": %zu, \"inflight\": [", q->n_inflight);
	for (size_t e = 0; e < q->n_inflight; e++)
		printf("%s{\"desc\": %u, \"counter\": %" PRIu64 "}", e ? ", " : "",
		       q->inflight[e].desc, q->inflight[e].counter);
	printf("], ");
}

static void json_packed_queue(const struct queue_report *q)
{
	printf("\"free_head\": %u, \"old_free_head\": %u, \"used_idx\": %u, \"old_used_idx\": %u, "
	       "\"used_wrap_counter\": %u, \"old_used_wrap_counter\": %u, \"completion_pending\": %s, ",
	       q->free_head, q->old_free_head, q->used_idx, q->old_used_idx, q->used_wrap_counter,
	       q->old_used_wrap_counter, q->completion_pending ? "true" : "false");
	json_count("fetch_in_progress", q->fetch_entry);
	json_count("free_entries", q->free_entries);
	json_count("free_entries_from_old_free_head", q->free_entries_old);
	printf("\"inflight_count\": %zu, \"inflight\": [", q->n_inflight);
	for (size_t e = 0; e < q->n_inflight; e++) {
		const struct inflight_entry *h = &q->inflight[e];

		printf("%s\n    {\"entry\": %u, \"counter\": %" PRIu64 ", \"id\": %u, \"num\": %u, \"descs\": [",
		       e ? "," : "", h->desc, h->counter, h->id, h->num);
		for (size_t k = 0; k < h->n_copies; k++) {
			const struct desc_copy *d = &q->copies[h->first_copy + k];

			printf("%s{\"entry\": %u, \"addr\": \"0x%016" PRIx64 "\", \"len\": %" PRIu32
			       ", \"flags\": %u}", k ? ", " : "", d->entry, d->addr, d->len, d->flags);
		}
		printf("]}");
	}
	printf("], ");
}

static void print_json(const struct region *r, const struct queue_report *reports)
{
	uint16_t d = reports[0].desc_num;
	size_t errors = total_errors(reports, r->num_queues);
	bool first = true;

	printf("{\"size\": %zu, \"stride\": %zu, \"format\": \"%s\", \"layouts\": [", r->size, r->stride,
	       r->packed ? "packed" : "split");
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		if (layout_packed(l) != r->packed || layout_stride(l, d) != r->stride)
			continue;
		printf("%s", first ? "" : ", ");
		json_string(layout_name[l]);
		first = false;
	}
	printf("], \"num_queues\": %u, \"queues\": [", r->num_queues);
	for (unsigned int i = 0; i < r->num_queues; i++) {
		const struct queue_report *q = &reports[i];

		printf("%s\n  {\"queue\": %u, \"version\": %u, \"desc_num\": %u, \"features\": \"0x%016" PRIx64
		       "\", ", i ? "," : "", i, q->version, q->desc_num, q->features);
		if (r->packed)
			json_packed_queue(q);
		else
			json_split_queue(q);
		json_strings("errors", q->errors, q->n_errors);
		printf(", \"errors_not_shown\": %zu, ", q->n_suppressed);
		json_strings("warnings", q->warnings, q->n_warnings);
		printf("}");
		/* The JSON goes to a parser; the violations and warnings still reach a human. */
		print_findings(stderr, q, i);
	}
	printf("\n], \"violations\": %zu, \"warnings\": %zu, \"consistent\": %s}\n", errors,
	       total_warnings(reports, r->num_queues), errors ? "false" : "true");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "fd", required_argument, NULL, 'f' },
		{ "split", no_argument, NULL, 's' },
		{ "packed", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long num_queues = 0, fdnum = 0;
	bool json = false, have_fd = false;
	enum ring_format format = FORMAT_AUTO;
	struct region r = { 0 };
	struct queue_report *reports;
	char fdname[32];
	int opt, fd, status;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			if (!parse_uint(optarg, UINT16_MAX, &num_queues) || num_queues == 0) {
				fprintf(stderr, "vbridge-inflight: --queues wants a number from 1 to %u, not '%s'\n",
					UINT16_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'f':
			if (!parse_uint(optarg, INT_MAX, &fdnum)) {
				fprintf(stderr, "vbridge-inflight: --fd wants a file descriptor number, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			have_fd = true;
			break;
		case 's':
		case 'p':
			if (format != FORMAT_AUTO && format != (opt == 's' ? FORMAT_SPLIT : FORMAT_PACKED)) {
				fprintf(stderr, "vbridge-inflight: give --split or --packed, not both\n");
				return EXIT_USAGE;
			}
			format = opt == 's' ? FORMAT_SPLIT : FORMAT_PACKED;
			break;
		case 'h':
			usage(stdout);
			return ferror(stdout) || fflush(stdout) ? EXIT_USAGE : 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + (have_fd ? 0 : 1) != argc) {
		fprintf(stderr, "vbridge-inflight: give either FILE or --fd N\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (have_fd) {
		fd = (int)fdnum;
		snprintf(fdname, sizeof(fdname), "fd %d", fd);
		r.name = fdname;
		if (fcntl(fd, F_GETFD) < 0) {
			fprintf(stderr, "vbridge-inflight: %s: %s\n", r.name, strerror(errno));
			return EXIT_USAGE;
		}
	} else {
		r.name = argv[optind];
		fd = open(r.name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "vbridge-inflight: %s: %s\n", r.name, strerror(errno));
			return EXIT_USAGE;
		}
	}
	if (!region_read(&r, fd) || !region_layout(&r, (unsigned int)num_queues, format)) {
		region_free(&r);
		return EXIT_USAGE;
	}
	if (!have_fd)
		close(fd);
	reports = calloc(r.num_queues, sizeof(*reports));
	if (!reports || !inspect(&r, reports)) {
		fprintf(stderr, "vbridge-inflight: out of memory\n");
		return EXIT_USAGE;
	}
	if (json)
		print_json(&r, reports);
	else
		print_human(&r, reports);
	status = total_errors(reports, r.num_queues) ? EXIT_VIOLATIONS : EXIT_CONSISTENT;
	for (unsigned int i = 0; i < r.num_queues; i++)
		report_free(&reports[i]);
	free(reports);
	region_free(&r);
	if (ferror(stdout) || fflush(stdout)) {
		fprintf(stderr, "vbridge-inflight: cannot write the output\n");
		return EXIT_USAGE;
	}
	return status;
}
