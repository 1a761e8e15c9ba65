#!/bin/bash
# TAP smoke test of vbridge-suspend-bench's options for merged tables (--disk, --where, --rows,
# --add-rows, --engine): usage errors, rows of a short run on a slow FUSE disk given as --disk, and
# a table with another run's rows added that docutils parses. A few seconds.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/vhost/suspend_bench_smoke.
set -uo pipefail

. tests/lib/tap.sh
. tests/lib/slowfs.sh

BUILD=${BUILD:-build}
BENCH=$BUILD/vbridge-suspend-bench
if [ ! -x "$BENCH" ] || [ ! -x "$BUILD/vbridge" ] || [ ! -x "$BUILD/slowfs" ]; then
	echo "1..0 # SKIP $BENCH, $BUILD/vbridge or $BUILD/slowfs not built"
	exit 0
fi
DIR=$(mktemp -d /tmp/vbridge-suspend-bench-smoke.XXXXXX)
cleanup() {
	slowfs_umount "$DIR/fs"
	rm -rf "$DIR"
}
trap cleanup EXIT
export BUILD

"$BENCH" --help >"$DIR/help" 2>&1
missing=
for opt in --disk --engine --where --rows --add-rows --slow-cmd --writes; do
	grep -q -- "^  $opt " "$DIR/help" || missing="$missing $opt"
done
report "$([ -z "$missing" ]; echo $?)" "--help describes the options for merged tables"
[ -z "$missing" ] || echo "# missing:$missing"

# Each: the arguments, then a word the message must hold. None may start a daemon.
printf 'not a row\n' >"$DIR/garbage"
truncate -s 16M "$DIR/big.img"
bad=0
while IFS='|' read -r args word; do
	# shellcheck disable=SC2086
	"$BENCH" $args >"$DIR/out" 2>"$DIR/err"
	rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q -- "$word" "$DIR/err"; then
		echo "# '$args': exit $rc (2 expected), message without '$word':"
		diag "$DIR/err"
		bad=1
	fi
done <<EOF
--engine kabort|needs --disk
--slow 0:1|needs --disk
--engine null|expected uring, kabort or rbd
--engine rbd --slow 100:1|go together
--engine rbd --disk $DIR/big.img --slow 100:1 --where x|go together
--disk rbd:rbd/img --slow 100:1 --where x|go together
--disk $DIR/garbage --slow 100:1|at least
--disk /nonexistent --slow 100:1|No such file
--disk $DIR/garbage|exactly one --slow
--disk $DIR/big.img --slow 100:1|give --where
--where 12345678901234567890123|1 to 22 characters
--rows --add-rows $DIR/garbage|not with
--add-rows $DIR/garbage|not a row
--add-rows $DIR/nonexistent|No such file
EOF
report "$bad" "bad option combinations are usage errors (exit 2) naming the problem"

mkdir "$DIR/fs"
if ! slowfs_mount "$DIR/fs" 64M --delay-ms 200; then
	report 1 "the slow disk mounts"
	tap_done
	exit 1
fi

# Rows only: one per depth, labelled, the writes' fences counted.
"$BENCH" --disk "$DIR/fs/disk" --slow 200:2 --depths 1,8 --where "FUSE, smoke" --rows \
	>"$DIR/rows" 2>"$DIR/err"
rc=$?
report "$rc" "--disk on the slow disk with --rows: exit 0"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "--rows prints one row per depth, labelled, fences counted, nothing else" python3 -c '
import re, sys
rows = open(sys.argv[1]).read().splitlines()
want = [r"FUSE, smoke +uring +200 ms +%d +2 +.*x +\d+x +(\d+) of %d$" % (n, (n + 1) // 2) for n in (1, 8)]
ok = len(rows) == 2 and all(re.fullmatch(w, r) for w, r in zip(want, rows))
if not ok:
    print("# rows:", rows)
sys.exit(0 if ok else 1)' "$DIR/rows"

# Writes only (make bench-rbd's 256 writes): every request a write, every one fenced.
"$BENCH" --disk "$DIR/fs/disk" --slow 200:1 --depths 8 --where "FUSE, writes" --rows --writes \
	>"$DIR/writes" 2>"$DIR/err"
rc=$?
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "--writes: 8 writes in flight, all 8 fenced at the reply" python3 -c '
import re, sys
rows = open(sys.argv[1]).read().splitlines()
ok = len(rows) == 1 and re.fullmatch(r"FUSE, writes +uring +200 ms +8 +1 +.*x +\d+x +8 of 8", rows[0])
if not ok:
    print("# rows:", rows)
sys.exit(0 if ok else 1)' "$DIR/writes"

# --slow 0: storage that answers at once (a file on tmpfs); GET_VRING_BASE follows the fetch.
SHM=$(mktemp /dev/shm/vbridge-sbsmoke.XXXXXX)
truncate -s 16M "$SHM"
"$BENCH" --disk "$SHM" --slow 0:3 --depths 1,16 --mixed --where "tmpfs, smoke" --rows \
	>"$DIR/tmpfs" 2>"$DIR/err"
rc=$?
rm -f "$SHM"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "--slow 0 on a tmpfs file: a row per depth, 3 samples each" python3 -c '
import re, sys
rows = open(sys.argv[1]).read().splitlines()
ok = len(rows) == 2 and all(re.match(r"tmpfs, smoke +uring +0 ms +%d +3 " % n, r) for n, r in zip((1, 16), rows))
if not ok:
    print("# rows:", rows)
sys.exit(0 if ok else 1)' "$DIR/tmpfs"

# The rows of another run (here, the run above) and a note, added to this run's table.
{ echo "note: the smoke note"; cat "$DIR/rows"; } >"$DIR/added"
"$BENCH" --disk "$DIR/fs/disk" --slow 200:1 --depths 4 --where "FUSE, this run" --read-seconds 0 \
	--add-rows "$DIR/added" \
	>"$DIR/table.rst" 2>"$DIR/err"
rc=$?
report "$rc" "--add-rows: exit 0"
[ "$rc" -eq 0 ] || diag "$DIR/err"
check "the merged table parses: this run's row, then the added ones, and the note above it" python3 -c '
import sys, docutils.core, docutils.utils
src = open(sys.argv[1]).read()
doc = docutils.core.publish_doctree(src, settings_overrides={"report_level": 2, "halt_level": 2})
rows = [[e.astext() for e in r.children] for r in doc.findall(lambda n: n.tagname == "row")]
items = [i.astext() for i in doc.findall(lambda n: n.tagname == "list_item")]
ok = (len(rows) == 4 and rows[0][:3] == ["where", "engine", "storage"] and len(rows[0]) == 12
      and rows[1][:4] == [sys.argv[2], "uring", "200 ms", "4"]
      and [r[0] for r in rows[2:]] == ["FUSE, smoke"] * 2 and all(len(r) == 12 for r in rows)
      and items[-1] == "the smoke note")
if not ok:
    print("# rows:", rows, "items:", items)
sys.exit(0 if ok else 1)' "$DIR/table.rst" "FUSE, this run"
tap_done
