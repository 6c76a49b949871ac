/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue against a hostile driver: well-formed chains, index
 * wrap-around, and every kind of broken ring virtq_pop() must refuse.
 */
#include <sys/mman.h>

#include "virtio_test.h"

#define RAM_SIZE (1024 * 1024)
#define RING_BASE 0x1000
#define BUF 0x10000 /* data buffers from here */

struct fix {
	struct vm vm;
	struct test_ring r;
	struct virtq q;
	struct virtq_chain c;
};

static struct fix *fix_new(uint16_t num)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	test_ring_init(&f->r, &f->vm.mem, num, RING_BASE);
	test_ring_to_virtq(&f->r, &f->q, num);
	return f;
}

static void fix_free(struct fix *f)
{
	test_vm_free(&f->vm);
	free(f);
}

static uint8_t *ram(struct fix *f, uint64_t gpa)
{
	return test_gpa(&f->vm.mem, gpa, 1);
}

static void test_empty_ring(void **state)
{
	struct fix *f = fix_new(8);

	assert_int_equal(virtq_validate(&f->q), 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_false(virtq_has_avail(&f->q));
	fix_free(f);
}

static void test_single_readable(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b = {BUF, 100, false};
	uint16_t head = test_ring_add(&f->r, &b, 1);

	assert_true(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, head);
	assert_int_equal(f->c.nout, 1);
	assert_int_equal(f->c.nin, 0);
	assert_int_equal(f->c.out_len, 100);
	assert_int_equal(f->c.in_len, 0);
	assert_ptr_equal(f->c.iov[0].iov_base, ram(f, BUF));
	assert_int_equal(f->c.iov[0].iov_len, 100);
	assert_int_equal(f->q.last_avail, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	fix_free(f);
}

static void test_multi_descriptor_chain(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b[4] = {
		{BUF, 10, false},
		{BUF + 0x100, 20, false},
		{BUF + 0x200, 30, true},
		{BUF + 0x300, 40, true},
	};
	uint8_t src[64], dst[64];

	for (int i = 0; i < 64; i++)
		src[i] = (uint8_t)i;
	memcpy(ram(f, BUF), src, 10);
	memcpy(ram(f, BUF + 0x100), src + 10, 20);
	test_ring_add(&f->r, b, 4);

	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nout, 2);
	assert_int_equal(f->c.nin, 2);
	assert_int_equal(f->c.out_len, 30);
	assert_int_equal(f->c.in_len, 70);
	assert_ptr_equal(f->c.iov[2].iov_base, ram(f, BUF + 0x200));

	/* Reads span descriptors and stop at the end of the readable part. */
	assert_int_equal(virtq_chain_read(&f->c, 5, dst, 64), 25);
	assert_memory_equal(dst, src + 5, 25);
	assert_int_equal(virtq_chain_read(&f->c, 30, dst, 1), 0);

	/* Writes span the writable descriptors and are clipped likewise. */
	assert_int_equal(virtq_chain_write(&f->c, 25, src, 10), 10);
	assert_memory_equal(ram(f, BUF + 0x200 + 25), src, 5);
	assert_memory_equal(ram(f, BUF + 0x300), src + 5, 5);
	assert_int_equal(virtq_chain_write(&f->c, 60, src, 64), 10);
	assert_int_equal(virtq_chain_write(&f->c, 70, src, 1), 0);
	fix_free(f);
}

static void test_push_fills_used_ring(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b[2] = {{BUF, 16, false}, {BUF + 0x100, 64, true}};
	uint32_t id, len;
	uint16_t head;

	test_ring_add(&f->r, b, 2);
	head = test_ring_add(&f->r, b, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 64), 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, head);
	assert_int_equal(virtq_push(&f->q, &f->c, 7), 0);

	assert_int_equal(test_used_idx(&f->r), 2);
	test_used_elem(&f->r, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 64);
	test_used_elem(&f->r, 1, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 7);
	fix_free(f);
}

static void test_push_clamps_used_len(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b[2] = {{BUF, 16, false}, {BUF + 0x100, 64, true}};
	uint32_t id, len;

	test_ring_add(&f->r, b, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 65), -EINVAL);
	test_used_elem(&f->r, 0, &id, &len);
	assert_int_equal(len, 64);
	assert_int_equal(test_used_idx(&f->r), 1);

	/* A readable-only chain: nothing may be reported written. */
	test_ring_add(&f->r, b, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 1), -EINVAL);
	test_used_elem(&f->r, 1, &id, &len);
	assert_int_equal(len, 0);
	fix_free(f);
}

static void test_push_bad_head(void **state)
{
	struct fix *f = fix_new(8);

	f->c.head = 8;
	f->c.in_len = 0;
	assert_int_equal(virtq_push(&f->q, &f->c, 0), -EINVAL);
	assert_int_equal(test_used_idx(&f->r), 0);
	assert_int_equal(f->q.used_idx, 0);
	fix_free(f);
}

/* 16-bit avail and used indices wrap from 65535 to 0. */
static void test_index_wraparound(void **state)
{
	struct fix *f = fix_new(4);
	struct test_buf b = {BUF, 8, true};
	uint32_t id, len;

	f->q.last_avail = f->q.used_idx = f->q.signalled_used = 65534;
	test_avail_set_idx(&f->r, 65534);
	for (int round = 0; round < 3; round++) {
		uint16_t h1 = test_ring_add(&f->r, &b, 1);
		uint16_t h2 = test_ring_add(&f->r, &b, 1);

		assert_true(virtq_has_avail(&f->q));
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		assert_int_equal(f->c.head, h1);
		assert_int_equal(virtq_push(&f->q, &f->c, 8), 0);
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
		assert_int_equal(f->c.head, h2);
		assert_int_equal(virtq_push(&f->q, &f->c, 3), 0);
		assert_int_equal(virtq_pop(&f->q, &f->c), 0);
		test_used_elem(&f->r, (uint16_t)(f->q.used_idx - 1), &id, &len);
		assert_int_equal(id, h2);
		assert_int_equal(len, 3);
	}
	assert_int_equal(f->q.last_avail, 4);
	assert_int_equal(f->q.used_idx, 4);
	assert_int_equal(test_used_idx(&f->r), 4);

	/* A full ring of num chains across the wrap is accepted too. */
	f->q.last_avail = 65534;
	test_avail_set_idx(&f->r, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	fix_free(f);
}

static void expect_pop_error(struct fix *f, const char *why)
{
	uint16_t last = f->q.last_avail;

	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
	assert_non_null(f->q.error);
	if (why && !strstr(f->q.error, why))
		fail_msg("error \"%s\" does not mention \"%s\"", f->q.error,
			 why);
	assert_int_equal(f->q.last_avail, last); /* nothing consumed */
}

static void test_self_loop(void **state)
{
	struct fix *f = fix_new(8);

	test_desc_set(&f->r, 0, BUF, 8, TEST_F_NEXT, 0);
	test_avail_push(&f->r, 0);
	expect_pop_error(f, "loop");
	fix_free(f);
}

static void test_two_descriptor_loop(void **state)
{
	struct fix *f = fix_new(8);

	test_desc_set(&f->r, 0, BUF, 8, TEST_F_NEXT, 1);
	test_desc_set(&f->r, 1, BUF, 8, TEST_F_NEXT, 0);
	test_avail_push(&f->r, 0);
	expect_pop_error(f, "loop");
	fix_free(f);
}

/* With num > VIRTQ_MAX_IOV, a loop-free chain still stops at 256. */
static void test_chain_longer_than_max_iov(void **state)
{
	struct fix *f = fix_new(512);

	for (uint16_t i = 0; i < VIRTQ_MAX_IOV + 1; i++)
		test_desc_set(&f->r, i, BUF, 4, TEST_F_NEXT, i + 1);
	test_desc_set(&f->r, VIRTQ_MAX_IOV, BUF, 4, 0, 0);
	test_avail_push(&f->r, 0);
	expect_pop_error(f, "VIRTQ_MAX_IOV");

	/* Exactly VIRTQ_MAX_IOV descriptors is fine. */
	test_avail_set_idx(&f->r, 0);
	test_desc_set(&f->r, VIRTQ_MAX_IOV - 1, BUF, 4, 0, 0);
	test_avail_push(&f->r, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nout, VIRTQ_MAX_IOV);
	assert_int_equal(f->c.out_len, 4 * VIRTQ_MAX_IOV);
	fix_free(f);
}

static void test_head_out_of_range(void **state)
{
	struct fix *f = fix_new(8);

	test_avail_push(&f->r, 8);
	expect_pop_error(f, "avail ring");
	fix_free(f);

	f = fix_new(8);
	test_avail_push(&f->r, 0xffff);
	expect_pop_error(f, "avail ring");
	fix_free(f);
}

static void test_next_out_of_range(void **state)
{
	struct fix *f = fix_new(8);

	test_desc_set(&f->r, 0, BUF, 8, TEST_F_NEXT, 8);
	test_avail_push(&f->r, 0);
	expect_pop_error(f, "next");
	fix_free(f);
}

static void test_address_outside_ram(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf beyond = {RAM_SIZE, 1, false};
	struct test_buf straddle = {RAM_SIZE - 10, 11, true};
	struct test_buf last = {RAM_SIZE - 10, 10, true};
	struct test_buf wrap = {UINT64_MAX - 3, 8, false};

	test_ring_add(&f->r, &beyond, 1);
	expect_pop_error(f, "guest RAM");
	fix_free(f);

	f = fix_new(8);
	test_ring_add(&f->r, &straddle, 1);
	expect_pop_error(f, "guest RAM");
	fix_free(f);

	f = fix_new(8);
	test_ring_add(&f->r, &wrap, 1);
	expect_pop_error(f, "guest RAM");
	fix_free(f);

	f = fix_new(8);
	test_ring_add(&f->r, &last, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.in_len, 10);
	fix_free(f);
}

/* Adjacent regions do not merge: a buffer across the seam is refused. */
static void test_straddle_two_regions(void **state)
{
	struct fix *f = fix_new(8);
	uint8_t *hi = aligned_alloc(4096, 65536);
	struct test_buf across = {RAM_SIZE - 8, 16, false};
	struct test_buf below = {RAM_SIZE - 8, 8, false};
	struct test_buf above = {RAM_SIZE, 16, true};

	assert_non_null(hi);
	f->vm.mem.nregions = 2;
	f->vm.mem.r[1] = (struct guest_region){
		.gpa = RAM_SIZE, .size = 65536, .hva = hi};

	test_ring_add(&f->r, &across, 1);
	expect_pop_error(f, "one guest RAM region");

	test_avail_set_idx(&f->r, 0);
	f->r.free_desc = 0;
	struct test_buf ok[2] = {below, above};
	test_ring_add(&f->r, ok, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_ptr_equal(f->c.iov[0].iov_base, ram(f, RAM_SIZE - 8));
	assert_ptr_equal(f->c.iov[1].iov_base, hi);
	free(hi);
	fix_free(f);
}

static void test_huge_length(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf huge = {BUF, 0xffffffffU, true};

	test_ring_add(&f->r, &huge, 1);
	expect_pop_error(f, "guest RAM");
	fix_free(f);
}

/* Buffers that each fit in RAM but add up to more than 4 GiB. */
static void test_total_length_overflow(void **state)
{
	const uint64_t big = 0x80000000ULL + 4096;
	uint8_t *p = mmap(NULL, big, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct fix *f = fix_new(8);
	struct test_buf fits[2] = {{0x100000000ULL, 0x80000000U, true},
				   {0x100000000ULL, 0x7fffffffU, true}};
	struct test_buf over[3] = {{0x100000000ULL, 0x80000000U, false},
				   {0x100000000ULL, 0x7fffffffU, true},
				   {0x100000000ULL, 1, true}};

	assert_true(p != MAP_FAILED);
	f->vm.mem.nregions = 2;
	f->vm.mem.r[1] = (struct guest_region){
		.gpa = 0x100000000ULL, .size = big, .hva = p};

	test_ring_add(&f->r, fits, 2);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.in_len, 0xffffffffULL);

	test_ring_add(&f->r, over, 3);
	expect_pop_error(f, "4 GiB");
	munmap(p, big);
	fix_free(f);
}

static void test_readable_after_writable(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b[3] = {{BUF, 16, false},
				{BUF + 0x100, 16, true},
				{BUF + 0x200, 16, false}};

	test_ring_add(&f->r, b, 3);
	expect_pop_error(f, "readable descriptor after");
	fix_free(f);
}

static void test_indirect_refused(void **state)
{
	struct fix *f = fix_new(8);

	test_desc_set(&f->r, 0, BUF, 16, TEST_F_INDIRECT, 0);
	test_avail_push(&f->r, 0);
	expect_pop_error(f, "indirect");
	fix_free(f);
}

static void test_avail_idx_jump(void **state)
{
	struct fix *f = fix_new(8);

	/* Every slot names descriptor 0, a valid one-segment chain. */
	test_desc_set(&f->r, 0, BUF, 16, TEST_F_WRITE, 0);
	test_avail_set_idx(&f->r, 9);
	expect_pop_error(f, "more than the queue size");
	test_avail_set_idx(&f->r, 0xffff);
	expect_pop_error(f, "more than the queue size");

	test_avail_set_idx(&f->r, 8); /* exactly num: all fine */
	for (int i = 0; i < 8; i++)
		assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	/* Moving the index backwards after we consumed is a jump too. */
	test_avail_set_idx(&f->r, 7);
	expect_pop_error(f, "more than the queue size");
	fix_free(f);
}

static void test_unpop(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b = {BUF, 32, true};
	uint16_t h1, h2;

	h1 = test_ring_add(&f->r, &b, 1);
	h2 = test_ring_add(&f->r, &b, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, h1);
	virtq_unpop(&f->q);
	assert_int_equal(f->q.last_avail, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, h1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, h2);
	virtq_unpop(&f->q);
	assert_true(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, h2);
	assert_false(virtq_has_avail(&f->q));
	fix_free(f);
}

static void test_zero_length_descriptor(void **state)
{
	struct fix *f = fix_new(8);
	/* A zero-length segment, even at a bogus address, carries nothing. */
	struct test_buf b[3] = {{0xdead00000000ULL, 0, false},
				{BUF, 8, true},
				{BUF + 8, 0, true}};

	test_ring_add(&f->r, b, 3);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.nout, 0);
	assert_int_equal(f->c.nin, 1);
	assert_int_equal(f->c.in_len, 8);
	assert_int_equal(f->c.iov[0].iov_len, 8);
	fix_free(f);
}

static void test_validate(void **state)
{
	struct fix *f = fix_new(8);
	struct virtq q;

	assert_int_equal(virtq_validate(&f->q), 0);

	q = f->q;
	q.num = 6;
	assert_int_equal(virtq_validate(&q), -EINVAL);
	q.num = 0;
	assert_int_equal(virtq_validate(&q), -EINVAL);
	q.num = 16; /* > num_max (8) */
	assert_int_equal(virtq_validate(&q), -EINVAL);
	assert_non_null(strstr(q.error, "QueueNumMax"));

	q = f->q;
	q.desc_gpa += 8;
	assert_int_equal(virtq_validate(&q), -EINVAL);
	assert_non_null(strstr(q.error, "aligned"));
	q = f->q;
	q.avail_gpa += 1;
	assert_int_equal(virtq_validate(&q), -EINVAL);
	q = f->q;
	q.used_gpa += 2;
	assert_int_equal(virtq_validate(&q), -EINVAL);

	q = f->q;
	q.used_gpa = RAM_SIZE - 8; /* used ring runs off the end of RAM */
	assert_int_equal(virtq_validate(&q), -EINVAL);
	assert_non_null(strstr(q.error, "used ring"));
	q = f->q;
	q.desc_gpa = 0xfffffffffffff000ULL;
	assert_int_equal(virtq_validate(&q), -EINVAL);

	/* An unconfigured queue is refused by every call, never used. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(virtq_validate(&q), -EINVAL);
	assert_int_equal(virtq_pop(&q, &f->c), -EINVAL);
	assert_false(virtq_has_avail(&q));
	assert_false(virtq_should_signal(&q));
	fix_free(f);
}

static void push_one(struct fix *f)
{
	struct test_buf b = {BUF, 8, true};

	test_ring_add(&f->r, &b, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 8), 0);
}

static void test_signal_no_interrupt_flag(void **state)
{
	struct fix *f = fix_new(8);

	assert_false(virtq_should_signal(&f->q)); /* nothing pushed */
	push_one(f);
	assert_true(virtq_should_signal(&f->q));
	assert_false(virtq_should_signal(&f->q)); /* already signalled */

	test_avail_set_flags(&f->r, 1); /* VRING_AVAIL_F_NO_INTERRUPT */
	push_one(f);
	assert_false(virtq_should_signal(&f->q));
	test_avail_set_flags(&f->r, 0);
	push_one(f);
	assert_true(virtq_should_signal(&f->q));
	fix_free(f);
}

static void test_event_idx_used_event(void **state)
{
	struct fix *f = fix_new(8);

	f->q.event_idx = true;
	test_avail_set_flags(&f->r, 1); /* ignored with EVENT_IDX */
	test_used_event_set(&f->r, 0);
	push_one(f); /* used 0 -> 1 passes used_event 0 */
	assert_true(virtq_should_signal(&f->q));
	push_one(f);
	push_one(f); /* 1 -> 3 does not pass 0 */
	assert_false(virtq_should_signal(&f->q));
	test_used_event_set(&f->r, 4);
	push_one(f); /* 3 -> 4: not yet */
	assert_false(virtq_should_signal(&f->q));
	push_one(f); /* 4 -> 5 passes 4 */
	assert_true(virtq_should_signal(&f->q));
	fix_free(f);
}

static void test_event_idx_avail_event(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b = {BUF, 8, true};

	f->q.event_idx = true;
	test_ring_add(&f->r, &b, 1);
	test_ring_add(&f->r, &b, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(test_avail_event(&f->r), 0); /* not empty yet */
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	/* Empty: ask for a kick when the driver adds chain number 2. */
	assert_int_equal(test_avail_event(&f->r), 2);

	test_ring_add(&f->r, &b, 1);
	assert_true(virtq_has_avail(&f->q));
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_false(virtq_has_avail(&f->q));
	assert_int_equal(test_avail_event(&f->r), 3);
	fix_free(f);
}

static bool page_dirty(const struct fix *f, uint64_t gpa)
{
	uint64_t pg = gpa >> 12;

	return f->vm.mem.r[0].vmm_dirty[pg / 64] & (1ULL << (pg % 64));
}

static unsigned int dirty_count(const struct fix *f)
{
	unsigned int n = 0;

	for (uint64_t pg = 0; pg < RAM_SIZE / 4096; pg++)
		n += page_dirty(f, pg << 12);
	return n;
}

/*
 * Diff snapshots: what the device writes into guest RAM is marked in the
 * VMM's dirty bitmap, exactly the pages written and nothing the driver
 * owns (descriptor table, readable buffers, unwritten buffer space).
 */
static void test_dirty_tracking(void **state)
{
	struct fix *f = fix_new(256);
	/* readable header; writable: across a page boundary, 3 pages, and
	 * a status byte on its own page */
	struct test_buf b[4] = {{0x10000, 16, false},
				{0x20ff0, 0x20, true},
				{0x30000, 0x3000, true},
				{0x40000, 1, true}};
	uint8_t st = 0;

	f->vm.mem.r[0].vmm_dirty = calloc(RAM_SIZE / 4096 / 64, 8);
	assert_non_null(f->vm.mem.r[0].vmm_dirty);
	/* the rings: desc table on page 1, avail + used on page 2 */
	assert_int_equal(f->r.desc_gpa >> 12, 1);
	assert_int_equal(f->r.used_gpa >> 12, 2);

	test_ring_add(&f->r, b, 4);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(dirty_count(f), 0); /* reading marks nothing */

	/* data into the first 0x20 + 0x1001 writable bytes, status last */
	assert_int_equal(virtq_chain_write(&f->c, f->c.in_len - 1, &st, 1), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 0x20 + 0x1001), 0);
	assert_true(page_dirty(f, 0x20000));
	assert_true(page_dirty(f, 0x21000));
	assert_true(page_dirty(f, 0x30000));
	assert_true(page_dirty(f, 0x31000));
	assert_false(page_dirty(f, 0x32000)); /* not written */
	assert_true(page_dirty(f, 0x40000)); /* the status byte */
	assert_false(page_dirty(f, 0x10000)); /* readable */
	assert_true(page_dirty(f, f->r.used_gpa)); /* used elem + idx */
	assert_false(page_dirty(f, f->r.desc_gpa));
	assert_int_equal(dirty_count(f), 6);

	/* EVENT_IDX: publishing avail_event is a write too */
	memset(f->vm.mem.r[0].vmm_dirty, 0, RAM_SIZE / 4096 / 8);
	f->q.event_idx = true;
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);
	assert_true(page_dirty(f, f->r.used_gpa + 4 + 8 * 256));
	assert_int_equal(dirty_count(f), 1);

	/* the last slot before the used idx wraps */
	memset(f->vm.mem.r[0].vmm_dirty, 0, RAM_SIZE / 4096 / 8);
	f->q.event_idx = false;
	f->q.used_idx = 255;
	test_ring_add(&f->r, b, 1);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(virtq_push(&f->q, &f->c, 0), 0);
	assert_true(page_dirty(f, f->r.used_gpa + 4 + 8 * 255));
	assert_true(page_dirty(f, f->r.used_gpa)); /* used idx */

	free(f->vm.mem.r[0].vmm_dirty);
	f->vm.mem.r[0].vmm_dirty = NULL;
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_ring),
		cmocka_unit_test(test_single_readable),
		cmocka_unit_test(test_multi_descriptor_chain),
		cmocka_unit_test(test_push_fills_used_ring),
		cmocka_unit_test(test_push_clamps_used_len),
		cmocka_unit_test(test_push_bad_head),
		cmocka_unit_test(test_index_wraparound),
		cmocka_unit_test(test_self_loop),
		cmocka_unit_test(test_two_descriptor_loop),
		cmocka_unit_test(test_chain_longer_than_max_iov),
		cmocka_unit_test(test_head_out_of_range),
		cmocka_unit_test(test_next_out_of_range),
		cmocka_unit_test(test_address_outside_ram),
		cmocka_unit_test(test_straddle_two_regions),
		cmocka_unit_test(test_huge_length),
		cmocka_unit_test(test_total_length_overflow),
		cmocka_unit_test(test_readable_after_writable),
		cmocka_unit_test(test_indirect_refused),
		cmocka_unit_test(test_avail_idx_jump),
		cmocka_unit_test(test_unpop),
		cmocka_unit_test(test_zero_length_descriptor),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_signal_no_interrupt_flag),
		cmocka_unit_test(test_event_idx_used_event),
		cmocka_unit_test(test_event_idx_avail_event),
		cmocka_unit_test(test_dirty_tracking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
