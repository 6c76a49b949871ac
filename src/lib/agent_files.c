/* SPDX-License-Identifier: MIT */
/*
 * File operations of the agent client (see agent_client.h and
 * docs/PROTOCOL.md, "Files").  read_file and write_file stream content as
 * data frames with bounded buffers; the other ops are one request, one
 * reply (agent_client_call()).  As everywhere in the client, replies are
 * checked: sizes must add up, frames must be of the kinds expected.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

/* write_file: stop reading the source while this much is queued. */
#define FILES_OUTQ_HIGH (256u << 10)

/* Map an error reply's code to the client's status. */
static int error_status(const char *code)
{
	if (code && strcmp(code, PROTO_E_NOT_FOUND) == 0)
		return AGENT_ERR_NOT_FOUND;
	if (code && strcmp(code, PROTO_E_PERM) == 0)
		return AGENT_ERR_PERM;
	return AGENT_ERR_REMOTE;
}

/* One request, one reply; req is consumed.  *rep: the result object. */
static int files_call(struct agent_client *c, const char *op, json_t *req,
		      int timeout_ms, json_t **rep, char *err, size_t errlen)
{
	char *s, *reply = NULL;
	json_t *obj = NULL;
	int rc;

	*rep = NULL;
	s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!s) {
		aclient_seterr(err, errlen,
			       "%s: a path or user name is not valid UTF-8 "
			       "(or out of memory)",
			       op);
		return AGENT_ERR_INVAL;
	}
	rc = agent_client_call(c, s, timeout_ms, &reply, err, errlen);
	free(s);
	if (reply)
		obj = json_loads(reply, 0, NULL);
	free(reply);
	if (rc == AGENT_ERR_REMOTE && obj)
		rc = error_status(
			json_string_value(json_object_get(obj, "code")));
	if (rc == AGENT_OK && !obj) {
		aclient_seterr(err, errlen, "%s: agent reply unreadable", op);
		rc = AGENT_ERR_PROTO;
		c->broken = true;
	}
	if (rc == AGENT_OK)
		*rep = obj;
	else
		json_decref(obj);
	return rc;
}

static int check_path(const char *op, const char *path, char *err,
		      size_t errlen)
{
	if (path && path[0])
		return 0;
	aclient_seterr(err, errlen, "%s: a path is required", op);
	return AGENT_ERR_INVAL;
}

/* Queue a control frame for id. */
static int queue_json(struct outq *q, uint32_t id, json_t *obj, const char *op,
		      char *err, size_t errlen)
{
	size_t len;
	char *s = obj ? proto_json_dump(obj, &len) : NULL;
	int rc = 0;

	json_decref(obj);
	if (!s || aclient_outq_push(q, PROTO_CONTROL, id, s, len) < 0) {
		aclient_seterr(err, errlen,
			       "%s: a path or user name is not valid UTF-8 "
			       "(or out of memory)",
			       op);
		rc = AGENT_ERR_INVAL;
	}
	free(s);
	return rc;
}

/*
 * Wait for the socket (POLLIN plus POLLOUT if want_out) and, if given,
 * src_fd readable.  Returns 0 or <0; *src_ready says src_fd is readable.
 */
static int wait_io(struct agent_client *c, bool want_out, int src_fd,
		   int64_t deadline, bool *src_ready, const char *op, char *err,
		   size_t errlen)
{
	struct pollfd p[2] = {
		{.fd = c->fd, .events = POLLIN | (want_out ? POLLOUT : 0)},
		{.fd = src_fd, .events = POLLIN}};
	int t = aclient_poll_timeout(deadline);
	int n = poll(p, 2, t);

	if (src_ready)
		*src_ready = false;
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0) {
		aclient_seterr(err, errlen, "%s: poll: %s", op,
			       strerror(errno));
		return AGENT_ERR_IO;
	}
	if (n == 0 && aclient_poll_timeout(deadline) == 0) {
		aclient_seterr(err, errlen, "%s: timed out", op);
		return AGENT_ERR_TIMEOUT;
	}
	if (src_ready && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		*src_ready = true;
	if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
		return aclient_read_some(c, err, errlen);
	return 0;
}

/* A frame with id 0: the agent gave up on the connection. */
static int conn_error(struct agent_client *c, char *err, size_t errlen)
{
	char jerr[128];
	json_t *obj = c->rd.hdr.kind == PROTO_CONTROL
			      ? proto_json_parse(c->rd.payload, c->rd.hdr.len,
						 jerr, sizeof(jerr))
			      : NULL;

	if (obj)
		aclient_remote_error(obj, err, errlen, NULL);
	else
		aclient_seterr(err, errlen, "agent sent a %s frame with id 0",
			       proto_kind_name(c->rd.hdr.kind));
	json_decref(obj);
	return AGENT_ERR_PROTO;
}

/*
 * A control frame ending a transfer: 1 with *size for a result, a negative
 * status for an error reply or a malformed message.
 */
static int final_reply(struct agent_client *c, const char *op, uint64_t *size,
		       struct agent_tar_stats *ts, char *err, size_t errlen)
{
	const char *type, *code = NULL;
	json_int_t sz = -1, ent = 0, skip = 0;
	char jerr[256];
	json_t *obj;
	int rc;

	obj = proto_json_parse(c->rd.payload, c->rd.hdr.len, jerr,
			       sizeof(jerr));
	if (!obj) {
		aclient_seterr(err, errlen, "%s: agent reply: %s", op, jerr);
		return AGENT_ERR_PROTO;
	}
	type = json_string_value(json_object_get(obj, "type"));
	if (type && strcmp(type, "error") == 0) {
		aclient_remote_error(obj, err, errlen, &code);
		rc = error_status(code);
	} else if (type && strcmp(type, "result") == 0 &&
		   json_unpack(obj, "{s:I,s?I,s?I}", "size", &sz, "entries",
			       &ent, "skipped", &skip) == 0 &&
		   sz >= 0 && ent >= 0 && skip >= 0) {
		*size = (uint64_t)sz;
		if (ts) {
			ts->size = (uint64_t)sz;
			ts->entries = (uint64_t)ent;
			ts->skipped = (uint64_t)skip;
		}
		rc = 1;
	} else {
		aclient_seterr(err, errlen,
			       "%s: agent sent a malformed or unexpected "
			       "reply",
			       op);
		rc = AGENT_ERR_PROTO;
	}
	json_decref(obj);
	return rc;
}

static int sink_write(const char *op, int fd, const uint8_t *buf, size_t len,
		      int64_t deadline, char *err, size_t errlen)
{
	size_t off = 0;

	/* Bounded: each pass writes or waits until the deadline. */
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN &&
		    (poll(&p, 1, aclient_poll_timeout(deadline)) > 0 ||
		     aclient_poll_timeout(deadline) != 0))
			continue;
		aclient_seterr(err, errlen,
			       "%s: writing the content to fd %d: %s", op, fd,
			       n < 0 ? strerror(errno) : "no progress");
		return AGENT_ERR_IO;
	}
	return 0;
}

/* One frame of a read_file reply: 0 go on, 1 done, <0 error. */
static int read_feed(struct agent_client *c, const char *op, uint32_t id,
		     int out_fd, agent_output_fn fn, void *ctx,
		     int64_t deadline, bool *eof, uint64_t *got,
		     struct agent_tar_stats *ts, char *err, size_t errlen)
{
	const struct proto_hdr *h = &c->rd.hdr;
	uint64_t size;
	int rc;

	if (h->id != id)
		return h->id == 0 ? conn_error(c, err, errlen) : 0;
	switch (h->kind) {
	case PROTO_STDOUT:
		if (*eof)
			break;
		*got += h->len;
		if (h->len == 0)
			return 0;
		if (out_fd >= 0)
			return sink_write(op, out_fd, c->rd.payload, h->len,
					  deadline, err, errlen);
		if (fn && fn(ctx, c->rd.payload, h->len) != 0) {
			aclient_seterr(err, errlen,
				       "%s: cancelled by the callback", op);
			return AGENT_ERR_CANCELLED;
		}
		return 0;
	case PROTO_EOF:
		if (*eof || h->len != 1 ||
		    c->rd.payload[0] != PROTO_STREAM_STDOUT)
			break;
		*eof = true;
		return 0;
	case PROTO_CONTROL:
		rc = final_reply(c, op, &size, ts, err, errlen);
		if (rc == 1 && (!*eof || size != *got)) {
			aclient_seterr(err, errlen,
				       "%s: agent reported %llu bytes "
				       "but sent %llu%s",
				       op, (unsigned long long)size,
				       (unsigned long long)*got,
				       *eof ? "" : " without an eof frame");
			return AGENT_ERR_PROTO;
		}
		return rc;
	}
	aclient_seterr(err, errlen, "%s: agent sent an unexpected %s frame", op,
		       proto_kind_name(h->kind));
	return AGENT_ERR_PROTO;
}

/* read_file and download: content as stdout frames, eof, result. */
static int read_stream(struct agent_client *c, const char *op, const char *path,
		       int out_fd, agent_output_fn fn, void *ctx,
		       int timeout_ms, uint64_t *size,
		       struct agent_tar_stats *ts, char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct outq q = {0};
	uint64_t got = 0;
	bool eof = false;
	uint32_t id;
	int rc;

	if (size)
		*size = 0;
	rc = aclient_check_usable(c, err, errlen);
	if (rc == 0)
		rc = check_path(op, path, err, errlen);
	if (rc < 0)
		return rc;
	id = aclient_new_id(c);
	rc = queue_json(&q, id, json_pack("{s:s,s:s}", "op", op, "path", path),
			op, err, errlen);
	/* Bounded: every pass makes progress or waits until the deadline. */
	while (rc == 0) {
		while ((rc = aclient_pop_frame(c, err, errlen)) == 1) {
			rc = read_feed(c, op, id, out_fd, fn, ctx, deadline,
				       &eof, &got, ts, err, errlen);
			if (rc != 0)
				break;
		}
		if (rc != 0)
			break;
		rc = aclient_outq_flush(c, &q, err, errlen);
		if (rc == 0)
			rc = wait_io(c, aclient_outq_pending(&q) > 0, -1,
				     deadline, NULL, op, err, errlen);
	}
	free(q.buf);
	if (rc == 1 && size)
		*size = got;
	return aclient_result(c, rc == 1 ? AGENT_OK : rc);
}

int agent_client_read_file(struct agent_client *c, const char *path, int out_fd,
			   agent_output_fn fn, void *ctx, int timeout_ms,
			   uint64_t *size, char *err, size_t errlen)
{
	return read_stream(c, "read_file", path, out_fd, fn, ctx, timeout_ms,
			   size, NULL, err, errlen);
}

int agent_client_download_tar(struct agent_client *c, const char *dir,
			      int out_fd, agent_output_fn fn, void *ctx,
			      int timeout_ms, struct agent_tar_stats *ts,
			      char *err, size_t errlen)
{
	uint64_t size;

	if (ts)
		memset(ts, 0, sizeof(*ts));
	return read_stream(c, "download", dir, out_fd, fn, ctx, timeout_ms,
			   &size, ts, err, errlen);
}

/* ---- write_file --------------------------------------------------------- */

struct write_run {
	struct agent_client *c;
	const struct agent_write_opts *o;
	const char *op; /* write_file or upload */
	struct agent_tar_stats *ts;
	struct outq q;
	uint32_t id;
	size_t data_off;
	bool eof_sent;
	int final; /* 0 until the reply came: 1 result, <0 error */
	uint64_t size;
	char *err;
	size_t errlen;
};

static int write_queue(struct write_run *r, uint8_t kind, const void *buf,
		       size_t len)
{
	if (aclient_outq_push(&r->q, kind, r->id, buf, len) == 0)
		return 0;
	aclient_seterr(r->err, r->errlen, "%s: out of memory", r->op);
	return AGENT_ERR_IO;
}

static int write_eof(struct write_run *r)
{
	uint8_t s = PROTO_STREAM_STDIN;

	r->eof_sent = true;
	return write_queue(r, PROTO_EOF, &s, 1);
}

/* Queue more content while the queue is short. */
static int write_refill(struct write_run *r, bool src_ready)
{
	uint8_t buf[CLIENT_CHUNK];
	ssize_t n;

	if (r->eof_sent || r->final ||
	    aclient_outq_pending(&r->q) >= FILES_OUTQ_HIGH)
		return 0;
	/* Bounded by FILES_OUTQ_HIGH. */
	while (r->o->src_fd < 0 && !r->eof_sent &&
	       aclient_outq_pending(&r->q) < FILES_OUTQ_HIGH) {
		size_t left = r->o->len - r->data_off;
		int rc;

		if (left == 0)
			return write_eof(r);
		if (left > CLIENT_CHUNK)
			left = CLIENT_CHUNK;
		rc = write_queue(r, PROTO_STDIN,
				 (const uint8_t *)r->o->data + r->data_off,
				 left);
		if (rc < 0)
			return rc;
		r->data_off += left;
	}
	if (r->o->src_fd < 0)
		return 0;
	if (!src_ready)
		return 0;
	n = read(r->o->src_fd, buf, sizeof(buf));
	if (n > 0)
		return write_queue(r, PROTO_STDIN, buf, (size_t)n);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		/* Never finish the file with partial content: abort. */
		aclient_seterr(r->err, r->errlen,
			       "%s: reading the source fd %d: %s", r->op,
			       r->o->src_fd, strerror(errno));
		return AGENT_ERR_IO;
	}
	return write_eof(r);
}

/* One frame for write_file: 0 go on, <0 error (final replies: r->final). */
static int write_feed(struct write_run *r)
{
	const struct proto_hdr *h = &r->c->rd.hdr;
	int rc;

	if (h->id != r->id)
		return h->id == 0 ? conn_error(r->c, r->err, r->errlen) : 0;
	if (h->kind != PROTO_CONTROL || r->final) {
		aclient_seterr(r->err, r->errlen,
			       "%s: agent sent an unexpected %s frame", r->op,
			       proto_kind_name(h->kind));
		return AGENT_ERR_PROTO;
	}
	rc = final_reply(r->c, r->op, &r->size, r->ts, r->err, r->errlen);
	if (rc == AGENT_ERR_PROTO)
		return rc;
	if (rc == 1 && !r->eof_sent) {
		aclient_seterr(r->err, r->errlen,
			       "%s: agent finished before the content was "
			       "sent",
			       r->op);
		return AGENT_ERR_PROTO;
	}
	r->final = rc;
	return 0;
}

/*
 * write_file and upload: the request req (consumed), then the content as
 * stdin frames and an eof frame, then one reply.
 */
static int write_stream(struct agent_client *c, const char *op,
			const char *path, json_t *req,
			const struct agent_write_opts *o, int timeout_ms,
			uint64_t *written, struct agent_tar_stats *ts,
			char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct write_run r = {.c = c,
			      .o = o,
			      .op = op,
			      .ts = ts,
			      .err = err,
			      .errlen = errlen};
	bool src_ready = false;
	int rc;

	if (written)
		*written = 0;
	rc = aclient_check_usable(c, err, errlen);
	if (rc == 0)
		rc = check_path(op, path, err, errlen);
	if (rc == 0 && (!o || (o->src_fd < 0 && o->len && !o->data))) {
		aclient_seterr(err, errlen,
			       "%s: options with a source fd or data are "
			       "required",
			       op);
		rc = AGENT_ERR_INVAL;
	}
	if (rc < 0) {
		json_decref(req);
		return rc;
	}
	r.id = aclient_new_id(c);
	rc = queue_json(&r.q, r.id, req, op, err, errlen);
	/*
	 * Bounded: every pass makes progress or waits until the deadline.
	 * After an early error reply the frames already queued are still
	 * sent whole, so the stream stays in sync.
	 */
	while (rc == 0) {
		while ((rc = aclient_pop_frame(c, err, errlen)) == 1) {
			rc = write_feed(&r);
			if (rc != 0)
				break;
		}
		if (rc == 0)
			rc = write_refill(&r, src_ready);
		if (rc == 0)
			rc = aclient_outq_flush(c, &r.q, err, errlen);
		if (rc < 0 || (r.final && aclient_outq_pending(&r.q) == 0))
			break;
		/* POLLOUT while buffered content waits to be queued too. */
		rc = wait_io(c,
			     aclient_outq_pending(&r.q) > 0 ||
				     (o->src_fd < 0 && !r.eof_sent && !r.final),
			     r.eof_sent || r.final ||
					     aclient_outq_pending(&r.q) >=
						     FILES_OUTQ_HIGH
				     ? -1
				     : o->src_fd,
			     deadline, &src_ready, op, err, errlen);
	}
	free(r.q.buf);
	if (rc == 0)
		rc = r.final == 1 ? AGENT_OK : r.final;
	if (rc == AGENT_OK && written)
		*written = r.size;
	return aclient_result(c, rc);
}

/*
 * The owner of what req creates: "user", a name, or a uid when all digits
 * (as for exec).  Consumes req and returns NULL when user cannot go in
 * JSON (not UTF-8): no request rather than a silent root owner.
 */
static json_t *with_user(json_t *req, const char *user)
{
	bool num;
	json_t *ju;

	if (!req || !user)
		return req;
	num = user[0] && strlen(user) <= 10 &&
	      strspn(user, "0123456789") == strlen(user) &&
	      strtoull(user, NULL, 10) <= 4294967294ULL;
	ju = num ? json_integer((json_int_t)strtoull(user, NULL, 10))
		 : json_string(user);
	if (!ju || json_object_set_new(req, "user", ju) < 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

int agent_client_write_file(struct agent_client *c, const char *path,
			    const struct agent_write_opts *o, int timeout_ms,
			    uint64_t *written, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s,s:s,s:i,s:b}", "op", "write_file", "path",
				path ? path : "", "mode",
				(int)(o && o->mode ? o->mode & 07777 : 0644),
				"mkdir_parents", o && o->mkdir_parents);

	req = with_user(req, o ? o->user : NULL);
	return write_stream(c, "write_file", path, req, o, timeout_ms, written,
			    NULL, err, errlen);
}

int agent_client_upload_tar(struct agent_client *c, const char *dir,
			    const struct agent_upload_opts *u, int timeout_ms,
			    struct agent_tar_stats *ts, char *err,
			    size_t errlen)
{
	struct agent_write_opts o = {.src_fd = u ? u->src_fd : -1,
				     .data = u ? u->data : NULL,
				     .len = u ? u->len : 0};
	json_t *req = json_pack("{s:s,s:s,s:b}", "op", "upload", "path",
				dir ? dir : "", "mkdir_parents",
				u && u->mkdir_parents);
	uint64_t size;

	if (ts)
		memset(ts, 0, sizeof(*ts));
	if (u && u->user) {
		req = with_user(req, u->user);
	} else if (req && u && u->own) {
		json_object_set_new(req, "uid", json_integer(u->uid));
		json_object_set_new(req, "gid", json_integer(u->gid));
	}
	return write_stream(c, "upload", dir, req, u ? &o : NULL, timeout_ms,
			    &size, ts, err, errlen);
}

/* ---- one-reply ops ------------------------------------------------------ */

static enum agent_file_type type_from_name(const char *s)
{
	static const char *const names[] = {
		[AGENT_FILE_REGULAR] = "file",	  [AGENT_FILE_DIR] = "dir",
		[AGENT_FILE_SYMLINK] = "symlink", [AGENT_FILE_FIFO] = "fifo",
		[AGENT_FILE_SOCKET] = "socket",	  [AGENT_FILE_CHAR] = "char",
		[AGENT_FILE_BLOCK] = "block",
	};

	for (size_t i = 1; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (enum agent_file_type)i;
	return AGENT_FILE_UNKNOWN;
}

int agent_client_stat(struct agent_client *c, const char *path, bool follow,
		      int timeout_ms, struct agent_file_stat *st, char *err,
		      size_t errlen)
{
	json_int_t size, mode, mtime, nsec, uid, gid;
	const char *type;
	json_t *rep;
	int rc = check_path("stat", path, err, errlen);

	if (rc == 0)
		rc = files_call(c, "stat",
				json_pack("{s:s,s:s,s:b}", "op", "stat", "path",
					  path, "follow", follow),
				timeout_ms, &rep, err, errlen);
	if (rc < 0)
		return rc;
	if (json_unpack(rep, "{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "file_type",
			&type, "size", &size, "mode", &mode, "mtime", &mtime,
			"mtime_nsec", &nsec, "uid", &uid, "gid", &gid) < 0 ||
	    size < 0 || mode < 0 || mode > 07777 || nsec < 0 ||
	    nsec > 999999999 || uid < 0 || uid > UINT32_MAX || gid < 0 ||
	    gid > UINT32_MAX) {
		json_decref(rep);
		aclient_seterr(err, errlen,
			       "stat: agent sent a malformed reply");
		return aclient_result(c, AGENT_ERR_PROTO);
	}
	if (st) {
		st->type = type_from_name(type);
		st->size = (uint64_t)size;
		st->mode = (unsigned int)mode;
		st->mtime = mtime;
		st->mtime_nsec = (long)nsec;
		st->uid = (uint32_t)uid;
		st->gid = (uint32_t)gid;
	}
	json_decref(rep);
	return AGENT_OK;
}

void agent_dir_free(struct agent_dir_entry *entries, size_t n)
{
	for (size_t i = 0; entries && i < n; i++)
		free(entries[i].name);
	free(entries);
}

int agent_client_list_dir(struct agent_client *c, const char *path,
			  unsigned int limit, int timeout_ms,
			  struct agent_dir_entry **entries, size_t *n,
			  bool *truncated, char *err, size_t errlen)
{
	struct agent_dir_entry *e = NULL;
	json_t *rep, *arr = NULL, *req;
	int trunc = 0;
	size_t cnt, i;
	int rc;

	*entries = NULL;
	*n = 0;
	rc = check_path("list_dir", path, err, errlen);
	if (rc < 0)
		return rc;
	req = json_pack("{s:s,s:s}", "op", "list_dir", "path", path);
	if (req && limit)
		json_object_set_new(req, "limit", json_integer(limit));
	rc = files_call(c, "list_dir", req, timeout_ms, &rep, err, errlen);
	if (rc < 0)
		return rc;
	if (json_unpack(rep, "{s:o,s:b}", "entries", &arr, "truncated",
			&trunc) < 0 ||
	    !json_is_array(arr))
		goto bad;
	cnt = json_array_size(arr);
	/* the guest answers: no more than asked for */
	if (limit && cnt > limit)
		goto bad;
	e = calloc(cnt ? cnt : 1, sizeof(*e));
	if (!e) {
		json_decref(rep);
		aclient_seterr(err, errlen, "list_dir: out of memory");
		return AGENT_ERR_INVAL;
	}
	for (i = 0; i < cnt; i++) {
		const char *name, *type;
		json_int_t size;

		if (json_unpack(json_array_get(arr, i), "{s:s,s:s,s:I}", "name",
				&name, "type", &type, "size", &size) < 0 ||
		    size < 0 || !name[0] || strchr(name, '/') ||
		    !strcmp(name, ".") || !strcmp(name, ".."))
			goto bad;
		e[i].name = strdup(name);
		if (!e[i].name) {
			agent_dir_free(e, i);
			json_decref(rep);
			aclient_seterr(err, errlen, "list_dir: out of memory");
			return AGENT_ERR_INVAL;
		}
		e[i].type = type_from_name(type);
		e[i].size = (uint64_t)size;
	}
	json_decref(rep);
	*entries = e;
	*n = cnt;
	if (truncated)
		*truncated = trunc;
	return AGENT_OK;
bad:
	agent_dir_free(e, e ? json_array_size(arr) : 0);
	json_decref(rep);
	aclient_seterr(err, errlen, "list_dir: agent sent a malformed reply");
	return aclient_result(c, AGENT_ERR_PROTO);
}

int agent_client_mkdir(struct agent_client *c, const char *path,
		       unsigned int mode, bool parents, const char *user,
		       int timeout_ms, char *err, size_t errlen)
{
	json_t *rep;
	int rc = check_path("mkdir", path, err, errlen);

	if (rc == 0)
		rc = files_call(
			c, "mkdir",
			with_user(json_pack("{s:s,s:s,s:b,s:i}", "op", "mkdir",
					    "path", path, "parents", parents,
					    "mode",
					    (int)(mode ? mode & 07777 : 0755)),
				  user),
			timeout_ms, &rep, err, errlen);
	if (rc == 0)
		json_decref(rep);
	return rc;
}

int agent_client_remove(struct agent_client *c, const char *path,
			bool recursive, int timeout_ms, char *err,
			size_t errlen)
{
	json_t *rep;
	int rc = check_path("remove", path, err, errlen);

	if (rc == 0)
		rc = files_call(c, "remove",
				json_pack("{s:s,s:s,s:b}", "op", "remove",
					  "path", path, "recursive", recursive),
				timeout_ms, &rep, err, errlen);
	if (rc == 0)
		json_decref(rep);
	return rc;
}

int agent_client_rename(struct agent_client *c, const char *from,
			const char *to, int timeout_ms, char *err,
			size_t errlen)
{
	json_t *rep;
	int rc = check_path("rename", from, err, errlen);

	if (rc == 0)
		rc = check_path("rename", to, err, errlen);
	if (rc == 0)
		rc = files_call(c, "rename",
				json_pack("{s:s,s:s,s:s}", "op", "rename",
					  "from", from, "to", to),
				timeout_ms, &rep, err, errlen);
	if (rc == 0)
		json_decref(rep);
	return rc;
}

int agent_client_sync(struct agent_client *c, const char *path, int timeout_ms,
		      char *err, size_t errlen)
{
	json_t *rep, *req;
	int rc;

	if (path && !path[0]) {
		aclient_seterr(err, errlen,
			       "sync: the path is empty (NULL: every file "
			       "system)");
		return AGENT_ERR_INVAL;
	}
	req = json_pack("{s:s}", "op", "sync");
	if (req && path &&
	    json_object_set_new(req, "path", json_string(path)) < 0) {
		json_decref(req);
		req = NULL;
	}
	rc = files_call(c, "sync", req, timeout_ms, &rep, err, errlen);
	if (rc == 0)
		json_decref(rep);
	return rc;
}
