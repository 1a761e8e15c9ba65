/* The tests' slow FUSE disk for C test programs, through tests/lib/slowfs.sh. */
#include "vu_slowfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <signal.h>
#include <unistd.h>

#ifndef VBRIDGE_SRC
#define VBRIDGE_SRC "."
#endif
#define HELPER VBRIDGE_SRC "/tests/lib/slowfs.sh"
#define MAX_MOUNTS 4

static struct vu_slowfs *mounts[MAX_MOUNTS];

/* At exit, also after a bail-out: a mount left behind would outlive the test. */
static void unmount_all(void)
{
	for (unsigned i = 0; i < MAX_MOUNTS; i++) {
		if (mounts[i])
			vu_slowfs_umount(mounts[i]);
	}
}

int vu_slowfs_mount(struct vu_slowfs *s, const char *size, const char *options)
{
	static int registered;
	char cmd[PATH_MAX + 256];
	FILE *p;
	int pid = 0;

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/vbridge-slowfs.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->disk, sizeof(s->disk), "%s/disk", s->dir);
	snprintf(cmd, sizeof(cmd), "%s mount %s %s %s", HELPER, s->dir, size,
		 options ? options : "");
	p = popen(cmd, "r");
	if (!p || fscanf(p, "%d", &pid) != 1)
		pid = 0;
	if (p)
		pclose(p);
	if (pid <= 0) {
		rmdir(s->dir);
		return -1;
	}
	s->pid = pid;
	if (!registered++)
		atexit(unmount_all);
	for (unsigned i = 0; i < MAX_MOUNTS; i++) {
		if (!mounts[i]) {
			mounts[i] = s;
			break;
		}
	}
	return 0;
}

static int control(struct vu_slowfs *s, const char *text)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/control", s->dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fputs(text, f) >= 0 ? 0 : -1;
	return fclose(f) == 0 ? ret : -1;
}

int vu_slowfs_delay(struct vu_slowfs *s, unsigned read_ms, unsigned write_ms)
{
	char text[32];

	snprintf(text, sizeof(text), "%u %u\n", read_ms, write_ms);
	return control(s, text);
}

int vu_slowfs_hold(struct vu_slowfs *s, bool hold)
{
	return control(s, hold ? "hold\n" : "release\n");
}

void vu_slowfs_umount(struct vu_slowfs *s)
{
	char cmd[PATH_MAX + 64];

	if (!s->pid)
		return;
	snprintf(cmd, sizeof(cmd), "%s umount %s %d", HELPER, s->dir, (int)s->pid);
	if (system(cmd) != 0)
		umount2(s->dir, MNT_DETACH);
	rmdir(s->dir);
	s->pid = 0;
	for (unsigned i = 0; i < MAX_MOUNTS; i++) {
		if (mounts[i] == s)
			mounts[i] = NULL;
	}
}
