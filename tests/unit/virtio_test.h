/* SPDX-License-Identifier: MIT */
/*
 * Test scaffolding for the virtio unit tests: guest RAM over host buffers,
 * a driver-side view of split rings (to lay out descriptors the way a guest
 * would, including broken ones) and register access helpers.  The VM is a
 * struct vm without KVM (vm_fd -1): the transport then uses its fallbacks.
 */
#ifndef KILN_TESTS_VIRTIO_TEST_H
#define KILN_TESTS_VIRTIO_TEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/virtio_mmio.h"
#include "vmm/virtq.h"
#include "vmm/vm.h"

/* ---------------------------------------------------------------- RAM */

/* A VM without KVM: one RAM region at gpa 0, no loop unless given one. */
static inline void test_vm_init(struct vm *vm, uint64_t ram_size)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	vm->mem.nregions = 1;
	vm->mem.r[0].gpa = 0;
	vm->mem.r[0].size = ram_size;
	vm->mem.r[0].hva = aligned_alloc(4096, ram_size);
	assert_non_null(vm->mem.r[0].hva);
	memset(vm->mem.r[0].hva, 0, ram_size);
	vm->mem.total = ram_size;
	vm->next_mmio = VM_VIRTIO_MMIO_BASE;
	vm->next_gsi = VM_VIRTIO_GSI_BASE;
}

static inline void test_vm_free(struct vm *vm)
{
	free(vm->mem.r[0].hva);
}

static inline void *test_gpa(const struct guest_mem *m, uint64_t gpa,
			     uint64_t len)
{
	void *p = guest_mem_ptr(m, gpa, len);

	assert_non_null(p);
	return p;
}

/* ------------------------------------------------- driver side of a ring */

struct test_ring {
	const struct guest_mem *mem;
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx; /* driver's copy of avail->idx */
	uint16_t free_desc; /* next descriptor handed out by test_ring_add */
};

struct test_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

#define TEST_F_NEXT 1
#define TEST_F_WRITE 2
#define TEST_F_INDIRECT 4

/* Lay out desc/avail/used for num entries from base (zeroed). */
static inline void test_ring_init(struct test_ring *r,
				  const struct guest_mem *m, uint16_t num,
				  uint64_t base)
{
	memset(r, 0, sizeof(*r));
	r->mem = m;
	r->num = num;
	r->desc_gpa = base;
	r->avail_gpa = base + 16ULL * num;
	r->used_gpa = (r->avail_gpa + 6 + 2ULL * num + 3) & ~3ULL;
	memset(test_gpa(m, r->desc_gpa, 16ULL * num), 0, 16ULL * num);
	memset(test_gpa(m, r->avail_gpa, 6 + 2ULL * num), 0, 6 + 2ULL * num);
	memset(test_gpa(m, r->used_gpa, 6 + 8ULL * num), 0, 6 + 8ULL * num);
}

/* Point a device queue at the ring (what QueueDesc/Driver/Device do). */
static inline void test_ring_to_virtq(const struct test_ring *r,
				      struct virtq *q, uint16_t num_max)
{
	memset(q, 0, sizeof(*q));
	q->num_max = num_max;
	q->num = r->num;
	q->mem = r->mem;
	q->desc_gpa = r->desc_gpa;
	q->avail_gpa = r->avail_gpa;
	q->used_gpa = r->used_gpa;
}

static inline void test_desc_set(const struct test_ring *r, uint16_t i,
				 uint64_t addr, uint32_t len, uint16_t flags,
				 uint16_t next)
{
	uint8_t *d = test_gpa(r->mem, r->desc_gpa + 16ULL * i, 16);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void test_avail_set_idx(struct test_ring *r, uint16_t idx)
{
	r->avail_idx = idx;
	memcpy(test_gpa(r->mem, r->avail_gpa + 2, 2), &idx, 2);
}

/* Put head in the next avail slot and publish it. */
static inline void test_avail_push(struct test_ring *r, uint16_t head)
{
	uint16_t slot = r->avail_idx & (r->num - 1);

	memcpy(test_gpa(r->mem, r->avail_gpa + 4 + 2ULL * slot, 2), &head, 2);
	test_avail_set_idx(r, r->avail_idx + 1);
}

/* Chain n buffers through consecutive descriptors and publish the chain. */
static inline uint16_t test_ring_add(struct test_ring *r,
				     const struct test_buf *b, int n)
{
	uint16_t head = r->free_desc;

	for (int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % r->num);
		uint16_t next = (uint16_t)((head + i + 1) % r->num);
		uint16_t flags = (b[i].write ? TEST_F_WRITE : 0) |
				 (i + 1 < n ? TEST_F_NEXT : 0);

		test_desc_set(r, idx, b[i].gpa, b[i].len, flags, next);
	}
	r->free_desc = (uint16_t)((head + n) % r->num);
	test_avail_push(r, head);
	return head;
}

static inline void test_avail_set_flags(const struct test_ring *r,
					uint16_t flags)
{
	memcpy(test_gpa(r->mem, r->avail_gpa, 2), &flags, 2);
}

static inline void test_used_event_set(const struct test_ring *r, uint16_t v)
{
	memcpy(test_gpa(r->mem, r->avail_gpa + 4 + 2ULL * r->num, 2), &v, 2);
}

static inline uint16_t test_avail_event(const struct test_ring *r)
{
	uint16_t v;

	memcpy(&v, test_gpa(r->mem, r->used_gpa + 4 + 8ULL * r->num, 2), 2);
	return v;
}

static inline uint16_t test_used_idx(const struct test_ring *r)
{
	uint16_t v;

	memcpy(&v, test_gpa(r->mem, r->used_gpa + 2, 2), 2);
	return v;
}

/* The used element in slot (idx mod num). */
static inline void test_used_elem(const struct test_ring *r, uint16_t idx,
				  uint32_t *id, uint32_t *len)
{
	uint8_t *e = test_gpa(r->mem,
			      r->used_gpa + 4 + 8ULL * (idx & (r->num - 1)), 8);

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

/* ------------------------------------------------------ register file */

static inline void mmio_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	memcpy(b, &v, 4);
	virtio_mmio_access(d, off, b, 4, true);
}

static inline uint32_t mmio_read(struct virtio_dev *d, uint64_t off)
{
	uint8_t b[4] = {0xaa, 0xaa, 0xaa, 0xaa};
	uint32_t v;

	virtio_mmio_access(d, off, b, 4, false);
	memcpy(&v, b, 4);
	return v;
}

static inline void mmio_write_features(struct virtio_dev *d, uint64_t f)
{
	mmio_write(d, 0x024, 0);
	mmio_write(d, 0x020, (uint32_t)f);
	mmio_write(d, 0x024, 1);
	mmio_write(d, 0x020, (uint32_t)(f >> 32));
}

static inline void mmio_setup_queue(struct virtio_dev *d, uint16_t qi,
				    const struct test_ring *r)
{
	mmio_write(d, 0x030, qi);
	mmio_write(d, 0x038, r->num);
	mmio_write(d, 0x080, (uint32_t)r->desc_gpa);
	mmio_write(d, 0x084, (uint32_t)(r->desc_gpa >> 32));
	mmio_write(d, 0x090, (uint32_t)r->avail_gpa);
	mmio_write(d, 0x094, (uint32_t)(r->avail_gpa >> 32));
	mmio_write(d, 0x0a0, (uint32_t)r->used_gpa);
	mmio_write(d, 0x0a4, (uint32_t)(r->used_gpa >> 32));
	mmio_write(d, 0x044, 1);
}

/*
 * The Linux driver's bring-up: reset, ACK, DRIVER, features, FEATURES_OK,
 * queues, DRIVER_OK.  Asserts every step took.
 */
static inline void mmio_driver_init(struct virtio_dev *d, uint64_t features,
				    const struct test_ring *rings, int nrings)
{
	mmio_write(d, 0x070, 0);
	mmio_write(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_write(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_write_features(d, features);
	mmio_write(d, 0x070,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			   VIRTIO_STATUS_FEATURES_OK);
	assert_true(mmio_read(d, 0x070) & VIRTIO_STATUS_FEATURES_OK);
	for (int i = 0; i < nrings; i++) {
		mmio_setup_queue(d, (uint16_t)i, &rings[i]);
		mmio_write(d, 0x030, (uint32_t)i);
		assert_int_equal(mmio_read(d, 0x044), 1);
	}
	mmio_write(d, 0x070,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_live(d));
}

#endif
