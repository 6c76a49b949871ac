#!/bin/bash
# SPDX-License-Identifier: MIT
# The kiln-vmm jail (docs/SECURITY.md), on this host, without a guest:
# tests/integration/jail_run.c starts kiln-vmm (--api-sock only: it waits
# for its configuration) through the same calls libkiln makes, and the
# checks look at it from outside through /proc.  The test build
# kiln-vmm-jailtest (make BUILD/kiln-vmm-jailtest, -DKILN_JAIL_TEST) probes
# from inside: opening host files, exec, a forbidden system call.
#
#   tests/integration/jail.sh BUILD_DIR
#
# Needs root (namespaces, cgroups, setuid); otherwise every test is SKIP.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=${1:-$ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
VMM=$BUILD_DIR/kiln-vmm
JT=$BUILD_DIR/kiln-vmm-jailtest
TESTS="jail_identity jail_namespaces jail_root_contents jail_cgroup jail_rlimits jail_fds
jail_host_connects jail_note jail_disabled_note jail_tap jail_no_open_outside jail_no_exec jail_seccomp_kills jail_cleanup
jail_relax_seccomp jail_relax_cgroup"

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
skip_all() {
	for t in $TESTS; do echo "SKIP: $t: $1"; done
	exit 0
}
fail_all() { # something make test provides is missing or broken
	for t in $TESTS; do echo "FAIL: $t: $1"; done
	exit 1
}

[ "$(id -u)" = 0 ] || skip_all "needs root"
[ -c /dev/kvm ] || skip_all "no /dev/kvm to put in the jail"
[ -x "$VMM" ] || fail_all "$VMM not built; run make"

WORK=$(mktemp -d /tmp/kiln-jail-test.XXXXXX)
RT=$WORK/run
mkdir -m 0700 "$RT"
DRIVER=$WORK/jail_run
HOLD_PID=
cleanup() {
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

san=
[ "$BUILD_DIR" = "$ROOT/build/san" ] && san="-fsanitize=address,undefined"
if ! ${CC:-cc} -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" \
	-I"$ROOT/src" "$ROOT/tests/integration/jail_run.c" "$BUILD_DIR/libkiln.a" $san \
	-ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl -o "$DRIVER" 2>"$WORK/err"; then
	for t in $TESTS; do fail "$t" "jail_run.c does not build: $(head -c 300 "$WORK/err")"; done
	exit 1
fi
if [ ! -x "$JT" ]; then
	sanarg=
	[ -n "$san" ] && sanarg=SAN=1
	make -s -C "$ROOT" $sanarg "${JT#"$ROOT"/}" >"$WORK/err" 2>&1 ||
		echo "note: cannot build $JT: $(tail -3 "$WORK/err")"
fi

# poll_for FILE PATTERN: wait (up to 10 s) until FILE has a line matching.
poll_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ---- a jailed kiln-vmm waiting for its configuration ----------------------
mkfifo "$WORK/hold"
"$DRIVER" "$RT" "$VMM" <"$WORK/hold" >"$WORK/out" 2>&1 &
HOLD_PID=$!
exec 3>"$WORK/hold"
if ! poll_for "$WORK/out" '^pid '; then
	for t in $TESTS; do fail "$t" "the jailed kiln-vmm did not start: $(head -c 400 "$WORK/out")"; done
	exit 1
fi
PROXY=$(awk '/^pid /{print $2}' "$WORK/out")
DIR=$(awk '/^pid /{print $4}' "$WORK/out")
ID=${DIR##*/}
C=
for ((i = 0; i < 200; i++)); do
	C=$(tr -d ' \n' <"/proc/$PROXY/task/$PROXY/children" 2>/dev/null)
	[ -n "$C" ] && grep -q '^Seccomp:[[:space:]]*2' "/proc/$C/status" 2>/dev/null && break
	sleep 0.05
done
for ((i = 0; i < 200; i++)); do
	[ -S "$DIR/vm/api.sock" ] && break
	sleep 0.05
done
if [ -z "$C" ] || [ ! -S "$DIR/vm/api.sock" ]; then
	fail_all "the jailed kiln-vmm (child '${C:-none}' of $PROXY) did not come up with its seccomp filter and api.sock within 10 s"
fi
ST=/proc/$C/status
field() { awk -v f="$1:" '$1 == f {print $2}' "$ST"; }

# jail_identity: non-root uid/gid, no groups, no capabilities, no_new_privs,
# the seccomp filter, PID 1 of its own PID namespace.
uid=$(field Uid) gid=$(field Gid)
nspid=$(awk '$1 == "NSpid:" {print $3}' "$ST")
groups=$(awk '$1 == "Groups:" {print $2}' "$ST")
if [ -z "$C" ]; then
	fail jail_identity "no VMM process under the proxy $PROXY"
elif [ "$uid" -lt 100000 ] || [ "$gid" != 99999 ] || [ -n "$groups" ]; then
	fail jail_identity "uid $uid gid $gid groups '$groups'"
elif [ "$(field CapEff)" != 0000000000000000 ] || [ "$(field CapPrm)" != 0000000000000000 ] ||
	[ "$(field CapBnd)" != 0000000000000000 ]; then
	fail jail_identity "capabilities left: $(grep ^Cap "$ST" | tr '\n' ' ')"
elif [ "$(field NoNewPrivs)" != 1 ] || [ "$(field Seccomp)" != 2 ]; then
	fail jail_identity "NoNewPrivs $(field NoNewPrivs) Seccomp $(field Seccomp)"
elif [ "$nspid" != 1 ]; then
	fail jail_identity "not PID 1 of its own PID namespace (NSpid: $(grep NSpid "$ST"))"
else
	pass jail_identity
fi

# jail_namespaces: mount, PID, network, IPC, UTS and cgroup namespaces differ.
bad=
for ns in mnt pid net ipc uts cgroup; do
	[ "$(readlink "/proc/$C/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ] && bad="$bad $ns"
done
[ -z "$bad" ] && pass jail_namespaces || fail jail_namespaces "shares the host's:$bad"

# jail_root_contents: exactly kiln-vmm, the device nodes, the runtime
# directory's console and socket, and their parent directories.
want=$( {
	echo .
	for d in "$VMM" "$DIR/console.log" "$DIR/api.sock"; do
		p=$d
		while [ "$p" != / ]; do echo ".$p"; p=$(dirname "$p"); done
	done
	printf '%s\n' ./dev ./dev/kvm ./dev/null ./dev/urandom ./dev/zero
} | sort -u)
# a sanitizer build is dynamically linked: the system library directories
# are mounted too (read-only), not compared here
libs='^\./lib\|^\./usr/lib'
have=$(cd "/proc/$C/root" && find . 2>/dev/null | grep -v "$libs" | sort -u)
want=$(echo "$want" | grep -v "$libs")
[ -n "$san" ] && have=$(echo "$have" | grep -vx '\./usr') && want=$(echo "$want" | grep -vx '\./usr')
if [ "$(readlink "/proc/$C/root")" != / ]; then
	fail jail_root_contents "root is $(readlink "/proc/$C/root"), not its own /"
elif [ "$have" != "$want" ]; then
	fail jail_root_contents "$(diff <(echo "$want") <(echo "$have") | grep '^[<>]' | head -5 | tr '\n' ' ')"
elif [ -e "/proc/$C/root/etc" ] || [ -e "/proc/$C/root/proc" ]; then
	fail jail_root_contents "/etc or /proc visible"
else
	pass jail_root_contents
fi

# jail_cgroup: the VMM is in kiln/<id> with the limits for 1 CPU, 128 MiB.
cg=$(cat "/proc/$C/cgroup")
if [ -d /sys/fs/cgroup/memory ]; then
	mem=$(cat "/sys/fs/cgroup/memory/kiln/$ID/memory.limit_in_bytes" 2>/dev/null)
	cpu=$(cat "/sys/fs/cgroup/cpu/kiln/$ID/cpu.cfs_quota_us" 2>/dev/null)
	pids=$(cat "/sys/fs/cgroup/pids/kiln/$ID/pids.max" 2>/dev/null)
	inall=$(echo "$cg" | grep -c ":\(cpu\|memory\|pids\):/kiln/$ID\$\|:cpu,cpuacct:/kiln/$ID\$")
else
	mem=$(cat "/sys/fs/cgroup/kiln/$ID/memory.max" 2>/dev/null)
	cpu=$(awk '{print $1}' "/sys/fs/cgroup/kiln/$ID/cpu.max" 2>/dev/null)
	pids=$(cat "/sys/fs/cgroup/kiln/$ID/pids.max" 2>/dev/null)
	inall=$(grep -c "^0::/kiln/$ID\$" "/proc/$PROXY/cgroup")
	[ "$inall" = 1 ] && inall=3
fi
if [ "$mem" != $(((2 * 128 + 256) * 1048576)) ] || [ "$cpu" != 100000 ] || [ "$pids" != 65 ]; then
	fail jail_cgroup "limits: memory '$mem' cpu quota '$cpu' pids '$pids'"
elif [ "$inall" -lt 3 ]; then
	fail jail_cgroup "not in kiln/$ID everywhere: $(echo "$cg" "$(cat "/proc/$PROXY/cgroup")" | tr '\n' ' ')"
else
	pass jail_cgroup
fi

# jail_rlimits: no core dumps, a bounded fd table.
lim=/proc/$C/limits
core=$(awk '/^Max core file size/ {print $5}' "$lim")
nofile=$(awk '/^Max open files/ {print $4, $5}' "$lim")
[ "$core" = 0 ] && [ "$nofile" = "4096 4096" ] && pass jail_rlimits ||
	fail jail_rlimits "core '$core' nofile '$nofile'"

# jail_fds: nothing inherited but stdin (/dev/null) and the log.
bad=
for fd in "/proc/$C/fd/"*; do
	t=$(readlink "$fd")
	case "${fd##*/}:$t" in
	0:/dev/null | 1:"$DIR/vmm.log" | 2:"$DIR/vmm.log") ;;
	[0-2]:*) bad="$bad ${fd##*/}->$t" ;;
	*:anon_inode:* | *:socket:*) ;; # its own epoll, eventfd, API socket
	*) bad="$bad ${fd##*/}->$t" ;;
	esac
done
[ -z "$bad" ] && pass jail_fds || fail jail_fds "unexpected fds:$bad"

# jail_host_connects: the host reaches the API socket the jailed VMM made.
if ! command -v curl >/dev/null; then
	fail jail_host_connects "curl not installed (scripts/deps.sh installs it)"
elif code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$DIR/api.sock" http://kiln/ 2>&1) &&
	[ "$code" -ge 200 ] && [ "$code" -lt 500 ]; then
	pass jail_host_connects
else
	fail jail_host_connects "curl --unix-socket $DIR/api.sock: '$code'"
fi

# jail_note: the runtime directory says the VMM is jailed (kiln inspect).
grep -q "^jailed: uid $uid" "$DIR/jail" 2>/dev/null && pass jail_note ||
	fail jail_note "$DIR/jail: $(cat "$DIR/jail" 2>&1)"

# jail_cleanup: stopping removes the root, the VMM's directory, the cgroup.
exec 3>&-
wait "$HOLD_PID"
HOLD_PID=
left=
[ -e "$DIR" ] && left="$left $DIR"
for cgd in /sys/fs/cgroup/{cpu,memory,pids}/kiln/"$ID" /sys/fs/cgroup/kiln/"$ID"; do
	[ -e "$cgd" ] && left="$left $cgd"
done
[ -e "/proc/$C" ] && left="$left pid-$C"
if ! grep -q '^exit: kiln-vmm was stopped by a signal' "$WORK/out"; then
	fail jail_cleanup "the VMM did not stop on SIGTERM: $(tail -3 "$WORK/out" | tr '\n' ' ')"
else
	[ -z "$left" ] && pass jail_cleanup || fail jail_cleanup "left behind:$left"
fi

# jail_disabled_note: without the jail (KILN_JAIL=0's path) the note says
# JAIL DISABLED, and the VMM indeed runs as root in the host's namespaces.
rm -f "$WORK/hold3"
mkfifo "$WORK/hold3"
JAIL_RUN_OFF=1 "$DRIVER" "$RT" "$VMM" <"$WORK/hold3" >"$WORK/off" 2>&1 &
off_pid=$!
exec 4>"$WORK/hold3"
if poll_for "$WORK/off" '^pid '; then
	p=$(awk '/^pid /{print $2}' "$WORK/off")
	ouid=$(awk '$1 == "Uid:" {print $2}' "/proc/$p/status")
	omnt=$(readlink "/proc/$p/ns/mnt")
fi
exec 4>&-
wait "$off_pid"
if ! grep -q '^status: JAIL DISABLED: JAIL_RUN_OFF=1$' "$WORK/off"; then
	fail jail_disabled_note "no JAIL DISABLED status: $(head -c 300 "$WORK/off")"
elif [ "${ouid:-}" != 0 ] || [ "${omnt:-}" != "$(readlink /proc/self/ns/mnt)" ]; then
	fail jail_disabled_note "unjailed VMM: uid '${ouid:-}' mnt '${omnt:-}'"
else
	pass jail_disabled_note
fi

# jail_tap: a networked sandbox's VMM is in its namespace kiln-<id>, whose
# TAP was handed to the jail uid (without CAP_NET_ADMIN it could not attach).
if ! command -v ip >/dev/null; then
	fail jail_tap "ip(8) not installed (scripts/deps.sh installs iproute2)"
else
	rm -f "$WORK/hold4"
	mkfifo "$WORK/hold4"
	JAIL_RUN_NETNS=1 "$DRIVER" "$RT" "$VMM" <"$WORK/hold4" >"$WORK/tap" 2>&1 &
	tap_pid=$!
	exec 4>"$WORK/hold4"
	tns= towner= tvnet= tuid=
	if poll_for "$WORK/tap" '^pid '; then
		p=$(awk '/^pid /{print $2}' "$WORK/tap")
		tid=$(awk '/^pid /{print $4}' "$WORK/tap")
		tid=${tid##*/}
		for ((i = 0; i < 200; i++)); do
			c=$(tr -d ' \n' <"/proc/$p/task/$p/children" 2>/dev/null)
			[ -n "$c" ] && break
			sleep 0.05
		done
		[ -n "$c" ] || echo "no VMM child of $p within 10 s" >>"$WORK/tap"
		tns=$( [ -n "$c" ] && [ "$(stat -L -c %i "/proc/$c/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/kiln-$tid" 2>/dev/null)" ] && echo same)
		towner=$(ip netns exec "kiln-$tid" cat /sys/class/net/tap0/owner 2>&1)
		tuid=$(awk '$1 == "Uid:" {print $2}' "/proc/$c/status")
	fi
	exec 4>&-
	wait "$tap_pid"
	if [ "$tns" != same ]; then
		fail jail_tap "the VMM is not in kiln-${tid:-?}: $(head -c 300 "$WORK/tap")"
	elif [ -z "$tuid" ] || [ "$towner" != "$tuid" ]; then
		fail jail_tap "tap0 owner '$towner', VMM uid '$tuid'"
	elif [ -e "/run/netns/kiln-$tid" ]; then
		fail jail_tap "the test's namespace kiln-$tid was left behind"
	else
		pass jail_tap
	fi
fi

# ---- the test build: probes from inside -----------------------------------
if [ ! -x "$JT" ]; then
	for t in jail_no_open_outside jail_no_exec jail_seccomp_kills jail_relax_seccomp jail_relax_cgroup; do
		fail "$t" "$JT not built (make ${JT#"$ROOT"/})"
	done
	exit 0
fi

# run_jt OUT ARGS...: the test build in the jail, held until it exits.
run_jt() {
	local out=$1
	shift
	rm -f "$WORK/hold2"
	mkfifo "$WORK/hold2"
	sleep 60 >"$WORK/hold2" &
	local holder=$!
	timeout 30 "$DRIVER" "$RT" "$JT" "$@" <"$WORK/hold2" >"$out" 2>&1
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
}

run_jt "$WORK/probe" --jail-test=probe @DIR
probe() { sed -n "s/^jailtest: $1: //p" "$WORK/probe"; }
if [ "$(probe 'open \/dev\/kvm')" != ok ] || [ "$(probe 'create in the runtime directory')" != ok ]; then
	fail jail_no_open_outside "the probe did not run in a working jail: $(head -c 400 "$WORK/probe")"
	fail jail_no_exec "the probe did not run"
else
	a=$(probe 'open \/etc\/shadow') b=$(probe 'open \/..\/..\/..\/etc\/passwd') m=$(probe 'mknod \/dev\/sda')
	[ "$a" = ENOENT ] && [ "$b" = ENOENT ] && [ "$m" != ok ] && pass jail_no_open_outside ||
		fail jail_no_open_outside "/etc/shadow: $a, /../../../etc/passwd: $b, mknod: $m"
	a=$(probe 'exec \/bin\/sh') b=$(probe 'exec a written file')
	[ "$a" = ENOENT ] && [ "$b" = EACCES ] && pass jail_no_exec ||
		fail jail_no_exec "exec /bin/sh: $a, exec of a file it wrote: $b"
fi

# jail_seccomp_kills: ptrace after the filters kills it with SIGSYS; the same
# call without the filters (--no-seccomp) survives, so the probe can tell.
run_jt "$WORK/sys" --jail-test=syscall
run_jt "$WORK/sys_off" --jail-test=syscall --no-seccomp
if ! grep -q '^signal: 31$' "$WORK/sys"; then
	fail jail_seccomp_kills "ptrace did not kill it: $(grep -v '^pid' "$WORK/sys" | head -3 | tr '\n' ' ')"
elif ! grep -q '^jailtest: ptrace survived' "$WORK/sys_off"; then
	fail jail_seccomp_kills "control run without filters: $(grep -v '^pid' "$WORK/sys_off" | head -3 | tr '\n' ' ')"
else
	pass jail_seccomp_kills
fi
# ---- relaxed jails (kiln create --no-seccomp / --no-cgroup-limits) --------
# jail_relax_seccomp: with $KILN_JAIL_RELAX=seccomp libkiln's own argv
# (sandbox_jail_argv()) tells the test build to skip its filters: the
# forbidden call that kills the default build (above) is survived, still
# inside the jail, and the status line says SECCOMP DISABLED.
KILN_JAIL_RELAX=seccomp run_jt "$WORK/sys_relax" --jail-test=syscall
if ! grep -q '^signal: 31$' "$WORK/sys"; then
	fail jail_relax_seccomp "the default build was not killed (see jail_seccomp_kills)"
elif ! grep -q '^jailtest: ptrace survived' "$WORK/sys_relax"; then
	fail jail_relax_seccomp "killed despite KILN_JAIL_RELAX=seccomp: $(grep -v '^pid' "$WORK/sys_relax" | head -3 | tr '\n' ' ')"
elif ! grep -q '^status: jailed: .*; SECCOMP DISABLED' "$WORK/sys_relax"; then
	fail jail_relax_seccomp "status not loud: $(grep '^status' "$WORK/sys_relax")"
else
	pass jail_relax_seccomp
fi

# jail_relax_cgroup: $KILN_JAIL_RELAX=seccomp,cgroup on the real kiln-vmm:
# still jailed (non-root uid), but no seccomp filter and no kiln/<id>
# cgroup; the status line names both.
rm -f "$WORK/hold4"
mkfifo "$WORK/hold4"
KILN_JAIL_RELAX=seccomp,cgroup "$DRIVER" "$RT" "$VMM" <"$WORK/hold4" >"$WORK/relax" 2>&1 &
relax_pid=$!
exec 5>"$WORK/hold4"
if poll_for "$WORK/relax" '^pid '; then
	rproxy=$(awk '/^pid /{print $2}' "$WORK/relax")
	rid=$(awk '/^pid /{print $4}' "$WORK/relax")
	rid=${rid##*/}
	rchild=
	for ((i = 0; i < 200; i++)); do
		rchild=$(tr -d ' \n' <"/proc/$rproxy/task/$rproxy/children" 2>/dev/null)
		[ -n "$rchild" ] && [ "$(awk '$1 == "Uid:" {print $2}' "/proc/$rchild/status" 2>/dev/null)" != 0 ] &&
			[ -S "$RT/$rid/vm/api.sock" ] && break
		sleep 0.05
	done
	rseccomp=$(awk '$1 == "Seccomp:" {print $2}' "/proc/$rchild/status" 2>/dev/null)
	ruid=$(awk '$1 == "Uid:" {print $2}' "/proc/$rchild/status" 2>/dev/null)
	rcg=$(ls -d /sys/fs/cgroup/kiln/"$rid" /sys/fs/cgroup/*/kiln/"$rid" 2>/dev/null)
	rin=$(grep -c "/kiln/$rid\$" "/proc/$rproxy/cgroup" 2>/dev/null)
fi
exec 5>&-
wait "$relax_pid" 2>/dev/null
if ! grep -q '^pid ' "$WORK/relax"; then
	fail jail_relax_cgroup "the relaxed VMM did not start: $(head -c 400 "$WORK/relax")"
elif [ -z "$ruid" ] || [ "$ruid" -lt 100000 ]; then
	fail jail_relax_cgroup "not jailed any more: uid '${ruid:-none}'"
elif [ "$rseccomp" != 0 ]; then
	fail jail_relax_cgroup "the seccomp filter is still on (Seccomp: $rseccomp)"
elif [ -n "$rcg" ] || [ "${rin:-0}" != 0 ]; then
	fail jail_relax_cgroup "a kiln cgroup exists: '$rcg', proxy in it: $rin"
elif ! grep -q '^status: jailed: .*no cgroup.*; SECCOMP DISABLED; CGROUP LIMITS DISABLED' "$WORK/relax"; then
	fail jail_relax_cgroup "status not loud: $(grep '^status' "$WORK/relax")"
else
	pass jail_relax_cgroup
fi

# jail_relax_pid_ns: $KILN_JAIL_RELAX=pid-ns: no PID namespace and no PID-1
# proxy, so the pid libkiln recorded is the jailed VMM itself (non-root uid,
# seccomp on, the host's PID namespace); the status line says so.
rm -f "$WORK/hold5"
mkfifo "$WORK/hold5"
KILN_JAIL_RELAX=pid-ns "$DRIVER" "$RT" "$VMM" <"$WORK/hold5" >"$WORK/relax_pid" 2>&1 &
relaxp_pid=$!
exec 5>"$WORK/hold5"
ppid_ns= ; pseccomp= ; puid= ; pkids=
if poll_for "$WORK/relax_pid" '^pid '; then
	pvmm=$(awk '/^pid /{print $2}' "$WORK/relax_pid")
	pid_id=$(awk '/^pid /{print $4}' "$WORK/relax_pid")
	pid_id=${pid_id##*/}
	for ((i = 0; i < 200; i++)); do
		puid=$(awk '$1 == "Uid:" {print $2}' "/proc/$pvmm/status" 2>/dev/null)
		[ -n "$puid" ] && [ "$puid" != 0 ] && [ -S "$RT/$pid_id/vm/api.sock" ] && break
		sleep 0.05
	done
	pseccomp=$(awk '$1 == "Seccomp:" {print $2}' "/proc/$pvmm/status" 2>/dev/null)
	ppid_ns=$(readlink "/proc/$pvmm/ns/pid" 2>/dev/null)
	pkids=$(tr -d ' \n' <"/proc/$pvmm/task/$pvmm/children" 2>/dev/null)
fi
exec 5>&-
wait "$relaxp_pid" 2>/dev/null
if ! grep -q '^pid ' "$WORK/relax_pid"; then
	fail jail_relax_pid_ns "the relaxed VMM did not start: $(head -c 400 "$WORK/relax_pid")"
elif [ -z "$puid" ] || [ "$puid" -lt 100000 ]; then
	fail jail_relax_pid_ns "the recorded pid is not the jailed VMM: uid '${puid:-none}'"
elif [ "$ppid_ns" != "$(readlink /proc/self/ns/pid)" ]; then
	fail jail_relax_pid_ns "still in its own PID namespace: $ppid_ns"
elif [ -n "$pkids" ]; then
	fail jail_relax_pid_ns "the VMM has child processes ($pkids): a proxy is still in between?"
elif [ "$pseccomp" != 2 ]; then
	fail jail_relax_pid_ns "the seccomp filter is off (Seccomp: ${pseccomp:-none}): only pid-ns was relaxed"
elif ! grep -q '^status: jailed: .*; PID NAMESPACE DISABLED' "$WORK/relax_pid"; then
	fail jail_relax_pid_ns "status not loud: $(grep '^status' "$WORK/relax_pid")"
else
	pass jail_relax_pid_ns
fi

left=$(ls -A "$RT")
[ -z "$left" ] || echo "FAIL: jail_leftovers: $RT holds $left"
exit 0
