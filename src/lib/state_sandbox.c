/* SPDX-License-Identifier: MIT */
/*
 * The sandbox rows of the state database: allocation of ids, CIDs and
 * network slots under one write lock, lookups (id, name, unique id
 * prefix), compare-and-set state changes.  The database itself (schema,
 * migrations, transactions) is state.c.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"
#include "lib/rundir.h"
#include "lib/state.h"
#include "lib/state_int.h"

#define ID_ATTEMPTS 4 /* fresh ids after a (very unlikely) collision */

static const char *const status_names[] = {
	[STATE_SB_CREATING] = "creating", [STATE_SB_RUNNING] = "running",
	[STATE_SB_PAUSED] = "paused",	  [STATE_SB_STOPPED] = "stopped",
	[STATE_SB_FAILED] = "failed",	  [STATE_SB_STARTING] = "starting",
	[STATE_SB_STOPPING] = "stopping", [STATE_SB_DEAD] = "dead",
};

#define SB_COLUMNS                                                           \
	"id, name, state, vmm_pid, cid, net_slot, runtime_dir, created_at, " \
	"config, vmm_start, owner_pid, owner_start, exit_reason, jail, "     \
	"jail_relax, jail_pid_ns"

const char *state_status_name(enum state_sandbox_status st)
{
	if ((unsigned int)st >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[st];
}

void state_sandbox_clear(struct state_sandbox *sb)
{
	free(sb->runtime_dir);
	free(sb->config);
	free(sb->exit_reason);
	memset(sb, 0, sizeof(*sb));
}

void state_sandbox_list_free(struct state_sandbox *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_sandbox_clear(&list[i]);
	free(list);
}

static char *column_strdup(sqlite3_stmt *st, int col, bool *oom)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	char *copy;

	if (!t)
		return NULL;
	copy = strdup((const char *)t);
	if (!copy)
		*oom = true;
	return copy;
}

/* Fill sb from a row of SB_COLUMNS. */
static int sandbox_from_row(struct state *s, sqlite3_stmt *st,
			    struct state_sandbox *sb, char *err, size_t errlen)
{
	const char *id = (const char *)sqlite3_column_text(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *status = (const char *)sqlite3_column_text(st, 2);
	bool oom = false;
	size_t i;

	memset(sb, 0, sizeof(*sb));
	for (i = 0; status && i < sizeof(status_names) / sizeof(*status_names);
	     i++)
		if (!strcmp(status, status_names[i]))
			break;
	/* The CHECKs guarantee all this unless the file was edited. */
	if (!id || strlen(id) != STATE_ID_LEN ||
	    (name && strlen(name) > STATE_NAME_MAX) || !status ||
	    i == sizeof(status_names) / sizeof(*status_names))
		return state_fail(
			err, errlen, KILN_EFORMAT,
			"state database %s has a malformed sandbox row; "
			"restore it from a backup",
			s->path);
	memcpy(sb->id, id, STATE_ID_LEN + 1);
	if (name)
		memcpy(sb->name, name, strlen(name) + 1);
	sb->status = (enum state_sandbox_status)i;
	sb->vmm_pid = sqlite3_column_int(st, 3);
	sb->cid = (uint32_t)sqlite3_column_int64(st, 4);
	sb->net_slot = (uint32_t)sqlite3_column_int64(st, 5);
	sb->runtime_dir = column_strdup(st, 6, &oom);
	sb->created_at = sqlite3_column_int64(st, 7);
	sb->config = column_strdup(st, 8, &oom);
	sb->vmm_start = (uint64_t)sqlite3_column_int64(st, 9);
	sb->owner_pid = sqlite3_column_int(st, 10);
	sb->owner_start = (uint64_t)sqlite3_column_int64(st, 11);
	sb->exit_reason = column_strdup(st, 12, &oom);
	sb->no_jail = sqlite3_column_int(st, 13) == 0;
	sb->jail_relax = (unsigned int)sqlite3_column_int(st, 14);
	if (sqlite3_column_int(st, 15) == 0)
		sb->jail_relax |= KILN_JAIL_NO_PID_NS;
	if (oom) {
		state_sandbox_clear(sb);
		return state_fail(err, errlen, KILN_ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * The lowest value >= lo not in column col: lo itself if free, else one
 * past the first value whose successor is free (UNIQUE makes both lookups
 * index probes).
 */
static int lowest_free(struct state *s, const char *col, int64_t lo, int64_t *v,
		       char *err, size_t errlen)
{
	char sql[320];

	snprintf(
		sql, sizeof(sql),
		"SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM sandboxes "
		"WHERE %1$s = %2$lld) THEN %2$lld ELSE (SELECT min(a.%1$s) + 1 "
		"FROM sandboxes AS a WHERE a.%1$s >= %2$lld AND NOT EXISTS "
		"(SELECT 1 FROM sandboxes AS b WHERE b.%1$s = a.%1$s + 1)) END",
		col, (long long)lo);
	return state_db_query_int(s, sql, v, err, errlen);
}

static int sandbox_load(struct state *s, const char *key,
			struct state_sandbox *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, step;

	rc = state_db_prepare(s,
			      "SELECT " SB_COLUMNS
			      " FROM sandboxes WHERE id = ?1 "
			      "OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1",
			      &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		rc = sandbox_from_row(s, st, out, err, errlen);
	} else if (step == SQLITE_DONE) {
		char shown[STATE_NAME_MAX + 1];

		state_printable(shown, sizeof(shown), key);
		rc = state_fail(
			err, errlen, KILN_ENOTFOUND,
			"no sandbox with id or name '%s' in %s; `kiln ls` "
			"lists them",
			shown, s->path);
	} else {
		rc = state_db_fail(s, err, errlen, "looking up a sandbox");
	}
	sqlite3_finalize(st);
	return rc;
}

struct insert_args {
	const char *name;
	const char *runtime_base;
	const char *config;
	int owner_pid;
	uint64_t owner_start;
	bool no_jail;
	unsigned int jail_relax;
	struct state_sandbox *out;
};

static int insert_row(struct state *s, const struct insert_args *a,
		      const char *id, int64_t cid, int64_t slot, char *err,
		      size_t errlen)
{
	char *dir = NULL;
	sqlite3_stmt *st;
	int rc;

	if (a->runtime_base && asprintf(&dir, "%s/%s", a->runtime_base, id) < 0)
		return state_fail(err, errlen, KILN_ENOMEM, "out of memory");
	rc = state_db_prepare(
		s,
		"INSERT INTO sandboxes (" SB_COLUMNS ") VALUES "
		"(?, ?, 'creating', NULL, ?, ?, ?, ?, ?, NULL, ?, ?, "
		"NULL, ?, ?, ?)",
		&st, err, errlen);
	if (rc) {
		free(dir);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (a->name)
		sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, cid);
	sqlite3_bind_int64(st, 4, slot);
	if (dir)
		sqlite3_bind_text(st, 5, dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)time(NULL));
	if (a->config)
		sqlite3_bind_text(st, 7, a->config, -1, SQLITE_STATIC);
	if (a->owner_pid > 0) {
		sqlite3_bind_int(st, 8, a->owner_pid);
		sqlite3_bind_int64(st, 9, (int64_t)a->owner_start);
	}
	sqlite3_bind_int(st, 10, a->no_jail ? 0 : 1);
	/* the column's CHECK admits the bits of schema 5 only (0..3) */
	sqlite3_bind_int(st, 11,
			 (int)(a->jail_relax &
			       (KILN_JAIL_NO_SECCOMP | KILN_JAIL_NO_CGROUP)));
	sqlite3_bind_int(st, 12, a->jail_relax & KILN_JAIL_NO_PID_NS ? 0 : 1);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "adding a sandbox");
	sqlite3_finalize(st);
	free(dir);
	return rc;
}

/* Name clashes get a message naming the sandbox that has the name. */
static int name_check_free(struct state *s, const char *name, char *err,
			   size_t errlen)
{
	sqlite3_stmt *st;
	int rc, step;

	rc = state_db_prepare(s, "SELECT id FROM sandboxes WHERE name = ?", &st,
			      err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = state_fail(
			err, errlen, KILN_EINVAL,
			"a sandbox named '%s' already exists (id %s); pick "
			"another name or delete that sandbox",
			name, (const char *)sqlite3_column_text(st, 0));
	else if (step != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "looking up a sandbox name");
	sqlite3_finalize(st);
	return rc;
}

static int insert_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	struct insert_args *a = ctx;
	char id[STATE_ID_LEN + 1];
	int64_t cid = 0, slot = 0;
	int rc;

	if (a->name && (rc = name_check_free(s, a->name, err, errlen)))
		return rc;
	rc = lowest_free(s, "cid", STATE_CID_MIN, &cid, err, errlen);
	if (!rc)
		rc = lowest_free(s, "net_slot", 0, &slot, err, errlen);
	if (rc)
		return rc;
	if (cid > STATE_CID_MAX)
		return state_fail(
			err, errlen, KILN_ESYS,
			"no free vsock CID in %s; delete old sandboxes",
			s->path);
	if (slot > STATE_NET_SLOT_MAX)
		return state_fail(
			err, errlen, KILN_ESYS,
			"all %u network slots in %s are taken; delete old "
			"sandboxes",
			STATE_NET_SLOT_MAX + 1, s->path);
	for (int attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
		if (rundir_new_id(id))
			return state_fail(err, errlen, KILN_ESYS,
					  "getrandom failed: %s",
					  strerror(errno));
		rc = insert_row(s, a, id, cid, slot, err, errlen);
		if (!rc || sqlite3_extended_errcode(s->db) !=
				   SQLITE_CONSTRAINT_PRIMARYKEY)
			break;
	}
	if (rc)
		return rc;
	return sandbox_load(s, id, a->out, err, errlen);
}

int state_sandbox_insert(struct state *s, const char *name,
			 const char *runtime_base, const char *config,
			 struct state_sandbox *out, char *err, size_t errlen)
{
	struct state_new n = {
		.name = name,
		.runtime_base = runtime_base,
		.config = config,
	};

	return state_sandbox_create(s, &n, out, err, errlen);
}

int state_sandbox_create(struct state *s, const struct state_new *n,
			 struct state_sandbox *out, char *err, size_t errlen)
{
	struct insert_args a = {
		.name = n->name,
		.runtime_base = n->runtime_base,
		.config = n->config,
		.owner_pid = n->owner_pid,
		.owner_start = n->owner_start,
		.no_jail = n->no_jail,
		.jail_relax = n->jail_relax,
		.out = out,
	};
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (n->name && (rc = state_name_check(n->name, err, errlen)))
		return rc;
	if (n->owner_pid < 0 || n->owner_start > (uint64_t)INT64_MAX)
		return state_fail(err, errlen, KILN_EINVAL, "bad owner pid %d",
				  n->owner_pid);
	rc = state_db_write_tx(s, insert_tx, &a, err, errlen);
	if (!rc && s->observe)
		s->observe(s->observe_ctx, out->id, out->name, -1,
			   (int)out->status);
	return rc;
}

void state_set_observer(struct state *s, state_observer_fn fn, void *ctx)
{
	s->observe = fn;
	s->observe_ctx = ctx;
}

int state_sandbox_get(struct state *s, const char *id_or_name,
		      struct state_sandbox *out, char *err, size_t errlen)
{
	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	return sandbox_load(s, id_or_name, out, err, errlen);
}

int state_sandbox_list(struct state *s, struct state_sandbox **list, size_t *n,
		       char *err, size_t errlen)
{
	struct state_sandbox *arr = NULL, *grown;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, step;

	*list = NULL;
	*n = 0;
	err[0] = '\0';
	rc = state_db_prepare(s,
			      "SELECT " SB_COLUMNS " FROM sandboxes "
			      "ORDER BY created_at, rowid",
			      &st, err, errlen);
	if (rc)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? 2 * cap : 16;
			grown = reallocarray(arr, cap, sizeof(*arr));
			if (!grown) {
				rc = state_fail(err, errlen, KILN_ENOMEM,
						"out of memory");
				break;
			}
			arr = grown;
		}
		rc = sandbox_from_row(s, st, &arr[count], err, errlen);
		if (rc)
			break;
		count++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "listing sandboxes");
	sqlite3_finalize(st);
	if (rc) {
		state_sandbox_list_free(arr, count);
		return rc;
	}
	*list = arr;
	*n = count;
	return 0;
}

/* One UPDATE or DELETE on a sandbox id; ENOTFOUND if no row changed. */
struct change_args {
	const char *sql;
	const char *id;
	const char *status; /* NULL for DELETE */
	int vmm_pid;
	const char *what;
};

static int change_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	struct change_args *a = ctx;
	sqlite3_stmt *st;
	int rc;

	rc = state_db_prepare(s, a->sql, &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	if (a->status) {
		sqlite3_bind_text(st, 2, a->status, -1, SQLITE_STATIC);
		if (a->vmm_pid > 0)
			sqlite3_bind_int(st, 3, a->vmm_pid);
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = state_db_fail(s, err, errlen, a->what);
	} else if (sqlite3_changes(s->db) == 0) {
		char shown[STATE_ID_LEN + 1];

		state_printable(shown, sizeof(shown), a->id);
		rc = state_fail(err, errlen, KILN_ENOTFOUND,
				"no sandbox with id '%s' in %s", shown,
				s->path);
	}
	sqlite3_finalize(st);
	return rc;
}

int state_sandbox_set_status(struct state *s, const char *id,
			     enum state_sandbox_status st, int vmm_pid,
			     char *err, size_t errlen)
{
	struct change_args a = {
		.sql = "UPDATE sandboxes SET state = ?2, vmm_pid = ?3 "
		       "WHERE id = ?1",
		.id = id,
		.status = state_status_name(st),
		.vmm_pid = vmm_pid,
		.what = "updating a sandbox",
	};

	err[0] = '\0';
	if (!a.status || vmm_pid < 0)
		return state_fail(err, errlen, KILN_EINVAL,
				  "bad sandbox status %d or VMM pid %d",
				  (int)st, vmm_pid);
	return state_db_write_tx(s, change_tx, &a, err, errlen);
}

int state_sandbox_delete(struct state *s, const char *id, char *err,
			 size_t errlen)
{
	struct change_args a = {
		.sql = "DELETE FROM sandboxes WHERE id = ?1",
		.id = id,
		.what = "deleting a sandbox",
	};

	err[0] = '\0';
	return state_db_write_tx(s, change_tx, &a, err, errlen);
}

static bool id_prefix_syntax(const char *ref)
{
	size_t n = strlen(ref);

	if (n == 0 || n >= STATE_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((ref[i] >= '0' && ref[i] <= '9') ||
		      (ref[i] >= 'a' && ref[i] <= 'f')))
			return false;
	return true;
}

/*
 * One statement, so one snapshot: the exact id first, then the exact name,
 * then the ids starting with ref; two of the latter make ref ambiguous.
 */
int state_sandbox_find(struct state *s, const char *ref,
		       struct state_sandbox *out, char *err, size_t errlen)
{
	char shown[STATE_NAME_MAX + 1], first[STATE_ID_LEN + 1] = "";
	sqlite3_stmt *st;
	int rc, step, rows = 0;
	bool exact = false;

	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	rc = state_db_prepare(
		s,
		"SELECT " SB_COLUMNS " FROM sandboxes WHERE id = ?1 "
		"OR name = ?1 OR (?2 AND substr(id, 1, length(?1)) = "
		"?1) ORDER BY id = ?1 DESC, name IS ?1 DESC, id "
		"LIMIT 3",
		&st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, id_prefix_syntax(ref));
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);

		if (rows++ == 0) {
			exact = (id && !strcmp(id, ref)) ||
				(name && !strcmp(name, ref));
			rc = sandbox_from_row(s, st, out, err, errlen);
			if (rc || exact)
				break;
			snprintf(first, sizeof(first), "%s", out->id);
			continue;
		}
		state_printable(shown, sizeof(shown), ref);
		state_sandbox_clear(out);
		rc = state_fail(
			err, errlen, KILN_EINVAL,
			"'%s' is ambiguous: it starts the ids of several "
			"sandboxes (%s, %s%s); give more digits or the name",
			shown, first, id ? id : "?", rows > 2 ? ", ..." : "");
		if (!rc)
			rc = KILN_EINVAL;
		break;
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE) {
		state_sandbox_clear(out);
		rc = state_db_fail(s, err, errlen, "looking up a sandbox");
	}
	if (!rc && rows == 0) {
		state_printable(shown, sizeof(shown), ref);
		rc = state_fail(
			err, errlen, KILN_ENOTFOUND,
			"no sandbox with id, id prefix or name '%s'; `kiln "
			"ls --all` lists them",
			shown);
	}
	sqlite3_finalize(st);
	return rc;
}

struct transition_args {
	const char *id;
	enum state_sandbox_status from;
	const struct state_update *u;
	char name[STATE_NAME_MAX + 1]; /* for the observer */
};

static int transition_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	struct transition_args *a = ctx;
	const struct state_update *u = a->u;
	struct state_sandbox cur;
	sqlite3_stmt *st;
	int rc;

	rc = sandbox_load(s, a->id, &cur, err, errlen);
	if (rc)
		return rc;
	if (cur.status != a->from) {
		rc = state_fail(
			err, errlen, KILN_ESTATE,
			"sandbox %s is now %s, not %s: another kiln process "
			"changed it; look again with `kiln ls --all`",
			cur.id, state_status_name(cur.status),
			state_status_name(a->from));
		state_sandbox_clear(&cur);
		return rc;
	}
	memcpy(a->name, cur.name, sizeof(a->name));
	state_sandbox_clear(&cur);
	rc = state_db_prepare(
		s,
		"UPDATE sandboxes SET state = ?2, vmm_pid = ?3, "
		"vmm_start = ?4, owner_pid = ?5, owner_start = ?6, "
		"exit_reason = ?7 WHERE id = ?1",
		&st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state_status_name(u->status), -1,
			  SQLITE_STATIC);
	if (u->vmm_pid > 0) {
		sqlite3_bind_int(st, 3, u->vmm_pid);
		sqlite3_bind_int64(st, 4, (int64_t)u->vmm_start);
	}
	if (u->owner_pid > 0) {
		sqlite3_bind_int(st, 5, u->owner_pid);
		sqlite3_bind_int64(st, 6, (int64_t)u->owner_start);
	}
	if (u->exit_reason)
		sqlite3_bind_text(st, 7, u->exit_reason, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "updating a sandbox");
	sqlite3_finalize(st);
	return rc;
}

int state_sandbox_transition(struct state *s, const char *id,
			     enum state_sandbox_status from,
			     const struct state_update *u, char *err,
			     size_t errlen)
{
	struct transition_args a = {.id = id, .from = from, .u = u};
	int rc;

	err[0] = '\0';
	if (!state_status_name(u->status) || !state_status_name(from) ||
	    u->vmm_pid < 0 || u->owner_pid < 0 ||
	    u->vmm_start > (uint64_t)INT64_MAX ||
	    u->owner_start > (uint64_t)INT64_MAX)
		return state_fail(
			err, errlen, KILN_EINVAL,
			"bad sandbox update (status %d, from %d, pids "
			"%d/%d)",
			(int)u->status, (int)from, u->vmm_pid, u->owner_pid);
	rc = state_db_write_tx(s, transition_tx, &a, err, errlen);
	if (!rc && s->observe && from != u->status)
		s->observe(s->observe_ctx, id, a.name, (int)from,
			   (int)u->status);
	return rc;
}
