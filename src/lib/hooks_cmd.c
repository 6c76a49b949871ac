/* SPDX-License-Identifier: MIT */
/*
 * Hook commands: the hook configuration file and running one command per
 * matching event with the event as JSON on its stdin.
 *
 * A command runs in its own process group (so a timeout kills whatever it
 * started too) with stdin a socket (written with MSG_NOSIGNAL: a hook that
 * exits without reading must not SIGPIPE us), stdout /dev/null and stderr
 * a pipe we read.  Every wait polls the pidfd, the pipes and the cancel
 * fd against one deadline.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"

/* a hook file larger than this is a mistake */
#define CONFIG_MAX (256 * 1024)
#define LINE_MAX_LEN 4096

extern char **environ;

static int config_fail(char *err, size_t errlen, int rc, const char *file,
		       unsigned int line, const char *what)
{
	snprintf(err, errlen, "%s:%u: %s", file, line, what);
	return rc;
}

/* Split off the first word of *p (spaces/tabs), NUL-terminating it. */
static char *word_next(char **p)
{
	char *s = *p, *w;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return NULL;
	w = s;
	while (*s && *s != ' ' && *s != '\t')
		s++;
	if (*s)
		*s++ = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	*p = s;
	return w;
}

static int timeout_parse(const char *s, unsigned int *ms)
{
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > HOOKS_TIMEOUT_MAX_S)
		return -1;
	*ms = (unsigned int)v * 1000u;
	return 0;
}

static int config_line(struct kiln *k, const char *file, unsigned int n,
		       char *line, char *err, size_t errlen)
{
	char where[300], *rest = line, *first;
	size_t len;
	int rc;

	/* trailing blanks and CR (a file edited elsewhere) */
	len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
		       line[len - 1] == '\r'))
		line[--len] = '\0';
	first = word_next(&rest);
	if (!first || first[0] == '#')
		return KILN_OK;
	for (const char *p = line; p < line + len; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\0')
			return config_fail(err, errlen, KILN_EINVAL, file, n,
					   "control character in the line");
	if (!strcmp(first, "timeout")) {
		unsigned int ms;
		char *v = word_next(&rest);

		if (!v || *rest || timeout_parse(v, &ms))
			return config_fail(err, errlen, KILN_EINVAL, file, n,
					   "expected 'timeout SECONDS' with "
					   "1..3600 seconds");
		if (k->hooks)
			k->hooks->timeout_ms = ms;
		else
			return config_fail(err, errlen, KILN_ENOMEM, file, n,
					   "out of memory");
		return KILN_OK;
	}
	if (!strcmp(first, "plugin")) {
		char msg[1024];

		if (!*rest || rest[0] != '/')
			return config_fail(
				err, errlen, KILN_EINVAL, file, n,
				"expected 'plugin /absolute/path.so'");
		rc = plugin_load(k, rest, msg, sizeof(msg));
		if (rc)
			return config_fail(err, errlen, rc, file, n, msg);
		return KILN_OK;
	}
	if (!*rest)
		return config_fail(err, errlen, KILN_EINVAL, file, n,
				   "expected 'EVENT-PATTERN COMMAND', "
				   "'timeout SECONDS' or 'plugin PATH'");
	snprintf(where, sizeof(where), "%s:%u", file, n);
	return hooks_cmd_add(k, first, rest, where, err, errlen);
}

int hooks_config_parse(struct kiln *k, const char *file, const char *text,
		       char *err, size_t errlen)
{
	char *copy = strdup(text), *line, *next;
	unsigned int n = 0;
	int rc = KILN_OK;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	for (line = copy; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n++;
		if (strlen(line) > LINE_MAX_LEN)
			rc = config_fail(err, errlen, KILN_EINVAL, file, n,
					 "line too long");
		else
			rc = config_line(k, file, n, line, err, errlen);
	}
	free(copy);
	return rc;
}

int hooks_config_load(struct kiln *k, const char *path, char *err,
		      size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t r;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen,
			 "cannot open the hook file %s: %s; fix KILN_HOOKS or "
			 "the hooks_file option",
			 path, strerror(errno));
		return KILN_ENOTFOUND;
	}
	/* it names commands we run: only its owner (or root) may write it */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size > CONFIG_MAX) {
		snprintf(err, errlen,
			 "refusing the hook file %s: it must be a regular file "
			 "of at most %d bytes owned by you or root and not "
			 "writable by group or others (chmod go-w %s)",
			 path, CONFIG_MAX, path);
		close(fd);
		return KILN_EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	while (got < (size_t)st.st_size &&
	       ((r = read(fd, text + got, (size_t)st.st_size - got)) > 0 ||
		(r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(fd);
	text[got] = '\0';
	if (memchr(text, '\0', got)) {
		free(text);
		snprintf(err, errlen, "%s: not a text file", path);
		return KILN_EINVAL;
	}
	if (!k->hooks && !(k->hooks = calloc(1, sizeof(*k->hooks)))) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	if (!k->hooks->timeout_ms)
		k->hooks->timeout_ms = HOOKS_TIMEOUT_DEFAULT_MS;
	rc = hooks_config_parse(k, path, text, err, errlen);
	free(text);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The environment for a hook: ours plus KILN_EVENT=<event>. */
static char **env_build(const char *event)
{
	size_t n = 0, j = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "KILN_EVENT=", 11))
			env[j++] = environ[i];
	if (asprintf(&env[j], "KILN_EVENT=%s", event) < 0) {
		free(env);
		return NULL;
	}
	return env;
}

/* In the child: only async-signal-safe calls until execve. */
static void child_exec(int in, int errw, char *const argv[], char *const env[])
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	setpgid(0, 0);
	/* above 2 first: a caller with closed stdio may have them at 0..2 */
	in = fcntl(in, F_DUPFD_CLOEXEC, 3);
	errw = fcntl(errw, F_DUPFD_CLOEXEC, 3);
	null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 3);
	if (in < 0 || errw < 0 || null < 0 || dup2(in, 0) < 0 ||
	    dup2(null, 1) < 0 || dup2(errw, 2) < 0)
		_exit(126);
	/* nothing of ours (VMM sockets, the database) reaches the hook */
	syscall(SYS_close_range, 3, ~0U, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execve("/bin/sh", argv, env);
	_exit(127);
}

struct run {
	int in; /* our end of the stdin socket; -1 when done */
	int errr; /* stderr pipe, read end; -1 at EOF */
	int pidfd;
	const char *json;
	size_t json_len, json_off;
	char err[HOOKS_STDERR_MAX];
	size_t err_len;
};

/* One round of I/O; returns the child's state: 1 exited, 0 running. */
static int run_step(struct run *r, int cancel_fd, int timeout_ms)
{
	struct pollfd p[4];
	int n = 0, ipid, iin = -1, ierr = -1, icancel = -1;

	ipid = n;
	p[n++] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
	if (r->in >= 0) {
		iin = n;
		p[n++] = (struct pollfd){.fd = r->in, .events = POLLOUT};
	}
	if (r->errr >= 0) {
		ierr = n;
		p[n++] = (struct pollfd){.fd = r->errr, .events = POLLIN};
	}
	if (cancel_fd >= 0) {
		icancel = n;
		p[n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
	}
	if (poll(p, (nfds_t)n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (icancel >= 0 && p[icancel].revents)
		return -2;
	if (iin >= 0 && p[iin].revents) {
		ssize_t w = send(r->in, r->json + r->json_off,
				 r->json_len - r->json_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0)
			r->json_off += (size_t)w;
		/* done, or the hook closed its stdin: no more to write */
		if (r->json_off == r->json_len ||
		    (w < 0 && errno != EAGAIN && errno != EINTR)) {
			close(r->in);
			r->in = -1;
		}
	}
	if (ierr >= 0 && p[ierr].revents) {
		char buf[1024];
		ssize_t got = read(r->errr, buf, sizeof(buf));

		if (got > 0) {
			size_t room = sizeof(r->err) - 1 - r->err_len;
			size_t take = (size_t)got < room ? (size_t)got : room;

			memcpy(r->err + r->err_len, buf, take);
			r->err_len += take;
		} else if (got == 0 || errno != EINTR) {
			close(r->errr);
			r->errr = -1;
		}
	}
	return p[ipid].revents ? 1 : 0;
}

/*
 * After the hook exited: what it wrote to stderr is in the pipe; take it
 * without waiting (something it left running may hold the pipe open).
 */
static void stderr_drain(struct run *r)
{
	struct pollfd p = {.fd = r->errr, .events = POLLIN};

	if (r->in >= 0) {
		close(r->in);
		r->in = -1;
	}
	while (r->errr >= 0 && r->err_len + 1 < sizeof(r->err)) {
		p.fd = r->errr;
		if (poll(&p, 1, 0) <= 0 || run_step(r, -1, 0) < 0)
			break;
	}
}

/* The first non-empty line of the hook's stderr, printable, into msg. */
static bool stderr_line(const struct run *r, char *msg, size_t len)
{
	const char *s = r->err, *end = r->err + r->err_len;
	size_t n = 0;

	while (s < end && (*s == '\n' || *s == '\r' || *s == ' '))
		s++;
	for (; s < end && *s != '\n' && *s != '\r' && n + 1 < len; s++)
		msg[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	msg[n] = '\0';
	return n > 0;
}

int hooks_cmd_run(struct kiln *k, const struct hook_cmd *c, const char *json,
		  const char *event, char *msg, size_t msglen)
{
	char *argv[] = {"sh", "-c", c->command, NULL};
	struct run r = {.in = -1, .errr = -1, .pidfd = -1, .json = json};
	int sv[2] = {-1, -1}, ep[2] = {-1, -1}, status = 0, st = 0;
	int64_t deadline = now_ms() + k->hooks->timeout_ms;
	char **env = env_build(event);
	bool timed_out = false, cancelled = false;
	pid_t pid = -1;

	r.json_len = strlen(json);
	if (!env || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pipe2(ep, O_CLOEXEC)) {
		snprintf(msg, msglen, "cannot set up the hook: %s",
			 env ? strerror(errno) : "out of memory");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "cannot start the hook: %s",
			 strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(sv[1], ep[1], argv, env);
	/* also here: no window where a timeout could miss the group */
	setpgid(pid, pid);
	r.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	r.in = sv[0];
	r.errr = ep[0];
	sv[0] = ep[0] = -1;
	close(sv[1]);
	close(ep[1]);
	sv[1] = ep[1] = -1;
	if (r.pidfd < 0) {
		kill(-pid, SIGKILL);
		snprintf(msg, msglen, "pidfd_open: %s", strerror(errno));
		waitpid(pid, NULL, 0);
		pid = -1;
		goto out;
	}
	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		st = run_step(&r, k->cancel_fd, (int)left);
		if (st == -2) {
			cancelled = true;
			break;
		}
		if (st < 0) {
			snprintf(msg, msglen, "poll: %s", strerror(errno));
			break;
		}
		if (st == 1) {
			stderr_drain(&r);
			break;
		}
	}
	if (st != 1) {
		/* timed out, cancelled or poll failed: the whole group goes */
		kill(-pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (timed_out)
		snprintf(msg, msglen, "timed out after %u ms and was killed",
			 k->hooks->timeout_ms);
	else if (cancelled)
		snprintf(msg, msglen, "cancelled (the cancel fd fired)");
	else if (st < 0)
		;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		status = -1; /* success marker */
	else if (!stderr_line(&r, msg, msglen)) {
		if (WIFEXITED(status))
			snprintf(msg, msglen, "exited with status %d",
				 WEXITSTATUS(status));
		else
			snprintf(msg, msglen, "killed by signal %d",
				 WTERMSIG(status));
	}
	if (r.err_len)
		handle_log(k, KILN_LOG_DEBUG, "hook '%.120s' stderr: %.*s",
			   c->command, (int)r.err_len, r.err);
out:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (r.in >= 0)
		close(r.in);
	if (r.errr >= 0)
		close(r.errr);
	if (r.pidfd >= 0)
		close(r.pidfd);
	if (env) {
		size_t n = 0;

		while (env[n])
			n++;
		free(env[n - 1]); /* KILN_EVENT=, the only one we made */
		free(env);
	}
	return status == -1 ? 0 : 1;
}
