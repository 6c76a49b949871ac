/* SPDX-License-Identifier: MIT */
/*
 * `kiln network SANDBOX [POLICY OPTIONS]`: show a sandbox's network policy,
 * or replace it with the one the options describe (docs/CLI.md).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/net_args.h"
#include "kiln.h"

static const char usage_head[] =
	"usage: kiln network SANDBOX [--json] [POLICY OPTIONS]\n"
	"\n"
	"Without policy options, show the network policy of a persistent\n"
	"sandbox.  With them, replace its policy by exactly what they say\n"
	"(an option left out takes its default: `kiln network SB "
	"--bandwidth 1m`\n"
	"alone means policy none with a limit), atomically, whether it runs "
	"or\n"
	"not; a stopped sandbox gets it when it starts.  Needs root.\n"
	"\n"
	"options:\n"
	"  --json               print the (new) policy as JSON (docs/CLI.md)\n"
	"  -h, --help           show this help\n"
	"\n";

static const char usage_tail[] =
	"\n"
	"exit status: 0 done; 2 usage error (bad option or value, "
	"contradictory\n"
	"options); 125 failed (no such sandbox, no network namespace, "
	"not root).\n";

static const struct option longopts[] = {
	NET_ARGS_LONGOPTS,
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kiln network: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'kiln network --help'\n");
	return CLI_EXIT_USAGE;
}

/* Print ref's recorded policy (text or JSON). */
static int show(struct cli *c, const char *ref, bool json)
{
	struct kiln_sandbox_info info;
	struct kiln_net_policy p;
	json_t *o = NULL;
	int rc, code = 0;

	rc = kiln_sandbox_get(c->k, ref, &info);
	if (rc)
		return cli_fail(c, rc);
	rc = kiln_sandbox_get_network(c->k, info.id, &p);
	if (rc && rc != KILN_ESTATE) {
		code = cli_fail(c, rc);
	} else if (json) {
		o = json_pack(
			"{s:s, s:o, s:o}", "id", info.id, "name",
			info.name[0] ? json_string(info.name) : json_null(),
			"network",
			rc ? json_null() : net_policy_json(&p, info.net_slot));
		code = cli_json_print(o);
	} else {
		printf("sandbox:      %s%s%s%s\n", info.id,
		       info.name[0] ? " (" : "", info.name,
		       info.name[0] ? ")" : "");
		if (rc)
			printf("network:      none (no network namespace)\n");
		else
			net_policy_print(&p, info.net_slot, "", stdout);
		if (fflush(stdout) == EOF)
			code = CLI_EXIT_FAILURE;
	}
	kiln_net_policy_clear(&p);
	kiln_sandbox_info_clear(&info);
	return code;
}

int cli_network(int argc, char **argv)
{
	struct kiln_net_policy pol;
	struct net_args na;
	bool json = false;
	char err[512];
	struct cli c;
	int opt, rc, code;

	net_args_init(&na);
	optind = 1;
	opterr = 0;
	/* no '+': options may follow the sandbox */
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt >= NET_OPT_BASE) {
			if (net_args_add(&na,
					 (enum net_opt)(opt - NET_OPT_BASE),
					 optarg, err, sizeof(err)))
				return usage_error("%s", err);
			continue;
		}
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_head, stdout);
			fputs(net_args_help, stdout);
			fputs(usage_tail, stdout);
			return 0;
		case ':':
			return usage_error("%s needs a value",
					   argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'",
						   optopt);
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("no sandbox given");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'",
				   argv[optind + 1]);
	if (!argv[optind][0])
		return usage_error("empty sandbox reference");
	if (na.given && net_args_finish(&na, &pol, err, sizeof(err)))
		return usage_error("%s", err);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	if (!na.given) {
		code = show(&c, argv[optind], json);
	} else {
		rc = kiln_sandbox_set_network(c.k, argv[optind], &pol);
		code = rc     ? cli_fail(&c, rc)
		       : json ? show(&c, argv[optind], true)
			      : 0;
	}
	cli_close(&c);
	return code;
}
