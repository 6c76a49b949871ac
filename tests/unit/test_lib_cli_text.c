/* SPDX-License-Identifier: MIT */
/* cli_put_untrusted(): guest-chosen text reaches the terminal inert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cli_text.c"

static void put(const char *s, char *out, size_t len)
{
	FILE *f;

	memset(out, 0, len); /* fmemopen writes no NUL when nothing was put */
	f = fmemopen(out, len, "w");

	assert_non_null(f);
	cli_put_untrusted(f, s);
	assert_int_equal(fclose(f), 0);
}

static void test_untrusted(void **state)
{
	char out[256];

	(void)state;
	put("plain name.txt", out, sizeof(out));
	assert_string_equal(out, "plain name.txt");
	/* an escape sequence that would retitle the window, a newline that
	 * would forge a line, DEL, and the backslash that quotes them */
	put("a\033]0;pwned\007b\nc\177d\\e", out, sizeof(out));
	assert_string_equal(out, "a\\x1b]0;pwned\\x07b\\x0ac\\x7fd\\x5ce");
	/* UTF-8 passes through */
	put("caf\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9");
	put("", out, sizeof(out));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untrusted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
