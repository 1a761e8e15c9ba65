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
		"Usage: vbridge-inflight [--queues N] [--json] FILE\n"
		"       vbridge-inflight [--queues N] [--json] --fd N\n"
		"       vbridge-inflight --help\n"
		"\n"
		"Prints a vhost-user inflight I/O tracking region (split rings) and checks it.\n"
		"FILE is a saved copy (e.g. of /proc/PID/fd/N); --fd N reads an inherited fd.\n"
		"\n"
		"  --queues N  the region holds N queues (stride = size / N); without it the\n"
		"              stride is derived from queue 0's desc_num and the strides of\n"
		"              libvhost-user, DPDK/vbridge and yc-libvhost-server\n"
		"  --json      print one JSON object\n"
		"\n"
		"Descriptors are listed in counter order, the order a restarted back-end\n"
		"resubmits them in. Exit status: 0 consistent, 1 invariant violations\n"
		"(printed as \"error: queue Q: ...\"), 2 usage or I/O error.\n");
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

static void print_errors(FILE *f, const struct queue_report *q, unsigned int index)
{
	for (size_t e = 0; e < q->n_errors; e++)
		fprintf(f, "error: %s\n", q->errors[e]);
	if (q->n_suppressed)
		fprintf(f, "error: queue %u: %zu more errors not shown\n", index, q->n_suppressed);
}

static void print_human(const struct region *r, const struct queue_report *reports)
{
	char names[128];
	uint16_t d = reports[0].desc_num;
	size_t errors = total_errors(reports, r->num_queues);

	layout_describe(r->stride, d, names, sizeof(names));
	printf("size %zu bytes, stride %zu (%s), %u queue%s\n", r->size, r->stride,
	       names[0] ? names : "no known layout", r->num_queues, r->num_queues == 1 ? "" : "s");
	for (unsigned int i = 0; i < r->num_queues; i++) {
		const struct queue_report *q = &reports[i];

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
		print_errors(stdout, q, i);
	}
	if (errors)
		printf("%zu invariant violation%s\n", errors, errors == 1 ? "" : "s");
	else
		printf("consistent\n");
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

static void print_json(const struct region *r, const struct queue_report *reports)
{
	uint16_t d = reports[0].desc_num;
	size_t errors = total_errors(reports, r->num_queues);
	bool first = true;

	printf("{\"size\": %zu, \"stride\": %zu, \"layouts\": [", r->size, r->stride);
	for (unsigned int l = 0; l < N_LAYOUTS; l++) {
		if (layout_stride(l, d) != r->stride)
			continue;
		printf("%s", first ? "" : ", ");
		json_string(layout_name[l]);
		first = false;
	}
	printf("], \"num_queues\": %u, \"queues\": [", r->num_queues);
	for (unsigned int i = 0; i < r->num_queues; i++) {
		const struct queue_report *q = &reports[i];

		printf("%s\n  {\"queue\": %u, \"version\": %u, \"desc_num\": %u, \"features\": \"0x%016" PRIx64
		       "\", \"last_batch_head\": %u, \"used_idx\": %u, ",
		       i ? "," : "", i, q->version, q->desc_num, q->features, q->last_batch_head, q->used_idx);
		if (q->chain_distinct >= 0)
			printf("\"batch_list_distinct\": %ld, ", q->chain_distinct);
		else
			printf("\"batch_list_distinct\": null, ");
		printf("\"inflight_count\": %zu, \"inflight\": [", q->n_inflight);
		for (size_t e = 0; e < q->n_inflight; e++)
			printf("%s{\"desc\": %u, \"counter\": %" PRIu64 "}", e ? ", " : "",
			       q->inflight[e].desc, q->inflight[e].counter);
		printf("], \"errors\": [");
		for (size_t e = 0; e < q->n_errors; e++) {
			printf("%s", e ? ", " : "");
			json_string(q->errors[e]);
		}
		printf("], \"errors_not_shown\": %zu}", q->n_suppressed);
		/* The JSON goes to a parser; the violations still reach a human. */
		print_errors(stderr, q, i);
	}
	printf("\n], \"violations\": %zu, \"consistent\": %s}\n", errors, errors ? "false" : "true");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "fd", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long num_queues = 0, fdnum = 0;
	bool json = false, have_fd = false;
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
	if (!region_read(&r, fd) || !region_layout(&r, (unsigned int)num_queues)) {
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
