/* SPDX-License-Identifier: MIT */
/*
 * The agent's run loop (see agent.h): signals through a signalfd, one
 * waitpid(-1) loop for every child, command timeouts as the epoll timeout,
 * and deferred frees after each batch of events.
 */
#include "agent/agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/log.h"
#include "agent/server.h"

/* How long a stopping agent tries to deliver what is queued (the reply). */
#define STOP_FLUSH_MS 1000
/* Bound on signalfd reads per wakeup. */
#define SIG_BATCH 64

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void agent_request_stop(struct agent *ag)
{
	ag->stopping = true;
}

static void agent_on_signal(struct loop_watch *w, uint32_t events)
{
	struct agent *ag = w->owner;

	for (int i = 0; i < SIG_BATCH; i++) {
		struct signalfd_siginfo si;
		ssize_t n = read(ag->sigfd, &si, sizeof(si));

		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo == SIGCHLD)
			continue; /* reaped below, whoever it was */
		/* PID 1 gets SIGINT for ctrl-alt-del: power off as asked. */
		log_msg("got signal %d (%s); %s", (int)si.ssi_signo,
			strsignal((int)si.ssi_signo),
			ag->init_mode ? "powering off" : "stopping");
		agent_request_stop(ag);
	}
	proc_reap_children(ag);
}

int agent_init(struct agent *ag, bool init_mode, char *err, size_t errlen)
{
	sigset_t set;
	int rc;

	memset(ag, 0, sizeof(*ag));
	ag->init_mode = init_mode;
	ag->sigfd = -1;
	ag->start_ns = agent_now_ns();
	rc = loop_init(&ag->loop);
	if (rc < 0) {
		snprintf(err, errlen, "epoll_create: %s", strerror(-rc));
		return -1;
	}
	/* Writes to a vanished client or a closed stdin pipe give EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (ag->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		loop_fini(&ag->loop);
		return -1;
	}
	/*
	 * As a service, adopt orphans of our commands so they are reaped
	 * here and `kill -- -pgid` semantics stay ours (PID 1 is anyway).
	 */
	if (!init_mode && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_msg("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	loop_watch_init(&ag->sig_watch, ag->sigfd, agent_on_signal, ag, false);
	rc = loop_watch_set(&ag->loop, &ag->sig_watch, EPOLLIN);
	if (rc < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		close(ag->sigfd);
		loop_fini(&ag->loop);
		return -1;
	}
	return 0;
}

/* Give queued replies (the shutdown acknowledgement) a bounded chance. */
static void agent_flush_before_stop(struct agent *ag)
{
	uint64_t deadline = agent_now_ns() + STOP_FLUSH_MS * 1000000ull;

	for (struct conn *c = ag->conns; c; c = c->next) {
		while (!c->dead && c->out_len > c->out_off) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
			uint64_t now = agent_now_ns();
			ssize_t n;

			if (now >= deadline)
				return;
			if (poll(&pfd, 1,
				 (int)((deadline - now) / 1000000) + 1) <= 0)
				break;
			n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0)
				break;
			c->out_off += (size_t)n;
		}
	}
}

int agent_run(struct agent *ag)
{
	int ret = 0;

	while (!ag->stopping) {
		int timeout = proc_check_timeouts(ag);
		int rc = loop_run_once(&ag->loop, timeout);

		server_reap_dead(ag);
		proc_reap_dead(ag);
		if (rc < 0) {
			log_msg("epoll_wait: %s", strerror(-rc));
			ret = -1;
			break;
		}
	}
	agent_flush_before_stop(ag);
	server_close_all(ag);
	proc_kill_all(ag);
	server_reap_dead(ag);
	proc_reap_dead(ag);
	return ret;
}

void agent_fini(struct agent *ag)
{
	server_close_listeners(ag);
	if (ag->sigfd >= 0) {
		loop_watch_del(&ag->loop, &ag->sig_watch);
		close(ag->sigfd);
		ag->sigfd = -1;
	}
	loop_fini(&ag->loop);
}
