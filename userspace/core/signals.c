/* A thread for signals the control thread may be too busy to see: SIGUSR1 status lines, and SIGTERM's early notice. */
#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "rings.h"
#include "util/log.h"

static void *signal_thread(void *arg)
{
	struct vb_signals *s = arg;
	bool exiting = false;

	for (;;) {
		/* Once seen, the stop signal stays pending for the control thread: stop watching it. */
		struct pollfd p[3] = { { .fd = s->quit_fd, .events = POLLIN },
				       { .fd = s->usr1_fd, .events = POLLIN },
				       { .fd = exiting ? -1 : s->stop_fd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[2].revents & POLLIN) {
			exiting = true;
			for (unsigned int i = 0; i < s->n; i++)
				vb_device_begin_exit(s->devs[i]);
		}
		if (!(p[1].revents & POLLIN) || read(s->usr1_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		for (unsigned int i = 0; i < s->n; i++)
			vb_device_log_status(s->devs[i], s->names[i]);
	}
	return NULL;
}

int vb_signals_start(struct vb_signals *s, int stop_fd, struct vb_device **devs,
		     const char **names, unsigned int n)
{
	sigset_t usr1;
	int ret;

	memset(s, 0, sizeof(*s));
	s->stop_fd = stop_fd;
	s->n = n < VB_SIGNAL_DEVICES ? n : VB_SIGNAL_DEVICES;
	memcpy(s->devs, devs, s->n * sizeof(*devs));
	memcpy(s->names, names, s->n * sizeof(*names));
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	s->usr1_fd = signalfd(-1, &usr1, SFD_CLOEXEC);
	s->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (s->usr1_fd < 0 || s->quit_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&s->thread, NULL, signal_thread, s);
	if (ret == 0)
		return 0;
fail:
	if (s->usr1_fd >= 0)
		close(s->usr1_fd);
	if (s->quit_fd >= 0)
		close(s->quit_fd);
	return ret;
}

void vb_signals_stop(struct vb_signals *s)
{
	uint64_t one = 1;

	if (write(s->quit_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(s->thread, NULL);
	close(s->usr1_fd);
	close(s->quit_fd);
}
