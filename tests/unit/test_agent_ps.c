/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent's ps and kill ops (see agent_harness.h for how the agent
 * runs): processes from /proc marked with the exec they belong to, signals
 * by pid and by exec id, the refusals (pid 1, the agent, pids <= 0), "no
 * such process", the /proc parsing helpers, and malformed requests.
 */
#include "agent_harness.h"
#include "agent_raw.h"

#include "agent/ps.h"

/* Start `argv_json` as exec id on r; returns the pid from "started". */
static int raw_exec(struct raw *r, uint32_t id, const char *argv_json)
{
	char req[1024];
	json_t *j;
	int pid;

	snprintf(req, sizeof(req), "{\"op\":\"exec\",\"argv\":%s}", argv_json);
	raw_ctl(r, id, req);
	j = raw_expect(r, id, "started", NULL);
	pid = (int)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	assert_true(pid > 1);
	return pid;
}

/* Skip output frames of id until its exit message; returns its signal. */
static int raw_wait_exit(struct raw *r, uint32_t id)
{
	for (;;) {
		json_t *j;
		const char *type;
		int sig;

		if (!raw_next(r))
			fail_msg("EOF before exec %u exited", id);
		if (r->rd.hdr.kind != PROTO_CONTROL || r->rd.hdr.id != id)
			continue;
		j = raw_json(r);
		type = json_string_value(json_object_get(j, "type"));
		assert_non_null(type);
		if (strcmp(type, "exit") != 0)
			fail_msg("unexpected %s for exec %u", type, id);
		sig = (int)json_integer_value(json_object_get(j, "signal"));
		json_decref(j);
		return sig;
	}
}

static const struct agent_proc_info *find_pid(const struct agent_proc_info *a,
					      size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].pid == pid)
			return &a[i];
	return NULL;
}

static void test_ps_lists_exec(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_proc_info *procs;
	const struct agent_proc_info *p, *self;
	bool truncated = true;
	char err[256];
	struct raw r;
	size_t n;
	int pid;

	raw_open(&r, true);
	pid = raw_exec(&r, 7, "[\"sleep\",\"30\"]");
	assert_int_equal(agent_client_ps(c, 5000, &procs, &n, &truncated, err,
					 sizeof(err)),
			 0);
	assert_false(truncated);
	p = find_pid(procs, n, pid);
	assert_non_null(p);
	assert_string_equal(p->cmdline, "sleep 30");
	assert_string_equal(p->comm, "sleep");
	assert_false(p->cmdline_truncated);
	assert_int_equal(p->exec_id, 7);
	assert_true(p->exec_conn > 0);
	assert_true(p->exec_leader);
	assert_int_equal(p->ppid, (int)agent_pid);
	assert_int_equal(p->pgid, pid);
	assert_int_equal(p->uid, (uint32_t)geteuid());
	assert_true(p->state == 'S' || p->state == 'R');
	assert_true(p->rss_kib > 0);
	/* started within the last minute, by the guest's (here: our) clock */
	assert_true(p->start_time > (double)time(NULL) - 60 &&
		    p->start_time < (double)time(NULL) + 2);
	/* the agent itself is listed, and belongs to no exec */
	self = find_pid(procs, n, (int)agent_pid);
	assert_non_null(self);
	assert_int_equal(self->exec_id, 0);
	free(procs);

	assert_int_equal(agent_client_kill(c, pid, 0, 0, SIGKILL, 5000, err,
					   sizeof(err)),
			 0);
	assert_int_equal(raw_wait_exit(&r, 7), SIGKILL);
	assert_gone(pid);
	raw_close(&r);
	agent_client_close(c);
}

/* A detached command's processes carry its session (for attach). */
static void test_ps_detached_session(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_proc_info *procs;
	const struct agent_proc_info *p;
	bool truncated;
	char err[256];
	struct raw r;
	json_t *j;
	uint32_t session;
	size_t n;
	int pid;

	raw_open(&r, true);
	raw_ctl(&r, 3,
		"{\"op\":\"exec\",\"argv\":[\"sleep\",\"30\"],"
		"\"detach\":true}");
	j = raw_expect(&r, 3, "result", NULL);
	session = (uint32_t)json_integer_value(json_object_get(j, "session"));
	pid = (int)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	assert_true(session > 0 && pid > 1);
	assert_int_equal(agent_client_ps(c, 5000, &procs, &n, &truncated, err,
					 sizeof(err)),
			 0);
	p = find_pid(procs, n, pid);
	assert_non_null(p);
	assert_int_equal(p->session, session);
	assert_int_equal(p->exec_id, 0); /* nobody attached */
	/* the agent itself belongs to no session */
	assert_int_equal(find_pid(procs, n, (int)agent_pid)->session, 0);
	free(procs);
	/* attached: still the session, and now the attach's exec id */
	raw_ctl(&r, 4, "{\"op\":\"attach\",\"session\":0}");
	raw_expect_free(&r, 4, "error", "invalid_request");
	{
		char req[64];

		snprintf(req, sizeof(req), "{\"op\":\"attach\",\"session\":%u}",
			 session);
		raw_ctl(&r, 5, req);
	}
	json_decref(raw_expect(&r, 5, "started", NULL));
	assert_int_equal(agent_client_ps(c, 5000, &procs, &n, &truncated, err,
					 sizeof(err)),
			 0);
	p = find_pid(procs, n, pid);
	assert_non_null(p);
	assert_int_equal(p->session, session);
	assert_int_equal(p->exec_id, 5);
	free(procs);
	assert_int_equal(agent_client_kill(c, pid, 0, 0, SIGKILL, 5000, err,
					   sizeof(err)),
			 0);
	assert_int_equal(raw_wait_exit(&r, 5), SIGKILL);
	assert_gone(pid);
	raw_close(&r);
	agent_client_close(c);
}

/* A command line over 256 bytes is cut and marked; children are marked. */
static void test_ps_truncated_and_children(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_proc_info *procs;
	const struct agent_proc_info *sh, *child = NULL;
	char argv[700], err[256], longarg[401];
	struct raw r;
	size_t n;
	int pid;

	memset(longarg, 'x', 400);
	longarg[400] = 0;
	snprintf(argv, sizeof(argv), "[\"sh\",\"-c\",\"sleep 30; :\",\"%s\"]",
		 longarg);
	raw_open(&r, true);
	pid = raw_exec(&r, 3, argv);
	/* Poll until sh has started its child (a deadline, no sleep). */
	for (int64_t deadline = now_ms() + DEADLINE_MS; !child;) {
		assert_int_equal(agent_client_ps(c, 5000, &procs, &n, NULL, err,
						 sizeof(err)),
				 0);
		for (size_t i = 0; i < n && !child; i++)
			if (procs[i].ppid == pid &&
			    strcmp(procs[i].comm, "sleep") == 0)
				child = &procs[i];
		if (child)
			break;
		free(procs);
		if (now_ms() > deadline)
			fail_msg("sh never started sleep");
		pause_ms(10);
	}
	assert_int_equal(child->exec_id, 3);
	assert_false(child->exec_leader);
	assert_string_equal(child->cmdline, "sleep 30");
	sh = find_pid(procs, n, pid);
	assert_non_null(sh);
	assert_true(sh->cmdline_truncated);
	assert_int_equal(strlen(sh->cmdline), PS_CMDLINE_MAX);
	assert_true(strncmp(sh->cmdline, "sh -c sleep 30; : xxxx", 22) == 0);
	assert_true(sh->exec_leader);
	free(procs);
	/* kill by exec id (unique on the agent): the whole group */
	assert_int_equal(
		agent_client_kill(c, 0, 3, 0, SIGTERM, 5000, err, sizeof(err)),
		0);
	assert_int_equal(raw_wait_exit(&r, 3), SIGTERM);
	raw_close(&r);
	agent_client_close(c);
}

/* kill by exec id with exec_conn from ps; ambiguous ids are refused. */
static void test_kill_exec_id(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_proc_info *procs;
	const struct agent_proc_info *p;
	struct raw r1, r2;
	char err[256];
	size_t n;
	int pid1, pid2;

	raw_open(&r1, true);
	raw_open(&r2, true);
	pid1 = raw_exec(&r1, 5, "[\"sleep\",\"30\"]");
	pid2 = raw_exec(&r2, 5, "[\"sleep\",\"30\"]");
	assert_int_equal(
		agent_client_kill(c, 0, 5, 0, SIGTERM, 5000, err, sizeof(err)),
		AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "exec_conn"));
	assert_int_equal(
		agent_client_ps(c, 5000, &procs, &n, NULL, err, sizeof(err)),
		0);
	p = find_pid(procs, n, pid2);
	assert_non_null(p);
	assert_int_equal(p->exec_id, 5);
	assert_int_not_equal(p->exec_conn, find_pid(procs, n, pid1)->exec_conn);
	assert_int_equal(agent_client_kill(c, 0, 5, p->exec_conn, SIGUSR1, 5000,
					   err, sizeof(err)),
			 0);
	free(procs);
	assert_int_equal(raw_wait_exit(&r2, 5), SIGUSR1);
	/* now exec id 5 is unique again */
	assert_int_equal(
		agent_client_kill(c, 0, 5, 0, SIGINT, 5000, err, sizeof(err)),
		0);
	assert_int_equal(raw_wait_exit(&r1, 5), SIGINT);
	/* no such exec any more */
	assert_int_equal(
		agent_client_kill(c, 0, 5, 0, SIGINT, 5000, err, sizeof(err)),
		AGENT_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "no such process"));
	raw_close(&r1);
	raw_close(&r2);
	agent_client_close(c);
}

static void test_kill_refusals(void **state)
{
	struct agent_client *c = client_connect();
	char err[256], req[128];
	struct raw r;
	pid_t gone;

	/* pid 1, 0, negative, the agent itself: refused, clearly */
	assert_int_equal(
		agent_client_kill(c, 1, 0, 0, SIGKILL, 5000, err, sizeof(err)),
		AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "pid 1 is the agent"));
	assert_int_equal(agent_client_kill(c, (int)agent_pid, 0, 0, SIGKILL,
					   5000, err, sizeof(err)),
			 AGENT_ERR_REMOTE);
	assert_non_null(strstr(err, "the agent itself"));
	raw_open(&r, true);
	raw_ctl(&r, 2, "{\"op\":\"kill\",\"pid\":0}");
	raw_expect_free(&r, 2, "error", PROTO_E_INVALID);
	raw_ctl(&r, 3, "{\"op\":\"kill\",\"pid\":-1,\"signal\":9}");
	raw_expect_free(&r, 3, "error", PROTO_E_INVALID);
	/* a pid that no longer exists: ESRCH is "no such process" */
	gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	snprintf(req, sizeof(req), "{\"op\":\"kill\",\"pid\":%d}", (int)gone);
	raw_ctl(&r, 4, req);
	json_t *j = raw_expect(&r, 4, "error", PROTO_E_NO_PROCESS);
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "no such process"));
	json_decref(j);
	assert_int_equal(agent_client_kill(c, (int)gone, 0, 0, SIGTERM, 5000,
					   err, sizeof(err)),
			 AGENT_ERR_NOT_FOUND);
	raw_close(&r);
	agent_client_close(c);
}

static void test_ps_kill_malformed(void **state)
{
	static const char *const bad[] = {
		"{\"op\":\"ps\",\"all\":true}",
		"{\"op\":\"kill\"}",
		"{\"op\":\"kill\",\"pid\":5,\"exec_id\":2}",
		"{\"op\":\"kill\",\"pid\":\"5\"}",
		"{\"op\":\"kill\",\"pid\":5,\"signal\":\"FOO\"}",
		"{\"op\":\"kill\",\"pid\":5,\"signal\":0}",
		"{\"op\":\"kill\",\"pid\":5,\"signal\":4096}",
		"{\"op\":\"kill\",\"exec_id\":0}",
		"{\"op\":\"kill\",\"exec_id\":2,\"exec_conn\":-1}",
		"{\"op\":\"kill\",\"pid\":5,\"exec_conn\":1}",
		"{\"op\":\"kill\",\"pid\":99999999999}",
	};
	struct raw r;

	raw_open(&r, true);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_ctl(&r, 10 + (uint32_t)i, bad[i]);
		raw_expect_free(&r, 10 + (uint32_t)i, "error", PROTO_E_INVALID);
	}
	/* and it goes on serving */
	raw_ctl(&r, 50, "{\"op\":\"ps\"}");
	raw_expect_free(&r, 50, "result", NULL);
	raw_close(&r);
}

/* Processes that vanish during the scan are left out, never an error. */
static void test_ps_churn(void **state)
{
	struct agent_client *c = client_connect();
	struct agent_proc_info *procs;
	char err[256];
	struct raw r;
	size_t n;

	raw_open(&r, true);
	raw_exec(&r, 2,
		 "[\"sh\",\"-c\",\"i=0; while [ $i -lt 400 ]; do "
		 "/bin/true; i=$((i+1)); done\"]");
	for (int i = 0; i < 30; i++) {
		assert_int_equal(agent_client_ps(c, 5000, &procs, &n, NULL, err,
						 sizeof(err)),
				 0);
		assert_true(n > 0);
		free(procs);
	}
	assert_int_equal(raw_wait_exit(&r, 2), 0);
	raw_close(&r);
	/* a pid that does not exist */
	struct ps_entry e;
	assert_int_equal(ps_read_one("/proc", 0x7ffffff0, &e), -1);
	agent_client_close(c);
}

static void test_ps_parsers(void **state)
{
	static const char stat[] =
		"123 (we ird) (name) S 1 123 123 0 -1 4194560 100 0 0 0 5 6 0 "
		"0 20 0 1 0 4242 10000000 25 18446744073709551615 1 1 0 0 0";
	static const uint8_t raw[] = "sleep\0"
				     "3\xff"
				     "0\0\x01x\0";
	struct ps_entry e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(ps_parse_stat(stat, strlen(stat), 4, &e), 0);
	assert_int_equal(e.pid, 123);
	assert_string_equal(e.comm, "we ird) (name");
	assert_int_equal(e.state, 'S');
	assert_int_equal(e.ppid, 1);
	assert_int_equal(e.pgid, 123);
	assert_int_equal(e.start_ticks, 4242);
	assert_int_equal(e.rss_kib, 100);
	assert_int_equal(ps_parse_stat("123 (x S 1", 10, 4, &e), -1);
	assert_int_equal(ps_parse_stat("123 (x) S 1 2", 13, 4, &e), -1);
	assert_int_equal(ps_parse_stat("(x) S", 5, 4, &e), -1);

	/* NULs become spaces, bad UTF-8 and control bytes '?' */
	ps_join_cmdline(raw, sizeof(raw) - 1, sizeof(raw) - 1, &e);
	assert_string_equal(e.cmdline, "sleep 3?0 ?x");
	assert_false(e.cmdline_truncated);
	/* valid UTF-8 is kept */
	ps_join_cmdline((const uint8_t *)"caf\xc3\xa9\0", 6, 6, &e);
	assert_string_equal(e.cmdline, "caf\xc3\xa9");
	/* a sequence cut at the limit is replaced */
	uint8_t big[300];
	memset(big, 'a', sizeof(big));
	big[255] = 0xc3;
	big[256] = 0xa9;
	ps_join_cmdline(big, sizeof(big), sizeof(big), &e);
	assert_true(e.cmdline_truncated);
	assert_int_equal(strlen(e.cmdline), 256);
	assert_int_equal(e.cmdline[255], '?');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ps_lists_exec),
		cmocka_unit_test(test_ps_detached_session),
		cmocka_unit_test(test_ps_truncated_and_children),
		cmocka_unit_test(test_kill_exec_id),
		cmocka_unit_test(test_kill_refusals),
		cmocka_unit_test(test_ps_kill_malformed),
		cmocka_unit_test(test_ps_churn),
		cmocka_unit_test(test_ps_parsers),
	};

	(void)buf_append; /* harness helper this file does not need */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
