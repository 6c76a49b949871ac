/* SPDX-License-Identifier: MIT */
/*
 * Copying files between the host and a sandbox (`kiln cp`), over the
 * agent's file operations: the guest side is written atomically by the
 * agent (temporary file, fsync, rename), and content streams through
 * bounded buffers on both sides, never held in memory whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/handle.h"
#include "lib/sandbox.h"

#define ERRLEN 1024
#define COPY_STAT_MS 30000
/* no overall deadline for the content: a dead VM closes the connection */
#define COPY_DATA_MS (-1)

/* The agent's status as a kiln status; a lost connection breaks sb. */
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
	case AGENT_ERR_CANCELLED:
		sb->broken = true;
		return handle_fail(sb->k, KILN_ECANCELED, "%s: cancelled",
				   what);
	default:
		sb->broken = true;
		return handle_fail(sb->k, KILN_EGUEST,
				   "%s: lost the guest agent: %s", what, err);
	}
}

static int copy_ready(struct kiln_sandbox *sb, const char *guest_path)
{
	if (sb->broken || !sb->agent)
		return handle_fail(sb->k, KILN_ESTATE,
				   "sandbox %s failed earlier; open it again",
				   sb->id);
	if (!guest_path || guest_path[0] != '/')
		return handle_fail(sb->k, KILN_EINVAL,
				   "guest path '%s' is not absolute",
				   guest_path ? guest_path : "(null)");
	return KILN_OK;
}

int kiln_sandbox_copy_to_guest(struct kiln_sandbox *sb, int src_fd,
			       const char *guest_path, const char *name,
			       unsigned int mode)
{
	struct agent_write_opts o = {.mode = mode & 07777, .src_fd = src_fd};
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
	return r ? copy_fail(sb, r, guest_path, err) : KILN_OK;
}
