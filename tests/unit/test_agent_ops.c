/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent's status and identity ops and exec as another user (see
 * agent_harness.h for how the agent runs).  The identity op's system actions
 * (entropy, clock, hostname) are replaced by recorders before the agent is
 * forked: these tests run as root and must not change the host's clock or
 * hostname. The recorders append one line per call to a log file the tests read
 * back; the real system calls are exercised by the integration test in a
 * guest (tests/integration/kvm.sh).  Users come from a passwd and group
 * file written here (users_set_files()), so the ids are known exactly.
 */
#include "agent_harness.h"
#include "agent_raw.h"

#include <sys/stat.h>
#include <sys/utsname.h>

#include "kiln.h"

#include "agent/identity.h"
#include "agent/status.h"
#include "agent/users.h"

static char log_path[128];
static char passwd_path[128], group_path[128];

static void rec(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f = fopen(log_path, "a");
	if (f) {
		fputs(line, f);
		fclose(f);
	}
}

static int fake_add_entropy(const void *buf, size_t len, int bits)
{
	char hex[2 * IDENTITY_MAX_ENTROPY + 1];

	for (size_t i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", ((const uint8_t *)buf)[i]);
	hex[2 * len] = 0;
	rec("entropy %zu %d %s\n", len, bits, hex);
	return 0;
}

static int fake_reseed(void)
{
	rec("reseed\n");
	return 0;
}

static int fake_set_clock(const struct timespec *ts)
{
	rec("clock %lld %ld\n", (long long)ts->tv_sec, ts->tv_nsec);
	return 0;
}

/* "refuse-me" fails like an unprivileged sethostname would. */
static int fake_set_hostname(const char *name)
{
	rec("hostname %s\n", name);
	return strcmp(name, "refuse-me") == 0 ? -EPERM : 0;
}

static const struct identity_sys fake_sys = {
	.add_entropy = fake_add_entropy,
	.reseed = fake_reseed,
	.set_clock = fake_set_clock,
	.set_hostname = fake_set_hostname,
};

/* The log so far (malloc'ed, NUL-terminated); truncates it. */
static char *take_log(void)
{
	char *s = calloc(1, 65536);
	FILE *f = fopen(log_path, "r");

	assert_non_null(s);
	if (f) {
		size_t n = fread(s, 1, 65535, f);

		s[n] = 0;
		fclose(f);
	}
	truncate(log_path, 0);
	return s;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int ops_setup(void **state)
{
	/* Fixed paths: the agent child must see them from its start. */
	snprintf(passwd_path, sizeof(passwd_path), "/tmp/kiln-test-passwd-%d",
		 (int)getpid());
	snprintf(group_path, sizeof(group_path), "/tmp/kiln-test-group-%d",
		 (int)getpid());
	write_file(passwd_path,
		   "root:x:0:0:root:/root:/bin/sh\n"
		   "broken line without fields\n"
		   "kilntest:x:4242:4243:kiln test:/tmp:/bin/sh\n"
		   "badid:x:12x:1:bad:/:/bin/sh\n"
		   "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
	write_file(group_path, "root:x:0:\n"
			       "kilngrp:x:4243:\n"
			       "extra:x:5000:other,kilntest\n"
			       "more:x:5001:kilntest\n"
			       "notmine:x:5002:kilntester\n");
	snprintf(log_path, sizeof(log_path), "/tmp/kiln-test-identity-%d.log",
		 (int)getpid());
	users_set_files(passwd_path, group_path);
	return group_setup(state);
}

static int ops_teardown(void **state)
{
	unlink(log_path);
	unlink(passwd_path);
	unlink(group_path);
	return group_teardown(state);
}

/* ---- identity ----------------------------------------------------------- */

static void test_identity_client(void **state)
{
	struct agent_identity id = {.hostname = "clone-7",
				    .sandbox_id = "sb-0123abcd"};
	struct agent_client *c = client_connect();
	struct agent_identity_result res;
	struct agent_status st;
	struct timespec before, after;
	char err[256], hex[256], *log;
	long long sec;
	long nsec;
	size_t len;
	int bits;

	clock_gettime(CLOCK_REALTIME, &before);
	assert_int_equal(
		agent_client_identity(c, &id, 5000, &res, err, sizeof(err)), 0);
	clock_gettime(CLOCK_REALTIME, &after);
	assert_int_equal(res.entropy_bytes, AGENT_IDENTITY_ENTROPY);
	assert_int_equal(res.entropy_credited_bits, 8 * AGENT_IDENTITY_ENTROPY);
	assert_true(res.crng_reseeded);
	assert_true(res.clock_set);
	assert_true(res.hostname_set);
	assert_true(res.sandbox_id_set);

	/* What reached the system calls, in order: entropy, reseed, ... */
	log = take_log();
	assert_int_equal(sscanf(log, "entropy %zu %d %255s", &len, &bits, hex),
			 3);
	assert_int_equal(len, AGENT_IDENTITY_ENTROPY);
	assert_int_equal(bits, 8 * AGENT_IDENTITY_ENTROPY);
	assert_int_equal(strlen(hex), 2 * AGENT_IDENTITY_ENTROPY);
	assert_non_null(strstr(log, "\nreseed\nclock "));
	assert_int_equal(
		sscanf(strstr(log, "clock "), "clock %lld %ld", &sec, &nsec),
		2);
	/* The host's time, taken during the call. */
	assert_true(sec * 1000000000LL + nsec >=
		    before.tv_sec * 1000000000LL + before.tv_nsec);
	assert_true(sec * 1000000000LL + nsec <=
		    after.tv_sec * 1000000000LL + after.tv_nsec);
	assert_true(nsec >= 0 && nsec < 1000000000L);
	assert_non_null(strstr(log, "\nhostname clone-7\n"));
	free(log);

	/* Two calls send different entropy (getrandom on the host). */
	assert_int_equal(
		agent_client_identity(c, NULL, 5000, &res, err, sizeof(err)),
		0);
	assert_false(res.hostname_set);
	assert_false(res.sandbox_id_set);
	log = take_log();
	assert_null(strstr(log, hex));
	assert_null(strstr(log, "hostname"));
	free(log);

	/* status reports the sandbox id */
	assert_int_equal(agent_client_status(c, 5000, &st, err, sizeof(err)),
			 0);
	assert_string_equal(st.sandbox_id, "sb-0123abcd");
	agent_client_close(c);
}

/* Exactly the bytes sent are credited; no entropy means no reseed. */
static void test_identity_raw(void **state)
{
	uint8_t ent[16];
	struct raw r;
	char *log;
	json_t *j;

	for (size_t i = 0; i < sizeof(ent); i++)
		ent[i] = (uint8_t)(0xa0 + i);
	raw_open(&r, true);
	raw_ctl(&r, 2,
		"{\"op\":\"identity\",\"entropy_bytes\":16,\"time_ns\":"
		"1700000000123456789}");
	/* the request waits for its entropy: other requests go on */
	raw_ctl(&r, 3, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 3, "result", NULL);
	/* its id is busy meanwhile */
	raw_ctl(&r, 2, "{\"op\":\"exec\",\"argv\":[\"true\"]}");
	raw_expect_free(&r, 2, "error", PROTO_E_BUSY);
	raw_send(&r, PROTO_STDIN, 2, ent, sizeof(ent));
	j = raw_expect(&r, 2, "result", NULL);
	assert_int_equal(
		json_integer_value(json_object_get(j, "entropy_bytes")), 16);
	assert_true(json_is_true(json_object_get(j, "clock_set")));
	assert_true(json_is_false(json_object_get(j, "hostname_set")));
	json_decref(j);
	log = take_log();
	assert_string_equal(log,
			    "entropy 16 128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
			    "reseed\n"
			    "clock 1700000000 123456789\n");
	free(log);

	/* only a hostname: nothing else is touched */
	raw_ctl(&r, 4, "{\"op\":\"identity\",\"hostname\":\"a.b-c\"}");
	raw_expect_free(&r, 4, "result", NULL);
	log = take_log();
	assert_string_equal(log, "hostname a.b-c\n");
	free(log);

	/* an entropy frame of the wrong size: refused, nothing done */
	raw_ctl(&r, 5, "{\"op\":\"identity\",\"entropy_bytes\":8}");
	raw_send(&r, PROTO_STDIN, 5, ent, 7);
	raw_expect_free(&r, 5, "error", PROTO_E_INVALID);
	log = take_log();
	assert_string_equal(log, "");
	free(log);

	/* eof instead of the entropy: refused, nothing done */
	raw_ctl(&r, 7, "{\"op\":\"identity\",\"entropy_bytes\":8}");
	raw_send(&r, PROTO_EOF, 7, "\0", 1);
	raw_expect_free(&r, 7, "error", PROTO_E_INVALID);
	/* later stdin for that id is not entropy any more */
	raw_send(&r, PROTO_STDIN, 7, ent, 8);
	raw_ctl(&r, 8, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 8, "result", NULL);
	log = take_log();
	assert_string_equal(log, "");
	free(log);

	/* a failing action: an error naming it, the rest still done */
	raw_ctl(&r, 6,
		"{\"op\":\"identity\",\"hostname\":\"refuse-me\",\"time_ns\":"
		"5,\"sandbox_id\":\"x\"}");
	j = raw_expect(&r, 6, "error", "identity_failed");
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "sethostname: Operation not permitted"));
	assert_true(json_is_true(json_object_get(j, "clock_set")));
	assert_true(json_is_false(json_object_get(j, "hostname_set")));
	assert_true(json_is_true(json_object_get(j, "sandbox_id_set")));
	json_decref(j);
	free(take_log());
	raw_close(&r);
}

/* Malformed requests get invalid_request and the agent keeps serving. */
static void test_identity_malformed(void **state)
{
	static const char *const bad[] = {
		"{\"op\":\"identity\",\"hostname\":\"-bad\"}",
		"{\"op\":\"identity\",\"hostname\":\"has space\"}",
		"{\"op\":\"identity\",\"hostname\":7}",
		"{\"op\":\"identity\",\"hostname\":"
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		"{\"op\":\"identity\",\"sandbox_id\":\"\"}",
		"{\"op\":\"identity\",\"sandbox_id\":\"a/b\"}",
		"{\"op\":\"identity\",\"time_ns\":-1}",
		"{\"op\":\"identity\",\"time_ns\":\"now\"}",
		"{\"op\":\"identity\",\"time_ns\":1.5}",
		"{\"op\":\"identity\",\"entropy_bytes\":4097}",
		"{\"op\":\"identity\",\"entropy_bytes\":-1}",
		"{\"op\":\"identity\",\"entropy\":\"00\"}",
		"{\"op\":\"status\",\"verbose\":true}",
		"{\"op\":\"resize\",\"target\":2,\"rows\":0,\"cols\":80}",
		"{\"op\":\"resize\",\"target\":2,\"rows\":24}",
		"{\"op\":\"resize\",\"target\":0,\"rows\":24,\"cols\":80}",
		"{\"op\":\"resize\",\"target\":2,\"rows\":24,\"cols\":65536}",
	};
	struct raw r;
	char *log;

	raw_open(&r, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_ctl(&r, 10 + (uint32_t)i, bad[i]);
		raw_expect_free(&r, 10 + (uint32_t)i, "error", PROTO_E_INVALID);
	}
	raw_ctl(&r, 2, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 2, "result", NULL);
	log = take_log();
	assert_string_equal(log, "");
	free(log);
	/* resize of nothing */
	raw_ctl(&r, 3,
		"{\"op\":\"resize\",\"target\":99,\"rows\":5,\"cols\":5}");
	raw_expect_free(&r, 3, "error", PROTO_E_NO_PROCESS);
	/* a pending identity dies with its connection */
	raw_ctl(&r, 4, "{\"op\":\"identity\",\"entropy_bytes\":64}");
	raw_close(&r);
	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 2, "result", NULL);
	raw_close(&r);
	log = take_log();
	assert_string_equal(log, "");
	free(log);
}

/* ---- status ------------------------------------------------------------- */

static void test_status(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_status st;
	struct utsname un;
	char err[256], *reply = NULL;
	long n;

	assert_int_equal(agent_client_status(c, 5000, &st, err, sizeof(err)),
			 0);
	assert_string_equal(st.agent_version, AGENT_VERSION);
	assert_int_equal(st.protocol_version, PROTO_VERSION);
	assert_true(st.uptime_s > 0);
	assert_true(st.agent_uptime_ms < 600000);
	for (int i = 0; i < 3; i++)
		assert_true(st.load[i] >= 0 && st.load[i] < 10000);
	assert_true(st.mem_total_kib > 16384);
	assert_true(st.mem_available_kib > 0);
	assert_true(st.mem_available_kib <= st.mem_total_kib);
	assert_true(st.root_total_bytes > 0);
	assert_true(st.root_free_bytes <= st.root_total_bytes);
	assert_true(st.root_avail_bytes <= st.root_free_bytes);
	/* at least this test and the agent */
	assert_true(st.processes >= 2);
	assert_false(st.init);
	assert_int_equal(uname(&un), 0);
	assert_string_equal(st.hostname, un.nodename);
	/* nothing was unavailable */
	assert_int_equal(agent_client_call(c, "{\"op\":\"status\"}", 5000,
					   &reply, err, sizeof(err)),
			 0);
	assert_non_null(strstr(reply, "\"unavailable\":[]"));
	free(reply);
	/* the count is of /proc's numeric entries */
	n = status_count_processes("/proc");
	assert_true(n >= 2);
	assert_int_equal(status_count_processes("/no/such/dir"), -1);
	agent_client_close(c);
}

static void test_status_meminfo_parse(void **state)
{
	uint64_t t = 1, a = 1;

	assert_int_equal(status_parse_meminfo("MemTotal:       16384 kB\n"
					      "MemFree:          100 kB\n"
					      "MemAvailable:    8192 kB\n",
					      &t, &a),
			 0);
	assert_int_equal(t, 16384);
	assert_int_equal(a, 8192);
	/* a name must match at a line start, whole */
	assert_int_equal(status_parse_meminfo("XMemTotal: 1 kB\n"
					      "MemAvailable: 2 kB\n",
					      &t, &a),
			 -1);
	assert_int_equal(status_parse_meminfo("MemTotalX: 1 kB\n"
					      "MemAvailable: 2 kB\n",
					      &t, &a),
			 -1);
	assert_int_equal(status_parse_meminfo("MemTotal: x kB\n"
					      "MemAvailable: 2 kB\n",
					      &t, &a),
			 -1);
	assert_int_equal(status_parse_meminfo("MemTotal: 3 MB\n"
					      "MemAvailable: 2 kB\n",
					      &t, &a),
			 -1);
	assert_int_equal(status_parse_meminfo("MemTotal: 1 kB\n", &t, &a), -1);
	assert_int_equal(status_parse_meminfo("", &t, &a), -1);
}

/* The public API on an attached sandbox (no VM needed). */
static void test_kiln_status_identity(void **state)
{
	struct kiln_options opts;
	struct kiln_guest_status st;
	struct kiln_sandbox *sb = NULL;
	struct kiln *k = NULL;
	char endpoint[160], *log;

	kiln_options_init(&opts);
	opts.runtime_dir = tmp_dir;
	opts.cache_dir = tmp_dir;
	opts.state_dir = tmp_dir;
	assert_int_equal(kiln_open(&opts, &k), KILN_OK);
	snprintf(endpoint, sizeof(endpoint), "unix:%s", sock_path);
	assert_int_equal(kiln_sandbox_attach(k, endpoint, &sb), KILN_OK);
	assert_int_equal(kiln_sandbox_set_identity(sb, "api-host"), KILN_OK);
	log = take_log();
	assert_non_null(strstr(log, "entropy 64 512 "));
	assert_non_null(strstr(log, "\nreseed\nclock "));
	assert_non_null(strstr(log, "\nhostname api-host\n"));
	free(log);
	assert_int_equal(kiln_sandbox_status(sb, &st), KILN_OK);
	assert_string_equal(st.sandbox_id, kiln_sandbox_id(sb));
	assert_string_equal(st.agent_version, AGENT_VERSION);
	assert_true(st.mem_total_kib > 0 && st.processes > 0);
	/* a failed action is KILN_EGUEST naming it; the sandbox stays usable */
	assert_int_equal(kiln_sandbox_set_identity(sb, "refuse-me"),
			 KILN_EGUEST);
	assert_non_null(strstr(kiln_errmsg(k), "sethostname"));
	free(take_log());
	assert_int_equal(kiln_sandbox_set_identity(sb, "bad name"),
			 KILN_EGUEST);
	assert_non_null(strstr(kiln_errmsg(k), "hostname"));
	assert_int_equal(kiln_sandbox_status(sb, &st), KILN_OK);
	kiln_sandbox_destroy(sb);
	kiln_close(k);
}

/* ---- users ------------------------------------------------------------- */

struct urun {
	struct buf out, err;
	struct agent_exec_result res;
	char msg[512];
	int rc;
};

static void urun(struct agent_client *c, const char *script,
		 struct agent_exec_opts *o, struct urun *r)
{
	const char *const argv[] = {"sh", "-c", script, NULL};
	struct agent_exec_io io;

	memset(r, 0, sizeof(*r));
	agent_exec_io_init(&io);
	io.on_stdout = buf_append;
	io.stdout_ctx = &r->out;
	io.on_stderr = buf_append;
	io.stderr_ctx = &r->err;
	o->argv = argv;
	o->wait_timeout_ms = DEADLINE_MS;
	r->rc = agent_client_exec(c, o, &io, &r->res, r->msg, sizeof(r->msg));
}

static void urun_free(struct urun *r)
{
	free(r->out.p);
	free(r->err.p);
}

static const char ids_script[] =
	"echo $(id -u) $(id -g) $(id -G) $HOME ${USER:-none} $(pwd)";

static void test_user_by_name(void **state)
{
	struct agent_exec_opts o = {.user = "kilntest"};
	struct agent_client *c = client_connect();
	struct urun r;

	urun(c, ids_script, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.res.exit_code, 0);
	/* primary group first, then the groups listing the user */
	assert_string_equal((char *)r.out.p,
			    "4242 4243 4243 5000 5001 /tmp kilntest /\n");
	urun_free(&r);

	/* nobody: 65534, as the brief's `id -u` check */
	o = (struct agent_exec_opts){.user = "nobody", .cwd = "/tmp"};
	urun(c, "id -u; echo $HOME; pwd", &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "65534\n/nonexistent\n/tmp\n");
	urun_free(&r);

	/* a uid (decimal string: an integer on the wire) found in passwd */
	o = (struct agent_exec_opts){.user = "4242"};
	urun(c, ids_script, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p,
			    "4242 4243 4243 5000 5001 /tmp kilntest /\n");
	urun_free(&r);

	/* an explicit HOME wins over passwd's */
	const char *const env[] = {"HOME=/x", NULL};
	o = (struct agent_exec_opts){.user = "kilntest", .env = env};
	urun(c, "echo $HOME", &o, &r);
	assert_string_equal((char *)r.out.p, "/x\n");
	urun_free(&r);
	agent_client_close(c);
}

static void test_user_ids(void **state)
{
	struct agent_exec_opts o = {
		.set_ids = true, .uid = 31337, .gid = 31338};
	struct agent_client *c = client_connect();
	struct urun r;

	/* no passwd entry needed; groups are the gid only; HOME is / */
	urun(c, ids_script, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "31337 31338 31338 / none /\n");
	urun_free(&r);
	/* ids with a passwd entry get its name and home */
	o = (struct agent_exec_opts){.set_ids = true, .uid = 65534, .gid = 7};
	urun(c, ids_script, &o, &r);
	assert_string_equal((char *)r.out.p,
			    "65534 7 7 /nonexistent nobody /\n");
	urun_free(&r);
	/* "UID:GID" as the user (kiln exec -u 31337:31338): the same */
	o = (struct agent_exec_opts){.user = "31337:31338"};
	urun(c, ids_script, &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "31337 31338 31338 / none /\n");
	urun_free(&r);
	o = (struct agent_exec_opts){.user = "65534:7"};
	urun(c, ids_script, &o, &r);
	assert_string_equal((char *)r.out.p,
			    "65534 7 7 /nonexistent nobody /\n");
	urun_free(&r);
	/* anything else with a ':' is refused before it is sent */
	static const char *const bad[] = {"1:",
					  ":1",
					  ":",
					  "a:1",
					  "1:b",
					  "1:2:3",
					  "4294967295:1",
					  "1:99999999999",
					  "-1:1",
					  " 1:1",
					  "1:1 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = (struct agent_exec_opts){.user = bad[i]};
		urun(c, "true", &o, &r);
		assert_int_not_equal(r.rc, 0);
		assert_non_null(strstr(r.msg, "UID:GID"));
		urun_free(&r);
	}
	/* and the connection still serves */
	o = (struct agent_exec_opts){.user = "0:0"};
	urun(c, "id -u", &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "0\n");
	urun_free(&r);
	/* default: the agent's own ids (root here) */
	o = (struct agent_exec_opts){0};
	urun(c, "id -u", &o, &r);
	assert_string_equal((char *)r.out.p, "0\n");
	urun_free(&r);
	agent_client_close(c);
}

static void test_user_errors(void **state)
{
	struct agent_exec_opts o = {.user = "no-such-user"};
	struct agent_client *c = client_connect();
	struct urun r;

	urun(c, "true", &o, &r);
	assert_int_equal(r.rc, AGENT_ERR_REMOTE);
	assert_int_equal(r.res.pid, 0);
	assert_non_null(strstr(r.msg, "no user \"no-such-user\""));
	assert_non_null(strstr(r.msg, PROTO_E_NO_USER));
	urun_free(&r);
	o = (struct agent_exec_opts){.user = "777"};
	urun(c, "true", &o, &r);
	assert_int_equal(r.rc, AGENT_ERR_REMOTE);
	assert_non_null(strstr(r.msg, "no user with uid 777"));
	urun_free(&r);
	/* a prefix of a name is not the name */
	o = (struct agent_exec_opts){.user = "kilntes"};
	urun(c, "true", &o, &r);
	assert_int_equal(r.rc, AGENT_ERR_REMOTE);
	urun_free(&r);
	/* the user cannot enter the directory: a clear error, no command */
	mkdir("/tmp/kiln-test-private", 0700);
	o = (struct agent_exec_opts){.user = "nobody",
				     .cwd = "/tmp/kiln-test-private"};
	urun(c, "true", &o, &r);
	rmdir("/tmp/kiln-test-private");
	assert_int_equal(r.rc, AGENT_ERR_PERM);
	assert_non_null(strstr(r.msg, "working directory"));
	urun_free(&r);
	/* the connection still serves */
	o = (struct agent_exec_opts){.user = "root"};
	urun(c, "id -u", &o, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal((char *)r.out.p, "0\n");
	urun_free(&r);
	agent_client_close(c);
}

/* Timeouts still kill the whole group of a command of another user. */
static void test_user_timeout(void **state)
{
	struct agent_exec_opts o = {.user = "nobody", .timeout_ms = 300};
	struct agent_client *c = client_connect();
	struct urun r;

	urun(c, "sleep 100 & echo $!; exec sleep 100", &o, &r);
	assert_int_equal(r.rc, 0);
	assert_true(r.res.timed_out);
	assert_int_equal(r.res.term_signal, SIGKILL);
	assert_true(r.out.len > 0);
	assert_gone((pid_t)atoi((char *)r.out.p));
	urun_free(&r);
	agent_client_close(c);
}

/* The parser itself (in this process; the agent child has its own copy). */
static void test_users_parse(void **state)
{
	char pw[64], gr[64], *big = malloc(USERS_MAX_LINE + 100);
	struct user_ids u;
	FILE *f;

	snprintf(pw, sizeof(pw), "/tmp/kiln-test-pw2-%d", (int)getpid());
	snprintf(gr, sizeof(gr), "/tmp/kiln-test-gr2-%d", (int)getpid());
	assert_non_null(big);
	/* an over-long line naming "long" is skipped, not truncated */
	memset(big, 'x', USERS_MAX_LINE + 50);
	memcpy(big, "long:x:7:7::/", 13);
	big[USERS_MAX_LINE + 50] = 0;
	f = fopen(pw, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", big);
	fprintf(f, "huge:x:4294967295:1::/:/bin/sh\n"
		   "neg:x:-1:1::/:/bin/sh\n"
		   "short:x:8:8\n"
		   ":x:9:9::/:/bin/sh\n"
		   "nohome:x:10:11:::/bin/sh\n"
		   "last:x:12:13::/h:/bin/sh"); /* no final newline */
	fclose(f);
	f = fopen(gr, "w");
	assert_non_null(f);
	fprintf(f, "g1:x:20:nohome\ng2:x:bad:nohome\ng3:x:21:a,nohome,b\n"
		   "g4:x:22:nohomes\n");
	fclose(f);
	users_set_files(pw, gr);
	assert_int_equal(users_lookup("long", 0, true, &u), -ENOENT);
	assert_int_equal(users_lookup("huge", 0, true, &u), -ENOENT);
	assert_int_equal(users_lookup("neg", 0, true, &u), -ENOENT);
	assert_int_equal(users_lookup("short", 0, true, &u), -ENOENT);
	assert_int_equal(users_lookup(NULL, 9, false, &u), -ENOENT);
	assert_int_equal(users_lookup("nohome", 0, true, &u), 0);
	assert_int_equal(u.uid, 10);
	assert_int_equal(u.gid, 11);
	assert_string_equal(u.home, "/");
	assert_int_equal(u.ngroups, 3);
	assert_int_equal(u.groups[0], 11);
	assert_int_equal(u.groups[1], 20);
	assert_int_equal(u.groups[2], 21);
	assert_int_equal(users_lookup(NULL, 12, false, &u), 0);
	assert_string_equal(u.name, "last");
	assert_string_equal(u.home, "/h");
	/* no group file: only the primary group */
	unlink(gr);
	assert_int_equal(users_lookup("last", 0, true, &u), 0);
	assert_int_equal(u.ngroups, 1);
	/* no passwd file */
	unlink(pw);
	assert_int_equal(users_lookup("last", 0, true, &u), -ENOENT);
	/* explicit ids need no passwd at all */
	assert_int_equal(users_from_ids(5, 6, &u), 0);
	assert_int_equal(u.uid, 5);
	assert_int_equal(u.ngroups, 1);
	assert_int_equal(u.groups[0], 6);
	assert_string_equal(u.home, "/");
	assert_false(u.known);
	users_set_files(passwd_path, group_path);
	free(big);
}

static void test_user_malformed(void **state)
{
	static const char *const bad[] = {
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":\"\"}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":1.5}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":-1}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":4294967295}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":[]}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"uid\":1}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"gid\":1}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"uid\":1,\"gid\":\"1\"}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"user\":\"root\","
		"\"uid\":0,"
		"\"gid\":0}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"tty\":\"yes\"}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"rows\":24}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"tty\":true,\"cols\":0}",
		"{\"op\":\"exec\",\"argv\":[\"true\"],\"tty\":true,\"rows\":"
		"70000}",
	};
	struct raw r;

	raw_open(&r, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_ctl(&r, 10 + (uint32_t)i, bad[i]);
		raw_expect_free(&r, 10 + (uint32_t)i, "error", PROTO_E_INVALID);
	}
	raw_ctl(&r, 2, "{\"op\":\"ping\"}");
	raw_expect_free(&r, 2, "result", NULL);
	raw_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_client),
		cmocka_unit_test(test_identity_raw),
		cmocka_unit_test(test_identity_malformed),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_meminfo_parse),
		cmocka_unit_test(test_kiln_status_identity),
		cmocka_unit_test(test_user_by_name),
		cmocka_unit_test(test_user_ids),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_user_timeout),
		cmocka_unit_test(test_users_parse),
		cmocka_unit_test(test_user_malformed),
	};

	/* Inherited by the agent child forked in ops_setup. */
	identity_set_sys(&fake_sys);
	return cmocka_run_group_tests(tests, ops_setup, ops_teardown);
}
