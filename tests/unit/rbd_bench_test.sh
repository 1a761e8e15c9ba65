#!/bin/bash
# tools/bench/rbd_bench.sh's options: --help, the rows --dry-run plans, usage errors; no cluster is started.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/rbd_bench_test.
set -uo pipefail
. tests/lib/tap.sh

SCRIPT=tools/bench/rbd_bench.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$SCRIPT" --help >"$tmp/help" 2>&1
rc=$?
missing=
for opt in --time --span --suspend-runs --dir --out --dry-run --help; do
	grep -q -- "$opt" "$tmp/help" || missing+=" $opt"
done
check "--help exits 0 and names every option${missing:+ (missing:$missing)}" \
	test "$rc" -eq 0 -a -z "$missing"

"$SCRIPT" --dry-run --dir "$tmp/work" >"$tmp/plan" 2>&1
rc=$?
diag "$tmp/plan"
expected="4k-randread depth 1: vbridge qsd
4k-randread depth 32: qsd vbridge
4k-randwrite depth 1: vbridge qsd
4k-randwrite depth 32: qsd vbridge
1m-read depth 8: vbridge qsd
1m-write depth 8: qsd vbridge
suspension: 256 writes in flight, then 1, 16 and 256 requests (half writes), 20 samples each, draining and suspending"
check "--dry-run plans 4k random reads and writes at depth 1 and 32, 1 MiB sequential (back-ends alternating), and suspension rows" \
	test "$rc" -eq 0 -a "$(cat "$tmp/plan")" = "$expected"
check "--dry-run starts nothing: its --dir is not made" test ! -e "$tmp/work"
"$SCRIPT" --dry-run --suspend-runs 0 >"$tmp/plan0" 2>&1
check "--suspend-runs 0 plans no suspension rows" \
	test "$?" -eq 0 -a "$(cat "$tmp/plan0")" = "$(head -n 6 <<<"$expected")"

# usage_error DESCRIPTION ARGS...: exit status 2 and the usage text, before any cluster.
usage_error() {
	local desc=$1
	shift
	"$SCRIPT" --dir "$tmp/work" "$@" >"$tmp/out" 2>&1
	local rc=$?
	check "$desc exits 2 with the usage text" \
		test "$rc" -eq 2 -a ! -e "$tmp/work" -a "$(grep -c '^Usage:' "$tmp/out")" -eq 1
}
usage_error "an unknown option" --bogus
usage_error "--time 0" --time 0
usage_error "--time abc" --time abc
usage_error "--span 12" --span 12
usage_error "--suspend-runs -1" --suspend-runs -1
usage_error "--out without a value" --dry-run --out

tap_done
