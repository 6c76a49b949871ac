#!/bin/bash
# `make demo`: build (or reuse from the cache) the guest kernel and the base
# image, then run a command in a fresh microVM with `kiln run`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /dev/kvm ]; then
	echo "kiln: /dev/kvm not found: kiln needs KVM (load kvm_intel or kvm_amd," >&2
	echo "      enable virtualization in the firmware, or use a host/VM that exposes it)" >&2
	exit 1
fi

guest/kernel/build.sh >/dev/null
guest/images/base/build.sh build/kiln-agent >/dev/null

echo "kiln: starting a sandbox (the first boot can take a while on emulated KVM)" >&2
exec build/kiln run --cpus 2 -- sh -c \
	'echo "hello from $(uname -n): $(uname -sr), $(nproc) vCPUs"; cat /etc/os-release | head -1'
