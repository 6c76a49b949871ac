/* SPDX-License-Identifier: MIT */
/*
 * What one tree extraction on the host created, so that a failed copy
 * can take it away again (copy_dir.c): before each archive member is
 * extracted, the first missing component of its path is noted (all
 * below it will be this copy's too), and on failure exactly those are
 * removed, newest first, each walked to with O_NOFOLLOW from the root so
 * that no symlink leads the removal elsewhere.  What existed before is
 * never noted, so never removed.
 */
#ifndef KILN_LIB_COPY_DIR_UNDO_H
#define KILN_LIB_COPY_DIR_UNDO_H

#include <stdbool.h>

struct copy_undo;

/* For the canonical directory root; root_created: this copy made it. */
struct copy_undo *copy_undo_new(const char *root, bool root_created);

/*
 * rel (relative to root, no "." or ".." components, may have empty ones)
 * is about to be extracted: note what of it does not exist yet.  Returns
 * 0, or -1 when out of memory.
 */
int copy_undo_note(struct copy_undo *u, const char *rel);

/* Remove what was noted (a created root: all of it).  Best effort. */
void copy_undo_run(struct copy_undo *u);

void copy_undo_free(struct copy_undo *u);

#endif
