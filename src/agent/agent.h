/* SPDX-License-Identifier: MIT */
/*
 * The agent as a whole: its configuration, the event loop and the lists of
 * listeners, connections and processes, plus the run loop that ties them
 * together (agent.c).  main.c builds one struct agent; tests build one in a
 * child process.
 */
#ifndef KILN_AGENT_AGENT_H
#define KILN_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/loop.h"

#define AGENT_VERSION "0.1.0"

/* Limits; docs/PROTOCOL.md lists them. */
#define AGENT_MAX_LISTENERS 8
#define AGENT_MAX_CONNS 256
#define AGENT_MAX_PROCS 1024
/* Output queued for one connection: stop reading pipes above, resume below. */
#define AGENT_OUT_HIGH (1u << 20)
#define AGENT_OUT_LOW (256u << 10)
/* stdin queued for one process: stop reading its connection above. */
#define AGENT_STDIN_HIGH (1u << 20)
#define AGENT_STDIN_LOW (256u << 10)
/* One read() from a pipe or socket. */
#define AGENT_CHUNK 65536

struct conn;
struct proc;
struct listener;

struct agent {
	struct loop loop;
	bool init_mode; /* PID 1: shutdown powers the machine off */
	uint64_t start_ns; /* CLOCK_MONOTONIC at startup */

	struct listener *listeners[AGENT_MAX_LISTENERS];
	unsigned int nlisteners;
	struct conn *conns; /* live connections */
	unsigned int nconns;
	struct proc *procs; /* processes not yet reaped or not yet reported */
	unsigned int nprocs;

	/* Closed during the current batch; freed after it (see loop.h). */
	struct conn *dead_conns;
	struct proc *dead_procs;

	int sigfd; /* signalfd: SIGCHLD, SIGTERM, SIGINT, SIGHUP */
	struct loop_watch sig_watch;

	/* Port forwards (forward.c) that became raw relays. */
	struct forward *forwards;
	struct forward *dead_forwards;
	unsigned int nforwards;

	/* Set by the identity op (after a snapshot restore); "" until then. */
	char sandbox_id[65];

	bool stopping;
	bool poweroff; /* stop by powering off (PID 1) instead of returning */
};

/* Monotonic clock in ns / ms. */
uint64_t agent_now_ns(void);

/*
 * Set up the loop and the signalfd (blocks the signals it handles, ignores
 * SIGPIPE, becomes a child subreaper so orphans of our commands are ours to
 * reap).  Returns 0 or -1 with a message in err.
 */
int agent_init(struct agent *ag, bool init_mode, char *err, size_t errlen);

/*
 * Serve until a shutdown request or (service mode) SIGTERM/SIGINT/SIGHUP.
 * On return every command has been killed and reaped and every connection
 * closed.  Returns 0 or -1 if the loop itself failed.
 */
int agent_run(struct agent *ag);

void agent_fini(struct agent *ag);

/* Ask the run loop to stop after this batch (shutdown request). */
void agent_request_stop(struct agent *ag);

#endif
