/* SPDX-License-Identifier: MIT */
/*
 * What `kiln exec`, `kiln shell` and `kiln attach` share (cmd_exec.c):
 * running a command, or attaching to a detached one, with the local
 * terminal set up for -t, and turning the outcome into kiln's exit code.
 */
#ifndef KILN_CLI_CMD_EXEC_H
#define KILN_CLI_CMD_EXEC_H

#include <stdint.h>

#include "cli/cli_common.h"
#include "cli/exec_args.h"
#include "kiln.h"

/*
 * Run a->cmd (argv: the command to run, overriding a->cmd when not NULL)
 * in sb, or attach to a->session (cmd == EXEC_ARGS_ATTACH), streaming to
 * kiln's stdout/stderr; returns the exit code.  Closes sb.
 */
int cli_exec_run(struct cli *c, struct kiln_sandbox *sb, enum exec_args_cmd cmd,
		 const struct exec_args *a, const char *const *argv);

/* `kiln shell`: find the user's login shell, run it (cmd_shell.c). */
int cli_shell_run(struct cli *c, struct kiln_sandbox *sb,
		  const struct exec_args *a);

/* Parse, print help or usage errors, open the sandbox: for each command. */
int cli_exec_main(enum exec_args_cmd cmd, int argc, char **argv);

#endif
