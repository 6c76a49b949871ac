/* SPDX-License-Identifier: MIT */
/*
 * upload / download: directory trees as tar streams (docs/PROTOCOL.md,
 * "Files").  The transfers live in conn->files like read_file/write_file
 * (files.c owns the list and calls in here).
 *
 * upload extracts as the content arrives, never holding more than one
 * frame.  The archive is the client's: every entry path is checked (no
 * "..", not absolute) and resolved one component at a time with openat()
 * and O_NOFOLLOW from the target directory, so neither a ".." nor a
 * symlink (one from the archive or one already there) can lead outside.
 *
 * download walks the tree with one open directory per level (no symlink
 * is followed) and queues at most FILES_PUMP_BUDGET bytes per loop
 * iteration while the output queue is not full, like read_file.
 */
#include "agent/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/files_tmp.h"
#include "agent/tar.h"

#define FILES_E_ARCHIVE "bad_archive"

struct tar_xfer {
	bool download;
	uint64_t bytes, entries, skipped;
	/* upload */
	struct tar_reader *rd;
	int root_fd;
	int file_fd, file_dir; /* the regular file being written ... */
	char file_name[NAME_MAX + 1];
	char file_tmp[NAME_MAX + 1]; /* ... as this, renamed at its end */
	uint32_t file_mode;
	struct timespec file_times[2];
	bool own; /* chown what is created to uid:gid */
	uid_t uid;
	gid_t gid;
	int err_errno; /* the failure: an errno on entry err_entry ... */
	char err_msg[512]; /* ... or an archive problem (bad_archive) */
	char err_entry[TAR_PATH_MAX + 1];
	/* download */
	DIR *dirs[FILES_MAX_DEPTH];
	size_t lens[FILES_MAX_DEPTH]; /* length of rel for each level */
	int depth;
	char rel[TAR_PATH_MAX + NAME_MAX + 2]; /* "./a/b": current dir */
	uint8_t hdr[TAR_HDR_MAX]; /* header / padding / trailer to send */
	size_t hdr_len, hdr_off;
	int fd;
	uint64_t left;
	size_t pad;
	bool trailer; /* the end-of-archive blocks are in hdr */
};

void tarx_free(struct tar_xfer *t)
{
	if (!t)
		return;
	if (t->file_fd >= 0) {
		/* an unfinished file is not left behind; the old one stays */
		close(t->file_fd);
		unlinkat(t->file_dir, t->file_tmp, 0);
	}
	if (t->file_dir >= 0)
		close(t->file_dir);
	if (t->root_fd >= 0)
		close(t->root_fd);
	if (t->fd >= 0)
		close(t->fd);
	while (t->depth > 0)
		closedir(t->dirs[--t->depth]);
	free(t->rd);
	free(t);
}

static struct tar_xfer *tarx_new(void)
{
	struct tar_xfer *t = calloc(1, sizeof(*t));

	if (t)
		t->root_fd = t->file_fd = t->file_dir = t->fd = -1;
	return t;
}

/* ---- upload ------------------------------------------------------------- */

static int entry_errno(struct tar_xfer *t, const char *path, int e)
{
	t->err_errno = e;
	if (path != t->err_entry)
		snprintf(t->err_entry, sizeof(t->err_entry), "%s", path);
	return -1;
}

static int entry_bad(struct tar_xfer *t, const char *path, const char *why)
{
	snprintf(t->err_msg, sizeof(t->err_msg), "archive entry \"%.300s\": %s",
		 path, why);
	return -1;
}

static void own(struct tar_xfer *t, int fd)
{
	if (t->own)
		(void)!fchown(fd, t->uid, t->gid);
}

/*
 * The directory that will hold entry path (opened, O_NOFOLLOW at every
 * level; missing levels are created 0755) and the entry's last name in
 * name ("" for the target directory itself).  Returns the fd or -1.
 */
static int open_parent(struct tar_xfer *t, const char *path, char *name)
{
	const char *p = path, *next;
	int dfd;

	name[0] = 0;
	if (path[0] == '/')
		return entry_bad(t, path,
				 "absolute path; entries must be relative");
	dfd = dup(t->root_fd);
	if (dfd < 0)
		return entry_errno(t, path, errno);
	/* Bounded by the path length: one step per component. */
	for (; *p; p = next) {
		size_t len = strcspn(p, "/");
		int nfd;

		next = p + len + (p[len] == '/');
		if (len == 0 || (len == 1 && p[0] == '.'))
			continue;
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			close(dfd);
			return entry_bad(t, path, "contains \"..\"");
		}
		if (len > NAME_MAX) {
			close(dfd);
			return entry_errno(t, path, ENAMETOOLONG);
		}
		if (name[0]) { /* the previous name is a directory: enter */
			nfd = openat(dfd, name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (nfd < 0 && errno == ENOENT) {
				if (mkdirat(dfd, name, 0755) == 0 ||
				    errno == EEXIST)
					nfd = openat(dfd, name,
						     O_RDONLY | O_DIRECTORY |
							     O_NOFOLLOW |
							     O_CLOEXEC);
				if (nfd >= 0)
					own(t, nfd);
			}
			if (nfd < 0) {
				int e = errno;

				close(dfd);
				if (e == ELOOP || e == ENOTDIR)
					return entry_bad(
						t, path,
						"a parent is a symlink or not "
						"a directory; refusing to "
						"extract through it");
				return entry_errno(t, path, e);
			}
			close(dfd);
			dfd = nfd;
		}
		memcpy(name, p, len);
		name[len] = 0;
	}
	return dfd;
}

/*
 * A new non-directory may go to dfd/name: nothing is there, or a
 * non-directory that the rename at its end replaces (never before).
 */
static int check_slot(struct tar_xfer *t, int dfd, const char *name,
		      const char *path)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : entry_errno(t, path, errno);
	if (S_ISDIR(st.st_mode))
		return entry_errno(t, path, EISDIR);
	return 0;
}

/* A symlink: created under a temporary name, renamed over name. */
static int up_symlink(struct tar_xfer *t, int dfd, const char *name,
		      const struct tar_entry *e, const struct timespec ts[2])
{
	char tmp[NAME_MAX + 1];
	int rc;

	if (!e->linkpath[0])
		return entry_bad(t, e->path, "symlink without a target");
	if (check_slot(t, dfd, name, e->path) < 0)
		return -1;
	rc = files_tmp_symlinkat(e->linkpath, dfd, name, tmp);
	if (rc < 0)
		return entry_errno(t, e->path, -rc);
	if (t->own)
		(void)!fchownat(dfd, tmp, t->uid, t->gid, AT_SYMLINK_NOFOLLOW);
	utimensat(dfd, tmp, ts, AT_SYMLINK_NOFOLLOW);
	if (renameat(dfd, tmp, dfd, name) < 0) {
		rc = errno;
		unlinkat(dfd, tmp, 0);
		return entry_errno(t, e->path, rc);
	}
	return 0;
}

static int up_dir(struct tar_xfer *t, int dfd, const char *name,
		  const struct tar_entry *e)
{
	struct stat st;
	int fd;

	if (!name[0]) { /* "." : the target directory itself */
		fd = dup(t->root_fd);
	} else {
		if (mkdirat(dfd, name, 0700) < 0 && errno == EEXIST &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode)) {
			if (unlinkat(dfd, name, 0) < 0 ||
			    mkdirat(dfd, name, 0700) < 0)
				return entry_errno(t, e->path, errno);
		}
		fd = openat(dfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return entry_errno(t, e->path, errno);
	own(t, fd);
	if (fchmod(fd, e->mode) < 0) {
		close(fd);
		return entry_errno(t, e->path, errno);
	}
	close(fd);
	return 0;
}

static int up_entry(void *ctx, const struct tar_entry *e)
{
	struct tar_xfer *t = ctx;
	char name[NAME_MAX + 1];
	struct timespec ts[2] = {{e->mtime, e->mtime_nsec},
				 {e->mtime, e->mtime_nsec}};
	int dfd, rc = 0;

	if (e->type != TAR_FILE && e->type != TAR_DIR &&
	    e->type != TAR_SYMLINK) {
		t->skipped++; /* hard links, devices, fifos, ... */
		return 0;
	}
	dfd = open_parent(t, e->path, name);
	if (dfd < 0)
		return -1;
	t->entries++;
	if (e->type == TAR_DIR) {
		rc = up_dir(t, dfd, name, e);
	} else if (!name[0]) {
		rc = entry_bad(t, e->path,
			       "names the target directory but "
			       "is not a directory");
	} else if (e->type == TAR_SYMLINK) {
		rc = up_symlink(t, dfd, name, e, ts);
	} else if (check_slot(t, dfd, name, e->path) < 0) {
		rc = -1;
	} else {
		/* the old file stays until the new one is complete */
		t->file_fd = files_tmp_openat(dfd, name, t->file_tmp);
		if (t->file_fd < 0) {
			rc = entry_errno(t, e->path, -t->file_fd);
			t->file_fd = -1;
		} else {
			t->file_dir = dfd;
			dfd = -1;
			snprintf(t->file_name, sizeof(t->file_name), "%s",
				 name);
			snprintf(t->err_entry, sizeof(t->err_entry), "%s",
				 e->path);
			t->file_mode = e->mode;
			t->file_times[0] = ts[0];
			t->file_times[1] = ts[1];
		}
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static int up_data(void *ctx, const uint8_t *buf, size_t len)
{
	struct tar_xfer *t = ctx;
	size_t off = 0;

	if (t->file_fd < 0)
		return 0; /* content of a skipped entry */
	/* Bounded: each write() progresses or fails. */
	while (off < len) {
		ssize_t n = write(t->file_fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return entry_errno(t, t->err_entry,
					   n < 0 ? errno : EIO);
		off += (size_t)n;
	}
	return 0;
}

static int up_end(void *ctx)
{
	struct tar_xfer *t = ctx;
	int fd = t->file_fd, e = 0;

	if (fd < 0)
		return 0;
	own(t, fd);
	/* chmod after chown: chown clears set-id bits */
	if (fchmod(fd, t->file_mode) < 0 || futimens(fd, t->file_times) < 0)
		return entry_errno(t, t->err_entry, errno);
	t->file_fd = -1;
	if (close(fd) < 0)
		e = errno;
	/* complete: now it replaces the old one, in one step */
	if (!e &&
	    renameat(t->file_dir, t->file_tmp, t->file_dir, t->file_name) < 0)
		e = errno;
	if (e)
		unlinkat(t->file_dir, t->file_tmp, 0);
	close(t->file_dir);
	t->file_dir = -1;
	return e ? entry_errno(t, t->err_entry, e) : 0;
}

static const struct tar_reader_ops up_ops = {up_entry, up_data, up_end};

/* Report t's failure (an errno on an entry, or an archive problem). */
static void up_fail(struct conn *c, uint32_t id, const char *path,
		    struct tar_xfer *t)
{
	char where[TAR_PATH_MAX + PATH_MAX + 32];

	if (t->err_errno) {
		snprintf(where, sizeof(where), "%s (entry \"%s\")", path,
			 t->err_entry);
		files_send_errno(c, id, "upload", where, t->err_errno);
	} else {
		conn_send_error(c, id, FILES_E_ARCHIVE, "upload %s: %s", path,
				t->err_msg[0] ? t->err_msg : t->rd->err);
	}
}

void files_op_upload(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jparents = NULL, *juid = NULL, *jgid = NULL,
			    *juser = NULL;
	struct files_owner owner;
	const char *path;
	bool parents = false;
	struct tar_xfer *t;
	char err[512];
	int rc = 0;

	if (proto_unpack(obj, err, sizeof(err), "upload",
			 "{s:o,s:o,s?o,s?o,s?o,s?o}", "op", &op, "path", &jpath,
			 "mkdir_parents", &jparents, "uid", &juid, "gid", &jgid,
			 "user", &juser) < 0 ||
	    files_want_path(jpath, "upload", "path", &path, err, sizeof(err)) <
		    0 ||
	    files_want_bool(jparents, "upload", "mkdir_parents", &parents, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (!files_id_free(c, id, "upload") ||
	    files_want_owner(c, id, "upload", juser, juid, jgid, &owner) < 0)
		return;
	t = tarx_new();
	if (!t || !(t->rd = malloc(sizeof(*t->rd)))) {
		tarx_free(t);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"upload: agent out of memory");
		return;
	}
	t->own = owner.set;
	t->uid = owner.uid;
	t->gid = owner.gid;
	tar_reader_init(t->rd);
	/* the target directory: created (one level, or -p) if missing */
	if (parents)
		rc = files_mkdir_parents(path, strlen(path), 0755, NULL);
	else if (mkdir(path, 0755) < 0 && errno != EEXIST)
		rc = -errno;
	if (rc == 0) {
		t->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = t->root_fd < 0 ? -errno : 0;
	}
	if (rc < 0) {
		files_send_errno(c, id, "upload", path, -rc);
		tarx_free(t);
		return;
	}
	if (!files_xfer_add(c, id, path, t, true)) {
		tarx_free(t);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"upload: agent out of memory");
	}
	/* The archive follows as stdin frames, then an eof frame. */
}

bool tarx_data(struct conn *c, uint32_t id, const char *path,
	       struct tar_xfer *t, const uint8_t *buf, size_t len)
{
	t->bytes += len;
	if (tar_reader_feed(t->rd, buf, len, &up_ops, t) == 0)
		return false;
	up_fail(c, id, path, t);
	return true;
}

void tarx_eof(struct conn *c, uint32_t id, const char *path, struct tar_xfer *t)
{
	if (tar_reader_finish(t->rd) < 0) {
		up_fail(c, id, path, t);
		return;
	}
	/* what was written reaches the disk before the client hears so */
	if (syncfs(t->root_fd) < 0) {
		files_send_errno(c, id, "upload", path, errno);
		return;
	}
	conn_send_result(c, id,
			 json_pack("{s:I,s:I,s:I}", "size",
				   (json_int_t)t->bytes, "entries",
				   (json_int_t)t->entries, "skipped",
				   (json_int_t)t->skipped));
}

/* ---- download ----------------------------------------------------------- */

/* Put e's header into t->hdr; fails only for too long names. */
static int dl_header(struct tar_xfer *t, const struct tar_entry *e)
{
	long n = tar_header_write(t->hdr, e);

	if (n < 0)
		return -ENAMETOOLONG;
	t->hdr_len = (size_t)n;
	t->hdr_off = 0;
	t->entries++;
	return 0;
}

static void dl_entry_of(struct tar_entry *e, const char *path,
			const struct stat *st, char type)
{
	e->type = type;
	e->path = path;
	e->linkpath = "";
	e->size = 0;
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime = st->st_mtim.tv_sec;
}

/*
 * The next entry of the walk into t->hdr (and t->fd / t->left for a
 * file).  Returns 0, 1 when the walk is over, or -errno.
 */
static int dl_next(struct tar_xfer *t)
{
	char name[sizeof(t->rel)], link[TAR_PATH_MAX + 1];
	struct tar_entry e;
	struct dirent *de;
	struct stat st;

	/* Bounded by the tree: each pass consumes an entry or a level. */
	while (t->depth > 0) {
		DIR *d = t->dirs[t->depth - 1];
		int dfd = dirfd(d), fd;
		ssize_t n;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				return -errno;
			closedir(d);
			t->depth--;
			if (t->depth > 0)
				t->rel[t->lens[t->depth - 1]] = 0;
			continue;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(name, sizeof(name), "%s/%s", t->rel,
				     de->d_name) > TAR_PATH_MAX)
			return -ENAMETOOLONG;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* removed meanwhile */
			return -errno;
		}
		if (S_ISDIR(st.st_mode)) {
			if (t->depth >= FILES_MAX_DEPTH)
				return -ELOOP;
			fd = openat(dfd, de->d_name,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
			if (fd < 0)
				return -errno;
			d = fdopendir(fd);
			if (!d) {
				close(fd);
				return -errno;
			}
			t->dirs[t->depth] = d;
			t->lens[t->depth] = strlen(name);
			t->depth++;
			memcpy(t->rel, name, strlen(name) + 1);
			dl_entry_of(&e, name, &st, TAR_DIR);
			return dl_header(t, &e);
		}
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(dfd, de->d_name, link, sizeof(link));
			if (n < 0 && errno == ENOENT)
				continue;
			if (n < 0)
				return -errno;
			if ((size_t)n >= sizeof(link))
				return -ENAMETOOLONG;
			link[n] = 0;
			dl_entry_of(&e, name, &st, TAR_SYMLINK);
			e.linkpath = link;
			return dl_header(t, &e);
		}
		if (!S_ISREG(st.st_mode)) {
			t->skipped++; /* fifos, sockets, devices */
			continue;
		}
		/* O_NONBLOCK: if it was swapped for a FIFO, no blocking */
		fd = openat(dfd, de->d_name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
				    O_CLOEXEC);
		if (fd < 0 && (errno == ENOENT || errno == ELOOP))
			continue;
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		dl_entry_of(&e, name, &st, TAR_FILE);
		e.size = (uint64_t)st.st_size;
		t->fd = fd;
		t->left = e.size;
		t->pad = tar_padding(e.size);
		return dl_header(t, &e);
	}
	return 1;
}

void files_op_download(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath;
	const char *path;
	struct tar_xfer *t;
	struct tar_entry e;
	struct stat st;
	char err[512];
	DIR *d;
	int fd;

	if (proto_unpack(obj, err, sizeof(err), "download", "{s:o,s:o}", "op",
			 &op, "path", &jpath) < 0 ||
	    files_want_path(jpath, "download", "path", &path, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (!files_id_free(c, id, "download"))
		return;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		files_send_errno(c, id, "download", path, errno);
		if (fd >= 0)
			close(fd);
		return;
	}
	t = tarx_new();
	d = t ? fdopendir(fd) : NULL;
	if (!d) {
		close(fd);
		tarx_free(t);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"download: agent out of memory");
		return;
	}
	t->download = true;
	t->dirs[0] = d;
	t->lens[0] = 1;
	t->depth = 1;
	strcpy(t->rel, ".");
	/* the directory itself first, as "./" (like tar -C DIR -c .) */
	dl_entry_of(&e, "./", &st, TAR_DIR);
	dl_header(t, &e);
	if (!files_xfer_add(c, id, path, t, false)) {
		tarx_free(t);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"download: agent out of memory");
	}
	/* files_pump() streams it from the settle loop. */
}

/* One data frame of up to len bytes from t's current source. */
static int dl_frame(struct conn *c, uint32_t id, struct tar_xfer *t,
		    size_t *sent)
{
	size_t want = AGENT_CHUNK;
	uint8_t *buf;
	ssize_t n;

	if (t->hdr_off < t->hdr_len) {
		if (want > t->hdr_len - t->hdr_off)
			want = t->hdr_len - t->hdr_off;
		buf = conn_data_begin(c, want);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, t->hdr + t->hdr_off, want);
		t->hdr_off += want;
		n = (ssize_t)want;
	} else {
		if (want > t->left)
			want = (size_t)t->left;
		buf = conn_data_begin(c, want);
		if (!buf)
			return -ENOMEM;
		do
			n = read(t->fd, buf, want);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0) { /* it shrank: the header promised more */
			memset(buf, 0, want);
			n = (ssize_t)want;
		}
		t->left -= (uint64_t)n;
	}
	conn_data_commit(c, PROTO_STDOUT, id, (size_t)n);
	t->bytes += (uint64_t)n;
	*sent = (size_t)n;
	return 0;
}

bool tarx_pump(struct conn *c, uint32_t id, const char *path,
	       struct tar_xfer *t, size_t *budget)
{
	int rc = 0;

	/* Bounded: each pass sends a frame, ends a file or takes an entry. */
	while (*budget > 0 && !conn_out_full(c) && !c->closing) {
		size_t sent = 0;

		if (t->hdr_off < t->hdr_len || (t->fd >= 0 && t->left > 0)) {
			rc = dl_frame(c, id, t, &sent);
			if (rc < 0)
				break;
			*budget = sent >= *budget ? 0 : *budget - sent;
			continue;
		}
		if (t->fd >= 0) { /* content done: its padding next */
			close(t->fd);
			t->fd = -1;
			memset(t->hdr, 0, t->pad);
			t->hdr_len = t->pad;
			t->hdr_off = 0;
			continue;
		}
		if (t->trailer) {
			conn_send_eof(c, id, PROTO_STREAM_STDOUT);
			conn_send_result(
				c, id,
				json_pack("{s:I,s:I,s:I}", "size",
					  (json_int_t)t->bytes, "entries",
					  (json_int_t)t->entries, "skipped",
					  (json_int_t)t->skipped));
			return true;
		}
		rc = dl_next(t);
		if (rc < 0)
			break;
		if (rc == 1) { /* two zero blocks end the archive */
			memset(t->hdr, 0, 2 * TAR_BLOCK);
			t->hdr_len = 2 * TAR_BLOCK;
			t->hdr_off = 0;
			t->trailer = true;
			rc = 0;
		}
	}
	if (rc == -ENOMEM)
		return false; /* c is closing */
	if (rc < 0) {
		char where[PATH_MAX + sizeof(t->rel) + 32];

		snprintf(where, sizeof(where), "%s (at \"%s\")", path, t->rel);
		files_send_errno(c, id, "download", where, -rc);
		return true;
	}
	return false;
}
