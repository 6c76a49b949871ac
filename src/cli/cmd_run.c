/* SPDX-License-Identifier: MIT */
/*
 * `kiln run`: boot, run one command, tear down, exit with its status.
 *
 * Terminal signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are blocked and read
 * through a signalfd that libkiln polls as its cancel fd: a Ctrl-C stops the
 * wait, kills the command, tears the VM down, and kiln then exits with
 * 128 + the signal.  Nothing is done in a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/exec_output.h"
#include "cli/run_args.h"
#include "kiln.h"

static int run_with(struct kiln *k, const struct run_args *a,
		    struct cli_progress *prog, struct cli_output *out,
		    struct cli_output *errout, struct kiln_exec_result *res)
{
	struct kiln_sandbox_config cfg = {0};
	struct kiln_sandbox *sb;
	struct kiln_exec ex;
	int rc, rc2;

	kiln_exec_init(&ex);
	ex.argv = (const char *const *)a->cmd;
	ex.env = a->nenv ? a->env : NULL;
	ex.cwd = a->workdir;
	ex.timeout_ms = a->timeout_s * 1000u;
	ex.on_stdout = cli_output_write;
	ex.stdout_ctx = out;
	ex.on_stderr = cli_output_write;
	ex.stderr_ctx = errout;
	exec_output_configure(&ex, a->max_output, a->json);
	/* an unusable stdin (closed) is treated as empty */
	ex.stdin_fd = (a->no_stdin || fcntl(STDIN_FILENO, F_GETFD) < 0)
			      ? -1
			      : STDIN_FILENO;

	if (a->agent) {
		rc = kiln_sandbox_attach(k, a->agent, &sb);
		if (rc)
			return rc;
		rc = kiln_sandbox_exec(sb, &ex, res);
		rc2 = kiln_sandbox_destroy(sb);
		return rc ? rc : rc2;
	}
	cfg.kernel_path = a->kernel;
	cfg.image_path = a->image;
	cfg.cpus = a->cpus;
	cfg.memory_mib = a->memory_mib;
	if (!a->quiet) {
		cfg.progress = cli_progress_show;
		cfg.progress_ctx = prog;
	}
	return kiln_run(k, &cfg, &ex, res);
}

int cli_run(int argc, char **argv)
{
	struct cli_output out = {.fd = STDOUT_FILENO};
	struct cli_output errout = {.fd = STDERR_FILENO};
	struct kiln_exec_result res = {0};
	struct run_args a;
	struct cli c;
	char err[512];
	int rc, sig, code, jcode = 0;

	switch (run_args_parse(argc, argv, &a, err, sizeof(err))) {
	case RUN_ARGS_HELP:
		fputs(run_args_usage, stdout);
		return 0;
	case RUN_ARGS_ERROR:
		fprintf(stderr, "kiln run: %s\nsee 'kiln run --help'\n", err);
		return CLI_EXIT_FAILURE;
	case RUN_ARGS_OK:
		break;
	}
	if (cli_open(&c, a.boot_timeout_s))
		return CLI_EXIT_FAILURE;
	rc = run_with(c.k, &a, &c.prog, &out, &errout, &res);
	cli_progress_clear(&c.prog);
	/* the command ran: its output, then what kiln has to say */
	if (a.json && (rc == KILN_OK || rc == KILN_ETIMEOUT))
		jcode = cli_json_print(exec_output_json(&res));
	if (rc == KILN_OK || rc == KILN_ETIMEOUT)
		exec_output_warn(&res, a.max_output ? a.max_output
				       : a.json	    ? EXEC_JSON_DEFAULT_CAP
						    : 0);
	kiln_exec_result_free(&res);
	code = cli_exec_exit_code(rc, &res);
	if (rc == KILN_ECANCELED && (sig = cli_signal_received(&c)) > 0) {
		if (!a.quiet)
			fprintf(stderr,
				"kiln: stopped by SIG%s; the sandbox "
				"was torn down\n",
				sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		code = 128 + sig;
	} else if (rc == KILN_ECANCELED && (out.err || errout.err)) {
		/* our stdout/stderr went away: like a pipeline would */
		int e = out.err ? out.err : errout.err;

		code = e == EPIPE ? 128 + SIGPIPE : CLI_EXIT_FAILURE;
		if (e != EPIPE)
			fprintf(stderr,
				"kiln: cannot write the command's "
				"output: %s\n",
				strerror(e));
	} else if (rc) {
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(c.k));
	}
	cli_close(&c);
	return jcode ? jcode : code; /* jcode: the JSON was lost */
}
