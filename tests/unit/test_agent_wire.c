/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent on the wire, with raw frames for what the libkiln client never
 * sends (see agent_harness.h for how the agent runs): 32 concurrent
 * commands multiplexed over 4 connections, backpressure against a client
 * that does not read, signals, connection close and half-close, and
 * malformed, oversized and truncated frames.
 */
#include "agent_harness.h"
#include "agent_raw.h"

/*
 * 32 commands at once, 8 per connection on 4 connections.  Each prints
 * "ready" and then waits for a line on stdin, which is sent only after
 * all 32 said ready: an agent that ran them one at a time would stall.
 */
#define NCONN 4
#define PER_CONN 8

struct mux_req {
	bool started, ready, done;
	int exit_code;
	struct buf out;
};

static void mux_frame(struct raw *r, struct mux_req *reqs)
{
	uint32_t id = r->rd.hdr.id;
	struct mux_req *q;
	json_t *j;

	assert_true(id >= 2 && id < 2 + PER_CONN);
	q = &reqs[id - 2];
	switch (r->rd.hdr.kind) {
	case PROTO_CONTROL:
		j = raw_json(r);
		if (strcmp(json_string_value(json_object_get(j, "type")),
			   "started") == 0) {
			q->started = true;
		} else {
			assert_string_equal(
				json_string_value(json_object_get(j, "type")),
				"exit");
			q->done = true;
			q->exit_code = (int)json_integer_value(
				json_object_get(j, "exit_code"));
		}
		json_decref(j);
		break;
	case PROTO_STDOUT:
		assert_true(q->started);
		buf_append(&q->out, r->rd.payload, r->rd.hdr.len);
		q->ready = strstr((char *)q->out.p, "ready\n") != NULL;
		break;
	case PROTO_EOF:
		break;
	default:
		fail_msg("unexpected frame kind %d", r->rd.hdr.kind);
	}
}

/* Read frames from all connections until cond holds for every request. */
static void mux_wait(struct raw *conns, struct mux_req reqs[][PER_CONN],
		     bool done)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	for (;;) {
		struct pollfd p[NCONN];
		bool all = true;

		for (int i = 0; i < NCONN; i++)
			for (int k = 0; k < PER_CONN; k++)
				all &= done ? reqs[i][k].done
					    : reqs[i][k].ready;
		if (all)
			return;
		for (int i = 0; i < NCONN; i++)
			p[i] = (struct pollfd){.fd = conns[i].fd,
					       .events = POLLIN};
		if (now_ms() > deadline ||
		    poll(p, NCONN, (int)(deadline - now_ms())) <= 0)
			fail_msg("commands did not all %s in time",
				 done ? "finish" : "start");
		for (int i = 0; i < NCONN; i++) {
			struct raw *r = &conns[i];
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = recv(r->fd, r->in, sizeof(r->in), 0);
			assert_true(n > 0);
			r->off = 0;
			r->len = (size_t)n;
			while (r->off < r->len) {
				size_t used;
				enum proto_event ev = proto_reader_feed(
					&r->rd, r->in + r->off, r->len - r->off,
					&used);

				r->off += used;
				if (ev == PROTO_EV_FRAME)
					mux_frame(r, reqs[i]);
			}
		}
	}
}

static void test_concurrent_32(void **state)
{
	static struct mux_req reqs[NCONN][PER_CONN];
	struct raw conns[NCONN];
	char msg[64];

	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < NCONN; i++) {
		raw_open(&conns[i], true);
		for (int k = 0; k < PER_CONN; k++)
			raw_ctl(&conns[i], 2 + k,
				"{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
				"\"echo ready; read x; echo got $x\"],"
				"\"stdin\":true}");
	}
	mux_wait(conns, reqs, false);
	for (int i = 0; i < NCONN; i++)
		for (int k = 0; k < PER_CONN; k++) {
			int n = snprintf(msg, sizeof(msg), "%d-%d\n", i, k);

			raw_send(&conns[i], PROTO_STDIN, 2 + k, msg, (size_t)n);
			raw_send(&conns[i], PROTO_EOF, 2 + k, "\0", 1);
		}
	mux_wait(conns, reqs, true);
	for (int i = 0; i < NCONN; i++) {
		for (int k = 0; k < PER_CONN; k++) {
			snprintf(msg, sizeof(msg), "ready\ngot %d-%d\n", i, k);
			assert_string_equal((char *)reqs[i][k].out.p, msg);
			assert_int_equal(reqs[i][k].exit_code, 0);
			free(reqs[i][k].out.p);
		}
		raw_close(&conns[i]);
	}
}

static long proc_field(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = atol(line + strlen(key));
	fclose(f);
	return v;
}

/*
 * A client that does not read: the agent must stop reading the command's
 * pipe (the command blocks) instead of buffering its output, and lose
 * nothing once the client reads again.
 */
static void test_backpressure(void **state)
{
	const long total = 64l << 20;
	long rss0 = proc_field(agent_pid, "status", "VmRSS:");
	long wchar = -1, prev = -2, got = 0;
	int64_t deadline = now_ms() + DEADLINE_MS;
	int stable = 0, exit_code = -1;
	struct raw r;
	pid_t pid;
	json_t *j;

	raw_open(&r, true);
	raw_ctl(&r, 2,
		"{\"op\":\"exec\",\"argv\":[\"head\",\"-c\",\"67108864\","
		"\"/dev/zero\"]}");
	j = raw_expect(&r, 2, "started", NULL);
	pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	/* wait until the producer has stopped making progress */
	while (stable < 5) {
		if (now_ms() > deadline)
			fail_msg("producer never stalled (wrote %ld bytes)",
				 wchar);
		pause_ms(20);
		wchar = proc_field(pid, "io", "wchar: ");
		stable = wchar == prev ? stable + 1 : 0;
		prev = wchar;
	}
	assert_true(wchar >= 0 && wchar < 16l << 20);
	assert_true(proc_field(agent_pid, "status", "VmRSS:") - rss0 <
		    16 << 10);
	/* now read everything */
	while (exit_code < 0 && raw_next(&r)) {
		assert_int_equal(r.rd.hdr.id, 2);
		if (r.rd.hdr.kind == PROTO_STDOUT) {
			got += r.rd.hdr.len;
		} else if (r.rd.hdr.kind == PROTO_CONTROL) {
			j = raw_json(&r);
			exit_code = (int)json_integer_value(
				json_object_get(j, "exit_code"));
			json_decref(j);
		}
	}
	assert_int_equal(got, total);
	assert_int_equal(exit_code, 0);
	raw_close(&r);
}

static void test_signal(void **state)
{
	struct raw r;
	json_t *j;

	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"exec\",\"argv\":[\"sleep\",\"100\"]}");
	raw_expect_free(&r, 2, "started", NULL);
	raw_ctl(&r, 3, "{\"op\":\"signal\",\"target\":2,\"signal\":\"TERM\"}");
	raw_expect_free(&r, 3, "result", NULL);
	do { /* skip eof frames */
		assert_true(raw_next(&r));
	} while (r.rd.hdr.kind == PROTO_EOF);
	j = raw_json(&r);
	assert_int_equal(r.rd.hdr.id, 2);
	assert_int_equal(json_integer_value(json_object_get(j, "signal")),
			 SIGTERM);
	assert_false(json_is_true(json_object_get(j, "timed_out")));
	json_decref(j);
	raw_ctl(&r, 4, "{\"op\":\"signal\",\"target\":2,\"signal\":9}");
	raw_expect_free(&r, 4, "error", PROTO_E_NO_PROCESS);
	raw_close(&r);
}

/* Closing the connection kills what runs on it. */
static void test_close_kills(void **state)
{
	struct raw r;
	pid_t pid;

	raw_open(&r, true);
	raw_ctl(&r, 2,
		"{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"echo $$; exec "
		"sleep 100\"]}");
	raw_expect_free(&r, 2, "started", NULL);
	assert_true(raw_next(&r));
	assert_int_equal(r.rd.hdr.kind, PROTO_STDOUT);
	pid = (pid_t)atoi((const char *)r.rd.payload);
	assert_true(pid > 0);
	raw_close(&r);
	assert_gone(pid);
}

/* A client may half-close after its requests and still get the results. */
static void test_half_close(void **state)
{
	struct raw r;
	bool exit_seen = false;

	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"exec\",\"argv\":[\"echo\",\"a\"]}");
	shutdown(r.fd, SHUT_WR);
	raw_expect_free(&r, 2, "started", NULL);
	while (raw_next(&r))
		if (r.rd.hdr.kind == PROTO_CONTROL)
			exit_seen = true;
	assert_true(exit_seen);
	assert_true(r.eof);
	raw_close(&r);
}

static void test_malformed(void **state)
{
	struct raw r, other, t;
	uint8_t hdr[PROTO_HDR_SIZE];
	size_t big = 2u << 20;
	char *junk;
	json_t *j;

	raw_open(&other, true); /* must survive the others' mistakes */
	raw_open(&r, false);
	raw_ctl(&r, 5, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 5, "error", PROTO_E_HELLO);
	raw_ctl(&r, 6, "{\"op\":\"hello\",\"version\":2}");
	j = raw_expect(&r, 6, "error", PROTO_E_VERSION);
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "speaks version 1"));
	json_decref(j);
	raw_ctl(&r, 7, "{\"op\":\"hello\",\"version\":1}");
	raw_expect_free(&r, 7, "result", NULL);
	raw_ctl(&r, 8, "{\"op\":\"exec\",");
	raw_expect_free(&r, 8, "error", PROTO_E_BAD_JSON);
	raw_ctl(&r, 9, "{\"op\":\"fly\"}");
	raw_expect_free(&r, 9, "error", PROTO_E_UNKNOWN_OP);
	raw_ctl(&r, 10, "{\"op\":\"exec\",\"argv\":[\"true\"],\"x\":1}");
	raw_expect_free(&r, 10, "error", PROTO_E_INVALID);
	raw_ctl(&r, 0, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 0, "error", PROTO_E_INVALID);
	raw_send(&r, 9, 11, "?", 1);
	raw_expect_free(&r, 11, "error", PROTO_E_BAD_FRAME);
	raw_send(&r, PROTO_EOF, 12, "\7", 1);
	raw_expect_free(&r, 12, "error", PROTO_E_BAD_FRAME);
	proto_hdr_encode(hdr, PROTO_CONTROL, 13, 2);
	hdr[3] = 0x80; /* flags */
	send(r.fd, hdr, sizeof(hdr), MSG_NOSIGNAL);
	send(r.fd, "{}", 2, MSG_NOSIGNAL);
	raw_expect_free(&r, 13, "error", PROTO_E_BAD_FRAME);
	/* oversized: refused, skipped, and the connection goes on */
	junk = malloc(big);
	memset(junk, '{', big);
	raw_send(&r, PROTO_CONTROL, 14, junk, big);
	free(junk);
	raw_expect_free(&r, 14, "error", PROTO_E_TOO_LARGE);
	raw_ctl(&r, 15, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 15, "result", NULL);
	/* bad magic: an error on id 0, then the agent hangs up */
	send(r.fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
	raw_expect_free(&r, 0, "error", PROTO_E_BAD_FRAME);
	assert_false(raw_next(&r));
	raw_close(&r);
	/* truncated frame, then EOF: said so, then closed */
	raw_open(&t, true);
	proto_hdr_encode(hdr, PROTO_CONTROL, 3, 100);
	send(t.fd, hdr, sizeof(hdr), MSG_NOSIGNAL);
	send(t.fd, "{\"op\":", 6, MSG_NOSIGNAL);
	shutdown(t.fd, SHUT_WR);
	j = raw_expect(&t, 0, "error", PROTO_E_BAD_FRAME);
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "truncated"));
	json_decref(j);
	assert_false(raw_next(&t));
	raw_close(&t);
	/* the bystander connection still works */
	raw_ctl(&other, 2, "{\"op\":\"ping\"}");
	raw_expect_free(&other, 2, "result", NULL);
	raw_close(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_32),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_close_kills),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
