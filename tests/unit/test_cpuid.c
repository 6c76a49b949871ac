/* SPDX-License-Identifier: MIT */
/*
 * CPU templates on a synthetic "everything supported" CPUID table, the
 * per-vCPU topology leaves, and the guest command line used when KVM
 * ignores KVM_SET_CPUID2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/cpuid.h"

#define BIT(n) (1U << (n))
#define IDX KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static void add(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, uint32_t flags,
		uint32_t a, uint32_t b, uint32_t cx, uint32_t d)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	*e = (struct kvm_cpuid_entry2){.function = fn,
				       .index = idx,
				       .flags = flags,
				       .eax = a,
				       .ebx = b,
				       .ecx = cx,
				       .edx = d};
}

/* Intel-like table with every feature bit set. */
static struct kvm_cpuid2 *full_table(void)
{
	struct kvm_cpuid2 *c = cpuid_alloc(64);

	assert_non_null(c);
	c->nent = 0;
	/* "GenuineIntel" */
	add(c, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(c, 1, 0, 0, 0x806ec, 0x00000800, 0x7ffaffff, 0xffffffff);
	add(c, 4, 0, IDX, 0x121, 0, 0, 0); /* L1d */
	add(c, 4, 1, IDX, 0x122, 0, 0, 0); /* L1i */
	add(c, 4, 2, IDX, 0x143, 0, 0, 0); /* L2 */
	add(c, 4, 3, IDX, 0x163, 0, 0, 0); /* L3 */
	add(c, 4, 4, IDX, 0, 0, 0, 0);
	add(c, 7, 0, IDX, 1, 0xffffffff, 0xffffffff, 0xffffffff);
	add(c, 7, 1, IDX, 0xffffffff, 0, 0, 0);
	add(c, 0xb, 0, IDX, 1, 2, 0x100, 7);
	add(c, 0xb, 1, IDX, 4, 16, 0x201, 7);
	add(c, 0xb, 2, IDX, 0, 0, 2, 7);
	add(c, 0xd, 0, IDX, 0x2e7, 0xa88, 0xa88, 0);
	add(c, 0xd, 1, IDX, 0xf, 0, 0x1900, 0);
	add(c, 0xd, 2, IDX, 0x100, 0x240, 0, 0);
	add(c, 0x12, 0, IDX, 1, 2, 3, 4);
	add(c, 0x14, 0, IDX, 1, 2, 3, 4);
	add(c, 0x80000001, 0, 0, 0, 0, 0xffffffff, 0xffffffff);
	add(c, 0x80000008, 0, 0, 0x3027, 0, 0, 0);
	return c;
}

static uint32_t reg(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx,
		    enum cpuid_reg r)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, idx);

	assert_non_null(e);
	switch (r) {
	case CPUID_EAX:
		return e->eax;
	case CPUID_EBX:
		return e->ebx;
	case CPUID_ECX:
		return e->ecx;
	default:
		return e->edx;
	}
}

static void test_names(void **state)
{
	enum cpu_template t;

	(void)state;
	assert_int_equal(cpu_template_from_name("host", &t), 0);
	assert_int_equal(t, CPU_TEMPLATE_HOST);
	assert_int_equal(cpu_template_from_name("baseline", &t), 0);
	assert_int_equal(t, CPU_TEMPLATE_BASELINE);
	assert_int_equal(cpu_template_from_name("Host", &t), -1);
	assert_string_equal(cpu_template_name(CPU_TEMPLATE_BASELINE),
			    "baseline");
}

static void test_find(void **state)
{
	struct kvm_cpuid2 *c = full_table();

	(void)state;
	assert_int_equal(cpuid_find(c, 4, 2)->eax, 0x143);
	assert_null(cpuid_find(c, 4, 9));
	/* leaf 1 has no significant index: any subleaf finds it */
	assert_int_equal(cpuid_find(c, 1, 5)->eax, 0x806ec);
	assert_null(cpuid_find(c, 0x40000000, 0));
	assert_true(cpuid_has_bit(c, 7, 0, CPUID_EBX, 5));
	free(c);
}

static void test_host_template(void **state)
{
	struct kvm_cpuid2 *c = full_table(), *orig = cpuid_dup(c);

	(void)state;
	cpuid_apply_template(c, CPU_TEMPLATE_HOST);
	/* only the hypervisor bit changes */
	assert_true(reg(c, 1, 0, CPUID_ECX) & BIT(31));
	assert_int_equal(reg(c, 1, 0, CPUID_ECX) & ~BIT(31),
			 reg(orig, 1, 0, CPUID_ECX) & ~BIT(31));
	orig->entries[1].ecx |= BIT(31);
	assert_memory_equal(c->entries, orig->entries,
			    c->nent * sizeof(c->entries[0]));
	free(c);
	free(orig);
}

static void test_baseline_template(void **state)
{
	struct kvm_cpuid2 *c = full_table();
	uint32_t ecx1, ebx7;

	(void)state;
	cpuid_apply_template(c, CPU_TEMPLATE_BASELINE);
	ecx1 = reg(c, 1, 0, CPUID_ECX);
	/* kept: SSE3 PCLMULQDQ SSSE3 CX16 SSE4.1/4.2 POPCNT AES XSAVE */
	assert_true(ecx1 & BIT(0));
	assert_true(ecx1 & BIT(9));
	assert_true(ecx1 & BIT(13));
	assert_true(ecx1 & BIT(20));
	assert_true(ecx1 & BIT(23));
	assert_true(ecx1 & BIT(25));
	assert_true(ecx1 & BIT(26));
	assert_true(ecx1 & BIT(31)); /* hypervisor */
	/* gone: AVX FMA F16C PCID VMX MONITOR */
	assert_false(ecx1 & BIT(28));
	assert_false(ecx1 & BIT(12));
	assert_false(ecx1 & BIT(29));
	assert_false(ecx1 & BIT(17));
	assert_false(ecx1 & BIT(5));
	assert_false(ecx1 & BIT(3));
	/* leaf 1 EDX: PSN, DS, ACPI, TM, PBE gone; SSE2 kept */
	assert_int_equal(
		reg(c, 1, 0, CPUID_EDX) &
			(BIT(18) | BIT(21) | BIT(22) | BIT(29) | BIT(31)),
		0);
	assert_true(reg(c, 1, 0, CPUID_EDX) & BIT(26));

	ebx7 = reg(c, 7, 0, CPUID_EBX);
	assert_int_equal(ebx7, BIT(0) | BIT(1) | BIT(3) | BIT(7) | BIT(8) |
				       BIT(18) | BIT(19) | BIT(20) | BIT(23));
	assert_false(ebx7 & BIT(5)); /* AVX2 */
	assert_false(ebx7 & BIT(16)); /* AVX-512F */
	assert_false(ebx7 & (BIT(4) | BIT(11))); /* TSX */
	assert_int_equal(reg(c, 7, 0, CPUID_ECX), 0); /* PKU, ... */
	assert_int_equal(reg(c, 7, 0, CPUID_EDX),
			 BIT(10) | BIT(26) | BIT(27) | BIT(29) | BIT(31));
	assert_int_equal(reg(c, 7, 0, CPUID_EAX), 0);
	assert_int_equal(reg(c, 7, 1, CPUID_EAX), 0);

	/* XSAVE: x87 + SSE only, legacy-size area, no XSAVEOPT/C/S */
	assert_int_equal(reg(c, 0xd, 0, CPUID_EAX), 0x3);
	assert_int_equal(reg(c, 0xd, 0, CPUID_EDX), 0);
	assert_int_equal(reg(c, 0xd, 0, CPUID_EBX), 576);
	assert_int_equal(reg(c, 0xd, 0, CPUID_ECX), 576);
	assert_int_equal(reg(c, 0xd, 1, CPUID_EAX), 0);
	assert_int_equal(reg(c, 0xd, 2, CPUID_EAX), 0);
	assert_int_equal(reg(c, 0xd, 2, CPUID_EBX), 0);
	assert_int_equal(reg(c, 0x12, 0, CPUID_EAX), 0);
	assert_int_equal(reg(c, 0x14, 0, CPUID_EDX), 0);

	assert_int_equal(reg(c, 0x80000001, 0, CPUID_ECX),
			 BIT(0) | BIT(5) | BIT(8));
	assert_true(reg(c, 0x80000001, 0, CPUID_EDX) & BIT(29)); /* LM */
	assert_true(reg(c, 0x80000001, 0, CPUID_EDX) & BIT(20)); /* NX */
	assert_false(reg(c, 0x80000001, 0, CPUID_EDX) & BIT(31)); /* 3DNow */
	free(c);
}

static void test_baseline_never_adds(void **state)
{
	struct kvm_cpuid2 *c = full_table();

	(void)state;
	/* KVM without SSE4.2 and SMEP: the template must not add them */
	cpuid_find(c, 1, 0)->ecx &= ~BIT(20);
	cpuid_find(c, 7, 0)->ebx &= ~BIT(7);
	cpuid_find(c, 0xd, 0)->eax = 0x1;
	cpuid_apply_template(c, CPU_TEMPLATE_BASELINE);
	assert_false(reg(c, 1, 0, CPUID_ECX) & BIT(20));
	assert_false(reg(c, 7, 0, CPUID_EBX) & BIT(7));
	assert_int_equal(reg(c, 0xd, 0, CPUID_EAX), 0x1);
	free(c);
}

static void test_topology(void **state)
{
	struct kvm_cpuid2 *c = full_table();

	(void)state;
	cpuid_set_topology(c, 2, 4, false);
	assert_int_equal(reg(c, 1, 0, CPUID_EBX) >> 24, 2); /* APIC ID */
	assert_int_equal((reg(c, 1, 0, CPUID_EBX) >> 16) & 0xff, 4);
	assert_int_equal((reg(c, 1, 0, CPUID_EBX) >> 8) & 0xff,
			 8); /* clflush */
	assert_true(reg(c, 1, 0, CPUID_EDX) & BIT(28)); /* HTT */
	/* leaf 4: 4 cores per package; L1/L2 per core, L3 shared by 4 */
	assert_int_equal(reg(c, 4, 0, CPUID_EAX) >> 26, 3);
	assert_int_equal((reg(c, 4, 0, CPUID_EAX) >> 14) & 0xfff, 0);
	assert_int_equal((reg(c, 4, 3, CPUID_EAX) >> 14) & 0xfff, 3);
	assert_int_equal(reg(c, 4, 3, CPUID_EAX) & 0x3fff, 0x163);
	/* leaf 0xB: 1 thread per core, 4 logical in the package */
	assert_int_equal(reg(c, 0xb, 0, CPUID_EAX), 0);
	assert_int_equal(reg(c, 0xb, 0, CPUID_EBX), 1);
	assert_int_equal(reg(c, 0xb, 0, CPUID_ECX), 0x100);
	assert_int_equal(reg(c, 0xb, 1, CPUID_EAX), 2);
	assert_int_equal(reg(c, 0xb, 1, CPUID_EBX), 4);
	assert_int_equal(reg(c, 0xb, 1, CPUID_ECX), 0x201);
	assert_int_equal(reg(c, 0xb, 2, CPUID_ECX), 2);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(reg(c, 0xb, i, CPUID_EDX), 2);
	free(c);

	c = full_table();
	cpuid_set_topology(c, 0, 1, false);
	assert_false(reg(c, 1, 0, CPUID_EDX) & BIT(28));
	assert_int_equal(reg(c, 0xb, 1, CPUID_EBX), 1);
	assert_int_equal(reg(c, 4, 3, CPUID_EAX) >> 26, 0);
	free(c);

	c = full_table();
	cpuid_set_topology(c, 5, 6, true);
	assert_int_equal(reg(c, 0xb, 0, CPUID_EAX), 1);
	assert_int_equal(reg(c, 0xb, 0, CPUID_EBX), 2);
	assert_int_equal(reg(c, 0xb, 1, CPUID_EAX), 3);
	assert_int_equal(reg(c, 0xb, 1, CPUID_EBX), 6);
	assert_int_equal(reg(c, 4, 0, CPUID_EAX) >> 26, 2); /* 3 cores */
	assert_int_equal((reg(c, 4, 0, CPUID_EAX) >> 14) & 0xfff, 1);
	assert_int_equal(reg(c, 1, 0, CPUID_EBX) >> 24, 5);
	free(c);
}

/* The clearcpuid= value in a guest command line. */
static void clearcpuid_value(const char *cmd, char *out, size_t len)
{
	const char *p = strstr(cmd, "clearcpuid=");
	size_t n;

	assert_non_null(p);
	p += strlen("clearcpuid=");
	n = strcspn(p, " ");
	assert_true(n < len);
	memcpy(out, p, n);
	out[n] = '\0';
}

static bool list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

static void test_guest_cmdline(void **state)
{
	struct kvm_cpuid2 *seen = full_table();
	char cmd[512], dropped[256], list[256];

	(void)state;
	/* Everything visible, host template: emulator gaps only. */
	assert_int_equal(cpuid_guest_cmdline(seen, CPU_TEMPLATE_HOST, cmd,
					     sizeof(cmd), dropped,
					     sizeof(dropped)),
			 0);
	assert_non_null(strstr(cmd, "noxsave clearcpuid="));
	assert_non_null(strstr(cmd, " no-kvm-hypercalls nopvspin"));
	clearcpuid_value(cmd, list, sizeof(list));
	assert_true(strlen(list) <= CPUID_CLEARCPUID_MAX);
	assert_true(list_has(list, "popcnt"));
	assert_true(list_has(list, "rdpid"));
	assert_true(list_has(list, "abm"));
	assert_false(list_has(list, "hle")); /* host keeps TSX */
	assert_false(list_has(list, "pcid"));
	assert_string_equal(dropped, "");

	/* Baseline: also what the template masks, within 127 chars. */
	assert_int_equal(cpuid_guest_cmdline(seen, CPU_TEMPLATE_BASELINE, cmd,
					     sizeof(cmd), dropped,
					     sizeof(dropped)),
			 0);
	clearcpuid_value(cmd, list, sizeof(list));
	assert_true(strlen(list) <= CPUID_CLEARCPUID_MAX);
	assert_true(list_has(list, "popcnt"));
	assert_true(list_has(list, "pcid"));
	assert_true(list_has(list, "hle"));
	assert_true(list_has(list, "rtm"));
	/* noxsave covers AVX & co; they are never reported as dropped */
	assert_null(strstr(dropped, "avx"));
	/* whatever did not fit is reported, and is not in the list */
	if (dropped[0])
		assert_false(list_has(list, dropped));
	free(seen);
}

static void test_guest_cmdline_only_visible(void **state)
{
	struct kvm_cpuid2 *seen = full_table();
	char cmd[512], dropped[256], list[256];

	(void)state;
	/* A host without POPCNT, AVX and RDPID: nothing to clear there. */
	cpuid_find(seen, 1, 0)->ecx &= ~(BIT(23) | BIT(28));
	cpuid_find(seen, 7, 0)->ecx &= ~BIT(22);
	assert_int_equal(cpuid_guest_cmdline(seen, CPU_TEMPLATE_HOST, cmd,
					     sizeof(cmd), dropped,
					     sizeof(dropped)),
			 0);
	clearcpuid_value(cmd, list, sizeof(list));
	assert_false(list_has(list, "popcnt"));
	assert_false(list_has(list, "avx"));
	assert_false(list_has(list, "rdpid"));
	assert_true(list_has(list, "avx2")); /* room left: named as well */
	free(seen);

	/* Nothing visible at all: just the fixed parameters. */
	seen = cpuid_alloc(0);
	assert_int_equal(cpuid_guest_cmdline(seen, CPU_TEMPLATE_BASELINE, cmd,
					     sizeof(cmd), dropped,
					     sizeof(dropped)),
			 0);
	assert_string_equal(cmd, "noxsave no-kvm-hypercalls nopvspin");
	/* too small an output buffer */
	assert_int_equal(cpuid_guest_cmdline(seen, CPU_TEMPLATE_HOST, cmd, 10,
					     dropped, sizeof(dropped)),
			 -1);
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_host_template),
		cmocka_unit_test(test_baseline_template),
		cmocka_unit_test(test_baseline_never_adds),
		cmocka_unit_test(test_topology),
		cmocka_unit_test(test_guest_cmdline),
		cmocka_unit_test(test_guest_cmdline_only_visible),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
