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
/* Append a drive (ids must be unique); overlay may be NULL.  0 or -1 with
 * err. */
int config_add_drive(struct vmm_config *c, const char *id, const char *path,
		     const char *overlay, bool read_only, bool is_root,
		     char *err, size_t errlen);

/* --drive PATH[,ro|,rw][,overlay=OVL] (config_drive.c). */
int config_parse_drive(struct vmm_config *c, const char *arg, char *err,
		       size_t errlen);
/* --drive-override ID=PATH (config_drive.c). */
int config_drive_override(struct vmm_launch *l, const char *val, char *err,
			  size_t errlen);
/* Append a network interface (ids and TAPs unique); mac may be NULL.
 * 0 or -1 with err (config_net.c). */
int config_add_net(struct vmm_config *c, const char *id, const char *tap,
		   const char *mac, char *err, size_t errlen);
/* --net TAP[,mac=MAC][,id=ID] (config_net.c). */
int config_parse_net(struct vmm_config *c, const char *arg, char *err,
		     size_t errlen);
/* --net-override ID=TAP (config_net.c). */
int config_net_override(struct vmm_launch *l, const char *val, char *err,
			size_t errlen);

#endif
