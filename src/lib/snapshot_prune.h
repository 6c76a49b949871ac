/* SPDX-License-Identifier: MIT */
/*
 * Stale base snapshots (kiln_base_snapshot_list()/_prune(), kiln.h).
 *
 * A base snapshot's key is a hash, so its directory alone cannot say which
 * inputs made it: snapshot_base_ensure() writes <dir>/inputs.json (the
 * paths and identities of kernel, image and kiln-vmm, the host, layout,
 * vCPUs, memory, command line) next to state/mem/root.ovl.  A snapshot is
 * current if this kiln's default inputs with its recorded vCPUs, memory and
 * command line hash to its key; other if its recorded inputs still do;
 * stale otherwise.  One without a record (an older kiln made it) is current
 * if the default configuration hashes to its key, else stale.
 *
 * "In use" means some process maps its memory file: every VM restored from
 * it keeps the mapping for its lifetime (checkpoints and forks write
 * complete memory files of their own, so nothing else refers to it).
 */
#ifndef KILN_LIB_SNAPSHOT_PRUNE_H
#define KILN_LIB_SNAPSHOT_PRUNE_H

#include <stddef.h>
#include <sys/types.h>

#include "kiln.h"

struct sandbox_params;

#define SNAPSHOT_RECORD "inputs.json"

/* Write dir/inputs.json for a snapshot of p with kiln-vmm vmm_path. */
int snapshot_prune_record(const char *dir, const struct sandbox_params *p,
			  const char *vmm_path, char *err, size_t errlen);

/*
 * Judge the snapshot in dir (named key) against now (this kiln's default
 * kernel and image; cpus/memory/cmdline are taken from the record) and
 * vmm_now: fills i->status, i->reason, i->cpus, i->memory_mib.
 */
void snapshot_prune_judge(const char *dir, const char *key,
			  const struct sandbox_params *now, const char *vmm_now,
			  struct kiln_base_snapshot_info *i);

/* The (device, inode) of every memory file mapped by a process. */
struct snapshot_maps {
	struct snapshot_map {
		dev_t dev;
		ino_t ino;
		pid_t pid;
	} * v;
	size_t n, cap;
	pid_t unreadable; /* a kiln-vmm whose maps could not be read, or 0 */
};

/* Scan proc (normally "/proc"): 0, or a negative kiln status with err. */
int snapshot_maps_scan(const char *proc, struct snapshot_maps *m, char *err,
		       size_t errlen);
/* Who maps path: its pid, -1 if unknown (see unreadable), 0 nobody. */
int snapshot_maps_user(const struct snapshot_maps *m, const char *path);
void snapshot_maps_free(struct snapshot_maps *m);

#endif
