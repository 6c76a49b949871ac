/* SPDX-License-Identifier: MIT */
/*
 * `kiln exec`: run a command in a running persistent sandbox, stream its
 * output, exit with its status (the same codes as `kiln run`); with -t on
 * a guest terminal, with --detach in the background.  `kiln shell` and
 * `kiln attach` (cmd_shell.c, cmd_attach.c) run through here too.
 */
#include "cli/cmd_exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_tty.h"
#include "cli/detach_keys.h"
#include "cli/exec_output.h"

static const char *const cmd_names[] = {"exec", "shell", "attach"};

/* kiln's $TERM for a guest terminal, if it is a sane one. */
static const char *local_term(const struct exec_args *a)
{
	const char *t = getenv("TERM");

	for (int i = 0; i < a->nenv; i++)
		if (!strncmp(a->env[i], "TERM=", 5))
			return NULL; /* -e TERM=... wins */
	if (!t || !t[0] || strlen(t) > 64 ||
	    strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789-+._") != strlen(t))
		return NULL;
	return t;
}

/*
 * The detach keys on a raw terminal: stdin goes through a relay thread,
 * and libkiln's resize fd is an epoll set of SIGWINCH's signalfd and the
 * relay's wake fd, so that the keys stop the exec like a resize callback
 * asking to stop (KILN_ECANCELED, relay.detached set).
 */
struct detach_ctx {
	struct cli_term *t;
	struct detach_relay relay;
	int epfd;
};

static int detach_on_resize(void *ctx, unsigned int *rows, unsigned int *cols)
{
	struct detach_ctx *d = ctx;

	if (d->relay.detached)
		return -1;
	if (d->t->winch_fd < 0)
		return 1;
	return cli_term_on_resize(d->t, rows, cols);
}

static int detach_setup(struct detach_ctx *d, struct cli_term *t,
			const struct detach_keys *k, struct kiln_exec *ex,
			char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN};

	d->t = t;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		return -1;
	}
	if (detach_relay_start(&d->relay, k, STDIN_FILENO, err, errlen) < 0) {
		close(d->epfd);
		d->epfd = -1;
		return -1;
	}
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->relay.wake_fd, &ev) < 0 ||
	    (t->winch_fd >= 0 &&
	     epoll_ctl(d->epfd, EPOLL_CTL_ADD, t->winch_fd, &ev) < 0)) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	ex->stdin_fd = d->relay.fd;
	ex->resize_fd = d->epfd;
	ex->on_resize = detach_on_resize;
	ex->resize_ctx = d;
	return 0;
}

static void detach_teardown(struct detach_ctx *d)
{
	detach_relay_stop(&d->relay);
	if (d->epfd >= 0)
		close(d->epfd);
	d->epfd = -1;
}

/*
 * kiln was stopped by a signal while a command it started as a detached
 * one (for the detach keys) ran: kill it, as a plain exec would have been.
 */
static void kill_started(struct cli *c, const struct exec_args *a, int pid)
{
	struct kiln_sandbox *sb;

	if (pid > 1 && kiln_sandbox_open(c->k, a->sandbox, &sb) == KILN_OK) {
		kiln_sandbox_kill(sb, pid, 0, 0, SIGKILL);
		kiln_sandbox_close(sb);
	}
}

/* What to tell the user about a failure; returns the exit code. */
static int exec_outcome(struct cli *c, int rc,
			const struct kiln_exec_result *res,
			const struct cli_output *out,
			const struct cli_output *errout, uint32_t session)
{
	int code = cli_exec_exit_code(rc, res), sig;

	if (rc == KILN_ECANCELED && (sig = cli_signal_received(c)) > 0) {
		if (session)
			fprintf(stderr,
				"kiln: stopped by SIG%s; session %u goes on "
				"detached\n",
				sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
				session);
		else
			fprintf(stderr,
				"kiln: stopped by SIG%s; the command was "
				"killed\n",
				sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		return 128 + sig;
	}
	if (rc == KILN_ECANCELED && (out->err || errout->err)) {
		int e = out->err ? out->err : errout->err;

		if (e == EPIPE)
			return 128 + SIGPIPE;
		fprintf(stderr, "kiln: cannot write the command's output: %s\n",
			strerror(e));
		return CLI_EXIT_FAILURE;
	}
	if (rc)
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
	return code;
}

int cli_exec_run(struct cli *c, struct kiln_sandbox *sb, enum exec_args_cmd cmd,
		 const struct exec_args *a, const char *const *argv)
{
	struct cli_output out = {.fd = STDOUT_FILENO};
	struct cli_output errout = {.fd = STDERR_FILENO};
	const char *env[EXEC_ENV_MAX + 2];
	struct kiln_exec_result res = {0};
	char term_env[80], err[256];
	const char *term = a->tty ? local_term(a) : NULL;
	struct cli_term t = {.fd = -1, .size_fd = -1, .winch_fd = -1};
	struct detach_ctx dc = {.epfd = -1};
	struct detach_keys keys;
	struct kiln_exec ex;
	uint64_t lost = 0;
	uint32_t session = 0;
	bool keyed = false;
	int rc, code, pid = 0, n = 0;

	/* checked by cli_exec_main() already */
	if (detach_keys_parse(a->detach_keys ? a->detach_keys
					     : DETACH_KEYS_DEFAULT,
			      &keys, err, sizeof(err)) < 0)
		keys.len = 0;
	dc.relay.fd = dc.relay.peer = dc.relay.wake_fd = dc.relay.stop_fd = -1;

	for (int i = 0; i < a->nenv; i++)
		env[n++] = a->env[i];
	if (term) {
		snprintf(term_env, sizeof(term_env), "TERM=%s", term);
		env[n++] = term_env;
	}
	env[n] = NULL;
	kiln_exec_init(&ex);
	ex.argv = argv ? argv : (const char *const *)a->cmd;
	ex.env = n ? env : NULL;
	ex.cwd = a->workdir;
	ex.user = a->user;
	ex.timeout_ms = a->timeout_s * 1000u;
	ex.on_stdout = cli_output_write;
	ex.stdout_ctx = &out;
	ex.on_stderr = cli_output_write;
	ex.stderr_ctx = &errout;
	ex.stdin_fd = a->interactive ? STDIN_FILENO : -1;
	ex.tty = a->tty;
	exec_output_configure(&ex, a->max_output, a->json);
	/* raw mode only when we pass the keyboard on (and not detaching) */
	if (a->tty &&
	    cli_term_open(&t, a->interactive ? STDIN_FILENO : -1, STDOUT_FILENO,
			  a->interactive && !a->detach, err, sizeof(err)) < 0) {
		fprintf(stderr, "kiln %s: %s\n", cmd_names[cmd], err);
		kiln_sandbox_close(sb);
		return CLI_EXIT_FAILURE;
	}
	if (a->tty) {
		ex.rows = t.rows;
		ex.cols = t.cols;
		ex.resize_fd = t.winch_fd;
		ex.on_resize = t.winch_fd >= 0 ? cli_term_on_resize : NULL;
		ex.resize_ctx = &t;
	}
	/* the detach keys: only on a raw terminal, where keys are typed */
	if (t.raw && keys.len > 0 && !a->detach) {
		if (detach_setup(&dc, &t, &keys, &ex, err, sizeof(err)) < 0) {
			detach_teardown(&dc);
			cli_term_close(&t);
			fprintf(stderr, "kiln %s: %s\n", cmd_names[cmd], err);
			kiln_sandbox_close(sb);
			return CLI_EXIT_FAILURE;
		}
		keyed = true;
	}
	if (cmd == EXEC_ARGS_ATTACH) {
		session = a->session;
		rc = kiln_sandbox_exec_attach(sb, a->session, &ex, &res, &lost);
	} else if (a->detach) {
		rc = kiln_sandbox_exec_detach(sb, &ex, &session, &pid);
	} else if (keyed) {
		/* started detached, so that the keys can leave it running */
		rc = kiln_sandbox_exec_detach(sb, &ex, &session, &pid);
		if (rc == KILN_OK)
			rc = kiln_sandbox_exec_attach(sb, session, &ex, &res,
						      &lost);
		else if (rc == KILN_EEXEC) /* as kiln_sandbox_exec() says */
			res.exit_code =
				strstr(kiln_errmsg(c->k), "not found") ||
						strstr(kiln_errmsg(c->k),
						       "o such file")
					? CLI_EXIT_NOT_FOUND
					: CLI_EXIT_CANNOT_EXEC;
	} else {
		rc = kiln_sandbox_exec(sb, &ex, &res);
	}
	detach_teardown(&dc);
	/* Before any message: the terminal must be itself again. */
	cli_term_close(&t);
	if (keyed && rc == KILN_ECANCELED && dc.relay.detached) {
		fprintf(stderr,
			"kiln: detached; session %u goes on ('kiln attach -it "
			"%s %u' to attach again)\n",
			session, a->sandbox, session);
		code = 0;
	} else if (a->detach && cmd == EXEC_ARGS_EXEC) {
		/* the command did not start: no exit status to pass on */
		code = rc ? cli_fail(c, rc) : 0;
		if (rc == KILN_OK)
			printf("%u\n", session);
	} else {
		if (keyed && cmd != EXEC_ARGS_ATTACH && rc == KILN_ECANCELED) {
			kill_started(c, a, pid);
			session = 0; /* killed, as a plain exec would be */
		}
		bool ran = rc == KILN_OK || rc == KILN_ETIMEOUT;
		int jcode = 0;

		/* the command ran: its output, then what kiln has to say */
		if (a->json && ran)
			jcode = cli_json_print(exec_output_json(&res));
		if (ran)
			exec_output_warn(&res, ex.max_output);
		code = exec_outcome(c, rc, &res, &out, &errout, session);
		if (jcode)
			code = jcode; /* the JSON was lost (message printed) */
	}
	kiln_exec_result_free(&res);
	if (lost)
		fprintf(stderr,
			"kiln: %llu bytes of output were dropped while "
			"nobody was attached (the agent keeps the last "
			"64 KiB per stream)\n",
			(unsigned long long)lost);
	kiln_sandbox_close(sb);
	return code;
}

int cli_exec_main(enum exec_args_cmd cmd, int argc, char **argv)
{
	static const char *const usages[] = {exec_args_usage_exec,
					     exec_args_usage_shell,
					     exec_args_usage_attach};
	struct kiln_sandbox *sb;
	struct exec_args a;
	char err[256];
	struct cli c;
	int rc, code;

	struct detach_keys keys;

	switch (exec_args_parse(cmd, argc, argv, &a, err, sizeof(err))) {
	case EXEC_ARGS_HELP:
		fputs(usages[cmd], stdout);
		return 0;
	case EXEC_ARGS_ERROR:
		return cli_usage_error(cmd_names[cmd], "%s", err);
	case EXEC_ARGS_OK:
		break;
	}
	if (a.detach_keys &&
	    detach_keys_parse(a.detach_keys, &keys, err, sizeof(err)) < 0)
		return cli_usage_error(cmd_names[cmd], "%s", err);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, a.sandbox, &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	if (cmd == EXEC_ARGS_SHELL)
		code = cli_shell_run(&c, sb, &a);
	else
		code = cli_exec_run(&c, sb, cmd, &a, NULL);
	cli_close(&c);
	return code;
}

int cli_exec(int argc, char **argv)
{
	return cli_exec_main(EXEC_ARGS_EXEC, argc, argv);
}
