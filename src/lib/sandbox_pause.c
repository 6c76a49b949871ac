/* SPDX-License-Identifier: MIT */
/*
 * Pausing and resuming persistent sandboxes through their VMM's REST API
 * (<runtime_dir>/api.sock, PATCH /vm {"state": "Paused"|"Resumed"}).
 *
 * Order of events: the VMM is asked first, and the record follows by
 * compare-and-set (running <-> paused, same VMM pid and start time).  If
 * the record moved meanwhile (another kiln is stopping or removing the
 * sandbox), the VMM change is undone where that matters (a pause is
 * resumed) and the call fails with KILN_ESTATE.  A paused sandbox whose
 * VMM dies is found dead by the reconciliation like a running one.
 *
 * Hooks: before_pause/after_pause and before_resume/after_resume (or
 * error with phase "pause"/"resume") around kiln_sandbox_pause() and
 * _resume(); the pauses inside stop, checkpoint and fork are part of
 * those operations and emit none.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/sandbox_store.h"
#include "lib/vmm_api.h"

#define ERRLEN 1024
/* Pausing waits for every vCPU to leave the guest; slow in nested KVM. */
#define PAUSE_API_MS 30000

static int api_path_of(struct kiln *k, const struct state_sandbox *row,
		       char **out)
{
	*out = NULL;
	if (!row->runtime_dir)
		return handle_fail(k, KILN_ESTATE,
				   "sandbox %s has no runtime directory "
				   "recorded; stop and start it",
				   row->id);
	if (asprintf(out, "%s/api.sock", row->runtime_dir) < 0) {
		*out = NULL;
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	return KILN_OK;
}

int store_vmm_set_paused(struct kiln *k, const struct state_sandbox *row,
			 bool paused)
{
	char err[ERRLEN], *api;
	int rc;

	rc = api_path_of(k, row, &api);
	if (rc)
		return rc;
	handle_log(k, KILN_LOG_DEBUG, "sandbox %s: PATCH /vm %s on %s", row->id,
		   paused ? "Paused" : "Resumed", api);
	rc = vmm_api_expect(
		api, "PATCH", "/vm",
		json_pack("{s:s}", "state", paused ? "Paused" : "Resumed"),
		PAUSE_API_MS, err, sizeof(err));
	free(api);
	if (rc)
		return handle_fail(k, rc, "cannot %s sandbox %s: %s",
				   paused ? "pause" : "resume", row->id, err);
	return KILN_OK;
}

/* The record follows the VMM: from -> to, keeping the VMM's identity. */
static int record_move(struct kiln *k, struct state *st,
		       const struct state_sandbox *row,
		       enum state_sandbox_status to)
{
	struct state_update u = {
		.status = to,
		.vmm_pid = row->vmm_pid,
		.vmm_start = row->vmm_start,
	};
	char err[ERRLEN];
	int rc;

	rc = state_sandbox_transition(st, row->id, row->status, &u, err,
				      sizeof(err));
	if (rc == KILN_ESTATE)
		return handle_fail(
			k, rc,
			"sandbox %s changed state while it was "
			"being %s (another kiln process is "
			"stopping or removing it?)",
			row->id, to == STATE_SB_PAUSED ? "paused" : "resumed");
	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

static int wrong_state(struct kiln *k, const char *ref,
		       const struct state_sandbox *row, bool pause)
{
	const char *name = state_status_name(row->status);

	return handle_fail(
		k, KILN_ESTATE,
		"sandbox %s is %s; only a %s sandbox can be %s%s", ref,
		name ? name : "in an unknown state",
		pause ? "running" : "paused", pause ? "paused" : "resumed",
		row->status == STATE_SB_STOPPED || row->status == STATE_SB_DEAD
			? " (start it with 'kiln start')"
			: "");
}

/*
 * Pause (running -> paused) or resume (paused -> running): the same steps
 * both ways.  Already there: KILN_OK without events, as for stop.  The
 * VMM is asked first and the record follows (a record saying "running"
 * for a paused VM would let exec hang on a frozen guest, the other way
 * round only refuses an exec that could have run).  A pause that could
 * not be recorded is undone, so no VM stays paused behind its record.
 */
static int pause_set(struct kiln *k, const char *ref, bool pause)
{
	enum state_sandbox_status from =
		pause ? STATE_SB_RUNNING : STATE_SB_PAUSED;
	enum state_sandbox_status to =
		pause ? STATE_SB_PAUSED : STATE_SB_RUNNING;
	const char *op = pause ? "pause" : "resume";
	struct state_sandbox row;
	struct state *st;
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	if (row.status == to) {
		state_sandbox_clear(&row);
		return KILN_OK;
	}
	if (row.status != from) {
		rc = wrong_state(k, ref, &row, pause);
		state_sandbox_clear(&row);
		return rc;
	}
	rc = hooks_before(k,
			  pause ? KILN_EV_BEFORE_PAUSE : KILN_EV_BEFORE_RESUME,
			  op, row.id, row.name, NULL);
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	rc = store_vmm_set_paused(k, &row, pause);
	if (!rc) {
		rc = record_move(k, st, &row, to);
		if (rc && pause) {
			char saved[ERRLEN];

			snprintf(saved, sizeof(saved), "%s", kiln_errmsg(k));
			if (store_vmm_set_paused(k, &row, false))
				handle_log(k, KILN_LOG_WARN, "%s",
					   kiln_errmsg(k));
			handle_fail(k, rc, "%s", saved);
		}
	}
	if (!rc)
		handle_log(k, KILN_LOG_INFO, "sandbox %s %s", row.id,
			   pause ? "paused" : "resumed");
	rc = hooks_after(k, rc,
			 pause ? KILN_EV_AFTER_PAUSE : KILN_EV_AFTER_RESUME, op,
			 row.id, row.name, NULL);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_sandbox_pause(struct kiln *k, const char *ref)
{
	return pause_set(k, ref, true);
}

int kiln_sandbox_resume(struct kiln *k, const char *ref)
{
	return pause_set(k, ref, false);
}

bool store_unpause_for_stop(struct kiln *k, const struct state_sandbox *row)
{
	char saved[ERRLEN];

	if (row->status != STATE_SB_PAUSED)
		return true;
	/* the guest can only power off cleanly if its vCPUs run */
	snprintf(saved, sizeof(saved), "%s", kiln_errmsg(k));
	if (store_vmm_set_paused(k, row, false) == KILN_OK)
		return true;
	handle_log(k, KILN_LOG_WARN, "%s; killing its VMM instead",
		   kiln_errmsg(k));
	handle_fail(k, KILN_OK, "%s", saved);
	return false;
}
