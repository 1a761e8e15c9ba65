#!/bin/bash
# A throw-away single-node Ceph cluster on loopback for the rbd tests: start, wait, stop and clean up.
#
# CEPH_ADDR (default 127.0.0.1) is the address the daemons listen on: another of the host's
# addresses (a bridge's) lets clients in other network namespaces reach the cluster.
#
# One mon, one mgr and one OSD (bluestore on a sparse file) under DIR, with
# ports of their own so that clusters run side by side; a pool "rbd" and a
# 1 GiB image "img" with exclusive-lock. The daemons run in the foreground
# (-f) as children of the caller, so a test stops them by pid.
#
# Sourced by a shell test:
#   . tests/lib/ceph.sh
#   ceph_start DIR      # sets CEPH_CONF, CEPH_KEYRING, CEPH_POOL, CEPH_IMAGE, CEPH_OSD_PID
#   ceph_osd_kill; ceph_osd_restart; ceph_mon_kill; ceph_mon_restart
#   ceph_stop           # also run it from a trap: it never fails
# Or run, for programs in other languages (tests/vhost/rbd.c):
#   tests/lib/ceph.sh serve DIR
# prints "conf PATH", "keyring PATH", "pool rbd", "image img", "ready", then
# keeps the cluster up until its standard input closes or it gets SIGTERM,
# and stops it. Meanwhile each line "osd-kill", "osd-restart", "mon-kill" or
# "mon-restart" on its standard input runs that function and is answered with
# "done" or "failed". Needs ceph-mon, ceph-mgr, ceph-osd and ceph-common
# (tools/install-deps).

ceph_pids=()
CEPH_MON_PID=
CEPH_OSD_PID=
CEPH_POOL=rbd
CEPH_IMAGE=img
CEPH_ADDR=${CEPH_ADDR:-127.0.0.1}

# A block of 16 ports nobody listens on: the mon's and the daemons' range.
ceph_free_ports() {
	local base
	for _ in $(seq 50); do
		base=$((20000 + (RANDOM % 2500) * 16))
		if ! ss -Htan | awk -v lo="$base" -v hi="$((base + 15))" \
			'{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) f = 1 } END { exit !f }'; then
			echo "$base"
			return 0
		fi
	done
	return 1
}

ceph_write_conf() { # DIR PORT FSID
	local d=$1 port=$2
	cat >"$d/ceph.conf" <<EOF
[global]
fsid = $3
mon host = v2:$CEPH_ADDR:$port
mon initial members = a
public addr = $CEPH_ADDR
ms bind ipv6 = false
ms bind msgr1 = false
ms bind port min = $((port + 1))
ms bind port max = $((port + 15))
keyring = $d/keyring
run dir = $d/run
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
auth allow insecure global id reclaim = false
client mount timeout = 30
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mgr initial modules =
[mon]
mon data = $d/mon.\$id
[mgr]
mgr data = $d/mgr.\$id
[osd]
osd data = $d/osd.\$id
osd objectstore = bluestore
bluestore block path = $d/osd.\$id/block.file
bluestore block create = true
bluestore block size = 10G
bluestore fsck on mkfs = false
osd memory target = 268435456
EOF
}

ceph_cmd() { ceph --conf "$CEPH_CONF" --connect-timeout 20 "$@"; }

# Starts the cluster; returns non-zero (everything stopped) if it did not come up.
ceph_start() { # DIR
	local d=$1 port fsid uuid
	mkdir -p "$d/run" "$d/log" "$d/mgr.x" "$d/osd.0" || return 1
	CEPH_CONF=$d/ceph.conf
	CEPH_KEYRING=$d/keyring
	port=$(ceph_free_ports) || { echo "ceph.sh: no free ports" >&2; return 1; }
	fsid=$(cat /proc/sys/kernel/random/uuid)
	ceph_write_conf "$d" "$port" "$fsid"
	{
		ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' &&
		ceph-authtool "$d/keyring" --gen-key -n client.admin --cap mon 'allow *' \
			--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' &&
		ceph-authtool "$d/keyring" --gen-key -n mgr.x --cap mon 'allow profile mgr' \
			--cap osd 'allow *' --cap mds 'allow *' &&
		ceph-authtool "$d/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
			--cap osd 'allow *' --cap mgr 'allow profile osd' &&
		monmaptool --create --fsid "$fsid" --addv a "[v2:$CEPH_ADDR:$port]" "$d/monmap" &&
		ceph-mon --conf "$CEPH_CONF" -i a --mkfs --monmap "$d/monmap" --keyring "$d/keyring"
	} >"$d/log/setup.log" 2>&1 || { ceph_fail "$d" "mon mkfs"; return 1; }
	ceph_run mon a CEPH_MON_PID
	ceph-mgr --conf "$CEPH_CONF" -i x -f >>"$d/log/daemons.log" 2>&1 &
	ceph_pids+=($!)
	uuid=$(cat /proc/sys/kernel/random/uuid)
	{
		ceph_cmd osd new "$uuid" 0 &&
		ceph-osd --conf "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$uuid"
	} >>"$d/log/setup.log" 2>&1 || { ceph_fail "$d" "osd mkfs"; return 1; }
	ceph_run osd 0 CEPH_OSD_PID
	{
		ceph_cmd osd pool create "$CEPH_POOL" 8 8 &&
		rbd --conf "$CEPH_CONF" pool init "$CEPH_POOL" &&
		rbd --conf "$CEPH_CONF" create --size 1G \
			--image-feature layering,exclusive-lock "$CEPH_POOL/$CEPH_IMAGE"
	} >>"$d/log/setup.log" 2>&1 || { ceph_fail "$d" "pool and image"; return 1; }
	return 0
}

# Starts daemon TYPE.ID in the foreground as our child, on the data and ports the configuration gives
# it; its pid goes to the variable PIDVAR (for tests that take the cluster away) and to ceph_pids.
ceph_run() { # TYPE ID PIDVAR
	"ceph-$1" --conf "$CEPH_CONF" -i "$2" -f >>"$(dirname "$CEPH_CONF")/log/daemons.log" 2>&1 &
	ceph_pids+=($!)
	printf -v "$3" %s $!
}

# SIGKILLs the daemon whose pid is in PIDVAR and reaps it: a crash, nothing flushed.
ceph_kill() { # PIDVAR
	local pid=${!1} p rest=()
	[ -n "$pid" ] || return 1
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for p in "${ceph_pids[@]}"; do
		[ "$p" = "$pid" ] || rest+=("$p")
	done
	ceph_pids=("${rest[@]}")
	printf -v "$1" %s ""
}

# Waits up to 90 s until daemon NAME's admin socket answers COMMAND with text matching PATTERN.
ceph_wait_state() { # NAME COMMAND PATTERN
	for _ in $(seq 180); do
		ceph --conf "$CEPH_CONF" daemon "$1" "$2" 2>/dev/null | grep -q "$3" && return 0
		sleep 0.5
	done
	echo "ceph.sh: $1 did not reach $3" >&2
	return 1
}

# An option of the running OSD, through its admin socket: a command through the messenger would be
# held up by the OSD's own message delays.
ceph_osd_set() { ceph --conf "$CEPH_CONF" daemon osd.0 config set "$1" "$2" >/dev/null; }

ceph_osd_kill() { ceph_kill CEPH_OSD_PID; }
ceph_mon_kill() { ceph_kill CEPH_MON_PID; }
# The same daemon again, on its data and the same configuration (the mon on its address): back once
# the OSD is up in the map and active, the mon the leader of its quorum of one.
ceph_osd_restart() {
	[ -z "$CEPH_OSD_PID" ] || return 1
	ceph_run osd 0 CEPH_OSD_PID
	ceph_wait_state osd.0 status '"state": "active"'
}
ceph_mon_restart() {
	[ -z "$CEPH_MON_PID" ] || return 1
	ceph_run mon a CEPH_MON_PID
	ceph_wait_state mon.a mon_status '"state": "leader"'
}

ceph_fail() { # DIR STEP
	echo "ceph.sh: $2 failed; the last lines of its logs:" >&2
	tail -n 15 "$1/log/setup.log" "$1/log/daemons.log" >&2 2>/dev/null
	ceph_stop
}

# SIGKILL: nothing of a throw-away cluster needs to be kept, and an OSD takes 7 s to stop on SIGTERM.
ceph_stop() {
	local p
	for p in "${ceph_pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for p in "${ceph_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	ceph_pids=()
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	case "${1:-}" in
	serve)
		[ $# -eq 2 ] || { echo "usage: $0 serve DIR" >&2; exit 2; }
		trap 'ceph_stop; exit 0' TERM INT
		ceph_start "$2" || exit 1
		printf 'conf %s\nkeyring %s\npool %s\nimage %s\nready\n' \
			"$CEPH_CONF" "$CEPH_KEYRING" "$CEPH_POOL" "$CEPH_IMAGE"
		# Bash runs the trap as soon as a signal interrupts read.
		while read -r cmd; do
			case "$cmd" in
			osd-kill | osd-restart | mon-kill | mon-restart)
				if "ceph_${cmd/-/_}" >&2; then echo "done"; else echo failed; fi
				;;
			*) echo failed ;;
			esac
		done
		ceph_stop
		;;
	*)
		echo "usage: $0 serve DIR" >&2
		exit 2
		;;
	esac
fi
