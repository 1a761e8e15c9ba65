#!/bin/bash
# Live migration on QEMU 11 (inflight-migration=on) of a guest on an RBD image between two vbridges in two network namespaces, as two hosts, the cluster slow.
#
# One throw-away cluster (tests/lib/ceph.sh) in the root namespace on a bridge's address; two
# network namespaces, each joined to the bridge by a veth pair: vbridge A (the source, --engine rbd)
# runs in the first, vbridge B (the destination, --engine rbd:break-lock-late) in the second, and
# each reaches the cluster over its own veth. Both QEMUs run in the root namespace and reach the
# daemons through their unix sockets; the migration stream goes over a unix socket. The run is
# tests/guest/migration.sh (tagwrite load, block-by-block manifest check against rbd export of the
# image) with the OSD holding every message of A's connection up to
# VBRIDGE_RBD_DELAY_S (default 6) s from just before the migration until it ended, so that
# requests are with the cluster at the source's GET_VRING_BASE: B must break A's lock and resubmit
# them, and A must log that the cluster refused its late writes. The same with draining, as the
# control: the inflight migration's downtime must be at most half of draining's.
#
# Settings (environment): VBRIDGE_RBD_DELAY_S, VBRIDGE_B_ENGINE (default rbd:break-lock-late),
# and those of migration.sh.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
# shellcheck source=../lib/tagwrite.sh
. tests/lib/tagwrite.sh

tmp=$(mktemp -d /tmp/vbridge-migration-rbd.XXXXXX)
tag=$(($$ % 100000))
net=10.231.$(($$ % 250))	# the bridge's /24: .1 the cluster, .2 host A, .3 host B
bridge=vbmbr$tag
ns_a=vbridge-mig-a-$tag ns_b=vbridge-mig-b-$tag
cleanup() {
	ceph_stop
	ip netns del "$ns_a" 2>/dev/null
	ip netns del "$ns_b" 2>/dev/null
	ip link del "$bridge" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=../lib/ceph.sh
. tests/lib/ceph.sh
# shellcheck source=../lib/migration_runs.sh
. tests/lib/migration_runs.sh
use_qemu11 || exit

# host NS ADDR SUFFIX: a namespace on the bridge with address ADDR (the veth's host end vbm-SUFFIX).
host() {
	ip netns add "$1" &&
		ip link add "vbm$3$tag" type veth peer name eth0 netns "$1" &&
		ip link set "vbm$3$tag" master "$bridge" up &&
		ip -n "$1" addr add "$2/24" dev eth0 &&
		ip -n "$1" link set eth0 up &&
		ip -n "$1" link set lo up
}
if ! check "a bridge ($net.1) and two network namespaces on it, $ns_a ($net.2) and $ns_b ($net.3)" \
	bash -c "ip link add $bridge type bridge && ip addr add $net.1/24 dev $bridge && ip link set $bridge up" ||
	! host "$ns_a" "$net.2" a || ! host "$ns_b" "$net.3" b; then
	tap_done
	exit 1
fi
export CEPH_ADDR=$net.1
if ! check "a single-node Ceph cluster starts on $CEPH_ADDR" ceph_start "$tmp/ceph"; then
	tap_done
	exit 1
fi
reaches_cluster() { ip netns exec "$1" rbd --conf "$CEPH_CONF" ls "$CEPH_POOL" >/dev/null; }
for ns in "$ns_a" "$ns_b"; do
	check "from $ns the cluster answers over the veth" reaches_cluster "$ns"
done

export CEPH_CONF
# rbd_run MODE INFLIGHT: one migration.sh run on an image of its own (the manifest check wants
# the blocks tagwrite did not write to be zeroes).
rbd_run() {
	check "$1: a $DISK_MIB MiB image with exclusive-lock" rbd --conf "$CEPH_CONF" create \
		--size "$DISK_MIB"M --image-feature layering,exclusive-lock "$CEPH_POOL/tagwrite-$1" || return
	migration_run "$1" "$2" VBRIDGE_RBD="$CEPH_POOL/tagwrite-$1" VBRIDGE_RBD_DELAY_S="${VBRIDGE_RBD_DELAY_S:-6}" \
		VBRIDGE_A_NETNS="$ns_a" VBRIDGE_B_NETNS="$ns_b" VBRIDGE_DAEMON_ARGS= \
		VBRIDGE_A_ARGS="--engine rbd" VBRIDGE_B_ARGS="--engine ${VBRIDGE_B_ENGINE:-rbd:break-lock-late}" \
		VBRIDGE_MIGRATION_PARAMS='{"downtime-limit": 300}' VBRIDGE_WORK_SECONDS="${VBRIDGE_WORK_SECONDS:-20}"
}
rbd_run drain 0
rbd_run inflight 1
echo "# inflight migration: ${suspended[inflight]:-?} requests suspended"
downtime_ratio_check 2 half
tap_done
