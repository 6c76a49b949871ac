/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint rows of the state database (schema 3): which named
 * checkpoints a sandbox has, where their files are and how big they are.
 * The files themselves are checkpoint.c's business; a row is written only
 * once its files are complete, so a row names usable files unless someone
 * removed them behind kiln's back.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/state.h"
#include "lib/state_int.h"

#define CP_COLUMNS "sandbox, name, created_at, size, dir"

void state_checkpoint_clear(struct state_checkpoint *c)
{
	free(c->dir);
	memset(c, 0, sizeof(*c));
}

void state_checkpoint_list_free(struct state_checkpoint *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		state_checkpoint_clear(&list[i]);
	free(list);
}

static int checkpoint_from_row(struct state *s, sqlite3_stmt *st,
			       struct state_checkpoint *c, char *err,
			       size_t errlen)
{
	const char *sb = (const char *)sqlite3_column_text(st, 0);
	const char *name = (const char *)sqlite3_column_text(st, 1);
	const char *dir = (const char *)sqlite3_column_text(st, 4);

	memset(c, 0, sizeof(*c));
	/* The CHECKs guarantee all this unless the file was edited. */
	if (!sb || strlen(sb) != STATE_ID_LEN || !name || !*name ||
	    strlen(name) > STATE_NAME_MAX || !dir ||
	    sqlite3_column_int64(st, 3) < 0)
		return state_fail(err, errlen, KILN_EFORMAT,
				  "state database %s has a malformed "
				  "checkpoint row; restore it from a backup",
				  s->path);
	memcpy(c->sandbox, sb, STATE_ID_LEN + 1);
	memcpy(c->name, name, strlen(name) + 1);
	c->created_at = sqlite3_column_int64(st, 2);
	c->size = (uint64_t)sqlite3_column_int64(st, 3);
	c->dir = strdup(dir);
	if (!c->dir)
		return state_fail(err, errlen, KILN_ENOMEM, "out of memory");
	return 0;
}

static int insert_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	const struct state_checkpoint *c = ctx;
	sqlite3_stmt *st;
	int rc, step;

	rc = state_db_prepare(s,
			      "INSERT INTO checkpoints (" CP_COLUMNS
			      ") VALUES (?1, ?2, ?3, ?4, ?5)",
			      &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->sandbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->created_at);
	sqlite3_bind_int64(st, 4, (int64_t)c->size);
	sqlite3_bind_text(st, 5, c->dir, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_DONE &&
	    sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
		rc = state_fail(err, errlen, KILN_EINVAL,
				"sandbox %s already has a checkpoint named "
				"'%s'; remove it first (`kiln snapshot rm`) "
				"or choose another name",
				c->sandbox, c->name);
	else if (step != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "recording a checkpoint");
	sqlite3_finalize(st);
	return rc;
}

int state_checkpoint_insert(struct state *s, const struct state_checkpoint *c,
			    char *err, size_t errlen)
{
	int rc;

	err[0] = '\0';
	rc = state_name_check_what("checkpoint", c->name, err, errlen);
	if (rc)
		return rc;
	if (strlen(c->sandbox) != STATE_ID_LEN || !c->dir ||
	    c->size > (uint64_t)INT64_MAX)
		return state_fail(err, errlen, KILN_EINVAL,
				  "bad checkpoint record");
	return state_db_write_tx(s, insert_tx, (void *)c, err, errlen);
}

int state_checkpoint_list(struct state *s, const char *sandbox,
			  struct state_checkpoint **list, size_t *n, char *err,
			  size_t errlen)
{
	struct state_checkpoint *v = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, step;

	*list = NULL;
	*n = 0;
	err[0] = '\0';
	rc = state_db_prepare(s,
			      "SELECT " CP_COLUMNS " FROM checkpoints WHERE "
			      "?1 IS NULL OR sandbox = ?1 ORDER BY sandbox, "
			      "created_at, rowid",
			      &st, err, errlen);
	if (rc)
		return rc;
	if (sandbox)
		sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct state_checkpoint *nv =
				realloc(v, ncap * sizeof(*v));

			if (!nv) {
				rc = state_fail(err, errlen, KILN_ENOMEM,
						"out of memory");
				break;
			}
			v = nv;
			cap = ncap;
		}
		rc = checkpoint_from_row(s, st, &v[count], err, errlen);
		if (rc)
			break;
		count++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = state_db_fail(s, err, errlen, "listing checkpoints");
	sqlite3_finalize(st);
	if (rc) {
		state_checkpoint_list_free(v, count);
		return rc;
	}
	if (!count) {
		free(v);
		v = NULL;
	}
	*list = v;
	*n = count;
	return 0;
}

int state_checkpoint_get(struct state *s, const char *sandbox, const char *name,
			 struct state_checkpoint *out, char *err, size_t errlen)
{
	char shown[STATE_NAME_MAX + 1];
	sqlite3_stmt *st;
	int rc, step;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	rc = state_db_prepare(s,
			      "SELECT " CP_COLUMNS " FROM checkpoints WHERE "
			      "sandbox = ?1 AND name = ?2",
			      &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, sandbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		rc = checkpoint_from_row(s, st, out, err, errlen);
	} else if (step == SQLITE_DONE) {
		state_printable(shown, sizeof(shown), name);
		rc = state_fail(err, errlen, KILN_ENOTFOUND,
				"sandbox %s has no checkpoint named '%s'; "
				"`kiln snapshot ls %s` lists its checkpoints",
				sandbox, shown, sandbox);
	} else {
		rc = state_db_fail(s, err, errlen, "looking up a checkpoint");
	}
	sqlite3_finalize(st);
	return rc;
}

struct delete_args {
	const char *sandbox, *name;
};

static int delete_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	struct delete_args *a = ctx;
	char shown[STATE_NAME_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	rc = state_db_prepare(s,
			      "DELETE FROM checkpoints WHERE sandbox = ?1 AND "
			      "(?2 IS NULL OR name = ?2)",
			      &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->sandbox, -1, SQLITE_STATIC);
	if (a->name)
		sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = state_db_fail(s, err, errlen, "removing a checkpoint");
	} else if (a->name && sqlite3_changes(s->db) == 0) {
		state_printable(shown, sizeof(shown), a->name);
		rc = state_fail(err, errlen, KILN_ENOTFOUND,
				"sandbox %s has no checkpoint named '%s'",
				a->sandbox, shown);
	}
	sqlite3_finalize(st);
	return rc;
}

int state_checkpoint_delete(struct state *s, const char *sandbox,
			    const char *name, char *err, size_t errlen)
{
	struct delete_args a = {.sandbox = sandbox, .name = name};

	err[0] = '\0';
	return state_db_write_tx(s, delete_tx, &a, err, errlen);
}
