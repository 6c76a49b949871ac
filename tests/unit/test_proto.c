/* SPDX-License-Identifier: MIT */
/*
 * Agent protocol, pure parts: frame encoding and the incremental reader
 * (partial reads, oversized and truncated frames, bad magic), control JSON
 * (bad JSON, duplicates, unknown fields), request validation in the agent,
 * the client's exec reply state machine, and PID 1 command-line parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/init.h"
#include "agent/request.h"
#include "common/proto.h"
#include "lib/agent_client.h"

static size_t frame(uint8_t *out, uint8_t kind, uint32_t id, const void *p,
		    size_t len)
{
	proto_hdr_encode(out, kind, id, (uint32_t)len);
	memcpy(out + PROTO_HDR_SIZE, p, len);
	return PROTO_HDR_SIZE + len;
}

static void test_hdr_roundtrip(void **state)
{
	uint8_t b[PROTO_HDR_SIZE];
	struct proto_hdr h;

	proto_hdr_encode(b, PROTO_STDOUT, 0x01020304, 0xa0b0c0d0);
	assert_int_equal(b[0], 'K');
	assert_int_equal(b[1], 'N');
	assert_int_equal(b[4], 0x04); /* little endian */
	assert_int_equal(b[11], 0xa0);
	assert_true(proto_hdr_decode(b, &h));
	assert_int_equal(h.kind, PROTO_STDOUT);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.id, 0x01020304);
	assert_int_equal(h.len, 0xa0b0c0d0);
	b[1] = 'X';
	assert_false(proto_hdr_decode(b, &h));
}

/* Two frames delivered one byte at a time come out whole and in order. */
static void test_reader_byte_by_byte(void **state)
{
	uint8_t buf[256];
	size_t n = 0, used, frames = 0;
	struct proto_reader r;

	n += frame(buf + n, PROTO_CONTROL, 7, "{\"op\":\"ping\"}", 13);
	n += frame(buf + n, PROTO_STDIN, 9, "\0\1\2", 3);
	proto_reader_init(&r, 1024);
	for (size_t i = 0; i < n; i++) {
		enum proto_event ev = proto_reader_feed(&r, buf + i, 1, &used);

		assert_int_equal(used, 1);
		if (ev == PROTO_EV_NEED_MORE)
			continue;
		assert_int_equal(ev, PROTO_EV_FRAME);
		if (frames++ == 0) {
			assert_int_equal(r.hdr.id, 7);
			assert_memory_equal(r.payload, "{\"op\":\"ping\"}", 13);
		} else {
			assert_int_equal(r.hdr.id, 9);
			assert_int_equal(r.hdr.len, 3);
			assert_memory_equal(r.payload, "\0\1\2", 3);
		}
	}
	assert_int_equal(frames, 2);
	assert_false(proto_reader_mid_frame(&r));
	proto_reader_free(&r);
}

/* Several frames in one buffer, including an empty payload. */
static void test_reader_batched(void **state)
{
	uint8_t buf[256];
	size_t n = 0, off = 0, used;
	struct proto_reader r;
	enum proto_event ev;

	n += frame(buf + n, PROTO_STDIN, 1, "abc", 3);
	n += frame(buf + n, PROTO_STDIN, 2, "", 0);
	n += frame(buf + n, PROTO_EOF, 3, "\0", 1);
	proto_reader_init(&r, 1024);
	for (uint32_t want = 1; want <= 3; want++) {
		ev = proto_reader_feed(&r, buf + off, n - off, &used);
		off += used;
		assert_int_equal(ev, PROTO_EV_FRAME);
		assert_int_equal(r.hdr.id, want);
	}
	assert_int_equal(off, n);
	assert_int_equal(proto_reader_feed(&r, buf, 0, &used),
			 PROTO_EV_NEED_MORE);
	proto_reader_free(&r);
}

/* An oversized frame is reported, its payload skipped, the stream goes on. */
static void test_reader_oversized(void **state)
{
	size_t big = 5000, n = 0, off = 0, used;
	uint8_t *buf = calloc(1, big + 64);
	struct proto_reader r;
	enum proto_event ev;

	proto_hdr_encode(buf, PROTO_STDIN, 4, (uint32_t)big);
	n = PROTO_HDR_SIZE + big;
	n += frame(buf + n, PROTO_CONTROL, 5, "{}", 2);
	proto_reader_init(&r, 1000);
	ev = proto_reader_feed(&r, buf, n, &used);
	assert_int_equal(ev, PROTO_EV_OVERSIZED);
	assert_int_equal(r.hdr.id, 4);
	off = used;
	/* the skipped payload arrives in pieces */
	while (off < n) {
		size_t piece = n - off > 700 ? 700 : n - off;

		ev = proto_reader_feed(&r, buf + off, piece, &used);
		off += used;
		if (ev == PROTO_EV_FRAME)
			break;
		assert_int_equal(ev, PROTO_EV_NEED_MORE);
	}
	assert_int_equal(ev, PROTO_EV_FRAME);
	assert_int_equal(r.hdr.id, 5);
	assert_memory_equal(r.payload, "{}", 2);
	proto_reader_free(&r);
	free(buf);
}

static void test_reader_bad_magic_and_truncation(void **state)
{
	uint8_t buf[64];
	struct proto_reader r;
	size_t used;

	proto_reader_init(&r, 1024);
	memcpy(buf, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(proto_reader_feed(&r, buf, 16, &used),
			 PROTO_EV_BAD_MAGIC);
	/* once broken, always broken: nothing after it is trusted */
	frame(buf, PROTO_CONTROL, 1, "{}", 2);
	assert_int_equal(proto_reader_feed(&r, buf, 14, &used),
			 PROTO_EV_BAD_MAGIC);
	proto_reader_free(&r);

	proto_reader_init(&r, 1024);
	frame(buf, PROTO_CONTROL, 1, "{\"op\":1}", 8);
	assert_int_equal(proto_reader_feed(&r, buf, 5, &used),
			 PROTO_EV_NEED_MORE);
	assert_true(proto_reader_mid_frame(&r)); /* in the header */
	assert_int_equal(proto_reader_feed(&r, buf + 5, 10, &used),
			 PROTO_EV_NEED_MORE);
	assert_true(proto_reader_mid_frame(&r)); /* in the payload */
	assert_int_equal(proto_reader_feed(&r, buf + 15, 5, &used),
			 PROTO_EV_FRAME);
	assert_false(proto_reader_mid_frame(&r));
	proto_reader_free(&r);
}

static void test_json_parse(void **state)
{
	char err[256];
	json_t *j;

	j = proto_json_parse("{\"op\":\"x\"}", 10, err, sizeof(err));
	assert_non_null(j);
	json_decref(j);
	assert_null(proto_json_parse("{\"op\":", 6, err, sizeof(err)));
	assert_non_null(strstr(err, "bad JSON"));
	assert_null(proto_json_parse("[1]", 3, err, sizeof(err)));
	assert_non_null(strstr(err, "object"));
	assert_null(
		proto_json_parse("{\"a\":1,\"a\":2}", 13, err, sizeof(err)));
	assert_null(proto_json_parse("{\"a\":\"x\\u0000y\"}", 16, err,
				     sizeof(err)));
	assert_null(proto_json_parse("{} {}", 5, err, sizeof(err)));
	assert_null(proto_json_parse("{\"a\":\"\xff\"}", 8, err, sizeof(err)));
}

static json_t *js(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

static void test_parse_exec(void **state)
{
	struct exec_spec s;
	char err[256];
	json_t *j;

	j = js("{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"x\"],\"env\":{\"A\":"
	       "\"1\"},\"cwd\":\"/tmp\",\"stdin\":true,\"timeout_ms\":500}");
	assert_int_equal(request_parse_exec(j, &s, err, sizeof(err)), 0);
	assert_int_equal(s.argc, 3);
	assert_string_equal(s.argv[2], "x");
	assert_null(s.argv[3]);
	assert_int_equal(s.nenv, 1);
	assert_string_equal(s.env_names[0], "A");
	assert_string_equal(s.env_values[0], "1");
	assert_string_equal(s.cwd, "/tmp");
	assert_true(s.stdin_pipe);
	assert_int_equal(s.timeout_ms, 500);
	request_exec_spec_free(&s);
	json_decref(j);

	j = js("{\"op\":\"exec\",\"argv\":[\"true\"]}");
	assert_int_equal(request_parse_exec(j, &s, err, sizeof(err)), 0);
	assert_string_equal(s.cwd, "/");
	assert_false(s.stdin_pipe);
	assert_int_equal(s.timeout_ms, 0);
	assert_false(s.cap_output);
	request_exec_spec_free(&s);
	json_decref(j);

	/* max_output: 0 is a cap too (forward nothing, count everything) */
	j = js("{\"op\":\"exec\",\"argv\":[\"true\"],\"max_output\":0}");
	assert_int_equal(request_parse_exec(j, &s, err, sizeof(err)), 0);
	assert_true(s.cap_output);
	assert_int_equal(s.max_output, 0);
	request_exec_spec_free(&s);
	json_decref(j);

	static const struct {
		const char *json, *msg;
	} bad[] = {
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"bogus\":1}",
		 "unknown field(s): bogus"},
		{"{\"op\":\"exec\"}", "argv"},
		{"{\"op\":\"exec\",\"argv\":[]}", "non-empty"},
		{"{\"op\":\"exec\",\"argv\":\"ls\"}", "non-empty array"},
		{"{\"op\":\"exec\",\"argv\":[\"a\",1]}", "argv[1]"},
		{"{\"op\":\"exec\",\"argv\":[\"\"]}", "argv[0] is empty"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"env\":{\"A=B\":\"1\"}}",
		 "contains '='"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"env\":{\"\":\"1\"}}",
		 "empty"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"env\":{\"A\":1}}",
		 "must be a string"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"env\":[\"A=1\"]}",
		 "object"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"timeout_ms\":-1}",
		 "\"timeout_ms\" must be an integer"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"timeout_ms\":1e3}",
		 "timeout"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"timeout_ms\":"
		 "99999999999999999}",
		 "timeout_ms"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"stdin\":\"yes\"}",
		 "stdin"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"cwd\":\"\"}",
		 "non-empty string"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"cwd\":null}", "cwd"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"cwd\":7}", "cwd"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"stdin\":1}",
		 "true or false"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"max_output\":-1}",
		 "\"max_output\" must be an integer in 0..1099511627776"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"max_output\":"
		 "1099511627777}",
		 "max_output"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"max_output\":\"1\"}",
		 "max_output"},
		{"{\"op\":\"exec\",\"argv\":[\"a\"],\"max_output\":2.5}",
		 "max_output"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = js(bad[i].json);
		assert_int_equal(request_parse_exec(j, &s, err, sizeof(err)),
				 -1);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: \"%s\" does not mention \"%s\"", i,
				 err, bad[i].msg);
		assert_null(s.argv);
		json_decref(j);
	}
}

static void test_parse_signal_hello(void **state)
{
	struct signal_req r;
	int64_t v;
	char err[256];
	json_t *j;

	j = js("{\"op\":\"signal\",\"target\":3,\"signal\":\"SIGTERM\"}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.target, 3);
	assert_int_equal(r.signo, 15);
	assert_true(r.group);
	json_decref(j);
	j = js("{\"op\":\"signal\",\"target\":3,\"signal\":9,\"group\":false}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.signo, 9);
	assert_false(r.group);
	json_decref(j);
	j = js("{\"op\":\"signal\",\"target\":3,\"signal\":\"BOGUS\"}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "BOGUS"));
	json_decref(j);
	j = js("{\"op\":\"signal\",\"target\":3,\"signal\":99}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), -1);
	json_decref(j);
	j = js("{\"op\":\"signal\",\"target\":0,\"signal\":9}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), -1);
	json_decref(j);
	j = js("{\"op\":\"signal\",\"target\":4294967296,\"signal\":9}");
	assert_int_equal(request_parse_signal(j, &r, err, sizeof(err)), -1);
	json_decref(j);

	j = js("{\"op\":\"hello\",\"version\":2,\"client\":\"x\"}");
	assert_int_equal(request_parse_hello(j, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 2);
	json_decref(j);
	j = js("{\"op\":\"hello\"}");
	assert_int_equal(request_parse_hello(j, &v, err, sizeof(err)), -1);
	json_decref(j);
}

/* ---- the client's exec state machine ---------------------------------- */

struct sink {
	char out[64], err[64];
	size_t nout, nerr;
	int pid;
	int stop_after; /* return nonzero on this call number (1-based) */
	int calls;
};

static int sink_out(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	memcpy(s->out + s->nout, buf, len);
	s->nout += len;
	return ++s->calls == s->stop_after;
}

static int sink_err(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	memcpy(s->err + s->nerr, buf, len);
	s->nerr += len;
	return 0;
}

static void sink_started(void *ctx, int pid)
{
	((struct sink *)ctx)->pid = pid;
}

static int feed(struct agent_exec_state *st, uint8_t kind, uint32_t id,
		const char *payload)
{
	struct proto_hdr h = {
		.kind = kind, .id = id, .len = (uint32_t)strlen(payload)};

	return agent_exec_feed(st, &h, (const uint8_t *)payload);
}

static void exec_state_init(struct agent_exec_state *st,
			    struct agent_exec_io *io,
			    struct agent_exec_result *res, struct sink *s,
			    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	agent_exec_io_init(io);
	io->on_stdout = sink_out;
	io->stdout_ctx = s;
	io->on_stderr = sink_err;
	io->stderr_ctx = s;
	io->on_started = sink_started;
	io->started_ctx = s;
	memset(st, 0, sizeof(*st));
	memset(res, 0, sizeof(*res));
	st->id = 5;
	st->io = io;
	st->res = res;
	st->err = err;
	st->errlen = errlen;
}

static void test_exec_feed(void **state)
{
	struct agent_exec_state st;
	struct agent_exec_result res;
	struct agent_exec_io io;
	struct sink s;
	char err[256];

	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	assert_int_equal(feed(&st, PROTO_CONTROL, 5,
			      "{\"type\":\"started\",\"pid\":42,\"new\":1}"),
			 0);
	assert_int_equal(s.pid, 42);
	assert_int_equal(feed(&st, PROTO_STDOUT, 5, "hi\n"), 0);
	assert_int_equal(feed(&st, PROTO_STDERR, 5, "oops"), 0);
	assert_int_equal(feed(&st, PROTO_STDOUT, 6, "ignored"), 0);
	assert_int_equal(feed(&st, PROTO_EOF, 5, "\1"), 0);
	assert_int_equal(
		feed(&st, PROTO_CONTROL, 5,
		     "{\"type\":\"exit\",\"exit_code\":137,\"signal\":9,"
		     "\"timed_out\":true,\"duration_ms\":12}"),
		1);
	assert_int_equal(s.nout, 3);
	assert_memory_equal(s.out, "hi\n", 3);
	assert_int_equal(s.nerr, 4);
	assert_true(res.signaled);
	assert_false(res.exited);
	assert_int_equal(res.term_signal, 9);
	assert_int_equal(res.exit_code, 137);
	assert_true(res.timed_out);
	assert_int_equal(res.duration_ms, 12);
	assert_int_equal(res.pid, 42);

	/* not found: 127 and a message */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	assert_int_equal(feed(&st, PROTO_CONTROL, 5,
			      "{\"type\":\"error\",\"code\":\"not_found\","
			      "\"message\":\"exec: \\\"x\\\": not found\"}"),
			 AGENT_ERR_NOT_FOUND);
	assert_int_equal(res.exit_code, 127);
	assert_non_null(strstr(err, "not found"));

	/* the output callback cancels */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	s.stop_after = 1;
	feed(&st, PROTO_CONTROL, 5, "{\"type\":\"started\",\"pid\":1}");
	assert_int_equal(feed(&st, PROTO_STDOUT, 5, "x"), AGENT_ERR_CANCELLED);

	/* a connection-level error (id 0) ends the exec with its message */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	assert_int_equal(feed(&st, PROTO_CONTROL, 0,
			      "{\"type\":\"error\",\"code\":\"bad_frame\","
			      "\"message\":\"closing\"}"),
			 AGENT_ERR_PROTO);
	assert_non_null(strstr(err, "closing"));

	/* a lying agent gets protocol errors, never a crash */
	static const struct {
		uint8_t kind;
		const char *payload;
	} bad[] = {
		{PROTO_STDOUT, "output before started"},
		{PROTO_CONTROL, "{\"type\":\"exit\",\"exit_code\":0,"
				"\"signal\":0,\"timed_out\":false}"},
		{PROTO_CONTROL, "not json"},
		{PROTO_CONTROL, "{\"type\":\"started\",\"pid\":-4}"},
		{PROTO_CONTROL, "{\"type\":\"started\",\"pid\":\"1\"}"},
		{PROTO_CONTROL, "{\"type\":\"surprise\"}"},
		{PROTO_EOF, "\7"},
		{PROTO_STDIN, "x"},
		{99, "x"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		exec_state_init(&st, &io, &res, &s, err, sizeof(err));
		assert_int_equal(feed(&st, bad[i].kind, 5, bad[i].payload),
				 AGENT_ERR_PROTO);
	}
	static const char *const bad_exit[] = {
		"{\"type\":\"exit\",\"exit_code\":300,\"signal\":0,"
		"\"timed_out\":false}",
		"{\"type\":\"exit\",\"exit_code\":1,\"signal\":9,"
		"\"timed_out\":false}",
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":-1,"
		"\"timed_out\":false}",
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0}",
	};
	for (size_t i = 0; i < sizeof(bad_exit) / sizeof(bad_exit[0]); i++) {
		exec_state_init(&st, &io, &res, &s, err, sizeof(err));
		feed(&st, PROTO_CONTROL, 5, "{\"type\":\"started\",\"pid\":1}");
		assert_int_equal(feed(&st, PROTO_CONTROL, 5, bad_exit[i]),
				 AGENT_ERR_PROTO);
	}
	/* a second "started" is a lie too */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	feed(&st, PROTO_CONTROL, 5, "{\"type\":\"started\",\"pid\":1}");
	assert_int_equal(
		feed(&st, PROTO_CONTROL, 5, "{\"type\":\"started\",\"pid\":1}"),
		AGENT_ERR_PROTO);
}

/*
 * The output totals of an exit and the cap: what the client accepts, and
 * what a lying agent gets (more output than the cap, totals that
 * contradict the cap or what arrived).
 */
static void test_exec_feed_totals(void **state)
{
	static const char started[] = "{\"type\":\"started\",\"pid\":7}";
	struct agent_exec_state st;
	struct agent_exec_result res;
	struct agent_exec_io io;
	struct sink s;
	char err[256];

	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	st.cap_known = st.cap_output = true;
	st.max_output = 4;
	feed(&st, PROTO_CONTROL, 5, started);
	assert_int_equal(feed(&st, PROTO_STDOUT, 5, "abcd"), 0);
	assert_int_equal(feed(&st, PROTO_STDERR, 5, "xy"), 0);
	assert_int_equal(
		feed(&st, PROTO_CONTROL, 5,
		     "{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		     "\"timed_out\":false,\"stdout_bytes\":9000,"
		     "\"stdout_capped\":true,\"stderr_bytes\":2,"
		     "\"stderr_capped\":false,\"output_dropped\":false}"),
		1);
	assert_true(res.have_totals);
	assert_int_equal(res.stdout_bytes, 9000);
	assert_true(res.stdout_capped);
	assert_int_equal(res.stderr_bytes, 2);
	assert_false(res.stderr_capped);
	assert_false(res.output_dropped);

	/* one byte over the cap: the agent broke it */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	st.cap_known = st.cap_output = true;
	st.max_output = 4;
	feed(&st, PROTO_CONTROL, 5, started);
	assert_int_equal(feed(&st, PROTO_STDERR, 5, "abc"), 0);
	assert_int_equal(feed(&st, PROTO_STDERR, 5, "de"), AGENT_ERR_PROTO);
	assert_non_null(strstr(err, "max_output"));

	/* an older agent: no totals, fine without a cap */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	st.cap_known = true;
	feed(&st, PROTO_CONTROL, 5, started);
	assert_int_equal(feed(&st, PROTO_CONTROL, 5,
			      "{\"type\":\"exit\",\"exit_code\":0,"
			      "\"signal\":0,\"timed_out\":false}"),
			 1);
	assert_false(res.have_totals);

	static const char *const bad[] = {
		/* a cap was asked for: its report is required */
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false}",
		/* capped at or under the cap */
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":4,\"stdout_capped\":true,"
		"\"stderr_bytes\":0,\"stderr_capped\":false}",
		/* over the cap but not capped */
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":5,"
		"\"stdout_capped\":false,\"stderr_bytes\":0,"
		"\"stderr_capped\":false}",
		/* fewer bytes than arrived (3 on stdout) */
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":2,"
		"\"stdout_capped\":false,\"stderr_bytes\":0,"
		"\"stderr_capped\":false}",
		/* half the fields, wrong types */
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":3,"
		"\"stdout_capped\":false}",
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":-3,"
		"\"stdout_capped\":false,\"stderr_bytes\":0,"
		"\"stderr_capped\":false}",
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":3,"
		"\"stdout_capped\":0,\"stderr_bytes\":0,"
		"\"stderr_capped\":false}",
		"{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
		"\"timed_out\":false,\"stdout_bytes\":3,"
		"\"stdout_capped\":false,\"stderr_bytes\":0,"
		"\"stderr_capped\":false,\"output_dropped\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		exec_state_init(&st, &io, &res, &s, err, sizeof(err));
		st.cap_known = st.cap_output = true;
		st.max_output = 4;
		feed(&st, PROTO_CONTROL, 5, started);
		assert_int_equal(feed(&st, PROTO_STDOUT, 5, "abc"), 0);
		if (feed(&st, PROTO_CONTROL, 5, bad[i]) != AGENT_ERR_PROTO)
			fail_msg("case %zu accepted: %s", i, bad[i]);
	}
	/* without a cap, "capped" is a lie */
	exec_state_init(&st, &io, &res, &s, err, sizeof(err));
	st.cap_known = true;
	feed(&st, PROTO_CONTROL, 5, started);
	assert_int_equal(feed(&st, PROTO_CONTROL, 5,
			      "{\"type\":\"exit\",\"exit_code\":0,\"signal\":0,"
			      "\"timed_out\":false,\"stdout_bytes\":9,"
			      "\"stdout_capped\":true,\"stderr_bytes\":0,"
			      "\"stderr_capped\":false}"),
			 AGENT_ERR_PROTO);
}

static void test_cmdline(void **state)
{
	struct init_options o;

	init_parse_cmdline("console=ttyS0 kiln.hostname=box-1 ro "
			   "kiln.debug init=/sbin/kiln-agent\n",
			   &o);
	assert_string_equal(o.hostname, "box-1");
	assert_true(o.debug);
	assert_true(o.overlay);
	init_parse_cmdline("kiln.overlay=0 kiln.hostname=\"bad name\"", &o);
	assert_false(o.overlay);
	assert_string_equal(o.hostname, "");
	init_parse_cmdline("", &o);
	assert_false(o.debug);
	assert_true(init_hostname_valid("a.b-c"));
	assert_false(init_hostname_valid(""));
	assert_false(init_hostname_valid("-x"));
	assert_false(init_hostname_valid("a/b"));
	assert_false(init_hostname_valid(
		"a12345678901234567890123456789012345678901234567890123456789"
		"012345"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_roundtrip),
		cmocka_unit_test(test_reader_byte_by_byte),
		cmocka_unit_test(test_reader_batched),
		cmocka_unit_test(test_reader_oversized),
		cmocka_unit_test(test_reader_bad_magic_and_truncation),
		cmocka_unit_test(test_json_parse),
		cmocka_unit_test(test_parse_exec),
		cmocka_unit_test(test_parse_signal_hello),
		cmocka_unit_test(test_exec_feed),
		cmocka_unit_test(test_exec_feed_totals),
		cmocka_unit_test(test_cmdline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
