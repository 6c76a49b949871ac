/* SPDX-License-Identifier: MIT */
/*
 * Directory trees <-> tar streams on the host (see copy_dir.h).  The
 * archive that comes back from a guest is the guest's: entry names are
 * checked here before anything is created, and libarchive's disk writer
 * additionally refuses to extract through symlinks or with "..".
 */
#include "common/errbuf.h"
#include "lib/copy_dir.h"
#include "lib/copy_dir_undo.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

static const char *aerr(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "unknown libarchive error";
}

/* ---- host tree -> tar ---------------------------------------------------- */

struct pack_out {
	int fd;
	bool sock; /* send(MSG_NOSIGNAL): a gone reader is EPIPE, no signal */
	bool failed; /* after a failure nothing more is written */
};

static la_ssize_t pack_write(struct archive *a, void *ctx, const void *buf,
			     size_t len)
{
	struct pack_out *o = ctx;
	size_t off = 0;

	if (o->failed)
		return -1;
	/* Bounded: each send() progresses or fails; it blocks meanwhile. */
	while (off < len) {
		const char *b = (const char *)buf + off;
		ssize_t n = o->sock ? send(o->fd, b, len - off, MSG_NOSIGNAL)
				    : write(o->fd, b, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			archive_set_error(a, errno, "writing the archive: %s",
					  strerror(errno));
			o->failed = true;
			return -1;
		}
		off += (size_t)n;
	}
	return (la_ssize_t)len;
}

/* Copy the current file's content from the disk reader to the writer. */
static int pack_data(struct archive *disk, struct archive *w, char *err,
		     size_t errlen, const char *name)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	/* Bounded by the file's size (NO_SPARSE: contiguous blocks). */
	while ((r = archive_read_data_block(disk, &buf, &size, &off)) ==
	       ARCHIVE_OK) {
		if (archive_write_data(w, buf, size) < 0) {
			errbuf_set(err, errlen, "%s", aerr(w));
			return -1;
		}
	}
	if (r != ARCHIVE_EOF) {
		errbuf_set(err, errlen, "reading %s: %s", name, aerr(disk));
		return -1;
	}
	return 0;
}

int copy_dir_pack(const char *host_dir, int out_fd, uint64_t *skipped,
		  char *err, size_t errlen)
{
	struct pack_out out = {.fd = out_fd};
	struct archive *disk = archive_read_disk_new();
	struct archive *w = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t rootlen = strlen(host_dir);
	char *name = NULL;
	struct stat st;
	int rc = -1, r;

	*skipped = 0;
	if (!disk || !w || !e) {
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	if (fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode))
		out.sock = true;
	while (rootlen > 1 && host_dir[rootlen - 1] == '/')
		rootlen--;
	archive_read_disk_set_symlink_physical(disk);
	archive_read_disk_set_behavior(
		disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
			      ARCHIVE_READDISK_NO_FFLAGS |
			      ARCHIVE_READDISK_NO_SPARSE);
	archive_write_set_format_pax_restricted(w);
	archive_write_set_bytes_in_last_block(w, 1);
	if (archive_write_open2(w, &out, NULL, pack_write, NULL, NULL) !=
	    ARCHIVE_OK) {
		errbuf_set(err, errlen, "%s", aerr(w));
		goto out;
	}
	name = strndup(host_dir, rootlen);
	if (!name || archive_read_disk_open(disk, name) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "%s: %s", host_dir,
			   name ? aerr(disk) : "out of memory");
		goto out;
	}
	free(name);
	name = NULL;
	/* Bounded by the tree. */
	while ((r = archive_read_next_header2(disk, e)) != ARCHIVE_EOF) {
		const char *p = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);

		if (r < ARCHIVE_WARN) {
			errbuf_set(err, errlen, "%s", aerr(disk));
			goto out;
		}
		if (type == AE_IFDIR)
			archive_read_disk_descend(disk);
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
			(*skipped)++;
			continue;
		}
		/* "./" + the path below host_dir */
		if (!p || strncmp(p, host_dir, rootlen) != 0 ||
		    (rootlen > 1 && p[rootlen] && p[rootlen] != '/')) {
			errbuf_set(err, errlen, "unexpected path '%s' in %s",
				   p ? p : "", host_dir);
			goto out;
		}
		p += rootlen;
		p += *p == '/';
		if (asprintf(&name, "./%s", p) < 0) {
			name = NULL;
			errbuf_set(err, errlen, "out of memory");
			goto out;
		}
		archive_entry_set_pathname(e, name);
		free(name);
		name = NULL;
		archive_entry_set_uname(e, NULL);
		archive_entry_set_gname(e, NULL);
		if (archive_write_header(w, e) < ARCHIVE_WARN) {
			errbuf_set(err, errlen, "%s", aerr(w));
			goto out;
		}
		if (type == AE_IFREG &&
		    pack_data(disk, w, err, errlen, archive_entry_pathname(e)) <
			    0)
			goto out;
	}
	if (archive_write_close(w) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "%s", aerr(w));
		goto out;
	}
	rc = 0;
out:
	if (rc)
		out.failed = true; /* no end marker from archive_write_free */
	free(name);
	archive_entry_free(e);
	if (disk)
		archive_read_free(disk);
	if (w)
		archive_write_free(w);
	return rc;
}

/* ---- tar -> host tree -----------------------------------------------------
 */

/*
 * The path below the target for archive member name: "" for the target
 * itself; NULL for an absolute name or one with "..".
 */
static const char *member_rel(const char *name)
{
	const char *p;

	if (!name || name[0] == '/')
		return NULL;
	for (p = name; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return NULL;
		p += len;
		p += *p == '/';
	}
	/* leading "./" and "/" */
	while (name[0] == '.' && (name[1] == '/' || name[1] == 0))
		name += name[1] ? 2 : 1;
	while (name[0] == '/')
		name++;
	return name;
}

/* After a failure: the writer must not block on a reader that is gone. */
static void stop_reading(int fd)
{
	char buf[65536];

	/* a socket: the writer's next send fails (EPIPE), nothing more */
	if (shutdown(fd, SHUT_RD) == 0 || errno != ENOTSOCK)
		return;
	/* Bounded by the writer, which closes its end when done. */
	while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
}

/* Count e against the limits; -1 with a message when one is passed. */
static int check_limits(struct archive_entry *e,
			const struct copy_dir_limits *lim, uint64_t *entries,
			uint64_t *bytes, char *err, size_t errlen)
{
	la_int64_t size = archive_entry_size(e);

	if (++*entries > lim->max_entries) {
		errbuf_set(err, errlen,
			   "the archive has more than %llu entries, the copy "
			   "limit (kiln cp --max-entries N raises it)",
			   (unsigned long long)lim->max_entries);
		return -1;
	}
	if (archive_entry_filetype(e) == AE_IFREG && size > 0 &&
	    !archive_entry_hardlink(e)) {
		*bytes += (uint64_t)size;
		if (*bytes > lim->max_bytes) {
			errbuf_set(err, errlen,
				   "the archive's files hold more than %llu "
				   "bytes, the copy limit (kiln cp --max-bytes "
				   "N raises it)",
				   (unsigned long long)lim->max_bytes);
			return -1;
		}
	}
	return 0;
}

static int unpack_entries(struct archive *a, struct archive *w,
			  const char *root, const struct copy_dir_limits *lim,
			  struct copy_undo *undo, uint64_t *skipped, char *err,
			  size_t errlen)
{
	uint64_t entries = 0, bytes = 0;
	struct archive_entry *e;
	int r;

	/* Bounded by the archive and lim->max_entries. */
	while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		struct archive *bad = w; /* whose message to report */
		const char *name, *rel;
		mode_t type;
		char *full;

		if (r < ARCHIVE_WARN) {
			errbuf_set(err, errlen, "reading the archive: %s",
				   aerr(a));
			return -1;
		}
		if (check_limits(e, lim, &entries, &bytes, err, errlen) < 0)
			return -1;
		name = archive_entry_pathname(e);
		rel = member_rel(name);
		if (!rel) {
			errbuf_set(
				err, errlen,
				"archive member '%s' is absolute or contains "
				"'..'; refusing to extract it",
				name ? name : "");
			return -1;
		}
		type = archive_entry_filetype(e);
		if (archive_entry_hardlink(e) ||
		    (type != AE_IFREG && type != AE_IFDIR &&
		     type != AE_IFLNK)) {
			(*skipped)++;
			continue;
		}
		/* The guest writes this archive: the destination itself may
		 * only be a directory, and no set-id, sticky or world-writable
		 * bit is taken.  Symlinks are kept as they are (like docker
		 * cp); SECURE_SYMLINKS stops later members going through one.
		 */
		if (!rel[0] && type != AE_IFDIR) {
			errbuf_set(
				err, errlen,
				"archive member '%s' would replace the "
				"destination with a non-directory; refusing it",
				name ? name : "");
			return -1;
		}
		archive_entry_set_perm(e, archive_entry_perm(e) & 0775);
		if (copy_undo_note(undo, rel) < 0) {
			errbuf_set(err, errlen, "out of memory");
			return -1;
		}
		if (asprintf(&full, "%s%s%s", root, rel[0] ? "/" : "", rel) <
		    0) {
			errbuf_set(err, errlen, "out of memory");
			return -1;
		}
		archive_entry_set_pathname(e, full);
		free(full);
		r = archive_write_header(w, e);
		if (r >= ARCHIVE_WARN && type == AE_IFREG &&
		    archive_entry_size(e) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;

			/* Bounded by the member's size. */
			while ((r = archive_read_data_block(
					a, &buf, &size, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(
					    w, buf, size, off) < ARCHIVE_WARN) {
					r = ARCHIVE_FATAL;
					break;
				}
			if (r == ARCHIVE_EOF)
				r = ARCHIVE_OK;
			else if (r < ARCHIVE_WARN && archive_errno(a))
				bad = a; /* the read side failed */
		}
		if (r >= ARCHIVE_WARN)
			r = archive_write_finish_entry(w);
		if (r < ARCHIVE_WARN) {
			errbuf_set(err, errlen, "extracting %s: %s",
				   archive_entry_pathname(e), aerr(bad));
			return -1;
		}
	}
	return 0;
}

int copy_dir_unpack(int in_fd, const char *host_dir,
		    const struct copy_dir_limits *lim, uint64_t *skipped,
		    char *err, size_t errlen)
{
	struct copy_dir_limits l = lim ? *lim : (struct copy_dir_limits){0};
	struct archive *a = archive_read_new();
	struct archive *w = archive_write_disk_new();
	struct copy_undo *undo = NULL;
	bool created = false;
	char root[PATH_MAX];
	int rc = -1;

	*skipped = 0;
	if (!l.max_bytes)
		l.max_bytes = COPY_DIR_MAX_BYTES_DEFAULT;
	if (!l.max_entries)
		l.max_entries = COPY_DIR_MAX_ENTRIES_DEFAULT;
	if (!a || !w) {
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	if (mkdir(host_dir, 0777) == 0)
		created = true;
	else if (errno != EEXIST) {
		errbuf_set(err, errlen, "cannot create %s: %s", host_dir,
			   strerror(errno));
		goto out;
	}
	/* a canonical root: SECURE_SYMLINKS then only sees archive paths */
	if (!realpath(host_dir, root)) {
		errbuf_set(err, errlen, "%s: %s", host_dir, strerror(errno));
		goto out;
	}
	undo = copy_undo_new(root, created);
	if (!undo) {
		errbuf_set(err, errlen, "out of memory");
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(
		w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
			   ARCHIVE_EXTRACT_SECURE_SYMLINKS |
			   ARCHIVE_EXTRACT_SECURE_NODOTDOT);
	if (archive_read_open_fd(a, in_fd, 65536) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "reading the archive: %s", aerr(a));
		goto out;
	}
	rc = unpack_entries(a, w, root, &l, undo, skipped, err, errlen);
	if (rc == 0 && archive_write_close(w) != ARCHIVE_OK) {
		errbuf_set(err, errlen, "finishing %s: %s", root, aerr(w));
		rc = -1;
	}
out:
	if (a)
		archive_read_free(a);
	if (w)
		archive_write_free(w); /* its pending modes first, then undo */
	if (rc) {
		stop_reading(in_fd);
		if (undo)
			copy_undo_run(undo);
		else if (created)
			rmdir(host_dir);
	}
	copy_undo_free(undo);
	return rc;
}

/* ---- over the agent --------------------------------------------------------
 */

struct worker {
	pthread_t tid;
	int fd;
	const char *dir;
	const struct copy_dir_limits *lim;
	uint64_t skipped;
	int rc;
	char err[1024];
};

static void *pack_thread(void *arg)
{
	struct worker *wk = arg;

	wk->rc = copy_dir_pack(wk->dir, wk->fd, &wk->skipped, wk->err,
			       sizeof(wk->err));
	close(wk->fd); /* EOF for the upload */
	return NULL;
}

static void *unpack_thread(void *arg)
{
	struct worker *wk = arg;

	wk->rc = copy_dir_unpack(wk->fd, wk->dir, wk->lim, &wk->skipped,
				 wk->err, sizeof(wk->err));
	return NULL;
}

static int start(struct worker *wk, const char *dir,
		 const struct copy_dir_limits *lim, void *(*fn)(void *),
		 int *mine, char *err, size_t errlen)
{
	int sv[2];

	memset(wk, 0, sizeof(*wk));
	wk->dir = dir;
	wk->lim = lim;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		errbuf_set(err, errlen, "socketpair: %s", strerror(errno));
		return AGENT_ERR_LOCAL;
	}
	wk->fd = sv[1];
	errno = pthread_create(&wk->tid, NULL, fn, wk);
	if (errno) {
		errbuf_set(err, errlen, "pthread_create: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return AGENT_ERR_LOCAL;
	}
	*mine = sv[0];
	return 0;
}

int copy_dir_upload(struct agent_client *c, const char *host_dir,
		    const char *guest_dir, const struct agent_upload_opts *u,
		    int timeout_ms, struct agent_tar_stats *ts, char *err,
		    size_t errlen)
{
	struct agent_upload_opts o = u ? *u : (struct agent_upload_opts){0};
	struct worker wk;
	struct stat st;
	int fd, rc;

	/* nothing is created in the guest for a bad source */
	if (stat(host_dir, &st) < 0) {
		errbuf_set(err, errlen, "%s: %s", host_dir, strerror(errno));
		return AGENT_ERR_LOCAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		errbuf_set(err, errlen, "%s: not a directory", host_dir);
		return AGENT_ERR_LOCAL;
	}
	rc = start(&wk, host_dir, NULL, pack_thread, &fd, err, errlen);
	if (rc)
		return rc;
	o.src_fd = fd;
	o.data = NULL;
	o.len = 0;
	rc = agent_client_upload_tar(c, guest_dir, &o, timeout_ms, ts, err,
				     errlen);
	close(fd); /* a packer still writing gets EPIPE and stops */
	pthread_join(wk.tid, NULL);
	if (wk.rc) { /* the host side's failure is the cause */
		errbuf_set(err, errlen, "%s", wk.err);
		return AGENT_ERR_LOCAL;
	}
	if (rc == 0 && ts)
		ts->skipped += wk.skipped;
	return rc;
}

static int send_all(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	size_t off = 0;

	/* Bounded: the reader reads to EOF whatever happens. */
	while (off < len) {
		ssize_t n = send(fd, (const char *)buf + off, len - off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int copy_dir_download(struct agent_client *c, const char *guest_dir,
		      const char *host_dir, const struct copy_dir_limits *lim,
		      int timeout_ms, struct agent_tar_stats *ts, char *err,
		      size_t errlen)
{
	struct worker wk;
	int fd, rc;

	rc = start(&wk, host_dir, lim, unpack_thread, &fd, err, errlen);
	if (rc)
		return rc;
	rc = agent_client_download_tar(c, guest_dir, -1, send_all, &fd,
				       timeout_ms, ts, err, errlen);
	shutdown(fd, SHUT_WR); /* EOF for the unpacker */
	pthread_join(wk.tid, NULL);
	close(fd);
	close(wk.fd);
	/* the host side's failure is the cause (it stopped the stream) */
	if ((rc == 0 || rc == AGENT_ERR_CANCELLED) && wk.rc) {
		errbuf_set(err, errlen, "%s", wk.err);
		return AGENT_ERR_LOCAL;
	}
	if (rc == 0 && ts)
		ts->skipped += wk.skipped;
	return rc;
}
