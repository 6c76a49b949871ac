/* SPDX-License-Identifier: MIT */
/* Agent protocol v1 over AF_VSOCK; see agent_vsock.h. */
#include "agent_vsock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "console_watch.h" /* bench_now_ns() */

/* poll() timeout until deadline_ns, 0 if it passed. */
static int ms_until(int64_t deadline_ns)
{
	int64_t left = deadline_ns - bench_now_ns();

	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 60000 ? 60000 : (int)left;
}

/* Wait for events on fd; 1 ready, 0 deadline passed, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
	for (;;) { /* bounded by the deadline */
		struct pollfd p = {.fd = fd, .events = events};
		int ms = ms_until(deadline_ns);
		int n;

		if (ms == 0)
			return 0;
		n = poll(&p, 1, ms);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

void agent_vsock_close(struct agent_vsock *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	proto_reader_free(&a->rd);
}

static int send_all(struct agent_vsock *a, const uint8_t *buf, size_t len,
		    int64_t deadline_ns, char *err, size_t errlen)
{
	size_t off = 0;

	while (off < len) { /* each pass sends or waits with the deadline */
		ssize_t n = send(a->fd, buf + off, len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		int w;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			snprintf(err, errlen, "vsock send: %s",
				 strerror(errno));
			return AGENT_VSOCK_ERROR;
		}
		w = wait_fd(a->fd, POLLOUT, deadline_ns);
		if (w <= 0) {
			snprintf(err, errlen, "vsock send: %s",
				 w == 0 ? "timed out" : strerror(errno));
			return AGENT_VSOCK_ERROR;
		}
	}
	return AGENT_VSOCK_OK;
}

static int send_request(struct agent_vsock *a, uint32_t id, const char *json,
			int64_t deadline_ns, char *err, size_t errlen)
{
	size_t len = strlen(json);
	uint8_t frame[PROTO_HDR_SIZE + 256];

	if (len > sizeof(frame) - PROTO_HDR_SIZE) {
		snprintf(err, errlen, "request too long");
		return AGENT_VSOCK_ERROR;
	}
	proto_hdr_encode(frame, PROTO_CONTROL, id, (uint32_t)len);
	memcpy(frame + PROTO_HDR_SIZE, json, len);
	return send_all(a, frame, PROTO_HDR_SIZE + len, deadline_ns, err,
			errlen);
}

/* Check one control frame for request id; 1 = it was the final reply. */
static int take_reply(const struct proto_hdr *h, const uint8_t *payload,
		      uint32_t id, json_t **reply, char *err, size_t errlen)
{
	const char *type = NULL, *msg = NULL, *code = NULL;
	char jerr[160];
	json_t *obj;

	if (h->kind != PROTO_CONTROL || (h->id != id && h->id != 0))
		return 0; /* output of something else: not ours */
	obj = proto_json_parse(payload, h->len, jerr, sizeof(jerr));
	if (!obj) {
		snprintf(err, errlen, "agent reply: %s", jerr);
		return -1;
	}
	json_unpack(obj, "{s?s,s?s,s?s}", "type", &type, "message", &msg,
		    "code", &code);
	if (type && strcmp(type, "result") == 0 && h->id == id) {
		*reply = obj;
		return 1;
	}
	if (type && strcmp(type, "error") == 0) {
		snprintf(err, errlen, "agent: %s [%s]", msg ? msg : "?",
			 code ? code : "?");
		json_decref(obj);
		return -1;
	}
	json_decref(obj);
	return 0; /* e.g. "started": not final */
}

/* Read frames until the final reply to id; *reply is a new reference. */
static int wait_reply(struct agent_vsock *a, uint32_t id, int64_t deadline_ns,
		      json_t **reply, char *err, size_t errlen)
{
	*reply = NULL;
	for (;;) { /* bounded by the deadline and the peer closing */
		while (a->in_off < a->in_len) {
			size_t used = 0;
			enum proto_event ev =
				proto_reader_feed(&a->rd, a->in + a->in_off,
						  a->in_len - a->in_off, &used);
			int rc;

			a->in_off += used;
			if (ev == PROTO_EV_NEED_MORE ||
			    ev == PROTO_EV_OVERSIZED)
				continue;
			if (ev != PROTO_EV_FRAME) {
				snprintf(err, errlen,
					 "agent sent a malformed frame");
				return AGENT_VSOCK_ERROR;
			}
			rc = take_reply(&a->rd.hdr, a->rd.payload, id, reply,
					err, errlen);
			if (rc < 0)
				return AGENT_VSOCK_ERROR;
			if (rc == 1)
				return AGENT_VSOCK_OK;
		}
		ssize_t n = recv(a->fd, a->in, sizeof(a->in), MSG_DONTWAIT);

		if (n > 0) {
			a->in_off = 0;
			a->in_len = (size_t)n;
			a->heard = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			a->closed = n == 0 || errno == ECONNRESET;
			snprintf(err, errlen, "vsock recv: %s",
				 n == 0 ? "connection closed by the guest"
					: strerror(errno));
			return AGENT_VSOCK_ERROR;
		}
		int w = wait_fd(a->fd, POLLIN, deadline_ns);

		if (w <= 0) {
			snprintf(err, errlen, "waiting for the agent: %s",
				 w == 0 ? "timed out" : strerror(errno));
			return AGENT_VSOCK_ERROR;
		}
	}
}

static int call(struct agent_vsock *a, const char *json, int64_t deadline_ns,
		json_t **reply, char *err, size_t errlen)
{
	uint32_t id = ++a->next_id;
	int rc = send_request(a, id, json, deadline_ns, err, errlen);

	if (rc == AGENT_VSOCK_OK)
		rc = wait_reply(a, id, deadline_ns, reply, err, errlen);
	return rc;
}

/* Non-blocking connect, bounded by the deadline. */
static int vsock_dial(struct agent_vsock *a, uint32_t cid, uint32_t port,
		      int64_t deadline_ns, char *err, size_t errlen)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
	socklen_t sl = sizeof(int);
	int e = 0, w;

	a->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->fd < 0) {
		snprintf(err, errlen,
			 "socket(AF_VSOCK): %s (load the vhost_vsock module)",
			 strerror(errno));
		return AGENT_VSOCK_ERROR;
	}
	if (connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return AGENT_VSOCK_OK;
	if (errno != EINPROGRESS) {
		e = errno;
	} else {
		w = wait_fd(a->fd, POLLOUT, deadline_ns);
		if (w == 0) {
			snprintf(err, errlen,
				 "vsock connect to cid %u port %u: no answer "
				 "yet",
				 cid, port);
			return AGENT_VSOCK_NOT_READY;
		}
		if (w < 0 ||
		    getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
			e = errno;
	}
	if (e == 0)
		return AGENT_VSOCK_OK;
	snprintf(err, errlen, "vsock connect to cid %u port %u: %s", cid, port,
		 strerror(e));
	/*
	 * No listener yet (RST), the guest's driver is not up yet (timed
	 * out), or the VMM has not registered the CID with vhost-vsock yet
	 * (ENODEV; boot.sh checks /dev/vhost-vsock exists beforehand).
	 */
	if (e == ECONNRESET || e == ECONNREFUSED || e == ETIMEDOUT ||
	    e == ENODEV || e == EINTR)
		return AGENT_VSOCK_NOT_READY;
	return AGENT_VSOCK_ERROR;
}

int agent_vsock_connect(struct agent_vsock *a, uint32_t cid, uint32_t port,
			int64_t deadline_ns, char *err, size_t errlen)
{
	json_t *reply = NULL;
	char req[96];
	int rc;

	memset(a, 0, sizeof(*a));
	proto_reader_init(&a->rd, PROTO_MAX_PAYLOAD);
	rc = vsock_dial(a, cid, port, deadline_ns, err, errlen);
	if (rc == AGENT_VSOCK_OK) {
		snprintf(req, sizeof(req),
			 "{\"op\":\"hello\",\"version\":%d,"
			 "\"client\":\"kiln-bench\"}",
			 PROTO_VERSION);
		rc = call(a, req, deadline_ns, &reply, err, errlen);
		json_decref(reply);
		/* Reset before the agent said a word: right after a restore the
		 * guest's vsock transport reset drops fresh connections. */
		if (rc == AGENT_VSOCK_ERROR && a->closed && !a->heard)
			rc = AGENT_VSOCK_NOT_READY;
	}
	if (rc != AGENT_VSOCK_OK)
		agent_vsock_close(a);
	return rc;
}

int agent_vsock_ping(struct agent_vsock *a, int64_t deadline_ns,
		     uint64_t *uptime_ms, char *err, size_t errlen)
{
	json_t *reply = NULL;
	json_int_t up = -1;
	int rc = call(a, "{\"op\":\"ping\"}", deadline_ns, &reply, err, errlen);

	if (rc == AGENT_VSOCK_OK &&
	    (json_unpack(reply, "{s:I}", "uptime_ms", &up) < 0 || up < 0)) {
		snprintf(err, errlen, "agent: ping reply without uptime_ms");
		rc = AGENT_VSOCK_ERROR;
	}
	if (rc == AGENT_VSOCK_OK)
		*uptime_ms = (uint64_t)up;
	json_decref(reply);
	return rc;
}

int agent_vsock_shutdown(struct agent_vsock *a, int64_t deadline_ns, char *err,
			 size_t errlen)
{
	json_t *reply = NULL;
	int rc = call(a, "{\"op\":\"shutdown\"}", deadline_ns, &reply, err,
		      errlen);

	json_decref(reply);
	return rc;
}
