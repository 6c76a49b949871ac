/* SPDX-License-Identifier: MIT */
/*
 * `kiln kill`: send a signal to a process in a running persistent
 * sandbox's guest, by pid or (--exec ID[@CONN], as `kiln ps` shows it) to
 * the whole process group of a command started by exec.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

/* Belongs in cli/cli.h next to the other commands. */

static const char usage[] =
	"usage: kiln kill SANDBOX PID [-s SIGNAL] [--json]\n"
	"       kiln kill SANDBOX --exec ID[@CONN] [-s SIGNAL] [--json]\n"
	"\n"
	"Send SIGNAL (default TERM) to guest process PID, or to the process\n"
	"group of the command started by exec ID (on agent connection CONN;\n"
	"both as the EXEC column of 'kiln ps' shows them).  PID 1 is the\n"
	"guest's init (the kiln agent) and is refused: use 'kiln stop'.\n"
	"\n"
	"options:\n"
	"  -s, --signal SIG   a name (TERM, SIGKILL, int) or a number\n"
	"  --exec ID[@CONN]   signal an exec's process group instead of a pid\n"
	"  --json             print what was signalled as JSON (docs/CLI.md)\n"
	"  -h, --help         show this help\n"
	"\n"
	"exit status: 0 sent; 1 no such process; 125 other failures.\n";

static const struct option kill_opts[] = {
	{"signal", required_argument, NULL, 's'},
	{"exec", required_argument, NULL, 'x'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* A signal name (with or without SIG, any case) or number; 0 if bad. */
static int parse_signal(const char *s)
{
	unsigned int n;
	char err[128];

	if (*s >= '0' && *s <= '9')
		return cli_parse_uint("-s", s, 1, NSIG - 1, "", &n, err,
				      sizeof(err))
			       ? 0
			       : (int)n;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);

		if (name && !strcasecmp(name, s))
			return i;
	}
	return 0;
}

/* "ID" or "ID@CONN". */
static int parse_exec(const char *s, uint32_t *id, uint32_t *conn)
{
	unsigned int a, b = 0;
	char buf[64], err[128];
	char *at;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	at = strchr(buf, '@');
	if (at)
		*at++ = 0;
	if (cli_parse_uint("--exec", buf, 1, 4294967295ul, "", &a, err,
			   sizeof(err)) ||
	    (at && cli_parse_uint("--exec", at, 1, 4294967295ul, "", &b, err,
				  sizeof(err))))
		return -1;
	*id = a;
	*conn = b;
	return 0;
}

int cli_kill(int argc, char **argv)
{
	uint32_t exec_id = 0, exec_conn = 0;
	const char *ref, *exec_arg = NULL;
	struct kiln_sandbox *sb;
	unsigned int pid = 0;
	bool json = false;
	int opt, rc, code, sig = SIGTERM;
	char err[128];
	struct cli c;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:h", kill_opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sig = parse_signal(optarg);
			if (!sig)
				return cli_usage_error(
					"kill", "-s: unknown signal '%s'",
					optarg);
			break;
		case 'x':
			exec_arg = optarg;
			if (parse_exec(optarg, &exec_id, &exec_conn))
				return cli_usage_error(
					"kill",
					"--exec: '%s' is not ID or ID@CONN",
					optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_getopt_error("kill", opt, argv, optind,
						optopt);
		}
	}
	if (optind >= argc)
		return cli_usage_error("kill", "no sandbox given");
	ref = argv[optind++];
	if (exec_arg && optind < argc)
		return cli_usage_error("kill",
				       "give a PID or --exec, not both");
	if (!exec_arg) {
		if (optind >= argc)
			return cli_usage_error("kill", "no pid given");
		if (cli_parse_uint("PID", argv[optind], 1, 2147483647ul, "",
				   &pid, err, sizeof(err)))
			return cli_usage_error("kill", "%s", err);
		if (pid == 1)
			return cli_usage_error(
				"kill",
				"pid 1 is the guest's init (the kiln agent); "
				"use 'kiln stop' to stop the sandbox");
		optind++;
	}
	if (optind < argc)
		return cli_usage_error("kill", "unexpected argument '%s'",
				       argv[optind]);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, ref, &sb);
	if (!rc) {
		rc = kiln_sandbox_kill(sb, (int)pid, exec_id, exec_conn, sig);
		kiln_sandbox_close(sb);
	}
	if (rc == KILN_ENOTFOUND) {
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c.k));
		code = 1;
	} else {
		code = rc ? cli_fail(&c, rc) : 0;
	}
	if (!rc && json)
		code = cli_json_print(json_pack(
			"{s:s, s:o, s:o, s:o, s:i, s:s}", "sandbox", ref, "pid",
			pid ? json_integer(pid) : json_null(), "exec",
			exec_arg ? json_integer(exec_id) : json_null(),
			"exec_conn",
			exec_arg && exec_conn ? json_integer(exec_conn)
					      : json_null(),
			"signal", sig, "signal_name",
			sigabbrev_np(sig) ? sigabbrev_np(sig) : "?"));
	cli_close(&c);
	return code;
}
