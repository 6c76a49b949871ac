/* SPDX-License-Identifier: MIT */
/*
 * Checks on the boot artifacts (kernel, root image) made before a VM is
 * started, so a wrong path or a truncated download is reported as such
 * rather than as a guest that never boots.
 */
#ifndef KILN_LIB_ARTIFACT_H
#define KILN_LIB_ARTIFACT_H

#include <stddef.h>

enum artifact_kernel_kind {
	ARTIFACT_KERNEL_ELF = 1, /* uncompressed x86-64 ELF vmlinux */
	ARTIFACT_KERNEL_BZIMAGE = 2, /* bzImage with a 64-bit entry */
};

/*
 * Check that path is a readable x86-64 kernel.  hint is appended to a
 * "not found" message (e.g. "build it with 'make kernel'"); may be NULL.
 * Returns 0 and the kind in *kind, or a negative kiln status with a
 * message in err.
 */
int artifact_check_kernel(const char *path, const char *hint,
			  enum artifact_kernel_kind *kind, char *err,
			  size_t errlen);

/*
 * Check that path is a readable ext2/3/4 file system image: superblock
 * magic 0xEF53 at byte 1080, a sane block size, and a file at least as
 * large as the block count says.  Same conventions as above.
 */
int artifact_check_image(const char *path, const char *hint, char *err,
			 size_t errlen);

#endif
