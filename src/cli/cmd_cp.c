/* SPDX-License-Identifier: MIT */
/*
 * `kiln cp`: copy a regular file, or with -r a directory tree, between the
 * host and a running persistent sandbox.  SANDBOX:PATH names the guest
 * side; a guest file is replaced atomically by the agent, a host file
 * through a temporary file renamed into place, so neither is ever seen
 * half-written.  Trees stream as tar archives (libkiln's copy_dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/exec_output.h"
#include "kiln.h"

static const char usage[] =
	"usage: kiln cp [-r] [-u USER] [--max-bytes SIZE] [--max-entries N]\n"
	"               [--json] SRC DST\n"
	"\n"
	"Copy a regular file between the host and a running persistent\n"
	"sandbox.  Exactly one of SRC and DST is SANDBOX:PATH (SANDBOX: id,\n"
	"unique id prefix or name; PATH absolute in the guest); the other is\n"
	"a host path, or - for stdin/stdout.  A host path with a ':' before\n"
	"any '/' must be written ./like:this.  If DST is an existing\n"
	"directory the file keeps its name in it.  Permission bits of a host\n"
	"SRC are kept.  --json: print what was copied as a JSON object (not\n"
	"with - as DST).\n"
	"\n"
	"  -r, -R, --recursive  copy a directory tree: like cp -r, SRC is\n"
	"                       copied as DST, or into DST/NAME if DST is an\n"
	"                       existing directory (SRC ending in /. copies\n"
	"                       its contents into DST).  Files, directories\n"
	"                       and symlinks (not followed) keep modes and\n"
	"                       mtimes; devices, fifos, sockets are skipped.\n"
	"                       With - as SRC or DST the tree is a tar\n"
	"                       archive on stdin/stdout.\n"
	"  -u, --user USER      into a sandbox: the file, or what a tree "
	"copy\n"
	"                       creates, belongs to USER (name or uid in the\n"
	"                       guest: its uid and primary group; default\n"
	"                       root)\n"
	"  --max-bytes SIZE     with -r out of a sandbox: fail if the files\n"
	"                       hold more than SIZE bytes (suffix K, M, G, T:\n"
	"                       powers of 1024; default 64G)\n"
	"  --max-entries N      with -r out of a sandbox: fail if the tree "
	"has\n"
	"                       more than N entries (default 1000000)\n"
	"\n"
	"exit status: 0 copied, 125 failed (a file DST unchanged; a tree\n"
	"copied out of a sandbox is removed again, a tree copied into one\n"
	"may be partly there).\n";

/* "123", "64G": a count of bytes (K, M, G, T: powers of 1024), > 0. */
static int parse_size(const char *opt, const char *s, uint64_t *out)
{
	char err[256];

	if (exec_output_parse_size(opt, s, UINT64_MAX, out, err, sizeof(err)))
		return cli_usage_error("cp", "%s", err);
	return 0;
}

/* SANDBOX:PATH?  Splits it (in place) if so. */
static bool guest_spec(char *arg, char **ref, char **path)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return false;
	*colon = '\0';
	*ref = arg;
	*path = colon + 1;
	return true;
}

static void report_tree(struct cli *c, int rc,
			const struct kiln_copy_stats *stats)
{
	if (rc)
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
	else if (stats->skipped)
		fprintf(stderr,
			"kiln: skipped %llu entries that are not files, "
			"directories or symlinks\n",
			(unsigned long long)stats->skipped);
}

static int copy_in(struct cli *c, struct kiln_sandbox *sb, const char *src,
		   const char *gpath, bool recursive, const char *user)
{
	struct kiln_copy_stats stats = {0};
	struct stat st;
	char *dup = NULL;
	int fd, rc;

	if (!strcmp(src, "-") && recursive) {
		rc = kiln_sandbox_upload_tar(sb, STDIN_FILENO, gpath, user,
					     &stats);
		report_tree(c, rc, &stats);
		return rc;
	}
	if (!strcmp(src, "-")) {
		rc = kiln_sandbox_copy_to_guest_user(sb, STDIN_FILENO, gpath,
						     NULL, 0644, user);
		if (rc)
			fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
		return rc;
	}
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "kiln: cannot open %s: %s\n", src,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return KILN_ESYS;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		if (!recursive) {
			fprintf(stderr,
				"kiln: %s is a directory; use kiln cp -r to "
				"copy directories\n",
				src);
			return KILN_EINVAL;
		}
		rc = kiln_sandbox_copy_dir_to_guest(sb, src, gpath, user,
						    &stats);
		report_tree(c, rc, &stats);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr,
			"kiln: %s is not a regular file or a directory\n", src);
		close(fd);
		return KILN_EINVAL;
	}
	dup = strdup(src);
	rc = kiln_sandbox_copy_to_guest_user(sb, fd, gpath,
					     dup ? basename(dup) : NULL,
					     st.st_mode & 07777, user);
	if (rc)
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
	free(dup);
	close(fd);
	return rc;
}

static int copy_out(struct cli *c, struct kiln_sandbox *sb, const char *gpath,
		    const char *dst, bool recursive,
		    const struct kiln_copy_limits *lim)
{
	char *target = NULL, *tmp = NULL, *gdup;
	struct kiln_copy_stats stats = {0};
	struct stat st;
	mode_t mask;
	int fd = -1, rc;

	if (recursive) {
		if (!strcmp(dst, "-"))
			rc = kiln_sandbox_download_tar(sb, gpath, STDOUT_FILENO,
						       &stats);
		else
			rc = kiln_sandbox_copy_dir_from_guest_limits(
				sb, gpath, dst, lim, &stats);
		report_tree(c, rc, &stats);
		return rc;
	}
	gdup = strdup(gpath);
	if (!gdup)
		return KILN_ENOMEM;
	if (!strcmp(dst, "-")) {
		rc = kiln_sandbox_copy_from_guest(sb, gpath, STDOUT_FILENO,
						  NULL);
		if (rc)
			fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
		free(gdup);
		return rc;
	}
	if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode))
		rc = asprintf(&target, "%s/%s", dst, basename(gdup)) < 0;
	else
		rc = (target = strdup(dst)) == NULL;
	if (!rc)
		rc = asprintf(&tmp, "%s.kiln-cp-XXXXXX", target) < 0;
	if (rc) {
		free(gdup);
		free(target);
		return KILN_ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kiln: cannot create a file next to %s: %s\n",
			target, strerror(errno));
		rc = KILN_ESYS;
		goto out;
	}
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	rc = kiln_sandbox_copy_from_guest(sb, gpath, fd, NULL);
	if (rc) {
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
	} else if (fsync(fd) < 0 || rename(tmp, target) < 0) {
		fprintf(stderr, "kiln: cannot write %s: %s\n", target,
			strerror(errno));
		rc = KILN_ESYS;
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(target);
	free(gdup);
	return rc;
}

int cli_cp(int argc, char **argv)
{
	char *src, *dst, *ref, *gpath, *pos[2];
	bool in, recursive = false, opts = true;
	struct kiln_sandbox *sb;
	struct cli c;
	bool json = false;
	const char *user = NULL;
	struct kiln_copy_limits lim = {0};
	bool limits = false;
	int rc, code, npos = 0;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	/* by hand: "-" is an operand (stdin/stdout), not an option */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (opts && (!strcmp(a, "-r") || !strcmp(a, "-R") ||
			     !strcmp(a, "--recursive")))
			recursive = true;
		else if (opts && !strcmp(a, "--json"))
			json = true;
		else if (opts && (!strcmp(a, "-u") || !strcmp(a, "--user")) &&
			 i + 1 < argc)
			user = argv[++i];
		else if (opts && !strcmp(a, "--max-bytes") && i + 1 < argc) {
			rc = parse_size(a, argv[++i], &lim.max_bytes);
			if (rc)
				return rc;
			limits = true;
		} else if (opts && !strcmp(a, "--max-entries") &&
			   i + 1 < argc) {
			const char *v = argv[++i];
			char *end;

			errno = 0;
			lim.max_entries = v[0] >= '0' && v[0] <= '9'
						  ? strtoull(v, &end, 10)
						  : 0;
			if (!lim.max_entries || errno || *end)
				return cli_usage_error(
					"cp",
					"--max-entries: '%s' is not a "
					"whole number > 0",
					v);
			limits = true;
		} else if (opts && !strcmp(a, "--"))
			opts = false;
		else if (opts && a[0] == '-' && a[1])
			return cli_usage_error("cp", "unknown option %s", a);
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return cli_usage_error("cp", "expected SRC and DST");
	}
	if (npos != 2)
		return cli_usage_error("cp", "expected SRC and DST");
	src = pos[0];
	dst = pos[1];
	if (guest_spec(dst, &ref, &gpath)) {
		char *r2, *p2;

		if (guest_spec(src, &r2, &p2))
			return cli_usage_error(
				"cp", "both sides are in sandboxes; copy "
				      "through the host");
		in = true;
	} else if (guest_spec(src, &ref, &gpath)) {
		in = false;
	} else {
		return cli_usage_error("cp", "neither side is SANDBOX:PATH");
	}
	if (json && !in && !strcmp(dst, "-"))
		return cli_usage_error("cp", "--json and DST '-' exclude each "
					     "other (stdout carries the file)");
	if (limits && (!recursive || in || !strcmp(dst, "-")))
		return cli_usage_error(
			"cp", "--max-bytes and --max-entries apply to "
			      "trees copied out of a sandbox (with -r, "
			      "DST not -)");
	if (user && !in)
		return cli_usage_error("cp",
				       "-u applies to copies into a sandbox "
				       "(files out of one belong to you)");
	if (user && !user[0])
		return cli_usage_error("cp", "-u needs a user name or uid");
	if (gpath[0] != '/')
		return cli_usage_error("cp",
				       "the guest path '%s' is not "
				       "absolute",
				       gpath);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, ref, &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	rc = in ? copy_in(&c, sb, src, gpath, recursive, user)
		: copy_out(&c, sb, gpath, dst, recursive, &lim);
	code = rc ? CLI_EXIT_FAILURE : 0;
	if (!rc && json)
		code = cli_json_print(
			json_pack("{s:s, s:s, s:s, s:s}", "sandbox", ref,
				  "direction", in ? "to_guest" : "from_guest",
				  "host", in ? src : dst, "guest", gpath));
	if (rc == KILN_ECANCELED) {
		int sig = cli_signal_received(&c);

		if (sig > 0)
			code = 128 + sig;
	}
	kiln_sandbox_close(sb);
	cli_close(&c);
	return code;
}
