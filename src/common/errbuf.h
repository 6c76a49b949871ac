/* SPDX-License-Identifier: MIT */
/*
 * The one way kiln's parts put a message into a caller's error buffer:
 * functions that can fail take (char *err, size_t errlen) and fill it
 * with what went wrong, where, and what to do.
 */
#ifndef KILN_COMMON_ERRBUF_H
#define KILN_COMMON_ERRBUF_H

#include <stddef.h>

/*
 * Format into buf (cut at len, always terminated when len > 0).  Returns
 * -1, so that a failing path can `return errbuf_set(err, errlen, ...);`.
 */
int errbuf_set(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
