/* SPDX-License-Identifier: MIT */
/*
 * Agent round trips and transfer throughput, measured on the host through
 * libkiln's public API against a running persistent sandbox (bench/agent.sh
 * makes one restored from a checkpoint):
 *
 *   exec_true   kiln_sandbox_exec() of `true`, start to exit status
 *   read_1b     kiln_sandbox_copy_from_guest() of a 1-byte file
 *   download    kiln_sandbox_copy_from_guest() of a 64 MiB file (to /dev/null)
 *   upload      kiln_sandbox_copy_to_guest() of 64 MiB (from memory through
 *               a pipe)
 *
 * Every operation goes over the sandbox handle's one agent connection
 * (opened once, as a long-lived client would).  stdout: JSON lines,
 * {"type":"rtt",...} with n/min/p50/p99/max in microseconds and
 * {"type":"throughput",...} with bytes, seconds and MiB/s; stderr: a
 * Markdown table.  Exit status 0, 1 if an operation failed, 2 on usage.
 *
 *   agent_rtt SANDBOX [-n RUNS] [--mib N]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]. */
static int64_t pct(const int64_t *v, size_t n, unsigned int p)
{
	size_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

static void report_rtt(const char *op, int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	printf("{\"type\":\"rtt\",\"op\":\"%s\",\"n\":%zu,\"min_us\":%.1f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       op, n, v[0] / 1e3, pct(v, n, 50) / 1e3, pct(v, n, 99) / 1e3,
	       v[n - 1] / 1e3);
	fprintf(stderr, "| %-10s | %5zu | %10.1f | %10.1f | %10.1f |\n", op, n,
		pct(v, n, 50) / 1e3, pct(v, n, 99) / 1e3, v[n - 1] / 1e3);
	fflush(stdout);
}

static void report_tp(const char *op, uint64_t bytes, int64_t ns)
{
	double s = ns / 1e9;

	printf("{\"type\":\"throughput\",\"op\":\"%s\",\"bytes\":%llu,"
	       "\"seconds\":%.3f,\"mib_per_s\":%.1f}\n",
	       op, (unsigned long long)bytes, s, bytes / 1048576.0 / s);
	fprintf(stderr, "| %-10s | %llu MiB in %.3f s: %.1f MiB/s |\n", op,
		(unsigned long long)(bytes >> 20), s, bytes / 1048576.0 / s);
	fflush(stdout);
}

static int fail(struct kiln *k, const char *what, int rc)
{
	fprintf(stderr, "agent_rtt: %s: %s (%d)\n", what, kiln_errmsg(k), rc);
	return 1;
}

/* Feeds upload content into a pipe from another thread. */
struct feeder {
	int fd;
	uint64_t left;
};

static void *feed(void *arg)
{
	static char buf[1 << 16];
	struct feeder *f = arg;

	while (f->left > 0) {
		size_t n =
			f->left < sizeof(buf) ? (size_t)f->left : sizeof(buf);
		ssize_t w = write(f->fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		f->left -= (uint64_t)w;
	}
	close(f->fd);
	return NULL;
}

static int run_exec(struct kiln *k, struct kiln_sandbox *sb, int64_t *v,
		    size_t runs, const char *const *argv)
{
	for (size_t i = 0; i < runs; i++) {
		struct kiln_exec ex;
		struct kiln_exec_result res;
		int64_t t0;
		int rc;

		kiln_exec_init(&ex);
		ex.argv = argv;
		t0 = now_ns();
		rc = kiln_sandbox_exec(sb, &ex, &res);
		v[i] = now_ns() - t0;
		if (rc || !res.exited || res.exit_code != 0)
			return fail(k, argv[0], rc);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const true_argv[] = {"true", NULL};
	const char *ref = NULL;
	size_t runs = 200;
	unsigned long mib = 64;
	struct kiln_options o;
	struct kiln_sandbox *sb;
	struct kiln *k;
	int64_t *v, t0;
	uint64_t size = 0;
	int rc, null_fd, p[2];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			runs = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoul(argv[++i], NULL, 10);
		else if (argv[i][0] != '-' && !ref)
			ref = argv[i];
		else
			runs = 0;
	}
	if (!ref || runs < 1 || runs > 1000000 || mib < 1 || mib > 4096) {
		fprintf(stderr,
			"usage: agent_rtt SANDBOX [-n RUNS] [--mib N]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a failed upload closes the feeder's pipe */
	v = calloc(runs, sizeof(*v));
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	kiln_options_init(&o);
	o.log_level = KILN_LOG_ERROR;
	if (!v || null_fd < 0 || kiln_open(&o, &k) != KILN_OK) {
		fprintf(stderr, "agent_rtt: setup failed\n");
		return 1;
	}
	t0 = now_ns();
	rc = kiln_sandbox_open(k, ref, &sb);
	if (rc)
		return fail(k, "open", rc);
	printf("{\"type\":\"env\",\"sandbox\":\"%s\",\"runs\":%zu,"
	       "\"open_us\":%.1f}\n",
	       ref, runs, (now_ns() - t0) / 1e3);
	fprintf(stderr, "| op         |     n |   p50 (us) |   p99 (us) |   "
			"max (us) |\n"
			"|------------|-------|------------|------------|------"
			"------|\n");

	/* warm-up: the first exec pulls `true` into the guest's page cache */
	if (run_exec(k, sb, v, 3, true_argv) ||
	    run_exec(k, sb, v, runs, true_argv))
		return 1;
	report_rtt("exec_true", v, runs);

	if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], "x", 1) != 1)
		return 1;
	close(p[1]);
	rc = kiln_sandbox_copy_to_guest(sb, p[0], "/tmp/kiln-bench-1b", NULL,
					0644);
	close(p[0]);
	if (rc)
		return fail(k, "write 1-byte file", rc);
	for (size_t i = 0; i < runs; i++) {
		t0 = now_ns();
		rc = kiln_sandbox_copy_from_guest(sb, "/tmp/kiln-bench-1b",
						  null_fd, &size);
		v[i] = now_ns() - t0;
		if (rc || size != 1)
			return fail(k, "read_1b", rc);
	}
	report_rtt("read_1b", v, runs);

	/* upload first: it also makes the file the download reads */
	struct feeder f = {.left = (uint64_t)mib << 20};
	pthread_t tid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	f.fd = p[1];
	if (pthread_create(&tid, NULL, feed, &f))
		return 1;
	t0 = now_ns();
	rc = kiln_sandbox_copy_to_guest(sb, p[0], "/tmp/kiln-bench-big", NULL,
					0644);
	t0 = now_ns() - t0;
	close(p[0]); /* a feeder still writing gets EPIPE */
	pthread_join(tid, NULL);
	if (rc)
		return fail(k, "upload", rc);
	report_tp("upload", (uint64_t)mib << 20, t0);

	t0 = now_ns();
	rc = kiln_sandbox_copy_from_guest(sb, "/tmp/kiln-bench-big", null_fd,
					  &size);
	t0 = now_ns() - t0;
	if (rc || size != (uint64_t)mib << 20)
		return fail(k, "download", rc);
	report_tp("download", size, t0);

	kiln_sandbox_close(sb);
	kiln_close(k);
	close(null_fd);
	free(v);
	return 0;
}
