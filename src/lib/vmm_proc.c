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
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
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
#include "lib/jail.h"
#include "lib/vmm_proc.h"

#define FD_SCAN_MAX 65536 /* fallback CLOEXEC sweep when close_range fails */
#define KILL_WAIT_MS 10000
#define CHILD_ERR_MAX 512 /* a jail step's message; one atomic pipe write */

/* What a child that could not exec sends back: errno, then a message. */
struct child_err {
	int e;
	char msg[CHILD_ERR_MAX];
};

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
child_exec(char *const argv[], int devnull, int log_fd, int errfd, pid_t parent,
	   bool detach, int netns_fd, const struct jail_config *jail)
{
	struct child_err ce;
	sigset_t none;
	int in, out;
	size_t len = sizeof(ce.e);

	ce.msg[0] = 0;

	/* the sandbox's network namespace: its TAP is only there */
	if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
		goto fail;

	if (detach) {
		/*
		 * A session of its own: no controlling terminal, so hangups
		 * and terminal signals never reach it, and it outlives us.
		 */
		if (setsid() < 0)
			goto fail;
	} else {
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127); /* parent already gone: don't run unowned */
	}

	child_reset_signals();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* dup above 2 first, so no source is clobbered by a target */
	in = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
	out = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		goto fail;
	if (jail) {
		/* a copy on our stack: the error pipe must survive the jail's
		 * fd sweep (it closes on exec, as always) */
		struct jail_config jc = *jail;
		int keep = errfd;

		jc.keep_fds = &keep;
		jc.nkeep_fds = 1;
		if (jail_enter(&jc, ce.msg, sizeof(ce.msg)) < 0)
			goto fail;
	}
	/* everything else closes on exec, including errfd */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < FD_SCAN_MAX; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	execv(argv[0], argv);
fail:
	ce.e = errno;
	while (ce.msg[0] && len < sizeof(ce) && ce.msg[len - sizeof(ce.e)])
		len++;
	while (write(errfd, &ce, len) < 0 && errno == EINTR)
		;
	_exit(127);
}

/*
 * Read the child's exec report from fd: 0 on EOF (it exec'd), else a
 * kiln status with the reason in err.
 */
static int child_err_read(int fd, const char *prog, char *err, size_t errlen)
{
	struct child_err ce;
	ssize_t n;

	memset(&ce, 0, sizeof(ce));
	do
		n = read(fd, &ce, sizeof(ce) - 1);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(ce.e))
		return 0;
	if (ce.msg[0])
		snprintf(err, errlen, "cannot start %s: %s", prog, ce.msg);
	else
		snprintf(err, errlen, "cannot run %s: %s", prog,
			 strerror(ce.e));
	return ce.e == ENOENT ? KILN_ENOTFOUND : KILN_ESYS;
}

static int spawn_child(struct vmm_proc *p, char *const argv[], int log_fd,
		       int netns_fd, const struct jail_config *jail, char *err,
		       size_t errlen)
{
	int pipefd[2], devnull, e = 0, rc;
	pid_t parent = getpid(), pid;

	memset(p, 0, sizeof(*p));
	p->pidfd = p->gate_fd = p->err_fd = -1;
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
		child_exec(argv, devnull, log_fd, pipefd[1], parent, false,
			   netns_fd, jail);
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

	/* EOF means the exec happened; else the child's errno */
	rc = child_err_read(pipefd[0], argv[0], err, errlen);
	close(pipefd[0]);
	if (rc) {
		while (waitpid(pid, &p->wstatus, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
		return rc;
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

/* Close both ends of the pipes in fds (-1 entries are skipped). */
static void pipes_close(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Double fork: the intermediate child forks the VMM, reports its pid and
 * exits at once, so the VMM is never our child (init or the nearest
 * subreaper reaps it; a long-lived caller collects no zombies).  The VMM
 * then waits at a gate (a pipe) before exec: vmm_proc_release() opens it
 * once the caller has recorded the pid; if the caller dies first, the
 * gate reads EOF and the child exits without ever becoming a VMM, so no
 * VMM can exist that no record points to.  Exec failures come back
 * through a CLOEXEC pipe, read by vmm_proc_release().
 */
static int spawn_detached(struct vmm_proc *p, char *const argv[], int log_fd,
			  int netns_fd, const struct jail_config *jail,
			  char *err, size_t errlen)
{
	/* errpipe, pidpipe, gate: read end, write end each */
	int fds[6] = {-1, -1, -1, -1, -1, -1}, devnull, e = 0, st;
	pid_t mid, pid = 0;
	ssize_t n;
	char go;

	memset(p, 0, sizeof(*p));
	p->pidfd = p->gate_fd = p->err_fd = -1;
	p->detached = true;
	if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 ||
	    pipe2(fds + 4, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		pipes_close(fds, 6);
		return KILN_ESYS;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		pipes_close(fds, 6);
		return KILN_ESYS;
	}
	mid = fork();
	if (mid == 0) {
		pid_t vmm = fork();

		if (vmm == 0) {
			/* only the caller may hold the gate's write end */
			close(fds[5]);
			do
				n = read(fds[4], &go, 1);
			while (n < 0 && errno == EINTR);
			if (n != 1)
				_exit(127); /* the caller is gone: never run */
			child_exec(argv, devnull, log_fd, fds[1], 0, true,
				   netns_fd, jail);
		}
		while (write(fds[3], &vmm, sizeof(vmm)) < 0 && errno == EINTR)
			;
		_exit(vmm < 0 ? 1 : 0);
	}
	e = errno;
	close(devnull);
	close(fds[1]);
	close(fds[3]);
	close(fds[4]);
	fds[1] = fds[3] = fds[4] = -1;
	if (mid < 0) {
		pipes_close(fds, 6);
		snprintf(err, errlen, "cannot start %s: fork: %s", argv[0],
			 strerror(e));
		return KILN_ESYS;
	}
	do
		n = read(fds[2], &pid, sizeof(pid));
	while (n < 0 && errno == EINTR);
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(pid) || pid <= 0) {
		pipes_close(fds, 6);
		snprintf(err, errlen, "cannot start %s: fork failed", argv[0]);
		return KILN_ESYS;
	}
	/* it waits at the gate: the pid cannot have been reused */
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0) {
		e = errno;
		pipes_close(fds, 6); /* the gate closes: it exits */
		snprintf(err, errlen,
			 "pidfd_open: %s (Linux 5.3 or later is needed)",
			 strerror(e));
		return KILN_ESYS;
	}
	close(fds[2]);
	p->pid = pid;
	p->err_fd = fds[0];
	p->gate_fd = fds[5];
	if (proc_start_time(pid, &p->start_time) != 0)
		p->start_time = 0; /* already gone: the pidfd says so */
	return 0;
}

int vmm_proc_spawn(struct vmm_proc *p, char *const argv[], int log_fd,
		   char *err, size_t errlen)
{
	return spawn_child(p, argv, log_fd, -1, NULL, err, errlen);
}

int vmm_proc_spawn_detached(struct vmm_proc *p, char *const argv[], int log_fd,
			    char *err, size_t errlen)
{
	return spawn_detached(p, argv, log_fd, -1, NULL, err, errlen);
}

int vmm_proc_spawn_netns(struct vmm_proc *p, char *const argv[], int log_fd,
			 int netns_fd, bool detach, char *err, size_t errlen)
{
	return vmm_proc_spawn_jailed(p, argv, log_fd, netns_fd, detach, NULL,
				     err, errlen);
}

int vmm_proc_spawn_jailed(struct vmm_proc *p, char *const argv[], int log_fd,
			  int netns_fd, bool detach,
			  const struct jail_config *jail, char *err,
			  size_t errlen)
{
	return detach ? spawn_detached(p, argv, log_fd, netns_fd, jail, err,
				       errlen)
		      : spawn_child(p, argv, log_fd, netns_fd, jail, err,
				    errlen);
}

int vmm_proc_release(struct vmm_proc *p, char *err, size_t errlen)
{
	ssize_t n;
	char go = 1;
	int rc;

	if (p->gate_fd < 0 || p->err_fd < 0) {
		snprintf(err, errlen,
			 "the VMM process is not waiting to start");
		return KILN_ESYS;
	}
	do
		n = write(p->gate_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	close(p->gate_fd);
	p->gate_fd = -1;
	/* EOF means the exec happened; else the child's errno */
	rc = child_err_read(p->err_fd, "kiln-vmm", err, errlen);
	close(p->err_fd);
	p->err_fd = -1;
	return rc;
}

int vmm_proc_poll(struct vmm_proc *p)
{
	pid_t r;

	if (p->reaped)
		return 1;
	if (p->pid <= 0)
		return -1;
	if (p->detached) {
		/* not our child: the pidfd says it ended, not how */
		struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};

		if (p->pidfd < 0 || poll(&pfd, 1, 0) > 0) {
			p->reaped = true;
			return 1;
		}
		return 0;
	}
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
	if (p->detached) {
		/* still at the gate: closing it makes the child exit */
		if (p->gate_fd >= 0)
			close(p->gate_fd);
		if (p->err_fd >= 0)
			close(p->err_fd);
		p->gate_fd = p->err_fd = -1;
		rc = p->reaped ? 1
			       : proc_stop_pidfd(p->pidfd, grace_ms, term_ms);
		p->reaped = p->reaped || rc >= 0;
	} else if (vmm_proc_wait(p, grace_ms, -1) != 1) {
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
	} else if (p->detached) {
		snprintf(buf, len, "kiln-vmm (pid %d) exited", (int)p->pid);
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

int proc_stat_parse(const char *buf, size_t len, char *state, uint64_t *start)
{
	const char *p = NULL, *end = buf + len;
	int field = 2; /* the ')' closing field 2 (comm) */

	/* comm may hold spaces and ')': the last ')' closes it */
	for (const char *q = buf; q < end; q++)
		if (*q == ')')
			p = q;
	if (!p)
		return -1;
	p++;
	while (p < end && field < 22) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -1;
		field++;
		if (field == 3)
			*state = *p;
		if (field == 22) {
			uint64_t v = 0;
			int digits = 0;

			while (p < end && *p >= '0' && *p <= '9' &&
			       digits < 20) {
				v = v * 10 + (uint64_t)(*p - '0');
				p++;
				digits++;
			}
			if (!digits || (p < end && *p != ' ' && *p != '\n'))
				return -1;
			*start = v;
			return 0;
		}
		while (p < end && *p != ' ')
			p++;
	}
	return -1;
}

int proc_start_time(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], state = '?';
	ssize_t n;
	int fd;

	if (pid <= 0)
		return KILN_ENOTFOUND;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? KILN_ENOTFOUND
							 : KILN_ESYS;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return n < 0 && errno == ESRCH ? KILN_ENOTFOUND : KILN_ESYS;
	if (proc_stat_parse(buf, (size_t)n, &state, start))
		return KILN_EFORMAT;
	/* a zombie has ended; only its exit status is left */
	return state == 'Z' || state == 'X' ? KILN_ENOTFOUND : 0;
}

int proc_open_verified(pid_t pid, uint64_t start)
{
	uint64_t now;
	int fd, rc;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH ? KILN_ENOTFOUND : KILN_ESYS;
	/*
	 * Checked after the pidfd exists: from here on the pidfd refers to
	 * this very process even if the pid is reused after it exits.
	 */
	rc = proc_start_time(pid, &now);
	if (rc == 0 && now != start)
		rc = KILN_ENOTFOUND;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Wait for the process behind pidfd to exit: 1 exited, 0 timeout. */
static int pidfd_wait(int pidfd, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
		uint64_t now = now_ms();
		int r;

		if (now >= deadline)
			return poll(&pfd, 1, 0) > 0 ? 1 : 0;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int proc_stop_pidfd(int pidfd, int grace_ms, int term_ms)
{
	if (grace_ms > 0 && pidfd_wait(pidfd, grace_ms) == 1)
		return 1;
	if (pidfd_wait(pidfd, 0) == 1)
		return 1;
	syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
	if (pidfd_wait(pidfd, term_ms) == 1)
		return 0;
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	return pidfd_wait(pidfd, KILL_WAIT_MS) == 1 ? 0 : -1;
}
