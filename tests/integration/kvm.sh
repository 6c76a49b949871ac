#!/bin/bash
# SPDX-License-Identifier: MIT
# The integration tests that boot real microVMs with `kiln run`.  run.sh calls
# this directly on a host with /dev/kvm, or inside the nested-KVM L1 guest
# (tests/harness/run-in-l1.sh) on a host without; either way the whole test,
# including the check for leftovers, runs where the VMs run.
#
#   tests/integration/kvm.sh KILN_BINARY
#
# Prints one "PASS: name", "FAIL: name: why" or "SKIP: name: why" line per
# test; the exit status is 1 if any failed.  Uses $KILN_CACHE's kernel and
# image (built by `make kernel image`).
set -u
KILN=${1:?usage: kvm.sh KILN_BINARY}
WORK=$(mktemp -d /tmp/kiln-kvm-XXXXXX)
RT=$WORK/run
trap 'rm -rf "$WORK"' EXIT
BOOT=${KILN_BOOT_TIMEOUT:-300}
failed=0

if [ ! -c /dev/kvm ]; then
	echo "SKIP: run_hello: /dev/kvm not available"
	echo "SKIP: run_nproc: /dev/kvm not available"
	exit 0
fi

# Run kiln with a safety net of the boot timeout plus 10 minutes.
kiln() {
	KILN_RUNTIME_DIR=$RT timeout -k 10 $((BOOT + 600)) "$KILN" "$@" \
		>"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
}

report() { # NAME OK-CONDITION-RESULT WHY
	local left=""
	if [ -d "$RT" ] && [ -n "$(ls -A "$RT")" ]; then
		left="runtime entries: $(ls -A "$RT" | tr '\n' ' ')"
	fi
	if pgrep -f -- "$RT/" >/dev/null; then
		left="$left processes: $(pgrep -af -- "$RT/" | tr '\n' ';')"
	fi
	if [ "$2" != 0 ]; then
		echo "FAIL: $1: $3"
	elif [ -n "$left" ]; then
		echo "FAIL: $1: left behind: $left"
	else
		echo "PASS: $1"
		return
	fi
	failed=1
	echo "  --- stderr:"
	head -60 "$WORK/err" | sed 's/^/  | /'
}

# The issue's test: separate streams, exact contents, CMD's exit status.
kiln run -q -- sh -c 'echo hello; echo err >&2; exit 3'
[ "$RC" = 3 ] && [ "$(cat "$WORK/out")" = hello ] && [ "$(cat "$WORK/err")" = err ]
report run_hello $? "rc=$RC stdout='$(head -c 200 "$WORK/out")'"

# Two vCPUs reach the guest; without --quiet, kiln's progress is on stderr.
kiln run --cpus 2 -- nproc
[ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = 2 ] &&
	grep -q '^kiln: guest ready after' "$WORK/err"
report run_nproc $? "rc=$RC stdout='$(head -c 200 "$WORK/out")'"

exit $failed
