/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by jail.c (parent side), jail_enter.c (child side) and
 * jail_cgroup.c.  Everything here is allocation-free and async-signal-safe
 * because jail_enter() runs between fork() and exec().
 */
#ifndef KILN_LIB_JAIL_INT_H
#define KILN_LIB_JAIL_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/jail.h"

#define JAIL_CGROUP_MAX 3 /* v1: cpu, memory, pids; v2: one */

struct jail_cgroups {
	bool v2;
	int n;
	char dir[JAIL_CGROUP_MAX][PATH_MAX]; /* .../kiln/<id> */
	const char *controller[JAIL_CGROUP_MAX]; /* v1 hierarchy name */
};

/* out = a + b + c (any may be NULL); -1 (ENAMETOOLONG) if it won't fit. */
int jail_path_cat(char *out, size_t len, const char *a, const char *b,
		  const char *c);

/* "<step>: <path>: <errno text>" into err, without stdio or malloc. */
void jail_err(char *err, size_t errlen, const char *step, const char *path,
	      int e);

/* <rundir>/root. */
int jail_root_path(const struct jail_config *c, char *out, size_t len);

const char *jail_cgroup_root(const struct jail_config *c);

/* The cgroup directories for c->id (v1 or v2 by what is mounted). */
int jail_cgroups_find(const struct jail_config *c, struct jail_cgroups *g);

/* Parent: create the groups and write the limits. */
int jail_cgroups_create(const struct jail_config *c, char *err, size_t errlen);

/* Child: move the calling process into the groups. */
int jail_cgroups_join(const struct jail_cgroups *g, char *err, size_t errlen);

/* Kill what is left in the groups and remove them. */
void jail_cgroups_remove(const struct jail_config *c);

#endif
