/* SPDX-License-Identifier: MIT */
/*
 * The API server end to end: api_server_start() on a temporary socket, a
 * real event loop on its own thread, and clients speaking HTTP over real
 * connections: keep-alive, pipelining, a client sending one byte at a
 * time, clients that vanish mid-request or never read, garbage, the
 * connection limit, and libkiln's own client.  Every wait has a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_fake.h"
#include "lib/vmm_api.h"
#include "vmm/evloop.h"
#include "vmm/http.h"

#define DEADLINE_MS 5000

struct srv {
	char dir[32], path[64];
	struct fake f;
	struct evloop *loop;
	struct api_server *api;
	pthread_t thread;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

/* Short timeouts for test_timeouts (its prestate). */
static const int short_timeouts_ms = 300;

static int setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	char err[256];
	int timeout_ms = *state ? *(const int *)*state : 0;

	snprintf(s->dir, sizeof(s->dir), "/tmp/kiln-api-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/api.sock", s->dir);
	fake_init(&s->f);
	s->loop = evloop_new();
	assert_non_null(s->loop);
	if (api_server_start(s->loop, s->path, &fake_ops, &s->f, &s->api, err,
			     sizeof(err)))
		fail_msg("api_server_start: %s", err);
	if (timeout_ms)
		api_server_set_timeouts(s->api, timeout_ms, timeout_ms);
	assert_int_equal(pthread_create(&s->thread, NULL, loop_thread, s->loop),
			 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;
	struct stat st;

	evloop_stop(s->loop, 0);
	pthread_join(s->thread, NULL);
	api_server_free(s->api);
	/* The socket file goes with the server. */
	assert_int_equal(stat(s->path, &st), -1);
	evloop_free(s->loop);
	fake_free(&s->f);
	rmdir(s->dir);
	free(s);
	return 0;
}

static int client(const struct srv *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	long long left = deadline - now_ms();

	if (left <= 0 || poll(&p, 1, (int)left) <= 0)
		fail_msg("no progress on fd %d within the deadline", fd);
}

static void send_all(int fd, const char *buf, size_t len)
{
	long long deadline = now_ms() + DEADLINE_MS;

	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			wait_fd(fd, POLLOUT, deadline);
		} else {
			fail_msg("send: %s", strerror(errno));
		}
	}
}

#define SEND(fd, str) send_all(fd, str, strlen(str))

/* A client's receive buffer: replies may arrive together. */
struct rbuf {
	char data[128 * 1024];
	size_t len;
};

/* Read one reply; returns its status, *body its JSON body (or NULL). */
static int read_reply(int fd, struct rbuf *b, json_t **body)
{
	long long deadline = now_ms() + DEADLINE_MS;

	for (;;) {
		const char *bp;
		size_t blen;
		int status;

		if (vmm_api_parse_reply(b->data, b->len, &status, &bp, &blen) ==
		    1) {
			size_t used = (size_t)(bp - b->data) + blen;

			if (body)
				*body = blen ? json_loadb(bp, blen, 0, NULL)
					     : NULL;
			memmove(b->data, b->data + used, b->len - used);
			b->len -= used;
			return status;
		}
		wait_fd(fd, POLLIN, deadline);
		ssize_t n =
			recv(fd, b->data + b->len, sizeof(b->data) - b->len, 0);
		if (n == 0)
			fail_msg("connection closed before a whole reply "
				 "(%zu bytes: %.*s)",
				 b->len, (int)b->len, b->data);
		if (n < 0 && errno != EAGAIN)
			fail_msg("recv: %s", strerror(errno));
		if (n > 0)
			b->len += (size_t)n;
	}
}

/* The server closes the connection (no more bytes, then EOF). */
static void expect_eof(int fd)
{
	long long deadline = now_ms() + DEADLINE_MS;
	char c;

	for (;;) {
		ssize_t n;

		wait_fd(fd, POLLIN, deadline);
		n = recv(fd, &c, 1, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return;
		if (n > 0)
			fail_msg("unexpected byte 0x%02x instead of EOF",
				 (unsigned char)c);
	}
}

static int request(const struct srv *s, const char *req, json_t **body)
{
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s), st;

	send_all(fd, req, strlen(req));
	st = read_reply(fd, b, body);
	close(fd);
	free(b);
	return st;
}

static const char get_root[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char put_boot[] = "PUT /boot-source HTTP/1.1\r\nHost: x\r\n"
			       "Content-Length: 26\r\n\r\n"
			       "{\"kernel_image_path\":\"/k\"}";

static void test_keep_alive(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);
	json_t *j;

	SEND(fd, get_root);
	assert_int_equal(read_reply(fd, b, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "Not started");
	json_decref(j);
	SEND(fd, put_boot);
	assert_int_equal(read_reply(fd, b, NULL), 204);
	SEND(fd, "GET /vm/config HTTP/1.1\r\n\r\n");
	assert_int_equal(read_reply(fd, b, &j), 200);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(j, "boot-source"),
				    "kernel_image_path")),
			    "/k");
	json_decref(j);
	close(fd);
	free(b);
}

static void test_pipelined(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);
	json_t *j;

	SEND(fd, "PUT /machine-config HTTP/1.1\r\nContent-Length: 35\r\n\r\n"
		 "{\"vcpu_count\":2,\"mem_size_mib\":512}"
		 "GET /machine-config HTTP/1.1\r\n\r\n"
		 "GET /nope HTTP/1.1\r\n\r\n"
		 "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(read_reply(fd, b, NULL), 204);
	assert_int_equal(read_reply(fd, b, &j), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "vcpu_count")),
			 2);
	json_decref(j);
	assert_int_equal(read_reply(fd, b, NULL), 400);
	assert_int_equal(read_reply(fd, b, NULL), 200);
	expect_eof(fd);
	close(fd);
	free(b);
}

/* The largest body fills the whole input buffer; one byte more is 413. */
static void test_large_body(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	size_t cap = 128 + HTTP_MAX_BODY + sizeof(get_root);
	char *req = malloc(cap), *body = malloc(HTTP_MAX_BODY + 2);
	int fd = client(s), n;

	for (int extra = 0; extra < 2; extra++) {
		size_t blen = HTTP_MAX_BODY + (size_t)extra;

		/* {"kernel_image_path":"/aaa..."} of exactly blen bytes */
		n = snprintf(body, blen + 1, "{\"kernel_image_path\":\"/");
		memset(body + n, 'a', blen - (size_t)n - 2);
		memcpy(body + blen - 2, "\"}", 2);
		n = snprintf(req, cap,
			     "PUT /boot-source HTTP/1.1\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     blen);
		memcpy(req + n, body, blen);
		memcpy(req + (size_t)n + blen, get_root, sizeof(get_root) - 1);
		send_all(fd, req, (size_t)n + blen + sizeof(get_root) - 1);
		if (!extra) {
			assert_int_equal(read_reply(fd, b, NULL), 204);
			assert_int_equal(strlen(s->f.cfg.kernel_path),
					 HTTP_MAX_BODY - 24);
			/* The pipelined request behind it. */
			assert_int_equal(read_reply(fd, b, NULL), 200);
		} else {
			assert_int_equal(read_reply(fd, b, NULL), 413);
			expect_eof(fd);
		}
	}
	close(fd);
	free(req);
	free(body);
	free(b);
}

/* One byte at a time, while another client is served in between. */
static void test_slow_client(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);

	for (size_t i = 0; i < sizeof(put_boot) - 1; i++) {
		send_all(fd, put_boot + i, 1);
		if (i % 16 == 0)
			assert_int_equal(request(s, get_root, NULL), 200);
	}
	assert_int_equal(read_reply(fd, b, NULL), 204);
	assert_string_equal(s->f.cfg.kernel_path, "/k");
	close(fd);
	free(b);
}

static void test_disconnect_mid_request(void **state)
{
	struct srv *s = *state;
	int fd = client(s);

	SEND(fd, "PUT /boot-source HTTP/1.1\r\nContent-Le");
	close(fd);
	/* Head complete, body short, then the client shuts its side. */
	fd = client(s);
	SEND(fd, "PUT /boot-source HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
	shutdown(fd, SHUT_WR);
	expect_eof(fd);
	close(fd);
	assert_int_equal(request(s, get_root, NULL), 200);
}

/* A complete request followed by a half-close is still answered. */
static void test_half_close(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);

	SEND(fd, get_root);
	shutdown(fd, SHUT_WR);
	assert_int_equal(read_reply(fd, b, NULL), 200);
	expect_eof(fd);
	close(fd);
	free(b);
}

static void test_garbage(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);
	json_t *j;

	SEND(fd, "\x16\x03\x01 hello, this is not HTTP\r\n\r\n");
	assert_int_equal(read_reply(fd, b, &j), 400);
	assert_true(json_is_string(json_object_get(j, "fault_message")));
	json_decref(j);
	expect_eof(fd);
	close(fd);
	/* A framing error after a good request on the same connection. */
	fd = client(s);
	SEND(fd, "GET / HTTP/1.1\r\n\r\nPUT /vm HTTP/1.1\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(read_reply(fd, b, NULL), 200);
	assert_int_equal(read_reply(fd, b, NULL), 501);
	expect_eof(fd);
	close(fd);
	free(b);
}

static void test_expect_continue(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fd = client(s);

	SEND(fd, "PUT /boot-source HTTP/1.1\r\nExpect: 100-continue\r\n"
		 "Content-Length: 26\r\n\r\n");
	assert_int_equal(read_reply(fd, b, NULL), 100);
	SEND(fd, "{\"kernel_image_path\":\"/k\"}");
	assert_int_equal(read_reply(fd, b, NULL), 204);
	close(fd);
	free(b);
}

/* A client that pipelines and never reads fills its socket, not us. */
static void test_unread_replies(void **state)
{
	struct srv *s = *state;
	int fd = client(s);
	size_t sent = 0;
	long long deadline = now_ms() + DEADLINE_MS;

	/* Send until the socket pushes back (the server stopped reading
	 * because its replies are not being read). */
	while (now_ms() < deadline) {
		ssize_t n = send(fd, get_root, sizeof(get_root) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			if (poll(&p, 1, 200) == 0)
				break; /* stuck: the server holds back */
			continue;
		}
		assert_true(n > 0);
		sent += (size_t)n;
	}
	assert_true(sent > 0);
	assert_int_equal(request(s, get_root, NULL), 200);
	close(fd);
	assert_int_equal(request(s, get_root, NULL), 200);
}

static void test_connection_limit(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int fds[16], extra, st = 0;
	long long deadline;
	json_t *j;

	for (int i = 0; i < 16; i++) {
		fds[i] = client(s);
		SEND(fds[i], get_root);
		assert_int_equal(read_reply(fds[i], b, NULL), 200);
	}
	extra = client(s);
	assert_int_equal(read_reply(extra, b, &j), 503);
	assert_non_null(
		strstr(json_string_value(json_object_get(j, "fault_message")),
		       "too many"));
	json_decref(j);
	expect_eof(extra);
	close(extra);
	close(fds[0]);
	/* The server notices the close on its own time: poll for the slot. */
	deadline = now_ms() + DEADLINE_MS;
	while (st != 200 && now_ms() < deadline) {
		b->len = 0;
		extra = client(s);
		SEND(extra, get_root);
		st = read_reply(extra, b, NULL);
		close(extra);
	}
	assert_int_equal(st, 200);
	for (int i = 1; i < 16; i++)
		close(fds[i]);
	free(b);
}

/* Clients that hold a connection without using it are timed out. */
static void test_timeouts(void **state)
{
	struct srv *s = *state;
	struct rbuf *b = calloc(1, sizeof(*b));
	int partial = client(s), silent = client(s), idle = client(s);
	int deaf = client(s);
	struct pollfd pfd = {.fd = deaf, .events = POLLRDHUP};
	json_t *j;

	/* Pipelines until the server stops reading, never reads a reply. */
	for (;;) {
		ssize_t n = send(deaf, get_root, sizeof(get_root) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			break;
		assert_true(n > 0);
	}

	SEND(partial, "GET / HTTP/1.1\r\nHost: x\r\n");
	SEND(idle, get_root);
	assert_int_equal(read_reply(idle, b, NULL), 200);
	assert_int_equal(read_reply(partial, b, &j), 408);
	assert_non_null(
		strstr(json_string_value(json_object_get(j, "fault_message")),
		       "did not arrive"));
	json_decref(j);
	expect_eof(partial);
	expect_eof(silent);
	expect_eof(idle);
	/* The server hung up on it, unread replies and all. */
	assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
	assert_true(pfd.revents & (POLLRDHUP | POLLHUP));
	close(deaf);
	close(partial);
	close(silent);
	close(idle);
	/* The server itself is fine. */
	assert_int_equal(request(s, get_root, NULL), 200);
	free(b);
}

/* libkiln's client talks to this server. */
static void test_libkiln_client(void **state)
{
	struct srv *s = *state;
	json_t *reply = NULL;
	char err[256];
	int status = 0;

	assert_int_equal(vmm_api_request(s->path, "GET", "/", NULL, DEADLINE_MS,
					 &status, &reply, err, sizeof(err)),
			 0);
	assert_int_equal(status, 200);
	assert_string_equal(
		json_string_value(json_object_get(reply, "app_name")),
		"kiln-vmm");
	json_decref(reply);
	assert_int_equal(vmm_api_expect(s->path, "PUT", "/actions",
					json_pack("{s:s}", "action_type",
						  "InstanceStart"),
					DEADLINE_MS, err, sizeof(err)),
			 0);
	assert_int_not_equal(
		vmm_api_expect(s->path, "PUT", "/boot-source",
			       json_pack("{s:s}", "kernel_image_path", "/k"),
			       DEADLINE_MS, err, sizeof(err)),
		0);
	assert_non_null(strstr(err, "not allowed after the VM started"));
}

static void test_start_errors(void **state)
{
	struct srv *s = *state;
	struct api_server *other;
	char err[256], longpath[200];

	/* The path is taken (by the running server). */
	assert_int_equal(api_server_start(s->loop, s->path, &fake_ops, &s->f,
					  &other, err, sizeof(err)),
			 -1);
	assert_null(other);
	assert_non_null(strstr(err, "bind"));
	/* The failed start must not have removed the live socket. */
	assert_int_equal(request(s, get_root, NULL), 200);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(api_server_start(s->loop, longpath, &fake_ops, &s->f,
					  &other, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "too long"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_keep_alive),
		T(test_large_body),
		T(test_pipelined),
		T(test_slow_client),
		T(test_disconnect_mid_request),
		T(test_half_close),
		T(test_garbage),
		T(test_expect_continue),
		T(test_unread_replies),
		T(test_connection_limit),
		T(test_libkiln_client),
		T(test_start_errors),
		cmocka_unit_test_prestate_setup_teardown(
			test_timeouts, setup, teardown,
			(void *)&short_timeouts_ms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
