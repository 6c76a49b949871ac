/* SPDX-License-Identifier: MIT */
/*
 * The file ops that answer with one reply (see files.h, docs/PROTOCOL.md):
 * stat, list_dir, mkdir, remove, rename and sync.  Each runs to its end
 * inside one loop iteration; the streaming ones (read_file, write_file,
 * upload, download) live in files.c and files_tar.c.
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

void files_op_stat(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jfollow = NULL;
	const char *path;
	bool follow = false;
	struct stat st;
	char err[512];
	int rc;

	if (proto_unpack(obj, err, sizeof(err), "stat", "{s:o,s:o,s?o}", "op",
			 &op, "path", &jpath, "follow", &jfollow) < 0 ||
	    files_want_path(jpath, "stat", "path", &path, err, sizeof(err)) <
		    0 ||
	    files_want_bool(jfollow, "stat", "follow", &follow, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	rc = follow ? stat(path, &st) : lstat(path, &st);
	if (rc < 0) {
		files_send_errno(c, id, "stat", path, errno);
		return;
	}
	conn_send_result(c, id,
			 json_pack("{s:s,s:I,s:i,s:I,s:i,s:I,s:I}", "file_type",
				   files_type_name(st.st_mode), "size",
				   (json_int_t)st.st_size, "mode",
				   (int)(st.st_mode & 07777), "mtime",
				   (json_int_t)st.st_mtim.tv_sec, "mtime_nsec",
				   (int)st.st_mtim.tv_nsec, "uid",
				   (json_int_t)st.st_uid, "gid",
				   (json_int_t)st.st_gid));
}

/* Reply budget for entries, well under PROTO_MAX_PAYLOAD. */
#define LIST_REPLY_BUDGET (PROTO_MAX_PAYLOAD - 64 * 1024)

void files_op_list_dir(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jlimit = NULL, *entries;
	const char *path;
	json_int_t limit = FILES_LIST_DEFAULT;
	size_t est = 0, n = 0, skipped = 0;
	bool truncated = false;
	struct dirent *de;
	char err[512];
	DIR *d;

	if (proto_unpack(obj, err, sizeof(err), "list_dir", "{s:o,s:o,s?o}",
			 "op", &op, "path", &jpath, "limit", &jlimit) < 0 ||
	    files_want_path(jpath, "list_dir", "path", &path, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (jlimit) {
		if (!json_is_integer(jlimit) ||
		    json_integer_value(jlimit) < 1 ||
		    json_integer_value(jlimit) > FILES_LIST_MAX) {
			conn_send_error(c, id, PROTO_E_INVALID,
					"list_dir: \"limit\" must be an "
					"integer in 1..%d",
					FILES_LIST_MAX);
			return;
		}
		limit = json_integer_value(jlimit);
	}
	d = opendir(path);
	if (!d) {
		files_send_errno(c, id, "list_dir", path, errno);
		return;
	}
	entries = json_array();
	/* Bounded by the entry cap and the reply budget. */
	while (entries && (de = readdir(d))) {
		struct stat st;
		json_t *e;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* JSON escapes may make a name up to 6 times longer. */
		if ((json_int_t)n >= limit ||
		    est + strlen(de->d_name) * 6 + 80 > LIST_REPLY_BUDGET) {
			truncated = true;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		e = json_pack("{s:s,s:s,s:I}", "name", de->d_name, "type",
			      files_type_name(st.st_mode), "size",
			      (json_int_t)st.st_size);
		if (!e) { /* not UTF-8: cannot be named in JSON */
			skipped++;
			continue;
		}
		json_array_append_new(entries, e);
		est += strlen(de->d_name) * 6 + 80;
		n++;
	}
	closedir(d);
	if (!entries) {
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"list_dir: agent out of memory");
		return;
	}
	conn_send_result(c, id,
			 json_pack("{s:o,s:b,s:I}", "entries", entries,
				   "truncated", truncated, "skipped",
				   (json_int_t)skipped));
}

void files_op_mkdir(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jparents = NULL, *jmode = NULL, *juser = NULL,
			    *juid = NULL, *jgid = NULL;
	struct files_owner owner;
	const char *path;
	bool parents = false;
	mode_t mode = 0755;
	char err[512];
	int rc = 0;

	if (proto_unpack(obj, err, sizeof(err), "mkdir",
			 "{s:o,s:o,s?o,s?o,s?o,s?o,s?o}", "op", &op, "path",
			 &jpath, "parents", &jparents, "mode", &jmode, "user",
			 &juser, "uid", &juid, "gid", &jgid) < 0 ||
	    files_want_path(jpath, "mkdir", "path", &path, err, sizeof(err)) <
		    0 ||
	    files_want_bool(jparents, "mkdir", "parents", &parents, err,
			    sizeof(err)) < 0 ||
	    files_want_mode(jmode, "mkdir", &mode, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (files_want_owner(c, id, "mkdir", juser, juid, jgid, &owner) < 0)
		return;
	if (parents)
		rc = files_mkdir_parents(path, strlen(path), mode, &owner);
	else if (mkdir(path, mode) < 0)
		rc = -errno;
	else
		rc = files_chown_new(path, &owner);
	if (rc < 0) {
		files_send_errno(c, id, "mkdir", path, -rc);
		return;
	}
	conn_send_result(c, id, NULL);
}

/*
 * Remove directory name (in dirfd) and everything below it without
 * following symlinks: every step is relative to a directory fd opened
 * with O_NOFOLLOW, so a symlink is removed, never entered.
 */
static int remove_tree_at(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	if (depth >= FILES_MAX_DEPTH)
		return -ELOOP;
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (rc == 0 && (de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = remove_tree_at(fd, de->d_name, depth + 1);
		else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

void files_op_remove(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jrec = NULL;
	const char *path;
	bool recursive = false;
	struct stat st;
	char err[512];
	int rc = 0;

	if (proto_unpack(obj, err, sizeof(err), "remove", "{s:o,s:o,s?o}", "op",
			 &op, "path", &jpath, "recursive", &jrec) < 0 ||
	    files_want_path(jpath, "remove", "path", &path, err, sizeof(err)) <
		    0 ||
	    files_want_bool(jrec, "remove", "recursive", &recursive, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (strspn(path, "/") == strlen(path)) {
		conn_send_error(
			c, id, PROTO_E_INVALID,
			"remove: refusing to remove the root directory");
		return;
	}
	if (lstat(path, &st) < 0)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = unlink(path) < 0 ? -errno : 0;
	else if (recursive)
		rc = remove_tree_at(AT_FDCWD, path, 0);
	else
		rc = rmdir(path) < 0 ? -errno : 0;
	if (rc < 0) {
		files_send_errno(c, id, "remove", path, -rc);
		return;
	}
	conn_send_result(c, id, NULL);
}

void files_op_rename(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jfrom, *jto;
	const char *from, *to;
	char err[512];

	if (proto_unpack(obj, err, sizeof(err), "rename", "{s:o,s:o,s:o}", "op",
			 &op, "from", &jfrom, "to", &jto) < 0 ||
	    files_want_path(jfrom, "rename", "from", &from, err, sizeof(err)) <
		    0 ||
	    files_want_path(jto, "rename", "to", &to, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (rename(from, to) < 0) {
		char both[2 * PATH_MAX + 8];

		snprintf(both, sizeof(both), "%s -> %s", from, to);
		files_send_errno(c, id, "rename", both, errno);
		return;
	}
	conn_send_result(c, id, NULL);
}

/*
 * sync: flush the guest's page cache to its disks, so that what the file
 * ops wrote is on the block device (e.g. before the host copies or
 * snapshots the disk).  With "path", only the file system holding it
 * (syncfs); else all of them (sync).  Blocks the loop while it runs.
 */
void files_op_sync(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath = NULL;
	const char *path = NULL;
	char err[512];
	int fd;

	if (proto_unpack(obj, err, sizeof(err), "sync", "{s:o,s?o}", "op", &op,
			 "path", &jpath) < 0 ||
	    (jpath && files_want_path(jpath, "sync", "path", &path, err,
				      sizeof(err)) < 0)) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (!path) {
		sync();
		conn_send_result(c, id, NULL);
		return;
	}
	/* O_NONBLOCK: a FIFO must not block the loop; syncfs needs no more */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		files_send_errno(c, id, "sync", path, errno);
		return;
	}
	if (syncfs(fd) < 0) {
		files_send_errno(c, id, "sync", path, errno);
		close(fd);
		return;
	}
	close(fd);
	conn_send_result(c, id, NULL);
}
