/* SPDX-License-Identifier: MIT */
/*
 * `kiln exec`, `kiln shell` and `kiln attach` options (see exec_args.h).
 * Strict like `kiln run`: unknown options, missing or malformed values and
 * options that make no sense together are errors naming the option.
 */
#include "cli/exec_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/exec_output.h"

#define EXIT_STATUS_TEXT                                                     \
	"exit status: CMD's (128+N if signal N killed it); 124 timed out;\n" \
	"125 kiln failed (no such sandbox, not running, agent lost); 126 "   \
	"CMD\n"                                                              \
	"could not be executed; 127 CMD not found; 128+N kiln stopped by\n"  \
	"signal N.\n"

const char exec_args_usage_exec[] =
	"usage: kiln exec SANDBOX [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"Run CMD in a running persistent sandbox, stream its stdout and\n"
	"stderr, and exit with its exit status.  SANDBOX is an id, a unique\n"
	"id prefix or a name.  Options end at \"--\" or at CMD.\n"
	"\n"
	"options:\n"
	"  -i, --interactive     copy kiln's stdin to CMD's stdin (default:\n"
	"                        CMD's stdin is empty)\n"
	"  -t, --tty             run CMD on a pseudo-terminal in the guest;\n"
	"                        if kiln's stdin is a terminal it is put in\n"
	"                        raw mode and window size changes follow\n"
	"  -e, --env NAME=VALUE  set an environment variable (repeatable)\n"
	"  -w, --workdir DIR     run CMD in DIR (absolute, default /)\n"
	"  -u, --user USER       run CMD as USER (a name or uid in the\n"
	"                        guest's /etc/passwd, or UID:GID exactly;\n"
	"                        default root)\n"
	"  --timeout S           kill CMD after S seconds (exit status 124)\n"
	"  --max-output SIZE     pass on at most SIZE bytes of CMD's stdout\n"
	"                        and of its stderr (K, M, G, T suffixes); the\n"
	"                        rest is counted and dropped, and kiln says "
	"so\n"
	"                        on stderr\n"
	"  --json                collect CMD's output and print one JSON\n"
	"                        object with it and how CMD ended (output\n"
	"                        capped at --max-output, default 16M, at most\n"
	"                        1G per stream; not with -t or -d)\n"
	"  -d, --detach          start CMD, print its session id and return;\n"
	"                        CMD keeps running ('kiln attach' to it)\n"
	"  --detach-keys KEYS    with -it on a terminal: the keys that detach\n"
	"                        (CMD keeps running, kiln exits 0 and prints\n"
	"                        the session for 'kiln attach'); default\n"
	"                        ctrl-p,ctrl-q, \"none\" disables\n"
	"  -h, --help            show this help\n"
	"\n"
	"Without -t, ^C stops kiln and kills CMD; with -t on a terminal ^C\n"
	"goes to CMD.\n"
	"\n" EXIT_STATUS_TEXT;

const char exec_args_usage_shell[] =
	"usage: kiln shell SANDBOX [-u USER] [-e NAME=VALUE]... [-w DIR]\n"
	"\n"
	"An interactive login shell in a running persistent sandbox: the\n"
	"user's shell from the guest's /etc/passwd (default /bin/sh) with -l,\n"
	"on a pseudo-terminal, like 'kiln exec -i -t SANDBOX -- SHELL -l'.\n"
	"\n"
	"options:\n"
	"  -u, --user USER       as USER (name or uid; default root)\n"
	"  -e, --env NAME=VALUE  set an environment variable (repeatable)\n"
	"  -w, --workdir DIR     start in DIR (absolute, default: the\n"
	"                        shell's choice, /)\n"
	"  --detach-keys KEYS    keys that detach from the shell, leaving it\n"
	"                        running (default ctrl-p,ctrl-q; \"none\")\n"
	"  -h, --help            show this help\n"
	"\n"
	"exit status: the shell's; 125 kiln failed.\n";

const char exec_args_usage_attach[] =
	"usage: kiln attach SANDBOX SESSION [-i] [-t]\n"
	"\n"
	"Attach to a command started with 'kiln exec --detach': print what it\n"
	"wrote while nobody was attached (the last 64 KiB per stream; a note\n"
	"on stderr says how much was dropped), then its output as it comes,\n"
	"until it ends; exit with its exit status.  Stopping kiln (^C\n"
	"without -t) leaves the command running, detached.\n"
	"\n"
	"options:\n"
	"  -i, --interactive     copy kiln's stdin to its stdin (it needs "
	"one:\n"
	"                        started with -i or -t); EOF is passed on\n"
	"  -t, --tty             it runs on a terminal: put kiln's terminal "
	"in\n"
	"                        raw mode and pass window size changes on\n"
	"  --detach-keys KEYS    with -it on a terminal: the keys that detach\n"
	"                        again (kiln exits 0; default ctrl-p,ctrl-q,\n"
	"                        \"none\" disables)\n"
	"  -h, --help            show this help\n"
	"\n" EXIT_STATUS_TEXT;

enum { OPT_TIMEOUT = 256, OPT_DETACH_KEYS, OPT_MAX_OUTPUT, OPT_JSON };

static const struct option longopts[] = {
	{"interactive", no_argument, NULL, 'i'},
	{"tty", no_argument, NULL, 't'},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"user", required_argument, NULL, 'u'},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"detach", no_argument, NULL, 'd'},
	{"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
	{"max-output", required_argument, NULL, OPT_MAX_OUTPUT},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The options each command takes (the rest are "not an option of"). */
static bool opt_allowed(enum exec_args_cmd cmd, int opt)
{
	switch (cmd) {
	case EXEC_ARGS_EXEC:
		return true;
	case EXEC_ARGS_SHELL:
		return opt == 'e' || opt == 'w' || opt == 'u' || opt == 'h' ||
		       opt == OPT_DETACH_KEYS;
	case EXEC_ARGS_ATTACH:
		return opt == 'i' || opt == 't' || opt == 'h' ||
		       opt == OPT_DETACH_KEYS;
	}
	return false;
}

static const char *opt_name(int opt)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return EXEC_ARGS_ERROR;
}

static int parse_session(const char *s, uint32_t *out, char *err, size_t errlen)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return set_err(err, errlen,
		       "'%s' is not a session id (a number printed by 'kiln "
		       "exec --detach')",
		       s);
}

static int one_opt(enum exec_args_cmd cmd, int opt, struct exec_args *a,
		   char *err, size_t errlen)
{
	switch (opt) {
	case 'i':
		a->interactive = true;
		return 0;
	case 't':
		a->tty = true;
		return 0;
	case 'd':
		a->detach = true;
		return 0;
	case 'e':
		if (!cli_env_valid(optarg))
			return set_err(err, errlen,
				       "-e: '%s' is not NAME=VALUE (NAME: "
				       "letters, digits, '_', not starting "
				       "with a digit)",
				       optarg);
		if (a->nenv >= EXEC_ENV_MAX)
			return set_err(err, errlen, "more than %d -e",
				       EXEC_ENV_MAX);
		a->env[a->nenv++] = optarg;
		return 0;
	case 'w':
		if (a->workdir)
			return set_err(err, errlen, "-w given twice");
		if (optarg[0] != '/')
			return set_err(err, errlen, "-w: '%s' is not absolute",
				       optarg);
		a->workdir = optarg;
		return 0;
	case 'u':
		if (a->user)
			return set_err(err, errlen, "-u given twice");
		if (!optarg[0] || strchr(optarg, ':') || strchr(optarg, '\n'))
			return set_err(err, errlen,
				       "-u: '%s' is not a user name or uid",
				       optarg);
		a->user = optarg;
		return 0;
	case OPT_DETACH_KEYS: /* checked by cmd_exec.c (detach_keys.c) */
		a->detach_keys = optarg;
		return 0;
	case OPT_MAX_OUTPUT:
		if (a->max_output)
			return set_err(err, errlen, "--max-output given twice");
		return exec_output_parse_size("--max-output", optarg,
					      KILN_EXEC_MAX_OUTPUT,
					      &a->max_output, err, errlen)
			       ? EXEC_ARGS_ERROR
			       : 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_TIMEOUT:
		if (a->timeout_s)
			return set_err(err, errlen, "--timeout given twice");
		return cli_parse_uint("--timeout", optarg, 1,
				      EXEC_TIMEOUT_MAX_S, " seconds",
				      &a->timeout_s, err, errlen)
			       ? EXEC_ARGS_ERROR
			       : 0;
	}
	(void)cmd;
	return EXEC_ARGS_ERROR;
}

enum exec_args_result exec_args_parse(enum exec_args_cmd cmd, int argc,
				      char **argv, struct exec_args *a,
				      char *err, size_t errlen)
{
	const char *pos[2] = {NULL, NULL};
	int npos = 0, want_pos = cmd == EXEC_ARGS_ATTACH ? 2 : 1;
	bool ended = false;

	memset(a, 0, sizeof(*a));
	optind = 1;
	opterr = 0;
	while (!ended) {
		int opt =
			getopt_long(argc, argv, "+:ite:w:u:dh", longopts, NULL);

		if (opt == -1) {
			bool dashdash = optind > 1 && optind <= argc &&
					!strcmp(argv[optind - 1], "--");

			/* positionals may come before the options */
			if (npos < want_pos && optind < argc) {
				pos[npos++] = argv[optind++];
				/* "exec -i -- SB CMD": CMD follows */
				ended = dashdash && cmd == EXEC_ARGS_EXEC;
			} else {
				ended = true;
			}
			continue;
		}
		if (opt == '?' || opt == ':') {
			const char *bad = argv[optind - 1];

			if (opt == ':')
				return set_err(err, errlen,
					       "option '%s' needs a value",
					       bad);
			return set_err(err, errlen, "unknown option '%s'", bad);
		}
		if (!opt_allowed(cmd, opt))
			return set_err(err, errlen,
				       "--%s is not an option of this command",
				       opt_name(opt));
		if (opt == 'h')
			return EXEC_ARGS_HELP;
		if (one_opt(cmd, opt, a, err, errlen) < 0)
			return EXEC_ARGS_ERROR;
	}
	if (npos == 0)
		return set_err(err, errlen, "no sandbox given");
	a->sandbox = pos[0];
	a->env[a->nenv] = NULL;
	switch (cmd) {
	case EXEC_ARGS_EXEC:
		if (optind >= argc)
			return set_err(err, errlen, "no command given");
		if (a->json && (a->tty || a->detach))
			return set_err(err, errlen,
				       "--json collects the output of a "
				       "command that runs to its end: not "
				       "with %s",
				       a->tty ? "-t" : "-d");
		if (a->json && a->max_output > KILN_EXEC_COLLECT_MAX)
			return set_err(
				err, errlen,
				"--max-output: with --json at most "
				"%llu bytes (1G) per stream",
				(unsigned long long)KILN_EXEC_COLLECT_MAX);
		if (!argv[optind][0])
			return set_err(err, errlen,
				       "the command name is empty");
		a->cmd = argv + optind;
		break;
	case EXEC_ARGS_SHELL:
		if (optind < argc)
			return set_err(err, errlen,
				       "unexpected argument '%s' (use 'kiln "
				       "exec -it' for a command)",
				       argv[optind]);
		a->interactive = a->tty = true;
		break;
	case EXEC_ARGS_ATTACH:
		if (npos < 2)
			return set_err(err, errlen, "no session id given");
		if (optind < argc)
			return set_err(err, errlen, "unexpected argument '%s'",
				       argv[optind]);
		if (parse_session(pos[1], &a->session, err, errlen) < 0)
			return EXEC_ARGS_ERROR;
		break;
	}
	return EXEC_ARGS_OK;
}
