/* How long a queue thread spins before it sleeps: the adaptive polling window. */
#ifndef VBRIDGE_POLL_WINDOW_H
#define VBRIDGE_POLL_WINDOW_H

#include <stdint.h>

/* The first window a short wait opens: QEMU's event loop starts at 4 µs too. */
#define VB_POLL_WINDOW_FIRST_NS 4000u
/* A wait longer than this many times the longest window means an idle queue. */
#define VB_POLL_IDLE_FACTOR 4u

/*
 * The window after a wait of WAITED_NS (the spin plus the sleep) that the
 * spin did not end: kept when WAITED_NS was within it, doubled (from
 * VB_POLL_WINDOW_FIRST_NS, up to MAX_NS) when longer but within
 * VB_POLL_IDLE_FACTOR * MAX_NS, closed (0) when longer still.
 */
uint64_t vb_poll_window_next(uint64_t window_ns, uint64_t max_ns, uint64_t waited_ns);

#endif
