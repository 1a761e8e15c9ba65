#!/bin/bash
# TAP test of vbridge-inflight: generated regions (split and packed), each layout, each invariant, and hostile input.
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

# --- Packed rings ---------------------------------------------------------------
#
# A model of one packed queue region, driven as vbridge's userspace/virtio/inflight.c
# drives it, so the states generated are the ones a daemon killed at any store
# leaves behind. It is written out whole by pq_write.

lb() { # lb NBYTES VALUE: appends VALUE's little-endian bytes to the array $bytes
	local i
	for ((i = 0; i < $1; i++)); do bytes+=($(($2 >> (8 * i) & 255))); done
}

pq_init() { # pq_init DESC_NUM [USED_IDX [WRAP]]: a queue as packed_init leaves it
	local i
	PD=$1 PFH=0 POFH=0 PUI=${2:-0} POUI=${2:-0} PW=${3:-1} POW=${3:-1} PCOUNTER=0 PVERSION=1
	PFEATURES=$((0x10150000000))
	PINF=() PNEXT=() PLAST=() PNUM=() PCNT=() PID=() PFLAGS=() PLEN=() PADDR=()
	for ((i = 0; i < PD; i++)); do
		PINF[i]=0 PNEXT[i]=$((i + 1)) PLAST[i]=0 PNUM[i]=0 PCNT[i]=0
		PID[i]=0 PFLAGS[i]=0 PLEN[i]=0 PADDR[i]=0
	done
}

# pq_fetch NDESC ID [STOP]: fetches a chain of NDESC descriptors with buffer id ID
# into entries from the free list; its head entry is left in $PHEAD. With STOP,
# the fetch stops (the daemon dies) before copying descriptor STOP.
pq_fetch() {
	local k=$1 id=$2 f i
	PHEAD=$POFH
	PNUM[PHEAD]=0 PCNT[PHEAD]=$((++PCOUNTER)) PINF[PHEAD]=1
	for ((i = 0; i < k; i++)); do
		[ "$i" -ge "${3:-$k}" ] && return
		f=$PFH
		((i + 1 == k)) && PLAST[PHEAD]=$f
		PNUM[PHEAD]=$((PNUM[PHEAD] + 1))
		# NEXT on all but the last, WRITE on the last (the status byte), AVAIL.
		PADDR[f]=$((0x40000000 + 0x100000 * id + 0x1000 * i)) PLEN[f]=$((i == 0 ? 16 : i + 1 < k ? 4096 : 1))
		PFLAGS[f]=$(((i + 1 < k ? 1 : 2) | 0x80)) PID[f]=$id
		PFH=${PNEXT[f]}
	done
	POFH=$PFH
}

# pq_complete HEAD [STAGE]: completes the chain at HEAD; STAGE 1-5 stops after
# that many of its steps: 1 free_head, 2 used_idx and wrap (then the used
# element is written), 3 inflight cleared, 4 old_free_head, 5 old_used_idx.
pq_complete() {
	local h=$1 stage=${2:-6}
	PNEXT[PLAST[h]]=$PFH PFH=$h
	[ "$stage" -le 1 ] && return
	PUI=$((PUI + PNUM[h]))
	if ((PUI >= PD)); then PUI=$((PUI - PD)) PW=$((1 - PW)); fi
	[ "$stage" -le 2 ] && return
	PINF[h]=0
	[ "$stage" -le 3 ] && return
	POFH=$PFH
	[ "$stage" -le 4 ] && return
	POUI=$PUI
	[ "$stage" -le 5 ] && return
	POW=$PW
}

pq_write() { # pq_write FILE STRIDE QUEUE: writes the model as queue QUEUE of FILE
	local bytes=() buf i n l m c d f z a
	lb 8 "$PFEATURES"; lb 2 "$PVERSION"; lb 2 "$PD"; lb 2 "$PFH"; lb 2 "$POFH"; lb 2 "$PUI"; lb 2 "$POUI"
	bytes+=("$PW" "$POW" 0 0 0 0 0 0 0 0 0 0)
	# Each entry at once (struct vb_inflight_desc_packed), or this is the slowest part of the test.
	for ((i = 0; i < PD; i++)); do
		n=${PNEXT[i]} l=${PLAST[i]} m=${PNUM[i]} c=${PCNT[i]} d=${PID[i]} f=${PFLAGS[i]} z=${PLEN[i]} a=${PADDR[i]}
		bytes+=("${PINF[i]}" 0 $((n & 255)) $((n >> 8 & 255)) $((l & 255)) $((l >> 8 & 255))
			$((m & 255)) $((m >> 8 & 255)) $((c & 255)) $((c >> 8 & 255)) $((c >> 16 & 255))
			$((c >> 24 & 255)) $((c >> 32 & 255)) $((c >> 40 & 255)) $((c >> 48 & 255)) $((c >> 56 & 255))
			$((d & 255)) $((d >> 8 & 255)) $((f & 255)) $((f >> 8 & 255)) $((z & 255)) $((z >> 8 & 255))
			$((z >> 16 & 255)) $((z >> 24 & 255)) $((a & 255)) $((a >> 8 & 255)) $((a >> 16 & 255))
			$((a >> 24 & 255)) $((a >> 32 & 255)) $((a >> 40 & 255)) $((a >> 48 & 255)) $((a >> 56 & 255)))
	done
	printf -v buf '\\%03o' "${bytes[@]}"
	printf "$buf" | dd of="$1" bs=65536 iflag=fullblock oflag=seek_bytes seek=$(($2 * $3)) conv=notrunc status=none
}

packed_stride() { echo $(((32 + 32 * $1 + 63) / 64 * 64)); }

S=$(packed_stride 128)

# base_chains: 128 entries after some traffic: chains of 3, 1 and 2 inflight, one of 4 completed
# and reused, the used index wrapped once; heads in $A $B $C.
base_chains() {
	pq_init 128 120 1
	pq_fetch 4 20
	local done=$PHEAD
	pq_fetch 3 5
	A=$PHEAD
	pq_complete "$done"
	pq_fetch 1 9
	B=$PHEAD
	pq_fetch 2 2
	C=$PHEAD
	pq_fetch 6 30
	pq_complete "$PHEAD"
}
# packed FILE: 2 queues, base_chains in queue 0 and a fresh queue 1.
packed() {
	cp "$DIR/pfresh.bin" "$1"
	base_chains
	pq_write "$1" "$S" 0
}

truncate -s $((2 * S)) "$DIR/pfresh.bin"
pq_init 128
pq_write "$DIR/pfresh.bin" "$S" 0
pq_write "$DIR/pfresh.bin" "$S" 1
run "$DIR/pfresh.bin"
ok $([ "$rc" -eq 0 ] && grep -q "^size $((2 * S)) bytes, stride $S (DPDK/vbridge), 2 queues, packed layout" <<<"$out" &&
	[ "$(grep -c '^  free entries: 128$' <<<"$out")" -eq 2 ] && grep -q '^  0 inflight' <<<"$out" &&
	grep -q '^consistent$' <<<"$out"; echo $?) "packed: a fresh region is detected and consistent (rc $rc)"
ok $(grep -q 'queue 1: version 1, desc_num 128, features 0x0000010150000000, free_head 0, old_free_head 0, used_idx 0, old_used_idx 0, used_wrap_counter 1, old_used_wrap_counter 1' <<<"$out" &&
	grep -q '^  interrupted completion pending: no' <<<"$out"; echo $?) "packed: header fields printed"

packed "$DIR/packed.bin"
run "$DIR/packed.bin"
got=$(grep -o '^  entry [0-9]* counter [0-9]* id [0-9]* num [0-9]*' <<<"$out" | tr -s ' ' | tr '\n' ';')
ok $([ "$rc" -eq 0 ] && [ "$got" = " entry $A counter 2 id 5 num 3; entry $B counter 3 id 9 num 1; entry $C counter 4 id 2 num 2;" ]; echo $?) \
	"packed: inflight chains listed in counter order with id and num ($got, rc $rc)"
ok $(grep -A3 "^  entry $A counter" <<<"$out" | tail -3 | grep -Ec '^    entry [0-9]+: addr 0x00000000405[0-9]{2}000 len [0-9]+ flags 0x008[12]$' |
	grep -qx 3; echo $?) "packed: each chain's descriptor copies are listed"
ok $(grep -q '^  free entries: 122$' <<<"$out" && grep -q 'used_idx 2, old_used_idx 2, used_wrap_counter 0' <<<"$out"; echo $?) \
	"packed: free entries counted, the used index wrapped"

"$TOOL" --json "$DIR/packed.bin" >"$DIR/packed.json" 2>/dev/null
rc=$?
got=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); q=d["queues"][0]
print(d["format"], d["layouts"], d["num_queues"], [(e["entry"], e["counter"], e["id"], e["num"], len(e["descs"])) for e in q["inflight"]],
      q["free_entries"], q["completion_pending"], q["fetch_in_progress"], d["consistent"], q["inflight"][0]["descs"][2])' \
	"$DIR/packed.json" 2>&1)
ok $([ "$rc" -eq 0 ] && [ "$got" = "packed ['DPDK/vbridge'] 2 [($A, 2, 5, 3, 3), ($B, 3, 9, 1, 1), ($C, 4, 2, 2, 2)] 122 False None True {'entry': ${PLAST[A]}, 'addr': '0x0000000040502000', 'len': 1, 'flags': 130}" ]; echo $?) \
	"packed: --json is valid and carries the chains ($got)"

run --packed "$DIR/packed.bin"
ok $([ "$rc" -eq 0 ] && grep -q "stride $S (DPDK/vbridge), 2 queues, packed layout" <<<"$out"; echo $?) "packed: --packed reads it"
run --queues 2 "$DIR/packed.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'packed layout' <<<"$out"; echo $?) \
	"packed: --queues 2 alone tells packed from split by the contents (rc $rc)"
run --split "$DIR/packed.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'pass --queues N' <<<"$out"; echo $?) "packed: --split finds no split stride that fits, exit 2 (rc $rc)"
run --split --packed "$DIR/packed.bin"
ok $((rc != 2)) "--split and --packed together are a usage error"
run "$DIR/clean.bin"
ok $([ "$rc" -eq 0 ] && grep -q ', split layout$' <<<"$out"; echo $?) "a split region is still detected as split"
run --packed "$DIR/clean.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'packed, stride .*not a multiple' <<<"$out"; echo $?) "--packed on a split region: no packed stride fits, exit 2 (rc $rc)"
run --packed --queues 2 "$DIR/clean.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'cannot hold the 128 descriptors of queue 0 (4128 bytes)' <<<"$out"; echo $?) \
	"--packed --queues 2 on a split region: the stride is too small, exit 2 (rc $rc)"

# 33 packed queues of 128 make a size the split stride divides too (as 65 queues); the real headers win.
truncate -s $((33 * S)) "$DIR/p33.bin"
pq_init 128
for q in $(seq 0 32); do pq_write "$DIR/p33.bin" "$S" "$q"; done
run "$DIR/p33.bin"
ok $([ "$rc" -eq 0 ] && grep -q "stride $S (DPDK/vbridge), 33 queues, packed layout" <<<"$out"; echo $?) \
	"packed: a size a split stride also divides goes to the layout that finds the headers (rc $rc)"

# desc_num 1: split and packed share the stride 64; the contents must decide, or the user.
truncate -s 128 "$DIR/d1.bin"
pq_init 1 0 1
pq_write "$DIR/d1.bin" 64 0
pq_write "$DIR/d1.bin" 64 1
run "$DIR/d1.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'stride 64 (DPDK/vbridge), 2 queues, packed layout' <<<"$out"; echo $?) \
	"packed: at a stride split shares, a wrap counter of 1 in split's padding decides (rc $rc)"
pq_init 1 0 0
pq_write "$DIR/d1.bin" 64 0
pq_write "$DIR/d1.bin" 64 1
run "$DIR/d1.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'cannot tell the layout' <<<"$out" && grep -q 'pass --packed or --split' <<<"$out"; echo $?) \
	"packed: a region that reads well either way is ambiguous: exit 2, asks for --packed/--split (rc $rc)"
run --packed "$DIR/d1.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'packed layout' <<<"$out"; echo $?) "packed: --packed settles the ambiguity (rc $rc)"
truncate -s 4096 "$DIR/allzero.bin"
run --queues 2 "$DIR/allzero.bin"
ok $([ "$rc" -eq 2 ] && grep -q 'pass --packed or --split' <<<"$out"; echo $?) "an all-zero region with --queues is ambiguous (rc $rc)"
run --queues 2 --split "$DIR/allzero.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'split layout' <<<"$out"; echo $?) "--split settles it (rc $rc)"

# Interrupted completions, cut after each of its stores; a restart resolves each, so they are warnings.
for stage in 1 2 3 4 5; do
	rm -f "$DIR/pstage$stage.bin"
	truncate -s $((2 * S)) "$DIR/pstage$stage.bin"
	base_chains
	pq_complete "$A" "$stage"
	pq_write "$DIR/pstage$stage.bin" "$S" 0
	pq_init 128
	pq_write "$DIR/pstage$stage.bin" "$S" 1
done
run "$DIR/pstage1.bin"
ok $([ "$rc" -eq 0 ] && grep -q '^  interrupted completion pending: no' <<<"$out" &&
	grep -q '^  free entries: 125 from free_head, 122 from old_free_head' <<<"$out" &&
	grep -q "^warning: queue 0: free list from free_head $A is 3 entries longer than expected" <<<"$out" &&
	grep -q '^consistent, 1 warning$' <<<"$out"; echo $?) \
	"packed: completion cut after free_head: the longer free list is a warning, exit 0 (rc $rc)"
run "$DIR/pstage2.bin"
ok $([ "$rc" -eq 0 ] && grep -q '^  interrupted completion pending: yes' <<<"$out" &&
	grep -q 'used_idx 5, old_used_idx 2, used_wrap_counter 0, old_used_wrap_counter 0' <<<"$out" &&
	grep -q '^warning: queue 0: a completion was interrupted (used_idx 5, old_used_idx 2)' <<<"$out" &&
	grep -q '^warning: queue 0: free list from free_head' <<<"$out"; echo $?) \
	"packed: completion cut after used_idx: pending, exit 0 (rc $rc)"
run "$DIR/pstage3.bin"
ok $([ "$rc" -eq 0 ] && grep -q '^  interrupted completion pending: yes' <<<"$out" && grep -q '^  2 inflight' <<<"$out" &&
	! grep -q 'longer than expected' <<<"$out"; echo $?) "packed: completion cut after clearing inflight (rc $rc)"
run "$DIR/pstage4.bin"
ok $([ "$rc" -eq 0 ] && grep -q '^  interrupted completion pending: yes' <<<"$out" && grep -q '^  free entries: 125$' <<<"$out"; echo $?) \
	"packed: completion cut after old_free_head (rc $rc)"
"$TOOL" --json "$DIR/pstage2.bin" >"$DIR/pstage2.json" 2>/dev/null
rc=$?
got=$(python3 -c 'import json,sys
q=json.load(open(sys.argv[1]))["queues"][0]
print(q["completion_pending"], q["free_entries"], q["free_entries_from_old_free_head"], len(q["warnings"]), q["errors"])' "$DIR/pstage2.json" 2>&1)
ok $([ "$rc" -eq 0 ] && [ "$got" = "True 125 122 2 []" ]; echo $?) "packed: --json shows the pending completion ($got)"

# A completion that crosses the end of the ring, cut between old_used_idx and old_used_wrap_counter.
truncate -s "$S" "$DIR/pwrap.bin"
pq_init 128 126 1
pq_fetch 3 1
pq_complete "$PHEAD" 5
pq_write "$DIR/pwrap.bin" "$S" 0
run "$DIR/pwrap.bin"
ok $([ "$rc" -eq 0 ] && grep -q '^  interrupted completion pending: yes' <<<"$out" &&
	grep -q '^warning: queue 0: used_wrap_counter 0 differs from old_used_wrap_counter 1 at the same used_idx 1' <<<"$out"; echo $?) \
	"packed: only the wrap counters differing is a pending completion too (rc $rc)"

# Interrupted fetches: the head entry is marked before old_free_head moves.
for stop in 0 2; do
	truncate -s 0 "$DIR/pfetch.bin"
	truncate -s "$S" "$DIR/pfetch.bin"
	base_chains
	pq_fetch 3 11 "$stop"
	pq_write "$DIR/pfetch.bin" "$S" 0
	run "$DIR/pfetch.bin"
	ok $([ "$rc" -eq 0 ] && grep -q "^  interrupted fetch at entry $PHEAD" <<<"$out" && grep -q '^  3 inflight' <<<"$out" &&
		grep -q "^warning: queue 0: entry $PHEAD at old_free_head is marked inflight: a fetch was interrupted" <<<"$out"; echo $?) \
		"packed: a fetch cut after $stop descriptors is a warning, not a chain (rc $rc)"
done

# Every entry in use: the free list is empty and free_head is desc_num.
truncate -s "$S" "$DIR/pfull.bin"
pq_init 128
for i in $(seq 0 31); do pq_fetch 4 "$i"; done
pq_write "$DIR/pfull.bin" "$S" 0
run "$DIR/pfull.bin"
ok $([ "$rc" -eq 0 ] && grep -q 'free_head 128, old_free_head 128' <<<"$out" && grep -q '^  free entries: 0$' <<<"$out" &&
	grep -q '^  32 inflight' <<<"$out"; echo $?) "packed: a full ring (free_head == desc_num) is consistent (rc $rc)"

# pcorrupt NAME EXPECTED-ERROR-REGEX [ARGS...]: writes the model as queue 0 of a packed region
# $DIR/NAME.bin whose queue 1 is fresh, and checks the tool finds the violation.
pcorrupt() {
	cp "$DIR/pfresh.bin" "$DIR/$1.bin"
	pq_write "$DIR/$1.bin" "$S" 0
	violation "$@"
}

# Each invariant broken in turn on the base_chains queue.
base_chains; PVERSION=2
pcorrupt pversion 'queue 0: version 2, expected 0 or 1' --packed --queues 2
base_chains; PNEXT[5]=300
pcorrupt pnext 'queue 0: entry 5: next 300 is out of range \(desc_num 128\)'
base_chains; PLAST[90]=128
pcorrupt plast 'queue 0: entry 90: last 128 is out of range \(desc_num 128\)'
base_chains; PFH=129 POFH=129
pcorrupt pfree 'queue 0: free_head 129 is out of range \(desc_num 128\)'
base_chains; POFH=200
pcorrupt poldfree 'queue 0: old_free_head 200 is out of range \(desc_num 128\)'
base_chains; PUI=128 POUI=128
pcorrupt pused 'queue 0: used_idx 128 is out of range \(desc_num 128\)'
base_chains; POUI=300
pcorrupt poldused 'queue 0: old_used_idx 300 is out of range \(desc_num 128\)'
base_chains; PW=2 POW=2
pcorrupt pwrapbad 'queue 0: used_wrap_counter is 2, expected 0 or 1'
base_chains; POW=7
pcorrupt poldwrapbad 'queue 0: old_used_wrap_counter is 7, expected 0 or 1'
base_chains; PINF[100]=2
pcorrupt pbyte 'queue 0: entry 100: inflight byte is 2, expected 0 or 1'
base_chains; PNEXT[100]=$POFH
pcorrupt pcycle "queue 0: free list from old_free_head $POFH is cyclic: it comes back to entry $POFH"
base_chains; PNEXT[A]=128
pcorrupt pleaves "queue 0: entry $A: chain of 3: next of entry $A is 128, out of range \(desc_num 128\)"
base_chains; PLAST[A]=$A
pcorrupt pend "queue 0: entry $A: chain of 3 ends at entry [0-9]+, not at last $A"
base_chains; PNEXT[C]=$B PNUM[C]=2
pcorrupt poverlap "queue 0: entry $C: chain entry $B also belongs to the chain of entry $B"
base_chains; PNUM[B]=2 PNEXT[B]=$POFH PLAST[B]=$POFH PFLAGS[B]=$((PFLAGS[B] | 1))
pcorrupt pfreeoverlap "queue 0: entry $B: chain entry $POFH is also on the free list from old_free_head"
base_chains; PNEXT[PLAST[A]]=$A PLAST[A]=$((PLAST[A] + 1)) PNUM[A]=4
pcorrupt ploop "queue 0: entry $A: chain of 4 comes back to entry $A"
base_chains; PFLAGS[A]=$((0x80))
pcorrupt pnoflag "queue 0: entry $A: copy 1 of 3 \(entry $A\) has flags 0x0080, without NEXT"
base_chains; PFLAGS[B]=$((0x83))
pcorrupt plastflag "queue 0: entry $B: last copy \(entry $B\) has flags 0x0083, with NEXT"
base_chains; PCNT[B]=0
pcorrupt pzero "queue 0: entry $B: inflight with counter 0"
base_chains; PCNT[C]=${PCNT[A]}
pcorrupt pdup "queue 0: entry [0-9]+ and entry [0-9]+ share counter 2"
base_chains; PNUM[B]=0
pcorrupt pnum0 "queue 0: entry $B: inflight with num 0"
base_chains; PNUM[B]=300
pcorrupt pnumbig "queue 0: entry $B: num 300 is more than desc_num 128"
# The free list skips an entry, which is then neither free nor in a chain.
base_chains; lost=${PNEXT[POFH]}; PNEXT[POFH]=${PNEXT[lost]}
pcorrupt plost "queue 0: 6 entries in inflight chains and 121 free make 127, not desc_num 128 \(entry $lost is in neither\)"
base_chains; PFH=${PNEXT[POFH]}
pcorrupt pstray "queue 0: free_head $PFH differs from old_free_head $POFH, but is not a completed chain leading to it"
base_chains; PINF[127]=1 PCNT[127]=99 PNUM[127]=1 PLAST[127]=127
pcorrupt pinfree 'queue 0: entry 127: chain entry 127 is also on the free list from old_free_head'
base_chains; PVERSION=0
pcorrupt puninit 'queue 0: not initialised \(version 0\) but 3 entries are marked inflight'
s100=$(packed_stride 100)
truncate -s $((2 * s100)) "$DIR/ppow2.bin"
pq_init 100
pq_write "$DIR/ppow2.bin" "$s100" 0
pq_write "$DIR/ppow2.bin" "$s100" 1
violation ppow2 'queue 0: desc_num 100 is not a power of two from 1 to 32768'
packed "$DIR/pdiffer.bin"
pq_init 64
pq_write "$DIR/pdiffer.bin" "$S" 1
violation pdiffer "queue 1: desc_num 64 differs from queue 0's 128" --packed --queues 2
packed "$DIR/pstride.bin"
put "$DIR/pstride.bin" $((S + 10)) 2 256
violation pstride "queue 1: desc_num 256 needs 8224 bytes, more than the stride of $S" --packed --queues 2

"$TOOL" --json "$DIR/pdup.bin" >"$DIR/pdup.json" 2>"$DIR/pdup.err"
rc=$?
ok $([ "$rc" -eq 1 ] && python3 -m json.tool "$DIR/pdup.json" >/dev/null && grep -q '^error: queue 0: entry' "$DIR/pdup.err" &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["consistent"] or not d["queues"][0]["errors"])' "$DIR/pdup.json"; echo $?) \
	"packed: --json with violations is valid JSON, exits 1 and still prints the error line (rc $rc)"

# Hostile input read as packed: random bytes, then plausible headers over random entries, then a valid
# region with random fields overwritten. Any outcome but a crash: 0, 1 or 2.
crashes=""
for size in 1 31 32 33 64 96 128 576 4160 4161 8320 12480 65536 $(for i in $(seq 8); do echo $((RANDOM * 4 % 70000 + 1)); done); do
	head -c "$size" /dev/urandom >"$DIR/garbage.bin"
	for args in "--packed" "--packed --queues 1" "--packed --json" "--packed --queues 2" "--split --queues 1"; do
		# shellcheck disable=SC2086
		"$TOOL" $args "$DIR/garbage.bin" >/dev/null 2>&1
		rc=$?
		[ "$rc" -le 2 ] || crashes+=" $size/$args:$rc"
	done
done
ok $([ -z "$crashes" ]; echo $?) "packed: random files never crash${crashes:+:$crashes}"

crashes=""
for i in $(seq 12); do
	d=$((1 << (RANDOM % 11)))
	s=$(packed_stride "$d")
	head -c $((2 * s)) /dev/urandom >"$DIR/garbage.bin"
	for q in 0 1; do
		put "$DIR/garbage.bin" $((q * s + 8)) 2 $((RANDOM % 2))
		put "$DIR/garbage.bin" $((q * s + 10)) 2 "$d"
		put "$DIR/garbage.bin" $((q * s + 12)) 4 $((RANDOM % (d + 1) * 65537))
		put "$DIR/garbage.bin" $((q * s + 16)) 6 $((RANDOM % d * 65537))
	done
	for args in "" "--json" "--packed"; do
		# shellcheck disable=SC2086
		"$TOOL" $args "$DIR/garbage.bin" >/dev/null 2>&1
		rc=$?
		[ "$rc" -le 2 ] || crashes+=" $d/${args:-auto}:$rc"
	done
done
# Sparse damage: a region with traffic, a few fields of random entries set to random or edge values.
for i in $(seq 40); do
	base_chains
	for j in 1 2 3; do
		e=$((RANDOM % 128))
		v=$((RANDOM % 3 == 0 ? RANDOM % 130 : RANDOM % 3 == 0 ? 65535 : RANDOM % 128))
		case $((RANDOM % 6)) in
		0) PNEXT[e]=$v ;;
		1) PLAST[e]=$v ;;
		2) PNUM[e]=$((v % 8)) ;;
		3) PINF[e]=$((RANDOM % 3)) PCNT[e]=$((RANDOM % 5)) ;;
		4) PFLAGS[e]=$((RANDOM % 4)) ;;
		5) PFH=$v ;;
		esac
	done
	truncate -s 0 "$DIR/garbage.bin"
	truncate -s "$S" "$DIR/garbage.bin"
	pq_write "$DIR/garbage.bin" "$S" 0
	"$TOOL" "$DIR/garbage.bin" >/dev/null 2>&1
	rc=$?
	[ "$rc" -le 2 ] || crashes+=" sparse$i:$rc"
done
ok $([ -z "$crashes" ]; echo $?) "packed: plausible headers over random entries, and damaged chains, never crash${crashes:+:$crashes}"

echo "1..$n"
[ "$failed" -eq 0 ]
