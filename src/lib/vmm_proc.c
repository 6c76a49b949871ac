/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm child processes.  fork() + execv() rather than posix_spawn()
 * because the child needs PR_SET_PDEATHSIG; between the two only
 * async-signal-safe calls are made, so this is safe in threaded callers.
 * An exec failure is reported through a CLOEXEC pipe, so "not found" is an
 * error here and not a mysterious early exit later.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/vmm_proc.h"

#define FD_SCAN_MAX 65536 /* fallback CLOEXEC sweep when close_range fails */
#define KILL_WAIT_MS 10000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Reset every signal to SIG_DFL with the raw system call: glibc's
 * sigaction() refuses the two real-time signals it keeps for itself (32 and
 * 33), yet an ignored disposition of those is inherited across exec from
 * whoever started us, and the VMM must not start with signals ignored.
 */
static void child_reset_signals(void)
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} ksa = {.handler = SIG_DFL};

	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &ksa, NULL, 8);
}

static __attribute__((noreturn)) void
child_exec(char *const argv[], int devnull, int log_fd, int errfd, pid_t parent)
{
	sigset_t none;
	int in, out, e;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127); /* parent already gone: don't run unowned */

	child_reset_signals();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* dup above 2 first, so no source is clobbered by a target */
	in = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	out = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		goto fail;
	/* everything else closes on exec, including errfd */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < FD_SCAN_MAX; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	execv(argv[0], argv);
fail:
	e = errno;
	while (write(errfd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int vmm_proc_spawn(struct vmm_proc *p, char *const argv[], int log_fd,
		   char *err, size_t errlen)
{
	int pipefd[2], devnull, e = 0;
	pid_t parent = getpid(), pid;
	ssize_t n;

	p->pid = 0;
	p->pidfd = -1;
	p->reaped = false;
	p->wstatus = 0;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return KILN_ESYS;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return KILN_ESYS;
	}
	pid = fork();
	if (pid == 0)
		child_exec(argv, devnull, log_fd, pipefd[1], parent);
	e = errno;
	close(pipefd[1]);
	close(devnull);
	if (pid < 0) {
		close(pipefd[0]);
		snprintf(err, errlen, "cannot start %s: fork: %s", argv[0],
			 strerror(e));
		return KILN_ESYS;
	}
	p->pid = pid;

	/* EOF means the exec happened; 4 bytes are the child's errno */
	do
		n = read(pipefd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(pid, &p->wstatus, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
		snprintf(err, errlen, "cannot run %s: %s", argv[0],
			 strerror(e));
		return e == ENOENT ? KILN_ENOTFOUND : KILN_ESYS;
	}

	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0) {
		e = errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, &p->wstatus, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
		snprintf(err, errlen,
			 "pidfd_open: %s (Linux 5.3 or later is needed)",
			 strerror(e));
		return KILN_ESYS;
	}
	return 0;
}

int vmm_proc_poll(struct vmm_proc *p)
{
	pid_t r;

	if (p->reaped)
		return 1;
	if (p->pid <= 0)
		return -1;
	do
		r = waitpid(p->pid, &p->wstatus, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == p->pid) {
		p->reaped = true;
		return 1;
	}
	return r < 0 ? -1 : 0;
}

int vmm_proc_wait(struct vmm_proc *p, int timeout_ms, int cancel_fd)
{
	uint64_t deadline =
		timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = p->pidfd, .events = POLLIN},
			{.fd = cancel_fd, .events = POLLIN},
		};
		int left = -1, r;

		r = vmm_proc_poll(p);
		if (r != 0)
			return r;
		if (timeout_ms >= 0) {
			uint64_t now = now_ms();

			if (now >= deadline)
				return 0;
			left = (int)(deadline - now);
		}
		r = poll(pfd, cancel_fd >= 0 ? 2 : 1, left);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
			return vmm_proc_poll(p) == 1 ? 1 : 0;
	}
}

int vmm_proc_stop(struct vmm_proc *p, int grace_ms, int term_ms)
{
	int rc = 1;

	if (p->pid <= 0)
		return p->reaped ? 1 : -1;
	if (vmm_proc_wait(p, grace_ms, -1) != 1) {
		rc = 0;
		/* the VMM leads its own process group: signal all of it */
		kill(-p->pid, SIGTERM);
		if (vmm_proc_wait(p, term_ms, -1) != 1) {
			kill(-p->pid, SIGKILL);
			if (vmm_proc_wait(p, KILL_WAIT_MS, -1) != 1)
				rc = -1;
		}
	}
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	return rc;
}

void vmm_proc_describe(const struct vmm_proc *p, char *buf, size_t len)
{
	int st = p->wstatus;

	if (!p->reaped) {
		snprintf(buf, len, "still running");
	} else if (WIFEXITED(st)) {
		static const char *const what[] = {
			"the guest powered off",
			"kiln-vmm failed",
			"the guest rebooted",
			"the guest crashed",
			"kiln-vmm was stopped by a signal",
		};
		int code = WEXITSTATUS(st);

		if (code < (int)(sizeof(what) / sizeof(what[0])))
			snprintf(buf, len, "%s (exit status %d)", what[code],
				 code);
		else
			snprintf(buf, len, "kiln-vmm exited with status %d",
				 code);
	} else if (WIFSIGNALED(st)) {
		snprintf(buf, len, "kiln-vmm was killed by signal %d (%s)",
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	} else {
		snprintf(buf, len, "kiln-vmm ended with wait status 0x%x", st);
	}
}
