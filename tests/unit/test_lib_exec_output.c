/* SPDX-License-Identifier: MIT */
/*
 * The public exec API's output options (kiln.h: max_output, collect) end
 * to end through kiln_sandbox_attach() to a kiln-agent on a Unix socket
 * (see agent_harness.h): collected buffers bounded by the cap and
 * reported as capped, streaming under a cap, totals, timeouts that keep
 * what was collected, and the invalid combinations.
 */
#include "agent_harness.h"

#include "kiln.h"

struct fixture {
	char top[64];
	struct kiln *k;
	struct kiln_sandbox *sb;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kiln_options o;
	char ep[160];

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-exec-out-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	kiln_options_init(&o);
	o.cache_dir = f->top;
	o.state_dir = f->top;
	o.runtime_dir = f->top;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	snprintf(ep, sizeof(ep), "unix:%s", sock_path);
	assert_int_equal(kiln_sandbox_attach(f->k, ep, &f->sb), KILN_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kiln_sandbox_destroy(f->sb);
	kiln_close(f->k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_collect(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {
		"sh", "-c", "echo hello; printf 'x\\0y' >&2; exit 4", NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.collect = 1;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_OK);
	assert_int_equal(res.exit_code, 4);
	assert_true(res.have_totals);
	assert_string_equal(res.stdout_data, "hello\n");
	assert_int_equal(res.stdout_len, 6);
	assert_int_equal(res.stderr_len, 3);
	assert_memory_equal(res.stderr_data, "x\0y", 4); /* NUL-terminated */
	assert_int_equal(res.stdout_bytes, 6);
	assert_int_equal(res.stderr_bytes, 3);
	assert_false(res.stdout_capped || res.stderr_capped);
	kiln_exec_result_free(&res);
	assert_null(res.stdout_data);
	kiln_exec_result_free(&res); /* twice is fine */

	/* no output: empty buffers, not NULL */
	const char *const quiet[] = {"true", NULL};
	ex.argv = quiet;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_OK);
	assert_string_equal(res.stdout_data, "");
	assert_int_equal(res.stderr_len, 0);
	kiln_exec_result_free(&res);
}

/* 5 MiB of stdout collected under a 1 MiB cap: bounded and reported. */
static void test_collect_capped(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {
		"sh", "-c", "head -c 5242880 /dev/zero; echo e >&2", NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.collect = 1;
	ex.max_output = 1u << 20;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_OK);
	assert_int_equal(res.stdout_len, 1u << 20);
	assert_int_equal(res.stdout_bytes, 5242880);
	assert_true(res.stdout_capped);
	assert_string_equal(res.stderr_data, "e\n");
	assert_false(res.stderr_capped);
	kiln_exec_result_free(&res);
}

struct counter {
	size_t n;
};

static int count_out(void *ctx, const void *buf, size_t len)
{
	((struct counter *)ctx)->n += len;
	return 0;
}

/* Streaming under a cap: the callbacks see at most the cap. */
static void test_stream_capped(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"head", "-c", "100000", "/dev/zero", NULL};
	struct kiln_exec_result res;
	struct counter c = {0};
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = count_out;
	ex.stdout_ctx = &c;
	ex.max_output = 1000;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_OK);
	assert_int_equal(c.n, 1000);
	assert_int_equal(res.stdout_bytes, 100000);
	assert_true(res.stdout_capped);
	assert_null(res.stdout_data);
}

/* A timeout keeps what was collected and the totals. */
static void test_collect_timeout(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"sh", "-c", "echo before; exec sleep 30",
				    NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.collect = 1;
	ex.timeout_ms = 300;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_ETIMEOUT);
	assert_true(res.timed_out);
	assert_string_equal(res.stdout_data, "before\n");
	assert_int_equal(res.stdout_bytes, 7);
	kiln_exec_result_free(&res);
}

static void test_invalid(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"true", NULL};
	struct kiln_exec_result res;
	struct counter c = {0};
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.max_output = KILN_EXEC_MAX_OUTPUT + 1;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "max_output"));

	ex.max_output = KILN_EXEC_COLLECT_MAX + 1;
	ex.collect = 1;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "too large to collect"));
	assert_null(res.stdout_data);

	ex.max_output = 0;
	ex.on_stderr = count_out;
	ex.stderr_ctx = &c;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "on_stdout and on_stderr"));
	assert_null(res.stdout_data);

	/* the sandbox is still usable after KILN_EINVAL */
	kiln_exec_init(&ex);
	ex.argv = argv;
	assert_int_equal(kiln_sandbox_exec(f->sb, &ex, &res), KILN_OK);
	assert_int_equal(res.exit_code, 0);
	kiln_exec_result_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_collect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collect_capped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_capped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_collect_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
	};

	(void)assert_gone;
	(void)buf_append;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
