/* SPDX-License-Identifier: MIT */
/*
 * `kiln attach SANDBOX SESSION`: stream a detached command's output (and
 * with -i feed its stdin) until it ends; see cmd_exec.c.
 */
#include "cli/cli.h"
#include "cli/cmd_exec.h"

int cli_attach(int argc, char **argv)
{
	return cli_exec_main(EXEC_ARGS_ATTACH, argc, argv);
}
