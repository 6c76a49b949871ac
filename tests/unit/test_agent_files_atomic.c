/* SPDX-License-Identifier: MIT */
/*
 * Writes into the guest never destroy the old file before the new content
 * is complete (write_file and upload, see agent_harness.h): while an
 * upload is under way the target keeps its old content; a transfer that
 * fails part-way (truncated archive, a write error, a closed connection)
 * leaves the old file and no temporary file behind; a complete one
 * replaces the target in one rename (a new inode, the requested mode).
 * Write errors are real ones: the whole test group (agent included) runs
 * with RLIMIT_FSIZE at 1 MiB and SIGXFSZ ignored, so a larger file fails
 * with EFBIG part-way, as a full disk would.
 */
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "agent/files_tmp.h"
#include "agent/tar.h"
#include "agent_harness.h"
#include "agent_raw.h"

#define T_MS 30000
#define FSIZE_LIMIT (1u << 20)

static char *path_in(const char *rel)
{
	static char buf[32][512];
	static unsigned int slot;
	char *p = buf[slot++ % 32];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmp_dir, rel);
	return p;
}

static void put_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void assert_content(const char *path, const char *want)
{
	char got[256] = {0};
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_true(read(fd, got, sizeof(got) - 1) >= 0);
	close(fd);
	assert_string_equal(got, want);
}

/* Temporary files (".*.kiln-*") in dir. */
static int count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] == '.' && strstr(de->d_name, ".kiln-");
	closedir(d);
	return n;
}

/* Wait (with a deadline) until dir holds want temporary files. */
static void wait_tmp(const char *dir, int want)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (count_tmp(dir) != want) {
		if (now_ms() > deadline)
			fail_msg("%s: want %d temporary files, have %d", dir,
				 want, count_tmp(dir));
		pause_ms(5);
	}
}

/* One archive member's header and size bytes of content ('x'). */
static size_t member(uint8_t *out, const char *path, uint64_t size,
		     uint32_t mode)
{
	struct tar_entry e = {.type = TAR_FILE,
			      .path = path,
			      .linkpath = "",
			      .size = size,
			      .mode = mode,
			      .mtime = 1700000000};
	long n = tar_header_write(out, &e);

	assert_true(n > 0);
	memset(out + n, 'x', (size_t)size + tar_padding(size));
	return (size_t)n + (size_t)size + tar_padding(size);
}

static void upload_start(struct raw *r, uint32_t id, const char *dir)
{
	char req[700];

	snprintf(req, sizeof(req), "{\"op\":\"upload\",\"path\":\"%s\"}", dir);
	raw_ctl(r, id, req);
}

static void test_name_template(void **state)
{
	char out[NAME_MAX + 1], name[NAME_MAX + 1];

	files_tmp_template("a.txt", out);
	assert_string_equal(out, ".a.txt.kiln-XXXXXX");
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = 0;
	files_tmp_template(name, out);
	assert_int_equal(strlen(out), NAME_MAX);
	assert_string_equal(out + NAME_MAX - 12, ".kiln-XXXXXX");
}

/* Success: the old file stays until the new one is complete. */
static void test_upload_replaces_at_end(void **state)
{
	static uint8_t arc[8 * TAR_BLOCK + 4096];
	char *dir = path_in("u1"), *f = path_in("u1/f");
	struct stat before, after;
	struct raw r;
	size_t len, cut;
	json_t *j;

	assert_int_equal(mkdir(dir, 0755), 0);
	put_file(f, "old");
	assert_int_equal(stat(f, &before), 0);
	len = member(arc, "./f", 3000, 0751);
	memset(arc + len, 0, 2 * TAR_BLOCK);
	len += 2 * TAR_BLOCK;
	cut = TAR_BLOCK + 1000; /* header + part of the content */
	raw_open(&r, true);
	upload_start(&r, 2, dir);
	raw_send(&r, PROTO_STDIN, 2, arc, cut);
	wait_tmp(dir, 1); /* the agent is writing the new content ... */
	assert_content(f, "old"); /* ... beside the old one */
	raw_send(&r, PROTO_STDIN, 2, arc + cut, len - cut);
	raw_send(&r, PROTO_EOF, 2, "\0", 1);
	j = raw_expect(&r, 2, "result", NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "entries")), 1);
	json_decref(j);
	assert_int_equal(stat(f, &after), 0);
	assert_int_equal(after.st_size, 3000);
	assert_int_equal(after.st_mode & 07777, 0751);
	assert_true(after.st_ino != before.st_ino); /* renamed over it */
	assert_int_equal(count_tmp(dir), 0);
	raw_close(&r);
}

/* Truncated archive, connection closed, write error: old content stays. */
static void test_upload_failures_keep_old(void **state)
{
	static uint8_t arc[8 * TAR_BLOCK + 4096];
	char *dir = path_in("u2"), *f = path_in("u2/f");
	uint8_t *big;
	struct raw r;
	size_t len;

	assert_int_equal(mkdir(dir, 0755), 0);
	put_file(f, "old");
	len = member(arc, "f", 3000, 0644);
	/* an eof in the middle of the content: bad_archive, nothing changed */
	raw_open(&r, true);
	upload_start(&r, 2, dir);
	raw_send(&r, PROTO_STDIN, 2, arc, len - 1500);
	raw_send(&r, PROTO_EOF, 2, "\0", 1);
	raw_expect_free(&r, 2, "error", "bad_archive");
	assert_content(f, "old");
	assert_int_equal(count_tmp(dir), 0);
	/* the connection goes away mid-file */
	upload_start(&r, 3, dir);
	raw_send(&r, PROTO_STDIN, 3, arc, len - 1500);
	wait_tmp(dir, 1);
	raw_close(&r);
	wait_tmp(dir, 0);
	assert_content(f, "old");
	/* a write error (EFBIG here; ENOSPC takes the same path) */
	big = malloc(3 * TAR_BLOCK + 2 * FSIZE_LIMIT);
	assert_non_null(big);
	len = member(big, "f", 2 * FSIZE_LIMIT, 0644);
	memset(big + len, 0, 2 * TAR_BLOCK);
	len += 2 * TAR_BLOCK;
	raw_open(&r, true);
	upload_start(&r, 4, dir);
	for (size_t off = 0; off < len; off += 65536)
		raw_send(&r, PROTO_STDIN, 4, big + off,
			 len - off < 65536 ? len - off : 65536);
	raw_send(&r, PROTO_EOF, 4, "\0", 1);
	json_t *j = raw_expect(&r, 4, "error", "file_error");
	assert_string_equal(json_string_value(json_object_get(j, "errno")),
			    "EFBIG");
	json_decref(j);
	assert_content(f, "old");
	assert_int_equal(count_tmp(dir), 0);
	raw_close(&r);
	free(big);
}

/* A bad member after a good one: the good one is complete, so it stays. */
static void test_upload_bad_after_good(void **state)
{
	static uint8_t arc[8 * TAR_BLOCK + 4096];
	char *dir = path_in("u3"), *f = path_in("u3/f"), *g = path_in("u3/g");
	struct raw r;
	size_t len;

	assert_int_equal(mkdir(dir, 0755), 0);
	put_file(f, "old f");
	put_file(g, "old g");
	len = member(arc, "f", 10, 0644);
	len += member(arc + len, "g", 3000, 0644);
	arc[len - 3000 - tar_padding(3000) - TAR_BLOCK + 148] ^= 1; /* sum */
	raw_open(&r, true);
	upload_start(&r, 2, dir);
	raw_send(&r, PROTO_STDIN, 2, arc, len);
	raw_expect_free(&r, 2, "error", "bad_archive");
	assert_content(f, "xxxxxxxxxx");
	assert_content(g, "old g");
	assert_int_equal(count_tmp(dir), 0);
	raw_close(&r);
}

/* write_file: a failed write (EFBIG) or a long name. */
static void test_write_file(void **state)
{
	struct agent_client *c = client_connect();
	char *dir = path_in("w"), *f = path_in("w/f");
	struct agent_write_opts o = {.src_fd = -1, .mode = 0600};
	char name[NAME_MAX + 1], err[512], *longp;
	uint8_t *big = calloc(1, 2 * FSIZE_LIMIT);

	assert_non_null(big);
	assert_int_equal(mkdir(dir, 0755), 0);
	put_file(f, "old");
	o.data = big;
	o.len = 2 * FSIZE_LIMIT;
	assert_int_equal(
		agent_client_write_file(c, f, &o, T_MS, NULL, err, sizeof(err)),
		AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "EFBIG"));
	assert_content(f, "old");
	assert_int_equal(count_tmp(dir), 0);
	/* a 255-byte name still gets a temporary file */
	memset(name, 'l', NAME_MAX);
	name[NAME_MAX] = 0;
	longp = path_in("w/");
	assert_true(strlen(longp) + NAME_MAX < 512);
	strcat(longp, name);
	o.data = "long";
	o.len = 4;
	if (agent_client_write_file(c, longp, &o, T_MS, NULL, err,
				    sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_content(longp, "long");
	assert_int_equal(count_tmp(dir), 0);
	unlink(longp);
	agent_client_close(c);
	free(big);
}

static int setup(void **state)
{
	struct rlimit rl = {FSIZE_LIMIT, FSIZE_LIMIT};

	/* inherited by the agent: big writes fail with EFBIG, no signal */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return -1;
	return group_setup(state);
}

int main(void)
{
	(void)assert_gone;
	(void)buf_append;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_template),
		cmocka_unit_test(test_upload_replaces_at_end),
		cmocka_unit_test(test_upload_failures_keep_old),
		cmocka_unit_test(test_upload_bad_after_good),
		cmocka_unit_test(test_write_file),
	};

	return cmocka_run_group_tests(tests, setup, group_teardown);
}
