/* SPDX-License-Identifier: MIT */
/*
 * The snapshot memory file: guest RAM, region after region (the same layout
 * guest_mem_map_file() maps), all-zero 4 KiB pages left as holes so the
 * file is sparse.
 *
 * Writing never touches an existing file in place: the data goes to a new
 * temporary file (0600, created exclusively in the same directory), is
 * fsynced and renamed over the target.  A VM restored from the old file
 * keeps it mapped MAP_PRIVATE; truncating or rewriting that inode would
 * change its memory under it (or SIGBUS it), a rename does not.
 *
 * The state file's MEMORY section records the file's size and identity
 * (device, inode, mtime), so a restore refuses a memory file that was
 * replaced or belongs to another snapshot.
 */
#ifndef KILN_VMM_MEM_FILE_H
#define KILN_VMM_MEM_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct snap_buf;
struct snap_reader;

struct mem_file_id {
	uint64_t size;
	uint64_t dev, ino;
	int64_t mtime_sec, mtime_nsec;
	int nregions;
	uint64_t gpa[2], len[2]; /* the layout, checked on restore */
};

/* Write m's RAM to path (see above).  Fills *id.  0 or -1 with err. */
int mem_file_write(const struct guest_mem *m, const char *path,
		   struct mem_file_id *id, char *err, size_t errlen);

/*
 * A diff snapshot: a complete memory file at path made of base_path's
 * contents (the memory file of this VM's previous snapshot, or the one it
 * was restored from) with the pages set in dirty[i] (one bitmap per region)
 * replaced by the current RAM.  The result restores on its own; base_path
 * is not modified, and must still be the file base_id describes (checked as
 * by mem_file_open).  Copying the base keeps its holes (SEEK_DATA/SEEK_HOLE).
 * Fills *id.  0 or -1 with err.
 */
int mem_file_write_diff(const struct guest_mem *m, const char *base_path,
			const struct mem_file_id *base_id, const char *path,
			uint64_t *const *dirty, struct mem_file_id *id,
			char *err, size_t errlen);

/* The MEMORY section body. */
void mem_file_id_put(struct snap_buf *b, const struct mem_file_id *id);
/* false if r is malformed; leaves r just past the id. */
bool mem_file_id_get(struct snap_reader *r, struct mem_file_id *id);

/*
 * Open path for a restore of RAM laid out as m (guest_mem_layout) and check
 * it is the file id describes.  Returns the fd (O_RDONLY) or -1 with err.
 */
int mem_file_open(const char *path, const struct mem_file_id *id,
		  const struct guest_mem *layout, char *err, size_t errlen);

/* Index of the first non-zero 4 KiB page in [from, npages), or npages. */
size_t mem_next_nonzero(const uint8_t *base, size_t npages, size_t from);
/* Index of the first all-zero page in [from, npages), or npages. */
size_t mem_next_zero(const uint8_t *base, size_t npages, size_t from);

#endif
