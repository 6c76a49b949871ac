/* SPDX-License-Identifier: MIT */
/*
 * Sandbox configuration: defaults from the cache directory, range limits
 * at and just past their edges, and file-check messages with their hints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/sandbox_config.h"

static int resolve(const struct kiln_sandbox_config *cfg,
		   struct sandbox_params *p, char *err, size_t errlen)
{
	return sandbox_params_resolve("/cache", cfg, p, err, errlen);
}

static void test_defaults(void **state)
{
	struct sandbox_params p;
	char err[256];

	assert_int_equal(resolve(NULL, &p, err, sizeof(err)), 0);
	assert_string_equal(p.kernel, "/cache/kernel/vmlinux");
	assert_string_equal(p.image, "/cache/images/base.ext4");
	assert_true(p.kernel_is_default);
	assert_true(p.image_is_default);
	assert_int_equal(p.cpus, KILN_DEFAULT_CPUS);
	assert_int_equal(p.memory_mib, KILN_DEFAULT_MEMORY_MIB);
	assert_null(p.cmdline_extra);
	sandbox_params_free(&p);
}

static void test_explicit(void **state)
{
	struct kiln_sandbox_config cfg = {
		.kernel_path = "/k/bzImage",
		.image_path = "/i/root.ext4",
		.cpus = 4,
		.memory_mib = 1024,
		.cmdline_extra = "quiet",
	};
	struct sandbox_params p;
	char err[256];

	assert_int_equal(resolve(&cfg, &p, err, sizeof(err)), 0);
	assert_string_equal(p.kernel, "/k/bzImage");
	assert_string_equal(p.image, "/i/root.ext4");
	assert_false(p.kernel_is_default);
	assert_false(p.image_is_default);
	assert_int_equal(p.cpus, 4);
	assert_int_equal(p.memory_mib, 1024);
	assert_string_equal(p.cmdline_extra, "quiet");
	sandbox_params_free(&p);
}

static void expect_range(unsigned int cpus, unsigned int mem, int want,
			 const char *msg)
{
	struct kiln_sandbox_config cfg = {.cpus = cpus, .memory_mib = mem};
	struct sandbox_params p;
	char err[256] = "";

	assert_int_equal(resolve(&cfg, &p, err, sizeof(err)), want);
	if (msg)
		assert_string_equal(err, msg);
	sandbox_params_free(&p);
}

static void test_ranges(void **state)
{
	expect_range(1, 128, 0, NULL);
	expect_range(32, 16384, 0, NULL);
	expect_range(33, 0, KILN_EINVAL, "cpus must be 1..32, not 33");
	expect_range(1000, 0, KILN_EINVAL, "cpus must be 1..32, not 1000");
	expect_range(0, 64, KILN_EINVAL,
		     "memory must be 128..16384 MiB, not 64");
	expect_range(0, 127, KILN_EINVAL,
		     "memory must be 128..16384 MiB, not 127");
	expect_range(0, 16385, KILN_EINVAL,
		     "memory must be 128..16384 MiB, not 16385");
}

static void test_bad_strings(void **state)
{
	struct kiln_sandbox_config cfg = {.image_path = "/x/a,ro.ext4"};
	struct sandbox_params p;
	char err[256];

	assert_int_equal(resolve(&cfg, &p, err, sizeof(err)), KILN_EINVAL);
	sandbox_params_free(&p);
	cfg.image_path = NULL;
	cfg.cmdline_extra = "a\tb";
	assert_int_equal(resolve(&cfg, &p, err, sizeof(err)), KILN_EINVAL);
	sandbox_params_free(&p);
}

static void test_check_files_hints(void **state)
{
	struct kiln_sandbox_config cfg = {.kernel_path = "/nonexistent/k"};
	struct sandbox_params p;
	char err[256];

	/* default kernel: the message says how to build it */
	assert_int_equal(resolve(NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(sandbox_params_check_files(&p, err, sizeof(err)),
			 KILN_ENOTFOUND);
	assert_string_equal(err, "kernel not found at /cache/kernel/vmlinux; "
				 "build it with 'make kernel'");
	sandbox_params_free(&p);

	/* an explicit path: no build hint, just the path */
	assert_int_equal(resolve(&cfg, &p, err, sizeof(err)), 0);
	assert_int_equal(sandbox_params_check_files(&p, err, sizeof(err)),
			 KILN_ENOTFOUND);
	assert_string_equal(err, "kernel not found at /nonexistent/k");
	sandbox_params_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_check_files_hints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
