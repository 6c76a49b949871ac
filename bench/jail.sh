#!/bin/bash
# SPDX-License-Identifier: MIT
# Jail benchmark: what the kiln-vmm jail (docs/SECURITY.md) adds to a sandbox's restore.
# `kiln create` restores the same base snapshot RUNS times with the jail (the default as
# root) and RUNS times without it (KILN_JAIL=0), alternating.  See docs/BENCHMARKS.md.
#
#   bench/jail.sh [-n RUNS] [--memory MIB] [--timeout S] [--out DIR] [--bin DIR] [--work DIR]
#
#   -n RUNS        measured restores per mode (default 10), after one warm-up
#   --memory MIB   guest RAM (default 256)
#   --timeout S    per create: kiln's boot timeout (default 300)
#   --bin DIR      take kiln and kiln-vmm from DIR (copied first) instead of building the
#                  tree with make and copying build/ (other builds then cannot change them)
#   --work DIR     keep the copies, the kernel and image links, the cache and its base
#                  snapshot in DIR and reuse them next time (default: a temporary directory,
#                  removed; the first create of a fresh cache builds the base snapshot: one
#                  cold boot, minutes on PVM)
#   --out DIR      results (default build/bench/jail)
#
# Per create (bench/timed_exec.c gives the CLOCK_MONOTONIC times around `kiln create`,
# kiln-vmm logs its first KVM_RUN on the same clock, kiln logs at debug level):
#   create_to_first_run_ms  kiln create started -> the guest's first KVM_RUN: everything on the
#                           host side (state, overlay copy, jail setup and entry, exec, restore)
#   vmm_first_run_ms        kiln-vmm's own start -> first KVM_RUN (after the jail is entered)
#   jail_setup_ms           sandbox_jail_setup() in kiln (mount list, cgroup); jail mode only
#   agent_ready_ms          VMM launched -> the agent answered (kiln's "ready after" line)
#   create_ms               the whole `kiln create` until it printed the id
#   vmm_cpu_ms, vmm_minflt  the VMM's CPU time (incl. the guest's) and minor faults by then
#   cpu_throttled           times the jail's cgroup CPU limit throttled it (cpu.stat)
# Runs on this host's /dev/kvm, also on PVM (the jail's cost is host work); needs root.
#
# stdout: JSON lines: {"type":"env"}, one {"type":"run"} per create, {"type":"summary"} per
# mode and metric (n/min/p50/p99/max), {"type":"delta"} per metric (jail minus no jail, p50
# and p99).  stderr: progress and a Markdown table.  Exit status: 0 if every create
# succeeded, 1 if any failed, 2 on a setup error.
set -euo pipefail

PROG=bench/jail.sh

runs=10
memory=256
timeout=300
out=$(cd "$(dirname "$0")/.." && pwd)/build/bench/jail
bin=
work=

bench_option() { bench_private_option "$@"; }

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_parse "$@"

if [ "$inner" = 0 ]; then
	bench_private_prepare
	[ -n "$l1_timeout" ] || l1_timeout=$((1800 + 2 * (runs + 1) * 120))
	bench_host_half "$HERE/jail.sh" pvm_ok timed_exec
fi

# ---- inner half: measure -------------------------------------------------------------------

bench_inner_check "$TEXEC"
[ "$(id -u)" = 0 ] || die "the jail needs root (as another user kiln runs every VMM unjailed)"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
[ -n "$bin" ] || bin=$TOP/build
for f in kiln kiln-vmm; do [ -x "$bin/$f" ] || die "$bin/$f missing"; done

if [ -n "$work" ]; then
	mkdir -p "$work" || die "cannot create $work"
	W=$(cd "$work" && pwd -P)
else
	W=$(mktemp -d /tmp/kiln-bench-jail-XXXXXX) || die "mktemp failed"
fi
# The VMMs and the sandboxes of this run only; the work directory itself if it was ours.
cleanup() {
	local d
	for d in "$W"/run/*/; do
		[ -e "$d/api.sock" ] || continue
		"$W/bin/kiln" rm --force "$(basename "$d")" >/dev/null 2>&1 || true
	done
	[ -n "$work" ] || rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/bin" "$W/cache/snapshots" "$W/cache/kernel" "$W/cache/images" "$W/run" "$W/state"
# Copies: a rebuild of the tree during the run must not change what is measured (nor the base
# snapshot's key).  Kept as they are in a reused work directory.
for f in kiln kiln-vmm; do
	[ -x "$W/bin/$f" ] || cp "$bin/$f" "$W/bin/$f"
done
ln -sfn "$kernel" "$W/cache/kernel/vmlinux"
ln -sfn "$image" "$W/cache/images/base.ext4"
export KILN_CACHE=$W/cache KILN_STATE=$W/state KILN_RUNTIME_DIR=$W/run KILN_VMM=$W/bin/kiln-vmm
export KILN_BOOT_TIMEOUT=$timeout
KILN=$W/bin/kiln

env_line=$(printf '{"type":"env","bench":"jail","date":%s,"nested_l1":%s,"host_kernel":%s,'\
'"cpus":%s,"kvm":%s,"kernel":%s,"image":%s,"memory_mib":%s,"runs":%s,"vmm":%s,'\
'"host_cpu":%s,"host_loadavg":%s,"loadavg":%s}' \
	"$(json_str "$(date -u +%FT%TZ)")" "$([ "${KILN_IN_L1:-}" = 1 ] && echo true || echo false)" \
	"$(json_str "$(uname -r)")" "$(nproc)" \
	"$(json_str "$([ -e /sys/module/kvm_pvm ] && echo kvm_pvm || echo kvm)")" \
	"$(json_str "$kernel")" "$(json_str "$image")" "$memory" "$runs" \
	"$(json_str "$W/bin/kiln-vmm")" \
	"$(json_str "${KILN_BENCH_HOST_CPU:-}")" "$(json_str "${KILN_BENCH_HOST_LOADAVG:-}")" \
	"$(json_str "$(cut -d' ' -f1-3 /proc/loadavg)")")
echo "$env_line" | tee "$out/results.jsonl"
echo "KILN_CACHE=$W/cache KILN_STATE=$W/state KILN_RUNTIME_DIR=$W/run KILN_VMM=$W/bin/kiln-vmm" \
	"[KILN_JAIL=0] $TEXEC T -- $KILN --log-level debug create --name NAME --memory $memory -q" \
	>"$out/commands.txt"

# A number from a log line: num_after FILE REGEX (sed -E, group 1), or null.
num_after() {
	local v
	v=$(sed -En "s/.*$2.*/\\1/p" "$1" 2>/dev/null | head -1)
	[ -n "$v" ] && echo "$v" || echo null
}

# vmm_stats ID: the VMM's CPU time (user+sys, includes the guest: the vCPU thread runs it) and
# minor faults until now, and how often the jail's cgroup throttled it (cpu.stat), or null.
TICK=$(getconf CLK_TCK)
vmm_stats() {
	local pid st c
	local -a f
	CPU_MS=null MINFLT=null THROTTLED=null
	pid=$("$KILN" inspect --json "$1" 2>/dev/null | jq -r '.pid // empty') || pid=
	# jailed, the recorded process is the jail's supervisor and kiln-vmm its child
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != kiln-vmm ]; then
		pid=$(cut -d' ' -f1 "/proc/$pid/task/$pid/children" 2>/dev/null) || pid=
	fi
	if [ -n "$pid" ] && st=$(cat "/proc/$pid/stat" 2>/dev/null); then
		# fields after the ")" that ends comm: 3 state ... 10 minflt, 14 utime, 15 stime
		read -r -a f <<<"${st##*) }"
		MINFLT=${f[7]}
		CPU_MS=$(((f[11] + f[12]) * 1000 / TICK))
	fi
	for c in "/sys/fs/cgroup/cpu/kiln/$1/cpu.stat" "/sys/fs/cgroup/kiln/$1/cpu.stat"; do
		[ -r "$c" ] && THROTTLED=$(awk '$1 == "nr_throttled" { print $2 }' "$c") && break
	done
	[ -n "$THROTTLED" ] || THROTTLED=null
}

failed=0
create_one() { # MODE RUN WARMUP
	local mode=$1 run=$2 wu=$3 name=jb-$1-$2 id t0 t1 st rc=0 vlog note jailed mono line
	local -a envs=()
	[ "$mode" = nojail ] && envs=(KILN_JAIL=0)
	id=$(env "${envs[@]}" "$TEXEC" "$W/t" -- "$KILN" --log-level debug create --name "$name" \
		--memory "$memory" -q 2>"$W/err") || rc=$?
	read -r t0 t1 st <"$W/t" || true
	vlog=$W/run/$id/vmm.log
	note=$W/run/$id/jail
	if [ "$rc" != 0 ] || [ -z "$id" ] || [ ! -f "$vlog" ]; then
		line="{\"type\":\"run\",\"mode\":\"$mode\",\"run\":$run,\"ok\":false,\"error\":$(json_str "kiln create exited $rc: $(tail -3 "$W/err" | tr '\n' ' ' | tr -d '\000-\037')")}"
		failed=1
		cp "$W/err" "$out/err-$mode-$run.log" 2>/dev/null || true
	else
		jailed=false
		grep -q '^jailed:' "$note" 2>/dev/null && jailed=true
		mono=$(num_after "$vlog" 'first KVM_RUN [0-9.]+ ms after start \(monotonic ([0-9]+) ns\)')
		vmm_stats "$id"
		line=$(printf '{"type":"run","mode":"%s","run":%d,"ok":true,"warmup":%s,"jailed":%s,'\
'"vmm_cpu_ms":%s,"vmm_minflt":%s,"cpu_throttled":%s,'\
'"jail_setup_ms":%s,"vmm_first_run_ms":%s,"create_to_first_run_ms":%s,"agent_ready_ms":%s,'\
'"create_ms":%s}' "$mode" "$run" "$([ "$wu" = 1 ] && echo true || echo false)" "$jailed" \
			"$CPU_MS" "$MINFLT" "$THROTTLED" \
			"$(num_after "$W/err" 'jail setup ([0-9.]+) ms')" \
			"$(num_after "$vlog" 'first KVM_RUN ([0-9.]+) ms after start')" \
			"$([ "$mono" = null ] && echo null || awk -v a="$t0" -v b="$mono" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')" \
			"$(num_after "$W/err" 'ready after ([0-9]+) ms')" \
			"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')")
		# the mode must be what was asked for, or the numbers mean nothing
		if [ "$jailed" != "$([ "$mode" = jail ] && echo true || echo false)" ]; then
			failed=1
			say "$name: jailed=$jailed, not what mode $mode asks for ($(head -1 "$note" 2>/dev/null))"
		fi
	fi
	echo "$line" | tee -a "$out/results.jsonl"
	[ -n "$id" ] && { "$KILN" rm --force "$id" >/dev/null 2>&1 || say "kiln rm $id failed"; }
	return 0
}

say "warm-up (builds the base snapshot if this cache has none: one cold boot)"
create_one jail 0 1
create_one nojail 0 1
say "$runs restores per mode, alternating"
for ((r = 1; r <= runs; r++)); do
	if ((r % 2)); then
		create_one jail "$r" 0
		create_one nojail "$r" 0
	else
		create_one nojail "$r" 0
		create_one jail "$r" 0
	fi
done

# Nearest-rank percentiles over the measured (non-warm-up) runs.
metrics='["create_to_first_run_ms","vmm_first_run_ms","jail_setup_ms","agent_ready_ms","create_ms","vmm_cpu_ms","vmm_minflt","cpu_throttled"]'
jq -cs --argjson ms "$metrics" '
	def pct(a; q): (a | length) as $n | if $n == 0 then null
		else a[([((q * $n) | ceil) - 1, 0] | max)] end;
	[.[] | select(.type == "run" and .ok and (.warmup | not))] as $runs
	| [ ("jail", "nojail") as $m | $ms[] as $k
	    | ([$runs[] | select(.mode == $m) | .[$k] | select(. != null)] | sort) as $v
	    | select($v | length > 0)
	    | {type: "summary", mode: $m, metric: $k, n: ($v | length), min: $v[0],
	       p50: pct($v; 0.5), p99: pct($v; 0.99), max: $v[-1]} ] as $s
	| $s[],
	  ($ms[] as $k
	   | [$s[] | select(.metric == $k)] as $p
	   | select(($p | length) == 2)
	   | {type: "delta", metric: $k,
	      p50: ((($p[] | select(.mode == "jail") | .p50) - ($p[] | select(.mode == "nojail") | .p50)) * 1000 | round / 1000),
	      p99: ((($p[] | select(.mode == "jail") | .p99) - ($p[] | select(.mode == "nojail") | .p99)) * 1000 | round / 1000)})
' "$out/results.jsonl" | tee "$out/summary.jsonl"
{
	echo "| metric | jail: n / min / p50 / p99 / max | no jail: n / min / p50 / p99 / max | p50 jail - no jail |"
	echo "|---|---|---|---|"
	jq -rs '
		def row(m): [.[] | select(.type == "summary" and .mode == m)];
		(row("jail") | map({(.metric): .}) | add) as $j
		| (row("nojail") | map({(.metric): .}) | add // {}) as $n
		| ([.[] | select(.type == "delta") | {(.metric): .p50}] | add // {}) as $d
		| $j | keys_unsorted[] as $k
		| "| \($k) | \($j[$k].n) / \($j[$k].min) / **\($j[$k].p50)** / \($j[$k].p99) / \($j[$k].max) | "
		  + (if $n[$k] then "\($n[$k].n) / \($n[$k].min) / **\($n[$k].p50)** / \($n[$k].p99) / \($n[$k].max)" else "-" end)
		  + " | \($d[$k] // "-") |"' "$out/summary.jsonl"
} >"$out/table.md"
cat "$out/table.md" >&2
say "results: $out/{results.jsonl,summary.jsonl,table.md,commands.txt}"
exit "$failed"
