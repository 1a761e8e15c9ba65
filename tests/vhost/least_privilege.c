/* Least-privilege tests: a symlink at the socket path is refused, and the daemon does verified I/O as an unprivileged user that only owns its disk. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define USER "nobody"
#define ROOT_ONLY 8
#define PLAN (2 + ROOT_ONLY)

/* Whether the daemon's log has a line containing text. */
static bool log_has(const struct vu_daemon *d, const char *text)
{
	char line[512];
	FILE *f = fopen(d->log, "r");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void symlink_refused(void)
{
	struct vu_daemon d;
	char target[PATH_MAX + 16];
	struct stat st;
	int fd, r;

	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create the temp dir / disk image");
	snprintf(target, sizeof(target), "%s/target", d.dir);
	fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || symlink(target, d.sock) < 0)
		tap_bail("cannot make the symlink: %s", strerror(errno));
	close(fd);
	r = vu_daemon_start(&d, NULL);
	tap_ok(r == -ECHILD && log_has(&d, "is a symbolic link; refusing to follow"),
	       "a symlink at the socket path: the daemon exits saying it is a symlink");
	tap_ok(lstat(d.sock, &st) == 0 && S_ISLNK(st.st_mode) && stat(target, &st) == 0 &&
		       S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 0777) == 0644,
	       "the symlink and its target are left as they were");
	unlink(target);
	vu_daemon_teardown(&d);
}

/* Whether /proc/PID/status has a line "key:" whose fields are all want (a number or hex mask). */
static bool status_is(pid_t pid, const char *key, const char *want)
{
	char path[64], line[512], *v;
	size_t klen = strlen(key);
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		ok = true;
		for (v = strtok(line + klen + 1, " \t\n"); v; v = strtok(NULL, " \t\n"))
			ok &= !strcmp(v, want);
		if (!ok)
			tap_diag("%s: %s", key, line + klen + 1);
		break;
	}
	if (f)
		fclose(f);
	return ok;
}

/* The daemon as USER with the disk (and its directory) the only things it owns. */
static void unprivileged(void)
{
	struct vu_daemon_opts o = { .queues = 2, .user = USER };
	struct passwd *pw = getpwnam(USER);
	struct vu_daemon d;
	char uid[16], gid[16];
	struct stat st;
	int r;

	if (!pw)
		tap_bail("no user %s", USER);
	snprintf(uid, sizeof(uid), "%u", (unsigned)pw->pw_uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)pw->pw_gid);
	if (vu_daemon_setup(&d, DISK_SIZE) < 0 || chown(d.dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    fchown(d.disk_fd, pw->pw_uid, pw->pw_gid) < 0)
		tap_bail("cannot prepare a temp dir and disk for %s: %s", USER, strerror(errno));
	r = vu_daemon_start(&d, &o);
	if (!tap_ok(r == 0, "the daemon starts as %s on a disk %s owns", USER, USER))
		tap_bail("cannot start the daemon as %s (can %s reach %s?)", USER, USER, d.dir);
	tap_ok(status_is(d.pid, "Uid", uid) && status_is(d.pid, "Gid", gid) &&
		       status_is(d.pid, "Groups", ""),
	       "it runs with %s's user and group ids only", USER);
	tap_ok(status_is(d.pid, "CapEff", "0000000000000000") &&
		       status_is(d.pid, "CapPrm", "0000000000000000"),
	       "it has no capabilities");
	tap_ok(stat(d.sock, &st) == 0 && st.st_uid == pw->pw_uid && (st.st_mode & 0777) == 0600,
	       "its socket is %s's, mode 0600", USER);
	tap_ok(vu_fresh_io_ok(&d, 41), "a front-end does verified I/O through it");
	r = vu_daemon_stop(&d);
	tap_ok(r == 0, "it exits 0 on SIGTERM (got %d)", r);
	tap_ok(lstat(d.sock, &st) < 0 && errno == ENOENT, "it removed its socket");

	/* A disk it does not own is out of its reach. */
	if (fchown(d.disk_fd, 0, 0) < 0)
		tap_bail("chown: %s", strerror(errno));
	r = vu_daemon_start(&d, &o);
	tap_ok(r == -ECHILD && log_has(&d, "Permission denied"),
	       "as %s it cannot open a disk root owns (mode 0600)", USER);
	vu_daemon_teardown(&d);
}

int main(void)
{
	vu_harness_init(30);
	tap_plan_vbridge_only(PLAN, "vbridge's own socket and privilege handling", "least privilege");
	symlink_refused();
	if (geteuid() == 0)
		unprivileged();
	else
		tap_skip(ROOT_ONLY, "not root", "the daemon as an unprivileged user");
	exit(tap_done());
}
