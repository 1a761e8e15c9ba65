/* The adaptive polling window: grown by short waits, kept by waits within it, closed by long ones. */
#include <stdint.h>

#include "core/poll_window.h"
#include "tap.h"

#define US 1000u
#define MAX (32 * US)

int main(void)
{
	uint64_t w = 0;
	unsigned int steps = 0;

	/* A depth-1 client answers in 10 µs: 4, 8, 16 µs, then what covers it. */
	w = vb_poll_window_next(w, MAX, 10 * US);
	ok(w == VB_POLL_WINDOW_FIRST_NS, "a short wait opens the window at 4 us (%llu ns)",
	   (unsigned long long)w);
	while (w < MAX && steps++ < 10)
		w = vb_poll_window_next(w, MAX, w + 1);
	ok(w == MAX && steps == 3, "waits just past the window double it up to --poll-us in 3 steps (%llu ns, %u)",
	   (unsigned long long)w, steps);
	ok(vb_poll_window_next(16 * US, MAX, 12 * US) == 16 * US,
	   "a wait within the window keeps it: the spin was long enough");
	ok(vb_poll_window_next(24 * US, MAX, 30 * US) == MAX,
	   "growth stops at --poll-us, never past it");
	ok(vb_poll_window_next(MAX, MAX, 4 * MAX) == MAX,
	   "a wait of up to 4x --poll-us (the sleeper's own wake-up in a VM) keeps the window open");
	ok(vb_poll_window_next(0, MAX, 100 * US) == VB_POLL_WINDOW_FIRST_NS,
	   "such a wait opens a closed window");
	ok(vb_poll_window_next(MAX, MAX, 4 * MAX + 1) == 0,
	   "a wait longer than 4x --poll-us closes the window: no spinning on an idle queue");
	ok(vb_poll_window_next(0, MAX, 10 * 1000 * US) == 0,
	   "a closed window stays closed over idle sleeps");
	ok(vb_poll_window_next(0, 2 * US, US) == 2 * US,
	   "a --poll-us below 4 us is the window at once");
	ok(vb_poll_window_next(MAX, MAX, MAX) == MAX, "a wait of exactly --poll-us keeps a full window");
	return tap_done();
}
