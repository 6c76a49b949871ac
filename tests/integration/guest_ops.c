/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the agent's guest operations on a real microVM:
 * identity (entropy credited and the CRNG reseeded, clock, hostname,
 * sandbox id) with the real system calls in the guest, status, an exec on
 * a pseudo-terminal and an exec as the image's `nobody` user.  Uses the
 * public API, and the internal agent client for what kiln.h does not
 * offer yet (tty, user).  Prints one "PASS: name" / "FAIL: name: why"
 * line per check; exit status 1 if any failed.
 *
 *   guest_ops            (KILN_CACHE, KILN_VMM, KILN_RUNTIME_DIR as usual)
 *
 * Built by tests/integration/run.sh (t_guest) against build/libkiln.a.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/sandbox.h"

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

struct out {
	char buf[4096];
	size_t len;
};

static int collect(void *ctx, const void *b, size_t n)
{
	struct out *o = ctx;

	if (n > sizeof(o->buf) - 1 - o->len)
		n = sizeof(o->buf) - 1 - o->len;
	memcpy(o->buf + o->len, b, n);
	o->len += n;
	o->buf[o->len] = 0;
	return 0;
}

/* Run sh -c script through the public API; its stdout in *o. */
static int sh(struct kiln_sandbox *sb, const char *script, struct out *o)
{
	const char *const argv[] = {"sh", "-c", script, NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;
	int rc;

	memset(o, 0, sizeof(*o));
	kiln_exec_init(&ex);
	ex.argv = argv;
	ex.on_stdout = collect;
	ex.stdout_ctx = o;
	ex.timeout_ms = 60000;
	rc = kiln_sandbox_exec(sb, &ex, &res);
	return rc == KILN_OK ? res.exit_code : -1;
}

/* Through the agent client: tty and user options. */
static int agent_sh(struct kiln_sandbox *sb, const char *script,
		    struct agent_exec_opts *o, struct out *out)
{
	const char *const argv[] = {"sh", "-c", script, NULL};
	struct agent_exec_result res;
	struct agent_exec_io io;
	char err[512];
	int rc;

	memset(out, 0, sizeof(*out));
	agent_exec_io_init(&io);
	io.on_stdout = collect;
	io.stdout_ctx = out;
	o->argv = argv;
	o->wait_timeout_ms = 120000;
	rc = agent_client_exec(sb->agent, o, &io, &res, err, sizeof(err));
	if (rc != AGENT_OK) {
		snprintf(out->buf, sizeof(out->buf), "exec: %s", err);
		return -1;
	}
	return res.exit_code;
}

int main(void)
{
	struct kiln_sandbox_config cfg = {0};
	struct kiln_guest_status st;
	struct agent_exec_opts ao;
	struct kiln_sandbox *sb;
	struct kiln_options opts;
	struct out a, b;
	struct kiln *k;
	long long guest_t;
	int rc;

	kiln_options_init(&opts);
	if (kiln_open(&opts, &k) != KILN_OK) {
		check("guest_boot", false, "kiln_open failed");
		return 1;
	}
	rc = kiln_sandbox_create(k, &cfg, &sb);
	check("guest_boot", rc == KILN_OK, "%s", kiln_errmsg(k));
	if (rc != KILN_OK) {
		kiln_close(k);
		return 1;
	}

	rc = sh(sb, "head -c 32 /dev/urandom | od -An -tx1", &a);
	rc = kiln_sandbox_set_identity(sb, "kiln-it");
	check("guest_identity", rc == KILN_OK, "%s: %s", kiln_strstatus(rc),
	      kiln_errmsg(k));
	rc = kiln_sandbox_status(sb, &st);
	check("guest_status",
	      rc == KILN_OK &&
		      strcmp(st.sandbox_id, kiln_sandbox_id(sb)) == 0 &&
		      strcmp(st.hostname, "kiln-it") == 0 &&
		      st.mem_total_kib > 0 &&
		      st.mem_available_kib <= st.mem_total_kib &&
		      st.root_total_bytes > 0 && st.processes >= 1 &&
		      st.uptime_s > 0,
	      "rc %d id '%s' (want '%s') hostname '%s' mem %llu/%llu root "
	      "%llu procs %llu uptime %.1f",
	      rc, st.sandbox_id, kiln_sandbox_id(sb), st.hostname,
	      (unsigned long long)st.mem_available_kib,
	      (unsigned long long)st.mem_total_kib,
	      (unsigned long long)st.root_total_bytes,
	      (unsigned long long)st.processes, st.uptime_s);
	rc = sh(sb, "hostname", &b);
	check("guest_hostname", rc == 0 && strcmp(b.buf, "kiln-it\n") == 0,
	      "rc %d out '%s'", rc, b.buf);
	/* the guest's clock is the host's now (the VM may lack an RTC) */
	rc = sh(sb, "date +%s", &b);
	guest_t = atoll(b.buf);
	check("guest_clock",
	      rc == 0 && llabs(guest_t - (long long)time(NULL)) < 300,
	      "rc %d guest %lld host %lld", rc, guest_t, (long long)time(NULL));
	rc = sh(sb, "head -c 32 /dev/urandom | od -An -tx1", &b);
	check("guest_urandom", rc == 0 && b.len > 64 && strcmp(a.buf, b.buf),
	      "rc %d before '%s' after '%s'", rc, a.buf, b.buf);

	ao = (struct agent_exec_opts){.tty = true, .rows = 40, .cols = 100};
	rc = agent_sh(sb, "tty; stty size", &ao, &b);
	check("guest_tty",
	      rc == 0 && strncmp(b.buf, "/dev/pts/", 9) == 0 &&
		      strstr(b.buf, "\r\n40 100\r\n"),
	      "rc %d out '%s'", rc, b.buf);
	ao = (struct agent_exec_opts){.user = "nobody"};
	rc = agent_sh(sb, "id -u; id -g", &ao, &b);
	check("guest_user_nobody",
	      rc == 0 && strcmp(b.buf, "65534\n65534\n") == 0, "rc %d out '%s'",
	      rc, b.buf);

	rc = kiln_sandbox_destroy(sb);
	check("guest_destroy", rc == KILN_OK, "%s", kiln_errmsg(k));
	kiln_close(k);
	return failed;
}
