/* SPDX-License-Identifier: MIT */
/*
 * Parent side of the jail: validation, the root directory, cleanup.  The
 * root holds only empty mount points, directories and device nodes; the
 * files themselves are bind-mounted by jail_enter() inside the jail's own
 * mount namespace.  So removing the root never reaches a host file through
 * a mount, and a VMM killed with SIGKILL leaves no mount behind.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/jail_int.h"

#define RM_MAX_DEPTH 32

static const char *const default_devices[] = {
	"/dev/kvm", "/dev/net/tun", "/dev/null", "/dev/urandom", "/dev/zero",
};

int jail_path_cat(char *out, size_t len, const char *a, const char *b,
		  const char *c)
{
	const char *parts[3] = {a, b, c};
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; p && *p; p++) {
			if (n + 1 >= len) {
				errno = ENAMETOOLONG;
				return -1;
			}
			out[n++] = *p;
		}
	}
	out[n] = 0;
	return 0;
}

/* Append s to buf (size len, used *n), truncating. */
static void err_append(char *buf, size_t len, size_t *n, const char *s)
{
	while (s && *s && *n + 1 < len)
		buf[(*n)++] = *s++;
	buf[*n] = 0;
}

void jail_err(char *err, size_t errlen, const char *step, const char *path,
	      int e)
{
	size_t n = 0;

	if (!err || !errlen)
		return;
	err[0] = 0;
	err_append(err, errlen, &n, "jail: ");
	err_append(err, errlen, &n, step);
	if (path) {
		err_append(err, errlen, &n, ": ");
		err_append(err, errlen, &n, path);
	}
	if (e) {
		/* strerrordesc_np: untranslated, no allocation */
		const char *d = strerrordesc_np(e);

		err_append(err, errlen, &n, ": ");
		err_append(err, errlen, &n, d ? d : "unknown error");
	}
}

int jail_root_path(const struct jail_config *c, char *out, size_t len)
{
	return jail_path_cat(out, len, c->rundir, "/root", NULL);
}

static bool id_valid(const char *id)
{
	size_t n = 0;

	if (!id || !*id || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (const char *p = id; *p; p++, n++) {
		bool ok = (*p >= 'a' && *p <= 'z') ||
			  (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
			  *p == '.';

		if (!ok || n >= 64)
			return false;
	}
	return true;
}

/* Absolute, no "." or ".." component, no "//", not just "/". */
static bool path_clean(const char *p)
{
	if (!p || p[0] != '/' || !p[1] || strlen(p) >= PATH_MAX / 2)
		return false;
	for (const char *s = p; *s;) {
		const char *e;
		size_t n;

		s++; /* past '/' */
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
	}
	return true;
}

static int bad(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "jail: %s: %s", what, path ? path : "(none)");
	return KILN_EINVAL;
}

/*
 * Every directory on the way to rundir must be root-owned and not
 * writable by others (sticky /tmp excepted for the parents, never for
 * rundir itself), or someone could swap a component for a symlink and
 * make us create files elsewhere.
 */
static int rundir_check(const char *rundir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	size_t n = strlen(rundir);

	memcpy(path, rundir, n + 1);
	if (lstat(path, &st) < 0) {
		jail_err(err, errlen, "run directory", path, errno);
		return KILN_ENOTFOUND;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return bad(err, errlen,
			   "unsafe run directory (must be a directory, not a "
			   "symlink, owned by root, not group/other writable)",
			   rundir);
	while (n > 1) {
		while (n > 1 && path[n - 1] != '/')
			n--;
		path[n > 1 ? n - 1 : 1] = 0;
		n = strlen(path);
		if (lstat(path, &st) < 0) {
			jail_err(err, errlen, "run directory parent", path,
				 errno);
			return KILN_ESYS;
		}
		if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)))
			return bad(err, errlen,
				   "unsafe parent of the run directory", path);
	}
	return 0;
}

int jail_elf_interp(const char *path, char *interp, size_t len, char *err,
		    size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	interp[0] = 0;
	if (fd < 0) {
		jail_err(err, errlen, "VMM binary", path, errno);
		return KILN_ENOTFOUND;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256) {
		close(fd);
		return bad(err, errlen, "VMM binary is not a 64-bit ELF", path);
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP && ph.p_filesz > 1 &&
		    ph.p_filesz < len &&
		    pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) ==
			    (ssize_t)ph.p_filesz) {
			interp[ph.p_filesz - 1] = 0;
			break;
		}
	}
	close(fd);
	return 0;
}

static const char *mount_dst(const struct jail_mount *m)
{
	return m->dst ? m->dst : m->src;
}

/* Is path inside one of the exec mounts' destinations? */
static bool exec_mount_covers(const struct jail_config *c, const char *path)
{
	for (size_t i = 0; i < c->nmounts; i++) {
		const char *d = mount_dst(&c->mounts[i]);
		size_t n = strlen(d);

		if ((c->mounts[i].flags & JAIL_MOUNT_EXEC) &&
		    !strncmp(path, d, n) && (path[n] == '/' || !path[n]))
			return true;
	}
	return false;
}

static int config_check(const struct jail_config *c, char *err, size_t errlen)
{
	char interp[PATH_MAX];
	struct stat st;
	int rc;

	if (geteuid() != 0) {
		snprintf(err, errlen,
			 "jail: needs root (namespaces, bind mounts, cgroups, "
			 "setuid): run as root or disable the jail");
		return KILN_EINVAL;
	}
	if (!id_valid(c->id))
		return bad(err, errlen,
			   "invalid sandbox id (1-64 of A-Z a-z 0-9 _ . -)",
			   c->id);
	if (!path_clean(c->rundir))
		return bad(err, errlen,
			   "run directory must be an absolute path without "
			   "'.', '..' or '//'",
			   c->rundir);
	if (!path_clean(c->vmm_path))
		return bad(err, errlen, "VMM path must be absolute and clean",
			   c->vmm_path);
	if (c->nmounts > JAIL_MAX_MOUNTS || c->nkeep_fds > JAIL_MAX_KEEP_FDS)
		return bad(err, errlen, "too many mounts or kept fds", NULL);
	if (c->netns && c->new_netns)
		return bad(err, errlen, "netns and new_netns are exclusive",
			   c->netns);
	if (c->netns && c->netns[0] != '/' &&
	    (!id_valid(c->netns) || strlen(c->netns) > 64))
		return bad(err, errlen, "invalid network namespace name",
			   c->netns);
	for (size_t i = 0; i < c->nmounts; i++) {
		const struct jail_mount *m = &c->mounts[i];

		if (!path_clean(m->src) || !path_clean(mount_dst(m)))
			return bad(err, errlen,
				   "mount paths must be absolute and clean",
				   m->src);
		if (stat(m->src, &st) < 0) {
			jail_err(err, errlen, "mount source", m->src, errno);
			return KILN_ENOTFOUND;
		}
	}
	if (stat(c->vmm_path, &st) < 0) {
		jail_err(err, errlen, "VMM binary", c->vmm_path, errno);
		return KILN_ENOTFOUND;
	}
	if (!S_ISREG(st.st_mode))
		return bad(err, errlen, "VMM binary is not a regular file",
			   c->vmm_path);
	rc = jail_elf_interp(c->vmm_path, interp, sizeof(interp), err, errlen);
	if (rc)
		return rc;
	if (interp[0] && !exec_mount_covers(c, interp)) {
		snprintf(err, errlen,
			 "jail: %s is dynamically linked (interpreter %s), but "
			 "no JAIL_MOUNT_EXEC mount provides its libraries: "
			 "link it with -static, or mount the library "
			 "directories",
			 c->vmm_path, interp);
		return KILN_EINVAL;
	}
	return rundir_check(c->rundir, err, errlen);
}

/* mkdir -p of root + rel's directories (rel absolute; last part too if
 * dir). */
static int mkdirs(const char *root, const char *rel, bool last_too, char *err,
		  size_t errlen)
{
	char path[PATH_MAX];
	size_t rootlen = strlen(root);

	if (jail_path_cat(path, sizeof(path), root, rel, NULL)) {
		jail_err(err, errlen, "path", rel, ENAMETOOLONG);
		return KILN_EINVAL;
	}
	for (size_t i = rootlen + 1; path[i - 1]; i++) {
		if (path[i] != '/' && (path[i] || !last_too))
			continue;
		char save = path[i];

		path[i] = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			jail_err(err, errlen, "mkdir", path, errno);
			return KILN_ESYS;
		}
		path[i] = save;
		if (!save)
			break;
	}
	return 0;
}

/* An empty file or directory in the root for a bind mount to cover. */
static int mount_point(const char *root, const char *src, const char *dst,
		       char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	if (stat(src, &st) < 0) {
		jail_err(err, errlen, "mount source", src, errno);
		return KILN_ENOTFOUND;
	}
	rc = mkdirs(root, dst, S_ISDIR(st.st_mode), err, errlen);
	if (rc || S_ISDIR(st.st_mode))
		return rc;
	jail_path_cat(path, sizeof(path), root, dst, NULL);
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0) {
		jail_err(err, errlen, "create mount point", path, errno);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}

static int make_device(const struct jail_config *c, const char *root,
		       const char *dev, char *err, size_t errlen)
{
	bool private = !strcmp(dev, "/dev/kvm") || !strcmp(dev, "/dev/net/tun");
	char path[PATH_MAX];
	struct stat st;
	int rc;

	if (!path_clean(dev) || strncmp(dev, "/dev/", 5))
		return bad(err, errlen, "device must be under /dev", dev);
	if (stat(dev, &st) < 0) {
		jail_err(err, errlen, "device", dev, errno);
		return errno == ENOENT && !strcmp(dev, "/dev/kvm")
			       ? KILN_EKVM
			       : KILN_ENOTFOUND;
	}
	if (!S_ISCHR(st.st_mode))
		return bad(err, errlen, "not a character device", dev);
	rc = mkdirs(root, dev, false, err, errlen);
	if (rc)
		return rc;
	jail_path_cat(path, sizeof(path), root, dev, NULL);
	/* our own node, our own permissions: the host's group is not ours */
	if (mknod(path, S_IFCHR | (private ? 0600 : 0666), st.st_rdev) < 0 ||
	    chmod(path, private ? 0600 : 0666) < 0) {
		jail_err(err, errlen, "mknod", path, errno);
		return KILN_ESYS;
	}
	if (private && chown(path, c->uid ? c->uid : JAIL_DEFAULT_UID,
			     c->gid ? c->gid : JAIL_DEFAULT_GID) < 0) {
		jail_err(err, errlen, "chown", path, errno);
		return KILN_ESYS;
	}
	return 0;
}

/* Hand a writable mount's source to the jail user (no symlink follow). */
static int own_rw_source(const struct jail_config *c, const char *src,
			 char *err, size_t errlen)
{
	int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		jail_err(err, errlen, "writable mount source", src, errno);
		return KILN_ESYS;
	}
	if (fchown(fd, c->uid ? c->uid : JAIL_DEFAULT_UID,
		   c->gid ? c->gid : JAIL_DEFAULT_GID) < 0) {
		jail_err(err, errlen, "chown", src, errno);
		close(fd);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}

/* rm -r of the directory open at dfd, not crossing into other devices. */
static int rm_tree_at(int dfd, dev_t dev, int depth)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > RM_MAX_DEPTH)
		return -1;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			/* a mount: never descend (only directories: overlayfs
			 * reports the lower file system's st_dev for files,
			 * and unlinking a file never crosses a mount) */
			if (st.st_dev != dev) {
				rc = -1;
				continue;
			}
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub < 0 || rm_tree_at(sub, dev, depth + 1) ||
			    unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
				rc = -1;
		} else if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

static int root_remove(const struct jail_config *c)
{
	char root[PATH_MAX];
	struct stat st;
	int fd;

	if (!id_valid(c->id) || !path_clean(c->rundir) ||
	    jail_root_path(c, root, sizeof(root)))
		return -1;
	if (lstat(root, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || rm_tree_at(fd, st.st_dev, 0))
		return -1;
	return rmdir(root);
}

int jail_prepare(const struct jail_config *c, char *err, size_t errlen)
{
	char root[PATH_MAX];
	size_t ndev;
	const char *const *devs;
	int rc;

	err[0] = 0;
	rc = config_check(c, err, errlen);
	if (rc)
		return rc;
	if (jail_root_path(c, root, sizeof(root)))
		return bad(err, errlen, "run directory path too long",
			   c->rundir);
	/* a root left by a crash is rebuilt from nothing */
	if (root_remove(c)) {
		jail_err(err, errlen, "cannot remove the old jail root", root,
			 errno);
		return KILN_ESYS;
	}
	if (mkdir(root, 0755) < 0) {
		jail_err(err, errlen, "mkdir", root, errno);
		return KILN_ESYS;
	}
	rc = mount_point(root, c->vmm_path, c->vmm_path, err, errlen);
	for (size_t i = 0; !rc && i < c->nmounts; i++) {
		const struct jail_mount *m = &c->mounts[i];

		rc = mount_point(root, m->src, mount_dst(m), err, errlen);
		if (!rc && (m->flags & JAIL_MOUNT_RW))
			rc = own_rw_source(c, m->src, err, errlen);
	}
	devs = c->devices ? c->devices : default_devices;
	ndev = c->devices
		       ? c->ndevices
		       : sizeof(default_devices) / sizeof(default_devices[0]);
	for (size_t i = 0; !rc && i < ndev; i++)
		rc = make_device(c, root, devs[i], err, errlen);
	if (!rc && !c->no_cgroup)
		rc = jail_cgroups_create(c, err, errlen);
	if (rc)
		jail_cleanup(c);
	return rc;
}

void jail_cleanup(const struct jail_config *c)
{
	if (!id_valid(c->id))
		return;
	jail_cgroups_remove(c);
	root_remove(c);
}

uid_t jail_uid_for(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = id; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return (uid_t)(JAIL_UID_BASE + h % JAIL_UID_RANGE);
}

int jail_tree_remove(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || rm_tree_at(fd, st.st_dev, 0))
		return -1;
	return rmdir(path);
}

void jail_rundir_cleanup(const char *dir)
{
	struct jail_config c = {0};
	char vm[PATH_MAX], root[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	struct stat vst, rst;
	bool has_vm, has_root;
	int fd;

	if (!slash || !path_clean(dir) || !id_valid(slash + 1))
		return;
	c.id = slash + 1;
	c.rundir = dir;
	if (jail_path_cat(vm, sizeof(vm), dir, "/vm", NULL) ||
	    jail_root_path(&c, root, sizeof(root)))
		return;
	has_vm = lstat(vm, &vst) == 0 && S_ISDIR(vst.st_mode);
	has_root = lstat(root, &rst) == 0;
	/* only a jail made these: no cgroup scan for unjailed sandboxes */
	if (!has_vm && !has_root)
		return;
	jail_cleanup(&c);
	if (!has_vm)
		return;
	fd = open(vm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !rm_tree_at(fd, vst.st_dev, 0))
		rmdir(vm);
}
