#!/bin/bash
# Runs the data-path test programs again on other vbridge configurations (polling off, the
# delay engine, SQPOLL) through VU_DAEMON_ARGS, renumbering their TAP into one plan. Each
# configuration is a distinct check of the same assertions; the programs' exit status is not.
set -uo pipefail

dir=$(dirname "$0")
count=0
failed=0
variants=("--poll-us 0" "--engine delay:1ms" "--sqpoll=10")
for args in "${variants[@]}"; do
	for prog in datapath multiqueue inflight; do
		out=$(VU_DAEMON_ARGS="$args" "$dir/$prog" 2>&1)
		rc=$?
		bad=0
		results=0
		plan=
		while IFS= read -r line; do
			case "$line" in
			"ok "* | "not ok "*)
				count=$((count + 1))
				results=$((results + 1))
				status=${line%% [0-9]*}
				desc=${line#* [0-9]* - }
				[ "$status" = "ok" ] || bad=1
				echo "$status $count - [$args] $prog: $desc"
				;;
			"1.."*) plan=${line#1..} plan=${plan%%[!0-9]*} ;;
			"#"*) echo "$line" ;;
			esac
		done <<<"$out"
		# The exit status and plan must agree with the lines, but they are no check of their
		# own: a failure only when they disagree (a crash after the last line, a lost line).
		if [ $((rc != 0)) -ne "$bad" ] || [ "$plan" != "$results" ]; then
			count=$((count + 1))
			bad=1
			echo "not ok $count - [$args] $prog: exit status $rc and plan 1..${plan:-missing} agree with its $results results"
		fi
		failed=$((failed + bad))
	done
done
echo "1..$count"
[ "$failed" -eq 0 ]
