/* SIGUSR1: a thread that logs one status line per device when the signal arrives. */
#include "status.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

static void *status_thread(void *arg)
{
	struct vb_status *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->sig_fd, .events = POLLIN },
				       { .fd = s->quit_fd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN) || read(s->sig_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		for (unsigned int i = 0; i < s->n; i++)
			vb_device_log_status(s->devs[i], s->names[i]);
	}
	return NULL;
}

int vb_status_start(struct vb_status *s, struct vb_device **devs, const char **names,
		    unsigned int n)
{
	sigset_t usr1;
	int ret;

	memset(s, 0, sizeof(*s));
	s->n = n < VB_STATUS_DEVICES ? n : VB_STATUS_DEVICES;
	memcpy(s->devs, devs, s->n * sizeof(*devs));
	memcpy(s->names, names, s->n * sizeof(*names));
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	s->sig_fd = signalfd(-1, &usr1, SFD_CLOEXEC);
	s->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (s->sig_fd < 0 || s->quit_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&s->thread, NULL, status_thread, s);
	if (ret == 0)
		return 0;
fail:
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	if (s->quit_fd >= 0)
		close(s->quit_fd);
	return ret;
}

void vb_status_stop(struct vb_status *s)
{
	uint64_t one = 1;

	if (write(s->quit_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(s->thread, NULL);
	close(s->sig_fd);
	close(s->quit_fd);
}
