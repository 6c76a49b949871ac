/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints inside libkiln (checkpoint.c, sandbox_fork.c): where their
 * files live and how a running sandbox's snapshot is taken.
 */
#ifndef KILN_LIB_CHECKPOINT_H
#define KILN_LIB_CHECKPOINT_H

#include "kiln.h"
#include "lib/state.h"

/*
 * <state_dir>/checkpoints/<id>[/<leaf>] into *out (free() it).  Failures
 * are recorded on k.
 */
int checkpoint_dir_of(struct kiln *k, const char *id, const char *leaf,
		      char **out);

/* mkdir -p path, 0700 for what is created. */
int checkpoint_mkdir_p(struct kiln *k, const char *path);

/* Remove path and everything below it (gone already: KILN_OK). */
int checkpoint_tree_remove(struct kiln *k, const char *path);

/* The same without a message: 0 or an errno. */
int checkpoint_tree_rm(const char *path);

/*
 * Snapshot row's running VMM into dir/{state,mem} (dir exists): pause it
 * through its API unless it is paused already, PUT /snapshot/create
 * (Full), resume it (always, also after a failure) unless it was paused.
 */
int checkpoint_capture(struct kiln *k, const struct state_sandbox *row,
		       const char *dir);

#endif
