/* SPDX-License-Identifier: MIT */
/* Helpers of the networking integration tests (net_test.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_test.h"

#define LISTENERS_MAX 32

int failures;
static pid_t listeners[LISTENERS_MAX];
static int n_listeners;

void report(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
}

int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void enter_ns(const char *ns)
{
	char path[128];
	int fd;

	if (!ns)
		return;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		_exit(99);
	close(fd);
}

bool listen_in(const char *ns, const char *ip, int port, char tag)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	int p[2], one = 1;
	char c = 0;
	pid_t pid;

	if (n_listeners >= LISTENERS_MAX || pipe2(p, O_CLOEXEC) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		int s;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		enter_ns(ns);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(s, 16) < 0 || write(p[1], "k", 1) != 1)
			_exit(98);
		for (;;) {
			int c2 = accept(s, NULL, NULL);

			if (c2 >= 0) {
				if (write(c2, &tag, 1) != 1)
					_exit(96);
				close(c2);
			}
		}
	}
	close(p[1]);
	if (pid > 0)
		listeners[n_listeners++] = pid;
	if (pid < 0 || read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	return c == 'k';
}

void listeners_stop(void)
{
	for (int i = 0; i < n_listeners; i++) {
		kill(listeners[i], SIGKILL);
		waitpid(listeners[i], NULL, 0);
	}
	n_listeners = 0;
}

char probe(const char *ns, const char *ip, int port)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port)};
		struct pollfd pfd;
		char c = 0;
		int s;

		enter_ns(ns);
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno != EINPROGRESS)
			_exit(0);
		pfd = (struct pollfd){.fd = s, .events = POLLIN};
		if (poll(&pfd, 1, NET_TEST_PROBE_MS) != 1 ||
		    read(s, &c, 1) != 1)
			_exit(0);
		_exit((unsigned char)c);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 0;
	return (char)WEXITSTATUS(st);
}
