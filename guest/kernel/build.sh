#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build kiln's guest kernel from Debian's linux-source-6.1 package:
# extract, apply patches/*.patch, tinyconfig + microvm-6.1.fragment.config,
# olddefconfig, check that the options kiln relies on survived, build
# vmlinux and bzImage.
#
# Output: $KILN_CACHE/kernel/<hash>/{vmlinux,bzImage,config,build.log},
# <hash> = sha256 of this script, the fragment, the patches and the source
# package version, so a change to any of them builds a new kernel and an
# unchanged recipe reuses the cached one.  $KILN_CACHE/kernel/vmlinux and
# .../bzImage are symlinks to the current build.  Prints the vmlinux path on
# stdout; progress goes to stderr, make's output to the build log.
#
# Usage: guest/kernel/build.sh [--force]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_PKG=linux-source-6.1
SRC_TARBALL=/usr/src/$SRC_PKG.tar.xz
FRAGMENT=$HERE/microvm-6.1.fragment.config
KILN_CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
OUT=$KILN_CACHE/kernel
JOBS=$(nproc)
FORCE=0

# Options kiln depends on.  tinyconfig + olddefconfig silently drop an option
# whose dependencies are missing, so each one is checked after configuring.
REQUIRED=(
	64BIT SMP X86_MPPARSE HYPERVISOR_GUEST PARAVIRT KVM_GUEST PVH
	SERIAL_8250 SERIAL_8250_CONSOLE
	VIRTIO VIRTIO_MMIO VIRTIO_MMIO_CMDLINE_DEVICES VIRTIO_BLK VIRTIO_NET
	HW_RANDOM HW_RANDOM_VIRTIO
	NET UNIX INET VSOCKETS VIRTIO_VSOCKETS
	EXT4_FS OVERLAY_FS TMPFS TMPFS_XATTR SHMEM PROC_FS SYSFS
	DEVTMPFS DEVTMPFS_MOUNT UNIX98_PTYS DEVPORT
	BINFMT_ELF BINFMT_SCRIPT MULTIUSER FUTEX EPOLL SIGNALFD TIMERFD EVENTFD
	POSIX_TIMERS FILE_LOCKING SECCOMP
)
# Options that must be off: a hypercall that never returns on kvm_pvm, a
# randomised load address, modules, and the boot-time trims.
FORBIDDEN=(
	PTP_1588_CLOCK_KVM RANDOMIZE_BASE MODULES PCI ACPI
	IPV6 VT INPUT SERIO LEGACY_PTYS
)

START=$SECONDS
msg() {
	local t=$((SECONDS - START))
	printf 'kernel: [%2d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*" >&2
}
die() {
	printf 'kernel: error: %s\n' "$*" >&2
	exit 1
}

for arg in "$@"; do
	case $arg in
	--force) FORCE=1 ;;
	-h | --help)
		sed -n '3,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
		exit 0
		;;
	*) die "unknown argument '$arg' (usage: $0 [--force])" ;;
	esac
done

# --- build dependencies (Debian packages) -----------------------------------
install_deps() {
	local pkgs=(build-essential flex bison bc libelf-dev libssl-dev xz-utils
		patch "$SRC_PKG")
	local missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null ||
			die "missing packages: ${missing[*]}; install them as root"
		sudo=sudo
	fi
	msg "installing ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
command -v dpkg-query >/dev/null ||
	die "this recipe needs Debian's $SRC_PKG package (dpkg-query not found)"
install_deps
[ -r "$SRC_TARBALL" ] || die "$SRC_TARBALL not found (package $SRC_PKG)"

# --- cache key --------------------------------------------------------------
SRC_VERSION=$(dpkg-query -W -f='${Version}' "$SRC_PKG")
shopt -s nullglob
PATCHES=("$HERE"/patches/*.patch)
shopt -u nullglob
[ ${#PATCHES[@]} -gt 0 ] || die "no patches in $HERE/patches"
HASH=$({
	echo "source $SRC_PKG $SRC_VERSION"
	for f in "${BASH_SOURCE[0]}" "$FRAGMENT" "${PATCHES[@]}"; do
		echo "== $(basename "$f")"
		cat "$f"
	done
} | sha256sum | cut -c1-16)
DEST=$OUT/$HASH

mkdir -p "$OUT"
# One build at a time per cache: a second caller waits, then finds the result.
exec 9>"$OUT/.lock"
if ! flock -n 9; then
	msg "another build holds $OUT/.lock; waiting"
	flock 9
fi

# Point the stable names at $DEST (relative links: the cache may move).
link_current() {
	local f
	for f in vmlinux bzImage config; do
		ln -sfn "$HASH/$f" "$OUT/.$f.new"
		mv -T "$OUT/.$f.new" "$OUT/$f"
	done
}

# Holding the lock, any temporary build directory is a leftover of a build
# that was killed: remove it (they are large).
rm -rf "$OUT"/.build-*

if [ $FORCE -eq 0 ] && [ -f "$DEST/vmlinux" ] && [ -f "$DEST/bzImage" ] &&
	[ -f "$DEST/config" ]; then
	link_current
	msg "cached: $DEST (recipe $HASH, $SRC_PKG $SRC_VERSION)"
	echo "$DEST/vmlinux"
	exit 0
fi

# --- build in a temporary directory, move into place on success -------------
TMP=$(mktemp -d "$OUT/.build-$HASH.XXXXXX")
LOG=$OUT/build-$HASH.log
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
: >"$LOG"

fail() {
	printf 'kernel: error: %s failed; last lines of %s:\n' "$1" "$LOG" >&2
	tail -n 40 "$LOG" | sed 's/^/    /' >&2
	exit 1
}

# Run one phase with its output in the log.
phase() {
	local name=$1
	shift
	msg "$name"
	echo "### $name: $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 || fail "$name"
}

# Copy make's output to the log and show a line of it every 30 s, so a long
# build shows that it is alive without flooding the terminal.
show_progress() {
	local line last=$SECONDS
	while IFS= read -r line; do
		printf '%s\n' "$line" >>"$LOG"
		if ((SECONDS - last >= 30)); then
			last=$SECONDS
			msg "  ${line:0:100}"
		fi
	done
}

msg "building recipe $HASH from $SRC_PKG $SRC_VERSION with $JOBS jobs" \
	"(log: $LOG)"
phase "extracting $SRC_TARBALL" tar -xJf "$SRC_TARBALL" -C "$TMP"
SRC=$TMP/$SRC_PKG
[ -f "$SRC/Makefile" ] || die "$SRC_TARBALL did not contain $SRC_PKG/Makefile"

for p in "${PATCHES[@]}"; do
	phase "applying $(basename "$p")" \
		patch -p1 --forward --batch -d "$SRC" -i "$p"
done

# Reproducible build metadata: the same recipe gives the same uname -v.
export KBUILD_BUILD_USER=kiln KBUILD_BUILD_HOST=kiln
export KBUILD_BUILD_TIMESTAMP="${SOURCE_DATE_EPOCH:+@$SOURCE_DATE_EPOCH}"
[ -n "$KBUILD_BUILD_TIMESTAMP" ] || KBUILD_BUILD_TIMESTAMP="1970-01-01 00:00:00 UTC"

phase "configuring: tinyconfig" make -C "$SRC" tinyconfig
phase "configuring: merging $(basename "$FRAGMENT")" \
	env -C "$SRC" scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
phase "configuring: olddefconfig" make -C "$SRC" olddefconfig

bad=()
for o in "${REQUIRED[@]}"; do
	grep -qx "CONFIG_$o=y" "$SRC/.config" || bad+=("CONFIG_$o is not =y")
done
for o in "${FORBIDDEN[@]}"; do
	if grep -q "^CONFIG_$o=" "$SRC/.config"; then
		bad+=("CONFIG_$o is set, must be off")
	fi
done
if [ ${#bad[@]} -gt 0 ]; then
	printf 'kernel: error: the resolved config lost options kiln needs:\n' >&2
	printf '    %s\n' "${bad[@]}" >&2
	printf '  An option is dropped when its dependencies are not met: look it up\n' >&2
	printf '  with "make menuconfig" (/ to search) in an extracted tree, and add\n' >&2
	printf '  what it depends on to %s.\n' "$FRAGMENT" >&2
	exit 1
fi
msg "configuration checked (${#REQUIRED[@]} required, ${#FORBIDDEN[@]} forbidden options)"

msg "compiling vmlinux and bzImage (make -j$JOBS; a few minutes)"
echo "### make -j$JOBS vmlinux bzImage" >>"$LOG"
make -C "$SRC" -j"$JOBS" vmlinux bzImage 2>&1 | show_progress ||
	fail "make vmlinux bzImage"

mkdir "$TMP/out"
cp "$SRC/vmlinux" "$SRC/arch/x86/boot/bzImage" "$TMP/out/"
cp "$SRC/.config" "$TMP/out/config"
rm -rf "$DEST" # only reached with --force or after an interrupted move
mv "$LOG" "$TMP/out/build.log"
mv -T "$TMP/out" "$DEST"
link_current
msg "built $DEST ($(du -h --apparent-size "$DEST/vmlinux" | cut -f1) vmlinux," \
	"$(du -h --apparent-size "$DEST/bzImage" | cut -f1) bzImage)"
echo "$DEST/vmlinux"
