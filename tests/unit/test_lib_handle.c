/* SPDX-License-Identifier: MIT */
/*
 * Option and environment resolution of kiln_open(), with the environment
 * given as a table, plus the error/status conventions of the handle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/handle.h"

/* NULL-terminated name/value pairs. */
static const char *env_table(void *ctx, const char *name)
{
	const char *const *t = ctx;

	for (; t[0]; t += 2)
		if (!strcmp(t[0], name))
			return t[1];
	return NULL;
}

static int resolve(struct kiln *k, const struct kiln_options *o,
		   const char *const *env, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	return handle_resolve(k, o, env_table, (void *)env, err, errlen);
}

static void test_home_defaults(void **state)
{
	static const char *const env[] = {"HOME", "/home/u", "PATH", "/usr/bin",
					  NULL};
	struct kiln_options o;
	struct kiln k;
	char err[256], rt[64];

	kiln_options_init(&o);
	assert_int_equal(resolve(&k, &o, env, err, sizeof(err)), 0);
	assert_string_equal(k.cache_dir, "/home/u/.cache/kiln");
	assert_string_equal(k.state_dir, "/home/u/.local/state/kiln");
	if (getuid() == 0)
		snprintf(rt, sizeof(rt), "/run/kiln");
	else
		snprintf(rt, sizeof(rt), "/tmp/kiln-%u", (unsigned)getuid());
	assert_string_equal(k.runtime_dir, rt);
	assert_string_equal(k.vmm_path, "kiln-vmm");
	assert_string_equal(k.path_env, "/usr/bin");
	assert_int_equal(k.boot_timeout_ms, 300000);
	assert_int_equal(k.cancel_fd, -1);
	handle_release(&k);
}

static void test_env_overrides(void **state)
{
	static const char *const env[] = {
		"HOME",
		"/home/u",
		"KILN_CACHE",
		"/c",
		"XDG_STATE_HOME",
		"/xs",
		"XDG_RUNTIME_DIR",
		"/run/user/7",
		"KILN_VMM",
		"/opt/kiln-vmm",
		"KILN_BOOT_TIMEOUT",
		"90",
		NULL,
	};
	struct kiln_options o;
	struct kiln k;
	char err[256];

	kiln_options_init(&o);
	assert_int_equal(resolve(&k, &o, env, err, sizeof(err)), 0);
	assert_string_equal(k.cache_dir, "/c");
	assert_string_equal(k.state_dir, "/xs/kiln");
	assert_string_equal(k.runtime_dir, "/run/user/7/kiln");
	assert_string_equal(k.vmm_path, "/opt/kiln-vmm");
	assert_int_equal(k.boot_timeout_ms, 90000);
	handle_release(&k);

	/* options beat the environment */
	o.cache_dir = "/o/cache";
	o.runtime_dir = "/o/run";
	o.vmm_path = "/o/vmm";
	o.boot_timeout_ms = 1234;
	assert_int_equal(resolve(&k, &o, env, err, sizeof(err)), 0);
	assert_string_equal(k.cache_dir, "/o/cache");
	assert_string_equal(k.runtime_dir, "/o/run");
	assert_string_equal(k.vmm_path, "/o/vmm");
	assert_int_equal(k.boot_timeout_ms, 1234);
	handle_release(&k);
}

static void test_bad_values(void **state)
{
	static const char *const bad_timeouts[] = {"0",	  "abc", "-5",	 "+5",
						   "12s", "",	 "86401"};
	struct kiln_options o;
	struct kiln k;
	char err[256];

	kiln_options_init(&o);
	for (size_t i = 0; i < sizeof(bad_timeouts) / sizeof(*bad_timeouts);
	     i++) {
		const char *env[] = {"HOME", "/h", "KILN_BOOT_TIMEOUT",
				     bad_timeouts[i], NULL};

		assert_int_equal(resolve(&k, &o, env, err, sizeof(err)),
				 KILN_EINVAL);
		assert_non_null(strstr(err, "KILN_BOOT_TIMEOUT"));
		handle_release(&k);
	}
	{
		const char *env[] = {"HOME", "/h", "KILN_CACHE", "rel/dir",
				     NULL};

		assert_int_equal(resolve(&k, &o, env, err, sizeof(err)),
				 KILN_EINVAL);
		assert_string_equal(err, "cache directory 'rel/dir' is not an "
					 "absolute path");
		handle_release(&k);
	}
	{
		const char *env[] = {NULL};

		assert_int_equal(resolve(&k, &o, env, err, sizeof(err)),
				 KILN_EINVAL);
		assert_non_null(strstr(err, "set HOME"));
		handle_release(&k);
	}
	{
		const char *env[] = {"HOME", "/h", NULL};

		o.log_level = (enum kiln_log_level)7;
		assert_int_equal(resolve(&k, &o, env, err, sizeof(err)),
				 KILN_EINVAL);
		handle_release(&k);
	}
}

struct logged {
	int n;
	char last[256];
	char tag[32];
};

static void log_capture(void *ctx, enum kiln_log_level level, const char *tag,
			const char *msg)
{
	struct logged *l = ctx;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%d:%s", (int)level, msg);
	snprintf(l->tag, sizeof(l->tag), "%s", tag);
}

static void test_open_errors_and_messages(void **state)
{
	struct kiln_options o;
	struct logged lg = {0};
	struct kiln *k = (struct kiln *)1;

	kiln_options_init(&o);
	o.cache_dir = "relative";
	o.log = log_capture;
	o.log_ctx = &lg;
	assert_int_equal(kiln_open(&o, &k), KILN_EINVAL);
	assert_null(k);
	assert_int_equal(lg.n, 1);
	assert_string_equal(lg.last, "0:cache directory 'relative' is not an "
				     "absolute path");

	o.cache_dir = "/c";
	o.state_dir = "/s";
	o.runtime_dir = "/r";
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	assert_string_equal(kiln_errmsg(k), "");
	assert_string_equal(kiln_cache_dir(k), "/c");
	assert_string_equal(kiln_runtime_dir(k), "/r");
	assert_int_equal(handle_fail(k, KILN_ETIMEOUT, "x %d", 5),
			 KILN_ETIMEOUT);
	handle_fail_append(k, "\n%s", "more");
	assert_string_equal(kiln_errmsg(k), "x 5\nmore");
	/* warnings pass the default level, debug does not */
	lg.n = 0;
	handle_log(k, KILN_LOG_DEBUG, "hidden");
	assert_int_equal(lg.n, 0);
	handle_log(k, KILN_LOG_WARN, "shown %s", "w");
	assert_string_equal(lg.last, "1:shown w");
	/* the tag is this file's subsystem: test_lib_handle.c -> "test" */
	assert_string_equal(lg.tag, "test");
	handle_log_at(k, KILN_LOG_ERROR, "state", "x");
	assert_string_equal(lg.tag, "state");
	assert_string_equal(lg.last, "0:x");
	kiln_close(k);

	assert_string_equal(kiln_errmsg(NULL), "");
	kiln_close(NULL);
}

static void test_log_names(void **state)
{
	enum kiln_log_level lv = KILN_LOG_INFO;
	enum kiln_log_format f = KILN_LOG_TEXT;
	char tag[8];

	assert_int_equal(kiln_log_level_parse("debug", &lv), KILN_OK);
	assert_int_equal(lv, KILN_LOG_DEBUG);
	assert_int_equal(kiln_log_level_parse("warning", &lv), KILN_OK);
	assert_int_equal(lv, KILN_LOG_WARN);
	assert_int_equal(kiln_log_level_parse("error", &lv), KILN_OK);
	assert_int_equal(lv, KILN_LOG_ERROR);
	assert_int_equal(kiln_log_level_parse("loud", &lv), KILN_EINVAL);
	assert_int_equal(kiln_log_level_parse("", &lv), KILN_EINVAL);
	assert_int_equal(kiln_log_level_parse(NULL, &lv), KILN_EINVAL);
	assert_int_equal(lv, KILN_LOG_ERROR); /* untouched on failure */
	assert_int_equal(kiln_log_format_parse("json", &f), KILN_OK);
	assert_int_equal(f, KILN_LOG_JSON);
	assert_int_equal(kiln_log_format_parse("none", &f), KILN_OK);
	assert_int_equal(f, KILN_LOG_SILENT);
	assert_int_equal(kiln_log_format_parse("xml", &f), KILN_EINVAL);
	assert_string_equal(kiln_log_level_name(KILN_LOG_INFO), "info");
	assert_string_equal(kiln_log_level_name((enum kiln_log_level)9),
			    "unknown");

	handle_log_tag("src/lib/sandbox_store.c", tag, sizeof(tag));
	assert_string_equal(tag, "sandbox");
	handle_log_tag("state.c", tag, sizeof(tag));
	assert_string_equal(tag, "state");
	handle_log_tag("/x/_odd.c", tag, sizeof(tag));
	assert_string_equal(tag, "kiln");
	handle_log_tag("a/snapshotting.c", tag, sizeof(tag));
	assert_string_equal(tag, "snapsho"); /* cut to fit */
}

static void test_log_lines(void **state)
{
	char buf[256];
	size_t n;

	n = kiln_log_format_line(KILN_LOG_TEXT, KILN_LOG_WARN, "sandbox",
				 "two\nlines\033[2J", buf, sizeof(buf));
	assert_string_equal(buf, "kiln: warning: [sandbox] two lines?[2J\n");
	assert_int_equal(n, strlen(buf));
	kiln_log_format_line(KILN_LOG_TEXT, KILN_LOG_DEBUG, NULL, "m", buf,
			     sizeof(buf));
	assert_string_equal(buf, "kiln: debug: [kiln] m\n");

	n = kiln_log_format_line(KILN_LOG_JSON, KILN_LOG_INFO, "state",
				 "a \"q\"\n\x01", buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_int_equal(buf[n - 1], '\n');
	assert_non_null(strstr(buf, "\"level\":\"info\""));
	assert_non_null(strstr(buf, "\"tag\":\"state\""));
	assert_non_null(strstr(buf, "\"msg\":\"a \\\"q\\\"\\n\\u0001\""));
	assert_non_null(strstr(buf, "\"time\":\"20"));
	assert_non_null(strstr(buf, "\"pid\":"));
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1); /* one line */
	/* invalid UTF-8 still gives a line */
	n = kiln_log_format_line(KILN_LOG_JSON, KILN_LOG_ERROR, "x", "bad \xff",
				 buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "not valid UTF-8"));

	/* too small: cut, still one terminated line */
	n = kiln_log_format_line(KILN_LOG_TEXT, KILN_LOG_ERROR, "t",
				 "0123456789abcdef", buf, 16);
	assert_int_equal(n, 15);
	assert_int_equal(buf[14], '\n');
	assert_int_equal(buf[15], '\0');
	n = kiln_log_format_line(KILN_LOG_JSON, KILN_LOG_ERROR, "t",
				 "0123456789abcdef", buf, 16);
	assert_int_equal(n, 15);
	assert_int_equal(buf[14], '\n');
	assert_int_equal(
		kiln_log_format_line(KILN_LOG_TEXT, 0, "t", "m", buf, 0), 0);
}

/* The built-in stderr logger, with stderr redirected to a pipe. */
static void test_log_stderr(void **state)
{
	struct kiln_options o;
	struct kiln *k;
	char buf[512];
	int p[2], saved;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	kiln_options_init(&o);
	o.cache_dir = o.state_dir = o.runtime_dir = "/x";
	o.log_format = KILN_LOG_JSON;
	o.log_level = KILN_LOG_INFO;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	handle_log(k, KILN_LOG_DEBUG, "hidden");
	handle_log(k, KILN_LOG_INFO, "seen %d", 1);
	kiln_close(k);
	/* silent: the default */
	o.log_format = KILN_LOG_SILENT;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	handle_log(k, KILN_LOG_ERROR, "dropped");
	kiln_close(k);
	/* a bad format is refused, and said nowhere (silent) */
	o.log_format = (enum kiln_log_format)5;
	assert_int_equal(kiln_open(&o, &k), KILN_EINVAL);
	/* text */
	o.log_format = KILN_LOG_TEXT;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	handle_log(k, KILN_LOG_WARN, "plain");
	kiln_close(k);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_null(strstr(buf, "hidden"));
	assert_null(strstr(buf, "dropped"));
	assert_non_null(strstr(buf, "\"msg\":\"seen 1\""));
	assert_non_null(strstr(buf, "\"tag\":\"test\""));
	assert_non_null(strstr(buf, "kiln: warning: [test] plain\n"));
	assert_int_equal(strchr(buf, '\n')[1], 'k'); /* JSON line, then text */
}

static void test_strstatus(void **state)
{
	for (int s = 0; s >= KILN_ESTATE; s--)
		assert_string_not_equal(kiln_strstatus(s), "unknown status");
	assert_string_equal(kiln_strstatus(-999), "unknown status");
	assert_string_equal(kiln_strstatus(KILN_ETIMEOUT), "timed out");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_home_defaults),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_open_errors_and_messages),
		cmocka_unit_test(test_log_names),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_log_stderr),
		cmocka_unit_test(test_strstatus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
