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
#include "cli/run_args.h"
#include "kiln.h"

#define PROGRESS_LINE_EVERY_MS 5000 /* when stderr is not a terminal */

struct progress {
	bool tty;
	bool line_open; /* a tty status line is on screen */
	uint64_t next_ms; /* next plain line (not a tty) */
};

struct output {
	int fd;
	int err; /* errno of a failed write */
};

static void progress_clear(struct progress *p)
{
	if (p->line_open) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->line_open = false;
	}
}

static void progress_show(void *ctx, enum kiln_phase phase, uint64_t elapsed_ms,
			  const char *console_line)
{
	struct progress *p = ctx;
	unsigned int secs = (unsigned int)(elapsed_ms / 1000);
	char line[512];
	struct winsize ws;
	int width = 80, n;

	if (phase == KILN_PHASE_STARTING)
		return;
	if (phase == KILN_PHASE_READY) {
		progress_clear(p);
		if (!p->tty)
			fprintf(stderr, "kiln: guest ready after %.1f s\n",
				(double)elapsed_ms / 1000.0);
		return;
	}
	if (!p->tty) {
		if (elapsed_ms && elapsed_ms < p->next_ms)
			return;
		p->next_ms = elapsed_ms + PROGRESS_LINE_EVERY_MS;
	}
	n = snprintf(line, sizeof(line), "kiln: booting guest... %us", secs);
	if (*console_line)
		snprintf(line + n, sizeof(line) - (size_t)n, " (console: %s)",
			 console_line);
	if (!p->tty) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	/* one updating line, cut to the terminal width so it never wraps */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		width = ws.ws_col;
	if ((int)strlen(line) > width - 1)
		line[width - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->line_open = true;
}

static int output_write(void *ctx, const void *buf, size_t len)
{
	struct output *o = ctx;
	const char *b = buf;

	while (len) {
		ssize_t n = write(o->fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};

			poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0) {
			o->err = n < 0 ? errno : EIO;
			return -1; /* stops the command */
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void log_print(void *ctx, enum kiln_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};

	progress_clear(ctx);
	fprintf(stderr, "kiln: %s: %s\n", names[level], msg);
}

/* kiln-vmm next to this kiln binary, if $KILN_VMM does not say otherwise. */
static char *vmm_next_to_self(void)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t n;

	if (getenv("KILN_VMM"))
		return NULL;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&path, "%s/kiln-vmm", self) < 0)
		return NULL;
	if (access(path, X_OK) < 0) {
		free(path);
		return NULL;
	}
	return path;
}

/* Block the stop signals and return a signalfd for them (-1 on error). */
static int signals_to_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	/* a closed stdout must be an error from write(), not a death */
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int signal_received(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

static int exit_code_of(int rc, const struct kiln_exec_result *res)
{
	if (rc == KILN_OK)
		return res->signaled ? 128 + res->signal : res->exit_code;
	if (rc == KILN_ETIMEOUT && res->timed_out)
		return CLI_EXIT_TIMEOUT;
	if (rc == KILN_EEXEC)
		return res->exit_code == CLI_EXIT_NOT_FOUND
			       ? CLI_EXIT_NOT_FOUND
			       : CLI_EXIT_CANNOT_EXEC;
	return CLI_EXIT_FAILURE;
}

static int run_with(struct kiln *k, const struct run_args *a,
		    struct progress *prog, struct output *out,
		    struct output *errout, struct kiln_exec_result *res)
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
	ex.on_stdout = output_write;
	ex.stdout_ctx = out;
	ex.on_stderr = output_write;
	ex.stderr_ctx = errout;
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
		cfg.progress = progress_show;
		cfg.progress_ctx = prog;
	}
	return kiln_run(k, &cfg, &ex, res);
}

int cli_run(int argc, char **argv)
{
	struct progress prog = {.tty = isatty(STDERR_FILENO) != 0};
	struct output out = {.fd = STDOUT_FILENO};
	struct output errout = {.fd = STDERR_FILENO};
	struct kiln_exec_result res = {0};
	struct kiln_options opts;
	struct kiln *k = NULL;
	struct run_args a;
	char err[512], *vmm = NULL;
	const char *lvl;
	int rc, sfd, sig, code;

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

	sfd = signals_to_fd();
	if (sfd < 0) {
		fprintf(stderr, "kiln: cannot set up signal handling: %s\n",
			strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	kiln_options_init(&opts);
	vmm = vmm_next_to_self();
	opts.vmm_path = vmm;
	opts.boot_timeout_ms = a.boot_timeout_s * 1000u;
	opts.cancel_fd = sfd;
	opts.log = log_print;
	opts.log_ctx = &prog;
	lvl = getenv("KILN_LOG");
	if (lvl && !strcmp(lvl, "debug"))
		opts.log_level = KILN_LOG_DEBUG;
	else if (lvl && !strcmp(lvl, "info"))
		opts.log_level = KILN_LOG_INFO;

	rc = kiln_open(&opts, &k);
	free(vmm);
	if (rc) {
		close(sfd);
		return CLI_EXIT_FAILURE; /* the logger printed why */
	}
	rc = run_with(k, &a, &prog, &out, &errout, &res);
	progress_clear(&prog);
	code = exit_code_of(rc, &res);
	if (rc == KILN_ECANCELED && (sig = signal_received(sfd)) > 0) {
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
		fprintf(stderr, "kiln: %s\n", kiln_errmsg(k));
	}
	kiln_close(k);
	close(sfd);
	return code;
}
