/* SPDX-License-Identifier: MIT */
/*
 * Port forwarding (see forward.h).  A forward starts as a connection's
 * pending request: the agent connects to the guest address without
 * blocking (EPOLLOUT on the new socket) while the connection's input is
 * held back (conn_may_process()).  On success the OK reply is queued, the
 * connection's socket is taken over (with whatever output is still queued
 * and whatever input the client sent after the request: those bytes are
 * the start of the byte stream) and the connection object is retired.
 */
#include "agent/forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/log.h"
#include "agent/request.h"

/* read()/write() passes per direction per wakeup (fairness). */
#define FORWARD_PASSES 4

/* One direction: bytes read from one side, not yet written to the other. */
struct fwd_dir {
	uint8_t *buf;
	size_t off, len;
	bool eof; /* the source shut down its sending side */
	bool shut; /* and that was passed on: shutdown(dst, SHUT_WR) */
	uint64_t total;
};

struct forward {
	struct agent *ag;
	struct forward *next, *prev; /* ag->forwards or ag->dead_forwards */
	unsigned int serial; /* its connection's, for the log */
	char where[80]; /* "127.0.0.1 port 8080" */
	char host[64];
	unsigned int port;

	/* while connecting */
	struct conn *conn;
	uint32_t req_id;

	int cfd; /* the client's (vsock) socket, -1 while connecting */
	int tfd; /* the guest TCP socket */
	struct loop_watch cw, tw;
	struct fwd_dir up; /* client -> target */
	struct fwd_dir down; /* target -> client */
	bool dead;
};

static void forward_on_client(struct loop_watch *w, uint32_t events);
static void forward_on_target(struct loop_watch *w, uint32_t events);

/* Retire f: close its sockets, free it after this batch. */
static void forward_close(struct forward *f, const char *why)
{
	struct agent *ag = f->ag;

	if (f->dead)
		return;
	f->dead = true;
	log_debug("forward %u to %s closed: %s (%llu bytes in, %llu out)",
		  f->serial, f->where, why, (unsigned long long)f->up.total,
		  (unsigned long long)f->down.total);
	if (f->cfd >= 0) {
		loop_watch_del(&ag->loop, &f->cw);
		close(f->cfd);
		f->cfd = -1;
	}
	if (f->tfd >= 0) {
		loop_watch_del(&ag->loop, &f->tw);
		close(f->tfd);
		f->tfd = -1;
	}
	if (f->conn) { /* still connecting: not on ag->forwards */
		f->conn->forward = NULL;
		f->conn = NULL;
	} else {
		if (f->prev)
			f->prev->next = f->next;
		else
			ag->forwards = f->next;
		if (f->next)
			f->next->prev = f->prev;
		ag->nforwards--;
	}
	f->prev = NULL;
	f->next = ag->dead_forwards;
	ag->dead_forwards = f;
}

/* ---- the relay ----------------------------------------------------------- */

/* Read what fits from src into d: 1 progress, 0 none, -1 error. */
static int dir_fill(struct fwd_dir *d, int src)
{
	ssize_t n;

	if (d->eof || d->len == FORWARD_BUF)
		return 0;
	if (d->off > 0 && d->off + d->len == FORWARD_BUF) {
		memmove(d->buf, d->buf + d->off, d->len);
		d->off = 0;
	}
	n = recv(src, d->buf + d->off + d->len, FORWARD_BUF - d->off - d->len,
		 MSG_DONTWAIT);
	if (n > 0) {
		d->len += (size_t)n;
		d->total += (uint64_t)n;
		return 1;
	}
	if (n == 0) {
		d->eof = true;
		return 1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Write what dst takes from d; pass an ended stream on. */
static int dir_drain(struct fwd_dir *d, int dst)
{
	int progress = 0;

	if (d->len > 0) {
		ssize_t n = send(dst, d->buf + d->off, d->len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		d->off += (size_t)n;
		d->len -= (size_t)n;
		if (d->len == 0)
			d->off = 0;
		progress = n > 0;
	}
	if (d->eof && d->len == 0 && !d->shut) {
		d->shut = true;
		/* ENOTCONN: the other side is gone already; nothing to tell */
		shutdown(dst, SHUT_WR);
		progress = 1;
	}
	return progress;
}

static uint32_t dir_want_read(const struct fwd_dir *d)
{
	return !d->eof && d->len < FORWARD_BUF ? EPOLLIN : 0;
}

static uint32_t dir_want_write(const struct fwd_dir *d)
{
	return d->len > 0 ? EPOLLOUT : 0;
}

/* Move bytes both ways as far as the sockets allow, then re-arm. */
static void forward_pump(struct forward *f)
{
	for (int pass = 0; pass < FORWARD_PASSES && !f->dead; pass++) {
		int a = dir_fill(&f->up, f->cfd);
		int b = a < 0 ? 0 : dir_drain(&f->up, f->tfd);
		int c = b < 0 ? 0 : dir_fill(&f->down, f->tfd);
		int d = c < 0 ? 0 : dir_drain(&f->down, f->cfd);

		if (a < 0 || b < 0 || c < 0 || d < 0) {
			forward_close(f, strerror(errno));
			return;
		}
		if (!a && !b && !c && !d)
			break;
	}
	if (f->up.shut && f->down.shut) {
		forward_close(f, "both directions ended");
		return;
	}
	if (loop_watch_set(&f->ag->loop, &f->cw,
			   dir_want_read(&f->up) | dir_want_write(&f->down)) <
		    0 ||
	    loop_watch_set(&f->ag->loop, &f->tw,
			   dir_want_read(&f->down) | dir_want_write(&f->up)) <
		    0)
		forward_close(f, "epoll failed");
}

static void forward_on_client(struct loop_watch *w, uint32_t events)
{
	struct forward *f = w->owner;

	if (!f->dead)
		forward_pump(f);
}

/* ---- connecting -----------------------------------------------------------
 */

/* The connection is made: reply, take the socket over, start relaying. */
static void forward_established(struct forward *f)
{
	struct conn *c = f->conn;
	size_t pend, in;

	f->up.buf = malloc(FORWARD_BUF);
	f->down.buf = malloc(FORWARD_BUF);
	if (!f->up.buf || !f->down.buf) {
		conn_send_error(c, f->req_id, PROTO_E_INTERNAL,
				"forward: out of memory");
		c->closing = true;
		forward_close(f, "out of memory");
		conn_kick(c);
		return;
	}
	conn_send_result(
		c, f->req_id,
		json_pack("{s:s,s:i}", "host", f->host, "port", (int)f->port));
	pend = c->out_len - c->out_off;
	in = c->in_len - c->in_off;
	if (c->dead || c->closing || pend > FORWARD_BUF || in > FORWARD_BUF) {
		forward_close(f, "connection failed while replying");
		if (!c->dead)
			conn_kick(c);
		return;
	}
	/* Queued replies go first; early client bytes start the stream. */
	memcpy(f->down.buf, c->out + c->out_off, pend);
	f->down.len = pend;
	memcpy(f->up.buf, c->in + c->in_off, in);
	f->up.len = in;
	f->up.total = in;
	f->up.eof = c->read_eof;
	c->forward = NULL;
	f->conn = NULL;
	f->cfd = conn_take_fd(c, "became a port forward");
	loop_watch_init(&f->cw, f->cfd, forward_on_client, f, false);
	f->next = f->ag->forwards;
	if (f->ag->forwards)
		f->ag->forwards->prev = f;
	f->ag->forwards = f;
	f->ag->nforwards++;
	log_debug("forward %u to %s established", f->serial, f->where);
	forward_pump(f);
}

static void forward_on_target(struct loop_watch *w, uint32_t events)
{
	struct forward *f = w->owner;
	socklen_t len = sizeof(int);
	struct conn *c;
	int e = 0;

	if (f->dead)
		return;
	if (!f->conn) {
		forward_pump(f);
		return;
	}
	c = f->conn;
	if (getsockopt(f->tfd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e == 0) {
		forward_established(f);
		return;
	}
	if (e == ECONNREFUSED)
		conn_send_error(c, f->req_id, PROTO_E_CONN_REFUSED,
				"forward: connection refused by %s in the "
				"guest (nothing listens there?)",
				f->where);
	else
		conn_send_error(c, f->req_id, PROTO_E_FORWARD,
				"forward: connecting to %s in the guest: %s",
				f->where, strerror(e));
	c->closing = true;
	forward_close(f, strerror(e));
	conn_kick(c);
}

void forward_op(struct conn *c, uint32_t id, json_t *obj)
{
	struct sockaddr_storage ss;
	struct forward_req req;
	struct forward *f;
	socklen_t salen;
	char err[256];
	int fd;

	if (request_parse_forward(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (c->procs || c->files || c->identity || c->forward) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"forward: must be the only request on its "
				"connection (open a new connection for it)");
		return;
	}
	if (c->ag->nforwards >= FORWARD_MAX) {
		conn_send_error(c, id, PROTO_E_LIMIT,
				"forward: too many forwards (limit %d); close "
				"some and retry",
				FORWARD_MAX);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (req.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(req.port);
		memcpy(&sin->sin_addr, req.addr, 4);
		salen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(req.port);
		memcpy(&sin6->sin6_addr, req.addr, 16);
		salen = sizeof(*sin6);
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"forward: out of memory");
		return;
	}
	f->ag = c->ag;
	f->serial = c->serial;
	f->conn = c;
	f->req_id = id;
	f->cfd = -1;
	memcpy(f->host, req.host, sizeof(f->host));
	f->port = req.port;
	snprintf(f->where, sizeof(f->where), "%s port %u", req.host,
		 (unsigned int)req.port);
	fd = socket(req.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_send_error(c, id, PROTO_E_FORWARD, "forward: socket: %s",
				strerror(errno));
		free(f);
		return;
	}
	f->tfd = fd;
	loop_watch_init(&f->tw, fd, forward_on_target, f, false);
	if (connect(fd, (struct sockaddr *)&ss, salen) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		conn_send_error(c, id,
				e == ECONNREFUSED ? PROTO_E_CONN_REFUSED
						  : PROTO_E_FORWARD,
				"forward: connecting to %s in the guest: %s",
				f->where, strerror(e));
		close(fd);
		free(f);
		c->closing = true;
		return;
	}
	if (loop_watch_set(&c->ag->loop, &f->tw, EPOLLOUT) < 0) {
		conn_send_error(c, id, PROTO_E_INTERNAL, "forward: epoll: %s",
				strerror(errno));
		close(fd);
		free(f);
		return;
	}
	c->forward = f;
	log_debug("connection %u: forward to %s: connecting", c->serial,
		  f->where);
}

void forward_conn_close(struct conn *c)
{
	if (c->forward)
		forward_close(c->forward, "its connection closed");
}

void forward_close_all(struct agent *ag)
{
	while (ag->forwards)
		forward_close(ag->forwards, "agent stopping");
}

void forward_reap_dead(struct agent *ag)
{
	while (ag->dead_forwards) {
		struct forward *f = ag->dead_forwards;

		ag->dead_forwards = f->next;
		free(f->up.buf);
		free(f->down.buf);
		free(f);
	}
}
