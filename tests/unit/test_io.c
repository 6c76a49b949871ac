/* SPDX-License-Identifier: MIT */
/* Trap registry: registration rules and dispatch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/io.h"

struct rec {
	int calls;
	uint64_t off;
	uint32_t len;
	bool is_write;
	uint8_t last[8];
};

static void rec_handler(void *opaque, uint64_t offset, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->calls++;
	r->off = offset;
	r->len = len;
	r->is_write = is_write;
	if (is_write)
		memcpy(r->last, data, len);
	else
		memset(data, 0x5a, len);
}

static void test_register_rules(void **state)
{
	struct io_bus bus = {0};
	struct rec r = {0};

	(void)state;
	assert_int_equal(io_register(&bus, 0x100, 0, rec_handler, &r), -EINVAL);
	assert_int_equal(io_register(&bus, UINT64_MAX - 2, 8, rec_handler, &r),
			 -EINVAL);
	assert_int_equal(io_register(&bus, 0x100, 0x10, NULL, &r), -EINVAL);
	assert_int_equal(io_register(&bus, 0x100, 0x10, rec_handler, &r), 0);
	/* same, inside, over the start, over the end, around */
	assert_int_equal(io_register(&bus, 0x100, 0x10, rec_handler, &r),
			 -EEXIST);
	assert_int_equal(io_register(&bus, 0x104, 2, rec_handler, &r), -EEXIST);
	assert_int_equal(io_register(&bus, 0xf8, 0x10, rec_handler, &r),
			 -EEXIST);
	assert_int_equal(io_register(&bus, 0x10f, 4, rec_handler, &r), -EEXIST);
	assert_int_equal(io_register(&bus, 0x80, 0x100, rec_handler, &r),
			 -EEXIST);
	/* adjacent on both sides is fine */
	assert_int_equal(io_register(&bus, 0xf0, 0x10, rec_handler, &r), 0);
	assert_int_equal(io_register(&bus, 0x110, 0x10, rec_handler, &r), 0);
	assert_int_equal(bus.n, 3);
}

static void test_register_full(void **state)
{
	struct io_bus bus = {0};
	struct rec r = {0};

	(void)state;
	for (int i = 0; i < IO_MAX_RANGES; i++)
		assert_int_equal(io_register(&bus, (uint64_t)i * 16, 16,
					     rec_handler, &r),
				 0);
	assert_int_equal(io_register(&bus, 0x100000, 16, rec_handler, &r),
			 -ENOSPC);
}

static void test_dispatch(void **state)
{
	struct io_bus bus = {0};
	struct rec a = {0}, b = {0};
	uint8_t data[8];

	(void)state;
	assert_int_equal(io_register(&bus, 0x3f8, 8, rec_handler, &a), 0);
	assert_int_equal(io_register(&bus, 0xd0000000, 0x1000, rec_handler, &b),
			 0);

	data[0] = 'x';
	assert_true(io_dispatch(&bus, 0x3f8, data, 1, true));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.off, 0);
	assert_true(a.is_write);
	assert_int_equal(a.last[0], 'x');

	memset(data, 0, sizeof(data));
	assert_true(io_dispatch(&bus, 0x3fd, data, 1, false));
	assert_int_equal(a.off, 5);
	assert_int_equal(data[0], 0x5a);

	/* last byte of the range; then a 4-byte access at its end */
	assert_true(io_dispatch(&bus, 0xd0000ffc, data, 4, false));
	assert_int_equal(b.off, 0xffc);
	assert_int_equal(b.len, 4);
	assert_int_equal(b.calls, 1);
}

static void test_unclaimed(void **state)
{
	struct io_bus bus = {0};
	struct rec a = {0};
	uint8_t data[8];

	(void)state;
	assert_int_equal(io_register(&bus, 0x3f8, 8, rec_handler, &a), 0);

	memset(data, 0, sizeof(data));
	assert_false(io_dispatch(&bus, 0x2f8, data, 4, false));
	for (int i = 0; i < 4; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(data[4], 0);

	memset(data, 0x11, sizeof(data));
	assert_false(io_dispatch(&bus, 0x2f8, data, 2, true));
	assert_int_equal(data[0], 0x11); /* writes are dropped untouched */

	/* an access running past the end of a range belongs to nobody */
	memset(data, 0, sizeof(data));
	assert_false(io_dispatch(&bus, 0x3fe, data, 4, false));
	assert_int_equal(data[0], 0xff);
	/* just below the range */
	assert_false(io_dispatch(&bus, 0x3f7, data, 1, false));
	assert_int_equal(a.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_rules),
		cmocka_unit_test(test_register_full),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unclaimed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
