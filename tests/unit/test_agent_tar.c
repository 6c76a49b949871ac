/* SPDX-License-Identifier: MIT */
/*
 * Directory trees through the agent (upload / download, tar streams; see
 * agent_harness.h): a tree with nested directories, a symlink, modes, a
 * long name and a 16 MiB random file goes host -> guest -> host through
 * libarchive on the host and the agent's own tar code, compared byte for
 * byte and mode for mode; malicious archives ("..", absolute names,
 * writing through a symlink) are refused on both sides; truncated
 * streams are reported.  The agent runs as the same user on the same
 * filesystem, so results are checked with plain syscalls.
 */
#include <dirent.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "agent/tar.h"
#include "agent_harness.h"
#include "lib/copy_dir.h"

#define T_MS 60000
#define BIG (16u << 20)

static char *path_in(const char *rel)
{
	static char buf[64][512];
	static unsigned int slot;
	char *p = buf[slot++ % 64];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmp_dir, rel);
	return p;
}

static void write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* Two trees equal: types, modes, contents, link targets, file mtimes. */
static void assert_same_tree(const char *a, const char *b, int depth)
{
	struct dirent *de;
	DIR *d = opendir(a);
	size_t n = 0;

	assert_non_null(d);
	assert_true(depth < 32);
	while ((de = readdir(d))) {
		char pa[1024], pb[1024];
		struct stat sa, sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(pa, sizeof(pa), "%s/%s", a, de->d_name);
		snprintf(pb, sizeof(pb), "%s/%s", b, de->d_name);
		assert_int_equal(lstat(pa, &sa), 0);
		if (S_ISFIFO(sa.st_mode)) { /* skipped on purpose */
			assert_int_equal(lstat(pb, &sb), -1);
			continue;
		}
		if (lstat(pb, &sb) != 0)
			fail_msg("%s missing (copy of %s)", pb, pa);
		n++;
		assert_int_equal(sa.st_mode & S_IFMT, sb.st_mode & S_IFMT);
		if (S_ISDIR(sa.st_mode)) {
			assert_int_equal(sa.st_mode & 07777,
					 sb.st_mode & 07777);
			assert_same_tree(pa, pb, depth + 1);
		} else if (S_ISLNK(sa.st_mode)) {
			char la[512] = {0}, lb[512] = {0};

			assert_true(readlink(pa, la, sizeof(la) - 1) > 0);
			assert_true(readlink(pb, lb, sizeof(lb) - 1) > 0);
			assert_string_equal(la, lb);
		} else {
			size_t la, lb;
			uint8_t *ca = read_all(pa, &la),
				*cb = read_all(pb, &lb);

			assert_int_equal(sa.st_mode & 07777,
					 sb.st_mode & 07777);
			assert_int_equal(la, lb);
			assert_memory_equal(ca, cb, la);
			assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
			free(ca);
			free(cb);
		}
	}
	closedir(d);
	/* and nothing extra in b */
	d = opendir(b);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_true(n-- > 0);
	closedir(d);
}

static void make_tree(const char *root, uint8_t *big)
{
	char p[1024], longname[200];
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};

	assert_int_equal(mkdir(root, 0750), 0);
	snprintf(p, sizeof(p), "%s/a", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a/b/c", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b/c/deep.txt", root);
	write_file(p, "deep\n", 5, 0640);
	snprintf(p, sizeof(p), "%s/run.sh", root);
	write_file(p, "#!/bin/sh\necho hi\n", 18, 0755);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	snprintf(p, sizeof(p), "%s/empty", root);
	write_file(p, "", 0, 0600);
	snprintf(p, sizeof(p), "%s/big.bin", root);
	write_file(p, big, BIG, 0644);
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(symlink("a/b/c/deep.txt", p), 0);
	snprintf(p, sizeof(p), "%s/abs-link", root);
	assert_int_equal(symlink("/nonexistent/target", p), 0);
	memset(longname, 'n', 150);
	longname[150] = 0;
	snprintf(p, sizeof(p), "%s/a/%s", root, longname);
	write_file(p, "long\n", 5, 0644);
	snprintf(p, sizeof(p), "%s/fifo", root);
	assert_int_equal(mkfifo(p, 0644), 0);
}

static void test_tree_round_trip(void **state)
{
	struct agent_client *c = client_connect();
	uint8_t *big = malloc(BIG);
	struct agent_tar_stats ts;
	char err[1024];
	size_t off = 0;

	assert_non_null(big);
	while (off < BIG) {
		ssize_t r = getrandom(big + off, BIG - off, 0);

		assert_true(r > 0);
		off += (size_t)r;
	}
	make_tree(path_in("src"), big);
	/* host -> guest (libarchive writes, the agent extracts) */
	if (copy_dir_upload(c, path_in("src"), path_in("guest"), NULL, T_MS,
			    &ts, err, sizeof(err)) != 0)
		fail_msg("upload: %s", err);
	assert_int_equal(ts.entries, 11); /* ./ a b c deep run empty big
					     long link abs-link */
	assert_int_equal(ts.skipped, 1); /* the fifo */
	assert_true(ts.size > BIG);
	assert_same_tree(path_in("src"), path_in("guest"), 0);
	/* guest -> host (the agent writes, libarchive extracts) */
	if (copy_dir_download(c, path_in("guest"), path_in("back"), NULL, T_MS,
			      &ts, err, sizeof(err)) != 0)
		fail_msg("download: %s", err);
	assert_int_equal(ts.entries, 11);
	assert_same_tree(path_in("guest"), path_in("back"), 0);
	/* merging into an existing tree replaces files */
	write_file(path_in("src/empty"), "now full", 8, 0600);
	assert_int_equal(copy_dir_upload(c, path_in("src"), path_in("guest"),
					 NULL, T_MS, &ts, err, sizeof(err)),
			 0);
	assert_same_tree(path_in("src"), path_in("guest"), 0);
	/* the connection is still fine */
	assert_int_equal(agent_client_ping(c, T_MS, NULL, err, sizeof(err)), 0);
	agent_client_close(c);
	free(big);
}

/* ---- hand-made archives ----------------------------------------------- */

struct arc {
	uint8_t *p;
	size_t len;
};

static void arc_add(struct arc *a, char type, const char *path,
		    const char *link, const char *data)
{
	struct tar_entry e = {.type = type,
			      .path = path,
			      .linkpath = link ? link : "",
			      .size = data ? strlen(data) : 0,
			      .mode = 0644,
			      .mtime = 1700000000};
	size_t pad = tar_padding(e.size);
	long n;

	a->p = realloc(a->p, a->len + TAR_HDR_MAX + e.size + pad + 1024);
	assert_non_null(a->p);
	n = tar_header_write(a->p + a->len, &e);
	assert_true(n > 0);
	a->len += (size_t)n;
	memcpy(a->p + a->len, data ? data : "", e.size);
	memset(a->p + a->len + e.size, 0, pad);
	a->len += e.size + pad;
}

static void arc_end(struct arc *a)
{
	memset(a->p + a->len, 0, 1024);
	a->len += 1024;
}

static int upload(const char *dir, const struct arc *a, char *err)
{
	struct agent_client *c = client_connect();
	struct agent_upload_opts o = {
		.src_fd = -1, .data = a->p, .len = a->len, .own = true};
	char perr[512];
	int rc;

	o.uid = getuid();
	o.gid = getgid();
	rc = agent_client_upload_tar(c, dir, &o, T_MS, NULL, err, 1024);
	/* the connection survives a refused archive */
	assert_int_equal(agent_client_ping(c, T_MS, NULL, perr, sizeof(perr)),
			 0);
	agent_client_close(c);
	return rc;
}

static void test_malicious_upload(void **state)
{
	static const char *const bad[] = {"../evil", "/tmp/evil-abs",
					  "./x/../../evil", "x/.."};
	char err[1024];

	assert_int_equal(mkdir(path_in("m"), 0755), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct arc a = {0};

		arc_add(&a, TAR_FILE, "./ok", NULL, "fine");
		arc_add(&a, TAR_FILE, bad[i], NULL, "evil");
		arc_end(&a);
		assert_int_equal(upload(path_in("m/t"), &a, err),
				 AGENT_ERR_REMOTE);
		assert_non_null(strstr(err, bad[i]));
		free(a.p);
	}
	assert_int_equal(access(path_in("evil"), F_OK), -1);
	assert_int_equal(access("/tmp/evil-abs", F_OK), -1);
	assert_int_equal(access(path_in("m/t/ok"), F_OK), 0);

	/* through a symlink from the archive ... */
	struct arc a = {0};

	assert_int_equal(mkdir(path_in("outside"), 0755), 0);
	arc_add(&a, TAR_SYMLINK, "./esc", path_in("outside"), NULL);
	arc_add(&a, TAR_FILE, "./esc/pwned", NULL, "evil");
	arc_end(&a);
	assert_int_equal(upload(path_in("m/s"), &a, err), AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(access(path_in("outside/pwned"), F_OK), -1);
	/* ... or one already there */
	free(a.p);
	a = (struct arc){0};
	arc_add(&a, TAR_FILE, "esc/pwned2", NULL, "evil");
	arc_end(&a);
	assert_int_equal(upload(path_in("m/s"), &a, err), AGENT_ERR_REMOTE);
	assert_int_equal(access(path_in("outside/pwned2"), F_OK), -1);
	/* a file over a symlink replaces the link, not its target */
	free(a.p);
	a = (struct arc){0};
	arc_add(&a, TAR_FILE, "esc", NULL, "replaced");
	arc_end(&a);
	assert_int_equal(upload(path_in("m/s"), &a, err), 0);
	struct stat st;

	assert_int_equal(lstat(path_in("m/s/esc"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	free(a.p);
}

static void test_truncated_upload(void **state)
{
	struct arc a = {0};
	char err[1024];
	size_t full;

	arc_add(&a, TAR_FILE, "./one", NULL, "first file");
	full = a.len;
	arc_add(&a, TAR_FILE, "./two", NULL, "second file, cut short");
	/* no end marker at all */
	assert_int_equal(upload(path_in("tr1"), &a, err), AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "truncated"));
	/* cut inside the second file's content: it is not left behind */
	a.len = full + TAR_BLOCK + 5;
	assert_int_equal(upload(path_in("tr2"), &a, err), AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(access(path_in("tr2/one"), F_OK), 0);
	assert_int_equal(access(path_in("tr2/two"), F_OK), -1);
	/* not a tar archive */
	memset(a.p, 'x', 600);
	a.len = 600;
	assert_int_equal(upload(path_in("tr3"), &a, err), AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "checksum"));
	free(a.p);
}

/* The guest's archive is checked on the host too. */
static void test_malicious_download(void **state)
{
	/* "." as a file would replace the destination directory itself */
	static const char *const bad[] = {"../host-evil", "/tmp/host-evil",
					  "a/../../host-evil", "."};
	char err[1024];
	uint64_t skipped;
	int sv[2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
		struct arc a = {0};

		if (i < sizeof(bad) / sizeof(bad[0])) {
			arc_add(&a, TAR_FILE, bad[i], NULL, "evil");
		} else {
			arc_add(&a, TAR_SYMLINK, "./l", path_in("outside2"),
				NULL);
			arc_add(&a, TAR_FILE, "./l/pwned", NULL, "evil");
		}
		arc_end(&a);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(write(sv[0], a.p, a.len), (ssize_t)a.len);
		close(sv[0]);
		assert_int_equal(copy_dir_unpack(sv[1], path_in("hd"), NULL,
						 &skipped, err, sizeof(err)),
				 -1);
		close(sv[1]);
		free(a.p);
	}
	assert_int_equal(access(path_in("host-evil"), F_OK), -1);
	assert_int_equal(access("/tmp/host-evil", F_OK), -1);
	assert_int_equal(access(path_in("outside2/pwned"), F_OK), -1);

	/* a file over a symlink from the same archive replaces the link */
	struct arc a = {0};
	size_t len;
	uint8_t *got;

	write_file(path_in("victim"), "safe", 4, 0644);
	arc_add(&a, TAR_SYMLINK, "./v", path_in("victim"), NULL);
	arc_add(&a, TAR_FILE, "./v", NULL, "evil");
	arc_end(&a);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], a.p, a.len), (ssize_t)a.len);
	close(sv[0]);
	copy_dir_unpack(sv[1], path_in("hd2"), NULL, &skipped, err,
			sizeof(err));
	close(sv[1]);
	free(a.p);
	got = read_all(path_in("victim"), &len);
	assert_int_equal(len, 4);
	assert_memory_equal(got, "safe", 4);
	free(got);
}

/* Feed archive a to copy_dir_unpack() into dir with limits lim. */
static int unpack_arc(const struct arc *a, const char *dir,
		      const struct copy_dir_limits *lim, char *err)
{
	uint64_t skipped;
	int sv[2], rc;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], a->p, a->len), (ssize_t)a->len);
	close(sv[0]);
	rc = copy_dir_unpack(sv[1], dir, lim, &skipped, err, 1024);
	close(sv[1]);
	return rc;
}

/* Caps on bytes and entries; a failed copy removes only what it made. */
static void test_unpack_limits_and_undo(void **state)
{
	struct copy_dir_limits lim = {.max_bytes = 10, .max_entries = 4};
	struct arc a = {0};
	char err[1024];
	struct stat st;

	/* into a new directory: over the byte cap, all of it goes again */
	arc_add(&a, TAR_DIR, "./", NULL, NULL);
	arc_add(&a, TAR_DIR, "./d", NULL, NULL);
	arc_add(&a, TAR_FILE, "./d/small", NULL, "0123456789");
	arc_add(&a, TAR_FILE, "./big", NULL, "one byte too many");
	arc_end(&a);
	assert_int_equal(unpack_arc(&a, path_in("lim1"), &lim, err), -1);
	assert_non_null(strstr(err, "more than 10 bytes"));
	assert_int_equal(access(path_in("lim1"), F_OK), -1);
	/* the same with room: all there */
	lim.max_bytes = 1000;
	assert_int_equal(unpack_arc(&a, path_in("lim1"), &lim, err), 0);
	assert_int_equal(access(path_in("lim1/d/small"), F_OK), 0);
	assert_int_equal(access(path_in("lim1/big"), F_OK), 0);
	free(a.p);

	/* into an existing tree: over the entry cap; what was there stays */
	assert_int_equal(mkdir(path_in("lim2"), 0755), 0);
	assert_int_equal(mkdir(path_in("lim2/old"), 0755), 0);
	write_file(path_in("lim2/old/keep"), "keep", 4, 0644);
	write_file(path_in("lim2/top"), "top", 3, 0644);
	a = (struct arc){0};
	arc_add(&a, TAR_FILE, "./old/new1", NULL, "n1");
	arc_add(&a, TAR_FILE, "./fresh/deep/x", NULL, "x"); /* no dir entry */
	arc_add(&a, TAR_DIR, "./ro", NULL, NULL);
	arc_add(&a, TAR_FILE, "./ro/y", NULL, "y");
	arc_add(&a, TAR_FILE, "./fifth", NULL, "5");
	arc_end(&a);
	lim.max_entries = 4;
	assert_int_equal(unpack_arc(&a, path_in("lim2"), &lim, err), -1);
	assert_non_null(strstr(err, "more than 4 entries"));
	assert_int_equal(access(path_in("lim2/old/new1"), F_OK), -1);
	assert_int_equal(access(path_in("lim2/fresh"), F_OK), -1);
	assert_int_equal(access(path_in("lim2/ro"), F_OK), -1);
	assert_int_equal(access(path_in("lim2/fifth"), F_OK), -1);
	assert_int_equal(access(path_in("lim2/old/keep"), F_OK), 0);
	assert_int_equal(access(path_in("lim2/top"), F_OK), 0);
	assert_int_equal(lstat(path_in("lim2/old"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(a.p);

	/* a bad member after good ones (an escape attempt): same cleanup */
	a = (struct arc){0};
	arc_add(&a, TAR_FILE, "./made", NULL, "m");
	arc_add(&a, TAR_SYMLINK, "./esc", path_in("outside3"), NULL);
	arc_add(&a, TAR_FILE, "./esc/pwned", NULL, "evil");
	arc_end(&a);
	assert_int_equal(mkdir(path_in("outside3"), 0755), 0);
	write_file(path_in("outside3/precious"), "p", 1, 0644);
	assert_int_equal(unpack_arc(&a, path_in("lim2"), NULL, err), -1);
	assert_int_equal(access(path_in("lim2/made"), F_OK), -1);
	assert_int_equal(lstat(path_in("lim2/esc"), &st), -1);
	assert_int_equal(access(path_in("outside3/precious"), F_OK), 0);
	assert_int_equal(access(path_in("outside3/pwned"), F_OK), -1);
	assert_int_equal(access(path_in("lim2/old/keep"), F_OK), 0);
	free(a.p);

	/* over the agent: the host stops the stream, the guest is told */
	{
		struct copy_dir_limits l2 = {.max_entries = 2};
		struct agent_client *c = client_connect();
		uint8_t *blob = calloc(1, 4u << 20);

		assert_non_null(blob);
		assert_int_equal(mkdir(path_in("dlsrc"), 0755), 0);
		write_file(path_in("dlsrc/a"), "a", 1, 0644);
		write_file(path_in("dlsrc/b"), blob, 4u << 20, 0644);
		write_file(path_in("dlsrc/c"), blob, 4u << 20, 0644);
		free(blob);
		assert_int_equal(copy_dir_download(c, path_in("dlsrc"),
						   path_in("dldst"), &l2, T_MS,
						   NULL, err, sizeof(err)),
				 AGENT_ERR_LOCAL);
		assert_non_null(strstr(err, "more than 2 entries"));
		assert_int_equal(access(path_in("dldst"), F_OK), -1);
		agent_client_close(c);
	}

	/* a truncated archive (no end blocks, cut in a file) into a new dir */
	a = (struct arc){0};
	arc_add(&a, TAR_DIR, "./sub", NULL, NULL);
	arc_add(&a, TAR_FILE, "./sub/f", NULL, "content that is cut short");
	a.len -= TAR_BLOCK; /* the padded content block */
	assert_int_equal(unpack_arc(&a, path_in("lim3"), NULL, err), -1);
	assert_int_equal(access(path_in("lim3"), F_OK), -1);
	free(a.p);
}

/* Owner by user name or uid, looked up in passwd; unknown users refused. */
static void test_upload_user(void **state)
{
	struct passwd *pw = getpwuid(getuid());
	struct agent_client *c = client_connect();
	struct agent_upload_opts o = {.src_fd = -1};
	struct arc a = {0};
	char err[1024], uid[16];
	struct stat st;

	assert_non_null(pw);
	arc_add(&a, TAR_FILE, "./owned", NULL, "mine");
	arc_end(&a);
	o.data = a.p;
	o.len = a.len;
	o.user = pw->pw_name;
	assert_int_equal(agent_client_upload_tar(c, path_in("own1"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 0);
	assert_int_equal(stat(path_in("own1/owned"), &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_gid, pw->pw_gid);
	snprintf(uid, sizeof(uid), "%u", (unsigned int)pw->pw_uid);
	o.user = uid;
	assert_int_equal(agent_client_upload_tar(c, path_in("own2"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 0);
	assert_int_equal(stat(path_in("own2/owned"), &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	o.user = "no-such-user-kiln-h5";
	assert_int_equal(agent_client_upload_tar(c, path_in("own3"), &o, T_MS,
						 NULL, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "no user \"no-such-user-kiln-h5\""));
	assert_int_equal(access(path_in("own3"), F_OK), -1);
	free(a.p);
	agent_client_close(c);
}

/* Errors name the path; the connection stays usable. */
static void test_errors(void **state)
{
	struct agent_client *c = client_connect();
	char err[1024];

	write_file(path_in("plain"), "x", 1, 0644);
	assert_int_equal(copy_dir_download(c, path_in("plain"),
					   path_in("dl-plain"), NULL, T_MS,
					   NULL, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "ENOTDIR"));
	assert_int_equal(copy_dir_download(c, path_in("nope"),
					   path_in("dl-nope"), NULL, T_MS, NULL,
					   err, sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	assert_int_equal(copy_dir_upload(c, path_in("nope"), path_in("up"),
					 NULL, T_MS, NULL, err, sizeof(err)),
			 AGENT_ERR_LOCAL);
	assert_int_equal(agent_client_ping(c, T_MS, NULL, err, sizeof(err)), 0);
	agent_client_close(c);
}

/* The reader takes any chunking: a libarchive archive one byte at a time. */
static int count_entry(void *ctx, const struct tar_entry *e)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_reader_bytewise(void **state)
{
	static const struct tar_reader_ops ops = {count_entry, NULL, NULL};
	struct tar_reader *r = malloc(sizeof(*r));
	uint64_t skipped;
	uint8_t *p;
	size_t len;
	char err[512];
	int n = 0, fd;

	assert_non_null(r);
	mkdir(path_in("bw"), 0755);
	mkdir(path_in("bw/d"), 0755);
	write_file(path_in("bw/d/f"), "content", 7, 0644);
	fd = open(path_in("bw.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(
		copy_dir_pack(path_in("bw"), fd, &skipped, err, sizeof(err)),
		0);
	close(fd);
	p = read_all(path_in("bw.tar"), &len);
	tar_reader_init(r);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(tar_reader_feed(r, p + i, 1, &ops, &n), 0);
	assert_int_equal(tar_reader_finish(r), 0);
	assert_int_equal(n, 3);
	free(p);
	free(r);
}

/* A raw download: the agent's archive, read back by the agent's reader. */
static void test_download_raw(void **state)
{
	static const struct tar_reader_ops ops = {count_entry, NULL, NULL};
	struct agent_client *c = client_connect();
	struct tar_reader *r = malloc(sizeof(*r));
	struct agent_tar_stats ts;
	struct buf got = {0};
	char err[512];
	int n = 0;

	assert_non_null(r);
	mkdir(path_in("raw"), 0755);
	write_file(path_in("raw/f"), "abc", 3, 0644);
	assert_int_equal(agent_client_download_tar(c, path_in("raw"), -1,
						   buf_append, &got, T_MS, &ts,
						   err, sizeof(err)),
			 0);
	assert_int_equal(ts.size, got.len);
	assert_int_equal(ts.entries, 2);
	assert_int_equal(got.len, 5 * TAR_BLOCK); /* ./, f, data, end (2) */
	assert_memory_equal(got.p, "./", 3);
	tar_reader_init(r);
	assert_int_equal(tar_reader_feed(r, got.p, got.len, &ops, &n), 0);
	assert_int_equal(tar_reader_finish(r), 0);
	assert_int_equal(n, 2);
	free(got.p);
	free(r);
	agent_client_close(c);
}

int main(void)
{
	(void)assert_gone; /* a harness helper these tests do not need */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_round_trip),
		cmocka_unit_test(test_malicious_upload),
		cmocka_unit_test(test_truncated_upload),
		cmocka_unit_test(test_malicious_download),
		cmocka_unit_test(test_unpack_limits_and_undo),
		cmocka_unit_test(test_upload_user),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_reader_bytewise),
		cmocka_unit_test(test_download_raw),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
