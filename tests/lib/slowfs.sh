#!/bin/bash
# Mounts and unmounts the tests' slow FUSE disk ($BUILD/slowfs, tests/lib/slowfs.c).
#
# Sourced by a shell test:
#   . tests/lib/slowfs.sh
#   slowfs_mount DIR 64M --delay-ms 500    # DIR/disk, DIR/control; sets slowfs_pid
#   slowfs_delay DIR 60000                 # reads and writes now hang (READ_MS [WRITE_MS])
#   slowfs_umount DIR                      # also run it from a trap: it never fails
# Or run, for programs in other languages:
#   tests/lib/slowfs.sh mount DIR SIZE [slowfs options]   # prints the server's pid
#   tests/lib/slowfs.sh umount DIR PID

slowfs_bin() { echo "${BUILD:-build}/slowfs"; }

slowfs_mount() { # DIR SIZE [slowfs options...]
	local dir=$1 size=$2
	shift 2
	"$(slowfs_bin)" "$dir" --size "$size" "$@" </dev/null >/dev/null &
	slowfs_pid=$!
	# The disk appears with the mount; a server that failed exits first.
	for _ in $(seq 100); do
		[ -e "$dir/disk" ] && return 0
		kill -0 "$slowfs_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "slowfs: $dir/disk did not appear" >&2
	slowfs_umount "$dir"
	return 1
}

slowfs_delay() { # DIR READ_MS [WRITE_MS]
	echo "${*:2}" >"$1/control"
}

# Waiting and held requests are released first, so nobody stays blocked on the disk;
# the lazy unmount detaches it even while files are open.
slowfs_umount() { # DIR [PID], by default the one slowfs_mount started
	local dir=$1 pid=${2:-${slowfs_pid:-}}

	[ -e "$dir/control" ] && echo 0 >"$dir/control" 2>/dev/null &&
		echo release >"$dir/control" 2>/dev/null
	fusermount3 -u "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null
	fi
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	case "${1:-}" in
	mount)
		[ $# -ge 3 ] || { echo "usage: $0 mount DIR SIZE [slowfs options]" >&2; exit 2; }
		shift
		slowfs_mount "$@" || exit 1
		echo "$slowfs_pid"
		;;
	umount)
		[ $# -eq 3 ] || { echo "usage: $0 umount DIR PID" >&2; exit 2; }
		slowfs_umount "$2" "$3"
		;;
	*)
		echo "usage: $0 mount DIR SIZE [options] | umount DIR PID" >&2
		exit 2
		;;
	esac
fi
