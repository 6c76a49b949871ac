#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration tests of `kiln run` (the built programs under build/).
#
#   tests/integration/run.sh [-v] [t_GROUP...]   (default: all groups)
#
# Three groups:
#   bad input   - need no KVM: usage errors, missing kernel, corrupt image,
#                 out-of-range --cpus/--memory; exit 125, clear message,
#                 nothing left behind.
#   agent       - the whole CLI path (streaming, exit codes, stdin, signals,
#                 timeouts) against a real kiln-agent running on the host
#                 as a service (`kiln run --agent unix:PATH`); no KVM.
#   api         - examples/run.c builds against libkiln.a and .so; kiln.h
#                 compiles as C++.
#   sandbox     - persistent sandboxes: t_sandbox_cli without KVM (usage,
#                 empty state, a failed create leaves nothing); t_sandbox
#                 boots real ones (tests/integration/sandbox.sh, like kvm).
#   prune       - t_snapshot_prune without KVM: `kiln snapshot ls --base`
#                 and `prune` on a crafted cache (stale snapshots removed).
#   doctor      - t_doctor without KVM: `kiln doctor` text/JSON format, a
#                 missing kernel is a failure with its fix (exit 1); the
#                 global logging options; pause/resume usage errors.
#   guestnet    - t_guestnet (root, /dev/kvm, on this host's KVM): real
#                 guests under network policies (tests/integration/guestnet.sh).
#   guest       - t_guest: identity, status, tty, user exec, ps, kill and port
#                 forwarding on a real
#                 microVM (tests/integration/guest_{ops,procs}.c), like kvm.
#   kvm         - boot real microVMs (tests/integration/kvm.sh).  Need
#                 /dev/kvm, or else run inside the nested-KVM L1 guest of
#                 tests/harness/run-in-l1.sh, and a built kernel and image in
#                 $KILN_CACHE; otherwise reported as SKIP, never as passed.
# Every test also checks that no sandbox directory or kiln-vmm process is
# left behind.  Last line: "integration: N passed, M failed, K skipped".
#
# Environment: KILN_TEST_BUILD=build/san tests the sanitizer build;
# KILN_CACHE picks the kernel and image; KILN_BOOT_TIMEOUT (default 300, 600
# in L1) and KILN_L1_TIMEOUT (whole L1 run, default 3600 s) bound KVM tests.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
# KILN_TEST_BUILD=build/san runs the sanitizer build of kiln (and kiln-vmm);
# kiln-agent is static and always comes from build/.
BUILD_DIR=$ROOT/${KILN_TEST_BUILD:-build}
KILN=$BUILD_DIR/kiln
AGENT_BIN=$ROOT/build/kiln-agent
HARNESS=$ROOT/tests/harness/run-in-l1.sh
VERBOSE=0
[ "${1:-}" = "-v" ] && { VERBOSE=1; shift; }

PASSED=0 FAILED=0 SKIPPED=0

# Run the KVM groups on this host's /dev/kvm, or in the L1 harness?  A KVM
# that emulates guest kernel mode (the PVM backend of these development
# machines, docs/TESTING-HARNESS.md) boots a guest in minutes and runs each
# guest process in about a second: the groups' hundreds of guest commands
# run in the harness's nested KVM instead, and t_pvm checks the product on
# the PVM KVM itself.  KILN_TEST_KVM=host|l1 overrides.
kvm_direct() {
	[ -c /dev/kvm ] || return 1
	case "${KILN_TEST_KVM:-}" in
	host) return 0 ;;
	l1) return 1 ;;
	esac
	! { [ -e /sys/module/kvm_pvm ] && [ -x "$HARNESS" ]; }
}

# kvm_group OUT TESTS WHY WHERE COMMAND...: run one KVM group's script and
# take its "PASS/FAIL/SKIP: name" lines.  WHY non-empty: a prerequisite is
# missing, nothing runs.  WHERE "any": on this host's KVM (kvm_direct) or
# else inside the nested-KVM L1 guest (everything there is emulated: the
# guest gets much longer to boot; one L1 vCPU: with two, L1 itself (QEMU
# TCG) was seen to lock up under load, docs/BENCHMARKS.md); "host": this
# host's /dev/kvm only, PVM included (a group of a handful of guest
# commands).  When the group reported nothing, every test in TESTS fails
# with KILN_REQUIRE_KVM_TESTS=1 and is skipped otherwise, with the reason.
kvm_group() {
	local out=$WORK/$1 tests=$2 why=$3 where=$4 line n=0 t
	shift 4
	if [ -n "$why" ]; then
		:
	elif { [ "$where" = any ] && kvm_direct; } ||
		{ [ "$where" = host ] && [ -c /dev/kvm ]; }; then
		"$@" >"$out" 2>&1
	elif [ "$where" = any ] && [ -x "$HARNESS" ]; then
		KILN_BOOT_TIMEOUT=${KILN_BOOT_TIMEOUT:-600} "$HARNESS" --cpus 1 \
			--timeout "${KILN_L1_TIMEOUT:-3600}" -- "$@" >"$out" 2>&1
	elif [ "$where" = any ]; then
		why="/dev/kvm not available (and no tests/harness/run-in-l1.sh)"
	else
		why="/dev/kvm not available"
	fi
	RC=$?
	if [ -z "$why" ]; then
		while IFS= read -r line; do
			case "$line" in
			"PASS: "*) PASSED=$((PASSED + 1)); n=$((n + 1)) ;;
			"FAIL: "*) FAILED=$((FAILED + 1)); n=$((n + 1)) ;;
			"SKIP: "*) SKIPPED=$((SKIPPED + 1)); n=$((n + 1)) ;;
			esac
			echo "$line"
		done <"$out"
		[ $n -gt 0 ] && return
		why="the group ran no test (exit $RC: $(grep -v '^ ' "$out" | tail -1))"
	fi
	for t in $tests; do
		if [ "${KILN_REQUIRE_KVM_TESTS:-0}" = 1 ]; then
			fail "$t" "$why"
		else
			skip "$t" "$why"
		fi
	done
}

# The guest a KVM group needs, and kiln-vmm: empty, or what is missing.
kvm_prereq() {
	local cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
	if [ ! -e "$cache/kernel/vmlinux" ] || [ ! -e "$cache/images/base.ext4" ]; then
		echo "guest not built in $cache; run 'make kernel image'"
	elif [ ! -x "$BUILD_DIR/kiln-vmm" ]; then
		echo "kiln-vmm not built"
	fi
}
WORK=$(mktemp -d /tmp/kiln-integration-XXXXXX)
RT=$WORK/run # KILN_RUNTIME_DIR of every kiln started here
AGENT_PID=

cleanup() {
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() {
	echo "FAIL: $1: $2"
	FAILED=$((FAILED + 1))
	if [ -s "$WORK/err" ]; then
		echo "  --- stderr of the last kiln run:"
		head -40 "$WORK/err" | sed 's/^/  | /'
	fi
}
skip() { echo "SKIP: $1: $2"; SKIPPED=$((SKIPPED + 1)); }
# A prerequisite `make test` installs or builds is missing: a failure there
# (KILN_REQUIRE_KVM_TESTS=1), a skip for a bare run.sh.
missing() {
	if [ "${KILN_REQUIRE_KVM_TESTS:-0}" = 1 ]; then
		fail "$1" "$2 (make test provides it: scripts/deps.sh, make)"
	else
		skip "$1" "$2"
	fi
}

# kiln_run TIMEOUT ARGS...: run build/kiln with a safety timeout; stdout
# and stderr go to $WORK/out and $WORK/err, the status to $RC.
kiln_run() {
	local t=$1
	shift
	KILN_RUNTIME_DIR=$RT timeout -k 5 "$t" "$KILN" "$@" \
		>"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
	[ "$VERBOSE" = 1 ] && { echo "  \$ kiln $* -> $RC"; sed 's/^/  err| /' "$WORK/err"; }
	return 0
}

# Nothing may be left in the runtime directory, and no kiln-vmm may run
# with a path inside it.  Prints what was found.
leftovers() {
	local left=""
	if [ -d "$RT" ] && [ -n "$(ls -A "$RT")" ]; then
		left="runtime entries: $(ls -A "$RT" | tr '\n' ' ')"
	fi
	if pgrep -f -- "$RT/" >/dev/null; then
		left="$left processes: $(pgrep -af -- "$RT/" | tr '\n' ';')"
	fi
	echo "$left"
}

# expect NAME WANT_RC ERR_SUBSTRING: check $RC, stderr and leftovers.
expect() {
	local name=$1 want=$2 msg=$3 left
	if [ "$RC" != "$want" ]; then
		fail "$name" "exit status $RC, expected $want"
	elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$WORK/err"; then
		fail "$name" "stderr lacks '$msg'"
	elif left=$(leftovers) && [ -n "$left" ]; then
		fail "$name" "left behind: $left"
	else
		pass "$name"
	fi
}

# A file that passes the kernel check (x86-64 ELF executable header).
fake_elf_header() {
	{
		printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000'
		printf '\002\000\076\000'
		head -c 44 /dev/zero
	} >"$1"
}

# ---- bad input (no KVM needed) ---------------------------------------------

t_usage() {
	kiln_run 10 run
	expect usage_no_command 125 "no command given"
	kiln_run 10 run --cpus 2
	expect usage_no_command_after_options 125 "no command given"
	kiln_run 10 run --frobnicate -- true
	expect usage_unknown_option 125 "unknown option '--frobnicate'"
	kiln_run 10 frobnicate
	expect usage_unknown_command 125 "unknown command 'frobnicate'"
	kiln_run 10 version
	if [ "$RC" = 0 ] && grep -qE '^kiln [0-9]+\.[0-9]+\.[0-9]+$' "$WORK/out"; then
		pass version
	else
		fail version "exit $RC, output '$(head -c 100 "$WORK/out")'"
	fi
	kiln_run 10 --help
	if [ "$RC" = 0 ] && grep -q 125 "$WORK/out" && grep -q 'run' "$WORK/out"; then
		pass help
	else
		fail help "exit $RC or no exit codes in the help"
	fi
}

t_missing_kernel() {
	local cache=$WORK/empty-cache
	mkdir -p "$cache"
	KILN_CACHE=$cache kiln_run 30 run -q -- true
	expect missing_kernel 125 \
		"kiln: kernel not found at $cache/kernel/vmlinux; build it with 'make kernel'"
	KILN_CACHE=$cache kiln_run 30 run -q --kernel "$WORK/nope" -- true
	expect missing_kernel_explicit 125 "kernel not found at $WORK/nope"
}

t_bad_files() {
	local d=$WORK/bad
	mkdir -p "$d/kernel" "$d/images"
	fake_elf_header "$d/kernel/vmlinux"
	head -c 1048576 /dev/urandom >"$d/images/base.ext4"
	KILN_CACHE=$d kiln_run 30 run -q -- true
	expect corrupt_image 125 "image $d/images/base.ext4 is not an ext4 file system"

	echo "not a kernel" >"$d/notkernel"
	KILN_CACHE=$d kiln_run 30 run -q --kernel "$d/notkernel" -- true
	expect corrupt_kernel 125 "$d/notkernel is not a kernel"

	KILN_CACHE=$d kiln_run 30 run -q --image "$d/missing.ext4" -- true
	expect missing_image 125 "image not found at $d/missing.ext4"
}

t_ranges() {
	kiln_run 10 run --cpus 0 -- true
	expect cpus_0 125 "--cpus must be 1..32, not 0"
	kiln_run 10 run --cpus 33 -- true
	expect cpus_33 125 "--cpus must be 1..32, not 33"
	kiln_run 10 run --memory 64 -- true
	expect memory_64 125 "--memory must be 128..16384 MiB, not 64"
	kiln_run 10 run --memory 99999 -- true
	expect memory_99999 125 "--memory must be 128..16384 MiB, not 99999"
}

# $WORK/good: a cache whose kernel and image pass kiln's checks (an ELF
# header; a real, empty ext4), so that the next checks are reached.
good_files() {
	local d=$WORK/good
	[ -e "$d/images/base.ext4" ] && return 0
	mkdir -p "$d/kernel" "$d/images"
	fake_elf_header "$d/kernel/vmlinux"
	truncate -s 1M "$d/kernel/vmlinux"
	mkfs.ext4 -q -F "$d/images/base.ext4" 8M >/dev/null 2>&1
}

t_no_vmm_or_kvm() {
	local d=$WORK/good
	if ! good_files; then
		missing missing_vmm "mkfs.ext4 not available"
		missing no_kvm "mkfs.ext4 not available"
		return
	fi
	KILN_CACHE=$d KILN_VMM=$WORK/no-such-vmm kiln_run 30 run -q -- true
	expect missing_vmm 125 "kiln-vmm not found at $WORK/no-such-vmm"
	if [ -e /dev/kvm ]; then
		skip no_kvm "/dev/kvm exists on this host"
	elif [ ! -x "$BUILD_DIR/kiln-vmm" ]; then
		missing no_kvm "build/kiln-vmm not built"
	else
		KILN_CACHE=$d kiln_run 30 run -q -- true
		expect no_kvm 125 "/dev/kvm does not exist"
	fi
}

# The real kiln-vmm fails at once when /dev/kvm is not KVM: kiln must report
# its exit status and output, and clean up.  /dev/kvm is replaced by
# /dev/zero in a private mount namespace, so the host's /dev is untouched.
t_vmm_fails_early() {
	local d=$WORK/good w=$WORK/fakedev
	if [ ! -x "$BUILD_DIR/kiln-vmm" ]; then
		missing vmm_fails_early "build/kiln-vmm not built"
		return
	fi
	if ! command -v unshare >/dev/null || [ "$(id -u)" != 0 ]; then
		missing vmm_fails_early "needs root and unshare(1)"
		return
	fi
	if ! good_files; then
		missing vmm_fails_early "mkfs.ext4 not available"
		return
	fi
	mkdir -p "$w/dev"
	: >"$w/dev/kvm"
	: >"$w/dev/null"
	KILN_CACHE=$d KILN_RUNTIME_DIR=$RT timeout -k 5 60 unshare -m --propagation private \
		sh -c 'mount --bind /dev/zero "$1/dev/kvm" &&
			mount --bind /dev/null "$1/dev/null" &&
			mount --rbind "$1/dev" /dev && shift && exec "$@"' \
		sh "$w" "$KILN" run -- true >"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
	[ "$VERBOSE" = 1 ] && sed 's/^/  err| /' "$WORK/err"
	if grep -q "the VM stopped before its agent answered" "$WORK/err" &&
		grep -q "kiln-vmm failed (exit status 1)" "$WORK/err" &&
		grep -q "^  kiln-vmm: " "$WORK/err"; then
		expect vmm_fails_early 125 ""
	else
		fail vmm_fails_early "rc=$RC; no VMM failure report"
	fi
}

# The public header and libraries work for an outside program: the example
# builds against libkiln.a and libkiln.so, and the header is C++-clean.
t_api() {
	local cc=${CC:-cc} ex=$WORK/example
	# a sanitizer build of the library needs the sanitizer runtime
	case "$BUILD_DIR" in */san) cc="$cc -fsanitize=address,undefined" ;; esac
	if [ ! -f "$BUILD_DIR/libkiln.a" ] || [ ! -f "$BUILD_DIR/libkiln.so" ]; then
		fail api_example "libkiln.a/libkiln.so not built"
		return
	fi
	if $cc -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/examples/run.c" \
		"$BUILD_DIR/libkiln.a" -ljansson -lsqlite3 -lmnl -lnftables -lpthread -o "$ex.static" 2>"$WORK/err" &&
		$cc -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/examples/run.c" \
			-L"$BUILD_DIR" -l:libkiln.so -Wl,-rpath,"$WORK/lib" -o "$ex.shared" 2>>"$WORK/err"; then
		# the library's soname is libkiln.so.0; the build has no such link
		mkdir -p "$WORK/lib"
		ln -sf "$BUILD_DIR/libkiln.so" "$WORK/lib/libkiln.so.0"
		KILN_CACHE=$WORK/empty-api KILN_RUNTIME_DIR=$RT "$ex.shared" true >"$WORK/out" 2>"$WORK/err"
		RC=$?
		if [ "$RC" = 1 ] && grep -q "kiln_run: not found: kernel not found at $WORK/empty-api/kernel/vmlinux" "$WORK/err"; then
			pass api_example
		else
			fail api_example "rc=$RC"
		fi
	else
		fail api_example "examples/run.c does not build"
	fi
	if command -v c++ >/dev/null; then
		if echo '#include "kiln.h"' | c++ -x c++ -std=c++11 -Wall -Werror -fsyntax-only \
			-I"$ROOT/include" - 2>"$WORK/err"; then
			pass api_header_cxx
		else
			fail api_header_cxx "kiln.h does not compile as C++"
		fi
	else
		missing api_header_cxx "no C++ compiler"
	fi
}

# ---- the CLI against a kiln-agent service on the host (no KVM) --------------

agent_start() {
	local sock=$WORK/agent.sock deadline
	[ -x "$AGENT_BIN" ] || return 1
	"$AGENT_BIN" --service --listen "unix:$sock" >"$WORK/agent.log" 2>&1 &
	AGENT_PID=$!
	deadline=$((SECONDS + 10))
	until [ -S "$sock" ]; do
		kill -0 "$AGENT_PID" 2>/dev/null || return 1
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05 # polling for the socket, bounded by the deadline
	done
	AGENT_EP=unix:$sock
}

t_agent() {
	local start elapsed pid
	if ! agent_start; then
		missing agent_tests "build/kiln-agent missing or did not start ($(tail -1 "$WORK/agent.log" 2>/dev/null))"
		return
	fi

	kiln_run 30 run -q --agent "$AGENT_EP" -- sh -c 'echo hello; echo err >&2; exit 3'
	if [ "$RC" = 3 ] && [ "$(cat "$WORK/out")" = hello ] &&
		[ "$(cat "$WORK/err")" = err ]; then
		pass agent_streams_and_status
	else
		fail agent_streams_and_status "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi

	kiln_run 30 run --agent "$AGENT_EP" -- sh -c 'kill -TERM $$'
	expect agent_signal_status 143 ""

	kiln_run 30 run -q --agent "$AGENT_EP" -- /nonexistent/cmd
	expect agent_not_found 127 "/nonexistent/cmd"

	kiln_run 30 run -q --agent "$AGENT_EP" -e FOO=bar -w /tmp -- sh -c 'echo $FOO; pwd'
	if [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = "$(printf 'bar\n/tmp')" ]; then
		pass agent_env_workdir
	else
		fail agent_env_workdir "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi

	printf 'line1\nline2\n' | KILN_RUNTIME_DIR=$RT timeout 30 "$KILN" run -q \
		--agent "$AGENT_EP" -- wc -l >"$WORK/out" 2>"$WORK/err"
	RC=$?
	if [ "$RC" = 0 ] && [ "$(tr -d ' ' <"$WORK/out")" = 2 ]; then
		pass agent_stdin
	else
		fail agent_stdin "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi

	start=$SECONDS
	kiln_run 60 run -q --agent "$AGENT_EP" --timeout 1 -- sleep 30
	elapsed=$((SECONDS - start))
	if [ "$RC" = 124 ] && [ $elapsed -lt 20 ] && grep -q "longer than 1 s" "$WORK/err"; then
		pass agent_timeout
	else
		fail agent_timeout "rc=$RC after ${elapsed}s"
	fi

	# a reader that goes away: kiln stops the command and exits like a
	# pipeline member killed by SIGPIPE, promptly
	start=$SECONDS
	KILN_RUNTIME_DIR=$RT timeout 30 "$KILN" run -q --agent "$AGENT_EP" -- \
		sh -c 'while :; do echo y; done' 2>"$WORK/err" </dev/null | head -1 >"$WORK/out"
	RC=${PIPESTATUS[0]}
	if [ "$RC" = 141 ] && [ "$(cat "$WORK/out")" = y ]; then
		pass agent_closed_stdout
	else
		fail agent_closed_stdout "rc=$RC"
	fi

	# SIGINT to kiln: the command is killed, kiln exits 130
	KILN_RUNTIME_DIR=$RT "$KILN" run --agent "$AGENT_EP" -n -- sh -c 'echo started; exec sleep 31337' \
		>"$WORK/out" 2>"$WORK/err" &
	pid=$!
	local deadline=$((SECONDS + 20))
	until grep -q started "$WORK/out" || [ $SECONDS -ge $deadline ]; do
		sleep 0.05 # polling for the command's first output, bounded
	done
	kill -INT "$pid"
	wait "$pid"
	RC=$?
	deadline=$((SECONDS + 10))
	while pgrep -P "$AGENT_PID" -f 'sleep 31337' >/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.05 # the agent kills it asynchronously; bounded
	done
	if [ "$RC" = 130 ] && ! pgrep -P "$AGENT_PID" -f 'sleep 31337' >/dev/null &&
		grep -q "stopped by SIGINT" "$WORK/err"; then
		pass agent_sigint
	else
		fail agent_sigint "rc=$RC, command still running: $(pgrep -P "$AGENT_PID" | tr '\n' ' ')"
		pkill -KILL -P "$AGENT_PID"
	fi
}

# ---- real microVMs ---------------------------------------------------------
# tests/integration/kvm.sh boots them; kvm_group decides where it runs:
# directly with /dev/kvm, inside the nested-KVM L1 guest without, or not at
# all.

KVM_TESTS="run_hello run_nproc clones_distinct boot_timeout sigint_during_boot guest_crash"

t_kvm() {
	kvm_group kvm.out "$KVM_TESTS" "$(kvm_prereq)" any \
		"$ROOT/tests/integration/kvm.sh" "$KILN"
}

# ---- persistent sandboxes on real microVMs ------------------------------------
# tests/integration/sandbox.sh, run like kvm.sh: directly with /dev/kvm, else
# inside the nested-KVM L1 guest.

SB_TESTS="sb_create sb_exec sb_exec_stdin sb_exec_prefix sb_cp sb_cp_r sb_exec_cap sb_fs sb_pause
sb_pause_exec_refused sb_resume sb_pause_stop sb_pause_dead sb_pause_rm sb_stop_start
sb_kill9_dead sb_rm_dead sb_create_sigint sb_half_created sb_parallel
sb_checkpoint sb_rollback sb_rollback_again sb_checkpoint_errors sb_create_from
sb_fork sb_fork_named sb_snapshot_rm sb_rm_checkpoints sb_hooks sb_hook_veto sb_leftovers"

t_sandbox() {
	kvm_group sb.out "$SB_TESTS" "$(kvm_prereq)" any \
		"$ROOT/tests/integration/sandbox.sh" "$KILN"
}

# Without KVM: the persistent-sandbox commands on an empty or missing state,
# usage errors, and a create that fails leaves no record and no directory.
# ---- base snapshot pruning (no KVM: a crafted cache) -----------------------
# kiln snapshot ls --base / prune on snapshots an older kiln left (no inputs
# record, not this kiln's key) and a killed build's .tmp directory: both
# stale; the unit test (test_lib_snapshot_prune) covers current/other/in-use.
t_snapshot_prune() {
	local c=$WORK/prune-cache s
	s=$c/snapshots
	mkdir -p "$c/kernel" "$c/images" "$s/0123456789abcdef" "$s/0123456789abcdef.tmp"
	fake_elf_header "$c/kernel/vmlinux"
	truncate -s 1M "$c/images/base.ext4"
	echo state >"$s/0123456789abcdef/state"
	truncate -s 1M "$s/0123456789abcdef/mem"
	: >"$s/0123456789abcdef.lock"
	echo keep >"$s/README"
	KILN_CACHE=$c kiln_run 30 snapshot ls --base --json
	if [ "$RC" = 0 ] && [ "$(grep -c '"status": "stale"' "$WORK/out")" = 2 ] &&
		grep -q '"key": "0123456789abcdef"' "$WORK/out" && grep -q 'no record' "$WORK/out"; then
		pass snapshot_ls_base
	else
		fail snapshot_ls_base "exit $RC, output '$(head -c 300 "$WORK/out")'"
	fi
	KILN_CACHE=$c kiln_run 30 snapshot prune --dry-run
	if [ "$RC" = 0 ] && grep -q '^would remove 0123456789abcdef (stale' "$WORK/out" &&
		grep -q '^would remove 2 base snapshots' "$WORK/out" && [ -d "$s/0123456789abcdef" ]; then
		pass snapshot_prune_dry_run
	else
		fail snapshot_prune_dry_run "exit $RC, output '$(head -c 300 "$WORK/out")'"
	fi
	KILN_CACHE=$c kiln_run 30 snapshot prune
	if [ "$RC" = 0 ] && grep -q '^removed 2 base snapshots' "$WORK/out" &&
		[ ! -e "$s/0123456789abcdef" ] && [ ! -e "$s/0123456789abcdef.tmp" ] &&
		[ ! -e "$s/0123456789abcdef.lock" ] && [ -f "$s/README" ] && [ -f "$c/images/base.ext4" ]; then
		pass snapshot_prune
	else
		fail snapshot_prune "exit $RC, output '$(head -c 300 "$WORK/out")', left: $(ls -A "$s" | tr '\n' ' ')"
	fi
	kiln_run 10 snapshot prune extra
	expect snapshot_prune_usage 125 "unexpected argument 'extra'"
	kiln_run 10 snapshot ls --all
	expect snapshot_ls_all_usage 125 ""
}

t_sandbox_cli() {
	local st=$WORK/state-cli d=$WORK/good
	KILN_STATE=$st kiln_run 10 ls
	if [ "$RC" = 0 ] && head -1 "$WORK/out" | grep -q '^ID  *NAME  *STATE'; then
		pass sandbox_ls_empty
	else
		fail sandbox_ls_empty "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi
	KILN_STATE=$st kiln_run 10 ls --all --json
	if [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = "[]" ]; then
		pass sandbox_ls_json_empty
	else
		fail sandbox_ls_json_empty "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi
	KILN_STATE=$st kiln_run 10 inspect nosuch
	expect sandbox_inspect_missing 125 "no sandbox with id, id prefix or name 'nosuch'"
	KILN_STATE=$st kiln_run 10 rm nosuch
	expect sandbox_rm_missing 125 "no sandbox with id, id prefix or name 'nosuch'"
	KILN_STATE=$st kiln_run 10 exec nosuch
	expect sandbox_exec_no_command 125 "no command given"
	KILN_STATE=$st kiln_run 10 cp a b
	expect sandbox_cp_no_sandbox 125 "neither side is SANDBOX:PATH"
	KILN_STATE=$st kiln_run 10 create --name 'bad name'
	expect sandbox_create_bad_name 125 "invalid sandbox name 'bad name'"
	KILN_STATE=$st kiln_run 10 create --cpus 0
	expect sandbox_create_cpus 125 "--cpus must be 1..32, not 0"
	if good_files; then
		KILN_CACHE=$d KILN_STATE=$st KILN_VMM=$WORK/no-such-vmm kiln_run 30 create -q --name x
		expect sandbox_create_fails_clean 125 "kiln-vmm not found at $WORK/no-such-vmm"
		KILN_STATE=$st kiln_run 10 ls --all --json
		if [ "$(cat "$WORK/out")" = "[]" ]; then
			pass sandbox_create_fails_no_record
		else
			fail sandbox_create_fails_no_record "left: $(head -c 200 "$WORK/out")"
		fi
	else
		missing sandbox_create_fails_clean "mkfs.ext4 not available"
	fi
}

# Without KVM: `kiln doctor` (text and JSON format, a missing kernel is a
# failure with its fix, exit 1), the global logging options and the
# pause/resume usage errors.
t_doctor() {
	local st=$WORK/state-doctor empty=$WORK/empty-cache line bad=
	mkdir -p "$empty"
	KILN_CACHE=$empty KILN_STATE=$st kiln_run 30 doctor
	while IFS= read -r line; do
		case "$line" in
		"      "*"fix: "*) ;;
		"doctor: "*) ;;
		*) echo "$line" | grep -qE '^(ok  |warn|FAIL)  [a-z-]+ +[^ ]' ||
			bad="$bad [$line]" ;;
		esac
	done <"$WORK/out"
	if [ "$RC" = 1 ] && [ -z "$bad" ] &&
		grep -qE "^FAIL  kernel +kernel not found at $empty/kernel/vmlinux" "$WORK/out" &&
		grep -A1 '^FAIL  kernel' "$WORK/out" | grep -q "fix: build it with 'make kernel'" &&
		grep -qE '^doctor: [0-9]+ ok, [0-9]+ warn, [1-9][0-9]* fail$' "$WORK/out" &&
		[ "$(grep -cE '^(ok  |warn|FAIL)  ' "$WORK/out")" = 11 ] &&
		[ ! -e "$st" ]; then
		pass doctor_text_missing_kernel
	else
		fail doctor_text_missing_kernel "rc=$RC bad lines:$bad out: $(head -c 600 "$WORK/out")"
	fi
	KILN_CACHE=$empty KILN_STATE=$st kiln_run 30 doctor --json
	if ! command -v jq >/dev/null; then
		missing doctor_json "jq not installed"
	elif [ "$RC" = 1 ] &&
		jq -e '(.ok == false) and (.summary.fail >= 1) and
			(.checks | length == 11) and
			(.checks | all(has("name") and has("status") and has("detail") and has("fix"))) and
			(.checks | all((.status == "ok") == (.fix == null))) and
			(.checks[] | select(.name == "kernel") |
				.status == "fail" and (.fix | contains("make kernel")))' \
			"$WORK/out" >/dev/null; then
		pass doctor_json
	else
		fail doctor_json "rc=$RC out: $(head -c 600 "$WORK/out")"
	fi
	if good_files; then
		KILN_CACHE=$WORK/good KILN_STATE=$st KILN_VMM=$BUILD_DIR/kiln-vmm kiln_run 30 doctor
		if grep -qE '^ok    kernel ' "$WORK/out" && grep -qE '^ok    image ' "$WORK/out" &&
			grep -qE '^ok    kiln-vmm ' "$WORK/out"; then
			pass doctor_good_cache
		else
			fail doctor_good_cache "rc=$RC out: $(head -c 600 "$WORK/out")"
		fi
	else
		missing doctor_good_cache "mkfs.ext4 not available"
	fi
	kiln_run 10 doctor extra
	expect doctor_usage 125 "unexpected argument 'extra'"

	# logging: JSON lines with a tag at debug level; -q silences them
	KILN_STATE=$st kiln_run 10 --log-format json --log-level debug inspect nosuch
	if [ "$RC" = 125 ] && grep '^{' "$WORK/err" | head -1 |
		grep -qE '^\{"time":"[0-9T:.-]+Z","level":"debug","tag":"[a-z]+","msg":".*","pid":[0-9]+\}$' &&
		grep -q "^kiln: no sandbox with id, id prefix or name 'nosuch'" "$WORK/err"; then
		pass log_json_lines
	else
		fail log_json_lines "rc=$RC"
	fi
	KILN_LOG=debug KILN_STATE=$st kiln_run 10 -q inspect nosuch
	if [ "$RC" = 125 ] && [ "$(wc -l <"$WORK/err")" = 1 ]; then
		pass log_quiet
	else
		fail log_quiet "rc=$RC"
	fi
	KILN_LOG=debug KILN_STATE=$st kiln_run 10 inspect nosuch
	if [ "$RC" = 125 ] && grep -q '^kiln: debug: \[[a-z]*\] ' "$WORK/err"; then
		pass log_env_text
	else
		fail log_env_text "rc=$RC"
	fi
	KILN_LOG=loud kiln_run 10 ls
	expect log_env_bad 125 "KILN_LOG='loud' is not a log level"
	kiln_run 10 --log-level loud ls
	expect log_option_bad 125 "--log-level: unknown level 'loud'"

	# --json where there is nothing to do, and its usage errors
	KILN_STATE=$st kiln_run 10 rm --all --json
	if [ "$RC" = 0 ] && [ "$(cat "$WORK/out")" = "[]" ]; then
		pass json_rm_all_empty
	else
		fail json_rm_all_empty "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi
	kiln_run 10 version --json
	if [ "$RC" = 0 ] && grep -qE '^\{"version": "[0-9]+\.[0-9]+\.[0-9]+"\}$' "$WORK/out"; then
		pass json_version
	else
		fail json_version "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi
	kiln_run 10 cp --json box:/etc/hostname -
	expect json_cp_stdout 125 "--json and DST '-' exclude each other"
	KILN_STATE=$st kiln_run 10 stop --json nosuch
	if [ "$RC" = 125 ] && [ "$(cat "$WORK/out")" = "[]" ]; then
		pass json_stop_missing
	else
		fail json_stop_missing "rc=$RC out='$(head -c 200 "$WORK/out")'"
	fi

	kiln_run 10 pause
	expect pause_no_sandbox 125 "no sandbox given"
	KILN_STATE=$st kiln_run 10 resume nosuch
	expect resume_missing 125 "no sandbox with id, id prefix or name 'nosuch'"
}

# ---- guest operations on a real microVM ---------------------------------------
# tests/integration/guest_ops.c: identity with the real system calls in the
# guest (entropy credited and CRNG reseeded, clock, hostname), status, exec
# on a terminal and as `nobody`.  Built here against libkiln.a, run like
# kvm.sh: directly with /dev/kvm, else inside the nested-KVM L1 guest.

GUEST_TESTS="guest_boot guest_identity guest_status guest_hostname guest_clock
guest_urandom guest_tty guest_user_nobody guest_destroy procs_boot ps_exec ps_init
kill_pid1_refused kill_exec kill_no_such_process forward_listen forward_small forward_4mib forward_stop
exec_sequential_200 exec_concurrent_ready exec_concurrent_32 pty_script detach_start ps_session attach_running
attach_ended attach_collected exec_cancel_reconnect procs_destroy checkpoint_keeps_connection
rollback_reconnect rollback_destroy"

# guest_build NAME OUT: build tests/integration/NAME.c against libkiln.a.
guest_build() {
	${CC:-cc} -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" \
		-I"$ROOT/src" "$ROOT/tests/integration/$1.c" "$BUILD_DIR/libkiln.a" \
		$([ "$BUILD_DIR" = "$ROOT/build/san" ] && echo -fsanitize=address,undefined) \
		-ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl -o "$2" 2>>"$WORK/err"
}

t_guest() {
	local bin=$WORK/guest_ops why t
	why=$(kvm_prereq)
	if [ -z "$why" ] && [ ! -e "$BUILD_DIR/libkiln.a" ]; then
		why="libkiln.a not built"
	elif [ -z "$why" ] && { ! guest_build guest_ops "$bin" ||
		! guest_build guest_procs "$bin.procs"; }; then
		for t in $GUEST_TESTS; do fail "$t" "tests/integration/guest_{ops,procs}.c do not build"; done
		return
	fi
	# one VM host (or L1 boot) for both programs
	kvm_group guest.out "$GUEST_TESTS" "$why" any \
		env KILN_VMM="$BUILD_DIR/kiln-vmm" KILN_RUNTIME_DIR="$RT" \
		sh -c '"$0"; "$1"' "$bin" "$bin.procs"
}

# ---- snapshots on real microVMs ---------------------------------------------
# tests/integration/snapshot.sh (kiln-vmm + its REST API, the agent through
# tests/integration/vsock_exec.c), run like kvm.sh: directly with /dev/kvm,
# else inside the nested-KVM L1 guest.

SNAP_TESTS="snap_boot vmm_seccomp snap_pause_cycles snap_create snap_restore snap_restore_twice
snap_api_load snap_diff_create snap_diff_restore snap_overlay_snapshot snap_overlay_restore snap_overlay_missing snap_corrupt_truncated
snap_corrupt_checksum snap_wrong_mem snap_leftovers"

t_snapshot() {
	local vx=$WORK/vsock_exec cc=${CC:-cc} why
	case "$BUILD_DIR" in */san) cc="$cc -fsanitize=address,undefined" ;; esac
	why=$(kvm_prereq)
	if [ -z "$why" ] && [ ! -f "$BUILD_DIR/libkiln.a" ]; then
		why="libkiln.a not built"
	elif [ -z "$why" ] && ! command -v curl >/dev/null; then
		why="curl not installed"
	elif [ -z "$why" ] && ! $cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/include" \
		-I"$ROOT/src" "$ROOT/tests/integration/vsock_exec.c" "$BUILD_DIR/libkiln.a" \
		-ljansson -lsqlite3 -larchive -lmnl -lnftables -lpthread -ldl -o "$vx" 2>"$WORK/err"; then
		why="cannot build tests/integration/vsock_exec.c: $(head -c 300 "$WORK/err")"
	fi
	kvm_group snap.out "$SNAP_TESTS" "$why" any \
		"$ROOT/tests/integration/snapshot.sh" "$BUILD_DIR" "$vx"
}

# ---- per-sandbox networking (no KVM; root) ----------------------------------
# tests/integration/net.sh: the namespace, links and nftables rules libkiln
# builds, carrying real traffic between test namespaces that stand in for the
# guests and the upstream.  Needs root; without it the tests are skipped.

NET_TESTS="net_setup_none net_none_isolated net_custom_allow_one net_deny_wins net_allow_all
net_custom_host net_change_to_none net_cross_sandbox net_slot_in_use net_publish net_unpublish
net_bandwidth net_collision net_teardown net_reconcile_after_kill net_store_lifecycle net_teardown_event net_no_leftovers
net_dns_start net_dns_allowed net_dns_denied net_dns_wildcard net_dns_direct_blocked net_dns_dot_blocked
net_dns_tcp net_dns_policy_change net_dns_narrow net_dns_allow_all net_cli_show net_cli_set
net_cli_inspect net_cli_usage net_dns_stop"

t_net() {
	local line n=0 t why=
	if [ "$(id -u)" != 0 ]; then
		for t in $NET_TESTS; do skip "$t" "needs root"; done
		return
	fi
	"$ROOT/tests/integration/net.sh" "$BUILD_DIR" >"$WORK/net.out" 2>&1
	RC=$?
	while IFS= read -r line; do
		case "$line" in
		"PASS: "*) PASSED=$((PASSED + 1)); n=$((n + 1)) ;;
		"FAIL: "*) FAILED=$((FAILED + 1)); n=$((n + 1)) ;;
		"SKIP: "*) SKIPPED=$((SKIPPED + 1)); n=$((n + 1)) ;;
		*) continue ;;
		esac
		echo "$line"
	done <"$WORK/net.out"
	[ $n -gt 0 ] && return
	why="net.sh ran no check (exit $RC: $(tail -1 "$WORK/net.out"))"
	for t in $NET_TESTS; do fail "$t" "$why"; done
}

# ---- the product on a PVM KVM (emulated guest kernel mode) -------------------
# tests/integration/pvm.sh, directly on this host: only where /dev/kvm is the
# PVM backend (elsewhere the other groups already run on the host's KVM).

PVM_TESTS="pvm_probe pvm_run_first pvm_run_restored pvm_clones_distinct pvm_leftovers
pvm_exec_user pvm_exec_tty pvm_kill pvm_port_forward pvm_shell pvm_kill9_rm pvm_api_example
pvm_create_ids pvm_create_cancel pvm_create_many pvm_rm_all pvm_sb_leftovers"

t_pvm() {
	local cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln} line n=0 t why=
	if [ ! -c /dev/kvm ] || [ ! -e /sys/module/kvm_pvm ]; then
		for t in $PVM_TESTS; do skip "$t" "this host's KVM is not the PVM backend"; done
		return
	elif [ ! -e "$cache/kernel/vmlinux" ] || [ ! -e "$cache/images/base.ext4" ]; then
		why="guest not built in $cache; run 'make kernel image'"
	elif [ ! -x "$BUILD_DIR/kiln-vmm" ]; then
		why="kiln-vmm not built"
	else
		"$ROOT/tests/integration/pvm.sh" "$KILN" "$BUILD_DIR/kiln-vmm" >"$WORK/pvm.out" 2>&1
		while IFS= read -r line; do
			case "$line" in
			"PASS: "*) PASSED=$((PASSED + 1)); n=$((n + 1)) ;;
			"FAIL: "*) FAILED=$((FAILED + 1)); n=$((n + 1)) ;;
			esac
			echo "$line"
		done <"$WORK/pvm.out"
		[ $n = 0 ] && why="pvm.sh ran no test: $(tail -1 "$WORK/pvm.out")"
	fi
	[ -z "$why" ] && return
	for t in $PVM_TESTS; do fail "$t" "$why"; done
}

# ---- a sandbox's guest on its network (root, KVM) -----------------------------
# tests/integration/guestnet.sh: real guests under network policies, talking
# to a test host in its own namespace.  A handful of guest commands: on this
# host's KVM directly, PVM included, never in the L1 harness.

GUESTNET_TESTS="gn_create_none gn_guest_address gn_none_isolated gn_create_allow gn_allow_cidr
gn_publish gn_policy_change gn_policy_change_applies gn_cross_sandbox gn_policy_narrow
gn_create_domain gn_domain_allowed gn_domain_wildcard gn_domain_other gn_dns_other_server gn_teardown"

t_guestnet() {
	local why t
	why=$(kvm_prereq)
	if [ -z "$why" ] && [ "$(id -u)" != 0 ]; then
		for t in $GUESTNET_TESTS; do skip "$t" "needs root"; done
		return
	fi
	kvm_group guestnet.out "$GUESTNET_TESTS" "$why" host \
		env KILN_VMM="$BUILD_DIR/kiln-vmm" \
		"$ROOT/tests/integration/guestnet.sh" "$KILN"
}

# ---- the kiln-vmm jail (no guest; root) ---------------------------------------
# tests/integration/jail.sh: a jailed kiln-vmm waiting for its configuration,
# checked from outside through /proc and from inside by kiln-vmm-jailtest.

JAIL_TESTS="jail_identity jail_namespaces jail_root_contents jail_cgroup jail_rlimits jail_fds
jail_host_connects jail_note jail_disabled_note jail_tap jail_cleanup jail_no_open_outside jail_no_exec jail_seccomp_kills
jail_relax_seccomp jail_relax_cgroup jail_relax_pid_ns"

t_jail() {
	local line n=0 t
	"$ROOT/tests/integration/jail.sh" "$BUILD_DIR" >"$WORK/jail.out" 2>&1
	RC=$?
	while IFS= read -r line; do
		case "$line" in
		"PASS: "*) PASSED=$((PASSED + 1)); n=$((n + 1)) ;;
		"FAIL: "*) FAILED=$((FAILED + 1)); n=$((n + 1)) ;;
		"SKIP: "*) SKIPPED=$((SKIPPED + 1)); n=$((n + 1)) ;;
		*) continue ;;
		esac
		echo "$line"
	done <"$WORK/jail.out"
	[ $n -gt 0 ] && return
	for t in $JAIL_TESTS; do fail "$t" "jail.sh ran no check (exit $RC: $(tail -1 "$WORK/jail.out"))"; done
}

# ---- main -------------------------------------------------------------------

if [ ! -x "$KILN" ]; then
	echo "FAIL: build: $KILN missing; run 'make'"
	echo "integration: 0 passed, 1 failed, 0 skipped"
	exit 1
fi

ALL="t_usage t_missing_kernel t_bad_files t_ranges t_no_vmm_or_kvm t_vmm_fails_early t_api t_agent t_sandbox_cli t_snapshot_prune t_doctor t_kvm t_sandbox t_guest t_snapshot t_net t_jail t_pvm t_guestnet"
for t in ${*:-$ALL}; do
	"$t"
done

echo "integration: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
