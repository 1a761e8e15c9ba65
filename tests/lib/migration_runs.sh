# shellcheck shell=bash
# Shared by the QEMU 11 migration tests and make bench-migration: QEMU 11 for the guests, and runs of tests/guest/migration.sh as checks of the caller.
#
#   . tests/lib/tap.sh; . tests/lib/migration_runs.sh
#   tmp=$(mktemp -d ...)
#   use_qemu11 || exit                  # a failing check when QEMU 11 is not set up
#   migration_run MODE INFLIGHT [VAR=VALUE...]
#   echo "${downtime[MODE]} ${total[MODE]}"   # ms, as query-migrate reported them; empty if unknown
#   echo "${suspended[MODE]}"                 # requests the source left inflight, if known
#   downtime_ratio_check 2 half [NOTE]        # runs "inflight" and "drain": a check of the ratio

declare -A downtime total suspended

# use_qemu11: GUEST_QEMU is QEMU 11; false (after a failing check and the plan) when it is missing.
use_qemu11() {
	if ! tools/qemu11 --version >"$tmp/version" 2>&1; then
		diag "$tmp/version"
		report 1 "QEMU 11 is set up (tools/qemu11 setup; make deps does it)"
		tap_done
		return 1
	fi
	echo "# $(head -n 1 "$tmp/version")"
	export GUEST_QEMU=$PWD/tools/qemu11
}

# downtime_ratio_check DIVISOR PHRASE [NOTE]: the downtimes of the runs "inflight" and "drain"
# printed (NOTE after "downtime"), and a check that the first is at most draining's / DIVISOR
# (PHRASE: "half", "a tenth"): a ratio in the same test, never an absolute time.
downtime_ratio_check() {
	local d=${downtime[drain]:-} i=${downtime[inflight]:-}
	echo "# downtime${3:-}: draining ${d:-?} ms, inflight migration ${i:-?} ms"
	check "inflight migration's downtime is at most $2 of draining's (${i:-?} ms against ${d:-?} ms)" \
		test -n "$d" -a -n "$i" -a "$(($1 * ${i:-0}))" -le "${d:-0}"
}

# migration_run MODE INFLIGHT(0/1) [VAR=VALUE...]: one migration.sh run with those settings, its
# checks prefixed with MODE; its downtime and total time in downtime[MODE] and total[MODE], the
# requests the source suspended in suspended[MODE].
migration_run() {
	local mode=$1 inflight=$2 rc=0
	shift 2
	env "$@" VBRIDGE_INFLIGHT_MIGRATION="$inflight" VBRIDGE_MIGRATION_RESULT="$tmp/$mode.result" \
		tests/guest/migration.sh >"$tmp/$mode.tap" 2>"$tmp/$mode.err" || rc=$?
	tap_include "$mode: " "$tmp/$mode.tap" "$rc"
	[ ! -s "$tmp/$mode.err" ] || tail -n 20 "$tmp/$mode.err" | diag
	read -r "downtime[$mode]" "total[$mode]" "suspended[$mode]" <"$tmp/$mode.result" 2>/dev/null ||
		downtime[$mode]='' total[$mode]='' suspended[$mode]=''
}
