#!/bin/bash
# Run cmocka unit test binaries; print each one's result and a closing line
# "unit: N passed, M failed".  Exit non-zero if any test failed or a binary
# crashed.  Usage: tests/run-unit.sh BIN...
set -u
passed=0 failed=0 crashed=0
for bin in "$@"; do
	name=$(basename "$bin")
	out=$("$bin" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
		[ "$f" -eq 0 ] && { crashed=$((crashed + 1)); failed=$((failed + 1)); }
		echo "FAIL $name (exit $rc)"
		printf '%s\n' "$out" | tail -40 | sed 's/^/    /'
	else
		echo "ok   $name ($p tests)"
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
