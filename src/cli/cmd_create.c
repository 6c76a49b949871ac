/* SPDX-License-Identifier: MIT */
/*
 * `kiln create`: boot a persistent sandbox whose VMM keeps running after
 * kiln exits; print its id (or its JSON) once its agent answers.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/net_args.h"
#include "kiln.h"

static const char usage[] =
	"usage: kiln create [OPTIONS]\n"
	"\n"
	"Boot a persistent sandbox and print its id once its agent answers.\n"
	"Its VM keeps running after kiln exits, until `kiln stop` or "
	"`kiln rm`.\n"
	"\n"
	"options:\n"
	"  --name NAME          a unique name (letters, digits, '_', '.', "
	"'-';\n"
	"                       up to 63, starting with a letter or digit)\n"
	"  --cpus N             vCPUs (1..32, default 1)\n"
	"  --memory MIB         guest memory in MiB (128..16384, default 256)\n"
	"  --image NAME|PATH    root file system: a path, or a name for\n"
	"                       $KILN_CACHE/images/NAME.ext4 (default base)\n"
	"  --kernel PATH        guest kernel (default "
	"$KILN_CACHE/kernel/vmlinux)\n"
	"  --boot-timeout S     wait at most S seconds for the guest to boot\n"
	"  --no-jail            run kiln-vmm outside the jail (debugging "
	"only;\n"
	"                       `kiln inspect` shows JAIL DISABLED)\n"
	"  --no-seccomp         kiln-vmm without its syscall filters "
	"(debugging\n"
	"                       only; `kiln inspect` shows SECCOMP DISABLED)\n"
	"  --no-cgroup-limits   jailed without a cgroup: no CPU, memory or "
	"pid\n"
	"                       limits (debugging only; `kiln inspect` shows\n"
	"                       CGROUP LIMITS DISABLED)\n"
	"  --no-pid-ns          jailed in the host's PID namespace (debugging\n"
	"                       only; `kiln inspect` shows PID NAMESPACE\n"
	"                       DISABLED)\n"
	"  --from SANDBOX:CHECKPOINT  restore that checkpoint (`kiln\n"
	"                       snapshot ls`) instead of booting afresh: its\n"
	"                       processes, memory and files, with this\n"
	"                       sandbox's own id, CID, name and network; its\n"
	"                       kernel, image, cpus and memory are the\n"
	"                       checkpoint's (other values are refused)\n"
	"  --json               print the sandbox as JSON (see docs/CLI.md)\n"
	"  -q, --quiet          no boot progress on stderr\n"
	"  -h, --help           show this help\n"
	"\n";

static const char usage_tail[] =
	"\n"
	"exit status: 0 created; 2 bad network option (nothing is done);\n"
	"125 failed (nothing is left behind); 128+N stopped by signal N "
	"(the\n"
	"sandbox is rolled back).\n";

static const struct option longopts[] = {
	{"name", required_argument, NULL, 'N'},
	{"cpus", required_argument, NULL, 'c'},
	{"memory", required_argument, NULL, 'm'},
	{"image", required_argument, NULL, 'I'},
	{"kernel", required_argument, NULL, 'K'},
	{"boot-timeout", required_argument, NULL, 'B'},
	{"from", required_argument, NULL, 'F'},
	{"json", no_argument, NULL, 'j'},
	{"no-jail", no_argument, NULL, 'U'},
	{"no-seccomp", no_argument, NULL, 'S'},
	{"no-cgroup-limits", no_argument, NULL, 'G'},
	{"no-pid-ns", no_argument, NULL, 'P'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	NET_ARGS_LONGOPTS,
	{NULL, 0, NULL, 0},
};

/*
 * --no-seccomp, --no-cgroup-limits, --no-pid-ns: added to $KILN_JAIL_RELAX,
 * which
 * kiln_open() reads (kiln_options.jail_relax's complement) and the new
 * sandbox records.
 */
static int relax_add(const char *word)
{
	const char *old = getenv("KILN_JAIL_RELAX");
	char *v;
	int rc;

	if (old && *old) {
		if (asprintf(&v, "%s,%s", old, word) < 0)
			return -1;
	} else if (!(v = strdup(word))) {
		return -1;
	}
	rc = setenv("KILN_JAIL_RELAX", v, 1);
	free(v);
	return rc;
}

/* A bad network option: exit 2 (docs/CLI.md), unlike other usage errors. */
static int net_usage_error(const char *msg)
{
	fprintf(stderr, "kiln create: %s\nsee 'kiln create --help'\n", msg);
	return CLI_EXIT_USAGE;
}

/*
 * The create cannot be reported (its object not read back, stdout not
 * written): it fails as a whole, so the sandbox goes again, as for any
 * failed create (docs/CLI.md: on failure nothing is left).
 */
static int create_undo(struct cli *c, const char *id, const char *what)
{
	int sig = cli_signal_received(c);

	fprintf(stderr, "kiln: sandbox %s was created, but %s; removing it\n",
		id, what);
	if (kiln_sandbox_remove(c->k, id, 1))
		fprintf(stderr,
			"kiln: removing sandbox %s failed: %s; remove it with "
			"'kiln rm --force %s'\n",
			id, kiln_errmsg(c->k), id);
	return sig > 0 ? 128 + sig : CLI_EXIT_FAILURE;
}

static int create_print_id(struct cli *c, const char *id)
{
	char what[256];

	if (printf("%s\n", id) >= 0 && fflush(stdout) != EOF)
		return 0;
	snprintf(what, sizeof(what), "its id cannot be written to stdout: %s",
		 strerror(errno));
	return create_undo(c, id, what);
}

/*
 * --json: the whole object or nothing (docs/CLI.md, "JSON output": every
 * field is always present), never a partial one with exit status 0.
 */
static int create_print_json(struct cli *c, const char *id)
{
	struct kiln_sandbox_info info;
	char what[1024];
	json_t *o = NULL;
	int rc;

	rc = kiln_sandbox_get(c->k, id, &info);
	if (rc == KILN_ENOTFOUND) {
		/* another kiln removed it meanwhile: nothing to undo */
		fprintf(stderr, "kiln: sandbox %s was created, but %s\n", id,
			kiln_errmsg(c->k));
		return CLI_EXIT_FAILURE;
	}
	if (rc) {
		snprintf(what, sizeof(what), "reading it back failed: %s",
			 kiln_errmsg(c->k));
		return create_undo(c, id, what);
	}
	o = cli_sandbox_json(&info);
	kiln_sandbox_info_clear(&info);
	if (!o)
		return create_undo(c, id, "out of memory");
	if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
	    putchar('\n') == EOF || fflush(stdout) == EOF) {
		snprintf(what, sizeof(what),
			 "its JSON cannot be written to stdout: %s",
			 strerror(errno));
		json_decref(o);
		return create_undo(c, id, what);
	}
	json_decref(o);
	return 0;
}

int cli_create(int argc, char **argv)
{
	struct kiln_sandbox_config cfg = {.persistent = 1};
	struct kiln_net_policy pol;
	struct net_args na;
	struct kiln_sandbox *sb;
	unsigned int boot_s = 0;
	bool json = false, quiet = false;
	char err[512], *image = NULL, seen[128] = {0}, id[KILN_ID_LEN + 1];
	const char *image_arg = NULL;
	struct cli c;
	int opt, rc, code = 0;

	net_args_init(&na);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:qh", longopts, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return cli_getopt_error("create", opt, argv, optind,
						optopt);
		if (opt >= NET_OPT_BASE) {
			if (net_args_add(&na,
					 (enum net_opt)(opt - NET_OPT_BASE),
					 optarg, err, sizeof(err)))
				return net_usage_error(err);
			continue;
		}
		if (opt != 'h' && seen[opt & 127]++)
			return cli_usage_error("create",
					       "%s given more than once",
					       argv[optind - 1]);
		switch (opt) {
		case 'N':
			cfg.name = optarg;
			break;
		case 'c':
			if (cli_parse_uint("--cpus", optarg, KILN_CPUS_MIN,
					   KILN_CPUS_MAX, "", &cfg.cpus, err,
					   sizeof(err)))
				return cli_usage_error("create", "%s", err);
			break;
		case 'm':
			if (cli_parse_uint("--memory", optarg,
					   KILN_MEMORY_MIB_MIN,
					   KILN_MEMORY_MIB_MAX, " MiB",
					   &cfg.memory_mib, err, sizeof(err)))
				return cli_usage_error("create", "%s", err);
			break;
		case 'B':
			if (cli_parse_uint("--boot-timeout", optarg, 1, 86400,
					   " seconds", &boot_s, err,
					   sizeof(err)))
				return cli_usage_error("create", "%s", err);
			break;
		case 'I':
			image_arg = optarg;
			break;
		case 'K':
			cfg.kernel_path = optarg;
			break;
		case 'F':
			cfg.from_checkpoint = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'U':
			/* read by kiln_open() (kiln_options.jail's override) */
			setenv("KILN_JAIL", "0", 1);
			break;
		case 'S':
		case 'G':
		case 'P':
			if (relax_add(opt == 'S'   ? "seccomp"
				      : opt == 'G' ? "cgroup"
						   : "pid-ns")) {
				fprintf(stderr, "kiln create: out of memory\n");
				return CLI_EXIT_FAILURE;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			fputs(net_args_help, stdout);
			fputs(usage_tail, stdout);
			return 0;
		}
	}
	if (optind < argc)
		return cli_usage_error("create", "unexpected argument '%s'",
				       argv[optind]);
	if ((image_arg && !*image_arg) ||
	    (cfg.kernel_path && !*cfg.kernel_path))
		return cli_usage_error("create", "empty path");
	if (cfg.from_checkpoint && !*cfg.from_checkpoint)
		return cli_usage_error("create", "--from needs "
						 "SANDBOX:CHECKPOINT");
	if (na.given) {
		if (net_args_finish(&na, &pol, err, sizeof(err)))
			return net_usage_error(err);
		cfg.network = &pol;
	}
	if (cli_open(&c, boot_s))
		return CLI_EXIT_FAILURE;
	/* an image name (no '/') is one of the cache's built images */
	if (image_arg && !strchr(image_arg, '/')) {
		if (asprintf(&image, "%s/images/%s.ext4", kiln_cache_dir(c.k),
			     image_arg) < 0) {
			cli_close(&c);
			return CLI_EXIT_FAILURE;
		}
		cfg.image_path = image;
	} else {
		cfg.image_path = image_arg;
	}
	if (!quiet) {
		cfg.progress = cli_progress_show;
		cfg.progress_ctx = &c.prog;
	}
	rc = kiln_sandbox_create(c.k, &cfg, &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", kiln_sandbox_id(sb));
	kiln_sandbox_close(sb);
	code = json ? create_print_json(&c, id) : create_print_id(&c, id);
out:
	free(image);
	cli_close(&c);
	return code;
}
