/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng: buffers are filled, per-request and per-notification limits
 * hold, and a broken ring stops the device instead of the VMM.
 */
#include "virtio_test.h"
#include "vmm/dev/rng.h"

#define RAM_SIZE (2 * 1024 * 1024)
#define RING 0x1000
#define BUF 0x10000

struct fix {
	struct vm vm;
	struct virtio_dev *d;
	struct test_ring r;
};

static struct fix *fix_new(void)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	assert_int_equal(rng_create(&f->vm, &f->d), 0);
	test_ring_init(&f->r, &f->vm.mem, RNG_QUEUE_SIZE, RING);
	mmio_driver_init(f->d, 1ULL << VIRTIO_F_VERSION_1, &f->r, 1);
	return f;
}

static void fix_free(struct fix *f)
{
	rng_destroy(f->d);
	test_vm_free(&f->vm);
	free(f);
}

static uint8_t *ram(struct fix *f, uint64_t gpa, uint64_t len)
{
	return test_gpa(&f->vm.mem, gpa, len);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static uint32_t used_len(struct fix *f, uint16_t idx)
{
	uint32_t id, len;

	test_used_elem(&f->r, idx, &id, &len);
	return len;
}

static void test_identity(void **state)
{
	struct fix *f = fix_new();

	assert_int_equal(mmio_read(f->d, 0x008), VIRTIO_ID_RNG);
	assert_int_equal(mmio_read(f->d, 0x100), 0); /* no config space */
	fix_free(f);
}

static void test_fills_buffers(void **state)
{
	struct fix *f = fix_new();
	struct test_buf one = {BUF, 64, true};
	struct test_buf two[2] = {{BUF + 0x1000, 32, true},
				  {BUF + 0x2000, 32, true}};

	test_ring_add(&f->r, &one, 1);
	test_ring_add(&f->r, two, 2);
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), 2);
	assert_int_equal(used_len(f, 0), 64);
	assert_int_equal(used_len(f, 1), 64);
	/* 32 zero bytes from getrandom: probability 2^-256. */
	assert_false(all_zero(ram(f, BUF, 32), 32));
	assert_false(all_zero(ram(f, BUF + 32, 32), 32));
	assert_false(all_zero(ram(f, BUF + 0x1000, 32), 32));
	assert_false(all_zero(ram(f, BUF + 0x2000, 32), 32));
	assert_true(all_zero(ram(f, BUF + 64, 64), 64)); /* not beyond */
	assert_int_equal(f->d->interrupts, 1);
	fix_free(f);
}

static void test_request_cap(void **state)
{
	struct fix *f = fix_new();
	struct test_buf big = {BUF, 100 * 1024, true};

	test_ring_add(&f->r, &big, 1);
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(used_len(f, 0), RNG_MAX_PER_REQUEST);
	assert_false(all_zero(ram(f, BUF + RNG_MAX_PER_REQUEST - 32, 32), 32));
	assert_true(all_zero(ram(f, BUF + RNG_MAX_PER_REQUEST,
				 100 * 1024 - RNG_MAX_PER_REQUEST),
			     100 * 1024 - RNG_MAX_PER_REQUEST));
	fix_free(f);
}

static void test_readable_only_chain(void **state)
{
	struct fix *f = fix_new();
	struct test_buf ro = {BUF, 64, false};

	test_ring_add(&f->r, &ro, 1);
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), 1);
	assert_int_equal(used_len(f, 0), 0);
	assert_true(all_zero(ram(f, BUF, 64), 64));
	assert_true(virtio_dev_live(f->d));
	fix_free(f);
}

/* 5 x 64 KiB exceeds the per-notification budget: one chain waits. */
static void test_notify_budget(void **state)
{
	struct fix *f = fix_new();
	const int n = RNG_MAX_PER_NOTIFY / RNG_MAX_PER_REQUEST + 1;

	for (int i = 0; i < n; i++) {
		struct test_buf b = {BUF + (uint64_t)i * RNG_MAX_PER_REQUEST,
				     RNG_MAX_PER_REQUEST, true};

		test_ring_add(&f->r, &b, 1);
	}
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), n - 1);
	assert_int_equal(f->d->deferred, 1);
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), n);
	assert_int_equal(used_len(f, (uint16_t)(n - 1)), RNG_MAX_PER_REQUEST);
	assert_int_equal(f->d->deferred, 0);
	fix_free(f);
}

static void test_broken_ring(void **state)
{
	struct fix *f = fix_new();

	test_desc_set(&f->r, 0, BUF, 16, TEST_F_WRITE | TEST_F_NEXT, 0);
	test_avail_push(&f->r, 0);
	mmio_write(f->d, 0x050, 0);
	assert_true(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(test_used_idx(&f->r), 0);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_fills_buffers),
		cmocka_unit_test(test_request_cap),
		cmocka_unit_test(test_readable_only_chain),
		cmocka_unit_test(test_notify_budget),
		cmocka_unit_test(test_broken_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
