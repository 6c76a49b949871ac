/* SPDX-License-Identifier: MIT */
/*
 * The library handle (struct kiln) as seen inside libkiln: resolved
 * options, the per-handle error message and logging helpers.
 */
#ifndef KILN_LIB_HANDLE_H
#define KILN_LIB_HANDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "kiln.h"

struct hooks;
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
	/* jail each VMM when root (kiln_options.jail, not $KILN_JAIL=0) */
	bool jail;
	/* KILN_JAIL_NO_* (kiln_options.jail_relax | $KILN_JAIL_RELAX) */
	unsigned int jail_relax;
	int cancel_fd;
	kiln_log_fn log;
	void *log_ctx;
	enum kiln_log_level log_level;
	enum kiln_log_format log_format; /* used when log is NULL */

	char *errmsg; /* NULL means "" */

	/* live sandboxes, destroyed by kiln_close() if the caller forgot */
	struct kiln_sandbox *sandboxes;

	/* the state database, opened (and reconciled) on first use */
	struct state *state;
	/* kiln_options.state_store == KILN_STATE_MEMORY: private to k */
	bool state_memory;

	/* hooks and plugins (hooks.c); NULL until one is registered */
	struct hooks *hooks;
	/* the hook file; optional: <state_dir>/hooks, used if it exists */
	char *hooks_file;
	bool hooks_optional;
};

/*
 * Record a failure on k: the message replaces the previous one (and is
 * logged at debug level, tagged like handle_log()).  Returns status, so
 * callers write `return handle_fail(k, KILN_EINVAL, ...)`.
 */
int handle_fail_src(struct kiln *k, int status, const char *file,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define handle_fail(k, status, ...) \
	handle_fail_src((k), (status), __FILE__, __VA_ARGS__)

/* Append text to the current error message (e.g. console lines). */
void handle_fail_append(struct kiln *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Log a message through the handle's logger if level is enabled, tagged
 * with the subsystem: handle_log() derives the tag from the calling
 * source file's name (src/lib/sandbox_store.c -> "sandbox": up to the
 * first '_' or '.'), handle_log_at() takes it explicitly.
 */
void handle_log_at(struct kiln *k, enum kiln_log_level level, const char *tag,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void handle_log_src(struct kiln *k, enum kiln_log_level level, const char *file,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define handle_log(k, level, ...) \
	handle_log_src((k), (level), __FILE__, __VA_ARGS__)

/* The tag of a source file path into tag (at most len - 1 characters). */
void handle_log_tag(const char *file, char *tag, size_t len);

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
