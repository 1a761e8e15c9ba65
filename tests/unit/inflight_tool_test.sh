#!/bin/bash
# TAP test of vbridge-inflight: generated regions, each layout, each invariant, and hostile input.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/inflight_tool_test.
set -uo pipefail

BUILD=${BUILD:-build}
TOOL=$BUILD/vbridge-inflight
if [ ! -x "$TOOL" ]; then
	echo "1..0 # SKIP $TOOL not built"
	exit 0
fi
# Sanitizers exit 1 by default, which would pass for "violations found" below.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

n=0
failed=0
ok() { # ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

# Little-endian writers; the tool reads host order and the hosts we run on are little-endian.
put() { # put FILE OFFSET NBYTES VALUE
	local i bytes=""
	for ((i = 0; i < $3; i++)); do
		bytes+=$(printf '\\%03o' $((($4 >> (8 * i)) & 255)))
	done
	printf "$bytes" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# header FILE STRIDE QUEUE VERSION DESC_NUM LAST_BATCH_HEAD USED_IDX [FEATURES]
header() {
	local base=$(($2 * $3))
	put "$1" "$base" 8 "${8:-0}"
	put "$1" $((base + 8)) 2 "$4"
	put "$1" $((base + 10)) 2 "$5"
	put "$1" $((base + 12)) 2 "$6"
	put "$1" $((base + 14)) 2 "$7"
}

# desc FILE STRIDE QUEUE INDEX INFLIGHT NEXT COUNTER
desc() {
	local off=$(($2 * $3 + 16 + 16 * $4))
	put "$1" "$off" 1 "$5"
	put "$1" $((off + 6)) 2 "$6"
	put "$1" $((off + 8)) 8 "$7"
}

# The strides of the three known peers, computed here independently of the tool.
libvhost_stride() { echo $(((16 * $1 + 2 + 63) / 64 * 64)); }
dpdk_stride() { echo $(((16 + 16 * $1 + 63) / 64 * 64)); }
yc_stride() { echo $((16 + 16 * $1)); }

# clean FILE STRIDE: 2 queues of 128 with a few inflight descriptors and a batch list.
clean() {
	truncate -s $((2 * $2)) "$1"
	header "$1" "$2" 0 1 128 3 12 $((0x150000000))
	header "$1" "$2" 1 1 128 0 7
	desc "$1" "$2" 0 5 1 0 3
	desc "$1" "$2" 0 9 1 0 1
	desc "$1" "$2" 0 2 1 0 2
	# A completed batch 3, 4 that links back into itself, as reused heads do.
	desc "$1" "$2" 0 3 0 4 0
	desc "$1" "$2" 0 4 0 3 0
	desc "$1" "$2" 1 0 1 0 7
	desc "$1" "$2" 1 127 1 0 4
}

run() { # run ARGS...: sets out (stdout and stderr) and rc
	out=$("$TOOL" "$@" 2>&1)
	rc=$?
}

S=$(dpdk_stride 128)
clean "$DIR/clean.bin" "$S"

run "$DIR/clean.bin"
ok $((rc != 0)) "clean region exits 0 (got $rc)"
got=$(grep -o 'desc [0-9]* counter [0-9]*' <<<"$out" | tr '\n' ';')
ok $([ "$got" = "desc 9 counter 1;desc 2 counter 2;desc 5 counter 3;desc 127 counter 4;desc 0 counter 7;" ]; echo $?) \
	"inflight descriptors listed per queue in counter order ($got)"
ok $(grep -q "size $((2 * S)) bytes, stride $S .*, 2 queues" <<<"$out"; echo $?) "size, stride and queue count printed"
ok $(grep -q 'queue 0: version 1, desc_num 128, features 0x0000000150000000, last_batch_head 3, used_idx 12' <<<"$out"; echo $?) \
	"queue header fields printed"
ok $(grep -q '^  3 inflight' <<<"$out" && grep -q '^  2 inflight' <<<"$out"; echo $?) "inflight counts printed"
ok $(grep -q 'batch list: 2 distinct' <<<"$out"; echo $?) "a batch list that comes back on itself is walked, not an error"

# A fresh region as vbridge leaves it: every next is 0, so the list is 0 -> 0.
truncate -s $((2 * S)) "$DIR/fresh.bin"
header "$DIR/fresh.bin" "$S" 0 1 128 0 0
header "$DIR/fresh.bin" "$S" 1 1 128 0 0
run "$DIR/fresh.bin"
ok $((rc != 0)) "fresh initialised region is consistent (got $rc)"

# One queue initialised, the other still zero.
truncate -s $((2 * S)) "$DIR/half.bin"
header "$DIR/half.bin" "$S" 0 1 128 0 0
run "$DIR/half.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'queue 1: version 0 (not initialised)' <<<"$out"; echo $?) \
	"an uninitialised queue next to an initialised one is consistent"

for layout in libvhost dpdk yc; do
	s=$(${layout}_stride 128)
	clean "$DIR/$layout.bin" "$s"
	run "$DIR/$layout.bin"
	ok $([ "$rc" -eq 0 ] && grep -q "stride $s .*, 2 queues" <<<"$out"; echo $?) \
		"$layout stride $s detected without --queues (rc $rc)"
done

# 44 yc queues of 128 make a size both strides divide; the real headers must win.
s=$(yc_stride 128)
truncate -s $((44 * s)) "$DIR/ambiguous.bin"
for q in $(seq 0 43); do header "$DIR/ambiguous.bin" "$s" "$q" 1 128 0 0; done
run "$DIR/ambiguous.bin"
ok $([ "$rc" -eq 0 ] && grep -q "stride $s .*, 44 queues" <<<"$out"; echo $?) \
	"a size two strides divide goes to the one that finds the headers (rc $rc)"

run --queues 2 "$DIR/clean.bin"
ok $([ "$rc" -eq 0 ] && grep -q "stride $S .*, 2 queues" <<<"$out"; echo $?) "--queues 2 reads the clean region"
run --queues=2 "$DIR/yc.bin"
ok $([ "$rc" -eq 0 ] && grep -q "stride $(yc_stride 128) " <<<"$out"; echo $?) "--queues=2 on the yc layout"
run --queues 3 "$DIR/clean.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'cannot hold the 128 descriptors' <<<"$out"; echo $?) \
	"--queues giving a stride too small for desc_num exits 2 (rc $rc)"
run --queues 5 "$DIR/clean.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'not a multiple of 5 queues' <<<"$out"; echo $?) \
	"--queues that does not divide the size exits 2 (rc $rc)"
run --queues 0 "$DIR/clean.bin"
ok $((rc != 2)) "--queues 0 is a usage error"

"$TOOL" --json "$DIR/clean.bin" >"$DIR/out.json" 2>/dev/null
rc=$?
ok $([ "$rc" -eq 0 ] && python3 -m json.tool "$DIR/out.json" >/dev/null; echo $?) "--json prints valid JSON"
order=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["num_queues"], d["stride"], [e["desc"] for e in d["queues"][0]["inflight"]], d["consistent"])' "$DIR/out.json" 2>/dev/null)
ok $([ "$order" = "2 $S [9, 2, 5] True" ]; echo $?) "JSON carries the layout and the counter order ($order)"

exec 3<"$DIR/clean.bin"
run --fd 3
exec 3<&-
ok $([ "$rc" -eq 0 ] && grep -q 'desc 9 counter 1' <<<"$out"; echo $?) "--fd reads an inherited fd"
exec 3<"$DIR/clean.bin"
run --fd 3 "$DIR/clean.bin"
exec 3<&-
ok $((rc != 2)) "--fd and FILE together are a usage error"
run --help
ok $([ "$rc" -eq 0 ] && grep -q 'Usage: vbridge-inflight' <<<"$out"; echo $?) "--help prints the usage"
run --bogus "$DIR/clean.bin"
ok $((rc != 2)) "an unknown option exits 2"

# violation NAME EXPECTED-ERROR-REGEX [ARGS...]: the file $DIR/NAME.bin must give exit 1 and the line.
violation() {
	local name=$1 re=$2
	shift 2
	run "$@" "$DIR/$name.bin"
	ok $([ "$rc" -eq 1 ] && grep -Eq "^error: $re" <<<"$out"; echo $?) "$name: exit 1 and '$re' (rc $rc)"
	[ "$rc" -eq 1 ] && grep -Eq "^error: $re" <<<"$out" || sed 's/^/# /' <<<"$out"
}
variant() { cp "$DIR/clean.bin" "$DIR/$1.bin"; }

variant version
header "$DIR/version.bin" "$S" 1 2 128 0 7
violation version 'queue 1: version 2, expected 0 or 1' --queues 2
run "$DIR/version.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'pass --queues N' <<<"$out"; echo $?) "an implausible header stops the detection and asks for --queues"

variant uninit
header "$DIR/uninit.bin" "$S" 1 0 0 0 0
violation uninit 'queue 1: not initialised \(version 0\) but 2 descriptors are marked inflight'

s=$(dpdk_stride 100)
truncate -s $((2 * s)) "$DIR/pow2.bin"
header "$DIR/pow2.bin" "$s" 0 1 100 0 0
header "$DIR/pow2.bin" "$s" 1 1 100 0 0
violation pow2 'queue 0: desc_num 100 is not a power of two from 1 to 32768'

variant differ
header "$DIR/differ.bin" "$S" 1 1 64 0 0
violation differ "queue 1: desc_num 64 differs from queue 0's 128" --queues 2

variant byte
desc "$DIR/byte.bin" "$S" 1 7 2 0 9
violation byte 'queue 1: desc 7: inflight byte is 2, expected 0 or 1'

variant zero
desc "$DIR/zero.bin" "$S" 0 40 1 0 0
violation zero 'queue 0: desc 40: inflight with counter 0'

variant dup
desc "$DIR/dup.bin" "$S" 0 50 1 0 2
violation dup 'queue 0: desc 2 and desc 50 share counter 2'

variant head
header "$DIR/head.bin" "$S" 0 1 128 128 12
violation head 'queue 0: last_batch_head 128 is out of range \(desc_num 128\)'

variant next
desc "$DIR/next.bin" "$S" 0 4 0 200 0
violation next 'queue 0: batch list: next of desc 4 is 200, out of range \(desc_num 128\)'

# Too many errors in one queue are summarised, not listed.
variant many
for i in $(seq 60 99); do put "$DIR/many.bin" $((S + 16 + 16 * i)) 1 3; done
run "$DIR/many.bin"
ok $([ "$rc" -eq 1 ] && grep -q 'error: queue 1: 8 more errors not shown' <<<"$out" &&
	[ "$(grep -c '^error: queue 1: desc' <<<"$out")" -eq 32 ]; echo $?) "a flood of errors is cut at 32 per queue"

"$TOOL" --json "$DIR/dup.bin" >"$DIR/dup.json" 2>"$DIR/dup.err"
rc=$?
ok $([ "$rc" -eq 1 ] && python3 -m json.tool "$DIR/dup.json" >/dev/null &&
	grep -q '^error: queue 0: desc 2 and desc 50' "$DIR/dup.err"; echo $?) \
	"--json with violations is valid JSON, exits 1 and still prints the error line (rc $rc)"

head -c $((2 * S - 100)) "$DIR/clean.bin" >"$DIR/truncated.bin"
run "$DIR/truncated.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'not a multiple' <<<"$out"; echo $?) "truncated file exits 2 (rc $rc)"
: >"$DIR/empty.bin"
run "$DIR/empty.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'empty' <<<"$out"; echo $?) "empty file exits 2 (rc $rc)"
run "$DIR/missing.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'No such file' <<<"$out"; echo $?) "missing file exits 2 (rc $rc)"
head -c 10 "$DIR/clean.bin" >"$DIR/tiny.bin"
run "$DIR/tiny.bin"
ok $((rc != 2)) "a file smaller than a header exits 2 (rc $rc)"
run "$DIR"
ok $((rc != 2)) "a directory exits 2 (rc $rc)"
run --fd 987
ok $((rc != 2)) "--fd of a closed fd exits 2 (rc $rc)"

# Hostile input: any content must give 1 or 2, never a signal (>= 128), a sanitizer's 86 or 0 by accident.
crashes=""
sizes="1 15 16 17 31 32 48 64 100 128 2064 2112 4096 4127 4128 4224 8192 65536 131072 $((S * 3)) $((S * 7))"
for size in $sizes $(for i in $(seq 15); do echo $((RANDOM * 8 % 70000 + 1)); done); do
	head -c "$size" /dev/urandom >"$DIR/garbage.bin"
	for args in "" "--queues 1" "--json" "--queues 2"; do
		# shellcheck disable=SC2086
		"$TOOL" $args "$DIR/garbage.bin" >/dev/null 2>&1
		rc=$?
		[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || crashes+=" $size/${args:-auto}:$rc"
	done
done
ok $([ -z "$crashes" ]; echo $?) "random files of 36 sizes never crash${crashes:+:$crashes}"

# Plausible headers over random descriptors reach the deeper checks.
crashes=""
for i in $(seq 20); do
	d=$((1 << (RANDOM % 16)))
	s=$(dpdk_stride "$d")
	head -c $((2 * s)) /dev/urandom >"$DIR/garbage.bin"
	header "$DIR/garbage.bin" "$s" 0 1 "$d" $((RANDOM % (d + 2))) $RANDOM
	header "$DIR/garbage.bin" "$s" 1 $((RANDOM % 2)) "$d" $((RANDOM % (d + 2))) $RANDOM
	for args in "" "--json"; do
		# shellcheck disable=SC2086
		"$TOOL" $args "$DIR/garbage.bin" >/dev/null 2>&1
		rc=$?
		[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || crashes+=" $d/${args:-human}:$rc"
	done
	# Sparse garbage: a valid region with a few random descriptors, so the list walk and counters are hit.
	truncate -s 0 "$DIR/garbage.bin"
	truncate -s $((2 * s)) "$DIR/garbage.bin"
	header "$DIR/garbage.bin" "$s" 0 1 "$d" $((RANDOM % d)) 0
	header "$DIR/garbage.bin" "$s" 1 1 "$d" $((RANDOM % d)) 0
	for j in 1 2 3 4 5 6; do
		desc "$DIR/garbage.bin" "$s" $((RANDOM % 2)) $((RANDOM % d)) $((RANDOM % 2)) $((RANDOM % (d + 1))) $((RANDOM % 4))
	done
	"$TOOL" "$DIR/garbage.bin" >/dev/null 2>&1
	rc=$?
	[ "$rc" -le 2 ] || crashes+=" sparse$d:$rc"
done
ok $([ -z "$crashes" ]; echo $?) "plausible headers over random or sparse descriptors never crash${crashes:+:$crashes}"

echo "1..$n"
[ "$failed" -eq 0 ]
