/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory: a short list of RAM regions, each mapped into the
 * VMM.  Every guest-supplied address goes through guest_mem_ptr(), which
 * refuses ranges that are not wholly inside one region; device code never
 * does pointer arithmetic on guest addresses itself.
 */
#ifndef KILN_VMM_GUEST_MEM_H
#define KILN_VMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

/* RAM below the MMIO hole ends here; the rest goes above 4 GiB. */
#define GUEST_MMIO_HOLE_START 0xC0000000ULL
#define GUEST_MMIO_HOLE_END 0x100000000ULL

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	/* One bit per 4 KiB page the VMM itself wrote (device DMA), or NULL
	 * when dirty tracking is off.  KVM's dirty log only sees guest
	 * writes; diff snapshots need both. */
	uint64_t *vmm_dirty;
};

struct guest_mem {
	int nregions;
	struct guest_region r[GUEST_MEM_MAX_REGIONS];
	uint64_t total; /* bytes of RAM over all regions */
};

/*
 * Host pointer to [gpa, gpa + len) or NULL if any byte of it is not guest
 * RAM or the range wraps.  len == 0 is accepted if gpa itself is RAM.
 */
static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa,
				  uint64_t len)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->r[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/*
 * Compute the region layout for mem_size bytes of RAM without mapping
 * anything (hva stays NULL): [0, min(size, hole start)) and, for sizes
 * above the hole start, the rest from GUEST_MMIO_HOLE_END.  mem_size must be
 * a non-zero multiple of 4 KiB.  Returns 0 or -EINVAL.
 */
int guest_mem_layout(struct guest_mem *m, uint64_t mem_size);

/*
 * Lay out RAM of mem_size bytes around the MMIO hole and map it anonymous
 * (MAP_PRIVATE | MAP_NORESERVE).  Returns 0 or -errno.
 */
int guest_mem_alloc(struct guest_mem *m, uint64_t mem_size);
void guest_mem_free(struct guest_mem *m);

/*
 * Lay out RAM like guest_mem_alloc but map it from a memory file (regions
 * back to back from offset 0) MAP_PRIVATE | MAP_NORESERVE: pages load on
 * demand and guest writes go to private copy-on-write pages, so the file is
 * never modified and many VMs can share its page cache.  The file must be
 * at least mem_size bytes (checked by the caller).  Returns 0 or -errno.
 */
int guest_mem_map_file(struct guest_mem *m, uint64_t mem_size, int fd);

/* Allocate the vmm_dirty bitmaps (all clear).  Returns 0 or -ENOMEM. */
int guest_mem_track_dirty(struct guest_mem *m);

/* Bytes of one region's bitmap (one bit per 4 KiB page, whole u64s). */
size_t guest_mem_bitmap_bytes(uint64_t region_size);

/*
 * Record that the VMM wrote guest memory [gpa, gpa + len) (a device filled
 * a buffer or a used ring).  No-op when tracking is off or the range is not
 * RAM.  Any thread.
 */
void guest_mem_mark_dirty(const struct guest_mem *m, uint64_t gpa,
			  uint64_t len);

/* First byte above the RAM that starts at guest physical 0 (below 4 GiB). */
uint64_t guest_mem_low_end(const struct guest_mem *m);

#endif
