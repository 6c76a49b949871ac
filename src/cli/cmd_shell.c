/* SPDX-License-Identifier: MIT */
/*
 * `kiln shell SANDBOX`: `kiln exec -i -t` of the user's login shell.  The
 * shell comes from the guest's /etc/passwd, read through an exec of cat
 * and parsed here (bounded: the guest is not trusted); /bin/sh when the
 * user has none or the file cannot be read.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_tty.h"
#include "cli/cmd_exec.h"

/* More of /etc/passwd than this is ignored. */
#define PASSWD_MAX (1u << 20)

struct passwd_buf {
	char *p;
	size_t len;
};

static int passwd_collect(void *ctx, const void *buf, size_t len)
{
	struct passwd_buf *b = ctx;
	size_t room = PASSWD_MAX - b->len;

	memcpy(b->p + b->len, buf, len < room ? len : room);
	b->len += len < room ? len : room;
	return 0;
}

/* The login shell of a->user in the guest, into out. */
static void guest_shell(struct kiln_sandbox *sb, const struct exec_args *a,
			char *out, size_t outlen)
{
	static const char *const argv[] = {"cat", "/etc/passwd", NULL};
	static char text[PASSWD_MAX];
	struct passwd_buf b = {.p = text};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	snprintf(out, outlen, "/bin/sh");
	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = passwd_collect;
	ex.stdout_ctx = &b;
	ex.timeout_ms = 30000;
	if (kiln_sandbox_exec(sb, &ex, &res) != KILN_OK || res.exit_code != 0)
		return;
	if (cli_passwd_shell(text, b.len, a->user, out, outlen) < 0)
		snprintf(out, outlen, "/bin/sh");
}

int cli_shell_run(struct cli *c, struct kiln_sandbox *sb,
		  const struct exec_args *a)
{
	char shell[PATH_MAX];
	const char *argv[] = {shell, "-l", NULL};

	guest_shell(sb, a, shell, sizeof(shell));
	return cli_exec_run(c, sb, EXEC_ARGS_SHELL, a, argv);
}

int cli_shell(int argc, char **argv)
{
	return cli_exec_main(EXEC_ARGS_SHELL, argc, argv);
}
