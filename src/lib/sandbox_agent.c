/* SPDX-License-Identifier: MIT */
/*
 * A sandbox handle's connection to its guest agent (docs/PROTOCOL.md,
 * "Connection lifetime").  Every request takes the connection through
 * sandbox_agent_get() and gives it up through sandbox_agent_lost() when
 * it failed.
 *
 * Connections do not survive a snapshot restore: a rollback replaces the
 * VMM, and a restored guest's vsock transport is reset.  The agent's
 * listening socket does survive, so a lost connection (or one abandoned
 * after a cancel or a timeout, whose stream state is unknown) is simply
 * replaced on the next call, as long as the VM runs.  The call that the
 * loss interrupted still fails: nothing is retried, since an exec or a
 * write may already have happened in the guest.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/handle.h"
#include "lib/sandbox.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

#define ERRLEN 1024
#define RETRY_MIN_MS 5 /* between attempts to reach an agent not ready */
#define RETRY_MAX_MS 100
#define LOST_VMM_WAIT_MS 1000 /* a VM that drops the agent may be exiting */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sandbox_agent_drop(struct kiln_sandbox *sb)
{
	agent_client_close(sb->agent);
	sb->agent = NULL;
}

/* Whether the VMM sb watches has ended (waiting up to wait_ms for it).
 * An attached sandbox has none: false. */
static bool vmm_ended(struct kiln_sandbox *sb, int wait_ms)
{
	if (sb->opened)
		return sandbox_vmm_gone(sb, wait_ms);
	if (sb->vmm.pid > 0)
		return vmm_proc_wait(&sb->vmm, wait_ms, -1) == 1;
	return false;
}

/*
 * A persistent sandbox whose VMM ended: its row names the VMM it has now.
 * After a rollback, or a stop and start, by any process, that is another
 * one: watch it from now on, as an opened sandbox does (the runtime
 * directory stays the sandbox's).  KILN_OK when one runs, else why not.
 */
static int vmm_follow(struct kiln_sandbox *sb)
{
	struct kiln *k = sb->k;
	struct state_sandbox row;
	const char *reason;
	struct state *st;
	char first[ERRLEN];
	int rc;

	/* reconciled: a VMM that is gone makes the row dead */
	rc = store_find(k, sb->id, &st, &row);
	if (rc) {
		snprintf(first, sizeof(first), "%s", kiln_errmsg(k));
		return handle_fail(k, rc == KILN_ENOTFOUND ? KILN_ESTATE : rc,
				   "sandbox %s: its VMM has exited and its "
				   "record cannot be read (%s); close this "
				   "handle",
				   sb->id, first);
	}
	switch (row.status) {
	case STATE_SB_RUNNING:
		if (sb->vmm.pidfd >= 0)
			close(sb->vmm.pidfd);
		memset(&sb->vmm, 0, sizeof(sb->vmm));
		sb->vmm.pidfd = sb->vmm.gate_fd = sb->vmm.err_fd = -1;
		sb->opened = true;
		sb->opened_pid = row.vmm_pid;
		sb->opened_start = row.vmm_start;
		handle_log(k, KILN_LOG_INFO,
			   "sandbox %s: now run by kiln-vmm pid %d (rolled "
			   "back or restarted)",
			   sb->id, row.vmm_pid);
		break;
	case STATE_SB_PAUSED:
		rc = handle_fail(k, KILN_ESTATE,
				 "sandbox %s is paused; resume it (kiln resume "
				 "%s) and try again",
				 sb->id, sb->id);
		break;
	case STATE_SB_CREATING:
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		rc = store_busy_fail(k, &row);
		break;
	default:
		reason = row.exit_reason && *row.exit_reason
				 ? row.exit_reason
				 : "no reason known";
		rc = handle_fail(k, KILN_EVMM,
				 "sandbox %s is %s, its VM is gone (%s); start "
				 "it again with `kiln start %s`",
				 sb->id, state_status_name(row.status), reason,
				 sb->id);
		break;
	}
	state_sandbox_clear(&row);
	return rc;
}

/* KILN_OK if sb's VM runs (or sb is attached: no VM), else why not. */
static int vmm_check(struct kiln_sandbox *sb)
{
	char what[128];

	if (!vmm_ended(sb, 0))
		return KILN_OK;
	if (sb->persistent)
		return vmm_follow(sb);
	vmm_proc_describe(&sb->vmm, what, sizeof(what));
	handle_fail(sb->k, KILN_EVMM,
		    "sandbox %s: its VM has stopped (%s); destroy the sandbox",
		    sb->id, what);
	sandbox_fail_tails(sb);
	return KILN_EVMM;
}

/* An attached sandbox's agent: connect, retrying while nobody listens. */
static int connect_endpoint(struct kiln_sandbox *sb, int timeout_ms, char *err,
			    size_t errlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int backoff = RETRY_MIN_MS;

	for (;;) {
		struct pollfd p = {.fd = sb->k->cancel_fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		int r;

		if (handle_cancelled(sb->k)) {
			snprintf(err, errlen, "cancelled");
			return AGENT_ERR_CANCELLED;
		}
		r = agent_client_connect_unix(sb->endpoint,
					      left > 0 ? (int)left : 0,
					      &sb->agent, err, errlen);
		if (r != AGENT_ERR_NOT_READY)
			return r;
		left = deadline - mono_ms();
		if (left <= 0)
			return AGENT_ERR_TIMEOUT;
		if (poll(&p, p.fd >= 0 ? 1 : 0,
			 backoff < left ? backoff : (int)left) < 0 &&
		    errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return AGENT_ERR_IO;
		}
		backoff =
			backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
	}
}

/*
 * Open a fresh connection to sb's agent into sb->agent (an old one is
 * closed first), with the handshake, retrying while the agent is not
 * ready, bounded by timeout_ms and k's cancel fd.  An agent_err with a
 * message in err; nothing is recorded on k.
 */
static int agent_connect(struct kiln_sandbox *sb, int timeout_ms, char *err,
			 size_t errlen)
{
	sandbox_agent_drop(sb);
	if (sb->endpoint)
		return connect_endpoint(sb, timeout_ms, err, errlen);
	if (!sb->uds_path || !*sb->uds_path) {
		snprintf(err, errlen, "the sandbox has no vsock socket");
		return AGENT_ERR_INVAL;
	}
	return agent_client_wait_ready(sb->uds_path, PROTO_AGENT_PORT,
				       timeout_ms, sb->k->cancel_fd, &sb->agent,
				       err, errlen);
}

int sandbox_agent_get(struct kiln_sandbox *sb, struct agent_client **out)
{
	struct kiln *k = sb->k;
	char err[ERRLEN];
	int r, rc, ms;

	*out = NULL;
	if (sb->agent && agent_client_usable(sb->agent)) {
		*out = sb->agent;
		return KILN_OK;
	}
	if (sb->agent)
		handle_log(k, KILN_LOG_DEBUG,
			   "sandbox %s: the agent connection was lost or "
			   "given up; connecting again",
			   sb->id);
	sandbox_agent_drop(sb);
	rc = vmm_check(sb);
	if (rc)
		return rc;
	ms = k->boot_timeout_ms < SANDBOX_RECONNECT_MS ? (int)k->boot_timeout_ms
						       : SANDBOX_RECONNECT_MS;
	r = agent_connect(sb, ms, err, sizeof(err));
	if (r == AGENT_OK) {
		handle_log(k, KILN_LOG_DEBUG,
			   "sandbox %s: connected to its agent again", sb->id);
		*out = sb->agent;
		return KILN_OK;
	}
	if (r == AGENT_ERR_CANCELLED)
		return handle_fail(k, KILN_ECANCELED,
				   "sandbox %s: cancelled while connecting to "
				   "its agent",
				   sb->id);
	/* the VM may have stopped meanwhile: that is the better answer */
	if (vmm_ended(sb, 0)) {
		rc = vmm_check(sb);
		if (rc)
			return rc;
	}
	if (sb->endpoint)
		return handle_fail(
			k, KILN_EGUEST,
			"sandbox %s: lost its agent at %s and cannot "
			"reach it again (%s); attach again once it "
			"runs",
			sb->id, sb->endpoint, err);
	handle_fail(k, r == AGENT_ERR_TIMEOUT ? KILN_ETIMEOUT : KILN_EGUEST,
		    "sandbox %s: its VM runs, but its agent does not answer a "
		    "new connection within %d s (%s); retry, or %s",
		    sb->id, ms / 1000, err,
		    sb->persistent ? "restart it (kiln stop, kiln start)"
				   : "destroy it");
	sandbox_fail_tails(sb);
	return r == AGENT_ERR_TIMEOUT ? KILN_ETIMEOUT : KILN_EGUEST;
}

int sandbox_agent_lost(struct kiln_sandbox *sb, int r, const char *what,
		       const char *err)
{
	struct kiln *k = sb->k;
	char why[128];
	int rc;

	/* closed now: the agent kills what still ran on it */
	sandbox_agent_drop(sb);
	if (r == AGENT_ERR_CANCELLED)
		return handle_fail(k, KILN_ECANCELED, "%s: cancelled", what);
	if (vmm_ended(sb, LOST_VMM_WAIT_MS)) {
		if (sb->opened)
			snprintf(why, sizeof(why), "kiln-vmm (pid %d) exited",
				 sb->opened_pid);
		else
			vmm_proc_describe(&sb->vmm, why, sizeof(why));
		handle_fail(k, KILN_EVMM,
			    "%s: the VM of sandbox %s stopped: %s%s", what,
			    sb->id, why,
			    sb->persistent ? " (a persistent sandbox's next "
					     "call finds its VM again if it "
					     "was rolled back or restarted)"
					   : "");
		sandbox_fail_tails(sb);
		return KILN_EVMM;
	}
	rc = r == AGENT_ERR_TIMEOUT ? KILN_ETIMEOUT : KILN_EGUEST;
	handle_fail(k, rc,
		    "%s: %s the agent of sandbox %s: %s; the next call "
		    "connects again",
		    what, r == AGENT_ERR_TIMEOUT ? "no answer from" : "lost",
		    sb->id, err);
	if (sb->vmm.pid > 0 || sb->opened)
		sandbox_fail_tails(sb);
	return rc;
}

/* sandbox_teardown()'s power-off request needs a connection. */
int sandbox_agent_reconnect_quiet(struct kiln_sandbox *sb, int timeout_ms)
{
	char err[ERRLEN];

	return agent_connect(sb, timeout_ms, err, sizeof(err));
}
