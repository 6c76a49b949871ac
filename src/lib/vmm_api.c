/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 client for kiln-vmm's API socket.  Deliberately small: one
 * request, "Connection: close", a Content-Length reply read to its end
 * under one deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "kiln.h"
#include "lib/vmm_api.h"

static long long api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() fd for events until deadline: 1 ready, 0 timed out, -1 error. */
static int api_wait(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - api_now_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int api_connect(const char *sock, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path)) {
		errbuf_set(err, errlen, "API socket path %s is too long", sock);
		return -1;
	}
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		errbuf_set(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A Unix stream connect completes or fails at once. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		errbuf_set(err, errlen,
			   "cannot connect to kiln-vmm's API socket %s: %s",
			   sock, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int api_send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (api_wait(fd, POLLOUT, deadline) <= 0)
				return -1;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Find the end of the header block; returns its length or 0. */
static size_t api_header_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

int vmm_api_parse_reply(const char *buf, size_t len, int *status,
			const char **body, size_t *body_len)
{
	size_t hend = api_header_end(buf, len);
	unsigned long long clen = 0;
	const char *p, *end;
	int st;

	if (!hend)
		return len > 16384 ? -1 : 0;
	if (hend < 13 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -1;
	st = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		st = st * 10 + (buf[i] - '0');
	}
	if (st < 100 || (buf[12] != ' ' && buf[12] != '\r'))
		return -1;
	/* Headers: only Content-Length matters. */
	p = memchr(buf, '\n', hend) + 1;
	end = buf + hend - 2;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			return -1;
		if ((size_t)(eol - p) > 15 &&
		    !strncasecmp(p, "Content-Length:", 15)) {
			char *q;
			const char *v = p + 15;

			while (*v == ' ' || *v == '\t')
				v++;
			errno = 0;
			clen = strtoull(v, &q, 10);
			if (errno || q == v || (*q != '\r' && *q != ' '))
				return -1;
		}
		p = eol + 1;
	}
	if (clen > VMM_API_MAX_REPLY)
		return -1;
	if (len - hend < clen)
		return 0;
	*status = st;
	*body = buf + hend;
	*body_len = (size_t)clen;
	return 1;
}

static int api_read_reply(int fd, char *buf, size_t cap, long long deadline,
			  int *status, const char **body, size_t *body_len)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		int r;

		if (n > 0) {
			len += (size_t)n;
			r = vmm_api_parse_reply(buf, len, status, body,
						body_len);
			if (r)
				return r;
			if (len == cap)
				return -1;
		} else if (n == 0) {
			return -1; /* closed before a whole reply */
		} else if (errno == EAGAIN) {
			if (api_wait(fd, POLLIN, deadline) <= 0)
				return -2;
		} else if (errno != EINTR) {
			return -1;
		}
	}
}

static char *api_format_request(const char *method, const char *path,
				json_t *body)
{
	char *json = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char *req = NULL;
	int n;

	if (body && !json)
		return NULL;
	if (json)
		n = asprintf(&req,
			     "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Connection: close\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     method, path, strlen(json), json);
	else
		n = asprintf(&req,
			     "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			     "Connection: close\r\n\r\n",
			     method, path);
	free(json);
	return n < 0 ? NULL : req;
}

int vmm_api_request(const char *sock, const char *method, const char *path,
		    json_t *body, int timeout_ms, int *status, json_t **reply,
		    char *err, size_t errlen)
{
	long long deadline = api_now_ms() + timeout_ms;
	size_t cap = VMM_API_MAX_REPLY + 16384, blen;
	char *req = NULL, *buf = NULL;
	const char *b;
	int fd, r, rc = KILN_EVMM;

	if (reply)
		*reply = NULL;
	fd = api_connect(sock, err, errlen);
	if (fd < 0)
		return KILN_EVMM;
	req = api_format_request(method, path, body);
	buf = malloc(cap);
	if (!req || !buf) {
		errbuf_set(err, errlen, "out of memory");
		rc = KILN_ENOMEM;
		goto out;
	}
	if (api_send_all(fd, req, strlen(req), deadline)) {
		errbuf_set(err, errlen, "%s %s: cannot send to %s: %s", method,
			   path, sock, errno ? strerror(errno) : "timed out");
		goto out;
	}
	r = api_read_reply(fd, buf, cap, deadline, status, &b, &blen);
	if (r == -2) {
		errbuf_set(err, errlen,
			   "%s %s: kiln-vmm did not answer on %s within %d ms",
			   method, path, sock, timeout_ms);
		rc = KILN_ETIMEOUT;
		goto out;
	}
	if (r != 1) {
		errbuf_set(err, errlen,
			   "%s %s: malformed or missing reply from kiln-vmm "
			   "on %s",
			   method, path, sock);
		goto out;
	}
	if (reply && blen) {
		json_error_t je;

		*reply = json_loadb(b, blen, 0, &je);
		if (!*reply) {
			errbuf_set(err, errlen,
				   "%s %s: kiln-vmm replied with invalid JSON: "
				   "%s",
				   method, path, je.text);
			goto out;
		}
	}
	rc = 0;
out:
	free(req);
	free(buf);
	close(fd);
	return rc;
}

int vmm_api_expect(const char *sock, const char *method, const char *path,
		   json_t *body, int timeout_ms, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int status = 0;
	int rc = vmm_api_request(sock, method, path, body, timeout_ms, &status,
				 &reply, err, errlen);

	json_decref(body);
	if (rc)
		return rc;
	if (status < 200 || status > 299) {
		json_t *fm = json_object_get(reply, "fault_message");

		errbuf_set(err, errlen, "kiln-vmm refused %s %s (HTTP %d): %s",
			   method, path, status,
			   json_is_string(fm) ? json_string_value(fm)
					      : "no reason given");
		rc = KILN_EVMM;
	}
	json_decref(reply);
	return rc;
}
