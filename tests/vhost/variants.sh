#!/bin/bash
# Runs the data-path test programs again on other vbridge configurations (adaptive polling, the
# delay engine, SQPOLL) through VU_DAEMON_ARGS, renumbering their TAP into one plan.
set -uo pipefail

dir=$(dirname "$0")
count=0
failed=0
variants=("--poll-us 100" "--engine delay:1ms" "--sqpoll=10")
for args in "${variants[@]}"; do
	for prog in datapath multiqueue inflight; do
		out=$(VU_DAEMON_ARGS="$args" "$dir/$prog" 2>&1)
		rc=$?
		while IFS= read -r line; do
			case "$line" in
			"ok "* | "not ok "*)
				count=$((count + 1))
				status=${line%% [0-9]*}
				desc=${line#* [0-9]* - }
				[ "$status" = "ok" ] || failed=$((failed + 1))
				echo "$status $count - [$args] $prog: $desc"
				;;
			"#"*) echo "$line" ;;
			esac
		done <<<"$out"
		count=$((count + 1))
		if [ "$rc" -eq 0 ]; then
			echo "ok $count - [$args] $prog: exits 0"
		else
			failed=$((failed + 1))
			echo "not ok $count - [$args] $prog: exits $rc"
		fi
	done
done
echo "1..$count"
[ "$failed" -eq 0 ]
