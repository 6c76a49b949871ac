/* SPDX-License-Identifier: MIT */
/*
 * One microVM: the KVM VM, its memory, buses, vCPUs and event loop.
 * Init order (vm_create -> devices attach -> vm_boot_setup or a snapshot
 * restore -> vm_start, the caller runs the event loop -> vm_wait) is
 * described in docs/ARCHITECTURE.md; vmm.c drives it.
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
	/* The console saw "Kernel panic - not syncing": a reset that follows
	 * is a crash, not a reboot. */
	bool guest_panicked; /* __atomic_* access */

	/*
	 * Pause handshake (vm_pause/vm_resume).  pause_epoch counts pause
	 * requests; a vCPU parks recording the epoch it parked for, and a
	 * pause completes only when every running vCPU has parked for the
	 * current epoch.  So a resume quickly followed by a pause can never be
	 * mistaken for "already paused" by a vCPU still parked from before.
	 */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond; /* CLOCK_MONOTONIC */
	bool pause_wanted; /* under run_lock; read racily by vCPUs as a hint */
	uint64_t pause_epoch;
	bool paused; /* vm_pause succeeded and no vm_resume since */

	/* Dirty tracking (KVM_MEM_LOG_DIRTY_PAGES) is on for the memslots. */
	bool track_dirty;
	/* Report "first KVM_RUN after N ms" measured from start_ns
	 * (CLOCK_MONOTONIC) on vCPU 0's first entry (restore timing). */
	int64_t start_ns;
	bool report_first_run;
};

/* How vm_create builds the VM. */
struct vm_params {
	int ncpus;
	uint64_t mem_size;
	bool smt;
	/* -1: anonymous RAM.  Otherwise a memory file (mem_file.h layout:
	 * the regions back to back) mapped MAP_PRIVATE: a restore. */
	int mem_fd;
	bool track_dirty;
};

/*
 * Open /dev/kvm, check the API version and capabilities, create the VM
 * with its in-kernel irqchip and PIT, guest RAM and its memory slots, and
 * p->ncpus vCPUs (not yet configured).  loop is the caller's event loop
 * (it exists before the VM: the API serves requests before any VM) and
 * outlives the VM.  On failure everything is released and err says what
 * to do.  0 or -1.
 */
int vm_create(struct vm *vm, struct evloop *loop, const struct vm_params *p,
	      char *err, size_t errlen);
/* Join the vCPUs (if started) and release everything but the loop. */
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
 * Start the vCPU threads (they park at once if vm_pause_initial() was
 * called).  The caller runs the event loop; vm_request_exit() stops it.
 * SIGTERM, SIGINT and SIGHUP must be blocked in all threads
 * (vm_block_signals) before any thread is created.  0 or -1 with err.
 */
int vm_start(struct vm *vm, char *err, size_t errlen);

/* Join the vCPU threads after the loop stopped; how the VM ended. */
enum vm_exit vm_wait(struct vm *vm);

/* Start paused: vCPUs created by vm_start park before their first
 * KVM_RUN until vm_resume().  Call before vm_start. */
void vm_pause_initial(struct vm *vm);

/*
 * Stop every vCPU outside KVM_RUN with its state consistent (pending
 * MMIO/PIO completed), waiting at most timeout_ms.  Event loop thread only.
 * 0, or -1 with err (then the VM keeps running).
 */
int vm_pause(struct vm *vm, int timeout_ms, char *err, size_t errlen);
/* Let paused vCPUs run again. */
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);

/* vCPU side of the handshake (vcpu.c): called at a consistent point;
 * returns after the pause is over (or the VM ends). */
void vm_vcpu_park_if_paused(struct vm *vm, struct vcpu *v);

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

/*
 * Dirty tracking (vm->track_dirty): fill dirty[i] (guest_mem_bitmap_bytes
 * of region i) with the pages written since the last call, by the guest
 * (KVM_GET_DIRTY_LOG, which also resets KVM's log) or by the VMM (the
 * regions' vmm_dirty bitmaps, cleared too).  vCPUs paused.  0 or -1 with
 * err.
 */
int vm_dirty_fetch(struct vm *vm, uint64_t *dirty[GUEST_MEM_MAX_REGIONS],
		   char *err, size_t errlen);

/* End the VM (first caller wins): stops vCPUs and the event loop. */
void vm_request_exit(struct vm *vm, enum vm_exit why);

#endif
