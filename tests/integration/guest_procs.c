/* SPDX-License-Identifier: MIT */
/*
 * Integration test of ps, kill and port forwarding on a real microVM:
 * ps lists a command started by exec with its exec id, kill by exec id
 * ends it with the signal sent, pid 1 is refused, and a host TCP port
 * forwarded to busybox httpd in the guest serves a small and a 4 MiB
 * file intact; 200 sequential and 32 concurrent execs, a shell on a
 * terminal driven by a script (resize, exit status), and detached
 * commands attached to while running and after they ended; a cancelled
 * exec and a rollback under an open handle, after which the handle's next
 * call connects again (issue #4).  (Every
 * sandbox starts restored from the base snapshot, so all of this also
 * runs after a snapshot restore.)  Prints one "PASS: name" / "FAIL: name: why"
 * line per check; exit status 1 if any failed.
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc tests/integration/guest_procs.c
 * \ build/libkiln.a -ljansson -lsqlite3 -larchive -lmnl -lnftables \
 *   -lpthread -ldl
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/sandbox.h"

#define BIG (4u << 20)

static int failed;

static void check(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failed = 1;
	}
	fflush(stdout);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sh(struct kiln_sandbox *sb, const char *script)
{
	const char *const argv[] = {"sh", "-c", script, NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.timeout_ms = 120000;
	return kiln_sandbox_exec(sb, &ex, &res) == KILN_OK ? res.exit_code : -1;
}

/* `sleep 600` on its own agent connection, in a thread. */
struct sleeper {
	const char *uds;
	struct agent_exec_result res;
	int rc;
	char err[256];
};

static void *sleeper_run(void *arg)
{
	static const char *const argv[] = {"sleep", "600", NULL};
	struct sleeper *s = arg;
	struct agent_exec_opts o = {.argv = argv, .wait_timeout_ms = 300000};
	struct agent_client *c;
	struct agent_exec_io io;

	s->rc = agent_client_connect_vsock(s->uds, 1024, 60000, 60000, -1, &c,
					   s->err, sizeof(s->err));
	if (s->rc)
		return NULL;
	agent_exec_io_init(&io);
	s->rc = agent_client_exec(c, &o, &io, &s->res, s->err, sizeof(s->err));
	agent_client_close(c);
	return NULL;
}

struct fwd {
	struct kiln_sandbox *sb;
	int cancel[2];
	int ready[2];
	int rc;
};

static void fwd_ready(void *ctx, const char *addr, int port)
{
	struct fwd *f = ctx;

	(void)addr;
	if (write(f->ready[1], &port, sizeof(port)) != sizeof(port))
		f->rc = -100;
}

static void fwd_event(void *ctx, const char *line)
{
	(void)ctx;
	printf("  port-forward: %s\n", line);
	fflush(stdout);
}

static void *fwd_run(void *arg)
{
	struct fwd *f = arg;
	struct kiln_port_forward pf = {.host_port = 0,
				       .guest_port = 8080,
				       .cancel_fd = f->cancel[0],
				       .on_ready = fwd_ready,
				       .on_event = fwd_event,
				       .ctx = f};

	f->rc = kiln_sandbox_port_forward(f->sb, &pf);
	return NULL;
}

/* GET path through 127.0.0.1:port; the body in *body (malloc'ed). */
static long http_get(int port, const char *path, uint8_t **body)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	size_t cap = BIG + 65536, len = 0;
	uint8_t *buf = malloc(cap + 1);
	char req[256];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint8_t *hdr_end;
	long n;

	*body = NULL;
	if (!buf || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		free(buf);
		return -1;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 60000) != 1)
			break;
		r = read(fd, buf + len, cap - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == cap)
			break;
	}
	close(fd);
	buf[len] = 0;
	hdr_end = (uint8_t *)strstr((char *)buf, "\r\n\r\n");
	if (!hdr_end || strncmp((char *)buf, "HTTP/1.", 7) ||
	    !strstr((char *)buf, " 200 ")) {
		free(buf);
		return len ? -2 : -1;
	}
	hdr_end += 4;
	n = (long)(len - (size_t)(hdr_end - buf));
	memmove(buf, hdr_end, (size_t)n);
	*body = buf;
	return n;
}

static void test_ps_kill(struct kiln_sandbox *sb)
{
	struct sleeper s = {.uds = sb->uds_path};
	struct kiln_process *list = NULL, *p = NULL;
	int64_t deadline = now_ms() + 60000;
	pthread_t t;
	size_t n = 0;
	int rc;

	pthread_create(&t, NULL, sleeper_run, &s);
	while (!p && now_ms() < deadline) {
		free(list);
		list = NULL;
		rc = kiln_sandbox_ps(sb, &list, &n);
		if (rc)
			break;
		for (size_t i = 0; i < n && !p; i++)
			if (!strcmp(list[i].cmdline, "sleep 600"))
				p = &list[i];
		if (!p)
			poll(NULL, 0, 50);
	}
	check("ps_exec",
	      p && p->exec_id > 0 && p->exec_conn > 0 && p->exec_leader &&
		      p->ppid == 1,
	      "no 'sleep 600' with an exec id in ps (%s)", kiln_errmsg(sb->k));
	for (size_t i = 0; i < n; i++)
		if (list[i].pid == 1)
			check("ps_init",
			      list[i].exec_id == 0 &&
				      strstr(list[i].cmdline, "kiln-agent"),
			      "pid 1: '%s'", list[i].cmdline);
	rc = kiln_sandbox_kill(sb, 1, 0, 0, SIGKILL);
	check("kill_pid1_refused",
	      rc == KILN_EGUEST && strstr(kiln_errmsg(sb->k), "pid 1"),
	      "rc %d: %s", rc, kiln_errmsg(sb->k));
	rc = p ? kiln_sandbox_kill(sb, 0, p->exec_id, p->exec_conn, SIGTERM)
	       : -1;
	pthread_join(t, NULL);
	check("kill_exec",
	      rc == KILN_OK && s.rc == 0 && s.res.signaled &&
		      s.res.term_signal == SIGTERM,
	      "kill rc %d, exec rc %d (%s), signal %d", rc, s.rc, s.err,
	      s.res.term_signal);
	rc = kiln_sandbox_kill(sb, 99999, 0, 0, SIGTERM);
	check("kill_no_such_process", rc == KILN_ENOTFOUND, "rc %d: %s", rc,
	      kiln_errmsg(sb->k));
	free(list);
}

static void test_port_forward(struct kiln_sandbox *sb)
{
	struct fwd f = {.sb = sb};
	int64_t deadline;
	uint8_t *body = NULL, *want;
	long n = -1;
	int port = 0, mfd;
	uint64_t size = 0;
	pthread_t t;

	if (sh(sb, "mkdir -p /tmp/www && echo hello-forward > "
		   "/tmp/www/hello.txt && dd if=/dev/urandom "
		   "of=/tmp/www/big bs=1M count=4 2>/dev/null && "
		   "httpd -p 8080 -h /tmp/www") != 0) {
		check("forward_setup", false, "starting httpd failed");
		return;
	}
	if (pipe(f.cancel) || pipe(f.ready))
		return;
	pthread_create(&t, NULL, fwd_run, &f);
	if (read(f.ready[0], &port, sizeof(port)) != sizeof(port))
		port = 0;
	check("forward_listen", port > 0, "no port (rc %d)", f.rc);
	/* httpd may still be starting: retry refused connections a while */
	deadline = now_ms() + 30000;
	while (port > 0 && now_ms() < deadline) {
		n = http_get(port, "/hello.txt", &body);
		if (n >= 0)
			break;
		poll(NULL, 0, 100);
	}
	check("forward_small",
	      n == 14 && body && !memcmp(body, "hello-forward\n", 14),
	      "got %ld bytes", n);
	free(body);
	n = port > 0 ? http_get(port, "/big", &body) : -1;
	mfd = memfd_create("big", 0);
	want = NULL;
	if (mfd >= 0 &&
	    kiln_sandbox_copy_from_guest(sb, "/tmp/www/big", mfd, &size) ==
		    KILN_OK &&
	    size == BIG) {
		want = malloc(BIG);
		if (want && pread(mfd, want, BIG, 0) != (ssize_t)BIG) {
			free(want);
			want = NULL;
		}
	}
	check("forward_4mib",
	      n == (long)BIG && want && body && !memcmp(body, want, BIG),
	      "got %ld bytes (want %u)", n, BIG);
	free(body);
	free(want);
	if (mfd >= 0)
		close(mfd);
	if (write(f.cancel[1], "x", 1) != 1)
		return;
	pthread_join(t, NULL);
	check("forward_stop", f.rc == KILN_OK, "rc %d: %s", f.rc,
	      kiln_errmsg(sb->k));
}

/* ---- exec at scale, terminals, detach/attach ---------------------------- */

struct sbuf {
	char buf[8192];
	size_t len;
};

static int sbuf_add(void *ctx, const void *b, size_t n)
{
	struct sbuf *o = ctx;

	if (n > sizeof(o->buf) - 1 - o->len)
		n = sizeof(o->buf) - 1 - o->len;
	memcpy(o->buf + o->len, b, n);
	o->len += n;
	o->buf[o->len] = 0;
	return 0;
}

/* 200 execs one after the other on one sandbox, each with its output. */
static void test_exec_sequential(struct kiln_sandbox *sb)
{
	int64_t t0 = now_ms();
	int i, rc = 0, bad = -1;
	char arg[16], want[20];
	struct kiln_exec_result res;
	struct sbuf o;

	for (i = 0; i < 200; i++) {
		const char *const argv[] = {"echo", arg, NULL};
		struct kiln_exec ex;

		snprintf(arg, sizeof(arg), "n%d", i);
		snprintf(want, sizeof(want), "n%d\n", i);
		memset(&o, 0, sizeof(o));
		kiln_exec_init(&ex);
		ex.argv = argv;
		ex.on_stdout = sbuf_add;
		ex.stdout_ctx = &o;
		ex.timeout_ms = 60000;
		rc = kiln_sandbox_exec(sb, &ex, &res);
		if (rc || res.exit_code != 0 || strcmp(o.buf, want)) {
			bad = i;
			break;
		}
	}
	check("exec_sequential_200", bad < 0,
	      "exec %d: rc %d exit %d output '%s' (%s)", bad, rc, res.exit_code,
	      o.buf, kiln_errmsg(sb->k));
	printf("  200 sequential execs: %lld ms\n", (long long)(now_ms() - t0));
}

/* One of 32 commands running at once, each on its own connection. */
struct conc {
	const char *uds;
	int idx;
	int in[2]; /* its stdin */
	int ready_fd; /* gets one byte once it printed "ready" */
	bool said_ready;
	struct sbuf out;
	struct agent_exec_result res;
	int rc;
	char err[256];
};

static int conc_out(void *ctx, const void *b, size_t n)
{
	struct conc *x = ctx;

	sbuf_add(&x->out, b, n);
	if (!x->said_ready && strstr(x->out.buf, "ready\n")) {
		x->said_ready = true;
		if (write(x->ready_fd, "r", 1) != 1)
			return 1;
	}
	return 0;
}

static void *conc_run(void *arg)
{
	static const char *const argv[] = {
		"sh", "-c", "echo ready; read x; echo \"$x-$0\"", "c", NULL};
	struct conc *x = arg;
	struct agent_exec_opts o = {.argv = argv, .wait_timeout_ms = 300000};
	struct agent_client *c;
	struct agent_exec_io io;

	x->rc = agent_client_connect_vsock(x->uds, 1024, 60000, 60000, -1, &c,
					   x->err, sizeof(x->err));
	if (x->rc) {
		if (write(x->ready_fd, "e", 1) != 1)
			x->rc = -100;
		return NULL;
	}
	agent_exec_io_init(&io);
	io.on_stdout = conc_out;
	io.stdout_ctx = x;
	io.stdin_fd = x->in[0];
	x->rc = agent_client_exec(c, &o, &io, &x->res, x->err, sizeof(x->err));
	if (!x->said_ready && write(x->ready_fd, "e", 1) != 1)
		x->rc = -100;
	agent_client_close(c);
	return NULL;
}

/*
 * 32 commands at once: each says "ready" and waits for its stdin; only
 * when all 32 run at the same time does the test feed them, so they
 * really overlap.
 */
static void test_exec_concurrent(struct kiln_sandbox *sb)
{
	enum { N = 32 };
	static struct conc x[N];
	pthread_t t[N];
	int ready[2], got = 0, failed = 0, bad = -1;
	char line[32], want[48], ch;

	if (pipe(ready))
		return;
	for (int i = 0; i < N; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].uds = sb->uds_path;
		x[i].idx = i;
		x[i].ready_fd = ready[1];
		if (pipe(x[i].in))
			return;
		pthread_create(&t[i], NULL, conc_run, &x[i]);
	}
	/* 'r': one runs; 'e': one failed (no use waiting for all then) */
	for (int64_t deadline = now_ms() + 240000;
	     got < N && !failed && now_ms() < deadline;) {
		struct pollfd p = {.fd = ready[0], .events = POLLIN};

		if (poll(&p, 1, 1000) == 1 && read(ready[0], &ch, 1) == 1) {
			if (ch == 'r')
				got++;
			else
				failed++;
		}
	}
	check("exec_concurrent_ready", got == N && !failed,
	      "only %d of %d commands were running at once (%d failed)", got, N,
	      failed);
	for (int i = 0; i < N; i++) {
		int n = snprintf(line, sizeof(line), "go%d\n", i);

		if (write(x[i].in[1], line, (size_t)n) != n)
			bad = i;
		close(x[i].in[1]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		snprintf(want, sizeof(want), "ready\ngo%d-c\n", i);
		if (bad < 0 && (x[i].rc || x[i].res.exit_code != 0 ||
				strcmp(x[i].out.buf, want)))
			bad = i;
		close(x[i].in[0]);
	}
	check("exec_concurrent_32", bad < 0,
	      "command %d: rc %d (%s) exit %d output '%s'", bad,
	      bad >= 0 ? x[bad].rc : 0, bad >= 0 ? x[bad].err : "",
	      bad >= 0 ? x[bad].res.exit_code : 0,
	      bad >= 0 ? x[bad].out.buf : "");
	close(ready[0]);
	close(ready[1]);
}

/*
 * A shell on a terminal driven like script(1): the window is resized to
 * 50 x 132 once it runs, then it gets "stty size; echo hi; exit 3".
 */
struct pty_ctx {
	int resize[2], in[2];
	int calls;
};

static int pty_resize(void *ctx, unsigned int *rows, unsigned int *cols)
{
	static const char script[] = "stty size; echo hi; exit 3\r";
	struct pty_ctx *p = ctx;
	char c;

	if (read(p->resize[0], &c, 1) != 1)
		return -1;
	p->calls++;
	*rows = 50;
	*cols = 132;
	/* after the resize request: the stdin is read in a later round */
	if (write(p->in[1], script, sizeof(script) - 1) !=
	    (ssize_t)sizeof(script) - 1)
		return -1;
	return 0;
}

static void test_pty_script(struct kiln_sandbox *sb)
{
	static const char *const argv[] = {"sh", NULL};
	struct pty_ctx p = {0};
	struct kiln_exec_result res;
	struct kiln_exec ex;
	struct sbuf o = {0};
	int rc;

	if (pipe(p.resize) || pipe(p.in))
		return;
	if (write(p.resize[1], "w", 1) != 1) /* sent once it started */
		return;
	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.tty = 1;
	ex.rows = 24;
	ex.cols = 80;
	ex.stdin_fd = p.in[0];
	ex.resize_fd = p.resize[0];
	ex.on_resize = pty_resize;
	ex.resize_ctx = &p;
	ex.on_stdout = sbuf_add;
	ex.stdout_ctx = &o;
	ex.timeout_ms = 120000;
	rc = kiln_sandbox_exec(sb, &ex, &res);
	check("pty_script",
	      rc == KILN_OK && res.exit_code == 3 && p.calls == 1 &&
		      strstr(o.buf, "50 132\r\n") && strstr(o.buf, "\nhi\r\n"),
	      "rc %d (%s) exit %d resizes %d output '%s'", rc,
	      kiln_errmsg(sb->k), res.exit_code, p.calls, o.buf);
	for (int i = 0; i < 2; i++) {
		close(p.resize[i]);
		close(p.in[i]);
	}
}

/* Detached commands: one that ends unattended, one fed on attach. */
static void test_detach_attach(struct kiln_sandbox *sb)
{
	static const char *const early_argv[] = {
		"sh", "-c", "echo early; echo warn >&2; exit 6", NULL};
	static const char *const wait_argv[] = {
		"sh", "-c", "echo one; read x; echo two-$x; exit 5", NULL};
	struct kiln_exec_result res;
	struct sbuf o = {0}, e = {0};
	struct kiln_exec ex;
	uint32_t s1 = 0, s2 = 0;
	int in[2], pid = 0, rc, rc2;
	uint64_t lost = 1;

	kiln_exec_init(&ex);
	ex.argv = early_argv;
	rc = kiln_sandbox_exec_detach(sb, &ex, &s1, &pid);
	ex.argv = wait_argv;
	ex.stdin_fd = 0; /* keep a stdin pipe for the attach */
	rc2 = kiln_sandbox_exec_detach(sb, &ex, &s2, &pid);
	check("detach_start",
	      rc == KILN_OK && rc2 == KILN_OK && s1 && s2 && s1 != s2 &&
		      pid > 1,
	      "rc %d/%d sessions %u/%u: %s", rc, rc2, s1, s2,
	      kiln_errmsg(sb->k));
	/* ps names the session of the waiting one (for kiln attach) */
	{
		struct kiln_process *list = NULL;
		uint32_t seen = 0;
		size_t n = 0;

		rc = kiln_sandbox_ps(sb, &list, &n);
		for (size_t i = 0; rc == KILN_OK && i < n; i++)
			if (list[i].pid == pid)
				seen = list[i].session;
		check("ps_session", rc == KILN_OK && seen == s2,
		      "rc %d: pid %d has session %u in ps, want %u (%s)", rc,
		      pid, seen, s2, kiln_errmsg(sb->k));
		free(list);
	}
	/* the second: attach with its stdin, get everything */
	if (pipe(in) || write(in[1], "x\n", 2) != 2)
		return;
	close(in[1]);
	kiln_exec_init(&ex);
	ex.on_stdout = sbuf_add;
	ex.stdout_ctx = &o;
	ex.stdin_fd = in[0];
	rc = kiln_sandbox_exec_attach(sb, s2, &ex, &res, &lost);
	close(in[0]);
	check("attach_running",
	      rc == KILN_OK && res.exit_code == 5 && lost == 0 &&
		      !strcmp(o.buf, "one\ntwo-x\n"),
	      "rc %d (%s) exit %d lost %llu output '%s'", rc,
	      kiln_errmsg(sb->k), res.exit_code, (unsigned long long)lost,
	      o.buf);
	/* the first ended long ago: output and status were kept */
	memset(&o, 0, sizeof(o));
	kiln_exec_init(&ex);
	ex.on_stdout = sbuf_add;
	ex.stdout_ctx = &o;
	ex.on_stderr = sbuf_add;
	ex.stderr_ctx = &e;
	rc = kiln_sandbox_exec_attach(sb, s1, &ex, &res, NULL);
	check("attach_ended",
	      rc == KILN_OK && res.exit_code == 6 &&
		      !strcmp(o.buf, "early\n") && !strcmp(e.buf, "warn\n"),
	      "rc %d (%s) exit %d out '%s' err '%s'", rc, kiln_errmsg(sb->k),
	      res.exit_code, o.buf, e.buf);
	rc = kiln_sandbox_exec_attach(sb, s1, &ex, &res, NULL);
	check("attach_collected", rc == KILN_ENOTFOUND, "rc %d: %s", rc,
	      kiln_errmsg(sb->k));
}

static int stop_output(void *ctx, const void *b, size_t n)
{
	sbuf_add(ctx, b, n);
	return 1;
}

/* An exec cancelled by its callback kills the command; the sandbox takes
 * the next exec on a fresh connection. */
static void test_cancel_reconnect(struct kiln_sandbox *sb)
{
	const char *const argv[] = {"sh", "-c", "echo $$; exec sleep 60", NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;
	struct sbuf o = {0};
	int rc, rc2;
	char ps[160];

	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = stop_output;
	ex.stdout_ctx = &o;
	rc = kiln_sandbox_exec(sb, &ex, &res);
	/* gone (the agent kills it): polled in a fresh exec, new connection */
	snprintf(ps, sizeof(ps),
		 "i=0; while kill -0 %d 2>/dev/null; do i=$((i+1)); "
		 "[ $i -lt 20 ] || exit 1; sleep 1; done",
		 atoi(o.buf));
	rc2 = sh(sb, ps);
	check("exec_cancel_reconnect", rc == KILN_ECANCELED && rc2 == 0,
	      "cancel rc %d, next exec %d: %s", rc, rc2, kiln_errmsg(sb->k));
}

/*
 * Issue #4: a handle on a persistent sandbox outlives a rollback of it.
 * A checkpoint leaves its connection alone; the rollback replaces the
 * VMM (and with it the connection); the handle's next call finds the new
 * VMM through the sandbox's record and connects again.
 */
static void test_rollback_reconnect(void)
{
	const char *const argv[] = {"cat", "/root/f", NULL};
	struct kiln_sandbox_config cfg = {.persistent = 1};
	char dir[] = "/tmp/kiln-procs-XXXXXX", cmd[64];
	struct kiln_exec_result res;
	struct kiln_options opts;
	struct kiln_sandbox *sb;
	struct sbuf o = {0};
	struct kiln_exec ex;
	struct kiln *k;
	int rc, rc1, rc2, rc3;

	if (!mkdtemp(dir)) {
		check("rollback_reconnect", false, "mkdtemp: %s",
		      strerror(errno));
		return;
	}
	kiln_options_init(&opts);
	opts.state_dir = dir;
	if (kiln_open(&opts, &k) != KILN_OK) {
		check("rollback_reconnect", false, "kiln_open failed");
		return;
	}
	rc = kiln_sandbox_create(k, &cfg, &sb);
	if (rc) {
		check("rollback_reconnect", false, "create: %s",
		      kiln_errmsg(k));
		kiln_close(k);
		return;
	}
	rc1 = sh(sb, "echo old >/root/f");
	rc2 = kiln_checkpoint_create(k, kiln_sandbox_id(sb), "c1");
	rc3 = sh(sb, "echo new >/root/f");
	check("checkpoint_keeps_connection", rc1 == 0 && rc2 == 0 && rc3 == 0,
	      "write %d, checkpoint %d, write %d: %s", rc1, rc2, rc3,
	      kiln_errmsg(k));
	rc1 = kiln_checkpoint_rollback(k, kiln_sandbox_id(sb), "c1", NULL,
				       NULL);
	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = sbuf_add;
	ex.stdout_ctx = &o;
	rc2 = rc1 ? rc1 : kiln_sandbox_exec(sb, &ex, &res);
	check("rollback_reconnect",
	      rc1 == KILN_OK && rc2 == KILN_OK && !strcmp(o.buf, "old\n"),
	      "rollback %d, exec on the same handle %d: %s, output '%s'", rc1,
	      rc2, kiln_errmsg(k), o.buf);
	rc = kiln_sandbox_destroy(sb);
	check("rollback_destroy", rc == KILN_OK, "%s", kiln_errmsg(k));
	kiln_close(k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	struct kiln_sandbox_config cfg = {0};
	struct kiln_sandbox *sb;
	struct kiln_options opts;
	struct kiln *k;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	kiln_options_init(&opts);
	if (kiln_open(&opts, &k) != KILN_OK) {
		check("procs_boot", false, "kiln_open failed");
		return 1;
	}
	rc = kiln_sandbox_create(k, &cfg, &sb);
	check("procs_boot", rc == KILN_OK, "%s", kiln_errmsg(k));
	if (rc) {
		kiln_close(k);
		return 1;
	}
	test_ps_kill(sb);
	test_port_forward(sb);
	test_exec_sequential(sb);
	test_exec_concurrent(sb);
	test_pty_script(sb);
	test_detach_attach(sb);
	test_cancel_reconnect(sb);
	rc = kiln_sandbox_destroy(sb);
	check("procs_destroy", rc == KILN_OK, "%s", kiln_errmsg(k));
	kiln_close(k);
	test_rollback_reconnect();
	return failed;
}
