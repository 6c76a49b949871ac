#!/bin/bash
# `make demo`: build (or reuse from the cache) the guest kernel and the base
# image, then run a command in a fresh microVM with `kiln run`.
#
# Without /dev/kvm (a development machine that is itself a PVM guest) the
# demo runs inside the nested-KVM harness (tests/harness, QEMU TCG with
# emulated SVM): slow, but a real KVM.
set -euo pipefail
cd "$(dirname "$0")/.."

guest/kernel/build.sh >/dev/null
guest/images/base/build.sh build/kiln-agent >/dev/null

demo=(build/kiln run --cpus 2 -- sh -c
	'echo "hello from $(hostname): $(uname -sr), $(nproc) vCPUs, $(head -1 /etc/os-release)"')

if [ -e /dev/kvm ]; then
	echo "kiln: starting a sandbox" >&2
	exec "${demo[@]}"
fi
echo "kiln: /dev/kvm not found: kiln needs KVM (load kvm_intel or kvm_amd, enable" >&2
echo "      virtualization in the firmware, or use a host that exposes it)." >&2
echo "kiln: running the demo inside the nested-KVM test harness instead (QEMU TCG L1," >&2
echo "      see docs/TESTING-HARNESS.md); this adds ~20 s" >&2
exec tests/harness/run-in-l1.sh --cpus 1 -- "${demo[@]}"
