/* SPDX-License-Identifier: MIT */
/*
 * Guest file operations through the public API (kiln_sandbox_file_*(),
 * kiln_sandbox_sync()) and `kiln fs` (src/cli/cmd_fs.c, compiled in: the
 * CLI is not in a library), on a sandbox attached to the real agent on a
 * Unix socket (agent_harness.h), no VM.  The agent works on this host's
 * file system as the same user, so results are checked with plain
 * syscalls.  The agent's sync op and its bad input are checked on the
 * wire (agent_raw.h).
 */
#include "agent_harness.h"
#include "agent_raw.h"

#include <dirent.h>
#include <sys/stat.h>

#include "kiln.h"

#include "agent/users.h"
#include "cli/cli_common.c"
#include "cli/cli_text.c"
#include "cli/cmd_fs.c"

#define T_MS 30000

static struct kiln *k;
static struct kiln_sandbox *sb;
/* the guest's users for the owner tests: alice is 1234:2345 */
static char passwd_path[128], group_path[128];

static char *path_in(const char *rel)
{
	/* A ring: results stay valid for the next 63 calls (one test). */
	static char buf[64][512];
	static unsigned int slot;
	char *p = buf[slot++ % 64];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmp_dir, rel);
	return p;
}

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int setup(void **state)
{
	struct kiln_options opts;
	char endpoint[160];

	/* inherited by the agent child forked in group_setup() */
	snprintf(passwd_path, sizeof(passwd_path),
		 "/tmp/kiln-test-files-passwd-%d", (int)getpid());
	snprintf(group_path, sizeof(group_path),
		 "/tmp/kiln-test-files-group-%d", (int)getpid());
	write_text(passwd_path, "root:x:0:0::/root:/bin/sh\n"
				"alice:x:1234:2345::/home/alice:/bin/sh\n");
	write_text(group_path, "root:x:0:\nstaff:x:2345:alice\n");
	users_set_files(passwd_path, group_path);
	if (group_setup(state))
		return -1;
	kiln_options_init(&opts);
	opts.runtime_dir = tmp_dir;
	opts.cache_dir = tmp_dir;
	opts.state_dir = tmp_dir;
	if (kiln_open(&opts, &k) != KILN_OK)
		return -1;
	snprintf(endpoint, sizeof(endpoint), "unix:%s", sock_path);
	return kiln_sandbox_attach(k, endpoint, &sb) == KILN_OK ? 0 : -1;
}

static int teardown(void **state)
{
	kiln_sandbox_destroy(sb);
	kiln_close(k);
	unlink(passwd_path);
	unlink(group_path);
	return group_teardown(state);
}

/* The message of the last failure contains want. */
static void assert_msg(const char *want)
{
	if (!strstr(kiln_errmsg(k), want))
		fail_msg("message \"%s\" lacks \"%s\"", kiln_errmsg(k), want);
}

/* ---- the agent's sync op on the wire ------------------------------------ */

static void test_agent_sync(void **state)
{
	struct agent_client *c = client_connect();
	char err[512], *fifo = path_in("fifo"), *text;
	struct raw r;
	json_t *j;

	/* announced in hello, with net_config */
	raw_open(&r, false);
	raw_ctl(&r, 1, "{\"op\":\"hello\",\"version\":1}");
	j = raw_expect(&r, 1, "result", NULL);
	text = json_dumps(json_object_get(j, "ops"), 0);
	assert_non_null(strstr(text, "\"sync\""));
	assert_non_null(strstr(text, "\"net_config\""));
	free(text);
	json_decref(j);
	raw_ctl(&r, 2, "{\"op\":\"sync\"}");
	raw_expect_free(&r, 2, "result", NULL);
	raw_ctl(&r, 3, "{\"op\":\"sync\",\"path\":\"/\"}");
	raw_expect_free(&r, 3, "result", NULL);
	/* bad input: relative, empty, wrong type, unknown field */
	raw_ctl(&r, 4, "{\"op\":\"sync\",\"path\":\"tmp\"}");
	j = raw_expect(&r, 4, "error", "invalid_request");
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "absolute"));
	json_decref(j);
	raw_ctl(&r, 5, "{\"op\":\"sync\",\"path\":\"\"}");
	raw_expect_free(&r, 5, "error", "invalid_request");
	raw_ctl(&r, 6, "{\"op\":\"sync\",\"path\":7}");
	raw_expect_free(&r, 6, "error", "invalid_request");
	raw_ctl(&r, 7, "{\"op\":\"sync\",\"fs\":\"/\"}");
	raw_expect_free(&r, 7, "error", "invalid_request");
	raw_ctl(&r, 8, "{\"op\":\"sync\",\"path\":\"/no/such/dir\"}");
	j = raw_expect(&r, 8, "error", "not_found");
	assert_string_equal(json_string_value(json_object_get(j, "errno")),
			    "ENOENT");
	json_decref(j);
	raw_close(&r);

	/* the client: a FIFO nobody writes must not block the agent */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(agent_client_sync(c, fifo, T_MS, err, sizeof(err)),
			 AGENT_OK);
	assert_int_equal(agent_client_sync(c, NULL, T_MS, err, sizeof(err)),
			 AGENT_OK);
	assert_int_equal(agent_client_sync(c, "", T_MS, err, sizeof(err)),
			 AGENT_ERR_INVAL);
	assert_int_equal(
		agent_client_sync(c, "/no/such", T_MS, err, sizeof(err)),
		AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "ENOENT"));
	/* the connection goes on */
	assert_int_equal(agent_client_sync(c, tmp_dir, T_MS, err, sizeof(err)),
			 AGENT_OK);
	agent_client_close(c);
	unlink(fifo);
}

/* ---- the public API ---------------------------------------------------- */

static void test_stat(void **state)
{
	struct kiln_file_stat st;
	char *f = path_in("st-file"), *l = path_in("st-link");

	put_file(f, "hello", 0640);
	assert_int_equal(symlink(f, l), 0);
	assert_int_equal(kiln_sandbox_file_stat(sb, f, 0, &st), KILN_OK);
	assert_int_equal(st.type, KILN_FILE_REGULAR);
	assert_int_equal(st.size, 5);
	assert_int_equal(st.mode, 0640);
	assert_int_equal(st.uid, getuid());
	assert_true(st.mtime > 1000000000);
	assert_int_equal(kiln_sandbox_file_stat(sb, l, 0, &st), KILN_OK);
	assert_int_equal(st.type, KILN_FILE_SYMLINK);
	assert_string_equal(kiln_file_type_name(st.type), "symlink");
	assert_int_equal(kiln_sandbox_file_stat(sb, l, 1, &st), KILN_OK);
	assert_int_equal(st.type, KILN_FILE_REGULAR);
	assert_int_equal(kiln_sandbox_file_stat(sb, tmp_dir, 0, &st), KILN_OK);
	assert_int_equal(st.type, KILN_FILE_DIR);
	/* ".." is resolved by the guest's kernel, as for any path */
	assert_int_equal(mkdir(path_in("st-dir"), 0755), 0);
	assert_int_equal(kiln_sandbox_file_stat(
				 sb, path_in("st-dir/../st-file"), 0, &st),
			 KILN_OK);
	assert_int_equal(st.size, 5);
	assert_int_equal(kiln_sandbox_file_remove(sb, path_in("st-dir"), 0),
			 KILN_OK);

	assert_int_equal(kiln_sandbox_file_stat(sb, path_in("nope"), 0, &st),
			 KILN_ENOTFOUND);
	assert_msg("ENOENT");
	assert_msg("nope");
	assert_int_equal(kiln_sandbox_file_stat(sb, "etc/passwd", 0, &st),
			 KILN_EINVAL);
	assert_msg("not absolute");
	assert_int_equal(kiln_sandbox_file_stat(sb, NULL, 0, &st), KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_stat(sb, "", 0, &st), KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_stat(sb, f, 0, NULL), KILN_EINVAL);
	assert_string_equal(kiln_file_type_name((enum kiln_file_type)99),
			    "unknown");
	unlink(l);
	unlink(f);
}

static void test_list(void **state)
{
	char *d = path_in("ls-dir");
	struct kiln_dir_entry *e = NULL;
	int truncated = -1, seen = 0;
	size_t n = 0;

	assert_int_equal(mkdir(d, 0755), 0);
	put_file(path_in("ls-dir/a"), "abc", 0644);
	assert_int_equal(mkdir(path_in("ls-dir/sub"), 0755), 0);
	assert_int_equal(symlink("/nowhere", path_in("ls-dir/ln")), 0);
	assert_int_equal(kiln_sandbox_file_list(sb, d, 0, &e, &n, &truncated),
			 KILN_OK);
	assert_int_equal(n, 3);
	assert_int_equal(truncated, 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(e[i].name, "a")) {
			assert_int_equal(e[i].type, KILN_FILE_REGULAR);
			assert_int_equal(e[i].size, 3);
			seen |= 1;
		} else if (!strcmp(e[i].name, "sub")) {
			assert_int_equal(e[i].type, KILN_FILE_DIR);
			seen |= 2;
		} else if (!strcmp(e[i].name, "ln")) {
			assert_int_equal(e[i].type, KILN_FILE_SYMLINK);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	kiln_dir_entries_free(e, n);
	assert_int_equal(kiln_sandbox_file_list(sb, d, 2, &e, &n, &truncated),
			 KILN_OK);
	assert_int_equal(n, 2);
	assert_int_equal(truncated, 1);
	kiln_dir_entries_free(e, n);
	/* an empty directory */
	assert_int_equal(kiln_sandbox_file_list(sb, path_in("ls-dir/sub"), 0,
						&e, &n, NULL),
			 KILN_OK);
	assert_int_equal(n, 0);
	kiln_dir_entries_free(e, n);

	assert_int_equal(kiln_sandbox_file_list(sb, path_in("ls-dir/a"), 0, &e,
						&n, &truncated),
			 KILN_EGUEST);
	assert_msg("ENOTDIR");
	assert_null(e);
	assert_int_equal(n, 0);
	assert_int_equal(
		kiln_sandbox_file_list(sb, path_in("ls-none"), 0, &e, &n, NULL),
		KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_file_list(sb, "rel", 0, &e, &n, NULL),
			 KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_list(sb, d, 100001, &e, &n, NULL),
			 KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_list(sb, d, 0, NULL, &n, NULL),
			 KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_remove(sb, d, 1), KILN_OK);
}

static void test_mkdir_remove_rename(void **state)
{
	char *top = path_in("mk"), *deep = path_in("mk/a/b/c");
	char *outside = path_in("mk-outside");
	struct stat st;

	/* mkdir without -p needs the parent */
	assert_int_equal(kiln_sandbox_file_mkdir(sb, deep, 0, 0, NULL),
			 KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_file_mkdir(sb, deep, 0700, 1, NULL),
			 KILN_OK);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(kiln_sandbox_file_mkdir(sb, deep, 0700, 1, NULL),
			 KILN_OK);
	assert_int_equal(kiln_sandbox_file_mkdir(sb, deep, 0700, 0, NULL),
			 KILN_EGUEST);
	assert_msg("EEXIST");
	assert_int_equal(kiln_sandbox_file_mkdir(sb, top, 010000, 1, NULL),
			 KILN_EINVAL);
	assert_int_equal(kiln_sandbox_file_mkdir(sb, "mk", 0, 1, NULL),
			 KILN_EINVAL);

	/* rename, also over an existing file (atomic replace) */
	put_file(path_in("mk/f1"), "one", 0644);
	put_file(path_in("mk/f2"), "two", 0644);
	assert_int_equal(kiln_sandbox_file_rename(sb, path_in("mk/f1"),
						  path_in("mk/f2")),
			 KILN_OK);
	assert_int_equal(access(path_in("mk/f1"), F_OK), -1);
	assert_int_equal(stat(path_in("mk/f2"), &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(kiln_sandbox_file_rename(sb, path_in("mk/f1"),
						  path_in("mk/f3")),
			 KILN_ENOTFOUND);
	assert_msg("rename");
	assert_int_equal(kiln_sandbox_file_rename(sb, path_in("mk/f2"), "f3"),
			 KILN_EINVAL);

	/* remove: non-empty needs -r; -r never follows a symlink */
	assert_int_equal(mkdir(outside, 0755), 0);
	put_file(path_in("mk-outside/keep"), "k", 0644);
	assert_int_equal(symlink(outside, path_in("mk/a/link")), 0);
	assert_int_equal(kiln_sandbox_file_remove(sb, top, 0), KILN_EGUEST);
	assert_msg("ENOTEMPTY");
	assert_int_equal(kiln_sandbox_file_remove(sb, top, 1), KILN_OK);
	assert_int_equal(access(top, F_OK), -1);
	assert_int_equal(access(path_in("mk-outside/keep"), F_OK), 0);
	assert_int_equal(kiln_sandbox_file_remove(sb, top, 0), KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_file_remove(sb, "/", 1), KILN_EINVAL);
	assert_msg("root directory");
	assert_int_equal(kiln_sandbox_file_remove(sb, "//", 1), KILN_EINVAL);
	assert_int_equal(
		kiln_sandbox_file_remove(sb, path_in("mk-outside/keep"), 0),
		KILN_OK);
	assert_int_equal(kiln_sandbox_file_remove(sb, outside, 0), KILN_OK);

	/* sync, everything or one file system */
	assert_int_equal(kiln_sandbox_sync(sb, NULL), KILN_OK);
	assert_int_equal(kiln_sandbox_sync(sb, tmp_dir), KILN_OK);
	assert_int_equal(kiln_sandbox_sync(sb, path_in("none")),
			 KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_sync(sb, "tmp"), KILN_EINVAL);
	assert_int_equal(kiln_sandbox_sync(NULL, NULL), KILN_EINVAL);
	/* none of the refusals broke the sandbox */
	assert_int_equal(kiln_sandbox_file_mkdir(sb, top, 0, 0, NULL), KILN_OK);
	assert_int_equal(kiln_sandbox_file_remove(sb, top, 0), KILN_OK);
}

/* ---- owners: write_file, mkdir, copies into the guest -------------------- */

static void assert_owner(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	if (st.st_uid != uid || st.st_gid != gid)
		fail_msg("%s belongs to %u:%u, not %u:%u", path,
			 (unsigned)st.st_uid, (unsigned)st.st_gid,
			 (unsigned)uid, (unsigned)gid);
}

/* No temporary file of write_file is left in dir. */
static void assert_no_tmp(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".kiln-"))
			fail_msg("left behind: %s/%s", dir, de->d_name);
	closedir(d);
}

static void test_owner_write_file(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_write_opts o = {
		.mode = 04750, .src_fd = -1, .data = "x", .len = 1};
	char err[512], *f = path_in("own/sub/f");
	struct stat st;
	struct raw r;
	json_t *j;

	assert_int_equal(mkdir(path_in("own"), 0755), 0);
	/* the owner first, then the exact mode: set-id bits survive */
	o.user = "alice";
	o.mkdir_parents = true;
	assert_int_equal(
		agent_client_write_file(c, f, &o, T_MS, NULL, err, sizeof(err)),
		AGENT_OK);
	assert_owner(f, 1234, 2345);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04750);
	/* the parent it created is alice's too, the existing one not */
	assert_owner(path_in("own/sub"), 1234, 2345);
	assert_owner(path_in("own"), getuid(), getgid());
	/* a uid (all digits) is looked up as well */
	o.user = "1234";
	o.mode = 0600;
	assert_int_equal(agent_client_write_file(c, path_in("own/g"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 AGENT_OK);
	assert_owner(path_in("own/g"), 1234, 2345);
	/* unknown: nothing written, no temporary file */
	o.user = "bob";
	assert_int_equal(agent_client_write_file(c, path_in("own/h"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "no user \"bob\""));
	assert_non_null(strstr(err, "no_such_user"));
	assert_int_equal(access(path_in("own/h"), F_OK), -1);
	o.user = "777";
	assert_int_equal(agent_client_write_file(c, path_in("own/h"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "no user with uid 777"));
	assert_no_tmp(path_in("own"));
	agent_client_close(c);

	/* on the wire: uid and gid as given; malformed owners */
	raw_open(&r, true);
	snprintf(err, sizeof(err),
		 "{\"op\":\"write_file\",\"path\":\"%s\",\"uid\":5,"
		 "\"gid\":6}",
		 path_in("own/ids"));
	raw_ctl(&r, 2, err);
	raw_send(&r, PROTO_STDIN, 2, "ab", 2);
	raw_send(&r, PROTO_EOF, 2, "\0", 1);
	raw_expect_free(&r, 2, "result", NULL);
	assert_owner(path_in("own/ids"), 5, 6);
	snprintf(err, sizeof(err),
		 "{\"op\":\"write_file\",\"path\":\"%s\",\"uid\":5}",
		 path_in("own/bad"));
	raw_ctl(&r, 3, err);
	j = raw_expect(&r, 3, "error", "invalid_request");
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "go together"));
	json_decref(j);
	snprintf(err, sizeof(err),
		 "{\"op\":\"write_file\",\"path\":\"%s\",\"user\":\"\"}",
		 path_in("own/bad"));
	raw_ctl(&r, 4, err);
	raw_expect_free(&r, 4, "error", "invalid_request");
	snprintf(err, sizeof(err),
		 "{\"op\":\"mkdir\",\"path\":\"%s\",\"user\":true}",
		 path_in("own/bad"));
	raw_ctl(&r, 5, err);
	raw_expect_free(&r, 5, "error", "invalid_request");
	snprintf(err, sizeof(err),
		 "{\"op\":\"mkdir\",\"path\":\"%s\",\"uid\":-1,"
		 "\"gid\":0}",
		 path_in("own/bad"));
	raw_ctl(&r, 6, err);
	raw_expect_free(&r, 6, "error", "invalid_request");
	raw_close(&r);
	assert_int_equal(access(path_in("own/bad"), F_OK), -1);
	assert_no_tmp(path_in("own"));
	assert_int_equal(kiln_sandbox_file_remove(sb, path_in("own"), 1),
			 KILN_OK);
}

static void test_owner_public(void **state)
{
	char *top = path_in("pub"), *deep = path_in("pub/a/b");
	int p[2];

	assert_int_equal(mkdir(top, 0755), 0);
	/* mkdir -p: every directory it creates, not the existing one */
	assert_int_equal(kiln_sandbox_file_mkdir(sb, deep, 0750, 1, "alice"),
			 KILN_OK);
	assert_owner(path_in("pub/a"), 1234, 2345);
	assert_owner(deep, 1234, 2345);
	assert_owner(top, getuid(), getgid());
	assert_int_equal(
		kiln_sandbox_file_mkdir(sb, path_in("pub/c"), 0, 0, "1234"),
		KILN_OK);
	assert_owner(path_in("pub/c"), 1234, 2345);
	assert_int_equal(
		kiln_sandbox_file_mkdir(sb, path_in("pub/d/e"), 0, 1, "bob"),
		KILN_EGUEST);
	assert_msg("no user \"bob\"");
	assert_int_equal(access(path_in("pub/d"), F_OK), -1);
	assert_int_equal(
		kiln_sandbox_file_mkdir(sb, path_in("pub/d"), 0, 0, ""),
		KILN_EINVAL);

	/* a file copied in, as a user; into a directory keeps its name */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "data", 4), 4);
	close(p[1]);
	assert_int_equal(kiln_sandbox_copy_to_guest_user(sb, p[0], deep, "f",
							 0640, "alice"),
			 KILN_OK);
	close(p[0]);
	assert_owner(path_in("pub/a/b/f"), 1234, 2345);
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(kiln_sandbox_copy_to_guest_user(
				 sb, p[0], path_in("pub/g"), NULL, 0, "bob"),
			 KILN_EGUEST);
	close(p[0]);
	assert_int_equal(access(path_in("pub/g"), F_OK), -1);
	assert_no_tmp(top);
	/* without a user: root (the agent's user), as before */
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(kiln_sandbox_copy_to_guest_user(
				 sb, p[0], path_in("pub/h"), NULL, 0, NULL),
			 KILN_OK);
	close(p[0]);
	assert_owner(path_in("pub/h"), getuid(), getgid());
	assert_int_equal(kiln_sandbox_file_remove(sb, top, 1), KILN_OK);
}

/* ---- kiln fs ------------------------------------------------------------ */

#define FS_ARGV(...) ((char *[]){"fs", __VA_ARGS__, NULL})
#define FS_ARGC(...) \
	((int)(sizeof((char *[]){"fs", __VA_ARGS__}) / sizeof(char *)))
#define FS_PARSE(a, err, ...) \
	fs_args_parse(FS_ARGC(__VA_ARGS__), FS_ARGV(__VA_ARGS__), a, err, 256)

static void expect_bad(int rc, const char *err, const char *want)
{
	assert_int_equal(rc, -1);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_cli_parse(void **state)
{
	struct fs_args a;
	char err[256];

	assert_int_equal(FS_PARSE(&a, err, "web", "stat", "-L", "/x", "--json"),
			 0);
	assert_string_equal(a.ref, "web");
	assert_int_equal(a.cmd, FS_STAT);
	assert_true(a.follow && a.json);
	assert_string_equal(a.path, "/x");
	assert_int_equal(
		FS_PARSE(&a, err, "web", "mkdir", "-p", "-m", "0700", "/a/b"),
		0);
	assert_true(a.parents && a.mode_set);
	assert_int_equal(a.mode, 0700);
	assert_null(a.user);
	assert_int_equal(
		FS_PARSE(&a, err, "web", "mkdir", "--user", "alice", "/a/b"),
		0);
	assert_string_equal(a.user, "alice");
	assert_int_equal(FS_PARSE(&a, err, "--json", "web", "rm", "-r", "/a"),
			 0);
	assert_true(a.recursive && a.json);
	assert_int_equal(FS_PARSE(&a, err, "web", "mv", "/a", "/b"), 0);
	assert_string_equal(a.path2, "/b");
	assert_int_equal(FS_PARSE(&a, err, "web", "sync"), 0);
	assert_null(a.path);
	assert_int_equal(FS_PARSE(&a, err, "web", "ls", "--limit", "5", "/"),
			 0);
	assert_int_equal(a.limit, 5);
	assert_int_equal(FS_PARSE(&a, err, "web", "stat", "--help"), 1);

	expect_bad(fs_args_parse(1, FS_ARGV(NULL), &a, err, 256), err,
		   "no sandbox");
	expect_bad(FS_PARSE(&a, err, "web"), err, "no command");
	expect_bad(FS_PARSE(&a, err, "web", "cat", "/x"), err,
		   "unknown command 'cat'");
	expect_bad(FS_PARSE(&a, err, "web", "stat"), err, "no guest path");
	expect_bad(FS_PARSE(&a, err, "web", "stat", "etc"), err,
		   "'etc' is not absolute");
	expect_bad(FS_PARSE(&a, err, "web", "mv", "/a"), err,
		   "expected SRC and DST");
	expect_bad(FS_PARSE(&a, err, "web", "mv", "/a", "b"), err,
		   "not absolute");
	expect_bad(FS_PARSE(&a, err, "web", "rm", "/a", "/b"), err,
		   "unexpected argument '/b'");
	expect_bad(FS_PARSE(&a, err, "web", "stat", "-p", "/a"), err,
		   "stat does not take -p");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "-p", "--follow", "/a"),
		   err, "mkdir does not take --follow");
	expect_bad(FS_PARSE(&a, err, "web", "sync", "--limit", "3"), err,
		   "sync does not take --limit");
	expect_bad(FS_PARSE(&a, err, "web", "rm", "-u", "alice", "/a"), err,
		   "rm does not take -u");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "/a", "-u"), err,
		   "-u needs a user");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "-u", "", "/a"), err,
		   "-u needs a user");
	expect_bad(FS_PARSE(&a, err, "web", "rm", "-rf", "/a"), err,
		   "unknown option -rf");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "-m", "9", "/a"), err,
		   "octal mode");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "-m", "17777", "/a"), err,
		   "octal mode");
	expect_bad(FS_PARSE(&a, err, "web", "mkdir", "/a", "-m"), err,
		   "octal mode");
	expect_bad(FS_PARSE(&a, err, "web", "ls", "--limit", "0", "/"), err,
		   "--limit");
	expect_bad(FS_PARSE(&a, err, "web", "ls", "/", "--limit"), err,
		   "--limit needs");
	/* after "--" an operand may start with '-' (and is then relative) */
	expect_bad(FS_PARSE(&a, err, "web", "stat", "--", "-x"), err,
		   "not absolute");
}

/* Run `kiln fs` args on sb; stdout into *out (malloc'ed). */
static int fs_capture(char **out, int argc, char **argv)
{
	struct fs_args a;
	char err[256];
	size_t len = 0;
	FILE *f;
	int rc;

	assert_int_equal(fs_args_parse(argc, argv, &a, err, sizeof(err)), 0);
	f = open_memstream(out, &len);
	assert_non_null(f);
	rc = fs_run(sb, &a, f);
	fclose(f);
	return rc;
}

#define FS_RUN(out, ...) \
	fs_capture(out, FS_ARGC(__VA_ARGS__), FS_ARGV(__VA_ARGS__))

static json_t *load(char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (!j)
		fail_msg("not JSON: %s", text);
	free(text);
	return j;
}

static void test_cli_run(void **state)
{
	char *out, *d = path_in("cli"), *f = path_in("cli/f"), line[64];
	json_t *j, *e;

	assert_int_equal(
		FS_RUN(&out, "web", "mkdir", "-p", "-m", "750", d, "--json"),
		KILN_OK);
	j = load(out);
	assert_string_equal(json_string_value(json_object_get(j, "op")),
			    "mkdir");
	assert_string_equal(json_string_value(json_object_get(j, "sandbox")),
			    "web");
	assert_int_equal(json_integer_value(json_object_get(j, "mode")), 0750);
	assert_true(json_is_true(json_object_get(j, "parents")));
	json_decref(j);
	put_file(f, "12345", 0600);

	assert_int_equal(FS_RUN(&out, "web", "stat", f, "--json"), KILN_OK);
	j = load(out);
	assert_string_equal(json_string_value(json_object_get(j, "type")),
			    "file");
	assert_string_equal(json_string_value(json_object_get(j, "path")), f);
	assert_int_equal(json_integer_value(json_object_get(j, "size")), 5);
	assert_int_equal(json_integer_value(json_object_get(j, "mode")), 0600);
	assert_string_equal(json_string_value(json_object_get(j, "mode_octal")),
			    "0600");
	assert_true(json_is_integer(json_object_get(j, "uid")));
	assert_true(json_is_integer(json_object_get(j, "gid")));
	assert_true(json_is_integer(json_object_get(j, "mtime")));
	assert_true(json_is_integer(json_object_get(j, "mtime_nsec")));
	json_decref(j);
	assert_int_equal(FS_RUN(&out, "web", "stat", f), KILN_OK);
	assert_non_null(strstr(out, "type:  file\n"));
	assert_non_null(strstr(out, "mode:  0600\n"));
	free(out);

	assert_int_equal(FS_RUN(&out, "web", "ls", d, "--json"), KILN_OK);
	j = load(out);
	assert_false(json_is_true(json_object_get(j, "truncated")));
	e = json_array_get(json_object_get(j, "entries"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "name")), "f");
	assert_string_equal(json_string_value(json_object_get(e, "type")),
			    "file");
	assert_int_equal(json_integer_value(json_object_get(e, "size")), 5);
	json_decref(j);
	assert_int_equal(FS_RUN(&out, "web", "ls", d), KILN_OK);
	snprintf(line, sizeof(line), "%-8s %12d  %s\n", "file", 5, "f");
	assert_non_null(strstr(out, line));
	free(out);

	assert_int_equal(
		FS_RUN(&out, "web", "mv", f, path_in("cli/g"), "--json"),
		KILN_OK);
	j = load(out);
	assert_string_equal(json_string_value(json_object_get(j, "to")),
			    path_in("cli/g"));
	json_decref(j);
	assert_int_equal(FS_RUN(&out, "web", "sync", "--json"), KILN_OK);
	j = load(out);
	assert_true(json_is_null(json_object_get(j, "path")));
	json_decref(j);
	assert_int_equal(FS_RUN(&out, "web", "rm", d), KILN_EGUEST);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(FS_RUN(&out, "web", "rm", "-r", d, "--json"), KILN_OK);
	j = load(out);
	assert_true(json_is_true(json_object_get(j, "recursive")));
	json_decref(j);
	/* a missing path: KILN_ENOTFOUND, which cli_fs() exits 1 for */
	assert_int_equal(FS_RUN(&out, "web", "stat", d, "--json"),
			 KILN_ENOTFOUND);
	assert_string_equal(out, "");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_sync),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_mkdir_remove_rename),
		cmocka_unit_test(test_owner_write_file),
		cmocka_unit_test(test_owner_public),
		cmocka_unit_test(test_cli_parse),
		cmocka_unit_test(test_cli_run),
	};

	/* harness helpers these tests do not need */
	(void)buf_append;
	(void)assert_gone;
	return cmocka_run_group_tests(tests, setup, teardown);
}
