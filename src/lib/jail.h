/* SPDX-License-Identifier: MIT */
/*
 * The kiln-vmm jail (Firecracker's jailer, as library calls): a private
 * root with only what the VMM needs, its own mount/PID/IPC/UTS/cgroup
 * namespaces (and optionally network), a cgroup with CPU, memory and pid
 * limits, rlimits, no open fds but the listed ones, a non-root uid/gid, no
 * capabilities and no_new_privs.  See docs/SECURITY.md.
 *
 * jail_prepare() runs in the parent: it validates the paths and creates
 * <rundir>/root (directories, empty mount points, device nodes) and the
 * cgroup.  jail_enter() runs in the forked child right before execv(): it
 * does everything that must happen inside the child, including the bind
 * mounts, which therefore exist only in the jail's mount namespace and
 * vanish with it (nothing to unmount after a kill -9).  jail_cleanup()
 * removes the cgroup and the root; it needs only id, rundir and
 * cgroup_root, so it also works after a crash.
 *
 * Paths inside the jail are the host paths (a file mounted from
 * /var/lib/x/vmlinux is at /var/lib/x/vmlinux inside), so the VMM's argv
 * needs no rewriting, unless a mount gives another dst.
 */
#ifndef KILN_LIB_JAIL_H
#define KILN_LIB_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_DEFAULT_UID 64000
#define JAIL_DEFAULT_GID 64000
#define JAIL_DEFAULT_NOFILE 4096
#define JAIL_MAX_MOUNTS 32
#define JAIL_MAX_KEEP_FDS 16

/* jail_mount.flags */
#define JAIL_MOUNT_RW 0x1u /* writable; src is chowned to the jail uid/gid */
#define JAIL_MOUNT_EXEC 0x2u /* programs on it may run (libraries) */

struct jail_mount {
	const char *src; /* absolute host path: file or directory */
	const char *dst; /* absolute path in the jail; NULL: same as src */
	unsigned int flags; /* default: read-only, noexec, nodev, nosuid */
};

struct jail_config {
	const char *id; /* sandbox id: 1-64 of [A-Za-z0-9_.-], not "."/".." */
	const char *rundir; /* absolute, root-owned, not group/other writable;
			       the jail root is <rundir>/root */
	const char *vmm_path; /* the binary the child execs (mounted exec) */
	uid_t uid; /* 0: JAIL_DEFAULT_UID (the jail never runs as root) */
	gid_t gid; /* 0: JAIL_DEFAULT_GID */
	const struct jail_mount *mounts;
	size_t nmounts;
	/* character devices made in the jail's /dev (host major/minor);
	 * NULL: /dev/kvm /dev/net/tun /dev/null /dev/urandom /dev/zero.
	 * /dev/kvm and /dev/net/tun are 0600 owned by the jail uid, others
	 * 0666 root. */
	const char *const *devices;
	size_t ndevices;
	const char *netns; /* name under /run/netns, or absolute path: join */
	bool new_netns; /* else (no netns either): keep the caller's network */
	/* cgroup limits; 0: none.  cpu: quota per period (period 0: 100 ms) */
	uint64_t cpu_quota_us;
	uint64_t cpu_period_us;
	uint64_t memory_bytes; /* guest memory + VMM overhead */
	uint64_t pids_max;
	bool no_cgroup; /* no cgroup at all (relaxed mode) */
	bool no_pid_ns; /* stay in the caller's PID namespace (relaxed mode):
			   no PID-1 fork, the exec'd VMM is the forked child */
	const char *cgroup_root; /* NULL: /sys/fs/cgroup */
	uint64_t nofile; /* RLIMIT_NOFILE; 0: JAIL_DEFAULT_NOFILE */
	uint64_t fsize; /* RLIMIT_FSIZE in bytes; 0: unlimited */
	const int *keep_fds; /* open across jail_enter besides 0-2 */
	size_t nkeep_fds;
};

/*
 * Parent side: check the configuration and the paths (relative paths,
 * "..", a group/other-writable or symlinked rundir, a dynamically linked
 * vmm_path whose interpreter no mount provides are refused), create
 * <rundir>/root afresh and the cgroup kiln/<id> with the limits.  0, or a
 * negative kiln status with err naming the step and the path.
 */
int jail_prepare(const struct jail_config *c, char *err, size_t errlen);

/*
 * Child side, after fork() and before execv(c->vmm_path, ...): join the
 * cgroup, the namespaces, pivot into the root, set rlimits, close fds,
 * drop to c->uid/c->gid with no capabilities and no_new_privs.  Makes no
 * allocation (safe after fork() in a threaded program).
 *
 * The new PID namespace needs one more fork: the calling process stays
 * outside as a small proxy that forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/
 * SIGUSR1/SIGUSR2, and exits with the status of the exec'd VMM (exit code,
 * or the same signal), so waitpid()/pidfds on the pid the parent knows
 * keep working; it never returns.  The VMM (PID 1 of the namespace) gets
 * SIGKILL if the proxy dies.  Returns 0 in the VMM child; -1 with errno
 * set and err filled in on failure (the child should then report and
 * _exit).
 */
int jail_enter(const struct jail_config *c, char *err, size_t errlen);

/*
 * Remove the cgroup kiln/<id> (killing anything still in it) and
 * <rundir>/root.  Uses only c->id, c->rundir and c->cgroup_root; safe to
 * call again, or when nothing was created.
 */
void jail_cleanup(const struct jail_config *c);

/*
 * The PT_INTERP of the ELF executable path into interp ("" if it is
 * statically linked).  0, or a negative kiln status with err.
 */
int jail_elf_interp(const char *path, char *interp, size_t len, char *err,
		    size_t errlen);

/*
 * The jail uid (and gid) of sandbox id: JAIL_UID_BASE plus a hash of the
 * id, so that VMMs of different sandboxes rarely share a uid, and a
 * restarted sandbox gets the uid its files were handed to before.
 */
#define JAIL_UID_BASE 100000u
#define JAIL_UID_RANGE 65536u
uid_t jail_uid_for(const char *id);

/*
 * The gid every sandbox's VMM runs with: read-only inputs shared between
 * sandboxes (the base snapshot, kernel, image) are made readable to it
 * (group read), since each jail only sees the files mounted into it.
 */
#define JAIL_SHARED_GID 99999u

/*
 * Undo what a jailed VMM leaves in a sandbox runtime directory dir (whose
 * last component is the sandbox id): the cgroup kiln/<id>, <dir>/root and
 * the VMM's writable directory <dir>/vm with its contents.  Called by
 * rundir_remove(); harmless when dir never had a jail.
 */
void jail_rundir_cleanup(const char *dir);

/*
 * rm -r of path, a directory a jail wrote into: never follows a symlink,
 * never crosses into another file system.  0, or -1.
 */
int jail_tree_remove(const char *path);

#endif
