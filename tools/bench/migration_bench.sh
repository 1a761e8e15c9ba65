#!/bin/bash
# make bench-migration: migration downtime and total time against the storage's latency per request, draining and with inflight-migration=on; prints the table, draws the plot.
#
# Each point is the median of BENCH_RUNS tests/guest/migration.sh runs on QEMU 11 (the tagwrite load: 8 writers and
# a reader on 2 queues, so reads and writes are in flight), both vbridges serving the image
# through the slow FUSE disk (tests/lib/slowfs.sh), which answers every read and write that many
# ms after it reached the kernel: real storage latency, not the daemon's delay engine. The runs'
# own checks (the image against the guest's manifest, the ring hand-over) go to stderr; a point
# with a run that failed a check says so in the table. On fast storage the requests may all have
# completed before the source stops its rings: then inflight migration has nothing to suspend,
# which the table shows (*suspended*) and is no failure here.
#
# Usage: tools/bench/migration_bench.sh >TABLE   (from the repository root; make bench-migration)
# Environment: BUILD, BENCH_LATENCIES_MS (default "0 10 100 1000"), BENCH_RUNS (runs per point,
# default 3), BENCH_PLOT (the PNG written, default Documentation/migration-bench.png), and
# migration.sh's settings.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
export BUILD=${BUILD:-build}
PLOT=${BENCH_PLOT:-Documentation/migration-bench.png}
read -r -a latencies <<<"${BENCH_LATENCIES_MS:-0 10 100 1000}"
RUNS=${BENCH_RUNS:-3}

tmp=$(mktemp -d /tmp/vbridge-migration-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
command -v gnuplot >/dev/null || { echo "gnuplot is missing (make deps)" >&2; exit 1; }
# shellcheck source=../../tests/lib/migration_runs.sh
. tests/lib/migration_runs.sh
use_qemu11 >&2 || exit 1
qemu_version=$(head -n 1 "$tmp/version")
# As in the QEMU 11 tests: the downtime is the devices' stop and start, not RAM left dirty.
export VBRIDGE_MIGRATION_PARAMS='{"downtime-limit": 300}'
# Long enough for the guest to be still running on the destination when migration.sh asks.
export VBRIDGE_WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-30}

start=$(date +%s)
load=$(cut -d ' ' -f 1 /proc/loadavg)
# The median of a few runs: draining waits for whatever is left of the requests in flight when
# the VM stops, anywhere between nothing and one latency, so one run says little.
median() { # VALUES...: the median of the numbers among them, empty if none
	printf '%s\n' "$@" | grep -x '[0-9][0-9]*' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
declare -A failed med_downtime med_total suspended_runs
for ms in "${latencies[@]}"; do
	for mode in drain inflight; do
		key=$mode-$ms before=$tap_failed downs=() totals=() susp=()
		for run in $(seq "$RUNS"); do
			migration_run "$key-$run" "$([ "$mode" = inflight ] && echo 1 || echo 0)" \
				VBRIDGE_SLOWFS_MS="$ms" VBRIDGE_REQUIRE_SUSPENDED=0 >&2
			downs+=("${downtime[$key-$run]}") totals+=("${total[$key-$run]}")
			susp+=("${suspended[$key-$run]:-?}")
			echo "bench: $ms ms, $mode, run $run: downtime ${downtime[$key-$run]:-?} ms, total ${total[$key-$run]:-?} ms" >&2
		done
		failed[$key]=$((tap_failed - before))
		med_downtime[$key]=$(median "${downs[@]}")
		med_total[$key]=$(median "${totals[@]}")
		suspended_runs[$key]=$(IFS=/; echo "${susp[*]}")
	done
done

cell() { # MODE-MS FIELD: a figure, or why there is none
	local v
	if [ "$2" = downtime ]; then v=${med_downtime[$1]:-}; else v=${med_total[$1]:-}; fi
	if [ "${failed[$1]}" != 0 ]; then
		echo "${v:-?} (failed)"
	else
		echo "${v:-?}"
	fi
}
echo "Measured $(date -u +%Y-%m-%d) with $qemu_version, TCG guests on $(nproc) CPUs shared with"
echo "other work (load average $load at the start), the median of $RUNS runs per point,"
echo "$(($(date +%s) - start)) s in all."
echo "Times in ms as \`\`query-migrate\`\` reports them; *suspended*: the requests the source"
echo "left inflight with inflight migration, run by run; *ratio*: draining's"
echo "downtime over inflight migration's."
echo
sep="============  ==============  ==============  ==============  ==============  =========  ======="
echo "$sep"
printf '%-12s  %14s  %14s  %14s  %14s  %9s  %7s\n' latency "drain down" "drain total" "inflight down" \
	"inflight total" suspended ratio
echo "$sep"
: >"$tmp/points.dat"
for ms in "${latencies[@]}"; do
	d=${med_downtime[drain-$ms]:-} i=${med_downtime[inflight-$ms]:-}
	ratio='?'
	[ -z "$d" ] || [ -z "$i" ] || ratio=$(awk -v d="$d" -v i="$i" 'BEGIN { printf "%.1f", d / (i > 0 ? i : 1) }')
	printf '%-12s  %14s  %14s  %14s  %14s  %9s  %7s\n' "$ms ms" "$(cell "drain-$ms" downtime)" \
		"$(cell "drain-$ms" total)" "$(cell "inflight-$ms" downtime)" "$(cell "inflight-$ms" total)" \
		"${suspended_runs[inflight-$ms]}" "$ratio"
	echo "$ms ${d:-NaN} ${med_total[drain-$ms]:-NaN} ${i:-NaN} ${med_total[inflight-$ms]:-NaN}" >>"$tmp/points.dat"
done
echo "$sep"

# Logarithmic times; the latencies evenly spaced (0 ms would not fit a logarithmic x axis).
gnuplot <<GP
set terminal pngcairo size 1200,500 font ',10'
set output '$PLOT'
set multiplot layout 1,2 title 'Live migration on QEMU 11 against storage latency (tagwrite load, slow FUSE disk)'
set logscale y
set grid
set key top left
set xlabel 'storage latency per request (ms)'
set ylabel 'ms'
set title 'downtime'
plot '$tmp/points.dat' using 0:(\$2 > 0 ? \$2 : 1):xtic(1) with linespoints lw 2 pt 7 title 'draining', \
	'' using 0:(\$4 > 0 ? \$4 : 1) with linespoints lw 2 pt 5 title 'inflight-migration=on'
set title 'total migration time'
plot '$tmp/points.dat' using 0:3:xtic(1) with linespoints lw 2 pt 7 title 'draining', \
	'' using 0:5 with linespoints lw 2 pt 5 title 'inflight-migration=on'
unset multiplot
GP
