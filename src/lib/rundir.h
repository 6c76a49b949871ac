/* SPDX-License-Identifier: MIT */
/*
 * Private per-sandbox runtime directories: <base>/<id>, mode 0700, holding
 * the VMM's vsock socket, console log and VMM log.  The base itself must be
 * a real directory owned by us and not writable by others, because socket
 * paths in a shared directory could be swapped under us.
 */
#ifndef KILN_LIB_RUNDIR_H
#define KILN_LIB_RUNDIR_H

#include <stddef.h>

#define RUNDIR_ID_LEN 12 /* hex digits */

/* A fresh random sandbox id: RUNDIR_ID_LEN hex digits + NUL. */
int rundir_new_id(char id[RUNDIR_ID_LEN + 1]);

/*
 * Create base (and missing parents, 0700) if needed, check it is safe,
 * then create <base>/<id> with mode 0700.  *out gets the malloc'ed path.
 * Returns 0 or a negative kiln status with err filled in.
 */
int rundir_create(const char *base, const char *id, char **out, char *err,
		  size_t errlen);

/*
 * Remove dir and the files in it (no subdirectories are expected; any
 * found are reported).  Returns 0, or a negative kiln status with err.
 */
int rundir_remove(const char *dir, char *err, size_t errlen);

#endif
