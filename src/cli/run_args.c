/* SPDX-License-Identifier: MIT */
/*
 * `kiln run` options.  Strict: unknown options, missing or malformed
 * values, out-of-range numbers and repeated single-valued options are all
 * errors with a message naming the option, never silently ignored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/exec_output.h"
#include "cli/net_args.h"
#include "cli/run_args.h"
#include "kiln.h"

const char run_args_usage[] =
	"usage: kiln run [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"Boot a microVM, run CMD in it, stream its stdout and stderr, and\n"
	"exit with its exit status.  The VM is torn down afterwards.\n"
	"\n"
	"options:\n"
	"  --cpus N             vCPUs (1..32, default 1)\n"
	"  --memory MIB         guest memory in MiB (128..16384, default 256)\n"
	"  --kernel PATH        guest kernel (default "
	"$KILN_CACHE/kernel/vmlinux)\n"
	"  --image PATH         root file system, ext4, attached read-only\n"
	"                       (default $KILN_CACHE/images/base.ext4)\n"
	"  --timeout S          kill CMD after S seconds (exit status 124)\n"
	"  --boot-timeout S     wait at most S seconds for the guest to boot\n"
	"                       (default $KILN_BOOT_TIMEOUT or 300)\n"
	"  -e, --env NAME=VALUE set an environment variable for CMD "
	"(repeatable)\n"
	"  -w, --workdir DIR    run CMD in DIR (absolute, default /)\n"
	"  -n, --no-stdin       give CMD an empty stdin instead of kiln's\n"
	"  --max-output SIZE    pass on at most SIZE bytes of CMD's stdout "
	"and\n"
	"                       of its stderr (K, M, G, T suffixes); the rest\n"
	"                       is counted and dropped, and kiln says so\n"
	"  --json               collect CMD's output and print one JSON "
	"object\n"
	"                       with it and how CMD ended (capped at\n"
	"                       --max-output, default 16M, at most 1G)\n"
	"  -q, --quiet          no boot progress on stderr (errors still are)\n"
	"  --agent unix:PATH    run CMD through an already running kiln-agent\n"
	"                       instead of booting a microVM\n"
	"  -h, --help           show this help\n"
	"\n"
	"The VM has no network at all (no NIC); the network options of\n"
	"`kiln create` (--network, --allow-cidr, ...) are refused here.\n"
	"\n"
	"Boot progress goes to stderr as lines starting with \"kiln: \" (one\n"
	"updating line on a terminal); use --quiet to keep stderr for CMD "
	"only.\n"
	"\n"
	"exit status:\n"
	"  CMD's exit status, or 128+N if a signal N killed it\n"
	"  124  CMD ran longer than --timeout and was killed\n"
	"  125  kiln itself failed (bad usage, missing kernel or image, no "
	"KVM,\n"
	"       VM failure, boot timeout, lost agent)\n"
	"  126  CMD could not be executed in the guest\n"
	"  127  CMD was not found in the guest\n"
	"  128+N  kiln was stopped by signal N (the VM is torn down first)\n";

enum opt_id {
	OPT_CPUS,
	OPT_MEMORY,
	OPT_KERNEL,
	OPT_IMAGE,
	OPT_TIMEOUT,
	OPT_BOOT_TIMEOUT,
	OPT_ENV,
	OPT_WORKDIR,
	OPT_NO_STDIN,
	OPT_QUIET,
	OPT_AGENT,
	OPT_MAX_OUTPUT,
	OPT_JSON,
	OPT_HELP,
	OPT_COUNT,
};

struct opt_def {
	enum opt_id id;
	const char *lng; /* without "--" */
	char shrt; /* 0 if none */
	int has_value;
	int repeatable;
};

static const struct opt_def opts[] = {
	{OPT_CPUS, "cpus", 0, 1, 0},
	{OPT_MEMORY, "memory", 0, 1, 0},
	{OPT_KERNEL, "kernel", 0, 1, 0},
	{OPT_IMAGE, "image", 0, 1, 0},
	{OPT_TIMEOUT, "timeout", 0, 1, 0},
	{OPT_BOOT_TIMEOUT, "boot-timeout", 0, 1, 0},
	{OPT_ENV, "env", 'e', 1, 1},
	{OPT_WORKDIR, "workdir", 'w', 1, 0},
	{OPT_NO_STDIN, "no-stdin", 'n', 0, 0},
	{OPT_QUIET, "quiet", 'q', 0, 0},
	{OPT_AGENT, "agent", 0, 1, 0},
	{OPT_MAX_OUTPUT, "max-output", 0, 1, 0},
	{OPT_JSON, "json", 0, 0, 0},
	{OPT_HELP, "help", 'h', 0, 0},
};

static int opt_apply(const struct opt_def *d, const char *name, const char *val,
		     struct run_args *a, char *err, size_t errlen)
{
	switch (d->id) {
	case OPT_CPUS:
		return cli_parse_uint(name, val, KILN_CPUS_MIN, KILN_CPUS_MAX,
				      "", &a->cpus, err, errlen);
	case OPT_MEMORY:
		return cli_parse_uint(name, val, KILN_MEMORY_MIB_MIN,
				      KILN_MEMORY_MIB_MAX, " MiB",
				      &a->memory_mib, err, errlen);
	case OPT_TIMEOUT:
		return cli_parse_uint(name, val, 1, RUN_TIMEOUT_MAX_S,
				      " seconds", &a->timeout_s, err, errlen);
	case OPT_BOOT_TIMEOUT:
		return cli_parse_uint(name, val, 1, RUN_BOOT_TIMEOUT_MAX_S,
				      " seconds", &a->boot_timeout_s, err,
				      errlen);
	case OPT_KERNEL:
	case OPT_IMAGE:
		if (!*val) {
			snprintf(err, errlen, "%s: empty path", name);
			return -1;
		}
		*(d->id == OPT_KERNEL ? &a->kernel : &a->image) = val;
		return 0;
	case OPT_WORKDIR:
		if (val[0] != '/') {
			snprintf(err, errlen,
				 "%s: '%s' is not an absolute path", name, val);
			return -1;
		}
		a->workdir = val;
		return 0;
	case OPT_AGENT:
		if (strncmp(val, "unix:", 5) || !val[5]) {
			snprintf(err, errlen, "%s: '%s' is not unix:PATH", name,
				 val);
			return -1;
		}
		a->agent = val;
		return 0;
	case OPT_ENV:
		if (!cli_env_valid(val)) {
			snprintf(err, errlen,
				 "%s: '%s' is not NAME=VALUE (NAME: letters, "
				 "digits, '_', not starting with a digit)",
				 name, val);
			return -1;
		}
		if (a->nenv >= RUN_ENV_MAX) {
			snprintf(err, errlen, "%s: more than %d variables",
				 name, RUN_ENV_MAX);
			return -1;
		}
		a->env[a->nenv++] = val;
		a->env[a->nenv] = NULL;
		return 0;
	case OPT_NO_STDIN:
		a->no_stdin = true;
		return 0;
	case OPT_QUIET:
		a->quiet = true;
		return 0;
	case OPT_MAX_OUTPUT:
		return exec_output_parse_size(name, val, KILN_EXEC_MAX_OUTPUT,
					      &a->max_output, err, errlen);
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_HELP:
	case OPT_COUNT:
		break;
	}
	return 0;
}

/* Whether arg is a network policy option ("--network", "--publish=..."). */
static bool net_opt_named(const char *arg)
{
	size_t n = strcspn(arg, "=");

	for (size_t i = 0; arg[0] == '-' && arg[1] == '-' && i < NET_OPT_COUNT;
	     i++)
		if (strlen(net_opt_names[i]) == n - 2 &&
		    !strncmp(arg + 2, net_opt_names[i], n - 2))
			return true;
	return false;
}

/* Look arg up; *inline_val gets the part after '=' of --name=value. */
static const struct opt_def *opt_find(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	if (arg[1] == '-') {
		const char *name = arg + 2;
		size_t n = strcspn(name, "=");

		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			if (strlen(opts[i].lng) == n &&
			    !strncmp(opts[i].lng, name, n)) {
				if (name[n] == '=')
					*inline_val = name + n + 1;
				return &opts[i];
			}
		}
		return NULL;
	}
	if (arg[1] && !arg[2]) {
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (opts[i].shrt && opts[i].shrt == arg[1])
				return &opts[i];
	}
	return NULL;
}

enum run_args_result run_args_parse(int argc, char **argv, struct run_args *out,
				    char *err, size_t errlen)
{
	int seen[OPT_COUNT] = {0};
	int i;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *val;
		const struct opt_def *d;
		char name[64];

		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (arg[0] != '-' || !arg[1])
			break; /* the command starts here */
		d = opt_find(arg, &val);
		if (!d && net_opt_named(arg)) {
			snprintf(err, errlen,
				 "%.*s: a 'kiln run' sandbox has no network "
				 "(no namespace, no NIC); for a network use "
				 "'kiln create %.*s ...' and 'kiln exec'",
				 (int)strcspn(arg, "="), arg,
				 (int)strcspn(arg, "="), arg);
			return RUN_ARGS_ERROR;
		}
		if (!d) {
			snprintf(err, errlen, "unknown option '%s'", arg);
			return RUN_ARGS_ERROR;
		}
		if (arg[1] == '-')
			snprintf(name, sizeof(name), "--%s", d->lng);
		else
			snprintf(name, sizeof(name), "-%c", d->shrt);
		if (d->id == OPT_HELP)
			return RUN_ARGS_HELP;
		if (!d->has_value && val) {
			snprintf(err, errlen, "%s takes no value", name);
			return RUN_ARGS_ERROR;
		}
		if (d->has_value && !val) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%s needs a value", name);
				return RUN_ARGS_ERROR;
			}
			val = argv[++i];
		}
		if (seen[d->id]++ && !d->repeatable) {
			snprintf(err, errlen, "%s given more than once", name);
			return RUN_ARGS_ERROR;
		}
		if (opt_apply(d, name, val ? val : "", out, err, errlen))
			return RUN_ARGS_ERROR;
	}
	if (i >= argc) {
		snprintf(err, errlen, "no command given");
		return RUN_ARGS_ERROR;
	}
	if (!argv[i][0]) {
		snprintf(err, errlen, "the command name is empty");
		return RUN_ARGS_ERROR;
	}
	if (out->agent && (out->kernel || out->image || out->cpus ||
			   out->memory_mib || out->boot_timeout_s)) {
		snprintf(err, errlen,
			 "--agent uses a running agent; --kernel, --image, "
			 "--cpus, --memory and --boot-timeout do not apply");
		return RUN_ARGS_ERROR;
	}
	if (out->json && out->max_output > KILN_EXEC_COLLECT_MAX) {
		snprintf(err, errlen,
			 "--max-output: with --json at most %llu bytes (1G) "
			 "per stream",
			 (unsigned long long)KILN_EXEC_COLLECT_MAX);
		return RUN_ARGS_ERROR;
	}
	out->cmd = argv + i;
	return RUN_ARGS_OK;
}
