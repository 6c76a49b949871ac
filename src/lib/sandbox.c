/* SPDX-License-Identifier: MIT */
/*
 * Sandboxes: boot a microVM, wait for its agent, run commands, tear down.
 *
 * Every path out of kiln_sandbox_create() either returns a ready sandbox or
 * leaves nothing behind: the VMM is stopped and reaped and the runtime
 * directory removed before the error is returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/console.h"
#include "lib/exec_output.h"
#include "lib/handle.h"
#include "lib/net.h"
#include "lib/hooks.h"
#include "lib/overlay_copy.h"
#include "lib/sandbox.h"
#include "lib/snapshot_base.h"
#include "lib/sandbox_config.h"
#include "lib/sandbox_from.h"
#include "lib/sandbox_jail.h"
#include "lib/vmm_argv.h"

#define ERRLEN 1024
#define CONSOLE_FAIL_LINES 20 /* console lines shown when a guest fails */
#define VMM_LOG_FAIL_LINES 10
#define FAIL_TAIL_SIZE 8192
#define SHUTDOWN_ACK_MS 10000 /* agent acknowledges a power-off request */
#define POWEROFF_WAIT_MS 20000 /* then the VMM should exit by itself */
#define TERM_WAIT_MS 5000 /* after SIGTERM, before SIGKILL */
#define EXEC_WAIT_SLACK_MS 60000 /* beyond a command timeout: guest hung */
#define ATTACH_DEFAULT_MS 10000

static void sandbox_link(struct kiln_sandbox *sb)
{
	struct kiln *k = sb->k;

	sb->prev = NULL;
	sb->next = k->sandboxes;
	if (k->sandboxes)
		k->sandboxes->prev = sb;
	k->sandboxes = sb;
}

static void sandbox_unlink(struct kiln_sandbox *sb)
{
	if (sb->prev)
		sb->prev->next = sb->next;
	else if (sb->k->sandboxes == sb)
		sb->k->sandboxes = sb->next;
	if (sb->next)
		sb->next->prev = sb->prev;
	sb->next = sb->prev = NULL;
}

/*
 * kiln-vmm repeats the console's last lines in its own output when a guest
 * crashes (prefixed "kiln-vmm: | ").  We show the console separately, so
 * drop those lines from the VMM's output: what is left is the VMM's own
 * diagnosis.  Filters buf in place; returns the new length.
 */
static size_t vmm_log_drop_console(char *buf, size_t len)
{
	static const char echo[] = "kiln-vmm: | ";
	static const char head[] = "kiln-vmm: last console lines:";
	size_t in = 0, out = 0;

	while (in < len) {
		char *nl = memchr(buf + in, '\n', len - in);
		size_t n = nl ? (size_t)(nl - (buf + in)) + 1 : len - in;

		if (!((n >= sizeof(echo) - 1 &&
		       !memcmp(buf + in, echo, sizeof(echo) - 1)) ||
		      (n >= sizeof(head) - 1 &&
		       !memcmp(buf + in, head, sizeof(head) - 1)))) {
			memmove(buf + out, buf + in, n);
			out += n;
		}
		in += n;
	}
	return out;
}

/* Append the VMM log and the console's last lines to k's error message. */
void sandbox_fail_tails(struct kiln_sandbox *sb)
{
	char tail[FAIL_TAIL_SIZE], log[CONSOLE_TAIL_BYTES];
	size_t len;
	int partial;

	if (!sb->dir)
		return;
	/* each tail ends in a newline; the message does not */
	if (console_read_tail(sb->vmm_log_path, log, sizeof(log), &len,
			      &partial) == 0 &&
	    console_tail_lines(log, vmm_log_drop_console(log, len), partial,
			       VMM_LOG_FAIL_LINES, "  ", tail, sizeof(tail))) {
		tail[strlen(tail) - 1] = '\0';
		handle_fail_append(sb->k, "\nkiln-vmm output:\n%s", tail);
	}
	if (console_file_tail(sb->console_path, CONSOLE_FAIL_LINES, "  | ",
			      tail, sizeof(tail))) {
		tail[strlen(tail) - 1] = '\0';
		handle_fail_append(sb->k, "\nlast guest console lines:\n%s",
				   tail);
	} else
		handle_fail_append(sb->k, "\nthe guest console is empty "
					  "(the kernel printed nothing)");
}

/*
 * Stop everything sb owns and free it.  graceful: ask the agent to power
 * off first.  Returns 0, or a status with a message in err.
 */
int sandbox_teardown(struct kiln_sandbox *sb, bool graceful, char *err,
		     size_t errlen)
{
	char what[128], e2[ERRLEN / 2];
	bool asked = false; /* the agent accepted a power-off request */
	int rc = 0, r;

	err[0] = '\0';
	/* a lost or given-up connection is replaced for the power-off */
	if (graceful && sb->vmm.pid > 0 && vmm_proc_poll(&sb->vmm) == 0 &&
	    !agent_client_usable(sb->agent))
		sandbox_agent_reconnect_quiet(sb, SHUTDOWN_ACK_MS);
	if (sb->agent) {
		if (graceful && sb->vmm.pid > 0 &&
		    vmm_proc_poll(&sb->vmm) == 0) {
			r = agent_client_shutdown(sb->agent, SHUTDOWN_ACK_MS,
						  e2, sizeof(e2));
			/*
			 * The agent powers off right after queueing its
			 * reply, and the VMM exits on the power-off port
			 * write, so the reply can be lost with the
			 * connection.  A lost connection is taken as
			 * accepted: the VMM's exit status below says
			 * whether the guest really powered off.
			 */
			if (r == AGENT_ERR_IO)
				r = 0;
			if (r) {
				snprintf(err, errlen,
					 "the guest did not accept the "
					 "power-off "
					 "request (%s); kiln-vmm was stopped",
					 e2);
				rc = KILN_EGUEST;
			} else {
				asked = true;
			}
		}
		sandbox_agent_drop(sb);
	}
	if (sb->vmm.pid > 0) {
		r = vmm_proc_stop(&sb->vmm, asked ? POWEROFF_WAIT_MS : 0,
				  TERM_WAIT_MS);
		if (r < 0 && !rc) {
			snprintf(err, errlen,
				 "kiln-vmm (pid %d) did not exit even after "
				 "SIGKILL",
				 (int)sb->vmm.pid);
			rc = KILN_ESYS;
		} else if (r == 0 && asked) {
			snprintf(err, errlen,
				 "kiln-vmm did not exit within %d s of the "
				 "guest's power-off; it was stopped",
				 POWEROFF_WAIT_MS / 1000);
			rc = KILN_EVMM;
		} else if (r == 1 && asked &&
			   !(WIFEXITED(sb->vmm.wstatus) &&
			     WEXITSTATUS(sb->vmm.wstatus) == 0)) {
			vmm_proc_describe(&sb->vmm, what, sizeof(what));
			snprintf(err, errlen,
				 "the guest did not power off cleanly: %s",
				 what);
			rc = KILN_EVMM;
		}
	}
	/* an opened persistent sandbox's directory is not ours to remove */
	if (sb->dir && !sb->opened && rundir_remove(sb->dir, e2, sizeof(e2)) &&
	    !rc) {
		snprintf(err, errlen, "%s", e2);
		rc = KILN_ESYS;
	}
	sandbox_unlink(sb);
	free(sb->endpoint);
	free(sb->dir);
	free(sb->uds_path);
	free(sb->console_path);
	free(sb->api_path);
	free(sb->vmm_log_path);
	free(sb);
	return rc;
}

struct kiln_sandbox *sandbox_alloc(struct kiln *k)
{
	struct kiln_sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->k = k;
	sb->vmm.pidfd = sb->vmm.gate_fd = sb->vmm.err_fd = -1;
	sandbox_link(sb);
	return sb;
}

int kiln_sandbox_check(struct kiln *k, const struct kiln_sandbox_config *cfg)
{
	struct sandbox_params p;
	char err[ERRLEN];
	int rc;

	rc = sandbox_params_resolve(k->cache_dir, cfg, &p, err, sizeof(err));
	if (!rc)
		rc = sandbox_params_check_files(&p, err, sizeof(err));
	sandbox_params_free(&p);
	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

int kiln_sandbox_create(struct kiln *k, const struct kiln_sandbox_config *cfg,
			struct kiln_sandbox **out)
{
	struct kiln_sandbox *sb = NULL;
	struct sandbox_params p;
	char err[ERRLEN], terr[ERRLEN];
	char *vmm_path = NULL;
	int rc, log_fd = -1;
	bool announced = false;

	*out = NULL;
	if (cfg && cfg->persistent && cfg->from_checkpoint)
		return sandbox_create_from_checkpoint(k, cfg, out);
	if (cfg && cfg->persistent)
		return sandbox_store_create(k, cfg, out);
	if (cfg && cfg->from_checkpoint)
		return handle_fail(k, KILN_EINVAL,
				   "only a persistent sandbox can be created "
				   "from a checkpoint");
	if (cfg && cfg->name)
		return handle_fail(k, KILN_EINVAL,
				   "only a persistent sandbox has a name");
	rc = sandbox_params_resolve(k->cache_dir, cfg, &p, err, sizeof(err));
	if (!rc)
		rc = sandbox_params_check_files(&p, err, sizeof(err));
	if (rc) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	/* hooks may refuse it before anything exists */
	rc = hooks_before(k, KILN_EV_BEFORE_CREATE, "create", NULL, NULL,
			  json_pack("{s:{s:s, s:s, s:I, s:I, s:s?}}", "config",
				    "kernel", p.kernel, "image", p.image,
				    "cpus", (json_int_t)p.cpus, "memory_mib",
				    (json_int_t)p.memory_mib, "cmdline_extra",
				    p.cmdline_extra));
	if (rc)
		goto out;
	announced = true;
	rc = sandbox_vmm_resolve(k, &vmm_path);
	if (!rc)
		rc = sandbox_kvm_check(k);
	if (rc)
		goto out;
	if (handle_cancelled(k)) {
		rc = handle_fail(k, KILN_ECANCELED, "cancelled");
		goto out;
	}

	sb = sandbox_alloc(k);
	if (!sb) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	rc = sandbox_prepare_dir(sb, NULL, NULL, &log_fd);
	if (!rc) {
		if (cfg && cfg->progress)
			cfg->progress(cfg->progress_ctx, KILN_PHASE_STARTING, 0,
				      "");
		rc = sandbox_launch_vmm(sb, &p, vmm_path, log_fd, VMM_GUEST_CID,
					false);
	}
	if (!rc)
		rc = sandbox_wait_agent(sb, cfg);
	if (rc) {
		/* the error is already in k; teardown must not replace it */
		if (sandbox_teardown(sb, false, terr, sizeof(terr)))
			handle_fail_append(k, "\nwhile cleaning up: %s", terr);
		sb = NULL;
	}
out:
	if (log_fd >= 0)
		close(log_fd);
	free(vmm_path);
	sandbox_params_free(&p);
	if (announced)
		rc = hooks_after(k, rc, KILN_EV_AFTER_CREATE, "create",
				 sb ? sb->id : NULL, NULL, NULL);
	*out = sb;
	return rc;
}

int kiln_sandbox_attach(struct kiln *k, const char *endpoint,
			struct kiln_sandbox **out)
{
	struct kiln_sandbox *sb;
	char err[ERRLEN];
	int r, ms;

	*out = NULL;
	if (!endpoint || strncmp(endpoint, "unix:", 5) || !endpoint[5])
		return handle_fail(k, KILN_EINVAL,
				   "agent endpoint '%s' is not of the form "
				   "unix:PATH",
				   endpoint ? endpoint : "(null)");
	sb = sandbox_alloc(k);
	if (!sb)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	if (rundir_new_id(sb->id)) {
		sandbox_teardown(sb, false, err, sizeof(err));
		return handle_fail(k, KILN_ESYS, "getrandom failed");
	}
	/* kept: a lost connection is replaced (sandbox_agent_get()) */
	sb->endpoint = strdup(endpoint + 5);
	if (!sb->endpoint) {
		sandbox_teardown(sb, false, err, sizeof(err));
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	ms = k->boot_timeout_ms < ATTACH_DEFAULT_MS ? (int)k->boot_timeout_ms
						    : ATTACH_DEFAULT_MS;
	r = agent_client_connect_unix(endpoint + 5, ms, &sb->agent, err,
				      sizeof(err));
	if (r) {
		char terr[ERRLEN];

		sandbox_teardown(sb, false, terr, sizeof(terr));
		return handle_fail(
			k, r == AGENT_ERR_INVAL ? KILN_EINVAL : KILN_EGUEST,
			"cannot reach the agent at %s: %s", endpoint + 5, err);
	}
	*out = sb;
	return KILN_OK;
}

const char *kiln_sandbox_id(const struct kiln_sandbox *sb)
{
	return sb->id;
}

const char *kiln_sandbox_dir(const struct kiln_sandbox *sb)
{
	return sb->dir ? sb->dir : "";
}

void kiln_exec_init(struct kiln_exec *ex)
{
	memset(ex, 0, sizeof(*ex));
	ex->stdin_fd = -1;
	ex->resize_fd = -1;
}

int kiln_sandbox_exec(struct kiln_sandbox *sb, const struct kiln_exec *ex,
		      struct kiln_exec_result *res)
{
	struct kiln *k = sb->k;
	struct agent_exec_opts o = {0};
	struct agent_exec_result ar;
	struct exec_collect col;
	struct agent_exec_io io;
	struct agent_client *c;
	char err[ERRLEN];
	int r;

	memset(res, 0, sizeof(*res));
	if (!ex || !ex->argv || !ex->argv[0] || !ex->argv[0][0])
		return handle_fail(k, KILN_EINVAL, "no command given");
	r = sandbox_agent_get(sb, &c);
	if (r)
		return r;
	o.argv = ex->argv;
	o.env = ex->env;
	o.cwd = ex->cwd;
	o.timeout_ms = ex->timeout_ms;
	o.tty = ex->tty != 0;
	o.rows = ex->rows;
	o.cols = ex->cols;
	o.user = ex->user;
	/* the agent enforces timeout_ms; the slack catches a hung guest */
	o.wait_timeout_ms =
		ex->timeout_ms ? ex->timeout_ms + EXEC_WAIT_SLACK_MS : 0;
	agent_exec_io_init(&io);
	io.on_stdout = ex->on_stdout;
	io.stdout_ctx = ex->stdout_ctx;
	io.on_stderr = ex->on_stderr;
	io.stderr_ctx = ex->stderr_ctx;
	io.stdin_fd = ex->stdin_fd;
	io.cancel_fd = k->cancel_fd;
	io.resize_fd = ex->on_resize ? ex->resize_fd : -1;
	io.on_resize = ex->on_resize;
	io.resize_ctx = ex->resize_ctx;
	/* max_output, collect: exec_output.c */
	r = exec_output_setup(k, ex, res, &col, &o, &io);
	if (r)
		return r;

	memset(&ar, 0, sizeof(ar));
	r = agent_client_exec(c, &o, &io, &ar, err, sizeof(err));
	switch (r) {
	case AGENT_OK:
		exec_output_finish(res, &ar, &col);
		res->exited = ar.exited;
		res->signaled = ar.signaled;
		res->signal = ar.term_signal;
		res->exit_code = ar.exit_code;
		if (ar.timed_out) {
			res->timed_out = 1;
			return handle_fail(k, KILN_ETIMEOUT,
					   "the command ran longer than %u s "
					   "and was killed",
					   (ex->timeout_ms + 999) / 1000);
		}
		return KILN_OK;
	case AGENT_ERR_NOT_FOUND:
	case AGENT_ERR_PERM:
		res->exit_code =
			ar.exit_code ? ar.exit_code
				     : (r == AGENT_ERR_NOT_FOUND ? 127 : 126);
		return handle_fail(k, KILN_EEXEC, "%s", err);
	case AGENT_ERR_INVAL:
		return handle_fail(k, KILN_EINVAL, "%s", err);
	case AGENT_ERR_REMOTE:
		return handle_fail(k, KILN_EGUEST,
				   "the guest agent refused: %s", err);
	case AGENT_ERR_CANCELLED:
		/* the next call connects again */
		sandbox_agent_drop(sb);
		return handle_fail(k, KILN_ECANCELED,
				   "cancelled; the command was killed");
	default:
		return sandbox_agent_lost(sb, r, "exec", err);
	}
}

int kiln_sandbox_destroy(struct kiln_sandbox *sb)
{
	struct kiln *k;
	char err[ERRLEN];
	int rc;

	if (!sb)
		return KILN_OK;
	k = sb->k;
	if (sb->persistent)
		return sandbox_store_destroy(sb);
	/* after a cancel the caller wants out: no polite power-off */
	rc = sandbox_teardown(sb, !handle_cancelled(k), err, sizeof(err));
	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

int kiln_run(struct kiln *k, const struct kiln_sandbox_config *cfg,
	     const struct kiln_exec *ex, struct kiln_exec_result *res)
{
	struct kiln_sandbox *sb;
	char err[ERRLEN];
	int rc, rc2;

	memset(res, 0, sizeof(*res));
	if (!ex || !ex->argv || !ex->argv[0] || !ex->argv[0][0])
		return handle_fail(k, KILN_EINVAL, "no command given");
	rc = kiln_sandbox_create(k, cfg, &sb);
	if (rc)
		return rc;
	rc = kiln_sandbox_exec(sb, ex, res);
	rc2 = sandbox_teardown(sb, !handle_cancelled(k), err, sizeof(err));
	if (rc2 && !rc)
		handle_log(k, KILN_LOG_WARN, "%s", err);
	else if (rc2)
		handle_fail_append(k, "\nwhile cleaning up: %s", err);
	return rc;
}
