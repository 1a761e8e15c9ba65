# shellcheck shell=bash
# Library for tests that boot a throw-away QEMU (TCG) guest: kernel, initramfs, run, TAP output.
#
#   source tests/lib/guest.sh
#   guest_build_initramfs "$tmp/initrd" "$tmp/in-guest.sh" --modules "null_blk" --file build/vbridge
#   rc=0
#   guest_run "$tmp/console.log" 120 -- \
#       -chardev socket,id=vu0,path="$sock" -device vhost-user-blk-pci,chardev=vu0,num-queues=2 || rc=$?
#   guest_tap "$tmp/console.log"      # or guest_report, then guest_ended
#
# Settings, read by guest_run:
#   GUEST_KERNEL  kernel to boot (default: what guest_kernel prints)
#   GUEST_INITRD  initramfs to boot (set by guest_build_initramfs)
#   GUEST_MEM     guest RAM, also the size of its shared memfd backing (default: 512M)
#   GUEST_SMP     vCPUs (default: 2)
#   GUEST_ACCEL   -accel argument (default: tcg; tcg,thread=single for more vCPUs than host cores)
#   GUEST_CPU     -cpu argument (default: max)
#   GUEST_APPEND  extra kernel command line
#   GUEST_QEMU    the QEMU to run (default: qemu-system-x86_64, QEMU 10; tools/qemu11 for QEMU 11)

GUEST_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Why each default kernel argument is there (savings measured under TCG; the
# boot to /test.sh takes 3-4 s on an otherwise idle 2-core host, twice that
# when another guest runs alongside):
#   console=ttyS0 quiet   the console is the log; quiet leaves it to the test
#   panic=-1              a kernel panic resets, which -no-reboot turns into QEMU exiting
#   cryptomgr.notests=1   skips the crypto self-tests, about 0.3 s
#   initcall_blacklist=   skips a KDF self-test, encrypted keys and the jitter entropy
#                         source, which tests never use, about 0.3 s
#   ipv6.disable=1        IPv6 setup takes about 0.3 s and no test networks
#   mitigations=off       speculation workarounds cost emulated cycles on every kernel entry
GUEST_BASE_APPEND="console=ttyS0 quiet panic=-1 cryptomgr.notests=1 initcall_blacklist=crypto_kdf108_init,init_encrypted,jent_mod_init ipv6.disable=1 mitigations=off"

# Prints the kernel to boot: the uncompressed vmlinux when zstd can unpack it (boots 2 s faster).
guest_kernel() {
	if command -v zstd >/dev/null; then
		"$GUEST_REPO/tools/mkguest" kernel --vmlinux
	else
		echo "guest.sh: zstd not installed, booting the compressed kernel (about 2 s slower)" >&2
		"$GUEST_REPO/tools/mkguest" kernel
	fi
}

# guest_build_initramfs OUT SCRIPT [tools/mkguest initramfs options...]
# Builds OUT with SCRIPT as the guest's /test.sh and makes it the GUEST_INITRD to boot.
guest_build_initramfs() {
	local out=$1 script=$2
	shift 2
	"$GUEST_REPO/tools/mkguest" initramfs --out "$out" --script "$script" "$@" || return
	GUEST_INITRD=$out
}

# guest_build_or_fail OUT SCRIPT [tools/mkguest initramfs options...]
# guest_build_initramfs, or reports its failure with mkguest's errors (tests/lib/tap.sh) and
# ends the test script.
guest_build_or_fail() {
	guest_build_initramfs "$@" >"$1.err" 2>&1 && return
	report 1 "guest initramfs built"
	diag "$1.err"
	tap_done
	exit 1
}

# guest_run LOG TIMEOUT_SECONDS [-- QEMU_ARGS...]
# Boots the guest with the console written to LOG and returns the exit status of its
# /test.sh; 124 if it did not finish within TIMEOUT_SECONDS, 125 if it ended without a status.
guest_run() {
	local log=$1 secs=$2
	shift 2
	[[ ${1-} != -- ]] || shift
	local initrd=${GUEST_INITRD:-} kernel=${GUEST_KERNEL:-} mem=${GUEST_MEM:-512M}
	if [[ -z $initrd ]]; then
		echo "guest_run: no initramfs: call guest_build_initramfs first or set GUEST_INITRD" >&2
		return 125
	fi
	if [[ -z $kernel ]]; then
		kernel=$(guest_kernel) || return 125
	fi
	rm -f "$log"
	local rc=0
	# The parent-death signals make QEMU go away with this shell even if it is
	# killed outright; timeout bounds it otherwise. q35 boots no slower than pc
	# under TCG; vhost-user needs the guest RAM in a shared memfd.
	setpriv --pdeathsig TERM -- timeout --foreground --kill-after=5 "$secs" \
		setpriv --pdeathsig KILL -- "${GUEST_QEMU:-qemu-system-x86_64}" \
		-accel "${GUEST_ACCEL:-tcg}" -machine q35 -cpu "${GUEST_CPU:-max}" -smp "${GUEST_SMP:-2}" -m "$mem" \
		-object memory-backend-memfd,id=mem,size="$mem",share=on -numa node,memdev=mem \
		-nodefaults -no-user-config -display none -no-reboot \
		-chardev file,id=console,path="${log//,/,,}" -serial chardev:console \
		-kernel "$kernel" -initrd "$initrd" \
		-append "$GUEST_BASE_APPEND ${GUEST_APPEND:-}" \
		"$@" </dev/null || rc=$?

	local status=
	[[ ! -f $log ]] || status=$(sed -n 's/.*VBRIDGE-GUEST-EXIT \([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [[ -n $status ]]; then
		return "$status"
	fi
	if ((rc == 124 || rc == 137)); then
		echo "guest_run: guest still running after ${secs}s, killed; console: $log" >&2
		return 124
	fi
	echo "guest_run: guest ended without reporting a status (qemu exit status $rc); console: $log" >&2
	[[ ! -f $log ]] || tail -n 15 "$log" | tr -d '\r' | sed 's/^/  | /' >&2
	return 125
}

# guest_report LOG PREFIX: numbers the guest's results into the script's TAP (tests/lib/tap.sh's
# report), each description prefixed with PREFIX; false if any failed.
guest_report() {
	local line bad=0
	while read -r line; do
		case "$line" in
		"not ok - "*) report 1 "$2${line#not ok - }"; bad=1 ;;
		"ok - "*) report 0 "$2${line#ok - }" ;;
		esac
	done < <(guest_tap "$1" 2>/dev/null)
	return "$bad"
}

# guest_ended STATUS FAILED [PREFIX]: one check that the guest's /test.sh ran to its end. A guest
# script exits 0 when its checks passed and 1 when one failed; FAILED (0 or 1) is what its console
# lines said. Another status (124 timeout, 125 none, a crash or an early exit) or one that disagrees
# with the lines fails this check; a failing guest check already counted once, on its own line.
guest_ended() {
	report $(($1 != $2)) "${3:-}the guest's script ran to its end (status $1)"
}

# guest_tap LOG: prints the TAP lines the guest wrote to its console.
guest_tap() {
	tr -d '\r' <"$1" | grep -E '^(ok|not ok)( |$)|^# |^1\.\.|^Bail out!' || true
}
