#!/bin/bash
# Live-migrates a TCG guest doing tagged O_DIRECT writes and read-back checks
# (tests/guest/tools/tagwrite.c) from one QEMU to another, each with its own vbridge on the same
# image: source A on a.sock, destination B on b.sock. The source daemon must do dirty logging
# (SET_LOG_BASE, VHOST_F_LOG_ALL) while the guest's I/O is in flight; the guest must finish its
# workload on the destination with no I/O error, no failed verification and no stall, and the
# image must match the manifest the guest wrote. Migration is driven over QMP (tests/lib/qmp.py).
#
# What catches missing dirty logging: reads the source daemon completes during the RAM copy or
# the final drain (GET_VRING_BASE) land in guest pages QEMU does not know are dirty; unless the
# daemon logs them the destination guest sees stale buffers and tagwrite's concurrent reader
# reports a misdirected block (5 runs of 6 with the daemon's marking disabled).
#
# Settings (environment): VBRIDGE_SEED (guest workload seed; random by default, printed),
# VBRIDGE_WORK_SECONDS (workload duration, default 30), VBRIDGE_KEEP=1 (keep the temp folder;
# processes are always stopped), GUEST_QEMU (the QEMU of both sides, tests/lib/guest.sh),
# VBRIDGE_INFLIGHT_MIGRATION=1 (QEMU 11's inflight-migration=on: the source suspends its rings
# and the destination resubmits), VBRIDGE_DAEMON_ARGS (more options for both daemons, e.g.
# --engine delay:1000ms) and VBRIDGE_A_ARGS / VBRIDGE_B_ARGS (for the source or the destination
# alone), VBRIDGE_STALL_SECONDS (default 15), VBRIDGE_MIGRATION_RESULT (a file that gets "DOWNTIME_MS TOTAL_MS
# SUSPENDED", the last the requests the source left inflight), VBRIDGE_REQUIRE_SUSPENDED=0 (with
# inflight migration, no request need be in flight at the switch-over: on fast storage there may be none),
# VBRIDGE_SLOWFS_MS (both back-ends serve the image through the slow FUSE disk of
# tests/lib/slowfs.sh, the image as its backing file, every read and write taking this many ms in
# the kernel), VBRIDGE_HANG_MS (with VBRIDGE_SLOWFS_MS: the disk hangs just before the migration,
# every request then taking this long, and recovers once the migration has ended),
# VBRIDGE_QUIESCE=1 (nothing in flight at the switch-over: the guest first runs tagwrite for
# VBRIDGE_WORK_SECONDS on a second region and ends it, manifest synced; it is migrated then, and
# once running on the destination it checks every block of that region through the destination
# back-end before the usual workload; for a source back-end that does not wait for its requests at
# GET_VRING_BASE, qemu-storage-daemon), VBRIDGE_RBD=POOL/IMAGE (both back-ends serve that RBD
# image of the running cluster whose configuration CEPH_CONF names, tests/lib/ceph.sh; their
# engines in VBRIDGE_A_ARGS / VBRIDGE_B_ARGS; the image is exported for the manifest check, and B
# must log that it broke A's lock), VBRIDGE_RBD_DELAY_S (with VBRIDGE_RBD: the OSD holds each
# message of A's connection up to this long, in order, from just before the migration
# until it ended, so that requests are with the cluster at the source's GET_VRING_BASE; then,
# with inflight migration, A must log that the cluster refused late writes), VBRIDGE_A_NETNS / VBRIDGE_B_NETNS (run that
# vbridge in this network namespace: QEMU reaches it through its unix socket all the same).
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../lib/guest.sh
. tests/lib/guest.sh
BUILD=${BUILD:-build}
# shellcheck source=../lib/tagwrite.sh
. tests/lib/tagwrite.sh
QMP=$PWD/tests/lib/qmp.py
THREADS=8	# guest writer threads, one write in flight each
WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-30}
STALL_SECONDS=${VBRIDGE_STALL_SECONDS:-15}	# a guest I/O pending this long fails the run (a lost request never completes)
SETTLE_SECONDS=3	# migrate this long after the workload started, so that I/O is in flight
MIGRATE_TIMEOUT=60	# from "migrate" to "completed"
BOOT_TIMEOUT=60	# from QEMU start to the workload's start on the source
SRC_TIMEOUT=$((BOOT_TIMEOUT + MIGRATE_TIMEOUT + 30))	# guest_run limits: the last resort
DST_TIMEOUT=$((SRC_TIMEOUT + WORK_SECONDS + 60))
SEED=${VBRIDGE_SEED:-$(((RANDOM << 15 | RANDOM) + 1))}
INFLIGHT_MIGRATION=${VBRIDGE_INFLIGHT_MIGRATION:-0}
DEVICE_OPTS=
[ "$INFLIGHT_MIGRATION" != 1 ] || DEVICE_OPTS=,inflight-migration=on
# The bandwidth limit stretches the RAM copy (about 70 MiB that are not zero) over 1-3 s of
# the guest's I/O, so that pages the daemon writes meanwhile must come from its dirty log; the
# downtime limit is lenient for TCG.
MIGRATION_PARAMS=${VBRIDGE_MIGRATION_PARAMS:-'{"max-bandwidth": 67108864, "downtime-limit": 1000}'}
# Less RAM than guest_run's default: less to copy; the guest needs little.
export GUEST_MEM=256M GUEST_SMP=2
SLOWFS_MS=${VBRIDGE_SLOWFS_MS:-}
HANG_MS=${VBRIDGE_HANG_MS:-}
RBD=${VBRIDGE_RBD:-}
RBD_DELAY_S=${VBRIDGE_RBD_DELAY_S:-}
HANG_STICK_SECONDS=1	# from the hang to the migration: every guest writer's next request is stuck by then
QUIESCE=${VBRIDGE_QUIESCE:-0}
QUIESCED_OFFSET=$((32 * MiB))	# the region written before the migration, apart from tagwrite's usual one

tmp=$(mktemp -d /tmp/vbridge-migration.XXXXXX)
img=$tmp/disk.img	# with VBRIDGE_RBD, the image exported at the end
disk=$img	# what the back-ends serve: the image, the slow FUSE disk backed by it, or the RBD image
[ -z "$RBD" ] || disk="rbd:$RBD:conf=${CEPH_CONF:-}"
slowfs=$tmp/slowfs
a_pid='' b_pid='' src_job='' dst_job=''
cleanup() {
	local p
	# Hung requests are released first: a daemon exits only once its I/O has ended.
	[ -z "$SLOWFS_MS" ] || slowfs_delay "$slowfs" 0 2>/dev/null
	for p in "$a_pid" "$b_pid"; do
		# (braces: no "Killed" job notice on stderr)
		[ -z "$p" ] || { kill -KILL "$p" && wait "$p"; } 2>/dev/null
	done
	# QEMU dies with its guest_run subshell (parent-death signals).
	for p in "$src_job" "$dst_job"; do
		[ -z "$p" ] || kill -TERM "$p" 2>/dev/null
	done
	[ -z "$SLOWFS_MS" ] || slowfs_umount "$slowfs"
	remove_tmp
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. tests/lib/tap.sh

# Everything both sides left behind, for a failure.
diagnostics() {
	local f
	for f in src dst; do
		echo "# --- $f console (kernel messages and workload):"
		[ ! -f "$tmp/$f.log" ] || tr -d '\r' <"$tmp/$f.log" | grep -avE '^(ok|not ok) |^TAGWRITE-PROGRESS' | tail -n 25 | diag
		[ ! -s "$tmp/$f.err" ] || { echo "# --- $f QEMU stderr:"; tail -n 20 "$tmp/$f.err" | diag; }
	done
	[ ! -s "$tmp/qmp.err" ] || { echo "# --- QMP errors:"; diag "$tmp/qmp.err"; }
	[ ! -s "$tmp/migrate.last" ] || { echo "# --- last query-migrate:"; diag "$tmp/migrate.last"; }
	for f in a b; do
		echo "# --- vbridge $f log:"
		[ ! -f "$tmp/vbridge-$f.log" ] || tail -n 40 "$tmp/vbridge-$f.log" | diag
	done
}

bail() { # DESCRIPTION: a failure the rest cannot go on from
	report 1 "$1"
	diagnostics
	echo "1..$tap_count"
	exit 1
}

if [ ! -x "$TAGWRITE" ] || [ ! -x "$VBRIDGE" ]; then
	bail "$VBRIDGE and $TAGWRITE are built (make)"
fi

# wait_job PID SECONDS: true once the background job has ended (within SECONDS); its exit
# status is then in job_rc.
job_rc=
wait_job() {
	local deadline=$(($(now_ms) + $2 * 1000))
	while kill -0 "$1" 2>/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
	job_rc=0
	wait "$1" 2>/dev/null || job_rc=$?
	return 0
}

# peer NAME: the back-end of side NAME (a: source, b: destination), vbridge or, with
# VBRIDGE_A_PEER / VBRIDGE_B_PEER=qsd, qemu-storage-daemon's vhost-user-blk export.
peer() {
	local v=VBRIDGE_${1^^}_PEER
	echo "${!v:-vbridge}"
}

# start_vbridge NAME: back-end NAME on $tmp/NAME.sock, log in $tmp/vbridge-NAME.log, pid in NAME_pid.
start_vbridge() {
	local sock=$tmp/$1.sock log=$tmp/vbridge-$1.log pid
	local side_args=VBRIDGE_${1^^}_ARGS netns=VBRIDGE_${1^^}_NETNS
	local in_netns=()
	[ -z "${!netns:-}" ] || in_netns=(ip netns exec "${!netns}")
	if [ "$(peer "$1")" = qsd ]; then
		qemu-storage-daemon \
			--blockdev driver=file,node-name=disk,filename="$disk",cache.direct=on,aio=io_uring \
			--export type=vhost-user-blk,id=exp,node-name=disk,addr.type=unix,addr.path="$sock",writable=on,num-queues=2 \
			>"$log" 2>&1 &
	else
		# shellcheck disable=SC2086 # word splitting of the extra options is intended
		"${in_netns[@]}" "$VBRIDGE" serve --socket "$sock" --disk "$disk" --queues 2 --log-level debug \
			${VBRIDGE_DAEMON_ARGS:-} ${!side_args:-} >"$log" 2>&1 &
	fi
	pid=$!
	printf -v "$1_pid" %s "$pid"
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# back-end $1 ($(peer "$1")) did not start:"
	diag "$log"
	return 1
}

# stop_vbridge NAME: SIGTERM; it must exit 0 and remove its socket.
stop_vbridge() {
	local var=$1_pid rc
	kill -TERM "${!var}" 2>/dev/null
	if wait_job "${!var}" 20; then
		rc=$job_rc
	else
		kill -KILL "${!var}" 2>/dev/null
		echo "# vbridge $1 still running 20 s after SIGTERM: killed"
		rc=timeout
	fi
	printf -v "$var" %s ""
	if [ "$(peer "$1")" = qsd ]; then
		check "qemu-storage-daemon $1 exits 0 on SIGTERM (status $rc)" test "$rc" = 0
	else
		check "vbridge $1 exits 0 on SIGTERM (status $rc) and removes its socket" test "$rc" = 0 -a ! -e "$tmp/$1.sock"
	fi
}

# launch_qemu NAME SOCKET TIMEOUT [QEMU options]: guest_run in the background, console $tmp/NAME.log,
# its status in $tmp/NAME.rc. Source and destination get the same machine and device options.
launch_qemu() {
	local name=$1 sock=$2 secs=$3
	shift 3
	(
		rc=0
		guest_run "$tmp/$name.log" "$secs" -- \
			-chardev socket,id=vu0,path="$sock" \
			-device vhost-user-blk-pci,chardev=vu0,num-queues=2$DEVICE_OPTS \
			-qmp unix:"$tmp/qmp-$name.sock",server=on,wait=off \
			"$@" 2>"$tmp/$name.err" || rc=$?
		echo "$rc" >"$tmp/$name.rc"
	) &
}

qmp() { # SIDE COMMAND [JSON]...: one QMP session; errors go to $tmp/qmp.err
	"$QMP" --timeout 10 "$tmp/qmp-$1.sock" "${@:2}" 2>>"$tmp/qmp.err"
}
json_field() { # NAME: a top-level string or number field of the JSON line on stdin
	python3 -c 'import json, sys; v = json.loads(sys.stdin.read()).get(sys.argv[1], ""); print(v)' "$1" 2>/dev/null
}

# --- the guest: tagwrite on /dev/vda, 2 vCPUs, 2 queues
guest_start="echo MIGRATION-WORKLOAD-STARTS"
src_opts=() dst_opts=()
if [ "$QUIESCE" = 1 ]; then
	# The guest waits on a second serial port for the word that it runs on the destination: it
	# does no I/O until then. Its state migrates; only the destination's end is connected.
	mkfifo "$tmp/ctl.in" "$tmp/ctl.out"
	# shellcheck disable=SC2054 # commas inside QEMU's option values
	src_opts=(-chardev null,id=ctl -device isa-serial,index=1,chardev=ctl)
	# shellcheck disable=SC2054
	dst_opts=(-chardev pipe,id=ctl,path="$tmp/ctl" -device isa-serial,index=1,chardev=ctl)
	# The check after the migration drops the guest's page cache first: it must read the disk
	# through the destination back-end.
	quiesced="--dev /dev/vda --offset $QUIESCED_OFFSET --blocks $REGION_BLOCKS --seed $((SEED + 1))"
	guest_start="$guest_start
if tagwrite run $quiesced --seconds $WORK_SECONDS --threads $THREADS --stall-timeout $STALL_SECONDS >/tmp/quiesced.out 2>&1; then
	echo 'ok - before the migration: tagwrite ran, ended and synced its manifest'
else
	echo 'not ok - before the migration: tagwrite ran, ended and synced its manifest'
	sed 's/^/quiesced: /' /tmp/quiesced.out
fi
hash=\$(sed -n 's/^TAGWRITE-RESULT .* manifest=\([^ ]*\).*/\1/p' /tmp/quiesced.out)
echo MIGRATION-QUIESCED
read -r _ </dev/ttyS1
echo 1 >/proc/sys/vm/drop_caches
if tagwrite check $quiesced --hash \"\$hash\" >/tmp/check.out; then
	echo 'ok - on the destination every block written before the migration reads as its manifest says'
else
	echo 'not ok - on the destination every block written before the migration reads as its manifest says'
fi
cat /tmp/check.out"
fi
tagwrite_initramfs "$THREADS" "$guest_start" ||
	{ diag "$tmp/mkguest.err"; bail "initramfs built"; }
# Both QEMUs must boot the very same kernel.
GUEST_KERNEL=$(guest_kernel) || bail "guest kernel available (tools/mkguest kernel)"
export GUEST_KERNEL

migrate_when="migration ${SETTLE_SECONDS} s after it starts"
[ "$QUIESCE" != 1 ] || migrate_when="migration once it has ended, then as long again"
echo "# seed $SEED, workload ${WORK_SECONDS} s, $migrate_when"
t_start=$(now_ms)
[ -n "$RBD" ] || truncate -s $((DISK_MIB * MiB)) "$img"
# OSD settings through its admin socket: a command through the messenger would be held up too.
osd_set() { ceph --conf "$CEPH_CONF" daemon osd.0 config set "$1" "$2" >/dev/null; }
# Only connections made while the type is "client" get a delay queue: A's alone (below), so
# that B's lock break and resubmissions go through at once, after the switch-over, while A's
# writes are still held.
[ -z "$RBD_DELAY_S" ] || { osd_set ms_inject_delay_type client && osd_set ms_inject_delay_max "$RBD_DELAY_S"; } ||
	bail "the OSD takes the message delay settings"
if [ -n "$SLOWFS_MS" ]; then
	# shellcheck source=../lib/slowfs.sh
	. tests/lib/slowfs.sh
	mkdir "$slowfs"
	slowfs_mount "$slowfs" "${DISK_MIB}M" --backing "$img" --delay-ms "$SLOWFS_MS" ||
		bail "the slow FUSE disk is mounted ($SLOWFS_MS ms per request)"
	disk=$slowfs/disk
fi
start_vbridge a || bail "back-end A (source, $(peer a)) starts"
[ -z "$RBD_DELAY_S" ] || osd_set ms_inject_delay_type none
start_vbridge b || bail "back-end B (destination, $(peer b)) starts"

launch_qemu src "$tmp/a.sock" "$SRC_TIMEOUT" "${src_opts[@]}"
src_job=$!
launch_qemu dst "$tmp/b.sock" "$DST_TIMEOUT" -incoming unix:"$tmp/mig.sock" "${dst_opts[@]}"
dst_job=$!

# --- the destination waits for the migration stream, connected to B
if [ "$(peer b)" = vbridge ]; then
	wait_for "$tmp/vbridge-b.log" "front-end connected" 30 "$dst_job" ||
		bail "destination QEMU connected to vbridge B"
fi
for _ in $(seq 100); do
	[ -S "$tmp/qmp-dst.sock" ] && break
	sleep 0.1
done
dst_status=$(qmp dst query-status | json_field status)
check "destination QEMU waits for the migration (status ${dst_status:-unknown})" test "$dst_status" = inmigrate

# --- the source runs the workload; migrate while its I/O is in flight
wait_for "$tmp/src.log" MIGRATION-WORKLOAD-STARTS "$BOOT_TIMEOUT" "$src_job" ||
	bail "the source guest booted and reached the workload"
t_work=$(now_ms)
if [ "$QUIESCE" = 1 ]; then
	wait_for "$tmp/src.log" MIGRATION-QUIESCED $((WORK_SECONDS + 30)) "$src_job" ||
		bail "the source guest ran its writes and stopped them"
else
	wait_for "$tmp/src.log" TAGWRITE-START 20 "$src_job" || bail "tagwrite started on the source"
	t_work=$(now_ms)
	sleep "$SETTLE_SECONDS"
fi
kill -0 "$src_job" 2>/dev/null || bail "the source guest is still running before the migration"

if [ -n "$HANG_MS" ]; then
	slowfs_delay "$slowfs" "$HANG_MS"
	t_hang=$(now_ms)
	sleep "$HANG_STICK_SECONDS"
fi
[ -z "$RBD_DELAY_S" ] || osd_set ms_inject_delay_probability 1
t_mig=$(now_ms)
if qmp src migrate-set-parameters "$MIGRATION_PARAMS" \
	migrate "{\"uri\": \"unix:$tmp/mig.sock\"}" >/dev/null; then
	t_mig_sent=$(now_ms)	# QEMU got "migrate" at or before this
	mig_status=
	deadline=$(($(now_ms) + MIGRATE_TIMEOUT * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		# While the source stops its devices its monitor does not answer: ask again.
		if ! qmp src query-migrate >"$tmp/migrate.json"; then
			kill -0 "$src_job" 2>/dev/null || break
			continue
		fi
		cp "$tmp/migrate.json" "$tmp/migrate.last"
		mig_status=$(json_field status <"$tmp/migrate.json")
		case "$mig_status" in completed | failed | cancelled) break ;; esac
		sleep 0.2
	done
	case "$mig_status" in
	completed | failed | cancelled) ;;
	*)
		echo "# the migration did not complete within $MIGRATE_TIMEOUT s: cancelled"
		qmp src migrate_cancel >/dev/null
		;;
	esac
else
	mig_status="not started"
fi
t_mig_end=$(now_ms)
# Messages held already stay held; new ones go through.
[ -z "$RBD_DELAY_S" ] || osd_set ms_inject_delay_probability 0
if [ -n "$HANG_MS" ]; then
	slowfs_delay "$slowfs" "$SLOWFS_MS"
	echo "# the disk hung from $(((t_mig - t_hang) / 1000)) s before the migration until $(((t_mig_end - t_hang) / 1000)) s after the hang began (a request took up to $((HANG_MS / 1000)) s)"
fi
mig_info=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
r = m.get("ram", {})
print("total %s ms, downtime %s ms, %d MiB sent, %s dirty syncs, %s normal pages, %s zero pages" % (
    m.get("total-time"), m.get("downtime"), r.get("transferred", 0) >> 20, r.get("dirty-sync-count"),
    r.get("normal"), r.get("duplicate")))
' "$tmp/migrate.last" 2>/dev/null)
echo "# migration: ${mig_info:-no query-migrate answer}"
mig_downtime=$(json_field downtime 2>/dev/null <"$tmp/migrate.last")
mig_total=$(json_field total-time 2>/dev/null <"$tmp/migrate.last")
mig_error=$(json_field error-desc 2>/dev/null <"$tmp/migrate.last")
[ -z "$mig_error" ] || echo "# migration error: $mig_error"
check "migration completed (status ${mig_status:-unknown} after $(((t_mig_end - t_mig) / 1000)) s)" \
	test "$mig_status" = completed

if [ -n "$HANG_MS" ] && [ "$mig_status" = completed ]; then
	hang_end=$((t_hang + HANG_MS))
	if [ "$INFLIGHT_MIGRATION" = 1 ]; then
		check "the migration started and completed while the disk hung ($(((t_mig_end - t_hang) / 1000)) s into a $((HANG_MS / 1000)) s hang)" \
			test "$t_mig_end" -lt "$hang_end"
	else
		# QEMU stopped the VM (total - downtime) after it got "migrate", so at the latest at
		# t_stop; draining, it stays stopped until the requests stuck since the hang have landed,
		# at least until the hang's end.
		t_stop=$((t_mig_sent + mig_total - mig_downtime))
		check "draining waited for the hung disk: downtime $mig_downtime ms, the VM stopped at the latest $((hang_end - t_stop)) ms before the hang's end" \
			test "$t_stop" -lt "$hang_end" -a "$mig_downtime" -ge $((hang_end - t_stop))
	fi
fi

if [ "$mig_status" = completed ]; then
	# A loaded host can make one QMP session time out: ask up to three times.
	for _ in 1 2 3; do
		dst_status=$(qmp dst query-status | json_field status)
		[ -z "$dst_status" ] || break
	done
	check "the guest runs on the destination (status ${dst_status:-unknown})" test "$dst_status" = running
	# (read-write: opening the FIFO never waits, even with QEMU gone)
	[ "$QUIESCE" != 1 ] || echo go 1<>"$tmp/ctl.in"
fi

# --- the source is done: quit it (a failed migration leaves the guest there: stop both)
qmp src quit >/dev/null
if wait_job "$src_job" 20; then
	src_rc=$(cat "$tmp/src.rc" 2>/dev/null || echo 125)
else
	echo "# the source QEMU did not quit within 20 s: stopped"
	kill -TERM "$src_job" 2>/dev/null
	wait_job "$src_job" 10
	src_rc=timeout
fi
src_job=
# guest_run reports 125 (no status from the guest): the guest finished elsewhere.
check "source QEMU quit after the migration, the guest did not finish there (guest_run status $src_rc)" \
	test "$src_rc" = 125 -a "$mig_status" = completed
if [ "$mig_status" != completed ]; then
	qmp dst quit >/dev/null
fi

# --- the guest finishes on the destination; one that reported its end but cannot power off is stopped
result_seen=
deadline=$(($(now_ms) + (WORK_SECONDS + 60) * 1000))
while kill -0 "$dst_job" 2>/dev/null; do
	if [ -z "$result_seen" ] && grep -aqE "TAGWRITE-(RESULT|ERROR)|VBRIDGE-GUEST-EXIT" "$tmp/dst.log" 2>/dev/null; then
		result_seen=$(now_ms)
	fi
	if { [ -n "$result_seen" ] && [ $(($(now_ms) - result_seen)) -gt 30000 ]; } ||
		[ "$(now_ms)" -gt "$deadline" ]; then
		echo "# the destination guest did not power off in time (I/O stuck in the kernel?): stopped"
		kill -TERM "$dst_job" 2>/dev/null
		break
	fi
	sleep 0.2
done
wait_job "$dst_job" 15
dst_job=
t_end=$(now_ms)
dst_rc=$(guest_status "$(cat "$tmp/dst.rc" 2>/dev/null || echo 125)" "$tmp/dst.log")

stop_vbridge a
stop_vbridge b

# --- checks
for f in src dst; do
	{ tr -d '\r' <"$tmp/$f.log"; } >"$tmp/$f.txt" 2>/dev/null
	guest_report "$tmp/$f.txt" "guest ($f): "
done

if [ -n "$RBD" ]; then
	check "rbd export reads the image for the manifest check" \
		rbd --conf "$CEPH_CONF" export --no-progress "$RBD" "$img"
fi
tagwrite_result "$tmp/dst.txt"
echo "# guest: ${result:-no TAGWRITE-RESULT line on the destination console}"
cat "$tmp/src.txt" "$tmp/dst.txt" | grep -a '^TAGWRITE-ERROR ' | head -n 5 | diag
echo "# workload started $(((t_mig - t_work) / 1000)) s before the migration; whole run $(((t_end - t_start) / 1000)) s"

if [ "$QUIESCE" = 1 ]; then
	check "the workload ran after the migration, on the destination alone" \
		test "$(grep -ac '^TAGWRITE-START' "$tmp/dst.txt")" -eq 1 -a -n "$result" \
		-a "$(grep -ac '^TAGWRITE-START' "$tmp/src.txt")" -eq 0
	longest_write_note="after the migration"
else
	check "the workload spanned the migration (started on the source, ended on the destination)" \
		test "$(grep -ac '^TAGWRITE-START' "$tmp/src.txt")" -eq 1 -a -n "$result" \
		-a "$(grep -ac '^TAGWRITE-RESULT' "$tmp/src.txt")" -eq 0
	longest_write_note="includes the migration downtime"
fi
check "guest finished on the destination (status ${status:-none}, exit $dst_rc)" test "$dst_rc" = 0 -a "$status" = ok
tagwrite_checks "$longest_write_note"

alog=$tmp/vbridge-a.log
blog=$tmp/vbridge-b.log
suspended_total=''	# known when both sides are vbridge
if [ "$(peer a)" = vbridge ]; then
	# Dirty logging was used: SET_LOG_BASE, then SET_FEATURES (with VHOST_F_LOG_ALL) after it.
	check "vbridge A got the dirty log (SET_LOG_BASE)" grep -q "SET_LOG_BASE" "$alog"
	feat_after=$(awk '/SET_LOG_BASE/ { seen = 1 } seen && /SET_FEATURES/ { n++ } END { print n + 0 }' "$alog")
	addr_after=$(awk '/SET_LOG_BASE/ { seen = 1 } seen && /SET_VRING_ADDR/ { n++ } END { print n + 0 }' "$alog")
	check "vbridge A saw LOG_ALL: $feat_after SET_FEATURES after SET_LOG_BASE ($addr_after SET_VRING_ADDR)" \
		test "$feat_after" -gt 0
	check "vbridge A reported no dirty log error" \
		bash -c "! grep -qE 'cannot map the dirty log|dirty log of .* is invalid|SET_LOG_BASE needs' '$alog'"
fi
if [ "$(peer b)" = vbridge ]; then
	check "vbridge B: the destination QEMU connected" grep -q "front-end connected" "$blog"
	started=$(grep -c "queue [0-9]* started" "$blog")
	check "vbridge B served the guest after the migration ($started queue threads started)" test "$started" -ge 2
fi
if [ "$(peer a)" != vbridge ] && [ "$(peer b)" = vbridge ] && [ "$INFLIGHT_MIGRATION" = 1 ]; then
	# A source back-end without INFLIGHT_SHMFD never negotiates bit 20, so QEMU sends no inflight
	# region with the migration and the destination asks vbridge for a fresh one: draining.
	check "inflight migration fell back to draining: vbridge B got a fresh inflight region (GET_INFLIGHT_FD) and had nothing to resubmit" \
		bash -c "grep -q GET_INFLIGHT_FD '$blog' && ! grep -qE 'resubmitted [0-9]+ requests|resuming at avail index' '$blog'"
fi
if [ "$(peer a)" = vbridge ] && [ "$(peer b)" = vbridge ]; then
	# Each ring must go on where the source stopped it: A's last stop, B's first start. Draining, A
	# reports the next avail index and B starts there. Suspending, A reports it less the requests it
	# left inflight, and B starts past the ones it resubmits from the region QEMU carried over.
	handover=()
	handover_ok=0
	suspended_total=0 resubmitted_total=0
	for q in 0 1; do
		# A split ring's vring base is its next avail index, logged in hex.
		a_stop=$(sed -n "s/.*queue $q stopped at vring base 0x\([0-9a-f]*\).*/\1/p" "$alog" | tail -n 1)
		[ -z "$a_stop" ] || a_stop=$((16#$a_stop))
		b_start=$(sed -n "s/.*queue $q started: .* from avail index \([0-9]*\).*/\1/p" "$blog" | head -n 1)
		resub=$(sed -n "s/.*queue $q: resubmitted \([0-9]*\) requests.*/\1/p" "$blog" | head -n 1)
		susp=$(sed -n "s/.*vring $q suspended with \([0-9]*\) requests.*/\1/p" "$alog" | tail -n 1)
		resubmitted_total=$((resubmitted_total + ${resub:-0}))
		suspended_total=$((suspended_total + ${susp:-0}))
		handover+=("queue $q: ${a_stop:-none} + ${resub:-0} resubmitted -> ${b_start:-none}")
		[ -n "$a_stop" ] && [ -n "$b_start" ] && [ $(((a_stop + ${resub:-0}) % 65536)) = "$b_start" ] ||
			handover_ok=1
	done
	handover_txt=$(IFS=,; echo "${handover[*]}")
	check "vbridge B resumed each ring where A stopped it (${handover_txt//,/, })" \
		test "$handover_ok" -eq 0
	if [ "$INFLIGHT_MIGRATION" = 1 ]; then
		least=$([ "${VBRIDGE_REQUIRE_SUSPENDED:-1}" = 0 ] && echo 0 || echo 1)
		check "vbridge A suspended its rings and B resubmitted exactly those requests ($suspended_total left inflight, at least $least; $resubmitted_total resubmitted)" \
			test "$suspended_total" -ge "$least" -a "$suspended_total" -eq "$resubmitted_total"
	else
		check "draining, nothing was left inflight ($suspended_total suspended, $resubmitted_total resubmitted)" \
			test "$suspended_total" -eq 0 -a "$resubmitted_total" -eq 0
	fi
fi
if [ -n "$RBD" ] && [ "$(peer a)" = vbridge ] && [ "$(peer b)" = vbridge ]; then
	check "vbridge B broke A's lock (the cluster blocklisted A)" grep -q "breaking the lock of" "$blog"
	if [ -n "$RBD_DELAY_S" ] && [ "$INFLIGHT_MIGRATION" = 1 ]; then
		refused=$(sed -n 's/.*abandoned at suspension; \([0-9]*\) writes were refused.*/\1/p' "$alog" | awk '{ n += $1 } END { print n + 0 }')
		check "the cluster refused A's late writes ($refused refused, A's log)" test "$refused" -gt 0
	fi
fi
check "no sanitizer, assertion or crash report in either daemon log" \
	bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Assertion|Segmentation' '$alog' '$blog'"

[ -z "${VBRIDGE_MIGRATION_RESULT:-}" ] || echo "$mig_downtime $mig_total $suspended_total" >"$VBRIDGE_MIGRATION_RESULT"
[ "$tap_failed" -eq 0 ] || diagnostics
tap_done
