/* SPDX-License-Identifier: MIT */
/*
 * The agent's event loop: one epoll instance, level-triggered.  A watch
 * with events == 0 is removed from epoll unless it is "sticky" (sockets:
 * a paused connection must still see EPOLLHUP so a vanished peer is
 * noticed; pipes must not, or a closed writer would wake the loop forever).
 *
 * Objects that own watches are freed only after the current batch of
 * events has been dispatched (see agent.c): a callback may run for an
 * object that was closed earlier in the same batch and must check for it.
 */
#ifndef KILN_AGENT_LOOP_H
#define KILN_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_watch;
typedef void (*loop_fn)(struct loop_watch *w, uint32_t events);

struct loop_watch {
	int fd;
	uint32_t events; /* currently requested (EPOLLIN, EPOLLOUT) */
	bool registered;
	bool sticky;
	loop_fn fn;
	void *owner;
};

struct loop {
	int epfd;
};

int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Set up w for fd; nothing is registered until loop_watch_set(). */
void loop_watch_init(struct loop_watch *w, int fd, loop_fn fn, void *owner,
		     bool sticky);

/* Request events (0: none).  Returns 0 or -errno. */
int loop_watch_set(struct loop *l, struct loop_watch *w, uint32_t events);

/* Unregister (before closing w->fd). */
void loop_watch_del(struct loop *l, struct loop_watch *w);

/*
 * Wait up to timeout_ms (-1: forever) and dispatch the ready watches.
 * Returns the number dispatched or -errno (EINTR is 0).
 */
int loop_run_once(struct loop *l, int timeout_ms);

#endif
