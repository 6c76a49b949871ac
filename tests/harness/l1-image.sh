#!/bin/bash
# SPDX-License-Identifier: MIT
# Build (once) the L1 kernel + initramfs that run-in-l1.sh boots, and print their directory.
#
#   tests/harness/l1-image.sh        # prints e.g. ~/.cache/kiln/harness/l1-0123abcd4567ef89
#
# L1 kernel: Debian's stock kernel package (the one linux-image-amd64 currently depends on),
# downloaded with `apt-get download` and unpacked into the cache, never installed on the host.
# Override with KILN_L1_KERNEL_DEB=/path/to/linux-image-*.deb.
# Initramfs: busybox-static, the modules below with their dependencies, and l1-init.sh.
# The result is cached in $KILN_CACHE/harness/l1-<hash>, the hash covering the kernel package,
# the module list, busybox, l1-init.sh and this script; concurrent callers serialise on a lock.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}/harness
BUSYBOX=/bin/busybox
# KVM host side, virtio-pci transport, 9p over virtio, virtio-serial for stdout/stderr, and
# overlayfs for /tmp, and vhost_vsock (+ AF_VSOCK) so QEMU's vhost-vsock-device works in L1
# (bench/boot.sh talks to a QEMU guest over AF_VSOCK).  Dependencies (ccp, irqbypass, netfs,
# fscache, vhost, vsock, ...) come from modules.dep.
MODULES="virtio_pci virtio_console 9pnet_virtio 9p overlay kvm-amd vsock vhost_vsock"

say() {
	echo "l1-image: $*" >&2
}

die() {
	say "error: $*"
	exit 1
}

[ -x "$BUSYBOX" ] || die "$BUSYBOX missing: apt-get install busybox-static"
for tool in dpkg-deb depmod cpio gzip sha256sum flock; do
	command -v $tool >/dev/null || die "'$tool' not found"
done

# Which kernel: "name=version" identifies it without downloading anything.
if [ -n "${KILN_L1_KERNEL_DEB:-}" ]; then
	[ -f "$KILN_L1_KERNEL_DEB" ] || die "KILN_L1_KERNEL_DEB=$KILN_L1_KERNEL_DEB: no such file"
	kernel_id="file:$(sha256sum <"$KILN_L1_KERNEL_DEB" | cut -d' ' -f1)"
else
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
	[ -n "$pkg" ] || die "apt-cache does not know linux-image-amd64; run 'apt-get update'"
	ver=$(apt-cache show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
	[ -n "$ver" ] || die "apt-cache has no version of $pkg; run 'apt-get update'"
	kernel_id="$pkg=$ver"
fi

key=$({
	echo "$kernel_id"
	echo "$MODULES"
	sha256sum <"$BUSYBOX"
	sha256sum <"$HERE/l1-init.sh"
	sha256sum <"$HERE/l1-image.sh"
} | sha256sum | cut -c1-16)
out=$CACHE/l1-$key

if [ -f "$out/ok" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ -f "$out/ok" ]; then # another caller built it while we waited
	echo "$out"
	exit 0
fi

say "building the L1 kernel + initramfs ($kernel_id) in $out"
tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -n "${KILN_L1_KERNEL_DEB:-}" ]; then
	deb=$KILN_L1_KERNEL_DEB
else
	mkdir -p "$CACHE/debs"
	deb=$(ls "$CACHE/debs/${pkg}_${ver//:/%3a}_amd64.deb" 2>/dev/null || true)
	if [ -z "$deb" ]; then
		say "downloading $pkg=$ver (apt-get download)"
		(cd "$tmp" && apt-get download -q "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2) ||
			die "apt-get download $pkg=$ver failed (needs the Debian mirror once)"
		set -- "$tmp"/*.deb
		[ -f "$1" ] || die "apt-get download produced no .deb"
		mv "$1" "$CACHE/debs/"
		deb=$CACHE/debs/$(basename "$1")
	fi
fi

dpkg-deb -x "$deb" "$tmp/x" || die "cannot unpack $deb"
set -- "$tmp"/x/lib/modules/*
[ -d "$1" ] || die "$deb has no lib/modules"
kver=$(basename "$1")
vmlinuz="$tmp/x/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "$deb has no boot/vmlinuz-$kver"
depmod -b "$tmp/x" "$kver" || die "depmod failed"
moddir=$tmp/x/lib/modules/$kver

# Dependencies first (depth-first, each module once), as insmod needs them.
order=()
declare -A seen=()
add_module() {
	local rel dep
	rel=$(awk -F: -v m="$1" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n) }
		n == m { print $1; exit }' "$moddir/modules.dep")
	[ -n "$rel" ] || die "module $1 not in $kver (is it built in? check boot/config-$kver)"
	[ -z "${seen[$rel]:-}" ] || return 0
	seen[$rel]=1
	for dep in $(awk -F: -v r="$rel" '$1 == r { print $2 }' "$moddir/modules.dep"); do
		add_module "$(basename "${dep%%.ko*}")"
	done
	order+=("$rel")
}
for m in $MODULES; do
	add_module "$m"
done

root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
cp "$HERE/l1-init.sh" "$root/init"
chmod 755 "$root/init"
for rel in "${order[@]}"; do
	case "$rel" in
	*.ko) cp "$moddir/$rel" "$root/lib/modules/" ;;
	*) die "$rel is compressed; busybox insmod needs plain .ko files" ;;
	esac
	basename "$rel" >>"$root/lib/modules/order"
done

mkdir -p "$tmp/out"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$tmp/out/initrd.gz"
cp "$vmlinuz" "$tmp/out/vmlinuz"
{
	echo "kernel: $kernel_id ($kver)"
	echo "modules: $(tr '\n' ' ' <"$root/lib/modules/order")"
} >"$tmp/out/info"
touch "$tmp/out/ok"
rm -rf "$out"
mv "$tmp/out" "$out"
# Older builds are dead weight (~10 MB each); QEMU reads the files only at start-up.
for old in "$CACHE"/l1-*; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
say "done: $(head -1 "$out/info")"
echo "$out"
