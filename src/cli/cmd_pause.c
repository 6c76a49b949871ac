/* SPDX-License-Identifier: MIT */
/*
 * `kiln pause` and `kiln resume`: freeze and thaw the vCPUs of persistent
 * sandboxes.  Like stop/start they take several sandboxes and go on past
 * a failure; the exit status is 125 if any failed.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char pause_usage[] =
	"usage: kiln pause [--json] SANDBOX...\n"
	"\n"
	"Pause running persistent sandboxes: their vCPUs stop, memory and\n"
	"devices stay.  A paused sandbox refuses exec, cp, ps, kill and\n"
	"port-forward until `kiln resume`; stop and rm resume it first.\n"
	"Pausing a paused sandbox does nothing.  Prints each sandbox done.\n"
	"\n"
	"options:\n"
	"  --json       a JSON array of the sandboxes done (see docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const char resume_usage[] =
	"usage: kiln resume [--json] SANDBOX...\n"
	"\n"
	"Resume paused persistent sandboxes: their vCPUs run again.  Resuming\n"
	"a running sandbox does nothing.  Prints each sandbox done.\n"
	"\n"
	"options:\n"
	"  --json       a JSON array of the sandboxes done (see docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const struct option pause_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int pause_resume(bool pause, int argc, char **argv)
{
	const char *cmd = pause ? "pause" : "resume";
	json_t *arr = NULL;
	bool json = false;
	struct cli c;
	int opt, code = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", pause_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(pause ? pause_usage : resume_usage, stdout);
			return 0;
		default:
			return cli_getopt_error(cmd, opt, argv, optind, optopt);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "no sandbox given");
	if (json && !(arr = json_array())) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	if (cli_open(&c, 0)) {
		json_decref(arr);
		return CLI_EXIT_FAILURE;
	}
	for (int i = optind; i < argc; i++) {
		const char *ref = argv[i];
		struct kiln_sandbox_info info;
		int rc;

		rc = pause ? kiln_sandbox_pause(c.k, ref)
			   : kiln_sandbox_resume(c.k, ref);
		/* JSON shows the state after the change, as `inspect` would */
		if (!rc && json) {
			rc = kiln_sandbox_get(c.k, ref, &info);
			if (!rc) {
				json_t *o = cli_sandbox_json(&info);

				kiln_sandbox_info_clear(&info);
				if (!o || json_array_append_new(arr, o)) {
					fprintf(stderr,
						"kiln: out of memory\n");
					code = CLI_EXIT_FAILURE;
					continue;
				}
			}
		}
		if (rc) {
			code = cli_fail(&c, rc);
			if (code != CLI_EXIT_FAILURE)
				break; /* a signal: stop here */
			continue;
		}
		if (!json) {
			printf("%s\n", ref);
			fflush(stdout);
		}
	}
	if (json && cli_json_print(arr))
		code = CLI_EXIT_FAILURE;
	cli_close(&c);
	return code;
}

int cli_pause(int argc, char **argv)
{
	return pause_resume(true, argc, argv);
}

int cli_resume(int argc, char **argv)
{
	return pause_resume(false, argc, argv);
}
