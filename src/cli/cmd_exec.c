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
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_tty.h"

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
	struct kiln_exec ex;
	uint64_t lost = 0;
	uint32_t session = 0;
	int rc, code, pid = 0, n = 0;

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
	if (cmd == EXEC_ARGS_ATTACH) {
		session = a->session;
		rc = kiln_sandbox_exec_attach(sb, a->session, &ex, &res, &lost);
	} else if (a->detach) {
		rc = kiln_sandbox_exec_detach(sb, &ex, &session, &pid);
	} else {
		rc = kiln_sandbox_exec(sb, &ex, &res);
	}
	/* Before any message: the terminal must be itself again. */
	cli_term_close(&t);
	if (a->detach && cmd == EXEC_ARGS_EXEC) {
		/* the command did not start: no exit status to pass on */
		code = rc ? cli_fail(c, rc) : 0;
		if (rc == KILN_OK)
			printf("%u\n", session);
	} else {
		code = exec_outcome(c, rc, &res, &out, &errout, session);
	}
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

	switch (exec_args_parse(cmd, argc, argv, &a, err, sizeof(err))) {
	case EXEC_ARGS_HELP:
		fputs(usages[cmd], stdout);
		return 0;
	case EXEC_ARGS_ERROR:
		return cli_usage_error(cmd_names[cmd], "%s", err);
	case EXEC_ARGS_OK:
		break;
	}
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
