/* SPDX-License-Identifier: MIT */
/*
 * `kiln exec --json` / `kiln run --json` and --max-output
 * (src/cli/exec_output.c): sizes, base64, the JSON object of a result
 * (UTF-8 text as a string, anything else as base64), and the warnings on
 * stderr.  The CLI is not in a library archive: compiled in directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/exec_output.c"

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"1", 1},	    {"4096", 4096},   {"64K", 64u << 10},
		{"16M", 16u << 20}, {"1G", 1u << 30}, {"1T", 1ull << 40},
	};
	uint64_t v;
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(exec_output_parse_size("--x", good[i].s,
							1ull << 40, &v, err,
							sizeof(err)),
				 0);
		assert_int_equal(v, good[i].v);
	}
	assert_int_equal(exec_output_parse_size("--x", "1025", 1024, &v, err,
						sizeof(err)),
			 -1);
	assert_string_equal(err, "--x: '1025' is too large (at most 1024)");
	assert_int_equal(
		exec_output_parse_size("--x", "2K", 2048, &v, err, sizeof(err)),
		0);
	assert_int_equal(exec_output_parse_size("--x", "16384P", UINT64_MAX, &v,
						err, sizeof(err)),
			 -1);
	assert_int_equal(exec_output_parse_size("--x", "18446744073709551615T",
						UINT64_MAX, &v, err,
						sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(exec_output_parse_size("--x", " 1", UINT64_MAX, &v,
						err, sizeof(err)),
			 -1);
	assert_int_equal(exec_output_parse_size("--x", "+1", UINT64_MAX, &v,
						err, sizeof(err)),
			 -1);
	assert_string_equal(err, "--x: '+1' is not a size > 0 (bytes, "
				 "optionally with K, M, G or T)");
}

/* RFC 4648's test vectors, and every byte value. */
static void test_base64(void **state)
{
	static const char *const want[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	unsigned char all[256];
	char *s;

	for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++) {
		s = exec_output_base64("foobar", n);
		assert_non_null(s);
		assert_string_equal(s, want[n]);
		free(s);
	}
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	s = exec_output_base64(all, sizeof(all));
	assert_int_equal(strlen(s), 344);
	assert_true(strncmp(s, "AAECAwQFBgcICQoLDA0ODxAREhMU", 28) == 0);
	assert_string_equal(s + 324, "8/T19vf4+fr7/P3+/w==");
	free(s);
}

static json_t *field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!v)
		fail_msg("no field \"%s\"", name);
	return v;
}

static void test_json(void **state)
{
	char out[] = "h\xc3\xa9llo\0!", err[] = "\xff\x00\x41";
	struct kiln_exec_result res = {
		.exited = 1,
		.exit_code = 3,
		.have_totals = 1,
		.stdout_bytes = 8,
		.stderr_bytes = 5000,
		.stderr_capped = 1,
		.stdout_data = out,
		.stdout_len = 8,
		.stderr_data = err,
		.stderr_len = 3,
	};
	json_t *o = exec_output_json(&res);
	const char *keys[] = {
		"exit_code",	 "signal",	  "timed_out",
		"stdout",	 "stdout_base64", "stdout_bytes",
		"stdout_capped", "stderr",	  "stderr_base64",
		"stderr_bytes",	 "stderr_capped", "output_dropped",
	};

	assert_non_null(o);
	/* every field is always there, in this order */
	assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		field(o, keys[i]);
	assert_int_equal(json_integer_value(field(o, "exit_code")), 3);
	assert_true(json_is_null(field(o, "signal")));
	assert_true(json_is_false(field(o, "timed_out")));
	/* valid UTF-8, NUL included: a string */
	assert_int_equal(json_string_length(field(o, "stdout")), 8);
	assert_memory_equal(json_string_value(field(o, "stdout")), out, 8);
	assert_true(json_is_null(field(o, "stdout_base64")));
	assert_int_equal(json_integer_value(field(o, "stdout_bytes")), 8);
	assert_true(json_is_false(field(o, "stdout_capped")));
	/* not UTF-8: base64 */
	assert_true(json_is_null(field(o, "stderr")));
	assert_string_equal(json_string_value(field(o, "stderr_base64")),
			    "/wBB");
	assert_int_equal(json_integer_value(field(o, "stderr_bytes")), 5000);
	assert_true(json_is_true(field(o, "stderr_capped")));
	assert_true(json_is_false(field(o, "output_dropped")));
	json_decref(o);

	/* killed by a signal (its timeout): no exit code; an older agent
	 * without totals: what arrived */
	res = (struct kiln_exec_result){
		.signaled = 1,
		.signal = 9,
		.timed_out = 1,
		.exit_code = 137,
		.stdout_data = out,
		.stdout_len = 1,
		.stderr_data = NULL,
	};
	o = exec_output_json(&res);
	assert_true(json_is_null(field(o, "exit_code")));
	assert_string_equal(json_string_value(field(o, "signal")), "KILL");
	assert_true(json_is_true(field(o, "timed_out")));
	assert_string_equal(json_string_value(field(o, "stdout")), "h");
	assert_int_equal(json_integer_value(field(o, "stdout_bytes")), 1);
	assert_string_equal(json_string_value(field(o, "stderr")), "");
	assert_int_equal(json_integer_value(field(o, "stderr_bytes")), 0);
	json_decref(o);
}

/* What exec_output_warn() writes to stderr for res and cap. */
static void warn_text(const struct kiln_exec_result *res, uint64_t cap,
		      char *buf, size_t len)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	exec_output_warn(res, cap);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, len - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

static void test_warn(void **state)
{
	struct kiln_exec_result res = {.stdout_bytes = 10, .stderr_bytes = 5};
	char buf[1024];

	warn_text(&res, 4, buf, sizeof(buf));
	assert_string_equal(buf, ""); /* nothing capped: silence */
	res.stdout_capped = 1;
	warn_text(&res, 4, buf, sizeof(buf));
	assert_string_equal(buf,
			    "kiln: stdout capped at 4 bytes (10 produced)\n");
	res.stdout_capped = 0;
	res.stderr_capped = 1;
	res.output_dropped = 1;
	warn_text(&res, 0, buf, sizeof(buf));
	assert_true(strncmp(buf,
			    "kiln: stderr capped by the command's "
			    "--max-output (5 bytes produced)\n"
			    "kiln: output dropped: ",
			    88) == 0);
}

static int sink(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

static void test_setup(void **state)
{
	struct kiln_exec ex = {.on_stdout = sink, .on_stderr = sink};

	(void)state;
	/* streamed: the callbacks stay, the cap (0: none) is taken */
	exec_output_configure(&ex, 0, false);
	assert_int_equal(ex.max_output, 0);
	assert_int_equal(ex.collect, 0);
	assert_ptr_equal(ex.on_stdout, sink);
	exec_output_configure(&ex, 4096, false);
	assert_int_equal(ex.max_output, 4096);
	/* --json: collected, no callbacks, the default cap unless given */
	exec_output_configure(&ex, 0, true);
	assert_int_equal(ex.collect, 1);
	assert_null(ex.on_stdout);
	assert_null(ex.on_stderr);
	assert_int_equal(ex.max_output, EXEC_JSON_DEFAULT_CAP);
	exec_output_configure(&ex, 10, true);
	assert_int_equal(ex.max_output, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_warn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
