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

TESTS="run_hello run_nproc boot_timeout sigint_during_boot guest_crash"
if [ ! -c /dev/kvm ]; then
	for t in $TESTS; do
		echo "SKIP: $t: /dev/kvm not available"
	done
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

# Failure paths.  The first two stop the VM within seconds, so they cost
# little even where a full boot takes minutes.

# Sandboxes are restored from the base snapshot the runs above built: 20
# clones at once all answer, and each has its own identity: distinct
# hostnames and distinct bytes from /dev/urandom (the snapshot's random
# pool was reseeded with host entropy).
for i in $(seq 1 20); do
	(
		KILN_RUNTIME_DIR=$RT timeout -k 10 $((BOOT + 600)) "$KILN" run -q -- \
			sh -c 'echo "$(hostname) $(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")"' \
			>"$WORK/clone$i.out" 2>"$WORK/clone$i.err" </dev/null
		echo $? >"$WORK/clone$i.rc"
	) &
done
wait
ok=$(cat "$WORK"/clone*.out | grep -c '^kiln-[0-9a-f]* [0-9a-f]\{32\}$')
hosts=$(cat "$WORK"/clone*.out | cut -d' ' -f1 | sort -u | wc -l)
bytes=$(cat "$WORK"/clone*.out | cut -d' ' -f2 | sort -u | wc -l)
# what each clone that did not answer as expected said, for the report
bad=$(for i in $(seq 1 20); do
	grep -q '^kiln-[0-9a-f]* [0-9a-f]\{32\}$' "$WORK/clone$i.out" ||
		echo "[clone $i rc=$(cat "$WORK/clone$i.rc") out='$(head -c 200 "$WORK/clone$i.out")' err='$(head -c 300 "$WORK/clone$i.err")']"
done | head -5)
[ "$ok" = 20 ] && [ "$hosts" = 20 ] && [ "$bytes" = 20 ]
report clones_distinct $? "answered $ok/20, distinct hostnames $hosts, distinct random bytes $bytes; $bad"

# The failure paths of a boot: KILN_COLD_BOOT=1 boots instead of restoring.
# A boot deadline that passes: a clear error, the VM stopped, nothing left.
KILN_COLD_BOOT=1 KILN_BOOT_TIMEOUT=2 kiln run -q -- true
[ "$RC" = 125 ] && grep -q "did not answer within 2 s" "$WORK/err"
report boot_timeout $? "rc=$RC"

# SIGINT while the guest boots: kiln tears down and exits 130.
KILN_COLD_BOOT=1 KILN_RUNTIME_DIR=$RT "$KILN" run -- true >"$WORK/out" 2>"$WORK/err" </dev/null &
pid=$!
deadline=$((SECONDS + 60))
until [ -S "$(ls -d "$RT"/*/ 2>/dev/null | head -1)vsock.sock" ] || [ $SECONDS -ge $deadline ]; do
	sleep 0.05 # polling for the VMM's socket, bounded by the deadline
done
kill -INT $pid 2>/dev/null # (unless it already failed by itself)
wait $pid
RC=$?
[ "$RC" = 130 ] && grep -q "stopped by SIGINT" "$WORK/err"
report sigint_during_boot $? "rc=$RC"

# A guest that panics (an ext4 image without an init): the VMM's status and
# the console's last lines are reported.  This one boots a whole kernel.
if mkfs.ext4 -q -F "$WORK/noinit.ext4" 16M >/dev/null 2>&1; then
	kiln run -q --image "$WORK/noinit.ext4" -- true
	[ "$RC" = 125 ] && grep -q "the guest crashed (exit status 3)" "$WORK/err" &&
		grep -q "^  | .*Kernel panic" "$WORK/err"
	report guest_crash $? "rc=$RC"
else
	echo "SKIP: guest_crash: mkfs.ext4 not available"
fi

exit $failed
