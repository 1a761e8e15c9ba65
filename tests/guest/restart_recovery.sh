#!/bin/bash
# SIGKILLs vbridge at random moments, 20+ times, under a TCG guest doing tagged O_DIRECT writes and
# read-back checks (tests/guest/tools/tagwrite.c); QEMU reconnects (reconnect-ms), the restarted
# daemon gets the inflight region back and no guest write may be lost, fail or be corrupted.
#
# Settings (environment): VBRIDGE_SEED (guest workload and kill timing; random by default, printed),
# VBRIDGE_BACKEND (file, default: an image file; rbd: an RBD image on the throw-away cluster of
# tests/lib/ceph.sh, each restarted daemon breaking the killed one's lock with --engine rbd:break-lock),
# VBRIDGE_HANDOVER=1 (rbd only: hand-overs instead of crashes, on QEMU 11 with inflight-migration=on:
# while the OSD holds A's messages up to 2 s, QMP stop, which suspends A's rings with its writes with
# the cluster (GET_VRING_BASE, bit 20); then A is SIGKILLed, B breaks its lock, QEMU reconnects
# and cont resumes the guest, B resubmitting what A left inflight; default 4 cycles, at least 3),
# VBRIDGE_KILLS (kill/restart cycles to do, default 24, rbd 10; at least 20, rbd 8, must happen),
# VBRIDGE_WORK_SECONDS (workload duration, default 60, rbd 40), VBRIDGE_THREADS (guest writers, default 16),
# VBRIDGE_NO_KILL=1 (no kills: checks the workload and this script against a daemon left alone),
# VBRIDGE_KEEP=1 (keep the temp folder; processes are always stopped).
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
# shellcheck source=../lib/tagwrite.sh
. tests/lib/tagwrite.sh
BACKEND=${VBRIDGE_BACKEND:-file}
case "$BACKEND" in
file) MIN_KILLS=20 KILLS=${VBRIDGE_KILLS:-24} WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-60} ;;
# A restart connects to the cluster and breaks a lock (about 1.5 s): fewer kills in a shorter run.
rbd) MIN_KILLS=8 KILLS=${VBRIDGE_KILLS:-10} WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-40} ;;
*) echo "VBRIDGE_BACKEND must be file or rbd" >&2; exit 2 ;;
esac
HANDOVER=${VBRIDGE_HANDOVER:-}
DEVICE_OPTS=
if [ -n "$HANDOVER" ]; then
	[ "$BACKEND" = rbd ] || { echo "VBRIDGE_HANDOVER needs VBRIDGE_BACKEND=rbd" >&2; exit 2; }
	# Each cycle stops the VM for a break of the lock (about 2 s): fewer of them.
	MIN_KILLS=3 KILLS=${VBRIDGE_KILLS:-4}
	export GUEST_QEMU=$PWD/tools/qemu11
	DEVICE_OPTS=,inflight-migration=on
fi
# split (QEMU's default) or packed virtqueues
RING=${VBRIDGE_RING:-split}
case "$RING" in
split) RING_OPT= ;;
packed) RING_OPT=,packed=on ;;
*) echo "VBRIDGE_RING must be split or packed" >&2; exit 2 ;;
esac
[ -z "${VBRIDGE_NO_KILL:-}" ] || KILLS=0
STALL_SECONDS=15	# a guest I/O pending this long fails the run (a lost request never completes)
THREADS=${VBRIDGE_THREADS:-16}	# guest writer threads, one write in flight each
GUEST_TIMEOUT=$((WORK_SECONDS + 120))
SEED=${VBRIDGE_SEED:-$(((RANDOM << 15 | RANDOM) + 1))}
RANDOM=$SEED

tmp=$(mktemp -d /tmp/vbridge-restart.XXXXXX)
vb_pid=
guest_job=
cleanup() {
	[ -n "$vb_pid" ] && kill -KILL "$vb_pid" 2>/dev/null
	# QEMU dies with the guest_run subshell (parent-death signals).
	[ -n "$guest_job" ] && kill -TERM "$guest_job" 2>/dev/null
	[ "$BACKEND" != rbd ] || ceph_stop
	remove_tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. tests/lib/tap.sh

if [ ! -x "$TAGWRITE" ] || [ ! -x "$VBRIDGE" ]; then
	report 1 "$VBRIDGE and $TAGWRITE are built (make)"
	echo "1..$tap_count"
	exit 1
fi

sock=$tmp/vb.sock
img=$tmp/disk.img	# with rbd, the image exported at the end
console=$tmp/guest.log
if [ "$BACKEND" = rbd ]; then
	# shellcheck source=../lib/ceph.sh
	. tests/lib/ceph.sh
	if ! check "a single-node Ceph cluster starts" ceph_start "$tmp/ceph" ||
		! check "a $DISK_MIB MiB image with exclusive-lock" rbd --conf "$CEPH_CONF" create \
			--size "$DISK_MIB"M --image-feature layering,exclusive-lock "$CEPH_POOL/tagwrite"; then
		tap_done
		exit 1
	fi
	# The killed daemon still holds the lock: librbd would take it over by itself only once the
	# OSD drops the dead client's watch (osd_client_watch_timeout, 30 s), so each restart breaks it.
	disk_args=(--engine rbd:break-lock --disk "rbd:$CEPH_POOL/tagwrite:conf=$CEPH_CONF")
	# Every connection from now on gets a delay queue at the OSD, which delays nothing until a
	# hand-over sets the probability to 1 (ms_inject_delay, as tests/vhost/rbd does).
	if [ -n "$HANDOVER" ] && ! { ceph_osd_set ms_inject_delay_type client &&
		ceph_osd_set ms_inject_delay_max 2 && ceph_osd_set ms_inject_delay_probability 0; }; then
		report 1 "the OSD's message delays can be set"
		tap_done
		exit 1
	fi
else
	truncate -s $((DISK_MIB * MiB)) "$img"
	disk_args=(--disk "$img")
fi

# --- the daemon instances: vbridge-N.log each; a SIGKILLed one leaves its socket file behind
instances=0
crashed=()	  # instances that were gone before we killed them, or died of something else
start_vbridge() {
	instances=$((instances + 1))
	vblog=$tmp/vbridge-$instances.log
	"$VBRIDGE" serve --socket "$sock" "${disk_args[@]}" --queues 2 --log-level debug >"$vblog" 2>&1 &
	vb_pid=$!
	# The stale socket of the previous instance is there already: wait for this one to listen.
	for _ in $(seq 1000); do
		grep -q "listening on" "$vblog" 2>/dev/null && return 0
		kill -0 "$vb_pid" 2>/dev/null || break
		sleep 0.02
	done
	echo "# vbridge instance $instances did not start:"
	diag "$vblog"
	return 1
}

guest_alive() { kill -0 "$guest_job" 2>/dev/null; }
qmp_ok() { tests/lib/qmp.py --timeout 10 "$tmp/qmp.sock" "$@" >/dev/null 2>>"$tmp/qmp.err"; }
# The workload has ended (well or not) once it printed its result or an error.
guest_done() { grep -qE "TAGWRITE-(RESULT|ERROR)|VBRIDGE-GUEST-EXIT" "$console" 2>/dev/null; }

# --- the guest: tagwrite on /dev/vda, 2 vCPUs, 2 queues
if ! tagwrite_initramfs "$THREADS"; then
	report 1 "initramfs built"
	diag "$tmp/mkguest.err"
	echo "1..$tap_count"
	exit 1
fi

echo "# seed $SEED, $KILLS kills planned, workload ${WORK_SECONDS} s, stall timeout ${STALL_SECONDS} s"
t_start=$(now_ms)
start_vbridge || exit 1
(
	rc=0
	GUEST_SMP=2 guest_run "$console" "$GUEST_TIMEOUT" -- \
		-chardev socket,id=vu0,path="$sock",reconnect-ms=100 \
		-device vhost-user-blk-pci,chardev=vu0,num-queues=2"$RING_OPT$DEVICE_OPTS" \
		-qmp unix:"$tmp/qmp.sock",server=on,wait=off 2>"$tmp/guest.err" || rc=$?
	echo "$rc" >"$tmp/guest.rc"
) &
guest_job=$!

# --- kill/restart at random moments while the workload runs
kills=0
stop_max=0
not_reconnected=0
late_instance=0
kill_note=
if ! wait_for "$console" TAGWRITE-START $((GUEST_TIMEOUT - WORK_SECONDS)) "$guest_job"; then
	kill_note="the workload never started"
fi
t_work=$(now_ms)
while [ -z "$kill_note" ] && [ "$kills" -lt "$KILLS" ]; do
	# QEMU must be back (it retries every 100 ms) before the next kill.
	if ! wait_for "$vblog" "front-end connected" 20 "$guest_job"; then
		guest_done || ! guest_alive || not_reconnected=$((not_reconnected + 1))
		break
	fi
	# A random moment 0.2 to 2.6 s later, in 10 ms steps.
	d=$((RANDOM % 241 + 20))
	sleep "$((d / 100)).$(printf %02d $((d % 100)))"
	guest_done && break
	if ! kill -0 "$vb_pid" 2>/dev/null; then
		st=0
		wait "$vb_pid" || st=$?
		echo "# vbridge instance $instances died on its own (status $st)"
		crashed+=("$instances")
		vb_pid=
		break
	fi
	if [ -n "$HANDOVER" ]; then
		# A's writes are with the (slowed) cluster when QEMU stops the VM and A suspends.
		ceph_osd_set ms_inject_delay_probability 1
		sleep 0.5
		t=$(now_ms)
		qmp_ok stop || { kill_note="QMP stop failed"; break; }
		t=$(($(now_ms) - t))
		[ "$t" -le "$stop_max" ] || stop_max=$t
		ceph_osd_set ms_inject_delay_probability 0
	fi
	kill -KILL "$vb_pid"
	# (braces: no "Killed" job notice on stderr)
	{ wait "$vb_pid"; } 2>/dev/null
	st=$?
	if [ "$st" -ne 137 ]; then
		echo "# vbridge instance $instances ended with status $st, not by our SIGKILL"
		crashed+=("$instances")
	fi
	vb_pid=
	kills=$((kills + 1))
	start_vbridge || break
	if [ -n "$HANDOVER" ]; then
		# QEMU reconnects while the VM is stopped; cont starts the rings on B.
		if ! wait_for "$vblog" "front-end connected" 20 "$guest_job" || ! qmp_ok cont; then
			kill_note="QEMU did not reconnect to instance $instances, or cont failed"
			break
		fi
	fi
	# An instance started after the workload ended may never see QEMU again.
	guest_done && late_instance=$instances
done
t_kills=$(now_ms)

# --- let the workload finish; a guest that reported its end but cannot power off is stopped
result_seen=
while guest_alive; do
	if [ -z "$result_seen" ] && guest_done; then
		result_seen=$(now_ms)
	fi
	if [ -n "$result_seen" ] && [ $(($(now_ms) - result_seen)) -gt 30000 ]; then
		echo "# the guest reported its end but did not power off in 30 s (I/O stuck in the kernel?): stopped"
		kill -TERM "$guest_job"
		break
	fi
	sleep 0.2
done
wait "$guest_job"
guest_job=
t_end=$(now_ms)
guest_rc=$(guest_status "$(cat "$tmp/guest.rc" 2>/dev/null || echo 125)" "$console")

# The last instance stops cleanly.
last_rc=0
if [ -n "$vb_pid" ]; then
	kill -TERM "$vb_pid"
	wait "$vb_pid" || last_rc=$?
	vb_pid=
	[ "$last_rc" -eq 0 ] || crashed+=("$instances (status $last_rc on SIGTERM)")
fi

# --- checks
tr -d '\r' <"$console" >"$tmp/console.txt"
guest_report "$console" "guest: "

tagwrite_result "$tmp/console.txt"
echo "# guest: ${result:-no TAGWRITE-RESULT line}"
grep -a '^TAGWRITE-ERROR ' "$tmp/console.txt" | head -n 5 | diag
echo "# $kills kills in $(((t_kills - t_work) / 1000)) s of workload; whole run $(((t_end - t_start) / 1000)) s"

if [ -n "$kill_note" ]; then
	echo "# $kill_note"
fi
if [ -n "${VBRIDGE_NO_KILL:-}" ]; then
	echo "# VBRIDGE_NO_KILL: no kills, the daemon was left alone"
else
	check "$kills kill/restart cycles done (at least $MIN_KILLS)" test "$kills" -ge "$MIN_KILLS"
fi
# The kills must have caught requests in flight, or this proves nothing (the daemon logs
# "queue N: resubmitted K requests left inflight" when it starts on a region holding some).
resub=$(grep -l "resubmitted" "$tmp"/vbridge-*.log 2>/dev/null | wc -l)
resub_reqs=$(sed -n 's/.*resubmitted \([0-9]*\) request.*/\1/p' "$tmp"/vbridge-*.log 2>/dev/null | awk '{n += $1} END {print n + 0}')
if [ -z "${VBRIDGE_NO_KILL:-}" ]; then
	check "kills caught requests in flight: $resub of $((instances - 1)) restarted instances resubmitted $resub_reqs" \
		test "$resub_reqs" -gt 0
fi
missing=()
for n in $(seq "$instances"); do
	grep -q "front-end connected" "$tmp/vbridge-$n.log" || [ "$n" -eq "$late_instance" ] || missing+=("$n")
done
check "QEMU reconnected to every one of the $instances daemon instances" test "${#missing[@]}" -eq 0 -a "$not_reconnected" -eq 0
[ "${#missing[@]}" -eq 0 ] || echo "# no front-end connection in instance(s): ${missing[*]}"
if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:|Assertion|Segmentation" "$tmp"/vbridge-*.log >/dev/null 2>&1; then
	crashed+=("sanitizer/assert report in $(grep -lE "AddressSanitizer|LeakSanitizer|runtime error:|Assertion|Segmentation" "$tmp"/vbridge-*.log | xargs -n1 basename | tr '\n' ' ')")
fi
check "no daemon instance died on its own (only our SIGKILLs; the last exits 0 on SIGTERM)" test "${#crashed[@]}" -eq 0
[ "${#crashed[@]}" -eq 0 ] || echo "# crashed: ${crashed[*]}"
check "guest ran to the end (status ${status:-none}, exit $guest_rc)" test "$guest_rc" -eq 0 -a "$status" = ok
if [ -n "$HANDOVER" ]; then
	# The killed instances are 1 to $kills (the last one suspends too, when the guest powers off).
	killed_logs=()
	for n in $(seq "$kills"); do killed_logs+=("$tmp/vbridge-$n.log"); done
	suspended=$(sed -n 's/.*suspended with \([0-9]*\) requests left inflight.*/\1/p' "${killed_logs[@]}" |
		awk '{n += $1} END {print n + 0}')
	stopped=$(grep -l "suspended with" "${killed_logs[@]}" 2>/dev/null | wc -l)
	echo "# QMP stop took at most $stop_max ms"
	check "QMP stop suspended the rings of each of the $kills killed instances (bit 20; $stopped did), $suspended requests left inflight" \
		test "$kills" -gt 0 -a "$stopped" -eq "$kills" -a "$suspended" -gt 0
fi
if [ "$BACKEND" = rbd ]; then
	broke=$(grep -l "breaking the lock of" "$tmp"/vbridge-*.log 2>/dev/null | wc -l)
	check "each of the $((instances - 1)) restarted instances broke the killed one's lock ($broke did)" \
		test "$broke" -eq $((instances - 1)) -a ! -n "$(grep -l "breaking the lock of" "$tmp/vbridge-1.log")"
	check "rbd export reads the image for the manifest check" \
		rbd --conf "$CEPH_CONF" export --no-progress "$CEPH_POOL/tagwrite" "$img"
fi
tagwrite_checks "includes waiting for a restart"

if [ "$tap_failed" -ne 0 ]; then
	echo "# guest console (kernel messages and workload):"
	grep -avE '^(ok|not ok) ' "$tmp/console.txt" | tail -n 40 | diag
	[ ! -s "$tmp/guest.err" ] || { echo "# QEMU stderr:"; tail -n 20 "$tmp/guest.err" | diag; }
	echo "# daemon instance $instances log:"
	tail -n 25 "$tmp/vbridge-$instances.log" | diag
fi
tap_done
