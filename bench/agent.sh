#!/bin/bash
# SPDX-License-Identifier: MIT
# Agent benchmark: round trips (exec of `true`, read of a 1-byte file; p50/p99 over RUNS) and
# throughput (a 64 MiB upload and download) measured on the host through libkiln against a
# sandbox restored from a checkpoint.  See docs/BENCHMARKS.md.
#
#   bench/agent.sh [-n RUNS] [--mib N] [--memory MIB]
#
#   -n RUNS        round trips per operation (default 200, after 3 warm-up execs)
#   --mib N        size of the transfer (default 64)
#   --memory MIB   guest RAM (default 256)
#
# The sandbox is created (cold boot), checkpointed and rolled back to the checkpoint, so the
# measured guest is a restored one, as every sandbox after a fork or rollback is.
# stdout: JSON lines: {"type":"setup"}, then build/bench/agent_rtt's {"type":"env"},
# {"type":"rtt"} and {"type":"throughput"} lines.  stderr: progress and a Markdown table.
# Needs /dev/kvm and the built tools (make all build/bench/agent_rtt, or make bench-agent);
# on a machine without KVM run it inside the nested-KVM harness:
#   tests/harness/run-in-l1.sh --cpus 1 -- bench/agent.sh
# Exit status: 0 if everything was measured, 1 if an operation failed, 2 on a setup error.
set -euo pipefail

PROG=bench/agent.sh
runs=200
mib=64
memory=256
out=$(cd "$(dirname "$0")/.." && pwd)/build/bench/agent

bench_option() {
	case "$1" in
	--mib) num "$1" "${2:-}"; mib=$2; NSHIFT=2 ;;
	esac
}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_parse "$@"
KILN=$TOP/build/kiln
RTT=$TOP/build/bench/agent_rtt

[ -c /dev/kvm ] || die "no /dev/kvm here; run: tests/harness/run-in-l1.sh --cpus 1 -- $PROG"
[ -x "$KILN" ] && [ -x "$RTT" ] || die "build first: make all build/bench/agent_rtt"

WORK=$(mktemp -d /tmp/kiln-bench-agent-XXXXXX)
export KILN_RUNTIME_DIR=$WORK/run KILN_STATE=$WORK/state
cleanup() {
	"$KILN" -q rm --force agent-bench >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "$PROG: creating the sandbox (cold boot)" >&2
"$KILN" -q create --name agent-bench --memory "$memory" >/dev/null || die "kiln create failed"
"$KILN" -q checkpoint agent-bench c1 >/dev/null || die "kiln checkpoint failed"
t0=$(date +%s%N)
"$KILN" -q rollback agent-bench c1 >/dev/null || die "kiln rollback failed"
t1=$(date +%s%N)
echo "$PROG: restored in $(((t1 - t0) / 1000000)) ms; measuring" >&2
printf '{"type":"setup","host_kernel":"%s","host_cpus":%s,"in_l1":%s,"memory_mib":%s,"rollback_ms":%s}\n' \
	"$(uname -r)" "$(nproc)" "$([ "${KILN_IN_L1:-0}" = 1 ] && echo true || echo false)" \
	"$memory" "$(((t1 - t0) / 1000000))"
"$RTT" agent-bench -n "$runs" --mib "$mib"
