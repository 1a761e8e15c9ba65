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

# tap_include PREFIX FILE STATUS: the results of another TAP program's output FILE, which
# exited with STATUS, as checks of this one (their descriptions prefixed), its plan dropped.
# A program that failed without a failing check, or whose plan does not match, is one failure.
tap_include() {
	local prefix=$1 file=$2 status=$3 line plan='' n=0 bad=0
	while IFS= read -r line; do
		case "$line" in
		"ok "*) n=$((n + 1)); report 0 "$prefix${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)) bad=1; report 1 "$prefix${line#not ok * - }" ;;
		1..*) plan=${line#1..}; plan=${plan%% *} ;;
		*) echo "$line" ;;
		esac
	done <"$file"
	if [ "$bad" -eq 0 ] && { [ "$status" -ne 0 ] || [ "${plan:-x}" != "$n" ]; }; then
		report 1 "${prefix}ended with status $status and plan ${plan:-missing} after $n results"
	fi
}
