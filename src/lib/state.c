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
#include "lib/state_int.h"

#define BUSY_TIMEOUT_MS 10000
#define TX_ATTEMPTS 3 /* whole transactions, each waiting busy_timeout */

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
	/*
	 * 1 -> 2: persistent sandboxes.  New states for operations in
	 * progress and VMMs found gone; the VMM's start time (so a recycled
	 * pid is never taken for it); the process running an operation on
	 * the sandbox (to roll back after it died); why the VMM ended.
	 * SQLite cannot change a CHECK, so the table is rebuilt.
	 */
	"CREATE TABLE sandboxes_v2 ("
	" id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 12),"
	" name TEXT UNIQUE CHECK (name IS NULL OR length(name) BETWEEN 1 AND "
	"63),"
	" state TEXT NOT NULL CHECK (state IN"
	"  ('creating', 'running', 'paused', 'stopped', 'failed', 'starting',"
	"   'stopping', 'dead')),"
	" vmm_pid INTEGER CHECK (vmm_pid IS NULL OR vmm_pid > 0),"
	" cid INTEGER NOT NULL UNIQUE CHECK (cid BETWEEN 3 AND 4294967294),"
	" net_slot INTEGER NOT NULL UNIQUE CHECK (net_slot BETWEEN 0 AND "
	"16383),"
	" runtime_dir TEXT,"
	" created_at INTEGER NOT NULL,"
	" config TEXT CHECK (config IS NULL OR json_valid(config)),"
	" vmm_start INTEGER CHECK (vmm_start IS NULL OR vmm_start >= 0),"
	" owner_pid INTEGER CHECK (owner_pid IS NULL OR owner_pid > 0),"
	" owner_start INTEGER CHECK (owner_start IS NULL OR owner_start >= 0),"
	" exit_reason TEXT"
	") STRICT;"
	"INSERT INTO sandboxes_v2 (id, name, state, vmm_pid, cid, net_slot,"
	" runtime_dir, created_at, config) SELECT id, name, state, vmm_pid, "
	"cid,"
	" net_slot, runtime_dir, created_at, config FROM sandboxes;"
	"DROP TABLE sandboxes;"
	"ALTER TABLE sandboxes_v2 RENAME TO sandboxes;",
	/*
	 * 2 -> 3: checkpoints of persistent sandboxes (state_checkpoint.c).
	 * No foreign key: a later rebuild of `sandboxes` (DROP TABLE) would
	 * cascade into it.  The trigger removes a sandbox's checkpoint rows
	 * in the same statement as the sandbox row; a migration that
	 * rebuilds `sandboxes` must create it again.
	 */
	"CREATE TABLE checkpoints ("
	" sandbox TEXT NOT NULL CHECK (length(sandbox) = 12),"
	" name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
	" created_at INTEGER NOT NULL,"
	" size INTEGER NOT NULL CHECK (size >= 0),"
	" dir TEXT NOT NULL,"
	" UNIQUE (sandbox, name)"
	") STRICT;"
	"CREATE TRIGGER sandboxes_drop_checkpoints AFTER DELETE ON sandboxes"
	" BEGIN DELETE FROM checkpoints WHERE sandbox = OLD.id; END;",
	/*
	 * 3 -> 4: whether the sandbox's VMM runs in the jail.  0 when it
	 * was created with the jail turned off (--no-jail, $KILN_JAIL=0), so
	 * that later starts, rollbacks and forks keep it off; existing rows
	 * (and the default) are 1: a later start as root jails them.  ADD
	 * COLUMN does not rebuild the table (the trigger of 2 -> 3 stays).
	 */
	"ALTER TABLE sandboxes ADD COLUMN jail INTEGER NOT NULL DEFAULT 1"
	" CHECK (jail IN (0, 1));",
	/*
	 * 4 -> 5: the parts of the jail the sandbox was created without
	 * (KILN_JAIL_NO_*: 1 seccomp, 2 cgroup), kept by its later starts,
	 * rollbacks and forks; existing rows have none.
	 */
	"ALTER TABLE sandboxes ADD COLUMN jail_relax INTEGER NOT NULL"
	" DEFAULT 0 CHECK (jail_relax BETWEEN 0 AND 3);",
	/*
	 * 5 -> 6: drop `images` and `snapshots` (0 -> 1), which no kiln ever
	 * wrote.  Images are files, not records: each sandbox's `config`
	 * names its image's path (a name given to create is
	 * <cache_dir>/images/NAME.ext4).  Checkpoints are `checkpoints`
	 * (2 -> 3).  Base snapshots are content-keyed entries
	 * <cache_dir>/snapshots/<key>/ shared by every state directory using
	 * that cache (their inputs.json says what they were made from), so no
	 * state database can own them.  A DROP deletes the rows first, with
	 * foreign keys on: unlink any `parent` so RESTRICT cannot refuse it.
	 */
	"UPDATE snapshots SET parent = NULL;"
	"DROP TABLE snapshots;"
	"DROP TABLE images;",
	/*
	 * 6 -> 7: KILN_JAIL_NO_PID_NS (4), which jail_relax's CHECK (4 -> 5)
	 * does not admit and SQLite cannot widen without rebuilding the
	 * table: its own column, 1 = the jail has a PID namespace.
	 * state_sandbox.c folds it into the bit mask both ways.
	 */
	"ALTER TABLE sandboxes ADD COLUMN jail_pid_ns INTEGER NOT NULL"
	" DEFAULT 1 CHECK (jail_pid_ns IN (0, 1));",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
		       STATE_SCHEMA_VERSION,
	       "one migration per schema version");

int state_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* Turn the connection's last SQLite error into a kiln status + message. */
int state_db_fail(struct state *s, char *err, size_t errlen, const char *what)
{
	int code = sqlite3_errcode(s->db) & 0xff;
	const char *msg = sqlite3_errmsg(s->db);

	s->busy = code == SQLITE_BUSY;
	switch (code) {
	case SQLITE_NOMEM:
		return state_fail(err, errlen, KILN_ENOMEM,
				  "state database %s: %s: out of memory",
				  s->path, what);
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return state_fail(
			err, errlen, KILN_EFORMAT,
			"state database %s is not a SQLite database or is "
			"damaged (%s: %s); move it aside (kiln then "
			"starts a new one) or restore it from a backup",
			s->path, what, msg);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return state_fail(
			err, errlen, KILN_ETIMEOUT,
			"state database %s: %s: %s (another kiln process "
			"holds it; try again)",
			s->path, what, msg);
	case SQLITE_CONSTRAINT:
		return state_fail(err, errlen, KILN_EINVAL,
				  "state database %s: %s: %s", s->path, what,
				  msg);
	default:
		return state_fail(err, errlen, KILN_ESYS,
				  "state database %s: %s: %s", s->path, what,
				  msg);
	}
}

static int db_exec(struct state *s, const char *sql, char *err, size_t errlen,
		   const char *what)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return state_db_fail(s, err, errlen, what);
	return 0;
}

int state_db_prepare(struct state *s, const char *sql, sqlite3_stmt **st,
		     char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return state_db_fail(s, err, errlen, "preparing a query");
	return 0;
}

/* Run a query returning one integer. */
int state_db_query_int(struct state *s, const char *sql, int64_t *v, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st;
	int rc = state_db_prepare(s, sql, &st, err, errlen);

	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = state_db_fail(s, err, errlen, "reading");
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
int state_db_write_tx(struct state *s,
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

	rc = state_db_prepare(
		s,
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
		rc = state_db_fail(s, err, errlen, "reading the header");
	}
	sqlite3_finalize(st);
	return rc;
}

static int header_check(struct state *s, const struct header *h, char *err,
			size_t errlen)
{
	bool pristine = h->app_id == 0 && h->version == 0 && h->objects == 0;

	if (h->app_id != STATE_APPLICATION_ID && !pristine)
		return state_fail(
			err, errlen, KILN_EFORMAT,
			"%s is a SQLite database of another program "
			"(application_id %lld, user_version %lld), not a "
			"kiln state database; kiln leaves it alone: point "
			"kiln at another state directory",
			s->path, (long long)h->app_id, (long long)h->version);
	if (h->version > STATE_SCHEMA_VERSION)
		return state_fail(
			err, errlen, KILN_EFORMAT,
			"state database %s was written by a newer kiln "
			"(schema %lld > %d); upgrade kiln",
			s->path, (long long)h->version, STATE_SCHEMA_VERSION);
	if (h->version < 0)
		return state_fail(
			err, errlen, KILN_EFORMAT,
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
		return state_fail(
			err, errlen, KILN_ENOTFOUND,
			"cannot create state database %s: its directory "
			"does not exist; create it first",
			path);
	if (fd < 0)
		return state_fail(err, errlen, KILN_ESYS,
				  "cannot open state database %s: %s", path,
				  strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return state_fail(
			err, errlen, KILN_EFORMAT,
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

		rc = state_db_prepare(s, "PRAGMA journal_mode = WAL", &st, err,
				      errlen);
		if (rc)
			return rc;
		if (sqlite3_step(st) == SQLITE_ROW) {
			mode = sqlite3_column_text(st, 0);
			rc = mode && !strcmp((const char *)mode, "wal")
				     ? 0
				     : state_fail(err, errlen, KILN_ESYS,
						  "state database %s: cannot "
						  "switch "
						  "to WAL mode (got '%s')",
						  s->path,
						  mode ? (char *)mode : "");
			s->busy = false;
		} else {
			rc = state_db_fail(s, err, errlen,
					   "switching to WAL mode");
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
		return state_db_fail(s, err, errlen, "setting busy_timeout");
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
		rc = state_db_write_tx(s, migrate_tx, NULL, err, errlen);
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
		return state_fail(err, errlen, KILN_ENOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		state_fail(err, errlen, KILN_ESYS, "cannot open %s: %s", dir,
			   strerror(errno));
		free(dir);
		return KILN_ESYS;
	}
	free(dir);
	/* Holders only run the short setup; a dead holder's lock is freed. */
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return state_fail(err, errlen, KILN_ESYS,
					  "cannot lock the directory of %s: %s",
					  path, strerror(errno));
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
		return state_fail(err, errlen, KILN_ENOMEM, "out of memory");
	}
	if (memory)
		flags |= SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		rc = s->db ? state_db_fail(s, err, errlen, "opening")
			   : state_fail(err, errlen, KILN_ENOMEM,
					"out of memory");
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
	int rc = state_db_query_int(s, "PRAGMA user_version", &v, err, errlen);

	if (!rc)
		*version = (int)v;
	return rc;
}

/* Copy of an untrusted string that is safe to print. */
void state_printable(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

int state_name_check(const char *name, char *err, size_t errlen)
{
	return state_name_check_what("sandbox", name, err, errlen);
}

int state_name_check_what(const char *what, const char *name, char *err,
			  size_t errlen)
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
	state_printable(shown, sizeof(shown), name);
	return state_fail(
		err, errlen, KILN_EINVAL,
		"invalid %s name '%s%s': use 1 to %d letters, "
		"digits, '_', '.' or '-', starting with a letter or digit",
		what, shown, n > STATE_NAME_MAX ? "..." : "", STATE_NAME_MAX);
}
