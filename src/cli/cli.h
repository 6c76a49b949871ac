/* SPDX-License-Identifier: MIT */
/*
 * The kiln command line: one function per command, shared exit codes.
 */
#ifndef KILN_CLI_CLI_H
#define KILN_CLI_CLI_H

/* kiln's own exit codes (docs/CLI.md); others are the command's. */
/* usage errors of `kiln network` and of create's network options */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_TIMEOUT 124 /* the command ran into --timeout */
#define CLI_EXIT_FAILURE 125 /* kiln failed: usage, setup, VM, agent */
#define CLI_EXIT_CANNOT_EXEC 126 /* the command could not be executed */
#define CLI_EXIT_NOT_FOUND 127 /* the command was not found */

/* `kiln run ...`; argv[0] is the first argument after "run". */
int cli_run(int argc, char **argv);

/*
 * The persistent-sandbox commands; argv[0] is the command's name (for
 * getopt), argv[1] its first argument.
 */
int cli_create(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_start(int argc, char **argv);
int cli_exec(int argc, char **argv);
int cli_shell(int argc, char **argv);
int cli_attach(int argc, char **argv);
int cli_cp(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_kill(int argc, char **argv);
/* `kiln fs`: guest file operations (cmd_fs.c). */
int cli_fs(int argc, char **argv);
int cli_port_forward(int argc, char **argv);
int cli_pause(int argc, char **argv);
int cli_resume(int argc, char **argv);

/* Checkpoints and forks (cmd_checkpoint.c, cmd_fork.c, cmd_snapshot.c). */
int cli_checkpoint(int argc, char **argv);
int cli_rollback(int argc, char **argv);
int cli_fork(int argc, char **argv);
int cli_snapshot(int argc, char **argv);

/* `kiln network`: show or replace a network policy (cmd_network.c). */
int cli_network(int argc, char **argv);

/* `kiln doctor`: checks the host (cmd_doctor.c). */
int cli_doctor(int argc, char **argv);

#endif
