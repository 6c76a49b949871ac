/* SPDX-License-Identifier: MIT */
/*
 * Child side of the jail, between fork() and exec().  The caller may be
 * multi-threaded, so only async-signal-safe calls are made: no malloc, no
 * stdio, raw system calls for credentials (only this thread exists here).
 *
 * Order matters: the cgroup and the network namespace are joined while the
 * host paths are visible; the bind mounts and pivot_root need
 * CAP_SYS_ADMIN, so they come before the privilege drop; the bounding set
 * can only be dropped while CAP_SETPCAP is held, so before setuid; the
 * PID-1 fork comes last, so both processes are already confined.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/jail_int.h"

#define CAP_SCAN_MAX 64 /* bounding set bits to drop; EINVAL past the last */

/* The PID-1 child the proxy forwards signals to (0 before the fork). */
static volatile pid_t jail_child_pid;

static const int forwarded_signals[] = {SIGTERM, SIGINT,  SIGHUP,
					SIGQUIT, SIGUSR1, SIGUSR2};

static int fail(char *err, size_t errlen, const char *step, const char *path)
{
	int e = errno;

	jail_err(err, errlen, step, path, e);
	errno = e;
	return -1;
}

static int join_netns(const char *netns, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	if (netns[0] == '/') {
		if (jail_path_cat(path, sizeof(path), netns, NULL, NULL))
			return fail(err, errlen, "netns", netns);
	} else if (jail_path_cat(path, sizeof(path), "/run/netns/", netns,
				 NULL)) {
		return fail(err, errlen, "netns", netns);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "open network namespace", path);
	if (setns(fd, CLONE_NEWNET) < 0) {
		close(fd);
		return fail(err, errlen, "setns", path);
	}
	close(fd);
	return 0;
}

/* Bind src on root+dst, then remount with the jail's flags. */
static int bind_one(const char *root, const char *src, const char *dst,
		    unsigned long flags, char *err, size_t errlen)
{
	char target[PATH_MAX];

	if (jail_path_cat(target, sizeof(target), root, dst, NULL)) {
		errno = ENAMETOOLONG;
		return fail(err, errlen, "bind mount", dst);
	}
	if (mount(src, target, NULL, MS_BIND, NULL) < 0)
		return fail(err, errlen, "bind mount", src);
	/* flags of a bind mount only change on a remount */
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return fail(err, errlen, "remount bind", target);
	return 0;
}

static int mounts_setup(const struct jail_config *c, const char *root,
			char *err, size_t errlen)
{
	/* nothing we mount may propagate back to the host */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(err, errlen, "make mounts private", "/");
	/* pivot_root needs the new root to be a mount point */
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		return fail(err, errlen, "bind mount jail root", root);
	if (bind_one(root, c->vmm_path, c->vmm_path,
		     MS_RDONLY | MS_NOSUID | MS_NODEV, err, errlen))
		return -1;
	for (size_t i = 0; i < c->nmounts; i++) {
		const struct jail_mount *m = &c->mounts[i];
		unsigned long fl = MS_NOSUID | MS_NODEV;

		if (!(m->flags & JAIL_MOUNT_RW))
			fl |= MS_RDONLY;
		if (!(m->flags & JAIL_MOUNT_EXEC))
			fl |= MS_NOEXEC;
		if (bind_one(root, m->src, m->dst ? m->dst : m->src, fl, err,
			     errlen))
			return -1;
	}
	/*
	 * The root itself: read-only, no exec, no setuid; device nodes
	 * allowed (ours, made by jail_prepare(); the jail cannot make more
	 * without CAP_MKNOD), whatever the run directory's mount says.
	 */
	if (mount(NULL, root, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		  NULL) < 0)
		return fail(err, errlen, "remount jail root read-only", root);
	if (chdir(root) < 0)
		return fail(err, errlen, "chdir", root);
	/* new root on top of the old one, then detach the old one */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(err, errlen, "pivot_root", root);
	if (umount2(".", MNT_DETACH) < 0)
		return fail(err, errlen, "detach the old root", "/");
	if (chdir("/") < 0)
		return fail(err, errlen, "chdir", "/");
	return 0;
}

static int limits_set(const struct jail_config *c, char *err, size_t errlen)
{
	rlim_t nofile = c->nofile ? c->nofile : JAIL_DEFAULT_NOFILE;
	rlim_t fsize = c->fsize ? c->fsize : RLIM_INFINITY;
	const struct {
		int res;
		rlim_t v;
		const char *name;
	} lim[] = {
		{RLIMIT_NOFILE, nofile, "RLIMIT_NOFILE"},
		{RLIMIT_FSIZE, fsize, "RLIMIT_FSIZE"},
		{RLIMIT_CORE, 0, "RLIMIT_CORE"},
	};

	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct rlimit r = {lim[i].v, lim[i].v};

		if (setrlimit(lim[i].res, &r) < 0)
			return fail(err, errlen, "setrlimit", lim[i].name);
	}
	return 0;
}

/* Close every fd but 0-2 and the kept ones. */
static int fds_close(const struct jail_config *c, char *err, size_t errlen)
{
	int keep[JAIL_MAX_KEEP_FDS + 1];
	size_t n = 0;
	unsigned int from = 3;

	for (size_t i = 0; i < c->nkeep_fds; i++)
		if (c->keep_fds[i] > 2)
			keep[n++] = c->keep_fds[i];
	/* insertion sort: at most JAIL_MAX_KEEP_FDS entries */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from &&
		    syscall(SYS_close_range, from, (unsigned int)keep[i] - 1,
			    0) < 0)
			return fail(err, errlen, "close_range", NULL);
		from = (unsigned int)keep[i] + 1;
	}
	if (syscall(SYS_close_range, from, ~0U, 0) < 0)
		return fail(err, errlen, "close_range", NULL);
	return 0;
}

static int privileges_drop(const struct jail_config *c, char *err,
			   size_t errlen)
{
	uid_t uid = c->uid ? c->uid : JAIL_DEFAULT_UID;
	gid_t gid = c->gid ? c->gid : JAIL_DEFAULT_GID;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	/* the bounding set: no exec can ever regain a capability */
	for (int cap = 0; cap < CAP_SCAN_MAX; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return fail(err, errlen, "drop bounding capability",
				    NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return fail(err, errlen, "clear ambient capabilities", NULL);
	/* raw calls: only this thread exists, glibc's broadcast is moot */
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return fail(err, errlen, "setgroups", NULL);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return fail(err, errlen, "setresgid", NULL);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		return fail(err, errlen, "setresuid", NULL);
	/* setuid cleared effective/permitted; inheritable too, now */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail(err, errlen, "capset", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "PR_SET_NO_NEW_PRIVS", NULL);
	return 0;
}

static void proxy_forward(int sig)
{
	int e = errno;

	if (jail_child_pid > 0)
		kill(jail_child_pid, sig);
	errno = e;
}

/*
 * The process outside the PID namespace: forward stop signals to the VMM
 * and end the way it ended.  Holds no fd but 0-2 (and the liveness pipe),
 * so the parent's exec-error pipe sees EOF once the VMM execs.
 */
static __attribute__((noreturn)) void proxy_run(pid_t child, int alive_w,
						const sigset_t *old)
{
	struct sigaction sa;
	int st = 0;
	pid_t r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = proxy_forward;
	sigemptyset(&sa.sa_mask);
	jail_child_pid = child;
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(int); i++)
		sigaction(forwarded_signals[i], &sa, NULL);
	/* keep the liveness pipe's write end: the child polls for HUP */
	if (alive_w > 3)
		syscall(SYS_close_range, 3, (unsigned int)alive_w - 1, 0);
	syscall(SYS_close_range, (unsigned int)alive_w + 1, ~0U, 0);
	sigprocmask(SIG_SETMASK, old, NULL);
	do
		r = waitpid(child, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		_exit(1);
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		sigset_t one;

		signal(sig, SIG_DFL);
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(st));
}

/* Fork the namespace's PID 1; only the child returns. */
static int pid1_fork(char *err, size_t errlen)
{
	sigset_t all, old;
	struct pollfd pfd;
	int alive[2];
	pid_t pid;

	if (pipe2(alive, O_CLOEXEC) < 0)
		return fail(err, errlen, "pipe", NULL);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(alive[0]);
		close(alive[1]);
		errno = e;
		return fail(err, errlen, "fork PID 1", NULL);
	}
	if (pid > 0) {
		close(alive[0]);
		proxy_run(pid, alive[1], &old);
	}
	close(alive[1]);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(int); i++)
		signal(forwarded_signals[i], SIG_DFL);
	/* die with the proxy; if it is already gone, the pipe says so */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(127);
	pfd.fd = alive[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0)
		_exit(127);
	close(alive[0]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

int jail_enter(const struct jail_config *c, char *err, size_t errlen)
{
	char root[PATH_MAX];
	struct jail_cgroups g;
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	pid_t parent = getppid();
	int pdeath = 0;

	/* setresuid() clears the parent-death signal: put it back after */
	if (prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0) < 0)
		pdeath = 0;
	if (jail_root_path(c, root, sizeof(root)))
		return fail(err, errlen, "jail root", c->rundir);
	if (!c->no_cgroup) {
		if (jail_cgroups_find(c, &g))
			return fail(err, errlen, "cgroup", jail_cgroup_root(c));
		if (jail_cgroups_join(&g, err, errlen))
			return -1;
		/* the VMM sees its own group as the root */
		flags |= CLONE_NEWCGROUP;
	}
	if (c->netns && join_netns(c->netns, err, errlen))
		return -1;
	if (c->new_netns)
		flags |= CLONE_NEWNET;
	if (!c->no_pid_ns)
		flags |= CLONE_NEWPID;
	if (unshare(flags) < 0)
		return fail(err, errlen, "unshare namespaces", NULL);
	if (sethostname("kiln", 4) < 0)
		return fail(err, errlen, "sethostname", NULL);
	if (mounts_setup(c, root, err, errlen) || limits_set(c, err, errlen) ||
	    fds_close(c, err, errlen) || privileges_drop(c, err, errlen))
		return -1;
	if (pdeath && (prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0 ||
		       getppid() != parent)) {
		errno = ESRCH;
		return fail(err, errlen, "the parent exited during setup",
			    NULL);
	}
	/* relaxed: this process execs the VMM itself, seen by the host */
	return c->no_pid_ns ? 0 : pid1_fork(err, errlen);
}
