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

#include "cpuid.h"
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
	bool exiting; /* read without the lock with __atomic_load_n */
	enum vm_exit exit_reason;

	/* --- VMM core (vm.c); zero/-1 in unit tests without KVM --- */
	uint64_t mem_size;
	bool smt;
	struct kvm_cpuid2 *cpuid; /* template applied, before topology */
	int sigfd; /* signalfd for SIGTERM/SIGINT/SIGHUP, or -1 */
	/* The console saw "Kernel panic - not syncing": a reset that follows
	 * is a crash, not a reboot. */
	bool guest_panicked; /* __atomic_* access */
};

/*
 * Open /dev/kvm, check the API version and capabilities, create the VM
 * with its in-kernel irqchip and PIT, guest RAM (mem_size bytes) and its
 * memory slots, the event loop and ncpus vCPUs (not yet configured).
 * On failure everything is released and err says what to do.  0 or -1.
 */
int vm_create(struct vm *vm, int ncpus, uint64_t mem_size, bool smt, char *err,
	      size_t errlen);
void vm_destroy(struct vm *vm);

/* Build vm->cpuid from KVM's supported CPUID and template t.  0 or -1. */
int vm_setup_cpuid(struct vm *vm, enum cpu_template tmpl, char *err,
		   size_t errlen);

struct boot_kernel;

/*
 * Load the kernel (and initrd, may be NULL), write the zero page with the
 * final command line, the CPU tables and the MP table, and configure every
 * vCPU (CPUID, MSRs, boot registers on vCPU 0, LAPIC; the others wait for
 * INIT/SIPI).  Devices must be attached first.  0 or -1 with err.
 */
int vm_boot_setup(struct vm *vm, const struct boot_kernel *k,
		  const char *initrd_path, char *err, size_t errlen);

/*
 * Start the vCPU threads, run the event loop on the calling thread until
 * the VM ends, join the vCPUs.  Returns how it ended.  SIGTERM, SIGINT and
 * SIGHUP must be blocked in all threads (vm_block_signals) before any
 * thread is created.
 */
enum vm_exit vm_run(struct vm *vm);

/* Block SIGTERM/SIGINT/SIGHUP (delivered via signalfd), ignore SIGPIPE and
 * install the vCPU kick handler.  Call first thing in main.  0 or -errno. */
int vm_block_signals(void);

/* The guest reset itself (triple fault, i8042 reset, reset event): a reboot,
 * or a crash if the console showed a kernel panic.  why is logged. */
void vm_guest_reset(struct vm *vm, const char *why);

/* True once vm_request_exit() was called. */
bool vm_exiting(struct vm *vm);

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
