/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent exec on a pseudo-terminal ("tty": true; see agent_harness.h
 * for how the agent runs): the command's controlling terminal and its
 * size, resizing while it runs, echo and ^D as the end of stdin, output
 * that is all delivered after exit, timeouts, and what a terminal-less
 * command answers to resize.
 */
#include "agent_harness.h"
#include "agent_raw.h"

struct trun {
	struct buf out, err;
	struct agent_exec_result res;
	char msg[512];
	int rc;
};

static void trun_io(struct agent_client *c, const char *const *argv,
		    struct agent_exec_opts *o, struct agent_exec_io *io,
		    struct trun *r)
{
	memset(r, 0, sizeof(*r));
	o->argv = argv;
	o->tty = true;
	o->wait_timeout_ms = DEADLINE_MS;
	if (!io->on_stdout) {
		io->on_stdout = buf_append;
		io->stdout_ctx = &r->out;
	}
	io->on_stderr = buf_append;
	io->stderr_ctx = &r->err;
	r->rc = agent_client_exec(c, o, io, &r->res, r->msg, sizeof(r->msg));
}

static void trun(struct agent_client *c, const char *const *argv,
		 struct agent_exec_opts *o, struct trun *r)
{
	struct agent_exec_io io;

	agent_exec_io_init(&io);
	trun_io(c, argv, o, &io, r);
}

static void trun_free(struct trun *r)
{
	free(r->out.p);
	free(r->err.p);
}

static void test_tty_size(void **state)
{
	const char *const argv[] = {"sh", "-c", "tty; stty size; echo err >&2",
				    NULL};
	struct agent_exec_opts o = {.rows = 40, .cols = 100};
	struct agent_client *c = client_connect();
	struct trun r;

	trun(c, argv, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	/* all output on stdout, with the terminal's line endings */
	assert_non_null(r.out.p);
	assert_true(strncmp((char *)r.out.p, "/dev/pts/", 9) == 0);
	assert_non_null(strstr((char *)r.out.p, "\r\n40 100\r\nerr\r\n"));
	assert_int_equal(r.err.len, 0);
	trun_free(&r);

	/* default size 24 x 80; TERM set */
	const char *const argv2[] = {"sh", "-c", "stty size; echo $TERM", NULL};
	o = (struct agent_exec_opts){0};
	trun(c, argv2, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "24 80\r\nxterm\r\n");
	trun_free(&r);
	agent_client_close(c);
}

/*
 * Resize while it runs: once the command said "ready" the output callback
 * makes resize_fd readable; on_resize answers 50 x 132 and only then
 * releases the command (a line on its stdin), so the resize request is
 * sent before the line the command waits for.
 */
struct resize_ctx {
	struct buf out;
	int resize_pipe[2], stdin_pipe[2];
	bool asked;
	int calls;
};

static int resize_out(void *ctx, const void *buf, size_t len)
{
	struct resize_ctx *x = ctx;

	buf_append(&x->out, buf, len);
	if (!x->asked && strstr((char *)x->out.p, "ready")) {
		x->asked = true;
		assert_int_equal(write(x->resize_pipe[1], "r", 1), 1);
	}
	return 0;
}

static int resize_cb(void *ctx, unsigned int *rows, unsigned int *cols)
{
	struct resize_ctx *x = ctx;
	char b;

	assert_int_equal(read(x->resize_pipe[0], &b, 1), 1);
	x->calls++;
	*rows = 50;
	*cols = 132;
	assert_int_equal(write(x->stdin_pipe[1], "go\n", 3), 3);
	return 0;
}

static void test_tty_resize(void **state)
{
	const char *const argv[] = {
		"sh", "-c",
		"trap 'echo WINCH' WINCH; echo ready; read x; stty size", NULL};
	struct agent_exec_opts o = {.rows = 10, .cols = 20};
	struct agent_client *c = client_connect();
	struct resize_ctx x = {0};
	struct agent_exec_io io;
	struct trun r;

	assert_int_equal(pipe(x.resize_pipe), 0);
	assert_int_equal(pipe(x.stdin_pipe), 0);
	agent_exec_io_init(&io);
	io.on_stdout = resize_out;
	io.stdout_ctx = &x;
	io.resize_fd = x.resize_pipe[0];
	io.on_resize = resize_cb;
	io.resize_ctx = &x;
	io.stdin_fd = x.stdin_pipe[0];
	trun_io(c, argv, &o, &io, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(x.calls, 1);
	/* SIGWINCH reached the shell, and the new size is the terminal's */
	assert_non_null(strstr((char *)x.out.p, "WINCH"));
	assert_non_null(strstr((char *)x.out.p, "50 132\r\n"));
	for (int i = 0; i < 2; i++) {
		close(x.resize_pipe[i]);
		close(x.stdin_pipe[i]);
	}
	free(x.out.p);
	trun_free(&r);
	agent_client_close(c);
}

/* Input is echoed; the end of stdin is ^D, which ends cat's input. */
static void test_tty_echo_eof(void **state)
{
	const char *const argv[] = {"cat", NULL};
	struct agent_exec_opts o = {0};
	struct agent_client *c = client_connect();
	struct agent_exec_io io;
	struct trun r;

	agent_exec_io_init(&io);
	io.stdin_data = "hello\n";
	io.stdin_len = 6;
	trun_io(c, argv, &o, &io, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	/* the echo, then cat's copy */
	assert_string_equal((char *)r.out.p, "hello\r\nhello\r\n");
	trun_free(&r);

	/* empty stdin: ^D at once, cat exits */
	agent_exec_io_init(&io);
	io.stdin_data = "";
	io.stdin_len = 0;
	trun_io(c, argv, &o, &io, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(r.out.len, 0);
	trun_free(&r);
	agent_client_close(c);
}

/*
 * Everything written before exit arrives, also more than the terminal
 * buffers hold at once (the agent reads until the terminal is empty).
 */
static void test_tty_output_complete(void **state)
{
	const char *const argv[] = {"seq", "1", "30000", NULL};
	struct agent_exec_opts o = {0};
	struct agent_client *c = client_connect();
	size_t want = 0, n = 0;
	struct trun r;
	char line[16];

	for (int i = 1; i <= 30000; i++)
		want += (size_t)snprintf(line, sizeof(line), "%d\r\n", i);
	for (int round = 0; round < 3; round++) {
		trun(c, argv, &o, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.res.exit_code, 0);
		assert_int_equal(r.out.len, want);
		assert_memory_equal(r.out.p + r.out.len - 7, "30000\r\n", 7);
		n += r.out.len;
		trun_free(&r);
	}
	assert_int_equal(n, 3 * want);
	agent_client_close(c);
}

/* A terminal's command is killed as a group on timeout, like any other. */
static void test_tty_timeout(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "sleep 100 & echo $!; exec sleep 100", NULL};
	struct agent_exec_opts o = {.timeout_ms = 300};
	struct agent_client *c = client_connect();
	struct trun r;

	trun(c, argv, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.timed_out);
	assert_int_equal(r.res.term_signal, SIGKILL);
	assert_true(r.out.len > 0);
	assert_gone((pid_t)atoi((char *)r.out.p));
	trun_free(&r);
	agent_client_close(c);
}

/* Raw: "started" says tty; resize of a terminal-less command: no_tty. */
static void test_tty_raw(void **state)
{
	struct raw r;
	json_t *j;

	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"exec\",\"argv\":[\"cat\"],\"stdin\":true}");
	j = raw_expect(&r, 2, "started", NULL);
	assert_true(json_is_false(json_object_get(j, "tty")));
	json_decref(j);
	raw_ctl(&r, 3,
		"{\"op\":\"resize\",\"target\":2,\"rows\":5,\"cols\":5}");
	raw_expect_free(&r, 3, "error", PROTO_E_NO_TTY);
	raw_send(&r, PROTO_EOF, 2, "\0", 1);
	/* eof stdout, eof stderr, exit */
	for (int i = 0; i < 2; i++) {
		assert_true(raw_next(&r));
		assert_int_equal(r.rd.hdr.kind, PROTO_EOF);
	}
	raw_expect_free(&r, 2, "exit", NULL);

	raw_ctl(&r, 4,
		"{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"read x; stty "
		"size\"],\"tty\":true,\"rows\":3,\"cols\":4}");
	j = raw_expect(&r, 4, "started", NULL);
	assert_true(json_is_true(json_object_get(j, "tty")));
	json_decref(j);
	raw_ctl(&r, 5,
		"{\"op\":\"resize\",\"target\":4,\"rows\":7,\"cols\":9}");
	raw_expect_free(&r, 5, "result", NULL);
	raw_send(&r, PROTO_STDIN, 4, "\n", 1);
	struct buf out = {0};
	for (;;) {
		assert_true(raw_next(&r));
		if (r.rd.hdr.kind == PROTO_STDOUT) {
			buf_append(&out, r.rd.payload, r.rd.hdr.len);
			continue;
		}
		/* one eof (stdout only: a terminal has no stderr) */
		assert_int_equal(r.rd.hdr.kind, PROTO_EOF);
		assert_int_equal(r.rd.payload[0], PROTO_STREAM_STDOUT);
		break;
	}
	raw_expect_free(&r, 4, "exit", NULL);
	assert_string_equal((char *)out.p, "\r\n7 9\r\n");
	free(out.p);
	raw_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tty_size),
		cmocka_unit_test(test_tty_resize),
		cmocka_unit_test(test_tty_echo_eof),
		cmocka_unit_test(test_tty_output_complete),
		cmocka_unit_test(test_tty_timeout),
		cmocka_unit_test(test_tty_raw),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
