/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the split virtqueue: the input becomes the queue
 * geometry, the device's ring indices and the guest RAM holding the rings
 * and descriptors; the device then pops, reads, writes, pushes and unpops
 * until the ring is empty or broken.  It must never crash, hang, touch
 * memory outside guest RAM or report more written bytes than exist.
 *
 * Build and run (from the repository root):
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     tests/fuzz/fuzz_virtq.c src/vmm/virtq.c -o build/fuzz_virtq
 *   mkdir -p build/fuzz-corpus/virtq
 *   build/fuzz_virtq -max_total_time=60 -timeout=5 build/fuzz-corpus/virtq
 */
#include <stdlib.h>
#include <string.h>

#include "vmm/virtq.h"

#define RAM0_SIZE 0x10000 /* gpa [0, 64 KiB) */
#define RAM1_SIZE 0x1000 /* gpa [64 KiB, 68 KiB): adjacent, not merged */
#define HDR_SIZE 16
#define MAX_POPS 4096
#define MAX_UNPOPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t ram0[RAM0_SIZE] __attribute__((aligned(4096)));
static uint8_t ram1[RAM1_SIZE] __attribute__((aligned(4096)));
static struct virtq_chain chain;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Every segment must be inside one region of guest RAM. */
static void check_chain(const struct guest_mem *m, const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;

	if (c->nout + c->nin > VIRTQ_MAX_IOV)
		__builtin_trap();
	for (unsigned int i = 0; i < (unsigned int)(c->nout + c->nin); i++) {
		const uint8_t *p = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		bool inside = false;

		if (len == 0)
			__builtin_trap();
		for (int r = 0; r < m->nregions; r++)
			if (p >= m->r[r].hva &&
			    len <= m->r[r].size - (uint64_t)(p - m->r[r].hva))
				inside = true;
		if (!inside)
			__builtin_trap();
		if (i < c->nout)
			out += len;
		else
			in += len;
	}
	if (out != c->out_len || in != c->in_len || out + in > UINT32_MAX)
		__builtin_trap();
}

/*
 * The used element just pushed names the chain and never claims more than
 * its writable bytes.  (Nothing runs between push and this check, and the
 * used ring cannot overlap itself, so the element is what push wrote.)
 */
static void check_used(const struct virtq *q, const struct virtq_chain *c,
		       uint32_t written)
{
	uint16_t slot = (uint16_t)(q->used_idx - 1) & (q->num - 1);
	const uint8_t *e =
		guest_mem_ptr(q->mem, q->used_gpa + 4 + 8ULL * slot, 8);
	uint32_t id, len;

	if (!e)
		__builtin_trap();
	memcpy(&id, e, 4);
	memcpy(&len, e + 4, 4);
	if (id != c->head || len > c->in_len ||
	    len != (written < c->in_len ? written : c->in_len))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem mem = {0};
	struct virtq q = {0};
	const uint8_t *script;
	size_t script_len, pos = 0;
	uint8_t scratch[512];
	int unpops = 0;

	if (size < HDR_SIZE)
		return 0;

	mem.nregions = (data[1] & 1) ? 2 : 1;
	mem.r[0] =
		(struct guest_region){.gpa = 0, .size = RAM0_SIZE, .hva = ram0};
	mem.r[1] = (struct guest_region){
		.gpa = RAM0_SIZE, .size = RAM1_SIZE, .hva = ram1};
	mem.total = RAM0_SIZE + (mem.nregions == 2 ? RAM1_SIZE : 0);

	q.num_max = 512;
	q.num = (uint16_t)(1U << (data[0] % 10)); /* 1 .. 512 */
	if (data[0] & 0x80)
		q.num = (uint16_t)(data[0] * 3); /* often not a power of two */
	q.event_idx = data[1] & 2;
	q.mem = &mem;
	q.last_avail = get16(data + 2);
	q.used_idx = q.signalled_used = get16(data + 4);
	/* Mostly-sane ring placement, so that the walk is reached. */
	q.desc_gpa = (uint64_t)get16(data + 6) * ((data[1] & 4) ? 1 : 16);
	q.avail_gpa = (uint64_t)get16(data + 8) * ((data[1] & 8) ? 1 : 2);
	q.used_gpa = (uint64_t)get16(data + 10) * ((data[1] & 16) ? 1 : 4);
	script = data + 12;
	script_len = 4;

	/* The rest of the input is guest RAM. */
	size -= HDR_SIZE;
	data += HDR_SIZE;
	memset(ram0, 0, sizeof(ram0));
	memset(ram1, 0, sizeof(ram1));
	memcpy(ram0, data, size < RAM0_SIZE ? size : RAM0_SIZE);
	if (size > RAM0_SIZE)
		memcpy(ram1, data + RAM0_SIZE,
		       size - RAM0_SIZE < RAM1_SIZE ? size - RAM0_SIZE
						    : RAM1_SIZE);

	if (virtq_validate(&q))
		return 0; /* and pop must refuse it too */

	for (int n = 0; n < MAX_POPS; n++) {
		uint8_t op = script[pos++ % script_len];
		int r;

		(void)virtq_has_avail(&q);
		r = virtq_pop(&q, &chain);
		if (r <= 0)
			break;
		check_chain(&mem, &chain);

		virtq_chain_read(&chain, op & 7, scratch, sizeof(scratch));
		if ((op & 0x30) == 0x10 && unpops < MAX_UNPOPS) {
			virtq_unpop(&q);
			unpops++;
			continue;
		}
		uint32_t written = (uint32_t)virtq_chain_write(
			&chain, op & 3, scratch,
			(op & 0x40) ? sizeof(scratch) : 1);
		if ((op & 0x30) == 0x20)
			written = (uint32_t)chain.in_len + 1; /* device bug */
		virtq_push(&q, &chain, written);
		check_used(&q, &chain, written);
		if (op & 0x80)
			(void)virtq_should_signal(&q);
	}
	(void)virtq_should_signal(&q);
	return 0;
}
