/* SPDX-License-Identifier: MIT */
#ifndef KILN_CLI_TEXT_H
#define KILN_CLI_TEXT_H

#include <stdio.h>

/* s on f with control characters, DEL and '\' as \xNN (guest-chosen text). */
void cli_put_untrusted(FILE *f, const char *s);

#endif
