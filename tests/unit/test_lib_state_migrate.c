/* SPDX-License-Identifier: MIT */
/*
 * State schema migrations after schema 3, each from a file as the kiln
 * before it wrote it (test_lib_state.c has 0 -> 1 -> 2 -> 3): rows and
 * triggers survive, new columns get their defaults, CHECKs hold.
 */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/state.h"

struct fixture {
	char dir[64];
	char path[128];
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kiln-test-migrate-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Run SQL on a file directly with SQLite, bypassing state.c. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/*
 * Schema 3 -> 4: the jail column.  A v3 file (as kiln wrote it before)
 * keeps its rows and checkpoint trigger; old rows are jailed; the choice
 * of a new row round-trips; nothing but 0/1 is accepted.
 */
static void test_migrate_from_v3(void **state)
{
	struct fixture *f = *state;
	struct state_new n = {.name = "nojail", .no_jail = true};
	struct state_sandbox got;
	struct state *s;
	sqlite3 *db;
	char sql[2048];

	snprintf(
		sql, sizeof(sql),
		"CREATE TABLE sandboxes (id TEXT PRIMARY KEY NOT NULL CHECK "
		"(length(id) = 12), name TEXT UNIQUE, state TEXT NOT NULL, "
		"vmm_pid INTEGER, cid INTEGER NOT NULL UNIQUE, net_slot "
		"INTEGER NOT NULL UNIQUE, runtime_dir TEXT, created_at INTEGER "
		"NOT NULL, config TEXT, vmm_start INTEGER, owner_pid INTEGER, "
		"owner_start INTEGER, exit_reason TEXT) STRICT;"
		"CREATE TABLE images (id TEXT PRIMARY KEY NOT NULL) STRICT;"
		"CREATE TABLE snapshots (id TEXT PRIMARY KEY NOT NULL, parent "
		"TEXT) STRICT;"
		"CREATE TABLE checkpoints (sandbox TEXT NOT NULL, name TEXT "
		"NOT NULL, created_at INTEGER NOT NULL, size INTEGER NOT NULL, "
		"dir TEXT NOT NULL, UNIQUE (sandbox, name)) STRICT;"
		"CREATE TRIGGER sandboxes_drop_checkpoints AFTER DELETE ON "
		"sandboxes BEGIN DELETE FROM checkpoints WHERE sandbox = "
		"OLD.id; END;"
		"INSERT INTO sandboxes VALUES ('0123456789ab', 'old', "
		"'stopped', NULL, 3, 0, '/run/kiln/0123456789ab', 1000, NULL, "
		"NULL, NULL, NULL, 'why');"
		"INSERT INTO checkpoints VALUES ('0123456789ab', 'cp', 1, 0, "
		"'/x');"
		"PRAGMA application_id = %d; PRAGMA user_version = 3",
		STATE_APPLICATION_ID);
	raw_exec(f->path, sql);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
	assert_int_equal(
		state_sandbox_get(s, "old", &got, f->err, sizeof(f->err)), 0);
	assert_false(got.no_jail);
	assert_int_equal(got.cid, 3);
	assert_string_equal(got.exit_reason, "why");
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_create(s, &n, &got, f->err, sizeof(f->err)), 0);
	assert_true(got.no_jail);
	assert_int_equal(got.cid, 4);
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_get(s, "nojail", &got, f->err, sizeof(f->err)),
		0);
	assert_true(got.no_jail);
	state_sandbox_clear(&got);
	state_close(s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sandboxes "
					  "WHERE jail = 0"),
			 1);
	/* the CHECK, and the 2 -> 3 trigger that ADD COLUMN kept */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE sandboxes SET jail = 2",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	raw_exec(f->path, "DELETE FROM sandboxes WHERE name = 'old'");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM checkpoints"),
			 0);
	/* opened again: nothing more to do */
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
}

/*
 * Schema 4 -> 5: the jail_relax column.  A v4 file keeps its rows (and
 * their jail column); old rows relax nothing; a new row's parts
 * round-trip; the CHECK refuses unknown bits.
 */
static void test_migrate_from_v4(void **state)
{
	struct fixture *f = *state;
	struct state_new n = {.name = "relaxed",
			      .jail_relax = KILN_JAIL_NO_SECCOMP |
					    KILN_JAIL_NO_CGROUP};
	struct state_sandbox got;
	struct state *s;
	sqlite3 *db;
	char sql[2048];

	snprintf(
		sql, sizeof(sql),
		"CREATE TABLE sandboxes (id TEXT PRIMARY KEY NOT NULL CHECK "
		"(length(id) = 12), name TEXT UNIQUE, state TEXT NOT NULL, "
		"vmm_pid INTEGER, cid INTEGER NOT NULL UNIQUE, net_slot "
		"INTEGER NOT NULL UNIQUE, runtime_dir TEXT, created_at INTEGER "
		"NOT NULL, config TEXT, vmm_start INTEGER, owner_pid INTEGER, "
		"owner_start INTEGER, exit_reason TEXT, jail INTEGER NOT NULL "
		"DEFAULT 1 CHECK (jail IN (0, 1))) STRICT;"
		"CREATE TABLE images (id TEXT PRIMARY KEY NOT NULL) STRICT;"
		"CREATE TABLE snapshots (id TEXT PRIMARY KEY NOT NULL, parent "
		"TEXT) STRICT;"
		"CREATE TABLE checkpoints (sandbox TEXT NOT NULL, name TEXT "
		"NOT NULL, created_at INTEGER NOT NULL, size INTEGER NOT NULL, "
		"dir TEXT NOT NULL, UNIQUE (sandbox, name)) STRICT;"
		"CREATE TRIGGER sandboxes_drop_checkpoints AFTER DELETE ON "
		"sandboxes BEGIN DELETE FROM checkpoints WHERE sandbox = "
		"OLD.id; END;"
		"INSERT INTO sandboxes VALUES ('0123456789ab', 'old', "
		"'stopped', NULL, 3, 0, '/run/kiln/0123456789ab', 1000, NULL, "
		"NULL, NULL, NULL, NULL, 0);"
		"PRAGMA application_id = %d; PRAGMA user_version = 4",
		STATE_APPLICATION_ID);
	raw_exec(f->path, sql);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
	assert_int_equal(
		state_sandbox_get(s, "old", &got, f->err, sizeof(f->err)), 0);
	assert_true(got.no_jail);
	assert_int_equal(got.jail_relax, 0);
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_create(s, &n, &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.jail_relax,
			 KILN_JAIL_NO_SECCOMP | KILN_JAIL_NO_CGROUP);
	assert_false(got.no_jail);
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_get(s, "relaxed", &got, f->err, sizeof(f->err)),
		0);
	assert_int_equal(got.jail_relax,
			 KILN_JAIL_NO_SECCOMP | KILN_JAIL_NO_CGROUP);
	state_sandbox_clear(&got);
	/* 6 -> 7: pid-ns lives in its own column, folded into the mask */
	n.name = "nopidns";
	n.jail_relax = KILN_JAIL_NO_PID_NS | KILN_JAIL_NO_SECCOMP;
	assert_int_equal(
		state_sandbox_create(s, &n, &got, f->err, sizeof(f->err)), 0);
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_get(s, "nopidns", &got, f->err, sizeof(f->err)),
		0);
	assert_int_equal(got.jail_relax,
			 KILN_JAIL_NO_PID_NS | KILN_JAIL_NO_SECCOMP);
	state_sandbox_clear(&got);
	state_close(s);
	assert_int_equal(raw_int(f->path, "SELECT jail_relax FROM sandboxes "
					  "WHERE name = 'relaxed'"),
			 3);
	assert_int_equal(raw_int(f->path, "SELECT jail_pid_ns FROM sandboxes "
					  "WHERE name = 'relaxed'"),
			 1);
	assert_int_equal(raw_int(f->path, "SELECT jail_pid_ns FROM sandboxes "
					  "WHERE name = 'old'"),
			 1);
	assert_int_equal(raw_int(f->path, "SELECT jail_pid_ns FROM sandboxes "
					  "WHERE name = 'nopidns'"),
			 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db,
					  "UPDATE sandboxes SET jail_relax = 4",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	assert_int_not_equal(
		sqlite3_exec(db, "UPDATE sandboxes SET jail_relax = -1", NULL,
			     NULL, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
}

/*
 * Schema 5 -> 6: the never-written `images` and `snapshots` tables go
 * (also with rows a hand-edited file might have); sandboxes, their
 * checkpoints and the trigger between them stay.
 */
static void test_migrate_from_v5(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox got;
	struct state *s;
	char sql[3072];

	snprintf(
		sql, sizeof(sql),
		"CREATE TABLE sandboxes (id TEXT PRIMARY KEY NOT NULL CHECK "
		"(length(id) = 12), name TEXT UNIQUE, state TEXT NOT NULL, "
		"vmm_pid INTEGER, cid INTEGER NOT NULL UNIQUE, net_slot "
		"INTEGER NOT NULL UNIQUE, runtime_dir TEXT, created_at INTEGER "
		"NOT NULL, config TEXT, vmm_start INTEGER, owner_pid INTEGER, "
		"owner_start INTEGER, exit_reason TEXT, jail INTEGER NOT NULL "
		"DEFAULT 1 CHECK (jail IN (0, 1)), jail_relax INTEGER NOT NULL "
		"DEFAULT 0 CHECK (jail_relax BETWEEN 0 AND 3)) STRICT;"
		"CREATE TABLE images (id TEXT PRIMARY KEY NOT NULL, name TEXT "
		"NOT NULL UNIQUE, path TEXT NOT NULL, digest TEXT, size "
		"INTEGER, created_at INTEGER NOT NULL) STRICT;"
		"CREATE TABLE snapshots (id TEXT PRIMARY KEY NOT NULL, name "
		"TEXT NOT NULL UNIQUE, path TEXT NOT NULL, parent TEXT "
		"REFERENCES snapshots(id) ON DELETE RESTRICT, created_at "
		"INTEGER NOT NULL) STRICT;"
		"CREATE TABLE checkpoints (sandbox TEXT NOT NULL, name TEXT "
		"NOT NULL, created_at INTEGER NOT NULL, size INTEGER NOT NULL, "
		"dir TEXT NOT NULL, UNIQUE (sandbox, name)) STRICT;"
		"CREATE TRIGGER sandboxes_drop_checkpoints AFTER DELETE ON "
		"sandboxes BEGIN DELETE FROM checkpoints WHERE sandbox = "
		"OLD.id; END;"
		"INSERT INTO sandboxes VALUES ('0123456789ab', 'old', "
		"'stopped', NULL, 3, 0, '/run/kiln/0123456789ab', 1000, NULL, "
		"NULL, NULL, NULL, NULL, 1, 2);"
		"INSERT INTO checkpoints VALUES ('0123456789ab', 'cp', 1, 0, "
		"'/x');"
		"INSERT INTO images VALUES ('i', 'base', '/i', NULL, 1, 1);"
		"INSERT INTO snapshots VALUES ('a', 'a', '/a', NULL, 1);"
		"INSERT INTO snapshots VALUES ('b', 'b', '/b', 'a', 1);"
		"PRAGMA application_id = %d; PRAGMA user_version = 5",
		STATE_APPLICATION_ID);
	raw_exec(f->path, sql);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
	assert_int_equal(
		state_sandbox_get(s, "old", &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.jail_relax, KILN_JAIL_NO_CGROUP);
	assert_string_equal(got.runtime_dir, "/run/kiln/0123456789ab");
	state_sandbox_clear(&got);
	state_close(s);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema "
					  "WHERE name IN ('images', "
					  "'snapshots')"),
			 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM checkpoints"),
			 1);
	/* the 2 -> 3 trigger is still there */
	raw_exec(f->path, "DELETE FROM sandboxes WHERE name = 'old'");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM checkpoints"),
			 0);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_from_v3, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v4, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v5, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
