#!/bin/bash
# Install kiln's build and test dependencies from Debian (idempotent, quiet
# when everything is there already).  Needs root (or sudo) on Debian 12.
set -euo pipefail

PKGS=(
	build-essential pkg-config clang clang-format libclang-rt-14-dev
	libjansson-dev libsqlite3-dev libseccomp-dev libarchive-dev liburing-dev
	libcmocka-dev libmnl-dev libnftables-dev
	busybox-static e2fsprogs cpio xz-utils
	linux-source-6.1 flex bison bc libelf-dev libssl-dev
	qemu-system-x86 iproute2 nftables kmod curl jq
	dnsmasq-base bind9-dnsutils
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "kiln: missing packages: ${missing[*]}; run as root or install sudo" >&2
		exit 1
	}
	SUDO=sudo
fi
echo "kiln: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
