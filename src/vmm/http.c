/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 request parsing (RFC 9112, the strict subset the API needs) and
 * response formatting.  The head is scanned byte by byte as it arrives;
 * each complete line is validated at once, so garbage is refused at its
 * first line instead of after 8 KiB.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

enum http_state {
	HTTP_S_LINE, /* request line (possibly after blank lines) */
	HTTP_S_HEADERS,
	HTTP_S_BODY,
	HTTP_S_DONE,
	HTTP_S_ERROR,
};

void http_parser_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = HTTP_S_LINE;
}

static int http_fail(struct http_parser *p, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int http_fail(struct http_parser *p, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->status = status;
	p->state = HTTP_S_ERROR;
	return HTTP_ERROR;
}

/* RFC 9110 tchar: the characters of methods and header names. */
static bool http_is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool http_token_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !strncasecmp(s, word, n);
}

/* "METHOD SP request-target SP HTTP/1.x", line[0, n) without CRLF. */
static int http_request_line(struct http_parser *p, const char *buf,
			     size_t start, size_t n)
{
	const char *line = buf + start, *sp1, *sp2, *ver;
	size_t mlen, vlen;

	sp1 = memchr(line, ' ', n);
	if (!sp1)
		return http_fail(p, 400, "malformed request line");
	mlen = (size_t)(sp1 - line);
	if (!mlen || mlen > HTTP_MAX_METHOD)
		return http_fail(p, 400, "invalid method");
	for (size_t i = 0; i < mlen; i++)
		if (line[i] < 'A' || line[i] > 'Z')
			return http_fail(p, 400, "invalid method");
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2)
		return http_fail(p, 400, "malformed request line");
	/* Only origin-form ("/path"): no absolute URIs, no "*". */
	if (sp2 == sp1 + 1 || sp1[1] != '/')
		return http_fail(p, 400,
				 "the request target must be a path starting "
				 "with /");
	for (const char *t = sp1 + 1; t < sp2; t++)
		if (*t <= ' ' || *t == '#')
			return http_fail(p, 400,
					 "invalid character in the request "
					 "target");
	ver = sp2 + 1;
	vlen = n - (size_t)(ver - line);
	if (vlen == 8 && !memcmp(ver, "HTTP/1.", 7) &&
	    (ver[7] == '0' || ver[7] == '1')) {
		p->req.minor = ver[7] - '0';
	} else if (vlen == 8 && !memcmp(ver, "HTTP/", 5) && ver[5] >= '0' &&
		   ver[5] <= '9' && ver[6] == '.' && ver[7] >= '0' &&
		   ver[7] <= '9') {
		return http_fail(p, 505, "HTTP version %.8s is not supported",
				 ver);
	} else {
		return http_fail(p, 400, "malformed HTTP version");
	}
	memcpy(p->req.method, line, mlen);
	p->req.method[mlen] = '\0';
	p->target_off = start + mlen + 1;
	p->req.target_len = (size_t)(sp2 - sp1 - 1);
	return 0;
}

static int http_content_length(struct http_parser *p, const char *v, size_t n)
{
	size_t val = 0;

	if (p->have_clen)
		return http_fail(p, 400, "duplicate Content-Length header");
	if (!n)
		return http_fail(p, 400, "invalid Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return http_fail(p, 400, "invalid Content-Length");
		val = val * 10 + (size_t)(v[i] - '0');
		if (val > HTTP_MAX_BODY)
			return http_fail(p, 413,
					 "the body is larger than %d bytes",
					 HTTP_MAX_BODY);
	}
	p->have_clen = true;
	p->req.body_len = val;
	return 0;
}

/* Connection: a comma-separated list of options. */
static void http_connection(struct http_parser *p, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (http_token_eq(v + s, e - s, "close"))
			p->conn_close = true;
		else if (http_token_eq(v + s, e - s, "keep-alive"))
			p->conn_keep_alive = true;
	}
}

static int http_header_line(struct http_parser *p, const char *line, size_t n)
{
	const char *colon, *v;
	size_t nlen, vlen;

	if (line[0] == ' ' || line[0] == '\t')
		return http_fail(p, 400,
				 "obsolete header line folding is not "
				 "accepted");
	colon = memchr(line, ':', n);
	if (!colon || colon == line)
		return http_fail(p, 400, "malformed header line");
	nlen = (size_t)(colon - line);
	for (size_t i = 0; i < nlen; i++)
		if (!http_is_tchar(line[i]))
			return http_fail(p, 400, "invalid header name");
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

	if (http_token_eq(line, nlen, "Content-Length"))
		return http_content_length(p, v, vlen);
	if (http_token_eq(line, nlen, "Transfer-Encoding"))
		return http_fail(p, 501,
				 "Transfer-Encoding is not supported: send "
				 "the body with Content-Length");
	if (http_token_eq(line, nlen, "Connection")) {
		http_connection(p, v, vlen);
	} else if (http_token_eq(line, nlen, "Expect")) {
		if (!http_token_eq(v, vlen, "100-continue"))
			return http_fail(p, 417, "unsupported expectation");
		p->req.expect_continue = true;
	} else if (http_token_eq(line, nlen, "Host")) {
		if (p->have_host)
			return http_fail(p, 400, "duplicate Host header");
		p->have_host = true;
	}
	return 0;
}

/* The blank line after the headers: decide keep-alive and the body size. */
static void http_head_done(struct http_parser *p, size_t head_len)
{
	p->head_len = head_len;
	if (p->req.minor == 1)
		p->req.keep_alive = !p->conn_close;
	else
		p->req.keep_alive = p->conn_keep_alive && !p->conn_close;
	/* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 clients, and
	 * there is nothing to wait for without a body. */
	if (p->req.minor == 0 || !p->req.body_len)
		p->req.expect_continue = false;
	p->state = HTTP_S_BODY;
}

/* A complete line buf[start, end) without its CRLF. */
static int http_line(struct http_parser *p, const char *buf, size_t start,
		     size_t end)
{
	if (p->state == HTTP_S_LINE) {
		/* RFC 9112 2.2: ignore blank lines before the request. */
		if (start == end)
			return 0;
		if (http_request_line(p, buf, start, end - start))
			return HTTP_ERROR;
		p->state = HTTP_S_HEADERS;
		return 0;
	}
	if (start == end) {
		http_head_done(p, end + 2);
		return 0;
	}
	return http_header_line(p, buf + start, end - start);
}

static int http_scan_head(struct http_parser *p, const char *buf, size_t len)
{
	for (; p->pos < len && p->state < HTTP_S_BODY; p->pos++) {
		unsigned char c = (unsigned char)buf[p->pos];
		bool after_cr =
			p->pos > p->line_start && buf[p->pos - 1] == '\r';

		if (p->pos >= HTTP_MAX_HEAD) {
			if (p->state == HTTP_S_LINE)
				return http_fail(p, 414,
						 "the request line is longer "
						 "than %d bytes",
						 HTTP_MAX_HEAD);
			return http_fail(p, 431,
					 "the request head is longer than %d "
					 "bytes",
					 HTTP_MAX_HEAD);
		}
		if (c == '\n') {
			if (!after_cr)
				return http_fail(p, 400,
						 "line ends with a bare LF "
						 "(CRLF is required)");
			if (http_line(p, buf, p->line_start, p->pos - 1))
				return HTTP_ERROR;
			p->line_start = p->pos + 1;
			continue;
		}
		if (after_cr)
			return http_fail(p, 400, "bare CR in the request head");
		if (c == 0)
			return http_fail(p, 400,
					 "NUL byte in the request head");
		if ((c < 0x20 && c != '\t' && c != '\r') || c >= 0x7f)
			return http_fail(p, 400,
					 "control or non-ASCII byte 0x%02x in "
					 "the request head",
					 c);
	}
	return 0;
}

int http_parse(struct http_parser *p, const char *buf, size_t len)
{
	if (p->state == HTTP_S_ERROR)
		return HTTP_ERROR;
	if (p->state == HTTP_S_DONE)
		return HTTP_DONE;
	if (p->state < HTTP_S_BODY && http_scan_head(p, buf, len))
		return HTTP_ERROR;
	if (p->state != HTTP_S_BODY || len - p->head_len < p->req.body_len)
		return HTTP_NEED_MORE;
	p->req.target = buf + p->target_off;
	p->req.body = p->req.body_len ? buf + p->head_len : NULL;
	p->len = p->head_len + p->req.body_len;
	p->state = HTTP_S_DONE;
	return HTTP_DONE;
}

bool http_parser_wants_continue(const struct http_parser *p)
{
	return p->state == HTTP_S_BODY && p->req.expect_continue;
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

char *http_response_format(int status, const char *body, size_t body_len,
			   bool conn_close, size_t *out_len)
{
	bool no_body = status == 204 || (status >= 100 && status < 200);
	char head[256];
	char *out;
	int n;

	if (no_body)
		n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s\r\n",
			     status, http_status_reason(status),
			     conn_close ? "Connection: close\r\n" : "");
	else
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %d %s\r\n"
			     "Server: kiln-vmm\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n%s\r\n",
			     status, http_status_reason(status), body_len,
			     conn_close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return NULL;
	if (no_body)
		body_len = 0;
	out = malloc((size_t)n + body_len + 1);
	if (!out)
		return NULL;
	memcpy(out, head, (size_t)n);
	if (body_len)
		memcpy(out + n, body, body_len);
	out[(size_t)n + body_len] = '\0';
	*out_len = (size_t)n + body_len;
	return out;
}
