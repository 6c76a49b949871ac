#!/bin/bash
# SPDX-License-Identifier: MIT
# Restore benchmark: kiln-vmm restoring a snapshot against QEMU `-M microvm` restoring the
# same guest from a migration file (-incoming), in the same run.  See docs/BENCHMARKS.md.
#
#   bench/restore.sh [-n RUNS] [--clones LIST] [--memory MIB] [--timeout S]
#                    [--l1-timeout S] [--l1-mem MIB] [--out DIR] [--no-qemu]
#
#   -n RUNS        measured restores per VMM (default 50), after one warm-up each
#   --clones LIST  concurrent clone counts for the memory measurement (default "1 10 50")
#   --memory MIB   guest RAM for both (default 256)
#   --timeout S    per restore: VMM start to the agent's answer (default 120)
#   --l1-mem MIB   memory of the nested-KVM harness's L1 (default 12288)
#   --l1-timeout S the whole run inside the harness (default 1800 + 30 per restore)
#   --out DIR      results, commands and logs (default build/bench/restore)
#   --no-qemu      kiln only
#
# Both guests are booted once with the same kernel, image and command line; when the agent
# answers the VM is paused and saved (kiln: PUT /snapshot/create, a state file and a sparse
# memory file; QEMU: QMP migrate to a file, which stops the VM at its end).  Then each restore is timed from fork() of
# the VMM to the agent's answer (hello + ping), and for kiln also to the first KVM_RUN (the
# VMM logs its CLOCK_MONOTONIC time then).  Last, N clones of each run at once and every
# process's memory is read from /proc/PID/smaps: RSS, PSS, the guest RAM mapping's private
# pages (what this clone wrote or, for QEMU, loaded) and the VMM's own PSS (everything but
# the guest RAM).
#
# stdout: JSON lines: {"type":"env"}, one {"type":"run"} per restore (bench/boot_timer.c),
# {"type":"summary"} per VMM (n/min/median/p99/max), {"type":"ratio"}, one {"type":"clones"}
# per VMM and count.  stderr: progress and Markdown tables.  Exit status: 0 if every restore
# succeeded, 1 if any failed, 2 on a setup error.
set -euo pipefail

PROG=bench/restore.sh

runs=50
clones="1 10 50"
memory=256
timeout=120
l1_cpus=1 # with two, L1 (QEMU TCG) was seen to lock up under load
l1_mem=12288
out=$(cd "$(dirname "$0")/.." && pwd)/build/bench/restore
qemu=1
cid=3

bench_option() {
	case "$1" in
	--clones)
		[[ "${2:-}" =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] ||
			die "--clones needs a list of positive integers like \"1 10 50\""
		clones=$2; NSHIFT=2 ;;
	--no-qemu) qemu=0; NSHIFT=1 ;;
	esac
}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_parse "$@"

# ---- host half: build, then run the inner half where KVM is -------------------------------

if [ "$inner" = 0 ]; then
	if [ "$qemu" = 1 ]; then
		command -v qemu-system-x86_64 >/dev/null ||
			die "qemu-system-x86_64 not found (apt-get install qemu-system-x86, or --no-qemu)"
	fi
	command -v curl >/dev/null || die "curl not found (apt-get install curl)"
	maxc=0
	for c in $clones; do [ "$c" -gt "$maxc" ] && maxc=$c; done
	[ -n "$l1_timeout" ] || l1_timeout=$((1800 + 30 * 2 * (runs + 1) + 60 * 2 * maxc))
	# kiln alone also runs on a PVM host's own KVM (QEMU's -cpu host cannot)
	if [ "$qemu" = 1 ]; then
		bench_host_half "$HERE/restore.sh" timer report vsock_exec
	else
		bench_host_half "$HERE/restore.sh" pvm_ok timer report vsock_exec
	fi
fi

# ---- inner half: measure -------------------------------------------------------------------

bench_inner_check "$TIMER" "$REPORT" "$VX"

# The VMMs' files live in RAM (in L1 the repo and cache are 9p shares), sockets need a local
# file system, and the snapshots must be in the page cache for clones to share them.
W=$(mktemp -d /dev/shm/kiln-restore-XXXXXX) || die "mktemp failed"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
cp "$kernel" "$W/vmlinux"
cp --sparse=always "$image" "$W/root.ext4"
cp "$TOP/build/kiln-vmm" "$W/kiln-vmm"
cmdline=$("$TIMER" --print-base-cmdline)

if [ "$qemu" = 1 ] && [ ! -c /dev/vhost-vsock ]; then
	modprobe vhost_vsock 2>/dev/null || true
	[ -c /dev/vhost-vsock ] || die "/dev/vhost-vsock missing: QEMU's restored agent cannot be reached (--no-qemu)"
fi

# ---- the snapshots ----

api() { # SOCK METHOD PATH BODY
	local code
	code=$(curl -s -o "$W/api.out" -w '%{http_code}' --unix-socket "$1" -X "$2" \
		"http://localhost$3" -H 'Content-Type: application/json' -d "$4") || code=000
	case "$code" in 2??) ;; *) die "kiln-vmm $2 $3: HTTP $code: $(cat "$W/api.out")" ;; esac
}

kiln_boot=("$W/kiln-vmm" --kernel "$W/vmlinux" --cmdline "$cmdline" --cpus 1
	--memory "$memory" --drive "$W/root.ext4,ro" --vsock-cid "$cid"
	--vsock-uds "$W/boot.vsock" --rng --console "$W/console-boot.log"
	--api-sock "$W/api.sock")
say "kiln: booting the guest to snapshot it"
"${kiln_boot[@]}" 2>"$W/vmm-boot.log" &
boot_pid=$!
PIDS+=("$boot_pid")
timeout 900 "$VX" "$W/boot.vsock" 600000 true >/dev/null ||
	die "kiln's guest did not answer (console: $(tail -3 "$W/console-boot.log"))"
api "$W/api.sock" PATCH /vm '{"state": "Paused"}'
api "$W/api.sock" PUT /snapshot/create \
	"{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$W/kiln.state\", \"mem_file_path\": \"$W/kiln.mem\"}"
kill -9 "$boot_pid"
wait "$boot_pid" 2>/dev/null || true
say "kiln: snapshot $(du -k "$W/kiln.state" | cut -f1) KiB state, $(du -k "$W/kiln.mem" | cut -f1) KiB memory on disk"

# shellcheck disable=SC2054 # the commas belong to QEMU's option values
qemu_base=(qemu-system-x86_64 -M microvm,acpi=off,rtc=off,isa-serial=on -enable-kvm -cpu host
	-m "$memory" -smp 1 -nodefaults -no-user-config -nographic -no-reboot
	-kernel "$W/vmlinux" -append "$cmdline"
	-drive "id=root,file=$W/root.ext4,format=raw,if=none,readonly=on"
	-device virtio-blk-device,drive=root -device virtio-rng-device
	-device "vhost-vsock-device,guest-cid=$cid")

qmp() { # SOCK: send the commands on stdin's lines, print the replies
	python3 - "$1" <<'EOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            if "error" in r:
                sys.exit("qmp %s: %s" % (c, r["error"]))
            return r["return"]
json.loads(f.readline())  # greeting
cmd("qmp_capabilities")
# Not stopped first: a VM saved while running is started by the -incoming
# side as soon as its state is loaded (a stopped one would stay paused).
cmd("migrate", uri="exec:cat > " + sys.argv[1] + ".mig")
deadline = time.time() + 600
while True:
    st = cmd("query-migrate").get("status")
    if st == "completed":
        break
    if st in ("failed", "cancelled") or time.time() > deadline:
        sys.exit("qmp migrate: " + str(st))
    time.sleep(0.05)  # QMP has no completion wait without events; polled with a deadline
cmd("quit")
EOF
}

if [ "$qemu" = 1 ]; then
	say "qemu: booting the guest to save it"
	"${qemu_base[@]}" -serial "file:$W/console-qboot.log" -qmp "unix:$W/qmp,server=on,wait=off" \
		>"$W/qemu-boot.log" 2>&1 &
	qboot=$!
	PIDS+=("$qboot")
	deadline=$((SECONDS + 900))
	until grep -q 'kiln-agent: ready' "$W/console-qboot.log" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || die "QEMU's guest did not get ready"
		kill -0 "$qboot" 2>/dev/null || die "QEMU exited: $(tail -3 "$W/qemu-boot.log")"
		sleep 0.2 # polling a file with a deadline
	done
	qmp "$W/qmp" || die "saving QEMU's guest failed"
	mv "$W/qmp.mig" "$W/qemu.mig"
	wait "$qboot" 2>/dev/null || true
	say "qemu: migration file $(du -k "$W/qemu.mig" | cut -f1) KiB"
fi

# ---- timed restores ----

kiln_restore() { # TAG -> the command in CMD
	CMD=("$W/kiln-vmm" --restore "$W/kiln.state" --restore-mem "$W/kiln.mem"
		--vsock-uds "$W/$1.vsock" --console "$W/console-$1.log")
}
qemu_restore() { # TAG [CID]
	CMD=("${qemu_base[@]}")
	if [ -n "${2:-}" ]; then
		CMD=("${CMD[@]/guest-cid=$cid/guest-cid=$2}")
	fi
	CMD+=(-serial "file:$W/console-$1.log" -incoming "exec:cat $W/qemu.mig")
}

env_line=$(printf '{"type":"env","bench":"restore","date":%s,"nested_l1":%s,"host_kernel":%s,'\
'"cpus":%s,"qemu":%s,"kernel":%s,"image":%s,"cmdline":%s,"memory_mib":%s,"runs":%s,'\
'"clones":%s,"kiln_state_kib":%s,"kiln_mem_kib":%s,"host_cpu":%s,"host_loadavg":%s}' \
	"$(json_str "$(date -u +%FT%TZ)")" "$([ "${KILN_IN_L1:-}" = 1 ] && echo true || echo false)" \
	"$(json_str "$(uname -r)")" "$(nproc)" \
	"$(json_str "$([ "$qemu" = 1 ] && qemu-system-x86_64 --version | head -1)")" \
	"$(json_str "$kernel")" "$(json_str "$image")" "$(json_str "$cmdline")" "$memory" \
	"$runs" "$(json_str "$clones")" "$(du -k "$W/kiln.state" | cut -f1)" \
	"$(du -k "$W/kiln.mem" | cut -f1)" \
	"$(json_str "${KILN_BENCH_HOST_CPU:-}")" "$(json_str "${KILN_BENCH_HOST_LOADAVG:-}")")
echo "$env_line" | tee "$out/results.jsonl"
{
	kiln_restore TAG
	echo "kiln: $(printf '%q ' "${CMD[@]}")"
	if [ "$qemu" = 1 ]; then
		qemu_restore TAG
		echo "qemu: $(printf '%q ' "${CMD[@]}")"
	fi
} >"$out/commands.txt"

failed=0
restore_one() { # NAME RUN WARMUP
	local name=$1 run=$2 wu=$3 line ready
	local -a flags=()
	if [ "$name" = kiln ]; then
		kiln_restore r
		ready=uds:$W/r.vsock
	else
		qemu_restore r
		ready=vsock:$cid
	fi
	[ "$wu" = 1 ] && flags+=(--warmup)
	rm -f "$W/r.vsock" "$W/console-r.log"
	line=$("$TIMER" --name "$name" --run "$run" "${flags[@]}" --agent "$ready" \
		--console "$W/console-r.log" --log "$W/vmm-r.log" --no-shutdown \
		--timeout-ms $((timeout * 1000)) --guest-mib "$memory" -- "${CMD[@]}") || true
	[ -n "$line" ] || line="{\"type\":\"run\",\"vmm\":\"$name\",\"run\":$run,\"ok\":false,\"error\":\"boot_timer failed\"}"
	echo "$line" >>"$out/results.jsonl"
	echo "$line"
	case "$line" in
	*'"ok":true'*) ;;
	*)
		failed=1
		cp "$W/vmm-r.log" "$out/vmm-$name-$run.log" 2>/dev/null || true
		say "$name restore $run FAILED: $(echo "$line" | sed -n 's/.*"error":\("[^"]*"\).*/\1/p')"
		;;
	esac
}

say "$runs restores per VMM after a warm-up each, alternating"
for ((r = 0; r <= runs; r++)); do
	wu=0
	[ "$r" = 0 ] && wu=1
	if ((r % 2 == 0)) || [ "$qemu" = 0 ]; then
		restore_one kiln "$r" "$wu"
		[ "$qemu" = 1 ] && restore_one qemu "$r" "$wu"
	else
		restore_one qemu "$r" "$wu"
		restore_one kiln "$r" "$wu"
	fi
	if ((r % 10 == 0)); then say "restore round $r of $runs done"; fi
done
"$REPORT" "$out/results.jsonl" --markdown "$out/table.md" | tee "$out/summary.jsonl"

# ---- memory of N concurrent clones ----

# smaps_sum PID GUEST_KIB: "rss pss guest_rss guest_private own_pss" in KiB.  The guest RAM
# is the mapping of the memory file (kiln) or the mapping closest to the guest size (QEMU).
smaps_sum() {
	awk -v g="$2" -v mem="$W/kiln.mem" '
	/^[0-9a-f]+-[0-9a-f]+ / { flush(); hdr = $0; next }
	/^Size:/ { size = $2 } /^Rss:/ { rss = $2 } /^Pss:/ { pss = $2 }
	/^Private_Clean:/ { pc = $2 } /^Private_Dirty:/ { pd = $2 }
	function flush() {
		if (hdr == "") return
		R += rss; P += pss
		if (index(hdr, mem) || (size >= g && size <= g + 4096 && !gotq)) {
			if (!index(hdr, mem)) gotq = 1
			GR += rss; GP += pc + pd
		} else {
			O += pss
		}
		hdr = ""; size = rss = pss = pc = pd = 0
	}
	END { flush(); printf "%d %d %d %d %d\n", R, P, GR, GP, O }' "/proc/$1/smaps"
}

clones_run() { # NAME N
	local name=$1 n=$2 i pid t0 sum rss=0 pss=0 grss=0 gpriv=0 own=0 ok=0
	local -a pids=()
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		if [ "$name" = kiln ]; then
			kiln_restore "c$i"
		else
			qemu_restore "c$i" $((cid + i))
		fi
		"${CMD[@]}" >"$W/vmm-c$i.log" 2>&1 &
		pids+=($!)
		PIDS+=($!)
	done
	for ((i = 0; i < n; i++)); do
		if [ "$name" = kiln ]; then
			timeout $((timeout + 30)) "$VX" "$W/c$i.vsock" $((timeout * 1000)) true \
				>/dev/null 2>>"$W/clones.err" && ok=$((ok + 1))
		else
			"$TIMER" --name probe --agent "vsock:$((cid + i))" --no-shutdown \
				--timeout-ms $((timeout * 1000)) -- sleep 1000000 >/dev/null 2>>"$W/clones.err" &&
				ok=$((ok + 1))
		fi
	done
	for pid in "${pids[@]}"; do
		read -r a b c d e < <(smaps_sum "$pid" $((memory * 1024)) 2>/dev/null || echo "0 0 0 0 0")
		rss=$((rss + a)); pss=$((pss + b)); grss=$((grss + c)); gpriv=$((gpriv + d)); own=$((own + e))
	done
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	sum=$(printf '{"type":"clones","vmm":"%s","n":%d,"answered":%d,"seconds_to_all":%.1f,'\
'"rss_kib":%d,"pss_kib":%d,"guest_rss_kib":%d,"guest_private_kib":%d,"vmm_own_pss_kib":%d,'\
'"per_clone":{"rss_kib":%d,"pss_kib":%d,"guest_private_kib":%d,"vmm_own_pss_kib":%d}}' \
		"$name" "$n" "$ok" "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { print (b - a) / 1e9 }')" \
		"$rss" "$pss" "$grss" "$gpriv" "$own" $((rss / n)) $((pss / n)) $((gpriv / n)) $((own / n)))
	echo "$sum" | tee -a "$out/results.jsonl"
	[ "$ok" = "$n" ] || { failed=1; say "$name: only $ok of $n clones answered"; }
}

# QEMU's probe: boot_timer needs a VMM to start; the clone is already running, so it starts
# a sleep and only the agent check matters.
for n in $clones; do
	say "$n concurrent clones per VMM"
	clones_run kiln "$n"
	[ "$qemu" = 1 ] && clones_run qemu "$n"
done

{
	echo
	echo "| VMM | clones | answered | RSS total (MiB) | PSS total (MiB) | per clone: PSS | guest pages private | VMM own PSS |"
	echo "|---|---|---|---|---|---|---|---|"
	grep '"type":"clones"' "$out/results.jsonl" | jq -r \
		'"| \(.vmm) | \(.n) | \(.answered) | \(.rss_kib/1024|floor) | \(.pss_kib/1024|floor) | \(.per_clone.pss_kib/1024*10|floor/10) | \(.per_clone.guest_private_kib/1024*10|floor/10) | \(.per_clone.vmm_own_pss_kib/1024*10|floor/10) |"'
} >>"$out/table.md"
cat "$out/table.md" >&2
say "results: $out/{results.jsonl,summary.jsonl,table.md,commands.txt}"
exit "$failed"
