/* SPDX-License-Identifier: MIT */
/*
 * Console tails: line splitting on \n, \r\n and \r, the partial first
 * line of a read window, sanitising of guest bytes, and buffer limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/console.h"

static unsigned int tail(const char *s, int partial, unsigned int n, char *out,
			 size_t outsz)
{
	return console_tail_lines(s, strlen(s), partial, n, "> ", out, outsz);
}

static void test_tail_basic(void **state)
{
	char out[512];

	assert_int_equal(tail("a\nb\nc\n", 0, 2, out, sizeof(out)), 2);
	assert_string_equal(out, "> b\n> c\n");
	/* no final newline, CRLF, blank lines, and \r progress */
	assert_int_equal(
		tail("one\r\n\r\n\ntwo\r\nthr\rthree", 0, 3, out, sizeof(out)),
		3);
	assert_string_equal(out, "> two\n> thr\n> three\n");
	/* more asked than present */
	assert_int_equal(tail("x\n", 0, 20, out, sizeof(out)), 1);
	assert_string_equal(out, "> x\n");
	assert_int_equal(tail("", 0, 20, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(tail("\n\r\n", 0, 20, out, sizeof(out)), 0);
	assert_int_equal(tail("a\nb\n", 0, 0, out, sizeof(out)), 0);
}

static void test_tail_partial(void **state)
{
	char out[512];

	/* the window starts mid-line: that fragment is dropped */
	assert_int_equal(tail("ragment\nwhole\n", 1, 5, out, sizeof(out)), 1);
	assert_string_equal(out, "> whole\n");
	assert_int_equal(tail("no line end at all", 1, 5, out, sizeof(out)), 0);
}

static void test_tail_sanitise(void **state)
{
	char out[512], in[64];

	snprintf(in, sizeof(in), "ok\n\033[2J\033]0;pwn\007x\ttab\xff\n");
	assert_int_equal(tail(in, 0, 5, out, sizeof(out)), 2);
	assert_string_equal(out, "> ok\n> ?[2J?]0;pwn?x tab?\n");
}

static void test_tail_long_and_small(void **state)
{
	char in[CONSOLE_LINE_MAX * 2 + 2], out[512], small[12];

	memset(in, 'y', sizeof(in) - 2);
	in[sizeof(in) - 2] = '\n';
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(tail(in, 0, 1, out, sizeof(out)), 1);
	assert_int_equal(strlen(out), 2 + CONSOLE_LINE_MAX + 3 + 1);
	assert_non_null(strstr(out, "yyy...\n"));

	/* whole lines only: the second does not fit */
	assert_int_equal(tail("abc\ndefgh\n", 0, 2, small, sizeof(small)), 1);
	assert_string_equal(small, "> abc\n");
}

static void test_file_tail(void **state)
{
	char path[] = "/tmp/kiln-test-console-XXXXXX", out[256];
	int fd = mkstemp(path);
	char big[CONSOLE_TAIL_BYTES + 100];

	assert_true(fd >= 0);
	/* larger than the window: the oldest line is cut and dropped */
	memset(big, 'z', sizeof(big));
	memcpy(big + sizeof(big) - 20, "\nlast line here\n", 16);
	assert_int_equal(write(fd, big, sizeof(big) - 4), sizeof(big) - 4);
	close(fd);
	assert_int_equal(console_file_tail(path, 3, "", out, sizeof(out)), 1);
	assert_string_equal(out, "last line here\n");
	unlink(path);
	assert_int_equal(console_file_tail(path, 3, "", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail_basic),
		cmocka_unit_test(test_tail_partial),
		cmocka_unit_test(test_tail_sanitise),
		cmocka_unit_test(test_tail_long_and_small),
		cmocka_unit_test(test_file_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
