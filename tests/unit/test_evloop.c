/* SPDX-License-Identifier: MIT */
/* The epoll loop: dispatch, removal (also from inside a callback), stop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/evloop.h"

struct ctx {
	struct evloop *loop;
	int fd, other_fd;
	int calls;
	int stop_after;
	bool del_other;
	int kick_fd; /* > 0: signal it from the callback */
};

static void signal_fd(int fd);

static void on_event(void *opaque, uint32_t events)
{
	struct ctx *c = opaque;
	uint64_t v;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(c->fd, &v, sizeof(v)), sizeof(v));
	c->calls++;
	if (c->del_other)
		evloop_del(c->loop, c->other_fd);
	if (c->kick_fd > 0)
		signal_fd(c->kick_fd);
	if (c->calls >= c->stop_after)
		evloop_stop(c->loop, 42);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_dispatch_and_stop(void **state)
{
	struct evloop *loop = evloop_new();
	struct ctx c = {.loop = loop, .stop_after = 1};

	(void)state;
	assert_non_null(loop);
	c.fd = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(evloop_add(loop, c.fd, EPOLLIN, on_event, &c), 0);
	assert_int_equal(evloop_add(loop, c.fd, EPOLLIN, on_event, &c),
			 -EEXIST);
	assert_int_equal(evloop_add(loop, -1, EPOLLIN, on_event, &c), -EINVAL);
	signal_fd(c.fd);
	assert_false(evloop_stopping(loop));
	assert_int_equal(evloop_run(loop), 42);
	assert_true(evloop_stopping(loop));
	assert_int_equal(c.calls, 1);
	assert_int_equal(evloop_del(loop, c.fd), 0);
	assert_int_equal(evloop_del(loop, c.fd), -ENOENT);
	assert_int_equal(evloop_mod(loop, c.fd, EPOLLIN), -ENOENT);
	close(c.fd);
	evloop_free(loop);
}

/* Two ready fds reported in one batch; the first callback removes the
 * second, so its already queued event must not be delivered.  The stop fd
 * is only signalled from that callback, i.e. after the batch was taken. */
static void test_stale_event_dropped(void **state)
{
	struct evloop *loop = evloop_new();
	struct ctx a = {.loop = loop, .stop_after = 100};
	struct ctx b = {.loop = loop, .stop_after = 100};
	int stop = eventfd(0, EFD_NONBLOCK);
	struct ctx s = {.loop = loop, .fd = stop, .stop_after = 1};

	(void)state;
	a.fd = eventfd(0, EFD_NONBLOCK);
	b.fd = eventfd(0, EFD_NONBLOCK);
	a.other_fd = b.fd;
	b.other_fd = a.fd;
	a.del_other = b.del_other = true;
	a.kick_fd = b.kick_fd = stop;
	assert_int_equal(evloop_add(loop, a.fd, EPOLLIN, on_event, &a), 0);
	assert_int_equal(evloop_add(loop, b.fd, EPOLLIN, on_event, &b), 0);
	assert_int_equal(evloop_add(loop, stop, EPOLLIN, on_event, &s), 0);
	signal_fd(a.fd);
	signal_fd(b.fd);
	assert_int_equal(evloop_run(loop), 42);
	assert_int_equal(a.calls + b.calls, 1);
	close(a.fd);
	close(b.fd);
	close(stop);
	evloop_free(loop);
}

static void *stopper(void *arg)
{
	evloop_stop(arg, 7);
	evloop_stop(arg, 8); /* the first code is kept */
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct evloop *loop = evloop_new();
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, stopper, loop), 0);
	assert_int_equal(evloop_run(loop), 7);
	pthread_join(t, NULL);
	evloop_free(loop);
}

static void test_mod(void **state)
{
	struct evloop *loop = evloop_new();
	struct ctx c = {.loop = loop, .stop_after = 1};
	int stop = eventfd(0, EFD_NONBLOCK);
	struct ctx s = {.loop = loop, .fd = stop, .stop_after = 1};

	(void)state;
	c.fd = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(evloop_add(loop, c.fd, EPOLLIN, on_event, &c), 0);
	assert_int_equal(evloop_add(loop, stop, EPOLLIN, on_event, &s), 0);
	/* paused: a ready fd is not reported */
	assert_int_equal(evloop_mod(loop, c.fd, 0), 0);
	signal_fd(c.fd);
	signal_fd(stop);
	assert_int_equal(evloop_run(loop), 42);
	assert_int_equal(c.calls, 0);
	close(c.fd);
	close(stop);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_stop),
		cmocka_unit_test(test_stale_event_dropped),
		cmocka_unit_test(test_stop_from_thread),
		cmocka_unit_test(test_mod),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
