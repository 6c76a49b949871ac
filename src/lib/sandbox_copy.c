/* SPDX-License-Identifier: MIT */
/*
 * Copying files between the host and a sandbox (`kiln cp`), over the
 * agent's file operations: the guest side is written atomically by the
 * agent (temporary file, fsync, rename), and content streams through
 * bounded buffers on both sides, never held in memory whole.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/copy_dir.h"
#include "lib/handle.h"
#include "lib/sandbox.h"

#define ERRLEN 1024
#define COPY_STAT_MS 30000
/* no overall deadline for the content: a dead VM closes the connection */
#define COPY_DATA_MS (-1)

/* The agent's status as a kiln status; a lost connection is dropped. */
static int copy_fail(struct kiln_sandbox *sb, int r, const char *what,
		     const char *err)
{
	switch (r) {
	case AGENT_ERR_NOT_FOUND:
		return handle_fail(sb->k, KILN_ENOTFOUND, "%s: %s", what, err);
	case AGENT_ERR_PERM:
	case AGENT_ERR_REMOTE:
		return handle_fail(sb->k, KILN_EGUEST, "%s: %s", what, err);
	case AGENT_ERR_INVAL:
		return handle_fail(sb->k, KILN_EINVAL, "%s: %s", what, err);
	case AGENT_ERR_LOCAL: /* the host side of a tree copy */
		return handle_fail(sb->k, KILN_ESYS, "%s: %s", what, err);
	default:
		return sandbox_agent_lost(sb, r, what, err);
	}
}

/*
 * Check guest_path, then make sure sb->agent is a usable connection (a
 * lost one is replaced).  Every failure on it below ends the call through
 * copy_fail(), so sb->agent stays valid for the rest of a call.
 */
static int copy_ready(struct kiln_sandbox *sb, const char *guest_path)
{
	struct agent_client *c;

	if (!guest_path || guest_path[0] != '/')
		return handle_fail(sb->k, KILN_EINVAL,
				   "guest path '%s' is not absolute",
				   guest_path ? guest_path : "(null)");
	return sandbox_agent_get(sb, &c);
}

int kiln_sandbox_copy_to_guest(struct kiln_sandbox *sb, int src_fd,
			       const char *guest_path, const char *name,
			       unsigned int mode)
{
	return kiln_sandbox_copy_to_guest_user(sb, src_fd, guest_path, name,
					       mode, NULL);
}

int kiln_sandbox_copy_to_guest_user(struct kiln_sandbox *sb, int src_fd,
				    const char *guest_path, const char *name,
				    unsigned int mode, const char *user)
{
	struct agent_write_opts o = {
		.mode = mode & 07777, .src_fd = src_fd, .user = user};
	struct agent_file_stat st;
	char err[ERRLEN], *target = NULL;
	int rc, r;

	rc = copy_ready(sb, guest_path);
	if (rc)
		return rc;
	if (src_fd < 0)
		return handle_fail(sb->k, KILN_EINVAL, "no source to copy");
	/* into an existing directory: as name inside it, like cp(1) */
	r = agent_client_stat(sb->agent, guest_path, true, COPY_STAT_MS, &st,
			      err, sizeof(err));
	if (r == AGENT_OK && st.type == AGENT_FILE_DIR) {
		if (!name || !*name || strchr(name, '/'))
			return handle_fail(sb->k, KILN_EINVAL,
					   "%s is a directory in the guest; "
					   "name the file",
					   guest_path);
		if (asprintf(&target, "%s%s%s", guest_path,
			     guest_path[strlen(guest_path) - 1] == '/' ? ""
								       : "/",
			     name) < 0)
			return handle_fail(sb->k, KILN_ENOMEM, "out of memory");
	} else if (r != AGENT_OK && r != AGENT_ERR_NOT_FOUND) {
		return copy_fail(sb, r, guest_path, err);
	}
	r = agent_client_write_file(sb->agent, target ? target : guest_path, &o,
				    COPY_DATA_MS, NULL, err, sizeof(err));
	rc = r ? copy_fail(sb, r, target ? target : guest_path, err) : KILN_OK;
	free(target);
	return rc;
}

int kiln_sandbox_copy_from_guest(struct kiln_sandbox *sb,
				 const char *guest_path, int dst_fd,
				 uint64_t *size)
{
	char err[ERRLEN];
	int rc, r;

	rc = copy_ready(sb, guest_path);
	if (rc)
		return rc;
	if (dst_fd < 0)
		return handle_fail(sb->k, KILN_EINVAL, "nowhere to copy to");
	r = agent_client_read_file(sb->agent, guest_path, dst_fd, NULL, NULL,
				   COPY_DATA_MS, size, err, sizeof(err));
	if (r == AGENT_ERR_REMOTE && strstr(err, "(EISDIR)"))
		return handle_fail(sb->k, KILN_EINVAL,
				   "%s is a directory in the guest; copy "
				   "trees with kiln cp -r "
				   "(kiln_sandbox_copy_dir_from_guest())",
				   guest_path);
	return r ? copy_fail(sb, r, guest_path, err) : KILN_OK;
}

/* ---- directory trees ------------------------------------------------------
 */

static void copy_stats(struct kiln_copy_stats *out,
		       const struct agent_tar_stats *ts)
{
	if (out) {
		out->bytes = ts->size;
		out->entries = ts->entries;
		out->skipped = ts->skipped;
	}
}

/*
 * The name a tree keeps when copied into an existing directory: the last
 * component of path (trailing slashes ignored) into *base (malloc'ed);
 * NULL when path ends in "/." or is "/": then its contents are copied.
 * -1 for a last component "..".
 */
static int tree_base(const char *path, char **base)
{
	size_t len = strlen(path), start;

	*base = NULL;
	while (len > 1 && path[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (len - start == 2 && !strncmp(path + start, "..", 2))
		return -1;
	if (len == start || (len - start == 1 && path[start] == '.'))
		return 0; /* "/", "x/.", ".": the contents */
	*base = strndup(path + start, len - start);
	return *base ? 0 : -1;
}

/* dir "/" base, or dir alone without a base. */
static char *join(const char *dir, const char *base)
{
	size_t n = strlen(dir);
	char *out;

	if (!base)
		return strdup(dir);
	if (asprintf(&out, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
		     base) < 0)
		return NULL;
	return out;
}

int kiln_sandbox_copy_dir_to_guest(struct kiln_sandbox *sb,
				   const char *host_dir, const char *guest_dir,
				   const char *user,
				   struct kiln_copy_stats *stats)
{
	struct agent_upload_opts uo = {.src_fd = -1, .user = user};
	struct agent_tar_stats ts = {0};
	struct agent_file_stat st;
	char err[ERRLEN], *base = NULL, *target = NULL;
	bool contents;
	size_t n;
	int rc, r;

	rc = copy_ready(sb, guest_dir);
	if (rc)
		return rc;
	if (!host_dir || !*host_dir)
		return handle_fail(sb->k, KILN_EINVAL, "no host directory");
	n = strlen(host_dir);
	contents = strspn(host_dir, "/") == n ||
		   (n >= 2 && !strcmp(host_dir + n - 2, "/."));
	if ((tree_base(host_dir, &base) < 0 || !base) && !contents) {
		/* "." and ".." as a source are named by what they are */
		char *real = realpath(host_dir, NULL);

		if (!real)
			return handle_fail(sb->k, KILN_ENOTFOUND, "%s: %s",
					   host_dir, strerror(errno));
		base = strdup(strrchr(real, '/') + 1);
		free(real);
		if (!base)
			return handle_fail(sb->k, KILN_ENOMEM, "out of memory");
	}
	/* into an existing directory: as base inside it, like cp -r */
	r = agent_client_stat(sb->agent, guest_dir, true, COPY_STAT_MS, &st,
			      err, sizeof(err));
	if (r == AGENT_OK && st.type != AGENT_FILE_DIR) {
		rc = handle_fail(sb->k, KILN_EINVAL,
				 "%s exists in the guest and is not a "
				 "directory",
				 guest_dir);
		goto out;
	}
	if (r != AGENT_OK && r != AGENT_ERR_NOT_FOUND) {
		rc = copy_fail(sb, r, guest_dir, err);
		goto out;
	}
	target = join(guest_dir, r == AGENT_OK ? base : NULL);
	if (!target) {
		rc = handle_fail(sb->k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	r = copy_dir_upload(sb->agent, host_dir, target, &uo, COPY_DATA_MS, &ts,
			    err, sizeof(err));
	rc = r ? copy_fail(sb, r, target, err) : KILN_OK;
	if (rc == KILN_OK)
		copy_stats(stats, &ts);
out:
	free(base);
	free(target);
	return rc;
}

int kiln_sandbox_copy_dir_from_guest(struct kiln_sandbox *sb,
				     const char *guest_dir,
				     const char *host_dir,
				     struct kiln_copy_stats *stats)
{
	return kiln_sandbox_copy_dir_from_guest_limits(sb, guest_dir, host_dir,
						       NULL, stats);
}

_Static_assert(KILN_COPY_MAX_BYTES_DEFAULT == COPY_DIR_MAX_BYTES_DEFAULT &&
		       KILN_COPY_MAX_ENTRIES_DEFAULT ==
			       COPY_DIR_MAX_ENTRIES_DEFAULT,
	       "kiln.h and copy_dir.h name the same defaults");

int kiln_sandbox_copy_dir_from_guest_limits(
	struct kiln_sandbox *sb, const char *guest_dir, const char *host_dir,
	const struct kiln_copy_limits *limits, struct kiln_copy_stats *stats)
{
	struct copy_dir_limits lim = {0};
	struct agent_tar_stats ts = {0};
	char err[ERRLEN], *base = NULL, *target = NULL;
	struct agent_file_stat gst;
	struct stat st;
	int rc, r;

	rc = copy_ready(sb, guest_dir);
	if (rc)
		return rc;
	if (!host_dir || !*host_dir)
		return handle_fail(sb->k, KILN_EINVAL, "no host directory");
	if (tree_base(guest_dir, &base) < 0)
		return handle_fail(sb->k, KILN_EINVAL,
				   "guest path %s: name the directory "
				   "itself, not ..",
				   guest_dir);
	/* checked first: nothing is created on the host for a bad source */
	r = agent_client_stat(sb->agent, guest_dir, true, COPY_STAT_MS, &gst,
			      err, sizeof(err));
	if (r) {
		rc = copy_fail(sb, r, guest_dir, err);
		goto out;
	}
	if (gst.type != AGENT_FILE_DIR) {
		rc = handle_fail(sb->k, KILN_EINVAL,
				 "%s is not a directory in the guest; copy "
				 "files without -r",
				 guest_dir);
		goto out;
	}
	if (stat(host_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		rc = handle_fail(sb->k, KILN_EINVAL,
				 "%s exists and is not a directory", host_dir);
		goto out;
	}
	/* into an existing directory: as base inside it, like cp -r */
	target = join(host_dir, stat(host_dir, &st) == 0 ? base : NULL);
	if (!target) {
		rc = handle_fail(sb->k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if (limits) {
		lim.max_bytes = limits->max_bytes;
		lim.max_entries = limits->max_entries;
	}
	r = copy_dir_download(sb->agent, guest_dir, target, &lim, COPY_DATA_MS,
			      &ts, err, sizeof(err));
	if (r == AGENT_ERR_LOCAL) /* a bad archive from the guest, or disk */
		rc = handle_fail(sb->k, KILN_EGUEST, "%s -> %s: %s", guest_dir,
				 target, err);
	else if (r)
		rc = copy_fail(sb, r, guest_dir, err);
	else
		copy_stats(stats, &ts);
out:
	free(base);
	free(target);
	return rc;
}

int kiln_sandbox_upload_tar(struct kiln_sandbox *sb, int tar_fd,
			    const char *guest_dir, const char *user,
			    struct kiln_copy_stats *stats)
{
	struct agent_upload_opts o = {.src_fd = tar_fd, .user = user};
	struct agent_tar_stats ts = {0};
	char err[ERRLEN];
	int rc, r;

	rc = copy_ready(sb, guest_dir);
	if (rc)
		return rc;
	if (tar_fd < 0)
		return handle_fail(sb->k, KILN_EINVAL, "no archive to upload");
	r = agent_client_upload_tar(sb->agent, guest_dir, &o, COPY_DATA_MS, &ts,
				    err, sizeof(err));
	if (r)
		return copy_fail(sb, r, guest_dir, err);
	copy_stats(stats, &ts);
	return KILN_OK;
}

int kiln_sandbox_download_tar(struct kiln_sandbox *sb, const char *guest_dir,
			      int tar_fd, struct kiln_copy_stats *stats)
{
	struct agent_tar_stats ts = {0};
	char err[ERRLEN];
	int rc, r;

	rc = copy_ready(sb, guest_dir);
	if (rc)
		return rc;
	if (tar_fd < 0)
		return handle_fail(sb->k, KILN_EINVAL,
				   "nowhere to write the "
				   "archive");
	r = agent_client_download_tar(sb->agent, guest_dir, tar_fd, NULL, NULL,
				      COPY_DATA_MS, &ts, err, sizeof(err));
	if (r)
		return copy_fail(sb, r, guest_dir, err);
	copy_stats(stats, &ts);
	return KILN_OK;
}
