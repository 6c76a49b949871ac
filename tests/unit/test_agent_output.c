/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent exec output caps ("max_output") and output totals, on the
 * host without a VM (see agent_harness.h): a cap on stdout or stderr alone,
 * exactly at the cap, a cap of 0, a producer of 10 MiB that must still
 * finish while nobody reads, terminals, detached commands, strict
 * validation; and a terminal whose output after exit went past the drain
 * limit, which the exit message must report.
 */
#include <sys/stat.h>

#include "agent_harness.h"
#include "agent_raw.h"

#include "agent/exec.h"
#include "lib/vmm_proc.h"

struct orun {
	struct buf out, err;
	struct agent_exec_result res;
	char msg[512];
	int rc;
};

static void orun(struct agent_client *c, const char *const *argv,
		 struct agent_exec_opts *o, struct orun *r)
{
	struct agent_exec_io io;

	memset(r, 0, sizeof(*r));
	agent_exec_io_init(&io);
	o->argv = argv;
	o->wait_timeout_ms = DEADLINE_MS;
	io.on_stdout = buf_append;
	io.stdout_ctx = &r->out;
	io.on_stderr = buf_append;
	io.stderr_ctx = &r->err;
	r->rc = agent_client_exec(c, o, &io, &r->res, r->msg, sizeof(r->msg));
	if (r->rc)
		fail_msg("exec: %s (%d)", r->msg, r->rc);
}

static void orun_free(struct orun *r)
{
	free(r->out.p);
	free(r->err.p);
}

static void test_cap_stdout(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "head -c 3000 /dev/zero; printf abc >&2", NULL};
	struct agent_exec_opts o = {.cap_output = true, .max_output = 1000};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_int_equal(r.res.exit_code, 0);
	assert_true(r.res.have_totals);
	assert_int_equal(r.out.len, 1000);
	assert_int_equal(r.res.stdout_bytes, 3000);
	assert_true(r.res.stdout_capped);
	assert_int_equal(r.err.len, 3);
	assert_string_equal((char *)r.err.p, "abc");
	assert_int_equal(r.res.stderr_bytes, 3);
	assert_false(r.res.stderr_capped);
	assert_false(r.res.output_dropped);
	orun_free(&r);
	agent_client_close(c);
}

static void test_cap_stderr(void **state)
{
	const char *const argv[] = {
		"sh", "-c", "printf abc; head -c 5000 /dev/zero >&2", NULL};
	struct agent_exec_opts o = {.cap_output = true, .max_output = 4096};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_string_equal((char *)r.out.p, "abc");
	assert_int_equal(r.res.stdout_bytes, 3);
	assert_false(r.res.stdout_capped);
	assert_int_equal(r.err.len, 4096);
	assert_int_equal(r.res.stderr_bytes, 5000);
	assert_true(r.res.stderr_capped);
	orun_free(&r);
	agent_client_close(c);
}

/* Exactly at the cap is all of it: not capped.  One more byte is. */
static void test_cap_exact(void **state)
{
	const char *const argv[] = {"head", "-c", "70000", "/dev/zero", NULL};
	struct agent_exec_opts o = {.cap_output = true, .max_output = 70000};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_int_equal(r.out.len, 70000);
	assert_int_equal(r.res.stdout_bytes, 70000);
	assert_false(r.res.stdout_capped);
	orun_free(&r);

	o = (struct agent_exec_opts){.cap_output = true, .max_output = 69999};
	orun(c, argv, &o, &r);
	assert_int_equal(r.out.len, 69999);
	assert_int_equal(r.res.stdout_bytes, 70000);
	assert_true(r.res.stdout_capped);
	orun_free(&r);
	agent_client_close(c);
}

/* Cap 0: nothing is forwarded, everything is counted. */
static void test_cap_zero(void **state)
{
	const char *const argv[] = {"sh", "-c", "printf hello; printf e >&2",
				    NULL};
	const char *const quiet[] = {"true", NULL};
	struct agent_exec_opts o = {.cap_output = true, .max_output = 0};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.err.len, 0);
	assert_int_equal(r.res.stdout_bytes, 5);
	assert_int_equal(r.res.stderr_bytes, 1);
	assert_true(r.res.stdout_capped);
	assert_true(r.res.stderr_capped);
	orun_free(&r);

	/* no output: nothing was dropped */
	o = (struct agent_exec_opts){.cap_output = true, .max_output = 0};
	orun(c, quiet, &o, &r);
	assert_int_equal(r.res.stdout_bytes, 0);
	assert_false(r.res.stdout_capped);
	assert_false(r.res.stderr_capped);
	orun_free(&r);
	agent_client_close(c);
}

/* Without a cap the totals are reported all the same. */
static void test_totals_no_cap(void **state)
{
	const char *const argv[] = {"sh", "-c", "printf hello; printf ab >&2",
				    NULL};
	struct agent_exec_opts o = {0};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_true(r.res.have_totals);
	assert_int_equal(r.res.stdout_bytes, 5);
	assert_int_equal(r.res.stderr_bytes, 2);
	assert_false(r.res.stdout_capped || r.res.stderr_capped);
	orun_free(&r);
	agent_client_close(c);
}

/* 10 MiB under a 1 MiB cap, read by the client as it comes. */
static void test_cap_big(void **state)
{
	const char *const argv[] = {"head", "-c", "10485760", "/dev/zero",
				    NULL};
	struct agent_exec_opts o = {.cap_output = true, .max_output = 1u << 20};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(r.out.len, 1u << 20);
	assert_int_equal(r.res.stdout_bytes, 10485760);
	assert_true(r.res.stdout_capped);
	orun_free(&r);
	agent_client_close(c);
}

/* Read frames of request id until its exit; counts the output bytes. */
static json_t *raw_until_exit(struct raw *r, uint32_t id, uint64_t *out,
			      uint64_t *err)
{
	*out = *err = 0;
	for (;;) {
		json_t *j;

		if (!raw_next(r))
			fail_msg("EOF before the exit of request %u", id);
		if (r->rd.hdr.id != id)
			continue;
		if (r->rd.hdr.kind == PROTO_STDOUT)
			*out += r->rd.hdr.len;
		else if (r->rd.hdr.kind == PROTO_STDERR)
			*err += r->rd.hdr.len;
		if (r->rd.hdr.kind != PROTO_CONTROL)
			continue;
		j = raw_json(r);
		if (!strcmp(json_string_value(json_object_get(j, "type")),
			    "exit"))
			return j;
		json_decref(j);
	}
}

/* Poll for path; false if it did not appear within DEADLINE_MS. */
static bool file_appears(const char *path)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct stat st;

	while (stat(path, &st) < 0) {
		if (now_ms() > deadline)
			return false;
		pause_ms(10);
	}
	return true;
}

static void wait_for_file(const char *path)
{
	if (!file_appears(path))
		fail_msg("%s did not appear within %d ms", path, DEADLINE_MS);
}

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

/*
 * Until pid blocks writing a pipe (its wchan), or at once if this kernel
 * does not show wchans; fails after DEADLINE_MS.
 */
static void wait_pipe_blocked(pid_t pid)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	char path[64], buf[128];

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (n <= 0 || !strcmp(buf, "0") || strstr(buf, "pipe_write"))
			return;
		if (now_ms() > deadline)
			fail_msg("pid %d did not block on its pipe (%s)",
				 (int)pid, buf);
		pause_ms(10);
	}
}

/*
 * 10 MiB on each stream under caps whose sum stays below the agent's
 * output high-water mark, and the client reads nothing until the command
 * is over: past its cap a stream is drained and counted, never paused, so
 * the command finishes on its own.
 */
static void test_cap_no_reader(void **state)
{
	char req[512], done[128];
	uint64_t out, err;
	struct raw r;
	json_t *j;

	snprintf(done, sizeof(done), "%s/cap-done", tmp_dir);
	snprintf(req, sizeof(req),
		 "{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"head -c 10485760 "
		 "/dev/zero; head -c 10485760 /dev/zero >&2; touch %s\"],"
		 "\"max_output\":393216}",
		 done);
	raw_open(&r, true);
	raw_ctl(&r, 2, req);
	wait_for_file(done); /* while nobody reads the connection */
	raw_expect_free(&r, 2, "started", NULL);
	j = raw_until_exit(&r, 2, &out, &err);
	assert_int_equal(out, 393216);
	assert_int_equal(err, 393216);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")),
			 0);
	assert_int_equal(json_integer_value(json_object_get(j, "stdout_bytes")),
			 10485760);
	assert_int_equal(json_integer_value(json_object_get(j, "stderr_bytes")),
			 10485760);
	assert_true(json_is_true(json_object_get(j, "stdout_capped")));
	assert_true(json_is_true(json_object_get(j, "stderr_capped")));
	assert_true(json_is_false(json_object_get(j, "output_dropped")));
	json_decref(j);
	raw_close(&r);
	unlink(done);
}

/*
 * The connection is full (another command's output, which nobody reads,
 * filled the agent's queue, so the agent paused the connection's pipes):
 * a stream past its cap (0 here) still drains, so its command finishes.
 */
static void test_cap_paused_connection(void **state)
{
	char req[512], go[128], done[128];
	uint64_t out, err;
	pid_t filler;
	struct raw r;
	json_t *j;

	snprintf(go, sizeof(go), "%s/paused-go", tmp_dir);
	snprintf(done, sizeof(done), "%s/paused-done", tmp_dir);
	snprintf(req, sizeof(req),
		 "{\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"while [ ! -e "
		 "%s ]; do sleep 0.01; done; head -c 10485760 /dev/zero; "
		 "touch %s\"],\"max_output\":0}",
		 go, done);
	raw_open(&r, true);
	raw_ctl(&r, 2, req);
	raw_expect_free(&r, 2, "started", NULL);
	raw_ctl(&r, 3,
		"{\"op\":\"exec\",\"argv\":[\"head\",\"-c\",\"8388608\","
		"\"/dev/zero\"]}");
	j = raw_expect(&r, 3, "started", NULL);
	filler = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	wait_pipe_blocked(filler); /* the agent paused the connection */
	touch(go);
	wait_for_file(done); /* still nobody reads */
	j = raw_until_exit(&r, 2, &out, &err);
	assert_int_equal(out, 0);
	assert_int_equal(json_integer_value(json_object_get(j, "stdout_bytes")),
			 10485760);
	assert_true(json_is_true(json_object_get(j, "stdout_capped")));
	json_decref(j);
	j = raw_until_exit(&r, 3, &out, &err);
	json_decref(j);
	raw_close(&r);
	unlink(go);
	unlink(done);
}

static void test_cap_invalid(void **state)
{
	static const char *const bad[] = {
		"-1", "1099511627777", "\"1\"", "1.5", "true", "null",
	};
	uint64_t out, err;
	char req[256];
	struct raw r;
	json_t *j;

	raw_open(&r, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req),
			 "{\"op\":\"exec\",\"argv\":[\"true\"],"
			 "\"max_output\":%s}",
			 bad[i]);
		raw_ctl(&r, 2, req);
		j = raw_expect(&r, 2, "error", PROTO_E_INVALID);
		if (!strstr(json_string_value(json_object_get(j, "message")),
			    "max_output"))
			fail_msg("max_output %s: message does not name it: %s",
				 bad[i],
				 json_string_value(
					 json_object_get(j, "message")));
		json_decref(j);
	}
	/* the largest cap is fine */
	raw_ctl(&r, 3,
		"{\"op\":\"exec\",\"argv\":[\"true\"],"
		"\"max_output\":1099511627776}");
	raw_expect_free(&r, 3, "started", NULL);
	json_decref(raw_until_exit(&r, 3, &out, &err));
	raw_close(&r);

	/* the client refuses too much before sending anything */
	struct agent_client *c = client_connect();
	const char *const argv[] = {"true", NULL};
	struct agent_exec_opts o = {.argv = argv,
				    .cap_output = true,
				    .max_output = AGENT_MAX_OUTPUT + 1};
	struct agent_exec_result res;
	char msg[256];

	assert_int_equal(agent_client_exec(c, &o, NULL, &res, msg, sizeof(msg)),
			 AGENT_ERR_INVAL);
	assert_non_null(strstr(msg, "max_output"));
	agent_client_close(c);
}

/* A terminal's output counts as stdout; all drained: nothing dropped. */
static void test_cap_tty(void **state)
{
	const char *const argv[] = {"printf", "0123456789abcdef", NULL};
	struct agent_exec_opts o = {
		.tty = true, .cap_output = true, .max_output = 10};
	struct agent_client *c = client_connect();
	struct orun r;

	orun(c, argv, &o, &r);
	assert_int_equal(r.out.len, 10);
	assert_memory_equal(r.out.p, "0123456789", 10);
	assert_int_equal(r.res.stdout_bytes, 16);
	assert_true(r.res.stdout_capped);
	assert_int_equal(r.res.stderr_bytes, 0);
	assert_false(r.res.output_dropped);
	orun_free(&r);
	agent_client_close(c);
}

/* A detached command's cap holds for what attach gets. */
static void test_cap_detached(void **state)
{
	const char *const argv[] = {"printf", "hello-world", NULL};
	struct agent_exec_opts o = {
		.argv = argv, .cap_output = true, .max_output = 5};
	struct agent_client *c = client_connect();
	struct agent_exec_result res;
	struct agent_exec_io io;
	uint32_t session = 0;
	struct buf out = {0};
	char msg[256];
	int pid = 0;

	assert_int_equal(agent_client_exec_detach(c, &o, false, 5000, &session,
						  &pid, msg, sizeof(msg)),
			 0);
	agent_exec_io_init(&io);
	io.on_stdout = buf_append;
	io.stdout_ctx = &out;
	assert_int_equal(
		agent_client_attach(c, session, &io, &res, msg, sizeof(msg)),
		0);
	assert_string_equal((char *)out.p, "hello");
	assert_int_equal(res.stdout_bytes, 11);
	assert_true(res.stdout_capped);
	free(out.p);
	agent_client_close(c);
}

/* ---- the drain limit of a terminal (its own agent, limit 100) ----------- */

/* /proc/PID/stat's state letter, or 0 if it cannot be read. */
static char proc_state(pid_t pid)
{
	char path[64], buf[1024], state = 0;
	uint64_t start;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || proc_stat_parse(buf, (size_t)n, &state, &start))
		return 0;
	return state;
}

static bool wait_state(pid_t pid, char want)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (proc_state(pid) != want) {
		if (now_ms() > deadline)
			return false;
		pause_ms(10);
	}
	return true;
}

/*
 * A background process (it ignores the SIGHUP its leader's exit sends,
 * inherited before it is forked) writes to the terminal after its leader
 * exited, and the agent must stop draining after 100 bytes (this group's
 * limit): the exit message must say that output was dropped.  The agent
 * is stopped (SIGSTOP) while the leader exits and the writer writes, so
 * that both wait for it at once: it reaps the leader first (its SIGCHLD
 * came first; epoll reports in that order) and then finds 3000 bytes in
 * the terminal.
 */
static void test_tty_drain_dropped(void **state)
{
	char req[1024], go1[128], go2[128], done[128];
	uint64_t out, err;
	struct raw r;
	bool zombie, written;
	int status;
	pid_t pid;
	json_t *j;

	snprintf(go1, sizeof(go1), "%s/go1", tmp_dir);
	snprintf(go2, sizeof(go2), "%s/go2", tmp_dir);
	snprintf(done, sizeof(done), "%s/written", tmp_dir);
	snprintf(req, sizeof(req),
		 "{\"op\":\"exec\",\"tty\":true,\"argv\":[\"sh\",\"-c\","
		 "\"trap '' HUP; (while [ ! -e %s ]; do sleep 0.01; done; "
		 "head -c 3000 /dev/zero; touch %s) & while [ ! -e %s ]; do "
		 "sleep 0.01; done\"]}",
		 go2, done, go1);
	raw_open(&r, true);
	raw_ctl(&r, 2, req);
	j = raw_expect(&r, 2, "started", NULL);
	pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);

	assert_int_equal(kill(agent_pid, SIGSTOP), 0);
	assert_int_equal(waitpid(agent_pid, &status, WUNTRACED), agent_pid);
	assert_true(WIFSTOPPED(status));
	touch(go1);
	/* the leader exited, nobody reaped it yet; then the writer wrote */
	zombie = wait_state(pid, 'Z');
	if (zombie)
		touch(go2);
	written = zombie && file_appears(done);
	assert_int_equal(kill(agent_pid, SIGCONT), 0); /* also on failure */
	if (!written)
		fail_msg("within %d ms: %s", DEADLINE_MS,
			 zombie ? "the writer did not write"
				: "the leader did not exit");

	j = raw_until_exit(&r, 2, &out, &err);
	assert_int_equal(out, 100);
	assert_true(json_is_true(json_object_get(j, "output_dropped")));
	assert_int_equal(json_integer_value(json_object_get(j, "stdout_bytes")),
			 100);
	json_decref(j);
	assert_gone(pid); /* reaped */
	raw_close(&r);
	unlink(go1);
	unlink(go2);
	unlink(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_stdout),
		cmocka_unit_test(test_cap_stderr),
		cmocka_unit_test(test_cap_exact),
		cmocka_unit_test(test_cap_zero),
		cmocka_unit_test(test_totals_no_cap),
		cmocka_unit_test(test_cap_big),
		cmocka_unit_test(test_cap_no_reader),
		cmocka_unit_test(test_cap_paused_connection),
		cmocka_unit_test(test_cap_invalid),
		cmocka_unit_test(test_cap_tty),
		cmocka_unit_test(test_cap_detached),
	};
	const struct CMUnitTest drain_tests[] = {
		cmocka_unit_test(test_tty_drain_dropped),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	/* the agent of the next group is forked with this limit */
	exec_tty_drain_max = 100;
	rc |= cmocka_run_group_tests(drain_tests, group_setup, group_teardown);
	return rc;
}
