/* SPDX-License-Identifier: MIT */
/*
 * `kiln snapshot ls` and `kiln snapshot rm`: the checkpoints of
 * persistent sandboxes (`kiln checkpoint` makes them).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char snapshot_usage[] =
	"usage: kiln snapshot ls [--json] [SANDBOX]\n"
	"       kiln snapshot rm SANDBOX NAME...\n"
	"       kiln snapshot rm --all-of SANDBOX\n"
	"\n"
	"List or remove the checkpoints of persistent sandboxes (made by\n"
	"`kiln checkpoint`).  ls: all sandboxes' or SANDBOX's, columns\n"
	"SANDBOX NAME CHECKPOINT CREATED SIZE (disk space); --json: an array\n"
	"of objects (see docs/CLI.md).  rm: the checkpoints NAME... of\n"
	"SANDBOX, or all of its checkpoints with --all-of; prints each "
	"removed.\n"
	"\n"
	"options:\n"
	"  --json             ls: JSON output\n"
	"  --all-of SANDBOX   rm: every checkpoint of SANDBOX\n"
	"  -h, --help         show this help\n";

static const struct option snap_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"all-of", required_argument, NULL, 'A'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void time_utc(int64_t secs, char *buf, size_t len)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)secs);
}

static json_t *checkpoint_json(const struct kiln_checkpoint_info *i)
{
	char created[32];

	time_utc(i->created_at, created, sizeof(created));
	return json_pack("{s:s, s:o, s:s, s:s, s:I, s:I, s:s}", "sandbox",
			 i->sandbox_id, "sandbox_name",
			 i->sandbox_name[0] ? json_string(i->sandbox_name)
					    : json_null(),
			 "name", i->name, "created", created, "created_unix",
			 (json_int_t)i->created_at, "size_bytes",
			 (json_int_t)i->size_bytes, "path", i->path);
}

static int snapshot_ls(struct cli *c, const char *ref, bool json)
{
	struct kiln_checkpoint_info *list;
	size_t n;
	int rc, code = 0;

	rc = kiln_checkpoint_list(c->k, ref, &list, &n);
	if (rc)
		return cli_fail(c, rc);
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(arr,
						  checkpoint_json(&list[i]))) {
				json_decref(arr);
				arr = NULL;
			}
		if (!arr || json_dumpf(arr, stdout,
				       JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
			fprintf(stderr, "kiln: out of memory\n");
			code = CLI_EXIT_FAILURE;
		} else {
			putchar('\n');
		}
		json_decref(arr);
	} else {
		printf("%-12s  %-16s  %-16s  %-20s  %s\n", "SANDBOX", "NAME",
		       "CHECKPOINT", "CREATED", "SIZE");
		for (size_t i = 0; i < n; i++) {
			char created[32];

			time_utc(list[i].created_at, created, sizeof(created));
			printf("%-12s  %-16s  %-16s  %-20s  %.1f MiB\n",
			       list[i].sandbox_id,
			       list[i].sandbox_name[0] ? list[i].sandbox_name
						       : "-",
			       list[i].name, created,
			       (double)list[i].size_bytes / (1024.0 * 1024.0));
		}
	}
	kiln_checkpoint_info_list_free(list, n);
	return code;
}

int cli_snapshot(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL, *all_of = NULL;
	bool json = false;
	struct cli c;
	int opt, code = 0;

	if (sub && (!strcmp(sub, "-h") || !strcmp(sub, "--help"))) {
		fputs(snapshot_usage, stdout);
		return 0;
	}
	if (!sub || (strcmp(sub, "ls") && strcmp(sub, "rm")))
		return cli_usage_error("snapshot", "expected 'ls' or 'rm'%s%s",
				       sub ? ", not " : "", sub ? sub : "");
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", snap_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			if (strcmp(sub, "ls"))
				goto unknown;
			json = true;
			break;
		case 'A':
			if (strcmp(sub, "rm"))
				goto unknown;
			all_of = optarg;
			break;
		case 'h':
			fputs(snapshot_usage, stdout);
			return 0;
		default:
			return cli_getopt_error("snapshot", opt, argv, optind,
						optopt);
		}
	}
	if (!strcmp(sub, "ls") && argc - optind > 1)
		return cli_usage_error("snapshot", "unexpected argument '%s'",
				       argv[optind + 1]);
	if (!strcmp(sub, "rm") && all_of && optind < argc)
		return cli_usage_error("snapshot", "--all-of SANDBOX takes no "
						   "checkpoint names");
	if (!strcmp(sub, "rm") && !all_of && argc - optind < 2)
		return cli_usage_error("snapshot",
				       "expected SANDBOX NAME... or "
				       "--all-of SANDBOX");
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	if (!strcmp(sub, "ls")) {
		code = snapshot_ls(&c, optind < argc ? argv[optind] : NULL,
				   json);
	} else if (all_of) {
		int rc = kiln_checkpoint_remove(c.k, all_of, NULL);

		code = rc ? cli_fail(&c, rc) : 0;
	} else {
		for (int i = optind + 1; i < argc; i++) {
			int rc = kiln_checkpoint_remove(c.k, argv[optind],
							argv[i]);

			if (rc) {
				code = cli_fail(&c, rc);
				if (code != CLI_EXIT_FAILURE)
					break; /* a signal */
				continue;
			}
			printf("%s\n", argv[i]);
		}
	}
	fflush(stdout);
	cli_close(&c);
	return code;
unknown:
	return cli_getopt_error("snapshot", '?', argv, optind, 0);
}
