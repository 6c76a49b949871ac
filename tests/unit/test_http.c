/* SPDX-License-Identifier: MIT */
/*
 * The API's HTTP/1.1 parser and response writer: valid requests however
 * they are split, limits, keep-alive, pipelining, and every kind of
 * malformed or ambiguous head refused with the right status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/http.h"

static const char *const valid[] = {
	"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
	"PUT /boot-source HTTP/1.1\r\nHost: localhost\r\n"
	"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
	"{\"kernel_image_path\":\"/k\"}\n",
	"PATCH /vm HTTP/1.0\r\nContent-Length: 19\r\nConnection: "
	"keep-alive\r\n\r\n{\"state\":\"Paused\"}\n",
	"\r\nGET /machine-config HTTP/1.1\r\nAccept: */*\r\nX-Empty:\r\n\r\n",
	"PUT /drives/root HTTP/1.1\r\ncontent-length:  2 \r\n\r\n{}",
};

static int parse_all(const char *s, size_t len, struct http_parser *p)
{
	http_parser_init(p);
	return http_parse(p, s, len);
}

/* Expect an error with the given status for the whole of s. */
static void expect_error(const char *s, size_t len, int status)
{
	struct http_parser p;

	if (parse_all(s, len, &p) != HTTP_ERROR || p.status != status)
		fail_msg("expected %d for \"%.*s\", got state %d status %d "
			 "(%s)",
			 status, (int)len, s, p.state, p.status, p.error);
	/* The error sticks. */
	assert_int_equal(http_parse(&p, s, len), HTTP_ERROR);
	assert_true(p.error[0] != '\0');
}

#define EXPECT_ERROR(s, status) expect_error(s, sizeof(s) - 1, status)

static void test_get(void **state)
{
	struct http_parser p;
	const char *s = valid[0];

	(void)state;
	assert_int_equal(parse_all(s, strlen(s), &p), HTTP_DONE);
	assert_string_equal(p.req.method, "GET");
	assert_int_equal(p.req.target_len, 1);
	assert_memory_equal(p.req.target, "/", 1);
	assert_int_equal(p.req.minor, 1);
	assert_true(p.req.keep_alive);
	assert_false(p.req.expect_continue);
	assert_null(p.req.body);
	assert_int_equal(p.req.body_len, 0);
	assert_int_equal(p.len, strlen(s));
	/* Done stays done. */
	assert_int_equal(http_parse(&p, s, strlen(s)), HTTP_DONE);
}

static void test_put_body(void **state)
{
	struct http_parser p;
	const char *s = valid[1];

	(void)state;
	assert_int_equal(parse_all(s, strlen(s), &p), HTTP_DONE);
	assert_string_equal(p.req.method, "PUT");
	assert_int_equal(p.req.target_len, strlen("/boot-source"));
	assert_memory_equal(p.req.target, "/boot-source", p.req.target_len);
	assert_int_equal(p.req.body_len, 27);
	assert_memory_equal(p.req.body, "{\"kernel_image_path\":\"/k\"}\n", 27);
	assert_ptr_equal(p.req.body + 27, s + strlen(s));
	assert_int_equal(p.len, strlen(s));

	assert_int_equal(parse_all(valid[4], strlen(valid[4]), &p), HTTP_DONE);
	assert_int_equal(p.req.body_len, 2);
	assert_memory_equal(p.req.body, "{}", 2);
}

/* Every proper prefix of a valid request needs more; the whole is done. */
static void test_every_truncation(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		size_t len = strlen(valid[v]);
		struct http_parser p;

		for (size_t k = 0; k < len; k++)
			if (parse_all(valid[v], k, &p) != HTTP_NEED_MORE)
				fail_msg("request %zu cut at %zu: %s", v, k,
					 p.error);
		assert_int_equal(parse_all(valid[v], len, &p), HTTP_DONE);
		assert_int_equal(p.len, len);
	}
}

/* The same request fed in two reads split at every byte, and one byte at
 * a time, parses exactly like the whole. */
static void test_split_at_every_byte(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		const char *s = valid[v];
		size_t len = strlen(s);
		struct http_parser whole, p;

		assert_int_equal(parse_all(s, len, &whole), HTTP_DONE);
		for (size_t k = 0; k <= len; k++) {
			http_parser_init(&p);
			if (k < len)
				assert_int_equal(http_parse(&p, s, k),
						 HTTP_NEED_MORE);
			assert_int_equal(http_parse(&p, s, len), HTTP_DONE);
			assert_string_equal(p.req.method, whole.req.method);
			assert_int_equal(p.req.target_len,
					 whole.req.target_len);
			assert_ptr_equal(p.req.target, whole.req.target);
			assert_int_equal(p.req.body_len, whole.req.body_len);
			assert_int_equal(p.req.keep_alive,
					 whole.req.keep_alive);
			assert_int_equal(p.len, whole.len);
		}
		/* One byte at a time, into a buffer that moves each time. */
		http_parser_init(&p);
		for (size_t k = 1; k <= len; k++) {
			char *copy = malloc(k);
			int rc;

			memcpy(copy, s, k);
			rc = http_parse(&p, copy, k);
			assert_int_equal(rc,
					 k < len ? HTTP_NEED_MORE : HTTP_DONE);
			if (rc == HTTP_DONE)
				assert_memory_equal(p.req.target,
						    whole.req.target,
						    whole.req.target_len);
			free(copy);
		}
	}
}

static void test_pipelined(void **state)
{
	char buf[1024];
	struct http_parser p;
	size_t n;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "%s%s", valid[1], valid[0]);
	assert_int_equal(parse_all(buf, n, &p), HTTP_DONE);
	assert_string_equal(p.req.method, "PUT");
	assert_int_equal(p.len, strlen(valid[1]));
	assert_int_equal(parse_all(buf + p.len, n - p.len, &p), HTTP_DONE);
	assert_string_equal(p.req.method, "GET");
	assert_int_equal(p.len, strlen(valid[0]));
}

static void test_keep_alive(void **state)
{
	static const struct {
		const char *req;
		bool keep;
	} cases[] = {
		{"GET / HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
		 false},
		{"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n",
		 false},
	};
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			parse_all(cases[i].req, strlen(cases[i].req), &p),
			HTTP_DONE);
		if (p.req.keep_alive != cases[i].keep)
			fail_msg("keep_alive %d for %s", p.req.keep_alive,
				 cases[i].req);
	}
}

static void test_expect_continue(void **state)
{
	static const char req[] = "PUT /vm HTTP/1.1\r\nExpect: 100-continue\r\n"
				  "Content-Length: 2\r\n\r\n{}";
	static const char req10[] = "PUT /vm HTTP/1.0\r\nExpect: "
				    "100-continue\r\nContent-Length: 2\r\n\r\n";
	struct http_parser p;

	(void)state;
	http_parser_init(&p);
	assert_int_equal(http_parse(&p, req, 10), HTTP_NEED_MORE);
	assert_false(http_parser_wants_continue(&p));
	assert_int_equal(http_parse(&p, req, sizeof(req) - 3), HTTP_NEED_MORE);
	assert_true(http_parser_wants_continue(&p));
	assert_int_equal(http_parse(&p, req, sizeof(req) - 1), HTTP_DONE);
	assert_false(http_parser_wants_continue(&p));
	/* HTTP/1.0 clients do not wait for 100. */
	assert_int_equal(parse_all(req10, sizeof(req10) - 1, &p),
			 HTTP_NEED_MORE);
	assert_false(http_parser_wants_continue(&p));
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417);
}

static void test_head_limit(void **state)
{
	size_t n = HTTP_MAX_HEAD + 16;
	char *buf = malloc(n);
	const char *pre = "GET / HTTP/1.1\r\nX-Pad: ";
	size_t plen = strlen(pre);
	struct http_parser p;

	(void)state;
	/* Exactly HTTP_MAX_HEAD bytes of head is accepted. */
	memcpy(buf, pre, plen);
	memset(buf + plen, 'a', HTTP_MAX_HEAD - plen - 4);
	memcpy(buf + HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
	assert_int_equal(parse_all(buf, HTTP_MAX_HEAD, &p), HTTP_DONE);
	/* One more byte is not; the error comes without the blank line. */
	memset(buf + plen, 'a', HTTP_MAX_HEAD - plen - 3);
	memcpy(buf + HTTP_MAX_HEAD - 3, "\r\n\r\n", 4);
	assert_int_equal(parse_all(buf, HTTP_MAX_HEAD + 1, &p), HTTP_ERROR);
	assert_int_equal(p.status, 431);
	assert_int_equal(parse_all(buf, HTTP_MAX_HEAD, &p), HTTP_NEED_MORE);
	/* A request line that never ends. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 5);
	assert_int_equal(parse_all(buf, n, &p), HTTP_ERROR);
	assert_int_equal(p.status, 414);
	free(buf);
}

static void test_body_limit(void **state)
{
	char head[128];
	struct http_parser p;
	size_t hl;
	char *buf;

	(void)state;
	hl = (size_t)snprintf(head, sizeof(head),
			      "PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
			      HTTP_MAX_BODY);
	buf = calloc(1, hl + HTTP_MAX_BODY);
	memcpy(buf, head, hl);
	assert_int_equal(parse_all(buf, hl + HTTP_MAX_BODY - 1, &p),
			 HTTP_NEED_MORE);
	assert_int_equal(parse_all(buf, hl + HTTP_MAX_BODY, &p), HTTP_DONE);
	assert_int_equal(p.req.body_len, HTTP_MAX_BODY);
	free(buf);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: "
		     "99999999999999999999999999\r\n\r\n",
		     413);
	/* Refused as soon as the header line is complete. */
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 70000\r\n", 413);
}

static void test_framing_refused(void **state)
{
	(void)state;
	/* Chunked and any other transfer coding, with or without a length. */
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		     501);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 3\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n",
		     501);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n", 501);
	/* Duplicate or malformed Content-Length. */
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 2\r\n"
		     "Content-Length: 2\r\n\r\n{}",
		     400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n", 400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: +2\r\n\r\n", 400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
	EXPECT_ERROR("PUT /x HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
	/* Line endings. */
	EXPECT_ERROR("GET / HTTP/1.1\n\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\r\n", 400);
	/* Header injection and odd bytes. */
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400);
	EXPECT_ERROR("GET /\0 HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX: \x7f\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\n\tX: a\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX(y): a\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\n: a\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

static void test_request_line_refused(void **state)
{
	(void)state;
	EXPECT_ERROR("get / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("G-T / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR(" GET / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET  / HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET /  HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.1 \r\n\r\n", 400);
	EXPECT_ERROR("GET /\tx HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET\t/ HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET http://a/ HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("OPTIONS * HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET /#frag HTTP/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET /\r\n\r\n", 400);
	EXPECT_ERROR("GET / http/1.1\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1.10\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/1\r\n\r\n", 400);
	EXPECT_ERROR("GET / HTTP/2.0\r\n\r\n", 505);
	EXPECT_ERROR("GET / HTTP/0.9\r\n\r\n", 505);
	/* A TLS ClientHello is refused at its first byte, not after 8 KiB. */
	EXPECT_ERROR("\x16\x03\x01\x02\x00\x01", 400);
}

/* Odd but valid: the parser must accept these. */
static void test_accepted(void **state)
{
	static const char *const ok[] = {
		"DELETE /x HTTP/1.1\r\n\r\n", /* the router refuses it */
		"GET /a?b=c&d HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Tab:\tv\t\r\n\r\n",
		"GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~0aZ: v\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"PUT /x HTTP/1.1\r\nContent-Length: 00002\r\n\r\n{}",
	};
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (parse_all(ok[i], strlen(ok[i]), &p) != HTTP_DONE)
			fail_msg("refused %s: %s", ok[i], p.error);
}

static void test_response_format(void **state)
{
	size_t len = 0;
	char *r;

	(void)state;
	r = http_response_format(200, "{\"a\":1}", 7, false, &len);
	assert_non_null(r);
	assert_string_equal(r, "HTTP/1.1 200 OK\r\nServer: kiln-vmm\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 7\r\n\r\n{\"a\":1}");
	assert_int_equal(len, strlen(r));
	free(r);
	r = http_response_format(204, NULL, 0, false, &len);
	assert_string_equal(r, "HTTP/1.1 204 No Content\r\n\r\n");
	free(r);
	r = http_response_format(400, "{}", 2, true, &len);
	assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request\r\n"));
	assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(r, "\r\nContent-Length: 2\r\n"));
	assert_string_equal(r + len - 6, "\r\n\r\n{}");
	free(r);
	r = http_response_format(100, NULL, 0, false, &len);
	assert_string_equal(r, "HTTP/1.1 100 Continue\r\n\r\n");
	free(r);
	assert_string_equal(http_status_reason(431),
			    "Request Header Fields Too Large");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_put_body),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_split_at_every_byte),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_framing_refused),
		cmocka_unit_test(test_request_line_refused),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_response_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
