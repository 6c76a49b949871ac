/* SPDX-License-Identifier: MIT */
/*
 * The state database: schema creation and migration, refusal of files that
 * are not ours (left byte-identical), lowest-free CID/slot allocation, name
 * rules, and concurrent inserts from many processes.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/state.h"

#define RACERS 50

struct fixture {
	char dir[64];
	char path[128];
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kiln-test-state-XXXXXX");
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

static char *file_read(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void file_write(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* state_open() must fail with rc, mention msg, and not change the file. */
static void assert_refused(struct fixture *f, int rc, const char *msg)
{
	struct state *s = (struct state *)1;
	size_t before_len, after_len;
	char *before = file_read(f->path, &before_len), *after, wal[160];

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), rc);
	assert_null(s);
	if (!strstr(f->err, msg))
		fail_msg("error '%s' lacks '%s'", f->err, msg);
	after = file_read(f->path, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_not_equal(access(wal, F_OK), 0);
	free(before);
	free(after);
}

static void test_memory(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox sb;
	struct state *s;
	int version;

	assert_int_equal(state_open(STATE_MEMORY, &s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_schema_version(s, &version, f->err, sizeof(f->err)), 0);
	assert_int_equal(version, STATE_SCHEMA_VERSION);
	assert_int_equal(state_sandbox_insert(s, NULL, NULL, NULL, &sb, f->err,
					      sizeof(f->err)),
			 0);
	assert_int_equal(strlen(sb.id), STATE_ID_LEN);
	assert_int_equal(strspn(sb.id, "0123456789abcdef"), STATE_ID_LEN);
	assert_string_equal(sb.name, "");
	assert_int_equal(sb.status, STATE_SB_CREATING);
	assert_int_equal(sb.cid, STATE_CID_MIN);
	assert_int_equal(sb.net_slot, 0);
	assert_null(sb.runtime_dir);
	assert_null(sb.config);
	assert_true(sb.created_at > 0);
	state_sandbox_clear(&sb);
	state_close(s);
}

static void test_create_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox sb, got;
	struct state *s;
	struct stat st;
	int version;

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(state_sandbox_insert(s, "web", "/run/kiln",
					      "{\"cpus\": 2}", &sb, f->err,
					      sizeof(f->err)),
			 0);
	state_close(s);

	/* Reopening is a no-op on the schema and keeps the data. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			state_open(f->path, &s, f->err, sizeof(f->err)), 0);
		assert_int_equal(state_schema_version(s, &version, f->err,
						      sizeof(f->err)),
				 0);
		assert_int_equal(version, STATE_SCHEMA_VERSION);
		assert_int_equal(state_sandbox_get(s, "web", &got, f->err,
						   sizeof(f->err)),
				 0);
		assert_string_equal(got.id, sb.id);
		assert_string_equal(got.config, "{\"cpus\": 2}");
		assert_non_null(got.runtime_dir);
		assert_true(!strncmp(got.runtime_dir, "/run/kiln/", 10));
		assert_string_equal(got.runtime_dir + 10, sb.id);
		state_sandbox_clear(&got);
		state_close(s);
	}
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema "
					  "WHERE type = 'table'"),
			 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM "
					  "pragma_table_list WHERE strict = 1 "
					  "AND name IN ('sandboxes', "
					  "'checkpoints')"),
			 2);
	state_sandbox_clear(&sb);
}

static void test_wal_mode(void **state)
{
	struct fixture *f = *state;
	struct state *s;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
		SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_migrate_from_v0(void **state)
{
	struct fixture *f = *state;
	struct state *s;

	/* A real, empty SQLite file at user_version 0. */
	raw_exec(f->path, "CREATE TABLE t (x); DROP TABLE t");
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 0);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "PRAGMA application_id"),
			 STATE_APPLICATION_ID);
	/* images and snapshots: created by 0 -> 1, dropped by 5 -> 6 */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema "
					  "WHERE name IN ('sandboxes', "
					  "'checkpoints')"),
			 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema "
					  "WHERE name IN ('images', "
					  "'snapshots')"),
			 0);
}

static void test_newer_version_refused(void **state)
{
	struct fixture *f = *state;
	char sql[128], want[64];

	snprintf(sql, sizeof(sql),
		 "PRAGMA application_id = %d; PRAGMA user_version = 99; "
		 "CREATE TABLE future (x)",
		 STATE_APPLICATION_ID);
	raw_exec(f->path, sql);
	snprintf(want, sizeof(want), "newer kiln (schema 99 > %d); upgrade",
		 STATE_SCHEMA_VERSION);
	assert_refused(f, KILN_EFORMAT, want);
}

static void test_not_sqlite_refused(void **state)
{
	struct fixture *f = *state;
	char junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)('a' + i % 26);
	file_write(f->path, junk, sizeof(junk));
	assert_refused(f, KILN_EFORMAT, "not a SQLite database");
}

static void test_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	struct state *s;
	size_t len;
	char *buf;

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	state_close(s);
	buf = file_read(f->path, &len);
	assert_true(len > 4096);
	/* Keep the 100-byte header, wreck the schema b-tree on page 1. */
	memset(buf + 100, 0xa5, 400);
	file_write(f->path, buf, len);
	free(buf);
	assert_refused(f, KILN_EFORMAT, "is damaged");
}

static void test_foreign_sqlite_refused(void **state)
{
	struct fixture *f = *state;

	raw_exec(f->path, "CREATE TABLE notes (x); INSERT INTO notes "
			  "VALUES (1)");
	assert_refused(f, KILN_EFORMAT, "another program");
}

static void test_missing_directory(void **state)
{
	struct fixture *f = *state;
	struct state *s;
	char path[192];

	snprintf(path, sizeof(path), "%s/nope/state.db", f->dir);
	assert_int_equal(state_open(path, &s, f->err, sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_non_null(strstr(f->err, "directory does not exist"));
}

static void insert_expect(struct state *s, struct fixture *f, const char *name,
			  uint32_t cid, uint32_t slot,
			  char id[STATE_ID_LEN + 1])
{
	struct state_sandbox sb;

	assert_int_equal(state_sandbox_insert(s, name, NULL, NULL, &sb, f->err,
					      sizeof(f->err)),
			 0);
	assert_int_equal(sb.cid, cid);
	assert_int_equal(sb.net_slot, slot);
	memcpy(id, sb.id, STATE_ID_LEN + 1);
	state_sandbox_clear(&sb);
}

static void test_lowest_free_reuse(void **state)
{
	struct fixture *f = *state;
	char a[STATE_ID_LEN + 1], b[STATE_ID_LEN + 1], c[STATE_ID_LEN + 1];
	char d[STATE_ID_LEN + 1];
	struct state *s;

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	insert_expect(s, f, "a", 3, 0, a);
	insert_expect(s, f, "b", 4, 1, b);
	insert_expect(s, f, "c", 5, 2, c);
	assert_int_equal(state_sandbox_delete(s, b, f->err, sizeof(f->err)), 0);
	insert_expect(s, f, "d", 4, 1, d);
	insert_expect(s, f, NULL, 6, 3, b);
	assert_int_equal(state_sandbox_delete(s, a, f->err, sizeof(f->err)), 0);
	assert_int_equal(state_sandbox_delete(s, c, f->err, sizeof(f->err)), 0);
	insert_expect(s, f, "a", 3, 0, a);
	insert_expect(s, f, "c", 5, 2, c);
	insert_expect(s, f, NULL, 7, 4, d);
	state_close(s);
}

static void test_duplicate_name(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox sb, again;
	struct state_sandbox *list;
	struct state *s;
	size_t n;

	assert_int_equal(state_open(STATE_MEMORY, &s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_insert(s, "web", NULL, NULL, &sb, f->err,
					      sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_insert(s, "web", NULL, NULL, &again,
					      f->err, sizeof(f->err)),
			 KILN_EINVAL);
	assert_non_null(strstr(f->err, "named 'web' already exists"));
	assert_non_null(strstr(f->err, sb.id));
	/* Unnamed sandboxes do not clash. */
	assert_int_equal(state_sandbox_insert(s, NULL, NULL, NULL, &again,
					      f->err, sizeof(f->err)),
			 0);
	state_sandbox_clear(&again);
	assert_int_equal(state_sandbox_insert(s, NULL, NULL, NULL, &again,
					      f->err, sizeof(f->err)),
			 0);
	state_sandbox_clear(&again);
	assert_int_equal(
		state_sandbox_list(s, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, sb.id);
	state_sandbox_list_free(list, n);
	state_sandbox_clear(&sb);
	state_close(s);
}

static void test_names(void **state)
{
	static const char *const bad[] = {
		"", "-a", ".a", "_a", "a b", "a/b", "a\n", "é", "a:b",
	};
	static const char *const good[] = {"a", "Z", "9", "a.b-c_d", "web-1"};
	struct fixture *f = *state;
	struct state_sandbox sb, *list;
	char longest[STATE_NAME_MAX + 2];
	struct state *s;
	size_t n;

	assert_int_equal(state_open(STATE_MEMORY, &s, f->err, sizeof(f->err)),
			 0);
	/* 64 characters: one too many; 63: just right. */
	memset(longest, 'x', STATE_NAME_MAX + 1);
	longest[STATE_NAME_MAX + 1] = '\0';
	assert_int_equal(state_name_check(longest, f->err, sizeof(f->err)),
			 KILN_EINVAL);
	longest[STATE_NAME_MAX] = '\0';
	assert_int_equal(state_sandbox_insert(s, longest, NULL, NULL, &sb,
					      f->err, sizeof(f->err)),
			 0);
	assert_string_equal(sb.name, longest);
	assert_int_equal(state_sandbox_delete(s, sb.id, f->err, sizeof(f->err)),
			 0);
	state_sandbox_clear(&sb);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			state_name_check(bad[i], f->err, sizeof(f->err)),
			KILN_EINVAL);
		assert_non_null(strstr(f->err, "invalid sandbox name"));
		assert_null(strchr(f->err, '\n'));
		assert_int_equal(state_sandbox_insert(s, bad[i], NULL, NULL,
						      &sb, f->err,
						      sizeof(f->err)),
				 KILN_EINVAL);
	}
	assert_int_equal(
		state_sandbox_list(s, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_null(list);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
			state_name_check(good[i], f->err, sizeof(f->err)), 0);
		assert_int_equal(state_sandbox_insert(s, good[i], NULL, NULL,
						      &sb, f->err,
						      sizeof(f->err)),
				 0);
		assert_string_equal(sb.name, good[i]);
		state_sandbox_clear(&sb);
	}
	state_close(s);
}

static void test_status_get_delete(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox sb, got;
	struct state *s;

	assert_int_equal(state_open(STATE_MEMORY, &s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_insert(s, "db", NULL, "not json", &sb,
					      f->err, sizeof(f->err)),
			 KILN_EINVAL);
	assert_int_equal(state_sandbox_insert(s, "db", NULL, "[1]", &sb, f->err,
					      sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_set_status(s, sb.id, STATE_SB_RUNNING,
						  4242, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_sandbox_get(s, sb.id, &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.status, STATE_SB_RUNNING);
	assert_int_equal(got.vmm_pid, 4242);
	assert_string_equal(got.name, "db");
	state_sandbox_clear(&got);
	assert_int_equal(state_sandbox_set_status(s, sb.id, STATE_SB_STOPPED, 0,
						  f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_sandbox_get(s, "db", &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.status, STATE_SB_STOPPED);
	assert_int_equal(got.vmm_pid, 0);
	state_sandbox_clear(&got);
	assert_int_equal(state_sandbox_set_status(s, sb.id,
						  (enum state_sandbox_status)99,
						  0, f->err, sizeof(f->err)),
			 KILN_EINVAL);
	assert_int_equal(state_sandbox_set_status(s, "000000000000",
						  STATE_SB_FAILED, 0, f->err,
						  sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_int_equal(state_sandbox_delete(s, sb.id, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_delete(s, sb.id, f->err, sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_int_equal(
		state_sandbox_get(s, "db", &got, f->err, sizeof(f->err)),
		KILN_ENOTFOUND);
	assert_non_null(strstr(f->err, "no sandbox with id or name 'db'"));
	state_sandbox_clear(&sb);
	state_close(s);
}

/* A v1 database (as the first release wrote it) is upgraded in place. */
static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox got;
	struct state *s;
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "CREATE TABLE sandboxes (id TEXT PRIMARY KEY NOT NULL CHECK "
		 "(length(id) = 12), name TEXT UNIQUE, state TEXT NOT NULL "
		 "CHECK (state IN ('creating', 'running', 'paused', 'stopped', "
		 "'failed')), vmm_pid INTEGER, cid INTEGER NOT NULL UNIQUE, "
		 "net_slot INTEGER NOT NULL UNIQUE, runtime_dir TEXT, "
		 "created_at INTEGER NOT NULL, config TEXT) STRICT;"
		 "CREATE TABLE images (id TEXT PRIMARY KEY NOT NULL) STRICT;"
		 "CREATE TABLE snapshots (id TEXT PRIMARY KEY NOT NULL, parent "
		 "TEXT) STRICT;"
		 "INSERT INTO sandboxes VALUES ('0123456789ab', 'old', "
		 "'running', 77, 9, 4, '/run/kiln/0123456789ab', 1000, NULL);"
		 "PRAGMA application_id = %d; PRAGMA user_version = 1",
		 STATE_APPLICATION_ID);
	raw_exec(f->path, sql);
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
			 STATE_SCHEMA_VERSION);
	assert_int_equal(
		state_sandbox_get(s, "old", &got, f->err, sizeof(f->err)), 0);
	assert_string_equal(got.id, "0123456789ab");
	assert_int_equal(got.status, STATE_SB_RUNNING);
	assert_int_equal(got.vmm_pid, 77);
	assert_int_equal(got.cid, 9);
	assert_int_equal(got.net_slot, 4);
	assert_int_equal(got.vmm_start, 0);
	assert_int_equal(got.owner_pid, 0);
	assert_null(got.exit_reason);
	state_sandbox_clear(&got);
	state_close(s);
	/* the new states are accepted */
	raw_exec(f->path, "UPDATE sandboxes SET state = 'dead'");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sandboxes "
					  "WHERE state = 'dead'"),
			 1);
}

/* Schema 3: checkpoint rows, names, uniqueness, removal with the sandbox. */
static void test_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct state_checkpoint cp = {.created_at = 1000, .size = 4096}, got,
				*list;
	struct state_sandbox a, b;
	struct state *s;
	size_t n;

	/* a v2 file gains the table */
	raw_exec(f->path, "PRAGMA user_version = 0");
	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema "
					  "WHERE name = 'checkpoints'"),
			 1);
	assert_int_equal(state_sandbox_insert(s, "a", NULL, NULL, &a, f->err,
					      sizeof(f->err)),
			 0);
	assert_int_equal(state_sandbox_insert(s, "b", NULL, NULL, &b, f->err,
					      sizeof(f->err)),
			 0);
	memcpy(cp.sandbox, a.id, sizeof(cp.sandbox));
	strcpy(cp.name, "one");
	cp.dir = "/x/one";
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)), 0);
	/* duplicate name of the same sandbox: refused, naming it */
	cp.dir = "/x/other";
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)),
		KILN_EINVAL);
	assert_non_null(strstr(f->err, "already has a checkpoint named 'one'"));
	/* the same name on another sandbox is fine */
	memcpy(cp.sandbox, b.id, sizeof(cp.sandbox));
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)), 0);
	/* bad names */
	strcpy(cp.name, ".hidden");
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)),
		KILN_EINVAL);
	assert_non_null(strstr(f->err, "invalid checkpoint name"));
	strcpy(cp.name, "a/b");
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)),
		KILN_EINVAL);
	memcpy(cp.sandbox, a.id, sizeof(cp.sandbox));
	strcpy(cp.name, "two");
	cp.created_at = 2000;
	cp.dir = "/x/two";
	assert_int_equal(
		state_checkpoint_insert(s, &cp, f->err, sizeof(f->err)), 0);

	assert_int_equal(state_checkpoint_get(s, a.id, "one", &got, f->err,
					      sizeof(f->err)),
			 0);
	assert_string_equal(got.dir, "/x/one");
	assert_int_equal(got.size, 4096);
	assert_int_equal(got.created_at, 1000);
	state_checkpoint_clear(&got);
	assert_int_equal(state_checkpoint_get(s, a.id, "nope", &got, f->err,
					      sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_non_null(strstr(f->err, "no checkpoint named 'nope'"));

	assert_int_equal(state_checkpoint_list(s, a.id, &list, &n, f->err,
					       sizeof(f->err)),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "one");
	assert_string_equal(list[1].name, "two");
	state_checkpoint_list_free(list, n);
	assert_int_equal(state_checkpoint_list(s, NULL, &list, &n, f->err,
					       sizeof(f->err)),
			 0);
	assert_int_equal(n, 3);
	state_checkpoint_list_free(list, n);

	/* remove one, then one that is not there */
	assert_int_equal(
		state_checkpoint_delete(s, a.id, "two", f->err, sizeof(f->err)),
		0);
	assert_int_equal(
		state_checkpoint_delete(s, a.id, "two", f->err, sizeof(f->err)),
		KILN_ENOTFOUND);
	/* removing sandbox a removes its checkpoints, not b's */
	assert_int_equal(state_sandbox_delete(s, a.id, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(state_checkpoint_list(s, NULL, &list, &n, f->err,
					       sizeof(f->err)),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].sandbox, b.id);
	state_checkpoint_list_free(list, n);
	/* all of b's */
	assert_int_equal(
		state_checkpoint_delete(s, b.id, NULL, f->err, sizeof(f->err)),
		0);
	assert_int_equal(state_checkpoint_list(s, b.id, &list, &n, f->err,
					       sizeof(f->err)),
			 0);
	assert_int_equal(n, 0);
	assert_null(list);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
	state_close(s);
}

static void raw_row(const char *path, const char *id, const char *name, int cid)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO sandboxes (id, name, state, cid, net_slot, "
		 "created_at) VALUES ('%s', %s, 'stopped', %d, %d, 1)",
		 id, name, cid, cid);
	raw_exec(path, sql);
}

static void test_find(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox got;
	struct state *s;

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	raw_row(f->path, "abc000000001", "'first'", 3);
	raw_row(f->path, "abc000000002", "NULL", 4);
	raw_row(f->path, "fed000000003", "'abc0'", 5);
	/* exact id, name, unique prefix */
	assert_int_equal(state_sandbox_find(s, "abc000000002", &got, f->err,
					    sizeof(f->err)),
			 0);
	assert_int_equal(got.cid, 4);
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_find(s, "first", &got, f->err, sizeof(f->err)),
		0);
	assert_string_equal(got.id, "abc000000001");
	state_sandbox_clear(&got);
	assert_int_equal(
		state_sandbox_find(s, "fe", &got, f->err, sizeof(f->err)), 0);
	assert_string_equal(got.id, "fed000000003");
	state_sandbox_clear(&got);
	/* a name beats an (ambiguous) id prefix */
	assert_int_equal(
		state_sandbox_find(s, "abc0", &got, f->err, sizeof(f->err)), 0);
	assert_string_equal(got.id, "fed000000003");
	state_sandbox_clear(&got);
	/* ambiguous */
	assert_int_equal(
		state_sandbox_find(s, "abc", &got, f->err, sizeof(f->err)),
		KILN_EINVAL);
	assert_non_null(strstr(f->err, "'abc' is ambiguous"));
	assert_non_null(strstr(f->err, "abc000000001"));
	assert_non_null(strstr(f->err, "abc000000002"));
	assert_int_equal(got.id[0], '\0');
	/* no match; not hex is never a prefix */
	assert_int_equal(
		state_sandbox_find(s, "abd", &got, f->err, sizeof(f->err)),
		KILN_ENOTFOUND);
	assert_int_equal(
		state_sandbox_find(s, "ABC", &got, f->err, sizeof(f->err)),
		KILN_ENOTFOUND);
	assert_non_null(strstr(f->err, "no sandbox with id, id prefix or name "
				       "'ABC'"));
	state_close(s);
}

static void test_create_owner_transition(void **state)
{
	struct fixture *f = *state;
	struct state_new n = {
		.name = "t",
		.runtime_base = "/run/x",
		.owner_pid = 4321,
		.owner_start = 99,
	};
	struct state_update u = {
		.status = STATE_SB_RUNNING,
		.vmm_pid = 55,
		.vmm_start = 1234567,
	};
	struct state_sandbox sb, got;
	struct state *s;

	assert_int_equal(state_open(STATE_MEMORY, &s, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_sandbox_create(s, &n, &sb, f->err, sizeof(f->err)), 0);
	assert_int_equal(sb.status, STATE_SB_CREATING);
	assert_int_equal(sb.owner_pid, 4321);
	assert_int_equal(sb.owner_start, 99);
	/* compare and set: only from the expected state */
	assert_int_equal(state_sandbox_transition(s, sb.id, STATE_SB_STOPPED,
						  &u, f->err, sizeof(f->err)),
			 KILN_ESTATE);
	assert_non_null(strstr(f->err, "is now creating, not stopped"));
	assert_int_equal(state_sandbox_transition(s, sb.id, STATE_SB_CREATING,
						  &u, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_sandbox_get(s, sb.id, &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.status, STATE_SB_RUNNING);
	assert_int_equal(got.vmm_pid, 55);
	assert_int_equal(got.vmm_start, 1234567);
	assert_int_equal(got.owner_pid, 0);
	assert_null(got.exit_reason);
	state_sandbox_clear(&got);
	u = (struct state_update){.status = STATE_SB_DEAD,
				  .exit_reason = "it crashed"};
	assert_int_equal(state_sandbox_transition(s, sb.id, STATE_SB_RUNNING,
						  &u, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
		state_sandbox_get(s, "t", &got, f->err, sizeof(f->err)), 0);
	assert_int_equal(got.status, STATE_SB_DEAD);
	assert_int_equal(got.vmm_pid, 0);
	assert_string_equal(got.exit_reason, "it crashed");
	assert_string_equal(state_status_name(got.status), "dead");
	state_sandbox_clear(&got);
	assert_int_equal(state_sandbox_transition(s, "000000000000",
						  STATE_SB_DEAD, &u, f->err,
						  sizeof(f->err)),
			 KILN_ENOTFOUND);
	u.status = (enum state_sandbox_status)42;
	assert_int_equal(state_sandbox_transition(s, sb.id, STATE_SB_DEAD, &u,
						  f->err, sizeof(f->err)),
			 KILN_EINVAL);
	state_sandbox_clear(&sb);
	state_close(s);
}

/* One racer: wait for the barrier, then open and insert at once. */
static void racer(const char *path, int barrier, int i)
{
	struct state_sandbox sb;
	struct state *s;
	char err[1024], name[32], c;
	int rc;

	/* Blocks until the parent closes the write end for everyone. */
	if (read(barrier, &c, 1) != 0)
		_exit(3);
	snprintf(name, sizeof(name), "racer-%d", i);
	rc = state_open(path, &s, err, sizeof(err));
	if (!rc) {
		/* as `kiln create` does: half the racers through each call */
		struct state_new n = {
			.name = name,
			.runtime_base = "/run/kiln",
			.owner_pid = (int)getpid(),
			.owner_start = 1,
		};

		if (i % 2)
			rc = state_sandbox_create(s, &n, &sb, err, sizeof(err));
		else
			rc = state_sandbox_insert(s, name, NULL, NULL, &sb, err,
						  sizeof(err));
		state_sandbox_clear(&sb);
		state_close(s);
	}
	if (rc)
		fprintf(stderr, "racer %d: %s\n", i, err);
	_exit(rc ? 1 : 0);
}

static void test_race(void **state)
{
	struct fixture *f = *state;
	bool cids[RACERS] = {0}, slots[RACERS] = {0};
	struct state_sandbox *list;
	pid_t pids[RACERS];
	struct state *s;
	int barrier[2];
	size_t n;

	assert_int_equal(pipe2(barrier, O_CLOEXEC), 0);
	for (int i = 0; i < RACERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(barrier[1]);
			racer(f->path, barrier[0], i);
		}
	}
	close(barrier[0]);
	close(barrier[1]); /* go */
	for (int i = 0; i < RACERS; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	assert_int_equal(state_open(f->path, &s, f->err, sizeof(f->err)), 0);
	assert_int_equal(
		state_sandbox_list(s, &list, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, RACERS);
	/* Distinct and, since nothing was deleted, exactly the lowest ones. */
	for (size_t i = 0; i < n; i++) {
		assert_in_range(list[i].cid, STATE_CID_MIN,
				STATE_CID_MIN + RACERS - 1);
		assert_in_range(list[i].net_slot, 0, RACERS - 1);
		assert_false(cids[list[i].cid - STATE_CID_MIN]);
		assert_false(slots[list[i].net_slot]);
		cids[list[i].cid - STATE_CID_MIN] = true;
		slots[list[i].net_slot] = true;
	}
	state_sandbox_list_free(list, n);
	state_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_and_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wal_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v0, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_sqlite_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_foreign_sqlite_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lowest_free_reuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_get_delete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_owner_transition,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
