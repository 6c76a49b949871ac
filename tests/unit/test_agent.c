/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent exec end to end on the host, without a VM, through libkiln's
 * agent client (see agent_harness.h for how the agent runs): output and
 * exit statuses, binary data, stdin, errors, environment, timeouts that
 * kill the whole process group, cancellation, ping, and connecting
 * through a (stand-in) VMM vsock socket with retries.
 */
#include "agent_harness.h"

struct run {
	struct buf out, err;
	struct agent_exec_result res;
	char msg[512];
	int rc;
};

static void run_io(struct agent_client *c, const char *const *argv,
		   struct agent_exec_opts *o, struct agent_exec_io *io,
		   struct run *r)
{
	struct agent_exec_opts def = {0};

	memset(r, 0, sizeof(*r));
	if (!o)
		o = &def;
	o->argv = argv;
	if (!o->wait_timeout_ms)
		o->wait_timeout_ms = DEADLINE_MS;
	io->on_stdout = buf_append;
	io->stdout_ctx = &r->out;
	io->on_stderr = buf_append;
	io->stderr_ctx = &r->err;
	r->rc = agent_client_exec(c, o, io, &r->res, r->msg, sizeof(r->msg));
}

static void run(struct agent_client *c, const char *const *argv,
		struct agent_exec_opts *o, struct run *r)
{
	struct agent_exec_io io;

	agent_exec_io_init(&io);
	run_io(c, argv, o, &io, r);
}

static void run_free(struct run *r)
{
	free(r->out.p);
	free(r->err.p);
}

static void test_exec_basic(void **state)
{
	const char *const argv[] = {"sh", "-c",
				    "echo hello; echo err >&2; exit 3", NULL};
	struct agent_client *c = client_connect();
	struct run r;

	run(c, argv, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.exited);
	assert_false(r.res.signaled);
	assert_int_equal(r.res.exit_code, 3);
	assert_true(r.res.pid > 0);
	assert_string_equal((char *)r.out.p, "hello\n");
	assert_string_equal((char *)r.err.p, "err\n");
	run_free(&r);
	/* the same connection serves the next command */
	const char *const t[] = {"true", NULL};
	run(c, t, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	run_free(&r);
	agent_client_close(c);
}

/* printf turns \NNN into bytes: all 256 byte values, NUL included. */
static void test_exec_binary_output(void **state)
{
	char fmt[256 * 4 + 1];
	const char *const argv[] = {"printf", fmt, NULL};
	struct agent_client *c = client_connect();
	struct run r;

	for (int i = 0; i < 256; i++)
		sprintf(fmt + 4 * i, "\\%03o", i);
	run(c, argv, NULL, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(r.out.len, 256);
	for (int i = 0; i < 256; i++)
		assert_int_equal(r.out.p[i], i);
	run_free(&r);
	agent_client_close(c);
}

/* 8 MiB of every byte value through cat: stdin and stdout flow together. */
static void test_exec_stdin_cat(void **state)
{
	const size_t n = 8u << 20;
	const char *const argv[] = {"cat", NULL};
	struct agent_client *c = client_connect();
	uint8_t *data = malloc(n);
	struct agent_exec_io io;
	struct run r;

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + i / 256);
	agent_exec_io_init(&io);
	io.stdin_data = data;
	io.stdin_len = n;
	run_io(c, argv, NULL, &io, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	assert_int_equal(r.out.len, n);
	assert_memory_equal(r.out.p, data, n);
	run_free(&r);

	/* from a file descriptor, e.g. the CLI's stdin */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "line one\nline two\n", 18), 18);
	close(p[1]);
	agent_exec_io_init(&io);
	io.stdin_fd = p[0];
	run_io(c, argv, NULL, &io, &r);
	close(p[0]);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "line one\nline two\n");
	run_free(&r);
	free(data);
	agent_client_close(c);
}

static void test_exec_errors(void **state)
{
	const char *const missing[] = {"no-such-command-kiln", NULL};
	const char *const notexec[] = {"/etc/passwd", NULL};
	const char *const t[] = {"true", NULL};
	struct agent_exec_opts o = {.cwd = "/no/such/dir"};
	struct agent_client *c = client_connect();
	struct run r;

	run(c, missing, NULL, &r);
	assert_int_equal(r.rc, AGENT_ERR_NOT_FOUND);
	assert_int_equal(r.res.exit_code, 127);
	assert_non_null(
		strstr(r.msg, "exec: \"no-such-command-kiln\": not found"));
	run_free(&r);
	run(c, notexec, NULL, &r);
	assert_int_equal(r.rc, AGENT_ERR_PERM);
	assert_int_equal(r.res.exit_code, 126);
	run_free(&r);
	run(c, t, &o, &r);
	assert_int_equal(r.rc, AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(r.msg, "/no/such/dir"));
	run_free(&r);
	/* errors leave the connection usable */
	run(c, t, NULL, &r);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	agent_client_close(c);
}

static void test_exec_env_cwd(void **state)
{
	const char *const argv[] = {"sh", "-c", "echo $FOO; pwd; echo $PATH",
				    NULL};
	const char *const env[] = {"FOO=bar baz", NULL};
	struct agent_exec_opts o = {.env = env, .cwd = "/tmp"};
	struct agent_client *c = client_connect();
	struct run r;

	run(c, argv, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p,
			    "bar baz\n/tmp\n/usr/local/sbin:/usr/local/bin:"
			    "/usr/sbin:/usr/bin:/sbin:/bin\n");
	run_free(&r);
	agent_client_close(c);
}

/* The timeout kills the whole process group, background child included. */
static void test_exec_timeout(void **state)
{
	const char *const argv[] = {"sh", "-c",
				    "sleep 100 & echo $!; sleep 100", NULL};
	struct agent_exec_opts o = {.timeout_ms = 300};
	struct agent_client *c = client_connect();
	struct run r;
	int64_t t0 = now_ms();

	run(c, argv, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.timed_out);
	assert_true(r.res.signaled);
	assert_int_equal(r.res.term_signal, SIGKILL);
	assert_int_equal(r.res.exit_code, 128 + SIGKILL);
	assert_true(now_ms() - t0 < 20000);
	assert_true(r.out.len > 0);
	assert_gone((pid_t)atoi((char *)r.out.p));
	run_free(&r);
	agent_client_close(c);
}

/* A callback that says stop kills the command; the client is then done. */
static int stop_at_once(void *ctx, const void *buf, size_t len)
{
	struct buf *b = ctx;

	buf_append(b, buf, len);
	return memchr(b->p, '\n', b->len) ? 1 : 0;
}

static void test_exec_cancel(void **state)
{
	const char *const argv[] = {"sh", "-c", "echo $$; exec sleep 100",
				    NULL};
	struct agent_exec_opts o = {.argv = argv};
	struct agent_client *c = client_connect();
	struct agent_exec_result res;
	struct agent_exec_io io;
	struct buf out = {0};
	char err[256];

	agent_exec_io_init(&io);
	io.on_stdout = stop_at_once;
	io.stdout_ctx = &out;
	assert_int_equal(agent_client_exec(c, &o, &io, &res, err, sizeof(err)),
			 AGENT_ERR_CANCELLED);
	assert_int_equal(agent_client_ping(c, 1000, NULL, err, sizeof(err)),
			 AGENT_ERR_INVAL); /* unusable now */
	agent_client_close(c);
	assert_gone((pid_t)atoi((char *)out.p));
	free(out.p);
}

static void test_ping(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_ping_info info;
	char err[256], *reply = NULL;

	assert_int_equal(agent_client_ping(c, 5000, &info, err, sizeof(err)),
			 0);
	assert_string_equal(info.agent_version, AGENT_VERSION);
	assert_false(info.init);
	assert_string_equal(agent_client_agent_version(c), AGENT_VERSION);
	assert_int_equal(agent_client_call(c, "{\"op\":\"no-such-op\"}", 5000,
					   &reply, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "unknown_op"));
	assert_non_null(strstr(reply, "\"error\""));
	free(reply);
	agent_client_close(c);
}

/* ---- through a VMM's vsock socket (Firecracker's CONNECT protocol) ---- */

static void relay(int a, int b)
{
	uint8_t buf[65536];

	for (;;) {
		struct pollfd p[2] = {{.fd = a, .events = POLLIN},
				      {.fd = b, .events = POLLIN}};

		if (poll(p, 2, -1) < 0)
			return;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
				return;
		}
	}
}

/*
 * A stand-in for kiln-vmm's vsock socket: hangs up on the first `refuse`
 * connections (no guest listener yet), then answers `reply` and, if that
 * is "OK ...", relays to the agent's Unix socket.
 */
static void __attribute__((noreturn))
fake_vmm(int lfd, int refuse, const char *reply)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int n = 0;; n++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char line[64];
		size_t len = 0;
		int c = accept(lfd, NULL, NULL), a;

		if (c < 0)
			_exit(1);
		while (len < sizeof(line) - 1 && read(c, line + len, 1) == 1 &&
		       line[len] != '\n')
			len++;
		line[len] = 0;
		if (strcmp(line, "CONNECT 1024") != 0 || n < refuse ||
		    write(c, reply, strlen(reply)) < 0 ||
		    strncmp(reply, "OK ", 3) != 0) {
			close(c);
			continue;
		}
		memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
		a = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(a, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			relay(c, a);
		close(a);
		close(c);
	}
}

static pid_t fake_vmm_start(const char *uds, int refuse, const char *reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	memcpy(sa.sun_path, uds, strlen(uds) + 1);
	unlink(uds);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		fake_vmm(lfd, refuse, reply);
	close(lfd);
	return pid;
}

static void fake_vmm_stop(pid_t pid, const char *uds)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(uds);
}

static void test_vsock_wait_ready(void **state)
{
	const char *const argv[] = {"echo", "via vsock", NULL};
	struct agent_client *c = NULL;
	struct agent_exec_io io;
	char uds[128], err[256];
	struct run r;
	pid_t vmm;

	snprintf(uds, sizeof(uds), "%s/vsock.sock", tmp_dir);
	vmm = fake_vmm_start(uds, 3, "OK 1073741824\n");
	assert_int_equal(agent_client_wait_ready(uds, 1024, DEADLINE_MS, -1, &c,
						 err, sizeof(err)),
			 0);
	agent_exec_io_init(&io);
	run_io(c, argv, NULL, &io, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "via vsock\n");
	run_free(&r);
	agent_client_close(c);
	/* a pure readiness check */
	assert_int_equal(agent_client_wait_ready(uds, 1024, DEADLINE_MS, -1,
						 NULL, err, sizeof(err)),
			 0);
	fake_vmm_stop(vmm, uds);
}

static void test_vsock_errors(void **state)
{
	struct agent_client *c = NULL;
	char uds[128], err[256];
	int64_t t0;
	int p[2];
	pid_t vmm;

	snprintf(uds, sizeof(uds), "%s/vsock.sock", tmp_dir);
	/* not a vsock socket: a clear protocol error, no retrying */
	vmm = fake_vmm_start(uds, 0, "HELLO\n");
	assert_int_equal(agent_client_wait_ready(uds, 1024, DEADLINE_MS, -1, &c,
						 err, sizeof(err)),
			 AGENT_ERR_PROTO);
	assert_non_null(strstr(err, "unexpected answer to CONNECT 1024"));
	fake_vmm_stop(vmm, uds);
	/* nobody there: one attempt says "not ready", waiting times out */
	assert_int_equal(agent_client_connect_vsock(uds, 1024, 1000, 1000, -1,
						    &c, err, sizeof(err)),
			 AGENT_ERR_NOT_READY);
	t0 = now_ms();
	assert_int_equal(agent_client_wait_ready(uds, 1024, 200, -1, &c, err,
						 sizeof(err)),
			 AGENT_ERR_TIMEOUT);
	assert_true(now_ms() - t0 >= 200 && now_ms() - t0 < 5000);
	assert_non_null(strstr(err, "did not answer"));
	/* a readable cancel fd stops the wait */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(agent_client_wait_ready(uds, 1024, DEADLINE_MS, p[0],
						 &c, err, sizeof(err)),
			 AGENT_ERR_CANCELLED);
	close(p[0]);
	close(p[1]);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_basic),
		cmocka_unit_test(test_exec_binary_output),
		cmocka_unit_test(test_exec_stdin_cat),
		cmocka_unit_test(test_exec_errors),
		cmocka_unit_test(test_exec_env_cwd),
		cmocka_unit_test(test_exec_timeout),
		cmocka_unit_test(test_exec_cancel),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_vsock_wait_ready),
		cmocka_unit_test(test_vsock_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
