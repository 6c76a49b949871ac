/* SPDX-License-Identifier: MIT */
/*
 * `kiln fork`: new persistent sandboxes restored from a snapshot of a
 * running one (libkiln's sandbox_fork.c).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char fork_usage[] =
	"usage: kiln fork [--count N] [--json] SANDBOX\n"
	"\n"
	"Fork a running (or paused) persistent sandbox: it is snapshotted "
	"(and\n"
	"keeps running), and N new persistent sandboxes are restored from "
	"that\n"
	"snapshot, with the parent's processes, files and memory, each with\n"
	"its own id, CID, hostname (kiln-ID) and fresh entropy.  Named\n"
	"NAME-fork-K if the parent is named NAME.  Prints their ids, one per\n"
	"line.  All or nothing: if one fails, none is left.\n"
	"\n"
	"options:\n"
	"  -n, --count N  how many forks (1..64, default 1)\n"
	"  --json         a JSON array of the forks (sandbox objects, see\n"
	"                 docs/CLI.md)\n"
	"  -h, --help     show this help\n";

static const struct option fork_opts[] = {
	{"count", required_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int fork_print_json(struct cli *c, char (*ids)[KILN_ID_LEN + 1],
			   unsigned int n)
{
	json_t *arr = json_array();
	int rc = 0;

	for (unsigned int i = 0; arr && i < n && !rc; i++) {
		struct kiln_sandbox_info info;

		rc = kiln_sandbox_get(c->k, ids[i], &info);
		if (rc)
			break;
		if (json_array_append_new(arr, cli_sandbox_json(&info))) {
			json_decref(arr);
			arr = NULL;
		}
		kiln_sandbox_info_clear(&info);
	}
	if (rc) {
		json_decref(arr);
		return cli_fail(c, rc);
	}
	if (!arr ||
	    json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
		json_decref(arr);
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	json_decref(arr);
	putchar('\n');
	return 0;
}

int cli_fork(int argc, char **argv)
{
	char(*ids)[KILN_ID_LEN + 1];
	unsigned int count = 1;
	bool json = false;
	char err[256];
	struct cli c;
	int opt, rc;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:h", fork_opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (cli_parse_uint("--count", optarg, 1, KILN_FORK_MAX,
					   "", &count, err, sizeof(err)))
				return cli_usage_error("fork", "%s", err);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(fork_usage, stdout);
			return 0;
		default:
			return cli_getopt_error("fork", opt, argv, optind,
						optopt);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("fork", "expected one SANDBOX");
	ids = calloc(count, sizeof(*ids));
	if (!ids) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	if (cli_open(&c, 0)) {
		free(ids);
		return CLI_EXIT_FAILURE;
	}
	rc = kiln_sandbox_fork(c.k, argv[optind], count, ids);
	if (rc) {
		rc = cli_fail(&c, rc);
	} else if (json) {
		rc = fork_print_json(&c, ids, count);
	} else {
		for (unsigned int i = 0; i < count; i++)
			printf("%s\n", ids[i]);
	}
	fflush(stdout);
	cli_close(&c);
	free(ids);
	return rc;
}
