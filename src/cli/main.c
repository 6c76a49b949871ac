/* SPDX-License-Identifier: MIT */
/*
 * kiln: the command line over libkiln.  This file only dispatches; each
 * command lives in its own file (cmd_<name>.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char usage[] =
	"usage: kiln [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
	"\n"
	"kiln runs commands in KVM microVM sandboxes.\n"
	"\n"
	"commands:\n"
	"  run [OPTIONS] [--] CMD [ARGS...]   boot a microVM, run CMD, tear "
	"down\n"
	"\n"
	"  create [--name N] [OPTIONS]        boot a persistent sandbox, print "
	"its id\n"
	"  create --from SANDBOX:CHECKPOINT   ... restored from a checkpoint\n"
	"  ls [--all] [--json]                list persistent sandboxes\n"
	"  inspect SANDBOX [--json]           show one sandbox\n"
	"  exec SANDBOX [OPTIONS] [--] CMD    run CMD in a running sandbox\n"
	"  shell SANDBOX [-u USER]            an interactive login shell in "
	"it\n"
	"  attach SANDBOX SESSION [-i] [-t]   reattach to 'exec --detach' CMD\n"
	"  cp [-r] SRC DST                    copy files/trees; SANDBOX:PATH\n"
	"  fs SANDBOX stat|ls|mkdir|rm|mv|sync ARGS  guest file operations\n"
	"  ps SANDBOX [--json]                list the guest's processes\n"
	"  kill SANDBOX PID|--exec ID[@CONN] [-s SIG]  signal a guest process\n"
	"  port-forward SANDBOX [HOST:]PORT:GUEST_PORT  forward a host port "
	"until Ctrl-C\n"
	"  network SANDBOX [POLICY OPTIONS]  show or replace its network "
	"policy\n"
	"  stop SANDBOX...                    stop (keeps the sandbox)\n"
	"  start SANDBOX...                   boot a stopped sandbox again\n"
	"  rm [--force] SANDBOX... | --all    stop and remove sandboxes\n"
	"  pause SANDBOX... [--json]          freeze a sandbox's vCPUs\n"
	"  resume SANDBOX... [--json]         let a paused sandbox run again\n"
	"  checkpoint [--json] SANDBOX NAME   save a sandbox's state as NAME\n"
	"  rollback [--json] SANDBOX NAME     go back to checkpoint NAME\n"
	"  fork [--count N] [--json] SANDBOX  new sandboxes from a running "
	"one\n"
	"  snapshot ls [--json] [SANDBOX]     list checkpoints\n"
	"  snapshot rm [--json] SANDBOX NAME... | --all-of SANDBOX  remove "
	"checkpoints\n"
	"  snapshot ls --base | prune [--all] [--dry-run]  base snapshots\n"
	"\n"
	"  doctor [--json]                    check that this host can run "
	"kiln\n"
	"\n"
	"  version [--json]                   print kiln's version\n"
	"  help                               show this help\n"
	"\n"
	"global options (before COMMAND):\n"
	"  --log-level LEVEL    error, warn (default), info or debug\n"
	"  --log-format FORMAT  text (default), json (one object per line) or "
	"none\n"
	"  -q, --quiet          no messages from libkiln but errors\n"
	"\n"
	"'kiln COMMAND --help' shows a command's options.\n"
	"\n"
	"exit status of 'kiln run' and 'kiln exec': CMD's own status (128+N if "
	"signal N killed "
	"it);\n"
	"  124 CMD timed out, 125 kiln failed (usage, setup, VM or agent "
	"failure),\n"
	"  126 CMD could not be executed, 127 CMD not found.  Other commands:\n"
	"  0 on success, 125 on failure (2: a usage error of 'kiln network'\n"
	"  or a bad network option of 'kiln create').\n"
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
	"  KILN_LOG            log level: error, warn (default), info, debug\n"
	"  KILN_LOG_FORMAT     log lines on stderr: text (default), json, "
	"none\n"
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
	{"shell", cli_shell},
	{"attach", cli_attach},
	{"cp", cli_cp},
	{"fs", cli_fs},
	{"ps", cli_ps},
	{"kill", cli_kill},
	{"port-forward", cli_port_forward},
	{"network", cli_network},
	{"pause", cli_pause},
	{"resume", cli_resume},
	{"checkpoint", cli_checkpoint},
	{"rollback", cli_rollback},
	{"fork", cli_fork},
	{"snapshot", cli_snapshot},
	{"doctor", cli_doctor},
};

/*
 * Global options before the command: --log-level L, --log-format F (also
 * as --opt=VALUE), -q/--quiet.  Returns how many arguments they took, or
 * -1 after printing why.
 */
static int global_options(int argc, char **argv)
{
	static const char *const with_value[] = {"--log-level", "--log-format"};
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		bool known = false;

		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli_log_option("-q", NULL);
			i++;
			continue;
		}
		for (size_t j = 0; j < 2 && !known; j++) {
			size_t n = strlen(with_value[j]);

			if (strncmp(a, with_value[j], n))
				continue;
			if (a[n] == '=') {
				known = true;
				if (cli_log_option(with_value[j], a + n + 1))
					return -1;
				i++;
			} else if (!a[n]) {
				known = true;
				if (i + 1 >= argc) {
					fprintf(stderr,
						"kiln: %s needs a value\n", a);
					return -1;
				}
				if (cli_log_option(with_value[j], argv[i + 1]))
					return -1;
				i += 2;
			}
		}
		if (!known)
			break; /* --help, --version, or an error below */
	}
	return i - 1;
}

int main(int argc, char **argv)
{
	int shift = global_options(argc, argv);
	const char *cmd;

	if (shift < 0)
		return CLI_EXIT_FAILURE;
	argc -= shift;
	argv += shift;
	cmd = argc > 1 ? argv[1] : NULL;

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
		if (argc == 3 && !strcmp(argv[2], "--json")) {
			printf("{\"version\": \"%s\"}\n", KILN_VERSION);
			return 0;
		}
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
