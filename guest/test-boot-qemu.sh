#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot the kiln guest kernel and base image under QEMU's microvm machine
# with TCG (no KVM needed) and check the guest from the inside: user space
# starts, all vCPUs are up, /dev/port powers the VM off through port 0x501
# (the kiln convention), virtio-blk/virtio-rng work, overlayfs over tmpfs
# works, devpts mounts, and the SYSCALL fixup of patches/0003 behaves.
#
# The test runs on a temporary copy of the base image with a test init
# script and a test program added (debugfs, no loop mount); the base image
# is not modified.  Prints the time from QEMU start to user space.
#
# Usage: guest/test-boot-qemu.sh [--smp N] [--timeout SECONDS]
#                                [--kernel VMLINUX] [--image BASE.ext4]
# Exit status 0 when every check passed, 1 otherwise (QEMU is killed on
# every path).  The guest console is kept in $TMPDIR/kiln-boot-*.log on
# failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KILN_CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
KERNEL=$KILN_CACHE/kernel/vmlinux
IMAGE=$KILN_CACHE/images/base.ext4
SMP=1
TIMEOUT=300
# The options kiln-vmm adds for the kvm_pvm backend (shared/kernel/README):
# booting with them under TCG shows they do no harm elsewhere.
PVM_OPTS="noxsave clearcpuid=popcnt,rdrand,rdseed,fsgsbase,smap,smep,movbe,bmi1,bmi2,avx,avx2,avx512f,fma,f16c,aes,pclmulqdq,sha_ni,abm,adx,umip,rdpid no-kvm-hypercalls nopvspin"

die() {
	printf 'test-boot: error: %s\n' "$*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--smp) SMP=${2:?--smp needs a number} && shift 2 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds} && shift 2 ;;
	--kernel) KERNEL=${2:?--kernel needs a path} && shift 2 ;;
	--image) IMAGE=${2:?--image needs a path} && shift 2 ;;
	-h | --help)
		sed -n '3,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
case $SMP in '' | *[!0-9]* | 0) die "--smp must be a positive number" ;; esac
case $TIMEOUT in '' | *[!0-9]* | 0) die "--timeout must be a positive number" ;; esac
[ -f "$KERNEL" ] || die "kernel $KERNEL not found: run guest/kernel/build.sh"
[ -f "$IMAGE" ] || die "image $IMAGE not found: run guest/images/base/build.sh"
for tool in qemu-system-x86_64 debugfs nm cc; do
	command -v $tool >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

# entry_SYSCALL_64 for the fixup test; the kernel is not relocated
# (RANDOMIZE_BASE=n), so the link-time address is the run-time address.
ENTRY=$(nm "$KERNEL" | awk '$3 == "entry_SYSCALL_64" { print $1 }' | head -n 1)
[ -n "$ENTRY" ] || die "no entry_SYSCALL_64 symbol in $KERNEL (stripped?)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-boot.XXXXXX")
QEMU_PID=
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -KILL "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- temporary test image ---------------------------------------------------
cc -std=gnu11 -D_GNU_SOURCE -O2 -static -Wall -Wextra -Werror \
	-o "$WORK/syscall-fixup-test" "$HERE/test/syscall-fixup-test.c" ||
	die "cannot compile $HERE/test/syscall-fixup-test.c"

# The init script prints one KILN-CHECK line per check; the host decides.
# Its markers go through /dev/kmsg: printk writes the console synchronously,
# whereas tty output is queued in the UART driver and can still be in its
# buffer when the power-off write ends the VM (seen with 2 vCPUs).
cat >"$WORK/init" <<EOF
#!/bin/sh
# kiln boot test init (temporary test image only)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
say() { echo "\$*" >/dev/kmsg; }
say "KILN-BOOT-OK uptime=\$(cut -d' ' -f1 /proc/uptime)"
check() { if "\$@" >/dev/null 2>&1; then say "KILN-CHECK \$1 ok"; else say "KILN-CHECK \$1 FAIL"; fi; }
ncpu() { [ "\$(nproc)" = "$SMP" ]; }
say "KILN-INFO nproc=\$(nproc) kernel=\$(uname -r)"
check ncpu
mount -t sysfs sys /sys
devport() { [ -c /dev/port ]; }
check devport
hwrng() { grep -q virtio /sys/class/misc/hw_random/rng_current; }
check hwrng
rootfs() { grep -q '^/dev/root / ext4 ro' /proc/mounts && [ -x /sbin/kiln-agent ]; }
check rootfs
mkdir -p /dev/pts
devpts() { mount -t devpts devpts /dev/pts && [ -c /dev/ptmx ]; }
check devpts
mount -t tmpfs tmpfs /run
overlay() {
	mkdir -p /run/ov/upper /run/ov/work &&
	mount -t overlay overlay -o lowerdir=/,upperdir=/run/ov/upper,workdir=/run/ov/work /mnt &&
	echo x > /mnt/etc/written && rm /mnt/etc/hostname &&
	[ ! -e /mnt/etc/hostname ] && [ -e /etc/hostname ] && [ -x /mnt/bin/sh ]
}
check overlay
loopback() { ip link set lo up && ip addr show lo | grep -q 127.0.0.1; }
check loopback
say "KILN-INFO \$(/syscall-fixup-test $ENTRY 2>&1 | tr '\n' ' ')"
fixup() { /syscall-fixup-test $ENTRY; }
check fixup
say KILN-TEST-DONE
# Power off the kiln way: byte 0 to port 0x501 through /dev/port.
printf '\0' | dd of=/dev/port bs=1 seek=$((0x501)) count=1 2>/dev/null
say "KILN-POWEROFF-FAILED"
poweroff -f
EOF

cp --sparse=always "$IMAGE" "$WORK/test.ext4"
{
	echo "write $WORK/init /kiln-test-init"
	echo "sif /kiln-test-init mode 0100755"
	echo "write $WORK/syscall-fixup-test /syscall-fixup-test"
	echo "sif /syscall-fixup-test mode 0100755"
} >"$WORK/add.debugfs"
debugfs -w -f "$WORK/add.debugfs" "$WORK/test.ext4" >"$WORK/add.log" 2>&1 ||
	die "debugfs could not add the test files: $(tail -n 3 "$WORK/add.log")"
if grep -Ev '^(debugfs[: ]|Allocated inode|$)' "$WORK/add.log" | grep -q .; then
	die "debugfs could not add the test files: $(cat "$WORK/add.log")"
fi

# --- boot -------------------------------------------------------------------
CONSOLE=$WORK/console.log
# printk.devkmsg=on: no rate limit on the markers written to /dev/kmsg.
CMDLINE="console=ttyS0 panic=-1 reboot=t root=/dev/vda ro init=/kiln-test-init printk.devkmsg=on $PVM_OPTS"
# isa-debug-exit at 0x501 stands in for kiln-vmm's power-off port: a write
# of 0 makes QEMU exit with status 1 ((0 << 1) | 1).
# shellcheck disable=SC2054 # the commas are inside option values
QEMU=(qemu-system-x86_64
	-M microvm,acpi=off,rtc=off,isa-serial=on -accel tcg -cpu max
	-m 256 -smp "$SMP" -nodefaults -no-user-config -display none
	-monitor none -serial stdio -no-reboot
	-kernel "$KERNEL" -append "$CMDLINE"
	-drive id=d0,file="$WORK/test.ext4",format=raw,if=none,readonly=on
	-device virtio-blk-device,drive=d0
	-object rng-random,id=rng0,filename=/dev/urandom
	-device virtio-rng-device,rng=rng0
	-device isa-debug-exit,iobase=0x501,iosize=1)

echo "test-boot: booting $KERNEL with $IMAGE under QEMU TCG, $SMP vCPU(s)" >&2
T0=$EPOCHREALTIME
exec {qemu_out}< <(exec "${QEMU[@]}" </dev/null 2>&1)
QEMU_PID=$!

elapsed() { # seconds since T0, one decimal
	local now=$EPOCHREALTIME
	local us=$(((${now/./} - ${T0/./}) / 1000))
	printf '%d.%02d' $((us / 1000)) $((us % 1000 / 10))
}

deadline=$((${T0%.*} + TIMEOUT))
boot_at='' guest_uptime='' done=0 failed=() passed=() panic=0 eof=0
while :; do
	left=$((deadline - ${EPOCHREALTIME%.*}))
	[ $left -gt 0 ] || break
	rc=0
	IFS= read -r -t "$left" -u "$qemu_out" line || rc=$?
	if [ $rc -ne 0 ]; then
		# > 128: timed out; otherwise end of file: QEMU closed its output.
		[ $rc -gt 128 ] || eof=1
		[ -z "${line:-}" ] && break
	fi
	line=${line%$'\r'}
	printf '%s\n' "$line" >>"$CONSOLE"
	case $line in
	KILN-BOOT-OK*)
		boot_at=$(elapsed)
		guest_uptime=${line#*uptime=}
		;;
	"KILN-CHECK "*" ok") passed+=("${line#KILN-CHECK }") ;;
	"KILN-CHECK "*) failed+=("${line#KILN-CHECK }") ;;
	KILN-INFO*) echo "test-boot: guest: ${line#KILN-INFO }" >&2 ;;
	KILN-TEST-DONE)
		done=1
		# The power-off should follow at once; do not wait the full time.
		now=${EPOCHREALTIME%.*}
		[ $deadline -le $((now + 30)) ] || deadline=$((now + 30))
		;;
	*"Kernel panic - not syncing"*) panic=1 ;;
	esac
	[ $rc -eq 0 ] || break
done
exec {qemu_out}<&-

status=timeout
if [ $eof -eq 1 ]; then
	# QEMU closes its output only when it exits: collect its status.
	wait "$QEMU_PID" && status=0 || status=$?
	QEMU_PID=
fi

ok=1
report() { printf 'test-boot: %s\n' "$*" >&2; }
if [ -z "$boot_at" ]; then
	report "FAIL: user space not reached within ${TIMEOUT}s (status $status)"
	ok=0
else
	report "user space reached after ${boot_at}s (host wall clock from QEMU" \
		"start; guest uptime ${guest_uptime}s), $SMP vCPU(s)"
fi
[ $panic -eq 0 ] || { report "FAIL: guest kernel panicked" && ok=0; }
[ ${#passed[@]} -eq 0 ] || report "passed: ${passed[*]% ok}"
if [ ${#failed[@]} -gt 0 ]; then
	report "FAIL: ${failed[*]}"
	ok=0
fi
if [ -n "$boot_at" ] && [ $done -eq 0 ]; then
	if [ "$status" = timeout ]; then
		report "FAIL: the test init did not finish within ${TIMEOUT}s"
	else
		report "FAIL: QEMU exited (status $status) before the test init finished"
	fi
	ok=0
fi
# Status 1 = isa-debug-exit written with 0: the /dev/port power-off worked.
if [ "$status" != 1 ]; then
	report "FAIL: QEMU did not exit through the power-off port (status $status)"
	ok=0
fi
if [ $ok -eq 1 ]; then
	report "PASS (${#passed[@]} checks, powered off via port 0x501)"
	exit 0
fi
keep=${TMPDIR:-/tmp}/kiln-boot-$(date +%Y%m%d-%H%M%S)-$$.log
cp "$CONSOLE" "$keep" 2>/dev/null || true
report "guest console kept in $keep; last lines:"
tail -n 25 "$CONSOLE" 2>/dev/null | sed 's/^/    /' >&2
exit 1
