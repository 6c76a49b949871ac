/* SPDX-License-Identifier: MIT */
/*
 * The jail's cgroup: kiln/<id> under cgroup2 when /sys/fs/cgroup is the
 * unified hierarchy, else under each of the v1 cpu, memory and pids
 * hierarchies.  Limits are written by the parent before the child joins,
 * so the VMM never runs unlimited.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/jail_int.h"

#define CGROUP_REMOVE_MS 5000
#define CGROUP_KILL_ROUNDS 100

static const char *const v1_controllers[JAIL_CGROUP_MAX] = {"cpu", "memory",
							    "pids"};

const char *jail_cgroup_root(const struct jail_config *c)
{
	return c->cgroup_root ? c->cgroup_root : "/sys/fs/cgroup";
}

int jail_cgroups_find(const struct jail_config *c, struct jail_cgroups *g)
{
	const char *root = jail_cgroup_root(c);
	char base[PATH_MAX];
	struct statfs sf;

	g->n = 0;
	if (statfs(root, &sf) < 0)
		return -1;
	g->v2 = sf.f_type == CGROUP2_SUPER_MAGIC;
	if (g->v2) {
		g->controller[0] = NULL;
		if (jail_path_cat(g->dir[0], PATH_MAX, root, "/kiln/", c->id))
			return -1;
		g->n = 1;
		return 0;
	}
	for (int i = 0; i < JAIL_CGROUP_MAX; i++) {
		if (jail_path_cat(base, sizeof(base), root, "/",
				  v1_controllers[i]) ||
		    jail_path_cat(g->dir[i], PATH_MAX, base, "/kiln/", c->id))
			return -1;
		g->controller[i] = v1_controllers[i];
	}
	g->n = JAIL_CGROUP_MAX;
	return 0;
}

/* Write s to dir/file. */
static int cg_write(const char *dir, const char *file, const char *s, char *err,
		    size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(s);
	ssize_t n;
	int fd;

	if (jail_path_cat(path, sizeof(path), dir, "/", file)) {
		jail_err(err, errlen, "cgroup", dir, ENAMETOOLONG);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		jail_err(err, errlen, "cgroup: open", path, errno);
		return -1;
	}
	n = write(fd, s, len);
	if (n != (ssize_t)len) {
		jail_err(err, errlen, "cgroup: write", path,
			 n < 0 ? errno : EIO);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int cg_mkdir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		jail_err(err, errlen, "cgroup: mkdir", path, errno);
		return -1;
	}
	return 0;
}

/* v2: make cpu/memory/pids available to kiln/<id>. */
static int cg2_enable(const char *root, const struct jail_config *c, char *err,
		      size_t errlen)
{
	static const char *const ctl[] = {"+cpu", "+memory", "+pids"};
	const bool need[] = {c->cpu_quota_us != 0, c->memory_bytes != 0,
			     c->pids_max != 0};
	char kiln[PATH_MAX];

	if (jail_path_cat(kiln, sizeof(kiln), root, "/kiln", NULL)) {
		jail_err(err, errlen, "cgroup", root, ENAMETOOLONG);
		return -1;
	}
	if (cg_mkdir(kiln, err, errlen))
		return -1;
	for (int i = 0; i < 3; i++) {
		if (!need[i])
			continue;
		if (cg_write(root, "cgroup.subtree_control", ctl[i], err,
			     errlen) ||
		    cg_write(kiln, "cgroup.subtree_control", ctl[i], err,
			     errlen))
			return -1;
	}
	return 0;
}

int jail_cgroups_create(const struct jail_config *c, char *err, size_t errlen)
{
	uint64_t period = c->cpu_period_us ? c->cpu_period_us : 100000;
	struct jail_cgroups g;
	char buf[64], parent[PATH_MAX];

	if (jail_cgroups_find(c, &g)) {
		jail_err(err, errlen, "cgroup: no cgroup file system at",
			 jail_cgroup_root(c), errno);
		return KILN_ESYS;
	}
	/* a group left by a crash: empty it first */
	jail_cgroups_remove(c);
	if (g.v2 && cg2_enable(jail_cgroup_root(c), c, err, errlen))
		return KILN_ESYS;
	for (int i = 0; i < g.n; i++) {
		const char *dir = g.dir[i];
		const char *ctl = g.controller[i];

		if (!g.v2) {
			/* the v1 hierarchy must be mounted to be used */
			if (jail_path_cat(parent, sizeof(parent),
					  jail_cgroup_root(c), "/", ctl) ||
			    access(parent, F_OK) < 0) {
				jail_err(err, errlen,
					 "cgroup: v1 hierarchy not mounted",
					 parent, errno);
				return KILN_ESYS;
			}
			if (jail_path_cat(parent, sizeof(parent), parent,
					  "/kiln", NULL) ||
			    cg_mkdir(parent, err, errlen))
				return KILN_ESYS;
		}
		if (cg_mkdir(dir, err, errlen))
			return KILN_ESYS;
		if (c->cpu_quota_us && (g.v2 || !strcmp(ctl, "cpu"))) {
			if (g.v2) {
				snprintf(buf, sizeof(buf),
					 "%" PRIu64 " %" PRIu64,
					 c->cpu_quota_us, period);
				if (cg_write(dir, "cpu.max", buf, err, errlen))
					return KILN_ESYS;
			} else {
				snprintf(buf, sizeof(buf), "%" PRIu64, period);
				if (cg_write(dir, "cpu.cfs_period_us", buf, err,
					     errlen))
					return KILN_ESYS;
				snprintf(buf, sizeof(buf), "%" PRIu64,
					 c->cpu_quota_us);
				if (cg_write(dir, "cpu.cfs_quota_us", buf, err,
					     errlen))
					return KILN_ESYS;
			}
		}
		if (c->memory_bytes && (g.v2 || !strcmp(ctl, "memory"))) {
			snprintf(buf, sizeof(buf), "%" PRIu64, c->memory_bytes);
			if (cg_write(dir,
				     g.v2 ? "memory.max"
					  : "memory.limit_in_bytes",
				     buf, err, errlen))
				return KILN_ESYS;
			/* no swap on top, where the kernel accounts it */
			if (g.v2)
				cg_write(dir, "memory.swap.max", "0", err,
					 errlen);
			else
				cg_write(dir, "memory.memsw.limit_in_bytes",
					 buf, err, errlen);
		}
		if (c->pids_max && (g.v2 || !strcmp(ctl, "pids"))) {
			snprintf(buf, sizeof(buf), "%" PRIu64, c->pids_max);
			if (cg_write(dir, "pids.max", buf, err, errlen))
				return KILN_ESYS;
		}
	}
	err[0] = 0;
	return 0;
}

int jail_cgroups_join(const struct jail_cgroups *g, char *err, size_t errlen)
{
	/* "0" is the writing process itself, in v1 and v2 */
	for (int i = 0; i < g->n; i++)
		if (cg_write(g->dir[i], "cgroup.procs", "0", err, errlen))
			return -1;
	return 0;
}

/* SIGKILL every pid listed in dir/cgroup.procs; the number seen. */
static int cg_kill_all(const char *dir)
{
	char path[PATH_MAX], buf[4096];
	int fd, seen = 0;
	ssize_t n;

	if (jail_path_cat(path, sizeof(path), dir, "/cgroup.procs", NULL))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (char *p = buf; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0) {
			kill((pid_t)pid, SIGKILL);
			seen++;
		}
		p = end;
		while (*p == '\n')
			p++;
	}
	return seen;
}

static void sleep_ms(int ms)
{
	/* a pause between attempts, not synchronisation: bounded by rounds */
	poll(NULL, 0, ms);
}

void jail_cgroups_remove(const struct jail_config *c)
{
	struct jail_cgroups g;
	char kill_path[PATH_MAX];

	if (jail_cgroups_find(c, &g))
		return;
	for (int i = 0; i < g.n; i++) {
		int rounds = CGROUP_KILL_ROUNDS;

		if (access(g.dir[i], F_OK) < 0)
			continue;
		/* cgroup.kill (v2, Linux 5.14) kills atomically */
		if (g.v2 && !jail_path_cat(kill_path, sizeof(kill_path),
					   g.dir[i], "/cgroup.kill", NULL)) {
			int fd = open(kill_path, O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				if (write(fd, "1", 1) < 0) {
					/* fall back to one by one below */
				}
				close(fd);
			}
		}
		/* rmdir fails with EBUSY until the last task has exited */
		while (rmdir(g.dir[i]) < 0 && errno == EBUSY && rounds-- > 0) {
			cg_kill_all(g.dir[i]);
			sleep_ms(CGROUP_REMOVE_MS / CGROUP_KILL_ROUNDS);
		}
	}
}
