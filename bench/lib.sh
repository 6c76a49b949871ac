# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034 # the option variables are the sourcing script's
# Sourced by the bench scripts (boot.sh, restore.sh, jail.sh): messages, the common options,
# the bench tools' build and the host/L1 dispatch.  The script sets PROG (its name for
# messages), its option defaults, and may define bench_option (see bench_parse).
#
#   . "$HERE/lib.sh"
#   bench_parse "$@"        # fills runs, memory, timeout, l1_*, out, inner, kernel, image
#   if [ "$inner" = 0 ]; then bench_host_half "$HERE/x.sh" ...; fi   # (does not return)
#
# Common options (defaults are the script's: set them before bench_parse):
#   -n RUNS  --memory MIB  --timeout S  --l1-cpus N  --l1-mem MIB  --l1-timeout S  --out DIR
#   -h/--help (prints the script's header comment), and the internal --inner, --kernel, --image.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
TIMER=$TOP/build/bench/boot_timer
REPORT=$TOP/build/bench/boot_report
VX=$TOP/build/bench/vsock_exec
TEXEC=$TOP/build/bench/timed_exec

inner=0
kernel=
image=
l1_cpus=${l1_cpus:-1}
l1_mem=${l1_mem:-}
l1_timeout=

die() {
	echo "$PROG: error: $*" >&2
	exit 2
}

say() {
	echo "$PROG: $*" >&2
}

# The script's header comment, from line 3 to `set -euo`.
usage() {
	sed -n '3,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

num() {
	[[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"
}

json_str() { # a JSON string from $1 (control characters are not expected here)
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}

# --bin DIR (prebuilt kiln, kiln-vmm, ... to copy) and --work DIR (a work
# directory to reuse) of the benches that run private copies (jail.sh,
# net.sh): call from bench_option, then bench_private_prepare in the host half.
bench_private_option() {
	case "$1" in
	--bin) [ -n "${2:-}" ] || die "--bin needs a directory"; bin=$(cd "$2" && pwd); NSHIFT=2 ;;
	--work) [ -n "${2:-}" ] || die "--work needs a directory"; work=$2; NSHIFT=2 ;;
	esac
}

bench_private_prepare() {
	if [ -n "$bin" ]; then
		export BENCH_NO_MAKE=1
	fi
	# a reused work directory keeps its kernel and image (and so its base snapshot)
	if [ -n "$work" ] && [ -e "$work/cache/kernel/vmlinux" ] && [ -e "$work/cache/images/base.ext4" ]; then
		BENCH_GUEST=$(readlink -f "$work/cache/kernel/vmlinux"):$(readlink -f "$work/cache/images/base.ext4")
		export BENCH_GUEST
	fi
}

# bench_parse ARGS...: the common options; a script's own ones go to its bench_option
# function first, which sets NSHIFT to how many words it took (0: not its option).
# Keeps the original words in `args` for the inner half.
bench_parse() {
	args=("$@")
	while [ $# -gt 0 ]; do
		NSHIFT=0
		if declare -F bench_option >/dev/null; then
			bench_option "$@"
		fi
		if [ "$NSHIFT" -gt 0 ]; then
			shift "$NSHIFT"
			continue
		fi
		case "$1" in
		-n) num "$1" "${2:-}"; runs=$2; shift 2 ;;
		--memory) num "$1" "${2:-}"; memory=$2; shift 2 ;;
		--timeout) num "$1" "${2:-}"; timeout=$2; shift 2 ;;
		--l1-cpus) num "$1" "${2:-}"; l1_cpus=$2; shift 2 ;;
		--l1-mem) num "$1" "${2:-}"; l1_mem=$2; shift 2 ;;
		--l1-timeout) num "$1" "${2:-}"; l1_timeout=$2; shift 2 ;;
		--out) [ -n "${2:-}" ] || die "--out needs a directory"; out=$2; shift 2 ;;
		# Internal: the measuring half, run where /dev/kvm works.
		--inner) inner=1; shift ;;
		--kernel) kernel=$2; shift 2 ;;
		--image) image=$2; shift 2 ;;
		-h | --help) usage ;;
		*) die "unknown argument '$1' (see --help)" ;;
		esac
	done
	mkdir -p "$out" || die "cannot create $out"
	out=$(cd "$out" && pwd -P)
}

# bench_build_tools TOOL...: build/bench/boot_timer (timer), boot_report (report),
# vsock_exec, timed_exec.
bench_build_tools() {
	local cflags="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
		-Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE -I$TOP/include -I$TOP/src"
	local t
	mkdir -p "$TOP/build/bench"
	for t in "$@"; do
		# shellcheck disable=SC2086
		case $t in
		timer)
			cc $cflags -o "$TIMER" "$HERE/boot_timer.c" "$HERE/console_watch.c" \
				"$HERE/agent_vsock.c" "$TOP/build/libkiln.a" -ljansson -lpthread ||
				die "cannot build $TIMER"
			;;
		report) cc $cflags -o "$REPORT" "$HERE/boot_report.c" -ljansson || die "cannot build $REPORT" ;;
		vsock_exec)
			cc $cflags -o "$VX" "$TOP/tests/integration/vsock_exec.c" \
				"$TOP/build/libkiln.a" -ljansson -lsqlite3 -larchive -lmnl \
				-lnftables -lpthread -ldl || die "cannot build $VX"
			;;
		timed_exec) cc $cflags -o "$TEXEC" "$HERE/timed_exec.c" || die "cannot build $TEXEC" ;;
		*) die "bench_build_tools: unknown tool $t" ;;
		esac
	done
}

# Does this host's /dev/kvm suit the benchmark?  A KVM that emulates guest kernel mode (the
# PVM backend of the development machines, docs/TESTING-HARNESS.md) cannot run QEMU's
# -cpu host and makes every guest kernel path seconds long: such scripts measure in the
# harness's nested KVM there; KILN_BENCH_KVM=host insists on this host's, =l1 on the harness.
# bench_kvm_here [pvm_ok]
bench_kvm_here() {
	[ "${KILN_BENCH_KVM:-}" = l1 ] && return 1
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	[ ! -e /sys/module/kvm_pvm ] || [ "${1:-}" = pvm_ok ] ||
		[ "${KILN_BENCH_KVM:-}" = host ]
}

# bench_host_half SCRIPT [pvm_ok] [TOOL...]: build everything (make unless BENCH_NO_MAKE=1,
# guest kernel and base image unless BENCH_GUEST is set, the bench tools named), then run SCRIPT --inner with the original
# arguments here if the KVM suits it, else inside the nested-KVM harness (l1_cpus, l1_mem,
# l1_timeout).  Does not return.
bench_host_half() {
	local script=$1 pvm=
	local -a share=() mem=()
	shift
	if [ "${1:-}" = pvm_ok ]; then
		pvm=pvm_ok
		shift
	fi
	say "building (make, guest kernel, base image, bench tools)"
	if [ "${BENCH_NO_MAKE:-0}" != 1 ]; then
		make -C "$TOP" --no-print-directory -s all >&2 || die "make failed"
	fi
	# BENCH_GUEST=KERNEL:IMAGE: these files, not the cached recipes' (which rebuild the image
	# when build/kiln-agent changed)
	if [ -n "${BENCH_GUEST:-}" ]; then
		kernel=${BENCH_GUEST%%:*}
		image=${BENCH_GUEST#*:}
	else
		kernel=$("$TOP/guest/kernel/build.sh") || die "guest kernel build failed"
		image=$("$TOP/guest/images/base/build.sh") || die "base image build failed"
	fi
	bench_build_tools "$@"
	# The load on the machine itself (L1 only sees its own); recorded in the env line.
	KILN_BENCH_HOST_LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
	KILN_BENCH_HOST_CPU="$(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	export KILN_BENCH_HOST_LOADAVG KILN_BENCH_HOST_CPU
	set -- --inner --kernel "$(readlink -f "$kernel")" --image "$(readlink -f "$image")" \
		"${args[@]}"
	if bench_kvm_here $pvm; then
		exec "$script" "$@"
	fi
	say "no usable /dev/kvm here (missing, or PVM): running inside the nested-KVM harness" \
		"(L1 under QEMU TCG)"
	# The harness makes the current git tree writable in L1: run from ours, and share an
	# output directory outside it too.
	case "$out/" in "$TOP"/*) ;; *) share=(--rw "$out") ;; esac
	[ -n "$l1_mem" ] && mem=(--mem "$l1_mem")
	cd "$TOP" || die "cannot cd to $TOP"
	local rc=0
	"$TOP/tests/harness/run-in-l1.sh" --cpus "$l1_cpus" "${mem[@]}" --timeout "$l1_timeout" \
		"${share[@]}" -- "$script" "$@" || rc=$?
	[ "$rc" = 125 ] && die "the nested-KVM harness failed (see above); results so far are in $out"
	exit "$rc"
}

# The inner half's checks: KVM, the tools named, --kernel/--image.
bench_inner_check() {
	local t
	[ -c /dev/kvm ] || die "/dev/kvm missing"
	for t in "$@"; do
		[ -x "$t" ] || die "bench tools not built (run without --inner)"
	done
	[ -f "$kernel" ] && [ -f "$image" ] || die "--kernel/--image missing"
}
