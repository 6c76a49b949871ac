/* SPDX-License-Identifier: MIT */
/*
 * `kiln ps`: the processes of a running persistent sandbox's guest, as a
 * table or as JSON, each marked with the exec it belongs to (ID@CONN, as
 * `kiln kill --exec` takes it).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/cli_text.h"
#include "kiln.h"

/* Belongs in cli/cli.h next to the other commands. */

static const char usage[] =
	"usage: kiln ps SANDBOX [--json]\n"
	"\n"
	"List the processes in a running persistent sandbox's guest: pid,\n"
	"the session of the detached command (kiln exec --detach) they belong\n"
	"to (for 'kiln attach SANDBOX SESSION'), parent pid, uid, state,\n"
	"resident memory, start time, the exec they belong to (ID@CONN: exec\n"
	"request ID on agent connection CONN; for 'kiln kill --exec') and the\n"
	"command line (cut to 256 bytes, marked with '...').\n"
	"\n"
	"options:\n"
	"  --json       a JSON array of processes: {pid, session (null if\n"
	"               none), ppid, pgid, uid, state, rss_kib, start_time,\n"
	"               comm, cmdline, cmdline_truncated, exec: {id, conn,\n"
	"               leader} (only for processes of an attached exec)}\n"
	"  -h, --help   show this help\n";

static const struct option ps_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static json_t *proc_json(const struct kiln_process *p)
{
	char state[2] = {p->state, 0};
	json_t *o = json_pack(
		"{s:i,s:i,s:i,s:I,s:s,s:I,s:f,s:s,s:s,s:b}", "pid", p->pid,
		"ppid", p->ppid, "pgid", p->pgid, "uid", (json_int_t)p->uid,
		"state", state, "rss_kib", (json_int_t)p->rss_kib, "start_time",
		p->start_time, "comm", p->comm, "cmdline", p->cmdline,
		"cmdline_truncated", p->cmdline_truncated);

	if (o)
		json_object_set_new(o, "session",
				    p->session ? json_integer(p->session)
					       : json_null());
	if (o && p->exec_id)
		json_object_set_new(o, "exec",
				    json_pack("{s:I,s:I,s:b}", "id",
					      (json_int_t)p->exec_id, "conn",
					      (json_int_t)p->exec_conn,
					      "leader", p->exec_leader));
	return o;
}

static int print_json(const struct kiln_process *list, size_t n)
{
	json_t *arr = json_array();
	int rc;

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, proc_json(&list[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	if (!arr) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	rc = json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	putchar('\n');
	return rc ? CLI_EXIT_FAILURE : 0;
}

/* HH:MM today, else the date (local time of the host). */
static void fmt_start(double t, char *buf, size_t len)
{
	time_t s = (time_t)t, now = time(NULL);
	struct tm tm, tn;

	if (!localtime_r(&s, &tm) || !localtime_r(&now, &tn)) {
		snprintf(buf, len, "?");
		return;
	}
	strftime(buf, len,
		 tm.tm_yday == tn.tm_yday && tm.tm_year == tn.tm_year ? "%H:%M"
								      : "%b%d",
		 &tm);
}

static void print_table(const struct kiln_process *list, size_t n)
{
	printf("%7s %7s %7s %6s %s %9s %5s %-9s %s\n", "PID", "SESSION", "PPID",
	       "UID", "S", "RSS(KiB)", "START", "EXEC", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		const struct kiln_process *p = &list[i];
		char start[16], exec[32] = "-", session[16] = "-";

		fmt_start(p->start_time, start, sizeof(start));
		if (p->exec_id)
			snprintf(exec, sizeof(exec), "%u@%u", p->exec_id,
				 p->exec_conn);
		if (p->session)
			snprintf(session, sizeof(session), "%u", p->session);
		printf("%7d %7s %7d %6u %c %9llu %5s %-9s ", p->pid, session,
		       p->ppid, p->uid, p->state,
		       (unsigned long long)p->rss_kib, start, exec);
		cli_put_untrusted(stdout, p->cmdline);
		printf("%s\n", p->cmdline_truncated ? "..." : "");
	}
}

int cli_ps(int argc, char **argv)
{
	struct kiln_process *list = NULL;
	struct kiln_sandbox *sb;
	const char *ref = NULL;
	bool json = false;
	struct cli c;
	size_t n = 0;
	int opt, rc, code;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", ps_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_getopt_error("ps", opt, argv, optind,
						optopt);
		}
	}
	if (optind >= argc)
		return cli_usage_error("ps", "no sandbox given");
	if (optind + 1 < argc)
		return cli_usage_error("ps", "unexpected argument '%s'",
				       argv[optind + 1]);
	ref = argv[optind];
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, ref, &sb);
	if (!rc) {
		rc = kiln_sandbox_ps(sb, &list, &n);
		if (rc)
			code = cli_fail(&c, rc);
		else if (json)
			code = print_json(list, n);
		else {
			print_table(list, n);
			code = 0;
		}
		kiln_sandbox_close(sb);
	} else {
		code = cli_fail(&c, rc);
	}
	free(list);
	cli_close(&c);
	return code;
}
