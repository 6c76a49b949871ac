/* SPDX-License-Identifier: MIT */
/*
 * kvm-check: does /dev/kvm run guest code?  Used by tests/harness/check.sh
 * inside L1.
 *
 * Three small guests, each in a fresh VM, each must end exactly as it would on
 * a hardware-virtualised host: real-mode   16-bit code sums 1..100 and reports
 * 5050 with OUT, then HLT long-mode   64-bit ring-0 code with paging runs 1M
 * loop iterations, then OUT 1 int3        64-bit ring-0 INT3 is delivered
 * through the guest IDT (the handler reports with OUT); PVM-style KVMs fail
 * this with an emulation error Prints one line per case and "kvm-check: all N
 * cases passed" or exits 1.
 *
 * Build: cc -std=gnu11 -O2 -static -o kvm-check kvm-check.c
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (4u << 20)
#define CODE_GPA 0x100000u
#define PML4_GPA 0x9000u
#define GDT_GPA 0x500u
#define IDT_GPA 0x1000u
#define HANDLER_GPA 0x3000u
#define STACK_GPA 0x8000u
#define MAX_EXITS 1000

struct guest {
	int kvm, vm, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int guest_create(struct guest *g, int kvm)
{
	struct kvm_userspace_memory_region region = {0};
	long run_size;

	g->kvm = kvm;
	g->vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (g->vm < 0) {
		perror("kvm-check: KVM_CREATE_VM");
		return -1;
	}
	g->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->mem == MAP_FAILED) {
		perror("kvm-check: mmap guest memory");
		return -1;
	}
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)g->mem;
	if (ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		perror("kvm-check: KVM_SET_USER_MEMORY_REGION");
		return -1;
	}
	g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
	if (g->vcpu < 0) {
		perror("kvm-check: KVM_CREATE_VCPU");
		return -1;
	}
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0) {
		perror("kvm-check: KVM_GET_VCPU_MMAP_SIZE");
		return -1;
	}
	g->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->vcpu, 0);
	if (g->run == MAP_FAILED) {
		perror("kvm-check: mmap kvm_run");
		return -1;
	}
	return 0;
}

static void guest_destroy(struct guest *g)
{
	if (g->vcpu >= 0)
		close(g->vcpu);
	if (g->vm >= 0)
		close(g->vm);
	if (g->mem && g->mem != MAP_FAILED)
		munmap(g->mem, MEM_SIZE);
}

/*
 * Run until HLT.  Every OUT to port 0x10 or 0x11 is recorded in *port / *value
 * (the last one wins).  Returns 0 on HLT, -1 with a message on anything else.
 */
static int guest_run(struct guest *g, const char *name, uint16_t *port,
		     uint32_t *value)
{
	for (int i = 0; i < MAX_EXITS; i++) {
		if (ioctl(g->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kvm-check: %s: KVM_RUN: %s\n", name,
				strerror(errno));
			return -1;
		}
		struct kvm_run *r = g->run;

		switch (r->exit_reason) {
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_IO:
			if (r->io.direction == KVM_EXIT_IO_OUT &&
			    r->io.count == 1) {
				uint32_t v = 0;

				memcpy(&v, (uint8_t *)r + r->io.data_offset,
				       r->io.size);
				*port = r->io.port;
				*value = v;
				continue;
			}
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr,
				"kvm-check: %s: KVM_EXIT_INTERNAL_ERROR "
				"suberror %u "
				"(KVM could not run the guest instruction)\n",
				name, r->internal.suberror);
			return -1;
		default:
			break;
		}
		fprintf(stderr, "kvm-check: %s: unexpected exit reason %u\n",
			name, r->exit_reason);
		return -1;
	}
	fprintf(stderr, "kvm-check: %s: no HLT after %d exits\n", name,
		MAX_EXITS);
	return -1;
}

/* 16-bit real mode at 0x1000: sum 1..100, OUT 0x10 with the sum, HLT. */
static int case_real_mode(struct guest *g, double *secs)
{
	static const uint8_t code[] = {
		0x31, 0xc0, /* xor ax, ax */
		0xb9, 0x64, 0x00, /* mov cx, 100 */
		0x01, 0xc8, /* add ax, cx      <- loop */
		0xe2, 0xfc, /* loop -4 */
		0xba, 0x10, 0x00, /* mov dx, 0x10 */
		0xef, /* out dx, ax */
		0xf4, /* hlt */
	};
	struct kvm_sregs s;
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
	uint16_t port = 0;
	uint32_t value = 0;

	memcpy(g->mem + 0x1000, code, sizeof(code));
	if (ioctl(g->vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(g->vcpu, KVM_SET_SREGS, &s) < 0 ||
	    ioctl(g->vcpu, KVM_SET_REGS, &regs) < 0) {
		perror("kvm-check: real-mode: set registers");
		return -1;
	}
	double t0 = now();
	if (guest_run(g, "real-mode", &port, &value) < 0)
		return -1;
	*secs = now() - t0;
	if (port != 0x10 || (value & 0xffff) != 5050) {
		fprintf(stderr,
			"kvm-check: real-mode: guest reported port %#x value "
			"%u, want 0x10 5050\n",
			port, value & 0xffff);
		return -1;
	}
	return 0;
}

/* Identity-map 1 GiB with 2 MiB pages; GDT with 64-bit code; IDT vectors 0-31
 * -> handler. */
static int setup_long_mode(struct guest *g)
{
	static const uint8_t handler[] = {
		0xb0, 0x03, /* mov al, 3 */
		0x66, 0xba, 0x11, 0x00, /* mov dx, 0x11 */
		0xee, /* out dx, al */
		0xf4, /* hlt */
	};
	uint64_t *pml4 = (uint64_t *)(g->mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(g->mem + PML4_GPA + 0x1000);
	uint64_t *pd = (uint64_t *)(g->mem + PML4_GPA + 0x2000);
	uint64_t *gdt = (uint64_t *)(g->mem + GDT_GPA);
	uint64_t *idt = (uint64_t *)(g->mem + IDT_GPA);
	struct kvm_sregs s;

	pml4[0] = (PML4_GPA + 0x1000) | 3;
	pdpt[0] = (PML4_GPA + 0x2000) | 3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
	gdt[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00cf93000000ffffull; /* 0x10: data */
	memcpy(g->mem + HANDLER_GPA, handler, sizeof(handler));
	for (int v = 0; v < 32; v++) {
		/* 64-bit interrupt gate, present, DPL 0, selector 0x08. */
		idt[2 * v] = (HANDLER_GPA & 0xffff) | (0x08ull << 16) |
			     (0x8eull << 40) |
			     ((uint64_t)(HANDLER_GPA >> 16) << 48);
		idt[2 * v + 1] = 0;
	}

	if (ioctl(g->vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs = (struct kvm_segment){.limit = 0xffffffff,
				    .selector = 0x08,
				    .type = 11,
				    .present = 1,
				    .s = 1,
				    .l = 1,
				    .g = 1};
	struct kvm_segment ds = {.limit = 0xffffffff,
				 .selector = 0x10,
				 .type = 3,
				 .present = 1,
				 .s = 1,
				 .db = 1,
				 .g = 1};
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.gdt.base = GDT_GPA;
	s.gdt.limit = 3 * 8 - 1;
	s.idt.base = IDT_GPA;
	s.idt.limit = 32 * 16 - 1;
	s.cr3 = PML4_GPA;
	s.cr4 = 0x20; /* PAE */
	s.cr0 = 0x80000000u | 0x10 | 0x1; /* PG, ET, PE */
	s.efer = 0x500; /* LME, LMA */
	struct kvm_regs regs = {.rip = CODE_GPA, .rsp = STACK_GPA, .rflags = 2};

	if (ioctl(g->vcpu, KVM_SET_SREGS, &s) < 0 ||
	    ioctl(g->vcpu, KVM_SET_REGS, &regs) < 0) {
		perror("kvm-check: long mode: set registers");
		return -1;
	}
	return 0;
}

static int case_long_mode(struct guest *g, double *secs)
{
	static const uint8_t code[] = {
		0xb9, 0x40, 0x42, 0x0f, 0x00, /* mov ecx, 1000000 */
		0xff, 0xc9, /* dec ecx          <- loop */
		0x75, 0xfc, /* jnz -4 */
		0xb0, 0x01, /* mov al, 1 */
		0x66, 0xba, 0x10, 0x00, /* mov dx, 0x10 */
		0xee, /* out dx, al */
		0xf4, /* hlt */
	};
	uint16_t port = 0;
	uint32_t value = 0;

	memcpy(g->mem + CODE_GPA, code, sizeof(code));
	if (setup_long_mode(g) < 0)
		return -1;
	double t0 = now();
	if (guest_run(g, "long-mode", &port, &value) < 0)
		return -1;
	*secs = now() - t0;
	if (port != 0x10 || (value & 0xff) != 1) {
		fprintf(stderr,
			"kvm-check: long-mode: guest reported port %#x value "
			"%u, want 0x10 1\n",
			port, value & 0xff);
		return -1;
	}
	return 0;
}

static int case_int3(struct guest *g, double *secs)
{
	static const uint8_t code[] = {
		0xcc, /* int3 -> handler: OUT 0x11 <- 3, HLT */
		0xb0, 0x01, /* mov al, 1 (must not run) */
		0x66, 0xba, 0x10, 0x00, /* mov dx, 0x10 */
		0xee, /* out dx, al */
		0xf4, /* hlt */
	};
	uint16_t port = 0;
	uint32_t value = 0;

	memcpy(g->mem + CODE_GPA, code, sizeof(code));
	if (setup_long_mode(g) < 0)
		return -1;
	double t0 = now();
	if (guest_run(g, "int3", &port, &value) < 0)
		return -1;
	*secs = now() - t0;
	if (port != 0x11 || (value & 0xff) != 3) {
		fprintf(stderr,
			"kvm-check: int3: guest reported port %#x value %u, "
			"want 0x11 3\n",
			port, value & 0xff);
		return -1;
	}
	return 0;
}

int main(void)
{
	static const struct {
		const char *name;
		int (*fn)(struct guest *g, double *secs);
	} cases[] = {
		{"real-mode", case_real_mode},
		{"long-mode", case_long_mode},
		{"int3", case_int3},
	};
	int n = sizeof(cases) / sizeof(cases[0]), failed = 0;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0) {
		fprintf(stderr, "kvm-check: open /dev/kvm: %s\n",
			strerror(errno));
		return 1;
	}
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);

	if (api != KVM_API_VERSION) {
		fprintf(stderr, "kvm-check: KVM API version %d, want %d\n", api,
			KVM_API_VERSION);
		return 1;
	}
	printf("kvm-check: /dev/kvm API %d\n", api);
	for (int i = 0; i < n; i++) {
		struct guest g = {.vm = -1, .vcpu = -1};
		double secs = 0;
		int rc = guest_create(&g, kvm);

		if (rc == 0)
			rc = cases[i].fn(&g, &secs);
		if (rc == 0)
			printf("kvm-check: %-10s ok (%.4f s)\n", cases[i].name,
			       secs);
		else
			printf("kvm-check: %-10s FAILED\n", cases[i].name);
		failed += rc != 0;
		guest_destroy(&g);
	}
	if (failed) {
		printf("kvm-check: %d of %d cases failed\n", failed, n);
		return 1;
	}
	printf("kvm-check: all %d cases passed\n", n);
	return 0;
}
