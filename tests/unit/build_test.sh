#!/bin/bash
# TAP test: the build compiles without pkg-config knowing libnl, as on a fresh machine's first `make demo`.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/build_test.
set -uo pipefail
. tests/lib/tap.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/no-pc-files"

# make parses the Makefile before `make deps` installs libnl: whatever the build learns while
# parsing must not come from libnl's .pc files. An empty pkg-config search path hides them.
# The make that runs this test must not hand its own settings down to this one.
out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PKG_CONFIG_LIBDIR="$tmp/no-pc-files" PKG_CONFIG_PATH= \
	make --no-print-directory BUILD="$tmp/build" "$tmp/build/userspace/vduse/vdpa_netlink.o" 2>&1)
rc=$?
report "$rc" "userspace/vduse/vdpa_netlink.c (libnl-genl) compiles with libnl's .pc files hidden"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 20 | diag
tap_done
