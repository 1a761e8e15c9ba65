/* Corpus replay without libFuzzer: runs a fuzz target on every file of its corpus directory and prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_LSAN 1
#endif
#endif
#ifdef REPLAY_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/*
 * Installed as fuzz_replay_<name>; replays tests/fuzz/corpus/fuzz_<name>/
 * (relative to the working directory, where tests/run puts us, else to the
 * source tree it was built from) or the directory given as argument. Each
 * file runs in its own child process, so a crash, an invariant failure, a
 * leak (under AddressSanitizer) or a hang (60 s) fails that file alone.
 */

#define TIMEOUT_S 60

/* Global, so that the leak check of a child sees it as reachable, whatever main keeps in registers. */
static char **names;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (buf && read(fd, buf, st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*size = st.st_size;
	return buf;
}

static int run_one(const char *path)
{
	size_t size;
	uint8_t *data = read_file(path, &size);

	if (!data) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	LLVMFuzzerTestOneInput(data, size);
	free(data);
#ifdef REPLAY_LSAN
	/* Exits with an error if the input leaked. */
	__lsan_do_leak_check();
#endif
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char target[256], dirpath[4096], path[8192];
	size_t n = 0, cap = 0;
	int count = 0, failed = 0;
	struct dirent *e;
	DIR *d;

	/* fuzz_replay_<name> replays fuzz_<name>. */
	snprintf(target, sizeof(target), "fuzz_%s",
		 strncmp(base, "fuzz_replay_", 12) == 0 ? base + 12 : base);
	if (argc > 1) {
		snprintf(dirpath, sizeof(dirpath), "%s", argv[1]);
	} else {
		snprintf(dirpath, sizeof(dirpath), "tests/fuzz/corpus/%s", target);
#ifdef FUZZ_CORPUS_ROOT
		if (access(dirpath, F_OK) < 0)
			snprintf(dirpath, sizeof(dirpath), "%s/%s", FUZZ_CORPUS_ROOT, target);
#endif
	}
	d = opendir(dirpath);
	if (!d) {
		printf("not ok 1 - %s: corpus directory %s: %s\n1..1\n", target, dirpath, strerror(errno));
		return 1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);

	LLVMFuzzerInitialize(&argc, &argv);
	for (size_t i = 0; i < n; i++) {
		int status;
		pid_t pid;

		snprintf(path, sizeof(path), "%s/%s", dirpath, names[i]);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0)
			abort();
		if (pid == 0) {
			alarm(TIMEOUT_S);
			_exit(run_one(path));
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		count++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d - %s: %s\n", count, target, names[i]);
		} else {
			failed++;
			printf("not ok %d - %s: %s (%s %d)\n", count, target, names[i],
			       WIFSIGNALED(status) ? "signal" : "exit status",
			       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
		free(names[i]);
	}
	free(names);
	printf("1..%d\n", count);
	return failed ? 1 : 0;
}
