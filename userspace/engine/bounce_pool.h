/* Aligned bounce buffers for O_DIRECT, recycled per queue so that the I/O path does not allocate. */
#ifndef VBRIDGE_BOUNCE_POOL_H
#define VBRIDGE_BOUNCE_POOL_H

#include <stddef.h>

#define VB_BOUNCE_ALIGN 4096u
#define VB_BOUNCE_CLASSES 9		/* 4 KiB, 8 KiB, ... 1 MiB */
#define VB_BOUNCE_SLOTS 32		/* cached buffers per class at most */
#define VB_BOUNCE_CACHE_BYTES (8u << 20)	/* and this many bytes per pool */

/*
 * Freed buffers are kept per power-of-two size class, up to a byte budget,
 * so steady traffic reuses warm memory instead of calling posix_memalign
 * and free (and faulting fresh pages) per request. One queue thread owns a
 * pool; a buffer may still be freed without it (NULL pool).
 */
struct vb_bounce_pool {
	void *free[VB_BOUNCE_CLASSES][VB_BOUNCE_SLOTS];
	unsigned int count[VB_BOUNCE_CLASSES];
	size_t cached;			/* bytes held in free[] */
};

/*
 * A buffer of at least len bytes aligned to align, or NULL. *cap gets what
 * vb_bounce_put needs back: the class size, or 0 for a buffer outside the
 * classes (too big, or aligned more strictly than VB_BOUNCE_ALIGN).
 */
void *vb_bounce_get(struct vb_bounce_pool *p, size_t align, size_t len, size_t *cap);
/* Returns buf (may be NULL) to pool p, or frees it when p is NULL, full, or cap is 0. */
void vb_bounce_put(struct vb_bounce_pool *p, void *buf, size_t cap);
/* Frees every cached buffer. */
void vb_bounce_pool_drain(struct vb_bounce_pool *p);

#endif
