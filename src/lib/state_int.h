/* SPDX-License-Identifier: MIT */
/*
 * Inside the state store: what state.c (the database, its schema and
 * transactions) shares with state_sandbox.c (the sandbox rows).
 */
#ifndef KILN_LIB_STATE_INT_H
#define KILN_LIB_STATE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/state.h"

struct state {
	sqlite3 *db;
	char *path;
	bool busy; /* the last SQLite failure was SQLITE_BUSY */
	state_observer_fn observe; /* state_set_observer() */
	void *observe_ctx;
};

/* Write a message to err and return rc. */
int state_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The connection's last SQLite error as a kiln status + message. */
int state_db_fail(struct state *s, char *err, size_t errlen, const char *what);

int state_db_prepare(struct state *s, const char *sql, sqlite3_stmt **st,
		     char *err, size_t errlen);

/* Run a query returning one integer. */
int state_db_query_int(struct state *s, const char *sql, int64_t *v, char *err,
		       size_t errlen);

/*
 * Run fn in a BEGIN IMMEDIATE transaction, retried a bounded number of
 * times while the database stays busy.
 */
int state_db_write_tx(struct state *s,
		      int (*fn)(struct state *, void *, char *, size_t),
		      void *ctx, char *err, size_t errlen);

/* Copy of an untrusted string that is safe to print. */
void state_printable(char *dst, size_t len, const char *src);

#endif
