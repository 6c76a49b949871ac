/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM layout and mapping.  RAM starts at guest physical 0 and runs up
 * to the MMIO hole (devices, LAPIC, IOAPIC live in [3 GiB, 4 GiB)); whatever
 * does not fit below the hole continues at 4 GiB.  Each region is one
 * anonymous mapping and later one KVM memory slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guest_mem.h"

#define GUEST_PAGE_SIZE 4096ULL

/* Generous upper bound so the arithmetic below can never wrap. */
#define GUEST_MEM_LAYOUT_MAX (1ULL << 46)

int guest_mem_layout(struct guest_mem *m, uint64_t mem_size)
{
	memset(m, 0, sizeof(*m));
	if (mem_size == 0 || mem_size % GUEST_PAGE_SIZE ||
	    mem_size > GUEST_MEM_LAYOUT_MAX)
		return -EINVAL;

	if (mem_size <= GUEST_MMIO_HOLE_START) {
		m->r[0] = (struct guest_region){.gpa = 0, .size = mem_size};
		m->nregions = 1;
	} else {
		m->r[0] = (struct guest_region){.gpa = 0,
						.size = GUEST_MMIO_HOLE_START};
		m->r[1] = (struct guest_region){
			.gpa = GUEST_MMIO_HOLE_END,
			.size = mem_size - GUEST_MMIO_HOLE_START,
		};
		m->nregions = 2;
	}
	m->total = mem_size;
	return 0;
}

/* fd < 0: anonymous memory; else the regions back to back in fd. */
static int guest_mem_map(struct guest_mem *m, uint64_t mem_size, int fd)
{
	int rc = guest_mem_layout(m, mem_size);
	uint64_t off = 0;

	if (rc)
		return rc;
	for (int i = 0; i < m->nregions; i++) {
		int flags = MAP_PRIVATE | MAP_NORESERVE |
			    (fd < 0 ? MAP_ANONYMOUS : 0);
		void *p = mmap(NULL, m->r[i].size, PROT_READ | PROT_WRITE,
			       flags, fd, fd < 0 ? 0 : (off_t)off);

		off += m->r[i].size;

		if (p == MAP_FAILED) {
			rc = -errno;
			guest_mem_free(m);
			return rc;
		}
		m->r[i].hva = p;
		/* Guest RAM is large and never useful in a VMM core dump. */
		madvise(p, m->r[i].size, MADV_DONTDUMP);
	}
	return 0;
}

int guest_mem_alloc(struct guest_mem *m, uint64_t mem_size)
{
	return guest_mem_map(m, mem_size, -1);
}

int guest_mem_map_file(struct guest_mem *m, uint64_t mem_size, int fd)
{
	if (fd < 0)
		return -EBADF;
	return guest_mem_map(m, mem_size, fd);
}

size_t guest_mem_bitmap_bytes(uint64_t region_size)
{
	return (size_t)((region_size / GUEST_PAGE_SIZE + 63) / 64) * 8;
}

int guest_mem_track_dirty(struct guest_mem *m)
{
	for (int i = 0; i < m->nregions; i++) {
		if (m->r[i].vmm_dirty)
			continue;
		m->r[i].vmm_dirty =
			calloc(1, guest_mem_bitmap_bytes(m->r[i].size));
		if (!m->r[i].vmm_dirty)
			return -ENOMEM;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *m)
{
	for (int i = 0; i < m->nregions; i++) {
		if (m->r[i].hva)
			munmap(m->r[i].hva, m->r[i].size);
		m->r[i].hva = NULL;
		free(m->r[i].vmm_dirty);
		m->r[i].vmm_dirty = NULL;
	}
	m->nregions = 0;
	m->total = 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *m)
{
	if (m->nregions == 0 || m->r[0].gpa != 0)
		return 0;
	return m->r[0].size;
}

void guest_mem_mark_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->r[i];
		uint64_t first, last;

		if (!r->vmm_dirty || gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			len = r->size - (gpa - r->gpa);
		first = (gpa - r->gpa) >> 12;
		last = len ? (gpa - r->gpa + len - 1) >> 12 : first;
		for (uint64_t pg = first; pg <= last; pg++)
			__atomic_fetch_or(&r->vmm_dirty[pg / 64],
					  1ULL << (pg % 64), __ATOMIC_RELAXED);
		return;
	}
}
