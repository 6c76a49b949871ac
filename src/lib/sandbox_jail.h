/* SPDX-License-Identifier: MIT */
/*
 * Jailing a sandbox's kiln-vmm (sandbox_jail.c, docs/SECURITY.md).
 */
#ifndef KILN_LIB_SANDBOX_JAIL_H
#define KILN_LIB_SANDBOX_JAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/jail.h"
#include "lib/vmm_argv.h"

#define SANDBOX_JAIL_MAX_STR (2 * JAIL_MAX_MOUNTS)
#define SANDBOX_JAIL_MAX_DEV 8

struct kiln;
struct kiln_sandbox;

struct sandbox_jail {
	struct jail_config cfg;
	struct jail_mount mounts[JAIL_MAX_MOUNTS];
	size_t nmounts;
	const char *devices[SANDBOX_JAIL_MAX_DEV];
	size_t ndevices;
	char *str[SANDBOX_JAIL_MAX_STR]; /* copies the mounts point into */
	size_t nstr;
};

/*
 * Whether sb's VMM goes into the jail: running as root, not disabled for
 * the handle (kiln_options.jail, $KILN_JAIL=0) and not for the sandbox (a
 * persistent sandbox created with the jail off stays so: sb->no_jail,
 * from its state row, on every start, rollback and fork).
 */
bool sandbox_jail_wanted(const struct kiln_sandbox *sb);

/*
 * Build and prepare (jail_prepare()) the jail for the VMM l of sb: its
 * mounts, devices, uid, cgroup limits from l's cpus and memory; the
 * socket symlinks in sb->dir; the note <dir>/jail that `kiln inspect`
 * shows.  0, or a kiln status with err.  Free j with sandbox_jail_free()
 * once the VMM was spawned.
 */
int sandbox_jail_setup(struct kiln_sandbox *sb, const struct vmm_launch *l,
		       struct sandbox_jail *j, char *err, size_t errlen);

void sandbox_jail_free(struct sandbox_jail *j);

/*
 * $KILN_JAIL_RELAX: a comma-separated list of "seccomp", "cgroup" (the
 * KILN_JAIL_NO_* names), ORed into *relax; "" adds nothing.  0, or
 * KILN_EINVAL with err naming the bad word.
 */
int sandbox_jail_relax_parse(const char *s, unsigned int *relax, char *err,
			     size_t errlen);

/* What sb's VMM does without: its state row's record and the handle's. */
unsigned int sandbox_jail_relax(const struct kiln_sandbox *sb);

/*
 * The relaxation as kiln-vmm arguments: --no-seccomp appended to a for
 * KILN_JAIL_NO_SECCOMP.  0, or KILN_EINVAL/KILN_ENOMEM with err.
 */
int sandbox_jail_relax_argv(unsigned int relax, struct vmm_argv *a, char *err,
			    size_t errlen);

/* The relaxation applied to a jail: KILN_JAIL_NO_CGROUP -> no cgroup. */
void sandbox_jail_relax_config(unsigned int relax, struct jail_config *c);

/* "; SECCOMP DISABLED; CGROUP LIMITS DISABLED" (what applies) into buf. */
void sandbox_jail_relax_text(unsigned int relax, char *buf, size_t len);

/*
 * sandbox_jail_relax_argv() for sb's VMM, with a warning for each part
 * left out (as for an unjailed VMM).  0, or a kiln status with err.
 */
int sandbox_jail_argv(struct kiln_sandbox *sb, struct vmm_argv *a, char *err,
		      size_t errlen);

/*
 * Snapshots of a jailed VMM (checkpoints, forks): it can only write where
 * its root lets it, so it writes into <state>/checkpoints/.jail-<id>
 * (mounted writable in its root, on the checkpoints' file system) and
 * the host renames the files into place (a rename keeps the memory file's
 * identity, which a restore checks).  *out: that directory if the sandbox
 * whose runtime directory is rundir is jailed, else NULL.  Free *out.
 */
int sandbox_jail_staging(struct kiln *k, const char *id, const char *rundir,
			 char **out);

/* Remove sandbox id's staging directory (the sandbox is being removed). */
void sandbox_jail_staging_remove(struct kiln *k, const char *id);

/*
 * Move <staging>/<name>, written by the jailed VMM, to dst: it must be a
 * regular file with one link (never a symlink into the host); it becomes
 * root's, mode 0600.  0, or a kiln status with err.
 */
int sandbox_jail_collect(const char *staging, const char *name, const char *dst,
			 char *err, size_t errlen);

/*
 * Record in <dir>/jail, and warn, that sb's VMM runs unjailed, and why
 * (for a sandbox created with the jail off, that is the reason given).
 */
void sandbox_jail_note_off(struct kiln_sandbox *sb, const char *why);

#endif
