/* SPDX-License-Identifier: MIT */
/*
 * A small, strict HTTP/1.1 request parser and response writer for the
 * VMM's API socket.  Only what the API needs: a request line, headers and
 * a Content-Length body.  Anything ambiguous (chunked bodies, duplicate
 * Content-Length, bare LF or CR, NULs, obsolete line folding, non-ASCII
 * bytes in the head) is refused rather than guessed at, so the parser and
 * any proxy in front of it can never disagree about where a request ends.
 *
 * The parser is incremental: the caller keeps every byte of the current
 * request in one buffer (it may grow and move between calls, but bytes
 * already passed must not change) and calls http_parse() after each read;
 * each byte of the head is examined once.
 */
#ifndef KILN_VMM_HTTP_H
#define KILN_VMM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD 8192 /* request line + headers + blank line */
#define HTTP_MAX_BODY 65536
#define HTTP_MAX_METHOD 15

enum http_parse_result {
	HTTP_ERROR = -1, /* see http_parser.status / .error */
	HTTP_NEED_MORE = 0,
	HTTP_DONE = 1, /* request complete: see http_parser.req */
};

struct http_request {
	char method[HTTP_MAX_METHOD + 1]; /* "GET", "PUT", ... */
	const char *target; /* request-target, not NUL-terminated */
	size_t target_len;
	int minor; /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive; /* the client wants the connection kept */
	bool expect_continue; /* "Expect: 100-continue" (HTTP/1.1) */
	const char *body; /* body_len bytes (NULL if 0) */
	size_t body_len;
};

struct http_parser {
	/* Private state. */
	int state;
	size_t pos; /* next byte of the head to examine */
	size_t line_start;
	size_t head_len; /* set when the blank line was seen */
	size_t target_off;
	bool have_clen, have_host, conn_close, conn_keep_alive;
	/* Public once http_parse() returned HTTP_DONE (req, len) or
	 * HTTP_ERROR (status, error). */
	struct http_request req;
	size_t len; /* bytes of the buffer the request occupies */
	int status; /* 400, 413, 414, 417, 431, 501 or 505 */
	char error[128];
};

void http_parser_init(struct http_parser *p);

/*
 * Look at buf[0, len): the current request starts at buf[0].  Returns
 * HTTP_NEED_MORE, HTTP_DONE (p->req's pointers point into buf, p->len is
 * the request's size; bytes after it belong to the next request) or
 * HTTP_ERROR.  Once DONE or ERROR the result does not change until
 * http_parser_init().
 */
int http_parse(struct http_parser *p, const char *buf, size_t len);

/* The head is complete, the body is still arriving, and the client said
 * "Expect: 100-continue": it waits for an interim "100 Continue". */
bool http_parser_wants_continue(const struct http_parser *p);

/* "OK", "Bad Request", ...; "Unknown" for codes not used here. */
const char *http_status_reason(int status);

/*
 * A complete response in a malloc'd buffer (*out_len bytes), or NULL when
 * out of memory.  A body (if any) is sent as application/json with
 * Content-Length; 204 and 1xx responses carry no body headers.  conn_close adds
 * "Connection: close".
 */
char *http_response_format(int status, const char *body, size_t body_len,
			   bool conn_close, size_t *out_len);

#endif
