#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build kiln's base root file system: an ext4 image (no loop mount, no root
# needed: mkfs.ext4 -d from a staging directory, ownership and timestamps
# fixed up with debugfs) holding busybox-static with its applet links, the
# static guest agent at /sbin/kiln-agent, a few files in /etc and empty
# mount points.
#
# Output: $KILN_CACHE/images/base-<hash>.ext4 (a sparse 64 MiB file), <hash>
# = sha256 of this script, the busybox-static package version and the agent
# binary; $KILN_CACHE/images/base.ext4 is a symlink to the current one.
# Prints the image path on stdout; messages go to stderr.  The same inputs
# give a byte-identical image (fixed UUID, hash seed, owners and times).
#
# Usage: guest/images/base/build.sh [AGENT_BINARY]   (default build/kiln-agent)
# Environment: KILN_CACHE, SOURCE_DATE_EPOCH (file times, default 1700000000)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
AGENT=${1:-$ROOT/build/kiln-agent}
KILN_CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
OUT=$KILN_CACHE/images
SIZE_MIB=64
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
USER_UID=1000

msg() { printf 'image: %s\n' "$*" >&2; }
die() {
	printf 'image: error: %s\n' "$*" >&2
	exit 1
}

[ $# -le 1 ] || die "usage: $0 [AGENT_BINARY]"
case $EPOCH in
'' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be seconds since 1970, got '$EPOCH'" ;;
esac

# --- inputs -----------------------------------------------------------------
install_deps() {
	local pkgs=(busybox-static e2fsprogs binutils)
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
install_deps
BUSYBOX=/bin/busybox
BUSYBOX_VERSION=$(dpkg-query -W -f='${Version}' busybox-static)
readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'Requesting program interpreter' &&
	die "$BUSYBOX is dynamically linked; install busybox-static"

if [ ! -e "$AGENT" ]; then
	die "agent binary $AGENT not found: build it first with 'make' (it is" \
		"build/kiln-agent) or pass the path of a static binary as argument"
fi
if [ ! -f "$AGENT" ] || [ ! -x "$AGENT" ]; then
	die "$AGENT is not an executable file"
fi
readelf -h "$AGENT" 2>/dev/null | grep -q 'Machine:.*X86-64' ||
	die "$AGENT is not an x86-64 ELF executable"
if readelf -l "$AGENT" | grep -q 'Requesting program interpreter'; then
	die "$AGENT is dynamically linked; the image has no C library, link it" \
		"with -static"
fi
AGENT_SHA=$(sha256sum "$AGENT" | cut -d' ' -f1)

HASH=$({
	echo "busybox-static $BUSYBOX_VERSION"
	echo "agent $AGENT_SHA"
	echo "epoch $EPOCH"
	cat "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
IMAGE=$OUT/base-$HASH.ext4
# A UUID derived from the recipe: fixed for the same inputs, distinct across.
UUID_HEX=$(printf '%s' "$HASH-uuid" | sha256sum | cut -c1-32)
UUID=${UUID_HEX:0:8}-${UUID_HEX:8:4}-4${UUID_HEX:13:3}-8${UUID_HEX:17:3}-${UUID_HEX:20:12}

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
	msg "another build holds $OUT/.lock; waiting"
	flock 9
fi

link_current() {
	ln -sfn "base-$HASH.ext4" "$OUT/.base.ext4.new"
	mv -T "$OUT/.base.ext4.new" "$OUT/base.ext4"
}

# Holding the lock, any temporary build directory is a killed build's.
rm -rf "$OUT"/.build-base-*

if [ -f "$IMAGE" ]; then
	link_current
	msg "cached: $IMAGE"
	echo "$IMAGE"
	exit 0
fi

TMP=$(mktemp -d "$OUT/.build-base-$HASH.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
STAGE=$TMP/root
msg "building $IMAGE (busybox $BUSYBOX_VERSION, agent $AGENT)"

# --- staging tree -----------------------------------------------------------
umask 022
mkdir -p "$STAGE"
for d in bin sbin usr/bin usr/sbin etc proc sys dev run mnt tmp root \
	home/user var/tmp var/log; do
	mkdir -p "$STAGE/$d"
done
chmod 1777 "$STAGE/tmp" "$STAGE/var/tmp"
chmod 0700 "$STAGE/root"

install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
install -m 0755 "$AGENT" "$STAGE/sbin/kiln-agent"
# Applet links (bin/sh, bin/ls, sbin/poweroff, ...), absolute so they work
# from any directory; never replace a real file.
while IFS= read -r applet; do
	[ -n "$applet" ] || continue
	case $applet in
	bin/busybox | sbin/kiln-agent) continue ;;
	esac
	case $applet in
	*/*) [ -d "$STAGE/${applet%/*}" ] || mkdir -p "$STAGE/${applet%/*}" ;;
	esac
	[ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done < <("$BUSYBOX" --list-full | LC_ALL=C sort)
[ -L "$STAGE/bin/sh" ] || die "busybox has no sh applet"

cat >"$STAGE/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
user:x:$USER_UID:$USER_UID:kiln sandbox user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$STAGE/etc/group" <<EOF
root:x:0:
user:x:$USER_UID:
nogroup:x:65534:
EOF
# Locked passwords: nobody logs in; the agent starts processes directly.
cat >"$STAGE/etc/shadow" <<EOF
root:!:19675::::::
user:!:19675::::::
nobody:!:19675::::::
EOF
chmod 0640 "$STAGE/etc/shadow"
echo kiln >"$STAGE/etc/hostname"
cat >"$STAGE/etc/hosts" <<EOF
127.0.0.1	localhost kiln
::1	localhost ip6-localhost
EOF
cat >"$STAGE/etc/os-release" <<EOF
NAME="kiln"
ID=kiln
PRETTY_NAME="kiln base image ($HASH)"
VERSION_ID="$HASH"
BUILD_ID="$HASH"
VARIANT="busybox $BUSYBOX_VERSION"
EOF
ln -s ../proc/self/mounts "$STAGE/etc/mtab"
: >"$STAGE/etc/resolv.conf"

# --- file system ------------------------------------------------------------
# No journal: the image is shared and mounted read-only (writes go to a
# tmpfs overlay in the guest).  4 KiB blocks, a fixed UUID and directory
# hash seed, eager inode tables (no ext4lazyinit work if mounted rw).
RAW=$TMP/base.ext4
truncate -s "${SIZE_MIB}M" "$RAW"
mkfs.ext4 -q -F -L kiln-base -U "$UUID" -b 4096 -N 4096 -m 0 -O ^has_journal \
	-E "root_owner=0:0,hash_seed=$UUID,lazy_itable_init=0,nodiscard" \
	-d "$STAGE" "$RAW" >&2 || die "mkfs.ext4 -d $STAGE failed"

# mkfs.ext4 -d copies owners and times from the staging tree: make every
# inode root-owned (except the user's home) and give it the fixed time, so
# the result does not depend on who built it, or when.
{
	echo "set_current_time @$EPOCH"
	echo "ssv mkfs_time @$EPOCH"
	echo "ssv lastcheck @$EPOCH"
	echo "ssv wtime @$EPOCH"
	echo "ssv mtime 0"
	for ino in '<1>' '<2>' '<7>' '<11>'; do
		for t in atime ctime mtime crtime; do echo "sif $ino $t @$EPOCH"; done
	done
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort) | while IFS= read -r p; do
		p=${p#.}
		# shellcheck disable=SC1003 # a single backslash, quoted
		case $p in
		*'"'* | *'\'*) die "unsupported character in staged path $p" ;;
		esac
		owner=0
		case $p in /home/user) owner=$USER_UID ;; esac
		echo "sif \"$p\" uid $owner"
		echo "sif \"$p\" gid $owner"
		for t in atime ctime mtime crtime; do echo "sif \"$p\" $t @$EPOCH"; done
	done
} >"$TMP/fixup.debugfs"
debugfs -w -f "$TMP/fixup.debugfs" "$RAW" >"$TMP/fixup.log" 2>&1 ||
	die "debugfs fixups failed: $(tail -n 5 "$TMP/fixup.log")"
# debugfs reports a failing command on its output but still exits 0: any
# line other than the banner, the echoed commands and the time note is one.
errors=$(grep -Ev '^(debugfs[: ]|Setting current time|$)' "$TMP/fixup.log" || true)
[ -z "$errors" ] || die "debugfs fixups failed: $(head -n 5 <<<"$errors")"
e2fsck -fn "$RAW" >"$TMP/fsck.log" 2>&1 ||
	die "e2fsck found problems in the new image: $(tail -n 5 "$TMP/fsck.log")"

mv "$RAW" "$IMAGE"
link_current
used=$(du -k "$IMAGE" | cut -f1)
msg "built $IMAGE (${SIZE_MIB} MiB, ${used} KiB allocated, UUID $UUID)"
echo "$IMAGE"
