/* SPDX-License-Identifier: MIT */
/*
 * `kiln doctor`: can this host run sandboxes?  Prints kiln_doctor()'s
 * checks, each ok/warn/fail with what was found and how to fix it.  Exit
 * status: 0 if nothing failed (warnings allowed), 1 if a check failed,
 * 125 if kiln itself failed (usage, out of memory).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

#define DOCTOR_EXIT_FAILED 1 /* a check failed */

static const char doctor_usage[] =
	"usage: kiln doctor [--json]\n"
	"\n"
	"Check that this host can run kiln sandboxes: /dev/kvm, CPU features,\n"
	"kiln-vmm, the kernel and image in the cache, the base snapshot,\n"
	"cgroups, /dev/net/tun, nftables, the state database and the runtime\n"
	"directory.  Each check is ok, warn or fail, with a fix.\n"
	"\n"
	"exit status: 0 no check failed, 1 a check failed, 125 kiln failed\n"
	"\n"
	"options:\n"
	"  --json       one JSON object (see docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static const struct option doctor_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static json_t *doctor_json(const struct kiln_check *l, size_t n,
			   const size_t count[3])
{
	json_t *checks = json_array(), *o;

	for (size_t i = 0; checks && i < n; i++) {
		o = json_pack("{s:s, s:s, s:s, s:o}", "name", l[i].name,
			      "status", kiln_check_status_name(l[i].status),
			      "detail", l[i].detail, "fix",
			      l[i].fix ? json_string(l[i].fix) : json_null());
		if (!o || json_array_append_new(checks, o)) {
			json_decref(checks);
			return NULL;
		}
	}
	if (!checks)
		return NULL;
	return json_pack("{s:b, s:{s:I, s:I, s:I}, s:o}", "ok",
			 count[KILN_CHECK_FAIL] == 0, "summary", "ok",
			 (json_int_t)count[KILN_CHECK_OK], "warn",
			 (json_int_t)count[KILN_CHECK_WARN], "fail",
			 (json_int_t)count[KILN_CHECK_FAIL], "checks", checks);
}

static void doctor_text(const struct kiln_check *l, size_t n,
			const size_t count[3])
{
	for (size_t i = 0; i < n; i++) {
		printf("%-4s  %-14s %s\n",
		       l[i].status == KILN_CHECK_OK	? "ok"
		       : l[i].status == KILN_CHECK_WARN ? "warn"
							: "FAIL",
		       l[i].name, l[i].detail);
		if (l[i].fix)
			printf("      %-14s fix: %s\n", "", l[i].fix);
	}
	printf("doctor: %zu ok, %zu warn, %zu fail\n", count[KILN_CHECK_OK],
	       count[KILN_CHECK_WARN], count[KILN_CHECK_FAIL]);
}

int cli_doctor(int argc, char **argv)
{
	struct kiln_check *list;
	size_t n, count[3] = {0};
	bool json = false;
	struct cli c;
	int opt, rc, code;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", doctor_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(doctor_usage, stdout);
			return 0;
		default:
			return cli_getopt_error("doctor", opt, argv, optind,
						optopt);
		}
	}
	if (optind < argc)
		return cli_usage_error("doctor", "unexpected argument '%s'",
				       argv[optind]);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_doctor(c.k, &list, &n);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned int)list[i].status < 3)
			count[list[i].status]++;
	code = count[KILN_CHECK_FAIL] ? DOCTOR_EXIT_FAILED : 0;
	if (json) {
		if (cli_json_print(doctor_json(list, n, count)))
			code = CLI_EXIT_FAILURE;
	} else {
		doctor_text(list, n, count);
		if (fflush(stdout))
			code = CLI_EXIT_FAILURE;
	}
	kiln_check_list_free(list, n);
	cli_close(&c);
	return code;
}
