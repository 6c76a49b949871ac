#!/bin/bash
# SPDX-License-Identifier: MIT
# Per-sandbox networking without KVM (root): builds tests/integration/net_check.c
# against libkiln.a and runs it.  Each sandbox's TAP is replaced by a veth into a
# test namespace holding the guest's address; another test namespace is the
# upstream.  Prints "PASS: name" / "FAIL: name: why" lines (names in run.sh's
# NET_TESTS).  Only addresses on this machine's own links are used.
#
#   tests/integration/net.sh [BUILD_DIR]    (default build)
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${1:-$ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: net: needs root (network namespaces, nftables)"
	exit 0
fi
for tool in ip nft; do
	command -v $tool >/dev/null || {
		echo "FAIL: net_setup_none: $tool not installed (scripts/deps.sh)"
		exit 1
	}
done
# Run in a network and mount namespace of our own, with a private /run/netns:
# the host-wide sweep (net_reconcile) and the fixed slots and addresses of these
# tests must not touch sandboxes or test networks of anyone else on this host.
if [ -z "${KILN_NET_ISOLATED:-}" ]; then
	command -v unshare >/dev/null || {
		echo "FAIL: net_setup_none: unshare (util-linux) not installed"
		exit 1
	}
	mkdir -p /run/netns
	exec env KILN_NET_ISOLATED=1 unshare --mount --net --propagation private \
		"$0" "$@"
fi
mount -t tmpfs -o mode=0755 kiln-net-test /run/netns || {
	echo "FAIL: net_setup_none: cannot mount a private /run/netns"
	exit 1
}
ip link set lo up
WORK=$(mktemp -d /tmp/kiln-net-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc=${CC:-cc}
case "$BUILD_DIR" in */san) cc="$cc -fsanitize=address,undefined" ;; esac
if ! $cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" -I"$ROOT/src" \
	"$ROOT/tests/integration/net_check.c" "$ROOT/tests/integration/net_test.c" \
	"$BUILD_DIR/libkiln.a" \
	-ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl \
	-o "$WORK/net_check" 2>"$WORK/err"; then
	echo "FAIL: net_setup_none: cannot build tests/integration/net_check.c: $(head -c 300 "$WORK/err")"
	exit 1
fi
# bounded: every probe has its own 1 s deadline; this is the backstop
export KILN_DNS=$BUILD_DIR/kiln-dns # the resolver of allow-all and domains
export KILN_BIN=$BUILD_DIR/kiln # the CLI cases (net_cli_*)
timeout 300 "$WORK/net_check"
rc=$?
# the sandbox resolver (kiln-dns) against a test dnsmasq
for tool in dnsmasq dig; do
	command -v $tool >/dev/null || {
		echo "FAIL: net_dns_start: $tool not installed (scripts/deps.sh)"
		exit 1
	}
done
if ! $cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" -I"$ROOT/src" \
	"$ROOT/tests/integration/net_dns_check.c" "$ROOT/tests/integration/net_test.c" \
	"$BUILD_DIR/libkiln.a" \
	-ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl \
	-o "$WORK/net_dns_check" 2>"$WORK/err"; then
	echo "FAIL: net_dns_start: cannot build tests/integration/net_dns_check.c: $(head -c 300 "$WORK/err")"
	exit 1
fi
timeout 120 "$WORK/net_dns_check" || rc=1
exit $rc
