/* SPDX-License-Identifier: MIT */
/*
 * kiln: the command line over libkiln.  This file only dispatches; each
 * command lives in its own file (cmd_<name>.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kiln.h"

static const char usage[] =
	"usage: kiln COMMAND [ARGS...]\n"
	"\n"
	"kiln runs commands in KVM microVM sandboxes.\n"
	"\n"
	"commands:\n"
	"  run [OPTIONS] [--] CMD [ARGS...]   boot a microVM, run CMD, tear "
	"down\n"
	"\n"
	"  create [--name N] [OPTIONS]        boot a persistent sandbox, print "
	"its id\n"
	"  ls [--all] [--json]                list persistent sandboxes\n"
	"  inspect SANDBOX [--json]           show one sandbox\n"
	"  exec SANDBOX [OPTIONS] [--] CMD    run CMD in a running sandbox\n"
	"  cp SRC DST                         copy a file; SANDBOX:PATH on one "
	"side\n"
	"  ps SANDBOX [--json]                list the guest's processes\n"
	"  kill SANDBOX PID|--exec ID[@CONN] [-s SIG]  signal a guest process\n"
	"  port-forward SANDBOX [HOST:]PORT:GUEST_PORT  forward a host port "
	"until Ctrl-C\n"
	"  stop SANDBOX...                    stop (keeps the sandbox)\n"
	"  start SANDBOX...                   boot a stopped sandbox again\n"
	"  rm [--force] SANDBOX... | --all    stop and remove sandboxes\n"
	"\n"
	"  version                            print kiln's version\n"
	"  help                               show this help\n"
	"\n"
	"'kiln COMMAND --help' shows a command's options.\n"
	"\n"
	"exit status of 'kiln run' and 'kiln exec': CMD's own status (128+N if "
	"signal N killed "
	"it);\n"
	"  124 CMD timed out, 125 kiln failed (usage, setup, VM or agent "
	"failure),\n"
	"  126 CMD could not be executed, 127 CMD not found.  Other commands:\n"
	"  0 on success, 125 on failure.\n"
	"\n"
	"environment:\n"
	"  KILN_CACHE          kernel and image cache (default "
	"~/.cache/kiln)\n"
	"  KILN_VMM            path of kiln-vmm (default: next to kiln, then "
	"PATH)\n"
	"  KILN_BOOT_TIMEOUT   seconds to wait for a guest to boot (default "
	"300)\n"
	"  KILN_RUNTIME_DIR    where per-sandbox sockets and logs live\n"
	"  KILN_STATE          state directory (persistent sandboxes' "
	"state.db)\n"
	"  KILN_LOG            'info' or 'debug' for more messages on stderr\n"
	"\n"
	"See docs/CLI.md.\n";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} cmds[] = {
	{"create", cli_create},
	{"ls", cli_ls},
	{"inspect", cli_inspect},
	{"rm", cli_rm},
	{"stop", cli_stop},
	{"start", cli_start},
	{"exec", cli_exec},
	{"cp", cli_cp},
	{"ps", cli_ps},
	{"kill", cli_kill},
	{"port-forward", cli_port_forward},
};

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage, stderr);
		return CLI_EXIT_FAILURE;
	}
	if (!strcmp(cmd, "run"))
		return cli_run(argc - 2, argv + 2);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		if (argc > 2) {
			fprintf(stderr, "kiln %s: unexpected argument '%s'\n",
				cmd, argv[2]);
			return CLI_EXIT_FAILURE;
		}
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		if (argc > 2) {
			fprintf(stderr, "kiln %s: unexpected argument '%s'\n",
				cmd, argv[2]);
			return CLI_EXIT_FAILURE;
		}
		printf("kiln %s\n", KILN_VERSION);
		return 0;
	}
	fprintf(stderr, "kiln: unknown command '%s'; see 'kiln --help'\n", cmd);
	return CLI_EXIT_FAILURE;
}
