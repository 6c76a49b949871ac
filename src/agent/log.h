/* SPDX-License-Identifier: MIT */
/*
 * Agent logging: one line per message, prefixed "kiln-agent: ", written
 * with a single write() so lines from concurrent writers do not interleave.
 * Goes to stderr, or to /dev/console once log_use_console() succeeded (PID
 * 1: the console is what a human, and the VMM's console log, sees).
 */
#ifndef KILN_AGENT_LOG_H
#define KILN_AGENT_LOG_H

#include <stdbool.h>

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open /dev/console for logging; false (and stderr stays) if it fails. */
bool log_use_console(void);

/* Enable or disable debug messages (log_debug). */
void log_set_debug(bool on);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
