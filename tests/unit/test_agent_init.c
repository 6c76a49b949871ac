/* SPDX-License-Identifier: MIT */
/*
 * PID 1 set-up without a VM: a child becomes PID 1 of new user, mount,
 * PID, UTS and network namespaces, chroots into a read-only bind mount of
 * a small root (like the guest's read-only image) and runs init_setup().
 * The test checks what the guest relies on: a writable root that leaves
 * the image untouched (tmpfs overlay + pivot_root), /proc, tmpfs /tmp and
 * /run, the hostname from /etc/hostname, lo up.  The user namespace keeps
 * it harmless (no CAP_SYS_RAWIO for /dev/port, no real devtmpfs) and it
 * never calls init_poweroff().  Skipped where user namespaces are off.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/init.h"

#define TMPFS_MAGIC 0x01021994
#define PROC_MAGIC 0x9fa0
#define SKIP_STATUS 77

struct init_report {
	char hostname[65];
	int root_writable; /* created /etc/written-by-test */
	int proc_mounted;
	int tmp_is_tmpfs;
	int run_is_tmpfs;
	int lo_up;
	int pid;
};

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static bool statfs_is(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == magic;
}

static bool lo_is_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool up;

	up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
	     (ifr.ifr_flags & IFF_UP);
	if (fd >= 0)
		close(fd);
	return up;
}

/* PID 1 of the new namespaces: play init, then report through fd. */
static void __attribute__((noreturn)) as_pid1(const char *root, int fd)
{
	struct init_report rep;
	struct init_options opt;

	memset(&rep, 0, sizeof(rep));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(root, root, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) <
		    0 ||
	    chroot(root) < 0 || chdir("/") < 0) {
		perror("test_agent_init: preparing the read-only root");
		_exit(2);
	}
	init_setup(&opt);
	rep.pid = getpid();
	gethostname(rep.hostname, sizeof(rep.hostname) - 1);
	rep.root_writable = write_file("/etc/written-by-test", "x\n") == 0;
	rep.proc_mounted = statfs_is("/proc", PROC_MAGIC) &&
			   access("/proc/self/status", R_OK) == 0;
	rep.tmp_is_tmpfs = statfs_is("/tmp", TMPFS_MAGIC);
	rep.run_is_tmpfs = statfs_is("/run", TMPFS_MAGIC);
	rep.lo_up = lo_is_up();
	_exit(write(fd, &rep, sizeof(rep)) == sizeof(rep) ? 0 : 3);
}

/* In new namespaces: map root, fork PID 1. */
static void __attribute__((noreturn)) in_namespaces(const char *root, int fd)
{
	int status;
	pid_t pid;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
		    CLONE_NEWNET) < 0)
		_exit(SKIP_STATUS);
	if (write_file("/proc/self/setgroups", "deny") < 0 ||
	    write_file("/proc/self/uid_map", "0 0 1\n") < 0 ||
	    write_file("/proc/self/gid_map", "0 0 1\n") < 0)
		_exit(SKIP_STATUS);
	pid = fork();
	if (pid == 0)
		as_pid1(root, fd);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		_exit(4);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
}

static void test_init_setup(void **state)
{
	char dir[] = "/tmp/kiln-test-init-XXXXXX", root[64], path[128];
	static const char *const dirs[] = {"proc", "sys", "dev", "run",
					   "tmp",  "etc", "mnt"};
	struct init_report rep;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s/root", dir);
	assert_int_equal(mkdir(root, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/etc/hostname", root);
	assert_int_equal(write_file(path, "image-host\n"), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		in_namespaces(root, p[1]);
	}
	close(p[1]);
	n = read(p[0], &rep, sizeof(rep));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* the image itself was not written */
	snprintf(path, sizeof(path), "%s/etc/written-by-test", root);
	assert_int_equal(access(path, F_OK), -1);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		rmdir(path);
	}
	snprintf(path, sizeof(path), "%s/etc/hostname", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc", root);
	rmdir(path);
	rmdir(root);
	rmdir(dir);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
		skip(); /* no user namespaces here */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, sizeof(rep));
	assert_int_equal(rep.pid, 1);
	assert_string_equal(rep.hostname, "image-host");
	assert_true(rep.root_writable);
	assert_true(rep.proc_mounted);
	assert_true(rep.tmp_is_tmpfs);
	assert_true(rep.run_is_tmpfs);
	assert_true(rep.lo_up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
