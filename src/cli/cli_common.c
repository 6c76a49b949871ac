/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the kiln commands (see cli_common.h).  Nothing is done
 * in signal handlers: the stop signals are blocked and read through a
 * signalfd that libkiln polls as its cancel fd.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"

#define PROGRESS_LINE_EVERY_MS 5000 /* when stderr is not a terminal */

void cli_progress_clear(struct cli_progress *p)
{
	if (p->line_open) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->line_open = false;
	}
}

void cli_progress_show(void *ctx, enum kiln_phase phase, uint64_t elapsed_ms,
		       const char *console_line)
{
	struct cli_progress *p = ctx;
	unsigned int secs = (unsigned int)(elapsed_ms / 1000);
	char line[512];
	struct winsize ws;
	int width = 80, n;

	if (phase == KILN_PHASE_STARTING)
		return;
	if (phase == KILN_PHASE_READY) {
		cli_progress_clear(p);
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

int cli_output_write(void *ctx, const void *buf, size_t len)
{
	struct cli_output *o = ctx;
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

/*
 * How libkiln's messages are shown, from the global options (main.c) or
 * else the environment.  Only the command line process has this: libkiln
 * keeps its logger per handle.
 */
static struct {
	bool level_set, format_set, quiet;
	enum kiln_log_level level;
	enum kiln_log_format format;
} log_conf = {.level = KILN_LOG_WARN, .format = KILN_LOG_TEXT};

int cli_log_option(const char *opt, const char *value)
{
	if (!strcmp(opt, "--log-level")) {
		if (kiln_log_level_parse(value, &log_conf.level)) {
			fprintf(stderr,
				"kiln: --log-level: unknown level '%s' "
				"(error, warn, info, debug)\n",
				value);
			return -1;
		}
		log_conf.level_set = true;
	} else if (!strcmp(opt, "--log-format")) {
		if (kiln_log_format_parse(value, &log_conf.format)) {
			fprintf(stderr,
				"kiln: --log-format: unknown format '%s' "
				"(text, json, none)\n",
				value);
			return -1;
		}
		log_conf.format_set = true;
	} else {
		log_conf.quiet = true;
	}
	return 0;
}

/* KILN_LOG / KILN_LOG_FORMAT for what the options left unset. */
static int log_conf_env(void)
{
	const char *s;

	s = getenv("KILN_LOG");
	if (!log_conf.level_set && s && *s &&
	    kiln_log_level_parse(s, &log_conf.level)) {
		fprintf(stderr,
			"kiln: KILN_LOG='%s' is not a log level (error, warn, "
			"info, debug)\n",
			s);
		return -1;
	}
	s = getenv("KILN_LOG_FORMAT");
	if (!log_conf.format_set && s && *s &&
	    kiln_log_format_parse(s, &log_conf.format)) {
		fprintf(stderr,
			"kiln: KILN_LOG_FORMAT='%s' is not a log format "
			"(text, json, none)\n",
			s);
		return -1;
	}
	return 0;
}

static void log_print(void *ctx, enum kiln_log_level level, const char *tag,
		      const char *msg)
{
	char line[2048];
	size_t n;

	cli_progress_clear(ctx);
	n = kiln_log_format_line(log_conf.format == KILN_LOG_JSON
					 ? KILN_LOG_JSON
					 : KILN_LOG_TEXT,
				 level, tag, msg, line, sizeof(line));
	fwrite(line, 1, n, stderr);
	fflush(stderr);
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

int cli_open(struct cli *c, unsigned int boot_timeout_s)
{
	struct kiln_options opts;
	char *vmm;
	int rc;

	memset(c, 0, sizeof(*c));
	c->prog.tty = isatty(STDERR_FILENO) != 0;
	c->sfd = signals_to_fd();
	if (c->sfd < 0) {
		fprintf(stderr, "kiln: cannot set up signal handling: %s\n",
			strerror(errno));
		return -1;
	}
	kiln_options_init(&opts);
	vmm = vmm_next_to_self();
	opts.vmm_path = vmm;
	opts.boot_timeout_ms = boot_timeout_s * 1000u;
	opts.cancel_fd = c->sfd;
	if (log_conf_env()) {
		free(vmm);
		close(c->sfd);
		c->sfd = -1;
		return -1;
	}
	opts.log_level = log_conf.level;
	opts.log = log_print;
	opts.log_ctx = &c->prog;
	/*
	 * -q or "none": silent.  libkiln logs nothing at the error level
	 * but kiln_open()'s own failure, which must still be shown.
	 */
	if (log_conf.quiet || log_conf.format == KILN_LOG_SILENT)
		opts.log_level = KILN_LOG_ERROR;
	rc = kiln_open(&opts, &c->k);
	free(vmm);
	if (rc) {
		close(c->sfd);
		c->sfd = -1;
		return -1; /* the logger printed why */
	}
	return 0;
}

void cli_close(struct cli *c)
{
	cli_progress_clear(&c->prog);
	kiln_close(c->k);
	c->k = NULL;
	if (c->sfd >= 0)
		close(c->sfd);
	c->sfd = -1;
}

int cli_signal_received(struct cli *c)
{
	struct signalfd_siginfo si;

	if (c->sfd >= 0 && read(c->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

int cli_fail(struct cli *c, int rc)
{
	int sig;

	cli_progress_clear(&c->prog);
	if (rc == KILN_ECANCELED && (sig = cli_signal_received(c)) > 0) {
		fprintf(stderr, "kiln: stopped by SIG%s\n",
			sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		return 128 + sig;
	}
	fprintf(stderr, "kiln: %s\n", kiln_errmsg(c->k));
	return CLI_EXIT_FAILURE;
}

int cli_parse_uint(const char *opt, const char *s, unsigned long min,
		   unsigned long max, const char *unit, unsigned int *out,
		   char *err, size_t errlen)
{
	unsigned long v;
	char *end;

	if (!*s || *s < '0' || *s > '9') {
		snprintf(err, errlen, "%s: '%s' is not a whole number", opt, s);
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end) {
		snprintf(err, errlen, "%s: '%s' is not a whole number", opt, s);
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(err, errlen, "%s must be %lu..%lu%s, not %s", opt, min,
			 max, unit, s);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

bool cli_env_valid(const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || (*s >= '0' && *s <= '9'))
		return false;
	for (const char *p = s; p < eq; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

int cli_exec_exit_code(int rc, const struct kiln_exec_result *res)
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

int cli_getopt_error(const char *cmd, int c, char **argv, int optind_now,
		     int opt)
{
	const char *arg = argv[optind_now - 1];

	if (c == ':')
		fprintf(stderr, "kiln %s: %s needs a value\n", cmd, arg);
	else if (opt)
		fprintf(stderr, "kiln %s: unknown option '-%c'\n", cmd, opt);
	else
		fprintf(stderr, "kiln %s: unknown option '%s'\n", cmd, arg);
	fprintf(stderr, "see 'kiln %s --help'\n", cmd);
	return CLI_EXIT_FAILURE;
}

int cli_json_print(json_t *o)
{
	int rc;

	if (!o) {
		fprintf(stderr, "kiln: out of memory\n");
		return CLI_EXIT_FAILURE;
	}
	rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!rc && putchar('\n') == EOF)
		rc = -1;
	if (!rc && fflush(stdout))
		rc = -1;
	if (rc) {
		fprintf(stderr, "kiln: cannot write to stdout: %s\n",
			strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kiln %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'kiln %s --help'\n", cmd);
	return CLI_EXIT_FAILURE;
}
