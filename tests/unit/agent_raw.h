/* SPDX-License-Identifier: MIT */
/*
 * Raw protocol frames for the agent tests (test_agent_wire.c,
 * test_agent_ops.c, test_agent_tty.c): what the libkiln client never
 * sends, and exact checks of what the agent answers.  Include after
 * agent_harness.h.
 */
#ifndef KILN_TESTS_AGENT_RAW_H
#define KILN_TESTS_AGENT_RAW_H

#include "agent_harness.h"

/* ---- raw-frame helpers ------------------------------------------------ */

struct raw {
	int fd;
	struct proto_reader rd;
	uint8_t in[65536];
	size_t off, len;
	bool eof;
};

static inline void raw_send(struct raw *r, uint8_t kind, uint32_t id,
			    const void *p, size_t len)
{
	uint8_t hdr[PROTO_HDR_SIZE];

	proto_hdr_encode(hdr, kind, id, (uint32_t)len);
	assert_int_equal(send(r->fd, hdr, sizeof(hdr), MSG_NOSIGNAL),
			 sizeof(hdr));
	for (size_t off = 0; off < len;) {
		ssize_t n = send(r->fd, (const uint8_t *)p + off, len - off,
				 MSG_NOSIGNAL);

		assert_true(n > 0);
		off += (size_t)n;
	}
}

static inline void raw_ctl(struct raw *r, uint32_t id, const char *json)
{
	raw_send(r, PROTO_CONTROL, id, json, strlen(json));
}

/* Next frame into r->rd; false on EOF.  Fails the test on timeout. */
static inline bool raw_next(struct raw *r)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	for (;;) {
		while (r->off < r->len) {
			size_t used;
			enum proto_event ev = proto_reader_feed(
				&r->rd, r->in + r->off, r->len - r->off, &used);

			r->off += used;
			if (ev == PROTO_EV_FRAME)
				return true;
			assert_int_equal(ev, PROTO_EV_NEED_MORE);
		}
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			fail_msg("no frame from the agent within %d ms",
				 DEADLINE_MS);
		ssize_t n = recv(r->fd, r->in, sizeof(r->in), 0);

		if (n <= 0) {
			r->eof = true;
			return false;
		}
		r->off = 0;
		r->len = (size_t)n;
	}
}

static inline json_t *raw_json(struct raw *r)
{
	json_t *j;

	assert_int_equal(r->rd.hdr.kind, PROTO_CONTROL);
	j = json_loadb((const char *)r->rd.payload, r->rd.hdr.len, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The next frame must be a control message for id of type (and code). */
static inline json_t *raw_expect(struct raw *r, uint32_t id, const char *type,
				 const char *code)
{
	json_t *j;

	if (!raw_next(r))
		fail_msg("EOF while waiting for %s on request %u", type, id);
	j = raw_json(r);
	if (r->rd.hdr.id != id ||
	    strcmp(json_string_value(json_object_get(j, "type")), type) != 0 ||
	    (code &&
	     strcmp(json_string_value(json_object_get(j, "code")), code) != 0))
		fail_msg("want %s/%s for %u, got %u: %.*s", type,
			 code ? code : "-", id, r->rd.hdr.id,
			 (int)r->rd.hdr.len, (const char *)r->rd.payload);
	return j;
}

static inline void raw_expect_free(struct raw *r, uint32_t id, const char *type,
				   const char *code)
{
	json_decref(raw_expect(r, id, type, code));
}

static inline void raw_open(struct raw *r, bool hello)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(r, 0, sizeof(*r));
	proto_reader_init(&r->rd, 4u << 20);
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (hello) {
		raw_ctl(r, 1, "{\"op\":\"hello\",\"version\":1}");
		raw_expect_free(r, 1, "result", NULL);
	}
}

static inline void raw_close(struct raw *r)
{
	close(r->fd);
	proto_reader_free(&r->rd);
}

#endif
