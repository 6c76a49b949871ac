/* SPDX-License-Identifier: MIT */
/*
 * agent_client_exec(): run one command over a connection (see
 * agent_client.h).  The frame handling is a pure state machine,
 * agent_exec_feed() (agent_exec_feed.c), so it is unit-tested and fuzzed
 * without sockets; the loop around it moves bytes between the socket,
 * stdin and the callbacks.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

/* Stop reading stdin while this much is queued for the socket. */
#define EXEC_OUTQ_HIGH (256u << 10)
/* Bound for sending what is still queued once the command has ended. */
#define EXEC_DRAIN_MS 5000

/* "user": a decimal string is a uid (an integer on the wire), else a name. */
/* A decimal id below 2^32 - 1 (no sign, no spaces): 0, else -1. */
static int exec_parse_id(const char *s, const char *stop, uint32_t *id)
{
	unsigned long long v = 0;

	if (s == stop)
		return -1;
	for (; s < stop; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v >= 0xffffffffULL)
			return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

/*
 * "user": a name or a uid looked up in the guest's /etc/passwd; or
 * "UID:GID" (as `docker run -u`): exactly those ids, no lookup, no
 * supplementary groups.
 */
static int exec_request_user(json_t *req, const char *user, char *err,
			     size_t errlen)
{
	const char *colon = strchr(user, ':');
	unsigned long uid;
	uint32_t u, g;
	char *end;
	json_t *v;

	if (!user[0]) {
		aclient_seterr(err, errlen, "exec: user must not be empty");
		return -1;
	}
	if (colon) {
		if (exec_parse_id(user, colon, &u) ||
		    exec_parse_id(colon + 1, colon + strlen(colon), &g)) {
			aclient_seterr(err, errlen,
				       "exec: user \"%.64s\" is neither a name "
				       "nor UID:GID (two decimal ids below "
				       "4294967295)",
				       user);
			return -1;
		}
		if (json_object_set_new(req, "uid", json_integer(u)) < 0 ||
		    json_object_set_new(req, "gid", json_integer(g)) < 0) {
			aclient_seterr(err, errlen, "exec: out of memory");
			return -1;
		}
		return 0;
	}
	errno = 0;
	uid = strtoul(user, &end, 10);
	if (user[0] >= '0' && user[0] <= '9' && !*end && !errno &&
	    uid < 0xffffffffUL)
		v = json_integer((json_int_t)uid);
	else
		v = json_string(user);
	if (json_object_set_new(req, "user", v) < 0) {
		aclient_seterr(err, errlen,
			       "exec: user \"%s\" is not valid UTF-8 (or out "
			       "of memory)",
			       user);
		return -1;
	}
	return 0;
}

/* {"op":"exec",...} for o; NULL with a message on bad input. */
static json_t *exec_request(const struct agent_exec_opts *o, bool stdin_pipe,
			    char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s,s:[],s:b}", "op", "exec", "argv", "stdin",
				stdin_pipe);
	json_t *argv = json_object_get(req, "argv"), *env;

	if (!req)
		goto nomem;
	for (size_t i = 0; o->argv[i]; i++)
		if (json_array_append_new(argv, json_string(o->argv[i])) < 0) {
			aclient_seterr(err, errlen,
				       "exec: argv[%zu] is not valid UTF-8", i);
			goto fail;
		}
	if (o->env && o->env[0]) {
		env = json_object();
		if (!env || json_object_set_new(req, "env", env) < 0)
			goto nomem;
		for (size_t i = 0; o->env[i]; i++) {
			const char *eq = strchr(o->env[i], '=');
			char *name;
			int rc;

			if (!eq || eq == o->env[i]) {
				aclient_seterr(err, errlen,
					       "exec: env entry \"%s\" is not "
					       "NAME=value",
					       o->env[i]);
				goto fail;
			}
			name = strndup(o->env[i], (size_t)(eq - o->env[i]));
			if (!name)
				goto nomem;
			rc = json_object_set_new(env, name,
						 json_string(eq + 1));
			free(name);
			if (rc < 0) {
				aclient_seterr(err, errlen,
					       "exec: env entry \"%s\" is not "
					       "valid UTF-8",
					       o->env[i]);
				goto fail;
			}
		}
	}
	if ((o->rows || o->cols) && !o->tty) {
		aclient_seterr(err, errlen, "exec: rows and cols need tty");
		goto fail;
	}
	if (o->tty && (o->rows > 65535 || o->cols > 65535)) {
		aclient_seterr(err, errlen,
			       "exec: rows and cols must be 1..65535");
		goto fail;
	}
	if (o->user && o->set_ids) {
		aclient_seterr(err, errlen,
			       "exec: give either user or uid/gid, not both");
		goto fail;
	}
	if (o->cwd &&
	    json_object_set_new(req, "cwd", json_string(o->cwd)) < 0) {
		aclient_seterr(err, errlen, "exec: cwd is not valid UTF-8");
		goto fail;
	}
	if (o->timeout_ms &&
	    json_object_set_new(req, "timeout_ms",
				json_integer(o->timeout_ms)) < 0)
		goto nomem;
	if (o->cap_output && o->max_output > AGENT_MAX_OUTPUT) {
		aclient_seterr(err, errlen,
			       "exec: max_output %llu is too large (at most "
			       "%llu bytes per stream)",
			       (unsigned long long)o->max_output,
			       AGENT_MAX_OUTPUT);
		goto fail;
	}
	if (o->cap_output &&
	    json_object_set_new(req, "max_output",
				json_integer((json_int_t)o->max_output)) < 0)
		goto nomem;
	if (o->tty &&
	    (json_object_set_new(req, "tty", json_true()) < 0 ||
	     json_object_set_new(req, "rows",
				 json_integer(o->rows ? o->rows : 24)) < 0 ||
	     json_object_set_new(req, "cols",
				 json_integer(o->cols ? o->cols : 80)) < 0))
		goto nomem;
	if (o->user && exec_request_user(req, o->user, err, errlen) < 0)
		goto fail;
	if (o->set_ids &&
	    (json_object_set_new(req, "uid", json_integer(o->uid)) < 0 ||
	     json_object_set_new(req, "gid", json_integer(o->gid)) < 0))
		goto nomem;
	return req;
nomem:
	aclient_seterr(err, errlen, "exec: out of memory");
fail:
	json_decref(req);
	return NULL;
}

enum stdin_mode { STDIN_NONE, STDIN_FD, STDIN_BUF };

struct exec_run {
	struct agent_client *c;
	struct agent_exec_state st;
	struct outq q;
	enum stdin_mode mode;
	size_t data_off;
	bool stdin_done;
	bool resize_pending; /* a size came before "started" */
	unsigned int rows, cols;
	int64_t deadline;
	char *err;
	size_t errlen;
};

static int queue_frame(struct exec_run *r, uint8_t kind, const void *buf,
		       size_t len)
{
	if (aclient_outq_push(&r->q, kind, r->st.id, buf, len) < 0) {
		aclient_seterr(r->err, r->errlen, "exec: out of memory");
		return AGENT_ERR_IO;
	}
	return 0;
}

static int queue_stdin_eof(struct exec_run *r)
{
	uint8_t s = PROTO_STREAM_STDIN;

	r->stdin_done = true;
	return queue_frame(r, PROTO_EOF, &s, 1);
}

/* Queue more of a stdin buffer, leaving room for output to flow. */
static int refill_from_buffer(struct exec_run *r,
			      const struct agent_exec_io *io)
{
	while (r->mode == STDIN_BUF && !r->stdin_done &&
	       aclient_outq_pending(&r->q) < EXEC_OUTQ_HIGH) {
		size_t n = io->stdin_len - r->data_off;
		int rc;

		if (n == 0)
			return queue_stdin_eof(r);
		if (n > CLIENT_CHUNK)
			n = CLIENT_CHUNK;
		rc = queue_frame(r, PROTO_STDIN,
				 (const uint8_t *)io->stdin_data + r->data_off,
				 n);
		if (rc < 0)
			return rc;
		r->data_off += n;
	}
	return 0;
}

static int read_stdin_fd(struct exec_run *r, int fd)
{
	uint8_t buf[CLIENT_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0)
		return queue_frame(r, PROTO_STDIN, buf, (size_t)n);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* EOF, or an unreadable stdin: either way the command sees EOF. */
	return queue_stdin_eof(r);
}

/* Ask the agent to kill the command; best effort, the client is done. */
static void send_kill(struct exec_run *r)
{
	uint32_t id = aclient_new_id(r->c);
	json_t *req = json_pack("{s:s,s:I,s:s}", "op", "signal", "target",
				(json_int_t)r->st.id, "signal", "KILL");
	size_t len;
	char *s = req ? proto_json_dump(req, &len) : NULL;
	char ignored[64];

	json_decref(req);
	if (s && aclient_outq_push(&r->q, PROTO_CONTROL, id, s, len) == 0)
		aclient_outq_flush(r->c, &r->q, ignored, sizeof(ignored));
	free(s);
}

/*
 * resize_fd is readable: ask the caller for the new size and queue a
 * resize request (its reply, with another id, is ignored).
 */
static int queue_resize(struct exec_run *r)
{
	uint32_t id = aclient_new_id(r->c);
	json_t *req;
	size_t len;
	char *s;

	r->resize_pending = false;
	req = json_pack("{s:s,s:I,s:i,s:i}", "op", "resize", "target",
			(json_int_t)r->st.id, "rows", (int)r->rows, "cols",
			(int)r->cols);
	s = req ? proto_json_dump(req, &len) : NULL;
	json_decref(req);
	if (!s || aclient_outq_push(&r->q, PROTO_CONTROL, id, s, len) < 0) {
		free(s);
		aclient_seterr(r->err, r->errlen, "exec: out of memory");
		return AGENT_ERR_IO;
	}
	free(s);
	return 0;
}

static int handle_resize(struct exec_run *r, const struct agent_exec_io *io)
{
	unsigned int rows = 0, cols = 0;
	int rc = io->on_resize(io->resize_ctx, &rows, &cols);

	if (rc < 0) {
		aclient_seterr(r->err, r->errlen,
			       "exec: cancelled by the resize callback");
		return AGENT_ERR_CANCELLED;
	}
	if (rc > 0)
		return 0;
	if (rows < 1 || rows > 65535 || cols < 1 || cols > 65535) {
		/* The command runs: stopping it is the only clean way out. */
		aclient_seterr(r->err, r->errlen,
			       "exec: the resize callback gave %u x %u; rows "
			       "and cols must be 1..65535 (command killed)",
			       rows, cols);
		return AGENT_ERR_CANCELLED;
	}
	r->rows = rows;
	r->cols = cols;
	r->resize_pending = true;
	/* Before "started" the command has no id to resize yet: later. */
	return r->st.started ? queue_resize(r) : 0;
}

/* The command ended: send what is queued so the stream stays in sync. */
static int drain_outq(struct exec_run *r)
{
	int64_t deadline = aclient_deadline_in(EXEC_DRAIN_MS);

	while (aclient_outq_pending(&r->q) > 0) {
		struct pollfd p = {.fd = r->c->fd, .events = POLLOUT};
		int rc = aclient_outq_flush(r->c, &r->q, r->err, r->errlen);

		if (rc < 0)
			return rc;
		if (aclient_outq_pending(&r->q) == 0)
			break;
		if (poll(&p, 1, aclient_poll_timeout(deadline)) <= 0 &&
		    aclient_poll_timeout(deadline) == 0) {
			aclient_seterr(r->err, r->errlen,
				       "exec: agent stopped reading stdin");
			return AGENT_ERR_TIMEOUT;
		}
	}
	return 0;
}

/* One round: frames in, stdin out, poll.  0 go on, 1 done, <0 error. */
static int exec_step(struct exec_run *r, const struct agent_exec_io *io)
{
	struct agent_client *c = r->c;
	struct pollfd p[4];
	int rc, t, n;

	while ((rc = aclient_pop_frame(c, r->err, r->errlen)) == 1) {
		rc = agent_exec_feed(&r->st, &c->rd.hdr, c->rd.payload);
		if (rc != 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (r->resize_pending && r->st.started) {
		rc = queue_resize(r);
		if (rc < 0)
			return rc;
	}
	rc = refill_from_buffer(r, io);
	if (rc == 0)
		rc = aclient_outq_flush(c, &r->q, r->err, r->errlen);
	if (rc < 0)
		return rc;
	p[0] = (struct pollfd){.fd = c->fd, .events = POLLIN};
	if (aclient_outq_pending(&r->q) > 0)
		p[0].events |= POLLOUT;
	p[1] = (struct pollfd){.fd = -1};
	if (r->mode == STDIN_FD && !r->stdin_done &&
	    aclient_outq_pending(&r->q) < EXEC_OUTQ_HIGH)
		p[1] = (struct pollfd){.fd = io->stdin_fd, .events = POLLIN};
	p[2] = (struct pollfd){.fd = io->cancel_fd, .events = POLLIN};
	p[3] = (struct pollfd){.fd = -1};
	if (io->on_resize && io->resize_fd >= 0)
		p[3] = (struct pollfd){.fd = io->resize_fd, .events = POLLIN};
	t = aclient_poll_timeout(r->deadline);
	n = poll(p, 4, t);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0) {
		aclient_seterr(r->err, r->errlen, "exec: poll: %s",
			       strerror(errno));
		return AGENT_ERR_IO;
	}
	if (p[2].revents) {
		aclient_seterr(r->err, r->errlen, "exec: cancelled");
		return AGENT_ERR_CANCELLED;
	}
	if (n == 0 && aclient_poll_timeout(r->deadline) == 0) {
		aclient_seterr(r->err, r->errlen,
			       "exec: the command did not finish within the "
			       "client's wait timeout");
		return AGENT_ERR_TIMEOUT;
	}
	if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = aclient_read_some(c, r->err, r->errlen);
		if (rc < 0)
			return rc;
	}
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = read_stdin_fd(r, io->stdin_fd);
		if (rc < 0)
			return rc;
	}
	if (p[3].revents & (POLLIN | POLLHUP | POLLERR)) {
		rc = handle_resize(r, io);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Send request (a JSON text of len bytes) and run the exec protocol for
 * it: "started", output, eofs, "exit".  kill_on_cancel: on cancel, ask the
 * agent to kill the command (not for an attach: it stays detached).
 */
static int exec_run_request(struct agent_client *c, const char *request,
			    size_t len, bool stdin_pipe, bool kill_on_cancel,
			    const struct agent_exec_opts *o,
			    const struct agent_exec_io *io,
			    struct agent_exec_result *res, char *err,
			    size_t errlen)
{
	unsigned int wait_timeout_ms = o ? o->wait_timeout_ms : 0;
	struct exec_run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.err = err;
	r.errlen = errlen;
	r.mode = !stdin_pipe	     ? STDIN_NONE
		 : io->stdin_fd >= 0 ? STDIN_FD
		 : io->stdin_data    ? STDIN_BUF
				     : STDIN_NONE;
	r.stdin_done = r.mode == STDIN_NONE;
	r.deadline =
		wait_timeout_ms ? aclient_deadline_in(wait_timeout_ms) : -1;
	r.st.id = aclient_new_id(c);
	r.st.io = io;
	r.st.res = res;
	r.st.err = err;
	r.st.errlen = errlen;
	/* an attach (o NULL) cannot know the cap its exec was started with */
	r.st.cap_known = o != NULL;
	r.st.cap_output = o && o->cap_output;
	r.st.max_output = o ? o->max_output : 0;
	rc = queue_frame(&r, PROTO_CONTROL, request, len);
	/* Bounded: every step waits for progress or the deadline. */
	while (rc == 0)
		rc = exec_step(&r, io);
	if (rc == AGENT_ERR_CANCELLED && kill_on_cancel)
		send_kill(&r);
	else if (rc == 1 || rc == AGENT_ERR_NOT_FOUND || rc == AGENT_ERR_PERM ||
		 rc == AGENT_ERR_REMOTE) {
		int drc = drain_outq(&r);

		if (drc < 0)
			rc = drc;
	}
	free(r.q.buf);
	return aclient_result(c, rc == 1 ? AGENT_OK : rc);
}

static int exec_check_args(struct agent_client *c,
			   const struct agent_exec_opts *o,
			   struct agent_exec_result *res, char *err,
			   size_t errlen)
{
	if (!res || !o || !o->argv || !o->argv[0] || !o->argv[0][0]) {
		aclient_seterr(err, errlen,
			       "exec: argv and result are required and "
			       "argv[0] must not be empty");
		return AGENT_ERR_INVAL;
	}
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	return aclient_check_usable(c, err, errlen);
}

/* The exec request as JSON text (free() it); NULL with a message. */
static char *exec_request_text(const struct agent_exec_opts *o, bool stdin_pipe,
			       size_t *len, char *err, size_t errlen)
{
	json_t *req = exec_request(o, stdin_pipe, err, errlen);
	char *s;

	if (!req)
		return NULL;
	s = proto_json_dump(req, len);
	json_decref(req);
	if (!s)
		aclient_seterr(err, errlen,
			       "exec: request too large (limit %u bytes)",
			       PROTO_MAX_PAYLOAD);
	return s;
}

int agent_client_exec(struct agent_client *c, const struct agent_exec_opts *o,
		      const struct agent_exec_io *io,
		      struct agent_exec_result *res, char *err, size_t errlen)
{
	struct agent_exec_io noio;
	bool stdin_pipe;
	size_t len;
	char *s;
	int rc;

	rc = exec_check_args(c, o, res, err, errlen);
	if (rc < 0)
		return rc;
	if (!io) {
		agent_exec_io_init(&noio);
		io = &noio;
	}
	stdin_pipe = io->stdin_fd >= 0 || io->stdin_data;
	s = exec_request_text(o, stdin_pipe, &len, err, errlen);
	if (!s)
		return AGENT_ERR_INVAL;
	rc = exec_run_request(c, s, len, stdin_pipe, true, o, io, res, err,
			      errlen);
	free(s);
	return rc;
}

int agent_client_exec_detach(struct agent_client *c,
			     const struct agent_exec_opts *o, bool stdin_pipe,
			     int timeout_ms, uint32_t *session, int *pid,
			     char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct agent_exec_result res;
	const char *code = "";
	json_int_t sv = 0, pv = 0;
	json_t *rep = NULL, *req;
	uint32_t id;
	int rc;

	*session = 0;
	*pid = 0;
	rc = exec_check_args(c, o, &res, err, errlen);
	if (rc < 0)
		return rc;
	req = exec_request(o, stdin_pipe, err, errlen);
	if (!req)
		return AGENT_ERR_INVAL;
	if (json_object_set_new(req, "detach", json_true()) < 0) {
		json_decref(req);
		aclient_seterr(err, errlen, "exec: out of memory");
		return AGENT_ERR_INVAL;
	}
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, req, deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == AGENT_ERR_REMOTE) {
		aclient_remote_error(rep, err, errlen, &code);
		if (strcmp(code, PROTO_E_NOT_FOUND) == 0)
			rc = AGENT_ERR_NOT_FOUND;
		else if (strcmp(code, PROTO_E_PERM) == 0)
			rc = AGENT_ERR_PERM;
	} else if (rc == 0 &&
		   (json_unpack(rep, "{s:I,s:I}", "session", &sv, "pid", &pv) <
			    0 ||
		    sv < 1 || sv > UINT32_MAX || pv < 1 || pv > INT_MAX)) {
		aclient_seterr(err, errlen,
			       "agent sent a malformed reply to a detached "
			       "exec");
		rc = AGENT_ERR_PROTO;
	}
	json_decref(rep);
	if (rc == 0) {
		*session = (uint32_t)sv;
		*pid = (int)pv;
	}
	return aclient_result(c, rc);
}

int agent_client_attach(struct agent_client *c, uint32_t session,
			const struct agent_exec_io *io,
			struct agent_exec_result *res, char *err, size_t errlen)
{
	struct agent_exec_io noio;
	json_t *req;
	size_t len;
	char *s;
	int rc;

	if (!res || session == 0) {
		aclient_seterr(err, errlen,
			       "attach: a session id (> 0) and a result are "
			       "required");
		return AGENT_ERR_INVAL;
	}
	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	rc = aclient_check_usable(c, err, errlen);
	if (rc < 0)
		return rc;
	if (!io) {
		agent_exec_io_init(&noio);
		io = &noio;
	}
	req = json_pack("{s:s,s:I}", "op", "attach", "session",
			(json_int_t)session);
	s = req ? proto_json_dump(req, &len) : NULL;
	json_decref(req);
	if (!s) {
		aclient_seterr(err, errlen, "attach: out of memory");
		return AGENT_ERR_INVAL;
	}
	rc = exec_run_request(c, s, len, io->stdin_fd >= 0 || io->stdin_data,
			      false, NULL, io, res, err, errlen);
	free(s);
	return rc;
}
