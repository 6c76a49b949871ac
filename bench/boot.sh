#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot benchmark: kiln-vmm against QEMU's microvm machine, booting the same kernel, image and
# kernel command line, alternately, in the same run.  See docs/BENCHMARKS.md.
#
#   bench/boot.sh [-n RUNS] [--memory MIB] [--no-warmup] [--no-rng] [--timeout S]
#                 [--l1-timeout S] [--out DIR]
#
#   -n RUNS        measured boots per VMM (default 5), after one warm-up boot each
#   --memory MIB   guest RAM for both (default 256)
#   --no-warmup    count every boot (the warm-up pulls binaries, kernel and image into caches)
#   --no-rng       no virtio-rng on either side (kiln's library adds one by default)
#   --timeout S    per boot: VMM start to the agent's answer (default 300)
#   --l1-cpus N    vCPUs of the nested-KVM harness's L1 (default 2; see docs/BENCHMARKS.md)
#   --l1-timeout S the whole run inside the harness (default 600 + 120 per boot)
#   --out DIR      results, commands and console logs (default build/bench/boot)
#
# stdout: JSON lines: {"type":"env"}, one {"type":"run"} per boot, one {"type":"summary"} per
# VMM, {"type":"ratio"} (QEMU's medians over kiln's).  stderr: progress and a Markdown table.
# Exit status: 0 if every boot succeeded, 1 if any failed, 2 on a setup error.
#
# Builds what it needs first (make, guest kernel + image, the bench tools).  With a usable
# /dev/kvm it runs here; without one it runs itself inside tests/harness/run-in-l1.sh.
set -euo pipefail

PROG=bench/boot.sh

runs=5
memory=256
warmup=1
rng=1
timeout=300
l1_cpus=2
out=$(cd "$(dirname "$0")/.." && pwd)/build/bench/boot
cid=3

bench_option() {
	case "$1" in
	--no-warmup) warmup=0; NSHIFT=1 ;;
	--no-rng) rng=0; NSHIFT=1 ;;
	esac
}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_parse "$@"

# ---- host half: build, then run the inner half where KVM is -------------------------------

if [ "$inner" = 0 ]; then
	command -v qemu-system-x86_64 >/dev/null ||
		die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
	# A boot takes 5-20 s in L1; the deadline only matters if L1 itself hangs.
	[ -n "$l1_timeout" ] || l1_timeout=$((600 + 2 * (runs + 1) * 120))
	bench_host_half "$HERE/boot.sh" timer report
fi

# ---- inner half: measure -------------------------------------------------------------------

bench_inner_check "$TIMER" "$REPORT"

# Everything the VMMs read lives in RAM (in L1 the repo and cache are 9p shares that would
# charge both VMMs for network file reads), and sockets need a local file system.
W=$(mktemp -d /dev/shm/kiln-bench-XXXXXX) || die "mktemp failed"
trap 'rm -rf "$W"' EXIT
cp "$kernel" "$W/vmlinux"
cp --sparse=always "$image" "$W/root.ext4"
cp "$TOP/build/kiln-vmm" "$W/kiln-vmm"

cmdline="$("$TIMER" --print-base-cmdline) printk.time=1"

# QEMU's vsock needs vhost-vsock in the kernel; if it is missing, time QEMU by the agent's
# console line and say so (kiln's console times are always recorded too).
if [ ! -c /dev/vhost-vsock ]; then
	modprobe vhost_vsock 2>/dev/null || true
fi
if [ -c /dev/vhost-vsock ]; then
	qemu_ready=vsock:$cid
	qemu_vsock=(-device "vhost-vsock-device,guest-cid=$cid")
else
	qemu_ready=console
	qemu_vsock=()
	say "WARNING: /dev/vhost-vsock missing: QEMU is timed by the agent's console ready line," \
		"not by an agent answer; compare console_ready_ms between the VMMs"
fi

kiln_cmd=("$W/kiln-vmm" --kernel "$W/vmlinux" --cmdline "$cmdline" --cpus 1
	--memory "$memory" --drive "$W/root.ext4,ro" --vsock-cid "$cid"
	--vsock-uds "$W/kiln.vsock" --console "$W/console-kiln.log")
[ "$rng" = 1 ] && kiln_cmd+=(--rng)

# shellcheck disable=SC2054 # the commas belong to QEMU's option values
qemu_cmd=(qemu-system-x86_64 -M microvm,acpi=off,rtc=off,isa-serial=on -enable-kvm -cpu host
	-m "$memory" -smp 1 -nodefaults -no-user-config -nographic -no-reboot
	-kernel "$W/vmlinux" -append "$cmdline"
	-drive "id=root,file=$W/root.ext4,format=raw,if=none,readonly=on"
	-device virtio-blk-device,drive=root)
[ "$rng" = 1 ] && qemu_cmd+=(-device virtio-rng-device)
qemu_cmd+=("${qemu_vsock[@]}" -serial "file:$W/console-qemu.log")

{
	echo "kiln: $(printf '%q ' "${kiln_cmd[@]}")"
	echo "qemu: $(printf '%q ' "${qemu_cmd[@]}")"
	echo "timer: $TIMER --agent uds:$W/kiln.vsock | $qemu_ready --console ... -- VMM..."
} >"$out/commands.txt"

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
qemu_version=$(qemu-system-x86_64 --version | head -1)
env_line=$(printf '{"type":"env","date":%s,"nested_l1":%s,"host_kernel":%s,"cpu":%s,"cpus":%s,'\
'"qemu":%s,"kernel":%s,"image":%s,"cmdline":%s,"memory_mib":%s,"rng":%s,"runs":%s,'\
'"warmup":%s,"kiln_ready_by":"uds","qemu_ready_by":%s,"host_cpu":%s,"host_loadavg":%s,'\
'"loadavg":%s}' \
	"$(json_str "$(date -u +%FT%TZ)")" "$([ "${KILN_IN_L1:-}" = 1 ] && echo true || echo false)" \
	"$(json_str "$(uname -r)")" "$(json_str "$cpu_model")" "$(nproc)" \
	"$(json_str "$qemu_version")" "$(json_str "$kernel")" "$(json_str "$image")" \
	"$(json_str "$cmdline")" "$memory" "$([ "$rng" = 1 ] && echo true || echo false)" \
	"$runs" "$([ "$warmup" = 1 ] && echo true || echo false)" "$(json_str "${qemu_ready%%:*}")" \
	"$(json_str "${KILN_BENCH_HOST_CPU:-}")" "$(json_str "${KILN_BENCH_HOST_LOADAVG:-}")" \
	"$(json_str "$(cut -d' ' -f1-3 /proc/loadavg)")")
echo "$env_line" | tee "$out/results.jsonl"

failed=0
# One boot: VMM name, run number, warm-up flag.
boot_one() {
	local name=$1 run=$2 wu=$3 ready line
	local -a cmd flags=()
	if [ "$name" = kiln ]; then
		cmd=("${kiln_cmd[@]}")
		ready=uds:$W/kiln.vsock
	else
		cmd=("${qemu_cmd[@]}")
		ready=$qemu_ready
	fi
	[ "$wu" = 1 ] && flags+=(--warmup)
	rm -f "$W/kiln.vsock" "$W/console-$name.log"
	line=$("$TIMER" --name "$name" --run "$run" "${flags[@]}" --agent "$ready" \
		--console "$W/console-$name.log" --log "$W/vmm-$name.log" \
		--timeout-ms $((timeout * 1000)) --guest-mib "$memory" -- "${cmd[@]}") || true
	cp "$W/console-$name.log" "$out/console-$name-$run.log" 2>/dev/null || true
	cp "$W/vmm-$name.log" "$out/vmm-$name-$run.log" 2>/dev/null || true
	if [ -z "$line" ]; then
		line="{\"type\":\"run\",\"vmm\":\"$name\",\"run\":$run,\"ok\":false,\"error\":\"boot_timer failed\"}"
	fi
	echo "$line" | tee -a "$out/results.jsonl"
	case "$line" in
	*'"ok":true'*)
		say "$name run $run$([ "$wu" = 1 ] && echo ' (warm-up)'): ready in" \
			"$(echo "$line" | sed -n 's/.*"ready_ms":\([0-9.]*\).*/\1/p') ms"
		;;
	*)
		failed=1
		say "$name run $run FAILED; console tail ($out/console-$name-$run.log):"
		tail -n 15 "$out/console-$name-$run.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
		tail -n 5 "$out/vmm-$name-$run.log" 2>/dev/null | sed 's/^/  vmm| /' >&2 || true
		;;
	esac
}

say "$runs boots per VMM$([ "$warmup" = 1 ] && echo ' after a warm-up each'), alternating;" \
	"kiln via its vsock socket, QEMU via ${qemu_ready%%:*}"
first=1
[ "$warmup" = 1 ] && first=0
for ((r = first; r <= runs; r++)); do
	wu=0
	[ "$r" = 0 ] && wu=1
	# Alternate who goes first so drift in the machine's load hits both alike.
	if ((r % 2 == 0)); then
		boot_one kiln "$r" "$wu"
		boot_one qemu "$r" "$wu"
	else
		boot_one qemu "$r" "$wu"
		boot_one kiln "$r" "$wu"
	fi
done

"$REPORT" "$out/results.jsonl" --markdown "$out/table.md" | tee "$out/summary.jsonl"
echo >&2
cat "$out/table.md" >&2
say "results: $out/{results.jsonl,summary.jsonl,table.md,commands.txt,console-*.log}"
exit "$failed"
