/* SPDX-License-Identifier: MIT */
/*
 * A sandbox handle's agent connection (sandbox_agent.c) without a VM: the
 * real agent service runs in a child on a Unix socket (agent_harness.h)
 * and the handle is attached to it (kiln_sandbox_attach()).  Killing that
 * child and starting a new one on the same socket is what a restore does
 * to a guest's connections: they die, the listener stays.  A "VMM" where
 * one is needed is a real child process.
 */
#include "agent_harness.h"

#include "kiln.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

static struct kiln *k;
static struct kiln_sandbox *sb;

static void agent_start(void)
{
	agent_pid = fork();
	assert_true(agent_pid >= 0);
	if (agent_pid == 0)
		agent_child();
	agent_client_close(client_connect()); /* listening now */
}

/* The agent dies; its socket file stays, as a dead listener. */
static void agent_kill(void)
{
	kill(agent_pid, SIGKILL);
	assert_int_equal(waitpid(agent_pid, NULL, 0), agent_pid);
}

static void agent_restart(void)
{
	agent_kill();
	unlink(sock_path);
	agent_start();
}

static int setup(void **state)
{
	struct kiln_options o;
	char ep[160];

	kiln_options_init(&o);
	o.cache_dir = tmp_dir;
	o.state_dir = tmp_dir;
	o.runtime_dir = tmp_dir;
	o.hooks_file = "";
	o.boot_timeout_ms = 2000; /* bounds a reconnection (below 10 s) */
	if (kiln_open(&o, &k) != KILN_OK)
		return -1;
	snprintf(ep, sizeof(ep), "unix:%s", sock_path);
	return kiln_sandbox_attach(k, ep, &sb) == KILN_OK ? 0 : -1;
}

static int teardown(void **state)
{
	kiln_sandbox_destroy(sb);
	sb = NULL;
	kiln_close(k);
	k = NULL;
	return 0;
}

/* Run argv; its stdout in out (free it).  The status of the exec. */
static int run(const char *const *argv, kiln_output_fn fn, void *ctx,
	       struct buf *out)
{
	struct kiln_exec ex;
	struct kiln_exec_result res;

	memset(out, 0, sizeof(*out));
	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = fn ? fn : buf_append;
	ex.stdout_ctx = ctx ? ctx : out;
	return kiln_sandbox_exec(sb, &ex, &res);
}

static void assert_echo(const char *word)
{
	const char *argv[] = {"echo", word, NULL};
	char want[64];
	struct buf out;
	int rc = run(argv, NULL, NULL, &out);

	if (rc != KILN_OK)
		fail_msg("exec echo %s: %d %s", word, rc, kiln_errmsg(k));
	snprintf(want, sizeof(want), "%s\n", word);
	assert_string_equal((char *)out.p, want);
	free(out.p);
}

/* The connection died while idle (restore, agent restart): the next
 * calls, whatever they are, connect again and work. */
static void test_reconnect_idle(void **state)
{
	struct kiln_guest_status gs;
	struct kiln_process *procs;
	size_t n;

	assert_echo("one");
	agent_restart();
	assert_echo("two");
	agent_restart();
	assert_int_equal(kiln_sandbox_status(sb, &gs), KILN_OK);
	assert_true(gs.uptime_s > 0);
	agent_restart();
	assert_int_equal(kiln_sandbox_ps(sb, &procs, &n), KILN_OK);
	assert_true(n > 0);
	free(procs);
	assert_echo("three");
}

/* Kills the agent when the command's first output arrives. */
static int kill_agent_on_output(void *ctx, const void *p, size_t len)
{
	struct buf *b = ctx;

	if (b->len == 0)
		agent_kill();
	return buf_append(ctx, p, len);
}

/*
 * The connection dies during an exec: that exec fails (it is not run
 * again); while the agent is away the next call says it cannot reach it,
 * within the deadline; once it is back, calls work again.
 */
static void test_loss_during_exec(void **state)
{
	const char *argv[] = {"sh", "-c", "echo x; sleep 2", NULL};
	struct buf out;
	int64_t t0;
	int rc;

	assert_echo("before");
	rc = run(argv, kill_agent_on_output, &out, &out);
	free(out.p);
	assert_int_equal(rc, KILN_EGUEST);
	assert_non_null(strstr(kiln_errmsg(k), "exec: lost the agent"));
	assert_non_null(strstr(kiln_errmsg(k), "the next call connects"));

	t0 = now_ms();
	rc = run((const char *const[]){"true", NULL}, NULL, NULL, &out);
	free(out.p);
	assert_int_equal(rc, KILN_EGUEST);
	assert_non_null(strstr(kiln_errmsg(k), "cannot reach it again"));
	assert_true(now_ms() - t0 < 10000);

	unlink(sock_path);
	agent_start();
	assert_echo("after");
}

static int stop_on_output(void *ctx, const void *p, size_t len)
{
	buf_append(ctx, p, len);
	return 1;
}

/* A cancelled exec (a callback said stop) kills the command; the
 * sandbox stays usable. */
static void test_cancel_then_exec(void **state)
{
	const char *argv[] = {"sh", "-c", "echo $$; exec sleep 30", NULL};
	struct buf out;
	int rc;

	rc = run(argv, stop_on_output, &out, &out);
	assert_int_equal(rc, KILN_ECANCELED);
	assert_non_null(out.p);
	assert_gone((pid_t)atoi((char *)out.p));
	free(out.p);
	assert_echo("still here");
	assert_echo("and again");
}

/* Stands where a VMM would: a child that runs until killed. */
static void fake_vmm(void)
{
	char *argv[] = {"/bin/sleep", "30", NULL};
	char err[256];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	assert_true(null >= 0);
	assert_int_equal(vmm_proc_spawn(&sb->vmm, argv, null, err, sizeof(err)),
			 0);
	close(null);
}

static int kill_all_on_output(void *ctx, const void *p, size_t len)
{
	struct buf *b = ctx;

	if (b->len == 0) {
		kill(sb->vmm.pid, SIGKILL);
		agent_kill();
	}
	return buf_append(ctx, p, len);
}

/*
 * The VM stops: the exec it interrupted and the calls after it say so
 * (KILN_EVMM, which sandbox, what to do) instead of connecting again.
 */
static void test_vm_stopped(void **state)
{
	const char *argv[] = {"sh", "-c", "echo x; sleep 2", NULL};
	struct buf out;
	int rc;

	fake_vmm();
	assert_echo("vm runs");
	rc = run(argv, kill_all_on_output, &out, &out);
	free(out.p);
	assert_int_equal(rc, KILN_EVMM);
	assert_non_null(strstr(kiln_errmsg(k), "the VM of sandbox"));
	assert_non_null(strstr(kiln_errmsg(k), "killed by signal 9"));

	/* the agent's listener is back, but the VM is gone for good */
	unlink(sock_path);
	agent_start();
	rc = run((const char *const[]){"true", NULL}, NULL, NULL, &out);
	free(out.p);
	assert_int_equal(rc, KILN_EVMM);
	assert_non_null(strstr(kiln_errmsg(k), kiln_sandbox_id(sb)));
	assert_non_null(strstr(kiln_errmsg(k), "destroy the sandbox"));
}

/* ---- a persistent sandbox whose VMM is replaced (rollback) ---------- */

/*
 * The VMM's vsock socket, as kiln-vmm serves it to the host: a client
 * writes "CONNECT <port>\n", gets "OK <n>\n" once the guest (here: the
 * agent's Unix socket) accepted, then bytes flow both ways until either
 * side closes.  One connection at a time, in a child process (not a
 * thread: the agent is forked again while it runs).
 */
struct vsock_fake {
	int lfd;
	pid_t pid;
};

static void relay(int a, int b)
{
	struct pollfd p[2] = {{.fd = a, .events = POLLIN},
			      {.fd = b, .events = POLLIN}};
	char buf[65536];

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0)
				return;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(p[1 - i].fd, buf + off,
						  (size_t)(n - off));

				if (w <= 0)
					return;
				off += w;
			}
		}
	}
}

static void vsock_fake_main(struct vsock_fake *v)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char line[64];
		size_t len = 0;
		int c = accept4(v->lfd, NULL, NULL, SOCK_CLOEXEC), a;

		if (c < 0)
			_exit(1);
		while (len < sizeof(line) - 1 && read(c, line + len, 1) == 1 &&
		       line[len] != '\n')
			len++;
		line[len] = '\0';
		a = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
		/* nobody listens in the guest: the VMM hangs up */
		if (strcmp(line, "CONNECT 1024") == 0 && a >= 0 &&
		    connect(a, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    write(c, "OK 1\n", 5) == 5)
			relay(c, a);
		if (a >= 0)
			close(a);
		close(c);
	}
}

static void vsock_fake_start(struct vsock_fake *v, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vsock.sock", dir);
	v->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(v->lfd >= 0);
	assert_int_equal(bind(v->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(v->lfd, 4), 0);
	v->pid = fork();
	assert_true(v->pid >= 0);
	if (v->pid == 0)
		vsock_fake_main(v);
}

static void vsock_fake_stop(struct vsock_fake *v)
{
	kill(v->pid, SIGKILL);
	waitpid(v->pid, NULL, 0);
	close(v->lfd);
}

/* A detached "VMM" as kiln starts one for a persistent sandbox. */
static void vmm_detached(struct vmm_proc *p)
{
	char *argv[] = {"/bin/sleep", "30", NULL};
	char err[256];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	assert_true(null >= 0);
	assert_int_equal(
		vmm_proc_spawn_detached(p, argv, null, err, sizeof(err)), 0);
	assert_int_equal(vmm_proc_release(p, err, sizeof(err)), 0);
	close(null);
}

static void vmm_end(struct vmm_proc *p)
{
	uint64_t now;

	vmm_proc_stop(p, 0, 0);
	/* init reaps it: until then /proc still shows it, bounded */
	for (int i = 0; i < 3000 && proc_start_time(p->pid, &now) == 0 &&
			now == p->start_time;
	     i++)
		pause_ms(1);
}

static void row_vmm(struct state *st, const char *id, const struct vmm_proc *p)
{
	struct state_update u = {.status = STATE_SB_RUNNING,
				 .vmm_pid = p->pid,
				 .vmm_start = p->start_time};
	char err[256];

	if (state_sandbox_transition(st, id, STATE_SB_RUNNING, &u, err,
				     sizeof(err)))
		fail_msg("%s", err);
}

/*
 * A handle on a persistent sandbox follows it: after a rollback (another
 * VMM, the old connections dead) its next call finds the new VMM through
 * the sandbox's record and connects again; once the VMM died, calls say
 * the sandbox is dead and how to start it.
 */
static void test_follow_rollback(void **state)
{
	struct state_new n = {
		.name = "roll",
		.config = "{}",
	};
	struct state_update u = {.status = STATE_SB_RUNNING};
	char top[64] = "/tmp/kiln-test-sbagent-XXXXXX", db[128], err[256];
	struct kiln_sandbox *persist;
	struct kiln_sandbox_info info;
	struct state_sandbox row;
	struct vsock_fake vs;
	struct vmm_proc a, b;
	struct kiln_options o;
	struct state *st;
	char *dir;

	assert_non_null(mkdtemp(top));
	snprintf(db, sizeof(db), "%s/state.db", top);
	assert_int_equal(state_open(db, &st, err, sizeof(err)), 0);
	n.runtime_base = top;
	assert_int_equal(state_sandbox_create(st, &n, &row, err, sizeof(err)),
			 0);
	assert_int_equal(rundir_create(top, row.id, &dir, err, sizeof(err)), 0);
	vmm_detached(&a);
	u.vmm_pid = a.pid;
	u.vmm_start = a.start_time;
	assert_int_equal(state_sandbox_transition(st, row.id, STATE_SB_CREATING,
						  &u, err, sizeof(err)),
			 0);
	vsock_fake_start(&vs, dir);

	/* the test's own handle: sb (attached) is not used here */
	kiln_sandbox_destroy(sb);
	kiln_close(k);
	kiln_options_init(&o);
	o.cache_dir = o.state_dir = o.runtime_dir = top;
	o.hooks_file = "";
	o.boot_timeout_ms = 2000;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	assert_int_equal(kiln_sandbox_open(k, "roll", &persist), KILN_OK);
	sb = persist;
	assert_echo("before");

	/* rolled back: the old VMM is gone, a new one runs the agent */
	vmm_end(&a);
	vmm_detached(&b);
	row_vmm(st, row.id, &b);
	agent_restart();
	assert_echo("after");
	assert_int_equal(sb->opened_pid, b.pid);

	/* the VMM dies (its connections with it) */
	vmm_end(&b);
	agent_restart();
	assert_int_equal(run((const char *const[]){"true", NULL}, NULL, NULL,
			     &(struct buf){0}),
			 KILN_EVMM);
	assert_non_null(strstr(kiln_errmsg(k), "is dead"));
	assert_non_null(strstr(kiln_errmsg(k), "kiln start"));
	assert_int_equal(kiln_sandbox_get(k, "roll", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_DEAD);
	kiln_sandbox_info_clear(&info);

	kiln_sandbox_close(sb);
	sb = NULL;
	vsock_fake_stop(&vs);
	assert_int_equal(kiln_sandbox_remove(k, "roll", 1), KILN_OK);
	state_sandbox_clear(&row);
	state_close(st);
	free(dir);
	snprintf(db, sizeof(db), "rm -rf %s", top);
	assert_int_equal(system(db), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reconnect_idle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_loss_during_exec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_then_exec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vm_stopped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_follow_rollback, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
