/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes going away: stop (keeps the record and directory)
 * and remove.  The row moves to stopping, owned by this process, before
 * the VMM is asked to power off (a paused one is resumed first) or
 * killed; a stop that could not stop the VMM gives the record back.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/net_sandbox.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/sandbox_store.h"
#include "lib/vmm_proc.h"

#define ERRLEN 1024

/* Move row from RUNNING (or PAUSED) to STOPPING, owned by us. */
static int claim_running(struct kiln *k, struct state *st,
			 const struct state_sandbox *row)
{
	struct state_update u = {
		.status = STATE_SB_STOPPING,
		.vmm_pid = row->vmm_pid,
		.vmm_start = row->vmm_start,
	};
	char err[ERRLEN];
	int rc;

	if (store_self(&u.owner_pid, &u.owner_start))
		return handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	rc = state_sandbox_transition(st, row->id, row->status, &u, err,
				      sizeof(err));
	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

int kiln_sandbox_stop(struct kiln *k, const char *ref, int force)
{
	struct state_update u = {.status = STATE_SB_STOPPED};
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	switch (row.status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
		break;
	case STATE_SB_CREATING:
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		rc = store_busy_fail(k, &row);
		state_sandbox_clear(&row);
		return rc;
	default: /* stopped or dead already */
		state_sandbox_clear(&row);
		return KILN_OK;
	}
	rc = hooks_before(k, KILN_EV_BEFORE_STOP, "stop", row.id, row.name,
			  json_pack("{s:b}", "force", force));
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	rc = claim_running(k, st, &row);
	if (!rc && !force && !store_unpause_for_stop(k, &row))
		force = 1;
	if (!rc) {
		rc = store_vmm_stop(&row, !force, err, sizeof(err));
		if (rc) {
			handle_fail(k, rc, "%s", err);
			/* still running: give the record back (paused
			 * unless store_unpause_for_stop() resumed it) */
			u.status = row.status == STATE_SB_PAUSED && force
					   ? STATE_SB_PAUSED
					   : STATE_SB_RUNNING;
			u.vmm_pid = row.vmm_pid;
			u.vmm_start = row.vmm_start;
		}
		if (state_sandbox_transition(st, row.id, STATE_SB_STOPPING, &u,
					     err, sizeof(err)) &&
		    !rc)
			rc = handle_fail(k, KILN_ESYS, "%s", err);
	}
	rc = hooks_after(k, rc, KILN_EV_AFTER_STOP, "stop", row.id, row.name,
			 NULL);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_sandbox_remove(struct kiln *k, const char *ref, int force)
{
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (!rc)
		rc = hooks_before(k, KILN_EV_BEFORE_REMOVE, "remove", row.id,
				  row.name, json_pack("{s:b}", "force", force));
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	switch (row.status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
		rc = claim_running(k, st, &row);
		if (rc)
			break;
		if (!force && !store_unpause_for_stop(k, &row))
			force = 1;
		rc = store_vmm_stop(&row, !force, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
		break;
	case STATE_SB_CREATING:
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		if (!force) {
			rc = store_busy_fail(k, &row);
			break;
		}
		/* its owner finds the row gone and gives up */
		rc = store_vmm_stop(&row, false, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
		break;
	default:
		break;
	}
	if (!rc && row.runtime_dir &&
	    (rc = rundir_remove(row.runtime_dir, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	if (!rc)
		rc = net_sandbox_remove(k, &row);
	/* its checkpoints' rows go with its row (a trigger) */
	if (!rc)
		rc = checkpoint_files_remove(k, row.id, NULL);
	if (!rc && (rc = state_sandbox_delete(st, row.id, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	rc = hooks_after(k, rc, KILN_EV_AFTER_REMOVE, "remove", row.id,
			 row.name, NULL);
	state_sandbox_clear(&row);
	return rc;
}

int sandbox_store_destroy(struct kiln_sandbox *sb)
{
	struct kiln *k = sb->k;
	char id[KILN_ID_LEN + 1];

	memcpy(id, sb->id, sizeof(id));
	kiln_sandbox_close(sb);
	return kiln_sandbox_remove(k, id, 0);
}
