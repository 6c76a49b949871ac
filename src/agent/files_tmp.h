/* SPDX-License-Identifier: MIT */
/*
 * Temporary files next to a target, for writes that must never destroy
 * the old content before the new one is complete: write_file and the
 * regular files and symlinks of upload are created under a fresh name in
 * the target's directory and renamed over the target only once complete.
 */
#ifndef KILN_AGENT_FILES_TMP_H
#define KILN_AGENT_FILES_TMP_H

#include <limits.h>
#include <stddef.h>

/* ".<name>.kiln-" + 6 random characters; name is cut to fit NAME_MAX. */
#define FILES_TMP_SUFFIX ".kiln-"
#define FILES_TMP_RANDOM 6

/*
 * Create a new regular file (O_EXCL, O_NOFOLLOW, mode 0600, opened for
 * writing) with a unique temporary name for name in directory dfd; the
 * name is written to tmp (NAME_MAX + 1 bytes).  Returns the fd or -errno.
 */
int files_tmp_openat(int dfd, const char *name, char *tmp);

/* The same for a symlink to target.  Returns 0 or -errno. */
int files_tmp_symlinkat(const char *target, int dfd, const char *name,
			char *tmp);

/*
 * Pure: the template ".<name cut>.kiln-XXXXXX" for name (NAME_MAX + 1
 * bytes in out), as mkostemp() and the functions above use.
 */
void files_tmp_template(const char *name, char *out);

#endif
