/* SPDX-License-Identifier: MIT */
/*
 * The VMM child process machinery, exercised with ordinary programs: exit
 * status reporting, exec failures, the child's fd set, signal state and
 * process group, escalation from SIGTERM to SIGKILL, cancel, and death
 * with the spawning thread.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/vmm_proc.h"

static int spawn_sh(struct vmm_proc *p, const char *script, int log_fd)
{
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	char err[256];

	return vmm_proc_spawn(p, argv, log_fd, err, sizeof(err));
}

static void test_exit_status(void **state)
{
	struct vmm_proc p;
	char what[128];

	assert_int_equal(spawn_sh(&p, "exit 3", 2), 0);
	assert_true(p.pid > 0);
	assert_true(p.pidfd >= 0);
	assert_int_equal(vmm_proc_wait(&p, 10000, -1), 1);
	vmm_proc_describe(&p, what, sizeof(what));
	assert_string_equal(what, "the guest crashed (exit status 3)");
	assert_int_equal(vmm_proc_stop(&p, 0, 0), 1);
	assert_int_equal(p.pidfd, -1);

	assert_int_equal(spawn_sh(&p, "exit 0", 2), 0);
	assert_int_equal(vmm_proc_stop(&p, 10000, 1000), 1);
	vmm_proc_describe(&p, what, sizeof(what));
	assert_string_equal(what, "the guest powered off (exit status 0)");
}

static void test_exec_failure(void **state)
{
	char *argv[] = {"/nonexistent/kiln-vmm", NULL};
	struct vmm_proc p;
	char err[256];

	assert_int_equal(vmm_proc_spawn(&p, argv, 2, err, sizeof(err)),
			 KILN_ENOTFOUND);
	assert_string_equal(err, "cannot run /nonexistent/kiln-vmm: No such "
				 "file or directory");
	assert_int_equal(p.pid, 0);
	assert_int_equal(p.pidfd, -1);
	/* the failed child was reaped: no zombie left */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_child_environment(void **state)
{
	char path[] = "/tmp/kiln-test-vmmproc-XXXXXX", buf[4096];
	struct vmm_proc p;
	sigset_t set, old;
	int fd, leak;
	ssize_t n;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	leak = dup(fd); /* not CLOEXEC: must still not reach the child */
	signal(SIGINT, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);

	assert_int_equal(spawn_sh(&p,
				  "ls /proc/$$/fd | tr '\\n' ' '; echo;"
				  "readlink /proc/$$/fd/0;"
				  "grep -E '^Sig(Blk|Ign)' /proc/$$/status;"
				  "cut -d' ' -f5 /proc/$$/stat",
				  fd),
			 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGINT, SIG_DFL);
	assert_int_equal(vmm_proc_stop(&p, 10000, 1000), 1);
	assert_true(WIFEXITED(p.wstatus));
	close(leak);

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	unlink(path);
	{
		char want[512];

		snprintf(want, sizeof(want),
			 "0 1 2 \n/dev/null\nSigBlk:\t0000000000000000\n"
			 "SigIgn:\t0000000000000000\n%d\n",
			 (int)p.pid);
		assert_string_equal(buf, want);
	}
}

static void test_stop_escalates(void **state)
{
	struct vmm_proc p;
	int pfd[2];
	char c[2];

	/* a well-behaved child: SIGTERM is enough */
	assert_int_equal(spawn_sh(&p, "exec sleep 100", 2), 0);
	assert_int_equal(vmm_proc_wait(&p, 50, -1), 0);
	assert_int_equal(vmm_proc_stop(&p, 0, 10000), 0);
	assert_true(WIFSIGNALED(p.wstatus));
	assert_int_equal(WTERMSIG(p.wstatus), SIGTERM);

	/* one that ignores SIGTERM gets SIGKILL; it says when it is ready */
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(spawn_sh(&p,
				  "trap '' TERM; echo r; "
				  "while :; do sleep 1; done",
				  pfd[1]),
			 0);
	close(pfd[1]);
	assert_int_equal(read(pfd[0], c, 2), 2);
	assert_int_equal(vmm_proc_stop(&p, 0, 200), 0);
	assert_true(WIFSIGNALED(p.wstatus));
	assert_int_equal(WTERMSIG(p.wstatus), SIGKILL);
	/* the whole process group went: the pipe's writers are all gone */
	assert_int_equal(read(pfd[0], c, 1), 0);
	close(pfd[0]);
}

static void test_wait_cancel(void **state)
{
	struct vmm_proc p;
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;

	assert_true(efd >= 0);
	assert_int_equal(spawn_sh(&p, "exec sleep 100", 2), 0);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	/* returns at once although the timeout is long */
	assert_int_equal(vmm_proc_wait(&p, 100000, efd), 0);
	assert_int_equal(vmm_proc_stop(&p, 0, 10000), 0);
	close(efd);
}

static void *thread_spawn(void *arg)
{
	struct vmm_proc *p = arg;

	if (spawn_sh(p, "exec sleep 100", 2))
		p->pid = -1;
	return NULL;
}

static void test_dies_with_thread(void **state)
{
	struct vmm_proc p;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, thread_spawn, &p), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(p.pid > 0);
	assert_int_equal(vmm_proc_wait(&p, 10000, -1), 1);
	assert_true(WIFSIGNALED(p.wstatus));
	assert_int_equal(WTERMSIG(p.wstatus), SIGKILL);
	vmm_proc_stop(&p, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_child_environment),
		cmocka_unit_test(test_stop_escalates),
		cmocka_unit_test(test_wait_cancel),
		cmocka_unit_test(test_dies_with_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
