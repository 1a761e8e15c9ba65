#!/bin/bash
# TAP test: the rbd engine is a plugin, loaded only by --engine rbd, with a clear error when it is missing.
#
# librbd brings libceph-common, whose start-up code cost every daemon 17 MiB of resident memory
# when it was linked in. Run from the repository root; the Makefile installs it as
# $BUILD/tests/unit/engine_plugin_test.
set -uo pipefail
. tests/lib/tap.sh
BUILD=${BUILD:-build}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

libs=$(ldd "$BUILD/vbridge" 2>&1)
! grep -Eq 'librbd|librados' <<<"$libs"
report $? "the daemon does not link librbd or librados"
grep -q 'librbd' < <(ldd "$BUILD/vbridge-engine-rbd.so" 2>&1)
report $? "vbridge-engine-rbd.so links librbd"

# The daemon alone in a directory of its own, with no plugin beside it.
cp "$BUILD/vbridge" "$tmp/"
out=$("$tmp/vbridge" serve --socket "$tmp/s" --engine rbd --disk rbd:rbd/img 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "^vbridge: --engine 'rbd': cannot load the engine: .*vbridge-engine-rbd.so" <<<"$out"
st=$?
report $st "without its plugin, --engine rbd is a usage error saying it cannot load the engine"
[ $st -eq 0 ] || diag <<<"$out"

out=$("$BUILD/vbridge" serve --socket "$tmp/s" --engine nosuch --disk "$tmp/img" 2>&1)
grep -q "expected one of uring, null, delay:ARG, kabort, rbd:ARG" <<<"$out"
report $? "an unknown engine's error lists the plugin engines too"

# The plugin beside the daemon is the one used: the rbd engine parses its argument.
out=$("$BUILD/vbridge" serve --socket "$tmp/s" --engine rbd:nonsense --disk rbd:rbd/img 2>&1)
! grep -q 'cannot load' <<<"$out" && grep -q 'nonsense' <<<"$out"
report $? "with the plugin beside the daemon, the rbd engine parses its argument"
tap_done
