#!/bin/bash
# SPDX-License-Identifier: MIT
# kiln on a KVM that emulates guest kernel mode (the PVM backend of the
# development and CI machines: ../shared/docs/platform.md), run directly on
# this host: kiln-vmm must notice the emulation and keep the guest off the
# instructions the emulator lacks, the base snapshot is built by one cold
# boot (minutes here) and every sandbox after it is a restore.  run.sh's
# other KVM groups run in the nested-KVM harness on such a host, where a
# guest command takes milliseconds instead of about a second.
#
#   tests/integration/pvm.sh KILN_BINARY VMM_BINARY
#
# One "PASS: name" / "FAIL: name: why" line per test; exit status 1 if any
# failed.
set -u
KILN=${1:?usage: pvm.sh KILN_BINARY VMM_BINARY}
VMM=${2:?usage: pvm.sh KILN_BINARY VMM_BINARY}
CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
WORK=$(mktemp -d /tmp/kiln-pvm-XXXXXX)
RT=$WORK/run
BOOT=${KILN_BOOT_TIMEOUT:-1200}
failed=0
trap 'pkill -9 -f -- "$WORK/" 2>/dev/null; rm -rf "$WORK"' EXIT

report() { # NAME STATUS WHY
	if [ "$2" = 0 ]; then
		echo "PASS: $1"
		return
	fi
	failed=1
	echo "FAIL: $1: $3"
	[ -s "$WORK/err" ] && head -40 "$WORK/err" | sed 's/^/  | /'
}

# A base snapshot of its own, made by this run, so that the cold boot and
# the snapshot are tested on this KVM too, not only restores of a snapshot
# an earlier run (or the harness) left in the cache.
mkdir -p "$WORK/cache/snapshots"
ln -s "$CACHE/kernel" "$WORK/cache/kernel"
ln -s "$CACHE/images" "$WORK/cache/images"
export KILN_CACHE=$WORK/cache

kiln() { # output in $WORK/out and $WORK/err, status in RC
	KILN_RUNTIME_DIR=$RT timeout -k 10 $((BOOT + 300)) "$KILN" "$@" \
		>"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
}

# kiln-vmm probes the KVM before every boot and says how it copes.
timeout 60 "$VMM" --kernel "$CACHE/kernel/vmlinux" --memory 128 --api-sock "$WORK/probe.sock" \
	2>"$WORK/probe.err" &
probe=$!
deadline=$((SECONDS + 60))
until grep -q "emulates guest kernel mode\|ignores KVM_SET_CPUID2" "$WORK/probe.err" ||
	[ $SECONDS -ge $deadline ] || ! kill -0 $probe 2>/dev/null; do
	sleep 0.1 # polling a log file, bounded by the deadline
done
kill $probe 2>/dev/null
wait $probe 2>/dev/null
grep -q "emulates guest kernel mode\|ignores KVM_SET_CPUID2" "$WORK/probe.err" &&
	grep -q "noxsave" "$WORK/probe.err"
report pvm_probe $? "kiln-vmm did not report the emulated ring 0: $(head -c 300 "$WORK/probe.err")"

# The first run builds the base snapshot for this host (a cold boot), the
# second is a restore; both run a command and tear down.
t0=$SECONDS
kiln run --boot-timeout "$BOOT" -- echo first
[ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = first ]
report pvm_run_first $? "rc=$RC out='$(head -c 200 "$WORK/out")'"
echo "TIME: first kiln run (base snapshot built if missing) $((SECONDS - t0)) s"

t0=$SECONDS
kiln --log-level debug run --boot-timeout "$BOOT" -- cat /proc/sys/kernel/hostname
[ "$RC" = 0 ] && grep -q "^kiln-" "$WORK/out" && grep -q "restoring" "$WORK/err"
report pvm_run_restored $? "rc=$RC out='$(head -c 200 "$WORK/out")' (expected a restore and a kiln-<id> hostname)"
echo "TIME: restored kiln run $((SECONDS - t0)) s"

# Two clones of one snapshot at once read different random bytes.
for i in 1 2; do
	KILN_RUNTIME_DIR=$RT timeout -k 10 $((BOOT + 300)) "$KILN" run --boot-timeout "$BOOT" -- \
		head -c 16 /dev/urandom >"$WORK/rand$i" 2>"$WORK/rerr$i" </dev/null &
done
wait
[ "$(wc -c <"$WORK/rand1")" = 16 ] && [ "$(wc -c <"$WORK/rand2")" = 16 ] &&
	! cmp -s "$WORK/rand1" "$WORK/rand2"
report pvm_clones_distinct $? "sizes $(wc -c <"$WORK/rand1")/$(wc -c <"$WORK/rand2"): $(head -c 200 "$WORK/rerr1")"

if [ -d "$RT" ] && [ -n "$(ls -A "$RT")" ]; then
	echo "FAIL: pvm_leftovers: $(ls -A "$RT" | tr '\n' ' ')"
	failed=1
else
	echo "PASS: pvm_leftovers"
fi

# Persistent sandboxes, the CLI's terminal commands, 50 creates at once and
# the API example, all restores of the base snapshot built above.
"$(dirname "$0")/pvm_sandbox.sh" "$KILN" "$VMM" || failed=1
exit $failed
