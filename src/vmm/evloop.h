/* SPDX-License-Identifier: MIT */
/*
 * The VMM's event loop: one epoll instance run by the main thread.  Queue
 * notifications (ioeventfd), backend sockets and files, the API socket and
 * timers are all handled here, never on vCPU threads.  Callbacks run on the
 * loop thread only; evloop_add/mod/del may be called from any thread.
 */
#ifndef KILN_VMM_EVLOOP_H
#define KILN_VMM_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;

/* events is the epoll event mask that fired (EPOLLIN, EPOLLOUT, ...). */
typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);

/* events: EPOLLIN | EPOLLOUT | EPOLLET ... ; returns 0 or -errno. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn,
	       void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
int evloop_del(struct evloop *loop, int fd);

/*
 * Run until evloop_stop() is called (from any thread or a callback).
 * Returns the code given to evloop_stop().
 */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop, int code);
bool evloop_stopping(struct evloop *loop);

#endif
