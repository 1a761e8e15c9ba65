/* Test harness for programs built on the front-end: TAP output, back-end daemon processes, data patterns. */
#ifndef VBRIDGE_VU_HARNESS_H
#define VBRIDGE_VU_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Environment:
 *   BUILD       build directory holding the daemon (default "build");
 *               the daemon is $BUILD/vbridge.
 *   VU_BACKEND  "vbridge" (default) or "qsd" to run the same tests against
 *               qemu-storage-daemon's vhost-user-blk export.
 *   VU_KEEP     if set, temp dirs are left behind (debugging).
 *   VU_DAEMON_ARGS  extra vbridge options, separated by spaces, appended to
 *               every daemon a test starts (run a suite with --poll-us or
 *               another --engine).
 */

/* ---- TAP ---- */

/* Sets up the program: line-buffered stdout, SIGPIPE ignored, a watchdog
 * that bails out (killing daemons) after timeout_s seconds, cleanup at exit. */
void vu_harness_init(unsigned timeout_s);

void tap_plan(unsigned n);
/* tap_plan, for a program that only tests vbridge itself: with another
 * back-end (VU_BACKEND) every result is skipped for that reason and the
 * program exits. */
void tap_plan_vbridge_only(unsigned n, const char *reason, const char *desc);
/* Prints "ok N - desc" or "not ok N - desc"; returns cond. */
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints n "ok N - desc # SKIP reason" lines. */
void tap_skip(unsigned n, const char *reason, const char *desc);
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stops the program: "Bail out! reason", daemons killed, exit 1. */
void tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Checks the plan was followed; returns the exit status (0 = all passed). */
int tap_done(void);

/* ---- the back-end under test ---- */

enum vu_backend { VU_BACKEND_VBRIDGE, VU_BACKEND_QSD };
enum vu_backend vu_backend(void);
bool vu_is_vbridge(void);

struct vu_daemon_opts {
	unsigned queues;    /* 0: option not passed (daemon default, 1) */
	bool readonly;
	const char *serial; /* NULL: option not passed */
	const char *engine; /* vbridge --engine; NULL: option not passed */
	bool no_suspend;    /* vbridge --no-suspend */
	unsigned poll_us;   /* vbridge --poll-us; 0: option not passed */
	const char *user;   /* run as this user, its group and no other (root only) */
	const char *socket_group; /* NULL: option not passed */
	bool strace;        /* run under strace -f, writing the trace file below (leak checks off in a sanitized build) */
	const char *args;   /* more vbridge options, separated by spaces; NULL: none */
};

struct vu_daemon {
	pid_t pid;          /* 0 when not running (with opts.strace: strace's) */
	pid_t traced;       /* with opts.strace: the daemon strace runs, else 0 */
	char dir[128];
	char sock[PATH_MAX];
	char disk[PATH_MAX];
	char log[PATH_MAX];
	char trace[PATH_MAX]; /* strace's output, with opts.strace */
	uint64_t disk_size;
	int disk_fd;        /* the image, open O_RDWR for pread/pwrite checks */
	bool disk_external; /* the disk is not ours: teardown leaves it alone */
	struct vu_daemon_opts opts;
};

/* Makes a fresh temp dir with a sparse zero-filled disk image. */
int vu_daemon_setup(struct vu_daemon *d, uint64_t disk_size);
/* Points a set-up daemon at someone else's disk (another daemon's image,
 * a block device) instead of its own image, which is removed; teardown
 * leaves that disk alone and disk_fd is -1. */
void vu_daemon_use_disk(struct vu_daemon *d, const char *path);
/* vu_daemon_setup, vu_daemon_use_disk(path) and vu_daemon_start, bailing out on failure. */
void vu_daemon_start_on(struct vu_daemon *d, const char *path, const struct vu_daemon_opts *o);
/* Starts the daemon on the image and waits (<= 5 s) for its socket. */
int vu_daemon_start(struct vu_daemon *d, const struct vu_daemon_opts *o);
bool vu_daemon_alive(struct vu_daemon *d);
/* SIGTERM, then waits up to 5 s (SIGKILL after that). Returns the exit code
 * (0..255), or -1 when it died from a signal or had to be killed. */
int vu_daemon_stop(struct vu_daemon *d);
/* Whether the daemon log (its first 64 KiB) holds needle. */
bool vu_daemon_log_has(const struct vu_daemon *d, const char *needle);
/* Prints the last max_lines lines of the daemon log as TAP diagnostics. */
void vu_daemon_dump_log(struct vu_daemon *d, unsigned max_lines);
/* Kills the daemon if still running and removes the temp dir; prints the
 * end of the daemon log first if any test failed. */
void vu_daemon_teardown(struct vu_daemon *d);

/* ---- checks shared by the test programs ---- */

/* Sectors [VU_SCRATCH_SECTOR, +8192) of the test disks are reserved for
 * vu_fresh_io_ok. */
#define VU_SCRATCH_SECTOR 100000u

/* Opens a brand-new connection to d (full set-up, 1 queue), writes 8 KiB
 * (pattern seed) in the scratch area, checks it with pread() on the image,
 * reads it back through the front-end, closes. Prints diagnostics on
 * failure. Also fails if the daemon is dead. */
bool vu_fresh_io_ok(struct vu_daemon *d, uint32_t seed);

/* vu_fresh_io_ok as a TAP result "after AFTER: a new connection does verified I/O". */
bool vu_fresh_check(struct vu_daemon *d, uint32_t seed, const char *after);

/* The same round trip on an existing, set-up connection and queue. */
bool vu_roundtrip_ok(struct vu_daemon *d, struct vu_dev *dev, struct vu_vq *vq,
		     uint32_t seed);

/* Writes len bytes of pattern seed (at byte offset sector * 512) into the
 * image with pwrite; whether the image holds it (a diagnostic if not). */
void vu_disk_put_pattern(struct vu_daemon *d, uint64_t sector, uint32_t len, uint32_t seed);
bool vu_disk_has_pattern(struct vu_daemon *d, uint64_t sector, uint32_t len, uint32_t seed);

/* ---- the frame of a program testing one daemon ---- */

/* vu_harness_init, the plan, a temp dir with a disk_size image and the daemon
 * started with o (one result, "daemon starts"); bails out if any of it fails. */
void vu_test_begin(struct vu_daemon *d, unsigned timeout_s, unsigned plan, uint64_t disk_size,
		   const struct vu_daemon_opts *o);
/* Four results: the daemon survived WHAT, vu_fresh_check, SIGTERM ends it
 * with status 0, it removed its socket. Then vu_daemon_teardown; returns the
 * exit status (tap_done). */
int vu_test_end(struct vu_daemon *d, uint32_t seed, const char *what);

/* ---- data patterns: byte i of a pattern depends on (seed, off + i) ---- */
void vu_pattern_fill(void *buf, size_t len, uint32_t seed, uint64_t off);
/* Index of the first byte that differs from the pattern, or len. */
size_t vu_pattern_check(const void *buf, size_t len, uint32_t seed, uint64_t off);
/* Index of the first non-zero byte, or len. */
size_t vu_zero_check(const void *buf, size_t len);

#endif
