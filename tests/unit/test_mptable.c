/* SPDX-License-Identifier: MIT */
/*
 * MP table: checksums, signatures and entries, read back the way Linux's
 * mpparse.c walks them (type byte, fixed size per type, up to length).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/mptable.h"

#define GPA 0x9fc00

struct parsed {
	int ncpu, nbus, nioapic, nintsrc, nlint;
	struct mpc_cpu cpu[40];
	struct mpc_ioapic ioapic;
	struct mpc_intsrc intsrc[40];
	struct mpc_lintsrc lint[4];
};

static void parse(const uint8_t *buf, int size, struct parsed *p)
{
	const struct mpf_intel *mpf = (const void *)buf;
	const struct mpc_table *mpc;
	const uint8_t *e;
	int count = 0;

	memset(p, 0, sizeof(*p));
	assert_memory_equal(mpf->signature, "_MP_", 4);
	assert_int_equal(mpf->length, 1);
	assert_int_equal(mpf->specification, 4);
	assert_int_equal(mptable_checksum(mpf, 16), 0);
	assert_int_equal(mpf->feature1, 0);
	assert_int_equal(mpf->physptr, GPA + 16);

	mpc = (const void *)(buf + (mpf->physptr - GPA));
	assert_memory_equal(mpc->signature, "PCMP", 4);
	assert_int_equal(mpc->spec, 4);
	assert_int_equal(mpc->lapic, 0xfee00000);
	assert_int_equal(mptable_checksum(mpc, mpc->length), 0);
	assert_int_equal(16 + mpc->length, size);

	e = (const uint8_t *)(mpc + 1);
	while (e < (const uint8_t *)mpc + mpc->length) {
		count++;
		switch (*e) {
		case MP_ENTRY_PROCESSOR:
			memcpy(&p->cpu[p->ncpu++], e, sizeof(struct mpc_cpu));
			e += sizeof(struct mpc_cpu);
			break;
		case MP_ENTRY_BUS:
			assert_memory_equal(
				((const struct mpc_bus *)e)->bustype, "ISA   ",
				6);
			p->nbus++;
			e += sizeof(struct mpc_bus);
			break;
		case MP_ENTRY_IOAPIC:
			memcpy(&p->ioapic, e, sizeof(p->ioapic));
			p->nioapic++;
			e += sizeof(struct mpc_ioapic);
			break;
		case MP_ENTRY_INTSRC:
			memcpy(&p->intsrc[p->nintsrc++], e,
			       sizeof(struct mpc_intsrc));
			e += sizeof(struct mpc_intsrc);
			break;
		case MP_ENTRY_LINTSRC:
			memcpy(&p->lint[p->nlint++], e,
			       sizeof(struct mpc_lintsrc));
			e += sizeof(struct mpc_lintsrc);
			break;
		default:
			fail_msg("unknown entry type %u", *e);
		}
	}
	assert_ptr_equal(e, (const uint8_t *)mpc + mpc->length);
	assert_int_equal(mpc->oemcount, count);
}

static bool has_intsrc(const struct parsed *p, int irq)
{
	for (int i = 0; i < p->nintsrc; i++)
		if (p->intsrc[i].srcbusirq == irq && p->intsrc[i].dstirq == irq)
			return true;
	return false;
}

static void test_one_cpu(void **state)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	struct parsed p;
	int n;

	(void)state;
	n = mptable_write(buf, sizeof(buf), GPA, 1, NULL, 0, 0x806ec, 0x201);
	assert_true(n > 0);
	assert_int_equal((size_t)n, mptable_size(1, NULL, 0));
	parse(buf, n, &p);
	assert_int_equal(p.ncpu, 1);
	assert_int_equal(p.cpu[0].apicid, 0);
	assert_int_equal(p.cpu[0].cpuflag, MP_CPU_ENABLED | MP_CPU_BSP);
	assert_int_equal(p.cpu[0].apicver, MPTABLE_APIC_VERSION);
	assert_int_equal(p.cpu[0].cpufeature, 0x806ec);
	assert_int_equal(p.cpu[0].featureflag, 0x201);
	assert_int_equal(p.nbus, 1);
	assert_int_equal(p.nioapic, 1);
	assert_int_equal(p.ioapic.apicid, 1);
	assert_int_equal(p.ioapic.apicaddr, 0xfec00000);
	assert_int_equal(p.ioapic.flags & 1, 1);
	assert_int_equal(p.nintsrc, 16);
	for (int irq = 0; irq < 16; irq++)
		assert_true(has_intsrc(&p, irq));
	for (int i = 0; i < p.nintsrc; i++) {
		assert_int_equal(p.intsrc[i].irqtype, MP_IRQ_INT);
		assert_int_equal(p.intsrc[i].srcbus, 0);
		assert_int_equal(p.intsrc[i].dstapic, 1);
	}
	assert_int_equal(p.nlint, 2);
	assert_int_equal(p.lint[0].irqtype, MP_IRQ_EXTINT);
	assert_int_equal(p.lint[0].destapiclint, 0);
	assert_int_equal(p.lint[1].irqtype, MP_IRQ_NMI);
	assert_int_equal(p.lint[1].destapic, 0xff);
	assert_int_equal(p.lint[1].destapiclint, 1);
}

static void test_four_cpus_with_gsis(void **state)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	const uint32_t gsis[] = {5, 6, 16, 17, 16};
	struct parsed p;
	int n;

	(void)state;
	n = mptable_write(buf, sizeof(buf), GPA, 4, gsis, 5, 0, 0);
	assert_true(n > 0);
	parse(buf, n, &p);
	assert_int_equal(p.ncpu, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p.cpu[i].apicid, i);
		assert_true(p.cpu[i].cpuflag & MP_CPU_ENABLED);
		assert_int_equal(!!(p.cpu[i].cpuflag & MP_CPU_BSP), i == 0);
	}
	assert_int_equal(p.ioapic.apicid, 4);
	/* 16 ISA + 16 and 17 once each; 5 and 6 are ISA already */
	assert_int_equal(p.nintsrc, 18);
	assert_true(has_intsrc(&p, 16));
	assert_true(has_intsrc(&p, 17));
	assert_false(has_intsrc(&p, 18));
}

static void test_largest_fits(void **state)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	uint32_t gsis[19];
	struct parsed p;
	int n;

	(void)state;
	for (int i = 0; i < 19; i++)
		gsis[i] = 5 + (uint32_t)i;
	n = mptable_write(buf, sizeof(buf), GPA, 32, gsis, 19, 0, 0);
	assert_true(n > 0 && n <= MPTABLE_MAX_SIZE);
	parse(buf, n, &p);
	assert_int_equal(p.ncpu, 32);
	assert_int_equal(p.nintsrc, 24);
	assert_true(has_intsrc(&p, 23));
}

static void test_bad_args(void **state)
{
	uint8_t buf[MPTABLE_MAX_SIZE];
	const uint32_t bad = 24;

	(void)state;
	assert_int_equal(mptable_write(buf, sizeof(buf), GPA, 0, NULL, 0, 0, 0),
			 -EINVAL);
	assert_int_equal(
		mptable_write(buf, sizeof(buf), GPA, 33, NULL, 0, 0, 0),
		-EINVAL);
	assert_int_equal(mptable_write(buf, sizeof(buf), GPA, 1, &bad, 1, 0, 0),
			 -EINVAL);
	assert_int_equal(mptable_write(buf, 100, GPA, 1, NULL, 0, 0, 0),
			 -ENOSPC);
	assert_int_equal(mptable_size(1, &bad, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_four_cpus_with_gsis),
		cmocka_unit_test(test_largest_fits),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
