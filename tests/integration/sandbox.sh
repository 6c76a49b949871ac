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

TESTS="sb_create sb_exec sb_exec_stdin sb_exec_prefix sb_cp sb_stop_start
sb_kill9_dead sb_rm_dead sb_create_sigint sb_half_created sb_parallel sb_leftovers"
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

# ---- nothing left ----------------------------------------------------------
left=""
[ -n "$(ls -A "$RT" 2>/dev/null)" ] && left="runtime entries: $(ls -A "$RT" | tr '\n' ' ')"
pgrep -f -- "$RT/" >/dev/null && left="$left processes: $(pgrep -af -- "$RT/" | tr '\n' ';')"
"$KILN" ls --all -q >"$WORK/out" 2>&1
[ -s "$WORK/out" ] && left="$left sandboxes: $(tr '\n' ' ' <"$WORK/out")"
[ -z "$left" ]
report sb_leftovers $? "left behind: $left"

exit $failed
