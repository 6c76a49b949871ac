/* SPDX-License-Identifier: MIT */
/* Guest RAM layout around the MMIO hole and guest_mem_ptr() bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/guest_mem.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void test_layout_small(void **state)
{
	struct guest_mem m;

	(void)state;
	assert_int_equal(guest_mem_layout(&m, 128 * MIB), 0);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(m.r[0].gpa, 0);
	assert_int_equal(m.r[0].size, 128 * MIB);
	assert_null(m.r[0].hva);
	assert_int_equal(m.total, 128 * MIB);
	assert_int_equal(guest_mem_low_end(&m), 128 * MIB);

	/* exactly up to the hole: still one region */
	assert_int_equal(guest_mem_layout(&m, GUEST_MMIO_HOLE_START), 0);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(guest_mem_low_end(&m), 3 * GIB);
}

static void test_layout_split(void **state)
{
	struct guest_mem m;

	(void)state;
	assert_int_equal(guest_mem_layout(&m, 3 * GIB + 4096), 0);
	assert_int_equal(m.nregions, 2);
	assert_int_equal(m.r[0].size, 3 * GIB);
	assert_int_equal(m.r[1].gpa, 4 * GIB);
	assert_int_equal(m.r[1].size, 4096);

	assert_int_equal(guest_mem_layout(&m, 16 * GIB), 0);
	assert_int_equal(m.nregions, 2);
	assert_int_equal(m.r[0].gpa, 0);
	assert_int_equal(m.r[0].size, GUEST_MMIO_HOLE_START);
	assert_int_equal(m.r[1].gpa, GUEST_MMIO_HOLE_END);
	assert_int_equal(m.r[1].size, 13 * GIB);
	assert_int_equal(m.total, 16 * GIB);
	assert_int_equal(guest_mem_low_end(&m), 3 * GIB);
	/* nothing is RAM inside the hole */
	assert_true(m.r[0].gpa + m.r[0].size <= GUEST_MMIO_HOLE_START);
	assert_true(m.r[1].gpa >= GUEST_MMIO_HOLE_END);
}

static void test_layout_invalid(void **state)
{
	struct guest_mem m;

	(void)state;
	assert_int_equal(guest_mem_layout(&m, 0), -EINVAL);
	assert_int_equal(guest_mem_layout(&m, 128 * MIB + 1), -EINVAL);
	assert_int_equal(guest_mem_layout(&m, UINT64_MAX & ~0xfffULL), -EINVAL);
}

static void test_alloc_small(void **state)
{
	struct guest_mem m;
	uint8_t *p;

	(void)state;
	assert_int_equal(guest_mem_alloc(&m, 128 * MIB), 0);
	assert_non_null(m.r[0].hva);
	p = guest_mem_ptr(&m, 0x1000, 16);
	assert_ptr_equal(p, m.r[0].hva + 0x1000);
	memset(p, 0xab, 16); /* writable */
	p = guest_mem_ptr(&m, 128 * MIB - 1, 1);
	assert_non_null(p);
	*p = 1;
	guest_mem_free(&m);
	assert_int_equal(m.nregions, 0);
	assert_null(guest_mem_ptr(&m, 0, 1));
}

static void test_ptr_bounds(void **state)
{
	struct guest_mem m;
	uint64_t low = 3 * GIB, high = 4 * GIB;

	(void)state;
	/* 3.5 GiB: both regions exist; NORESERVE keeps this cheap. */
	assert_int_equal(guest_mem_alloc(&m, 3 * GIB + 512 * MIB), 0);
	assert_int_equal(m.nregions, 2);

	/* whole region, exact end, len 0 */
	assert_ptr_equal(guest_mem_ptr(&m, 0, low), m.r[0].hva);
	assert_non_null(guest_mem_ptr(&m, low - 4, 4));
	assert_non_null(guest_mem_ptr(&m, low - 1, 0));
	assert_null(guest_mem_ptr(&m, low, 0)); /* first byte of the hole */
	/* straddles the end of low RAM into the hole */
	assert_null(guest_mem_ptr(&m, low - 4, 8));
	assert_null(guest_mem_ptr(&m, low - 1, 2));
	/* inside the hole */
	assert_null(guest_mem_ptr(&m, 0xd0000000, 4));
	assert_null(guest_mem_ptr(&m, high - 1, 1));
	/* high region */
	assert_ptr_equal(guest_mem_ptr(&m, high, 8), m.r[1].hva);
	assert_ptr_equal(guest_mem_ptr(&m, high + 0x1234, 1),
			 m.r[1].hva + 0x1234);
	assert_non_null(guest_mem_ptr(&m, high + 512 * MIB - 8, 8));
	assert_null(guest_mem_ptr(&m, high + 512 * MIB - 8, 9));
	assert_null(guest_mem_ptr(&m, high + 512 * MIB, 1));
	/* wrap-around: huge lengths and addresses */
	assert_null(guest_mem_ptr(&m, 0x1000, UINT64_MAX));
	assert_null(guest_mem_ptr(&m, 0x1000, UINT64_MAX - 0x800));
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 2));
	assert_null(guest_mem_ptr(&m, UINT64_MAX - 1, 1));
	assert_null(guest_mem_ptr(&m, high + 16, UINT64_MAX - 8));
	guest_mem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_small),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test(test_layout_invalid),
		cmocka_unit_test(test_alloc_small),
		cmocka_unit_test(test_ptr_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
