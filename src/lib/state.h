/* SPDX-License-Identifier: MIT */
/*
 * Persistent state in SQLite: sandboxes (with their vsock CID and network
 * slot) and their checkpoints.  Several kiln processes may share one state
 * file; every allocation runs in a BEGIN IMMEDIATE transaction so two
 * processes never hand out the same CID or slot (UNIQUE constraints are the
 * backstop).
 *
 * All functions that can fail return 0 or a negative kiln status and write
 * a message saying what failed and what to do into err.
 */
#ifndef KILN_LIB_STATE_H
#define KILN_LIB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/rundir.h"

#define STATE_SCHEMA_VERSION 7
/* PRAGMA application_id of a kiln state database: "kiln" in ASCII. */
#define STATE_APPLICATION_ID 0x6b696c6e
#define STATE_MEMORY ":memory:"
#define STATE_ID_LEN RUNDIR_ID_LEN
#define STATE_NAME_MAX 63
/* vsock CIDs 0..2 are the hypervisor, local and host; 2^32-1 is "any". */
#define STATE_CID_MIN 3u
#define STATE_CID_MAX 0xfffffffeu
/* One /30 per sandbox in a /16 gives 16384 slots. */
#define STATE_NET_SLOT_MAX 16383u

enum state_sandbox_status {
	STATE_SB_CREATING = 0,
	STATE_SB_RUNNING,
	STATE_SB_PAUSED,
	STATE_SB_STOPPED,
	STATE_SB_FAILED,
	/* schema 2: */
	STATE_SB_STARTING, /* `start` in progress (owner_pid runs it) */
	STATE_SB_STOPPING, /* `stop`/`rm` in progress (owner_pid runs it) */
	STATE_SB_DEAD, /* the VMM ended while nobody watched */
};

/* "creating", "running", ...; NULL for a value out of range. */
const char *state_status_name(enum state_sandbox_status st);

struct state_sandbox {
	char id[STATE_ID_LEN + 1];
	char name[STATE_NAME_MAX + 1]; /* "" when unnamed */
	enum state_sandbox_status status;
	int vmm_pid; /* 0 when no VMM runs */
	uint32_t cid;
	uint32_t net_slot;
	int64_t created_at; /* seconds since the epoch */
	char *runtime_dir; /* NULL when none */
	char *config; /* JSON text, NULL when none */
	/* schema 2: */
	uint64_t vmm_start; /* the VMM's start time (/proc/PID/stat #22) */
	int owner_pid; /* process creating/starting/stopping it; 0: none */
	uint64_t owner_start; /* that process's start time */
	char *exit_reason; /* why the VMM ended; NULL when unknown/none */
	/* schema 4: created with the jail turned off (--no-jail,
	 * $KILN_JAIL=0): every later start of its VMM is unjailed too */
	bool no_jail;
	/* schema 5: KILN_JAIL_NO_* it was created with, kept likewise */
	unsigned int jail_relax;
};

/* Free the strings in sb (not sb itself) and zero it. */
void state_sandbox_clear(struct state_sandbox *sb);

/* Free an array returned by state_sandbox_list(). */
void state_sandbox_list_free(struct state_sandbox *list, size_t n);

struct state;

/*
 * Open (creating or upgrading as needed) the state database at path, or an
 * in-memory one for STATE_MEMORY.  A file is created with mode 0600; its
 * directory must exist.  Refuses, without writing to it, a file that is not
 * SQLite, is corrupt, belongs to another program, or was written by a newer
 * kiln.
 */
int state_open(const char *path, struct state **out, char *err, size_t errlen);

/* Close the database.  NULL is allowed. */
void state_close(struct state *s);

/* The schema version stored in the database (after state_open()). */
int state_schema_version(struct state *s, int *version, char *err,
			 size_t errlen);

/* Check a sandbox name: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}. */
int state_name_check(const char *name, char *err, size_t errlen);

/* The same rule for other names; what ("checkpoint") is in the message. */
int state_name_check_what(const char *what, const char *name, char *err,
			  size_t errlen);

/*
 * Add a sandbox in state "creating" with a fresh random id, the lowest free
 * CID >= STATE_CID_MIN and the lowest free network slot >= 0.  name may be
 * NULL (unnamed); runtime_base, if not NULL, makes the runtime directory
 * "<runtime_base>/<id>"; config, if not NULL, must be JSON text.  On
 * success *out holds the new row (clear it with state_sandbox_clear()).
 */
int state_sandbox_insert(struct state *s, const char *name,
			 const char *runtime_base, const char *config,
			 struct state_sandbox *out, char *err, size_t errlen);

/* What state_sandbox_create() records besides the allocations. */
struct state_new {
	const char *name; /* NULL: unnamed */
	const char *runtime_base; /* NULL: no runtime directory */
	const char *config; /* JSON text or NULL */
	int owner_pid; /* the creating process, 0: none */
	uint64_t owner_start; /* its start time */
	bool no_jail; /* the jail is off for this sandbox, for good */
	unsigned int jail_relax; /* KILN_JAIL_NO_*, for good */
};

/*
 * state_sandbox_insert() with an owner: the row is born "creating" with
 * owner_pid set in the same transaction, so a concurrent reconciliation
 * can tell a creation in progress from one whose process died.
 */
int state_sandbox_create(struct state *s, const struct state_new *n,
			 struct state_sandbox *out, char *err, size_t errlen);

/*
 * Resolve what a user typed: an exact id, else an exact name, else a
 * unique prefix of an id (lowercase hex).  KILN_ENOTFOUND if nothing
 * matches, KILN_EINVAL (naming two matches) if the prefix is ambiguous.
 */
int state_sandbox_find(struct state *s, const char *ref,
		       struct state_sandbox *out, char *err, size_t errlen);

/* The new values of a state_sandbox_transition(); 0/NULL clear a field. */
struct state_update {
	enum state_sandbox_status status;
	int vmm_pid;
	uint64_t vmm_start;
	int owner_pid;
	uint64_t owner_start;
	const char *exit_reason;
};

/*
 * Compare and set, in one write transaction: if sandbox id is in state
 * from, store all of u.  KILN_ESTATE if it is in another state (another
 * kiln process got there first), KILN_ENOTFOUND if it is gone.
 */
int state_sandbox_transition(struct state *s, const char *id,
			     enum state_sandbox_status from,
			     const struct state_update *u, char *err,
			     size_t errlen);

/*
 * Look a sandbox up by id, else by name.  KILN_ENOTFOUND if neither
 * matches.
 */
int state_sandbox_get(struct state *s, const char *id_or_name,
		      struct state_sandbox *out, char *err, size_t errlen);

/* All sandboxes, oldest first.  *list is NULL when *n is 0. */
int state_sandbox_list(struct state *s, struct state_sandbox **list, size_t *n,
		       char *err, size_t errlen);

/* Record a sandbox's status and VMM pid (0: none). */
int state_sandbox_set_status(struct state *s, const char *id,
			     enum state_sandbox_status st, int vmm_pid,
			     char *err, size_t errlen);

/* Remove a sandbox, which frees its CID and network slot. */
int state_sandbox_delete(struct state *s, const char *id, char *err,
			 size_t errlen);

/*
 * Called after each state change this connection made (a new sandbox:
 * from -1, then state_sandbox_transition()s with another status), with
 * the sandbox's id, name ("" when unnamed) and enum state_sandbox_status
 * values.  For hooks (hooks.c); NULL to stop.
 */
typedef void (*state_observer_fn)(void *ctx, const char *id, const char *name,
				  int from, int to);
void state_set_observer(struct state *s, state_observer_fn fn, void *ctx);

/* ---- checkpoints (schema 3, state_checkpoint.c) ---- */

struct state_checkpoint {
	char sandbox[STATE_ID_LEN + 1];
	char name[STATE_NAME_MAX + 1];
	int64_t created_at; /* seconds since the epoch */
	uint64_t size; /* bytes on disk */
	char *dir; /* holds state and mem */
};

void state_checkpoint_clear(struct state_checkpoint *c);
void state_checkpoint_list_free(struct state_checkpoint *list, size_t n);

/*
 * Record a checkpoint.  KILN_EINVAL (message naming it) if the sandbox
 * already has one of that name.
 */
int state_checkpoint_insert(struct state *s, const struct state_checkpoint *c,
			    char *err, size_t errlen);

/* One checkpoint of sandbox (an id); KILN_ENOTFOUND if there is none. */
int state_checkpoint_get(struct state *s, const char *sandbox, const char *name,
			 struct state_checkpoint *out, char *err,
			 size_t errlen);

/*
 * The checkpoints of sandbox (NULL: of all sandboxes), by sandbox then
 * creation time.  *list is NULL when *n is 0.
 */
int state_checkpoint_list(struct state *s, const char *sandbox,
			  struct state_checkpoint **list, size_t *n, char *err,
			  size_t errlen);

/*
 * Remove the row of one checkpoint (name NULL: all of sandbox's).
 * KILN_ENOTFOUND if one named did not exist.
 */
int state_checkpoint_delete(struct state *s, const char *sandbox,
			    const char *name, char *err, size_t errlen);

#endif
