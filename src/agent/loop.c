/* SPDX-License-Identifier: MIT */
/* The agent's epoll loop; see loop.h. */
#include "agent/loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_BATCH 64

int loop_init(struct loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void loop_fini(struct loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

void loop_watch_init(struct loop_watch *w, int fd, loop_fn fn, void *owner,
		     bool sticky)
{
	w->fd = fd;
	w->events = 0;
	w->registered = false;
	w->sticky = sticky;
	w->fn = fn;
	w->owner = owner;
}

int loop_watch_set(struct loop *l, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	if (w->registered && events == w->events)
		return 0;
	if (events == 0 && !w->sticky) {
		loop_watch_del(l, w);
		return 0;
	}
	if (epoll_ctl(l->epfd, w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      w->fd, &ev) < 0)
		return -errno;
	w->registered = true;
	w->events = events;
	return 0;
}

void loop_watch_del(struct loop *l, struct loop_watch *w)
{
	if (w->registered)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->registered = false;
	w->events = 0;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	int n;

	n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = evs[i].data.ptr;

		w->fn(w, evs[i].events);
	}
	return n;
}
