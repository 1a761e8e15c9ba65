/* vbridge command line: option parsing, the embedded default disk, signals and the serve loop. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rings.h"
#include "util/log.h"
#include "core/signals.h"
#include "vduse/vduse.h"
#include "vb_parse.h"
#include "virtio/virtqueue.h"
#include "vhost-user/vhost_user.h"

#ifndef VBRIDGE_VERSION
#define VBRIDGE_VERSION "unknown"
#endif

#define DEFAULT_IMAGE "default.img"
#define DEFAULT_SIZE (1ull << 30)
#define DEFAULT_ORPHAN_LIMIT 4
/*
 * While the ring may be suspended every read bounces (--bounce-max auto),
 * so no stop waits for the storage, which is the point of feature 20;
 * only a disk in memory, which cannot be slow, reads straight into guest
 * memory. Direct large reads are faster but a stop waits for them where
 * the storage cannot give them back (Documentation/suspend.rst, "Direct reads").
 */
#define DEFAULT_ORPHAN_TIMEOUT_S 3
/*
 * Adaptive polling is on, as in qemu-storage-daemon's iothreads (poll-max-ns
 * 32768): a depth-1 request then costs no wake-up of the daemon, and an idle
 * queue closes its window after one long sleep (Documentation/benchmarks.rst,
 * "Adaptive polling").
 */
#define DEFAULT_POLL_US 32
/*
 * A front-end stopping a ring sends GET_VRING_BASE right after the
 * SET_VRING_ENABLE we acknowledged; asleep by then, the control thread
 * would add its CPU's wake-up to the reply (up to 6 ms measured; with
 * 100 us of watching, the suspend p99 stayed under 0.15 ms:
 * Documentation/suspend.rst). Control messages are rare, so the spin costs
 * next to nothing.
 */
#define DEFAULT_CONTROL_POLL_US 100

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "vbridge uses vhost-user and virtio structures in host byte order");

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vbridge serve --socket PATH | --vduse NAME [options]\n"
"       vbridge --help | --version\n"
"\n"
"Serves a virtio-blk device to a vhost-user front-end such as QEMU's\n"
"vhost-user-blk-pci (after a front-end disconnects, the next one may connect),\n"
"or to the kernel through VDUSE, as a vDPA device that virtio-vdpa shows as\n"
"/dev/vdX on this host and vhost-vdpa hands to a VM, or both.\n"
"\n"
"Options for serve:\n"
"  -s, --socket PATH     vhost-user Unix socket to listen on\n"
"      --vduse NAME      create VDUSE device NAME (/dev/vduse/NAME) and attach it\n"
"                        to the vDPA bus; after a kill, the next daemon with the\n"
"                        same NAME and --state-dir takes the device over and\n"
"                        resubmits what was in flight. With --socket too, each\n"
"                        front door gets a device of its own on the same disk,\n"
"                        which needs --readonly\n"
"      --socket-mode MODE\n"
"                        permissions of the socket, octal (default 0600: only\n"
"                        this user may connect)\n"
"      --socket-group GROUP\n"
"                        group of the socket, a name or a number; with\n"
"                        --socket-mode 0660, e.g. the group QEMU runs as\n"
"  -d, --disk PATH       backing regular file or block device; without it, the\n"
"                        embedded default image STATE_DIR/" DEFAULT_IMAGE " is used,\n"
"                        created sparse if missing. With --engine rbd:\n"
"                        rbd:POOL/IMAGE[:conf=PATH][:id=NAME][:timeout=SEC]\n"
"                        [:KEY=VALUE]... (timeout: a request fails when the\n"
"                        cluster does not answer in SEC s, default 30, 0: never)\n"
"      --size SIZE       size of an image that does not exist yet, with an optional\n"
"                        K, M, G or T suffix (default 1G); an existing image keeps\n"
"                        its size and must match if --size is given\n"
"      --state-dir DIR   where the default image and VDUSE inflight logs live (default: $VBRIDGE_STATE_DIR,\n"
"                        else /var/lib/vbridge for root, else\n"
"                        ${XDG_STATE_HOME:-~/.local/state}/vbridge)\n"
"  -r, --readonly        open the disk read-only and offer a read-only device\n"
"  -q, --queues N        request queues, each with its own thread and io_uring\n"
"                        (1-%d, default 1)\n"
"      --queue-size N    largest ring a front-end may set up, a power of two\n"
"                        (1-%d, default %d)\n"
"      --serial STR      serial number reported by GET_ID, up to %d bytes\n"
"                        (default: vbridge)\n"
"      --engine ENGINE   how requests reach the disk: uring (default, io_uring),\n"
"                        kabort (a block device through the vbabort kernel\n"
"                        module, whose in-flight I/O ring suspension can abort),\n"
"                        null (no I/O: reads return zeroes, for measuring the\n"
"                        daemon itself) or delay:DURATION (hold every request\n"
"                        DURATION, e.g. 100ms, before io_uring: slow storage\n"
"                        for tests and demos) or rbd[:break-lock[-late]] (a Ceph\n"
"                        RBD image through librbd, --disk rbd:..., holding its\n"
"                        exclusive lock; break-lock takes it from another\n"
"                        client at start, break-lock-late when the first ring\n"
"                        starts: a migration's destination; Documentation/rbd.rst)\n"
"      --poll-us US      before a queue thread sleeps, spin up to US microseconds\n"
"                        watching its ring and I/O, the window adapting to the\n"
"                        load (0-1000000, default 32; 0: off): lower latency\n"
"                        for a busy core while I/O flows\n"
"      --control-poll-us US\n"
"                        after each vhost-user message, watch the connection\n"
"                        up to US microseconds for the next before sleeping\n"
"                        (0-100000, default %d; 0: off): a message that\n"
"                        follows at once (GET_VRING_BASE after\n"
"                        SET_VRING_ENABLE) then finds the daemon awake\n"
"      --sqpoll[=MS]     give each queue's io_uring a kernel thread that polls\n"
"                        its submissions, idling after MS ms without any\n"
"                        (1-10000, default 100); costs a core while busy\n"
"      --no-suspend      do not offer GET_VRING_BASE_INFLIGHT (protocol feature\n"
"                        20): every GET_VRING_BASE waits for in-flight I/O, and\n"
"                        reads need no bounce buffers\n"
"      --bounce-max SIZE reads up to SIZE bytes (K, M suffix) go through a bounce\n"
"                        buffer while the ring may be suspended, so a suspension\n"
"                        abandons them at once; larger ones go straight to guest\n"
"                        memory and a suspension cancels them, or waits for them\n"
"                        if the storage has them (max: every read bounces;\n"
"                        0: every read direct; 64K is a good value for\n"
"                        throughput on storage that never stalls; default\n"
"                        auto: 0 for a file in memory (tmpfs, ramfs,\n"
"                        hugetlbfs) with the uring engine, else max)\n"
"      --orphan-limit N  suspended rings whose abandoned reads are still with the\n"
"                        storage (each keeps a thread and an io_uring) per device,\n"
"                        at most (0-1024, default %d); past it a suspension waits\n"
"                        for its reads\n"
"      --orphan-timeout SEC\n"
"                        on SIGTERM, wait this long for abandoned reads, then\n"
"                        exit anyway, logging what is abandoned (0-3600, default %d)\n"
"      --log-level L     error, warn, info or debug (default info)\n"
"\n"
"SIGINT or SIGTERM stops the daemon cleanly: in-flight I/O completes, the\n"
"socket is removed, the VDUSE device is detached and destroyed, abandoned\n"
"reads are waited for up to --orphan-timeout, and the exit status is 0.\n"
"SIGUSR1 logs one status line per device: rings running, requests in flight,\n"
"orphaned rings and their abandoned reads.\n",
		VB_QUEUES_MAX, VB_QUEUE_SIZE_MAX, VB_QUEUE_SIZE_MAX, VIRTIO_BLK_ID_BYTES,
		DEFAULT_CONTROL_POLL_US, DEFAULT_ORPHAN_LIMIT, DEFAULT_ORPHAN_TIMEOUT_S);
}

static int parse_mode(const char *s, mode_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || end == s || *end || v > 0777)
		return -1;
	*out = v;
	return 0;
}

static int parse_group(const char *s, gid_t *out)
{
	struct group *g = getgrnam(s);
	unsigned int gid;

	if (g) {
		*out = g->gr_gid;
		return 0;
	}
	if (vb_parse_uint(s, 0, UINT_MAX - 1, &gid) < 0)
		return -1;
	*out = gid;
	return 0;
}

static char *default_state_dir(void)
{
	const char *env = getenv("VBRIDGE_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *dir = NULL;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/vbridge");
	if (xdg && *xdg)
		return asprintf(&dir, "%s/vbridge", xdg) < 0 ? NULL : dir;
	if (home && *home)
		return asprintf(&dir, "%s/.local/state/vbridge", home) < 0 ? NULL : dir;
	return NULL;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *path)
{
	char *p = strdup(path);
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ret == 0; s++) {
		bool last = *s == '\0';

		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			ret = -errno;
		if (last)
			break;
		*s = '/';
	}
	free(p);
	return ret;
}

struct serve_args {
	const char *socket;
	const char *vduse;
	mode_t socket_mode;
	gid_t socket_group;
	const char *disk;
	const char *state_dir;
	uint64_t size;
	bool size_given;
	bool readonly;
	unsigned int queues;
	unsigned int queue_size;
	const char *serial;
	struct vb_engine engine;
	bool no_suspend;
	unsigned int poll_us;
	unsigned int control_poll_us;
	unsigned int sqpoll_idle_ms;
	unsigned int orphan_limit;
	unsigned int orphan_timeout_s;
	uint64_t bounce_max;
	bool bounce_auto;
};

static int parse_serve(int argc, char **argv, struct serve_args *a)
{
	enum { OPT_SIZE = 256, OPT_STATE_DIR, OPT_QUEUE_SIZE, OPT_SERIAL, OPT_LOG_LEVEL,
	       OPT_SOCKET_MODE, OPT_SOCKET_GROUP, OPT_ENGINE, OPT_NO_SUSPEND,
	       OPT_POLL_US, OPT_SQPOLL, OPT_VDUSE, OPT_ORPHAN_LIMIT, OPT_ORPHAN_TIMEOUT,
	       OPT_BOUNCE_MAX, OPT_CONTROL_POLL_US };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "vduse", required_argument, NULL, OPT_VDUSE },
		{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
		{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
		{ "disk", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "readonly", no_argument, NULL, 'r' },
		{ "queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "engine", required_argument, NULL, OPT_ENGINE },
		{ "no-suspend", no_argument, NULL, OPT_NO_SUSPEND },
		{ "poll-us", required_argument, NULL, OPT_POLL_US },
		{ "control-poll-us", required_argument, NULL, OPT_CONTROL_POLL_US },
		{ "sqpoll", optional_argument, NULL, OPT_SQPOLL },
		{ "orphan-limit", required_argument, NULL, OPT_ORPHAN_LIMIT },
		{ "orphan-timeout", required_argument, NULL, OPT_ORPHAN_TIMEOUT },
		{ "bounce-max", required_argument, NULL, OPT_BOUNCE_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[160];
	int c;

	*a = (struct serve_args){ .size = DEFAULT_SIZE, .queues = 1, .engine = vb_engine_default(),
				  .socket_mode = 0600, .socket_group = (gid_t)-1,
				  .queue_size = VB_QUEUE_SIZE_MAX, .serial = "vbridge",
				  .orphan_limit = DEFAULT_ORPHAN_LIMIT,
				  .orphan_timeout_s = DEFAULT_ORPHAN_TIMEOUT_S,
				  .bounce_auto = true, .poll_us = DEFAULT_POLL_US,
				  .control_poll_us = DEFAULT_CONTROL_POLL_US };
	while ((c = getopt_long(argc, argv, "s:d:rq:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			a->socket = optarg;
			break;
		case OPT_VDUSE:
			a->vduse = optarg;
			break;
		case 'd':
			a->disk = optarg;
			break;
		case OPT_SOCKET_MODE:
			if (parse_mode(optarg, &a->socket_mode) < 0) {
				fprintf(stderr, "vbridge: --socket-mode %s: expected octal permissions from 0 to 0777, e.g. 0660\n",
					optarg);
				return -1;
			}
			break;
		case OPT_SOCKET_GROUP:
			if (parse_group(optarg, &a->socket_group) < 0) {
				fprintf(stderr, "vbridge: --socket-group %s: no such group\n", optarg);
				return -1;
			}
			break;
		case OPT_SIZE:
			if (vb_parse_size(optarg, &a->size) < 0 || a->size == 0 || a->size % 512) {
				fprintf(stderr, "vbridge: --size %s: expected a non-zero multiple of 512 bytes, e.g. 4G\n",
					optarg);
				return -1;
			}
			a->size_given = true;
			break;
		case OPT_STATE_DIR:
			a->state_dir = optarg;
			break;
		case 'r':
			a->readonly = true;
			break;
		case 'q':
			if (vb_parse_uint(optarg, 1, VB_QUEUES_MAX, &a->queues) < 0) {
				fprintf(stderr, "vbridge: --queues %s: expected 1 to %d\n", optarg,
					VB_QUEUES_MAX);
				return -1;
			}
			break;
		case OPT_QUEUE_SIZE:
			if (vb_parse_uint(optarg, 1, VB_QUEUE_SIZE_MAX, &a->queue_size) < 0 ||
			    (a->queue_size & (a->queue_size - 1))) {
				fprintf(stderr, "vbridge: --queue-size %s: expected a power of two from 1 to %d\n",
					optarg, VB_QUEUE_SIZE_MAX);
				return -1;
			}
			break;
		case OPT_SERIAL:
			if (strlen(optarg) > VIRTIO_BLK_ID_BYTES) {
				fprintf(stderr, "vbridge: --serial: at most %d bytes\n",
					VIRTIO_BLK_ID_BYTES);
				return -1;
			}
			a->serial = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (vb_log_level_parse(optarg, &vb_log_threshold) < 0) {
				fprintf(stderr, "vbridge: --log-level %s: expected error, warn, info or debug\n",
					optarg);
				return -1;
			}
			break;
		case OPT_ENGINE:
			if (vb_engine_parse(optarg, &a->engine, err, sizeof(err)) < 0) {
				fprintf(stderr, "vbridge: --engine %s\n", err);
				return -1;
			}
			break;
		case OPT_NO_SUSPEND:
			a->no_suspend = true;
			break;
		case OPT_SQPOLL:
			a->sqpoll_idle_ms = 100;
			if (optarg && vb_parse_uint(optarg, 1, 10000, &a->sqpoll_idle_ms) < 0) {
				fprintf(stderr, "vbridge: --sqpoll=%s: expected an idle time of 1 to 10000 ms\n",
					optarg);
				return -1;
			}
			break;
		case OPT_POLL_US:
			if (vb_parse_uint(optarg, 0, 1000000, &a->poll_us) < 0) {
				fprintf(stderr, "vbridge: --poll-us %s: expected 0 to 1000000 microseconds\n",
					optarg);
				return -1;
			}
			break;
		case OPT_CONTROL_POLL_US:
			if (vb_parse_uint(optarg, 0, 100000, &a->control_poll_us) < 0) {
				fprintf(stderr, "vbridge: --control-poll-us %s: expected 0 to 100000 microseconds\n",
					optarg);
				return -1;
			}
			break;
		case OPT_BOUNCE_MAX:
			a->bounce_auto = strcmp(optarg, "auto") == 0;
			if (strcmp(optarg, "max") == 0) {
				a->bounce_max = UINT64_MAX;
			} else if (!a->bounce_auto && vb_parse_size(optarg, &a->bounce_max) < 0) {
				fprintf(stderr, "vbridge: --bounce-max %s: expected a size such as 64K, 0, max or auto\n",
					optarg);
				return -1;
			}
			break;
		case OPT_ORPHAN_LIMIT:
			if (vb_parse_uint(optarg, 0, 1024, &a->orphan_limit) < 0) {
				fprintf(stderr, "vbridge: --orphan-limit %s: expected 0 to 1024 rings\n",
					optarg);
				return -1;
			}
			break;
		case OPT_ORPHAN_TIMEOUT:
			if (vb_parse_uint(optarg, 0, 3600, &a->orphan_timeout_s) < 0) {
				fprintf(stderr, "vbridge: --orphan-timeout %s: expected 0 to 3600 seconds\n",
					optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vbridge: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!a->socket && !a->vduse) {
		fprintf(stderr, "vbridge: serve needs --socket PATH, --vduse NAME or both\n");
		return -1;
	}
	if (a->socket && a->vduse && !a->readonly) {
		fprintf(stderr, "vbridge: --socket and --vduse make two devices on the same disk, "
			"which would corrupt it unless both are read-only: add --readonly, or run "
			"one daemon per front door on different disks\n");
		return -1;
	}
	return 0;
}

/* The state directory, created if missing; NULL (logged) if there is none. */
static char *state_dir(const struct serve_args *a)
{
	char *dir = a->state_dir ? strdup(a->state_dir) : default_state_dir();
	int ret;

	if (!dir) {
		vb_err("no state directory: set --state-dir, VBRIDGE_STATE_DIR or HOME");
		return NULL;
	}
	ret = make_dirs(dir);
	if (ret < 0) {
		vb_err("cannot create state directory %s: %s", dir, strerror(-ret));
		free(dir);
		return NULL;
	}
	return dir;
}

/* Resolves the disk to open; the default image lives in the state directory. */
static char *disk_path(const struct serve_args *a)
{
	char *dir, *path = NULL;

	if (a->disk)
		return strdup(a->disk);
	dir = state_dir(a);
	if (dir && asprintf(&path, "%s/%s", dir, DEFAULT_IMAGE) < 0)
		path = NULL;
	free(dir);
	return path;
}

/* Where a VDUSE device's inflight log lives: next to the default image, one per device name. */
static char *vduse_log_path(const struct serve_args *a)
{
	char *dir = state_dir(a), *path = NULL;

	if (dir && asprintf(&path, "%s/vduse-%s.inflight", dir, a->vduse) < 0)
		path = NULL;
	free(dir);
	return path;
}

static int open_device(struct vb_device *dev, const struct serve_args *a, const char *path)
{
	struct vb_device_opts opts = {
		.disk_path = path, .readonly = a->readonly, .num_queues = a->queues,
		.max_queue_size = a->queue_size, .serial = a->serial,
		.create_size = a->readonly ? 0 : a->size, .engine = a->engine,
		.poll_us = a->poll_us, .sqpoll_idle_ms = a->sqpoll_idle_ms,
		.orphan_limit = a->orphan_limit, .orphan_timeout_ms = a->orphan_timeout_s * 1000,
		.bounce_max = a->bounce_max,
		.bounce_auto = a->bounce_auto,
	};

	if (vb_device_init(dev, &opts) < 0)
		return -1;
	if (a->size_given && dev->disk.size != a->size) {
		vb_err("%s already exists with %llu bytes; --size %llu applies only to new images",
		       path, (unsigned long long)dev->disk.size, (unsigned long long)a->size);
		goto fail;
	}
	if (a->engine.ops->check && a->engine.ops->check(&a->engine, &dev->disk) < 0)
		goto fail;
	return 0;
fail:
	vb_device_destroy(dev);
	return -1;
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

static int serve(const struct serve_args *a)
{
	struct vb_device vu_dev, vduse_dev;
	struct vb_vu_server srv;
	struct vb_vduse vduse;
	struct vb_vduse_opts vd = { .name = a->vduse };
	struct vb_vu_opts vu = { .path = a->socket, .mode = a->socket_mode,
				 .gid = a->socket_group, .no_suspend = a->no_suspend,
				 .control_poll_us = a->control_poll_us };
	struct vb_signals signals;
	struct vb_device *devs[VB_SIGNAL_DEVICES];
	const char *names[VB_SIGNAL_DEVICES];
	unsigned int ndevs = 0;
	char engine[32];
	char *path = disk_path(a), *log_path = NULL;
	sigset_t stop_signals, blocked;
	bool signals_started = false, orphans_left = false;
	int stop_fd, ret = 1;

	if (!path)
		return 1;
	/* Blocked before any thread starts, so only the signalfds see them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	blocked = stop_signals;
	sigaddset(&blocked, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	signal(SIGPIPE, SIG_IGN);
	stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	if (stop_fd < 0) {
		vb_err("signalfd: %s", strerror(errno));
		goto out_path;
	}
	if (a->socket && open_device(&vu_dev, a, path) < 0)
		goto out_signal;
	if (a->vduse) {
		log_path = vduse_log_path(a);
		vd.log_path = log_path;
		if (!log_path || open_device(&vduse_dev, a, path) < 0)
			goto out_vu_device;
		if (vb_vduse_init(&vduse, &vduse_dev, &vd) < 0)
			goto out_vduse_device;
	}
	if (a->socket && vb_vu_server_init(&srv, &vu_dev, &vu) < 0)
		goto out_vduse;
	vb_info("engine %s%s", vb_engine_describe(&a->engine, engine, sizeof(engine)),
		a->no_suspend ? ", ring suspension not offered" : "");
	if (a->socket) {
		devs[ndevs] = &vu_dev;
		names[ndevs++] = a->socket;
	}
	if (a->vduse) {
		devs[ndevs] = &vduse_dev;
		names[ndevs++] = a->vduse;
	}
	signals_started = vb_signals_start(&signals, stop_fd, devs, names, ndevs) == 0;
	if (!signals_started)
		vb_warn("no signal thread: SIGUSR1 will be ignored");
	if (a->socket)
		vb_vu_server_run(&srv, stop_fd);
	else
		wait_readable(stop_fd);
	vb_info("stopping");
	if (signals_started)
		vb_signals_stop(&signals);
	if (a->socket)
		vb_vu_server_destroy(&srv);
	ret = 0;
out_vduse:
	if (a->vduse)
		vb_vduse_destroy(&vduse);
out_vduse_device:
	if (a->vduse && log_path)
		orphans_left |= !vb_device_destroy(&vduse_dev);
out_vu_device:
	if (a->socket)
		orphans_left |= !vb_device_destroy(&vu_dev);
out_signal:
	close(stop_fd);
out_path:
	free(log_path);
	free(path);
	/* Orphaned rings' threads still use a device in this frame: exit before it goes away. */
	if (orphans_left)
		exit(ret);
	return ret;
}

int main(int argc, char **argv)
{
	struct serve_args args;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vbridge %s\n", VBRIDGE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "vbridge: unknown command '%s'; see vbridge --help\n", argv[1]);
		return 2;
	}
	if (parse_serve(argc - 1, argv + 1, &args) < 0) {
		fprintf(stderr, "See vbridge --help.\n");
		return 2;
	}
	return serve(&args);
}
