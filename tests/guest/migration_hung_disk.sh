#!/bin/bash
# Live migration on QEMU 11 away from a hung disk: the source's requests stop completing, the
# migration must still start and complete with inflight-migration=on, the guest go on on the
# destination with its stuck requests carried over, and the downtime stay small; draining, as the
# control, must wait for the disk.
#
# Both vbridges serve the disk through the same slow FUSE mount (tests/lib/slowfs.sh, the image
# as its backing file), as two hosts would serve one shared disk. The disk answers at once until
# the guest's tagwrite load has run a few seconds, then hangs (every request takes
# VBRIDGE_HANG_SECONDS); the migration starts a second later, with each guest writer's request
# stuck in the kernel. When the migration has ended the disk recovers: the requests still waiting
# complete at once. Going through the one mount matters: the destination's resubmitted writes and
# any new write over the same blocks must wait for the source's fences (Documentation/suspend.rst),
# the OFD locks the source took on that file when it suspended, and they hold until the source's
# stuck writes have landed. A destination on the backing file directly would probe another inode,
# see no fence, and let the source's old writes land over its newer data.
#
# Checks, besides every check of migration.sh (tagwrite's verdicts, the image against the guest's
# manifest block by block, the ring hand-over): with inflight migration the migration completes
# while the disk still hangs; draining, the VM stays stopped until the hang ends; and the
# downtime with inflight migration is at most a tenth of draining's, as a ratio in the same test.
#
# The issue asked for a 60 s hang. 20 s (the default) proves the same: the inflight migration
# never waits for the disk, so it completes within seconds whatever the hang, and draining waits
# for the hang, so the ratio only grows with a longer one; 20 s keeps the test near 2.5 minutes.
#
# Settings (environment): VBRIDGE_HANG_SECONDS (default 20), and those of migration.sh.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

tmp=$(mktemp -d /tmp/vbridge-migration-hung.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/migration_runs.sh
. tests/lib/migration_runs.sh
use_qemu11 || exit
hang=${VBRIDGE_HANG_SECONDS:-20}
export VBRIDGE_SLOWFS_MS=0 VBRIDGE_HANG_MS=$((hang * 1000))
# A guest request stuck for the whole hang is not a stall; one lost would be.
export VBRIDGE_STALL_SECONDS=$((hang + 30))
# The guest must still be writing on the destination after a drained migration's hang.
export VBRIDGE_WORK_SECONDS=${VBRIDGE_WORK_SECONDS:-$((hang + 25))}
# As in migration_qemu11.sh: the downtime is the devices' stop and start.
export VBRIDGE_MIGRATION_PARAMS='{"downtime-limit": 300}'

migration_run inflight 1
migration_run drain 0

downtime_ratio_check 10 "a tenth" " with the disk hung"
tap_done
