/* Shared by the fuzz targets and the corpus replay driver: the libFuzzer entry points, invariant checks and input reading. */
#ifndef VBRIDGE_FUZZ_H
#define VBRIDGE_FUZZ_H

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Each target defines both. LLVMFuzzerInitialize runs once per process
 * (under libFuzzer and in the replay driver, before any input); after it,
 * LLVMFuzzerTestOneInput may run any number of inputs, each independent of
 * the ones before. A broken invariant aborts, which both libFuzzer and the
 * replay driver report as a crash.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Where FUZZ_CHECK reports: a copy of stderr taken by fuzz_init_output(), so
 * the report survives libFuzzer's -close_fd_mask=2 (which silences the
 * daemon's own logging on fd 2).
 */
static inline int *fuzz_report_fd(void)
{
	static int fd = 2;

	return &fd;
}

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_SANITIZED 1
#endif
#endif
#ifdef FUZZ_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

static inline void fuzz_init_output(void)
{
	int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);

	if (fd >= 0)
		*fuzz_report_fd() = fd;
#ifdef FUZZ_SANITIZED
	{
		/*
		 * Start the sanitizers' symbolizer now: it runs as a child process
		 * behind two pipes, and starting it in the middle of an input (a
		 * suppressed report needs it) would look like an fd leak.
		 */
		char buf[256];

		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", buf, sizeof(buf));
	}
#endif
}

#define FUZZ_CHECK(cond, ...)                                                          \
	do {                                                                           \
		if (!(cond)) {                                                         \
			dprintf(*fuzz_report_fd(), "%s:%d: invariant broken: %s: ",    \
				__FILE__, __LINE__, #cond);                            \
			dprintf(*fuzz_report_fd(), __VA_ARGS__);                       \
			dprintf(*fuzz_report_fd(), "\n");                              \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* Consumes the fuzz input front to back; reads past the end give zeros. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v = 0;

	if (in->left) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return lo | (uint16_t)fuzz_u8(in) << 8;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* Copies up to len bytes into dst (zero-filling the rest); returns how many came from the input. */
static inline size_t fuzz_bytes(struct fuzz_input *in, void *dst, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->left -= n;
	return n;
}

/* Open file descriptors of this process (a cheap leak check between runs). */
static inline int fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* Lists the open fds and what they are, for a report about a leak. */
static inline void fuzz_dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		dprintf(*fuzz_report_fd(), "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

/* FUZZ_VERBOSE=1 turns the daemon's logging up to debug (when looking at a reproducer); else only errors. */
static inline bool fuzz_verbose(void)
{
	const char *v = getenv("FUZZ_VERBOSE");

	return v && *v && strcmp(v, "0") != 0;
}

#endif
