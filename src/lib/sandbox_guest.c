/* SPDX-License-Identifier: MIT */
/*
 * The guest's status and identity for a sandbox (kiln.h): thin wrappers
 * over the agent client's status and identity requests that turn agent
 * errors into kiln statuses and messages on the handle.
 */
#include <stdio.h>
#include <string.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/handle.h"
#include "lib/sandbox.h"

#define ERRLEN 1024
#define GUEST_REQUEST_MS 30000

/* sb's agent connection in *c (a lost one is replaced). */
static int guest_ready(struct kiln_sandbox *sb, struct agent_client **c)
{
	*c = NULL;
	if (!sb)
		return KILN_EINVAL;
	return sandbox_agent_get(sb, c);
}

/* An agent failure as a kiln status; a lost connection is dropped. */
static int guest_fail(struct kiln_sandbox *sb, int r, const char *what,
		      const char *err)
{
	switch (r) {
	case AGENT_ERR_REMOTE:
		return handle_fail(sb->k, KILN_EGUEST, "%s: %s", what, err);
	case AGENT_ERR_INVAL:
		return handle_fail(sb->k, KILN_EINVAL, "%s: %s", what, err);
	default:
		return sandbox_agent_lost(sb, r, what, err);
	}
}

int kiln_sandbox_status(struct kiln_sandbox *sb, struct kiln_guest_status *st)
{
	struct agent_status as;
	struct agent_client *c;
	char err[ERRLEN];
	int rc = guest_ready(sb, &c), r;

	if (rc)
		return rc;
	if (!st)
		return handle_fail(sb->k, KILN_EINVAL, "status: no result");
	r = agent_client_status(c, GUEST_REQUEST_MS, &as, err, sizeof(err));
	if (r)
		return guest_fail(sb, r, "guest status", err);
	memset(st, 0, sizeof(*st));
	snprintf(st->agent_version, sizeof(st->agent_version), "%s",
		 as.agent_version);
	st->protocol_version = as.protocol_version;
	st->uptime_s = as.uptime_s;
	memcpy(st->load, as.load, sizeof(st->load));
	st->mem_total_kib = as.mem_total_kib;
	st->mem_available_kib = as.mem_available_kib;
	st->root_total_bytes = as.root_total_bytes;
	st->root_avail_bytes = as.root_avail_bytes;
	st->processes = as.processes;
	snprintf(st->sandbox_id, sizeof(st->sandbox_id), "%s", as.sandbox_id);
	snprintf(st->hostname, sizeof(st->hostname), "%s", as.hostname);
	return KILN_OK;
}

int kiln_sandbox_set_identity(struct kiln_sandbox *sb, const char *hostname)
{
	struct agent_identity id = {.hostname = hostname,
				    .sandbox_id = sb ? sb->id : NULL};
	struct agent_identity_result res;
	struct agent_client *c;
	char err[ERRLEN];
	int rc, r;

	if (!sb)
		return KILN_EINVAL;
	if (hostname && (!hostname[0] || strlen(hostname) > 64))
		return handle_fail(sb->k, KILN_EINVAL,
				   "hostname '%s' must be 1..64 characters",
				   hostname);
	rc = guest_ready(sb, &c);
	if (rc)
		return rc;
	r = agent_client_identity(c, &id, GUEST_REQUEST_MS, &res, err,
				  sizeof(err));
	if (r)
		return guest_fail(sb, r, "guest identity", err);
	return KILN_OK;
}
