/* Unit tests of the listening socket: permissions, group, stale sockets, and what must never be replaced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhost-user/vu_socket.h"
#include "tap.h"

static char dir[] = "/tmp/vbridge-socket-test.XXXXXX";
static char path[256];

static mode_t mode_of(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 ? st.st_mode & 0777 : (mode_t)-1;
}

int main(void)
{
	struct stat st;
	char target[300];
	int fd, fd2, regular;
	gid_t group;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/vb.sock", dir);

	fd = vb_vu_listen(path, 0600, (gid_t)-1);
	ok(fd >= 0 && mode_of(path) == 0600, "default socket is 0600");
	fd2 = vb_vu_listen(path, 0600, (gid_t)-1);
	ok(fd2 == -EADDRINUSE, "a socket a live process listens on is refused");
	close(fd);
	/* Only root may give a file to any group; others use their own. */
	group = geteuid() == 0 ? 4242 : getgid();
	fd = vb_vu_listen(path, 0660, group);
	ok(fd >= 0 && mode_of(path) == 0660 && lstat(path, &st) == 0 && st.st_gid == group,
	   "a stale socket is replaced; mode 0660 and the group applied");
	close(fd);
	unlink(path);

	/* A symlink at the socket path must not be followed or replaced. */
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	regular = open(target, O_CREAT | O_WRONLY, 0600);
	close(regular);
	if (symlink(target, path) < 0)
		return 1;
	ok(vb_vu_listen(path, 0600, (gid_t)-1) == -ELOOP && access(target, F_OK) == 0,
	   "a symlink at the socket path is refused (ELOOP) and its target left alone");
	unlink(path);
	regular = open(path, O_CREAT | O_WRONLY, 0600);
	close(regular);
	ok(vb_vu_listen(path, 0600, (gid_t)-1) == -EEXIST && access(path, F_OK) == 0,
	   "a regular file at the socket path is refused and kept");
	unlink(path);
	unlink(target);

	fd = vb_vu_listen(path, 0, (gid_t)-1);
	ok(fd >= 0 && mode_of(path) == 0, "mode 0 is honoured");
	close(fd);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
