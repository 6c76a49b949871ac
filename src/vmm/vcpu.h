/* SPDX-License-Identifier: MIT */
/*
 * vCPUs: one thread each, doing nothing but KVM_RUN and exit handling.
 * Stopping: vm_request_exit() sets vm->exiting and sends VCPU_KICK_SIGNAL
 * to every vCPU thread; the handler sets kvm_run.immediate_exit, so a vCPU
 * in (or about to enter) KVM_RUN returns EINTR at once and its thread sees
 * vm->exiting.  The signal is installed without SA_RESTART.
 */
#ifndef KILN_VMM_VCPU_H
#define KILN_VMM_VCPU_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct vm;

#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	/* pause handshake, under vm->run_lock */
	bool parked;
	uint64_t parked_epoch;
	bool exited; /* the thread left its loop (the VM is ending) */
};

/* Install the kick handler (process-wide).  0 or -errno. */
int vcpu_kick_install(void);
/* Route kicks received by the calling thread to run (NULL: none). */
void vcpu_kick_bind(struct kvm_run *run);

/* KVM_CREATE_VCPU + mmap of kvm_run.  0 or -1 with err. */
int vcpu_create(struct vm *vm, struct vcpu *v, int id, char *err,
		size_t errlen);
void vcpu_destroy(struct vcpu *v);

/*
 * Configure a vCPU before its first KVM_RUN: CPUID (vm->cpuid plus this
 * vCPU's topology), boot MSRs, FPU, LAPIC LINT0 = ExtINT / LINT1 = NMI.
 * The boot vCPU (id 0) also gets long-mode registers with RIP = entry and
 * RSI = zero page; the others are left waiting for INIT/SIPI.
 * 0 or -1 with err.
 */
int vcpu_setup(struct vcpu *v, uint64_t entry, char *err, size_t errlen);

/* Set the boot MSRs.  Exposed for the CPUID probe VM. */
int vcpu_set_boot_msrs(int vcpu_fd, int id, char *err, size_t errlen);

/* Long-mode sregs/regs for entry at rip with rsi (probe VM and boot). */
int vcpu_set_long_mode(int vcpu_fd, uint64_t rip, uint64_t rsi);

int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);

/* Registers, control registers and the bytes at RIP, to stderr. */
void vcpu_dump(struct vcpu *v, const char *why);

#endif
