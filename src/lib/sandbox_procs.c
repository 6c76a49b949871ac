/* SPDX-License-Identifier: MIT */
/*
 * Guest processes and port forwarding for a sandbox (kiln.h): wrappers
 * over the agent client's ps and kill requests and over
 * port_forward_run(), turning their errors into kiln statuses and
 * messages on the handle.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/exec_output.h"
#include "lib/handle.h"
#include "lib/port_forward.h"
#include "lib/sandbox.h"

#define ERRLEN 1024
#define PROCS_REQUEST_MS 30000

/* sb's agent connection in *c (a lost one is replaced). */
static int procs_ready(struct kiln_sandbox *sb, struct agent_client **c)
{
	*c = NULL;
	if (!sb)
		return KILN_EINVAL;
	return sandbox_agent_get(sb, c);
}

/* An agent failure as a kiln status; a lost connection is dropped. */
static int procs_fail(struct kiln_sandbox *sb, int r, const char *what,
		      const char *err)
{
	switch (r) {
	case AGENT_ERR_NOT_FOUND:
		return handle_fail(sb->k, KILN_ENOTFOUND, "%s: %s", what, err);
	case AGENT_ERR_REMOTE:
	case AGENT_ERR_PERM:
		return handle_fail(sb->k, KILN_EGUEST, "%s: %s", what, err);
	case AGENT_ERR_INVAL:
		return handle_fail(sb->k, KILN_EINVAL, "%s: %s", what, err);
	default:
		return sandbox_agent_lost(sb, r, what, err);
	}
}

int kiln_sandbox_ps(struct kiln_sandbox *sb, struct kiln_process **list,
		    size_t *n)
{
	struct agent_proc_info *procs = NULL;
	struct kiln_process *out;
	struct agent_client *c;
	char err[ERRLEN];
	size_t count = 0;
	int rc, r;

	if (list)
		*list = NULL;
	if (n)
		*n = 0;
	if (!sb)
		return KILN_EINVAL;
	if (!list || !n)
		return handle_fail(sb->k, KILN_EINVAL, "ps: no result");
	rc = procs_ready(sb, &c);
	if (rc)
		return rc;
	r = agent_client_ps(c, PROCS_REQUEST_MS, &procs, &count, NULL, err,
			    sizeof(err));
	if (r)
		return procs_fail(sb, r, "guest ps", err);
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		free(procs);
		return handle_fail(sb->k, KILN_ENOMEM, "ps: out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		const struct agent_proc_info *p = &procs[i];
		struct kiln_process *q = &out[i];

		q->pid = p->pid;
		q->ppid = p->ppid;
		q->pgid = p->pgid;
		q->uid = p->uid;
		q->state = p->state;
		q->rss_kib = p->rss_kib;
		q->start_time = p->start_time;
		snprintf(q->comm, sizeof(q->comm), "%s", p->comm);
		snprintf(q->cmdline, sizeof(q->cmdline), "%s", p->cmdline);
		q->cmdline_truncated = p->cmdline_truncated;
		q->exec_id = p->exec_id;
		q->exec_conn = p->exec_conn;
		q->exec_leader = p->exec_leader;
		q->session = p->session;
	}
	free(procs);
	*list = out;
	*n = count;
	return KILN_OK;
}

int kiln_sandbox_kill(struct kiln_sandbox *sb, int pid, uint32_t exec_id,
		      uint32_t exec_conn, int signo)
{
	struct agent_client *c;
	char err[ERRLEN];
	int rc = procs_ready(sb, &c), r;

	if (rc)
		return rc;
	r = agent_client_kill(c, pid, exec_id, exec_conn, signo,
			      PROCS_REQUEST_MS, err, sizeof(err));
	return r ? procs_fail(sb, r, "guest kill", err) : KILN_OK;
}

struct forward_ctx {
	const struct kiln_port_forward *pf;
	struct kiln *k;
};

static void forward_on_listening(void *ctx, const char *addr, int port)
{
	struct forward_ctx *fc = ctx;

	handle_log(fc->k, KILN_LOG_INFO, "port-forward: listening on %s:%d",
		   addr, port);
	if (fc->pf->on_ready)
		fc->pf->on_ready(fc->pf->ctx, addr, port);
}

static void forward_on_log(void *ctx, const char *line)
{
	struct forward_ctx *fc = ctx;

	handle_log(fc->k, KILN_LOG_DEBUG, "port-forward: %s", line);
	if (fc->pf->on_event)
		fc->pf->on_event(fc->pf->ctx, line);
}

int kiln_sandbox_port_forward(struct kiln_sandbox *sb,
			      const struct kiln_port_forward *pf)
{
	struct forward_ctx fc = {.pf = pf};
	struct port_forward_hooks hooks = {0};
	char err[ERRLEN];
	int cancel_fd, r;

	if (!sb || !pf)
		return KILN_EINVAL;
	fc.k = sb->k;
	if (!sb->uds_path || !*sb->uds_path)
		return handle_fail(sb->k, KILN_ESTATE,
				   "port-forward: sandbox %s has no VMM vsock "
				   "socket (attached by endpoint?)",
				   sb->id);
	cancel_fd = pf->cancel_fd >= 0 ? pf->cancel_fd : sb->k->cancel_fd;
	if (cancel_fd < 0)
		return handle_fail(sb->k, KILN_EINVAL,
				   "port-forward: runs until cancelled: give a "
				   "cancel fd (here or in kiln_options)");
	hooks.on_listening = forward_on_listening;
	hooks.log = forward_on_log;
	hooks.ctx = &fc;
	hooks.guest_host = pf->guest_host;
	r = port_forward_run(sb->uds_path, pf->bind_addr, pf->host_port,
			     pf->guest_port, cancel_fd, &hooks, err,
			     sizeof(err));
	if (r == AGENT_ERR_INVAL)
		return handle_fail(sb->k, KILN_EINVAL, "%s", err);
	if (r)
		return handle_fail(sb->k, KILN_ESYS, "%s", err);
	return KILN_OK;
}

/* ---- detached commands ------------------------------------------------ */

#define DETACH_REQUEST_MS 60000

/* The parts of a struct kiln_exec the agent client's exec takes. */
static void exec_to_opts(const struct kiln_exec *ex, struct agent_exec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->argv = ex->argv;
	o->env = ex->env;
	o->cwd = ex->cwd;
	o->timeout_ms = ex->timeout_ms;
	o->tty = ex->tty != 0;
	o->rows = ex->rows;
	o->cols = ex->cols;
	o->user = ex->user;
	/* its cap; checked as kiln_sandbox_exec() does, in the agent */
	o->cap_output = ex->max_output != 0;
	o->max_output = ex->max_output;
}

int kiln_sandbox_exec_detach(struct kiln_sandbox *sb,
			     const struct kiln_exec *ex, uint32_t *session,
			     int *pid)
{
	struct agent_exec_opts o;
	struct agent_client *c;
	char err[ERRLEN];
	int rc, r, dpid = 0;
	uint32_t s = 0;

	if (session)
		*session = 0;
	if (pid)
		*pid = 0;
	if (!sb)
		return KILN_EINVAL;
	if (!ex || !ex->argv || !ex->argv[0] || !ex->argv[0][0] || !session)
		return handle_fail(sb->k, KILN_EINVAL,
				   "exec --detach: no command or no session "
				   "result given");
	rc = procs_ready(sb, &c);
	if (rc)
		return rc;
	exec_to_opts(ex, &o);
	r = agent_client_exec_detach(c, &o, ex->stdin_fd >= 0,
				     DETACH_REQUEST_MS, &s, &dpid, err,
				     sizeof(err));
	if (r == AGENT_ERR_NOT_FOUND || r == AGENT_ERR_PERM)
		return handle_fail(sb->k, KILN_EEXEC, "%s", err);
	if (r)
		return procs_fail(sb, r, "exec --detach", err);
	*session = s;
	if (pid)
		*pid = dpid;
	return KILN_OK;
}

int kiln_sandbox_exec_attach(struct kiln_sandbox *sb, uint32_t session,
			     const struct kiln_exec *ex,
			     struct kiln_exec_result *res, uint64_t *lost)
{
	struct agent_exec_result ar;
	struct exec_collect col;
	struct agent_exec_io io;
	struct agent_client *c;
	char err[ERRLEN];
	int rc, r;

	if (res)
		memset(res, 0, sizeof(*res));
	if (lost)
		*lost = 0;
	if (!sb)
		return KILN_EINVAL;
	if (!ex || !res || session == 0)
		return handle_fail(sb->k, KILN_EINVAL,
				   "attach: give a session id (> 0), a struct "
				   "kiln_exec and a result");
	rc = procs_ready(sb, &c);
	if (rc)
		return rc;
	agent_exec_io_init(&io);
	/* collect (no cap here: the detached exec's applies) */
	rc = exec_output_setup(sb->k, ex, res, &col, NULL, &io);
	if (rc)
		return rc;
	io.stdin_fd = ex->stdin_fd;
	io.cancel_fd = sb->k->cancel_fd;
	io.resize_fd = ex->on_resize ? ex->resize_fd : -1;
	io.on_resize = ex->on_resize;
	io.resize_ctx = ex->resize_ctx;
	r = agent_client_attach(c, session, &io, &ar, err, sizeof(err));
	if (lost)
		*lost = ar.lost_bytes;
	if (r == AGENT_ERR_CANCELLED) {
		/* closed: the session detaches; the next call reconnects */
		sandbox_agent_drop(sb);
		return handle_fail(sb->k, KILN_ECANCELED,
				   "attach: cancelled; session %u goes on "
				   "detached",
				   session);
	}
	if (r == AGENT_ERR_NOT_FOUND)
		return handle_fail(sb->k, KILN_ENOTFOUND, "%s", err);
	if (r)
		return procs_fail(sb, r, "attach", err);
	exec_output_finish(res, &ar, &col);
	res->exited = ar.exited;
	res->signaled = ar.signaled;
	res->signal = ar.term_signal;
	res->exit_code = ar.exit_code;
	if (ar.timed_out) {
		res->timed_out = 1;
		return handle_fail(sb->k, KILN_ETIMEOUT,
				   "session %u ran longer than its timeout "
				   "and was killed",
				   session);
	}
	return KILN_OK;
}
