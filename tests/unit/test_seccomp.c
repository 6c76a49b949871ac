/* SPDX-License-Identifier: MIT */
/*
 * The VMM's seccomp filters, installed for real in forked children: the
 * calls the VMM needs keep working, a forbidden one kills the child with
 * SIGSYS.  Children end with _exit() so no sanitizer exit hook (LSan starts
 * a thread) runs under the filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/seccomp.h"

#define CHILD_OK 0
#define CHILD_FAILED 1 /* an allowed call failed: details on stderr */

typedef void (*child_fn)(void);

/* Run fn in a child; return its wait status. */
static int run_child(enum seccomp_mode mode, child_fn fn)
{
	pid_t pid;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		seccomp_set_mode(mode);
		fn();
		_exit(CHILD_OK);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void child_check(int ok, const char *what)
{
	if (!ok) {
		dprintf(2, "child: %s failed: %s\n", what, strerror(errno));
		_exit(CHILD_FAILED);
	}
}

static void child_install(enum seccomp_kind kind)
{
	char err[256];

	if (seccomp_install(kind, err, sizeof(err))) {
		dprintf(2, "child: %s\n", err);
		_exit(CHILD_FAILED);
	}
}

/* As on a vCPU thread: the main filter, then the vCPU one on top. */
static void child_install_vcpu(void)
{
	child_install(SECCOMP_VMM_MAIN);
	child_install(SECCOMP_VCPU);
}

static void assert_exited_ok(int st)
{
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), CHILD_OK);
}

static void assert_sigsys(int st)
{
	if (!WIFSIGNALED(st))
		fail_msg("child was not killed (wait status 0x%x)", st);
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* The calls a vCPU thread makes on its way through an exit. */
static void vcpu_allowed(void)
{
	uint64_t one = 1, got = 0;
	struct timespec ts;
	int efd = eventfd(0, EFD_CLOEXEC), flags;
	int futex_word = 0;

	child_check(efd >= 0, "eventfd");
	child_install_vcpu();
	child_check(write(efd, &one, sizeof(one)) == sizeof(one),
		    "eventfd write");
	child_check(read(efd, &got, sizeof(got)) == sizeof(got) && got == 1,
		    "eventfd read");
	child_check(clock_gettime(CLOCK_MONOTONIC, &ts) == 0, "clock_gettime");
	child_check(syscall(SYS_futex, &futex_word, 1 /* FUTEX_WAKE */, 1, NULL,
			    NULL, 0) >= 0,
		    "futex wake");
	child_check(getpid() > 0 && gettid() > 0, "getpid/gettid");
	flags = fcntl(efd, F_GETFL);
	child_check(flags >= 0 && fcntl(efd, F_SETFL, flags | O_NONBLOCK) == 0,
		    "fcntl F_GETFL/F_SETFL");
	/* a KVM ioctl on a non-KVM fd: the filter lets it through */
	child_check(ioctl(efd, KVM_RUN, 0) < 0 && errno == ENOTTY,
		    "ioctl KVM_RUN reaching the kernel");
	/* malloc-style anonymous memory, read-write */
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	child_check(p != MAP_FAILED, "mmap rw");
	child_check(munmap(p, 1 << 20) == 0, "munmap");
	close(efd);
}

static void test_vcpu_allows_its_calls(void **state)
{
	(void)state;
	assert_exited_ok(run_child(SECCOMP_ENFORCE, vcpu_allowed));
}

static void vcpu_socket(void)
{
	child_install_vcpu();
	socket(AF_UNIX, SOCK_STREAM, 0);
	_exit(CHILD_FAILED); /* not reached */
}

static void vcpu_openat(void)
{
	child_install_vcpu();
	open("/dev/null", O_RDONLY);
	_exit(CHILD_FAILED);
}

static void vcpu_vm_ioctl(void)
{
	child_install_vcpu();
	/* creating things is the main thread's job */
	ioctl(0, KVM_CREATE_VCPU, 0);
	_exit(CHILD_FAILED);
}

static void test_vcpu_forbidden_kills(void **state)
{
	(void)state;
	assert_sigsys(run_child(SECCOMP_ENFORCE, vcpu_socket));
	assert_sigsys(run_child(SECCOMP_ENFORCE, vcpu_openat));
	assert_sigsys(run_child(SECCOMP_ENFORCE, vcpu_vm_ioctl));
}

static void *thread_noop(void *arg)
{
	return arg;
}

/* What the main thread needs: Unix sockets, files, threads. */
static void main_allowed(void)
{
	char path[] = "/tmp/kiln-seccomp-XXXXXX";
	struct sockaddr_un_like {
		sa_family_t family;
		char path[108];
	} addr = {.family = AF_UNIX};
	pthread_t t;
	void *ret = NULL;
	int s, fd, sv[2];

	child_install(SECCOMP_VMM_MAIN);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	child_check(s >= 0, "socket AF_UNIX");
	fd = mkostemp(path, O_CLOEXEC);
	child_check(fd >= 0, "mkostemp");
	child_check(write(fd, "x", 1) == 1 && fsync(fd) == 0, "write+fsync");
	child_check(unlink(path) == 0, "unlink");
	snprintf(addr.path, sizeof(addr.path), "%s.sock", path);
	child_check(bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
			    listen(s, 1) == 0,
		    "bind+listen");
	child_check(unlink(addr.path) == 0, "unlink socket");
	child_check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	child_check(send(sv[0], "y", 1, 0) == 1, "send");
	/* pthread_create: clone3 says ENOSYS, glibc falls back to clone */
	child_check(pthread_create(&t, NULL, thread_noop, &s) == 0,
		    "pthread_create");
	child_check(pthread_join(t, &ret) == 0 && ret == &s, "pthread_join");
	child_check(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS,
		    "clone3 -> ENOSYS");
	close(fd);
	close(s);
}

static void test_main_allows_its_calls(void **state)
{
	(void)state;
	assert_exited_ok(run_child(SECCOMP_ENFORCE, main_allowed));
}

static void main_inet_socket(void)
{
	child_install(SECCOMP_VMM_MAIN);
	socket(AF_INET, SOCK_STREAM, 0);
	_exit(CHILD_FAILED);
}

static void main_execve(void)
{
	char *const argv[] = {"/bin/true", NULL};

	child_install(SECCOMP_VMM_MAIN);
	execve(argv[0], argv, argv + 1);
	_exit(CHILD_FAILED);
}

static void main_fork(void)
{
	child_install(SECCOMP_VMM_MAIN);
	/* a process, not a thread: no CLONE_THREAD */
	syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	_exit(CHILD_FAILED);
}

static void main_tiocsti(void)
{
	char c = 'x';

	child_install(SECCOMP_VMM_MAIN);
	ioctl(0, TIOCSTI, &c); /* terminal input injection */
	_exit(CHILD_FAILED);
}

static void main_exec_mapping(void)
{
	child_install(SECCOMP_VMM_MAIN);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	     0);
	_exit(CHILD_FAILED);
}

static void main_kill_other(void)
{
	pid_t parent = getppid();

	child_install(SECCOMP_VMM_MAIN);
	kill(parent, 0);
	_exit(CHILD_FAILED);
}

static void test_main_forbidden_kills(void **state)
{
	(void)state;
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_inet_socket));
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_execve));
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_fork));
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_tiocsti));
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_exec_mapping));
	assert_sigsys(run_child(SECCOMP_ENFORCE, main_kill_other));
}

/* "Seccomp:\t2" in /proc/self/status: a filter is installed. */
static int child_seccomp_status(void)
{
	char buf[4096];
	ssize_t n;
	char *p;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nSeccomp:");
	return p ? atoi(p + 9) : -1;
}

static void log_mode_forbidden_call_runs(void)
{
	int s;

	child_install_vcpu();
	/* logged, not denied */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	child_check(s >= 0, "socket under SECCOMP_LOG");
	child_check(child_seccomp_status() == 2, "Seccomp: 2 in status");
}

static void off_mode_installs_nothing(void)
{
	child_install_vcpu();
	child_check(child_seccomp_status() == 0, "Seccomp: 0 in status");
	child_check(socket(AF_INET, SOCK_STREAM, 0) >= 0, "socket");
}

static void test_modes(void **state)
{
	(void)state;
	assert_exited_ok(run_child(SECCOMP_LOG, log_mode_forbidden_call_runs));
	assert_exited_ok(run_child(SECCOMP_OFF, off_mode_installs_nothing));
}

/* The vCPU filter is the calling thread's only: the main thread keeps
 * its wider list (no TSYNC). */
static void *thread_install_vcpu(void *arg)
{
	char err[256];

	*(int *)arg = seccomp_install(SECCOMP_VCPU, err, sizeof(err));
	if (*(int *)arg)
		dprintf(2, "thread: %s\n", err);
	return NULL;
}

static void per_thread_filter(void)
{
	pthread_t t;
	int rc = -1, s;

	child_install(SECCOMP_VMM_MAIN);
	child_check(pthread_create(&t, NULL, thread_install_vcpu, &rc) == 0,
		    "pthread_create");
	child_check(pthread_join(t, NULL) == 0 && rc == 0,
		    "vCPU filter in a thread");
	/* forbidden on the vCPU thread, fine here */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	child_check(s >= 0, "socket on the main thread");
}

static void test_filter_is_per_thread(void **state)
{
	(void)state;
	assert_exited_ok(run_child(SECCOMP_ENFORCE, per_thread_filter));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vcpu_allows_its_calls),
		cmocka_unit_test(test_vcpu_forbidden_kills),
		cmocka_unit_test(test_main_allows_its_calls),
		cmocka_unit_test(test_main_forbidden_kills),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_filter_is_per_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
