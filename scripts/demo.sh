#!/bin/bash
# `make demo`: build (or reuse from the cache) the guest kernel and the base
# image, then run a command in a fresh microVM with `kiln run`.
#
# Without /dev/kvm (a development machine that is itself a guest) the demo
# runs inside the nested-KVM harness (tests/harness, QEMU TCG with emulated
# SVM): slow, but a real KVM.  With a PVM /dev/kvm it runs here, slowly.
set -euo pipefail
cd "$(dirname "$0")/.."

guest/kernel/build.sh >/dev/null
guest/images/base/build.sh build/kiln-agent >/dev/null

demo=(build/kiln run --cpus 2 -- sh -c
	'echo "hello from $(hostname): $(uname -sr), $(nproc) vCPUs, $(head -1 /etc/os-release)"')

if [ -e /dev/kvm ]; then
	if [ -e /sys/module/kvm_pvm ]; then
		# This KVM emulates guest kernel mode (docs/TESTING-HARNESS.md): the
		# one cold boot that makes the base snapshot takes minutes here.
		export KILN_BOOT_TIMEOUT=${KILN_BOOT_TIMEOUT:-1800}
		echo "kiln: this host's KVM emulates guest kernel mode: the first sandbox boots" >&2
		echo "      for several minutes to make the base snapshot; later ones restore it" >&2
	fi
	echo "kiln: starting a sandbox" >&2
	exec "${demo[@]}"
fi
echo "kiln: /dev/kvm not found: kiln needs KVM (load kvm_intel or kvm_amd, enable" >&2
echo "      virtualization in the firmware, or use a host that exposes it)." >&2
echo "kiln: running the demo inside the nested-KVM test harness instead (QEMU TCG L1," >&2
echo "      see docs/TESTING-HARNESS.md); this adds ~20 s" >&2
exec tests/harness/run-in-l1.sh --cpus 1 -- "${demo[@]}"
