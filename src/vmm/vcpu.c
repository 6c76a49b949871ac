/* SPDX-License-Identifier: MIT */
/*
 * vCPU setup and run loop.  Register state follows boot.rst's 64-bit
 * protocol (see boot.h); MSRs are set before the first KVM_RUN because a
 * kernel that reads e.g. MTRRdefType = 0 treats all memory as uncached.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "cpuid.h"
#include "io.h"
#include "seccomp.h"
#include "vcpu.h"
#include "vm.h"

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static __thread struct kvm_run *vcpu_tls_run;

static void vcpu_kick_handler(int sig)
{
	struct kvm_run *run = vcpu_tls_run;

	(void)sig;
	if (run)
		run->immediate_exit = 1;
}

int vcpu_kick_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void vcpu_kick_bind(struct kvm_run *run)
{
	vcpu_tls_run = run;
}

int vcpu_create(struct vm *vm, struct vcpu *v, int id, char *err, size_t errlen)
{
	long sz;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %d: %s", id,
			 strerror(errno));
		return -1;
	}
	sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (long)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s",
			 sz < 0 ? strerror(errno) : "too small");
		goto fail;
	}
	v->run_size = (size_t)sz;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		snprintf(err, errlen, "mmap of vCPU %d state: %s", id,
			 strerror(errno));
		goto fail;
	}
	return 0;
fail:
	close(v->fd);
	v->fd = -1;
	return -1;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	v->run = NULL;
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

static const struct boot_msr {
	uint32_t index;
	uint64_t value;
	const char *name;
} boot_msrs[] = {
	{0x174, 0, "IA32_SYSENTER_CS"},
	{0x175, 0, "IA32_SYSENTER_ESP"},
	{0x176, 0, "IA32_SYSENTER_EIP"},
	{0xc0000081, 0, "STAR"},
	{0xc0000082, 0, "LSTAR"},
	{0xc0000083, 0, "CSTAR"},
	{0xc0000084, 0, "SYSCALL_MASK"},
	{0xc0000102, 0, "KERNEL_GS_BASE"},
	{0x10, 0, "IA32_TSC"},
	{0x1a0, 1, "IA32_MISC_ENABLE"}, /* fast strings */
	{0x2ff, (1 << 11) | 6, "MTRRdefType"}, /* MTRRs on, write-back */
};

#define NBOOT_MSRS (sizeof(boot_msrs) / sizeof(boot_msrs[0]))

int vcpu_set_boot_msrs(int vcpu_fd, int id, char *err, size_t errlen)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[NBOOT_MSRS];
	} m;
	size_t first = 0;

	/*
	 * KVM_SET_MSRS stops at the first MSR it refuses and returns how many
	 * it set.  A KVM that lacks one of these is still usable (the kernel
	 * programs them itself), so skip it with a warning and go on.
	 */
	while (first < NBOOT_MSRS) {
		size_t n = NBOOT_MSRS - first;
		int rc;

		memset(&m, 0, sizeof(m));
		m.hdr.nmsrs = (uint32_t)n;
		for (size_t i = 0; i < n; i++) {
			m.e[i].index = boot_msrs[first + i].index;
			m.e[i].data = boot_msrs[first + i].value;
		}
		rc = ioctl(vcpu_fd, KVM_SET_MSRS, &m);
		if (rc < 0) {
			snprintf(err, errlen, "vCPU %d: KVM_SET_MSRS: %s", id,
				 strerror(errno));
			return -1;
		}
		if ((size_t)rc >= n)
			break;
		fprintf(stderr,
			"kiln-vmm: vCPU %d: KVM refused MSR %#x (%s); "
			"continuing without it\n",
			id, boot_msrs[first + (size_t)rc].index,
			boot_msrs[first + (size_t)rc].name);
		first += (size_t)rc + 1;
	}
	return 0;
}

int vcpu_set_long_mode(int vcpu_fd, uint64_t rip, uint64_t rsi)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	boot_sregs_long_mode(&s);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rsi = rsi;
	r.rsp = BOOT_STACK_ADDR;
	r.rbp = BOOT_STACK_ADDR;
	r.rflags = 0x2; /* reserved bit; interrupts off */
	if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

static void lapic_set_mode(struct kvm_lapic_state *l, int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], 4);
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&l->regs[reg], &v, 4);
}

int vcpu_setup(struct vcpu *v, uint64_t entry, char *err, size_t errlen)
{
	struct vm *vm = v->vm;
	struct kvm_cpuid2 *cpuid = cpuid_dup(vm->cpuid);
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	int rc;

	if (!cpuid) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cpuid_set_topology(cpuid, (unsigned int)v->id, (unsigned int)vm->ncpus,
			   vm->smt);
	rc = ioctl(v->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (rc < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_SET_CPUID2: %s", v->id,
			 strerror(errno));
		return -1;
	}
	if (vcpu_set_boot_msrs(v->fd, v->id, err, errlen))
		return -1;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f; /* x87 default: all exceptions masked */
	fpu.mxcsr = 0x1f80; /* SSE default: all exceptions masked */
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_SET_FPU: %s", v->id,
			 strerror(errno));
		return -1;
	}

	/* Virtual wire: the PIC reaches the CPU through LINT0, NMI LINT1. */
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_GET_LAPIC: %s", v->id,
			 strerror(errno));
		return -1;
	}
	lapic_set_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_SET_LAPIC: %s", v->id,
			 strerror(errno));
		return -1;
	}

	if (v->id == 0) {
		rc = vcpu_set_long_mode(v->fd, entry, BOOT_ZERO_PAGE_ADDR);
		if (rc) {
			snprintf(err, errlen, "vCPU 0: boot registers: %s",
				 strerror(-rc));
			return -1;
		}
	} else {
		/* Application processors sleep in the in-kernel LAPIC until
		 * the kernel sends INIT/SIPI (KVM's default; made explicit). */
		struct kvm_mp_state mp = {.mp_state =
						  KVM_MP_STATE_UNINITIALIZED};

		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0) {
			snprintf(err, errlen, "vCPU %d: KVM_SET_MP_STATE: %s",
				 v->id, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void vcpu_dump_code(struct vcpu *v, const struct kvm_regs *r,
			   const struct kvm_sregs *s)
{
	struct kvm_translation t = {0};
	bool long_mode = (s->efer & 0x400) && s->cs.l;
	uint64_t len;
	uint8_t *p;

	t.linear_address = long_mode ? r->rip : s->cs.base + r->rip;
	if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid) {
		fprintf(stderr, "kiln-vmm:   code: RIP is not mapped\n");
		return;
	}
	len = 16;
	if (len > 4096 - (t.physical_address & 0xfff))
		len = 4096 - (t.physical_address & 0xfff);
	p = guest_mem_ptr(&v->vm->mem, t.physical_address, len);
	if (!p) {
		fprintf(stderr,
			"kiln-vmm:   code: RIP maps to %#llx, not guest RAM\n",
			(unsigned long long)t.physical_address);
		return;
	}
	fprintf(stderr, "kiln-vmm:   code at %#llx:",
		(unsigned long long)t.physical_address);
	for (uint64_t i = 0; i < len; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, "\n");
}

void vcpu_dump(struct vcpu *v, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	fprintf(stderr, "kiln-vmm: vCPU %d: %s\n", v->id, why);
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "kiln-vmm:   (registers unavailable: %s)\n",
			strerror(errno));
		return;
	}
	fprintf(stderr,
		"kiln-vmm:   RIP %016llx RSP %016llx RFLAGS %08llx\n"
		"kiln-vmm:   RAX %016llx RBX %016llx RCX %016llx\n"
		"kiln-vmm:   RDX %016llx RSI %016llx RDI %016llx\n"
		"kiln-vmm:   RBP %016llx R8  %016llx R9  %016llx\n"
		"kiln-vmm:   R10 %016llx R11 %016llx R12 %016llx\n"
		"kiln-vmm:   R13 %016llx R14 %016llx R15 %016llx\n"
		"kiln-vmm:   CR0 %016llx CR2 %016llx CR3 %016llx\n"
		"kiln-vmm:   CR4 %016llx EFER %llx CS %04x (base %llx, "
		"l %u, dpl %u)\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi,
		r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
		r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector,
		s.cs.base, s.cs.l, s.cs.dpl);
	vcpu_dump_code(v, &r, &s);
}

static const char *internal_error_name(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected hardware exit";
	default:
		return "unknown";
	}
}

static bool vcpu_exit_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data;

	if (run->io.data_offset > v->run_size ||
	    bytes > v->run_size - run->io.data_offset) {
		fprintf(stderr,
			"kiln-vmm: vCPU %d: KVM_EXIT_IO data outside the run "
			"page\n",
			v->id);
		vm_request_exit(v->vm, VM_EXIT_ERROR);
		return true;
	}
	data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < run->io.count; i++)
		io_dispatch(&v->vm->pio, run->io.port,
			    data + (size_t)i * run->io.size, run->io.size,
			    run->io.direction == KVM_EXIT_IO_OUT);
	return false;
}

/* Handle one exit.  Returns true when this vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	char why[160];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vcpu_exit_io(v);
	case KVM_EXIT_MMIO:
		if (run->mmio.len > sizeof(run->mmio.data))
			return false; /* KVM never does this */
		io_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
			    run->mmio.len, run->mmio.is_write);
		return false;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC, i.e. never here. */
		fprintf(stderr,
			"kiln-vmm: vCPU %d halted (KVM_EXIT_HLT); treating it "
			"as power-off\n",
			v->id);
		vm_request_exit(vm, VM_EXIT_POWEROFF);
		return true;
	case KVM_EXIT_SHUTDOWN: {
		/* A deliberate reboot (reboot=t) or a crash: say where. */
		struct kvm_regs r;
		bool have_regs = ioctl(v->fd, KVM_GET_REGS, &r) == 0;

		/*
		 * KVM on AMD (SVM) INITs the vCPU before reporting the
		 * shutdown, so RIP reads as the reset vector 0xfff0 and says
		 * nothing about where the guest faulted: say so rather than
		 * send readers after a bogus address.
		 */
		if (have_regs && r.rip == 0xfff0)
			snprintf(why, sizeof(why),
				 "triple fault on vCPU %d; fault address "
				 "unknown (KVM already reset the vCPU)",
				 v->id);
		else if (have_regs)
			snprintf(why, sizeof(why),
				 "triple fault on vCPU %d at RIP %#llx", v->id,
				 (unsigned long long)r.rip);
		else
			snprintf(why, sizeof(why), "triple fault on vCPU %d",
				 v->id);
		vm_guest_reset(vm, why);
		return true;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			fprintf(stderr, "kiln-vmm: guest powered off\n");
			vm_request_exit(vm, VM_EXIT_POWEROFF);
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_guest_reset(vm, "reset system event");
			break;
		case KVM_SYSTEM_EVENT_CRASH:
			vcpu_dump(v, "guest reported a crash");
			vm_request_exit(vm, VM_EXIT_CRASH);
			break;
		default:
			fprintf(stderr,
				"kiln-vmm: vCPU %d: unknown system event %u\n",
				v->id, run->system_event.type);
			vm_request_exit(vm, VM_EXIT_ERROR);
			break;
		}
		return true;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, sizeof(why), "KVM internal error %u (%s)",
			 run->internal.suberror,
			 internal_error_name(run->internal.suberror));
		vcpu_dump(v, why);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, "kiln-vmm:   data[%u] = %#llx\n", i,
				(unsigned long long)run->internal.data[i]);
		vm_request_exit(vm, VM_EXIT_CRASH);
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why),
			 "VM entry failed (hardware reason %#llx on host CPU "
			 "%u)",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason,
			 run->fail_entry.cpu);
		vcpu_dump(v, why);
		vm_request_exit(vm, VM_EXIT_CRASH);
		return true;
	default:
		snprintf(why, sizeof(why), "unexpected KVM exit reason %u",
			 run->exit_reason);
		vcpu_dump(v, why);
		vm_request_exit(vm, VM_EXIT_ERROR);
		return true;
	}
}

/*
 * Restore timing: how long from process start to the first guest entry.
 * The absolute CLOCK_MONOTONIC time is printed too, so a tool that started
 * the process (bench/boot_timer.c) can measure from its own fork().
 */
static void vcpu_report_first_run(struct vcpu *v)
{
	struct timespec ts;
	int64_t now;

	if (v->id != 0 || !v->vm->report_first_run)
		return;
	v->vm->report_first_run = false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	fprintf(stderr,
		"kiln-vmm: first KVM_RUN %.1f ms after start (monotonic %lld "
		"ns)\n",
		(double)(now - v->vm->start_ns) / 1e6, (long long)now);
}

static void vcpu_mark_exited(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->run_lock);
	v->exited = true;
	pthread_cond_broadcast(&vm->run_cond); /* a pauser may be waiting */
	pthread_mutex_unlock(&vm->run_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16], err[256];

	snprintf(name, sizeof(name), "vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
	/* Before the guest runs: a vCPU thread needs far less than main. */
	if (seccomp_install(SECCOMP_VCPU, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: vCPU %d: %s\n", v->id, err);
		vm_request_exit(v->vm, VM_EXIT_ERROR);
		vcpu_mark_exited(v);
		return NULL;
	}
	vcpu_kick_bind(v->run);
	/* Nothing pending before the first entry: a consistent point. */
	vm_vcpu_park_if_paused(v->vm, v);
	vcpu_report_first_run(v);
	while (!vm_exiting(v->vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Kicked.  KVM completed any pending MMIO/PIO
				 * before returning EINTR, so this is the place
				 * to park. */
				v->run->immediate_exit = 0;
				vm_vcpu_park_if_paused(v->vm, v);
				continue;
			}
			fprintf(stderr, "kiln-vmm: vCPU %d: KVM_RUN: %s\n",
				v->id, strerror(errno));
			vm_request_exit(v->vm, VM_EXIT_ERROR);
			break;
		}
		if (vcpu_handle_exit(v))
			break;
	}
	vcpu_kick_bind(NULL);
	vcpu_mark_exited(v);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (rc)
		return -rc;
	/* Published after v->thread is written: vcpu_kick() may run on
	 * another vCPU's thread at any time. */
	__atomic_store_n(&v->started, true, __ATOMIC_RELEASE);
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (__atomic_load_n(&v->started, __ATOMIC_ACQUIRE))
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (__atomic_load_n(&v->started, __ATOMIC_ACQUIRE))
		pthread_join(v->thread, NULL);
	__atomic_store_n(&v->started, false, __ATOMIC_RELEASE);
}
