/* SPDX-License-Identifier: MIT */
/*
 * `kiln run` argument parsing.  The CLI is not in a library archive, so
 * its parser is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_common.c"
#include "cli/exec_output.c"
#include "cli/net_args.c"
#include "cli/run_args.c"

#define ARGS(...) ((char *[]){__VA_ARGS__, NULL})
#define NARGS(...) ((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)))

static enum run_args_result parse(int argc, char **argv, struct run_args *a,
				  char *err)
{
	return run_args_parse(argc, argv, a, err, 256);
}

#define PARSE(a, err, ...) parse(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), a, err)

static void test_full(void **state)
{
	struct run_args a;
	char err[256];

	assert_int_equal(PARSE(&a, err, "--cpus", "2", "--memory=512",
			       "--kernel", "/k", "--image=/i", "--timeout",
			       "30", "--boot-timeout=600", "-e", "A=1", "--env",
			       "B_2=x=y", "-w", "/tmp", "-q", "-n", "--", "sh",
			       "-c", "echo hi"),
			 RUN_ARGS_OK);
	assert_int_equal(a.cpus, 2);
	assert_int_equal(a.memory_mib, 512);
	assert_string_equal(a.kernel, "/k");
	assert_string_equal(a.image, "/i");
	assert_int_equal(a.timeout_s, 30);
	assert_int_equal(a.boot_timeout_s, 600);
	assert_int_equal(a.nenv, 2);
	assert_string_equal(a.env[0], "A=1");
	assert_string_equal(a.env[1], "B_2=x=y");
	assert_null(a.env[2]);
	assert_string_equal(a.workdir, "/tmp");
	assert_true(a.quiet);
	assert_true(a.no_stdin);
	assert_string_equal(a.cmd[0], "sh");
	assert_string_equal(a.cmd[1], "-c");
	assert_string_equal(a.cmd[2], "echo hi");
	assert_null(a.cmd[3]);
	assert_false(a.json);
	assert_int_equal(a.max_output, 0);

	assert_int_equal(
		PARSE(&a, err, "--json", "--max-output", "16M", "true"),
		RUN_ARGS_OK);
	assert_true(a.json);
	assert_int_equal(a.max_output, 16u << 20);
}

static void test_command_boundaries(void **state)
{
	struct run_args a;
	char err[256];

	/* without "--" the first non-option starts the command ... */
	assert_int_equal(PARSE(&a, err, "-q", "ls", "-l", "--cpus", "9"),
			 RUN_ARGS_OK);
	assert_string_equal(a.cmd[0], "ls");
	assert_string_equal(a.cmd[1], "-l");
	assert_int_equal(a.cpus, 0); /* ... and what follows is its own */
	/* "--" lets the command start with a dash */
	assert_int_equal(PARSE(&a, err, "--", "-weird"), RUN_ARGS_OK);
	assert_string_equal(a.cmd[0], "-weird");
	/* defaults */
	assert_int_equal(PARSE(&a, err, "true"), RUN_ARGS_OK);
	assert_int_equal(a.cpus, 0);
	assert_int_equal(a.memory_mib, 0);
	assert_false(a.quiet);
	assert_null(a.kernel);
}

static void expect_error(int argc, char **argv, const char *msg)
{
	struct run_args a;
	char err[256];

	assert_int_equal(parse(argc, argv, &a, err), RUN_ARGS_ERROR);
	assert_string_equal(err, msg);
}

#define ERR(msg, ...) expect_error(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), msg)

static void test_errors(void **state)
{
	ERR("--cpus must be 1..32, not 0", "--cpus", "0", "--", "true");
	ERR("--cpus must be 1..32, not 33", "--cpus", "33", "true");
	ERR("--cpus: 'two' is not a whole number", "--cpus", "two", "true");
	ERR("--cpus: '-1' is not a whole number", "--cpus=-1", "true");
	ERR("--cpus: '2x' is not a whole number", "--cpus", "2x", "true");
	ERR("--cpus: '' is not a whole number", "--cpus=", "true");
	ERR("--cpus must be 1..32, not 99999999999999999999999", "--cpus",
	    "99999999999999999999999", "true");
	ERR("--memory must be 128..16384 MiB, not 64", "--memory", "64",
	    "true");
	ERR("--memory must be 128..16384 MiB, not 16385", "--memory=16385",
	    "true");
	ERR("--timeout must be 1..604800 seconds, not 0", "--timeout", "0",
	    "true");
	ERR("--cpus needs a value", "--cpus");
	ERR("--cpus given more than once", "--cpus", "1", "--cpus", "2",
	    "true");
	ERR("unknown option '--cpu'", "--cpu", "2", "true");
	ERR("unknown option '-x'", "-x", "true");
	ERR("unknown option '-qn'", "-qn", "true");
	ERR("--quiet takes no value", "--quiet=yes", "true");
	ERR("no command given", "--cpus", "2");
	ERR("no command given", "--cpus", "2", "--");
	ERR("the command name is empty", "--", "");
	ERR("-w: 'tmp' is not an absolute path", "-w", "tmp", "true");
	ERR("--env: '1A=b' is not NAME=VALUE (NAME: letters, digits, '_', "
	    "not starting with a digit)",
	    "--env", "1A=b", "true");
	ERR("-e: 'NOVALUE' is not NAME=VALUE (NAME: letters, digits, '_', "
	    "not starting with a digit)",
	    "-e", "NOVALUE", "true");
	ERR("--kernel: empty path", "--kernel=", "true");
	ERR("--agent: 'tcp:1' is not unix:PATH", "--agent", "tcp:1", "true");
	ERR("--max-output: '0' is not a size > 0 (bytes, optionally with K, "
	    "M, G or T)",
	    "--max-output", "0", "true");
	ERR("--max-output: '2T' is too large (at most 1099511627776)",
	    "--max-output=2T", "true");
	ERR("--max-output: with --json at most 1073741824 bytes (1G) per "
	    "stream",
	    "--json", "--max-output", "1025M", "true");
	ERR("--json takes no value", "--json=yes", "true");
	ERR("--max-output given more than once", "--max-output", "1",
	    "--max-output", "1", "true");
	ERR("--agent uses a running agent; --kernel, --image, --cpus, "
	    "--memory and --boot-timeout do not apply",
	    "--agent", "unix:/s", "--cpus", "2", "true");
}

/* kiln run has no network: its options are refused with a pointer. */
static void test_network_refused(void **state)
{
	struct run_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE(&a, err, "--network", "none", "true"),
			 RUN_ARGS_ERROR);
	assert_non_null(strstr(err, "--network: a 'kiln run' sandbox has no "
				    "network"));
	assert_int_equal(PARSE(&a, err, "--publish=80:80", "true"),
			 RUN_ARGS_ERROR);
	assert_non_null(strstr(err, "'kiln create --publish ...'"));
	assert_int_equal(PARSE(&a, err, "--allow-cidrx", "1", "true"),
			 RUN_ARGS_ERROR);
	assert_string_equal(err, "unknown option '--allow-cidrx'");
	/* after the command starts they are the command's */
	assert_int_equal(PARSE(&a, err, "true", "--network", "none"),
			 RUN_ARGS_OK);
}

static void test_help(void **state)
{
	struct run_args a;
	char err[256];

	assert_int_equal(PARSE(&a, err, "--help"), RUN_ARGS_HELP);
	assert_int_equal(PARSE(&a, err, "--cpus", "2", "-h", "x"),
			 RUN_ARGS_HELP);
	/* after the command starts, --help is the command's */
	assert_int_equal(PARSE(&a, err, "ls", "--help"), RUN_ARGS_OK);
	assert_non_null(strstr(run_args_usage, "124"));
	assert_non_null(strstr(run_args_usage, "125"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_command_boundaries),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_network_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
