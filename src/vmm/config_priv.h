/* SPDX-License-Identifier: MIT */
/* Helpers shared by config.c (flags) and config_json.c (JSON). */
#ifndef KILN_VMM_CONFIG_PRIV_H
#define KILN_VMM_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Format err; returns -1. */
int config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replace *dst with a copy of src.  0 or -1 (out of memory). */
int config_set_str(char **dst, const char *src);
/* Append a drive (ids must be unique).  0 or -1 with err. */
int config_add_drive(struct vmm_config *c, const char *id, const char *path,
		     bool read_only, bool is_root, char *err, size_t errlen);

#endif
