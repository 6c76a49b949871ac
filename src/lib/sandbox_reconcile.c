/* SPDX-License-Identifier: MIT */
/*
 * Reconciliation: the state database says which VMMs should exist; the
 * process table says which do.  A VMM is the process with the recorded pid
 * AND start time (/proc/PID/stat field 22), so a pid reused by some other
 * process is never taken for it, and never signalled (signals go through a
 * pidfd opened before the start time is checked).
 *
 * An operation in progress (creating, starting, stopping) records the
 * process running it, again by pid and start time.  While that process
 * lives its operation is left alone; once it is gone the operation is
 * finished for it: a half-created sandbox is rolled back completely, a
 * half-started or half-stopped one ends stopped.  Every change is a
 * compare-and-set on the row's state, so two kiln processes reconciling at
 * once cannot both act on the same row.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/console.h"
#include "lib/handle.h"
#include "lib/net_sandbox.h"
#include "lib/rundir.h"
#include "lib/sandbox_store.h"
#include "lib/vmm_proc.h"

#define ERRLEN 1024

int store_self(int *pid, uint64_t *start)
{
	*pid = (int)getpid();
	return proc_start_time(*pid, start);
}

bool store_proc_alive(int pid, uint64_t start)
{
	uint64_t now;

	return pid > 0 && proc_start_time(pid, &now) == 0 && now == start;
}

/* A line of kiln-vmm's own (not an echo of the console, not indented). */
static bool vmm_line_own(const char *line, size_t n)
{
	static const char pre[] = "kiln-vmm: ";
	const size_t plen = sizeof(pre) - 1;

	if (n <= plen || memcmp(line, pre, plen))
		return false;
	if (line[plen] == '|' || line[plen] == ' ')
		return false;
	return !(n >= plen + 19 &&
		 !memcmp(line + plen, "last console lines:", 19));
}

void store_exit_reason(const struct state_sandbox *row, char *buf, size_t len)
{
	char tail[CONSOLE_TAIL_BYTES], *path = NULL;
	const char *best = NULL;
	size_t n = 0, best_n = 0, i = 0;
	int partial;

	if (row->runtime_dir &&
	    asprintf(&path, "%s/vmm.log", row->runtime_dir) >= 0 &&
	    console_read_tail(path, tail, sizeof(tail), &n, &partial) == 0) {
		while (i < n) {
			char *nl = memchr(tail + i, '\n', n - i);
			size_t ln = nl ? (size_t)(nl - (tail + i)) : n - i;

			if (vmm_line_own(tail + i, ln)) {
				best = tail + i;
				best_n = ln;
			}
			i += ln + 1;
		}
	}
	free(path);
	if (!best) {
		snprintf(buf, len,
			 "kiln-vmm (pid %d) ended without a message: killed "
			 "(SIGKILL, OOM killer) or the host restarted",
			 row->vmm_pid);
		return;
	}
	if (best_n > len - 1)
		best_n = len - 1;
	/* the log holds guest-influenced text: keep it printable */
	for (i = 0; i < best_n; i++)
		buf[i] = best[i] >= 0x20 && best[i] < 0x7f ? best[i] : '?';
	buf[i] = '\0';
}

int store_vmm_stop(const struct state_sandbox *row, bool graceful, char *err,
		   size_t errlen)
{
	struct agent_client *c = NULL;
	char e2[ERRLEN / 2], *uds = NULL;
	bool asked = false;
	int pidfd, r;

	err[0] = '\0';
	if (row->vmm_pid <= 0)
		return 0;
	pidfd = proc_open_verified(row->vmm_pid, row->vmm_start);
	if (pidfd == KILN_ENOTFOUND)
		return 0; /* gone already */
	if (pidfd < 0) {
		snprintf(err, errlen,
			 "cannot watch kiln-vmm (pid %d) of sandbox %s: %s",
			 row->vmm_pid, row->id, strerror(errno));
		return KILN_ESYS;
	}
	if (graceful && row->runtime_dir &&
	    asprintf(&uds, "%s/vsock.sock", row->runtime_dir) >= 0 &&
	    agent_client_connect_vsock(uds, PROTO_AGENT_PORT, STORE_CONNECT_MS,
				       STORE_CONNECT_MS, -1, &c, e2,
				       sizeof(e2)) == AGENT_OK) {
		r = agent_client_shutdown(c, STORE_SHUTDOWN_ACK_MS, e2,
					  sizeof(e2));
		/* the reply may be lost with the VM: the exit tells */
		asked = r == AGENT_OK || r == AGENT_ERR_IO;
		agent_client_close(c);
	}
	free(uds);
	r = proc_stop_pidfd(pidfd, asked ? STORE_POWEROFF_WAIT_MS : 0,
			    STORE_TERM_WAIT_MS);
	close(pidfd);
	if (r < 0) {
		snprintf(err, errlen,
			 "kiln-vmm (pid %d) of sandbox %s did not exit even "
			 "after SIGKILL",
			 row->vmm_pid, row->id);
		return KILN_ESYS;
	}
	return 0;
}

/* Reload row after a change (or learn that it is gone). */
static int row_reload(struct state *st, struct state_sandbox *row,
		      bool *deleted, char *err, size_t errlen)
{
	char id[STATE_ID_LEN + 1];
	int rc;

	memcpy(id, row->id, sizeof(id));
	state_sandbox_clear(row);
	rc = state_sandbox_get(st, id, row, err, errlen);
	if (rc == KILN_ENOTFOUND) {
		*deleted = true;
		return 0;
	}
	return rc;
}

/* Roll back a creation whose creator died: nothing of it may remain. */
static int rollback_create(struct kiln *k, struct state *st,
			   struct state_sandbox *row, bool *deleted)
{
	struct state_update u = {
		.status = STATE_SB_STOPPING,
		.vmm_pid = row->vmm_pid,
		.vmm_start = row->vmm_start,
	};
	char err[ERRLEN];
	int pid, rc;

	if (store_self(&pid, &u.owner_start))
		return handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	u.owner_pid = pid;
	/* claim it first, so a concurrent reconciler leaves it to us */
	rc = state_sandbox_transition(st, row->id, STATE_SB_CREATING, &u, err,
				      sizeof(err));
	if (rc == KILN_ESTATE || rc == KILN_ENOTFOUND)
		return row_reload(st, row, deleted, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	handle_log(k, KILN_LOG_INFO,
		   "sandbox %s: its creator (pid %d) is gone; rolling it back",
		   row->id, row->owner_pid);
	rc = store_vmm_stop(row, false, err, sizeof(err));
	if (!rc && row->runtime_dir)
		rc = rundir_remove(row->runtime_dir, err, sizeof(err));
	if (!rc)
		rc = state_sandbox_delete(st, row->id, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "rolling back sandbox %s: %s",
				   row->id, err);
	*deleted = true;
	return 0;
}

/* A start or stop whose process died: the sandbox ends up stopped. */
static int finish_interrupted(struct kiln *k, struct state *st,
			      struct state_sandbox *row, bool *deleted)
{
	struct state_update u = {.status = STATE_SB_STOPPED};
	char err[ERRLEN], reason[160];
	int rc;

	rc = store_vmm_stop(row, false, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	snprintf(reason, sizeof(reason),
		 "the kiln process %s it (pid %d) ended before it finished",
		 row->status == STATE_SB_STARTING ? "starting" : "stopping",
		 row->owner_pid);
	u.exit_reason = reason;
	rc = state_sandbox_transition(st, row->id, row->status, &u, err,
				      sizeof(err));
	if (rc && rc != KILN_ESTATE && rc != KILN_ENOTFOUND)
		return handle_fail(k, rc, "%s", err);
	return row_reload(st, row, deleted, err, sizeof(err));
}

/* A running sandbox whose VMM is gone: dead, with the reason if known. */
static int mark_dead(struct kiln *k, struct state *st,
		     struct state_sandbox *row, bool *deleted)
{
	struct state_update u = {.status = STATE_SB_DEAD};
	char err[ERRLEN], reason[STORE_REASON_MAX];
	int rc;

	store_exit_reason(row, reason, sizeof(reason));
	u.exit_reason = reason;
	rc = state_sandbox_transition(st, row->id, row->status, &u, err,
				      sizeof(err));
	if (rc && rc != KILN_ESTATE && rc != KILN_ENOTFOUND)
		return handle_fail(k, rc, "%s", err);
	handle_log(k, KILN_LOG_INFO, "sandbox %s: its VMM is gone: %s", row->id,
		   reason);
	return row_reload(st, row, deleted, err, sizeof(err));
}

int reconcile_row(struct kiln *k, struct state *st, struct state_sandbox *row,
		  bool *deleted)
{
	*deleted = false;
	switch (row->status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
		if (store_proc_alive(row->vmm_pid, row->vmm_start))
			return 0;
		return mark_dead(k, st, row, deleted);
	case STATE_SB_CREATING:
		if (store_proc_alive(row->owner_pid, row->owner_start))
			return 0;
		return rollback_create(k, st, row, deleted);
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		if (store_proc_alive(row->owner_pid, row->owner_start))
			return 0;
		return finish_interrupted(k, st, row, deleted);
	case STATE_SB_STOPPED:
	case STATE_SB_FAILED:
	case STATE_SB_DEAD:
		break;
	}
	return 0;
}

void reconcile_all(struct kiln *k, struct state *st)
{
	struct state_sandbox *list;
	char err[ERRLEN];
	size_t n;
	bool deleted;

	if (state_sandbox_list(st, &list, &n, err, sizeof(err))) {
		handle_log(k, KILN_LOG_WARN, "reconciling: %s", err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (reconcile_row(k, st, &list[i], &deleted))
			handle_log(k, KILN_LOG_WARN, "reconciling: %s",
				   kiln_errmsg(k));
	state_sandbox_list_free(list, n);
	/* networks of sandboxes rolled back above or removed by kill -9 */
	net_sandbox_reconcile(k, st);
}
