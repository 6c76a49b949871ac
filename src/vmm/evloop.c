/* SPDX-License-Identifier: MIT */
/*
 * epoll event loop.  Registrations live in a table indexed by fd; the epoll
 * cookie carries the fd and a generation number, so an event that was
 * already queued when its fd was removed (or removed and re-added) is
 * recognised as stale and dropped instead of calling a freed callback.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"

#define EVLOOP_BATCH 32

struct evloop_slot {
	bool used;
	uint32_t gen;
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int wakefd; /* eventfd that makes epoll_wait return on stop */
	pthread_mutex_t lock; /* protects slots, nslots */
	struct evloop_slot *slots;
	size_t nslots;
	atomic_bool stopping;
	int code; /* protected by lock */
};

static uint64_t evloop_cookie(int fd, uint32_t gen)
{
	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!loop)
		return NULL;
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->wakefd < 0)
		goto fail;
	/* The wake fd is never in the slot table: it uses cookie ~0. */
	ev.data.u64 = UINT64_MAX;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
		goto fail;
	return loop;
fail:
	evloop_free(loop);
	return NULL;
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	pthread_mutex_destroy(&loop->lock);
	free(loop->slots);
	free(loop);
}

/* Make slots[fd] exist.  Called with the lock held. */
static int evloop_reserve(struct evloop *loop, int fd)
{
	size_t n = loop->nslots ? loop->nslots : 64;
	struct evloop_slot *s;

	if ((size_t)fd < loop->nslots)
		return 0;
	while (n <= (size_t)fd)
		n *= 2;
	s = realloc(loop->slots, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + loop->nslots, 0, (n - loop->nslots) * sizeof(*s));
	loop->slots = s;
	loop->nslots = n;
	return 0;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn,
	       void *opaque)
{
	struct epoll_event ev = {.events = events};
	struct evloop_slot *s;
	int rc;

	if (fd < 0 || !fn)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	rc = evloop_reserve(loop, fd);
	if (rc)
		goto out;
	s = &loop->slots[fd];
	if (s->used) {
		rc = -EEXIST;
		goto out;
	}
	s->gen++;
	ev.data.u64 = evloop_cookie(fd, s->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		goto out;
	}
	s->used = true;
	s->fn = fn;
	s->opaque = opaque;
out:
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	int rc = 0;

	pthread_mutex_lock(&loop->lock);
	if (fd < 0 || (size_t)fd >= loop->nslots || !loop->slots[fd].used) {
		rc = -ENOENT;
	} else {
		ev.data.u64 = evloop_cookie(fd, loop->slots[fd].gen);
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int evloop_del(struct evloop *loop, int fd)
{
	int rc = 0;

	pthread_mutex_lock(&loop->lock);
	if (fd < 0 || (size_t)fd >= loop->nslots || !loop->slots[fd].used) {
		rc = -ENOENT;
	} else {
		/* The fd may already be closed; forget it either way. */
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		loop->slots[fd].used = false;
		loop->slots[fd].gen++;
	}
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

static void evloop_dispatch(struct evloop *loop, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	evloop_fn fn = NULL;
	void *opaque = NULL;

	pthread_mutex_lock(&loop->lock);
	if ((size_t)fd < loop->nslots && loop->slots[fd].used &&
	    loop->slots[fd].gen == gen) {
		fn = loop->slots[fd].fn;
		opaque = loop->slots[fd].opaque;
	}
	pthread_mutex_unlock(&loop->lock);
	if (fn)
		fn(opaque, ev->events);
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event evs[EVLOOP_BATCH];
	int n;

	while (!atomic_load(&loop->stopping)) {
		n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* epoll itself broke: nothing sensible is left to do.
			 */
			evloop_stop(loop, -errno);
			break;
		}
		for (int i = 0; i < n && !atomic_load(&loop->stopping); i++) {
			if (evs[i].data.u64 == UINT64_MAX)
				continue;
			evloop_dispatch(loop, &evs[i]);
		}
	}
	pthread_mutex_lock(&loop->lock);
	n = loop->code;
	pthread_mutex_unlock(&loop->lock);
	return n;
}

void evloop_stop(struct evloop *loop, int code)
{
	uint64_t one = 1;

	/* The first reason to stop is the one reported. */
	pthread_mutex_lock(&loop->lock);
	if (!atomic_load(&loop->stopping)) {
		loop->code = code;
		atomic_store(&loop->stopping, true);
	}
	pthread_mutex_unlock(&loop->lock);
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, a wakeup is due. */
	}
}

bool evloop_stopping(struct evloop *loop)
{
	return atomic_load(&loop->stopping);
}
