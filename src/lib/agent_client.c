/* SPDX-License-Identifier: MIT */
/*
 * Host-side agent client (see agent_client.h, docs/PROTOCOL.md).
 *
 * The agent is on the other side of the trust boundary: every frame and
 * reply from it is checked (kind, id, JSON types, ranges) and anything
 * unexpected is AGENT_ERR_PROTO with a message, never a crash or a hang.
 * Replies are unpacked leniently about unknown fields (a newer agent may
 * add some) but strictly about the types of the fields we use.
 *
 * All I/O is non-blocking with poll() deadlines.  During an exec the
 * client reads and writes at the same time (stdin and output), so neither
 * side can wait forever on the other's full buffer.
 */
#include "lib/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client_int.h"

/* Longest "OK <port>\n" line we accept from the VMM. */
#define VSOCK_LINE_MAX 64

void aclient_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *agent_strerror(int status)
{
	switch (status) {
	case AGENT_OK:
		return "success";
	case AGENT_ERR_IO:
		return "I/O error";
	case AGENT_ERR_TIMEOUT:
		return "timed out";
	case AGENT_ERR_PROTO:
		return "protocol error";
	case AGENT_ERR_REMOTE:
		return "refused by the agent";
	case AGENT_ERR_NOT_FOUND:
		return "not found";
	case AGENT_ERR_PERM:
		return "permission denied";
	case AGENT_ERR_CANCELLED:
		return "cancelled";
	case AGENT_ERR_INVAL:
		return "invalid argument";
	case AGENT_ERR_NOT_READY:
		return "agent not ready";
	default:
		return "unknown error";
	}
}

void agent_exec_io_init(struct agent_exec_io *io)
{
	memset(io, 0, sizeof(*io));
	io->stdin_fd = -1;
	io->cancel_fd = -1;
	io->resize_fd = -1;
}

/* ---- time and waiting --------------------------------------------------- */

int64_t aclient_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline from a timeout (< 0: none, returned as -1). */
int64_t aclient_deadline_in(int64_t timeout_ms)
{
	return timeout_ms < 0 ? -1 : aclient_now_ms() + timeout_ms;
}

/* poll() timeout until deadline: -1 forever, 0 if passed. */
int aclient_poll_timeout(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - aclient_now_ms();
	if (left <= 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

/*
 * Wait for events on fd, also watching cancel_fd.  Returns 0 when fd is
 * ready, else a negative agent_err with a message.
 */
static int wait_fd(int fd, short events, int64_t deadline, int cancel_fd,
		   const char *what, char *err, size_t errlen)
{
	/* Bounded: each pass either returns or waits until the deadline. */
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = events},
				      {.fd = cancel_fd, .events = POLLIN}};
		int t = aclient_poll_timeout(deadline);
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, t);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			aclient_seterr(err, errlen, "%s: poll: %s", what,
				       strerror(errno));
			return AGENT_ERR_IO;
		}
		if (cancel_fd >= 0 && p[1].revents) {
			aclient_seterr(err, errlen, "%s: cancelled", what);
			return AGENT_ERR_CANCELLED;
		}
		if (p[0].revents)
			return 0;
		if (t == 0 || (deadline >= 0 && aclient_now_ms() >= deadline)) {
			aclient_seterr(err, errlen, "%s: timed out", what);
			return AGENT_ERR_TIMEOUT;
		}
	}
}

/* ---- frames ------------------------------------------------------------- */

int aclient_outq_push(struct outq *q, uint8_t kind, uint32_t id,
		      const void *buf, size_t len)
{
	size_t need = q->len + PROTO_HDR_SIZE + len;

	if (need > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		uint8_t *nb;

		if (q->off > 0) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
			need = q->len + PROTO_HDR_SIZE + len;
		}
		while (cap < need)
			cap *= 2;
		if (cap > q->cap) {
			nb = realloc(q->buf, cap);
			if (!nb)
				return -1;
			q->buf = nb;
			q->cap = cap;
		}
	}
	proto_hdr_encode(q->buf + q->len, kind, id, (uint32_t)len);
	if (len)
		memcpy(q->buf + q->len + PROTO_HDR_SIZE, buf, len);
	q->len += PROTO_HDR_SIZE + len;
	return 0;
}

size_t aclient_outq_pending(const struct outq *q)
{
	return q->len - q->off;
}

/* Write what the socket takes now; <0 on error. */
int aclient_outq_flush(struct agent_client *c, struct outq *q, char *err,
		       size_t errlen)
{
	while (aclient_outq_pending(q) > 0) {
		ssize_t n =
			send(c->fd, q->buf + q->off, aclient_outq_pending(q),
			     MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			aclient_seterr(err, errlen, "agent on %s: send: %s",
				       c->where,
				       n < 0 ? strerror(errno) : "no progress");
			return AGENT_ERR_IO;
		}
		q->off += (size_t)n;
	}
	q->off = q->len = 0;
	return 0;
}

/* Write all of q, waiting up to deadline. */
int aclient_outq_flush_all(struct agent_client *c, struct outq *q,
			   int64_t deadline, int cancel_fd, char *err,
			   size_t errlen)
{
	while (aclient_outq_pending(q) > 0) {
		int rc = aclient_outq_flush(c, q, err, errlen);

		if (rc == 0 && aclient_outq_pending(q) > 0)
			rc = wait_fd(c->fd, POLLOUT, deadline, cancel_fd,
				     "sending to the agent", err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int aclient_send_json(struct agent_client *c, uint32_t id, json_t *obj,
		      int64_t deadline, int cancel_fd, char *err, size_t errlen)
{
	struct outq q = {0};
	size_t len;
	char *s = obj ? proto_json_dump(obj, &len) : NULL;
	int rc;

	json_decref(obj);
	if (!s || aclient_outq_push(&q, PROTO_CONTROL, id, s, len) < 0) {
		free(s);
		free(q.buf);
		aclient_seterr(err, errlen,
			       "encoding a request: out of memory");
		return AGENT_ERR_INVAL;
	}
	free(s);
	rc = aclient_outq_flush_all(c, &q, deadline, cancel_fd, err, errlen);
	free(q.buf);
	return rc;
}

/* Take one frame from buffered input: 1 frame, 0 need more, <0 error. */
int aclient_pop_frame(struct agent_client *c, char *err, size_t errlen)
{
	while (c->in_off < c->in_len) {
		size_t used;
		enum proto_event ev =
			proto_reader_feed(&c->rd, c->in + c->in_off,
					  c->in_len - c->in_off, &used);

		c->in_off += used;
		switch (ev) {
		case PROTO_EV_NEED_MORE:
			break;
		case PROTO_EV_FRAME:
			return 1;
		case PROTO_EV_OVERSIZED:
			aclient_seterr(
				err, errlen,
				"agent on %s sent a %u-byte frame (limit %u)",
				c->where, c->rd.hdr.len, PROTO_MAX_PAYLOAD);
			return AGENT_ERR_PROTO;
		case PROTO_EV_BAD_MAGIC:
			aclient_seterr(err, errlen,
				       "agent on %s sent bytes that are not a "
				       "protocol "
				       "v1 frame (0x%02x 0x%02x)",
				       c->where, c->rd.hdr_raw[0],
				       c->rd.hdr_raw[1]);
			return AGENT_ERR_PROTO;
		case PROTO_EV_NOMEM:
			aclient_seterr(err, errlen,
				       "out of memory for a %u-byte frame",
				       c->rd.hdr.len);
			return AGENT_ERR_IO;
		}
	}
	c->in_off = c->in_len = 0;
	return 0;
}

/* Read what is there into c->in (which must be empty). */
int aclient_read_some(struct agent_client *c, char *err, size_t errlen)
{
	ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);

	if (n > 0) {
		c->in_off = 0;
		c->in_len = (size_t)n;
		c->heard = true;
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	aclient_seterr(err, errlen, "agent on %s %s", c->where,
		       n == 0 ? "closed the connection (guest stopped or agent "
				"crashed?)"
			      : strerror(errno));
	return AGENT_ERR_IO;
}

/* Wait for the next frame (any id). */
static int next_frame(struct agent_client *c, int64_t deadline, int cancel_fd,
		      char *err, size_t errlen)
{
	for (;;) { /* bounded by the deadline */
		int rc = aclient_pop_frame(c, err, errlen);

		if (rc != 0)
			return rc < 0 ? rc : 0;
		rc = wait_fd(c->fd, POLLIN, deadline, cancel_fd,
			     "waiting for the agent", err, errlen);
		if (rc == 0)
			rc = aclient_read_some(c, err, errlen);
		if (rc < 0)
			return rc;
	}
}

uint32_t aclient_new_id(struct agent_client *c)
{
	if (++c->next_id == 0)
		c->next_id = 1;
	return c->next_id;
}

/* "agent: <message> [code]" from an error reply object. */
void aclient_remote_error(json_t *obj, char *err, size_t errlen,
			  const char **code_out)
{
	const char *code = "?", *msg = "(no message)";

	json_unpack(obj, "{s?s,s?s}", "code", &code, "message", &msg);
	aclient_seterr(err, errlen, "agent: %s [%s]", msg, code);
	if (code_out)
		*code_out = code;
}

/*
 * Wait for the final reply to request id: a result (AGENT_OK, *reply set)
 * or an error (AGENT_ERR_REMOTE, *reply set, message in err).
 */
int aclient_wait_reply(struct agent_client *c, uint32_t id, int64_t deadline,
		       int cancel_fd, json_t **reply, char *err, size_t errlen)
{
	char jerr[256];

	*reply = NULL;
	for (;;) { /* bounded by the deadline */
		const char *type;
		json_t *obj;
		int rc = next_frame(c, deadline, cancel_fd, err, errlen);

		if (rc < 0)
			return rc;
		if (c->rd.hdr.id != id && c->rd.hdr.id != 0)
			continue; /* a late frame of an earlier request */
		if (c->rd.hdr.kind != PROTO_CONTROL) {
			aclient_seterr(
				err, errlen,
				"agent sent a %s frame where a reply was due",
				proto_kind_name(c->rd.hdr.kind));
			return AGENT_ERR_PROTO;
		}
		obj = proto_json_parse(c->rd.payload, c->rd.hdr.len, jerr,
				       sizeof(jerr));
		if (!obj) {
			aclient_seterr(err, errlen, "agent reply: %s", jerr);
			return AGENT_ERR_PROTO;
		}
		type = json_string_value(json_object_get(obj, "type"));
		if (type && strcmp(type, "error") == 0) {
			aclient_remote_error(obj, err, errlen, NULL);
			*reply = obj;
			/* id 0: the agent gave up on the connection */
			return c->rd.hdr.id == 0 ? AGENT_ERR_PROTO
						 : AGENT_ERR_REMOTE;
		}
		if (c->rd.hdr.id == 0 || !type || strcmp(type, "result") != 0) {
			aclient_seterr(
				err, errlen,
				"agent sent an unexpected reply (type \"%s\") "
				"to request %u",
				type ? type : "?", id);
			json_decref(obj);
			return AGENT_ERR_PROTO;
		}
		*reply = obj;
		return AGENT_OK;
	}
}

int aclient_check_usable(struct agent_client *c, char *err, size_t errlen)
{
	if (!c) {
		aclient_seterr(err, errlen, "no agent connection");
		return AGENT_ERR_INVAL;
	}
	if (c->broken) {
		aclient_seterr(
			err, errlen,
			"the connection to the agent on %s failed earlier; "
			"close it and connect again",
			c->where);
		return AGENT_ERR_INVAL;
	}
	return 0;
}

/* Calls that leave the stream in an unknown state break the client. */
int aclient_result(struct agent_client *c, int rc)
{
	if (rc == AGENT_ERR_IO || rc == AGENT_ERR_PROTO ||
	    rc == AGENT_ERR_TIMEOUT || rc == AGENT_ERR_CANCELLED)
		c->broken = true;
	return rc;
}

/* ---- connecting --------------------------------------------------------- */

static struct agent_client *client_new(int fd, const char *where)
{
	struct agent_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	proto_reader_init(&c->rd, PROTO_MAX_PAYLOAD);
	snprintf(c->where, sizeof(c->where), "%s", where);
	return c;
}

void agent_client_close(struct agent_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	proto_reader_free(&c->rd);
	free(c);
}

bool agent_client_usable(struct agent_client *c)
{
	struct pollfd p;

	if (!c || c->broken || c->fd < 0)
		return false;
	/* idle: buffered input or a readable socket is nothing we asked for */
	p = (struct pollfd){.fd = c->fd, .events = POLLIN | POLLRDHUP};
	if (c->in_off < c->in_len || poll(&p, 1, 0) > 0)
		c->broken = true;
	return !c->broken;
}

const char *agent_client_agent_version(const struct agent_client *c)
{
	return c ? c->agent_version : "";
}

static int handshake(struct agent_client *c, int64_t deadline, int cancel_fd,
		     char *err, size_t errlen)
{
	const char *ver = NULL;
	uint32_t id = aclient_new_id(c);
	json_t *reply = NULL;
	int rc;

	rc = aclient_send_json(c, id,
			       json_pack("{s:s,s:i,s:s}", "op", "hello",
					 "version", PROTO_VERSION, "client",
					 "libkiln"),
			       deadline, cancel_fd, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, cancel_fd, &reply, err,
					errlen);
	if (rc == AGENT_ERR_REMOTE)
		rc = AGENT_ERR_PROTO; /* e.g. version_mismatch: incompatible */
	if (rc < 0) {
		json_decref(reply);
		return rc;
	}
	json_unpack(reply, "{s?s}", "agent_version", &ver);
	snprintf(c->agent_version, sizeof(c->agent_version), "%s",
		 ver ? ver : "?");
	json_decref(reply);
	return 0;
}

static int connect_uds(const char *path, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		aclient_seterr(
			err, errlen,
			"agent socket path \"%s\" is empty or too long (max "
			"%zu bytes)",
			path ? path : "", sizeof(sa.sun_path) - 1);
		return AGENT_ERR_INVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		aclient_seterr(err, errlen, "socket: %s", strerror(errno));
		return AGENT_ERR_IO;
	}
	/* A local connect does not block for long; go non-blocking after. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		aclient_seterr(err, errlen, "connect to %s: %s", path,
			       strerror(e));
		return e == ENOENT || e == ECONNREFUSED || e == EAGAIN
			       ? AGENT_ERR_NOT_READY
			       : AGENT_ERR_IO;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		aclient_seterr(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return AGENT_ERR_IO;
	}
	*fdp = fd;
	return 0;
}

int agent_client_connect_unix(const char *path, int timeout_ms,
			      struct agent_client **out, char *err,
			      size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct agent_client *c;
	char where[128];
	int fd, rc;

	*out = NULL;
	rc = connect_uds(path, &fd, err, errlen);
	if (rc < 0)
		return rc;
	snprintf(where, sizeof(where), "unix socket %s", path);
	c = client_new(fd, where);
	if (!c) {
		close(fd);
		aclient_seterr(err, errlen, "out of memory");
		return AGENT_ERR_IO;
	}
	rc = handshake(c, deadline, -1, err, errlen);
	/* Closed before the agent said a word: right after a restore the
	 * guest's vsock transport reset drops connections the VMM had just
	 * accepted for it.  Not ready yet rather than broken. */
	if (rc == AGENT_ERR_IO && !c->heard)
		rc = AGENT_ERR_NOT_READY;
	if (rc < 0) {
		agent_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Firecracker's host-initiated vsock: "CONNECT <port>\n" -> "OK <n>\n". */
static int vsock_connect_line(int fd, const char *uds, uint32_t port,
			      int64_t deadline, char *err, size_t errlen)
{
	char line[VSOCK_LINE_MAX + 1];
	size_t n = 0;
	int len, rc;

	len = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
		aclient_seterr(err, errlen, "vsock %s: sending CONNECT: %s",
			       uds, strerror(errno));
		return errno == EPIPE || errno == ECONNRESET
			       ? AGENT_ERR_NOT_READY
			       : AGENT_ERR_IO;
	}
	/* Byte by byte: nothing after the newline belongs to this line. */
	while (n < VSOCK_LINE_MAX) {
		ssize_t r = recv(fd, line + n, 1, MSG_DONTWAIT);

		if (r == 1) {
			if (line[n] == '\n')
				break;
			n++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			rc = wait_fd(fd, POLLIN, deadline, -1,
				     "waiting for the VMM's vsock reply", err,
				     errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		/* Hang-up before OK: nobody listens on the guest port yet. */
		aclient_seterr(
			err, errlen,
			"vsock %s: no agent listening on guest port %u yet",
			uds, port);
		return r == 0 || errno == ECONNRESET ? AGENT_ERR_NOT_READY
						     : AGENT_ERR_IO;
	}
	line[n] = 0;
	if (n == VSOCK_LINE_MAX || strncmp(line, "OK ", 3) != 0) {
		aclient_seterr(
			err, errlen,
			"vsock %s: unexpected answer to CONNECT %u: \"%.32s\" "
			"(is this a kiln-vmm or Firecracker vsock socket?)",
			uds, port, line);
		return AGENT_ERR_PROTO;
	}
	return 0;
}

int agent_client_connect_vsock(const char *uds_path, uint32_t port,
			       int timeout_ms, int hello_ms, int cancel_fd,
			       struct agent_client **out, char *err,
			       size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct agent_client *c;
	char where[160];
	int fd, rc;

	*out = NULL;
	rc = connect_uds(uds_path, &fd, err, errlen);
	if (rc < 0)
		return rc;
	rc = vsock_connect_line(fd, uds_path, port, deadline, err, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	snprintf(where, sizeof(where), "vsock %s port %u", uds_path, port);
	c = client_new(fd, where);
	if (!c) {
		close(fd);
		aclient_seterr(err, errlen, "out of memory");
		return AGENT_ERR_IO;
	}
	rc = handshake(c, aclient_deadline_in(hello_ms), cancel_fd, err,
		       errlen);
	/* Closed before the agent said a word: right after a restore the
	 * guest's vsock transport reset drops connections the VMM had just
	 * accepted for it.  Not ready yet rather than broken. */
	if (rc == AGENT_ERR_IO && !c->heard)
		rc = AGENT_ERR_NOT_READY;
	if (rc < 0) {
		agent_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int agent_client_wait_ready(const char *uds_path, uint32_t port, int timeout_ms,
			    int cancel_fd, struct agent_client **out, char *err,
			    size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	int backoff = 5;

	if (out)
		*out = NULL;
	for (;;) { /* bounded by the deadline */
		struct agent_client *c;
		int left = aclient_poll_timeout(deadline);
		int rc = agent_client_connect_vsock(uds_path, port, left, left,
						    cancel_fd, &c, err, errlen);
		struct pollfd p = {.fd = cancel_fd, .events = POLLIN};

		if (rc == 0) {
			if (out)
				*out = c;
			else
				agent_client_close(c);
			return 0;
		}
		if (rc != AGENT_ERR_NOT_READY)
			return rc;
		left = aclient_poll_timeout(deadline);
		if (left == 0) {
			char last[160];

			snprintf(last, sizeof(last), "%s", err ? err : "");
			aclient_seterr(
				err, errlen,
				"agent did not answer on %s port %u within %d "
				"ms (last: %s)",
				uds_path, port, timeout_ms, last);
			return AGENT_ERR_TIMEOUT;
		}
		if (left < 0 || left > backoff)
			left = backoff;
		/* Back off, but wake at once if cancelled. */
		if (poll(&p, cancel_fd >= 0 ? 1 : 0, left) > 0) {
			aclient_seterr(err, errlen,
				       "waiting for the agent: cancelled");
			return AGENT_ERR_CANCELLED;
		}
		backoff = backoff * 2 > 100 ? 100 : backoff * 2;
	}
}

/* ---- simple requests ---------------------------------------------------- */

int agent_client_call(struct agent_client *c, const char *request_json,
		      int timeout_ms, char **reply, char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	char jerr[256];
	json_t *req, *rep = NULL;
	uint32_t id;
	int rc;

	if (reply)
		*reply = NULL;
	rc = aclient_check_usable(c, err, errlen);
	if (rc < 0)
		return rc;
	req = proto_json_parse(request_json, strlen(request_json), jerr,
			       sizeof(jerr));
	if (!req) {
		aclient_seterr(err, errlen, "call: request: %s", jerr);
		return AGENT_ERR_INVAL;
	}
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, req, deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rep && reply)
		*reply = json_dumps(rep, JSON_COMPACT);
	json_decref(rep);
	return aclient_result(c, rc);
}

int agent_client_ping(struct agent_client *c, int timeout_ms,
		      struct agent_ping_info *info, char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	const char *ver = "?";
	json_int_t up = 0;
	int init = 0;
	json_t *rep = NULL;
	uint32_t id;
	int rc = aclient_check_usable(c, err, errlen);

	if (rc < 0)
		return rc;
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, json_pack("{s:s}", "op", "ping"),
			       deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == 0 && json_unpack(rep, "{s:s,s:I,s:b}", "agent_version", &ver,
				   "uptime_ms", &up, "init", &init) < 0) {
		aclient_seterr(err, errlen,
			       "agent sent a malformed ping reply");
		rc = AGENT_ERR_PROTO;
	}
	if (rc == 0 && info) {
		snprintf(info->agent_version, sizeof(info->agent_version), "%s",
			 ver);
		info->uptime_ms = up > 0 ? (uint64_t)up : 0;
		info->init = init;
	}
	json_decref(rep);
	return aclient_result(c, rc);
}

int agent_client_shutdown(struct agent_client *c, int timeout_ms, char *err,
			  size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	json_t *rep = NULL;
	uint32_t id;
	int rc = aclient_check_usable(c, err, errlen);

	if (rc < 0)
		return rc;
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, json_pack("{s:s}", "op", "shutdown"),
			       deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	json_decref(rep);
	/* After the acknowledgement the agent goes away: nothing more here. */
	c->broken = true;
	return rc;
}
