/* Write fences: OFD write locks on the byte ranges of writes still with the storage, and probes for them. */
#include "fence.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "util/log.h"

static int check_range(uint64_t disk_size, uint64_t off, uint64_t len)
{
	/* l_len 0 would mean "to the end of the file and beyond": never what a request needs. */
	if (len == 0) {
		vb_err("fence: empty range at byte %llu refused", (unsigned long long)off);
		return -EINVAL;
	}
	if (off > disk_size || len > disk_size - off) {
		vb_err("fence: bytes %llu+%llu are past the end of the disk (%llu bytes); refused",
		       (unsigned long long)off, (unsigned long long)len,
		       (unsigned long long)disk_size);
		return -ERANGE;
	}
	return 0;
}

static int ofd_lock(int fd, short type, uint64_t off, uint64_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off,
			    .l_len = (off_t)len };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

void vb_fence_set_init(struct vb_fence_set *s, int fd, uint64_t disk_size)
{
	s->fd = fd;
	s->disk_size = disk_size;
	pthread_mutex_init(&s->lock, NULL);
	s->head = NULL;
	s->count = 0;
	s->blankets = 0;
}

void vb_fence_set_destroy(struct vb_fence_set *s)
{
	pthread_mutex_destroy(&s->lock);
}

int vb_fence_add(struct vb_fence_set *s, struct vb_fence *f, uint64_t off, uint64_t len)
{
	int ret = check_range(s->disk_size, off, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	ret = s->blankets ? 0 : ofd_lock(s->fd, F_WRLCK, off, len);
	if (!ret) {
		f->off = off;
		f->len = len;
		f->prev = NULL;
		f->next = s->head;
		if (s->head)
			s->head->prev = f;
		s->head = f;
		s->count++;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* The end of the fence of s covering byte pos, the furthest if several do; pos if none does. */
static uint64_t covered_until(const struct vb_fence_set *s, uint64_t pos)
{
	uint64_t until = pos;

	for (const struct vb_fence *g = s->head; g; g = g->next) {
		if (g->off <= pos && pos < g->off + g->len && g->off + g->len > until)
			until = g->off + g->len;
	}
	return until;
}

/* Where the first fence of s starting after pos starts, or end if none does before it. */
static uint64_t next_start(const struct vb_fence_set *s, uint64_t pos, uint64_t end)
{
	for (const struct vb_fence *g = s->head; g; g = g->next) {
		if (g->off > pos && g->off < end)
			end = g->off;
	}
	return end;
}

/*
 * Unlocks the stretches of [pos, end) no fence of s covers, so a byte fenced
 * for another write is never unlocked, not even for a moment. Quadratic in
 * the fences of the set; there are as many as writes suspensions found in
 * flight. Called with s->lock held.
 */
static int unlock_uncovered(struct vb_fence_set *s, uint64_t pos, uint64_t end)
{
	int ret = 0;

	while (pos < end) {
		uint64_t until = covered_until(s, pos);

		if (until == pos) {
			int err;

			until = next_start(s, pos, end);
			err = ofd_lock(s->fd, F_UNLCK, pos, until - pos);
			if (!ret)
				ret = err;
		}
		pos = until;
	}
	return ret;
}

int vb_fence_drop(struct vb_fence_set *s, struct vb_fence *f)
{
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		s->head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	s->count--;
	/* Under a blanket the range stays locked; the batch's end frees it. */
	if (!s->blankets)
		ret = unlock_uncovered(s, f->off, f->off + f->len);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

bool vb_fence_batch_begin(struct vb_fence_set *s)
{
	bool taken;

	/* l_len 0 would lock to infinity: an empty disk has no writes to fence anyway. */
	if (!s->disk_size)
		return false;
	pthread_mutex_lock(&s->lock);
	taken = ofd_lock(s->fd, F_WRLCK, 0, s->disk_size) == 0;
	if (taken)
		s->blankets++;
	pthread_mutex_unlock(&s->lock);
	return taken;
}

int vb_fence_batch_end(struct vb_fence_set *s)
{
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (--s->blankets == 0)
		ret = unlock_uncovered(s, 0, s->disk_size);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int vb_fence_probe_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int vb_fence_probe(int probe_fd, uint64_t disk_size, uint64_t off, uint64_t len)
{
	int ret = check_range(disk_size, off, len);

	if (ret)
		return ret;
	ret = ofd_lock(probe_fd, F_RDLCK, off, len);
	if (ret == -EAGAIN || ret == -EACCES)
		return VB_FENCE_FENCED;
	if (ret)
		return ret;
	ret = ofd_lock(probe_fd, F_UNLCK, off, len);
	return ret ? ret : VB_FENCE_FREE;
}
