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
 * The files of checkpoint cp (its state, mem and root.ovl), checked to
 * exist; *ovl is NULL for a checkpoint without a disk overlay.  Free the
 * three in every case.  KILN_ENOTFOUND (recorded on k) if one is missing.
 */
int checkpoint_files(struct kiln *k, const struct state_checkpoint *cp,
		     char **state, char **mem, char **ovl);

/*
 * Snapshot row's running VMM into dir/{state,mem} (dir exists): pause it
 * through its API unless it is paused already, PUT /snapshot/create
 * (Full), resume it (always, also after a failure) unless it was paused.
 */
int checkpoint_capture(struct kiln *k, const struct state_sandbox *row,
		       const char *dir);

/*
 * Whether the kiln-vmm state file at path (a checkpoint's or a snapshot's
 * "state") has the network interface iface: 1 yes, 0 no, -1 not known
 * (unreadable, or not a state file this reader understands).  Only the
 * framing and the VM_CONFIG section are read (src/vmm/snapshot.h,
 * vmm_config_put()); checksums are the VMM's job when it restores.
 */
int checkpoint_state_has_nic(const char *path, const char *iface);

#endif
