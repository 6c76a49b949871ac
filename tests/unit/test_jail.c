/* SPDX-License-Identifier: MIT */
/*
 * The VMM jail, for real: needs root (as CI runs) and a cgroup file
 * system.  A forked child enters the jail and checks from inside what it
 * can see and do; the parent checks the cgroup, the exit status the proxy
 * passes on, and that cleanup works after kill -9.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/jail.h"
#include "lib/vmm_proc.h"

#define JAIL_UID 64123
#define JAIL_GID 64124
#define MEM_LIMIT (256ull << 20)
#define CPU_QUOTA 50000
#define PIDS_MAX 64
#define NOFILE 256
#define FSIZE (1ull << 20)
#define BUSYBOX "/bin/busybox" /* a static binary to stand in for kiln-vmm */
#define WAIT_MS 10000

struct fixture {
	char rundir[64];
	char data[128]; /* read-only file, same path inside */
	char kernel[128]; /* read-only file, mounted at /kernel/vmlinux */
	char sockdir[128]; /* writable directory */
	char id[32];
	struct jail_mount mounts[3];
	const char *devices[2];
	int report[2]; /* child -> parent: results */
	int go[2]; /* parent -> child: carry on */
	int keep[2];
	struct jail_config cfg;
};

static void write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static int seq;

	if (geteuid() != 0) {
		fprintf(stderr,
			"test_jail needs root (namespaces, mounts, "
			"cgroups, setuid); run it as root as CI does\n");
		free(f);
		return -1;
	}
	strcpy(f->rundir, "/tmp/kiln-jail-XXXXXX");
	assert_non_null(mkdtemp(f->rundir));
	snprintf(f->data, sizeof(f->data), "%s/data.txt", f->rundir);
	snprintf(f->kernel, sizeof(f->kernel), "%s/vmlinux", f->rundir);
	snprintf(f->sockdir, sizeof(f->sockdir), "%s/sock", f->rundir);
	snprintf(f->id, sizeof(f->id), "test-%d-%d", (int)getpid(), seq++);
	write_file(f->data, "hello", 0666); /* only the mount stops writes */
	write_file(f->kernel, "kernel", 0644);
	assert_int_equal(mkdir(f->sockdir, 0700), 0);
	f->mounts[0] = (struct jail_mount){f->data, NULL, 0};
	f->mounts[1] = (struct jail_mount){f->kernel, "/kernel/vmlinux", 0};
	f->mounts[2] = (struct jail_mount){f->sockdir, NULL, JAIL_MOUNT_RW};
	f->devices[0] = "/dev/null";
	f->devices[1] = "/dev/urandom";
	assert_int_equal(pipe2(f->report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(f->go, O_CLOEXEC), 0);
	f->keep[0] = f->report[1];
	f->keep[1] = f->go[0];
	f->cfg = (struct jail_config){
		.id = f->id,
		.rundir = f->rundir,
		.vmm_path = BUSYBOX,
		.uid = JAIL_UID,
		.gid = JAIL_GID,
		.mounts = f->mounts,
		.nmounts = 3,
		.devices = f->devices,
		.ndevices = 2,
		.new_netns = true,
		.cpu_quota_us = CPU_QUOTA,
		.memory_bytes = MEM_LIMIT,
		.pids_max = PIDS_MAX,
		.nofile = NOFILE,
		.fsize = FSIZE,
		.keep_fds = f->keep,
		.nkeep_fds = 2,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	jail_cleanup(&f->cfg);
	for (int i = 0; i < 2; i++) {
		if (f->report[i] >= 0)
			close(f->report[i]);
		if (f->go[i] >= 0)
			close(f->go[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->rundir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->rundir);
	free(f);
	return 0;
}

static bool cgroup_v2(void)
{
	struct statfs sf;

	assert_int_equal(statfs("/sys/fs/cgroup", &sf), 0);
	return sf.f_type == CGROUP2_SUPER_MAGIC;
}

static void cg_path(char *out, size_t len, const char *ctl, const char *id,
		    const char *file)
{
	if (cgroup_v2())
		snprintf(out, len, "/sys/fs/cgroup/kiln/%s%s%s", id,
			 file ? "/" : "", file ? file : "");
	else
		snprintf(out, len, "/sys/fs/cgroup/%s/kiln/%s%s%s", ctl, id,
			 file ? "/" : "", file ? file : "");
}

static void read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- inside the jail (the PID-1 child) ---- */

static char child_report[4096];
static size_t child_len;

static void check(bool ok, const char *what)
{
	if (!ok)
		child_len += (size_t)snprintf(child_report + child_len,
					      sizeof(child_report) - child_len,
					      "%s (errno %d); ", what, errno);
}

static void child_checks(const struct fixture *f)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct cap[2];
	struct rlimit r;
	char buf[64], path[192], host[16] = "";
	int fd, open_fds = 0;
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

	check(getpid() == 1, "PID 1 in the new namespace");
	check(getuid() == JAIL_UID && geteuid() == JAIL_UID, "uid");
	check(getgid() == JAIL_GID && getegid() == JAIL_GID, "gid");
	check(getgroups(0, NULL) == 0, "no supplementary groups");
	check(syscall(SYS_capget, &hdr, cap) == 0 && !cap[0].effective &&
		      !cap[0].permitted && !cap[0].inheritable &&
		      !cap[1].effective && !cap[1].permitted &&
		      !cap[1].inheritable,
	      "no capabilities");
	check(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0 &&
		      prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0) == 0,
	      "empty bounding set");
	check(nnp == 1, "no_new_privs");
	check(open("/etc/passwd", O_RDONLY) < 0 && errno == ENOENT,
	      "host files invisible");
	check(!exists("/proc/self") && !exists("/sys/kernel") &&
		      !exists("/bin/sh"),
	      "no /proc, /sys, shell");
	fd = open(f->data, O_RDONLY);
	check(fd >= 0 && read(fd, buf, 5) == 5 && !memcmp(buf, "hello", 5),
	      "read-only mount readable");
	if (fd >= 0)
		close(fd);
	check(open(f->data, O_WRONLY) < 0 && errno == EROFS,
	      "read-only mount not writable");
	fd = open("/kernel/vmlinux", O_RDONLY);
	check(fd >= 0 && read(fd, buf, 6) == 6 && !memcmp(buf, "kernel", 6),
	      "mount at another destination");
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/api.sock", f->sockdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	check(fd >= 0, "writable mount writable");
	if (fd >= 0)
		close(fd);
	check(mkdir("/newdir", 0755) < 0, "root not writable");
	fd = open("/dev/null", O_WRONLY);
	check(fd >= 0 && write(fd, "x", 1) == 1, "/dev/null works");
	if (fd >= 0)
		close(fd);
	check(mknod("/dev/mem", S_IFCHR | 0600, makedev(1, 1)) < 0, "no mknod");
	for (int i = 3; i < NOFILE; i++)
		if (fcntl(i, F_GETFD) >= 0 && i != f->report[1] &&
		    i != f->go[0])
			open_fds++;
	check(open_fds == 0, "only 0-2 and the kept fds are open");
	check(fcntl(f->report[1], F_GETFD) >= 0 &&
		      fcntl(f->go[0], F_GETFD) >= 0,
	      "kept fds still open");
	check(getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur == NOFILE &&
		      r.rlim_max == NOFILE,
	      "RLIMIT_NOFILE");
	check(getrlimit(RLIMIT_FSIZE, &r) == 0 && r.rlim_cur == FSIZE,
	      "RLIMIT_FSIZE");
	check(getrlimit(RLIMIT_CORE, &r) == 0 && r.rlim_max == 0,
	      "RLIMIT_CORE");
	check(gethostname(host, sizeof(host)) == 0 && !strcmp(host, "kiln"),
	      "hostname");
	check(kill(-1, 0) < 0, "no other process to signal");
}

static void child_report_send(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n)
		_exit(3);
}

/* Fork a child that enters the jail; in it run fn and exit with its
 * result.  Returns the proxy's pid. */
static pid_t jail_child(struct fixture *f, int (*fn)(struct fixture *))
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512];
		int stray = open("/dev/null", O_RDONLY); /* no CLOEXEC */

		(void)stray;
		/* as vmm_proc_spawn() does; setresuid() clears it, the jail
		 * puts it back */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (jail_enter(&f->cfg, err, sizeof(err))) {
			child_report_send(f->report[1], "ENTER FAILED: ");
			child_report_send(f->report[1], err);
			_exit(1);
		}
		_exit(fn(f));
	}
	close(f->report[1]);
	close(f->go[0]);
	f->report[1] = f->go[0] = -1;
	return pid;
}

/* Read what the child reports up to n bytes or EOF, with a deadline. */
static size_t report_read(struct fixture *f, char *buf, size_t len)
{
	size_t got = 0;

	while (got + 1 < len) {
		struct pollfd p = {.fd = f->report[0], .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) <= 0)
			fail_msg("no report from the jailed child in %d ms",
				 WAIT_MS);
		n = read(f->report[0], buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (buf[got - 1] == '\n')
			break;
	}
	buf[got] = 0;
	return got;
}

static int wait_exit(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int checks_then_wait(struct fixture *f)
{
	char go;

	child_checks(f);
	child_report_send(f->report[1], child_report);
	child_report_send(f->report[1], "\n");
	/* the parent looks at the cgroup meanwhile */
	if (read(f->go[0], &go, 1) != 1)
		_exit(4);
	return 42;
}

static void test_enter_confines(void **state)
{
	struct fixture *f = *state;
	char err[512], buf[4096], path[256], root[128];
	pid_t pid;
	int st;

	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	snprintf(root, sizeof(root), "%s/root", f->rundir);
	snprintf(path, sizeof(path), "%s/dev/null", root);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISCHR(sb.st_mode));
	assert_int_equal(stat(f->sockdir, &sb), 0);
	assert_int_equal(sb.st_uid, JAIL_UID); /* handed to the jail user */

	/* limits written before anyone joins */
	cg_path(path, sizeof(path), "memory", f->id,
		cgroup_v2() ? "memory.max" : "memory.limit_in_bytes");
	read_small(path, buf, sizeof(buf));
	assert_int_equal(strtoull(buf, NULL, 10), MEM_LIMIT);
	cg_path(path, sizeof(path), "cpu", f->id,
		cgroup_v2() ? "cpu.max" : "cpu.cfs_quota_us");
	read_small(path, buf, sizeof(buf));
	assert_int_equal(strtoull(buf, NULL, 10), CPU_QUOTA);
	cg_path(path, sizeof(path), "pids", f->id, "pids.max");
	read_small(path, buf, sizeof(buf));
	assert_int_equal(strtoull(buf, NULL, 10), PIDS_MAX);

	pid = jail_child(f, checks_then_wait);
	report_read(f, buf, sizeof(buf));
	if (strcmp(buf, "\n"))
		fail_msg("inside the jail: %s", buf);
	/* both the proxy and the VMM are in the group */
	cg_path(path, sizeof(path), "pids", f->id, "cgroup.procs");
	read_small(path, buf, sizeof(buf));
	snprintf(path, sizeof(path), "%d\n", (int)pid);
	assert_non_null(strstr(buf, path));
	assert_true(strchr(buf, '\n') != strrchr(buf, '\n')); /* 2 lines */
	assert_int_equal(write(f->go[1], "g", 1), 1);
	st = wait_exit(pid);
	/* the proxy passes the VMM's exit status on */
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 42);

	jail_cleanup(&f->cfg);
	cg_path(path, sizeof(path), "memory", f->id, NULL);
	assert_false(exists(path));
	assert_false(exists(root));
	assert_true(exists(f->data)); /* the mounts' sources are untouched */
	assert_true(exists(f->sockdir));
}

static int exec_busybox(struct fixture *f)
{
	char *const argv[] = {BUSYBOX, "sh", "-c", "exit 7", NULL};
	char *const envp[] = {NULL};

	child_report_send(f->report[1], "\n");
	execve(argv[0], argv, envp);
	return 100 + errno;
}

static void test_exec_and_exit_status(void **state)
{
	struct fixture *f = *state;
	char err[512], buf[512];
	pid_t pid;
	int st;

	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	pid = jail_child(f, exec_busybox);
	report_read(f, buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	st = wait_exit(pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
}

/* Like the VMM: SIGTERM blocked, taken synchronously (PID 1 ignores
 * default-action signals from outside its namespace). */
static int wait_sigterm(struct fixture *f)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	child_report_send(f->report[1], "\n");
	if (sigwait(&set, &sig))
		return 1;
	return sig == SIGTERM ? 15 : 2;
}

static void test_sigterm_forwarded(void **state)
{
	struct fixture *f = *state;
	char err[512], buf[512];
	pid_t pid;
	int st;

	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	pid = jail_child(f, wait_sigterm);
	report_read(f, buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	assert_int_equal(kill(pid, SIGTERM), 0);
	st = wait_exit(pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 15);
}

static int block_forever(struct fixture *f)
{
	char go;

	child_report_send(f->report[1], "\n");
	/* until killed (or the parent's end closes) */
	if (read(f->go[0], &go, 1) < 0)
		return 1;
	return 0;
}

static void test_cleanup_after_kill9(void **state)
{
	struct fixture *f = *state;
	struct jail_config by_id = {.id = f->id, .rundir = f->rundir};
	char err[512], buf[512], path[256], root[128];
	pid_t pid;
	int st;

	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	pid = jail_child(f, block_forever);
	report_read(f, buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	assert_int_equal(kill(pid, SIGKILL), 0);
	st = wait_exit(pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);

	/* from the id and run directory alone */
	jail_cleanup(&by_id);
	snprintf(root, sizeof(root), "%s/root", f->rundir);
	assert_false(exists(root));
	for (int i = 0; i < 3; i++) {
		static const char *const ctl[] = {"cpu", "memory", "pids"};

		cg_path(path, sizeof(path), ctl[i], f->id, NULL);
		if (exists(path))
			fail_msg("%s still there after cleanup", path);
	}
	jail_cleanup(&by_id); /* again: nothing left, nothing fails */
	assert_false(exists(root));
}

static void test_cleanup_kills_leftovers(void **state)
{
	struct fixture *f = *state;
	char err[512], buf[512], path[256];
	pid_t pid;
	int st;

	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	pid = jail_child(f, block_forever);
	report_read(f, buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	/* still running: cleanup ends it */
	jail_cleanup(&f->cfg);
	st = wait_exit(pid);
	assert_true(WIFSIGNALED(st));
	cg_path(path, sizeof(path), "pids", f->id, NULL);
	assert_false(exists(path));
}

static void expect_refused(struct jail_config *c, const char *needle)
{
	char err[512] = "";
	int rc = jail_prepare(c, err, sizeof(err));

	if (rc == 0)
		fail_msg("accepted a config that should fail (%s)", needle);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* Not root: a clear "needs root", not a misleading path complaint. */
static void expect_refused_unprivileged(const struct jail_config *c)
{
	char err[512] = "";
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		_exit(jail_prepare(c, err, sizeof(err)) != 0 &&
				      strstr(err, "needs root")
			      ? 0
			      : 1);
	}
	assert_int_equal(wait_exit(pid), 0);
}

static void test_prepare_refuses_unsafe(void **state)
{
	struct fixture *f = *state;
	struct jail_config c = f->cfg;
	struct jail_mount bad_mount = {f->data, "relative/path", 0};
	char wdir[128], link[128], self[256];
	ssize_t n;

	c.id = "../escape";
	expect_refused(&c, "invalid sandbox id");
	c.id = "a/b";
	expect_refused(&c, "invalid sandbox id");
	c.id = "";
	expect_refused(&c, "invalid sandbox id");
	c = f->cfg;
	c.rundir = "tmp/relative";
	expect_refused(&c, "absolute");
	c.rundir = "/tmp/../etc";
	expect_refused(&c, "absolute");
	c = f->cfg;
	snprintf(wdir, sizeof(wdir), "%s/open", f->rundir);
	assert_int_equal(mkdir(wdir, 0777), 0);
	assert_int_equal(chmod(wdir, 0777), 0);
	c.rundir = wdir;
	expect_refused(&c, "unsafe run directory");
	snprintf(link, sizeof(link), "%s/link", f->rundir);
	assert_int_equal(symlink("/etc", link), 0);
	c.rundir = link;
	expect_refused(&c, "unsafe run directory");
	c = f->cfg;
	c.mounts = &bad_mount;
	c.nmounts = 1;
	expect_refused(&c, "mount paths must be absolute");
	c = f->cfg;
	c.new_netns = true;
	c.netns = "kiln0";
	expect_refused(&c, "exclusive");
	/* this test binary is dynamically linked */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = 0;
	c = f->cfg;
	c.vmm_path = self;
	expect_refused(&c, "dynamically linked");
	c.vmm_path = "/nonexistent/kiln-vmm";
	expect_refused(&c, "/nonexistent/kiln-vmm");
	expect_refused_unprivileged(&f->cfg);
}

/* What rundir_remove() calls: a sandbox directory named after its id. */
static void test_rundir_cleanup(void **state)
{
	struct fixture *f = *state;
	char dir[128], vm[160], sub[192], root[160], path[256], err[512];

	snprintf(dir, sizeof(dir), "%s/%s", f->rundir, f->id);
	assert_int_equal(mkdir(dir, 0700), 0);
	f->cfg.rundir = dir;
	assert_int_equal(jail_prepare(&f->cfg, err, sizeof(err)), 0);
	/* the VMM's writable directory, with what a VMM leaves in it */
	snprintf(vm, sizeof(vm), "%s/vm", dir);
	snprintf(sub, sizeof(sub), "%s/sub", vm);
	assert_int_equal(mkdir(vm, 0700), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/file", sub);
	write_file(path, "x", 0600);
	assert_int_equal(chown(vm, JAIL_UID, JAIL_GID), 0);

	jail_rundir_cleanup(dir);
	snprintf(root, sizeof(root), "%s/root", dir);
	assert_false(exists(root));
	assert_false(exists(vm));
	assert_true(exists(dir)); /* rundir_remove()'s job */
	cg_path(path, sizeof(path), "memory", f->id, NULL);
	assert_false(exists(path));
	/* nothing of a jail there: nothing happens, nothing fails */
	jail_rundir_cleanup(dir);
	jail_rundir_cleanup("/nonexistent/dir");
	jail_rundir_cleanup("relative/x");
	assert_true(exists(dir));
	f->cfg.rundir = f->rundir;
}

static void test_uid_for(void **state)
{
	uid_t a = jail_uid_for("sandbox-a"), b = jail_uid_for("sandbox-b");

	(void)state;
	assert_true(a >= JAIL_UID_BASE && a < JAIL_UID_BASE + JAIL_UID_RANGE);
	assert_true(b >= JAIL_UID_BASE && b < JAIL_UID_BASE + JAIL_UID_RANGE);
	assert_int_not_equal(a, b);
	assert_int_equal(a, jail_uid_for("sandbox-a"));
}

/* A jail step that fails in the child comes back as the spawn's error. */
static void test_spawn_reports_jail_step(void **state)
{
	struct fixture *f = *state;
	char *const argv[] = {BUSYBOX, "true", NULL};
	struct vmm_proc p;
	char err[512];
	int rc;

	/* never prepared: no root to mount into */
	f->cfg.no_cgroup = true;
	f->cfg.keep_fds = NULL;
	f->cfg.nkeep_fds = 0;
	rc = vmm_proc_spawn_jailed(&p, argv, 2, -1, false, &f->cfg, err,
				   sizeof(err));
	assert_int_equal(rc, KILN_ENOTFOUND); /* the root: ENOENT */
	if (!strstr(err, "jail: bind mount jail root"))
		fail_msg("unexpected error: %s", err);
	assert_int_equal(p.pid, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enter_confines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exec_and_exit_status,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_forwarded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_after_kill9, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_kills_leftovers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_refuses_unsafe,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rundir_cleanup, setup,
						teardown),
		cmocka_unit_test(test_uid_for),
		cmocka_unit_test_setup_teardown(test_spawn_reports_jail_step,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
