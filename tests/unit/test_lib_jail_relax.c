/* SPDX-License-Identifier: MIT */
/*
 * The jail's relax flags (kiln create --no-seccomp / --no-cgroup-limits,
 * kiln_options.jail_relax, $KILN_JAIL_RELAX): parsing, what each one does
 * to kiln-vmm's argv and to the jail's configuration, the loud text, and
 * how a handle and a sandbox's record combine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"

static void test_parse(void **state)
{
	unsigned int r = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(sandbox_jail_relax_parse("", &r, err, sizeof(err)), 0);
	assert_int_equal(r, 0);
	assert_int_equal(
		sandbox_jail_relax_parse("seccomp", &r, err, sizeof(err)), 0);
	assert_int_equal(r, KILN_JAIL_NO_SECCOMP);
	r = 0;
	assert_int_equal(
		sandbox_jail_relax_parse("cgroup", &r, err, sizeof(err)), 0);
	assert_int_equal(r, KILN_JAIL_NO_CGROUP);
	/* ORed into what is there; empty words are nothing */
	assert_int_equal(
		sandbox_jail_relax_parse(",seccomp,,", &r, err, sizeof(err)),
		0);
	assert_int_equal(r, KILN_JAIL_NO_SECCOMP | KILN_JAIL_NO_CGROUP);
	r = 0;
	assert_int_equal(
		sandbox_jail_relax_parse("pid-ns", &r, err, sizeof(err)), 0);
	assert_int_equal(r, KILN_JAIL_NO_PID_NS);
	r = 0;
	assert_int_equal(sandbox_jail_relax_parse("cgroup,pid-ns,seccomp", &r,
						  err, sizeof(err)),
			 0);
	assert_int_equal(r, KILN_JAIL_RELAX_ALL);
	assert_int_equal(sandbox_jail_relax_parse("pid", &r, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "pid-ns"));
	/* a wrong word is an error that names it, whatever comes before */
	r = 0;
	assert_int_equal(
		sandbox_jail_relax_parse("seccomp,bogus", &r, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "'bogus'"));
	assert_int_equal(
		sandbox_jail_relax_parse("seccompx", &r, err, sizeof(err)),
		KILN_EINVAL);
	assert_int_equal(
		sandbox_jail_relax_parse("SECCOMP", &r, err, sizeof(err)),
		KILN_EINVAL);
	assert_int_equal(sandbox_jail_relax_parse("seccomp cgroup", &r, err,
						  sizeof(err)),
			 KILN_EINVAL);
}

static void test_names_and_text(void **state)
{
	char t[128];

	(void)state;
	assert_string_equal(kiln_jail_relax_name(KILN_JAIL_NO_SECCOMP),
			    "seccomp");
	assert_string_equal(kiln_jail_relax_name(KILN_JAIL_NO_CGROUP),
			    "cgroup");
	assert_string_equal(kiln_jail_relax_name(KILN_JAIL_NO_PID_NS),
			    "pid-ns");
	assert_null(kiln_jail_relax_name(0));
	assert_null(kiln_jail_relax_name(KILN_JAIL_RELAX_ALL));
	assert_null(kiln_jail_relax_name(8));
	sandbox_jail_relax_text(0, t, sizeof(t));
	assert_string_equal(t, "");
	sandbox_jail_relax_text(KILN_JAIL_NO_SECCOMP, t, sizeof(t));
	assert_string_equal(t, "; SECCOMP DISABLED");
	sandbox_jail_relax_text(KILN_JAIL_RELAX_ALL, t, sizeof(t));
	assert_string_equal(t, "; SECCOMP DISABLED; CGROUP LIMITS DISABLED; "
			       "PID NAMESPACE DISABLED");
	/* truncated, still terminated */
	sandbox_jail_relax_text(KILN_JAIL_RELAX_ALL, t, 8);
	assert_int_equal(strlen(t), 7);
}

/* argv as vmm_argv_build() leaves it: owned strings, NULL-terminated */
static void argv_fill(struct vmm_argv *a, int n)
{
	memset(a, 0, sizeof(*a));
	for (a->argc = 0; a->argc < n; a->argc++) {
		a->argv[a->argc] = strdup("x");
		assert_non_null(a->argv[a->argc]);
	}
}

static void test_argv(void **state)
{
	struct vmm_argv a;
	char err[256];

	(void)state;
	argv_fill(&a, 3);
	assert_int_equal(sandbox_jail_relax_argv(0, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, 3);
	assert_int_equal(sandbox_jail_relax_argv(KILN_JAIL_NO_CGROUP, &a, err,
						 sizeof(err)),
			 0);
	assert_int_equal(a.argc, 3);
	assert_null(a.argv[3]);
	assert_int_equal(sandbox_jail_relax_argv(KILN_JAIL_RELAX_ALL, &a, err,
						 sizeof(err)),
			 0);
	assert_int_equal(a.argc, 4);
	assert_string_equal(a.argv[3], "--no-seccomp");
	assert_null(a.argv[4]);
	vmm_argv_free(&a);

	/* no room: an error, argv untouched */
	argv_fill(&a, VMM_ARGV_MAX);
	assert_int_equal(sandbox_jail_relax_argv(KILN_JAIL_NO_SECCOMP, &a, err,
						 sizeof(err)),
			 KILN_EINVAL);
	assert_int_equal(a.argc, VMM_ARGV_MAX);
	assert_null(a.argv[VMM_ARGV_MAX]);
	vmm_argv_free(&a);
}

static void test_config(void **state)
{
	struct jail_config c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.cpu_quota_us = 100000;
	sandbox_jail_relax_config(0, &c);
	assert_false(c.no_cgroup);
	sandbox_jail_relax_config(KILN_JAIL_NO_SECCOMP, &c);
	assert_false(c.no_cgroup);
	assert_false(c.no_pid_ns);
	sandbox_jail_relax_config(KILN_JAIL_NO_CGROUP, &c);
	assert_true(c.no_cgroup);
	assert_false(c.no_pid_ns);
	memset(&c, 0, sizeof(c));
	c.cpu_quota_us = 100000;
	sandbox_jail_relax_config(KILN_JAIL_NO_PID_NS, &c);
	assert_true(c.no_pid_ns);
	assert_false(c.no_cgroup);
	/* the rest of the jail is untouched */
	assert_int_equal(c.cpu_quota_us, 100000);
}

/* a handle on a temporary directory, with opts.jail_relax and the env */
static int open_handle(const char *dir, unsigned int relax, const char *env,
		       struct kiln **k)
{
	struct kiln_options o;
	int rc;

	kiln_options_init(&o);
	o.cache_dir = dir;
	o.state_dir = dir;
	o.runtime_dir = dir;
	o.hooks_file = "";
	o.jail_relax = relax;
	if (env)
		assert_int_equal(setenv("KILN_JAIL_RELAX", env, 1), 0);
	rc = kiln_open(&o, k);
	unsetenv("KILN_JAIL_RELAX");
	return rc;
}

static void test_handle(void **state)
{
	char dir[] = "/tmp/kiln-test-relax-XXXXXX", cmd[128];
	struct kiln_sandbox *sb;
	struct kiln *k = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(open_handle(dir, 0, NULL, &k), KILN_OK);
	assert_int_equal(k->jail_relax, 0);
	kiln_close(k);
	assert_int_equal(open_handle(dir, 8, NULL, &k), KILN_EINVAL);
	assert_int_equal(open_handle(dir, 0, "seccomp,nope", &k), KILN_EINVAL);
	/* the option and the environment add up */
	assert_int_equal(
		open_handle(dir, KILN_JAIL_NO_SECCOMP, "cgroup,pid-ns", &k),
		KILN_OK);
	assert_int_equal(k->jail_relax, KILN_JAIL_RELAX_ALL);
	kiln_close(k);

	/* a sandbox: its record's parts and the handle's */
	assert_int_equal(open_handle(dir, 0, NULL, &k), KILN_OK);
	sb = sandbox_alloc(k);
	assert_non_null(sb);
	assert_int_equal(sandbox_jail_relax(sb), 0);
	sb->jail_relax = KILN_JAIL_NO_CGROUP;
	assert_int_equal(sandbox_jail_relax(sb), KILN_JAIL_NO_CGROUP);
	k->jail_relax = KILN_JAIL_NO_SECCOMP;
	assert_int_equal(sandbox_jail_relax(sb),
			 KILN_JAIL_NO_SECCOMP | KILN_JAIL_NO_CGROUP);
	kiln_sandbox_close(sb);
	kiln_close(k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_names_and_text),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_handle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
