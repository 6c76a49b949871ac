/* SPDX-License-Identifier: MIT */
/*
 * Guest file operations of a sandbox (kiln.h, "guest files"): stat, list,
 * mkdir, remove, rename and sync, over the agent client's one-reply file
 * ops, with their failures turned into kiln statuses and messages on the
 * handle.  The connection comes from sandbox_agent_get() and a lost one
 * is given up through sandbox_agent_lost(), as for the copies
 * (sandbox_copy.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/handle.h"
#include "lib/sandbox.h"

#define ERRLEN 1024
/* one reply each; a guest that does not answer in time is given up */
#define FILES_REQUEST_MS 30000
/* remove -r of a big tree and sync run to their end in the agent */
#define FILES_LONG_MS 600000

_Static_assert((int)KILN_FILE_UNKNOWN == (int)AGENT_FILE_UNKNOWN &&
		       (int)KILN_FILE_REGULAR == (int)AGENT_FILE_REGULAR &&
		       (int)KILN_FILE_DIR == (int)AGENT_FILE_DIR &&
		       (int)KILN_FILE_SYMLINK == (int)AGENT_FILE_SYMLINK &&
		       (int)KILN_FILE_FIFO == (int)AGENT_FILE_FIFO &&
		       (int)KILN_FILE_SOCKET == (int)AGENT_FILE_SOCKET &&
		       (int)KILN_FILE_CHAR == (int)AGENT_FILE_CHAR &&
		       (int)KILN_FILE_BLOCK == (int)AGENT_FILE_BLOCK,
	       "kiln.h and agent_client.h number file types alike");

const char *kiln_file_type_name(enum kiln_file_type type)
{
	static const char *const names[] = {
		[KILN_FILE_UNKNOWN] = "unknown",
		[KILN_FILE_REGULAR] = "file",
		[KILN_FILE_DIR] = "dir",
		[KILN_FILE_SYMLINK] = "symlink",
		[KILN_FILE_FIFO] = "fifo",
		[KILN_FILE_SOCKET] = "socket",
		[KILN_FILE_CHAR] = "char",
		[KILN_FILE_BLOCK] = "block",
	};

	if ((unsigned int)type >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[type];
}

/*
 * path is an absolute path; then sb's agent connection in *c (a lost one
 * is replaced, sandbox_agent_get()).
 */
static int files_ready(struct kiln_sandbox *sb, const char *op,
		       const char *path, struct agent_client **c)
{
	*c = NULL;
	if (!sb)
		return KILN_EINVAL;
	if (!path || path[0] != '/')
		return handle_fail(sb->k, KILN_EINVAL,
				   "%s: the guest path '%s' is not absolute "
				   "(paths in the guest start with /)",
				   op, path ? path : "(null)");
	return sandbox_agent_get(sb, c);
}

/*
 * An agent status as a kiln status.  The agent's messages name the op,
 * the path and the errno; a lost connection is dropped (the next call
 * connects again).
 */
static int files_fail(struct kiln_sandbox *sb, int r, const char *op,
		      const char *err)
{
	switch (r) {
	case AGENT_ERR_NOT_FOUND:
		return handle_fail(sb->k, KILN_ENOTFOUND, "sandbox %s: %s",
				   sb->id, err);
	case AGENT_ERR_PERM:
	case AGENT_ERR_REMOTE:
		return handle_fail(sb->k, KILN_EGUEST, "sandbox %s: %s", sb->id,
				   err);
	case AGENT_ERR_INVAL:
		return handle_fail(sb->k, KILN_EINVAL, "%s: %s", op, err);
	default:
		return sandbox_agent_lost(sb, r, op, err);
	}
}

int kiln_sandbox_file_stat(struct kiln_sandbox *sb, const char *path,
			   int follow, struct kiln_file_stat *st)
{
	struct agent_file_stat ast;
	char err[ERRLEN];
	struct agent_client *c;
	int rc = files_ready(sb, "stat", path, &c), r;

	if (rc)
		return rc;
	if (!st)
		return handle_fail(sb->k, KILN_EINVAL, "stat: no result");
	r = agent_client_stat(c, path, follow != 0, FILES_REQUEST_MS, &ast, err,
			      sizeof(err));
	if (r)
		return files_fail(sb, r, "stat", err);
	memset(st, 0, sizeof(*st));
	st->type = (enum kiln_file_type)ast.type;
	st->size = ast.size;
	st->mode = ast.mode;
	st->mtime = ast.mtime;
	st->mtime_nsec = ast.mtime_nsec;
	st->uid = ast.uid;
	st->gid = ast.gid;
	return KILN_OK;
}

void kiln_dir_entries_free(struct kiln_dir_entry *entries, size_t n)
{
	for (size_t i = 0; entries && i < n; i++)
		free(entries[i].name);
	free(entries);
}

int kiln_sandbox_file_list(struct kiln_sandbox *sb, const char *path,
			   unsigned int limit, struct kiln_dir_entry **entries,
			   size_t *n, int *truncated)
{
	struct agent_dir_entry *ae = NULL;
	struct kiln_dir_entry *out;
	bool trunc = false;
	char err[ERRLEN];
	size_t count = 0;
	struct agent_client *c;
	int rc = files_ready(sb, "list", path, &c), r;

	if (entries)
		*entries = NULL;
	if (n)
		*n = 0;
	if (truncated)
		*truncated = 0;
	if (rc)
		return rc;
	if (!entries || !n)
		return handle_fail(sb->k, KILN_EINVAL, "list: no result");
	if (limit > 100000)
		return handle_fail(sb->k, KILN_EINVAL,
				   "list: limit %u is over 100000", limit);
	r = agent_client_list_dir(c, path, limit, FILES_REQUEST_MS, &ae, &count,
				  &trunc, err, sizeof(err));
	if (r)
		return files_fail(sb, r, "list", err);
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		agent_dir_free(ae, count);
		return handle_fail(sb->k, KILN_ENOMEM, "list: out of memory");
	}
	/* the names move over: ae keeps nothing to free but the array */
	for (size_t i = 0; i < count; i++) {
		out[i].name = ae[i].name;
		out[i].type = (enum kiln_file_type)ae[i].type;
		out[i].size = ae[i].size;
	}
	free(ae);
	*entries = out;
	*n = count;
	if (truncated)
		*truncated = trunc;
	return KILN_OK;
}

int kiln_sandbox_file_mkdir(struct kiln_sandbox *sb, const char *path,
			    unsigned int mode, int parents, const char *user)
{
	char err[ERRLEN];
	struct agent_client *c;
	int rc = files_ready(sb, "mkdir", path, &c), r;

	if (rc)
		return rc;
	if (mode > 07777)
		return handle_fail(sb->k, KILN_EINVAL,
				   "mkdir: mode 0%o has bits beyond 07777",
				   mode);
	if (user && !user[0])
		return handle_fail(
			sb->k, KILN_EINVAL,
			"mkdir: the user name is empty (NULL: root)");
	r = agent_client_mkdir(c, path, mode, parents != 0, user,
			       FILES_REQUEST_MS, err, sizeof(err));
	return r ? files_fail(sb, r, "mkdir", err) : KILN_OK;
}

int kiln_sandbox_file_remove(struct kiln_sandbox *sb, const char *path,
			     int recursive)
{
	char err[ERRLEN];
	struct agent_client *c;
	int rc = files_ready(sb, "remove", path, &c), r;

	if (rc)
		return rc;
	if (strspn(path, "/") == strlen(path))
		return handle_fail(sb->k, KILN_EINVAL,
				   "remove: refusing to remove the guest's "
				   "root directory /");
	r = agent_client_remove(c, path, recursive != 0,
				recursive ? FILES_LONG_MS : FILES_REQUEST_MS,
				err, sizeof(err));
	return r ? files_fail(sb, r, "remove", err) : KILN_OK;
}

int kiln_sandbox_file_rename(struct kiln_sandbox *sb, const char *from,
			     const char *to)
{
	char err[ERRLEN];
	/* both must be absolute: the first that is not is named */
	const char *check = !from || from[0] != '/' ? from : to;
	struct agent_client *c;
	int rc = files_ready(sb, "rename", check, &c), r;

	if (rc)
		return rc;
	r = agent_client_rename(c, from, to, FILES_REQUEST_MS, err,
				sizeof(err));
	return r ? files_fail(sb, r, "rename", err) : KILN_OK;
}

int kiln_sandbox_sync(struct kiln_sandbox *sb, const char *path)
{
	char err[ERRLEN];
	struct agent_client *c;
	int rc = files_ready(sb, "sync", path ? path : "/", &c), r;

	if (rc)
		return rc;
	r = agent_client_sync(c, path, FILES_LONG_MS, err, sizeof(err));
	return r ? files_fail(sb, r, "sync", err) : KILN_OK;
}
