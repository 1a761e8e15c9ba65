#!/bin/bash
# TAP test: userspace/ includes run one way, front doors down to the engines, with no cycles between files.
#
# Layers, highest first (Documentation/design.rst): main.c; the front doors vhost-user/ and
# vduse/; core/ (device, queue); engine/; virtio/; util/. A file may include headers of its own
# folder and of lower layers only; headers of include/ are shared by all.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/layers_test.
set -uo pipefail
. tests/lib/tap.sh

rank() { # FOLDER
	case $1 in
	.) echo 6 ;;
	vhost-user | vduse) echo 5 ;;
	core) echo 4 ;;
	engine) echo 3 ;;
	virtio) echo 2 ;;
	util) echo 1 ;;
	*) echo 0 ;;
	esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every include of a userspace header, as "FILE HEADER" with both paths from userspace/.
(cd userspace && shopt -s nullglob && for f in *.c */*.[ch]; do
	dir=$(dirname "$f")
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r h; do
		if [ -f "$dir/$h" ]; then
			echo "$f $(realpath --relative-to=. "$dir/$h")"
		elif [ -f "$h" ]; then
			echo "$f $h"
		fi
	done
done) >"$tmp/edges"

unknown=$(cut -d' ' -f1 "$tmp/edges" | xargs -n1 dirname | sort -u | while read -r d; do
	[ "$(rank "$d")" -gt 0 ] || echo "$d"
done)
report "$([ -z "$unknown" ] && echo 0 || echo 1)" "every folder of userspace/ has a layer${unknown:+ (not: $unknown)}"

upward=$(while read -r from to; do
	fd=$(dirname "$from") td=$(dirname "$to")
	[ "$fd" = "$td" ] && continue
	[ "$(rank "$td")" -lt "$(rank "$fd")" ] || echo "$from includes $to"
done <"$tmp/edges")
[ -z "$upward" ] || echo "$upward" | diag -
report "$([ -z "$upward" ] && echo 0 || echo 1)" "includes run one way, front doors down to the engines ($(wc -l <"$tmp/edges") includes)"

cycle=$(python3 - "$tmp/edges" <<'PY'
import sys
graph = {}
for line in open(sys.argv[1]):
    a, b = line.split()
    graph.setdefault(a, set()).add(b)
# A .c file and its own header are one unit: a cycle is between units.
unit = lambda p: p[:-2] if p.endswith(('.c', '.h')) else p
g = {}
for a, bs in graph.items():
    for b in bs:
        if unit(a) != unit(b):
            g.setdefault(unit(a), set()).add(unit(b))
state = {}
def visit(n, path):
    state[n] = 1
    for m in sorted(g.get(n, ())):
        if state.get(m) == 1:
            print(" -> ".join(path[path.index(m):] + [m]))
            sys.exit(0)
        if m not in state:
            visit(m, path + [m])
    state[n] = 2
for n in sorted(g):
    if n not in state:
        visit(n, [n])
PY
)
[ -z "$cycle" ] || echo "cycle: $cycle" | diag -
report "$([ -z "$cycle" ] && echo 0 || echo 1)" "no cycle between the files of userspace/${cycle:+ ($cycle)}"
tap_done
