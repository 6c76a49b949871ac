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

	assert_int_equal(
		spawn_sh(&p,
			 "ls -1 /proc/$$/fd;"
			 "readlink /proc/$$/fd/0;"
			 "cut -d' ' -f5 /proc/$$/stat;"
			 "exec grep -E '^Sig(Blk|Ign)' /proc/self/status",
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
			 "0\n1\n2\n/dev/null\n%d\nSigBlk:\t0000000000000000\n"
			 "SigIgn:\t0000000000000000\n",
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

static void test_stat_parse(void **state)
{
	static const char tricky[] =
		"42 (a) b) (c) R 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 "
		"0 987654321 1000 100 18446744073709551615\n";
	static const char zombie[] =
		"7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n";
	uint64_t start = 0;
	char st = '?';

	/* the command name may hold ") " and spaces: the last ')' ends it */
	assert_int_equal(proc_stat_parse(tricky, strlen(tricky), &st, &start),
			 0);
	assert_int_equal(st, 'R');
	assert_int_equal(start, 987654321);
	assert_int_equal(proc_stat_parse(zombie, strlen(zombie), &st, &start),
			 0);
	assert_int_equal(st, 'Z');
	assert_int_equal(start, 55);
	/* truncated, no comm, junk in field 22 */
	assert_int_equal(proc_stat_parse(tricky, 30, &st, &start), -1);
	assert_int_equal(proc_stat_parse("42 a R 1", 8, &st, &start), -1);
	assert_int_equal(proc_stat_parse("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 "
					 "20 0 1 0 12x 0\n",
					 40, &st, &start),
			 -1);
}

static void test_start_time(void **state)
{
	uint64_t a = 0, b = 0;
	pid_t child;
	int fd;

	assert_int_equal(proc_start_time(getpid(), &a), 0);
	assert_int_equal(proc_start_time(getpid(), &b), 0);
	assert_true(a > 0);
	assert_int_equal(a, b);
	/* a zombie has ended; a reaped child is gone */
	child = fork();
	if (child == 0)
		_exit(0);
	assert_true(child > 0);
	for (int i = 0; i < 1000; i++) {
		if (proc_start_time(child, &b) == KILN_ENOTFOUND)
			break;
		usleep(1000); /* until the child has exited; bounded */
	}
	assert_int_equal(proc_start_time(child, &b), KILN_ENOTFOUND);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(proc_start_time(child, &b), KILN_ENOTFOUND);
	assert_int_equal(proc_start_time(0, &b), KILN_ENOTFOUND);
	/* the same pid with another start time is another process */
	assert_int_equal(proc_open_verified(getpid(), a + 1), KILN_ENOTFOUND);
	fd = proc_open_verified(getpid(), a);
	assert_true(fd >= 0);
	close(fd);
}

static void test_detached(void **state)
{
	char *argv[] = {"/bin/sleep", "1000", NULL};
	char *bad[] = {"/nonexistent/kiln-vmm", NULL};
	struct vmm_proc p;
	uint64_t start;
	char err[256], what[128];
	/* not our children: they must not hold the runner's output pipe */
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), fd;

	/* the exec (and its failure) happens at the release */
	assert_int_equal(
		vmm_proc_spawn_detached(&p, bad, null, err, sizeof(err)), 0);
	assert_true(p.pid > 0);
	assert_int_equal(vmm_proc_release(&p, err, sizeof(err)),
			 KILN_ENOTFOUND);
	assert_non_null(strstr(err, "cannot run kiln-vmm"));
	vmm_proc_stop(&p, 0, 0);

	/* not released: closing the gate ends it without running argv */
	assert_int_equal(
		vmm_proc_spawn_detached(&p, argv, null, err, sizeof(err)), 0);
	assert_int_equal(vmm_proc_stop(&p, 5000, 1000), 1);
	assert_int_equal(vmm_proc_release(&p, err, sizeof(err)), KILN_ESYS);

	assert_int_equal(
		vmm_proc_spawn_detached(&p, argv, null, err, sizeof(err)), 0);
	assert_int_equal(vmm_proc_release(&p, err, sizeof(err)), 0);
	assert_true(p.pid > 0);
	assert_true(p.detached);
	/* not our child, a session of its own, found by its start time */
	assert_int_equal(waitpid(p.pid, NULL, WNOHANG), -1);
	assert_int_equal(getsid(p.pid), p.pid);
	assert_int_equal(proc_start_time(p.pid, &start), 0);
	assert_int_equal(start, p.start_time);
	assert_int_equal(vmm_proc_poll(&p), 0);
	assert_int_equal(vmm_proc_wait(&p, 50, -1), 0);
	/* SIGTERM through the pidfd ends it */
	assert_int_equal(vmm_proc_stop(&p, 0, 5000), 0);
	assert_int_equal(p.pidfd, -1);
	vmm_proc_describe(&p, what, sizeof(what));
	assert_non_null(strstr(what, "exited"));
	for (int i = 0; i < 2000; i++) {
		if (proc_start_time(p.pid, &start) == KILN_ENOTFOUND)
			break;
		usleep(1000); /* init reaps it; bounded */
	}
	assert_int_equal(proc_open_verified(p.pid, p.start_time),
			 KILN_ENOTFOUND);

	/* proc_stop_pidfd escalates to SIGKILL for one that ignores TERM */
	char *stubborn[] = {"/bin/sh", "-c", "trap '' TERM; exec sleep 1000",
			    NULL};
	assert_int_equal(
		vmm_proc_spawn_detached(&p, stubborn, null, err, sizeof(err)),
		0);
	assert_int_equal(vmm_proc_release(&p, err, sizeof(err)), 0);
	fd = proc_open_verified(p.pid, p.start_time);
	assert_true(fd >= 0);
	assert_int_equal(proc_stop_pidfd(fd, 0, 200), 0);
	close(fd);
	vmm_proc_stop(&p, 0, 0);
	close(null);
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
		cmocka_unit_test(test_stat_parse),
		cmocka_unit_test(test_start_time),
		cmocka_unit_test(test_detached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
