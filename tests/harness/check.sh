#!/bin/bash
# SPDX-License-Identifier: MIT
# Prove that the harness gives a working KVM: build kvm-check.c statically, run it inside L1
# with run-in-l1.sh, and fail unless every case passed.  Also checks that L1 sees the host's
# files, that exit statuses and stderr come back, and reports how long each L1 run took.
#
#   tests/harness/check.sh
#
# Last line: "harness: N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$HERE/run-in-l1.sh
cd "$HERE/../.." || exit 1 # the repo: writable in L1

passed=0
failed=0
pass() {
	echo "PASS: $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $1: $2"
	failed=$((failed + 1))
}

work=$(mktemp -d /tmp/kiln-harness-check-XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT

if ! cc -std=gnu11 -O2 -static -Wall -Wextra -Werror -o "$work/kvm-check" "$HERE/kvm-check.c" \
	2>"$work/cc.err"; then
	cat "$work/cc.err"
	fail build "cannot compile kvm-check.c"
	echo "harness: $passed passed, $failed failed"
	exit 1
fi

# 1. KVM inside L1 (the binary lives in the host's /tmp, which L1 sees).
t0=$SECONDS
"$RUN" --timeout 600 -- "$work/kvm-check" >"$work/out" 2>"$work/err"
rc=$?
cat "$work/out"
if [ $rc = 0 ] && grep -q '^kvm-check: all [0-9]* cases passed$' "$work/out"; then
	pass "kvm in L1 ($((SECONDS - t0)) s)"
else
	cat "$work/err"
	fail "kvm in L1" "run-in-l1 exit status $rc"
fi

# 2. Exit status, stderr, cwd and writable repo: a marker written in L1 must appear here.
marker=.l1-check-$$
t0=$SECONDS
"$RUN" --timeout 600 -- bash -c "pwd; echo to-stderr >&2; echo hi >$marker; exit 42" \
	>"$work/out" 2>"$work/err"
rc=$?
if [ $rc = 42 ] && [ "$(cat "$work/out")" = "$(pwd -P)" ] && grep -qx to-stderr "$work/err" &&
	[ "$(cat "$marker" 2>/dev/null)" = hi ]; then
	pass "status, stdout, stderr, cwd, writable tree ($((SECONDS - t0)) s)"
else
	fail "status/stdout/stderr/cwd" "rc=$rc out='$(head -c 200 "$work/out")' err='$(head -c 300 "$work/err")'"
fi
rm -f "$marker"

# 3. A run that cannot finish must end with 125 at its deadline, not hang.
t0=$SECONDS
"$RUN" --timeout 30 -- sleep 600 >"$work/out" 2>"$work/err"
rc=$?
if [ $rc = 125 ] && grep -q 'did not finish within' "$work/err" && [ $((SECONDS - t0)) -lt 60 ]; then
	pass "deadline ($((SECONDS - t0)) s)"
else
	fail deadline "rc=$rc after $((SECONDS - t0)) s: $(head -c 300 "$work/err")"
fi
echo "harness: $passed passed, $failed failed"
[ $failed = 0 ]
