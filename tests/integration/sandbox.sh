#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration tests of persistent sandboxes (kiln create/ls/inspect/exec/cp/
# stop/start/rm) on real microVMs.  run.sh (t_sandbox) calls this directly on
# a host with /dev/kvm, or inside the nested-KVM L1 guest on a host without.
#
#   tests/integration/sandbox.sh KILN_BINARY
#
# Prints one "PASS: name", "FAIL: name: why" or "SKIP: name: why" line per
# test; exit status 1 if any failed.  The runtime and state directories are
# private to the run; at the end no kiln-vmm may be left running and the
# runtime directory must be empty.
set -u
KILN=${1:?usage: sandbox.sh KILN_BINARY}
WORK=$(mktemp -d /tmp/kiln-sb-XXXXXX)
export KILN_RUNTIME_DIR=$WORK/run KILN_STATE=$WORK/state
RT=$KILN_RUNTIME_DIR
BOOT=${KILN_BOOT_TIMEOUT:-300}
failed=0

finish() {
	# whatever a failed test left: kill it, so L1 can shut down
	pkill -KILL -f -- "$RT/" 2>/dev/null
	rm -rf "$WORK"
}
trap finish EXIT

TESTS="sb_create sb_exec sb_exec_stdin sb_exec_prefix sb_cp sb_cp_r sb_exec_cap sb_fs sb_pause
sb_pause_exec_refused sb_resume sb_pause_stop sb_pause_dead sb_pause_rm sb_stop_start
sb_kill9_dead sb_rm_dead sb_create_sigint sb_half_created sb_parallel
sb_checkpoint sb_rollback sb_rollback_again sb_checkpoint_errors sb_create_from
sb_fork sb_fork_named sb_snapshot_rm sb_rm_checkpoints sb_hooks sb_hook_veto sb_leftovers"
if [ ! -c /dev/kvm ]; then
	for t in $TESTS; do echo "SKIP: $t: /dev/kvm not available"; done
	exit 0
fi

k() { # run kiln with a safety timeout; out/err in files, status in RC
	timeout -k 10 $((BOOT + 300)) "$KILN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
}

report() { # NAME STATUS WHY
	if [ "$2" = 0 ]; then
		echo "PASS: $1"
		return
	fi
	echo "FAIL: $1: $3"
	failed=1
	echo "  --- stderr:"
	head -40 "$WORK/err" | sed 's/^/  | /'
}

# field JSON-FILE KEY: a top-level scalar of a JSON object (python3, always
# on the host image), "null" for null
field() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1])).get(sys.argv[2])
print("null" if v is None else v)' "$1" "$2"
}

state_of() { # SANDBOX -> state via inspect --json
	"$KILN" inspect --json "$1" >"$WORK/insp" 2>/dev/null || { echo gone; return; }
	field "$WORK/insp" state
}

# ---- create, exec, cp ------------------------------------------------------
k create -q --name web --json
cp "$WORK/out" "$WORK/web.json"
ID=$(field "$WORK/web.json" id 2>/dev/null)
PID=$(field "$WORK/web.json" pid 2>/dev/null)
[ "$RC" = 0 ] && [ ${#ID} = 12 ] && [ "$(field "$WORK/web.json" state)" = running ] &&
	kill -0 "$PID" 2>/dev/null && [ -S "$RT/$ID/vsock.sock" ] &&
	[ "$(ps -o sid= -p "$PID" | tr -d ' ')" = "$PID" ]
report sb_create $? "rc=$RC json=$(head -c 300 "$WORK/out")"

k exec web -- sh -c 'echo out; echo err >&2; exit 7'
[ "$RC" = 7 ] && [ "$(cat "$WORK/out")" = out ] && [ "$(cat "$WORK/err")" = err ]
report sb_exec $? "rc=$RC out='$(head -c 200 "$WORK/out")'"

printf 'a\nb\n' | timeout 120 "$KILN" exec -i web -e X=1 -w /tmp -- sh -c 'wc -l; echo $X; pwd' \
	>"$WORK/out" 2>"$WORK/err"
RC=$?
[ "$RC" = 0 ] && [ "$(tr -d ' ' <"$WORK/out")" = "$(printf '2\n1\n/tmp')" ]
report sb_exec_stdin $? "rc=$RC out='$(head -c 200 "$WORK/out")'"

k exec "${ID:0:5}" -- true
rc1=$RC
k exec nosuchbox -- true
[ "$rc1" = 0 ] && [ "$RC" = 125 ] && grep -q "no sandbox with id, id prefix or name 'nosuchbox'" "$WORK/err"
report sb_exec_prefix $? "prefix rc=$rc1, unknown rc=$RC"

head -c 300000 /dev/urandom >"$WORK/blob"
chmod 0750 "$WORK/blob"
k cp "$WORK/blob" web:/tmp/
rc1=$RC
k exec web -- stat -c %a:%s /tmp/blob
meta=$(cat "$WORK/out")
k cp web:/tmp/blob "$WORK/back"
[ "$rc1" = 0 ] && [ "$meta" = 750:300000 ] && [ "$RC" = 0 ] && cmp -s "$WORK/blob" "$WORK/back"
report sb_cp $? "in rc=$rc1 meta=$meta out rc=$RC"

# kiln cp -r: a tree (nested dirs, modes, a symlink, a 2 MiB file) into the
# guest and back; without -r a directory is refused with a hint.
test_cp_r() {
	local t=$WORK/tree rc0 rc1 rc2 rc3 rc4 rc5 meta
	mkdir -p "$t/a/b" && chmod 0700 "$t/a/b"
	head -c 2097152 /dev/urandom >"$t/big" && chmod 0640 "$t/big"
	printf 'run\n' >"$t/a/b/x.sh" && chmod 0755 "$t/a/b/x.sh"
	ln -s a/b/x.sh "$t/link"
	k cp "$t" web:/tmp/up
	rc0=$RC
	grep -q 'is a directory; use kiln cp -r' "$WORK/err" || rc0=x$rc0
	k cp -r "$t" web:/tmp/up
	rc1=$RC
	k exec web -- sh -c 'cd /tmp/up && stat -c "%n %a %s" big a/b/x.sh && stat -c "%n %a" a/b && readlink link'
	meta=$(tr '\n' ' ' <"$WORK/out")
	k cp -r web:/tmp/up "$WORK/down"
	rc2=$RC
	k cp -r "$t" web:/tmp/up # an existing directory: into it, as up/tree
	rc3=$RC
	k exec web -- cmp /tmp/up/big /tmp/up/tree/big
	rc4=$RC
	k cp -r -u user "$t" web:/tmp/owned # the image's user, uid/gid 1000
	rc5=$RC
	k exec web -- stat -c %u:%g /tmp/owned /tmp/owned/a/b/x.sh
	[ "$rc0" = 125 ] && [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$rc3" = 0 ] && [ "$rc4" = 0 ] &&
		[ "$rc5" = 0 ] && [ "$(tr '\n' ' ' <"$WORK/out")" = "1000:1000 1000:1000 " ] &&
		[ "$meta" = "big 640 2097152 a/b/x.sh 755 4 a/b 700 a/b/x.sh " ] &&
		diff -r --no-dereference "$t" "$WORK/down" >/dev/null &&
		[ "$(cd "$t" && find . -printf '%p %m %y\n' | sort)" = \
			"$(cd "$WORK/down" && find . -printf '%p %m %y\n' | sort)" ]
	report sb_cp_r $? "no-r rc=$rc0 in rc=$rc1 meta='$meta' out rc=$rc2 again rc=$rc3 cmp rc=$rc4 -u rc=$rc5 owners: $(tr '\n' ' ' <"$WORK/out")"
}
test_cp_r

# kiln exec --max-output/--json: a capped stream says so (JSON fields, or a
# line on stderr) and the exit status stays the command's
k exec --json --max-output 1000 web -- sh -c 'head -c 5000 /dev/zero | tr "\0" a; echo oops >&2; exit 3'
rc1=$RC
cp "$WORK/out" "$WORK/cap.json"
k exec --max-output 10 web -- head -c 100 /dev/zero
[ "$rc1" = 3 ] && [ "$RC" = 0 ] && [ "$(wc -c <"$WORK/out")" = 10 ] &&
	grep -q '^kiln: stdout capped at 10 bytes (100 produced)' "$WORK/err" &&
	python3 -c 'import json,sys
o = json.load(open(sys.argv[1]))
sys.exit(not (o["exit_code"] == 3 and o["stdout"] == "a" * 1000 and
	o["stdout_bytes"] == 5000 and o["stdout_capped"] is True and
	o["stderr"] == "oops\n" and o["stderr_bytes"] == 5 and
	o["stderr_capped"] is False))' "$WORK/cap.json"
report sb_exec_cap $? "json rc=$rc1 $(head -c 300 "$WORK/cap.json"); plain rc=$RC $(wc -c <"$WORK/out") bytes, err: $(head -c 200 "$WORK/err")"

# kiln fs and kiln cp -u: a tree owned by the image's user (uid 1000), a
# file copied into it as that user, stat/ls/mv/rm/sync, ENOENT is exit 1
test_fs() {
	local rc0 rc1 rc2 rc3 rc4 rc5 rc6
	k fs web mkdir -p -u user /tmp/fsd/a/b
	rc0=$RC
	k cp -u user "$WORK/blob" web:/tmp/fsd/a/b/f
	rc1=$RC
	k fs web mv /tmp/fsd/a/b/f /tmp/fsd/g
	rc2=$RC
	k fs web stat --json /tmp/fsd/g
	rc3=$RC
	cp "$WORK/out" "$WORK/fs_stat.json"
	k fs web ls --json /tmp/fsd
	cp "$WORK/out" "$WORK/fs_ls.json"
	rc4=$RC
	k fs web rm -r /tmp/fsd/a
	rc5=$RC
	k fs web sync
	rc6=$RC
	k fs web stat /tmp/fsd/a
	[ "$rc0$rc1$rc2$rc3$rc4$rc5$rc6" = 0000000 ] && [ "$RC" = 1 ] &&
		python3 -c 'import json,sys
st = json.load(open(sys.argv[1]))
ls = json.load(open(sys.argv[2]))
names = sorted((e["name"], e["type"]) for e in ls["entries"])
sys.exit(not (st["type"] == "file" and st["size"] == 300000 and
	st["uid"] == 1000 and st["gid"] == 1000 and
	names == [("a", "dir"), ("g", "file")] and ls["truncated"] is False))' \
			"$WORK/fs_stat.json" "$WORK/fs_ls.json"
	report sb_fs $? "rcs=$rc0$rc1$rc2$rc3$rc4$rc5$rc6 stat-after-rm rc=$RC stat=$(head -c 200 "$WORK/fs_stat.json") ls=$(head -c 200 "$WORK/fs_ls.json")"
}
test_fs

# ---- pause / resume (a sandbox of its own: pz) ------------------------------
# wait_count SANDBOX ABOVE: poll the guest loop's counter /tmp/n until it
# exceeds ABOVE (60 s deadline); prints the last value read.
wait_count() {
	local n=0 deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		n=$(timeout 60 "$KILN" exec "$1" -- cat /tmp/n 2>/dev/null)
		[ -n "$n" ] && [ "$n" -gt "$2" ] 2>/dev/null && break
		sleep 0.2 # poll interval; bounded by the deadline
	done
	echo "${n:-0}"
}
k create -q --name pz --json
PZPID=$(field "$WORK/out" pid 2>/dev/null)
# a loop that outlives its exec (own session), counting in /tmp/n
k exec pz -- sh -c 'setsid sh -c "i=0; while :; do i=\$((i+1)); echo \$i >/tmp/n; sleep 0.1; done" </dev/null >/dev/null 2>&1 &'
n1=$(wait_count pz 0)
k exec pz -- date +%s
t1=$(cat "$WORK/out")
k pause pz
rc1=$RC out1=$(cat "$WORK/out")
"$KILN" ls >"$WORK/ls" 2>&1
st1=$(state_of pz)
[ "$rc1" = 0 ] && [ "$out1" = pz ] && [ "$st1" = paused ] && grep -q ' pz .*paused' "$WORK/ls" &&
	kill -0 "$PZPID" 2>/dev/null && [ "$n1" -gt 0 ]
report sb_pause $? "rc=$rc1 out=$out1 state=$st1 n1=$n1 ls: $(grep ' pz ' "$WORK/ls")"

k exec pz -- true
rc1=$RC
grep -q "sandbox pz is paused; resume it with 'kiln resume pz'" "$WORK/err"
msg=$?
k pause pz # again: nothing to do
rc2=$RC
k start pz
[ "$rc1" = 125 ] && [ $msg = 0 ] && [ "$rc2" = 0 ] && [ "$RC" = 125 ] && grep -q "is paused" "$WORK/err"
report sb_pause_exec_refused $? "exec rc=$rc1 msg=$msg pause again rc=$rc2 start rc=$RC"

k resume --json pz
cp "$WORK/out" "$WORK/resume.json"
rc1=$RC
n2=$(timeout 60 "$KILN" exec pz -- cat /tmp/n 2>/dev/null)
n3=$(wait_count pz "${n2:-0}")
k exec pz -- date +%s
t2=$(cat "$WORK/out")
[ "$rc1" = 0 ] &&
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(not (len(a) == 1 and a[0]["state"] == "running" and a[0]["name"] == "pz"))' "$WORK/resume.json" &&
	[ "$(state_of pz)" = running ] && [ -n "$n2" ] && [ "$n3" -gt "$n2" ] && [ "$t2" -ge "$t1" ]
report sb_resume $? "rc=$rc1 json=$(head -c 200 "$WORK/resume.json") n2=$n2 n3=$n3 t1=$t1 t2=$t2"

# stop of a paused sandbox: resumed so it powers off, then stopped
k pause pz
rc1=$RC
k stop pz
rc2=$RC
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$(state_of pz)" = stopped ] && ! kill -0 "$PZPID" 2>/dev/null
report sb_pause_stop $? "pause rc=$rc1 stop rc=$rc2 state=$(state_of pz)"

# a paused sandbox whose VMM dies is dead
k start -q pz
rc1=$RC
PZPID=$("$KILN" inspect --json pz >"$WORK/insp" && field "$WORK/insp" pid)
k pause pz
rc2=$RC
kill -9 "$PZPID"
deadline=$((SECONDS + 30))
while kill -0 "$PZPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 0.1 # until init reaped it; bounded
done
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$(state_of pz)" = dead ]
report sb_pause_dead $? "start rc=$rc1 pause rc=$rc2 state=$(state_of pz)"

# rm of a paused sandbox
k start -q pz
rc1=$RC
PZPID=$("$KILN" inspect --json pz >"$WORK/insp" && field "$WORK/insp" pid)
k pause pz
rc2=$RC
k rm pz
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$RC" = 0 ] && [ "$(state_of pz)" = gone ] &&
	! kill -0 "$PZPID" 2>/dev/null
report sb_pause_rm $? "start rc=$rc1 pause rc=$rc2 rm rc=$RC state=$(state_of pz)"

# ---- stop / start ----------------------------------------------------------
k stop web
rc1=$RC
st1=$(state_of web)
"$KILN" ls >"$WORK/ls" 2>&1
"$KILN" ls --all >"$WORK/lsall" 2>&1
hidden=1
grep -q ' web ' "$WORK/ls" && hidden=0
k start -q web
rc2=$RC
k exec web -- echo again
[ "$rc1" = 0 ] && [ "$st1" = stopped ] && ! kill -0 "$PID" 2>/dev/null && [ $hidden = 1 ] &&
	grep -q ' web .*stopped' "$WORK/lsall" && [ "$rc2" = 0 ] && [ "$RC" = 0 ] &&
	[ "$(cat "$WORK/out")" = again ] && [ "$(state_of web)" = running ]
report sb_stop_start $? "stop rc=$rc1 state=$st1 hidden=$hidden start rc=$rc2 exec rc=$RC"

# ---- a VMM killed behind kiln's back ---------------------------------------
PID=$("$KILN" inspect --json web >"$WORK/insp" && field "$WORK/insp" pid)
kill -9 "$PID"
deadline=$((SECONDS + 30))
while kill -0 "$PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 0.1 # until init reaped it; bounded
done
"$KILN" ls >"$WORK/ls" 2>&1
k inspect --json web
cp "$WORK/out" "$WORK/dead.json"
k exec web -- true
[ "$(field "$WORK/dead.json" state)" = dead ] && grep -q ' web .*dead' "$WORK/ls" &&
	[ "$(field "$WORK/dead.json" exit_reason)" != null ] && [ "$RC" = 125 ] &&
	grep -q "is dead, not running" "$WORK/err"
report sb_kill9_dead $? "ls: $(grep web "$WORK/ls"); exec rc=$RC"

# a dead sandbox boots again with its CID, then is removed while running
k start -q web
rc1=$RC
k exec web -- echo back
rc2=$RC
st1=$(state_of web)
cid1=$(field "$WORK/insp" cid)
k rm web
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$st1" = running ] &&
	[ "$cid1" = "$(field "$WORK/web.json" cid)" ] && [ "$RC" = 0 ] &&
	[ "$(state_of web)" = gone ] && [ ! -e "$RT/$ID" ] &&
	! pgrep -f -- "$RT/$ID" >/dev/null
report sb_rm_dead $? "start rc=$rc1 exec rc=$rc2 state=$st1 cid=$cid1 rm rc=$RC"

# SIGINT while kiln create waits for the guest: rolled back, exit 130
"$KILN" create --name intr >"$WORK/intr.out" 2>"$WORK/intr.err" </dev/null &
cpid=$!
deadline=$((SECONDS + 60))
until pgrep -f -- "--vsock-uds $RT/" >/dev/null || [ $SECONDS -ge $deadline ]; do
	sleep 0.01 # until its VMM runs; bounded
done
kill -INT $cpid
wait $cpid
rc1=$?
k ls --all --json
cp "$WORK/intr.err" "$WORK/err"
[ "$rc1" = 130 ] && grep -q "stopped by SIGINT" "$WORK/err" && [ "$(cat "$WORK/out")" = "[]" ] &&
	[ -z "$(ls -A "$RT" 2>/dev/null)" ] && ! pgrep -f -- "--vsock-uds $RT/" >/dev/null
report sb_create_sigint $? "rc=$rc1 ls=$(head -c 100 "$WORK/out") rt=$(ls -A "$RT" 2>/dev/null)"

# ---- a create whose kiln process is killed: rolled back --------------------
# kill -9 kiln as soon as its kiln-vmm runs (the guest is still booting)
"$KILN" create -q --name half >"$WORK/half.out" 2>"$WORK/half.err" </dev/null &
cpid=$!
deadline=$((SECONDS + 60))
hpid=
while [ -z "$hpid" ] && [ $SECONDS -lt $deadline ] && kill -0 $cpid 2>/dev/null; do
	hpid=$(pgrep -f -- "--vsock-uds $RT/" | head -1)
	[ -z "$hpid" ] && sleep 0.01 # until the VMM runs; bounded
done
kill -9 $cpid
wait $cpid 2>/dev/null
k ls --all --json
deadline=$((SECONDS + 30))
while [ -n "$hpid" ] && kill -0 "$hpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
	sleep 0.05 # init reaps the killed VMM; bounded
done
gone=1
[ -n "$hpid" ] && kill -0 "$hpid" 2>/dev/null && gone=0
[ -n "$hpid" ] && [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = "[]" ] && [ $gone = 1 ] &&
	[ -z "$(ls -A "$RT" 2>/dev/null)" ]
report sb_half_created $? "vmm pid '$hpid' gone=$gone ls rc=$RC: $(head -c 200 "$WORK/out"); rt: $(ls -A "$RT" 2>/dev/null)"

# ---- parallel creates: distinct CIDs and slots -----------------------------
for i in 1 2 3; do
	timeout -k 10 $((BOOT + 300)) "$KILN" create -q --name "p$i" >"$WORK/p$i.out" 2>"$WORK/p$i.err" </dev/null &
done
okc=0
for i in 1 2 3; do wait -n && okc=$((okc + 1)); done
k ls --json
python3 -c 'import json,sys
l=json.load(open(sys.argv[1]))
p=[s for s in l if s["name"] in ("p1","p2","p3") and s["state"]=="running"]
assert len(p)==3, p
assert len({s["cid"] for s in p})==3 and len({s["net_slot"] for s in p})==3
' "$WORK/out" 2>"$WORK/py.err"
pyok=$?
k exec p2 -- true
rc1=$RC
k rm --all
[ $okc = 3 ] && [ $pyok = 0 ] && [ "$rc1" = 0 ] && [ "$RC" = 0 ]
report sb_parallel $? "created=$okc check=$(tail -1 "$WORK/py.err") exec=$rc1 rm=$RC $(cat "$WORK"/p*.err | head -5)"

# ---- checkpoint, rollback, fork ---------------------------------------------
# guest files: /root (the root disk: the image under the sandbox's overlay
# file, copied into the checkpoint) and /tmp (a tmpfs: guest memory)
k create -q --name cp --json
rc0=$RC
cp "$WORK/err" "$WORK/create.err"
CPID=$(field "$WORK/out" id 2>/dev/null)
k exec cp -- sh -c 'echo old >/root/f && echo old >/tmp/f'
rc1=$RC
k checkpoint --json cp c1
rc2=$RC
# --json: the checkpoint's object, as snapshot ls shows it
python3 -c 'import json,sys
o=json.load(open(sys.argv[1]))
assert list(o)==["sandbox","sandbox_name","name","created","created_unix","size_bytes","path"], o
assert o["sandbox"]==sys.argv[2] and o["sandbox_name"]=="cp" and o["name"]=="c1", o
' "$WORK/out" "$CPID" 2>"$WORK/py.err"
pyok0=$?
k snapshot ls --json cp
python3 -c 'import json,sys,os
l=json.load(open(sys.argv[1]))
assert [c["name"] for c in l]==["c1"], l
assert l[0]["sandbox"]==sys.argv[2] and l[0]["sandbox_name"]=="cp", l
assert l[0]["size_bytes"]>0 and os.path.isfile(l[0]["path"]+"/mem"), l
assert os.path.isfile(l[0]["path"]+"/root.ovl"), "no disk overlay copy"
' "$WORK/out" "$CPID" 2>"$WORK/py.err"
pyok=$?
k exec cp -- cat /root/f
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ $pyok0 = 0 ] && [ $pyok = 0 ] && [ "$RC" = 0 ] &&
	[ "$(cat "$WORK/out")" = old ] && [ "$(state_of cp)" = running ]
report sb_checkpoint $? "create rc=$rc0 ($(head -c 300 "$WORK/create.err")) exec rc=$rc1 checkpoint rc=$rc2 ls: $(tail -1 "$WORK/py.err") still running: rc=$RC"

# rollback: what was written after the checkpoint is gone, the sandbox runs on
# with the same id, CID and hostname, in a new VMM
pid1=$("$KILN" inspect --json cp >"$WORK/insp" && field "$WORK/insp" pid)
k exec cp -- sh -c 'echo new >/root/f && echo new >/tmp/f && echo x >/root/g'
rc1=$RC
k rollback -q --json cp c1
rc2=$RC
cp "$WORK/out" "$WORK/rollback.json"
k exec cp -- sh -c 'cat /root/f /tmp/f; ls /root/g 2>/dev/null; hostname'
got=$(tr '\n' ' ' <"$WORK/out")
pid2=$("$KILN" inspect --json cp >"$WORK/insp" && field "$WORK/insp" pid)
# --json: the sandbox as it is afterwards (its new VMM) and the checkpoint
python3 -c 'import json,sys
o=json.load(open(sys.argv[1]))
assert list(o)==["sandbox","checkpoint"], o
s,c=o["sandbox"],o["checkpoint"]
assert s["id"]==sys.argv[2] and s["state"]=="running" and str(s["pid"])==sys.argv[3], s
assert c["name"]=="c1" and c["sandbox"]==sys.argv[2], c
' "$WORK/rollback.json" "$CPID" "$pid2" 2>"$WORK/py.err"
pyok=$?
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$RC" = 0 ] && [ "$got" = "old old kiln-$CPID " ] &&
	[ "$pid1" != "$pid2" ] && ! kill -0 "$pid1" 2>/dev/null && [ "$(field "$WORK/insp" state)" = running ] &&
	[ "$(field "$WORK/insp" id)" = "$CPID" ] && [ $pyok = 0 ]
report sb_rollback $? "write rc=$rc1 rollback rc=$rc2 exec rc=$RC got '$got' pids $pid1 -> $pid2 json: $(tail -1 "$WORK/py.err")"

# the checkpoint stays pristine: roll back to it again
k exec cp -- sh -c 'echo newer >/root/f'
rc1=$RC
k rollback -q cp c1
rc2=$RC
k exec cp -- cat /root/f
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = old ]
report sb_rollback_again $? "write rc=$rc1 rollback rc=$rc2 exec rc=$RC got '$(head -c 100 "$WORK/out")'"

k checkpoint cp c1
e1=$RC
grep -q "already has a checkpoint named 'c1'" "$WORK/err" || e1="$e1 (message: $(head -c 200 "$WORK/err"))"
k checkpoint cp .bad
e2=$RC
grep -q "invalid checkpoint name" "$WORK/err" || e2="$e2 (message: $(head -c 200 "$WORK/err"))"
k rollback cp nosuch
e3=$RC
grep -q "no checkpoint named 'nosuch'" "$WORK/err" || e3="$e3 (message: $(head -c 200 "$WORK/err"))"
k checkpoint nosuchbox c2
e4=$RC
k exec cp -- cat /root/f
[ "$e1" = 125 ] && [ "$e2" = 125 ] && [ "$e3" = 125 ] && [ "$e4" = 125 ] && [ "$RC" = 0 ] &&
	[ "$(cat "$WORK/out")" = old ]
report sb_checkpoint_errors $? "duplicate=$e1 bad name=$e2 unknown checkpoint=$e3 unknown sandbox=$e4 still running rc=$RC"

# create from a checkpoint: a new sandbox with cp's files (disk and tmpfs)
# as at c1, its own id, CID and hostname; cp runs on unchanged.  A missing
# checkpoint or a conflicting --memory is refused before anything boots.
cpcid=$("$KILN" inspect --json cp >"$WORK/insp" && field "$WORK/insp" cid)
k create -q --json --name cpb --from cp:c1
rc1=$RC
BID=$(field "$WORK/out" id 2>/dev/null)
bcid=$(field "$WORK/out" cid 2>/dev/null)
k exec cpb -- sh -c 'cat /root/f /tmp/f; hostname'
got=$(tr '\n' ' ' <"$WORK/out")
rc2=$RC
k create -q --from cp:nosuch
e1=$RC
grep -q "no checkpoint named 'nosuch'" "$WORK/err" || e1="$e1 (message: $(head -c 200 "$WORK/err"))"
k create -q --from cp:c1 --memory 512
e2=$RC
grep -q "memory 512 MiB conflicts" "$WORK/err" || e2="$e2 (message: $(head -c 200 "$WORK/err"))"
k rm cpb
rc3=$RC
k exec cp -- cat /root/f
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$got" = "old old kiln-$BID " ] && [ -n "$BID" ] &&
	[ "$BID" != "$CPID" ] && [ -n "$bcid" ] && [ "$bcid" != "$cpcid" ] && [ "$e1" = 125 ] &&
	[ "$e2" = 125 ] && [ "$rc3" = 0 ] && [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = old ]
report sb_create_from $? "create rc=$rc1 id=$BID cid=$bcid (cp: $CPID $cpcid) exec rc=$rc2 got '$got' missing=$e1 memory=$e2 rm rc=$rc3 cp exec rc=$RC"

# fork a sandbox with a running process: it runs on in every fork, each with
# its own hostname; the parent runs on too
k exec cp -- sh -c 'setsid sh -c "while :; do date +%s >/tmp/tick; sleep 1; done" </dev/null >/dev/null 2>&1 &'
rc1=$RC
k fork --count 2 --json cp
rc2=$RC
cp "$WORK/out" "$WORK/forks.json"
FORKS=$(python3 -c 'import json,sys
print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$WORK/forks.json" 2>/dev/null)
nf=0 hosts="" ticking=0 why=""
for f in $FORKS; do
	nf=$((nf + 1))
	k exec "$f" -- hostname
	hosts="$hosts $(cat "$WORK/out")"
	"$KILN" ps --json "$f" >"$WORK/ps.json" 2>"$WORK/ps.err"
	if ! python3 -c 'import json,sys
assert any("/tmp/tick" in p["cmdline"] for p in json.load(open(sys.argv[1])))' "$WORK/ps.json" 2>/dev/null; then
		why="$why $f: loop not in ps ($(head -c 200 "$WORK/ps.err"));"
		continue
	fi
	# the loop really runs: /tmp/tick changes (polled for up to 30 s)
	k exec "$f" -- sh -c 'a=$(cat /tmp/tick); i=0; while [ $i -lt 150 ]; do b=$(cat /tmp/tick); [ "$a" != "$b" ] && { echo "$a $b"; exit 0; }; sleep 0.2; i=$((i + 1)); done; echo "$a $b"; exit 1'
	if [ "$RC" = 0 ]; then
		ticking=$((ticking + 1))
	else
		why="$why $f: tick rc=$RC '$(head -c 100 "$WORK/out")';"
	fi
done
ndistinct=$(echo "$hosts" | tr ' ' '\n' | grep -c .)
nuniq=$(echo "$hosts" | tr ' ' '\n' | grep . | sort -u | wc -l)
k exec cp -- cat /root/f
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ $nf = 2 ] && [ $ticking = 2 ] && [ "$ndistinct" = 2 ] &&
	[ "$nuniq" = 2 ] && ! echo "$hosts" | grep -q "kiln-$CPID" && [ "$RC" = 0 ] &&
	[ "$(cat "$WORK/out")" = old ] && [ "$(state_of cp)" = running ]
report sb_fork $? "bg rc=$rc1 fork rc=$rc2 forks='$FORKS' ticking=$ticking ($why) hosts='$hosts' parent exec rc=$RC"

# forks of a named sandbox are named NAME-fork-K; no hidden snapshot is left
k ls --json
python3 -c 'import json,sys
names=sorted(s["name"] or "" for s in json.load(open(sys.argv[1])))
assert "cp-fork-1" in names and "cp-fork-2" in names, names
' "$WORK/out" 2>"$WORK/py.err"
pyok=$?
left=$(ls -A "$KILN_STATE/checkpoints/$CPID" 2>/dev/null | tr '\n' ' ')
[ $pyok = 0 ] && [ "$left" = "c1 " ]
report sb_fork_named $? "names: $(tail -1 "$WORK/py.err") checkpoint dir: '$left'"

k snapshot rm --json cp c1
rc1=$RC
python3 -c 'import json,sys
l=json.load(open(sys.argv[1]))
assert [(c["name"],c["sandbox"]) for c in l]==[("c1",sys.argv[2])], l
' "$WORK/out" "$CPID" 2>"$WORK/py.err"
pyok=$?
k snapshot ls cp
[ "$rc1" = 0 ] && [ $pyok = 0 ] && ! grep -q c1 "$WORK/out" && [ ! -e "$KILN_STATE/checkpoints/$CPID/c1" ]
report sb_snapshot_rm $? "rm rc=$rc1 json: $(tail -1 "$WORK/py.err") ls: $(tr '\n' ' ' <"$WORK/out" | head -c 200)"

# kiln rm removes a sandbox's checkpoints
k checkpoint cp c2
rc1=$RC
k rm cp $FORKS
rc2=$RC
k snapshot ls --json
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$(cat "$WORK/out")" = "[]" ] && [ ! -e "$KILN_STATE/checkpoints/$CPID" ]
report sb_rm_checkpoints $? "checkpoint rc=$rc1 rm rc=$rc2 ls: $(head -c 200 "$WORK/out")"

# ---- hooks (docs/CLI.md, "Hooks") -------------------------------------------
# A hook command sees every event of hk's life as JSON on stdin, in order; a
# before_create hook that exits non-zero refuses a create (nothing is left).
printf '#!/bin/sh\ncat >>"%s"\n' "$WORK/hook-events" >"$WORK/hook.sh"
cat >"$WORK/veto.sh" <<'VETO'
#!/bin/sh
if grep -q '"sandbox_name":"hk-deny"'; then
	echo "hk-deny is not allowed here" >&2
	exit 1
fi
VETO
chmod 700 "$WORK/hook.sh" "$WORK/veto.sh"
printf '* %s\nbefore_create %s\n' "$WORK/hook.sh" "$WORK/veto.sh" >"$WORK/hooks"
chmod 600 "$WORK/hooks"
export KILN_HOOKS=$WORK/hooks
rcs=""
for c in "create -q --name hk" "stop hk" "start hk" "pause hk" "resume hk" "rm hk"; do
	k $c
	rcs="$rcs $RC"
done
python3 -c 'import json,sys
evs=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine=[e for e in evs if e["sandbox_name"]=="hk"]
got=[e["event"]+("("+e["old_state"]+">"+e["new_state"]+")" if e["event"]=="state_change" else "") for e in mine]
want=["before_create","state_change(>creating)","state_change(creating>running)","after_create",
 "before_stop","state_change(running>stopping)","state_change(stopping>stopped)","after_stop",
 "before_start","state_change(stopped>starting)","state_change(starting>running)","after_start",
 "before_pause","state_change(running>paused)","after_pause",
 "before_resume","state_change(paused>running)","after_resume",
 "before_remove","state_change(running>stopping)","after_remove"]
assert got==want, got
ids={e["sandbox_id"] for e in mine if e["event"]!="before_create"}
assert len(ids)==1 and len(ids.pop())==12, ids
' "$WORK/hook-events" 2>"$WORK/py.err"
[ $? = 0 ] && [ "$rcs" = " 0 0 0 0 0 0" ]
report sb_hooks $? "rcs:$rcs events: $(tail -1 "$WORK/py.err")"

: >"$WORK/hook-events"
k create -q --name hk-deny
rc1=$RC
grep -q "refused: hk-deny is not allowed here" "$WORK/err"
msg=$?
k ls --all -q
python3 -c 'import json,sys
evs=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got=[(e["event"],e.get("phase"),e.get("error_status")) for e in evs if e["sandbox_name"]=="hk-deny"]
assert got==[("before_create",None,None),("error","create","refused by a hook")], got
' "$WORK/hook-events" 2>"$WORK/py.err"
[ $? = 0 ] && [ "$rc1" != 0 ] && [ $msg = 0 ] && ! grep -q hk-deny "$WORK/out" &&
	[ -z "$(ls -A "$RT" 2>/dev/null)" ]
report sb_hook_veto $? "rc=$rc1 msg=$msg events: $(tail -1 "$WORK/py.err") ls: $(tr '\n' ' ' <"$WORK/out")"
unset KILN_HOOKS

# ---- nothing left ----------------------------------------------------------
left=""
[ -n "$(ls -A "$RT" 2>/dev/null)" ] && left="runtime entries: $(ls -A "$RT" | tr '\n' ' ')"
pgrep -f -- "$RT/" >/dev/null && left="$left processes: $(pgrep -af -- "$RT/" | tr '\n' ';')"
"$KILN" ls --all -q >"$WORK/out" 2>&1
[ -s "$WORK/out" ] && left="$left sandboxes: $(tr '\n' ' ' <"$WORK/out")"
[ -z "$left" ]
report sb_leftovers $? "left behind: $left"

exit $failed
