/* SPDX-License-Identifier: MIT */
/*
 * The library handle (struct kiln) as seen inside libkiln: resolved
 * options, the per-handle error message and logging helpers.
 */
#ifndef KILN_LIB_HANDLE_H
#define KILN_LIB_HANDLE_H

#include <stdbool.h>

#include "kiln.h"

struct kiln_sandbox;
struct state;

struct kiln {
	char *cache_dir;
	char *state_dir;
	char *runtime_dir;
	char *vmm_path; /* as given: absolute path or a name for $PATH */
	char *path_env; /* $PATH at kiln_open(), for looking up vmm_path */
	unsigned int boot_timeout_ms;
	/* $KILN_COLD_BOOT=1: boot every sandbox instead of restoring the
	 * base snapshot (debugging; much slower). */
	bool cold_boot;
	int cancel_fd;
	kiln_log_fn log;
	void *log_ctx;
	enum kiln_log_level log_level;

	char *errmsg; /* NULL means "" */

	/* live sandboxes, destroyed by kiln_close() if the caller forgot */
	struct kiln_sandbox *sandboxes;

	/* the state database, opened (and reconciled) on first use */
	struct state *state;
};

/*
 * Record a failure on k: the message replaces the previous one.  Returns
 * status, so callers write `return handle_fail(k, KILN_EINVAL, ...)`.
 */
int handle_fail(struct kiln *k, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append text to the current error message (e.g. console lines). */
void handle_fail_append(struct kiln *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log a message through the handle's logger if level is enabled. */
void handle_log(struct kiln *k, enum kiln_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True once the cancel fd (if any) is readable. */
bool handle_cancelled(const struct kiln *k);

/* A lookup function for environment variables (getenv, or a test table). */
typedef const char *(*handle_env_fn)(void *ctx, const char *name);

/*
 * Resolve opts plus the environment into k's fields (pure apart from
 * getuid()).  On failure returns a status and writes a message to
 * errbuf.  Used by kiln_open() and unit tests.
 */
int handle_resolve(struct kiln *k, const struct kiln_options *opts,
		   handle_env_fn env, void *env_ctx, char *errbuf,
		   size_t errlen);

/* Free what handle_resolve() allocated (not k itself). */
void handle_release(struct kiln *k);

#endif
