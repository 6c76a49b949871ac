/* SPDX-License-Identifier: MIT */
/*
 * Copy a sandbox's disk overlay (or any sparse file) for a checkpoint or a
 * fork, keeping its holes.  An overlay is mostly holes (only the clusters
 * the guest wrote are allocated, see src/vmm/dev/blk_overlay.h), so the
 * copy costs what the guest wrote, not the disk size.
 *
 * The overlay must be quiescent and complete: the VM paused and its drive
 * flushed (blk_sync in the VMM) so the bitmap on disk covers every write.
 */
#ifndef KILN_LIB_OVERLAY_COPY_H
#define KILN_LIB_OVERLAY_COPY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Copy src to dst: only the data extents (SEEK_DATA/SEEK_HOLE) are copied,
 * with copy_file_range (in the kernel) or read/write where that is refused;
 * holes stay holes and the size is preserved.  dst is created 0600 through
 * a temporary file in its directory, fsynced and renamed into place; an
 * existing dst is never replaced.  *copied (if not NULL) gets the data
 * bytes copied.  Returns 0 or a negative kiln status (KILN_ENOTFOUND,
 * KILN_EINVAL, KILN_ENOMEM, KILN_ESYS) with err filled in.
 */
int overlay_copy(const char *src, const char *dst, uint64_t *copied, char *err,
		 size_t errlen);

#endif
