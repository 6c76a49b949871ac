/* SPDX-License-Identifier: MIT */
/*
 * A struct kiln_sandbox_config with its defaults filled in and its values
 * checked.  Split from sandbox.c so the rules are testable without a VM.
 */
#ifndef KILN_LIB_SANDBOX_CONFIG_H
#define KILN_LIB_SANDBOX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kiln.h"

struct sandbox_params {
	char *kernel;
	char *image;
	bool kernel_is_default; /* then a "make kernel" hint helps */
	bool image_is_default;
	unsigned int cpus;
	unsigned int memory_mib;
	char *cmdline_extra; /* NULL if none */
};

/*
 * Fill p from cfg and the cache directory; check ranges and strings.  No
 * file is touched.  Returns 0 or a negative kiln status with err filled.
 * Call sandbox_params_free() in every case.
 */
int sandbox_params_resolve(const char *cache_dir,
			   const struct kiln_sandbox_config *cfg,
			   struct sandbox_params *p, char *err, size_t errlen);

/* Check the kernel and the image files (artifact_check_*). */
int sandbox_params_check_files(const struct sandbox_params *p, char *err,
			       size_t errlen);

void sandbox_params_free(struct sandbox_params *p);

#endif
