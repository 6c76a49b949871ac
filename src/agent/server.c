/* SPDX-License-Identifier: MIT */
/*
 * Listeners and connections (see server.h).  Everything is non-blocking
 * and driven by the agent's epoll loop.  A connection reads at most
 * AGENT_CHUNK bytes at a time into c->in and feeds them to the frame
 * reader only while it may produce more output: when its output queue is
 * over the high-water mark or a command's stdin queue is full, the bytes
 * wait in c->in and the socket is not read, so a client that does not
 * read makes the agent stop reading from it (and from its commands'
 * pipes) instead of buffering without bound.
 */
#include "agent/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent/detach.h"
#include "agent/exec.h"
#include "agent/files.h"
#include "agent/forward.h"
#include "agent/identity.h"
#include "agent/log.h"
#include "agent/request.h"

/* Accept at most this many connections per wakeup (fairness). */
#define ACCEPT_BATCH 16
/* Give back output buffers larger than this when they empty. */
#define OUT_KEEP (256u << 10)

struct listener {
	struct agent *ag;
	int fd;
	struct loop_watch w;
	char desc[128];
	char *unix_path; /* removed when the listener closes */
};

static unsigned int conn_serial;

static void listener_on_event(struct loop_watch *w, uint32_t events);
static void conn_on_event(struct loop_watch *w, uint32_t events);
static void conn_settle(struct conn *c);

static int listen_vsock(const char *arg, int *fdp, char *desc, size_t desclen,
			char *err, size_t errlen)
{
	struct sockaddr_vm sa = {.svm_family = AF_VSOCK};
	unsigned long port;
	char *end;
	int fd;

	errno = 0;
	port = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || port == 0 ||
	    port >= VMADDR_PORT_ANY) {
		snprintf(err, errlen,
			 "listen: bad vsock port \"%s\" (want 1..4294967294)",
			 arg);
		return -1;
	}
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen,
			 "listen: vsock socket: %s (is the kernel built with "
			 "CONFIG_VIRTIO_VSOCKETS?)",
			 strerror(errno));
		return -1;
	}
	sa.svm_cid = VMADDR_CID_ANY;
	sa.svm_port = (unsigned int)port;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0) {
		snprintf(err, errlen, "listen: vsock port %lu: %s", port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(desc, desclen, "vsock port %lu", port);
	*fdp = fd;
	return 0;
}

static int listen_unix(const char *path, int *fdp, char *desc, size_t desclen,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen,
			 "listen: unix socket path \"%s\" is empty or longer "
			 "than %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "listen: %s exists and is not a socket; "
				 "remove it or pick another path",
				 path);
			return -1;
		}
		unlink(path); /* stale socket of an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen: unix socket: %s",
			 strerror(errno));
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0) {
		snprintf(err, errlen, "listen: unix socket %s: %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(desc, desclen, "unix socket %s", path);
	*fdp = fd;
	return 0;
}

int server_listen(struct agent *ag, const char *spec, char *err, size_t errlen)
{
	struct listener *l;
	int fd = -1, rc;
	char desc[128];

	if (ag->nlisteners >= AGENT_MAX_LISTENERS) {
		snprintf(err, errlen, "listen: at most %d listeners",
			 AGENT_MAX_LISTENERS);
		return -1;
	}
	if (strncmp(spec, "vsock:", 6) == 0)
		rc = listen_vsock(spec + 6, &fd, desc, sizeof(desc), err,
				  errlen);
	else if (strncmp(spec, "unix:", 5) == 0)
		rc = listen_unix(spec + 5, &fd, desc, sizeof(desc), err,
				 errlen);
	else {
		snprintf(err, errlen,
			 "listen: \"%s\" is neither vsock:PORT nor unix:PATH",
			 spec);
		return -1;
	}
	if (rc < 0)
		return -1;
	l = calloc(1, sizeof(*l));
	if (!l || (strncmp(spec, "unix:", 5) == 0 &&
		   !(l->unix_path = strdup(spec + 5)))) {
		snprintf(err, errlen, "listen: out of memory");
		free(l);
		close(fd);
		return -1;
	}
	l->ag = ag;
	l->fd = fd;
	memcpy(l->desc, desc, sizeof(desc));
	loop_watch_init(&l->w, fd, listener_on_event, l, false);
	rc = loop_watch_set(&ag->loop, &l->w, EPOLLIN);
	if (rc < 0) {
		snprintf(err, errlen, "listen: epoll: %s", strerror(-rc));
		free(l->unix_path);
		free(l);
		close(fd);
		return -1;
	}
	ag->listeners[ag->nlisteners++] = l;
	return 0;
}

void server_describe(const struct agent *ag, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < ag->nlisteners && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				 ag->listeners[i]->desc);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

void server_close_listeners(struct agent *ag)
{
	for (unsigned int i = 0; i < ag->nlisteners; i++) {
		struct listener *l = ag->listeners[i];

		loop_watch_del(&ag->loop, &l->w);
		close(l->fd);
		if (l->unix_path)
			unlink(l->unix_path);
		free(l->unix_path);
		free(l);
	}
	ag->nlisteners = 0;
}

/* Too many connections: tell the client why, best effort, and hang up. */
static void refuse_conn(int fd)
{
	char msg[160];
	uint8_t frame[PROTO_HDR_SIZE + sizeof(msg)];
	int n;

	n = snprintf(msg, sizeof(msg),
		     "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"too "
		     "many connections (limit %d); close some and retry\"}",
		     PROTO_E_LIMIT, AGENT_MAX_CONNS);
	proto_hdr_encode(frame, PROTO_CONTROL, 0, (uint32_t)n);
	memcpy(frame + PROTO_HDR_SIZE, msg, (size_t)n);
	if (send(fd, frame, PROTO_HDR_SIZE + (size_t)n,
		 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("refusing connection: %s", strerror(errno));
	close(fd);
}

static void conn_new(struct agent *ag, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->in = malloc(AGENT_CHUNK);
	if (!c || !c->in) {
		log_msg("accept: out of memory; dropping a connection");
		if (c)
			free(c);
		close(fd);
		return;
	}
	c->ag = ag;
	c->fd = fd;
	c->serial = ++conn_serial;
	proto_reader_init(&c->rd, PROTO_MAX_PAYLOAD);
	loop_watch_init(&c->w, fd, conn_on_event, c, true);
	if (loop_watch_set(&ag->loop, &c->w, EPOLLIN) < 0) {
		log_msg("accept: epoll: %s; dropping a connection",
			strerror(errno));
		proto_reader_free(&c->rd);
		free(c->in);
		free(c);
		close(fd);
		return;
	}
	c->next = ag->conns;
	if (ag->conns)
		ag->conns->prev = c;
	ag->conns = c;
	ag->nconns++;
	log_debug("connection %u opened", c->serial);
}

static void listener_on_event(struct loop_watch *w, uint32_t events)
{
	struct listener *l = w->owner;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(l->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/*
				 * Out of descriptors: stop accepting until a
				 * connection closes, or the level-triggered
				 * listener would spin.
				 */
				log_msg("accept on %s: %s; pausing it until a "
					"connection closes",
					l->desc, strerror(errno));
				loop_watch_set(&l->ag->loop, &l->w, 0);
			}
			return;
		}
		if (l->ag->nconns >= AGENT_MAX_CONNS || l->ag->stopping) {
			refuse_conn(fd);
			continue;
		}
		conn_new(l->ag, fd);
	}
}

static void listeners_resume(struct agent *ag)
{
	for (unsigned int i = 0; i < ag->nlisteners; i++)
		loop_watch_set(&ag->loop, &ag->listeners[i]->w, EPOLLIN);
}

/* ---- output queue ------------------------------------------------------ */

static size_t out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

bool conn_out_full(const struct conn *c)
{
	return c->out_paused;
}

static bool out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (c->out_len + n <= c->out_cap)
		return true;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, out_pending(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + n <= c->out_cap)
			return true;
	}
	cap = c->out_cap ? c->out_cap : 16384;
	while (cap < c->out_len + n)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p) {
		log_msg("connection %u: out of memory for %zu bytes of output; "
			"closing it",
			c->serial, n);
		c->closing = true;
		c->out_off = c->out_len = 0; /* nothing coherent to flush */
		return false;
	}
	c->out = p;
	c->out_cap = cap;
	return true;
}

static void out_note_growth(struct conn *c)
{
	if (c->out_paused || out_pending(c) < AGENT_OUT_HIGH)
		return;
	c->out_paused = true;
	for (struct proc *p = c->procs; p; p = p->conn_next)
		proc_output_pause(p);
}

static void out_append_frame(struct conn *c, uint8_t kind, uint32_t id,
			     const void *buf, size_t len)
{
	if (c->dead || c->closing || !out_reserve(c, PROTO_HDR_SIZE + len))
		return;
	proto_hdr_encode(c->out + c->out_len, kind, id, (uint32_t)len);
	if (len)
		memcpy(c->out + c->out_len + PROTO_HDR_SIZE, buf, len);
	c->out_len += PROTO_HDR_SIZE + len;
	out_note_growth(c);
	conn_settle(c);
}

uint8_t *conn_data_begin(struct conn *c, size_t max)
{
	if (c->dead || c->closing || !out_reserve(c, PROTO_HDR_SIZE + max))
		return NULL;
	return c->out + c->out_len + PROTO_HDR_SIZE;
}

void conn_data_commit(struct conn *c, uint8_t kind, uint32_t id, size_t len)
{
	proto_hdr_encode(c->out + c->out_len, kind, id, (uint32_t)len);
	c->out_len += PROTO_HDR_SIZE + len;
	out_note_growth(c);
	conn_settle(c);
}

void conn_send_json(struct conn *c, uint32_t id, json_t *obj)
{
	size_t len;
	char *s = obj ? proto_json_dump(obj, &len) : NULL;

	json_decref(obj);
	if (!s) {
		log_msg("connection %u: cannot encode a reply to request %u "
			"(out of memory?); closing it",
			c->serial, id);
		c->closing = true;
		conn_settle(c);
		return;
	}
	out_append_frame(c, PROTO_CONTROL, id, s, len);
	free(s);
}

void conn_send_error(struct conn *c, uint32_t id, const char *code,
		     const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	json_t *obj;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("connection %u request %u: error %s: %s", c->serial, id, code,
		  msg);
	obj = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
			"message", msg);
	if (!obj) /* msg was cut inside a UTF-8 sequence: say less */
		obj = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
				"message", code);
	conn_send_json(c, id, obj);
}

void conn_send_result(struct conn *c, uint32_t id, json_t *extra)
{
	json_t *obj = json_pack("{s:s}", "type", "result");

	if (obj && extra)
		json_object_update(obj, extra);
	json_decref(extra);
	conn_send_json(c, id, obj);
}

void conn_send_eof(struct conn *c, uint32_t id, enum proto_stream stream)
{
	uint8_t b = (uint8_t)stream;

	out_append_frame(c, PROTO_EOF, id, &b, 1);
}

/* ---- connection I/O ----------------------------------------------------- */

static bool conn_stdin_blocked(const struct conn *c)
{
	for (const struct proc *p = c->procs; p; p = p->conn_next)
		if (proc_stdin_full(p))
			return true;
	return false;
}

static bool conn_may_process(const struct conn *c)
{
	return !c->dead && !c->closing && !c->out_paused && !c->ag->stopping &&
	       !c->forward && !conn_stdin_blocked(c);
}

static void conn_process_input(struct conn *c)
{
	while (c->in_off < c->in_len && conn_may_process(c)) {
		size_t used;
		enum proto_event ev;

		ev = proto_reader_feed(&c->rd, c->in + c->in_off,
				       c->in_len - c->in_off, &used);
		c->in_off += used;
		switch (ev) {
		case PROTO_EV_NEED_MORE:
			break;
		case PROTO_EV_FRAME:
			request_handle_frame(c, &c->rd.hdr, c->rd.payload);
			break;
		case PROTO_EV_OVERSIZED:
			conn_send_error(
				c, c->rd.hdr.id, PROTO_E_TOO_LARGE,
				"%s frame of %u bytes is over the limit "
				"of %u bytes; skipped it",
				proto_kind_name(c->rd.hdr.kind), c->rd.hdr.len,
				PROTO_MAX_PAYLOAD);
			break;
		case PROTO_EV_NOMEM:
			conn_send_error(c, c->rd.hdr.id, PROTO_E_INTERNAL,
					"agent out of memory for a %u-byte "
					"frame; skipped it",
					c->rd.hdr.len);
			break;
		case PROTO_EV_BAD_MAGIC:
			conn_send_error(
				c, 0, PROTO_E_BAD_FRAME,
				"bad frame header (starts 0x%02x 0x%02x, "
				"want 'K' 'N'): not kiln agent protocol "
				"v1 or out of sync; closing the "
				"connection",
				c->rd.hdr_raw[0], c->rd.hdr_raw[1]);
			c->closing = true;
			break;
		}
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

static void conn_read(struct conn *c, uint32_t events)
{
	ssize_t n;

	if (c->in_off < c->in_len)
		return; /* still holding unprocessed input */
	n = recv(c->fd, c->in, AGENT_CHUNK, MSG_DONTWAIT);
	if (n > 0) {
		/* Processed by conn_settle(), which guards against re-entry. */
		c->in_off = 0;
		c->in_len = (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c, strerror(errno));
		return;
	}
	if (proto_reader_mid_frame(&c->rd))
		conn_send_error(c, 0, PROTO_E_BAD_FRAME,
				"connection closed in the middle of a frame "
				"(truncated %s frame of %u bytes)",
				proto_kind_name(c->rd.hdr.kind), c->rd.hdr.len);
	c->read_eof = true;
	detach_conn_eof(c); /* a closed client, through the VMM */
	if (events & EPOLLHUP)
		conn_close(c, "peer closed the connection");
}

static void conn_flush(struct conn *c)
{
	/* Bounded: each send() progresses or we return. */
	while (out_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(c, n < 0 ? strerror(errno) : "send failed");
			return;
		}
		c->out_off += (size_t)n;
	}
	if (out_pending(c) == 0) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	if (c->out_paused && out_pending(c) <= AGENT_OUT_LOW) {
		c->out_paused = false;
		for (struct proc *p = c->procs; p; p = p->conn_next)
			proc_output_resume(p);
	}
}

/*
 * Bring the connection to a consistent state after anything happened:
 * process held-back input, flush, close if finished, and wait for the
 * right events.  Re-entry (a reply queued while processing input) only
 * marks that another pass is needed.
 */
static void conn_settle(struct conn *c)
{
	static const int max_passes = 64;
	uint32_t ev;

	if (c->dead)
		return;
	if (c->settling) {
		c->settle_again = true;
		return;
	}
	c->settling = true;
	for (int pass = 0; pass < max_passes; pass++) {
		c->settle_again = false;
		conn_process_input(c);
		/* Once per settle: a bounded amount per loop iteration. */
		if (pass == 0 && !c->dead)
			files_pump(c);
		if (!c->dead && out_pending(c) > 0)
			conn_flush(c);
		if (c->dead || !c->settle_again)
			break;
	}
	c->settling = false;
	if (c->dead)
		return;
	if (c->closing && out_pending(c) == 0) {
		conn_close(c, "protocol error");
		return;
	}
	if (c->read_eof && !c->procs && !c->forward && !files_want_pump(c) &&
	    out_pending(c) == 0 && c->in_off == c->in_len) {
		conn_close(c, "client finished");
		return;
	}
	ev = 0;
	if (out_pending(c) > 0 || files_want_pump(c))
		ev |= EPOLLOUT;
	if (!c->read_eof && c->in_off == c->in_len && conn_may_process(c))
		ev |= EPOLLIN;
	if (loop_watch_set(&c->ag->loop, &c->w, ev) < 0)
		conn_close(c, "epoll failed");
}

void conn_kick(struct conn *c)
{
	conn_settle(c);
}

static void conn_on_event(struct loop_watch *w, uint32_t events)
{
	struct conn *c = w->owner;

	if (c->dead)
		return;
	if (events & EPOLLERR) {
		conn_close(c, "socket error");
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (!c->dead && (events & EPOLLIN))
		conn_read(c, events);
	else if (!c->dead && (events & EPOLLHUP)) {
		conn_close(c, "peer hung up");
		return;
	}
	conn_settle(c);
}

void conn_close(struct conn *c, const char *why)
{
	struct agent *ag = c->ag;

	if (c->dead)
		return;
	log_debug("connection %u closed: %s", c->serial, why);
	c->dead = true;
	while (c->procs) {
		struct proc *p = c->procs;

		c->procs = p->conn_next;
		p->conn_next = NULL;
		proc_detach(p);
	}
	files_conn_close(c);
	identity_conn_close(c);
	forward_conn_close(c);
	loop_watch_del(&ag->loop, &c->w);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		ag->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = ag->dead_conns;
	ag->dead_conns = c;
	ag->nconns--;
	listeners_resume(ag);
}

int conn_take_fd(struct conn *c, const char *why)
{
	int fd = c->fd;

	loop_watch_del(&c->ag->loop, &c->w);
	c->fd = -1;
	conn_close(c, why);
	return fd;
}

void server_close_all(struct agent *ag)
{
	while (ag->conns)
		conn_close(ag->conns, "agent stopping");
	forward_close_all(ag);
}

void server_reap_dead(struct agent *ag)
{
	forward_reap_dead(ag);
	while (ag->dead_conns) {
		struct conn *c = ag->dead_conns;

		ag->dead_conns = c->next;
		proto_reader_free(&c->rd);
		free(c->in);
		free(c->out);
		free(c);
	}
}
