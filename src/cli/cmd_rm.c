/* SPDX-License-Identifier: MIT */
/*
 * `kiln rm`, `kiln stop`, `kiln start`: the lifecycle of persistent
 * sandboxes.  Each takes several sandboxes and goes on past a failure;
 * the exit status is 125 if any failed.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char rm_usage[] =
	"usage: kiln rm [--force] [--json] SANDBOX...\n"
	"       kiln rm [--force] [--json] --all\n"
	"\n"
	"Remove persistent sandboxes: stop a running one (ask its guest to\n"
	"power off, then SIGTERM, then SIGKILL), release its CID and network\n"
	"slot, remove its runtime directory and its record.  Prints each\n"
	"SANDBOX as given once it is removed (with --all: each id).  SANDBOX\n"
	"is an id, a unique id prefix or a name.\n"
	"\n"
	"options:\n"
	"  -f, --force  no power-off request (kill at once); also remove\n"
	"               sandboxes another kiln is creating/starting/stopping\n"
	"  -a, --all    remove every sandbox\n"
	"  --json       a JSON array of {ref, id, name} removed (docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const char stop_usage[] =
	"usage: kiln stop [--force] [--json] SANDBOX...\n"
	"\n"
	"Stop persistent sandboxes, keeping their record: ask the guest to\n"
	"power off (10 s to accept, 20 s to exit), then SIGTERM, then SIGKILL\n"
	"5 s later.  `kiln start` boots them again.\n"
	"\n"
	"options:\n"
	"  -f, --force  no power-off request: SIGTERM, then SIGKILL\n"
	"  --json       a JSON array of the sandboxes stopped (docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const char start_usage[] =
	"usage: kiln start [-q] [--boot-timeout S] [--json] SANDBOX...\n"
	"\n"
	"Boot stopped (or dead) persistent sandboxes again, with the\n"
	"configuration, CID and slot they were created with; returns when\n"
	"their agents answer.\n"
	"\n"
	"options:\n"
	"  --boot-timeout S  wait at most S seconds for each guest to boot\n"
	"  -q, --quiet       no boot progress on stderr\n"
	"  --json            a JSON array of the sandboxes started\n"
	"  -h, --help        show this help\n";

enum lifecycle_op { OP_RM, OP_STOP, OP_START };

static const struct option lifecycle_opts[] = {
	{"force", no_argument, NULL, 'f'},
	{"all", no_argument, NULL, 'a'},
	{"quiet", no_argument, NULL, 'q'},
	{"boot-timeout", required_argument, NULL, 'B'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Every sandbox's id, for --all: NULL-terminated, malloc'ed. */
static char **all_ids(struct cli *c, int *code)
{
	struct kiln_sandbox_info *list;
	char **ids;
	size_t n;
	int rc;

	rc = kiln_sandbox_list(c->k, &list, &n);
	if (rc) {
		*code = cli_fail(c, rc);
		return NULL;
	}
	ids = calloc(n + 1, sizeof(*ids));
	for (size_t i = 0; ids && i < n; i++) {
		ids[i] = strdup(list[i].id);
		if (!ids[i]) {
			for (size_t j = 0; j < i; j++)
				free(ids[j]);
			free(ids);
			ids = NULL;
		}
	}
	kiln_sandbox_info_list_free(list, n);
	if (!ids) {
		fprintf(stderr, "kiln: out of memory\n");
		*code = CLI_EXIT_FAILURE;
	}
	return ids;
}

/*
 * --json: rm adds {ref, id, name} of what it removed (info, read before);
 * stop and start the sandbox's object as it is now.
 */
static int json_add(struct cli *c, json_t *arr, enum lifecycle_op op,
		    const char *ref, const struct kiln_sandbox_info *info)
{
	struct kiln_sandbox_info now;
	json_t *o;
	int rc;

	if (op == OP_RM) {
		o = json_pack(
			"{s:s, s:s, s:o}", "ref", ref, "id", info->id, "name",
			*info->name ? json_string(info->name) : json_null());
	} else {
		rc = kiln_sandbox_get(c->k, ref, &now);
		if (rc)
			return rc;
		o = cli_sandbox_json(&now);
		kiln_sandbox_info_clear(&now);
	}
	if (!o || json_array_append_new(arr, o)) {
		fprintf(stderr, "kiln: out of memory\n");
		return KILN_ENOMEM;
	}
	return KILN_OK;
}

static int lifecycle(enum lifecycle_op op, int argc, char **argv)
{
	static const char *const names[] = {"rm", "stop", "start"};
	static const char *const usages[] = {rm_usage, stop_usage, start_usage};
	const char *cmd = names[op];
	bool force = false, all = false, quiet = false, json = false;
	json_t *arr = NULL;
	unsigned int boot_s = 0;
	char err[256], **ids = NULL, **refs;
	struct cli c;
	int opt, code = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":fahq", lifecycle_opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'f':
			if (op == OP_START)
				goto unknown;
			force = true;
			break;
		case 'a':
			if (op != OP_RM)
				goto unknown;
			all = true;
			break;
		case 'q':
			if (op != OP_START)
				goto unknown;
			quiet = true;
			break;
		case 'B':
			if (op != OP_START)
				goto unknown;
			if (cli_parse_uint("--boot-timeout", optarg, 1, 86400,
					   " seconds", &boot_s, err,
					   sizeof(err)))
				return cli_usage_error(cmd, "%s", err);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usages[op], stdout);
			return 0;
		default:
			return cli_getopt_error(cmd, opt, argv, optind, optopt);
		}
	}
	if (all && optind < argc)
		return cli_usage_error(cmd, "--all and sandboxes exclude each "
					    "other");
	if (!all && optind >= argc)
		return cli_usage_error(cmd, "no sandbox given");
	if (json && !(arr = json_array())) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	if (cli_open(&c, boot_s)) {
		json_decref(arr);
		return CLI_EXIT_FAILURE;
	}
	if (all) {
		ids = all_ids(&c, &code);
		if (!ids) {
			json_decref(arr);
			cli_close(&c);
			return code;
		}
		refs = ids;
	} else {
		refs = argv + optind;
	}
	for (char **r = refs; *r; r++) {
		struct kiln_sandbox_info info = {0};
		int rc = KILN_OK;

		/* rm: what it was, since nothing is left to ask afterwards */
		if (json && op == OP_RM)
			rc = kiln_sandbox_get(c.k, *r, &info);
		if (rc) {
			/* fall through to the failure report below */
		} else if (op == OP_RM) {
			rc = kiln_sandbox_remove(c.k, *r, force);
		} else if (op == OP_STOP) {
			rc = kiln_sandbox_stop(c.k, *r, force);
		} else {
			rc = kiln_sandbox_start(
				c.k, *r, quiet ? NULL : cli_progress_show,
				&c.prog);
		}
		if (!rc && json)
			rc = json_add(&c, arr, op, *r, &info);
		kiln_sandbox_info_clear(&info);
		if (rc) {
			code = cli_fail(&c, rc);
			if (code != CLI_EXIT_FAILURE)
				break; /* a signal: stop here */
			continue;
		}
		if (!json) {
			printf("%s\n", *r);
			fflush(stdout);
		}
	}
	if (json && cli_json_print(arr))
		code = CLI_EXIT_FAILURE;
	for (char **i = ids; i && *i; i++)
		free(*i);
	free(ids);
	cli_close(&c);
	return code;
unknown:
	return cli_getopt_error(cmd, '?', argv, optind, 0);
}

int cli_rm(int argc, char **argv)
{
	return lifecycle(OP_RM, argc, argv);
}

int cli_stop(int argc, char **argv)
{
	return lifecycle(OP_STOP, argc, argv);
}

int cli_start(int argc, char **argv)
{
	return lifecycle(OP_START, argc, argv);
}
