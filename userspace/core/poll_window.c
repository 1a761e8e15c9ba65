/* The adaptive polling window: grown by waits a longer spin would have caught, closed by long ones. */
#include "core/poll_window.h"

/*
 * QEMU's event loop in spirit (util/aio-posix.c, poll-grow 2, poll-shrink
 * 0): a wait that ended soon came from work a longer spin would have found
 * without the two wake-ups (the daemon's and the guest's exit for the
 * kick), and the window doubles; a long wait means the queue is idle or its
 * storage slow, spinning there only burns the core, and the window closes,
 * so an idle queue spins at most once, for one window, after its last
 * request.
 *
 * Unlike QEMU, "soon" is up to VB_POLL_IDLE_FACTOR windows, not one: the
 * wait includes the sleeper's own wake-up, which in a VM under load took
 * 32-128 µs for most requests of a client that answered in 1 µs. With one
 * window as the limit, those read as idle and the window kept closing: 71 %
 * of the depth-1 waits ended in a sleep, against 2 % with four.
 */
uint64_t vb_poll_window_next(uint64_t window_ns, uint64_t max_ns, uint64_t waited_ns)
{
	uint64_t grown;

	if (waited_ns > VB_POLL_IDLE_FACTOR * max_ns)
		return 0;
	if (window_ns && waited_ns <= window_ns)
		return window_ns;
	grown = window_ns ? 2 * window_ns : VB_POLL_WINDOW_FIRST_NS;
	return grown < max_ns ? grown : max_ns;
}
