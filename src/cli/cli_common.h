/* SPDX-License-Identifier: MIT */
/*
 * What every kiln command shares: opening libkiln with kiln's logger,
 * signal handling through a signalfd (the library's cancel fd), boot
 * progress on stderr, streaming output to a file descriptor.
 */
#ifndef KILN_CLI_CLI_COMMON_H
#define KILN_CLI_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

struct cli_progress {
	bool tty;
	bool line_open; /* a tty status line is on screen */
	uint64_t next_ms; /* next plain line (not a tty) */
};

struct cli_output {
	int fd;
	int err; /* errno of a failed write */
};

struct cli {
	struct kiln *k;
	int sfd; /* signalfd of SIGINT/SIGTERM/SIGHUP/SIGQUIT */
	struct cli_progress prog;
};

/*
 * Block the stop signals into a signalfd and open libkiln with it as the
 * cancel fd (boot_timeout_s 0: the library default).  Prints why on
 * failure and returns -1.
 */
int cli_open(struct cli *c, unsigned int boot_timeout_s);

/*
 * A global logging option (main.c): "--log-level" LEVEL, "--log-format"
 * FORMAT, or "-q" (value NULL: no libkiln messages).  Prints why and
 * returns -1 for a bad value.  Unset ones come from $KILN_LOG and
 * $KILN_LOG_FORMAT in cli_open().
 */
int cli_log_option(const char *opt, const char *value);
void cli_close(struct cli *c);

/* The signal that stopped us (0 if none): read from the signalfd. */
int cli_signal_received(struct cli *c);

/* A kiln_progress_fn printing boot progress (ctx: struct cli_progress). */
void cli_progress_show(void *ctx, enum kiln_phase phase, uint64_t elapsed_ms,
		       const char *console_line);
void cli_progress_clear(struct cli_progress *p);

/* A kiln_output_fn writing everything to ((struct cli_output *)ctx)->fd. */
int cli_output_write(void *ctx, const void *buf, size_t len);

/* Parse a whole decimal number in [min, max]; message names opt. */
int cli_parse_uint(const char *opt, const char *s, unsigned long min,
		   unsigned long max, const char *unit, unsigned int *out,
		   char *err, size_t errlen);

/* NAME=VALUE with NAME of letters, digits, '_', not starting with a digit */
bool cli_env_valid(const char *s);

/*
 * Report a failed libkiln call ("kiln: <message>") or, when a signal
 * cancelled it, "kiln: stopped by SIGx".  Returns the exit code to use.
 */
int cli_fail(struct cli *c, int rc);

/* kiln run / kiln exec: the exit code for a kiln_sandbox_exec() result. */
int cli_exec_exit_code(int rc, const struct kiln_exec_result *res);

/*
 * getopt_long() returned '?' or ':' (c): print what was wrong (opt is
 * optopt) and return the usage exit code.  optind_now: optind then.
 */
int cli_getopt_error(const char *cmd, int c, char **argv, int optind_now,
		     int opt);

/* "kiln CMD: <message>" + a pointer to --help; returns the exit code. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A persistent sandbox as JSON (docs/CLI.md, "JSON output"): a new
 * reference, NULL when out of memory.
 */
struct json_t;
struct json_t *cli_sandbox_json(const struct kiln_sandbox_info *info);

/*
 * A checkpoint as JSON (docs/CLI.md, `kiln snapshot ls`), and what
 * `kiln rollback --json` prints: {"sandbox": its object after the
 * rollback, "checkpoint": the checkpoint's}.  NULL when out of memory.
 */
struct json_t *cli_checkpoint_json(const struct kiln_checkpoint_info *i);
struct json_t *cli_rollback_json(const struct kiln_sandbox_info *sb,
				 const struct kiln_checkpoint_info *cp);

/*
 * Print o (consumed) on stdout, indented, with a newline.  Returns 0, or
 * CLI_EXIT_FAILURE (message printed) if o is NULL or writing failed.
 */
int cli_json_print(struct json_t *o);

#endif
