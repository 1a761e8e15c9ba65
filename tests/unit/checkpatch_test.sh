#!/bin/bash
# TAP test: the vbabort module and its UAPI header stay clean under the kernel's checkpatch.pl --strict.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/checkpatch_test.
set -uo pipefail

out=$(tools/checkpatch 2>&1)
rc=$?
echo "1..1"
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
	echo "ok 1 - checkpatch.pl --strict finds nothing in kernel/ and include/uapi/linux/vbabort.h"
else
	echo "not ok 1 - checkpatch.pl --strict finds nothing in kernel/ and include/uapi/linux/vbabort.h"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
