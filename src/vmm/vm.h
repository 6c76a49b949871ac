/* SPDX-License-Identifier: MIT */
/*
 * One microVM: the KVM VM, its memory, buses, vCPUs and event loop.
 * Init order (vm_create -> devices attach -> vm_boot_setup -> vm_run) is
 * described in docs/ARCHITECTURE.md.
 */
#ifndef KILN_VMM_VM_H
#define KILN_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "guest_mem.h"
#include "io.h"

#define VM_MAX_VCPUS 32
#define VM_MIN_MEM_MIB 128
#define VM_MAX_MEM_MIB 16384
#define VM_CMDLINE_MAX 4096

/* virtio-mmio windows: 4 KiB each from here, GSIs from VM_VIRTIO_GSI_BASE. */
#define VM_VIRTIO_MMIO_BASE 0xD0000000ULL
#define VM_VIRTIO_MMIO_SIZE 0x1000ULL
#define VM_VIRTIO_GSI_BASE 5
#define VM_VIRTIO_GSI_MAX 23

/* How the VMM ends: the process exit status of kiln-vmm. */
enum vm_exit {
	VM_EXIT_POWEROFF = 0, /* guest powered off */
	VM_EXIT_ERROR = 1, /* VMM error (bad config, KVM failure) */
	VM_EXIT_REBOOT = 2, /* guest asked for a reboot / triple fault */
	VM_EXIT_CRASH = 3, /* guest crashed (emulation failure, shutdown) */
	VM_EXIT_SIGNAL = 4, /* stopped by SIGTERM/SIGINT */
};

struct vcpu;

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct evloop *loop;

	int ncpus;
	struct vcpu *vcpus;

	/* allocators for device windows (before vCPUs start) */
	uint64_t next_mmio;
	uint32_t next_gsi;

	char cmdline[VM_CMDLINE_MAX];
	size_t cmdline_len;

	/* set once by the first vCPU/device that ends the VM */
	pthread_mutex_t exit_lock;
	bool exiting;
	enum vm_exit exit_reason;
};

/* Claim the next virtio-mmio window and GSI.  Returns 0 or -ENOSPC. */
int vm_alloc_mmio(struct vm *vm, uint64_t *base, uint32_t *gsi);

/* Append " <text>" to the guest kernel command line.  0 or -ENOSPC. */
int vm_cmdline_append(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Wire eventfd efd to raise gsi (KVM_IRQFD).  0 or -errno. */
int vm_irqfd(struct vm *vm, int efd, uint32_t gsi);

/* Make a 4-byte guest write of datamatch to addr signal efd (KVM_IOEVENTFD). */
int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t datamatch);
int vm_ioeventfd_remove(struct vm *vm, int efd, uint64_t addr,
			uint32_t datamatch);

/* End the VM (first caller wins): stops vCPUs and the event loop. */
void vm_request_exit(struct vm *vm, enum vm_exit why);

#endif
