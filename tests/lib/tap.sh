# shellcheck shell=bash
# TAP output for the bash test scripts: numbered results, checks, diagnostics, the closing plan.
#
#   . tests/lib/tap.sh
#   check "the image is zero" test "$(sha)" = "$zero"
#   report "$rc" "guest ran to the end"
#   tap_done        # prints 1..N; its status is non-zero if anything failed

tap_count=0
tap_failed=0

report() { # STATUS DESCRIPTION
	tap_count=$((tap_count + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_count - $2"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_count - $2"
	fi
}

check() { # DESCRIPTION COMMAND...
	local desc=$1
	shift
	"$@"
	report $? "$desc"
}

diag() { sed 's/^/# /' "$@"; }

now_ms() { date +%s%3N; }

tap_done() {
	echo "1..$tap_count"
	[ "$tap_failed" -eq 0 ]
}
