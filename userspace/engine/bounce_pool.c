/* Aligned bounce buffers for O_DIRECT, recycled per queue in power-of-two size classes. */
#include "bounce_pool.h"

#include <stdlib.h>

static size_t class_size(unsigned int c)
{
	return (size_t)VB_BOUNCE_ALIGN << c;
}

/* The smallest class that holds len, or VB_BOUNCE_CLASSES if none does. */
static unsigned int class_of(size_t len)
{
	unsigned int c = 0;

	while (c < VB_BOUNCE_CLASSES && class_size(c) < len)
		c++;
	return c;
}

void *vb_bounce_get(struct vb_bounce_pool *p, size_t align, size_t len, size_t *cap)
{
	unsigned int c = class_of(len);
	void *buf;

	*cap = 0;
	if (align > VB_BOUNCE_ALIGN || c == VB_BOUNCE_CLASSES)
		return posix_memalign(&buf, align, len) ? NULL : buf;
	*cap = class_size(c);
	if (p && p->count[c]) {
		p->cached -= *cap;
		return p->free[c][--p->count[c]];
	}
	return posix_memalign(&buf, VB_BOUNCE_ALIGN, *cap) ? NULL : buf;
}

void vb_bounce_put(struct vb_bounce_pool *p, void *buf, size_t cap)
{
	unsigned int c = class_of(cap);

	if (!buf)
		return;
	if (!p || !cap || c == VB_BOUNCE_CLASSES || p->count[c] == VB_BOUNCE_SLOTS ||
	    p->cached + cap > VB_BOUNCE_CACHE_BYTES) {
		free(buf);
		return;
	}
	p->free[c][p->count[c]++] = buf;
	p->cached += cap;
}

void vb_bounce_pool_drain(struct vb_bounce_pool *p)
{
	for (unsigned int c = 0; c < VB_BOUNCE_CLASSES; c++) {
		while (p->count[c])
			free(p->free[c][--p->count[c]]);
	}
	p->cached = 0;
}
