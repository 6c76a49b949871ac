/* SPDX-License-Identifier: MIT */
/*
 * `kiln checkpoint` and `kiln rollback`: named snapshots of a persistent
 * sandbox, and going back to one (libkiln's checkpoint.c).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char checkpoint_usage[] =
	"usage: kiln checkpoint [--json] SANDBOX NAME\n"
	"\n"
	"Take a checkpoint of a running (or paused) persistent sandbox: its\n"
	"VM is paused, its whole state (CPU, devices, memory, and so every\n"
	"file the guest wrote) saved as NAME, and resumed; it keeps running.\n"
	"NAME: 1..63 of [A-Za-z0-9_.-], starting with a letter or digit,\n"
	"unique per sandbox.  `kiln snapshot ls` lists checkpoints.  Prints\n"
	"NAME.  `kiln create --from SANDBOX:NAME` makes a new sandbox of it.\n"
	"\n"
	"options:\n"
	"  --json       print the checkpoint as JSON (as `kiln snapshot ls\n"
	"               --json` shows it; see docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const char rollback_usage[] =
	"usage: kiln rollback [-q] [--boot-timeout S] [--json] SANDBOX NAME\n"
	"\n"
	"Roll a persistent sandbox back to its checkpoint NAME: its VM is\n"
	"killed (whatever it did since is lost) and restored from the\n"
	"checkpoint, with the same id, CID and runtime directory, the clock\n"
	"set and fresh entropy.  The checkpoint stays as it was and can be\n"
	"rolled back to again.  Also works on a stopped or dead sandbox.\n"
	"Prints NAME.\n"
	"\n"
	"options:\n"
	"  --boot-timeout S  wait at most S seconds for the guest's agent\n"
	"  --json            print {\"sandbox\": its object after the "
	"rollback,\n"
	"                    \"checkpoint\": the checkpoint's} (docs/CLI.md)\n"
	"  -q, --quiet       no progress on stderr\n"
	"  -h, --help        show this help\n";

static const struct option cp_opts[] = {
	{"quiet", no_argument, NULL, 'q'},
	{"boot-timeout", required_argument, NULL, 'B'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/*
 * --json after a checkpoint or rollback that worked: the whole object or
 * nothing (docs/CLI.md).  A checkpoint that cannot be described is
 * removed again (the command failed as a whole); a rollback has nothing
 * to undo.
 */
static int print_json(struct cli *c, bool rollback, const char *ref,
		      const char *name)
{
	const struct kiln_checkpoint_info *cp = NULL;
	struct kiln_checkpoint_info *list = NULL;
	struct kiln_sandbox_info info = {0};
	const char *why = NULL;
	json_t *o = NULL;
	size_t n = 0;
	int rc;

	rc = kiln_checkpoint_list(c->k, ref, &list, &n);
	for (size_t i = 0; !rc && i < n && !cp; i++)
		if (!strcmp(list[i].name, name))
			cp = &list[i];
	if (!rc && !cp) {
		rc = KILN_ENOTFOUND;
		why = "it is not listed any more (removed meanwhile?)";
	}
	if (!rc && rollback)
		rc = kiln_sandbox_get(c->k, ref, &info);
	if (!rc) {
		o = rollback ? cli_rollback_json(&info, cp)
			     : cli_checkpoint_json(cp);
		if (!o) {
			rc = KILN_ENOMEM;
			why = "out of memory";
		}
	}
	kiln_sandbox_info_clear(&info);
	kiln_checkpoint_info_list_free(list, n);
	if (!rc)
		return cli_json_print(o);
	fprintf(stderr,
		"kiln: %s '%s' of sandbox %s, but reading it back failed: "
		"%s\n",
		rollback ? "rolled back to checkpoint" : "made checkpoint",
		name, ref, why ? why : kiln_errmsg(c->k));
	if (rollback)
		return CLI_EXIT_FAILURE;
	if (kiln_checkpoint_remove(c->k, ref, name))
		fprintf(stderr,
			"kiln: removing it failed: %s; remove it with `kiln "
			"snapshot rm %s %s`\n",
			kiln_errmsg(c->k), ref, name);
	else
		fprintf(stderr, "kiln: checkpoint '%s' removed again\n", name);
	return CLI_EXIT_FAILURE;
}

static int checkpoint_cmd(bool rollback, int argc, char **argv)
{
	const char *cmd = rollback ? "rollback" : "checkpoint";
	unsigned int boot_s = 0;
	bool quiet = false, json = false;
	char err[256];
	struct cli c;
	int opt, rc;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":qh", cp_opts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			if (!rollback)
				goto unknown;
			quiet = true;
			break;
		case 'B':
			if (!rollback)
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
			fputs(rollback ? rollback_usage : checkpoint_usage,
			      stdout);
			return 0;
		default:
			return cli_getopt_error(cmd, opt, argv, optind, optopt);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(cmd, "expected SANDBOX and NAME");
	if (cli_open(&c, boot_s))
		return CLI_EXIT_FAILURE;
	if (rollback)
		rc = kiln_checkpoint_rollback(
			c.k, argv[optind], argv[optind + 1],
			quiet ? NULL : cli_progress_show, &c.prog);
	else
		rc = kiln_checkpoint_create(c.k, argv[optind],
					    argv[optind + 1]);
	if (rollback && !quiet)
		cli_progress_clear(&c.prog);
	if (rc) {
		rc = cli_fail(&c, rc);
	} else if (json) {
		rc = print_json(&c, rollback, argv[optind], argv[optind + 1]);
	} else {
		printf("%s\n", argv[optind + 1]);
		fflush(stdout);
	}
	cli_close(&c);
	return rc;
unknown:
	return cli_getopt_error(cmd, '?', argv, optind, 0);
}

int cli_checkpoint(int argc, char **argv)
{
	return checkpoint_cmd(false, argc, argv);
}

int cli_rollback(int argc, char **argv)
{
	return checkpoint_cmd(true, argc, argv);
}
