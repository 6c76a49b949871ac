/* SPDX-License-Identifier: MIT */
/*
 * `kiln snapshot ls` and `kiln snapshot rm`: the checkpoints of
 * persistent sandboxes (`kiln checkpoint` makes them).  `kiln snapshot ls
 * --base` and `kiln snapshot prune`: the base snapshots in the cache.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

static const char snapshot_usage[] =
	"usage: kiln snapshot ls [--json] [SANDBOX]\n"
	"       kiln snapshot ls --base [--json]\n"
	"       kiln snapshot rm [--json] SANDBOX NAME...\n"
	"       kiln snapshot rm [--json] --all-of SANDBOX\n"
	"       kiln snapshot prune [--all] [--dry-run] [--json]\n"
	"\n"
	"List or remove the checkpoints of persistent sandboxes (made by\n"
	"`kiln checkpoint`).  ls: all sandboxes' or SANDBOX's, columns\n"
	"SANDBOX NAME CHECKPOINT CREATED SIZE (disk space); --json: an array\n"
	"of objects (see docs/CLI.md).  rm: the checkpoints NAME... of\n"
	"SANDBOX, or all of its checkpoints with --all-of; prints each "
	"removed\n"
	"(--json: an array of their objects, as ls --json shows them).\n"
	"\n"
	"Base snapshots are the cached boots sandboxes restore\n"
	"($KILN_CACHE/snapshots); each new kiln-vmm, kernel or image makes a\n"
	"new one.  ls --base: KEY STATUS (current: what kiln restores now;\n"
	"other: valid for other inputs; stale: never used again) IN-USE\n"
	"CPUS MEMORY CREATED SIZE WHY.  prune: removes the stale ones (--all:\n"
	"every one), never one a running sandbox uses; --dry-run only lists.\n"
	"\n"
	"options:\n"
	"  --json             ls, rm, prune: JSON output\n"
	"  --base             ls: base snapshots instead of checkpoints\n"
	"  --all-of SANDBOX   rm: every checkpoint of SANDBOX\n"
	"  --all              prune: current and other ones too (unused)\n"
	"  --dry-run          prune: say what would be removed, remove "
	"nothing\n"
	"  -h, --help         show this help\n";

static const struct option snap_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"all-of", required_argument, NULL, 'A'},
	{"base", no_argument, NULL, 'b'},
	{"all", no_argument, NULL, 'a'},
	{"dry-run", no_argument, NULL, 'n'},
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
			if (json_array_append_new(
				    arr, cli_checkpoint_json(&list[i]))) {
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

/* The listed checkpoint name in list (NULL: none). */
static const struct kiln_checkpoint_info *
checkpoint_in(const struct kiln_checkpoint_info *list, size_t n,
	      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].name, name))
			return &list[i];
	return NULL;
}

/*
 * rm: names[0..n-1] of sandbox ref, or (names NULL) all of its
 * checkpoints.  Each removed one is printed (its name, or with json its
 * object in one array, as listed just before its removal); goes on past
 * a failure (exit 125 then).
 */
static int snapshot_rm(struct cli *c, const char *ref, char **names, int n,
		       bool json)
{
	struct kiln_checkpoint_info *list = NULL;
	json_t *arr = json ? json_array() : NULL;
	size_t count = 0;
	bool oom = false;
	int rc, code = 0;

	if (json && !arr) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	/* what there is, to print what goes */
	rc = kiln_checkpoint_list(c->k, ref, &list, &count);
	if (rc) {
		json_decref(arr);
		return cli_fail(c, rc);
	}
	if (!names) {
		rc = kiln_checkpoint_remove(c->k, ref, NULL);
		if (rc)
			code = cli_fail(c, rc);
		for (size_t i = 0; !rc && i < count; i++) {
			if (!json)
				printf("%s\n", list[i].name);
			else if (json_array_append_new(
					 arr, cli_checkpoint_json(&list[i])))
				oom = true;
		}
	}
	for (int i = 0; names && i < n; i++) {
		const struct kiln_checkpoint_info *cp =
			checkpoint_in(list, count, names[i]);

		rc = kiln_checkpoint_remove(c->k, ref, names[i]);
		if (rc) {
			code = cli_fail(c, rc);
			if (code != CLI_EXIT_FAILURE)
				break; /* a signal */
			continue;
		}
		if (!json)
			printf("%s\n", names[i]);
		/* made after the listing: removed, but not described */
		else if (!cp)
			fprintf(stderr,
				"kiln: checkpoint '%s' was made while "
				"removing it; it is not in the JSON\n",
				names[i]);
		else if (json_array_append_new(arr, cli_checkpoint_json(cp)))
			oom = true;
	}
	kiln_checkpoint_info_list_free(list, count);
	if (oom) {
		fprintf(stderr, "kiln: out of memory\n");
		code = code ? code : CLI_EXIT_FAILURE;
	}
	/* what was removed, also when something else failed */
	if (json && cli_json_print(arr) && !code)
		code = CLI_EXIT_FAILURE;
	return code;
}

static const char *const base_status_names[] = {"current", "other", "stale"};
static const char *const base_action_names[] = {
	"kept", "removed", "would_remove", "skipped", "failed"};

static const char *base_status_name(enum kiln_base_status s)
{
	return (unsigned int)s < 3 ? base_status_names[s] : "?";
}

static json_t *base_json(const struct kiln_base_snapshot_info *i, bool prune)
{
	char created[32];
	json_t *o;

	time_utc(i->created_at, created, sizeof(created));
	o = json_pack(
		"{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:I, s:I, s:s}", "key",
		i->key, "status", base_status_name(i->status), "reason",
		i->reason[0] ? json_string(i->reason) : json_null(),
		"in_use_pid",
		i->in_use_pid ? json_integer(i->in_use_pid) : json_null(),
		"cpus", i->cpus ? json_integer(i->cpus) : json_null(),
		"memory_mib",
		i->memory_mib ? json_integer(i->memory_mib) : json_null(),
		"created", created, "created_unix", (json_int_t)i->created_at,
		"size_bytes", (json_int_t)i->size_bytes, "path", i->path);
	if (o && prune &&
	    (json_object_set_new(
		     o, "action",
		     json_string((unsigned int)i->action < 5
					 ? base_action_names[i->action]
					 : "?")) ||
	     json_object_set_new(o, "note",
				 i->note[0] ? json_string(i->note)
					    : json_null()))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int base_print_json(const struct kiln_base_snapshot_info *list, size_t n,
			   bool prune)
{
	json_t *arr = json_array();
	int code = 0;

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, base_json(&list[i], prune))) {
			json_decref(arr);
			arr = NULL;
		}
	if (!arr ||
	    json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
		fprintf(stderr, "kiln: out of memory\n");
		code = CLI_EXIT_FAILURE;
	} else {
		putchar('\n');
	}
	json_decref(arr);
	return code;
}

static int base_ls(struct cli *c, bool json)
{
	struct kiln_base_snapshot_info *list;
	size_t n;
	int rc, code = 0;

	rc = kiln_base_snapshot_list(c->k, &list, &n);
	if (rc)
		return cli_fail(c, rc);
	if (json) {
		code = base_print_json(list, n, false);
	} else {
		printf("%-16s  %-7s  %-7s  %-4s  %-6s  %-20s  %-9s  %s\n",
		       "KEY", "STATUS", "IN-USE", "CPUS", "MEMORY", "CREATED",
		       "SIZE", "WHY");
		for (size_t i = 0; i < n; i++) {
			const struct kiln_base_snapshot_info *b = &list[i];
			char created[32], use[16], cpus[16], mem[16];

			time_utc(b->created_at, created, sizeof(created));
			snprintf(use, sizeof(use), "%s",
				 b->in_use_pid < 0 ? "?" : "-");
			if (b->in_use_pid > 0)
				snprintf(use, sizeof(use), "%d", b->in_use_pid);
			snprintf(cpus, sizeof(cpus), "%s", "?");
			if (b->cpus)
				snprintf(cpus, sizeof(cpus), "%u", b->cpus);
			snprintf(mem, sizeof(mem), "%s", "?");
			if (b->memory_mib)
				snprintf(mem, sizeof(mem), "%u", b->memory_mib);
			printf("%-16s  %-7s  %-7s  %-4s  %-6s  %-20s  %5.1f "
			       "MiB  "
			       "%s\n",
			       b->key, base_status_name(b->status), use, cpus,
			       mem, created,
			       (double)b->size_bytes / (1024.0 * 1024.0),
			       b->reason[0] ? b->reason : "-");
		}
	}
	kiln_base_snapshot_info_list_free(list, n);
	return code;
}

static int base_prune(struct cli *c, bool all, bool dry_run, bool json)
{
	struct kiln_base_snapshot_info *list;
	uint64_t freed = 0;
	size_t n, removed = 0, skipped = 0, failed = 0;
	int rc, code = 0;

	rc = kiln_base_snapshot_prune(
		c->k,
		(all ? KILN_PRUNE_ALL : 0) | (dry_run ? KILN_PRUNE_DRY_RUN : 0),
		&list, &n);
	if (rc)
		return cli_fail(c, rc);
	for (size_t i = 0; i < n; i++) {
		const struct kiln_base_snapshot_info *b = &list[i];
		double mib = (double)b->size_bytes / (1024.0 * 1024.0);

		switch (b->action) {
		case KILN_BASE_REMOVED:
		case KILN_BASE_WOULD_REMOVE:
			removed++;
			freed += b->size_bytes;
			if (!json)
				printf("%s %s (%s%s%s, %.1f MiB)\n",
				       b->action == KILN_BASE_REMOVED
					       ? "removed"
					       : "would remove",
				       b->key, base_status_name(b->status),
				       b->reason[0] ? ": " : "", b->reason,
				       mib);
			break;
		case KILN_BASE_SKIPPED:
			skipped++;
			fprintf(stderr, "kiln: kept base snapshot %s: %s\n",
				b->key, b->note);
			break;
		case KILN_BASE_FAILED:
			failed++;
			fprintf(stderr,
				"kiln: cannot remove base snapshot %s: %s\n",
				b->key, b->note);
			break;
		case KILN_BASE_KEPT:
			break;
		}
	}
	if (json)
		code = base_print_json(list, n, true);
	else
		printf("%s %zu base snapshot%s (%.1f MiB)%s\n",
		       dry_run ? "would remove" : "removed", removed,
		       removed == 1 ? "" : "s",
		       (double)freed / (1024.0 * 1024.0),
		       skipped ? ", some kept (see above)" : "");
	kiln_base_snapshot_info_list_free(list, n);
	return failed ? CLI_EXIT_FAILURE : code;
}

int cli_snapshot(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL, *all_of = NULL;
	bool json = false, base = false, all = false, dry_run = false;
	struct cli c;
	int opt, code = 0;

	if (sub && (!strcmp(sub, "-h") || !strcmp(sub, "--help"))) {
		fputs(snapshot_usage, stdout);
		return 0;
	}
	if (!sub ||
	    (strcmp(sub, "ls") && strcmp(sub, "rm") && strcmp(sub, "prune")))
		return cli_usage_error("snapshot",
				       "expected 'ls', 'rm' or 'prune'%s%s",
				       sub ? ", not " : "", sub ? sub : "");
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", snap_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'b':
			if (strcmp(sub, "ls"))
				goto unknown;
			base = true;
			break;
		case 'a':
			if (strcmp(sub, "prune"))
				goto unknown;
			all = true;
			break;
		case 'n':
			if (strcmp(sub, "prune"))
				goto unknown;
			dry_run = true;
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
	if ((!strcmp(sub, "prune") || base) && optind < argc)
		return cli_usage_error("snapshot", "unexpected argument '%s'",
				       argv[optind]);
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
	if (!strcmp(sub, "prune")) {
		code = base_prune(&c, all, dry_run, json);
	} else if (base) {
		code = base_ls(&c, json);
	} else if (!strcmp(sub, "ls")) {
		code = snapshot_ls(&c, optind < argc ? argv[optind] : NULL,
				   json);
	} else {
		code = snapshot_rm(&c, all_of ? all_of : argv[optind],
				   all_of ? NULL : argv + optind + 1,
				   all_of ? 0 : argc - optind - 1, json);
	}
	fflush(stdout);
	cli_close(&c);
	return code;
unknown:
	return cli_getopt_error("snapshot", '?', argv, optind, 0);
}
