/* Leveled, thread-safe logging to stderr for the daemon. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum vb_log_level vb_log_threshold = VB_LOG_INFO;

static const char *const level_names[] = {
	[VB_LOG_ERROR] = "error",
	[VB_LOG_WARN] = "warn",
	[VB_LOG_INFO] = "info",
	[VB_LOG_DEBUG] = "debug",
};

void vb_log(enum vb_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > vb_log_threshold)
		return;
	n = snprintf(line, sizeof(line), "vbridge: %s: ", level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so lines from queue threads never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

int vb_log_level_parse(const char *name, enum vb_log_level *level)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	return -1;
}
