#!/bin/bash
# SPDX-License-Identifier: MIT
# Persistent sandboxes, the CLI's interactive commands and the API example
# on this host's PVM KVM (guest kernel mode emulated: a restore takes
# seconds, each guest process about one): pvm.sh runs this after it built
# its base snapshot, with KILN_CACHE pointing at it, so every sandbox here
# is a restore.  Few guest processes: one sandbox serves all CLI tests.
#
#   tests/integration/pvm_sandbox.sh KILN_BINARY VMM_BINARY
#
# libkiln.so is taken from KILN_BINARY's directory (the build directory).
# KILN_PVM_CREATES (default 50) creates are started at once (and
# interrupted) by pvm_create_ids/pvm_create_cancel, KILN_PVM_CREATES_OK
# (default 10) by pvm_create_many, which must all succeed, each with
# KILN_PVM_CREATE_TIMEOUT (default 300) s to boot.  One "PASS: name" / "FAIL: name: why" line per test, also for the
# tests a broken run never reached; exit status 1 if any failed.
set -u
KILN=${1:?usage: pvm_sandbox.sh KILN_BINARY VMM_BINARY}
VMM=${2:?usage: pvm_sandbox.sh KILN_BINARY VMM_BINARY}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIBDIR=$(cd "$(dirname "$KILN")" && pwd -P)
# the jail takes only an absolute, clean VMM path (no "..")
VMM=$(cd "$(dirname "$VMM")" && pwd -P)/$(basename "$VMM")
KILN=$LIBDIR/$(basename "$KILN")
WORK=$(mktemp -d /tmp/kiln-pvmsb-XXXXXX)
export KILN_RUNTIME_DIR=$WORK/run KILN_STATE=$WORK/state KILN_VMM=$VMM
RT=$KILN_RUNTIME_DIR
BOOT=${KILN_BOOT_TIMEOUT:-1200}
NCREATE=${KILN_PVM_CREATES:-50}
NMANY=${KILN_PVM_CREATES_OK:-10}
CREATE_TIMEOUT=${KILN_PVM_CREATE_TIMEOUT:-300}
failed=0

TESTS="pvm_exec_user pvm_exec_tty pvm_kill pvm_port_forward pvm_shell pvm_kill9_rm
pvm_api_example pvm_create_ids pvm_create_cancel pvm_create_many pvm_rm_all pvm_sb_leftovers"
declare -A reported

finish() {
	local t
	# a test the run never reached fails, so that a broken run is no pass
	for t in $TESTS; do
		[ -n "${reported[$t]:-}" ] && continue
		echo "FAIL: $t: pvm_sandbox.sh ended before this test ran"
		failed=1
	done
	[ -n "${PF_PID:-}" ] && kill -9 "$PF_PID" 2>/dev/null
	pkill -KILL -f -- "$RT/" 2>/dev/null
	rm -rf "$WORK"
}
trap finish EXIT

report() { # NAME STATUS WHY
	reported[$1]=1
	if [ "$2" = 0 ]; then
		echo "PASS: $1"
		return
	fi
	failed=1
	echo "FAIL: $1: $3"
	[ -s "$WORK/err" ] && head -20 "$WORK/err" | sed 's/^/  | /'
}

k() { # run kiln with a safety timeout; out/err in files, status in RC
	timeout -k 10 $((BOOT + 300)) "$KILN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
}

# field JSON-FILE KEY: a top-level scalar of a JSON object, "null" for null
field() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1])).get(sys.argv[2])
print("null" if v is None else v)' "$1" "$2" 2>/dev/null
}

# ls_state ID: its state in `kiln ls --all --json`, "gone" without a row
ls_state() {
	"$KILN" ls --all --json 2>/dev/null | python3 -c 'import json,sys
print(next((s["state"] for s in json.load(sys.stdin) if s["id"]==sys.argv[1]), "gone"))' "$1"
}

# cgroups ID: the jail's cgroup directories of sandbox ID (v2 or v1)
cgroups() {
	ls -d "/sys/fs/cgroup/kiln/$1" /sys/fs/cgroup/*/kiln/"$1" 2>/dev/null
}

# ptyrun TIMEOUT EXPECT SEND CMD...: CMD on a pseudo-terminal of its own;
# once its output holds EXPECT (empty: at once) SEND is typed.  Prints the
# terminal's output; exits with CMD's status, 124 after TIMEOUT seconds.
ptyrun() {
	python3 -c 'import os, pty, select, sys, time
limit, expect, send = float(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[4], sys.argv[4:])
deadline, out, sent = time.monotonic() + limit, b"", not send
while time.monotonic() < deadline:
    if not sent and expect in out:
        os.write(fd, send)
        sent = True
    if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the last user of the terminal closed it
        data = b""
    if not data:
        break
    out += data
sys.stdout.buffer.write(out)
if time.monotonic() >= deadline:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit(124)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) % 256)' "$@"
}

# relay PORT SEND EXPECT TIMEOUT: connect to 127.0.0.1:PORT, send SEND and
# read until EXPECT came back; connect again (the guest's listener may not
# listen yet) until TIMEOUT seconds passed.  Prints what the last try read.
relay() {
	python3 -c 'import socket, sys, time
port, send, expect = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
deadline, got = time.monotonic() + float(sys.argv[4]), b""
while time.monotonic() < deadline and expect not in got:
    got = b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(send)
        while expect not in got:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
    except OSError:
        pass
    if expect not in got:
        time.sleep(0.2)  # between tries, bounded by the deadline
sys.stdout.buffer.write(got)
sys.exit(0 if expect in got else 1)' "$@"
}

# ---- one sandbox for the CLI's commands ------------------------------------
t0=$SECONDS
k create -q --name cli --json --boot-timeout "$BOOT"
cp "$WORK/out" "$WORK/cli.json"
ID=$(field "$WORK/cli.json" id)
NOSB=
[ "$RC" = 0 ] && [ ${#ID} = 12 ] || NOSB="kiln create failed (rc=$RC): $(head -c 300 "$WORK/err")"
echo "TIME: kiln create (a restore) $((SECONDS - t0)) s"

# exec -u: as the image's nobody (uid 65534)
if [ -z "$NOSB" ]; then
	k exec -u nobody cli -- id -u
	[ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = 65534 ]
	report pvm_exec_user $? "rc=$RC out='$(head -c 200 "$WORK/out")'"
else
	report pvm_exec_user 1 "$NOSB"
fi

# exec -t from a terminal: CMD's stdin is a guest pty, so tty(1) names it
if [ -z "$NOSB" ]; then
	ptyrun 120 "" "" "$KILN" exec -t cli -- tty >"$WORK/out" 2>&1
	RC=$?
	[ "$RC" = 0 ] && grep -q '^/dev/pts/[0-9]*'$'\r''*$' "$WORK/out"
	report pvm_exec_tty $? "rc=$RC out='$(head -c 200 "$WORK/out" | tr '\r' ' ')'"
else
	report pvm_exec_tty 1 "$NOSB"
fi

# kill: a detached sleep, found in `kiln ps`, is gone from it after kill
if [ -z "$NOSB" ]; then
	k exec -d cli -- sleep 1000
	rc1=$RC session=$(cat "$WORK/out")
	k ps cli --json
	spid=$(python3 -c 'import json,sys
print(next(p["pid"] for p in json.load(open(sys.argv[1])) if p["cmdline"]=="sleep 1000"))' \
		"$WORK/out" 2>/dev/null)
	rc2=x
	if [ -n "$spid" ]; then
		k kill cli "$spid"
		rc2=$RC
	fi
	deadline=$((SECONDS + 60))
	left=1
	while [ -n "$spid" ] && [ "$rc2" = 0 ] && [ $SECONDS -lt $deadline ]; do
		k ps cli --json # each one a guest round trip: no pause needed
		[ "$RC" = 0 ] || sleep 0.2 # unless it failed at once; bounded
		python3 -c 'import json,sys
sys.exit(any(p["pid"]==int(sys.argv[2]) for p in json.load(open(sys.argv[1]))))' \
			"$WORK/out" "$spid" && { left=0; break; }
	done
	[ "$rc1" = 0 ] && [ -n "$session" ] && [ -n "$spid" ] && [ "$rc2" = 0 ] && [ $left = 0 ]
	report pvm_kill $? "exec -d rc=$rc1 session='$session' sleep pid='$spid' kill rc=$rc2 still listed=$left"
else
	report pvm_kill 1 "$NOSB"
fi

# port-forward: a guest listener (busybox nc, restarted after each
# connection) gets the host's bytes and its answer comes back
PF_PID=
if [ -z "$NOSB" ]; then
	k exec -d cli -- sh -c 'while :; do echo from-guest | nc -l -p 7000 >>/tmp/pf.in; done'
	rc1=$RC
	timeout -k 5 300 "$KILN" port-forward --json cli 127.0.0.1:0:7000 >"$WORK/pf.out" \
		2>"$WORK/pf.err" </dev/null &
	PF_PID=$!
	deadline=$((SECONDS + 60))
	until [ -s "$WORK/pf.out" ] || [ $SECONDS -ge $deadline ] || ! kill -0 $PF_PID 2>/dev/null; do
		sleep 0.1 # until it listens (its first JSON line); bounded
	done
	port=$(head -1 "$WORK/pf.out" | python3 -c 'import json,sys
print(json.loads(sys.stdin.readline())["port"])' 2>/dev/null)
	got="" rc2=x
	if [ -n "$port" ]; then
		got=$(relay "$port" $'from-host\n' from-guest 90)
		rc2=$?
	fi
	k exec cli -- cat /tmp/pf.in
	kill -INT $PF_PID 2>/dev/null
	wait $PF_PID
	rc3=$?
	PF_PID=
	[ "$rc1" = 0 ] && [ -n "$port" ] && [ "$rc2" = 0 ] && grep -qx from-host "$WORK/out" &&
		grep -q '"event":"connection".*forwarding to 127.0.0.1 port 7000' "$WORK/pf.out" &&
		[ "$rc3" = 0 ]
	report pvm_port_forward $? "listener rc=$rc1 port='$port' relay rc=$rc2 got='$got' guest got='$(head -c 100 "$WORK/out")' port-forward rc after SIGINT=$rc3: $(tail -n 3 "$WORK/pf.out" "$WORK/pf.err" | head -c 600)"
else
	report pvm_port_forward 1 "$NOSB"
fi

# shell: a login shell on a terminal; once it prompts, a line is typed
if [ -z "$NOSB" ]; then
	ptyrun 120 "# " $'echo hi; exit 3\r' "$KILN" shell cli >"$WORK/out" 2>&1
	RC=$?
	[ "$RC" = 3 ] && grep -q '^hi'$'\r''*$' "$WORK/out"
	report pvm_shell $? "rc=$RC (expected the shell's 3) out='$(tail -c 300 "$WORK/out" | tr '\r' ' ')'"
else
	report pvm_shell 1 "$NOSB"
fi

# ---- kill -9 its VMM: `kiln ls` says dead, `kiln rm` removes everything -----
if [ -z "$NOSB" ]; then
	SPID=$(field "$WORK/cli.json" pid)
	VPID=$(pgrep -f -- "--vsock-uds $RT/$ID/" | head -1)
	cg=$(cgroups "$ID" | wc -l)
	[ "$(id -u)" = 0 ] && [ "$cg" = 0 ] && cg="none while it ran (as root, jailed)"
	kill -9 "$VPID"
	deadline=$((SECONDS + 60))
	st=$(ls_state "$ID")
	while [ "$st" != dead ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.1 # until kiln notices the VMM's death; bounded
		st=$(ls_state "$ID")
	done
	k rm cli
	rc1=$RC
	deadline=$((SECONDS + 10))
	while kill -0 "$SPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.05 # its monitor, if rm left it exiting, is reaped by init; bounded
	done
	procs=$(pgrep -f -- "$RT/$ID" | tr '\n' ' ')
	kill -0 "$SPID" 2>/dev/null && procs="$procs monitor $SPID"
	[ -n "$VPID" ] && [ "$st" = dead ] && [ "$rc1" = 0 ] && grep -qx "cli\|$ID" "$WORK/out" &&
		[ -z "$procs" ] && [ ! -e "$RT/$ID/vsock.sock" ] && [ ! -e "$RT/$ID/root.ovl" ] &&
		[ ! -e "$RT/$ID" ] && [ "$(ls_state "$ID")" = gone ] && [ -z "$(cgroups "$ID")" ] &&
		[ "${cg#none}" = "$cg" ]
	report pvm_kill9_rm $? "vmm pid '$VPID' state after kill -9: $st; rm rc=$rc1 out='$(head -c 100 "$WORK/out")'; left: processes '$procs' files '$(ls -A "$RT/$ID" 2>/dev/null | tr '\n' ' ')' row $(ls_state "$ID") cgroups '$(cgroups "$ID" | tr '\n' ' ')' (before: $cg)"
else
	report pvm_kill9_rm 1 "$NOSB"
fi

# ---- examples/run.c, the API example, on the real kernel and image ---------
t0=$SECONDS
cc=${CC:-cc}
case "$LIBDIR" in */san) cc="$cc -fsanitize=address,undefined" ;; esac
mkdir -p "$WORK/lib"
ln -sf "$LIBDIR/libkiln.so" "$WORK/lib/libkiln.so.0" # the soname; the build has no such link
if [ ! -f "$LIBDIR/libkiln.so" ]; then
	report pvm_api_example 1 "no $LIBDIR/libkiln.so"
elif ! $cc -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/examples/run.c" \
	-L"$LIBDIR" -l:libkiln.so -Wl,-rpath,"$WORK/lib" -o "$WORK/example" 2>"$WORK/err"; then
	report pvm_api_example 1 "examples/run.c does not build against $LIBDIR/libkiln.so"
else
	timeout -k 10 $((BOOT + 300)) "$WORK/example" sh -c 'echo out; echo err >&2; exit 3' \
		>"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
	[ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = out ] && grep -qx err "$WORK/err" &&
		grep -qx "exited with 3" "$WORK/err"
	report pvm_api_example $? "rc=$RC out='$(head -c 200 "$WORK/out")'"
fi
echo "TIME: the API example $((SECONDS - t0)) s"

# ---- many creates at once: distinct CIDs and network slots (issue #5) -------
# The regression test for the race of concurrent creates: CIDs and slots
# come from the state store, every sandbox has both (a slot even without a
# network).  pvm_create_ids: NCREATE creates started at once all have their
# rows at the same time, with distinct CIDs and slots.  pvm_create_cancel:
# then all of them are interrupted (SIGINT) while their guests boot; each
# exits 130 and rolls back: no row, VMM or runtime directory is left.  (So
# many guests do not all boot in minutes on this host, where every guest
# kernel instruction is emulated and 2 cores are shared: 0 of 50 in 150 s;
# ten at once take about 20 s.)  pvm_create_many: NMANY creates at once all
# succeed, each row matches its output, and a sample answers with its own
# hostname (kiln-<id>; each guest process costs about a second here).

# start_creates N DIR: N `kiln create --json` at once; pids in $pids
start_creates() {
	local i
	mkdir -p "$2"
	pids=
	for i in $(seq 1 "$1"); do
		timeout -k 10 $((CREATE_TIMEOUT + 120)) "$KILN" create -q --json \
			--boot-timeout "$CREATE_TIMEOUT" >"$2/$i.out" 2>"$2/$i.err" </dev/null &
		pids="$pids $!"
	done
}
# rows_check N: 0 when `kiln ls --json` lists N rows, 2 if two of them
# share a CID or slot, else 1; prints the counts.
rows_check() {
	"$KILN" ls --json 2>/dev/null | python3 -c 'import json,sys
try:
    rows=json.load(sys.stdin)
except ValueError:
    rows=[]
cids, slots = {r["cid"] for r in rows}, {r["net_slot"] for r in rows}
print("%d rows, %d distinct CIDs, %d distinct slots" % (len(rows), len(cids), len(slots)))
sys.exit(2 if len(cids) < len(rows) or len(slots) < len(rows) else int(len(rows) != int(sys.argv[1])))' \
		"$1"
}
any_alive() {
	local p
	for p in $pids; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

t0=$SECONDS
: >"$WORK/err" # the reports below quote their own errors
start_creates "$NCREATE" "$WORK/ids"
deadline=$((SECONDS + CREATE_TIMEOUT))
rows=$(rows_check "$NCREATE")
rc1=$?
while [ "$rc1" = 1 ] && [ $SECONDS -lt $deadline ] && any_alive; do
	sleep 0.2 # until all rows are in; bounded by the deadline and the creates
	rows=$(rows_check "$NCREATE")
	rc1=$?
done
[ "$rc1" = 0 ]
report pvm_create_ids $? "$NCREATE creates at once; last seen: $rows (after $((SECONDS - t0)) s)"
echo "TIME: $NCREATE rows at once after $((SECONDS - t0)) s"

# every create gets SIGINT (timeout's child: the kiln process itself)
t0=$SECONDS
for p in $pids; do pkill -INT -P "$p" 2>/dev/null; done
deadline=$((SECONDS + 180))
while any_alive && [ $SECONDS -lt $deadline ]; do
	sleep 0.5 # the rollbacks; bounded by the deadline
done
codes=
for p in $pids; do
	if kill -0 "$p" 2>/dev/null; then
		codes="$codes alive"
	else
		wait "$p"
		codes="$codes $?"
	fi
done
# (a create that finished before its SIGINT, on a fast host, exits 0 and
# keeps its sandbox: rm --all below removes it)
others=$(tr ' ' '\n' <<<"$codes" | grep -v -e '^$' -e '^130$' -e '^0$' | sort | uniq -c | tr '\n' ' ')
done0=$(tr ' ' '\n' <<<"$codes" | grep -c '^0$')
k ls --all --json
left=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/out" 2>/dev/null)
[ -z "$others" ] && [ "$left" = "$done0" ] &&
	[ "$(pgrep -f -- "$RT/" | wc -l)" -le "$done0" ] && [ "$(ls -A "$RT" 2>/dev/null | wc -l)" = "$done0" ]
report pvm_create_cancel $? "exit codes other than 130 or 0: ${others:-none}; $done0 finished first; rows left: ${left:-?}; processes: $(pgrep -f -- "$RT/" | wc -l); runtime dirs: $(ls -A "$RT" 2>/dev/null | wc -l)"
echo "TIME: $NCREATE creates interrupted and rolled back in $((SECONDS - t0)) s"

t0=$SECONDS
start_creates "$NMANY" "$WORK/many"
okc=0 i=0 firsterr=
for p in $pids; do
	i=$((i + 1))
	if wait "$p"; then
		okc=$((okc + 1))
	elif [ -z "$firsterr" ]; then
		firsterr="create $i: $(grep -v '^ ' "$WORK/many/$i.err" | tr '\n' ' ' | head -c 300)"
	fi
done
tcreate=$((SECONDS - t0))
k ls --json
cp "$WORK/out" "$WORK/many/ls.json"
python3 -c 'import json,sys
n=int(sys.argv[2])
made=[json.load(open("%s/%d.out" % (sys.argv[3], i))) for i in range(1, n+1)
      if open("%s/%d.out" % (sys.argv[3], i)).read().strip()]
rows={s["id"]: s for s in json.load(open(sys.argv[1]))}
cids=[rows[m["id"]]["cid"] for m in made if m["id"] in rows]
slots=[rows[m["id"]]["net_slot"] for m in made if m["id"] in rows]
bad=[m["id"] for m in made if m["id"] not in rows or rows[m["id"]]["state"]!="running"
     or rows[m["id"]]["cid"]!=m["cid"] or rows[m["id"]]["net_slot"]!=m["net_slot"]]
print("created %d of %d, %d distinct CIDs, %d distinct slots, not running/mismatched: %s"
      % (len(made), n, len(set(cids)), len(set(slots)), bad[:5]))
print(" ".join(m["id"] for m in made), file=open(sys.argv[3] + "/ids", "w"))
sys.exit(not (len(made)==n and len(set(cids))==n and len(set(slots))==n and not bad))' \
	"$WORK/many/ls.json" "$NMANY" "$WORK/many" >"$WORK/many/check" 2>&1
rc1=$?
read -r -a ids 2>/dev/null <"$WORK/many/ids" || ids=()
sample=0 badsample=
n=${#ids[@]}
if [ "$n" -gt 0 ]; then
	for j in 0 $((n / 2)) $((n - 1)); do
		k exec "${ids[$j]}" -- cat /proc/sys/kernel/hostname
		if [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = "kiln-${ids[$j]}" ]; then
			sample=$((sample + 1))
		else
			badsample="$badsample ${ids[$j]}:rc=$RC:$(head -c 60 "$WORK/out")"
		fi
	done
fi
[ "$okc" = "$NMANY" ] && [ "$rc1" = 0 ] && [ "$sample" = 3 ]
report pvm_create_many $? "$okc of $NMANY creates succeeded in $tcreate s; $(head -c 300 "$WORK/many/check"); hostname sample: $sample of 3 right$badsample; first failure: $firsterr"
echo "TIME: $NMANY creates at once $tcreate s, with the checks $((SECONDS - t0)) s"

t0=$SECONDS
k rm --all --force
rc1=$RC
removed=$(grep -c . "$WORK/out")
leftcg=
for id in "${ids[@]}"; do leftcg="$leftcg$(cgroups "$id")"; done
k ls --all --json
[ "$rc1" = 0 ] && [ "$removed" = "$((n + done0))" ] && [ "$(tr -d ' \n' <"$WORK/out")" = "[]" ] &&
	! pgrep -f -- "$RT/" >/dev/null && [ -z "$(ls -A "$RT" 2>/dev/null)" ] &&
	[ -z "$(find "$WORK" -name root.ovl)" ] && [ -z "$leftcg" ]
report pvm_rm_all $? "rm rc=$rc1 removed $removed of $n; ls: $(head -c 100 "$WORK/out"); processes: $(pgrep -f -- "$RT/" | wc -l); runtime dirs: $(ls -A "$RT" 2>/dev/null | wc -l); cgroups: $(echo "$leftcg" | head -c 200)"
echo "TIME: kiln rm --all --force of $n $((SECONDS - t0)) s"

# ---- nothing left: no VMM, no runtime directory, no row ----------------------
k ls --all --json
[ "$(tr -d ' \n' <"$WORK/out")" = "[]" ] && ! pgrep -f -- "$RT/" >/dev/null &&
	[ -z "$(ls -A "$RT" 2>/dev/null)" ]
report pvm_sb_leftovers $? "rows: $(head -c 200 "$WORK/out"); processes: $(pgrep -f -- "$RT/" | tr '\n' ' '); runtime: $(ls -A "$RT" 2>/dev/null | tr '\n' ' ')"
exit $failed
