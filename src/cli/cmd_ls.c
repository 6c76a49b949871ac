/* SPDX-License-Identifier: MIT */
/*
 * `kiln ls` and `kiln inspect`: what the state database knows about
 * persistent sandboxes, after reconciling it with the running processes
 * (a VMM that died shows as "dead", with the reason if known).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/net_args.h"
#include "kiln.h"

static const char ls_usage[] =
	"usage: kiln ls [--all] [--json] [-q]\n"
	"\n"
	"List persistent sandboxes: by default all but the stopped ones\n"
	"(running, dead, and those being created, started or stopped).\n"
	"\n"
	"options:\n"
	"  -a, --all    include stopped sandboxes\n"
	"  --json       a JSON array of sandboxes (see docs/CLI.md)\n"
	"  -q, --quiet  only the ids, one per line\n"
	"  -h, --help   show this help\n";

static const char inspect_usage[] =
	"usage: kiln inspect SANDBOX [--json]\n"
	"\n"
	"Show everything known about one persistent sandbox.  SANDBOX is its\n"
	"id, a unique prefix of its id, or its name.\n"
	"\n"
	"options:\n"
	"  --json       a JSON object (see docs/CLI.md)\n"
	"  -h, --help   show this help\n";

static void time_utc(int64_t secs, char *buf, size_t len)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)secs);
}

static int json_print(json_t *o)
{
	int rc;

	if (!o) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	putchar('\n');
	return rc ? CLI_EXIT_FAILURE : 0;
}

static const struct option ls_opts[] = {
	{"all", no_argument, NULL, 'a'},
	{"json", no_argument, NULL, 'j'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

int cli_ls(int argc, char **argv)
{
	struct kiln_sandbox_info *list;
	bool all = false, json = false, quiet = false;
	struct cli c;
	size_t n;
	int opt, rc, code = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:aqh", ls_opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'j':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(ls_usage, stdout);
			return 0;
		default:
			return cli_getopt_error("ls", opt, argv, optind,
						optopt);
		}
	}
	if (optind < argc)
		return cli_usage_error("ls", "unexpected argument '%s'",
				       argv[optind]);
	if (json && quiet)
		return cli_usage_error("ls", "--json and --quiet exclude each "
					     "other");
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_list(c.k, &list, &n);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; arr && i < n; i++) {
			if (!all && list[i].state == KILN_SB_STOPPED)
				continue;
			if (json_array_append_new(arr,
						  cli_sandbox_json(&list[i]))) {
				json_decref(arr);
				arr = NULL;
			}
		}
		code = json_print(arr);
	} else {
		if (!quiet)
			printf("%-12s  %-16s  %-8s  %7s  %5s  %4s  %6s  %s\n",
			       "ID", "NAME", "STATE", "PID", "CID", "CPUS",
			       "MEMORY", "CREATED");
		for (size_t i = 0; i < n; i++) {
			struct kiln_sandbox_info *s = &list[i];
			char created[32], pid[16] = "-";

			if (!all && s->state == KILN_SB_STOPPED)
				continue;
			if (quiet) {
				printf("%s\n", s->id);
				continue;
			}
			if (s->vmm_pid)
				snprintf(pid, sizeof(pid), "%d", s->vmm_pid);
			time_utc(s->created_at, created, sizeof(created));
			printf("%-12s  %-16s  %-8s  %7s  %5u  %4u  %5uM  %s\n",
			       s->id, *s->name ? s->name : "-",
			       kiln_sandbox_state_name(s->state), pid, s->cid,
			       s->cpus, s->memory_mib, created);
		}
	}
	kiln_sandbox_info_list_free(list, n);
	if (fflush(stdout) == EOF)
		code = CLI_EXIT_FAILURE;
	cli_close(&c);
	return code;
}

static void inspect_text(const struct kiln_sandbox_info *s)
{
	char created[32], jail[512];

	time_utc(s->created_at, created, sizeof(created));
	printf("id:            %s\n", s->id);
	printf("name:          %s\n", *s->name ? s->name : "-");
	printf("state:         %s\n", kiln_sandbox_state_name(s->state));
	if (s->vmm_pid)
		printf("pid:           %d (start time %llu)\n", s->vmm_pid,
		       (unsigned long long)s->vmm_start_time);
	else
		printf("pid:           -\n");
	printf("cid:           %u\n", s->cid);
	printf("net slot:      %u\n", s->net_slot);
	printf("created:       %s\n", created);
	printf("cpus:          %u\n", s->cpus);
	printf("memory:        %u MiB\n", s->memory_mib);
	printf("kernel:        %s\n", s->kernel_path ? s->kernel_path : "-");
	printf("image:         %s\n", s->image_path ? s->image_path : "-");
	if (s->cmdline_extra)
		printf("cmdline extra: %s\n", s->cmdline_extra);
	printf("runtime dir:   %s\n", s->runtime_dir ? s->runtime_dir : "-");
	if (kiln_sandbox_jail_status(s, jail, sizeof(jail)) == KILN_OK)
		printf(strstr(jail, "DISABLED") ? "jail:          !!! %s !!!\n"
						: "jail:          %s\n",
		       jail);
	/* recorded at creation: what every start of its VMM leaves out */
	if (s->jail_relax & KILN_JAIL_NO_SECCOMP)
		printf("relaxed:       !!! SECCOMP DISABLED: kiln-vmm runs "
		       "without its syscall filters (created with "
		       "--no-seccomp) !!!\n");
	if (s->jail_relax & KILN_JAIL_NO_CGROUP)
		printf("relaxed:       !!! CGROUP LIMITS DISABLED: no CPU, "
		       "memory or pid limits (created with "
		       "--no-cgroup-limits) !!!\n");
	if (s->jail_relax & KILN_JAIL_NO_PID_NS)
		printf("relaxed:       !!! PID NAMESPACE DISABLED: kiln-vmm "
		       "sees and can signal the host's processes of its uid "
		       "(created with --no-pid-ns) !!!\n");
	if (s->exit_reason)
		printf("exit reason:   %s\n", s->exit_reason);
}

/*
 * The sandbox's network policy: into *o as "network" (null without a
 * namespace), or printed.  0, or the failure's exit code.
 */
static int inspect_network(struct cli *c, const struct kiln_sandbox_info *s,
			   json_t *o)
{
	struct kiln_net_policy p;
	int rc = kiln_sandbox_get_network(c->k, s->id, &p);

	/* a broken network record must not hide the rest: warn */
	if (rc && rc != KILN_ESTATE)
		fprintf(stderr, "kiln: warning: %s\n", kiln_errmsg(c->k));
	if (o && json_object_set_new(o, "network",
				     rc ? json_null()
					: net_policy_json(&p, s->net_slot))) {
		kiln_net_policy_clear(&p);
		return CLI_EXIT_FAILURE;
	}
	if (!o && rc) {
		printf("network:       %s\n",
		       rc == KILN_ESTATE ? "none (no network namespace)"
					 : "unknown (see the warning)");
	} else if (!o) {
		printf("network:\n");
		net_policy_print(&p, s->net_slot, "  ", stdout);
	}
	kiln_net_policy_clear(&p);
	return 0;
}

/*
 * The jail's fields for --json: "jail" (the running VMM's confinement
 * line, null when none was started), "seccomp", "cgroup_limits" and
 * "pid_namespace" (false when the sandbox was created without them),
 * "jail_relax" (their names).  0, or -1 when out of memory.
 */
static int inspect_jail_json(const struct kiln_sandbox_info *s, json_t *o)
{
	json_t *names = json_array();
	char jail[512];

	if (!names)
		return -1;
	for (unsigned int bit = 1; bit & KILN_JAIL_RELAX_ALL; bit <<= 1)
		if ((s->jail_relax & bit) &&
		    json_array_append_new(
			    names, json_string(kiln_jail_relax_name(bit)))) {
			json_decref(names);
			return -1;
		}
	if (json_object_set_new(o, "jail_relax", names) ||
	    json_object_set_new(
		    o, "seccomp",
		    json_boolean(!(s->jail_relax & KILN_JAIL_NO_SECCOMP))) ||
	    json_object_set_new(
		    o, "cgroup_limits",
		    json_boolean(!(s->jail_relax & KILN_JAIL_NO_CGROUP))) ||
	    json_object_set_new(
		    o, "pid_namespace",
		    json_boolean(!(s->jail_relax & KILN_JAIL_NO_PID_NS))) ||
	    json_object_set_new(
		    o, "jail",
		    kiln_sandbox_jail_status(s, jail, sizeof(jail)) == KILN_OK
			    ? json_string(jail)
			    : json_null()))
		return -1;
	return 0;
}

static const struct option inspect_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

int cli_inspect(int argc, char **argv)
{
	struct kiln_sandbox_info info;
	bool json = false;
	struct cli c;
	int opt, rc, code = 0;

	optind = 1;
	opterr = 0;
	/* no '+': options may follow the sandbox */
	while ((opt = getopt_long(argc, argv, ":h", inspect_opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(inspect_usage, stdout);
			return 0;
		default:
			return cli_getopt_error("inspect", opt, argv, optind,
						optopt);
		}
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "no sandbox given");
	if (optind + 1 < argc)
		return cli_usage_error("inspect", "unexpected argument '%s'",
				       argv[optind + 1]);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_get(c.k, argv[optind], &info);
	if (rc) {
		code = cli_fail(&c, rc);
	} else {
		if (json) {
			json_t *o = cli_sandbox_json(&info);

			code = o ? inspect_network(&c, &info, o) : 0;
			if (o && !code && inspect_jail_json(&info, o))
				code = CLI_EXIT_FAILURE;
			if (code)
				json_decref(o);
			else
				code = json_print(o);
		} else {
			inspect_text(&info);
			code = inspect_network(&c, &info, NULL);
		}
		kiln_sandbox_info_clear(&info);
		if (fflush(stdout) == EOF)
			code = CLI_EXIT_FAILURE;
	}
	cli_close(&c);
	return code;
}
