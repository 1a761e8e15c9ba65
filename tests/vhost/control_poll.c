/* --control-poll-us: the control thread watches the connection after each message before it sleeps, not at all with 0, and refuses bad values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define DISK_SIZE (64ull << 20)
#define PAUSE_MS 50	/* between the set-up's last message and the stop's first */
#define PLAN 6

/* strace's line for one non-blocking look at the connection: poll on one fd, timeout 0. */
static unsigned count_spin_polls(const struct vu_daemon *d)
{
	FILE *f = fopen(d->trace, "r");
	char line[512];
	unsigned n = 0;

	if (!f)
		tap_bail("cannot read %s", d->trace);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "poll([{fd=") && strstr(line, "}], 1, 0)");
	fclose(f);
	return n;
}

/*
 * A daemon under strace, with args: a full set-up, a pause, a round trip
 * and a stop of the ring over one connection. Returns the number of
 * non-blocking polls it made; *io_ok whether the I/O was right.
 */
static unsigned run_traced(const char *args, bool *io_ok)
{
	struct vu_daemon_opts o = { .strace = true, .args = args };
	struct vu_daemon d;
	struct vu_dev dev;
	unsigned n;

	if (vu_daemon_setup(&d, DISK_SIZE) < 0 || vu_daemon_start(&d, &o) < 0)
		tap_bail("cannot start vbridge %s under strace", args ? args : "");
	if (vu_dev_open(&dev, d.sock, &(struct vu_open_opts){ 0 }) < 0)
		tap_bail("set-up: %s", dev.err);
	usleep(PAUSE_MS * 1000);
	*io_ok = vu_roundtrip_ok(&d, &dev, dev.vqs[0], 7) && vu_vq_stop(dev.vqs[0], NULL) == 0;
	vu_dev_close(&dev);
	*io_ok = *io_ok && vu_daemon_stop(&d) == 0;
	n = count_spin_polls(&d);
	vu_daemon_teardown(&d);
	return n;
}

static void test_refused(const char *value, const char *why)
{
	char args[64], msg[128];
	struct vu_daemon d;
	bool refused;

	snprintf(args, sizeof(args), "--control-poll-us %s", value);
	snprintf(msg, sizeof(msg), "--control-poll-us %s: expected 0 to 100000 microseconds", value);
	if (vu_daemon_setup(&d, DISK_SIZE) < 0)
		tap_bail("cannot create a temp dir");
	refused = vu_daemon_start(&d, &(struct vu_daemon_opts){ .args = args }) < 0;
	tap_ok(refused && vu_daemon_log_has(&d, msg), "--control-poll-us %s (%s) is refused: \"%s\"",
	       value, why, msg);
	vu_daemon_teardown(&d);
}

int main(void)
{
	unsigned n_default, n_off, n_long;
	bool ok;

	vu_harness_init(120);
	tap_plan_vbridge_only(PLAN, "--control-poll-us is a vbridge option", "control_poll");

	n_default = run_traced(NULL, &ok);
	tap_ok(ok, "default: set-up, verified I/O and a stop under strace");
	tap_ok(n_default > 0,
	       "default: after its messages the control thread watched the connection (%u non-blocking polls)",
	       n_default);
	n_off = run_traced("--control-poll-us 0", &ok);
	tap_ok(ok && n_off == 0,
	       "--control-poll-us 0: set-up, I/O and a stop, and the control thread never watched the connection (%u non-blocking polls)",
	       n_off);
	/*
	 * Under strace a poll takes tens of microseconds: the default window
	 * holds a few, one of 100 ms watches through the whole pause. Every
	 * other watch ends with the next message.
	 */
	n_long = run_traced("--control-poll-us 100000", &ok);
	tap_ok(ok && n_long > n_default + 100,
	       "--control-poll-us 100000: set-up, I/O and a stop, watching through the %d ms pause (%u non-blocking polls against %u)",
	       PAUSE_MS, n_long, n_default);
	test_refused("100001", "above the limit");
	test_refused("10us", "not a number");
	return tap_done();
}
