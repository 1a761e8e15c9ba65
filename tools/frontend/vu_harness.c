/* Test harness implementation: TAP bookkeeping, spawning and reaping back-end daemons, patterns. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

static unsigned tap_planned, tap_count, tap_failed;

#define MAX_DAEMONS 8
static struct vu_daemon *daemons[MAX_DAEMONS];

static void reg_daemon(struct vu_daemon *d)
{
	for (unsigned i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] == d)
			return;
	for (unsigned i = 0; i < MAX_DAEMONS; i++)
		if (!daemons[i]) {
			daemons[i] = d;
			return;
		}
}

static void unreg_daemon(struct vu_daemon *d)
{
	for (unsigned i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] == d)
			daemons[i] = NULL;
}

/* Async-signal-safe. strace does not take its tracee along when it is killed. */
static void kill_daemon(struct vu_daemon *d)
{
	if (d->traced > 0)
		kill(d->traced, SIGKILL);
	d->traced = 0;
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
}

/* Async-signal-safe. */
static void remove_files(const struct vu_daemon *d)
{
	unlink(d->sock);
	if (!d->disk_external)
		unlink(d->disk);
	unlink(d->log);
	unlink(d->trace);
	rmdir(d->dir);
}

/* Async-signal-safe: kill and reap every daemon, remove their files. */
static void emergency_cleanup(void)
{
	for (unsigned i = 0; i < MAX_DAEMONS; i++) {
		struct vu_daemon *d = daemons[i];

		if (!d)
			continue;
		kill_daemon(d);
		if (!getenv("VU_KEEP") && d->dir[0])
			remove_files(d);
		daemons[i] = NULL;
	}
}

static void on_signal(int sig)
{
	static const char msg_alarm[] = "Bail out! watchdog: test program took too long\n";
	static const char msg_sig[] = "Bail out! killed by a signal\n";

	if (sig == SIGALRM) {
		if (write(STDOUT_FILENO, msg_alarm, sizeof(msg_alarm) - 1) < 0)
			_exit(1);
	} else if (write(STDOUT_FILENO, msg_sig, sizeof(msg_sig) - 1) < 0) {
		_exit(1);
	}
	emergency_cleanup();
	_exit(1);
}

void vu_harness_init(unsigned timeout_s)
{
	struct sigaction sa = { .sa_handler = on_signal };

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	atexit(emergency_cleanup);
	alarm(timeout_s);
}

void tap_plan(unsigned n)
{
	tap_planned = n;
	printf("1..%u\n", n);
}

bool tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %u - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

void tap_skip(unsigned n, const char *reason, const char *desc)
{
	for (unsigned i = 0; i < n; i++)
		printf("ok %u - %s # SKIP %s\n", ++tap_count, desc, reason);
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;
	char buf[2048];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *line = buf, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		printf("# %s\n", line);
	}
}

void tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	for (unsigned i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i])
			vu_daemon_dump_log(daemons[i], 20);
	emergency_cleanup();
	exit(1);
}

int tap_done(void)
{
	if (tap_count != tap_planned) {
		printf("# planned %u tests but ran %u\n", tap_planned, tap_count);
		return 1;
	}
	if (tap_failed)
		printf("# failed %u of %u tests\n", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}

enum vu_backend vu_backend(void)
{
	const char *b = getenv("VU_BACKEND");

	return b && strcmp(b, "qsd") == 0 ? VU_BACKEND_QSD : VU_BACKEND_VBRIDGE;
}

void tap_plan_vbridge_only(unsigned n, const char *reason, const char *desc)
{
	tap_plan(n);
	if (vu_is_vbridge())
		return;
	tap_skip(n, reason, desc);
	exit(tap_done());
}

bool vu_is_vbridge(void)
{
	return vu_backend() == VU_BACKEND_VBRIDGE;
}

int vu_daemon_setup(struct vu_daemon *d, uint64_t disk_size)
{
	int fd;

	memset(d, 0, sizeof(*d));
	d->disk_fd = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/vbridge-vhost-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	reg_daemon(d);
	snprintf(d->sock, sizeof(d->sock), "%s/vb.sock", d->dir);
	snprintf(d->disk, sizeof(d->disk), "%s/disk.img", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->trace, sizeof(d->trace), "%s/strace.out", d->dir);
	fd = open(d->disk, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)disk_size) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	d->disk_fd = fd;
	d->disk_size = disk_size;
	return 0;
}

void vu_daemon_use_disk(struct vu_daemon *d, const char *path)
{
	if (d->disk_fd >= 0)
		close(d->disk_fd);
	d->disk_fd = -1;
	unlink(d->disk);
	snprintf(d->disk, sizeof(d->disk), "%s", path);
	d->disk_external = true;
}

void vu_daemon_start_on(struct vu_daemon *d, const char *path, const struct vu_daemon_opts *o)
{
	if (vu_daemon_setup(d, 1 << 20) < 0)
		tap_bail("temp dir");
	vu_daemon_use_disk(d, path);
	if (vu_daemon_start(d, o) < 0)
		tap_bail("cannot start vbridge --engine %s on %s", o->engine ? o->engine : "(default)", path);
}

static const char *daemon_path(void)
{
	static char path[PATH_MAX];
	const char *build = getenv("BUILD");

	snprintf(path, sizeof(path), "%s/vbridge", build && *build ? build : "build");
	return path;
}

/* Appends the words of text (NULL: none); argv has room for 32 entries in all. */
static int add_words(char **argv, int argc, const char *text, char *store, size_t *used,
		     size_t cap)
{
	size_t len = text ? strlen(text) + 1 : 0;
	char *words;

	if (!len || *used + len > cap)
		return argc;
	words = memcpy(store + *used, text, len);
	*used += len;
	for (char *w = strtok(words, " "); w && argc < 31; w = strtok(NULL, " "))
		argv[argc++] = w;
	return argc;
}

static int build_argv(struct vu_daemon *d, char **argv, char *store, size_t cap)
{
	const struct vu_daemon_opts *o = &d->opts;
	int argc = 0;
	size_t used = 0;

#define ADD(...)                                                                  \
	do {                                                                      \
		int n_ = snprintf(store + used, cap - used, __VA_ARGS__);          \
		argv[argc++] = store + used;                                      \
		used += (size_t)n_ + 1;                                           \
	} while (0)

	if (vu_backend() == VU_BACKEND_QSD) {
		ADD("qemu-storage-daemon");
		ADD("--blockdev");
		ADD("driver=file,node-name=f,filename=%s,discard=unmap", d->disk);
		ADD("--export");
		ADD("type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,"
		    "writable=%s,num-queues=%u",
		    d->sock, o->readonly ? "off" : "on", o->queues ? o->queues : 1);
	} else {
		if (o->strace) {
			ADD("strace");
			ADD("-f");
			ADD("-qq");
			ADD("-o");
			ADD("%s", d->trace);
			ADD("--");
		}
		ADD("%s", daemon_path());
		ADD("serve");
		ADD("--socket");
		ADD("%s", d->sock);
		ADD("--disk");
		ADD("%s", d->disk);
		if (o->readonly)
			ADD("--readonly");
		if (o->queues) {
			ADD("--queues");
			ADD("%u", o->queues);
		}
		if (o->serial) {
			ADD("--serial");
			ADD("%s", o->serial);
		}
		if (o->socket_group) {
			ADD("--socket-group");
			ADD("%s", o->socket_group);
		}
		if (o->engine) {
			ADD("--engine");
			ADD("%s", o->engine);
		}
		if (o->no_suspend)
			ADD("--no-suspend");
		if (o->poll_us) {
			ADD("--poll-us");
			ADD("%u", o->poll_us);
		}
		argc = add_words(argv, argc, o->args, store, &used, cap);
		argc = add_words(argv, argc, getenv("VU_DAEMON_ARGS"), store, &used, cap);
	}
#undef ADD
	argv[argc] = NULL;
	return argc;
}

/* The first child of pid (strace's tracee), or 0. */
static pid_t child_of(pid_t pid)
{
	char path[64];
	int child = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &child) != 1)
			child = 0;
		fclose(f);
	}
	return child;
}

static int drop_to(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		errno = ENOENT;
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return -1;
	return 0;
}

/*
 * fork() for a daemon, under strace if traced. The daemon of a sanitized
 * build is sanitized too, and LeakSanitizer cannot run under ptrace: it
 * fails the traced daemon's exit. So a traced daemon of such a build gets
 * detect_leaks=0, set in our environment only around the fork (setenv is
 * not safe in the child of a threaded program).
 */
static pid_t fork_daemon_env(bool traced)
{
#if defined(__SANITIZE_ADDRESS__)
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL;
	char opts[512];
	pid_t pid;
	int err;

	if (!traced)
		return fork();
	snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", saved ? saved : "",
		 saved && *saved ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	pid = fork();
	err = errno;
	if (pid != 0) {
		if (saved)
			setenv("ASAN_OPTIONS", saved, 1);
		else
			unsetenv("ASAN_OPTIONS");
	}
	free(saved);
	errno = err;
	return pid;
#else
	(void)traced;
	return fork();
#endif
}

int vu_daemon_start(struct vu_daemon *d, const struct vu_daemon_opts *o)
{
	char *argv[32];
	char store[4 * PATH_MAX];
	pid_t parent = getpid();
	pid_t pid;

	if (d->pid > 0)
		return -EBUSY;
	d->opts = o ? *o : (struct vu_daemon_opts){ 0 };
	build_argv(d, argv, store, sizeof(store));
	if (vu_backend() == VU_BACKEND_VBRIDGE && access(daemon_path(), X_OK) != 0) {
		tap_diag("daemon %s not found or not executable", daemon_path());
		return -ENOENT;
	}
	reg_daemon(d);
	fflush(stdout);
	pid = fork_daemon_env(d->opts.strace);
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (d->opts.user && drop_to(d->opts.user) < 0) {
			dprintf(log, "cannot become %s: %s\n", d->opts.user, strerror(errno));
			_exit(127);
		}
		/* After the credentials change, which clears it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (log >= 0) {
			dup2(log, STDOUT_FILENO);
			dup2(log, STDERR_FILENO);
		}
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	d->pid = pid;

	/* wait for the listening socket */
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (stat(d->sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			if (d->opts.strace)
				d->traced = child_of(d->pid);
			return 0;
		}
		if (!vu_daemon_alive(d)) {
			tap_diag("daemon exited before creating its socket");
			vu_daemon_dump_log(d, 20);
			return -ECHILD;
		}
		usleep(10 * 1000);
	}
	tap_diag("daemon did not create %s within 5 s", d->sock);
	return -ETIMEDOUT;
}

bool vu_daemon_alive(struct vu_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	pid_t r = waitpid(d->pid, &st, WNOHANG);

	if (r == d->pid) {
		if (WIFEXITED(st))
			tap_diag("daemon exited with status %d", WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			tap_diag("daemon killed by signal %d", WTERMSIG(st));
		d->pid = 0;
		d->traced = 0;
		return false;
	}
	return r == 0;
}

int vu_daemon_stop(struct vu_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return -1;
	/* strace ignores SIGTERM; it exits with its tracee's status. */
	kill(d->traced > 0 ? d->traced : d->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(d->pid, &st, WNOHANG);

		if (r == d->pid) {
			d->pid = 0;
			d->traced = 0;
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			tap_diag("daemon died from signal %d", WTERMSIG(st));
			return -1;
		}
		usleep(10 * 1000);
	}
	tap_diag("daemon ignored SIGTERM for 5 s, killing it");
	kill_daemon(d);
	return -1;
}

bool vu_daemon_log_has(const struct vu_daemon *d, const char *needle)
{
	static char buf[1 << 16];
	FILE *fp = fopen(d->log, "r");
	size_t len = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

	if (fp)
		fclose(fp);
	buf[len] = '\0';
	return strstr(buf, needle) != NULL;
}

void vu_daemon_dump_log(struct vu_daemon *d, unsigned max_lines)
{
	char *lines[64] = { 0 };
	char buf[512];
	unsigned n = 0;
	FILE *f;

	if (max_lines > 64)
		max_lines = 64;
	f = fopen(d->log, "r");
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		free(lines[n % max_lines]);
		lines[n % max_lines] = strdup(buf);
		n++;
	}
	fclose(f);
	unsigned first = n > max_lines ? n - max_lines : 0;

	for (unsigned i = first; i < n; i++)
		printf("# daemon: %s\n", lines[i % max_lines] ? lines[i % max_lines] : "");
	for (unsigned i = 0; i < max_lines; i++)
		free(lines[i]);
}

void vu_daemon_teardown(struct vu_daemon *d)
{
	if (tap_failed && d->dir[0]) {
		tap_diag("some tests failed; end of the daemon log:");
		vu_daemon_dump_log(d, 40);
	}
	kill_daemon(d);
	if (d->disk_fd >= 0)
		close(d->disk_fd);
	d->disk_fd = -1;
	if (!getenv("VU_KEEP") && d->dir[0]) {
		remove_files(d);
	} else if (d->dir[0]) {
		tap_diag("kept %s", d->dir);
	}
	unreg_daemon(d);
}

static inline uint8_t pattern_byte(uint32_t seed, uint64_t pos)
{
	uint64_t x = (pos >> 3) * 0x9e3779b97f4a7c15ull + seed * 0xbf58476d1ce4e5b9ull;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	return (uint8_t)(x >> (8 * (pos & 7))) | 1; /* never zero */
}

void vu_pattern_fill(void *buf, size_t len, uint32_t seed, uint64_t off)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, off + i);
}

size_t vu_pattern_check(const void *buf, size_t len, uint32_t seed, uint64_t off)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, off + i))
			return i;
	return len;
}

size_t vu_zero_check(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return i;
	return len;
}

bool vu_roundtrip_ok(struct vu_daemon *d, struct vu_dev *dev, struct vu_vq *vq,
		     uint32_t seed)
{
	const uint32_t len = 8192;
	uint64_t sector = VU_SCRATCH_SECTOR + (seed % 512) * 16;
	struct vu_blk_req req;
	uint8_t host[8192];
	uint8_t *buf;
	bool ok = false;
	int r;

	buf = vu_mem_alloc(dev, len, 4096);
	if (!buf || vu_blk_req_init(dev, &req) < 0) {
		tap_diag("round trip: %s", dev->err);
		vu_mem_free(dev, buf);
		return false;
	}
	vu_pattern_fill(buf, len, seed, sector * VU_SECTOR_SIZE);
	vu_blk_prep_write(&req, sector, buf, len);
	r = vu_blk_run(vq, &req, 5000);
	if (r != VIRTIO_BLK_S_OK) {
		tap_diag("round trip: write: %s (%d)", r < 0 ? dev->err : "status not OK", r);
		goto out;
	}
	if (pread(d->disk_fd, host, len, (off_t)(sector * VU_SECTOR_SIZE)) != (ssize_t)len ||
	    vu_pattern_check(host, len, seed, sector * VU_SECTOR_SIZE) != len) {
		tap_diag("round trip: written data not found in the image");
		goto out;
	}
	memset(buf, 0, len);
	vu_blk_prep_read(&req, sector, buf, len);
	r = vu_blk_run(vq, &req, 5000);
	if (r != VIRTIO_BLK_S_OK) {
		tap_diag("round trip: read: %s (%d)", r < 0 ? dev->err : "status not OK", r);
		goto out;
	}
	if (vu_pattern_check(buf, len, seed, sector * VU_SECTOR_SIZE) != len) {
		tap_diag("round trip: read back wrong data");
		goto out;
	}
	ok = true;
out:
	if (!req.in_flight) {
		vu_blk_req_fini(&req);
		vu_mem_free(dev, buf);
	}
	return ok;
}

bool vu_fresh_io_ok(struct vu_daemon *d, uint32_t seed)
{
	struct vu_dev dev;
	bool ok;

	if (!vu_daemon_alive(d)) {
		tap_diag("fresh connection: the daemon is not running");
		return false;
	}
	if (vu_dev_open(&dev, d->sock, NULL) < 0) {
		tap_diag("fresh connection: set-up failed: %s", dev.err);
		return false;
	}
	ok = vu_roundtrip_ok(d, &dev, dev.vqs[0], seed);
	vu_dev_close(&dev);
	if (ok && !vu_daemon_alive(d)) {
		tap_diag("fresh connection: the daemon died");
		ok = false;
	}
	return ok;
}

bool vu_fresh_check(struct vu_daemon *d, uint32_t seed, const char *after)
{
	return tap_ok(vu_fresh_io_ok(d, seed), "after %s: a new connection does verified I/O", after);
}

void vu_test_begin(struct vu_daemon *d, unsigned timeout_s, unsigned plan, uint64_t disk_size,
		   const struct vu_daemon_opts *o)
{
	vu_harness_init(timeout_s);
	tap_plan(plan);
	if (vu_daemon_setup(d, disk_size) < 0)
		tap_bail("cannot create the temp dir / disk image");
	if (!tap_ok(vu_daemon_start(d, o) == 0, "daemon starts"))
		tap_bail("cannot start the daemon");
}

int vu_test_end(struct vu_daemon *d, uint32_t seed, const char *what)
{
	struct stat st;
	int r;

	tap_ok(vu_daemon_alive(d), "the daemon survived %s", what);
	vu_fresh_check(d, seed, what);
	r = vu_daemon_stop(d);
	tap_ok(r == 0, "daemon exits 0 on SIGTERM (got %d)", r);
	tap_ok(stat(d->sock, &st) < 0 && errno == ENOENT, "daemon removed its socket");
	if (r != 0)
		vu_daemon_dump_log(d, 30);
	vu_daemon_teardown(d);
	return tap_done();
}

void vu_disk_put_pattern(struct vu_daemon *d, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	if (!buf)
		tap_bail("out of memory");
	vu_pattern_fill(buf, len, seed, sector * VU_SECTOR_SIZE);
	if (pwrite(d->disk_fd, buf, len, (off_t)(sector * VU_SECTOR_SIZE)) != (ssize_t)len)
		tap_bail("pwrite: %s", strerror(errno));
	free(buf);
}

bool vu_disk_has_pattern(struct vu_daemon *d, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	bool ok;

	if (!buf)
		tap_bail("out of memory");
	ok = pread(d->disk_fd, buf, len, (off_t)(sector * VU_SECTOR_SIZE)) == (ssize_t)len &&
	     vu_pattern_check(buf, len, seed, sector * VU_SECTOR_SIZE) == len;
	if (!ok)
		tap_diag("the image differs from the pattern at sectors %llu + %u bytes",
			 (unsigned long long)sector, len);
	free(buf);
	return ok;
}
