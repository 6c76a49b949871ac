/* SPDX-License-Identifier: MIT */
/*
 * `kiln fs`: file operations in a running persistent sandbox's guest
 * (stat, ls, mkdir, rm, mv, sync) over libkiln's kiln_sandbox_file_*()
 * and kiln_sandbox_sync().  Parsing (fs_args_parse()) and doing
 * (fs_run()) are apart so that the unit tests drive both without a VM.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/cli_text.h"
#include "kiln.h"

static const char fs_usage[] =
	"usage: kiln fs SANDBOX COMMAND [OPTIONS] ARGS... [--json]\n"
	"\n"
	"File operations in a running persistent sandbox's guest (SANDBOX:\n"
	"id, unique id prefix or name).  Guest paths are absolute.\n"
	"\n"
	"commands:\n"
	"  stat [-L] PATH          type, size, mode, owner, mtime of PATH\n"
	"                          (-L, --follow: of what a symlink points "
	"to)\n"
	"  ls [--limit N] PATH     the entries of directory PATH (at most N,\n"
	"                          default 10000, at most 100000)\n"
	"  mkdir [-p] [-m MODE] [-u USER] PATH  create directory PATH\n"
	"                          (-p, --parents: and missing parents,\n"
	"                          existing is fine; MODE octal, default\n"
	"                          755; USER, a name or uid in the guest,\n"
	"                          owns what is created, default root)\n"
	"  rm [-r] PATH            remove a file, symlink or empty directory\n"
	"                          (-r, --recursive: a whole tree; symlinks\n"
	"                          are removed, never followed)\n"
	"  mv SRC DST              rename SRC to DST (one guest file system;\n"
	"                          DST is replaced atomically)\n"
	"  sync [PATH]             flush the guest's page cache to its disks\n"
	"                          (PATH: only the file system holding it)\n"
	"\n"
	"options:\n"
	"  --json       print the result as one JSON object (docs/CLI.md)\n"
	"  -h, --help   show this help\n"
	"\n"
	"exit status: 0 done; 1 PATH (SRC) does not exist in the guest;\n"
	"125 other failures (usage, no such sandbox, refused by the guest,\n"
	"e.g. a directory not empty, with the errno in the message).\n";

enum fs_cmd { FS_STAT, FS_LS, FS_MKDIR, FS_RM, FS_MV, FS_SYNC };

struct fs_args {
	const char *ref;
	enum fs_cmd cmd;
	const char *path, *path2; /* path2: mv's DST */
	bool json, follow, parents, recursive;
	bool mode_set;
	unsigned int mode, limit;
	const char *user; /* mkdir -u */
};

static const struct {
	const char *name;
	enum fs_cmd cmd;
	int min_paths, max_paths;
	const char *opts; /* the options it takes: L p m u r l */
} fs_cmds[] = {
	{"stat", FS_STAT, 1, 1, "L"},	  {"ls", FS_LS, 1, 1, "l"},
	{"mkdir", FS_MKDIR, 1, 1, "pmu"}, {"rm", FS_RM, 1, 1, "r"},
	{"mv", FS_MV, 2, 2, ""},	  {"sync", FS_SYNC, 0, 1, ""},
};

/* Octal permission bits 0..7777, e.g. "755" or "0700". */
static int parse_mode(const char *s, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!*s || strspn(s, "01234567") != strlen(s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || *end || v > 07777)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * argv[0] is "fs".  Returns 0 (a filled in), 1 for --help, or -1 with a
 * message in err.  Guest paths never start with '-', so options may come
 * anywhere (up to "--").
 */
static int fs_args_parse(int argc, char **argv, struct fs_args *a, char *err,
			 size_t errlen)
{
	/* seen['p']: how option p was written, to name it if out of place */
	const char *pos[5], *seen[128] = {0}, *flags;
	bool opts = true;
	int npos = 0;
	size_t ci;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (opts && (!strcmp(s, "-h") || !strcmp(s, "--help")))
			return 1;
		if (opts && !strcmp(s, "--")) {
			opts = false;
		} else if (opts && !strcmp(s, "--json")) {
			a->json = true;
		} else if (opts &&
			   (!strcmp(s, "-L") || !strcmp(s, "--follow"))) {
			a->follow = true;
			seen['L'] = s;
		} else if (opts &&
			   (!strcmp(s, "-p") || !strcmp(s, "--parents"))) {
			a->parents = true;
			seen['p'] = s;
		} else if (opts && (!strcmp(s, "-r") || !strcmp(s, "-R") ||
				    !strcmp(s, "--recursive"))) {
			a->recursive = true;
			seen['r'] = s;
		} else if (opts && (!strcmp(s, "-m") || !strcmp(s, "--mode"))) {
			if (i + 1 >= argc ||
			    parse_mode(argv[i + 1], &a->mode)) {
				snprintf(err, errlen,
					 "%s needs an octal mode 0..7777 "
					 "(e.g. 755)",
					 s);
				return -1;
			}
			a->mode_set = true;
			seen['m'] = s;
			i++;
		} else if (opts && (!strcmp(s, "-u") || !strcmp(s, "--user"))) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				snprintf(err, errlen,
					 "%s needs a user name or uid", s);
				return -1;
			}
			a->user = argv[++i];
			seen['u'] = s;
		} else if (opts && !strcmp(s, "--limit")) {
			if (i + 1 >= argc) {
				snprintf(err, errlen,
					 "--limit needs a number 1..100000");
				return -1;
			}
			if (cli_parse_uint(s, argv[i + 1], 1, 100000, "",
					   &a->limit, err, errlen))
				return -1;
			seen['l'] = s;
			i++;
		} else if (opts && s[0] == '-' && s[1]) {
			snprintf(err, errlen, "unknown option %s", s);
			return -1;
		} else if (npos < 5) {
			pos[npos++] = s;
		} else {
			snprintf(err, errlen, "unexpected argument '%s'", s);
			return -1;
		}
	}
	if (npos < 1) {
		snprintf(err, errlen, "no sandbox given");
		return -1;
	}
	a->ref = pos[0];
	if (npos < 2) {
		snprintf(err, errlen,
			 "no command given (stat, ls, mkdir, rm, mv, sync)");
		return -1;
	}
	for (ci = 0; ci < sizeof(fs_cmds) / sizeof(fs_cmds[0]); ci++)
		if (!strcmp(pos[1], fs_cmds[ci].name))
			break;
	if (ci == sizeof(fs_cmds) / sizeof(fs_cmds[0])) {
		snprintf(err, errlen,
			 "unknown command '%s' (stat, ls, mkdir, rm, mv, sync)",
			 pos[1]);
		return -1;
	}
	a->cmd = fs_cmds[ci].cmd;
	flags = fs_cmds[ci].opts;
	for (const char *f = "Lpmurl"; *f; f++)
		if (seen[(int)*f] && !strchr(flags, *f)) {
			snprintf(err, errlen, "%s does not take %s", pos[1],
				 seen[(int)*f]);
			return -1;
		}
	if (npos - 2 < fs_cmds[ci].min_paths) {
		snprintf(err, errlen, "%s: %s", pos[1],
			 a->cmd == FS_MV ? "expected SRC and DST"
					 : "no guest path given");
		return -1;
	}
	if (npos - 2 > fs_cmds[ci].max_paths) {
		snprintf(err, errlen, "%s: unexpected argument '%s'", pos[1],
			 pos[2 + fs_cmds[ci].max_paths]);
		return -1;
	}
	a->path = npos > 2 ? pos[2] : NULL;
	a->path2 = npos > 3 ? pos[3] : NULL;
	for (int i = 2; i < npos; i++)
		if (pos[i][0] != '/') {
			snprintf(err, errlen,
				 "%s: the guest path '%s' is not absolute "
				 "(guest paths start with /)",
				 pos[1], pos[i]);
			return -1;
		}
	return 0;
}

/*
 * Print o (consumed) to out, indented, with a newline.  0, or
 * FS_PRINT_FAILED after saying why (the operation itself was done).
 */
#define FS_PRINT_FAILED 1
static int fs_print_json(FILE *out, json_t *o)
{
	int rc;

	if (!o) {
		fprintf(stderr, "kiln: out of memory for the JSON result\n");
		return FS_PRINT_FAILED;
	}
	rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (rc || fputc('\n', out) == EOF || fflush(out)) {
		fprintf(stderr, "kiln: cannot write the result: %s\n",
			strerror(errno));
		return FS_PRINT_FAILED;
	}
	return 0;
}

static int fs_stat(struct kiln_sandbox *sb, const struct fs_args *a, FILE *out)
{
	struct kiln_file_stat st;
	char octal[8], when[64] = "?";
	time_t t;
	struct tm tm;
	int rc;

	rc = kiln_sandbox_file_stat(sb, a->path, a->follow, &st);
	if (rc)
		return rc;
	snprintf(octal, sizeof(octal), "%04o", st.mode);
	if (a->json)
		return fs_print_json(
			out,
			json_pack("{s:s,s:s,s:s,s:I,s:i,s:s,s:I,s:I,s:I,"
				  "s:I}",
				  "sandbox", a->ref, "path", a->path, "type",
				  kiln_file_type_name(st.type), "size",
				  (json_int_t)st.size, "mode", (int)st.mode,
				  "mode_octal", octal, "uid",
				  (json_int_t)st.uid, "gid", (json_int_t)st.gid,
				  "mtime", (json_int_t)st.mtime, "mtime_nsec",
				  (json_int_t)st.mtime_nsec));
	t = (time_t)st.mtime;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out,
		"path:  %s\ntype:  %s\nsize:  %llu\nmode:  %s\n"
		"owner: %u:%u\nmtime: %s\n",
		a->path, kiln_file_type_name(st.type),
		(unsigned long long)st.size, octal, st.uid, st.gid, when);
	return KILN_OK;
}

static int fs_ls(struct kiln_sandbox *sb, const struct fs_args *a, FILE *out)
{
	struct kiln_dir_entry *e = NULL;
	json_t *arr, *o;
	int truncated = 0, rc;
	size_t n = 0;

	rc = kiln_sandbox_file_list(sb, a->path, a->limit, &e, &n, &truncated);
	if (rc)
		return rc;
	if (!a->json) {
		fprintf(out, "%-8s %12s  %s\n", "TYPE", "SIZE", "NAME");
		for (size_t i = 0; i < n; i++) {
			fprintf(out, "%-8s %12llu  ",
				kiln_file_type_name(e[i].type),
				(unsigned long long)e[i].size);
			cli_put_untrusted(out, e[i].name);
			fputc('\n', out);
		}
		if (truncated)
			fprintf(stderr,
				"kiln: only the first %zu entries are shown "
				"(--limit N shows more)\n",
				n);
		kiln_dir_entries_free(e, n);
		return KILN_OK;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		o = json_pack("{s:s,s:s,s:I}", "name", e[i].name, "type",
			      kiln_file_type_name(e[i].type), "size",
			      (json_int_t)e[i].size);
		if (json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	kiln_dir_entries_free(e, n);
	return fs_print_json(out,
			     arr ? json_pack("{s:s,s:s,s:o,s:b}", "sandbox",
					     a->ref, "path", a->path, "entries",
					     arr, "truncated", truncated)
				 : NULL);
}

/*
 * Do what a asks in sb; results go to out.  Returns a kiln status (the
 * message on the handle), or FS_PRINT_FAILED.
 */
static int fs_run(struct kiln_sandbox *sb, const struct fs_args *a, FILE *out)
{
	json_t *o = NULL;
	int rc;

	switch (a->cmd) {
	case FS_STAT:
		return fs_stat(sb, a, out);
	case FS_LS:
		return fs_ls(sb, a, out);
	case FS_MKDIR:
		rc = kiln_sandbox_file_mkdir(sb, a->path,
					     a->mode_set ? a->mode : 0755,
					     a->parents, a->user);
		if (!rc && a->json)
			o = json_pack(
				"{s:s,s:s,s:s,s:b,s:i,s:o}", "sandbox", a->ref,
				"op", "mkdir", "path", a->path, "parents",
				a->parents, "mode",
				(int)(a->mode_set ? a->mode : 0755), "user",
				a->user ? json_string(a->user) : json_null());
		break;
	case FS_RM:
		rc = kiln_sandbox_file_remove(sb, a->path, a->recursive);
		if (!rc && a->json)
			o = json_pack("{s:s,s:s,s:s,s:b}", "sandbox", a->ref,
				      "op", "rm", "path", a->path, "recursive",
				      a->recursive);
		break;
	case FS_MV:
		rc = kiln_sandbox_file_rename(sb, a->path, a->path2);
		if (!rc && a->json)
			o = json_pack("{s:s,s:s,s:s,s:s}", "sandbox", a->ref,
				      "op", "mv", "from", a->path, "to",
				      a->path2);
		break;
	case FS_SYNC:
	default:
		rc = kiln_sandbox_sync(sb, a->path);
		if (!rc && a->json)
			o = json_pack("{s:s,s:s,s:o}", "sandbox", a->ref, "op",
				      "sync", "path",
				      a->path ? json_string(a->path)
					      : json_null());
		break;
	}
	if (rc || !a->json)
		return rc;
	return fs_print_json(out, o);
}

int cli_fs(int argc, char **argv)
{
	struct kiln_sandbox *sb;
	struct fs_args a;
	char err[512];
	struct cli c;
	int rc, code;

	rc = fs_args_parse(argc, argv, &a, err, sizeof(err));
	if (rc > 0) {
		fputs(fs_usage, stdout);
		return 0;
	}
	if (rc < 0)
		return cli_usage_error("fs", "%s", err);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, a.ref, &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	rc = fs_run(sb, &a, stdout);
	if (rc == FS_PRINT_FAILED)
		code = CLI_EXIT_FAILURE;
	else if (rc)
		code = cli_fail(&c, rc);
	else
		code = 0;
	/* like kill's "no such process": the guest has no such path */
	if (rc == KILN_ENOTFOUND)
		code = 1;
	kiln_sandbox_close(sb);
	cli_close(&c);
	return code;
}
