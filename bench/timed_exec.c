/* SPDX-License-Identifier: MIT */
/*
 * timed_exec OUT -- CMD [ARG...]: run CMD (stdin, stdout, stderr inherited)
 * and write "START_NS END_NS STATUS" to OUT: CLOCK_MONOTONIC just before
 * fork() and after CMD was reaped, and its exit status (128+N if signal N
 * killed it).  Exits with that status.  kiln-vmm logs the CLOCK_MONOTONIC
 * time of its first KVM_RUN, so bench/jail.sh can time a `kiln create`
 * from its very start to the guest's first instruction.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int64_t t0, t1;
	int st, status;
	pid_t pid;
	FILE *f;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: timed_exec OUT -- CMD [ARG...]\n");
		return 2;
	}
	t0 = mono_ns();
	pid = fork();
	if (pid < 0) {
		perror("timed_exec: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[3], argv + 3);
		fprintf(stderr, "timed_exec: %s: %s\n", argv[3],
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("timed_exec: waitpid");
			return 2;
		}
	t1 = mono_ns();
	status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	f = fopen(argv[1], "we");
	if (!f ||
	    fprintf(f, "%lld %lld %d\n", (long long)t0, (long long)t1, status) <
		    0 ||
	    fclose(f)) {
		fprintf(stderr, "timed_exec: cannot write %s\n", argv[1]);
		return 2;
	}
	return status;
}
