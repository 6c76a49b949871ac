/* SPDX-License-Identifier: MIT */
/*
 * `kiln exec`: run a command in a running persistent sandbox, stream its
 * output, exit with its status (the same codes as `kiln run`).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

#define EXEC_ENV_MAX 256
#define EXEC_TIMEOUT_MAX_S 604800u

static const char usage[] =
	"usage: kiln exec SANDBOX [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"Run CMD in a running persistent sandbox, stream its stdout and\n"
	"stderr, and exit with its exit status.  SANDBOX is an id, a unique\n"
	"id prefix or a name.  Options end at \"--\" or at CMD.\n"
	"\n"
	"options:\n"
	"  -i, --interactive     copy kiln's stdin to CMD's stdin (default:\n"
	"                        CMD's stdin is empty)\n"
	"  -e, --env NAME=VALUE  set an environment variable (repeatable)\n"
	"  -w, --workdir DIR     run CMD in DIR (absolute, default /)\n"
	"  --timeout S           kill CMD after S seconds (exit status 124)\n"
	"  -h, --help            show this help\n"
	"\n"
	"exit status: CMD's (128+N if signal N killed it); 124 timed out;\n"
	"125 kiln failed (no such sandbox, not running, agent lost); 126 CMD\n"
	"could not be executed; 127 CMD not found; 128+N kiln stopped by\n"
	"signal N (CMD is killed).\n";

static const struct option longopts[] = {
	{"interactive", no_argument, NULL, 'i'},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"timeout", required_argument, NULL, 'T'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

int cli_exec(int argc, char **argv)
{
	struct cli_output out = {.fd = STDOUT_FILENO};
	struct cli_output errout = {.fd = STDERR_FILENO};
	const char *env[EXEC_ENV_MAX + 1] = {NULL}, *ref = NULL;
	const char *workdir = NULL;
	struct kiln_exec_result res = {0};
	unsigned int timeout_s = 0;
	struct kiln_sandbox *sb;
	bool interactive = false, ended = false;
	struct kiln_exec ex;
	char err[256];
	struct cli c;
	int opt, rc, code, nenv = 0, sig;

	optind = 1;
	opterr = 0;
	while (!ended) {
		opt = getopt_long(argc, argv, "+:ie:w:h", longopts, NULL);
		switch (opt) {
		case -1: {
			/* the sandbox may come before or after the options */
			bool dashdash = optind > 1 && optind <= argc &&
					!strcmp(argv[optind - 1], "--");

			if (!ref && optind < argc) {
				ref = argv[optind++];
				ended = dashdash;
			} else {
				ended = true;
			}
			break;
		}
		case 'i':
			interactive = true;
			break;
		case 'e':
			if (!cli_env_valid(optarg))
				return cli_usage_error(
					"exec",
					"-e: '%s' is not NAME=VALUE (NAME: "
					"letters, digits, '_', not starting "
					"with a digit)",
					optarg);
			if (nenv >= EXEC_ENV_MAX)
				return cli_usage_error("exec",
						       "more than %d -e",
						       EXEC_ENV_MAX);
			env[nenv++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error(
					"exec", "-w: '%s' is not absolute",
					optarg);
			workdir = optarg;
			break;
		case 'T':
			if (cli_parse_uint("--timeout", optarg, 1,
					   EXEC_TIMEOUT_MAX_S, " seconds",
					   &timeout_s, err, sizeof(err)))
				return cli_usage_error("exec", "%s", err);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_getopt_error("exec", opt, argv, optind,
						optopt);
		}
	}
	if (!ref)
		return cli_usage_error("exec", "no sandbox given");
	if (optind >= argc)
		return cli_usage_error("exec", "no command given");
	if (!argv[optind][0])
		return cli_usage_error("exec", "the command name is empty");

	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, ref, &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	kiln_exec_init(&ex);
	ex.argv = (const char *const *)(argv + optind);
	ex.env = nenv ? env : NULL;
	ex.cwd = workdir;
	ex.timeout_ms = timeout_s * 1000u;
	ex.on_stdout = cli_output_write;
	ex.stdout_ctx = &out;
	ex.on_stderr = cli_output_write;
	ex.stderr_ctx = &errout;
	ex.stdin_fd = interactive ? STDIN_FILENO : -1;
	rc = kiln_sandbox_exec(sb, &ex, &res);
	code = cli_exec_exit_code(rc, &res);
	if (rc == KILN_ECANCELED && (sig = cli_signal_received(&c)) > 0) {
		fprintf(stderr,
			"kiln: stopped by SIG%s; the command was "
			"killed\n",
			sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		code = 128 + sig;
	} else if (rc == KILN_ECANCELED && (out.err || errout.err)) {
		int e = out.err ? out.err : errout.err;

		code = e == EPIPE ? 128 + SIGPIPE : CLI_EXIT_FAILURE;
		if (e != EPIPE)
			fprintf(stderr,
				"kiln: cannot write the command's output: "
				"%s\n",
				strerror(e));
	} else if (rc) {
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c.k));
	}
	kiln_sandbox_close(sb);
	cli_close(&c);
	return code;
}
