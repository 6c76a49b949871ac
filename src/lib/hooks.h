/* SPDX-License-Identifier: MIT */
/*
 * Hooks inside libkiln: events (kiln.h, "Hooks and plugins") delivered to
 * callbacks, plugins (plugin.c) and hook commands (hooks_cmd.c).
 *
 * Emitting: the code doing an operation calls hooks_emit() with
 * KILN_EV_BEFORE_* before it does or records anything (a veto returns
 * KILN_EVETO with k's message set: fail with it), then exactly one of
 * hooks_emit(KILN_EV_AFTER_*) on success or hooks_emit_error() with the
 * operation's phase on failure.  Events are delivered synchronously, in
 * the order emitted: callbacks first, then commands.
 *
 * For the network code: after setting up, tearing down or changing the
 * policy of a sandbox's network,
 *     hooks_emit(k, KILN_EV_NET_SETUP, id, name, details);
 * (details: a JSON object such as {"slot":3,"policy":"allow_all"}, or
 * NULL) and on failure
 *     hooks_emit_error(k, "net_setup", id, name, rc);
 * which takes the message from kiln_errmsg(k) and leaves it unchanged.
 */
#ifndef KILN_LIB_HOOKS_H
#define KILN_LIB_HOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

#define HOOKS_TIMEOUT_DEFAULT_MS 10000u
#define HOOKS_TIMEOUT_MAX_S 3600u
#define HOOKS_STDERR_MAX 4096 /* kept of a command's stderr */

struct hook_cb {
	kiln_hook_fn fn;
	void *ctx;
	char *name; /* "callback" or "plugin <name>" */
};

struct hook_cmd {
	char *pattern; /* fnmatch(3) over event names */
	char *command; /* for /bin/sh -c */
	char *where; /* "<file>:<line>" or "kiln_add_hook_command" */
};

struct hook_plugin {
	void *dl;
	char *path;
	struct kiln_plugin p;
};

struct hooks {
	struct hook_cb *cbs;
	size_t n_cbs;
	struct hook_cmd *cmds;
	size_t n_cmds;
	struct hook_plugin *plugins;
	size_t n_plugins;
	unsigned int timeout_ms;
	uint64_t seq;
};

/* One event to deliver; NULL strings are "", details is borrowed. */
struct hooks_event {
	enum kiln_event event;
	const char *id;
	const char *name;
	const char *phase;
	int code;
	const char *msg;
	const char *old_state;
	const char *new_state;
	json_t *details;
};

/*
 * Set up k's hooks from opts (callback, plugins, hook file; the file
 * path resolved by kiln_open() is hooks_file, NULL for none).  On
 * failure returns a status with a message in err; hooks_free() still
 * releases what was set up.
 */
int hooks_init(struct kiln *k, const struct kiln_options *opts,
	       const char *hooks_file, char *err, size_t errlen);

/* Call the plugins' fini, unload them, free everything (k->hooks NULL). */
void hooks_free(struct kiln *k);

/*
 * Deliver ev to every hook in order.  before_*: KILN_EVETO with k's
 * error message set when a hook refused, else KILN_OK.  Other events
 * always KILN_OK; k's error message is never changed by them.
 */
int hooks_deliver(struct kiln *k, const struct hooks_event *ev);

/* hooks_deliver() of an event without error or state fields. */
int hooks_emit(struct kiln *k, enum kiln_event event, const char *id,
	       const char *name, json_t *details);

/*
 * For operations: hooks_before() emits a before_* event and, if it was
 * vetoed, the error event for phase; returns KILN_OK or KILN_EVETO.
 * hooks_after() emits the after_* event if rc is KILN_OK, else the error
 * event for phase; returns rc.  Both take details (may be NULL) over.
 */
int hooks_before(struct kiln *k, enum kiln_event event, const char *phase,
		 const char *id, const char *name, json_t *details);
int hooks_after(struct kiln *k, int rc, enum kiln_event event,
		const char *phase, const char *id, const char *name,
		json_t *details);

/* An error event for phase, with code and kiln_errmsg(k). */
void hooks_emit_error(struct kiln *k, const char *phase, const char *id,
		      const char *name, int code);

/*
 * The state store's observer (state_set_observer()): ctx is the struct
 * kiln.  from < 0: the sandbox was just recorded.
 */
void hooks_state_observer(void *ctx, const char *id, const char *name, int from,
			  int to);

/* Add a callback named name (for messages) after the others. */
int hooks_cb_add(struct kiln *k, kiln_hook_fn fn, void *ctx, const char *name);

/* Whether any hook is registered (to skip building details). */
bool hooks_active(const struct kiln *k);

/* The event as the JSON object hook commands get on stdin. */
json_t *hooks_event_json(const struct hooks_event *ev, uint64_t seq);

/* ---- hooks_cmd.c ---- */

/*
 * Parse the hook configuration in text (from file, for messages) into k:
 * "PATTERN COMMAND" lines, "timeout SECONDS", "plugin PATH" (loaded at
 * once), '#' comments, blank lines.
 */
int hooks_config_parse(struct kiln *k, const char *file, const char *text,
		       char *err, size_t errlen);

/* Read and parse a hook configuration file (owner and mode checked). */
int hooks_config_load(struct kiln *k, const char *path, char *err,
		      size_t errlen);

/*
 * Run one hook command with json on its stdin.  Returns 0 when it exited
 * 0; else 1 with why (its stderr's first line, or what happened: exit
 * status, signal, timeout) in msg.
 */
int hooks_cmd_run(struct kiln *k, const struct hook_cmd *c, const char *json,
		  const char *event, char *msg, size_t msglen);

/* Add a command (copies); KILN_EINVAL/KILN_ENOMEM with err. */
int hooks_cmd_add(struct kiln *k, const char *pattern, const char *command,
		  const char *where, char *err, size_t errlen);

/* ---- plugin.c ---- */

/* kiln_load_plugin() with the message in err instead of on k. */
int plugin_load(struct kiln *k, const char *path, char *err, size_t errlen);

/* dlclose() a plugin's handle. */
void plugin_unload(void *dl);

#endif
