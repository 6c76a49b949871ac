#!/bin/bash
# Boot the guest N times with kiln-vmm and count boots whose exit status is
# not the expected one (a stress tool for intermittent boot failures; not part
# of `make test`).  Needs /dev/kvm; without it, run it inside the harness:
#
#   tests/harness/run-in-l1.sh --cpus 1 -- tests/stress/boot-loop.sh 60 3 none
#
# Usage: boot-loop.sh N EXPECT_STATUS DEVICES [VMM] [CPUS]
#   DEVICES: none, or a comma list of vsock,rng
# Consoles and stderr of unexpected boots are kept in build/stress/.
set -u
cd "$(dirname "$0")/../.."
n=$1 expect=$2 devs=$3 vmm=${4:-build/kiln-vmm} cpus=${5:-1}
cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
out=build/stress/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
fails=0
for i in $(seq 1 "$n"); do
	d=$(mktemp -d /run/kiln-stress-XXXXXX)
	args=(--kernel "$cache/kernel/vmlinux" --drive "$cache/images/base.ext4,ro"
		--cmdline "console=ttyS0 panic=-1 reboot=t root=/dev/vda ro init=/sbin/kiln-agent"
		--cpus "$cpus" --memory 256 --console "$d/console.log")
	case ",$devs," in *,vsock,*) args+=(--vsock-cid 3 --vsock-uds "$d/v.sock") ;; esac
	case ",$devs," in *,rng,*) args+=(--rng) ;; esac
	timeout -k 5 120 "$vmm" "${args[@]}" >/dev/null 2>"$d/stderr"
	rc=$?
	echo "run $i: status $rc"
	if [ "$rc" != "$expect" ]; then
		fails=$((fails + 1))
		cp "$d/console.log" "$out/console-$i.log"
		cp "$d/stderr" "$out/stderr-$i.log"
	fi
	rm -rf "$d"
done
echo "boot-loop: $fails/$n boots ended with a status other than $expect (logs in $out)"
[ "$fails" -eq 0 ]
