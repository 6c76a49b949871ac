/* SPDX-License-Identifier: MIT */
/*
 * A sandbox VMM in the jail (lib/jail.h, docs/SECURITY.md): what its root
 * holds and how the runtime directory's paths map into it.
 *
 * The paths in the VMM's argv stay the host paths.  Read-only files
 * (kiln-vmm, kernel, image, snapshot) are mounted at their own paths.  The
 * runtime directory <dir> itself stays root's (the jail's own root lives
 * in it): the VMM gets <dir>/vm, owned by its uid, mounted at <dir>, so
 * the sockets it creates (vsock.sock, api.sock) land in <dir>/vm, and
 * <dir>/vsock.sock and <dir>/api.sock are symlinks there for the host.
 * Files the host reads back (console.log, root.ovl) are mounted
 * individually from <dir>, where the VMM cannot swap them for symlinks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/jail.h"
#include "lib/net.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"

#define JAIL_CPU_PERIOD_US 100000u
#define JAIL_MEM_OVERHEAD_MIB 256u /* VMM heap, threads, page tables */
#define JAIL_PIDS_EXTRA 64u /* threads besides the vCPUs */
#define JAIL_NOTE_FILE "jail"
#define JAIL_STAGING ".jail-" /* <state>/checkpoints/.jail-<id> */

static const char *const lib_dirs[] = {"/lib", "/lib64", "/usr/lib",
				       "/usr/lib64"};

bool sandbox_jail_wanted(const struct kiln_sandbox *sb)
{
	/*
	 * A sandbox's own choice outlives the handle that made it: without
	 * it `kiln create --no-jail X; kiln stop X; kiln start X` would
	 * start X jailed, as root, behind its owner's back.
	 */
	return sb->k->jail && !sb->no_jail && geteuid() == 0;
}

static const struct {
	unsigned int bit;
	const char *name; /* $KILN_JAIL_RELAX's word */
	const char *loud; /* the note's and `kiln inspect`'s words */
} relax_parts[] = {
	{KILN_JAIL_NO_SECCOMP, "seccomp", "SECCOMP DISABLED"},
	{KILN_JAIL_NO_CGROUP, "cgroup", "CGROUP LIMITS DISABLED"},
	{KILN_JAIL_NO_PID_NS, "pid-ns", "PID NAMESPACE DISABLED"},
};
#define NRELAX (sizeof(relax_parts) / sizeof(relax_parts[0]))

const char *kiln_jail_relax_name(unsigned int bit)
{
	for (size_t i = 0; i < NRELAX; i++)
		if (relax_parts[i].bit == bit)
			return relax_parts[i].name;
	return NULL;
}

int sandbox_jail_relax_parse(const char *s, unsigned int *relax, char *err,
			     size_t errlen)
{
	while (s && *s) {
		size_t n = strcspn(s, ","), i;

		for (i = 0; n && i < NRELAX; i++)
			if (strlen(relax_parts[i].name) == n &&
			    !strncmp(s, relax_parts[i].name, n))
				break;
		if (n && i == NRELAX) {
			snprintf(err, errlen,
				 "$KILN_JAIL_RELAX: unknown part '%.*s' (a "
				 "comma-separated list of: seccomp, cgroup, "
				 "pid-ns)",
				 (int)(n > 64 ? 64 : n), s);
			return KILN_EINVAL;
		}
		if (n)
			*relax |= relax_parts[i].bit;
		s += n + (s[n] == ',');
	}
	return 0;
}

unsigned int sandbox_jail_relax(const struct kiln_sandbox *sb)
{
	return (sb->jail_relax | sb->k->jail_relax) & KILN_JAIL_RELAX_ALL;
}

int sandbox_jail_relax_argv(unsigned int relax, struct vmm_argv *a, char *err,
			    size_t errlen)
{
	if (!(relax & KILN_JAIL_NO_SECCOMP))
		return 0;
	if (a->argc >= VMM_ARGV_MAX) {
		snprintf(err, errlen, "kiln-vmm command line too long");
		return KILN_EINVAL;
	}
	a->argv[a->argc] = strdup("--no-seccomp");
	if (!a->argv[a->argc]) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	a->argv[++a->argc] = NULL;
	return 0;
}

void sandbox_jail_relax_config(unsigned int relax, struct jail_config *c)
{
	if (relax & KILN_JAIL_NO_CGROUP)
		c->no_cgroup = true;
	if (relax & KILN_JAIL_NO_PID_NS)
		c->no_pid_ns = true;
}

void sandbox_jail_relax_text(unsigned int relax, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < NRELAX && n < len; i++)
		if (relax & relax_parts[i].bit) {
			int w = snprintf(buf + n, len - n, "; %s",
					 relax_parts[i].loud);

			if (w < 0)
				break;
			n += (size_t)w;
		}
}

int sandbox_jail_argv(struct kiln_sandbox *sb, struct vmm_argv *a, char *err,
		      size_t errlen)
{
	unsigned int relax = sandbox_jail_relax(sb);

	if (relax & KILN_JAIL_NO_SECCOMP)
		handle_log(sb->k, KILN_LOG_WARN,
			   "sandbox %s: kiln-vmm runs WITHOUT its seccomp "
			   "filters (--no-seccomp, $KILN_JAIL_RELAX): every "
			   "syscall is open to a guest that escapes into it",
			   sb->id);
	return sandbox_jail_relax_argv(relax, a, err, errlen);
}

/* A string kept for the jail's lifetime (the mounts point into it). */
static const char *keep(struct sandbox_jail *j, const char *s)
{
	char *d;

	if (!s || j->nstr >= SANDBOX_JAIL_MAX_STR)
		return NULL;
	d = strdup(s);
	if (d)
		j->str[j->nstr++] = d;
	return d;
}

static int add_mount(struct sandbox_jail *j, const char *src, const char *dst,
		     unsigned int flags, char *err, size_t errlen)
{
	const char *s = keep(j, src), *d = dst ? keep(j, dst) : NULL;

	if (!s || (dst && !d) || j->nmounts >= JAIL_MAX_MOUNTS) {
		snprintf(err, errlen, "jail: too many mounts or out of memory");
		return KILN_ENOMEM;
	}
	/* the same destination twice: the first one is enough */
	for (size_t i = 0; i < j->nmounts; i++) {
		const char *od =
			j->mounts[i].dst ? j->mounts[i].dst : j->mounts[i].src;

		if (!strcmp(od, d ? d : s))
			return 0;
	}
	j->mounts[j->nmounts++] =
		(struct jail_mount){.src = s, .dst = d, .flags = flags};
	return 0;
}

/*
 * Let the jail's group read a root-owned input the VMM only reads (a
 * snapshot written 0600): group JAIL_SHARED_GID, group-readable.  Only the
 * jails that mount it can reach it.
 */
static int readable_by_jails(const char *real, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "jail: %s: %s", real, strerror(errno));
		if (fd >= 0)
			close(fd);
		return KILN_ESYS;
	}
	if (!(st.st_mode & S_IROTH) &&
	    !(st.st_gid == JAIL_SHARED_GID && (st.st_mode & S_IRGRP)) &&
	    (fchown(fd, (uid_t)-1, JAIL_SHARED_GID) < 0 ||
	     fchmod(fd, (st.st_mode & 07777 & ~(mode_t)S_IWGRP) | S_IRGRP) <
		     0)) {
		snprintf(err, errlen,
			 "jail: cannot make %s readable to the jail's group "
			 "%u: %s",
			 real, JAIL_SHARED_GID, strerror(errno));
		close(fd);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}

/* A read-only file at its path, and at its real path if that differs
 * (snapshots record the image's real path, argv the cache's symlink). */
static int add_ro(struct sandbox_jail *j, const char *path, char *err,
		  size_t errlen)
{
	char real[PATH_MAX];
	int rc;

	if (!path)
		return 0;
	if (!realpath(path, real)) {
		snprintf(err, errlen, "jail: %s: %s", path, strerror(errno));
		return KILN_ENOTFOUND;
	}
	rc = readable_by_jails(real, err, errlen);
	if (!rc)
		rc = add_mount(j, real, path, 0, err, errlen);
	if (!rc && strcmp(real, path))
		rc = add_mount(j, real, NULL, 0, err, errlen);
	return rc;
}

/* Is path directly in dir?  Then *name is its last component. */
static bool in_dir(const char *path, const char *dir, const char **name)
{
	size_t n = strlen(dir);

	if (!path || strncmp(path, dir, n) || path[n] != '/' ||
	    strchr(path + n + 1, '/'))
		return false;
	*name = path + n + 1;
	return true;
}

/* <dir>/<name> -> vm/<name>, for a socket the VMM creates in <dir>/vm. */
static int socket_link(const char *dir, const char *path, char *err,
		       size_t errlen)
{
	char target[PATH_MAX];
	const char *name;

	if (!path)
		return 0;
	if (!in_dir(path, dir, &name)) {
		snprintf(err, errlen,
			 "jail: socket %s is not in the runtime directory %s",
			 path, dir);
		return KILN_EINVAL;
	}
	snprintf(target, sizeof(target), "vm/%s", name);
	if ((unlink(path) < 0 && errno != ENOENT) ||
	    symlink(target, path) < 0) {
		snprintf(err, errlen, "jail: symlink %s: %s", path,
			 strerror(errno));
		return KILN_ESYS;
	}
	return 0;
}

/*
 * A writable file of the runtime directory, mounted over a placeholder in
 * <dir>/vm (the mount point the VMM sees under its <dir>).
 */
static int add_rw_file(struct sandbox_jail *j, const char *dir, const char *vm,
		       const char *path, char *err, size_t errlen)
{
	char ph[PATH_MAX];
	const char *name;
	int fd;

	if (!path)
		return 0;
	if (!in_dir(path, dir, &name)) {
		snprintf(err, errlen,
			 "jail: %s is not in the runtime directory %s", path,
			 dir);
		return KILN_EINVAL;
	}
	if (snprintf(ph, sizeof(ph), "%s/%s", vm, name) >= (int)sizeof(ph)) {
		snprintf(err, errlen, "jail: path %s is too long", vm);
		return KILN_EINVAL;
	}
	fd = open(ph, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "jail: %s: %s", ph, strerror(errno));
		return KILN_ESYS;
	}
	close(fd);
	return add_mount(j, path, NULL, JAIL_MOUNT_RW, err, errlen);
}

/* The VMM's writable directory <dir>/vm, ours (root's) until chowned. */
static int vm_dir_make(const char *vm, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(vm, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "jail: mkdir %s: %s", vm,
			 strerror(errno));
		return KILN_ESYS;
	}
	if (lstat(vm, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "jail: %s is not a directory", vm);
		return KILN_ESYS;
	}
	return 0;
}

/* A dynamically linked kiln-vmm (SAN builds) needs the system libraries. */
static int add_libs(struct sandbox_jail *j, const char *vmm, char *err,
		    size_t errlen)
{
	char interp[PATH_MAX];
	struct stat st;
	int rc = jail_elf_interp(vmm, interp, sizeof(interp), err, errlen);

	if (rc || !interp[0])
		return rc;
	for (size_t i = 0; i < sizeof(lib_dirs) / sizeof(lib_dirs[0]); i++)
		if (stat(lib_dirs[i], &st) == 0 && S_ISDIR(st.st_mode) &&
		    (rc = add_mount(j, lib_dirs[i], NULL, JAIL_MOUNT_EXEC, err,
				    errlen)))
			return rc;
	return 0;
}

/*
 * Hand the sandbox's TAP (made persistent and root's by net_ns.c) to the
 * jail uid: without CAP_NET_ADMIN the VMM may only attach to a TAP it
 * owns.  In a child, which joins the sandbox's network namespace.
 */
static int tap_own(struct kiln_sandbox *sb, uid_t uid, char *err, size_t errlen)
{
	int nsfd = net_ns_open(sb->id, err, errlen), st, e;
	pid_t pid;

	if (nsfd < 0)
		return nsfd;
	pid = fork();
	if (pid == 0) {
		struct ifreq ifr = {0};
		int fd;

		if (setns(nsfd, CLONE_NEWNET) < 0)
			_exit(errno);
		fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(errno);
		memcpy(ifr.ifr_name, NET_TAP_NAME, sizeof(NET_TAP_NAME));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
		    ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
		    ioctl(fd, TUNSETGROUP, (unsigned long)JAIL_SHARED_GID) < 0)
			_exit(errno);
		_exit(0);
	}
	e = errno;
	close(nsfd);
	if (pid < 0) {
		snprintf(err, errlen, "jail: fork: %s", strerror(e));
		return KILN_ESYS;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "jail: waitpid: %s",
				 strerror(errno));
			return KILN_ESYS;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		snprintf(err, errlen,
			 "jail: cannot hand TAP %s of sandbox %s to uid %u: %s",
			 NET_TAP_NAME, sb->id, (unsigned int)uid,
			 WIFEXITED(st) ? strerror(WEXITSTATUS(st))
				       : "the helper was killed");
		return KILN_ESYS;
	}
	return 0;
}

static void note_write(const struct kiln_sandbox *sb, const char *text)
{
	char path[PATH_MAX];
	int fd;

	if (!sb->dir || snprintf(path, sizeof(path), "%s/" JAIL_NOTE_FILE,
				 sb->dir) >= (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		handle_log(sb->k, KILN_LOG_DEBUG, "%s: %s", path,
			   strerror(errno));
	close(fd);
}

void sandbox_jail_note_off(struct kiln_sandbox *sb, const char *why)
{
	char text[384], relax[128];

	if (sb->no_jail)
		why = "disabled for this sandbox when it was created "
		      "(--no-jail or $KILN_JAIL=0)";
	/* without the jail, the cgroup part means nothing */
	sandbox_jail_relax_text(sandbox_jail_relax(sb) & KILN_JAIL_NO_SECCOMP,
				relax, sizeof(relax));
	snprintf(text, sizeof(text), "JAIL DISABLED: %s%s\n", why, relax);
	note_write(sb, text);
	handle_log(sb->k, KILN_LOG_WARN,
		   "sandbox %s: kiln-vmm runs WITHOUT the jail (%s): a guest "
		   "that escapes into the VMM has the rights of this process",
		   sb->id, why);
}

static int staging_path(struct kiln *k, const char *id, char **out)
{
	if (asprintf(out, "%s/checkpoints/" JAIL_STAGING "%s", k->state_dir,
		     id) < 0) {
		*out = NULL;
		return KILN_ENOMEM;
	}
	return 0;
}

/* mkdir -p of <state>/checkpoints/.jail-<id>, root's 0700 on the way. */
static int staging_make(const char *path, char *err, size_t errlen)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p)) {
		snprintf(err, errlen, "jail: path %s is too long", path);
		return KILN_EINVAL;
	}
	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c && c != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "jail: mkdir %s: %s", p,
				 strerror(errno));
			return KILN_ESYS;
		}
		*s = c;
		if (!c)
			break;
	}
	return vm_dir_make(path, err, errlen);
}

int sandbox_jail_staging(struct kiln *k, const char *id, const char *rundir,
			 char **out)
{
	char vm[PATH_MAX];
	struct stat st;

	*out = NULL;
	if (!rundir || !id ||
	    snprintf(vm, sizeof(vm), "%s/vm", rundir) >= (int)sizeof(vm) ||
	    lstat(vm, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0; /* not jailed */
	if (staging_path(k, id, out))
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	if (lstat(*out, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(*out);
		*out = NULL;
		return handle_fail(k, KILN_ESTATE,
				   "sandbox %s runs jailed but has no "
				   "snapshot directory for its VMM; stop and "
				   "start it",
				   id);
	}
	return 0;
}

void sandbox_jail_staging_remove(struct kiln *k, const char *id)
{
	char *path = NULL;

	if (staging_path(k, id, &path))
		return;
	/* the VMM is gone: whatever it left there goes (no symlink follow) */
	jail_tree_remove(path);
	free(path);
}

int sandbox_jail_collect(const char *staging, const char *name, const char *dst,
			 char *err, size_t errlen)
{
	char src[PATH_MAX];
	struct stat st;
	int fd;

	if (snprintf(src, sizeof(src), "%s/%s", staging, name) >=
	    (int)sizeof(src)) {
		snprintf(err, errlen, "path %s is too long", staging);
		return KILN_EINVAL;
	}
	if (rename(src, dst) < 0) {
		snprintf(err, errlen, "cannot move %s to %s: %s", src, dst,
			 strerror(errno));
		return KILN_ESYS;
	}
	/* what the VMM made there is not trusted: a file, ours, alone */
	fd = open(dst, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0) {
		snprintf(err, errlen,
			 "the jailed VMM's %s is not a plain file of its own "
			 "(symlink, hard link or device?): refused",
			 src);
		if (fd >= 0)
			close(fd);
		unlink(dst);
		return KILN_EVMM;
	}
	close(fd);
	return 0;
}

int sandbox_jail_setup(struct kiln_sandbox *sb, const struct vmm_launch *l,
		       struct sandbox_jail *j, char *err, size_t errlen)
{
	struct jail_config *c = &j->cfg;
	char vm[PATH_MAX], text[512], relax_text[128];
	unsigned int relax;
	unsigned int cpus = l->cpus ? l->cpus : 1;
	uid_t uid = jail_uid_for(sb->id);
	struct timespec t0, t1;
	int rc;

	/* timed for bench/jail.sh: what the jail adds before the VMM runs */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(j, 0, sizeof(*j));
	if (!sb->dir ||
	    snprintf(vm, sizeof(vm), "%s/vm", sb->dir) >= (int)sizeof(vm)) {
		snprintf(err, errlen, "jail: no runtime directory");
		return KILN_EINVAL;
	}
	rc = vm_dir_make(vm, err, errlen);
	/* first: the VMM's <dir>; the file mounts below go on top of it */
	if (!rc)
		rc = add_mount(j, vm, sb->dir, JAIL_MOUNT_RW, err, errlen);
	if (!rc)
		rc = add_rw_file(j, sb->dir, vm, l->console, err, errlen);
	if (!rc && l->overlay_override)
		rc = add_rw_file(j, sb->dir, vm, l->overlay_override, err,
				 errlen);
	if (!rc && !l->restore_state)
		rc = add_ro(j, l->kernel, err, errlen);
	if (!rc)
		rc = add_ro(j, l->image, err, errlen);
	if (!rc)
		rc = add_ro(j, l->restore_state, err, errlen);
	if (!rc)
		rc = add_ro(j, l->restore_mem, err, errlen);
	if (!rc)
		rc = add_libs(j, l->vmm_path, err, errlen);
	/* checkpoints and forks: where it writes snapshots */
	if (!rc && sb->persistent) {
		char *stage = NULL;

		rc = staging_path(sb->k, sb->id, &stage);
		if (!rc)
			rc = staging_make(stage, err, errlen);
		if (!rc)
			rc = add_mount(j, stage, NULL, JAIL_MOUNT_RW, err,
				       errlen);
		free(stage);
	}
	if (!rc)
		rc = socket_link(sb->dir, l->vsock_uds, err, errlen);
	if (!rc)
		rc = socket_link(sb->dir, l->api_sock, err, errlen);
	if (!rc && sb->netns)
		rc = tap_own(sb, uid, err, errlen);
	if (rc) {
		sandbox_jail_free(j);
		return rc;
	}
	j->devices[j->ndevices++] = "/dev/kvm";
	if (sb->netns)
		j->devices[j->ndevices++] = "/dev/net/tun";
	j->devices[j->ndevices++] = "/dev/null";
	j->devices[j->ndevices++] = "/dev/zero";
	j->devices[j->ndevices++] = "/dev/urandom";

	c->id = sb->id;
	c->rundir = sb->dir;
	c->vmm_path = l->vmm_path;
	c->uid = uid;
	c->gid = JAIL_SHARED_GID;
	c->mounts = j->mounts;
	c->nmounts = j->nmounts;
	c->devices = j->devices;
	c->ndevices = j->ndevices;
	/* the netns is joined by vmm_proc (fd); else no network at all */
	c->new_netns = !sb->netns;
	c->cpu_quota_us = (uint64_t)cpus * JAIL_CPU_PERIOD_US;
	c->cpu_period_us = JAIL_CPU_PERIOD_US;
	/* a restore maps the snapshot's memory file: its page cache is
	 * charged here too, besides the guest's private copies */
	c->memory_bytes = (2 * (uint64_t)l->memory_mib + JAIL_MEM_OVERHEAD_MIB)
			  << 20;
	c->pids_max = cpus + JAIL_PIDS_EXTRA;
	relax = sandbox_jail_relax(sb);
	sandbox_jail_relax_config(relax, c);
	if (relax & KILN_JAIL_NO_CGROUP)
		handle_log(sb->k, KILN_LOG_WARN,
			   "sandbox %s: kiln-vmm's jail has NO cgroup "
			   "(--no-cgroup-limits, $KILN_JAIL_RELAX): no CPU, "
			   "memory or process limits",
			   sb->id);

	rc = jail_prepare(c, err, errlen);
	if (rc) {
		sandbox_jail_free(j);
		return rc;
	}
	sandbox_jail_relax_text(relax, relax_text, sizeof(relax_text));
	if (relax & KILN_JAIL_NO_CGROUP)
		snprintf(text, sizeof(text),
			 "jailed: uid %u gid %u, no cgroup, root %s/root%s\n",
			 (unsigned int)uid, JAIL_SHARED_GID, sb->dir,
			 relax_text);
	else
		snprintf(text, sizeof(text),
			 "jailed: uid %u gid %u, cgroup kiln/%s (cpu %u00 ms "
			 "per 100 ms, memory %u MiB), root %s/root%s\n",
			 (unsigned int)uid, JAIL_SHARED_GID, sb->id, cpus,
			 2 * l->memory_mib + JAIL_MEM_OVERHEAD_MIB, sb->dir,
			 relax_text);
	note_write(sb, text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	handle_log(sb->k, KILN_LOG_DEBUG,
		   "sandbox %s: jail setup %.3f ms (%zu mounts, cgroup; "
		   "entering it happens in the VMM's child before exec)",
		   sb->id,
		   (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		   j->nmounts);
	return 0;
}

void sandbox_jail_free(struct sandbox_jail *j)
{
	for (size_t i = 0; i < j->nstr; i++)
		free(j->str[i]);
	j->nstr = 0;
	j->nmounts = 0;
}

int kiln_sandbox_jail_status(const struct kiln_sandbox_info *info, char *buf,
			     size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (!len)
		return KILN_EINVAL;
	buf[0] = 0;
	if (!info || !info->runtime_dir ||
	    snprintf(path, sizeof(path), "%s/" JAIL_NOTE_FILE,
		     info->runtime_dir) >= (int)sizeof(path))
		return KILN_ENOTFOUND;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return KILN_ENOTFOUND;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return KILN_ENOTFOUND;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return KILN_OK;
}
