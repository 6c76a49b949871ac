#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: MIT
# /init of the L1 guest that run-in-l1.sh boots under QEMU TCG (see docs/TESTING-HARNESS.md).
# It runs from the initramfs that l1-image.sh builds: busybox, the kernel modules listed in
# /lib/modules/order, and this script.  It loads KVM, builds a view of the host on /newroot
# (host / read-only over 9p, writable shares on top), runs /run/kiln-l1/cmd.sh there with
# stdout/stderr on two virtio-serial ports, writes the command's exit status to the run
# directory and powers off.  Diagnostics go to the console (ttyS0 -> console.log on the host).
# Any failure before the command ran leaves no status file: the host then reports 125.

/bin/busybox --install -s /bin
export PATH=/bin

say() {
	echo "kiln-l1: $*"
}

die() {
	say "error: $*"
	poweroff -f
	# poweroff -f does not return; if it does, exiting PID 1 panics, and panic=-1 with
	# QEMU's -no-reboot ends QEMU too.
	exit 1
}

mount -t proc proc /proc || die "cannot mount /proc"
mount -t sysfs sysfs /sys || die "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || die "cannot mount /dev"

while read -r mod; do
	insmod "/lib/modules/$mod" || die "insmod $mod failed (see the kernel messages above)"
done </lib/modules/order

grep -qw svm /proc/cpuinfo || die "the L1 CPU has no 'svm' flag: QEMU's -cpu lacks SVM"
[ -c /dev/kvm ] || die "kvm_amd loaded but /dev/kvm is missing (dmesg: $(dmesg | grep -iE 'kvm|svm' | tail -3))"

# 9p mount with the options every share uses; $3 adds per-share options.
mount_9p() {
	mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,$3" "$1" "$2"
}

mkdir -p /kilnrun /newroot
mount_9p kilnrun /kilnrun cache=none || die "cannot mount the run directory (9p tag kilnrun)"
[ -f /kilnrun/l1.conf ] || die "/kilnrun/l1.conf missing"
. /kilnrun/l1.conf

# The host root changes rarely while a test runs, so let L1 cache it (exec of host binaries
# is much faster); the writable shares below use cache=mmap so host and L1 stay coherent.
mount_9p hostroot /newroot ro,cache=loose || die "cannot mount the host root (9p tag hostroot)"

R=/newroot
mount -t proc proc $R/proc || die "cannot mount $R/proc"
mount -t sysfs sysfs $R/sys || die "cannot mount $R/sys"
mount -t devtmpfs devtmpfs $R/dev || die "cannot mount $R/dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null || say "note: cgroup2 not mounted"
mount -t tmpfs -o mode=0755 run $R/run || die "cannot mount $R/run"
mkdir -p $R/run/kiln-l1
mount --bind /kilnrun $R/run/kiln-l1 || die "cannot bind the run directory"

# /tmp: see KILN_L1_TMP in run-in-l1.sh.  9p cannot hold Unix sockets or FIFOs (QEMU refuses
# to open special files), so the default keeps the host's /tmp visible read-only under a
# tmpfs overlay where they work.
case "$KILN_L1_TMP" in
overlay)
	mkdir -p /tmp-lower /tmp-rw
	mount_9p hosttmp /tmp-lower ro,cache=mmap || die "cannot mount the host /tmp (9p tag hosttmp)"
	mount -t tmpfs -o mode=0755 tmprw /tmp-rw || die "cannot mount a tmpfs for /tmp"
	mkdir -p /tmp-rw/upper /tmp-rw/work
	chmod 1777 /tmp-rw/upper
	mount -t overlay overlay -o lowerdir=/tmp-lower,upperdir=/tmp-rw/upper,workdir=/tmp-rw/work \
		$R/tmp || die "cannot mount the /tmp overlay"
	;;
share)
	mount_9p hosttmp $R/tmp cache=mmap || die "cannot mount the host /tmp (9p tag hosttmp)"
	;;
tmpfs)
	mount -t tmpfs -o mode=1777 tmp $R/tmp || die "cannot mount a tmpfs on /tmp"
	;;
*)
	die "unknown KILN_L1_TMP '$KILN_L1_TMP'"
	;;
esac

# Writable host directories, parents first (the host sorted them).
while read -r tag path; do
	[ -n "$tag" ] || continue
	mount_9p "$tag" "$R$path" cache=mmap || die "cannot mount $path (9p tag $tag)"
done </kilnrun/mounts

ip link set lo up 2>/dev/null
hostname kiln-l1

# Find a virtio-serial port by the name the host gave it.  The name arrives in a control
# message after the driver binds, so poll for it (bounded: 10 s).
find_port() {
	i=0
	while [ $i -lt 100 ]; do
		for d in /sys/class/virtio-ports/*; do
			[ -r "$d/name" ] && [ "$(cat "$d/name")" = "$1" ] &&
				echo "/dev/${d##*/}" && return 0
		done
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
out=$(find_port kiln.stdout) || die "virtio-serial port kiln.stdout not found"
err=$(find_port kiln.stderr) || die "virtio-serial port kiln.stderr not found"

say "up after $(cut -d' ' -f1 /proc/uptime) s; running the command"
chroot $R /bin/bash /run/kiln-l1/cmd.sh </dev/null >"$out" 2>"$err"
rc=$?
say "command exited with status $rc after $(cut -d' ' -f1 /proc/uptime) s"

# The status file is the host's only proof that the command ran; write it last, atomically.
if ! { echo $rc >/kilnrun/status.tmp && mv /kilnrun/status.tmp /kilnrun/status; }; then
	say "error: cannot write the status"
fi
sync
poweroff -f
