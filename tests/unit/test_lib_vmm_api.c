/* SPDX-License-Identifier: MIT */
/*
 * libkiln's kiln-vmm API client: reply parsing (complete, partial,
 * malformed, oversized) and real requests over a Unix socket to a thread
 * that plays the server with canned replies.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/vmm_api.h"

static void parse_complete(void **state)
{
	const char *r = "HTTP/1.1 400 Bad Request\r\nContent-Type: "
			"application/json\r\nContent-Length: 2\r\n\r\n{}";
	const char *body;
	size_t blen;
	int st;

	(void)state;
	assert_int_equal(vmm_api_parse_reply(r, strlen(r), &st, &body, &blen),
			 1);
	assert_int_equal(st, 400);
	assert_int_equal(blen, 2);
	assert_memory_equal(body, "{}", 2);
	/* every prefix is incomplete, never malformed */
	for (size_t n = 0; n < strlen(r); n++)
		assert_int_equal(vmm_api_parse_reply(r, n, &st, &body, &blen),
				 0);
}

static void parse_no_body(void **state)
{
	const char *r = "HTTP/1.1 204 No Content\r\n\r\n";
	const char *body;
	size_t blen = 99;
	int st;

	(void)state;
	assert_int_equal(vmm_api_parse_reply(r, strlen(r), &st, &body, &blen),
			 1);
	assert_int_equal(st, 204);
	assert_int_equal(blen, 0);
}

static void parse_malformed(void **state)
{
	static const char *bad[] = {
		"HTTX/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
	};
	const char *body;
	size_t blen;
	int st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vmm_api_parse_reply(bad[i], strlen(bad[i]),
						     &st, &body, &blen),
				 -1);
}

struct fake_server {
	int lfd;
	const char *reply; /* NULL: accept and say nothing */
	char request[4096];
};

static void *fake_serve(void *arg)
{
	struct fake_server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	size_t len = 0;

	if (fd < 0)
		return NULL;
	/* read the head and the body the Content-Length announces */
	for (;;) {
		ssize_t n = read(fd, s->request + len,
				 sizeof(s->request) - 1 - len);
		char *h, *cl;

		if (n <= 0)
			break;
		len += (size_t)n;
		s->request[len] = 0;
		h = strstr(s->request, "\r\n\r\n");
		if (!h)
			continue;
		cl = strstr(s->request, "Content-Length: ");
		if (!cl || strlen(h + 4) >= strtoul(cl + 16, NULL, 10))
			break;
	}
	if (s->reply) {
		if (write(fd, s->reply, strlen(s->reply)) < 0)
			perror("write");
	} else {
		char c;

		/* wait for the client to give up */
		if (read(fd, &c, 1) < 0)
			perror("read");
	}
	close(fd);
	return NULL;
}

static void run_fake(struct fake_server *s, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	unlink(path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 1), 0);
}

static void request_roundtrip(void **state)
{
	char path[] = "/tmp/kiln-test-vmm-api-XXXXXX";
	struct fake_server s = {
		.reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 31\r\n"
			 "\r\n{\"fault_message\": \"not paused\"}",
	};
	pthread_t t;
	char err[256];
	int rc;

	(void)state;
	close(mkstemp(path));
	run_fake(&s, path);
	pthread_create(&t, NULL, fake_serve, &s);
	rc = vmm_api_expect(path, "PUT", "/snapshot/create",
			    json_pack("{s:s}", "snapshot_path", "/x/state"),
			    5000, err, sizeof(err));
	pthread_join(t, NULL);
	assert_int_equal(rc, KILN_EVMM);
	assert_non_null(strstr(err, "PUT /snapshot/create (HTTP 400)"));
	assert_non_null(strstr(err, "not paused"));
	assert_non_null(strstr(s.request, "PUT /snapshot/create HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "{\"snapshot_path\":\"/x/state\"}"));
	close(s.lfd);
	unlink(path);
}

static void request_ok_and_json(void **state)
{
	char path[] = "/tmp/kiln-test-vmm-api-XXXXXX";
	struct fake_server s = {
		.reply = "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n"
			 "{\"state\":\"Paused\"}",
	};
	json_t *reply = NULL;
	pthread_t t;
	char err[256];
	int st = 0, rc;

	(void)state;
	close(mkstemp(path));
	run_fake(&s, path);
	pthread_create(&t, NULL, fake_serve, &s);
	rc = vmm_api_request(path, "GET", "/", NULL, 5000, &st, &reply, err,
			     sizeof(err));
	pthread_join(t, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(st, 200);
	assert_string_equal(json_string_value(json_object_get(reply, "state")),
			    "Paused");
	json_decref(reply);
	close(s.lfd);
	unlink(path);
}

static void request_timeout_and_no_server(void **state)
{
	char path[] = "/tmp/kiln-test-vmm-api-XXXXXX";
	struct fake_server s = {.reply = NULL};
	pthread_t t;
	char err[256];
	int st, rc;

	(void)state;
	close(mkstemp(path));
	run_fake(&s, path);
	pthread_create(&t, NULL, fake_serve, &s);
	rc = vmm_api_request(path, "GET", "/", NULL, 200, &st, NULL, err,
			     sizeof(err));
	assert_int_equal(rc, KILN_ETIMEOUT);
	assert_non_null(strstr(err, "did not answer"));
	close(s.lfd);
	unlink(path);
	pthread_join(t, NULL); /* our close ended its read */

	rc = vmm_api_request(path, "GET", "/", NULL, 200, &st, NULL, err,
			     sizeof(err));
	assert_int_equal(rc, KILN_EVMM);
	assert_non_null(strstr(err, "cannot connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_complete),
		cmocka_unit_test(parse_no_body),
		cmocka_unit_test(parse_malformed),
		cmocka_unit_test(request_roundtrip),
		cmocka_unit_test(request_ok_and_json),
		cmocka_unit_test(request_timeout_and_no_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
