/* SPDX-License-Identifier: MIT */
/*
 * The kiln-vmm child process: start it with a clean fd set and signal
 * state, watch it through a pidfd, and stop it with escalating force.
 */
#ifndef KILN_LIB_VMM_PROC_H
#define KILN_LIB_VMM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vmm_proc {
	pid_t pid; /* 0 when not running */
	int pidfd; /* readable once the child exited; -1 if none */
	bool reaped;
	int wstatus; /* waitpid() status once reaped */
};

/*
 * Start argv[0] (an absolute path) with argv.  stdin is /dev/null; stdout
 * and stderr go to log_fd.  The child gets its own process group (terminal
 * signals go to the caller only, which stops the VMM in order), a default
 * signal mask and dispositions, only fds 0-2, and PR_SET_PDEATHSIG SIGKILL
 * so it dies with the calling thread.  Fails (negative kiln status, err
 * filled in) if the program cannot be executed.
 */
int vmm_proc_spawn(struct vmm_proc *p, char *const argv[], int log_fd,
		   char *err, size_t errlen);

/*
 * Wait up to timeout_ms (-1: forever) for the child to exit, also
 * returning early when cancel_fd (if >= 0) becomes readable.  Returns 1 if
 * it exited (wstatus set), 0 on timeout or cancel, negative on error.
 */
int vmm_proc_wait(struct vmm_proc *p, int timeout_ms, int cancel_fd);

/* Non-blocking: reap the child if it has exited.  Returns 1 if it has. */
int vmm_proc_poll(struct vmm_proc *p);

/*
 * Make sure the child is gone: wait grace_ms for it to exit by itself,
 * then SIGTERM and wait term_ms, then SIGKILL and wait.  Returns 1 if it
 * exited by itself, 0 if it needed a signal, negative if it could not be
 * reaped at all.  Closes the pidfd.
 */
int vmm_proc_stop(struct vmm_proc *p, int grace_ms, int term_ms);

/*
 * Describe how the VMM ended ("powered off", "guest crashed (exit 3)",
 * "killed by signal 9 (Killed)") into buf.
 */
void vmm_proc_describe(const struct vmm_proc *p, char *buf, size_t len);

#endif
