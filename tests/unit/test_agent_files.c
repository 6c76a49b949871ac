/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent file operations end to end on the host (agent on a Unix
 * socket, see agent_harness.h) through libkiln's agent client: a 16 MiB
 * random binary round trip, atomic writes, modes, stat, list_dir, mkdir -p,
 * remove -r (symlinks not followed), rename, errors, and exec on the same
 * connection afterwards.  The agent runs as the same user on the same
 * filesystem, so the tests check results with plain syscalls too.
 */
#include <dirent.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "agent_harness.h"
#include "lib/agent_client_int.h"

#define T_MS 30000

static char *path_in(const char *rel)
{
	/* A ring: results stay valid for the next 63 calls (one test). */
	static char buf[64][512];
	static unsigned int slot;
	char *p = buf[slot++ % 64];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmp_dir, rel);
	return p;
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = getrandom(p + off, n - off, 0);

		assert_true(r > 0);
		off += (size_t)r;
	}
}

static int put(struct agent_client *c, const char *path, const void *data,
	       size_t len, unsigned int mode, bool parents, char *err)
{
	struct agent_write_opts o = {.mode = mode,
				     .mkdir_parents = parents,
				     .src_fd = -1,
				     .data = data,
				     .len = len};
	uint64_t written = 0;
	int rc = agent_client_write_file(c, path, &o, T_MS, &written, err, 512);

	if (rc == 0)
		assert_int_equal(written, len);
	return rc;
}

static void test_round_trip_16m(void **state)
{
	const size_t n = 16u << 20;
	struct agent_client *c = client_connect();
	uint8_t *data = malloc(n);
	char *p = path_in("big.bin");
	struct buf got = {0};
	uint64_t size = 0;
	char err[512];

	assert_non_null(data);
	fill_random(data, n);
	assert_int_equal(put(c, p, data, n, 0600, false, err), 0);
	assert_int_equal(agent_client_read_file(c, p, -1, buf_append, &got,
						T_MS, &size, err, sizeof(err)),
			 0);
	assert_int_equal(size, n);
	assert_int_equal(got.len, n);
	assert_memory_equal(got.p, data, n);

	/* into a file descriptor, and from one */
	char *q = path_in("big.copy");
	int fd = open(q, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(agent_client_read_file(c, p, fd, NULL, NULL, T_MS,
						&size, err, sizeof(err)),
			 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct agent_write_opts o = {.mode = 0640, .src_fd = fd};
	char *r = path_in("big.fromfd");
	uint64_t written = 0;
	assert_int_equal(agent_client_write_file(c, r, &o, T_MS, &written, err,
						 sizeof(err)),
			 0);
	close(fd);
	assert_int_equal(written, n);
	got.len = 0;
	assert_int_equal(agent_client_read_file(c, r, -1, buf_append, &got,
						T_MS, &size, err, sizeof(err)),
			 0);
	assert_int_equal(got.len, n);
	assert_memory_equal(got.p, data, n);

	/* an empty file */
	assert_int_equal(put(c, p, "", 0, 0, false, err), 0);
	got.len = 0;
	assert_int_equal(agent_client_read_file(c, p, -1, buf_append, &got,
						T_MS, &size, err, sizeof(err)),
			 0);
	assert_int_equal(size, 0);
	assert_int_equal(got.len, 0);
	unlink(p);
	unlink(q);
	unlink(r);
	free(got.p);
	free(data);
	agent_client_close(c);
}

/* No file appears at the target, complete or partial, until the rename. */
static void test_write_atomic(void **state)
{
	struct agent_client *c = client_connect();
	char *target = path_in("nodir/sub/f.txt");
	char *dir = path_in("nodir");
	struct stat st;
	char err[512];
	int rc;

	rc = put(c, target, "hello", 5, 0, false, err);
	assert_int_equal(rc, AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "ENOENT"));
	assert_non_null(strstr(err, target));
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* a big write refused early: the stream stays in sync */
	const size_t big = 4u << 20;
	uint8_t *data = calloc(1, big);
	struct agent_file_stat ast;
	assert_non_null(data);
	rc = put(c, target, data, big, 0, false, err);
	assert_int_equal(rc, AGENT_ERR_NOT_FOUND);
	free(data);
	assert_int_equal(agent_client_stat(c, tmp_dir, false, T_MS, &ast, err,
					   sizeof(err)),
			 0);
	assert_int_equal(ast.type, AGENT_FILE_DIR);

	/* replacing: the old content stays until the new one is complete */
	char *f = path_in("atomic.txt");
	assert_int_equal(put(c, f, "old", 3, 0, false, err), 0);
	assert_int_equal(put(c, f, "new content", 11, 0, false, err), 0);
	struct buf got = {0};
	assert_int_equal(agent_client_read_file(c, f, -1, buf_append, &got,
						T_MS, NULL, err, sizeof(err)),
			 0);
	assert_string_equal((char *)got.p, "new content");
	free(got.p);

	/* an aborted transfer (connection closed mid-way) leaves no trace */
	struct agent_client *c2 = client_connect();
	int sfd[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sfd), 0);
	assert_int_equal(write(sfd[1], "partial", 7), 7);
	struct agent_write_opts o = {.src_fd = sfd[0]};
	char *g = path_in("aborted.txt");
	/* the source never reaches EOF: the client times out */
	rc = agent_client_write_file(c2, g, &o, 300, NULL, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_TIMEOUT);
	agent_client_close(c2);
	close(sfd[0]);
	close(sfd[1]);
	/* wait until the agent noticed the close and cleaned up */
	int64_t deadline = now_ms() + 10000;
	for (;;) {
		DIR *d = opendir(tmp_dir);
		struct dirent *de;
		bool tmp_left = false;

		assert_non_null(d);
		while ((de = readdir(d)))
			if (strstr(de->d_name, "aborted"))
				tmp_left = true;
		closedir(d);
		if (!tmp_left)
			break;
		assert_true(now_ms() < deadline);
		pause_ms(10);
	}
	assert_int_equal(stat(g, &st), -1);
	unlink(f);
	agent_client_close(c);
}

static void test_mode_and_stat(void **state)
{
	struct agent_client *c = client_connect();
	char *f = path_in("mode.sh"), *p = path_in("deep/er/x.txt");
	struct agent_file_stat ast;
	struct stat st;
	char err[512];

	assert_int_equal(put(c, f, "#!/bin/sh\n", 10, 0750, false, err), 0);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(
		agent_client_stat(c, f, false, T_MS, &ast, err, sizeof(err)),
		0);
	assert_int_equal(ast.type, AGENT_FILE_REGULAR);
	assert_int_equal(ast.size, 10);
	assert_int_equal(ast.mode, 0750);
	assert_int_equal(ast.uid, st.st_uid);
	assert_int_equal(ast.gid, st.st_gid);
	assert_int_equal(ast.mtime, st.st_mtim.tv_sec);
	assert_int_equal(ast.mtime_nsec, st.st_mtim.tv_nsec);

	/* mkdir_parents */
	assert_int_equal(put(c, p, "x", 1, 0, true, err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(agent_client_stat(c, path_in("deep/er"), false, T_MS,
					   &ast, err, sizeof(err)),
			 0);
	assert_int_equal(ast.type, AGENT_FILE_DIR);

	/* symlinks: lstat by default, followed on request */
	char *l = path_in("link");
	assert_int_equal(symlink(f, l), 0);
	assert_int_equal(
		agent_client_stat(c, l, false, T_MS, &ast, err, sizeof(err)),
		0);
	assert_int_equal(ast.type, AGENT_FILE_SYMLINK);
	assert_int_equal(
		agent_client_stat(c, l, true, T_MS, &ast, err, sizeof(err)), 0);
	assert_int_equal(ast.type, AGENT_FILE_REGULAR);
	assert_int_equal(ast.size, 10);
	unlink(l);
	unlink(f);
	assert_int_equal(agent_client_remove(c, path_in("deep"), true, T_MS,
					     err, sizeof(err)),
			 0);
	agent_client_close(c);
}

static const struct agent_dir_entry *entry(const struct agent_dir_entry *e,
					   size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

static void test_dirs(void **state)
{
	struct agent_client *c = client_connect();
	char *top = path_in("tree"), *sub = path_in("tree/a/b/c");
	struct agent_dir_entry *e;
	const struct agent_dir_entry *x;
	bool trunc = true;
	struct stat st;
	char err[512];
	size_t n;

	/* mkdir without parents fails, with parents works, twice */
	assert_int_equal(agent_client_mkdir(c, sub, 0, false, NULL, T_MS, err,
					    sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	assert_int_equal(agent_client_mkdir(c, sub, 0, true, NULL, T_MS, err,
					    sizeof(err)),
			 0);
	assert_int_equal(agent_client_mkdir(c, sub, 0, true, NULL, T_MS, err,
					    sizeof(err)),
			 0);
	assert_int_equal(agent_client_mkdir(c, sub, 0, false, NULL, T_MS, err,
					    sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "EEXIST"));
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));

	assert_int_equal(put(c, path_in("tree/f1"), "12345", 5, 0, 0, err), 0);
	assert_int_equal(put(c, path_in("tree/a/f2"), "1", 1, 0, 0, err), 0);
	/* a symlink out of the tree: remove -r must not follow it */
	char *outside = path_in("outside");
	assert_int_equal(agent_client_mkdir(c, outside, 0, false, NULL, T_MS,
					    err, sizeof(err)),
			 0);
	assert_int_equal(put(c, path_in("outside/keep"), "k", 1, 0, 0, err), 0);
	assert_int_equal(symlink(outside, path_in("tree/a/ln")), 0);

	assert_int_equal(agent_client_list_dir(c, top, 0, T_MS, &e, &n, &trunc,
					       err, sizeof(err)),
			 0);
	assert_int_equal(n, 2);
	assert_false(trunc);
	x = entry(e, n, "f1");
	assert_non_null(x);
	assert_int_equal(x->type, AGENT_FILE_REGULAR);
	assert_int_equal(x->size, 5);
	x = entry(e, n, "a");
	assert_non_null(x);
	assert_int_equal(x->type, AGENT_FILE_DIR);
	agent_dir_free(e, n);

	assert_int_equal(agent_client_list_dir(c, path_in("tree/a"), 0, T_MS,
					       &e, &n, &trunc, err,
					       sizeof(err)),
			 0);
	assert_int_equal(n, 3);
	x = entry(e, n, "ln");
	assert_non_null(x);
	assert_int_equal(x->type, AGENT_FILE_SYMLINK);
	agent_dir_free(e, n);

	/* the cap */
	assert_int_equal(agent_client_list_dir(c, path_in("tree/a"), 2, T_MS,
					       &e, &n, &trunc, err,
					       sizeof(err)),
			 0);
	assert_int_equal(n, 2);
	assert_true(trunc);
	agent_dir_free(e, n);

	/* remove: non-empty dir without recursive fails */
	assert_int_equal(
		agent_client_remove(c, top, false, T_MS, err, sizeof(err)),
		AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "ENOTEMPTY"));
	assert_int_equal(
		agent_client_remove(c, top, true, T_MS, err, sizeof(err)), 0);
	assert_int_equal(lstat(top, &st), -1);
	assert_int_equal(stat(path_in("outside/keep"), &st), 0);

	/* rename a file and a directory */
	assert_int_equal(agent_client_rename(c, path_in("outside/keep"),
					     path_in("outside/kept"), T_MS, err,
					     sizeof(err)),
			 0);
	assert_int_equal(stat(path_in("outside/kept"), &st), 0);
	assert_int_equal(agent_client_rename(c, outside, path_in("moved"), T_MS,
					     err, sizeof(err)),
			 0);
	assert_int_equal(stat(path_in("moved/kept"), &st), 0);
	assert_int_equal(agent_client_rename(c, outside, path_in("x"), T_MS,
					     err, sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	/* remove a file, an empty dir */
	assert_int_equal(agent_client_remove(c, path_in("moved/kept"), false,
					     T_MS, err, sizeof(err)),
			 0);
	assert_int_equal(agent_client_remove(c, path_in("moved"), false, T_MS,
					     err, sizeof(err)),
			 0);
	assert_int_equal(lstat(path_in("moved"), &st), -1);
	agent_client_close(c);
}

static void test_errors(void **state)
{
	struct agent_client *c = client_connect();
	char *missing = path_in("missing");
	struct agent_file_stat ast;
	struct buf got = {0};
	char err[512], *reply = NULL;
	struct agent_dir_entry *e;
	size_t n;
	int rc;

	rc = agent_client_read_file(c, missing, -1, buf_append, &got, T_MS,
				    NULL, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, "ENOENT"));
	assert_int_equal(agent_client_stat(c, missing, false, T_MS, &ast, err,
					   sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	assert_int_equal(
		agent_client_remove(c, missing, false, T_MS, err, sizeof(err)),
		AGENT_ERR_NOT_FOUND);
	assert_int_equal(agent_client_list_dir(c, missing, 0, T_MS, &e, &n,
					       NULL, err, sizeof(err)),
			 AGENT_ERR_NOT_FOUND);

	/* relative paths are refused */
	rc = agent_client_read_file(c, "etc/passwd", -1, buf_append, &got, T_MS,
				    NULL, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "absolute"));
	rc = put(c, "rel.txt", "x", 1, 0, false, err);
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "invalid_request"));
	assert_int_equal(agent_client_mkdir(c, "a/b", 0, true, NULL, T_MS, err,
					    sizeof(err)),
			 AGENT_ERR_REMOTE);

	/* directory vs file */
	rc = agent_client_read_file(c, tmp_dir, -1, buf_append, &got, T_MS,
				    NULL, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "EISDIR"));
	rc = put(c, tmp_dir, "x", 1, 0, false, err);
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "EISDIR"));
	char *f = path_in("plain");
	assert_int_equal(put(c, f, "x", 1, 0, false, err), 0);
	assert_int_equal(agent_client_list_dir(c, f, 0, T_MS, &e, &n, NULL, err,
					       sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "ENOTDIR"));
	rc = put(c, path_in("plain/under"), "x", 1, 0, true, err);
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "ENOTDIR"));
	unlink(f);

	/* strict requests: unknown fields, wrong types */
	rc = agent_client_call(c,
			       "{\"op\":\"stat\",\"path\":\"/\",\"bogus\":1}",
			       T_MS, &reply, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "invalid_request"));
	free(reply);
	rc = agent_client_call(c, "{\"op\":\"remove\",\"path\":\"/\"}", T_MS,
			       &reply, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	free(reply);
	rc = agent_client_call(
		c, "{\"op\":\"write_file\",\"path\":\"/x\",\"mode\":99999}",
		T_MS, &reply, err, sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "mode"));
	free(reply);
	free(got.p);

	/* the connection is still fine: exec works after all of that */
	const char *const argv[] = {"sh", "-c", "echo ok", NULL};
	struct agent_exec_opts o = {.argv = argv, .wait_timeout_ms = T_MS};
	struct agent_exec_io io;
	struct agent_exec_result res;
	struct buf out = {0};

	agent_exec_io_init(&io);
	io.on_stdout = buf_append;
	io.stdout_ctx = &out;
	assert_int_equal(agent_client_exec(c, &o, &io, &res, err, sizeof(err)),
			 0);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal((char *)out.p, "ok\n");
	free(out.p);
	agent_client_close(c);
}

/* Files and exec interleave on one connection; the hello lists the ops. */
static void test_exec_after_files(void **state)
{
	struct agent_client *c = client_connect();
	char *f = path_in("script.sh");
	const char *script = "#!/bin/sh\necho from-script \"$1\"\n";
	const char *const argv[] = {f, "arg", NULL};
	struct agent_exec_opts o = {.argv = argv, .wait_timeout_ms = T_MS};
	struct agent_exec_result res;
	struct agent_exec_io io;
	struct buf out = {0}, got = {0};
	char err[512], *reply = NULL;

	assert_int_equal(agent_client_call(c,
					   "{\"op\":\"hello\",\"version\":1}",
					   T_MS, &reply, err, sizeof(err)),
			 0);
	assert_non_null(strstr(reply, "\"read_file\""));
	assert_non_null(strstr(reply, "\"list_dir\""));
	free(reply);
	assert_int_equal(put(c, f, script, strlen(script), 0755, false, err),
			 0);
	agent_exec_io_init(&io);
	io.on_stdout = buf_append;
	io.stdout_ctx = &out;
	assert_int_equal(agent_client_exec(c, &o, &io, &res, err, sizeof(err)),
			 0);
	assert_int_equal(res.exit_code, 0);
	assert_string_equal((char *)out.p, "from-script arg\n");
	assert_gone(res.pid); /* reaped by the agent */
	/* and a file op again after the exec */
	assert_int_equal(agent_client_read_file(c, f, -1, buf_append, &got,
						T_MS, NULL, err, sizeof(err)),
			 0);
	assert_string_equal((char *)got.p, script);
	assert_int_equal(
		agent_client_remove(c, f, false, T_MS, err, sizeof(err)), 0);
	free(out.p);
	free(got.p);
	agent_client_close(c);
}

/*
 * A client that asks for a big file and never reads: the agent stops
 * queueing (bounded memory) and keeps serving other connections.
 */
static void test_stalled_reader(void **state)
{
	const size_t n = 32u << 20;
	struct agent_client *c = client_connect(), *c2;
	const char *req = "{\"op\":\"read_file\",\"path\":\"%s\"}";
	char *p = path_in("stall.bin"), json[600], err[512];
	uint8_t frame[PROTO_HDR_SIZE + sizeof(json)];
	struct agent_ping_info info;
	int fd, len;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)n), 0);
	close(fd);
	len = snprintf(json, sizeof(json), req, p);
	proto_hdr_encode(frame, PROTO_CONTROL, 77, (uint32_t)len);
	memcpy(frame + PROTO_HDR_SIZE, json, (size_t)len);
	assert_int_equal(write(c->fd, frame, PROTO_HDR_SIZE + (size_t)len),
			 PROTO_HDR_SIZE + len);
	for (int i = 0; i < 20; i++) {
		c2 = client_connect();
		assert_int_equal(
			agent_client_ping(c2, 5000, &info, err, sizeof(err)),
			0);
		agent_client_close(c2);
	}
	agent_client_close(c); /* aborts the transfer */
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_16m),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_mode_and_stat),
		cmocka_unit_test(test_dirs),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_exec_after_files),
		cmocka_unit_test(test_stalled_reader),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
