/* SPDX-License-Identifier: MIT */
/*
 * `kiln exec` / `kiln shell` / `kiln attach` argument parsing and the
 * local-terminal helpers (raw mode on a real pseudo-terminal, window size,
 * SIGWINCH, the login shell from a passwd text).  The CLI is not in a
 * library archive, so its files are compiled into this test directly.
 */
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include <cmocka.h>

#include "cli/cli_common.c"
#include "cli/cli_tty.c"
#include "cli/exec_args.c"
#include "cli/exec_output.c"

#define ARGS(...) ((char *[]){__VA_ARGS__, NULL})
#define NARGS(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))
#define PARSE(cmd, a, err, ...) \
	exec_args_parse(cmd, NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), a, err, 256)

static void test_exec_full(void **state)
{
	struct exec_args a;
	char err[256];

	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb", "-i",
			       "-t", "-e", "A=1", "-e", "B=2", "-w", "/tmp",
			       "-u", "nobody", "--timeout", "5", "--", "sh",
			       "-c", "x"),
			 EXEC_ARGS_OK);
	assert_string_equal(a.sandbox, "sb");
	assert_true(a.interactive && a.tty && !a.detach);
	assert_int_equal(a.nenv, 2);
	assert_string_equal(a.env[1], "B=2");
	assert_null(a.env[2]);
	assert_string_equal(a.workdir, "/tmp");
	assert_string_equal(a.user, "nobody");
	assert_int_equal(a.timeout_s, 5);
	assert_string_equal(a.cmd[0], "sh");
	assert_string_equal(a.cmd[2], "x");
	assert_null(a.cmd[3]);
}

static void test_exec_positions(void **state)
{
	struct exec_args a;
	char err[256];

	/* sandbox after the options, combined short options */
	assert_int_equal(
		PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-it", "sb", "ls", "-l"),
		EXEC_ARGS_OK);
	assert_string_equal(a.sandbox, "sb");
	assert_true(a.interactive && a.tty);
	assert_string_equal(a.cmd[0], "ls");
	assert_string_equal(a.cmd[1], "-l"); /* CMD's own options */
	/* "--" before the sandbox */
	assert_int_equal(
		PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-d", "--", "sb", "-x"),
		EXEC_ARGS_OK);
	assert_true(a.detach);
	assert_string_equal(a.sandbox, "sb");
	assert_string_equal(a.cmd[0], "-x");
}

static void test_exec_errors(void **state)
{
	struct exec_args a;
	char err[256];

	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "no sandbox"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "no command"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb", ""),
			 EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-e", "1A=x",
			       "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "NAME=VALUE"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-w", "rel",
			       "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-u", "a:b",
			       "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_int_equal(
		PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-u", "", "sb", "true"),
		EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "--timeout",
			       "0", "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "--timeout",
			       "1x", "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-w", "/a",
			       "-w", "/b", "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(
		PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-z", "sb", "true"),
		EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "unknown option"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb", "-w"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "needs a value"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "--help"),
			 EXEC_ARGS_HELP);
}

/* --max-output SIZE and --json, and what they do not go with. */
static void test_exec_output_opts(void **state)
{
	struct exec_args a;
	char err[256];

	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb",
			       "--max-output", "64K", "true"),
			 EXEC_ARGS_OK);
	assert_int_equal(a.max_output, 65536);
	assert_false(a.json);
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "--json",
			       "--max-output=1G", "sb", "true"),
			 EXEC_ARGS_OK);
	assert_true(a.json);
	assert_int_equal(a.max_output, 1u << 30);
	/* -i goes with --json: stdin is not output */
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-i", "--json",
			       "sb", "cat"),
			 EXEC_ARGS_OK);
	assert_int_equal(a.max_output, 0); /* the default is cmd_exec's */
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb",
			       "--max-output", "1T", "true"),
			 EXEC_ARGS_OK);
	assert_int_equal(a.max_output, 1ull << 40);

	static const struct {
		const char *opt, *val, *msg;
	} bad[] = {
		{"--max-output", "0", "not a size > 0"},
		{"--max-output", "-1", "not a size > 0"},
		{"--max-output", "1.5M", "not a size > 0"},
		{"--max-output", "12Q", "not a size > 0"},
		{"--max-output", "1KB", "not a size > 0"},
		{"--max-output", "", "not a size > 0"},
		{"--max-output", "2T", "too large"},
		{"--max-output", "99999999999999999999999", "not a size"},
		{"--max-output", "17179869184G", "too large"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb",
				       (char *)bad[i].opt, (char *)bad[i].val,
				       "true"),
				 EXEC_ARGS_ERROR);
		if (!strstr(err, bad[i].msg) || !strstr(err, "--max-output"))
			fail_msg("%s %s: \"%s\"", bad[i].opt, bad[i].val, err);
	}
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb",
			       "--max-output", "1", "--max-output", "2", "x"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "sb", "--json",
			       "--max-output", "2G", "true"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "with --json at most"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-t", "--json",
			       "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "not with -t"));
	assert_int_equal(PARSE(EXEC_ARGS_EXEC, &a, err, "exec", "-d", "--json",
			       "sb", "true"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "not with -d"));
	/* not options of shell and attach */
	assert_int_equal(
		PARSE(EXEC_ARGS_SHELL, &a, err, "shell", "--json", "sb"),
		EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "--json is not an option"));
	assert_int_equal(PARSE(EXEC_ARGS_ATTACH, &a, err, "attach",
			       "--max-output", "1K", "sb", "1"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "--max-output is not an option"));
}

static void test_shell(void **state)
{
	struct exec_args a;
	char err[256];

	assert_int_equal(
		PARSE(EXEC_ARGS_SHELL, &a, err, "shell", "sb", "-u", "1000"),
		EXEC_ARGS_OK);
	assert_true(a.interactive && a.tty);
	assert_string_equal(a.user, "1000");
	assert_null(a.cmd);
	assert_int_equal(PARSE(EXEC_ARGS_SHELL, &a, err, "shell", "sb", "ls"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "unexpected argument"));
	assert_int_equal(PARSE(EXEC_ARGS_SHELL, &a, err, "shell", "sb", "-d"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "--detach is not an option"));
}

static void test_attach(void **state)
{
	struct exec_args a;
	char err[256];

	assert_int_equal(PARSE(EXEC_ARGS_ATTACH, &a, err, "attach", "-i", "sb",
			       "42", "-t"),
			 EXEC_ARGS_OK);
	assert_string_equal(a.sandbox, "sb");
	assert_int_equal(a.session, 42);
	assert_true(a.interactive && a.tty);
	assert_int_equal(PARSE(EXEC_ARGS_ATTACH, &a, err, "attach", "sb"),
			 EXEC_ARGS_ERROR);
	assert_non_null(strstr(err, "no session"));
	const char *bad[] = {"0", "-1", "x", "4294967296", "12a", " 1"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"attach", "sb", (char *)bad[i], NULL};

		assert_int_equal(exec_args_parse(EXEC_ARGS_ATTACH, 3, argv, &a,
						 err, sizeof(err)),
				 EXEC_ARGS_ERROR);
	}
	assert_int_equal(
		PARSE(EXEC_ARGS_ATTACH, &a, err, "attach", "sb", "1", "2"),
		EXEC_ARGS_ERROR);
	assert_int_equal(PARSE(EXEC_ARGS_ATTACH, &a, err, "attach", "-e", "A=1",
			       "sb", "1"),
			 EXEC_ARGS_ERROR);
}

static void test_passwd_shell(void **state)
{
	static const char pw[] =
		"root:x:0:0:root:/root:/bin/ash\n"
		"broken line without colons\n"
		"daemon:x:1:1::/:\n"
		"rel:x:5:5::/:bin/zsh\n"
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
		"short:x:7\n"
		"last:x:9:9::/home/last:/bin/bash";
	char out[64];

	assert_int_equal(cli_passwd_shell(pw, strlen(pw), NULL, out, 64), 0);
	assert_string_equal(out, "/bin/ash");
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "nobody", out, 64),
			 0);
	assert_string_equal(out, "/sbin/nologin");
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "65534", out, 64), 0);
	assert_string_equal(out, "/sbin/nologin");
	/* empty or relative shell: /bin/sh */
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "daemon", out, 64),
			 0);
	assert_string_equal(out, "/bin/sh");
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "rel", out, 64), 0);
	assert_string_equal(out, "/bin/sh");
	/* the last line needs no newline; a short line is no match */
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "last", out, 64), 0);
	assert_string_equal(out, "/bin/bash");
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "short", out, 64),
			 -1);
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "roo", out, 64), -1);
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "x", out, 64), -1);
	/* a shell too long for out: /bin/sh, never cut */
	assert_int_equal(cli_passwd_shell(pw, strlen(pw), "last", out, 8), 0);
	assert_string_equal(out, "/bin/sh");
	/* NUL bytes inside the text are just bytes */
	assert_int_equal(
		cli_passwd_shell("a:x:0:0::/:/b\0c\n", 16, "a", out, 64), 0);
	assert_string_equal(out, "/bin/sh");
	assert_int_equal(cli_passwd_shell("", 0, NULL, out, 64), -1);
}

static void test_make_raw(void **state)
{
	struct termios t;

	memset(&t, 0, sizeof(t));
	t.c_iflag = ICRNL | IXON | BRKINT;
	t.c_oflag = OPOST | ONLCR;
	t.c_lflag = ECHO | ICANON | ISIG | IEXTEN;
	cli_term_make_raw(&t);
	assert_int_equal(t.c_iflag & (ICRNL | IXON | BRKINT), 0);
	assert_int_equal(t.c_oflag & OPOST, 0);
	assert_int_equal(t.c_lflag & (ECHO | ICANON | ISIG | IEXTEN), 0);
	assert_int_equal(t.c_cc[VMIN], 1);
}

/* Raw mode on a real pseudo-terminal, restored; size and SIGWINCH. */
static void test_term_pty(void **state)
{
	struct winsize ws = {.ws_row = 33, .ws_col = 77};
	struct termios before, during, after;
	unsigned int rows = 0, cols = 0;
	struct cli_term t;
	int master, slave;
	char err[256];

	assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
	assert_int_equal(tcgetattr(slave, &before), 0);
	assert_true(before.c_lflag & ICANON);
	assert_int_equal(cli_term_open(&t, slave, -1, true, err, sizeof(err)),
			 0);
	assert_true(t.raw);
	assert_int_equal(t.rows, 33);
	assert_int_equal(t.cols, 77);
	assert_true(t.winch_fd >= 0);
	assert_int_equal(tcgetattr(slave, &during), 0);
	assert_int_equal(during.c_lflag & (ICANON | ECHO | ISIG), 0);
	/* a stop from outside is ignored while raw */
	assert_true(signal(SIGTSTP, SIG_IGN) == SIG_IGN);
	/* nothing changed yet: a SIGWINCH alone sends no resize */
	kill(getpid(), SIGWINCH);
	assert_int_equal(cli_term_on_resize(&t, &rows, &cols), 1);
	ws.ws_row = 50;
	ws.ws_col = 132;
	assert_int_equal(ioctl(master, TIOCSWINSZ, &ws), 0);
	kill(getpid(), SIGWINCH);
	assert_int_equal(cli_term_on_resize(&t, &rows, &cols), 0);
	assert_int_equal(rows, 50);
	assert_int_equal(cols, 132);
	cli_term_close(&t);
	cli_term_close(&t); /* twice is fine */
	assert_true(signal(SIGTSTP, SIG_DFL) == SIG_DFL);
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);
	/* not a terminal: no raw mode, no size, nothing to restore */
	assert_int_equal(cli_term_open(&t, -1, -1, true, err, sizeof(err)), 0);
	assert_false(t.raw);
	assert_int_equal(t.rows, 0);
	assert_int_equal(t.winch_fd, -1);
	cli_term_close(&t);
	/* raw mode left on is undone at exit() too */
	assert_int_equal(cli_term_open(&t, slave, -1, true, err, sizeof(err)),
			 0);
	term_restore_at_exit();
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_false(t.raw);
	cli_term_close(&t);
	close(master);
	close(slave);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_full),
		cmocka_unit_test(test_exec_positions),
		cmocka_unit_test(test_exec_errors),
		cmocka_unit_test(test_exec_output_opts),
		cmocka_unit_test(test_shell),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_passwd_shell),
		cmocka_unit_test(test_make_raw),
		cmocka_unit_test(test_term_pty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
