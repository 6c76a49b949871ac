/* SPDX-License-Identifier: MIT */
/*
 * kiln_sandbox_pause()/_resume() without KVM: the "VMM" is a real detached
 * process (sleep) recorded as kiln records one, and its REST API is a
 * thread listening on <runtime_dir>/api.sock that records each request
 * and answers as programmed.  Where no request may be made, nothing
 * listens, so a stray request fails the call (connection refused).
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/rundir.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

struct fixture {
	char top[64], state[128], run[128], db[160];
	struct kiln *k;
	struct state *st;
	char err[1024];
	struct vmm_proc vmm;
	bool vmm_started;
};

/* The fake API: serves n connections, one request each. */
struct fake_api {
	int lfd;
	int n;
	const char *reply;
	char requests[4][2048];
	pthread_t thread;
};

static const char reply_ok[] = "HTTP/1.1 204 No Content\r\n"
			       "Content-Length: 0\r\n\r\n";
static const char reply_refused[] =
	"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
	"Content-Length: 27\r\n\r\n{\"fault_message\": \"nope!\"}\n";

static void read_request(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t r = read(fd, buf + len, size - 1 - len);
		char *h, *cl;

		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		h = strstr(buf, "\r\n\r\n");
		if (!h)
			continue;
		cl = strstr(buf, "Content-Length: ");
		if (!cl || strlen(h + 4) >= strtoul(cl + 16, NULL, 10))
			break;
	}
}

static void *api_thread(void *arg)
{
	struct fake_api *a = arg;

	for (int i = 0; i < a->n; i++) {
		int fd = accept(a->lfd, NULL, NULL);

		if (fd < 0)
			break;
		read_request(fd, a->requests[i], sizeof(a->requests[i]));
		if (write(fd, a->reply, strlen(a->reply)) < 0)
			perror("write");
		close(fd);
	}
	return NULL;
}

static void api_start(struct fake_api *a, const char *dir, int n,
		      const char *reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(a, 0, sizeof(*a));
	a->n = n;
	a->reply = reply;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/api.sock", dir);
	unlink(sa.sun_path);
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(a->lfd >= 0);
	assert_int_equal(bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(a->lfd, 4), 0);
	assert_int_equal(pthread_create(&a->thread, NULL, api_thread, a), 0);
}

/* Wait for the n connections, then stop listening. */
static void api_join(struct fake_api *a)
{
	assert_int_equal(pthread_join(a->thread, NULL), 0);
	close(a->lfd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kiln_options o;

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-pause-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->state, sizeof(f->state), "%s/state", f->top);
	snprintf(f->run, sizeof(f->run), "%s/run", f->top);
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->state);
	assert_int_equal(mkdir(f->state, 0700), 0);
	kiln_options_init(&o);
	o.cache_dir = f->top;
	o.state_dir = f->state;
	o.runtime_dir = f->run;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(state_open(f->db, &f->st, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->vmm_started) {
		int fd = proc_open_verified(f->vmm.pid, f->vmm.start_time);

		if (fd >= 0) {
			proc_stop_pidfd(fd, 0, 0);
			close(fd);
		}
		vmm_proc_stop(&f->vmm, 0, 0);
	}
	state_close(f->st);
	kiln_close(f->k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A running sandbox named name whose "VMM" is a detached sleep. */
static void running_add(struct fixture *f, const char *name,
			struct state_sandbox *out)
{
	struct state_new n = {
		.name = name,
		.runtime_base = f->run,
		.config = "{\"kernel\":\"/nonexistent/vmlinux\",\"image\":"
			  "\"/nonexistent/base.ext4\",\"cpus\":1,"
			  "\"memory_mib\":256}",
	};
	struct state_update u = {.status = STATE_SB_RUNNING};
	char *argv[] = {"/bin/sleep", "1000", NULL};
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char *dir;

	assert_true(null >= 0);
	assert_int_equal(vmm_proc_spawn_detached(&f->vmm, argv, null, f->err,
						 sizeof(f->err)),
			 0);
	assert_int_equal(vmm_proc_release(&f->vmm, f->err, sizeof(f->err)), 0);
	close(null);
	f->vmm_started = true;
	assert_int_equal(
		state_sandbox_create(f->st, &n, out, f->err, sizeof(f->err)),
		0);
	assert_int_equal(
		rundir_create(f->run, out->id, &dir, f->err, sizeof(f->err)),
		0);
	free(dir);
	u.vmm_pid = f->vmm.pid;
	u.vmm_start = f->vmm.start_time;
	assert_int_equal(state_sandbox_transition(f->st, out->id,
						  STATE_SB_CREATING, &u, f->err,
						  sizeof(f->err)),
			 0);
}

static enum kiln_sandbox_state state_of(struct fixture *f, const char *ref)
{
	struct kiln_sandbox_info info;
	enum kiln_sandbox_state st;

	assert_int_equal(kiln_sandbox_get(f->k, ref, &info), KILN_OK);
	st = info.state;
	kiln_sandbox_info_clear(&info);
	return st;
}

static bool pid_gone(pid_t pid, uint64_t start)
{
	uint64_t now;

	/* init reaps detached processes asynchronously: poll, bounded */
	for (int i = 0; i < 3000; i++) {
		if (proc_start_time(pid, &now) != 0 || now != start)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_pause_resume(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox *sb = NULL;
	struct state_sandbox row;
	struct fake_api api;

	running_add(f, "box", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	api_join(&api);
	assert_non_null(strstr(api.requests[0], "PATCH /vm HTTP/1.1"));
	assert_non_null(strstr(api.requests[0], "\"state\":\"Paused\""));
	assert_int_equal(state_of(f, "box"), KILN_SB_PAUSED);
	assert_string_equal(kiln_sandbox_state_name(KILN_SB_PAUSED), "paused");

	/* paused again: nothing to do, no request (nobody listens) */
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	/* exec and friends are refused with the way out */
	assert_int_equal(kiln_sandbox_open(f->k, "box", &sb), KILN_ESTATE);
	assert_null(sb);
	assert_string_equal(kiln_errmsg(f->k),
			    "sandbox box is paused; resume it with 'kiln "
			    "resume box'");
	assert_int_equal(kiln_sandbox_start(f->k, "box", NULL, NULL),
			 KILN_ESTATE);
	assert_non_null(strstr(kiln_errmsg(f->k), "is paused"));

	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_resume(f->k, row.id), KILN_OK);
	api_join(&api);
	assert_non_null(strstr(api.requests[0], "\"state\":\"Resumed\""));
	assert_int_equal(state_of(f, "box"), KILN_SB_RUNNING);
	/* running: resume does nothing */
	assert_int_equal(kiln_sandbox_resume(f->k, "box"), KILN_OK);

	/* the VMM refuses: an error naming it, the record unchanged */
	api_start(&api, row.runtime_dir, 1, reply_refused);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_EVMM);
	api_join(&api);
	assert_non_null(strstr(kiln_errmsg(f->k), "cannot pause sandbox"));
	assert_non_null(strstr(kiln_errmsg(f->k), "nope!"));
	assert_int_equal(state_of(f, "box"), KILN_SB_RUNNING);

	/* no API at all */
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_EVMM);
	assert_non_null(strstr(kiln_errmsg(f->k), "api.sock"));
	assert_int_equal(state_of(f, "box"), KILN_SB_RUNNING);
	state_sandbox_clear(&row);
}

static void test_pause_wrong_state(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox row;

	assert_int_equal(kiln_sandbox_pause(f->k, "nosuch"), KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_resume(f->k, ""), KILN_EINVAL);
	running_add(f, "box", &row);
	/* stopped: neither can be done */
	assert_int_equal(kiln_sandbox_stop(f->k, "box", 1), KILN_OK);
	assert_true(pid_gone(f->vmm.pid, f->vmm.start_time));
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_ESTATE);
	assert_non_null(strstr(kiln_errmsg(f->k),
			       "sandbox box is stopped; only a running "
			       "sandbox can be paused (start it"));
	assert_int_equal(kiln_sandbox_resume(f->k, "box"), KILN_ESTATE);
	assert_non_null(strstr(kiln_errmsg(f->k),
			       "only a paused sandbox can be resumed"));
	state_sandbox_clear(&row);
}

/* Paused and then the VMM dies: dead, like a running one. */
static void test_paused_vmm_dies(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox row;
	struct fake_api api;

	running_add(f, "box", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	api_join(&api);
	vmm_proc_stop(&f->vmm, 0, 0);
	{
		int fd = proc_open_verified(row.vmm_pid, row.vmm_start);

		if (fd >= 0) {
			proc_stop_pidfd(fd, 0, 0);
			close(fd);
		}
	}
	assert_true(pid_gone(row.vmm_pid, row.vmm_start));
	assert_int_equal(state_of(f, "box"), KILN_SB_DEAD);
	assert_int_equal(kiln_sandbox_remove(f->k, "box", 0), KILN_OK);
	state_sandbox_clear(&row);
}

/* stop resumes a paused sandbox first (so it can power off); rm -f not */
static void test_stop_remove_paused(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox row;
	struct fake_api api;

	running_add(f, "box", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	api_join(&api);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_stop(f->k, "box", 0), KILN_OK);
	api_join(&api);
	assert_non_null(strstr(api.requests[0], "\"state\":\"Resumed\""));
	assert_true(pid_gone(row.vmm_pid, row.vmm_start));
	assert_int_equal(state_of(f, "box"), KILN_SB_STOPPED);
	assert_int_equal(kiln_sandbox_remove(f->k, "box", 0), KILN_OK);
	state_sandbox_clear(&row);

	/* a resume that fails: killed anyway */
	running_add(f, "box2", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box2"), KILN_OK);
	api_join(&api);
	api_start(&api, row.runtime_dir, 1, reply_refused);
	assert_int_equal(kiln_sandbox_remove(f->k, "box2", 0), KILN_OK);
	api_join(&api);
	assert_true(pid_gone(row.vmm_pid, row.vmm_start));
	{
		struct kiln_sandbox_info info;

		assert_int_equal(kiln_sandbox_get(f->k, "box2", &info),
				 KILN_ENOTFOUND);
	}
	state_sandbox_clear(&row);

	/* rm --force: no request at all */
	running_add(f, "box3", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box3"), KILN_OK);
	api_join(&api);
	assert_int_equal(kiln_sandbox_remove(f->k, "box3", 1), KILN_OK);
	assert_true(pid_gone(row.vmm_pid, row.vmm_start));
	state_sandbox_clear(&row);
}

/* What a hook saw: event names (phase for errors), one string. */
struct seen {
	char log[1024];
	bool veto_resume;
};

static int remember(void *ctx, const struct kiln_event_info *ev)
{
	struct seen *s = ctx;
	size_t len = strlen(s->log);

	if (*ev->phase)
		snprintf(s->log + len, sizeof(s->log) - len, "%s:%s ",
			 kiln_event_name(ev->event), ev->phase);
	else if (*ev->new_state)
		snprintf(s->log + len, sizeof(s->log) - len, "%s:%s>%s ",
			 kiln_event_name(ev->event), ev->old_state,
			 ev->new_state);
	else
		snprintf(s->log + len, sizeof(s->log) - len, "%s ",
			 kiln_event_name(ev->event));
	if (ev->event == KILN_EV_BEFORE_RESUME && s->veto_resume)
		return ev->veto(ev, "not now");
	return KILN_OK;
}

/* Pause and resume are announced to hooks, which can refuse them. */
static void test_pause_hooks(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox row;
	struct fake_api api;
	struct seen seen = {0};
	char cmdlog[256], cmd[512], buf[4096];
	FILE *fp;
	size_t n;

	snprintf(cmdlog, sizeof(cmdlog), "%s/cmd.log", f->top);
	snprintf(cmd, sizeof(cmd), "cat >> '%s'", cmdlog);
	assert_int_equal(kiln_add_hook(f->k, remember, &seen), KILN_OK);
	assert_int_equal(kiln_add_hook_command(f->k, "*_resume", cmd), KILN_OK);
	running_add(f, "box", &row);
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	api_join(&api);
	assert_string_equal(seen.log,
			    "before_pause state_change:running>paused "
			    "after_pause ");
	/* nothing to do: no events */
	seen.log[0] = '\0';
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	assert_string_equal(seen.log, "");

	/* vetoed: no request (nobody listens), still paused */
	seen.veto_resume = true;
	assert_int_equal(kiln_sandbox_resume(f->k, "box"), KILN_EVETO);
	assert_string_equal(kiln_errmsg(f->k),
			    "before_resume hook 'callback' refused: not now");
	assert_string_equal(seen.log, "before_resume error:resume ");
	assert_int_equal(state_of(f, "box"), KILN_SB_PAUSED);

	seen.veto_resume = false;
	seen.log[0] = '\0';
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_resume(f->k, "box"), KILN_OK);
	api_join(&api);
	assert_string_equal(seen.log,
			    "before_resume state_change:paused>running "
			    "after_resume ");

	/* a failure after before_pause: error with its phase */
	seen.log[0] = '\0';
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_EVMM);
	assert_string_equal(seen.log, "before_pause error:pause ");

	/* the resume inside a stop is the stop's: no resume events */
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_pause(f->k, "box"), KILN_OK);
	api_join(&api);
	seen.log[0] = '\0';
	api_start(&api, row.runtime_dir, 1, reply_ok);
	assert_int_equal(kiln_sandbox_stop(f->k, "box", 0), KILN_OK);
	api_join(&api);
	assert_null(strstr(seen.log, "resume"));
	assert_true(pid_gone(row.vmm_pid, row.vmm_start));

	/* the command saw the resume events as JSON; not the vetoed one
	 * (the first veto wins: later hooks do not see that event) */
	fp = fopen(cmdlog, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	{
		const char *p = buf,
			   *want[] = {"before_resume", "after_resume"};

		for (int i = 0; i < 2; i++) {
			char ev[64];

			snprintf(ev, sizeof(ev), "{\"event\":\"%s\"", want[i]);
			if (strncmp(p, ev, strlen(ev)))
				fail_msg("hook command line %d: %s", i + 1, p);
			assert_non_null(strstr(p, "\"sandbox_name\":\"box\""));
			p = strchr(p, '\n');
			assert_non_null(p);
			p++;
		}
		assert_string_equal(p, "");
	}
	state_sandbox_clear(&row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pause_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_wrong_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_paused_vmm_dies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_remove_paused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_hooks, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
