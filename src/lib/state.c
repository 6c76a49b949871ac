/* SPDX-License-Identifier: MIT */
/*
 * The state database.  Design points:
 *
 *  - The schema is a list of forward migrations; PRAGMA user_version is
 *    the number applied.  Pending steps run in one BEGIN IMMEDIATE
 *    transaction, so a crash or a concurrent opener never sees half a
 *    schema.  PRAGMA application_id marks the file as ours: a SQLite file
 *    of another program, a corrupt file or one from a newer kiln is
 *    refused before anything is written to it.
 *  - busy_timeout is set before anything else, in particular before
 *    switching to WAL, which needs a lock other openers may hold.
 *  - Writes take the write lock up front (BEGIN IMMEDIATE): the lowest
 *    free CID and network slot are computed and the row inserted under
 *    one lock, so concurrent kiln processes cannot pick the same ones.
 *    A transaction that still finds the database busy after busy_timeout
 *    is retried a bounded number of times.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/rundir.h"
#include "lib/state.h"

#define BUSY_TIMEOUT_MS 10000
#define TX_ATTEMPTS 3 /* whole transactions, each waiting busy_timeout */
#define ID_ATTEMPTS 4 /* fresh ids after a (very unlikely) collision */

struct state {
	sqlite3 *db;
	char *path;
	bool busy; /* the last SQLite failure was SQLITE_BUSY */
};

/*
 * Forward migrations: step i takes the schema from version i to i + 1.
 * Never edit a step that has shipped; add a new one.  (The limits in the
 * CHECKs are the STATE_* macros at the time the step was written.)
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE sandboxes ("
	" id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 12),"
	" name TEXT UNIQUE CHECK (name IS NULL OR length(name) BETWEEN 1 AND "
	"63),"
	" state TEXT NOT NULL CHECK (state IN"
	"  ('creating', 'running', 'paused', 'stopped', 'failed')),"
	" vmm_pid INTEGER CHECK (vmm_pid IS NULL OR vmm_pid > 0),"
	" cid INTEGER NOT NULL UNIQUE CHECK (cid BETWEEN 3 AND 4294967294),"
	" net_slot INTEGER NOT NULL UNIQUE CHECK (net_slot BETWEEN 0 AND "
	"16383),"
	" runtime_dir TEXT,"
	" created_at INTEGER NOT NULL,"
	" config TEXT CHECK (config IS NULL OR json_valid(config))"
	") STRICT;"
	"CREATE TABLE images ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" name TEXT NOT NULL UNIQUE,"
	" path TEXT NOT NULL,"
	" digest TEXT,"
	" size INTEGER CHECK (size IS NULL OR size >= 0),"
	" created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE snapshots ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" name TEXT NOT NULL UNIQUE,"
	" path TEXT NOT NULL,"
	" parent TEXT REFERENCES snapshots(id) ON DELETE RESTRICT,"
	" created_at INTEGER NOT NULL"
	") STRICT;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
		       STATE_SCHEMA_VERSION,
	       "one migration per schema version");

static const char *const status_names[] = {
	[STATE_SB_CREATING] = "creating", [STATE_SB_RUNNING] = "running",
	[STATE_SB_PAUSED] = "paused",	  [STATE_SB_STOPPED] = "stopped",
	[STATE_SB_FAILED] = "failed",
};

#define SB_COLUMNS                                                           \
	"id, name, state, vmm_pid, cid, net_slot, runtime_dir, created_at, " \
	"config"

const char *state_status_name(enum state_sandbox_status st)
{
	if ((unsigned int)st >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[st];
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* Turn the connection's last SQLite error into a kiln status + message. */
static int db_fail(struct state *s, char *err, size_t errlen, const char *what)
{
	int code = sqlite3_errcode(s->db) & 0xff;
	const char *msg = sqlite3_errmsg(s->db);

	s->busy = code == SQLITE_BUSY;
	switch (code) {
	case SQLITE_NOMEM:
		return fail(err, errlen, KILN_ENOMEM,
			    "state database %s: %s: out of memory", s->path,
			    what);
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return fail(err, errlen, KILN_EFORMAT,
			    "state database %s is not a SQLite database or is "
			    "damaged (%s: %s); move it aside (kiln then "
			    "starts a new one) or restore it from a backup",
			    s->path, what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return fail(err, errlen, KILN_ETIMEOUT,
			    "state database %s: %s: %s (another kiln process "
			    "holds it; try again)",
			    s->path, what, msg);
	case SQLITE_CONSTRAINT:
		return fail(err, errlen, KILN_EINVAL,
			    "state database %s: %s: %s", s->path, what, msg);
	default:
		return fail(err, errlen, KILN_ESYS, "state database %s: %s: %s",
			    s->path, what, msg);
	}
}

static int db_exec(struct state *s, const char *sql, char *err, size_t errlen,
		   const char *what)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(s, err, errlen, what);
	return 0;
}

static int db_prepare(struct state *s, const char *sql, sqlite3_stmt **st,
		      char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(s, err, errlen, "preparing a query");
	return 0;
}

/* Run a query returning one integer. */
static int db_query_int(struct state *s, const char *sql, int64_t *v, char *err,
			size_t errlen)
{
	sqlite3_stmt *st;
	int rc = db_prepare(s, sql, &st, err, errlen);

	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(s, err, errlen, "reading");
	} else {
		*v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Run fn in a write transaction, retrying the whole transaction a bounded
 * number of times if the database stayed busy beyond busy_timeout.
 */
static int db_write_tx(struct state *s,
		       int (*fn)(struct state *, void *, char *, size_t),
		       void *ctx, char *err, size_t errlen)
{
	int rc = 0;

	for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
		s->busy = false;
		rc = db_exec(s, "BEGIN IMMEDIATE", err, errlen,
			     "starting a transaction");
		if (rc == 0) {
			rc = fn(s, ctx, err, errlen);
			if (rc == 0)
				rc = db_exec(s, "COMMIT", err, errlen,
					     "committing");
			if (rc == 0)
				return 0;
			if (!sqlite3_get_autocommit(s->db))
				sqlite3_exec(s->db, "ROLLBACK", NULL, NULL,
					     NULL);
		}
		if (!s->busy)
			return rc;
	}
	return rc;
}

/* What the file says about itself. */
struct header {
	int64_t app_id, version, objects;
};

/*
 * One statement, so one read snapshot: separate queries could straddle
 * another process's migration and see a half-updated header.
 */
static int header_read(struct state *s, struct header *h, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	rc = db_prepare(s,
			"SELECT (SELECT application_id FROM "
			"pragma_application_id), (SELECT user_version FROM "
			"pragma_user_version), (SELECT count(*) FROM "
			"sqlite_schema)",
			&st, err, errlen);
	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		h->app_id = sqlite3_column_int64(st, 0);
		h->version = sqlite3_column_int64(st, 1);
		h->objects = sqlite3_column_int64(st, 2);
	} else {
		rc = db_fail(s, err, errlen, "reading the header");
	}
	sqlite3_finalize(st);
	return rc;
}

static int header_check(struct state *s, const struct header *h, char *err,
			size_t errlen)
{
	bool pristine = h->app_id == 0 && h->version == 0 && h->objects == 0;

	if (h->app_id != STATE_APPLICATION_ID && !pristine)
		return fail(err, errlen, KILN_EFORMAT,
			    "%s is a SQLite database of another program "
			    "(application_id %lld, user_version %lld), not a "
			    "kiln state database; kiln leaves it alone: point "
			    "kiln at another state directory",
			    s->path, (long long)h->app_id,
			    (long long)h->version);
	if (h->version > STATE_SCHEMA_VERSION)
		return fail(err, errlen, KILN_EFORMAT,
			    "state database %s was written by a newer kiln "
			    "(schema %lld > %d); upgrade kiln",
			    s->path, (long long)h->version,
			    STATE_SCHEMA_VERSION);
	if (h->version < 0)
		return fail(err, errlen, KILN_EFORMAT,
			    "state database %s has a bad schema version %lld; "
			    "move it aside or restore it from a backup",
			    s->path, (long long)h->version);
	return 0;
}

static int migrate_tx(struct state *s, void *ctx, char *err, size_t errlen)
{
	struct header h;
	char sql[96];
	int rc;

	(void)ctx;
	/* Another process may have migrated since we looked: look again. */
	rc = header_read(s, &h, err, errlen);
	if (!rc)
		rc = header_check(s, &h, err, errlen);
	for (int64_t v = h.version; !rc && v < STATE_SCHEMA_VERSION; v++) {
		char what[64];

		snprintf(what, sizeof(what), "migrating schema %lld -> %lld",
			 (long long)v, (long long)v + 1);
		rc = db_exec(s, migrations[v], err, errlen, what);
	}
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql),
		 "PRAGMA application_id = %d; PRAGMA user_version = %d",
		 STATE_APPLICATION_ID, STATE_SCHEMA_VERSION);
	return db_exec(s, sql, err, errlen, "recording the schema version");
}

/*
 * Create the file ourselves so it gets mode 0600 (SQLite gives its -wal
 * and -shm files the database file's mode) and so a missing directory is
 * reported as such.
 */
static int file_prepare(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT)
		return fail(err, errlen, KILN_ENOTFOUND,
			    "cannot create state database %s: its directory "
			    "does not exist; create it first",
			    path);
	if (fd < 0)
		return fail(err, errlen, KILN_ESYS,
			    "cannot open state database %s: %s", path,
			    strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(err, errlen, KILN_EFORMAT,
			    "state database %s is not a regular file; remove "
			    "it or point kiln at another state directory",
			    path);
	}
	close(fd);
	return 0;
}

/*
 * Switch a file database to WAL.  While another process still has the file
 * open in rollback mode (a first open racing others), SQLite reports BUSY
 * at once instead of calling the busy handler, so retry with backoff until
 * the busy_timeout deadline.
 */
static int wal_enable(struct state *s, char *err, size_t errlen)
{
	int rc = 0, waited_ms = 0, delay_ms = 1;

	for (;;) {
		sqlite3_stmt *st;
		const unsigned char *mode;

		rc = db_prepare(s, "PRAGMA journal_mode = WAL", &st, err,
				errlen);
		if (rc)
			return rc;
		if (sqlite3_step(st) == SQLITE_ROW) {
			mode = sqlite3_column_text(st, 0);
			rc = mode && !strcmp((const char *)mode, "wal")
				     ? 0
				     : fail(err, errlen, KILN_ESYS,
					    "state database %s: cannot switch "
					    "to WAL mode (got '%s')",
					    s->path, mode ? (char *)mode : "");
			s->busy = false;
		} else {
			rc = db_fail(s, err, errlen, "switching to WAL mode");
		}
		sqlite3_finalize(st);
		if (!s->busy || waited_ms >= BUSY_TIMEOUT_MS)
			return rc;
		sqlite3_sleep(delay_ms);
		waited_ms += delay_ms;
		delay_ms = delay_ms < 50 ? 2 * delay_ms : 50;
	}
}

static int state_setup(struct state *s, bool memory, char *err, size_t errlen)
{
	struct header h;
	int rc;

	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_fail(s, err, errlen, "setting busy_timeout");
	/* Refuse foreign, damaged or newer files before writing anything. */
	rc = header_read(s, &h, err, errlen);
	if (!rc)
		rc = header_check(s, &h, err, errlen);
	if (!rc && !memory)
		rc = wal_enable(s, err, errlen);
	if (!rc)
		rc = db_exec(s,
			     "PRAGMA foreign_keys = ON;"
			     "PRAGMA synchronous = NORMAL",
			     err, errlen, "setting options");
	if (!rc && (h.app_id != STATE_APPLICATION_ID ||
		    h.version < STATE_SCHEMA_VERSION))
		rc = db_write_tx(s, migrate_tx, NULL, err, errlen);
	return rc;
}

/*
 * Serialise the setup of one state file across processes: switching to WAL
 * needs every other connection to let go of the file, and SQLite does not
 * queue such requests, so many racing first opens can starve each other.  The
 * lock is on the directory, not the database, because closing any descriptor of
 * the database would drop SQLite's own POSIX locks on it.
 */
static int dir_lock(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return fail(err, errlen, KILN_ENOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, errlen, KILN_ESYS, "cannot open %s: %s", dir,
		     strerror(errno));
		free(dir);
		return KILN_ESYS;
	}
	free(dir);
	/* Holders only run the short setup; a dead holder's lock is freed. */
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return fail(err, errlen, KILN_ESYS,
				    "cannot lock the directory of %s: %s", path,
				    strerror(errno));
		}
	}
	return fd;
}

int state_open(const char *path, struct state **out, char *err, size_t errlen)
{
	bool memory = !strcmp(path, STATE_MEMORY);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	struct state *s;
	int rc, lock_fd;

	*out = NULL;
	err[0] = '\0';
	if (!memory && (rc = file_prepare(path, err, errlen)))
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return fail(err, errlen, KILN_ENOMEM, "out of memory");
	}
	if (memory)
		flags |= SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		rc = s->db ? db_fail(s, err, errlen, "opening")
			   : fail(err, errlen, KILN_ENOMEM, "out of memory");
		state_close(s);
		return rc;
	}
	lock_fd = memory ? -1 : dir_lock(path, err, errlen);
	rc = !memory && lock_fd < 0 ? lock_fd
				    : state_setup(s, memory, err, errlen);
	if (lock_fd >= 0)
		close(lock_fd);
	if (rc) {
		state_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

int state_schema_version(struct state *s, int *version, char *err,
			 size_t errlen)
{
	int64_t v = 0;
	int rc = db_query_int(s, "PRAGMA user_version", &v, err, errlen);

	if (!rc)
		*version = (int)v;
	return rc;
}

/* Copy of an untrusted string that is safe to print. */
static void printable(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

int state_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = strnlen(name, STATE_NAME_MAX + 1);
	char shown[STATE_NAME_MAX + 2];
	bool ok = n >= 1 && n <= STATE_NAME_MAX;

	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '-'));
	}
	if (ok)
		return 0;
	printable(shown, sizeof(shown), name);
	return fail(err, errlen, KILN_EINVAL,
		    "invalid sandbox name '%s%s': use 1 to %d letters, "
		    "digits, '_', '.' or '-', starting with a letter or digit",
		    shown, n > STATE_NAME_MAX ? "..." : "", STATE_NAME_MAX);
}

void state_sandbox_clear(struct state_sandbox *sb)
{
	free(sb->runtime_dir);
	free(sb->config);
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
		return fail(err, errlen, KILN_EFORMAT,
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
	if (oom) {
		state_sandbox_clear(sb);
		return fail(err, errlen, KILN_ENOMEM, "out of memory");
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
	return db_query_int(s, sql, v, err, errlen);
}

static int sandbox_load(struct state *s, const char *key,
			struct state_sandbox *out, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc, step;

	rc = db_prepare(s,
			"SELECT " SB_COLUMNS " FROM sandboxes WHERE id = ?1 "
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

		printable(shown, sizeof(shown), key);
		rc = fail(err, errlen, KILN_ENOTFOUND,
			  "no sandbox with id or name '%s' in %s; `kiln ls` "
			  "lists them",
			  shown, s->path);
	} else {
		rc = db_fail(s, err, errlen, "looking up a sandbox");
	}
	sqlite3_finalize(st);
	return rc;
}

struct insert_args {
	const char *name;
	const char *runtime_base;
	const char *config;
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
		return fail(err, errlen, KILN_ENOMEM, "out of memory");
	rc = db_prepare(s,
			"INSERT INTO sandboxes (" SB_COLUMNS ") VALUES "
			"(?, ?, 'creating', NULL, ?, ?, ?, ?, ?)",
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
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_fail(s, err, errlen, "adding a sandbox");
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

	rc = db_prepare(s, "SELECT id FROM sandboxes WHERE name = ?", &st, err,
			errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = fail(err, errlen, KILN_EINVAL,
			  "a sandbox named '%s' already exists (id %s); pick "
			  "another name or delete that sandbox",
			  name, (const char *)sqlite3_column_text(st, 0));
	else if (step != SQLITE_DONE)
		rc = db_fail(s, err, errlen, "looking up a sandbox name");
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
		return fail(err, errlen, KILN_ESYS,
			    "no free vsock CID in %s; delete old sandboxes",
			    s->path);
	if (slot > STATE_NET_SLOT_MAX)
		return fail(err, errlen, KILN_ESYS,
			    "all %u network slots in %s are taken; delete old "
			    "sandboxes",
			    STATE_NET_SLOT_MAX + 1, s->path);
	for (int attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
		if (rundir_new_id(id))
			return fail(err, errlen, KILN_ESYS,
				    "getrandom failed: %s", strerror(errno));
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
	struct insert_args a = {name, runtime_base, config, out};
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (name && (rc = state_name_check(name, err, errlen)))
		return rc;
	return db_write_tx(s, insert_tx, &a, err, errlen);
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
	rc = db_prepare(s,
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
				rc = fail(err, errlen, KILN_ENOMEM,
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
		rc = db_fail(s, err, errlen, "listing sandboxes");
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

	rc = db_prepare(s, a->sql, &st, err, errlen);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	if (a->status) {
		sqlite3_bind_text(st, 2, a->status, -1, SQLITE_STATIC);
		if (a->vmm_pid > 0)
			sqlite3_bind_int(st, 3, a->vmm_pid);
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(s, err, errlen, a->what);
	} else if (sqlite3_changes(s->db) == 0) {
		char shown[STATE_ID_LEN + 1];

		printable(shown, sizeof(shown), a->id);
		rc = fail(err, errlen, KILN_ENOTFOUND,
			  "no sandbox with id '%s' in %s", shown, s->path);
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
		return fail(err, errlen, KILN_EINVAL,
			    "bad sandbox status %d or VMM pid %d", (int)st,
			    vmm_pid);
	return db_write_tx(s, change_tx, &a, err, errlen);
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
	return db_write_tx(s, change_tx, &a, err, errlen);
}
