#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot/restore tests on real microVMs (kiln-vmm directly, its REST API
# through curl, the agent through tests/integration/vsock_exec.c).  run.sh
# calls this on a host with /dev/kvm or inside the nested-KVM L1 guest.
#
#   tests/integration/snapshot.sh BUILD_DIR VSOCK_EXEC_BINARY
#
# Boot the base image with the agent; pause/resume cycles; pause, snapshot,
# kill -9 the VMM; restore in a new kiln-vmm on another vsock socket and run
# "echo restored" through the agent; two restores of one snapshot at once;
# truncated/corrupt state files and a foreign memory file are refused with
# exit status 1 and a clear message; a copy-on-write root (base + overlay)
# is snapshotted, its overlay copied while paused and restored with
# --drive-override.  One "PASS/FAIL/SKIP: name" line per
# test, timings as "TIME: ..." lines.
set -u
BUILD=${1:?usage: snapshot.sh BUILD_DIR VSOCK_EXEC}
VX=${2:?usage: snapshot.sh BUILD_DIR VSOCK_EXEC}
VMM=$BUILD/kiln-vmm
CACHE=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
KERNEL=$CACHE/kernel/vmlinux
IMAGE=$CACHE/images/base.ext4
BOOT_MS=$((${KILN_BOOT_TIMEOUT:-300} * 1000))
W=$(mktemp -d /tmp/kiln-snap-XXXXXX)
PIDS=()
failed=0

TESTS="snap_boot vmm_seccomp snap_pause_cycles snap_create snap_restore snap_restore_twice
snap_api_load snap_diff_create snap_diff_restore snap_overlay_snapshot snap_overlay_restore
snap_overlay_missing snap_corrupt_truncated snap_corrupt_checksum snap_wrong_mem snap_leftovers"

cleanup() {
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT

if [ ! -c /dev/kvm ]; then
	for t in $TESTS; do echo "SKIP: $t: /dev/kvm not available"; done
	exit 0
fi

report() { # NAME STATUS WHY [LOG]
	if [ "$2" = 0 ]; then
		echo "PASS: $1"
		return
	fi
	echo "FAIL: $1: $3"
	failed=1
	if [ -n "${4:-}" ] && [ -f "$4" ]; then
		tail -30 "$4" | sed 's/^/  | /'
	fi
}

# api SOCK METHOD PATH JSON: the HTTP status on stdout.
api() {
	curl -s -o "$W/api.out" -w '%{http_code}' --max-time 60 \
		--unix-socket "$1" -X "$2" "http://localhost$3" \
		-H 'Content-Type: application/json' -d "$4"
}

# exec_in SOCK TIMEOUT_MS CMD...: stdout to $W/out, status in $RC
exec_in() {
	local s=$1 t=$2
	shift 2
	timeout -k 5 $((t / 1000 + 30)) "$VX" "$s" "$t" "$@" >"$W/out" 2>"$W/xerr"
	RC=$?
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- boot --------------------------------------------------------------
"$VMM" --kernel "$KERNEL" --memory 256 --cpus 1 \
	--cmdline "console=ttyS0 panic=-1 reboot=t root=/dev/vda ro init=/sbin/kiln-agent" \
	--drive "$IMAGE,ro" --vsock-cid 3 --vsock-uds "$W/v1.sock" --rng \
	--console "$W/console1.log" --api-sock "$W/api1.sock" --track-dirty \
	2>"$W/vmm1.err" &
VMM1=$!
PIDS+=("$VMM1")
exec_in "$W/v1.sock" "$BOOT_MS" echo booted
[ "$RC" = 0 ] && [ "$(cat "$W/out")" = booted ]
report snap_boot $? "rc=$RC out='$(head -c 200 "$W/out")' $(cat "$W/xerr")" "$W/vmm1.err"

# Every thread of the running VMM is under a seccomp filter (mode 2).
modes=$(cat /proc/"$VMM1"/task/*/status 2>/dev/null | sed -n 's/^Seccomp:[[:space:]]*//p' | sort | uniq -c | tr -s ' ')
threads=$(ls /proc/"$VMM1"/task | wc -l)
[ "$threads" -ge 2 ] && [ "$(echo "$modes" | sed 's/^ *//')" = "$threads 2" ]
report vmm_seccomp $? "threads $threads, Seccomp modes: $modes"

# ---- pause/resume: 100 cycles while the guest is busy, then it answers ----
# Two CPU-bound loops for 20 s (they end by themselves, before the snapshot).
exec_in "$W/v1.sock" 60000 sh -c 'for i in 1 2; do (e=$(($(date +%s) + 20)); while [ $(date +%s) -lt $e ]; do :; done) >/dev/null 2>&1 & done; echo busy'
ok=0
[ "$RC" = 0 ] || { ok=1; why="could not start the busy loops: rc=$RC"; }
for i in $(seq 1 100); do
	[ $ok = 0 ] || break
	a=$(api "$W/api1.sock" PATCH /vm '{"state": "Paused"}')
	b=$(api "$W/api1.sock" PATCH /vm '{"state": "Resumed"}')
	case "$a$b" in 2??2??) ;; *) ok=1; why="cycle $i: pause $a resume $b: $(cat "$W/api.out")"; break ;; esac
done
if [ $ok = 0 ]; then
	exec_in "$W/v1.sock" 60000 echo alive
	[ "$RC" = 0 ] && [ "$(cat "$W/out")" = alive ] || { ok=1; why="rc=$RC after 100 cycles"; }
fi
report snap_pause_cycles $ok "${why:-}" "$W/vmm1.err"

# ---- snapshot ----------------------------------------------------------
# A marker in the guest's tmpfs proves the memory came back, not a reboot.
exec_in "$W/v1.sock" 60000 sh -c 'echo before-snapshot >/tmp/marker && echo ok'
a=$(api "$W/api1.sock" PATCH /vm '{"state": "Paused"}')
t0=$(date +%s%N)
b=$(api "$W/api1.sock" PUT /snapshot/create \
	"{\"snapshot_path\": \"$W/state\", \"mem_file_path\": \"$W/mem\"}")
snap_ms=$(ms_since "$t0")
ok=1
case "$a$b" in 2??2??) [ -s "$W/state" ] && [ -s "$W/mem" ] && ok=0 ;; esac
report snap_create $ok "pause $a create $b: $(cat "$W/api.out")" "$W/vmm1.err"
echo "TIME: snapshot create (256 MiB guest) ${snap_ms} ms over the API; $(grep -o 'snapshot .* written in .*' "$W/vmm1.err" | tail -1)"
echo "TIME: memory file $(du -k "$W/mem" | cut -f1) KiB on disk (sparse), state $(du -k "$W/state" | cut -f1) KiB"

# ---- a diff snapshot on top of it (dirty pages since the full one) ---------
b=$(api "$W/api1.sock" PATCH /vm '{"state": "Resumed"}')
exec_in "$W/v1.sock" 60000 sh -c 'echo after-full >/tmp/marker2 && echo ok'
a=$(api "$W/api1.sock" PATCH /vm '{"state": "Paused"}')
c=$(api "$W/api1.sock" PUT /snapshot/create \
	"{\"snapshot_path\": \"$W/state2\", \"mem_file_path\": \"$W/mem2\", \"snapshot_type\": \"Diff\"}")
ok=1
case "$b$a$c" in 2??2??2??) [ -s "$W/state2" ] && [ -s "$W/mem2" ] && ok=0 ;; esac
report snap_diff_create $ok "resume $b pause $a diff $c: $(cat "$W/api.out")" "$W/vmm1.err"
echo "TIME: $(grep -o 'diff snapshot .* written in .*' "$W/vmm1.err" | tail -1)"
kill -9 "$VMM1"
wait "$VMM1" 2>/dev/null

# The guest resets vsock connections when it handles the TRANSPORT_RESET the
# restore posts; a connection made before that is closed (a known race in
# the vsock device, see the report): retry such a failure, at most twice.
exec_restored() { # SOCK CMD...
	local s=$1 try
	shift
	for try in 1 2 3; do
		exec_in "$s" 120000 "$@"
		[ "$RC" = 125 ] && grep -q "closed the connection" "$W/xerr" || return
		echo "NOTE: $s: agent connection closed right after the restore (try $try)"
	done
}

# ---- restore in a new process on another vsock socket --------------------
t0=$(date +%s%N)
"$VMM" --restore "$W/state" --restore-mem "$W/mem" --vsock-uds "$W/v2.sock" \
	--console "$W/console2.log" 2>"$W/vmm2.err" &
VMM2=$!
PIDS+=("$VMM2")
exec_restored "$W/v2.sock" sh -c 'cat /tmp/marker; [ -e /tmp/marker2 ] || echo restored'
answer_ms=$(ms_since "$t0")
[ "$RC" = 0 ] && [ "$(cat "$W/out")" = "$(printf 'before-snapshot\nrestored')" ]
report snap_restore $? "rc=$RC out='$(head -c 200 "$W/out")' $(cat "$W/xerr")" "$W/vmm2.err"
echo "TIME: $(grep -h 'restored .* in\|first KVM_RUN' "$W/vmm2.err" | tr '\n' ' ')"
echo "TIME: restore process start to agent exec answered: ${answer_ms} ms"
kill -TERM "$VMM2"
wait "$VMM2"
rc2=$?

# ---- two restores of one snapshot at once --------------------------------
for n in 3 4; do
	"$VMM" --restore "$W/state" --restore-mem "$W/mem" --vsock-uds "$W/v$n.sock" \
		--console none 2>"$W/vmm$n.err" &
	eval "VMM$n=\$!"
	PIDS+=("$!")
done
exec_restored "$W/v3.sock" echo three
o3=$(cat "$W/out") r3=$RC
exec_restored "$W/v4.sock" echo four
o4=$(cat "$W/out") r4=$RC
[ "$r3$o3" = 0three ] && [ "$r4$o4" = 0four ] && [ "$rc2" = 4 ]
report snap_restore_twice $? "first: rc=$r3 '$o3'; second: rc=$r4 '$o4'; SIGTERM exit $rc2" "$W/vmm4.err"
kill -TERM "$VMM3" "$VMM4"
wait "$VMM3" "$VMM4" 2>/dev/null

# ---- Firecracker flow: kiln-vmm with only an API socket, PUT /snapshot/load
# (paused, another vsock socket, the root drive overridden), then resume ----
cp --sparse=always "$IMAGE" "$W/root-copy.ext4"
"$VMM" --api-sock "$W/api5.sock" --console none 2>"$W/vmm5.err" &
VMM5=$!
PIDS+=("$VMM5")
for i in $(seq 1 600); do # the socket appears within milliseconds
	[ -S "$W/api5.sock" ] && break
	sleep 0.1
done
a=$(api "$W/api5.sock" PUT /snapshot/load "{\"snapshot_path\": \"$W/state\",
	\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/mem\"},
	\"vsock_override\": {\"uds_path\": \"$W/v5.sock\"},
	\"drive_overrides\": [{\"drive_id\": \"drive0\", \"path_on_host\": \"$W/root-copy.ext4\"}],
	\"resume_vm\": false}")
a_out=$(cat "$W/api.out")
st=$(api "$W/api5.sock" GET /vm/config "" ; cat "$W/api.out")
# resume_vm=false: loaded but paused until PATCH /vm Resumed
s1=$(api "$W/api5.sock" GET / "" ; cat "$W/api.out")
b=$(api "$W/api5.sock" PATCH /vm '{"state": "Resumed"}')
s2=$(api "$W/api5.sock" GET / "" ; cat "$W/api.out")
exec_restored "$W/v5.sock" sh -c 'cat /tmp/marker'
[ "${a:0:1}" = 2 ] && [ "${b:0:1}" = 2 ] && [ "$RC" = 0 ] &&
	[ "$(cat "$W/out")" = before-snapshot ] && echo "$st" | grep -q root-copy.ext4 &&
	echo "$s1" | grep -q '"state": *"Paused"' && echo "$s2" | grep -q '"state": *"Running"'
report snap_api_load $? "load $a ($a_out) state after load: ${s1:0:120}; resume $b state: ${s2:0:120}; rc=$RC out='$(head -c 100 "$W/out")' config: ${st:0:300}" "$W/vmm5.err"
kill -TERM "$VMM5"
wait "$VMM5" 2>/dev/null

# ---- restore the diff: both markers -----------------------------------------
"$VMM" --restore "$W/state2" --restore-mem "$W/mem2" --vsock-uds "$W/v6.sock" \
	--console none 2>"$W/vmm6.err" &
VMM6=$!
PIDS+=("$VMM6")
exec_restored "$W/v6.sock" sh -c 'cat /tmp/marker /tmp/marker2'
[ "$RC" = 0 ] && [ "$(cat "$W/out")" = "$(printf 'before-snapshot\nafter-full')" ]
report snap_diff_restore $? "rc=$RC out='$(head -c 200 "$W/out")' $(cat "$W/xerr")" "$W/vmm6.err"
kill -TERM "$VMM6"
wait "$VMM6" 2>/dev/null

# ---- copy-on-write root disk: the base is shared and never written, the
# guest's writes go to an overlay; snapshot while paused, copy the overlay,
# restore on the copy with --drive-override, read the file back from disk --
base_sum=$(md5sum <"$IMAGE")
"$VMM" --kernel "$KERNEL" --memory 256 --cpus 1 \
	--cmdline "console=ttyS0 panic=-1 reboot=t root=/dev/vda rw init=/sbin/kiln-agent" \
	--drive "$IMAGE,overlay=$W/root.ovl" --vsock-cid 3 --vsock-uds "$W/v7.sock" --rng \
	--console "$W/console7.log" --api-sock "$W/api7.sock" 2>"$W/vmm7.err" &
VMM7=$!
PIDS+=("$VMM7")
ok=1
# / is the virtio disk itself (rw, so the agent skips its tmpfs overlay)
exec_in "$W/v7.sock" "$BOOT_MS" sh -c 'echo cow-data >/cow-marker && sync && awk '"'"'$2 == "/" {print $1, substr($4, 1, 2)}'"'"' /proc/mounts | tail -1'
o7=$(cat "$W/out") r7=$RC
a=$(api "$W/api7.sock" PATCH /vm '{"state": "Paused"}')
b=$(api "$W/api7.sock" PUT /snapshot/create \
	"{\"snapshot_path\": \"$W/state7\", \"mem_file_path\": \"$W/mem7\"}")
b_out=$(cat "$W/api.out")
# paused: the overlay is complete and does not change while we copy it
case "$o7" in "/dev/root rw" | "/dev/vda rw") root_ok=0 ;; *) root_ok=1 ;; esac
cp --sparse=always "$W/root.ovl" "$W/root.ovl.copy" && cmp -s "$W/root.ovl" "$W/root.ovl.copy" &&
	[ "$r7" = 0 ] && [ $root_ok = 0 ] && [ "${a:0:1}${b:0:1}" = 22 ] && [ -s "$W/state7" ] && ok=0
[ "$r7" = 0 ] || cat "$W/vmm7.err" >>"$W/console7.log"
report snap_overlay_snapshot $ok "boot rc=$r7 root mount '$o7' $(head -c 200 "$W/xerr"); pause $a create $b ($b_out)" "$W/console7.log"
kill -9 "$VMM7"
wait "$VMM7" 2>/dev/null

"$VMM" --restore "$W/state7" --restore-mem "$W/mem7" --vsock-uds "$W/v8.sock" \
	--drive-override "drive0=$W/root.ovl.copy" --api-sock "$W/api8.sock" \
	--console none 2>"$W/vmm8.err" &
VMM8=$!
PIDS+=("$VMM8")
# drop the page cache so the file really comes from the copied overlay
exec_restored "$W/v8.sock" sh -c 'sync; echo 3 >/proc/sys/vm/drop_caches && cat /cow-marker'
r8=$RC o8=$(cat "$W/out")
cfg8=$(api "$W/api8.sock" GET /vm/config "" ; cat "$W/api.out")
[ "$r8" = 0 ] && [ "$o8" = cow-data ] && echo "$cfg8" | grep -q "root.ovl.copy" &&
	[ "$(md5sum <"$IMAGE")" = "$base_sum" ]
report snap_overlay_restore $? "rc=$r8 out='$(head -c 200 "$W/out")' $(head -c 200 "$W/xerr"); config: ${cfg8:0:300}; base checksum before $base_sum after $(md5sum <"$IMAGE")" "$W/vmm8.err"
kill -TERM "$VMM8"
wait "$VMM8" 2>/dev/null

# A missing overlay is refused: made anew it would be empty, and the
# restored guest would lose what it wrote before the snapshot.
timeout -k 5 60 "$VMM" --restore "$W/state7" --restore-mem "$W/mem7" \
	--drive-override "drive0=$W/no-such.ovl" --vsock-uds "$W/bad.sock" \
	--console none 2>"$W/bad.err"
rc=$?
[ $rc = 1 ] && grep -q "overlay $W/no-such.ovl: No such file" "$W/bad.err" && [ ! -e "$W/no-such.ovl" ]
report snap_overlay_missing $? "rc=$rc: $(head -c 300 "$W/bad.err")"

# ---- bad snapshots are refused, exit status 1 ---------------------------
refused() { # NAME STATE MEM PATTERN
	timeout -k 5 60 "$VMM" --restore "$2" --restore-mem "$3" \
		--vsock-uds "$W/bad.sock" --console none 2>"$W/bad.err"
	local rc=$?
	[ $rc = 1 ] && grep -q "$4" "$W/bad.err" && [ ! -e "$W/bad.sock" ]
	report "$1" $? "rc=$rc: $(head -c 300 "$W/bad.err")"
}
size=$(stat -c %s "$W/state")
head -c $((size / 2)) "$W/state" >"$W/state.trunc"
refused snap_corrupt_truncated "$W/state.trunc" "$W/mem" "truncated"
cp "$W/state" "$W/state.flip"
printf '\xff' | dd of="$W/state.flip" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
refused snap_corrupt_checksum "$W/state.flip" "$W/mem" "corrupt"
cp --sparse=always "$W/mem" "$W/mem.copy"
refused snap_wrong_mem "$W/state" "$W/mem.copy" "not the one written with this snapshot"

# ---- nothing left running ------------------------------------------------
left=$(pgrep -af -- "$W/" | grep -v pgrep)
[ -z "$left" ]
report snap_leftovers $? "processes left: $left"
exit $failed
