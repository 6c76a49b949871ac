/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent's forward op and the host's port_forward_run() (see
 * agent_harness.h for how the agent runs).  The agent runs on the host
 * here, so the "guest" TCP servers are test servers on 127.0.0.1, each in
 * a child process: echo (echoes, then half-closes when the client did),
 * count (reads to EOF, then answers "got N"), source (sends a pattern of
 * SOURCE_BYTES, counting what the kernel accepted in shared memory).
 * port_forward_run() is tested end to end through a stand-in for the
 * VMM's vsock socket (CONNECT 1024, then a relay to the agent's socket,
 * half-closes passed on), one process per connection.
 */
#include "agent_harness.h"
#include "agent_raw.h"

#include <netinet/in.h>
#include <sys/mman.h>

#include "lib/port_forward.h"

#define SOURCE_BYTES (64u << 20)

enum srv_mode { SRV_ECHO, SRV_COUNT, SRV_SOURCE };

static int echo_port, count_port, source_port;
static pid_t srv_pids[3];
static volatile uint64_t *source_sent; /* shared with the source server */

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i % 251 + (i >> 16));
}

static bool write_all(int fd, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const uint8_t *)buf + off, len - off,
				 MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static void srv_conn(int fd, enum srv_mode mode)
{
	static uint8_t buf[65536];
	uint64_t total = 0;
	ssize_t n;
	char msg[64];

	switch (mode) {
	case SRV_ECHO:
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			if (!write_all(fd, buf, (size_t)n))
				return;
		shutdown(fd, SHUT_WR);
		/* wait for the other side to finish too */
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		return;
	case SRV_COUNT:
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			total += (uint64_t)n;
		snprintf(msg, sizeof(msg), "got %llu\n",
			 (unsigned long long)total);
		write_all(fd, msg, strlen(msg));
		return;
	case SRV_SOURCE:
		while (total < SOURCE_BYTES) {
			size_t len = sizeof(buf);

			for (size_t i = 0; i < len; i++)
				buf[i] = pattern(total + i);
			n = send(fd, buf, len, MSG_NOSIGNAL);
			if (n <= 0)
				return;
			total += (uint64_t)n;
			/* the pattern is by offset: a short send is fine */
			*source_sent = total;
		}
		return;
	}
}

static void __attribute__((noreturn)) srv_main(int lfd, enum srv_mode mode)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0)
			_exit(1);
		pid = fork();
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(lfd);
			srv_conn(fd, mode);
			close(fd);
			_exit(0);
		}
		close(fd);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

/* A listening socket on 127.0.0.1 and its port (0: bound, not listening). */
static int tcp_socket(int *port, bool do_listen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static pid_t srv_start(enum srv_mode mode, int *port)
{
	int lfd = tcp_socket(port, true);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		srv_main(lfd, mode);
	close(lfd);
	return pid;
}

static int fwd_setup(void **state)
{
	source_sent = mmap(NULL, sizeof(*source_sent), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (source_sent == MAP_FAILED)
		return -1;
	srv_pids[0] = srv_start(SRV_ECHO, &echo_port);
	srv_pids[1] = srv_start(SRV_COUNT, &count_port);
	srv_pids[2] = srv_start(SRV_SOURCE, &source_port);
	return group_setup(state);
}

static int fwd_teardown(void **state)
{
	for (int i = 0; i < 3; i++) {
		kill(srv_pids[i], SIGKILL);
		waitpid(srv_pids[i], NULL, 0);
	}
	return group_teardown(state);
}

/* ---- a byte-stream session over one socket ------------------------------ */

struct sess {
	int fd;
	const uint8_t *tx;
	size_t tx_len, tx_off;
	bool shut; /* tx done and SHUT_WR sent */
	uint8_t *rx;
	size_t rx_len, rx_cap;
	bool eof;
};

/* Run sessions until every one has sent all and seen EOF. */
static void sess_run(struct sess *s, size_t n)
{
	int64_t deadline = now_ms() + DEADLINE_MS * 2;
	struct pollfd *p = calloc(n, sizeof(*p));

	assert_non_null(p);
	for (;;) {
		size_t active = 0;

		for (size_t i = 0; i < n; i++) {
			short ev = 0;

			if (!s[i].shut && s[i].tx_off == s[i].tx_len) {
				shutdown(s[i].fd, SHUT_WR);
				s[i].shut = true;
			}
			if (!s[i].shut)
				ev |= POLLOUT;
			if (!s[i].eof)
				ev |= POLLIN;
			p[i] = (struct pollfd){.fd = ev ? s[i].fd : -1,
					       .events = ev};
			active += ev != 0;
		}
		if (!active)
			break;
		if (now_ms() > deadline)
			fail_msg("sessions did not finish in time");
		assert_true(poll(p, n, 1000) >= 0);
		for (size_t i = 0; i < n; i++) {
			ssize_t r;

			if (p[i].revents & POLLOUT) {
				r = send(s[i].fd, s[i].tx + s[i].tx_off,
					 s[i].tx_len - s[i].tx_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
				assert_true(r > 0 || errno == EAGAIN);
				if (r > 0)
					s[i].tx_off += (size_t)r;
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				uint8_t extra;

				/* Full: only EOF may come (read 1 to see). */
				r = s[i].rx_len == s[i].rx_cap
					    ? recv(s[i].fd, &extra, 1,
						   MSG_DONTWAIT)
					    : recv(s[i].fd,
						   s[i].rx + s[i].rx_len,
						   s[i].rx_cap - s[i].rx_len,
						   MSG_DONTWAIT);
				if (r > 0 && s[i].rx_len == s[i].rx_cap)
					fail_msg("session %zu: more bytes than "
						 "expected",
						 i);
				if (r == 0)
					s[i].eof = true;
				else if (r > 0)
					s[i].rx_len += (size_t)r;
				else
					assert_true(errno == EAGAIN);
			}
		}
	}
	free(p);
}

/* A forward connection to port; early bytes from the agent go to s->rx. */
static void fwd_open(struct raw *r, int port, struct sess *s)
{
	char req[128];

	raw_open(r, true);
	snprintf(req, sizeof(req), "{\"op\":\"forward\",\"port\":%d}", port);
	raw_ctl(r, 2, req);
	json_decref(raw_expect(r, 2, "result", NULL));
	s->fd = r->fd;
	/* bytes after the reply are the stream's first */
	memcpy(s->rx, r->in + r->off, r->len - r->off);
	s->rx_len = r->len - r->off;
	r->off = r->len;
}

static uint8_t *random_bytes(size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(rand() >> 7);
	return b;
}

static void test_forward_echo_4mib(void **state)
{
	size_t len = 4u << 20;
	uint8_t *tx = random_bytes(len), *rx = malloc(len);
	struct sess s = {.tx = tx, .tx_len = len, .rx = rx, .rx_cap = len};
	struct raw r;

	assert_non_null(rx);
	fwd_open(&r, echo_port, &s);
	sess_run(&s, 1);
	assert_int_equal(s.rx_len, len);
	assert_memory_equal(rx, tx, len);
	raw_close(&r);
	free(tx);
	free(rx);
}

/* Our half-close reaches the guest server, its answer still comes back. */
static void test_forward_half_close(void **state)
{
	uint8_t *tx = random_bytes(100000), rx[64];
	struct sess s = {.tx = tx, .tx_len = 100000, .rx = rx, .rx_cap = 63};
	struct raw r;

	fwd_open(&r, count_port, &s);
	sess_run(&s, 1);
	rx[s.rx_len] = 0;
	assert_string_equal((char *)rx, "got 100000\n");
	raw_close(&r);
	free(tx);
}

/* Bytes sent right behind the request, before the reply, are kept. */
static void test_forward_early_bytes(void **state)
{
	static const char early[] = "early bird";
	uint8_t frame[256], rx[64];
	struct sess s = {.rx = rx, .rx_cap = sizeof(rx)};
	char req[128];
	struct raw r;
	int n;

	raw_open(&r, true);
	n = snprintf(req, sizeof(req), "{\"op\":\"forward\",\"port\":%d}",
		     echo_port);
	proto_hdr_encode(frame, PROTO_CONTROL, 9, (uint32_t)n);
	memcpy(frame + PROTO_HDR_SIZE, req, (size_t)n);
	memcpy(frame + PROTO_HDR_SIZE + n, early, strlen(early));
	assert_true(write_all(r.fd, frame,
			      PROTO_HDR_SIZE + (size_t)n + strlen(early)));
	json_decref(raw_expect(&r, 9, "result", NULL));
	s.fd = r.fd;
	memcpy(rx, r.in + r.off, r.len - r.off);
	s.rx_len = r.len - r.off;
	sess_run(&s, 1);
	assert_int_equal(s.rx_len, strlen(early));
	assert_memory_equal(rx, early, strlen(early));
	raw_close(&r);
}

static int closed_port(void)
{
	int port, fd = tcp_socket(&port, false);

	close(fd); /* bound, never listened, closed: refused */
	return port;
}

static void test_forward_refused(void **state)
{
	struct agent_client *c = client_connect();
	char req[128], err[256];
	uint8_t *early;
	size_t elen;
	struct raw r;
	int port = closed_port(), fd;

	raw_open(&r, true);
	snprintf(req, sizeof(req), "{\"op\":\"forward\",\"port\":%d}", port);
	raw_ctl(&r, 2, req);
	raw_expect_free(&r, 2, "error", PROTO_E_CONN_REFUSED);
	assert_false(raw_next(&r)); /* and the agent hangs up */
	raw_close(&r);
	/* the client API says "not found" */
	assert_int_equal(agent_client_forward(c, NULL, (unsigned int)port, 5000,
					      &fd, &early, &elen, err,
					      sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "connection_refused"));
	agent_client_close(c);
	/* the agent goes on */
	c = client_connect();
	assert_int_equal(agent_client_ping(c, 5000, NULL, err, sizeof(err)), 0);
	agent_client_close(c);
}

static void test_forward_client_api(void **state)
{
	struct agent_client *c = client_connect();
	size_t len = 300000, elen;
	uint8_t *tx = random_bytes(len), *rx = malloc(len + 1), *early;
	struct sess s = {.tx = tx, .tx_len = len, .rx = rx, .rx_cap = len};
	char err[256];

	assert_int_equal(agent_client_forward(
				 c, "127.0.0.1", (unsigned int)echo_port, 5000,
				 &s.fd, &early, &elen, err, sizeof(err)),
			 0);
	assert_int_equal(elen, 0);
	free(early);
	sess_run(&s, 1);
	assert_int_equal(s.rx_len, len);
	assert_memory_equal(rx, tx, len);
	close(s.fd);
	free(tx);
	free(rx);
}

static void test_forward_concurrent(void **state)
{
	enum { N = 40, LEN = 512 * 1024 };
	struct sess s[N];
	struct raw r[N];
	uint8_t *tx = random_bytes(N * LEN), *rx = malloc(N * LEN);

	assert_non_null(rx);
	for (int i = 0; i < N; i++) {
		s[i] = (struct sess){.tx = tx + i * LEN,
				     .tx_len = LEN,
				     .rx = rx + i * LEN,
				     .rx_cap = LEN};
		fwd_open(&r[i], echo_port, &s[i]);
	}
	sess_run(s, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].rx_len, LEN);
		raw_close(&r[i]);
	}
	assert_memory_equal(rx, tx, N * LEN);
	free(tx);
	free(rx);
}

static long agent_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)agent_pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * A reader that does not read: the agent stops reading the guest side once
 * its buffer is full, the guest server blocks, the agent's memory stays
 * bounded; then everything arrives intact.
 */
static void test_forward_backpressure(void **state)
{
	uint8_t *rx = malloc(SOURCE_BYTES);
	struct sess s = {.rx = rx, .rx_cap = SOURCE_BYTES};
	long rss0 = agent_rss_kib(), rss1;
	int64_t deadline = now_ms() + DEADLINE_MS, stable_since;
	uint64_t last;
	struct raw r;

	assert_non_null(rx);
	*source_sent = 0;
	fwd_open(&r, source_port, &s);
	/* Wait until the source is stuck (no progress for 300 ms). */
	last = *source_sent;
	stable_since = now_ms();
	while (now_ms() - stable_since < 300) {
		if (now_ms() > deadline)
			fail_msg("the source never blocked");
		pause_ms(20);
		if (*source_sent != last) {
			last = *source_sent;
			stable_since = now_ms();
		}
	}
	assert_true(last < SOURCE_BYTES / 2);
	rss1 = agent_rss_kib();
	/* two 128 KiB buffers, plus slack for the allocator */
	assert_true(rss1 - rss0 < 8 * 1024);
	sess_run(&s, 1);
	assert_int_equal(s.rx_len, SOURCE_BYTES);
	for (size_t i = 0; i < SOURCE_BYTES; i++)
		if (rx[i] != pattern(i))
			fail_msg("byte %zu differs", i);
	raw_close(&r);
	free(rx);
}

static void test_forward_malformed(void **state)
{
	static const char *const bad[] = {
		"{\"op\":\"forward\"}",
		"{\"op\":\"forward\",\"port\":0}",
		"{\"op\":\"forward\",\"port\":65536}",
		"{\"op\":\"forward\",\"port\":\"80\"}",
		"{\"op\":\"forward\",\"port\":80,\"host\":\"localhost\"}",
		"{\"op\":\"forward\",\"port\":80,\"host\":\"\"}",
		"{\"op\":\"forward\",\"port\":80,\"host\":5}",
		"{\"op\":\"forward\",\"port\":80,\"extra\":1}",
	};
	struct raw r;

	raw_open(&r, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_ctl(&r, 10 + (uint32_t)i, bad[i]);
		raw_expect_free(&r, 10 + (uint32_t)i, "error", PROTO_E_INVALID);
	}
	/* not while a command runs on the connection */
	raw_ctl(&r, 30, "{\"op\":\"exec\",\"argv\":[\"sleep\",\"30\"]}");
	raw_expect_free(&r, 30, "started", NULL);
	raw_ctl(&r, 31, "{\"op\":\"forward\",\"port\":80}");
	raw_expect_free(&r, 31, "error", PROTO_E_INVALID);
	raw_ctl(&r, 32, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 32, "result", NULL);
	raw_close(&r);
	/* hello first */
	raw_open(&r, false);
	raw_ctl(&r, 2, "{\"op\":\"forward\",\"port\":80}");
	raw_expect_free(&r, 2, "error", PROTO_E_HELLO);
	raw_close(&r);
}

/* ---- port_forward_run() through a stand-in VMM ----------------------------
 */

/* Relay a <-> b passing half-closes on, until both directions ended. */
static void relay_halfclose(int a, int b)
{
	uint8_t buf[65536];
	bool eof[2] = {false, false};

	while (!eof[0] || !eof[1]) {
		struct pollfd p[2] = {
			{.fd = eof[0] ? -1 : a, .events = POLLIN},
			{.fd = eof[1] ? -1 : b, .events = POLLIN}};

		if (poll(p, 2, -1) < 0)
			return;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0)
				return;
			if (n == 0) {
				eof[i] = true;
				shutdown(i ? a : b, SHUT_WR);
				continue;
			}
			if (!write_all(i ? a : b, buf, (size_t)n))
				return;
		}
	}
}

static void __attribute__((noreturn)) fake_vmm(int lfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			_exit(1);
		if (fork() == 0) {
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			char line[64];
			size_t len = 0;
			int a;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			while (len < sizeof(line) - 1 &&
			       read(c, line + len, 1) == 1 && line[len] != '\n')
				len++;
			line[len] = 0;
			if (strcmp(line, "CONNECT 1024") != 0)
				_exit(1);
			memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
			a = socket(AF_UNIX, SOCK_STREAM, 0);
			if (connect(a, (struct sockaddr *)&sa, sizeof(sa)) ||
			    !write_all(c, "OK 1073741824\n", 14))
				_exit(1);
			relay_halfclose(c, a);
			_exit(0);
		}
		close(c);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

struct pf_child {
	int port_pipe;
	FILE *log;
};

static void pf_on_listening(void *ctx, const char *addr, int port)
{
	struct pf_child *pc = ctx;

	assert_true(write(pc->port_pipe, &port, sizeof(port)) == sizeof(port));
}

static void pf_log_line(void *ctx, const char *line)
{
	struct pf_child *pc = ctx;

	fprintf(pc->log, "%s\n", line);
	fflush(pc->log);
}

static pid_t vmm_start(const char *uds)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t vmm;

	memcpy(sa.sun_path, uds, strlen(uds) + 1);
	unlink(uds);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	vmm = fork();
	assert_true(vmm >= 0);
	if (vmm == 0)
		fake_vmm(lfd);
	close(lfd);
	return vmm;
}

/* port_forward_run() in a child; returns its pid, *port is the host's. */
static pid_t pf_start(const char *uds, int guest_port, const char *logpath,
		      int cancel_fd, int *port)
{
	int portp[2];
	pid_t pf;

	assert_int_equal(pipe(portp), 0);
	pf = fork();
	assert_true(pf >= 0);
	if (pf == 0) {
		struct pf_child pc = {.port_pipe = portp[1],
				      .log = fopen(logpath, "w")};
		struct port_forward_hooks h = {.on_listening = pf_on_listening,
					       .log = pf_log_line,
					       .ctx = &pc};
		char err[256];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(port_forward_run(uds, "127.0.0.1", 0, guest_port,
				       cancel_fd, &h, err, sizeof(err)) == 0
			      ? 0
			      : 3);
	}
	assert_int_equal(read(portp[0], port, sizeof(*port)), sizeof(*port));
	assert_true(*port > 0);
	close(portp[0]);
	close(portp[1]);
	return pf;
}

static void pf_stop(pid_t pf, int cancel_w)
{
	int status;

	assert_int_equal(write(cancel_w, "x", 1), 1);
	assert_int_equal(waitpid(pf, &status, 0), pf);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void read_log(const char *path, char *text, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, len - 1, f);
	text[n] = 0;
	fclose(f);
	unlink(path);
}

static int tcp_connect(int port)
{
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	return fd;
}

static void test_port_forward_run(void **state)
{
	char uds[160], logpath[160], text[8192];
	int cancel[2], port = 0;
	pid_t vmm, pf;
	enum { N = 6, LEN = 1 << 20 };
	uint8_t *tx = random_bytes(N * LEN), *rx = malloc(N * LEN), b;
	struct sess s[N];

	snprintf(uds, sizeof(uds), "%s/vsock.sock", tmp_dir);
	snprintf(logpath, sizeof(logpath), "%s/pf.log", tmp_dir);
	vmm = vmm_start(uds);
	assert_int_equal(pipe(cancel), 0);
	pf = pf_start(uds, echo_port, logpath, cancel[0], &port);

	/* N clients at once, 1 MiB each way, half-closed */
	for (int i = 0; i < N; i++)
		s[i] = (struct sess){.fd = tcp_connect(port),
				     .tx = tx + i * LEN,
				     .tx_len = LEN,
				     .rx = rx + i * LEN,
				     .rx_cap = LEN};
	sess_run(s, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].rx_len, LEN);
		close(s[i].fd);
	}
	assert_memory_equal(rx, tx, N * LEN);
	pf_stop(pf, cancel[1]);
	read_log(logpath, text, sizeof(text));
	assert_non_null(strstr(text, "connection 1 from 127.0.0.1:"));
	assert_non_null(strstr(text, "forwarding to 127.0.0.1 port"));
	assert_non_null(strstr(text, "bytes to the guest"));
	close(cancel[0]);
	close(cancel[1]);

	/* a refused guest port: the client is hung up on, it is logged */
	assert_int_equal(pipe(cancel), 0);
	pf = pf_start(uds, closed_port(), logpath, cancel[0], &port);
	s[0].fd = tcp_connect(port);
	assert_int_equal(recv(s[0].fd, &b, 1, 0), 0);
	close(s[0].fd);
	pf_stop(pf, cancel[1]);
	read_log(logpath, text, sizeof(text));
	assert_non_null(strstr(text, "failed: forward: connection refused"));
	assert_non_null(strstr(text, "[connection_refused]"));
	close(cancel[0]);
	close(cancel[1]);

	/* no VMM listening on the socket: logged, the listener goes on */
	kill(vmm, SIGKILL);
	waitpid(vmm, NULL, 0);
	unlink(uds);
	assert_int_equal(pipe(cancel), 0);
	pf = pf_start(uds, echo_port, logpath, cancel[0], &port);
	s[0].fd = tcp_connect(port);
	assert_int_equal(recv(s[0].fd, &b, 1, 0), 0);
	close(s[0].fd);
	pf_stop(pf, cancel[1]);
	read_log(logpath, text, sizeof(text));
	assert_non_null(strstr(text, "is the sandbox running?"));
	close(cancel[0]);
	close(cancel[1]);
	free(tx);
	free(rx);
}

/* A refused guest port and a VMM socket nobody listens on are logged. */
static void test_port_forward_errors(void **state)
{
	char err[256];
	int cancel[2];

	assert_int_equal(pipe(cancel), 0);
	/* bad arguments and addresses fail at once */
	assert_int_equal(port_forward_run("/nonexistent", "localhost", 0, 80,
					  cancel[0], NULL, err, sizeof(err)),
			 AGENT_ERR_INVAL);
	assert_non_null(strstr(err, "numeric"));
	assert_int_equal(port_forward_run("/x", NULL, 0, 0, cancel[0], NULL,
					  err, sizeof(err)),
			 AGENT_ERR_INVAL);
	assert_int_equal(
		port_forward_run("/x", NULL, 0, 80, -1, NULL, err, sizeof(err)),
		AGENT_ERR_INVAL);
	/* the port is taken */
	int busy, bfd = tcp_socket(&busy, true);
	assert_int_equal(port_forward_run("/x", "127.0.0.1", busy, 80,
					  cancel[0], NULL, err, sizeof(err)),
			 AGENT_ERR_IO);
	assert_non_null(strstr(err, "Address already in use"));
	close(bfd);
	close(cancel[0]);
	close(cancel[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_echo_4mib),
		cmocka_unit_test(test_forward_half_close),
		cmocka_unit_test(test_forward_early_bytes),
		cmocka_unit_test(test_forward_refused),
		cmocka_unit_test(test_forward_client_api),
		cmocka_unit_test(test_forward_concurrent),
		cmocka_unit_test(test_forward_backpressure),
		cmocka_unit_test(test_forward_malformed),
		cmocka_unit_test(test_port_forward_run),
		cmocka_unit_test(test_port_forward_errors),
	};

	(void)buf_append;
	(void)assert_gone;
	return cmocka_run_group_tests(tests, fwd_setup, fwd_teardown);
}
