/* SPDX-License-Identifier: MIT */
/*
 * Sandbox configuration defaults and checks.  Ranges are checked here, in
 * the library, so every front end reports them the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/artifact.h"
#include "lib/sandbox_config.h"
#include "lib/vmm_argv.h"

static char *path_join(const char *dir, const char *rel)
{
	char *s;

	if (asprintf(&s, "%s/%s", dir, rel) < 0)
		return NULL;
	return s;
}

int sandbox_params_resolve(const char *cache_dir,
			   const struct kiln_sandbox_config *cfg,
			   struct sandbox_params *p, char *err, size_t errlen)
{
	static const struct kiln_sandbox_config none;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!cfg)
		cfg = &none;

	p->cpus = cfg->cpus ? cfg->cpus : KILN_DEFAULT_CPUS;
	if (p->cpus < KILN_CPUS_MIN || p->cpus > KILN_CPUS_MAX) {
		snprintf(err, errlen, "cpus must be %d..%d, not %u",
			 KILN_CPUS_MIN, KILN_CPUS_MAX, p->cpus);
		return KILN_EINVAL;
	}
	p->memory_mib =
		cfg->memory_mib ? cfg->memory_mib : KILN_DEFAULT_MEMORY_MIB;
	if (p->memory_mib < KILN_MEMORY_MIB_MIN ||
	    p->memory_mib > KILN_MEMORY_MIB_MAX) {
		snprintf(err, errlen, "memory must be %d..%d MiB, not %u",
			 KILN_MEMORY_MIB_MIN, KILN_MEMORY_MIB_MAX,
			 p->memory_mib);
		return KILN_EINVAL;
	}

	if (cfg->kernel_path && *cfg->kernel_path) {
		p->kernel = strdup(cfg->kernel_path);
	} else {
		p->kernel = path_join(cache_dir, "kernel/vmlinux");
		p->kernel_is_default = true;
	}
	if (cfg->image_path && *cfg->image_path) {
		p->image = strdup(cfg->image_path);
	} else {
		p->image = path_join(cache_dir, "images/base.ext4");
		p->image_is_default = true;
	}
	if (cfg->cmdline_extra && *cfg->cmdline_extra)
		p->cmdline_extra = strdup(cfg->cmdline_extra);
	if (!p->kernel || !p->image ||
	    (cfg->cmdline_extra && *cfg->cmdline_extra && !p->cmdline_extra)) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	rc = vmm_check_drive_path(p->image, err, errlen);
	if (rc)
		return rc;
	if (p->cmdline_extra)
		return vmm_check_cmdline_extra(p->cmdline_extra, err, errlen);
	return 0;
}

int sandbox_params_check_files(const struct sandbox_params *p, char *err,
			       size_t errlen)
{
	enum artifact_kernel_kind kind;
	int rc;

	rc = artifact_check_kernel(
		p->kernel,
		p->kernel_is_default ? "build it with 'make kernel'" : NULL,
		&kind, err, errlen);
	if (rc)
		return rc;
	return artifact_check_image(
		p->image,
		p->image_is_default ? "build it with 'make image'" : NULL, err,
		errlen);
}

void sandbox_params_free(struct sandbox_params *p)
{
	free(p->kernel);
	free(p->image);
	free(p->cmdline_extra);
	memset(p, 0, sizeof(*p));
}
