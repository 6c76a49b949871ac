/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp allowlists for kiln-vmm (libseccomp).
 *
 * Two kinds of thread, two filters.  The main thread (event loop, API,
 * device back ends, snapshots) installs SECCOMP_VMM_MAIN early in main(),
 * after the command line is parsed and before any guest code runs.  Every
 * vCPU thread inherits that filter from the main thread that created it
 * and stacks SECCOMP_VCPU on top as the first thing it does, so a vCPU
 * thread may only make calls that both filters allow.  Filters are per
 * thread (no SECCOMP_FILTER_FLAG_TSYNC): a vCPU's narrower filter never
 * reaches the main thread.
 *
 * A call outside the list kills the whole process (SIGSYS, exit "killed by
 * signal 31"), so a missing entry is loud, not a silent EPERM that turns
 * into odd behaviour.  SECCOMP_LOG is for finding missing entries: nothing
 * is denied, every call that would have been is logged by the kernel
 * (dmesg / audit: "type=1326 ... syscall=N").  SECCOMP_OFF (--no-seccomp)
 * makes seccomp_install() do nothing.
 */
#ifndef KILN_VMM_SECCOMP_H
#define KILN_VMM_SECCOMP_H

#include <stddef.h>

enum seccomp_kind {
	SECCOMP_VMM_MAIN, /* event loop, API, devices, snapshots */
	SECCOMP_VCPU, /* KVM_RUN and the device exits it handles inline */
};

enum seccomp_mode {
	SECCOMP_ENFORCE, /* default: a forbidden call kills the process */
	SECCOMP_LOG, /* debug: forbidden calls are allowed and logged */
	SECCOMP_OFF, /* --no-seccomp: install nothing */
};

/* Set once, before the first seccomp_install() (e.g. from the flags). */
void seccomp_set_mode(enum seccomp_mode mode);
enum seccomp_mode seccomp_get_mode(void);

/*
 * Install the allowlist for kind on the calling thread only.  Also sets
 * PR_SET_NO_NEW_PRIVS (required for an unprivileged filter).  Returns 0, or
 * -1 with err saying which step failed.  Call it before the thread runs
 * guest code; it cannot be undone.
 */
int seccomp_install(enum seccomp_kind kind, char *err, size_t errlen);

/* "vmm-main" / "vcpu", for messages. */
const char *seccomp_kind_name(enum seccomp_kind kind);

#endif
