/* SPDX-License-Identifier: MIT */
/*
 * CPU templates and per-vCPU CPUID topology (pure functions on
 * struct kvm_cpuid2; the KVM ioctls are in cpuid_probe.c).  The baseline
 * template is documented in cpuid.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpuid.h"

#define BIT(n) (1U << (n))

int cpu_template_from_name(const char *name, enum cpu_template *out)
{
	if (!strcmp(name, "host"))
		*out = CPU_TEMPLATE_HOST;
	else if (!strcmp(name, "baseline"))
		*out = CPU_TEMPLATE_BASELINE;
	else
		return -1;
	return 0;
}

const char *cpu_template_name(enum cpu_template t)
{
	return t == CPU_TEMPLATE_BASELINE ? "baseline" : "host";
}

struct kvm_cpuid2 *cpuid_alloc(uint32_t nent)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (c)
		c->nent = nent;
	return c;
}

struct kvm_cpuid2 *cpuid_dup(const struct kvm_cpuid2 *c)
{
	size_t sz = sizeof(*c) + c->nent * sizeof(c->entries[0]);
	struct kvm_cpuid2 *d = malloc(sz);

	if (d)
		memcpy(d, c, sz);
	return d;
}

struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c,
				    uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e =
			(struct kvm_cpuid_entry2 *)&c->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) &&
		    e->index != index)
			continue;
		return e;
	}
	return NULL;
}

static uint32_t *cpuid_reg_ptr(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	switch (r) {
	case CPUID_EAX:
		return &e->eax;
	case CPUID_EBX:
		return &e->ebx;
	case CPUID_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

bool cpuid_has_bit(const struct kvm_cpuid2 *c, uint32_t function,
		   uint32_t index, enum cpuid_reg reg, unsigned int bit)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);

	return e && (*cpuid_reg_ptr(e, reg) & BIT(bit));
}

static void cpuid_keep(struct kvm_cpuid2 *c, uint32_t function, uint32_t index,
		       enum cpuid_reg reg, uint32_t keep)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);

	if (e)
		*cpuid_reg_ptr(e, reg) &= keep;
}

/* Zero every subleaf of a leaf (the entries stay: KVM then reports 0s). */
static void cpuid_zero_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == function)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

/* Baseline allow lists (see cpuid.h for the names). */
#define BASE_1_ECX                                                             \
	(BIT(0) | BIT(1) | BIT(9) | BIT(13) | BIT(19) | BIT(20) | BIT(21) |    \
	 BIT(22) | BIT(23) | BIT(24) | BIT(25) | BIT(26) | BIT(27) | BIT(30) | \
	 BIT(31))
#define BASE_1_EDX                                                             \
	(0x3FFU | BIT(11) | BIT(12) | BIT(13) | BIT(14) | BIT(15) | BIT(16) |  \
	 BIT(17) | BIT(19) | BIT(23) | BIT(24) | BIT(25) | BIT(26) | BIT(27) | \
	 BIT(28))
#define BASE_7_EBX                                                        \
	(BIT(0) | BIT(1) | BIT(3) | BIT(7) | BIT(8) | BIT(18) | BIT(19) | \
	 BIT(20) | BIT(23))
#define BASE_7_ECX 0U
#define BASE_7_EDX (BIT(10) | BIT(26) | BIT(27) | BIT(29) | BIT(31))
#define BASE_X1_ECX (BIT(0) | BIT(5) | BIT(8))
/* AMD repeats leaf 1 EDX bits 0-9, 12-17, 23, 24 in 0x80000001 EDX. */
#define BASE_X1_EDX                                                           \
	((BASE_1_EDX & 0x0183F3FFU) | BIT(11) | BIT(20) | BIT(26) | BIT(27) | \
	 BIT(29))
/* XSAVE components kept: x87 and SSE; legacy area + header = 576 bytes. */
#define BASE_XCR0 0x3U
#define BASE_XSAVE_SIZE 576U

static void cpuid_apply_baseline(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e;

	cpuid_keep(c, 1, 0, CPUID_ECX, BASE_1_ECX);
	cpuid_keep(c, 1, 0, CPUID_EDX, BASE_1_EDX);
	cpuid_keep(c, 7, 0, CPUID_EBX, BASE_7_EBX);
	cpuid_keep(c, 7, 0, CPUID_ECX, BASE_7_ECX);
	cpuid_keep(c, 7, 0, CPUID_EDX, BASE_7_EDX);
	/* No subleaves of 7 beyond 0. */
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 7 && e->index > 0)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
	e = cpuid_find(c, 7, 0);
	if (e)
		e->eax = 0; /* max subleaf */

	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function != 0xD)
			continue;
		if (e->index == 0) {
			e->eax &= BASE_XCR0;
			e->edx = 0;
			e->ebx = e->ecx = BASE_XSAVE_SIZE;
		} else {
			/* subleaf 1: XSAVEOPT/XSAVEC/XGETBV1/XSAVES, IA32_XSS;
			 * 2..: per-component layout */
			e->eax = e->ebx = e->ecx = e->edx = 0;
		}
	}
	cpuid_zero_leaf(c, 0x12); /* SGX */
	cpuid_zero_leaf(c, 0x14); /* Processor Trace */
	cpuid_zero_leaf(c, 0x19); /* Key Locker */
	cpuid_zero_leaf(c, 0x1D); /* AMX tiles */
	cpuid_zero_leaf(c, 0x1E); /* AMX TMUL */
	cpuid_keep(c, 0x80000001, 0, CPUID_ECX, BASE_X1_ECX);
	cpuid_keep(c, 0x80000001, 0, CPUID_EDX, BASE_X1_EDX);
}

void cpuid_apply_template(struct kvm_cpuid2 *c, enum cpu_template t)
{
	struct kvm_cpuid_entry2 *e;

	if (t == CPU_TEMPLATE_BASELINE)
		cpuid_apply_baseline(c);
	/* Tell the guest it is virtualised in both templates. */
	e = cpuid_find(c, 1, 0);
	if (e)
		e->ecx |= BIT(31);
}

static unsigned int ceil_log2(unsigned int n)
{
	unsigned int s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

static bool cpuid_vendor_is(const struct kvm_cpuid2 *c, const char *v12)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0, 0);
	char v[12];

	if (!e)
		return false;
	memcpy(v, &e->ebx, 4);
	memcpy(v + 4, &e->edx, 4);
	memcpy(v + 8, &e->ecx, 4);
	return !memcmp(v, v12, 12);
}

static void cpuid_set_ext_topology(struct kvm_cpuid_entry2 *e,
				   unsigned int apic, unsigned int ncpus,
				   unsigned int threads)
{
	unsigned int smt_shift = ceil_log2(threads);
	unsigned int pkg_shift = smt_shift + ceil_log2(ncpus / threads);

	switch (e->index) {
	case 0: /* SMT level */
		e->eax = smt_shift;
		e->ebx = threads;
		e->ecx = (1U << 8) | 0;
		break;
	case 1: /* core level: the whole package */
		e->eax = pkg_shift;
		e->ebx = ncpus;
		e->ecx = (2U << 8) | 1;
		break;
	default: /* no further levels */
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
	e->edx = apic;
}

void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned int cpu,
			unsigned int ncpus, bool smt)
{
	unsigned int threads = (smt && ncpus > 1) ? 2 : 1;
	unsigned int cores = ncpus / threads;
	unsigned int apic = cpu; /* KVM's default LAPIC ID is the vcpu id */
	bool amd = cpuid_vendor_is(c, "AuthenticAMD") ||
		   cpuid_vendor_is(c, "HygonGenuine");

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* brand index and CLFLUSH size stay; count, APIC ID */
			if (!(e->ebx & 0xFF00))
				e->ebx |= 8U << 8; /* 64-byte lines */
			e->ebx = (e->ebx & 0xFFFF) |
				 ((ncpus > 255 ? 255 : ncpus) << 16) |
				 (apic << 24);
			if (ncpus > 1)
				e->edx |= BIT(28); /* HTT: multi-threaded pkg */
			else
				e->edx &= ~BIT(28);
			break;
		case 4: {
			unsigned int level = (e->eax >> 5) & 7;
			unsigned int share = level <= 2 ? threads : ncpus;

			if ((e->eax & 0x1F) == 0)
				break; /* no cache at this subleaf */
			e->eax &= ~(0xFC000000U | 0x03FFC000U);
			e->eax |= ((cores - 1) & 0x3F) << 26;
			e->eax |= ((share - 1) & 0xFFF) << 14;
			break;
		}
		case 0xB:
		case 0x1F:
			cpuid_set_ext_topology(e, apic, ncpus, threads);
			break;
		case 0x80000008:
			if (amd)
				e->ecx = (e->ecx & ~0xF0FFU) |
					 (ceil_log2(ncpus) << 12) |
					 ((ncpus - 1) & 0xFF);
			break;
		case 0x8000001E:
			if (amd) {
				e->eax = apic;
				e->ebx = ((threads - 1) << 8) |
					 ((cpu / threads) & 0xFF);
				e->ecx = 0; /* one node */
				e->edx = 0;
			}
			break;
		default:
			break;
		}
	}
}

/*
 * Features the guest kernel may be told to ignore with clearcpuid=, by
 * priority.  EMUL: the PVM ring-0 emulator cannot run the instruction
 * (shared/kernel/README.md, verified list).  XSAVE_DEP: `noxsave` already
 * clears it through the kernel's CPUID dependency table (cpuid-deps.c:
 * XSAVE -> AVX -> AVX2/AVX-512/FMA/VAES..., XSAVE -> PKU).
 */
#define F_EMUL 1U
#define F_XSAVE_DEP 2U

struct cpuid_feature {
	const char *name; /* as in /proc/cpuinfo and clearcpuid= */
	uint32_t function, index;
	enum cpuid_reg reg;
	uint8_t bit;
	uint8_t flags;
};

static const struct cpuid_feature cpuid_features[] = {
	{"popcnt", 1, 0, CPUID_ECX, 23, F_EMUL},
	{"rdrand", 1, 0, CPUID_ECX, 30, F_EMUL},
	{"rdseed", 7, 0, CPUID_EBX, 18, F_EMUL},
	{"fsgsbase", 7, 0, CPUID_EBX, 0, F_EMUL},
	{"smap", 7, 0, CPUID_EBX, 20, F_EMUL},
	{"smep", 7, 0, CPUID_EBX, 7, F_EMUL},
	{"movbe", 1, 0, CPUID_ECX, 22, F_EMUL},
	{"bmi1", 7, 0, CPUID_EBX, 3, F_EMUL},
	{"bmi2", 7, 0, CPUID_EBX, 8, F_EMUL},
	{"f16c", 1, 0, CPUID_ECX, 29, F_EMUL},
	{"aes", 1, 0, CPUID_ECX, 25, F_EMUL},
	{"pclmulqdq", 1, 0, CPUID_ECX, 1, F_EMUL},
	{"sha_ni", 7, 0, CPUID_EBX, 29, F_EMUL},
	{"abm", 0x80000001, 0, CPUID_ECX, 5, F_EMUL},
	{"adx", 7, 0, CPUID_EBX, 19, F_EMUL},
	{"umip", 7, 0, CPUID_ECX, 2, F_EMUL},
	{"rdpid", 7, 0, CPUID_ECX, 22, F_EMUL},
	/* template-only masks, most consequential first */
	{"pcid", 1, 0, CPUID_ECX, 17, 0},
	{"invpcid", 7, 0, CPUID_EBX, 10, 0},
	{"hle", 7, 0, CPUID_EBX, 4, 0},
	{"rtm", 7, 0, CPUID_EBX, 11, 0},
	{"erms", 7, 0, CPUID_EBX, 9, 0},
	{"fsrm", 7, 0, CPUID_EDX, 4, 0},
	{"clwb", 7, 0, CPUID_EBX, 24, 0},
	{"gfni", 7, 0, CPUID_ECX, 8, 0},
	{"movdiri", 7, 0, CPUID_ECX, 27, 0},
	{"movdir64b", 7, 0, CPUID_ECX, 28, 0},
	{"waitpkg", 7, 0, CPUID_ECX, 5, 0},
	{"cldemote", 7, 0, CPUID_ECX, 25, 0},
	{"serialize", 7, 0, CPUID_EDX, 14, 0},
	/* covered by noxsave; named only if room is left */
	{"avx", 1, 0, CPUID_ECX, 28, F_EMUL | F_XSAVE_DEP},
	{"avx2", 7, 0, CPUID_EBX, 5, F_EMUL | F_XSAVE_DEP},
	{"avx512f", 7, 0, CPUID_EBX, 16, F_EMUL | F_XSAVE_DEP},
	{"fma", 1, 0, CPUID_ECX, 12, F_EMUL | F_XSAVE_DEP},
	{"pku", 7, 0, CPUID_ECX, 3, F_XSAVE_DEP},
	{"vaes", 7, 0, CPUID_ECX, 9, F_XSAVE_DEP},
	{"vpclmulqdq", 7, 0, CPUID_ECX, 10, F_XSAVE_DEP},
};

#define NFEATURES (sizeof(cpuid_features) / sizeof(cpuid_features[0]))

static bool cpuid_feature_in(const struct kvm_cpuid2 *c,
			     const struct cpuid_feature *f)
{
	return cpuid_has_bit(c, f->function, f->index, f->reg, f->bit);
}

/* Append ",name" (or "name") to buf if the result stays within max chars. */
static bool list_append(char *buf, size_t max, const char *name)
{
	size_t len = strlen(buf), add = strlen(name) + (len ? 1 : 0);

	if (len + add > max)
		return false;
	if (len)
		buf[len++] = ',';
	strcpy(buf + len, name);
	return true;
}

int cpuid_guest_cmdline(const struct kvm_cpuid2 *seen, enum cpu_template t,
			char *out, size_t outlen, char *dropped,
			size_t droppedlen)
{
	char list[CPUID_CLEARCPUID_MAX + 1] = "";
	bool want[NFEATURES];
	struct kvm_cpuid2 *masked = cpuid_dup(seen);
	int n;

	if (!masked)
		return -1;
	cpuid_apply_template(masked, t);
	for (size_t i = 0; i < NFEATURES; i++) {
		const struct cpuid_feature *f = &cpuid_features[i];

		want[i] = cpuid_feature_in(seen, f) &&
			  ((f->flags & F_EMUL) || !cpuid_feature_in(masked, f));
	}
	free(masked);

	if (droppedlen)
		dropped[0] = '\0';
	/* Table order is priority order; noxsave-covered names go last. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < NFEATURES; i++) {
			const struct cpuid_feature *f = &cpuid_features[i];
			bool dep = f->flags & F_XSAVE_DEP;

			if (!want[i] || dep != (pass == 1))
				continue;
			if (list_append(list, CPUID_CLEARCPUID_MAX, f->name))
				continue;
			if (!dep && droppedlen)
				list_append(dropped, droppedlen - 1, f->name);
		}
	}
	if (list[0])
		n = snprintf(out, outlen,
			     "noxsave clearcpuid=%s no-kvm-hypercalls nopvspin",
			     list);
	else
		n = snprintf(out, outlen, "noxsave no-kvm-hypercalls nopvspin");
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}
