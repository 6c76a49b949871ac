/* SPDX-License-Identifier: MIT */
/*
 * The test host's side of bench/net.sh: TCP servers a guest connects to,
 * timed on the host's CLOCK_MONOTONIC (the guest's clock is not trusted:
 * on a PVM host its timers were seen to drift after a restore,
 * docs/NETWORK.md).  One JSON line on stdout per event:
 *
 *   net_peer ADDR SINK_PORT ACCEPT_PORT ECHO_PORT SINK_BYTES ECHO_ROUNDS
 *            SINK_SECONDS
 *
 * sink: reads one connection until EOF, SINK_BYTES arrived, or
 *   SINK_SECONDS passed since the accept (then it closes it: a slow
 *   guest's transfer is measured for a bounded time):
 *   {"type":"sink","bytes":N,"end":"eof|bytes|time|error",
 *    "accept_to_last_s":S,"first_to_last_s":S,"mbit_per_s":R,
 *    "mbit_per_s_from_accept":A}
 *   R = the rate while data flowed: the bytes after the first read over
 *   the time from the first read to the last (the guest's process start
 *   before its first write is not the network's); A = all bytes over
 *   accept_to_last_s; H ("mbit_per_s_2nd_half") = the rate over the second
 *   half of [first read, last read], past a rate limit's initial burst.
 * accept: accepts and closes at once:
 *   {"type":"accept","t_ns":T,"handshake_rtt_us":U}
 *   U = the kernel's RTT sample of the handshake (TCP_INFO tcpi_rtt:
 *   SYN-ACK sent -> the guest's ACK), the set-up latency the host saw.
 * echo: sends 1 byte ECHO_ROUNDS times, each once the previous came back
 *   (the guest runs `nc -e cat`): {"type":"echo","rounds":N,"rtt_us":[...]}
 *
 * Runs until SIGTERM/SIGINT.  One connection is served at a time (the
 * script runs one guest command at a time); every read has a 30 s
 * deadline, so a stuck guest cannot hang it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 30

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int listen_on(const char *addr, const char *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char *end;
	long p = strtol(port, &end, 10);
	int one = 1, fd;

	if (*end || p < 1 || p > 65535 ||
	    inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "net_peer: bad address %s:%s\n", addr, port);
		exit(2);
	}
	sa.sin_port = htons((uint16_t)p);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		fprintf(stderr, "net_peer: cannot listen on %s:%s: %s\n", addr,
			port, strerror(errno));
		exit(2);
	}
	return fd;
}

static void set_timeout(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void serve_sink(int fd, uint64_t t_accept, unsigned long long want,
		       unsigned int seconds)
{
	static char buf[1 << 16];
	uint64_t deadline = t_accept + (uint64_t)seconds * 1000000000ull;
	uint64_t t_first = 0, t_last = t_accept;
	unsigned long long got = 0, first = 0;
	/* (time, bytes so far) of every read, for the second half's rate */
	static uint64_t log_t[1 << 16];
	static unsigned long long log_b[1 << 16];
	size_t nlog = 0;
	const char *end = "bytes";

	set_timeout(fd);
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t n;

		if (stop || now >= deadline) {
			end = "time";
			break;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			end = n == 0 ? "eof" : "error";
			break;
		}
		t_last = now_ns();
		if (!t_first) {
			t_first = t_last;
			first = (unsigned long long)n;
		}
		got += (unsigned long long)n;
		if (nlog < sizeof(log_t) / sizeof(log_t[0])) {
			log_t[nlog] = t_last;
			log_b[nlog++] = got;
		}
	}
	/* bytes read after the midpoint of [t_first, t_last] */
	double half = 0;
	uint64_t mid = t_first + (t_last - t_first) / 2;

	for (size_t i = 0; t_first && i < nlog; i++)
		if (log_t[i] > mid) {
			unsigned long long before = i ? log_b[i - 1] : 0;

			if (t_last > mid)
				half = (double)(log_b[nlog - 1] - before) * 8 /
				       ((double)(t_last - mid) / 1e9) / 1e6;
			break;
		}
	double s = (double)(t_last - t_accept) / 1e9;
	double s1 = t_first ? (double)(t_last - t_first) / 1e9 : 0;

	printf("{\"type\":\"sink\",\"bytes\":%llu,\"end\":\"%s\","
	       "\"accept_to_last_s\":%.6f,\"first_to_last_s\":%.6f,"
	       "\"mbit_per_s\":%.3f,\"mbit_per_s_from_accept\":%.3f,"
	       "\"mbit_per_s_2nd_half\":%.3f}\n",
	       got, end, s, s1,
	       s1 > 0 ? (double)(got - first) * 8 / s1 / 1e6 : 0,
	       s > 0 ? (double)got * 8 / s / 1e6 : 0, half);
}

static void serve_accept(int fd, uint64_t t_accept)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		ti.tcpi_rtt = 0;
	printf("{\"type\":\"accept\",\"t_ns\":%llu,\"handshake_rtt_us\":%u}\n",
	       (unsigned long long)t_accept, ti.tcpi_rtt);
}

static void serve_echo(int fd, unsigned int rounds)
{
	unsigned i, done = 0;
	int one = 1;
	char c = 'x';

	set_timeout(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	printf("{\"type\":\"echo\",\"rtt_us\":[");
	for (i = 0; i < rounds && !stop; i++) {
		uint64_t t0 = now_ns();
		char r;

		if (write(fd, &c, 1) != 1 || read(fd, &r, 1) != 1)
			break;
		printf("%s%.1f", i ? "," : "", (double)(now_ns() - t0) / 1e3);
		done++;
	}
	printf("],\"rounds\":%u,\"wanted\":%u}\n", done, rounds);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct pollfd pfd[3];
	unsigned long long sink_bytes;
	unsigned int echo_rounds, sink_seconds;
	int i;

	if (argc != 8) {
		fprintf(stderr, "usage: net_peer ADDR SINK_PORT ACCEPT_PORT "
				"ECHO_PORT SINK_BYTES ECHO_ROUNDS "
				"SINK_SECONDS\n");
		return 2;
	}
	sink_bytes = strtoull(argv[5], NULL, 10);
	echo_rounds = (unsigned int)strtoul(argv[6], NULL, 10);
	sink_seconds = (unsigned int)strtoul(argv[7], NULL, 10);
	if (!sink_bytes || !echo_rounds || echo_rounds > 100000 ||
	    !sink_seconds || sink_seconds > 3600) {
		fprintf(stderr, "net_peer: SINK_BYTES, ECHO_ROUNDS (<= 100000) "
				"and SINK_SECONDS (<= 3600) must be > 0\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < 3; i++)
		pfd[i] = (struct pollfd){.fd = listen_on(argv[1], argv[2 + i]),
					 .events = POLLIN};
	printf("{\"type\":\"listening\"}\n");
	while (!stop) {
		if (poll(pfd, 3, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("net_peer: poll");
			return 1;
		}
		for (i = 0; i < 3; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			uint64_t t = now_ns();

			if (c < 0)
				continue;
			if (i == 0)
				serve_sink(c, t, sink_bytes, sink_seconds);
			else if (i == 1)
				serve_accept(c, t);
			else
				serve_echo(c, echo_rounds);
			close(c);
		}
	}
	return 0;
}
