/* SPDX-License-Identifier: MIT */
/*
 * Text the guest chose (file names, command lines) on the user's terminal:
 * a control character there could move the cursor, retitle the window or
 * rewrite what was printed before, so each one is shown as \xNN instead.
 * --json output needs none of this: jansson escapes control characters.
 */
#include <stdio.h>

#include "cli/cli_text.h"

void cli_put_untrusted(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}
