#!/bin/bash
# Run each libFuzzer target for a bounded time on its own corpus
# (build/fuzz-corpus/<name>, kept between runs).  A crash, leak or timeout
# fails the target.  Closing line: "fuzz: N passed, M failed".
# Usage: tests/run-fuzz.sh SECONDS FUZZER...
set -u
secs=$1
shift
passed=0 failed=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=build/fuzz-corpus/${name#fuzz_}
	mkdir -p "$corpus"
	# Checked-in seeds (tests/fuzz/corpus/<name>), read but never written.
	seeds=tests/fuzz/corpus/${name#fuzz_}
	[ -d "$seeds" ] || seeds=
	log=$(mktemp)
	if "$f" -max_total_time="$secs" -timeout=10 -max_len=8192 \
		-artifact_prefix=build/fuzz/"$name"- "$corpus" $seeds >"$log" 2>&1; then
		echo "ok   $name ($(grep -o 'Done [0-9]* runs' "$log" | tail -1) in ${secs}s)"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		tail -30 "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	rm -f "$log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
