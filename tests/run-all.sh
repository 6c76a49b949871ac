#!/bin/bash
# The README's test command runs this after building (see `make test`):
# format check, unit tests under ASan+UBSan, then integration tests.
# Closing line: "total: N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.."
status=0
P=0 F=0 S=0

count() { # parse "<word>: N passed, M failed[, K skipped]" from the last line of $1
	local line
	line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	[ -n "$line" ] || { F=$((F + 1)); return; }
	P=$((P + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
	F=$((F + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
	if echo "$line" | grep -q skipped; then
		S=$((S + $(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/')))
	fi
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== format"
if make --no-print-directory check-format >"$log" 2>&1; then
	echo "format: 1 passed, 0 failed"; P=$((P + 1))
else
	head -40 "$log"; echo "format: 0 passed, 1 failed"; F=$((F + 1)); status=1
fi

echo "== unit tests (ASan+UBSan)"
tests/run-unit.sh build/san/tests/test_* 2>&1 | tee "$log" || status=1
count "$log"

echo "== fuzzing (${FUZZ_SECONDS:-20} s per target)"
make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}" 2>&1 | grep -v '^clang' | tee "$log" || status=1
count "$log"

echo "== guest kernel + image boot under QEMU TCG (no KVM needed)"
if guest/test-boot-qemu.sh --smp 2 >"$log" 2>&1; then
	tail -3 "$log"; echo "guest: 1 passed, 0 failed"; P=$((P + 1))
else
	tail -30 "$log"; echo "guest: 0 passed, 1 failed"; F=$((F + 1)); status=1
fi

echo "== integration tests"
if [ -x tests/integration/run.sh ]; then
	tests/integration/run.sh 2>&1 | tee "$log" || status=1
	count "$log"
else
	echo "integration: missing tests/integration/run.sh"; F=$((F + 1)); status=1
fi

echo "total: $P passed, $F failed, $S skipped"
[ "$F" -eq 0 ] || status=1
exit $status
