/* SPDX-License-Identifier: MIT */
/*
 * Shared by the agent protocol tests (test_agent.c, test_agent_wire.c): the
 * agent's server code runs in a forked child listening on a Unix socket in
 * a temporary directory (exactly what `kiln-agent --service --listen
 * unix:PATH` runs) for the whole test group, and is shut down through the
 * protocol at the end; it must then exit 0.
 */
#ifndef KILN_TESTS_AGENT_HARNESS_H
#define KILN_TESTS_AGENT_HARNESS_H

#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/server.h"
#include "common/proto.h"
#include "lib/agent_client.h"

#define DEADLINE_MS 30000

static char sock_path[108];
static char tmp_dir[64];
static pid_t agent_pid;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll-with-deadline pause between checks of an outside condition. */
static void pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* ---- the agent under test ------------------------------------------- */

static void agent_child(void)
{
	char err[256], spec[128];
	struct agent ag;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(spec, sizeof(spec), "unix:%s", sock_path);
	if (agent_init(&ag, false, err, sizeof(err)) < 0 ||
	    server_listen(&ag, spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "agent: %s\n", err);
		exit(1);
	}
	rc = agent_run(&ag);
	agent_fini(&ag);
	exit(rc < 0 ? 1 : 0);
}

static struct agent_client *client_connect(void)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct agent_client *c;
	char err[256];

	for (;;) {
		int rc = agent_client_connect_unix(sock_path, 5000, &c, err,
						   sizeof(err));

		if (rc == 0)
			return c;
		if (rc != AGENT_ERR_NOT_READY || now_ms() > deadline)
			fail_msg("connect: %s (%d)", err, rc);
		pause_ms(10);
	}
}

static int group_setup(void **state)
{
	struct agent_client *c;

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/kiln-test-agent-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", tmp_dir);
	agent_pid = fork();
	if (agent_pid < 0)
		return -1;
	if (agent_pid == 0)
		agent_child();
	c = client_connect(); /* waits until it listens */
	agent_client_close(c);
	return 0;
}

/* Shut the agent down through the protocol; it must exit 0, promptly. */
static int group_teardown(void **state)
{
	struct agent_client *c = client_connect();
	char err[256];
	int status = -1, pfd, rc;
	struct pollfd p;

	rc = agent_client_shutdown(c, 5000, err, sizeof(err));
	agent_client_close(c);
	pfd = (int)syscall(SYS_pidfd_open, agent_pid, 0);
	p = (struct pollfd){.fd = pfd, .events = POLLIN};
	if (pfd >= 0 && poll(&p, 1, 10000) != 1)
		kill(agent_pid, SIGKILL);
	waitpid(agent_pid, &status, 0);
	if (pfd >= 0)
		close(pfd);
	unlink(sock_path);
	rmdir(tmp_dir);
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "agent shutdown: rc %d (%s), status 0x%x\n", rc,
			rc ? err : "", status);
		return -1;
	}
	return 0;
}

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_append(void *ctx, const void *d, size_t n)
{
	struct buf *b = ctx;

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* Wait until pid is gone (killed and reaped by the agent). */
static void assert_gone(pid_t pid)
{
	int64_t deadline = now_ms() + 10000;

	while (kill(pid, 0) == 0 || errno != ESRCH) {
		if (now_ms() > deadline)
			fail_msg("process %d is still there", (int)pid);
		pause_ms(10);
	}
}

#endif
