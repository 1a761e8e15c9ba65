#!/bin/bash
# TAP test: the vbabort module and its UAPI header stay clean under the kernel's checkpatch.pl --strict.
#
# Run from the repository root; the Makefile installs it as $BUILD/tests/unit/checkpatch_test.
set -uo pipefail

. tests/lib/tap.sh

out=$(tools/checkpatch 2>&1)
rc=$?
report $((rc != 0 || ${#out} != 0)) "checkpatch.pl --strict finds nothing in kernel/ and include/uapi/linux/vbabort.h"
printf '%s' "$out" | diag
tap_done
