/* SPDX-License-Identifier: MIT */
/*
 * The local terminal for commands on a guest terminal (see cli_tty.h).
 */
#include "cli/cli_tty.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* The terminal in raw mode now, for the atexit handler. */
static struct cli_term *active;

static void term_restore_at_exit(void)
{
	if (active)
		cli_term_close(active);
}

void cli_term_make_raw(struct termios *tio)
{
	/*
	 * Everything the guest's terminal does itself (echo, line editing,
	 * signals from ^C/^Z, \n -> \r\n) must not be done twice here.
	 */
	tio->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
				    IGNCR | ICRNL | IXON | IXOFF);
	tio->c_oflag &= ~(tcflag_t)OPOST;
	tio->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	tio->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	tio->c_cflag |= CS8;
	tio->c_cc[VMIN] = 1;
	tio->c_cc[VTIME] = 0;
}

static bool term_size(int fd, unsigned int *rows, unsigned int *cols)
{
	struct winsize ws;

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 ||
	    ws.ws_col == 0)
		return false;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return true;
}

int cli_term_open(struct cli_term *t, int in_fd, int out_fd, bool raw,
		  char *err, size_t errlen)
{
	static bool registered;
	struct termios tio;
	sigset_t set;

	memset(t, 0, sizeof(*t));
	t->fd = in_fd >= 0 && isatty(in_fd) ? in_fd : -1;
	t->size_fd = t->fd >= 0			     ? t->fd
		     : out_fd >= 0 && isatty(out_fd) ? out_fd
						     : -1;
	t->winch_fd = -1;
	if (t->size_fd >= 0) {
		term_size(t->size_fd, &t->rows, &t->cols);
		sigemptyset(&set);
		sigaddset(&set, SIGWINCH);
		if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
		    (t->winch_fd = signalfd(-1, &set,
					    SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
			snprintf(err, errlen,
				 "cannot watch the window size (SIGWINCH): %s",
				 strerror(errno));
			return -1;
		}
	}
	if (!raw || t->fd < 0)
		return 0;
	if (tcgetattr(t->fd, &t->saved) < 0) {
		snprintf(err, errlen, "cannot read the terminal's mode: %s",
			 strerror(errno));
		cli_term_close(t);
		return -1;
	}
	tio = t->saved;
	cli_term_make_raw(&tio);
	if (!registered && atexit(term_restore_at_exit) == 0)
		registered = true;
	/* TCSAFLUSH: typeahead meant for the old mode is dropped */
	if (tcsetattr(t->fd, TCSAFLUSH, &tio) < 0) {
		snprintf(err, errlen, "cannot put the terminal in raw mode: %s",
			 strerror(errno));
		cli_term_close(t);
		return -1;
	}
	t->raw = true;
	active = t;
	/*
	 * A stop from outside (kill -TSTP) would leave the terminal raw
	 * under the shell; in raw mode ^Z is the guest's anyway.
	 */
	t->old_tstp = signal(SIGTSTP, SIG_IGN);
	return 0;
}

void cli_term_close(struct cli_term *t)
{
	if (t->raw) {
		/* TCSADRAIN: what the command printed last is shown first */
		while (tcsetattr(t->fd, TCSADRAIN, &t->saved) < 0 &&
		       errno == EINTR)
			;
		t->raw = false;
		if (t->old_tstp != SIG_ERR)
			signal(SIGTSTP, t->old_tstp);
	}
	if (active == t)
		active = NULL;
	if (t->winch_fd >= 0)
		close(t->winch_fd);
	t->winch_fd = -1;
}

int cli_term_on_resize(void *ctx, unsigned int *rows, unsigned int *cols)
{
	struct cli_term *t = ctx;
	struct signalfd_siginfo si;
	unsigned int r, c;

	/* Consume every pending SIGWINCH; only the latest size matters. */
	while (read(t->winch_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	if (!term_size(t->size_fd, &r, &c) || (r == t->rows && c == t->cols))
		return 1;
	t->rows = *rows = r;
	t->cols = *cols = c;
	return 0;
}

/* Field n (0-based) of a passwd line [s, e): its bounds in *fs, *fe. */
static bool passwd_field(const char *s, const char *e, int n, const char **fs,
			 const char **fe)
{
	for (int i = 0; i < n; i++) {
		s = memchr(s, ':', (size_t)(e - s));
		if (!s)
			return false;
		s++;
	}
	*fs = s;
	*fe = memchr(s, ':', (size_t)(e - s));
	if (!*fe)
		*fe = e;
	return true;
}

static bool field_is(const char *fs, const char *fe, const char *want)
{
	size_t n = strlen(want);

	return (size_t)(fe - fs) == n && memcmp(fs, want, n) == 0;
}

int cli_passwd_shell(const char *passwd, size_t len, const char *user,
		     char *out, size_t outlen)
{
	const char *p = passwd, *end = passwd + len;
	bool by_uid = !user ||
		      (user[0] && strspn(user, "0123456789") == strlen(user));
	const char *want = user ? user : "0";

	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p)), *fs, *fe;

		if (!e)
			e = end;
		if (passwd_field(p, e, by_uid ? 2 : 0, &fs, &fe) &&
		    field_is(fs, fe, want) && passwd_field(p, e, 6, &fs, &fe)) {
			size_t n = (size_t)(fe - fs);

			if (n == 0 || fs[0] != '/' || n >= outlen ||
			    memchr(fs, '\0', n))
				snprintf(out, outlen, "/bin/sh");
			else
				snprintf(out, outlen, "%.*s", (int)n, fs);
			return 0;
		}
		p = e + 1;
	}
	return -1;
}
