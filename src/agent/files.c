/* SPDX-License-Identifier: MIT */
/*
 * File operations (see files.h, docs/PROTOCOL.md).
 *
 * Every path must be absolute; errors carry the errno name and the path.
 * write_file goes to a temporary file in the target's directory, which is
 * fsync'ed and renamed over the target only once all content arrived: the
 * target is never seen half-written, and an aborted transfer (error,
 * closed connection) leaves nothing behind.  read_file opens the file and
 * sends at most FILES_PUMP_BUDGET bytes per loop iteration while the
 * connection's output queue is not full, so memory stays bounded and
 * other connections are served in between.
 */
#include "agent/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/files_tmp.h"
#include "agent/identity.h"
#include "agent/log.h"

struct file_xfer {
	struct file_xfer *next; /* conn->files */
	uint32_t id;
	int fd;
	bool writing; /* write_file (else read_file) */
	uint64_t bytes;
	char *path;
	char *tmp_path; /* write_file: the temporary file */
	struct tar_xfer *tar; /* upload (writing) / download (files_tar.c) */
};

/* ---- errors and validation -------------------------------------------- */

static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EUNKNOWN";
}

static const char *errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return PROTO_E_NOT_FOUND;
	case EACCES:
	case EPERM:
		return PROTO_E_PERM;
	default:
		return FILES_E_FILE;
	}
}

/* {"type":"error","code":...,"errno":"ENOENT","message":"op path: ..."} */
void files_send_errno(struct conn *c, uint32_t id, const char *op,
		      const char *path, int e)
{
	char msg[PATH_MAX + 256];
	json_t *obj;

	snprintf(msg, sizeof(msg), "%s %s: %s (%s)", op, path, strerror(e),
		 errno_name(e));
	obj = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "code",
			errno_code(e), "errno", errno_name(e), "message", msg);
	if (!obj) /* a path that is not UTF-8 cannot be in the message */
		obj = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "code",
				errno_code(e), "errno", errno_name(e),
				"message", strerror(e));
	conn_send_json(c, id, obj);
}

int files_want_path(json_t *v, const char *op, const char *field,
		    const char **out, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (!s || !s[0] || strlen(s) != json_string_length(v)) {
		snprintf(err, errlen,
			 "%s: \"%s\" must be a non-empty string without NUL",
			 op, field);
		return -1;
	}
	if (s[0] != '/') {
		snprintf(err, errlen,
			 "%s: \"%s\" must be an absolute path (got \"%.200s\")",
			 op, field, s);
		return -1;
	}
	if (strlen(s) >= PATH_MAX) {
		snprintf(err, errlen, "%s: \"%s\" is longer than %d bytes", op,
			 field, PATH_MAX - 1);
		return -1;
	}
	*out = s;
	return 0;
}

int files_want_bool(json_t *v, const char *op, const char *field, bool *out,
		    char *err, size_t errlen)
{
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: \"%s\" must be true or false", op,
			 field);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int files_want_mode(json_t *v, const char *op, mode_t *out, char *err,
		    size_t errlen)
{
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 07777) {
		snprintf(err, errlen,
			 "%s: \"mode\" must be an integer in 0..4095 (07777)",
			 op);
		return -1;
	}
	*out = (mode_t)json_integer_value(v);
	return 0;
}

const char *files_type_name(mode_t m)
{
	if (S_ISREG(m))
		return "file";
	if (S_ISDIR(m))
		return "dir";
	if (S_ISLNK(m))
		return "symlink";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "char";
	if (S_ISBLK(m))
		return "block";
	return "unknown";
}

/* mkdir -p: every component of path[0, len); existing dirs are fine. */
int files_mkdir_parents(const char *path, size_t len, mode_t mode,
			const struct files_owner *o)
{
	char buf[PATH_MAX];
	struct stat st;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len);
	buf[len] = 0;
	/* Bounded by the path length: one mkdir per component. */
	for (size_t i = 1; i <= len; i++) {
		if (i < len && buf[i] != '/')
			continue;
		buf[i] = 0;
		if (i > 1 && buf[i - 1] != '/' && mkdir(buf, mode) < 0) {
			if (errno != EEXIST)
				return -errno;
			if (stat(buf, &st) < 0)
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		} else if (i > 1 && buf[i - 1] != '/') {
			int rc = files_chown_new(buf, o); /* created it */

			if (rc < 0)
				return rc;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

/* ---- transfers --------------------------------------------------------- */

static struct file_xfer *xfer_find(const struct conn *c, uint32_t id)
{
	for (struct file_xfer *x = c->files; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
}

bool files_busy_id(const struct conn *c, uint32_t id)
{
	return xfer_find(c, id) != NULL;
}

/* Unlink x from c and free it; an unfinished write leaves no file. */
static void xfer_end(struct conn *c, struct file_xfer *x)
{
	struct file_xfer **pp;

	for (pp = &c->files; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	if (x->fd >= 0)
		close(x->fd);
	if (x->tmp_path)
		unlink(x->tmp_path);
	tarx_free(x->tar);
	free(x->path);
	free(x->tmp_path);
	free(x);
}

static struct file_xfer *xfer_new(struct conn *c, uint32_t id, const char *path)
{
	struct file_xfer *x = calloc(1, sizeof(*x));

	if (x)
		x->path = strdup(path);
	if (!x || !x->path) {
		free(x);
		return NULL;
	}
	x->id = id;
	x->fd = -1;
	x->next = c->files;
	c->files = x;
	return x;
}

/* Common checks of read_file / write_file before anything is opened. */
struct file_xfer *files_xfer_add(struct conn *c, uint32_t id, const char *path,
				 struct tar_xfer *t, bool writing)
{
	struct file_xfer *x = xfer_new(c, id, path);

	if (x) {
		x->tar = t;
		x->writing = writing;
	}
	return x;
}

bool files_id_free(struct conn *c, uint32_t id, const char *op)
{
	if (!files_busy_id(c, id) && !proc_find(c, id) &&
	    !identity_busy_id(c, id))
		return true;
	conn_send_error(c, id, PROTO_E_BUSY,
			"%s: request id %u is still in use on this connection",
			op, id);
	return false;
}

void files_op_read(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath;
	const char *path;
	struct file_xfer *x;
	struct stat st;
	char err[512];
	int fd;

	if (proto_unpack(obj, err, sizeof(err), "read_file", "{s:o,s:o}", "op",
			 &op, "path", &jpath) < 0 ||
	    files_want_path(jpath, "read_file", "path", &path, err,
			    sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (!files_id_free(c, id, "read_file"))
		return;
	/* O_NONBLOCK: opening a FIFO must not block the loop. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		files_send_errno(c, id, "read_file", path, errno);
		return;
	}
	if (fstat(fd, &st) < 0) {
		files_send_errno(c, id, "read_file", path, errno);
		close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;

		close(fd);
		if (e == EINVAL)
			conn_send_error(c, id, FILES_E_FILE,
					"read_file %s: not a regular file "
					"(%s); only regular files can be read",
					path, files_type_name(st.st_mode));
		else
			files_send_errno(c, id, "read_file", path, e);
		return;
	}
	x = xfer_new(c, id, path);
	if (!x) {
		close(fd);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"read_file: agent out of memory");
		return;
	}
	x->fd = fd;
	/* files_pump() streams it from the settle loop. */
}

void files_pump(struct conn *c)
{
	size_t budget = FILES_PUMP_BUDGET;
	struct file_xfer *x, *next;

	for (x = c->files; x && budget > 0; x = next) {
		next = x->next;
		if (x->writing)
			continue;
		if (x->tar) {
			if (tarx_pump(c, x->id, x->path, x->tar, &budget))
				xfer_end(c, x);
			if (c->closing)
				return;
			continue;
		}
		/* Bounded: each chunk uses up budget, or the transfer ends. */
		while (budget > 0 && !conn_out_full(c) && !c->closing) {
			uint8_t *buf = conn_data_begin(c, AGENT_CHUNK);
			ssize_t n;

			if (!buf)
				return; /* out of memory: c is closing */
			n = read(x->fd, buf, AGENT_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				files_send_errno(c, x->id, "read_file", x->path,
						 errno);
				xfer_end(c, x);
				break;
			}
			if (n == 0) {
				conn_send_eof(c, x->id, PROTO_STREAM_STDOUT);
				conn_send_result(
					c, x->id,
					json_pack("{s:I}", "size",
						  (json_int_t)x->bytes));
				xfer_end(c, x);
				break;
			}
			conn_data_commit(c, PROTO_STDOUT, x->id, (size_t)n);
			x->bytes += (uint64_t)n;
			budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
		}
	}
}

bool files_want_pump(const struct conn *c)
{
	for (const struct file_xfer *x = c->files; x; x = x->next)
		if (!x->writing)
			return !conn_out_full(c);
	return false;
}

void files_op_write(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *jpath, *jmode = NULL, *jparents = NULL, *juser = NULL,
			    *juid = NULL, *jgid = NULL;
	const char *path, *slash;
	struct files_owner owner;
	bool parents = false;
	mode_t mode = 0644;
	struct file_xfer *x;
	char err[512], tmpl[NAME_MAX + 1];
	struct stat st;
	size_t dirlen;
	int fd, rc;

	if (proto_unpack(obj, err, sizeof(err), "write_file",
			 "{s:o,s:o,s?o,s?o,s?o,s?o,s?o}", "op", &op, "path",
			 &jpath, "mode", &jmode, "mkdir_parents", &jparents,
			 "user", &juser, "uid", &juid, "gid", &jgid) < 0 ||
	    files_want_path(jpath, "write_file", "path", &path, err,
			    sizeof(err)) < 0 ||
	    files_want_mode(jmode, "write_file", &mode, err, sizeof(err)) < 0 ||
	    files_want_bool(jparents, "write_file", "mkdir_parents", &parents,
			    err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	slash = strrchr(path, '/');
	if (!slash[1]) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"write_file: \"path\" %s names a directory, "
				"not a file",
				path);
		return;
	}
	if (!files_id_free(c, id, "write_file") ||
	    files_want_owner(c, id, "write_file", juser, juid, jgid, &owner) <
		    0)
		return;
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		files_send_errno(c, id, "write_file", path, EISDIR);
		return;
	}
	dirlen = (size_t)(slash - path);
	if (parents && dirlen > 0) {
		rc = files_mkdir_parents(path, dirlen, 0755, &owner);
		if (rc < 0) {
			files_send_errno(c, id, "write_file", path, -rc);
			return;
		}
	}
	/* the name is cut if needed: a 255-byte name still gets one */
	files_tmp_template(slash + 1, tmpl);
	x = xfer_new(c, id, path);
	if (!x ||
	    asprintf(&x->tmp_path, "%.*s/%s", (int)dirlen, path, tmpl) < 0) {
		if (x)
			x->tmp_path = NULL;
		goto nomem;
	}
	x->writing = true;
	fd = mkostemp(x->tmp_path, O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		free(x->tmp_path);
		x->tmp_path = NULL; /* nothing to unlink */
		files_send_errno(c, id, "write_file", path, rc);
		xfer_end(c, x);
		return;
	}
	x->fd = fd;
	/*
	 * The owner first (a chown may clear set-id bits), then exactly the
	 * mode asked for, whatever the umask.
	 */
	if ((owner.set && fchown(fd, owner.uid, owner.gid) < 0) ||
	    fchmod(fd, mode) < 0) {
		files_send_errno(c, id, "write_file", path, errno);
		xfer_end(c, x);
	}
	/* Content follows as stdin frames, then an eof frame. */
	return;
nomem:
	if (x)
		xfer_end(c, x);
	conn_send_error(c, id, PROTO_E_INTERNAL,
			"write_file: agent out of memory");
}

bool files_data(struct conn *c, uint32_t id, const uint8_t *buf, size_t len)
{
	struct file_xfer *x = xfer_find(c, id);
	size_t off = 0;

	if (!x || !x->writing)
		return false;
	if (x->tar) {
		if (tarx_data(c, id, x->path, x->tar, buf, len))
			xfer_end(c, x); /* failed: later frames are dropped */
		return true;
	}
	/* Bounded: each write() progresses or fails. */
	while (off < len) {
		ssize_t n = write(x->fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			files_send_errno(c, id, "write_file", x->path,
					 n < 0 ? errno : EIO);
			/* Later frames of this id find nothing: dropped. */
			xfer_end(c, x);
			return true;
		}
		off += (size_t)n;
	}
	x->bytes += len;
	return true;
}

/* fsync the directory so the rename itself survives a crash. */
static void sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = slash == path ? 1 : (size_t)(slash - path);
	int fd;

	memcpy(dir, path, len);
	dir[len] = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

bool files_eof(struct conn *c, uint32_t id)
{
	struct file_xfer *x = xfer_find(c, id);
	int fd;

	if (!x || !x->writing)
		return false;
	if (x->tar) {
		tarx_eof(c, id, x->path, x->tar);
		xfer_end(c, x);
		return true;
	}
	fd = x->fd;
	x->fd = -1;
	if (fsync(fd) < 0 || close(fd) < 0) {
		files_send_errno(c, id, "write_file", x->path, errno);
		xfer_end(c, x);
		return true;
	}
	if (rename(x->tmp_path, x->path) < 0) {
		files_send_errno(c, id, "write_file", x->path, errno);
		xfer_end(c, x);
		return true;
	}
	free(x->tmp_path);
	x->tmp_path = NULL; /* it is the target now */
	sync_parent(x->path);
	conn_send_result(c, id,
			 json_pack("{s:I}", "size", (json_int_t)x->bytes));
	xfer_end(c, x);
	return true;
}

void files_conn_close(struct conn *c)
{
	while (c->files)
		xfer_end(c, c->files);
}
