#!/bin/bash
# TAP test of tests/run itself: how it counts passes, failures and skips of small fake TAP programs.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/run_test.
set -uo pipefail
. tests/lib/tap.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# runner_case DESCRIPTION EXPECTED_CLOSING_LINE FAILS(0|1) ALLOWED_SKIPS PROGRAM_BODY:
# tests/run on one fake program (named fake) with that allowed-skips file.
runner_case() {
	local dir=$tmp/case$((tap_count + 1)) out rc last
	mkdir -p "$dir/build/tests/unit"
	printf '%s\n' "$4" >"$dir/allowed-skips"
	printf '#!/bin/sh\n%s\n' "$5" >"$dir/build/tests/unit/fake"
	chmod +x "$dir/build/tests/unit/fake"
	out=$(BUILD=$dir/build VBRIDGE_ALLOWED_SKIPS=$dir/allowed-skips tests/run "$dir/" 2>&1)
	rc=$?
	last=$(tail -n 1 <<<"$out")
	[ "$last" = "$2" ] && [ $((rc != 0)) = "$3" ]
	local status=$?
	report "$status" "$1: \"$2\"$([ "$3" = 0 ] || echo ", fails")"
	if [ "$status" -ne 0 ]; then
		echo "# got \"$last\", exit status $rc; the runner said:"
		diag <<<"$out"
	fi
}

runner_case "passes only" "2 passed, 0 failed, 0 skipped" 0 "" \
	'echo "ok 1 - a"; echo "ok 2 - b"; echo "1..2"'
runner_case "an allowed skip line is a skip, not a pass" "1 passed, 0 failed, 1 skipped" 0 \
	"fake: b # SKIP no disk -- the fake has none" \
	'echo "ok 1 - a"; echo "ok 2 - b # SKIP no disk"; echo "1..2"'
runner_case "a skip line not on the list is a failure" "1 passed, 1 failed, 0 skipped" 1 \
	"fake: c # SKIP * -- another check" \
	'echo "ok 1 - a"; echo "ok 2 - b # skip no disk"; echo "1..2"'
runner_case "an allowed skipped plan counts one skip" "0 passed, 0 failed, 1 skipped" 0 \
	"fake: 1..0 # SKIP not built -- the fake is never built" \
	'echo "1..0 # SKIP not built"'
runner_case "a skipped plan not on the list is a failure" "0 passed, 1 failed, 0 skipped" 1 "" \
	'echo "1..0 # SKIP not built"'
runner_case "an empty plan without SKIP is a failure" "0 passed, 1 failed, 0 skipped" 1 "" \
	'echo "1..0"'
runner_case "non-zero exit with every line ok is a failure" "2 passed, 1 failed, 0 skipped" 1 "" \
	'echo "ok 1 - a"; echo "ok 2 - b"; echo "1..2"; exit 3'
runner_case "exit 0 after a failing line is one more failure" "1 passed, 2 failed, 0 skipped" 1 "" \
	'echo "ok 1 - a"; echo "not ok 2 - b"; echo "1..2"'
runner_case "a failing line with exit 1 counts once" "1 passed, 1 failed, 0 skipped" 1 "" \
	'echo "ok 1 - a"; echo "not ok 2 - b"; echo "1..2"; exit 1'
runner_case "a missing plan is a failure" "1 passed, 1 failed, 0 skipped" 1 "" \
	'echo "ok 1 - a"'
runner_case "a plan that disagrees with the lines is a failure" "1 passed, 1 failed, 0 skipped" 1 "" \
	'echo "ok 1 - a"; echo "1..3"'
runner_case "a list line without a reason is a failure, and allows nothing" "1 passed, 2 failed, 0 skipped" 1 \
	"fake: b # SKIP no disk" \
	'echo "ok 1 - a"; echo "ok 2 - b # SKIP no disk"; echo "1..2"'

tap_done
