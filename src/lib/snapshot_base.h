/* SPDX-License-Identifier: MIT */
/*
 * Base snapshots: a sandbox is a restored snapshot, not a boot.  For each
 * (kernel, image, vCPUs, memory, extra command line, kiln-vmm build) one
 * guest is booted once, its agent is waited for, and the paused VM is
 * snapshotted into $KILN_CACHE/snapshots/<key>/{state,mem,root.ovl}.
 * Every later sandbox with the same inputs restores it (the memory file is
 * mapped MAP_PRIVATE, so all of them share its page cache) with its own
 * copy of root.ovl, the copy-on-write overlay of the root disk (the image
 * is only ever read).
 *
 * The key hashes the inputs' identities (path, size, mtime, inode) rather
 * than their contents: a rebuilt kernel, image or kiln-vmm gets a new key;
 * nothing is ever reused for inputs that changed.  Builds are serialised by
 * a lock file per key, and a snapshot appears atomically (rename of its
 * directory), so concurrent creates build it once and never see half of it.
 */
#ifndef KILN_LIB_SNAPSHOT_BASE_H
#define KILN_LIB_SNAPSHOT_BASE_H

#include <stddef.h>
#include <stdint.h>

struct kiln;
struct sandbox_params;
struct kiln_sandbox_config;

struct snapshot_base {
	char *dir; /* $KILN_CACHE/snapshots/<key> */
	char *state; /* <dir>/state */
	char *mem; /* <dir>/mem */
	char *overlay; /* <dir>/root.ovl: copy it, never use it */
};

/*
 * The cache key of p with kiln-vmm at vmm_path: 16 hex digits in out.
 * Fails (negative kiln status, err) if an input cannot be stat'ed.
 */
int snapshot_base_key(const struct sandbox_params *p, const char *vmm_path,
		      char out[17], char *err, size_t errlen);

/*
 * Make sure the base snapshot for p exists, building it if needed (a boot:
 * progress goes through cfg's callback like a normal boot).  On success
 * *out names its files; release with snapshot_base_free().  Errors are
 * reported through k (handle_fail) and returned.
 */
int snapshot_base_ensure(struct kiln *k, const struct kiln_sandbox_config *cfg,
			 const struct sandbox_params *p, const char *vmm_path,
			 struct snapshot_base *out);

void snapshot_base_free(struct snapshot_base *b);

/* For snapshot_prune.c: the identities the key hashes ("<realpath>:<size>:
 * <mtime>:<dev>:<ino>" of a file, the host's), and the layout number. */
int snapshot_base_identity(const char *what, const char *path, char *buf,
			   size_t len, char *err, size_t errlen);
void snapshot_base_host(char *buf, size_t len);
int snapshot_base_layout(void);

#endif
