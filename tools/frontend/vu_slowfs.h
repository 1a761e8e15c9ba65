/* The tests' slow FUSE disk (tests/lib/slowfs.c) for C test programs: mount, change its delays, unmount. */
#ifndef VBRIDGE_VU_SLOWFS_H
#define VBRIDGE_VU_SLOWFS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct vu_slowfs {
	char dir[64];		/* the mount point, a temp dir */
	char disk[PATH_MAX];	/* dir/disk */
	pid_t pid;		/* the FUSE server; 0 when not mounted */
};

/*
 * Mounts a slow disk of size bytes (e.g. "64M") in a new temp dir with
 * tests/lib/slowfs.sh; options are slowfs's ("--delay-ms 500
 * --no-async-dio"), NULL for none. Unmounted at exit if still mounted.
 * Returns 0 or -1.
 */
int vu_slowfs_mount(struct vu_slowfs *s, const char *size, const char *options);
/* From now on, also for requests already waiting: reads take read_ms, writes write_ms. */
int vu_slowfs_delay(struct vu_slowfs *s, unsigned read_ms, unsigned write_ms);
/*
 * hold: the writes waiting now wait, whatever the delay, until a release
 * answers them all at once (after any write that came later and passed its
 * delay). Returns 0 or -1.
 */
int vu_slowfs_hold(struct vu_slowfs *s, bool hold);
/* Releases waiting requests, unmounts, stops the server, removes the dir. */
void vu_slowfs_umount(struct vu_slowfs *s);

#endif
