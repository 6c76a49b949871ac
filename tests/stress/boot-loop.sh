#!/bin/bash
# Boot the guest N times and count boots that do not reach the agent's
# "kiln-agent: ready" console line (a stress tool for intermittent boot
# failures; not part of `make test`).  Each boot is stopped once ready.
# Needs /dev/kvm; without it, run it inside the harness:
#
#   tests/harness/run-in-l1.sh --cpus 1 -- tests/stress/boot-loop.sh 60 none
#   tests/harness/run-in-l1.sh --cpus 1 -- tests/stress/boot-loop.sh 60 none qemu
#
# Usage: boot-loop.sh N DEVICES [VMM] [CPUS]
#   DEVICES: none, or a comma list of vsock,rng (kiln-vmm only)
#   VMM: path of kiln-vmm (default build/kiln-vmm), or "qemu" to boot the same
#   kernel, image and command line with QEMU -M microvm: the peer tells a
#   kiln-vmm defect from one of the (nested) KVM underneath.
# Consoles and stderr of failed boots are kept in build/stress/.
set -u
cd "$(dirname "$0")/../.."
n=$1 devs=$2 vmm=${3:-build/kiln-vmm} cpus=${4:-1}
cache=${KILN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
cmdline="console=ttyS0 panic=-1 reboot=t root=/dev/vda ro init=/sbin/kiln-agent"
out=build/stress/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
fails=0
for i in $(seq 1 "$n"); do
	d=$(mktemp -d /run/kiln-stress-XXXXXX)
	: >"$d/console.log"
	if [ "$vmm" = qemu ]; then
		# shellcheck disable=SC2054 # commas belong to QEMU's option values
		qemu-system-x86_64 -M microvm,acpi=off,rtc=off,isa-serial=on \
			-enable-kvm -cpu host -m 256 -smp "$cpus" -nodefaults -no-user-config \
			-nographic -no-reboot -kernel "$cache/kernel/vmlinux" -append "$cmdline" \
			-drive "id=root,file=$cache/images/base.ext4,format=raw,if=none,readonly=on" \
			-device virtio-blk-device,drive=root -serial "file:$d/console.log" \
			>/dev/null 2>"$d/stderr" &
	else
		args=(--kernel "$cache/kernel/vmlinux" --drive "$cache/images/base.ext4,ro"
			--cmdline "$cmdline" --cpus "$cpus" --memory 256 --console "$d/console.log")
		case ",$devs," in *,vsock,*) args+=(--vsock-cid 3 --vsock-uds "$d/v.sock") ;; esac
		case ",$devs," in *,rng,*) args+=(--rng) ;; esac
		"$vmm" "${args[@]}" >/dev/null 2>"$d/stderr" &
	fi
	pid=$!
	start=$(date +%s%N)
	result=hung
	# poll the console with a deadline: ready, VMM gone, or 120 s
	while [ $(($(date +%s%N) - start)) -lt 120000000000 ]; do
		if grep -q "kiln-agent: ready" "$d/console.log"; then
			result=ready
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			result="exited-$?"
			break
		fi
		sleep 0.1
	done
	ms=$((($(date +%s%N) - start) / 1000000))
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "run $i: $result after $ms ms"
	if [ "$result" != ready ]; then
		fails=$((fails + 1))
		cp "$d/console.log" "$out/console-$i.log"
		cp "$d/stderr" "$out/stderr-$i.log"
	fi
	rm -rf "$d"
done
echo "boot-loop: $fails/$n boots did not reach the agent ($vmm; logs in $out)"
[ "$fails" -eq 0 ]
