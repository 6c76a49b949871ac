#!/bin/bash
# SPDX-License-Identifier: MIT
# Run a command inside an "L1" Linux guest that has a real /dev/kvm, on a machine without one.
#
#   tests/harness/run-in-l1.sh [OPTIONS] [--] CMD [ARGS...]
#
# QEMU (TCG, no host KVM needed) boots Debian's stock kernel with an emulated AMD CPU that has
# SVM + NPT, so kvm_amd loads in L1 and kiln-vmm can run there against real KVM.  CMD runs in
# L1 as root, in a chroot of the host's root (read-only over 9p), in the same directory as
# here, with the same environment plus KILN_IN_L1=1 and stdin from /dev/null.  Its stdout and
# stderr stream to ours; we exit with its status, or 125 when L1 itself failed or timed out.
#
# Options:
#   --cpus N      L1 vCPUs (default 2)
#   --mem MIB     L1 memory (default 4096)
#   --timeout S   whole-run deadline including the L1 boot (default 3600)
#   --rw DIR      also share host DIR writable (repeatable)
#   --tmp MODE    L1's /tmp: overlay (default: host /tmp visible, writes stay in L1, Unix
#                 sockets work), share (host /tmp writable; no sockets/FIFOs there), tmpfs
#   -v            stream L1's console (kernel + init messages) to stderr
#
# Writable host directories: the git top level of the current directory (or the directory
# itself), $KILN_CACHE, and --rw DIRs.  Everything else on the host is read-only in L1.
# See docs/TESTING-HARNESS.md.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROG="run-in-l1"

cpus=2
mem=4096
timeout=3600
tmp_mode=overlay
verbose=0
rw_dirs=()

usage() {
	sed -n '3,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2
	exit 125
}

die() {
	echo "$PROG: error: $*" >&2
	exit 125
}

need_num() {
	[[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) need_num "$1" "${2:-}"; cpus=$2; shift 2 ;;
	--mem) need_num "$1" "${2:-}"; mem=$2; shift 2 ;;
	--timeout) need_num "$1" "${2:-}"; timeout=$2; shift 2 ;;
	--rw) [ -d "${2:-}" ] || die "--rw needs an existing directory, got '${2:-}'"
		rw_dirs+=("$(cd "$2" && pwd -P)"); shift 2 ;;
	--tmp) case "${2:-}" in overlay | share | tmpfs) tmp_mode=$2 ;;
		*) die "--tmp must be overlay, share or tmpfs, got '${2:-}'" ;; esac
		shift 2 ;;
	-v) verbose=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option '$1' (see --help)" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || usage

if [ -c /dev/kvm ]; then
	echo "$PROG: note: this host has /dev/kvm; KVM tests can run directly without L1" >&2
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"

cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
mkdir -p "$cache" || die "cannot create $cache"
img=$("$HERE/l1-image.sh") || die "cannot build the L1 kernel/initramfs (see above)"

# The writable shares: each is a separate 9p export mounted over the read-only root in L1.
cwd=$(pwd -P)
top=$(git -C "$cwd" rev-parse --show-toplevel 2>/dev/null) || top=$cwd
[ "$top" = / ] || rw_dirs+=("$top")
rw_dirs+=("$(cd "$cache" && pwd -P)")

# Remove run directories left by runs that were SIGKILLed (their owner is gone).
for old in /tmp/kiln-l1-*/owner; do
	[ -f "$old" ] || continue
	owner=$(cat "$old" 2>/dev/null)
	[[ "$owner" =~ ^[0-9]+$ ]] && ! kill -0 "$owner" 2>/dev/null && rm -rf "${old%/owner}"
done
run=$(mktemp -d /tmp/kiln-l1-XXXXXX) || die "mktemp failed"
echo $$ >"$run/owner"
qemu_pid=
timer_pid=
tail_pids=()

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local i
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -TERM "$qemu_pid" 2>/dev/null
		# QEMU exits on SIGTERM at once; bounded wait, then SIGKILL.
		for ((i = 0; i < 50; i++)); do
			kill -0 "$qemu_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$qemu_pid" 2>/dev/null
		wait "$qemu_pid" 2>/dev/null
	fi
	[ -z "$timer_pid" ] || kill "$timer_pid" 2>/dev/null
	[ ${#tail_pids[@]} -eq 0 ] || kill "${tail_pids[@]}" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 125' INT TERM HUP

# QEMU option values escape ',' by doubling it.
qarg() {
	printf '%s' "${1//,/,,}"
}

fsdev_args=()
n=0
add_share() { # TAG PATH ro|rw
	local ro=
	[ "$3" = ro ] && ro=,readonly=on
	fsdev_args+=(-fsdev "local,id=fs$n,path=$(qarg "$2"),security_model=none,multidevs=remap$ro"
		-device "virtio-9p-pci,fsdev=fs$n,mount_tag=$1")
	n=$((n + 1))
}
add_share hostroot / ro
add_share kilnrun "$run" rw
case "$tmp_mode" in
overlay) add_share hosttmp /tmp ro ;;
share) add_share hosttmp /tmp rw ;;
esac

# Parents before children so that nested shares stack correctly; drop duplicates.
: >"$run/mounts"
i=0
while IFS= read -r dir; do
	[ -n "$dir" ] || continue
	case "$dir" in *$'\n'* | *' '*) die "cannot share '$dir': spaces are not supported" ;; esac
	add_share "rw$i" "$dir" rw
	echo "rw$i $dir" >>"$run/mounts"
	i=$((i + 1))
done < <(printf '%s\n' "${rw_dirs[@]}" | awk '{ print length($0) "\t" $0 }' | sort -n -s |
	cut -f2- | awk '!seen[$0]++')

echo "KILN_L1_TMP=$tmp_mode" >"$run/l1.conf"

# The command, as a bash script run in L1: our environment, our directory, our argv.
{
	echo "# generated by $PROG"
	for v in $(compgen -e); do
		case "$v" in
		PWD | OLDPWD | SHLVL | _ | BASHOPTS | SHELLOPTS | BASH_VERSINFO | EUID | PPID | UID) ;;
		*) printf 'export %s=%q\n' "$v" "${!v}" ;;
		esac
	done
	echo "export KILN_IN_L1=1"
	printf 'cd -- %q || { echo "%s: cannot enter %q in L1" >&2; exit 125; }\n' "$cwd" "$PROG" "$cwd"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$run/cmd.sh"

: >"$run/stdout"
: >"$run/stderr"
: >"$run/console.log"
append="console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off"

start=$SECONDS
# PDEATHSIG: if we are SIGKILLed (no trap runs), the kernel still ends QEMU.
setpriv --pdeathsig KILL -- qemu-system-x86_64 \
	-name kiln-l1 -machine pc -accel tcg,thread=multi -cpu max \
	-smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none -no-reboot \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.gz" -append "$append" \
	-chardev "file,id=con,path=$(qarg "$run/console.log")" -serial chardev:con \
	-device virtio-serial-pci,id=vser \
	-chardev "file,id=out,path=$(qarg "$run/stdout")" \
	-device virtserialport,bus=vser.0,chardev=out,name=kiln.stdout \
	-chardev "file,id=err,path=$(qarg "$run/stderr")" \
	-device virtserialport,bus=vser.0,chardev=err,name=kiln.stderr \
	"${fsdev_args[@]}" </dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!

# Stream the output files while QEMU writes them; tail --pid reads to the end after QEMU
# exits, so nothing written before exit is lost.
tail -c +1 -s 0.1 --pid="$qemu_pid" -f "$run/stdout" &
tail_pids+=($!)
tail -c +1 -s 0.1 --pid="$qemu_pid" -f "$run/stderr" >&2 &
tail_pids+=($!)
if [ $verbose = 1 ]; then
	tail -c +1 -s 0.1 --pid="$qemu_pid" -f "$run/console.log" >&2 &
	tail_pids+=($!)
fi

# The deadline: a timer process, raced against QEMU.
setpriv --pdeathsig KILL -- sleep "$timeout" &
timer_pid=$!
wait -n "$qemu_pid" "$timer_pid"
timed_out=0
if kill -0 "$qemu_pid" 2>/dev/null; then
	timed_out=1
	kill -TERM "$qemu_pid" 2>/dev/null
fi
wait "$qemu_pid"
qemu_rc=$?
qemu_pid=
kill "$timer_pid" 2>/dev/null
wait "$timer_pid" 2>/dev/null
timer_pid=
wait "${tail_pids[@]}"
tail_pids=()

status=$(cat "$run/status" 2>/dev/null)
if [ $timed_out = 0 ] && [[ "$status" =~ ^[0-9]+$ ]]; then
	exit "$status"
fi

{
	if [ $timed_out = 1 ]; then
		echo "$PROG: error: L1 did not finish within --timeout $timeout s; killed it"
	else
		echo "$PROG: error: L1 ended after $((SECONDS - start)) s without running the command to completion (QEMU exit status $qemu_rc)"
	fi
	if [ -s "$run/qemu.log" ]; then
		echo "$PROG: QEMU said:"
		tail -n 20 "$run/qemu.log"
	fi
	echo "$PROG: last lines of the L1 console:"
	tail -n 40 "$run/console.log" | tr -d '\r'
} >&2
exit 125
