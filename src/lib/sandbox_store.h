/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes inside libkiln: the state database as the record of
 * which VMMs should exist, and the reconciliation of that record with the
 * processes that really do (sandbox_store.c, sandbox_reconcile.c).
 */
#ifndef KILN_LIB_SANDBOX_STORE_H
#define KILN_LIB_SANDBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "lib/state.h"

#define STORE_FILE "state.db"
#define STORE_SHUTDOWN_ACK_MS 10000 /* agent accepts a power-off request */
#define STORE_POWEROFF_WAIT_MS 20000 /* then the VMM should exit */
#define STORE_TERM_WAIT_MS 5000 /* after SIGTERM, before SIGKILL */
#define STORE_CONNECT_MS 10000 /* connect + hello to a running agent */
#define STORE_REASON_MAX 512

/*
 * The state database of k, opened on first use (creating the state
 * directory, 0700; in memory for KILN_STATE_MEMORY) and reconciled once
 * per handle.  Failures are recorded on k.
 */
int store_open(struct kiln *k, struct state **out);

/*
 * Close k's state database (kiln_close()).  An in-memory one first has
 * every sandbox it records removed, as by kiln_sandbox_remove() with
 * force: nothing could find them afterwards.
 */
void store_close(struct kiln *k);

/* This process as an owner of an operation: pid and start time. */
int store_self(int *pid, uint64_t *start);

/* Whether pid with that start time still runs (0 pid: no). */
bool store_proc_alive(int pid, uint64_t start);

/*
 * Make row's VMM exit if it still runs (same pid and start time):
 * graceful asks its agent to power off first, then SIGTERM, then SIGKILL.
 * Returns 0 (also when it was gone already) or a status with a message in
 * err.
 */
int store_vmm_stop(const struct state_sandbox *row, bool graceful, char *err,
		   size_t errlen);

/*
 * Why row's VMM ended, as far as its log tells: its last own message in
 * vmm.log, else a note that it left none (SIGKILL, host restart).
 */
void store_exit_reason(const struct state_sandbox *row, char *buf, size_t len);

/*
 * Bring one row in line with reality (see kiln.h, "Persistent
 * sandboxes").  On return *row is the current record, or *deleted is set
 * when a half-created sandbox was rolled back.
 */
int reconcile_row(struct kiln *k, struct state *st, struct state_sandbox *row,
		  bool *deleted);

/* reconcile_row() for every sandbox; failures are logged, not fatal. */
void reconcile_all(struct kiln *k, struct state *st);

/*
 * Open the store and resolve ref (id, name, unique id prefix) to a
 * reconciled row (clear it with state_sandbox_clear()).
 */
int store_find(struct kiln *k, const char *ref, struct state **st,
	       struct state_sandbox *row);

/*
 * KILN_ESTATE: row is being created, started or stopped by another kiln
 * process (its owner), with what to do.
 */
int store_busy_fail(struct kiln *k, const struct state_sandbox *row);

/* ---- sandbox_pause.c ---- */

/* Ask row's VMM (PATCH /vm on its api.sock) to pause or resume its vCPUs. */
int store_vmm_set_paused(struct kiln *k, const struct state_sandbox *row,
			 bool paused);

/*
 * Before a graceful stop of a paused sandbox: resume its VMM so the guest
 * can power off.  False (with a warning logged) if that failed: then only
 * killing it is left.  k's error message is kept.
 */
bool store_unpause_for_stop(struct kiln *k, const struct state_sandbox *row);

/* ---- shared with checkpoint.c and sandbox_fork.c ---- */

struct kiln_sandbox;
struct json_t;

/* Parse a row's stored configuration strictly into cfg; its strings
 * point into *root (json_decref() it after use). */
int store_config_parse(struct kiln *k, const char *id, const char *text,
		       struct kiln_sandbox_config *cfg, struct json_t **root);

/*
 * Boot *sbp for row (in state `during`, owned by own's process): launch
 * the VMM detached, record it, wait for the agent, go to running.  On
 * failure sb is torn down and *sbp is NULL; the row stays in `during`.
 */
int store_boot(struct kiln *k, struct state *st, struct kiln_sandbox **sbp,
	       const struct state_sandbox *row,
	       const struct kiln_sandbox_config *cfg,
	       enum state_sandbox_status during,
	       const struct state_update *own);

/* sandbox_store_create() restoring the snapshot restore_state +
 * restore_mem (a checkpoint) instead of the base snapshot, with a copy of
 * restore_overlay (NULL: none) as its root disk's overlay.  parent (a
 * fork's origin, NULL: none): the new sandbox inherits its no_jail and
 * jail_relax for good; k's jail setting and jail_relax add to them. */
int store_create_from(struct kiln *k, const struct kiln_sandbox_config *cfg,
		      const char *restore_state, const char *restore_mem,
		      const char *restore_overlay,
		      const struct state_sandbox *parent,
		      struct kiln_sandbox **out);

/*
 * Undo a creation that failed (row in creating, its VMM gone): its
 * network, runtime directory and row.  If the directory cannot be
 * removed, the row stays, failed, naming it (for `kiln rm`).  What failed
 * is appended to k's message.
 */
void store_create_undo(struct kiln *k, struct state *st,
		       const struct state_sandbox *row);

/*
 * Remove the files of sandbox id's checkpoint name (NULL: all of them,
 * <state_dir>/checkpoints/<id>, with leftovers of interrupted checkpoints
 * and forks).  Failures are recorded on k.
 */
int checkpoint_files_remove(struct kiln *k, const char *id, const char *name);

#endif
