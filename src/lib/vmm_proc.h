/* SPDX-License-Identifier: MIT */
/*
 * The kiln-vmm child process: start it with a clean fd set and signal
 * state, watch it through a pidfd, and stop it with escalating force.
 */
#ifndef KILN_LIB_VMM_PROC_H
#define KILN_LIB_VMM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vmm_proc {
	pid_t pid; /* 0 when not running */
	int pidfd; /* readable once the child exited; -1 if none */
	bool reaped;
	int wstatus; /* waitpid() status once reaped (not when detached) */
	bool detached; /* not our child: watched through the pidfd only */
	uint64_t start_time; /* detached: /proc/PID/stat field 22 */
	int gate_fd; /* detached, not released yet: the gate; else -1 */
	int err_fd; /* detached, not released yet: exec errors; else -1 */
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
 * Like vmm_proc_spawn(), but the VMM is meant to outlive us (a persistent
 * sandbox): it is started through a double fork, so it is not our child
 * (init or a subreaper reaps it), in a session of its own (setsid: no
 * controlling terminal, its own process group), with no parent-death
 * signal.  p->start_time is recorded so it can be found again by pid and
 * start time.  vmm_proc_poll()/wait()/stop() work through the pidfd; its
 * exit status is not available (vmm_proc_describe() says so).
 *
 * The child waits before exec until vmm_proc_release(): record p->pid and
 * p->start_time first, so that no VMM ever runs unrecorded (if the caller
 * dies before the release, the child exits without running argv).
 * vmm_proc_stop() before the release just lets it exit.
 */
int vmm_proc_spawn_detached(struct vmm_proc *p, char *const argv[], int log_fd,
			    char *err, size_t errlen);

/*
 * vmm_proc_spawn() (detach false) or vmm_proc_spawn_detached() (true),
 * the child first joining the network namespace netns_fd (-1: the
 * caller's), where the sandbox's TAP is (docs/NETWORK.md).  A failed
 * setns() is reported like a failed exec.
 */
int vmm_proc_spawn_netns(struct vmm_proc *p, char *const argv[], int log_fd,
			 int netns_fd, bool detach, char *err, size_t errlen);

struct jail_config;

/*
 * vmm_proc_spawn_netns() with the child entering jail (lib/jail.h; NULL:
 * none) right before exec: jail_prepare() must have succeeded.  The pid
 * recorded is the jail's proxy outside the VMM's PID namespace, which
 * forwards stop signals and ends the way the VMM ended.  A failed jail
 * step is reported like a failed exec, with the step in err.
 */
int vmm_proc_spawn_jailed(struct vmm_proc *p, char *const argv[], int log_fd,
			  int netns_fd, bool detach,
			  const struct jail_config *jail, char *err,
			  size_t errlen);

/*
 * Let a vmm_proc_spawn_detached() child exec.  Returns 0 once the exec
 * happened, or a status with err if it failed (the child has then exited).
 */
int vmm_proc_release(struct vmm_proc *p, char *err, size_t errlen);

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

/* ---- any process, by pid and start time (not only our children) ---- */

/*
 * Parse the contents of /proc/PID/stat: field 3 (state letter) into
 * *state and field 22 (start time in clock ticks since boot) into *start.
 * The command name (field 2) may contain anything, including ") ".
 * Returns 0, or -1 if buf is malformed.
 */
int proc_stat_parse(const char *buf, size_t len, char *state, uint64_t *start);

/*
 * The start time of process pid.  KILN_ENOTFOUND if there is no such
 * process or it is a zombie (it has ended).  A pid plus its start time
 * names one process for the life of the host: a recycled pid has another
 * start time.
 */
int proc_start_time(pid_t pid, uint64_t *start);

/*
 * A pidfd for pid if it is still the process that started at start, else
 * KILN_ENOTFOUND (negative).  Signals sent through the pidfd cannot hit a
 * process that reused the pid later.
 */
int proc_open_verified(pid_t pid, uint64_t start);

/*
 * Make the process behind pidfd exit: wait grace_ms for it, then SIGTERM
 * and wait term_ms, then SIGKILL.  1: it exited by itself, 0: it needed a
 * signal, -1: it would not die.  Does not close pidfd.
 */
int proc_stop_pidfd(int pidfd, int grace_ms, int term_ms);

#endif
