/* SPDX-License-Identifier: MIT */
/*
 * PID 1 duties: pseudo file systems, a writable root (tmpfs overlay over
 * the shared read-only image), hostname, loopback, and powering off.
 * Failures are logged and the agent carries on with less where it can: a
 * guest that boots without /tmp is more useful than a kernel panic.
 */
#ifndef KILN_AGENT_INIT_H
#define KILN_AGENT_INIT_H

#include <stdbool.h>
#include <stddef.h>

/* Options from the kernel command line (kiln.*=), see init_parse_cmdline. */
struct init_options {
	char hostname[65]; /* kiln.hostname=NAME ("" if not given) */
	bool debug; /* kiln.debug=1 */
	bool overlay; /* kiln.overlay=0 turns the overlay off */
};

/* Parse a kernel command line (pure; unit-tested). */
void init_parse_cmdline(const char *cmdline, struct init_options *opt);

/* True if name is a valid hostname (RFC 1123 label chars, 1..64 bytes). */
bool init_hostname_valid(const char *name);

/* Set up the system as PID 1; fills opt from /proc/cmdline. */
void init_setup(struct init_options *opt);

/*
 * Power off: SIGKILL everything else, sync, write 0 to port 0x501 through
 * /dev/port (the VMM's power-off port), then reboot(RB_AUTOBOOT).  Never
 * returns.
 */
void init_poweroff(void) __attribute__((noreturn));

#endif
