/* SPDX-License-Identifier: MIT */
/*
 * The API server: a non-blocking Unix socket served from the event loop.
 * Each connection has one input buffer (one request at a time, at most
 * HTTP_MAX_HEAD + HTTP_MAX_BODY bytes) and one pending response.  While a
 * response is being written the connection is not read, so pipelined
 * requests wait in the kernel's socket buffer and the memory a client can
 * make us hold stays bounded.  A malformed request gets its 4xx/5xx and the
 * connection is closed: after a framing error nothing that follows can be
 * trusted to be a request.
 *
 * Connections are few (API_MAX_CONNS), so clients that hold one without
 * using it are timed out: a request must arrive whole within
 * API_REQUEST_MS of its first byte (else 408), a reply the client does not
 * read for API_REQUEST_MS is abandoned, and an idle keep-alive connection
 * is closed after API_IDLE_MS.  A timerfd ticks only while connections
 * exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "api_routes.h"
#include "evloop.h"
#include "http.h"

#define API_MAX_CONNS 16
#define API_IN_CAP (HTTP_MAX_HEAD + HTTP_MAX_BODY)
#define API_ACCEPT_BATCH 16
#define API_REQUEST_MS 10000
#define API_IDLE_MS 60000

struct api_conn {
	struct api_server *srv;
	int fd;
	uint32_t events; /* the epoll mask registered now */
	char *in; /* API_IN_CAP bytes: the current request and what follows */
	size_t in_len;
	struct http_parser parser;
	bool sent_continue; /* "100 Continue" sent for the current request */
	char *out; /* the response being written, or NULL */
	size_t out_len, out_off;
	bool closing; /* close once out is written */
	bool peer_eof; /* the client shut down its side */
	bool dead; /* the socket failed: close now */
	long long since_ms; /* the current request's first byte, or when the
			       connection became idle */
	long long sent_ms; /* the last progress writing out */
};

struct api_server {
	struct evloop *loop;
	int fd;
	char *path;
	const struct api_ops *ops;
	void *ctx;
	struct api_conn *conns[API_MAX_CONNS];
	int timer_fd;
	bool timer_armed;
	int request_ms, idle_ms;
};

static long long api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tick while there are connections to time out, a few times per timeout. */
static void api_timer_update(struct api_server *s)
{
	int period =
		(s->request_ms < s->idle_ms ? s->request_ms : s->idle_ms) / 4;
	struct itimerspec its = {0};
	bool any = false;

	for (int i = 0; i < API_MAX_CONNS; i++)
		any |= s->conns[i] != NULL;
	if (any == s->timer_armed)
		return;
	if (period < 10)
		period = 10;
	if (any) {
		its.it_interval.tv_sec = period / 1000;
		its.it_interval.tv_nsec = (long)(period % 1000) * 1000000;
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(s->timer_fd, 0, &its, NULL) == 0)
		s->timer_armed = any;
}

static void api_conn_close(struct api_conn *c)
{
	struct api_server *s = c->srv;

	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	evloop_del(s->loop, c->fd);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	api_timer_update(s);
}

/* Write as much of the pending response as the socket takes now. */
static void api_conn_flush(struct api_conn *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->sent_ms = api_now_ms();
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			c->dead = true; /* EPIPE, ECONNRESET: the client left */
			return;
		}
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
}

static void api_conn_send(struct api_conn *c, char *msg, size_t len)
{
	if (!msg) {
		fprintf(stderr, "kiln-vmm: api: out of memory for a response; "
				"closing the connection\n");
		c->dead = true;
		return;
	}
	c->out = msg;
	c->out_len = len;
	c->out_off = 0;
	c->sent_ms = api_now_ms();
	api_conn_flush(c);
}

static void api_conn_reply(struct api_conn *c, const struct api_reply *r,
			   bool close_after)
{
	size_t len = 0;
	char *msg = http_response_format(r->status, r->body, r->body_len,
					 close_after, &len);

	if (close_after)
		c->closing = true;
	api_conn_send(c, msg, len);
}

/* Answer every complete request in the buffer until a response has to
 * wait for the socket or more bytes are needed. */
static void api_conn_process(struct api_conn *c)
{
	struct api_server *s = c->srv;

	while (!c->dead && !c->closing && !c->out) {
		struct api_reply r = {0};
		size_t used;
		int rc = http_parse(&c->parser, c->in, c->in_len);

		if (rc == HTTP_ERROR) {
			api_reply_fault(&r, c->parser.status, "%s",
					c->parser.error);
			api_conn_reply(c, &r, true);
			api_reply_free(&r);
			return;
		}
		if (rc == HTTP_NEED_MORE) {
			if (c->peer_eof) {
				/* Gone mid-request: nobody to answer. */
				c->closing = true;
			} else if (http_parser_wants_continue(&c->parser) &&
				   !c->sent_continue) {
				size_t len = 0;
				char *msg = http_response_format(100, NULL, 0,
								 false, &len);

				c->sent_continue = true;
				api_conn_send(c, msg, len);
			}
			return;
		}
		api_route(s->ops, s->ctx, &c->parser.req, &r);
		api_conn_reply(c, &r, !c->parser.req.keep_alive);
		api_reply_free(&r);
		used = c->parser.len;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		http_parser_init(&c->parser);
		c->sent_continue = false;
		/* The next request's clock starts now if it has begun,
		 * else the idle clock does. */
		c->since_ms = api_now_ms();
	}
}

static void api_conn_read(struct api_conn *c)
{
	ssize_t n;

	if (c->in_len == API_IN_CAP) {
		/* Cannot happen: the parser refuses a request before it
		 * fills the buffer.  Do not spin on a readable socket. */
		c->dead = true;
		return;
	}
	n = recv(c->fd, c->in + c->in_len, API_IN_CAP - c->in_len,
		 MSG_DONTWAIT);
	if (n > 0 && c->in_len == 0)
		c->since_ms = api_now_ms(); /* a request begins */
	if (n > 0)
		c->in_len += (size_t)n;
	else if (n == 0)
		c->peer_eof = true;
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		c->dead = true;
}

/* Register what the connection waits for now, or close it. */
static void api_conn_update(struct api_conn *c)
{
	uint32_t want = 0;

	if (!c->dead && c->out)
		want = EPOLLOUT;
	else if (!c->dead && !c->closing && !c->peer_eof)
		want = EPOLLIN | EPOLLRDHUP;
	if (!want) {
		api_conn_close(c);
		return;
	}
	if (want != c->events) {
		if (evloop_mod(c->srv->loop, c->fd, want)) {
			api_conn_close(c);
			return;
		}
		c->events = want;
	}
}

static void api_conn_event(void *opaque, uint32_t events)
{
	struct api_conn *c = opaque;

	if (events & EPOLLERR) {
		api_conn_close(c);
		return;
	}
	if (c->out && (events & (EPOLLOUT | EPOLLHUP)))
		api_conn_flush(c);
	else if (!c->out && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
		api_conn_read(c);
	api_conn_process(c);
	api_conn_update(c);
}

/*
 * Time out connections: a request still incomplete after request_ms gets a
 * 408 and the connection closes; a reply not read for request_ms is
 * abandoned; an idle connection closes after idle_ms.
 */
static void api_timer_tick(void *opaque, uint32_t events)
{
	struct api_server *s = opaque;
	long long now = api_now_ms();
	uint64_t ticks;

	if (read(s->timer_fd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: a spurious wakeup; the check below is harmless. */
	}
	for (int i = 0; i < API_MAX_CONNS; i++) {
		struct api_conn *c = s->conns[i];

		if (!c)
			continue;
		if (c->out) {
			if (now - c->sent_ms >= s->request_ms)
				api_conn_close(c);
			continue;
		}
		if (c->in_len && now - c->since_ms >= s->request_ms) {
			struct api_reply r = {0};

			api_reply_fault(&r, 408,
					"the request did not arrive within %d "
					"ms",
					s->request_ms);
			api_conn_reply(c, &r, true);
			api_reply_free(&r);
			api_conn_update(c);
		} else if (!c->in_len && now - c->since_ms >= s->idle_ms) {
			api_conn_close(c);
		}
	}
}

/* Over the connection limit: say so without waiting, then hang up. */
static void api_refuse(int fd)
{
	struct api_reply r = {0};
	size_t len = 0;
	char *msg;

	api_reply_fault(&r, 503,
			"too many API connections (at most %d): close one "
			"and retry",
			API_MAX_CONNS);
	msg = http_response_format(r.status, r.body, r.body_len, true, &len);
	if (msg && send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* Best effort: the connection is closed either way. */
	}
	free(msg);
	api_reply_free(&r);
	close(fd);
}

static void api_accept_one(struct api_server *s, int fd)
{
	struct api_conn *c;
	int slot = -1;

	for (int i = 0; i < API_MAX_CONNS && slot < 0; i++)
		if (!s->conns[i])
			slot = i;
	if (slot < 0) {
		api_refuse(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(API_IN_CAP);
	if (!c || !c->in) {
		fprintf(stderr, "kiln-vmm: api: out of memory for a new "
				"connection\n");
		if (c)
			free(c);
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->events = EPOLLIN | EPOLLRDHUP;
	c->since_ms = api_now_ms();
	http_parser_init(&c->parser);
	if (evloop_add(s->loop, fd, c->events, api_conn_event, c)) {
		fprintf(stderr, "kiln-vmm: api: cannot watch a new "
				"connection\n");
		free(c->in);
		free(c);
		close(fd);
		return;
	}
	s->conns[slot] = c;
	api_timer_update(s);
}

static void api_accept(void *opaque, uint32_t events)
{
	struct api_server *s = opaque;

	for (int i = 0; i < API_ACCEPT_BATCH; i++) {
		int fd = accept4(s->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr,
					"kiln-vmm: api: accept on %s: %s\n",
					s->path, strerror(errno));
			return;
		}
		api_accept_one(s, fd);
	}
}

int api_server_start(struct evloop *loop, const char *path,
		     const struct api_ops *ops, void *ctx,
		     struct api_server **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct api_server *s;
	bool bound = false;
	int rc;

	*out = NULL;
	if (!ops || !ops->state || !ops->config) {
		snprintf(err, errlen, "API socket %s: incomplete api_ops",
			 path);
		return -1;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen,
			 "API socket path %s is too long for a Unix socket "
			 "(max %zu bytes)",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->loop = loop;
	s->ops = ops;
	s->ctx = ctx;
	s->request_ms = API_REQUEST_MS;
	s->idle_ms = API_IDLE_MS;
	s->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->timer_fd < 0 || s->fd < 0) {
		snprintf(err, errlen, "API socket %s: socket: %s", path,
			 strerror(errno));
		goto fail;
	}
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "API socket %s: bind: %s%s", path,
			 strerror(errno),
			 errno == EADDRINUSE ? " (remove the stale socket "
					       "or pick another path)"
					     : "");
		goto fail;
	}
	bound = true;
	/* The API controls the VM: only its owner may connect. */
	if (chmod(path, 0600) < 0 || listen(s->fd, API_MAX_CONNS) < 0) {
		snprintf(err, errlen, "API socket %s: %s", path,
			 strerror(errno));
		goto fail;
	}
	rc = evloop_add(loop, s->timer_fd, EPOLLIN, api_timer_tick, s);
	if (rc) {
		snprintf(err, errlen,
			 "API socket %s: cannot watch its timer: %s", path,
			 strerror(-rc));
		goto fail;
	}
	rc = evloop_add(loop, s->fd, EPOLLIN, api_accept, s);
	if (rc) {
		evloop_del(loop, s->timer_fd);
		snprintf(err, errlen, "API socket %s: cannot watch it: %s",
			 path, strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	if (bound)
		unlink(path);
	free(s->path);
	free(s);
	return -1;
}

void api_server_set_timeouts(struct api_server *s, int request_ms, int idle_ms)
{
	struct itimerspec off = {0};

	s->request_ms = request_ms > 0 ? request_ms : API_REQUEST_MS;
	s->idle_ms = idle_ms > 0 ? idle_ms : API_IDLE_MS;
	/* Disarm, then re-arm with the new period if there are connections. */
	timerfd_settime(s->timer_fd, 0, &off, NULL);
	s->timer_armed = false;
	api_timer_update(s);
}

void api_server_free(struct api_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < API_MAX_CONNS; i++)
		if (s->conns[i])
			api_conn_close(s->conns[i]);
	evloop_del(s->loop, s->fd);
	close(s->fd);
	evloop_del(s->loop, s->timer_fd);
	close(s->timer_fd);
	unlink(s->path);
	free(s->path);
	free(s);
}
