/* Unit tests of the bounce buffer pool: reuse up to 1 MiB, the byte budget, buffers outside the classes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/bounce_pool.h"
#include "tap.h"

#define MIB (1u << 20)

static bool aligned(const void *p)
{
	return ((uintptr_t)p % VB_BOUNCE_ALIGN) == 0;
}

/* A buffer given back is the next one handed out of its class: no allocation, warm pages. */
static void test_reuse(struct vb_bounce_pool *p, size_t len, size_t want_cap)
{
	size_t cap, cap2;
	void *a = vb_bounce_get(p, VB_BOUNCE_ALIGN, len, &cap), *b;

	vb_bounce_put(p, a, cap);
	b = vb_bounce_get(p, VB_BOUNCE_ALIGN, len, &cap2);
	ok(a && aligned(a) && cap == want_cap && b == a && cap2 == cap,
	   "a %zu-byte buffer is of class %zu and is reused", len, want_cap);
	vb_bounce_put(p, b, cap2);
}

/* 1 MiB reads at depth 8 keep their eight buffers; the budget frees the ninth. */
static void test_budget(struct vb_bounce_pool *p)
{
	void *buf[9];
	size_t cap[9];
	bool all = true;

	vb_bounce_pool_drain(p);
	for (int i = 0; i < 9; i++)
		buf[i] = vb_bounce_get(p, VB_BOUNCE_ALIGN, MIB, &cap[i]);
	for (int i = 0; i < 9; i++)
		vb_bounce_put(p, buf[i], cap[i]);
	ok(p->cached == VB_BOUNCE_CACHE_BYTES && p->cached == 8u * MIB,
	   "nine 1 MiB buffers given back: eight stay cached (8 MiB), the ninth is freed");
	for (int i = 0; i < 8; i++) {
		void *b = vb_bounce_get(p, VB_BOUNCE_ALIGN, MIB, &cap[0]);
		bool cached = false;

		for (int j = 0; j < 8; j++)
			cached |= b == buf[j];
		all &= cached;
	}
	for (int i = 0; i < 8; i++)
		vb_bounce_put(p, buf[i], cap[0]);
}

static void test_outside(struct vb_bounce_pool *p)
{
	size_t cap = 1;
	void *big = vb_bounce_get(p, VB_BOUNCE_ALIGN, 2 * MIB, &cap);
	size_t cached = p->cached;

	ok(big && aligned(big) && cap == 0, "2 MiB is above the classes: allocated, cap 0");
	vb_bounce_put(p, big, cap);
	ok(p->cached == cached, "and freed, not cached, when given back");
	big = vb_bounce_get(p, 2 * VB_BOUNCE_ALIGN, 4096, &cap);
	ok(big && ((uintptr_t)big % (2 * VB_BOUNCE_ALIGN)) == 0 && cap == 0,
	   "a stricter alignment than the pool's is allocated apart");
	vb_bounce_put(p, big, cap);
	big = vb_bounce_get(NULL, VB_BOUNCE_ALIGN, 4096, &cap);
	ok(big && aligned(big) && cap == 4096 && p->cached == cached,
	   "without a pool a buffer is allocated (and freed when given back)");
	vb_bounce_put(NULL, big, cap);
}

int main(void)
{
	struct vb_bounce_pool p = { 0 };

	test_reuse(&p, 512, 4096);
	test_reuse(&p, 4096, 4096);
	test_reuse(&p, 4097, 8192);
	test_reuse(&p, 128u << 10, 128u << 10);
	test_reuse(&p, (128u << 10) + 1, 256u << 10);
	test_reuse(&p, MIB, MIB);
	test_budget(&p);
	test_outside(&p);
	vb_bounce_pool_drain(&p);
	ok(p.cached == 0, "drained, nothing is cached");
	return tap_done();
}
