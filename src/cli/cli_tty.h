/* SPDX-License-Identifier: MIT */
/*
 * The local terminal for `kiln exec -t`, `kiln shell` and `kiln attach
 * -t`: raw mode (restored on every way out: normal return, the stop
 * signals, which reach kiln through its signalfd and cancel the command,
 * and exit() through an atexit handler), the window size, and SIGWINCH as
 * a file descriptor for libkiln's resize callback.
 */
#ifndef KILN_CLI_CLI_TTY_H
#define KILN_CLI_CLI_TTY_H

#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

struct cli_term {
	int fd; /* kiln's stdin if it is a terminal, else -1 */
	int size_fd; /* where the window size is read (-1: nowhere) */
	bool raw; /* we changed its mode: restore saved */
	struct termios saved;
	void (*old_tstp)(int); /* SIGTSTP's disposition before raw mode */
	int winch_fd; /* signalfd of SIGWINCH (-1: none) */
	unsigned int rows, cols; /* last size read (0: unknown) */
};

/*
 * Set up t for a command on a guest terminal.  in_fd: kiln's stdin; if it
 * is a terminal and raw is true it is put in raw mode (input goes to the
 * guest byte by byte, ^C included; output is not post-processed).  The
 * window size is read from in_fd, else from out_fd; SIGWINCH is blocked
 * into winch_fd when either is a terminal.  Returns 0, or -1 with a
 * message in err (nothing changed then).
 */
int cli_term_open(struct cli_term *t, int in_fd, int out_fd, bool raw,
		  char *err, size_t errlen);

/* Restore the terminal and close winch_fd; safe to call twice. */
void cli_term_close(struct cli_term *t);

/*
 * A kiln_exec.on_resize callback (ctx: struct cli_term): consume the
 * SIGWINCH, read the new size; 0 with it in *rows and *cols if it
 * changed, else 1.
 */
int cli_term_on_resize(void *ctx, unsigned int *rows, unsigned int *cols);

/* Pure: the raw mode kiln uses, applied to a copy of the saved mode. */
void cli_term_make_raw(struct termios *tio);

/*
 * Pure: the login shell of user (a name, a decimal uid, or NULL: uid 0)
 * in passwd (the text of the guest's /etc/passwd, len bytes, untrusted).
 * Writes it to out (absolute path) and returns 0; -1 if the user is not
 * there; "/bin/sh" when its shell field is empty or not absolute.
 */
int cli_passwd_shell(const char *passwd, size_t len, const char *user,
		     char *out, size_t outlen);

#endif
