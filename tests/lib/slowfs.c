/* slowfs: a FUSE file system serving one disk file whose reads and writes the kernel waits for, for the tests. */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vb_parse.h"

/*
 * Inodes: the root directory, the disk, and the control file through which a
 * test changes the delays while requests wait ("READ_MS WRITE_MS", or one
 * number for both; reading it gives the current values), or holds the
 * writes waiting now until released ("hold", "release"): they then land
 * after writes that came later, as on storage that reorders.
 */
enum { INO_ROOT = 1, INO_DISK, INO_CONTROL };
enum kind { K_READ, K_WRITE, K_KINDS };

/* A READ or WRITE of the disk, answered once its delay has passed since it arrived. */
struct pending {
	struct pending *next;
	fuse_req_t req;
	uint64_t arrived_ns;
	off_t off;
	size_t len;
	char *data;			/* a WRITE's payload, copied: libfuse reuses its buffer */
};

struct slowfs {
	uint64_t size;
	int backing_fd;			/* -1: the disk lives in mem */
	char *mem;
	bool async_dio;
	bool page_cache;		/* O_DIRECT refused, writes cached by the kernel (writeback) */
	pthread_mutex_t lock;
	pthread_cond_t changed;		/* a request arrived, a delay changed, or quit */
	/*
	 * Under lock. One FIFO per kind: requests of a kind share one delay, so
	 * each list is in deadline order, whatever the delay becomes.
	 */
	struct pending *head[K_KINDS], **tail[K_KINDS];
	struct pending *held;		/* writes held by "hold", answered at "release" */
	uint64_t delay_ns[K_KINDS];
	bool quit;
};

static struct slowfs fs;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = ino == INO_ROOT ? 2 : 1;
	st->st_mode = ino == INO_ROOT ? S_IFDIR | 0755 : S_IFREG | 0600;
	st->st_size = ino == INO_DISK ? (off_t)fs.size : 0;
	st->st_blksize = 4096;
	st->st_blocks = st->st_size / 512;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Without async direct I/O the kernel serves a file's O_DIRECT requests one at a time. */
	if (fs.async_dio && (conn->capable & FUSE_CAP_ASYNC_DIO))
		conn->want |= FUSE_CAP_ASYNC_DIO;
	else
		conn->want &= ~FUSE_CAP_ASYNC_DIO;
	/* Writes then complete into the page cache and come here only when written back. */
	if (fs.page_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	/* Past max_background the kernel queues requests itself; tests want them all here. */
	conn->max_background = 1024;
	conn->congestion_threshold = 1024;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .attr_timeout = 3600, .entry_timeout = 3600 };

	if (parent != INO_ROOT) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strcmp(name, "disk") == 0)
		e.ino = INO_DISK;
	else if (strcmp(name, "control") == 0)
		e.ino = INO_CONTROL;
	else {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

/* So that ls shows what there is. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const struct { const char *name; fuse_ino_t ino; } entries[] = {
		{ ".", INO_ROOT }, { "..", INO_ROOT }, { "disk", INO_DISK },
		{ "control", INO_CONTROL },
	};
	char buf[512];
	size_t len = 0, room = size < sizeof(buf) ? size : sizeof(buf);

	(void)fi;
	if (ino != INO_ROOT) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (off_t i = off; i >= 0 && i < (off_t)(sizeof(entries) / sizeof(entries[0])); i++) {
		struct stat st;
		size_t n;

		fill_attr(entries[i].ino, &st);
		n = fuse_add_direntry(req, buf + len, room - len, entries[i].name, &st, i + 1);
		if (n > room - len)
			break;
		len += n;
	}
	fuse_reply_buf(req, buf, len);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

/*
 * The truncation of `echo ... > control`, and with the page cache the times
 * the kernel writes back at fsync; sizes never change.
 */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	op_getattr(req, ino, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == INO_ROOT) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fs.page_cache && ino == INO_DISK) {
		/* As tmpfs: O_DIRECT refused, everything else through the page cache. */
		if (fi->flags & O_DIRECT) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		fi->direct_io = 0;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
		return;
	}
	/* No page cache: every read and write, O_DIRECT or not, comes here and waits. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

/* The kernel has written the dirty pages back (as WRITEs, delayed) before it asks. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void enqueue(enum kind k, fuse_req_t req, off_t off, size_t len, char *data)
{
	struct pending *p = malloc(sizeof(*p));

	if (!p) {
		free(data);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*p = (struct pending){ .req = req, .arrived_ns = now_ns(), .off = off, .len = len,
			       .data = data };
	pthread_mutex_lock(&fs.lock);
	*fs.tail[k] = p;
	fs.tail[k] = &p->next;
	pthread_cond_signal(&fs.changed);
	pthread_mutex_unlock(&fs.lock);
}

static void control_read(fuse_req_t req, off_t off, size_t size)
{
	char text[64];
	int n;

	pthread_mutex_lock(&fs.lock);
	n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n",
		     fs.delay_ns[K_READ] / 1000000, fs.delay_ns[K_WRITE] / 1000000);
	pthread_mutex_unlock(&fs.lock);
	if (off >= n) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	fuse_reply_buf(req, text + off, (size_t)(n - off) < size ? (size_t)(n - off) : size);
}

static void answer(enum kind k, struct pending *p);

/* "hold": the writes waiting now wait until "release", which answers them at once. */
static void hold_or_release(bool hold)
{
	struct pending *p;

	pthread_mutex_lock(&fs.lock);
	if (hold) {
		*fs.tail[K_WRITE] = fs.held;
		fs.held = fs.head[K_WRITE];
		fs.head[K_WRITE] = NULL;
		fs.tail[K_WRITE] = &fs.head[K_WRITE];
		pthread_mutex_unlock(&fs.lock);
		return;
	}
	p = fs.held;
	fs.held = NULL;
	pthread_mutex_unlock(&fs.lock);
	for (struct pending *next; p; p = next) {
		next = p->next;
		answer(K_WRITE, p);
	}
}

static void control_write(fuse_req_t req, const char *buf, size_t size)
{
	char text[64];
	unsigned long long r, w;
	int n;

	if (size >= sizeof(text)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(text, buf, size);
	text[size] = '\0';
	if (strncmp(text, "hold", 4) == 0 || strncmp(text, "release", 7) == 0) {
		hold_or_release(text[0] == 'h');
		fuse_reply_write(req, size);
		return;
	}
	n = sscanf(text, "%llu %llu", &r, &w);
	if (n < 1) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&fs.lock);
	fs.delay_ns[K_READ] = r * 1000000;
	fs.delay_ns[K_WRITE] = (n == 2 ? w : r) * 1000000;
	pthread_cond_signal(&fs.changed);
	pthread_mutex_unlock(&fs.lock);
	fuse_reply_write(req, size);
}

/* Clamps a request to the disk; false (answered) if it starts past the end. */
static bool clamp(fuse_req_t req, off_t off, size_t *len)
{
	if (off < 0 || (uint64_t)off > fs.size) {
		fuse_reply_err(req, EINVAL);
		return false;
	}
	if (*len > fs.size - (uint64_t)off)
		*len = fs.size - (uint64_t)off;
	return true;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	if (ino == INO_CONTROL)
		control_read(req, off, size);
	else if (clamp(req, off, &size))
		enqueue(K_READ, req, off, size, NULL);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	char *data;

	(void)fi;
	if (ino == INO_CONTROL) {
		control_write(req, buf, size);
		return;
	}
	if (!clamp(req, off, &size))
		return;
	data = malloc(size ? size : 1);
	if (!data) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(data, buf, size);
	enqueue(K_WRITE, req, off, size, data);
}

/* Does the I/O of a request whose time has come, and answers it. */
static void answer(enum kind k, struct pending *p)
{
	char *buf = k == K_READ ? malloc(p->len ? p->len : 1) : NULL;
	ssize_t n = (ssize_t)p->len;

	if (k == K_READ && !buf) {
		fuse_reply_err(p->req, ENOMEM);
	} else if (k == K_READ) {
		if (fs.backing_fd >= 0)
			n = pread(fs.backing_fd, buf, p->len, p->off);
		else
			memcpy(buf, fs.mem + p->off, p->len);
		if (n < 0)
			fuse_reply_err(p->req, errno);
		else
			fuse_reply_buf(p->req, buf, (size_t)n);
	} else {
		if (fs.backing_fd >= 0)
			n = pwrite(fs.backing_fd, p->data, p->len, p->off);
		else
			memcpy(fs.mem + p->off, p->data, p->len);
		if (n < 0)
			fuse_reply_err(p->req, errno);
		else
			fuse_reply_write(p->req, (size_t)n);
	}
	free(buf);
	free(p->data);
	free(p);
}

/*
 * Answers requests as their delays pass, in deadline order. Holding nothing
 * while it answers, and never sleeping on behalf of one request, it lets any
 * number of them wait at once.
 */
static void *answer_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fs.lock);
	while (!fs.quit) {
		uint64_t now = now_ns(), due = UINT64_MAX;
		int k_due = -1;

		for (int k = 0; k < K_KINDS; k++) {
			uint64_t d;

			if (!fs.head[k])
				continue;
			d = fs.head[k]->arrived_ns + fs.delay_ns[k];
			if (d < due) {
				due = d;
				k_due = k;
			}
		}
		if (k_due >= 0 && due <= now) {
			struct pending *p = fs.head[k_due];

			fs.head[k_due] = p->next;
			if (!p->next)
				fs.tail[k_due] = &fs.head[k_due];
			pthread_mutex_unlock(&fs.lock);
			answer(k_due, p);
			pthread_mutex_lock(&fs.lock);
		} else if (k_due >= 0) {
			struct timespec ts = { .tv_sec = due / 1000000000u,
					       .tv_nsec = due % 1000000000u };

			pthread_cond_timedwait(&fs.changed, &fs.lock, &ts);
		} else {
			pthread_cond_wait(&fs.changed, &fs.lock);
		}
	}
	/* The session ends: what still waits fails, so that no request stays unanswered. */
	*fs.tail[K_WRITE] = fs.held;
	fs.held = NULL;
	for (int k = 0; k < K_KINDS; k++) {
		for (struct pending *p = fs.head[k], *next; p; p = next) {
			next = p->next;
			fuse_reply_err(p->req, EIO);
			free(p->data);
			free(p);
		}
	}
	pthread_mutex_unlock(&fs.lock);
	return NULL;
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.setattr = op_setattr,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.fsync = op_fsync,
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: slowfs MOUNTPOINT --size SIZE [options]\n"
"Serves MOUNTPOINT/disk, SIZE bytes, whose reads and writes the kernel waits for,\n"
"and MOUNTPOINT/control: write \"READ_MS WRITE_MS\" (or one number for both) to\n"
"change the delays at once, also for requests already waiting; read it for the\n"
"current ones; write \"hold\" to hold the writes waiting now until \"release\".\n"
"Runs in the foreground until SIGTERM or unmount.\n"
"  --size SIZE          bytes, with an optional K, M, G or T suffix\n"
"  --backing FILE       keep the data in FILE (at least SIZE bytes) instead of memory\n"
"  --delay-ms MS        delay of reads and writes (default 0)\n"
"  --read-delay-ms MS   delay of reads\n"
"  --write-delay-ms MS  delay of writes\n"
"  --no-async-dio       do not negotiate FUSE_ASYNC_DIO: the kernel then serves\n"
"                       O_DIRECT requests one after the other\n"
"  --page-cache         refuse O_DIRECT on the disk (as tmpfs does) and let the\n"
"                       kernel cache writes (FUSE writeback cache): a write\n"
"                       reaches slowfs, and waits, only when written back\n");
}

static int parse_args(int argc, char **argv, const char **mnt, const char **backing)
{
	enum { O_SIZE = 256, O_BACKING, O_DELAY, O_RDELAY, O_WDELAY, O_NOASYNC, O_PAGE_CACHE };
	static const struct option opts[] = {
		{ "size", required_argument, NULL, O_SIZE },
		{ "backing", required_argument, NULL, O_BACKING },
		{ "delay-ms", required_argument, NULL, O_DELAY },
		{ "read-delay-ms", required_argument, NULL, O_RDELAY },
		{ "write-delay-ms", required_argument, NULL, O_WDELAY },
		{ "no-async-dio", no_argument, NULL, O_NOASYNC },
		{ "page-cache", no_argument, NULL, O_PAGE_CACHE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int ms;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_SIZE:
			if (vb_parse_size(optarg, &fs.size) < 0 || !fs.size)
				return -1;
			break;
		case O_BACKING:
			*backing = optarg;
			break;
		case O_DELAY:
		case O_RDELAY:
		case O_WDELAY:
			if (vb_parse_uint(optarg, 0, 86400000, &ms) < 0)
				return -1;
			if (c != O_WDELAY)
				fs.delay_ns[K_READ] = ms * 1000000ull;
			if (c != O_RDELAY)
				fs.delay_ns[K_WRITE] = ms * 1000000ull;
			break;
		case O_NOASYNC:
			fs.async_dio = false;
			break;
		case O_PAGE_CACHE:
			fs.page_cache = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc - 1 || !fs.size)
		return -1;
	*mnt = argv[optind];
	return 0;
}

static int open_store(const char *backing)
{
	if (backing) {
		struct stat st;

		fs.backing_fd = open(backing, O_RDWR | O_CLOEXEC);
		if (fs.backing_fd < 0 || fstat(fs.backing_fd, &st) < 0) {
			fprintf(stderr, "slowfs: %s: %s\n", backing, strerror(errno));
			return -1;
		}
		if ((uint64_t)st.st_size < fs.size) {
			fprintf(stderr, "slowfs: %s is smaller than --size\n", backing);
			return -1;
		}
		return 0;
	}
	/* Untouched pages cost nothing, so a large disk of zeroes is cheap. */
	fs.mem = mmap(NULL, fs.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		      MAP_NORESERVE, -1, 0);
	if (fs.mem == MAP_FAILED) {
		fprintf(stderr, "slowfs: %" PRIu64 " bytes of memory: %s\n", fs.size,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *fuse_argv[] = { argv[0], "-o", "fsname=slowfs,subtype=slowfs", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	const char *mnt = NULL, *backing = NULL;
	struct fuse_session *se;
	pthread_condattr_t ca;
	pthread_t answerer;
	int ret = 1;

	fs.async_dio = true;
	fs.backing_fd = -1;
	if (parse_args(argc, argv, &mnt, &backing) < 0) {
		usage(stderr);
		return 2;
	}
	if (open_store(backing) < 0)
		return 1;
	pthread_mutex_init(&fs.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs.changed, &ca);
	for (int k = 0; k < K_KINDS; k++)
		fs.tail[k] = &fs.head[k];
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_session;
	if (fuse_session_mount(se, mnt) < 0)
		goto out_signals;
	if (pthread_create(&answerer, NULL, answer_thread, NULL))
		goto out_unmount;
	/* One thread takes requests: the handlers only queue them, the answerer answers. */
	ret = fuse_session_loop(se) < 0;
	pthread_mutex_lock(&fs.lock);
	fs.quit = true;
	pthread_cond_signal(&fs.changed);
	pthread_mutex_unlock(&fs.lock);
	pthread_join(answerer, NULL);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	/* fuse_session_new adds to args what the kernel mount needs. */
	fuse_opt_free_args(&args);
	return ret;
}
