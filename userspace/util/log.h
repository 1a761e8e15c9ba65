/* Leveled, thread-safe logging to stderr for the daemon. */
#ifndef VBRIDGE_LOG_H
#define VBRIDGE_LOG_H

enum vb_log_level {
	VB_LOG_ERROR,
	VB_LOG_WARN,
	VB_LOG_INFO,
	VB_LOG_DEBUG,
};

extern enum vb_log_level vb_log_threshold;

void vb_log(enum vb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Returns 0 and sets *level for "error", "warn", "info" or "debug"; -1 otherwise. */
int vb_log_level_parse(const char *name, enum vb_log_level *level);

#define vb_err(...) vb_log(VB_LOG_ERROR, __VA_ARGS__)
#define vb_warn(...) vb_log(VB_LOG_WARN, __VA_ARGS__)
#define vb_info(...) vb_log(VB_LOG_INFO, __VA_ARGS__)
#define vb_debug(...)                                  \
	do {                                           \
		if (vb_log_threshold >= VB_LOG_DEBUG)  \
			vb_log(VB_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
