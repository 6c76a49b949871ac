/* SPDX-License-Identifier: MIT */
/*
 * Detached commands and attach (docs/PROTOCOL.md "Detached commands"):
 * the output ring, a command that ends before anyone attaches, one that
 * outlives two clients, lost output when the ring overflows, a terminal,
 * one client at a time, and bad attach requests.  The agent runs as in
 * agent_harness.h.
 */
#include "agent_harness.h"
#include "agent_raw.h"

#include "agent/detach.h"

/* ---- the ring, pure ------------------------------------------------------ */

static void test_ring_wrap(void **state)
{
	struct out_ring r = {0};
	uint8_t *in = malloc(DETACH_RING_SIZE), *out = malloc(DETACH_RING_SIZE);
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < DETACH_RING_SIZE; i++)
		in[i] = (uint8_t)(i * 7 + 1);
	/* fill most of it, take some out, then wrap around the end */
	ring_push(&r, in, DETACH_RING_SIZE - 100);
	assert_int_equal(ring_pop(&r, out, 1000), 1000);
	assert_memory_equal(out, in, 1000);
	ring_push(&r, in, 1100);
	assert_int_equal(r.len, DETACH_RING_SIZE);
	assert_int_equal(r.lost, 0);
	n = ring_pop(&r, out, DETACH_RING_SIZE);
	assert_int_equal(n, DETACH_RING_SIZE);
	assert_memory_equal(out, in + 1000, DETACH_RING_SIZE - 1100);
	assert_memory_equal(out + DETACH_RING_SIZE - 1100, in, 1100);
	assert_int_equal(ring_pop(&r, out, 10), 0);
	ring_free(&r);
	free(in);
	free(out);
}

static void test_ring_overflow(void **state)
{
	struct out_ring r = {0};
	size_t big = DETACH_RING_SIZE * 2 + 5;
	uint8_t *in = malloc(big), *out = malloc(DETACH_RING_SIZE);

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < big; i++)
		in[i] = (uint8_t)(i % 251);
	/* small pushes that overflow: the oldest bytes go, counted */
	ring_push(&r, in, 10);
	ring_push(&r, in + 10, DETACH_RING_SIZE);
	assert_int_equal(r.lost, 10);
	assert_int_equal(ring_pop(&r, out, DETACH_RING_SIZE), DETACH_RING_SIZE);
	assert_memory_equal(out, in + 10, DETACH_RING_SIZE);
	/* one push larger than the ring keeps its tail */
	ring_push(&r, in, big);
	assert_int_equal(r.lost, 10 + big - DETACH_RING_SIZE);
	assert_int_equal(ring_pop(&r, out, DETACH_RING_SIZE), DETACH_RING_SIZE);
	assert_memory_equal(out, in + big - DETACH_RING_SIZE, DETACH_RING_SIZE);
	ring_free(&r);
	assert_int_equal(r.lost, 0);
	assert_null(r.buf);
	free(in);
	free(out);
}

/* ---- through the agent --------------------------------------------------- */

struct arun {
	struct buf out, err;
	struct agent_exec_result res;
	char msg[512];
	int rc;
};

static uint32_t detach(const char *const *argv, bool tty, bool stdin_pipe,
		       int *pid)
{
	struct agent_exec_opts o = {.argv = argv, .tty = tty};
	struct agent_client *c = client_connect();
	uint32_t session = 0;
	char err[512];
	int rc;

	if (tty) {
		o.rows = 7;
		o.cols = 9;
	}
	rc = agent_client_exec_detach(c, &o, stdin_pipe, DEADLINE_MS, &session,
				      pid, err, sizeof(err));
	if (rc)
		fail_msg("detach: %s (%d)", err, rc);
	assert_true(session > 0);
	assert_true(*pid > 0);
	agent_client_close(c); /* the command must not die with it */
	return session;
}

static void attach_io(struct agent_client *c, uint32_t session,
		      struct agent_exec_io *io, struct arun *r)
{
	memset(r, 0, sizeof(*r));
	if (!io->on_stdout) {
		io->on_stdout = buf_append;
		io->stdout_ctx = &r->out;
	}
	io->on_stderr = buf_append;
	io->stderr_ctx = &r->err;
	r->rc = agent_client_attach(c, session, io, &r->res, r->msg,
				    sizeof(r->msg));
}

static void attach(uint32_t session, const char *stdin_data, struct arun *r)
{
	struct agent_client *c = client_connect();
	struct agent_exec_io io;

	agent_exec_io_init(&io);
	if (stdin_data) {
		io.stdin_data = stdin_data;
		io.stdin_len = strlen(stdin_data);
	}
	attach_io(c, session, &io, r);
	agent_client_close(c);
}

static void arun_free(struct arun *r)
{
	free(r->out.p);
	free(r->err.p);
}

/* It ended long before the attach: output, eofs and exit are kept. */
static void test_detach_ended(void **state)
{
	const char *const argv[] = {"sh", "-c",
				    "echo out; echo err >&2; exit 7", NULL};
	struct arun r;
	int pid;
	uint32_t s = detach(argv, false, false, &pid);

	assert_gone(pid);
	attach(s, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.exited);
	assert_int_equal(r.res.exit_code, 7);
	assert_int_equal(r.res.pid, pid);
	assert_string_equal((char *)r.out.p, "out\n");
	assert_string_equal((char *)r.err.p, "err\n");
	assert_int_equal(r.res.lost_bytes, 0);
	arun_free(&r);
	/* its exit was collected: the session is gone */
	attach(s, NULL, &r);
	assert_int_equal(r.rc, AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(r.msg, "no detached command"));
	arun_free(&r);
}

/* Stop after the first line: the attach is cancelled, the command lives. */
static int first_line(void *ctx, const void *d, size_t n)
{
	struct buf *b = ctx;

	buf_append(b, d, n);
	return memchr(b->p, '\n', b->len) ? 1 : 0;
}

/*
 * A command outlives two clients: the first leaves while it runs (and a
 * second attach meanwhile is refused), the second feeds its stdin and
 * gets the rest.
 */
static void test_detach_reattach(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "echo ready; read x; echo got $x; exit 3", NULL};
	struct agent_client *c1 = client_connect();
	struct agent_exec_io io;
	struct arun r, r2;
	int pid;
	uint32_t s = detach(argv, false, true, &pid);

	agent_exec_io_init(&io);
	io.on_stdout = first_line;
	io.stdout_ctx = &r.out;
	attach_io(c1, s, &io, &r);
	assert_int_equal(r.rc, AGENT_ERR_CANCELLED);
	assert_string_equal((char *)r.out.p, "ready\n");
	/* c1 is still connected: attached there */
	attach(s, NULL, &r2);
	assert_int_equal(r2.rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(r2.msg, "attached to another client"));
	arun_free(&r2);
	assert_int_equal(kill(pid, 0), 0); /* still running */
	agent_client_close(c1);
	arun_free(&r);
	attach(s, "hello\n", &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 3);
	assert_string_equal((char *)r.out.p, "got hello\n");
	arun_free(&r);
}

/*
 * A client that ends its sending side (how a closed host socket reaches
 * the guest through the VMM) leaves its sessions: an idle command that
 * wrote nothing can be attached to again at once, and goes on.
 */
static void test_detach_on_client_eof(void **state)
{
	const char *const argv[] = {"sh", "-c", "read x; echo got $x; exit 4",
				    NULL};
	int64_t deadline = now_ms() + DEADLINE_MS;
	char req[64];
	struct raw raw;
	struct arun r;
	int pid;
	uint32_t s = detach(argv, false, true, &pid);

	raw_open(&raw, true);
	snprintf(req, sizeof(req), "{\"op\":\"attach\",\"session\":%u}", s);
	raw_ctl(&raw, 2, req);
	json_decref(raw_expect(&raw, 2, "started", NULL));
	assert_int_equal(shutdown(raw.fd, SHUT_WR), 0);
	/* the agent then closes the connection: nothing left on it */
	while (raw_next(&raw))
		;
	raw_close(&raw);
	for (;;) {
		attach(s, "hi\n", &r);
		if (r.rc != AGENT_ERR_REMOTE)
			break;
		assert_non_null(strstr(r.msg, "attached to another client"));
		arun_free(&r);
		assert_true(now_ms() < deadline);
		pause_ms(10);
	}
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 4);
	assert_string_equal((char *)r.out.p, "got hi\n");
	arun_free(&r);
}

/* More output than the ring holds while detached: the rest, counted. */
static void test_detach_overflow(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a", NULL};
	struct arun r;
	int pid;
	uint32_t s = detach(argv, false, false, &pid);

	assert_gone(pid);
	attach(s, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_true(r.res.lost_bytes > 0);
	assert_true(r.out.len >= DETACH_RING_SIZE);
	assert_int_equal(r.out.len + r.res.lost_bytes, 200000);
	for (size_t i = 0; i < r.out.len; i++)
		if (r.out.p[i] != 'a')
			fail_msg("byte %zu is %d", i, r.out.p[i]);
	arun_free(&r);
}

/* On a terminal: its size, stdin through the terminal, exit status. */
static void test_detach_tty(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "stty size; read x; echo got $x; exit 4", NULL};
	struct arun r;
	int pid;
	uint32_t s = detach(argv, true, false, &pid);

	attach(s, "yes\r", &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 4);
	assert_non_null(strstr((char *)r.out.p, "7 9\r\n"));
	assert_non_null(strstr((char *)r.out.p, "got yes\r\n"));
	assert_null(r.err.p);
	arun_free(&r);
}

/* Malformed attach requests and unknown sessions. */
static void test_attach_bad(void **state)
{
	struct raw r;

	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"attach\"}");
	raw_expect_free(&r, 2, "error", "invalid_request");
	raw_ctl(&r, 3, "{\"op\":\"attach\",\"session\":0}");
	raw_expect_free(&r, 3, "error", "invalid_request");
	raw_ctl(&r, 4, "{\"op\":\"attach\",\"session\":\"1\"}");
	raw_expect_free(&r, 4, "error", "invalid_request");
	raw_ctl(&r, 5, "{\"op\":\"attach\",\"session\":1,\"x\":1}");
	raw_expect_free(&r, 5, "error", "invalid_request");
	raw_ctl(&r, 6, "{\"op\":\"attach\",\"session\":4000000000}");
	raw_expect_free(&r, 6, "error", "no_such_process");
	raw_ctl(&r, 7,
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"detach\":\"yes\"}");
	raw_expect_free(&r, 7, "error", "invalid_request");
	raw_close(&r);
}

/*
 * While attached, the attach id is the command's id on that connection:
 * signal it through the attach id; the exit says which signal.
 */
static void test_attach_signal(void **state)
{
	const char *const argv[] = {"sleep", "1000", NULL};
	struct raw r;
	json_t *j;
	int pid;
	uint32_t s = detach(argv, false, false, &pid);
	char req[128];

	raw_open(&r, true);
	snprintf(req, sizeof(req), "{\"op\":\"attach\",\"session\":%u}", s);
	raw_ctl(&r, 9, req);
	j = raw_expect(&r, 9, "started", NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "pid")), pid);
	assert_true(json_is_true(json_object_get(j, "running")));
	assert_int_equal(json_integer_value(json_object_get(j, "session")), s);
	json_decref(j);
	/* a second connection cannot attach meanwhile */
	{
		struct raw r2;

		raw_open(&r2, true);
		raw_ctl(&r2, 3, req);
		raw_expect_free(&r2, 3, "error", "already_attached");
		raw_close(&r2);
	}
	raw_ctl(&r, 10, "{\"op\":\"signal\",\"target\":9,\"signal\":\"TERM\"}");
	raw_expect_free(&r, 10, "result", NULL);
	/* two eof frames, then the exit */
	for (int i = 0; i < 2; i++) {
		assert_true(raw_next(&r));
		assert_int_equal(r.rd.hdr.kind, PROTO_EOF);
		assert_int_equal(r.rd.hdr.id, 9);
	}
	j = raw_expect(&r, 9, "exit", NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "signal")),
			 SIGTERM);
	json_decref(j);
	raw_close(&r);
}

/*
 * At most DETACH_MAX detached commands; the agent's shutdown (group
 * teardown) kills and frees the ones left (LeakSanitizer checks).
 */
static void test_detach_limit(void **state)
{
	const char *const argv[] = {"sleep", "1000", NULL};
	struct agent_exec_opts o = {.argv = argv};
	struct agent_client *c = client_connect();
	uint32_t s;
	char err[512];
	int pid, rc;

	for (int i = 0; i < DETACH_MAX; i++) {
		rc = agent_client_exec_detach(c, &o, false, DEADLINE_MS, &s,
					      &pid, err, sizeof(err));
		if (rc)
			fail_msg("detach %d: %s", i, err);
	}
	rc = agent_client_exec_detach(c, &o, false, DEADLINE_MS, &s, &pid, err,
				      sizeof(err));
	assert_int_equal(rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "too many detached commands"));
	agent_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_ring_overflow),
		cmocka_unit_test(test_detach_ended),
		cmocka_unit_test(test_detach_reattach),
		cmocka_unit_test(test_detach_on_client_eof),
		cmocka_unit_test(test_detach_overflow),
		cmocka_unit_test(test_detach_tty),
		cmocka_unit_test(test_attach_bad),
		cmocka_unit_test(test_attach_signal),
		/* last: it leaves DETACH_MAX commands to the teardown */
		cmocka_unit_test(test_detach_limit),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
