/* SPDX-License-Identifier: MIT */
/*
 * Does this KVM honour KVM_SET_CPUID2?  Hardware KVM does; the PVM backend
 * of platform.md shows the guest the host's CPUID whatever was set.  The
 * only reliable test is to ask a guest: a throwaway VM with 2 MiB of RAM
 * and one vCPU, given the template's CPUID with a marker vendor string,
 * runs CPUID for a few leaves in 64-bit ring 0 (where a kernel reads it)
 * and stores the answers in memory.  If the vendor is not the marker, the
 * CPUID we set is being ignored.  Cost: one small VM, one KVM_RUN.
 *
 * Then the same guest runs one POPCNT in ring 0: hardware runs it, the PVM
 * backend's ring-0 emulator cannot (KVM_EXIT_INTERNAL_ERROR).  A KVM that
 * emulates ring 0 needs the guest command line of cpuid_guest_cmdline()
 * even when it honours KVM_SET_CPUID2: the guest must not use XSAVE,
 * POPCNT, ... in its kernel, nor make hypercalls.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "cpuid.h"
#include "vcpu.h"

#define PROBE_MEM_SIZE (2ULL << 20)
#define PROBE_CODE_ADDR 0x1000ULL
#define PROBE_TABLE_ADDR 0x2000ULL
#define PROBE_DONE_PORT 0x10
#define PROBE_RING0_PORT 0x11
#define PROBE_DEADLINE_SEC 5
#define PROBE_MAX_EXITS 64

/* Vendor string given to the probe guest: "KilnCPUProbe". */
static const char probe_vendor[12] = "KilnCPUProbe";

/*
 * for (; rdi; rdi--, rsi += 24) {
 *	eax = [rsi]; ecx = [rsi + 4]; cpuid;
 *	[rsi + 8] = eax; [rsi + 12] = ebx; [rsi + 16] = ecx; [rsi + 20] = edx;
 * }
 * out 0x10, al; hlt
 */
static const uint8_t probe_code[] = {
	0x8b, 0x06, /* mov eax, [rsi] */
	0x8b, 0x4e,
	0x04, /* mov ecx, [rsi + 4] */
	0x0f, 0xa2, /* cpuid */
	0x89, 0x46,
	0x08, /* mov [rsi + 8], eax */
	0x89, 0x5e,
	0x0c, /* mov [rsi + 12], ebx */
	0x89, 0x4e,
	0x10, /* mov [rsi + 16], ecx */
	0x89, 0x56,
	0x14, /* mov [rsi + 20], edx */
	0x48, 0x83,
	0xc6, 0x18, /* add rsi, 24 */
	0xff, 0xcf, /* dec edi */
	0x75, 0xe5, /* jnz 0 */
	0xe6, PROBE_DONE_PORT, /* out 0x10, al */
	0xf3, 0x0f,
	0xb8, 0xc1, /* popcnt eax, ecx */
	0xe6, PROBE_RING0_PORT, /* out 0x11, al */
	0xf4, /* hlt */
};

struct probe_slot {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};

static const uint32_t probe_leaves[][2] = {
	{0, 0}, {1, 0}, {7, 0}, {0xd, 0}, {0x80000001, 0},
};

#define NPROBE (sizeof(probe_leaves) / sizeof(probe_leaves[0]))

struct kvm_cpuid2 *cpuid_kvm_supported(int kvm_fd)
{
	for (uint32_t n = 128; n <= CPUID_MAX_ENTRIES; n *= 2) {
		struct kvm_cpuid2 *c = cpuid_alloc(n);
		int e;

		if (!c)
			return NULL;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		e = errno;
		free(c);
		if (e != E2BIG) {
			errno = e;
			return NULL;
		}
	}
	errno = E2BIG;
	return NULL;
}

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct kvm_cpuid2 *probe_table_alloc(void)
{
	struct kvm_cpuid2 *c = cpuid_alloc(NPROBE);

	if (!c)
		return NULL;
	for (size_t i = 0; i < NPROBE; i++) {
		c->entries[i].function = probe_leaves[i][0];
		c->entries[i].index = probe_leaves[i][1];
		if (probe_leaves[i][0] == 7 || probe_leaves[i][0] == 0xd)
			c->entries[i].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	}
	return c;
}

/* What the VMM itself sees; the fallback when no probe guest can run. */
static struct kvm_cpuid2 *probe_host_view(void)
{
	struct kvm_cpuid2 *c = probe_table_alloc();

	for (size_t i = 0; c && i < NPROBE; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		__asm__ volatile("cpuid"
				 : "=a"(e->eax), "=b"(e->ebx), "=c"(e->ecx),
				   "=d"(e->edx)
				 : "a"(e->function), "c"(e->index));
	}
	return c;
}

struct probe_vm {
	int vm_fd, vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	timer_t timer;
	bool timer_armed;
};

static void probe_vm_close(struct probe_vm *p)
{
	vcpu_kick_bind(NULL);
	if (p->timer_armed)
		timer_delete(p->timer);
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->vcpu_fd >= 0)
		close(p->vcpu_fd);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
	if (p->mem)
		munmap(p->mem, PROBE_MEM_SIZE);
}

/* Kick this thread out of KVM_RUN after the deadline (a guest that never
 * exits must not hang the VMM's start). */
static int probe_arm_deadline(struct probe_vm *p)
{
	struct sigevent sev;
	struct itimerspec its = {.it_value = {PROBE_DEADLINE_SEC, 0}};

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = VCPU_KICK_SIGNAL;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &p->timer) < 0)
		return -errno;
	p->timer_armed = true;
	if (timer_settime(p->timer, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

/* Run the probe guest; fill seen.  0 or -1 with why. */
/*
 * After the CPUID answers: let the guest run its POPCNT.  1 if ring 0 ran
 * it, 0 if KVM could not emulate it, -1 if we cannot tell (e.g. a CPU
 * without POPCNT takes #UD and, with no IDT, shuts down).
 */
static int probe_ring0_native(struct probe_vm *p)
{
	for (int i = 0; i < PROBE_MAX_EXITS; i++) {
		if (ioctl(p->vcpu_fd, KVM_RUN, 0) < 0)
			return -1; /* incl. EINTR from the deadline */
		if (p->run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (p->run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			return 0;
		if (p->run->exit_reason == KVM_EXIT_IO &&
		    p->run->io.port == PROBE_RING0_PORT)
			return 1;
		return -1;
	}
	return -1;
}

static int probe_run(int kvm_fd, const struct kvm_cpuid2 *set,
		     struct kvm_cpuid2 *seen, int *ring0_native, char *why,
		     size_t whylen)
{
	struct probe_vm p = {.vm_fd = -1, .vcpu_fd = -1};
	struct kvm_userspace_memory_region region = {0};
	struct guest_mem gm = {0};
	struct kvm_cpuid2 *c = NULL;
	struct kvm_cpuid_entry2 *leaf0;
	struct probe_slot *slots;
	struct kvm_regs regs;
	uint64_t idmap = 0xfffbc000;
	long sz;
	int rc = -1, rerr;

	p.vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (p.vm_fd < 0) {
		snprintf(why, whylen, "KVM_CREATE_VM: %s", strerror(errno));
		goto out;
	}
	p.mem = mmap(NULL, PROBE_MEM_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p.mem == MAP_FAILED) {
		p.mem = NULL;
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		goto out;
	}
	gm.nregions = 1;
	gm.r[0] = (struct guest_region){
		.gpa = 0, .size = PROBE_MEM_SIZE, .hva = p.mem};
	gm.total = PROBE_MEM_SIZE;
	if (boot_write_cpu_tables(&gm)) {
		snprintf(why, whylen, "page tables do not fit");
		goto out;
	}
	memcpy(p.mem + PROBE_CODE_ADDR, probe_code, sizeof(probe_code));
	slots = (struct probe_slot *)(p.mem + PROBE_TABLE_ADDR);
	for (size_t i = 0; i < NPROBE; i++) {
		slots[i].function = probe_leaves[i][0];
		slots[i].index = probe_leaves[i][1];
	}
	region.memory_size = PROBE_MEM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)p.mem;
	if (ioctl(p.vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		snprintf(why, whylen, "KVM_SET_USER_MEMORY_REGION: %s",
			 strerror(errno));
		goto out;
	}
	/* Same fixed addresses and order as the real VM (vm.c: memory before
	 * the irqchip; VMX needs the two pages for real mode emulation on old
	 * hosts; harmless elsewhere). */
	ioctl(p.vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	ioctl(p.vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	ioctl(p.vm_fd, KVM_CREATE_IRQCHIP, 0);

	p.vcpu_fd = ioctl(p.vm_fd, KVM_CREATE_VCPU, 0UL);
	sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (p.vcpu_fd < 0 || sz < (long)sizeof(struct kvm_run)) {
		snprintf(why, whylen, "KVM_CREATE_VCPU: %s", strerror(errno));
		goto out;
	}
	p.run_size = (size_t)sz;
	p.run = mmap(NULL, p.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     p.vcpu_fd, 0);
	if (p.run == MAP_FAILED) {
		p.run = NULL;
		snprintf(why, whylen, "mmap kvm_run: %s", strerror(errno));
		goto out;
	}

	c = cpuid_dup(set);
	leaf0 = c ? cpuid_find(c, 0, 0) : NULL;
	if (!leaf0) {
		snprintf(why, whylen, "no CPUID leaf 0 to mark");
		goto out;
	}
	memcpy(&leaf0->ebx, probe_vendor, 4);
	memcpy(&leaf0->edx, probe_vendor + 4, 4);
	memcpy(&leaf0->ecx, probe_vendor + 8, 4);
	if (ioctl(p.vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		snprintf(why, whylen, "KVM_SET_CPUID2: %s", strerror(errno));
		goto out;
	}
	rerr = vcpu_set_long_mode(p.vcpu_fd, PROBE_CODE_ADDR, PROBE_TABLE_ADDR);
	if (!rerr && ioctl(p.vcpu_fd, KVM_GET_REGS, &regs) < 0)
		rerr = -errno;
	if (!rerr) {
		regs.rdi = NPROBE;
		if (ioctl(p.vcpu_fd, KVM_SET_REGS, &regs) < 0)
			rerr = -errno;
	}
	if (rerr) {
		snprintf(why, whylen, "vCPU registers: %s", strerror(-rerr));
		goto out;
	}

	vcpu_kick_install();
	vcpu_kick_bind(p.run);
	if (probe_arm_deadline(&p)) {
		snprintf(why, whylen, "timer_create: %s", strerror(errno));
		goto out;
	}
	for (int i = 0;; i++) {
		if (i >= PROBE_MAX_EXITS) {
			snprintf(why, whylen, "too many exits");
			goto out;
		}
		if (ioctl(p.vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				snprintf(why, whylen,
					 "no answer within %d s (KVM_RUN "
					 "interrupted)",
					 PROBE_DEADLINE_SEC);
			else
				snprintf(why, whylen, "KVM_RUN: %s",
					 strerror(errno));
			goto out;
		}
		if (p.run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (p.run->exit_reason == KVM_EXIT_IO &&
		    p.run->io.port == PROBE_DONE_PORT)
			break;
		snprintf(why, whylen, "probe guest stopped with exit %u%s",
			 p.run->exit_reason,
			 p.run->exit_reason == KVM_EXIT_INTERNAL_ERROR
				 ? " (internal error)"
				 : "");
		goto out;
	}
	*ring0_native = probe_ring0_native(&p);
	for (size_t i = 0; i < NPROBE; i++) {
		seen->entries[i].eax = slots[i].eax;
		seen->entries[i].ebx = slots[i].ebx;
		seen->entries[i].ecx = slots[i].ecx;
		seen->entries[i].edx = slots[i].edx;
	}
	rc = 0;
out:
	free(c);
	probe_vm_close(&p);
	return rc;
}

void cpuid_probe(int kvm_fd, const struct kvm_cpuid2 *set,
		 struct cpuid_probe_result *r, char *note, size_t notelen)
{
	double t0 = now_sec();
	char why[160] = "";
	struct kvm_cpuid2 *seen = probe_table_alloc();
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	int native = -1;

	memset(r, 0, sizeof(*r));
	note[0] = '\0';
	if (seen &&
	    probe_run(kvm_fd, set, seen, &native, why, sizeof(why)) == 0) {
		struct kvm_cpuid_entry2 *e = cpuid_find(seen, 0, 0);
		char v[12];

		memcpy(v, &e->ebx, 4);
		memcpy(v + 4, &e->edx, 4);
		memcpy(v + 8, &e->ecx, 4);
		r->ran = true;
		r->honoured = !memcmp(v, probe_vendor, sizeof(v));
		r->seen = seen;
		/* no clear answer: the module name is the best hint */
		r->ring0_emulated = native == 0 || (native < 0 && pvm);
	} else {
		/* No answer from a guest: the module name is the best hint,
		 * and the VMM's own view stands in for the guest's. */
		bool oom = !seen;

		free(seen);
		r->seen = probe_host_view();
		r->honoured = !pvm;
		r->ring0_emulated = pvm;
		snprintf(note, notelen,
			 "CPUID probe failed (%s); %s /sys/module/kvm_pvm, "
			 "assuming KVM_SET_CPUID2 is %s",
			 oom ? "out of memory" : why, pvm ? "found" : "no",
			 pvm ? "ignored" : "honoured");
	}
	r->seconds = now_sec() - t0;
}
