/* SPDX-License-Identifier: MIT */
/*
 * Hooks and plugins without KVM: the test plugin (tests/unit/plugins,
 * built next to this binary), a hook command written here and an
 * in-memory callback see every event of creates that fail (no KVM) or are
 * vetoed, and of stop/start/remove of a sandbox whose "VMM" is a detached
 * sleep, in order; vetoes stop a create before anything is recorded; a
 * plugin built for another ABI is refused; hook files are checked.
 */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/rundir.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

struct fixture {
	char top[64];
	char cache[128];
	char state[128];
	char run[128];
	char plugin[PATH_MAX + 32];
	char badabi[PATH_MAX + 32];
	char log[256]; /* the plugin's and the hook command's lines */
	char lastlog[1024]; /* the last message logged at warn or worse */
	struct kiln *k;
};

/* What the in-memory callback saw. */
struct seen {
	int n;
	uint64_t seq[64];
	enum kiln_event ev[64];
};

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_bytes(const char *path, const void *buf, size_t len,
			off_t size)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(truncate(path, size), 0);
}

/* A cache with a kernel and an image that pass the checks. */
static void good_cache(struct fixture *f)
{
	static const unsigned char elf[20] = {0x7f, 'E', 'L', 'F', 2,  1, 1,
					      0,    0,	 0,   0,   0,  0, 0,
					      0,    0,	 2,   0,   62, 0};
	unsigned char sb[2048] = {0};
	char p[256];

	snprintf(p, sizeof(p), "%s/kernel", f->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/images", f->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/kernel/vmlinux", f->cache);
	write_bytes(p, elf, sizeof(elf), 4096);
	sb[1024 + 4] = 0x04; /* 1024 blocks */
	sb[1024 + 56] = 0x53;
	sb[1024 + 57] = 0xEF;
	snprintf(p, sizeof(p), "%s/images/base.ext4", f->cache);
	write_bytes(p, sb, sizeof(sb), 1 << 20);
}

static void logger(void *ctx, enum kiln_log_level level, const char *tag,
		   const char *msg)
{
	struct fixture *f = ctx;

	(void)tag;
	if (level <= KILN_LOG_WARN)
		snprintf(f->lastlog, sizeof(f->lastlog), "%s", msg);
}

static void opts_init(struct fixture *f, struct kiln_options *o)
{
	kiln_options_init(o);
	o->cache_dir = f->cache;
	o->state_dir = f->state;
	o->runtime_dir = f->run;
	o->vmm_path = "/bin/true"; /* KVM is checked before it would run */
	o->log = logger;
	o->log_ctx = f;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-hooks-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->top);
	snprintf(f->state, sizeof(f->state), "%s/state", f->top);
	snprintf(f->run, sizeof(f->run), "%s/run", f->top);
	snprintf(f->log, sizeof(f->log), "%s/plugin-events.log", f->state);
	assert_int_equal(mkdir(f->cache, 0700), 0);
	assert_int_equal(mkdir(f->state, 0700), 0);
	/* the plugins are built in plugins/ next to this test binary */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(f->plugin, sizeof(f->plugin), "%s/plugins/test_plugin.so",
		 exe);
	snprintf(f->badabi, sizeof(f->badabi),
		 "%s/plugins/test_plugin_badabi.so", exe);
	assert_int_equal(access(f->plugin, R_OK), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kiln_close(f->k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_names(void **state)
{
	enum kiln_event ev;

	(void)state;
	for (int i = 0; i < KILN_EV_COUNT; i++) {
		assert_int_equal(
			kiln_event_parse(kiln_event_name((enum kiln_event)i),
					 &ev),
			KILN_OK);
		assert_int_equal(ev, i);
	}
	assert_string_equal(kiln_event_name(KILN_EV_NET_POLICY), "net_policy");
	assert_string_equal(kiln_event_name((enum kiln_event)99), "unknown");
	assert_int_equal(kiln_event_parse("before", &ev), KILN_EINVAL);
	assert_int_equal(kiln_event_parse(NULL, &ev), KILN_EINVAL);
	assert_string_equal(kiln_strstatus(KILN_EVETO), "refused by a hook");
}

static void test_plugin_abi(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	const char *plugins[] = {NULL, NULL};
	char want[PATH_MAX + 160];

	opts_init(f, &o);
	o.hooks_file = "";
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(kiln_load_plugin(f->k, f->badabi), KILN_EFORMAT);
	snprintf(want, sizeof(want),
		 "plugin %s was built for kiln plugin ABI %u, this libkiln "
		 "has %u; rebuild it",
		 f->badabi, KILN_PLUGIN_ABI + 1, KILN_PLUGIN_ABI);
	assert_string_equal(kiln_errmsg(f->k), want);
	assert_int_equal(kiln_load_plugin(f->k, "/nonexistent/p.so"),
			 KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k), "/nonexistent/p.so"));
	assert_int_equal(kiln_load_plugin(f->k, "p.so"), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "give a path"));
	/* a shared object that is not a plugin */
	assert_int_equal(
		kiln_load_plugin(f->k, "/lib/x86_64-linux-gnu/libm.so.6"),
		KILN_EFORMAT);
	assert_non_null(strstr(kiln_errmsg(f->k), "is not a kiln plugin"));
	assert_int_equal(kiln_load_plugin(f->k, f->plugin), KILN_OK);
	kiln_close(f->k);
	f->k = NULL;

	/* through the options: kiln_open() fails, the logger says why */
	plugins[0] = f->badabi;
	o.plugins = plugins;
	assert_int_equal(kiln_open(&o, &f->k), KILN_EFORMAT);
	assert_null(f->k);
	assert_string_equal(f->lastlog, want);
}

static void open_expect(struct fixture *f, const char *text, mode_t mode,
			int rc, const char *msg)
{
	struct kiln_options o;
	char path[256];

	snprintf(path, sizeof(path), "%s/hooks.conf", f->top);
	write_file(path, text, mode);
	opts_init(f, &o);
	o.hooks_file = path;
	f->lastlog[0] = '\0';
	assert_int_equal(kiln_open(&o, &f->k), rc);
	if (msg) {
		if (!strstr(f->lastlog, msg))
			fail_msg("'%s' does not contain '%s'", f->lastlog, msg);
	}
	kiln_close(f->k);
	f->k = NULL;
}

static void test_config(void **state)
{
	struct fixture *f = *state;

	open_expect(f,
		    "# comment\n\n  before_*   /bin/true --x  \r\n"
		    "timeout 5\n*\tlogger -t kiln\n",
		    0600, KILN_OK, NULL);
	open_expect(f, "befor_create /bin/true\n", 0600, KILN_EINVAL,
		    "hooks.conf:1: event pattern 'befor_create' matches no "
		    "event");
	open_expect(f, "\nafter_stop\n", 0600, KILN_EINVAL,
		    "hooks.conf:2: expected 'EVENT-PATTERN COMMAND'");
	open_expect(f, "timeout 0\n", 0600, KILN_EINVAL,
		    "hooks.conf:1: expected 'timeout SECONDS'");
	open_expect(f, "timeout 5s\n", 0600, KILN_EINVAL, "timeout SECONDS");
	open_expect(f, "* /bin/true\x1b[2J\n", 0600, KILN_EINVAL,
		    "control character");
	open_expect(f, "plugin relative.so\n", 0600, KILN_EINVAL,
		    "expected 'plugin /absolute/path.so'");
	open_expect(f, "* /bin/true\n", 0620, KILN_EINVAL,
		    "not writable by group or others");
	{
		char text[PATH_MAX + 64];

		snprintf(text, sizeof(text), "plugin %s\n", f->plugin);
		open_expect(f, text, 0600, KILN_OK, NULL);
		snprintf(text, sizeof(text), "# x\nplugin %s\n", f->badabi);
		open_expect(f, text, 0600, KILN_EFORMAT,
			    "hooks.conf:2: plugin ");
		assert_non_null(strstr(f->lastlog,
				       "was built for kiln plugin "
				       "ABI 2, this libkiln has 1"));
	}
	/* "" means no hook file at all */
	{
		struct kiln_options o;

		opts_init(f, &o);
		o.hooks_file = "/nonexistent/hooks";
		assert_int_equal(kiln_open(&o, &f->k), KILN_ENOTFOUND);
		assert_non_null(strstr(f->lastlog, "/nonexistent/hooks"));
		o.hooks_file = "";
		assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
		assert_int_equal(kiln_add_hook_command(f->k, "nope", "x"),
				 KILN_EINVAL);
		assert_int_equal(kiln_add_hook_command(f->k, "*", ""),
				 KILN_EINVAL);
		assert_int_equal(kiln_add_hook(f->k, NULL, NULL), KILN_EINVAL);
	}
}

static int remember(void *ctx, const struct kiln_event_info *ev)
{
	struct seen *s = ctx;

	if (s->n < 64) {
		s->seq[s->n] = ev->seq;
		s->ev[s->n++] = ev->event;
	}
	return KILN_OK;
}

/* A running sandbox as kiln records it, its "VMM" a detached sleep. */
static void row_running(struct fixture *f, const char *name, struct vmm_proc *v,
			char *id)
{
	char *argv[] = {"/bin/sleep", "1000", NULL};
	struct state_new n = {
		.name = name,
		.runtime_base = f->run,
		.config = "{\"kernel\":\"/nonexistent/vmlinux\",\"image\":"
			  "\"/nonexistent/base.ext4\",\"cpus\":1,"
			  "\"memory_mib\":256}",
	};
	struct state_update u = {.status = STATE_SB_RUNNING};
	struct state_sandbox row;
	struct state *st;
	char err[512], db[256], *dir;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	assert_true(null >= 0);
	assert_int_equal(
		vmm_proc_spawn_detached(v, argv, null, err, sizeof(err)), 0);
	assert_int_equal(vmm_proc_release(v, err, sizeof(err)), 0);
	close(null);
	snprintf(db, sizeof(db), "%s/state.db", f->state);
	assert_int_equal(state_open(db, &st, err, sizeof(err)), 0);
	assert_int_equal(state_sandbox_create(st, &n, &row, err, sizeof(err)),
			 0);
	assert_int_equal(rundir_create(f->run, row.id, &dir, err, sizeof(err)),
			 0);
	free(dir);
	u.vmm_pid = v->pid;
	u.vmm_start = v->start_time;
	assert_int_equal(state_sandbox_transition(st, row.id, STATE_SB_CREATING,
						  &u, err, sizeof(err)),
			 0);
	memcpy(id, row.id, KILN_ID_LEN + 1);
	state_sandbox_clear(&row);
	state_close(st);
}

static char *file_read(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* One expected event: what the plugin line and the JSON must say. */
struct want {
	const char *event;
	const char *name; /* sandbox name */
	const char *extra; /* in the plugin line: phase=, old=, new= */
	bool cmd; /* the hook command sees it (not after a plugin veto) */
};

static void check_json(const char *line, uint64_t seq, const struct want *w,
		       const char *id)
{
	json_error_t e;
	json_t *o = json_loads(line, 0, &e), *details = NULL;
	const char *event, *sid, *sname, *time, *phase = NULL;
	json_int_t jseq, pid, code = 0;
	const char *status = NULL, *msg = NULL, *olds = NULL, *news = NULL;

	if (!o)
		fail_msg("hook stdin is not JSON (%s): %s", e.text, line);
	if (json_unpack_ex(o, &e, JSON_STRICT,
			   "{s:s, s:I, s:s, s:I, s:s, s:s, s?s, s?I, s?s, "
			   "s?s, s?s, s?s, s:o}",
			   "event", &event, "seq", &jseq, "time", &time, "pid",
			   &pid, "sandbox_id", &sid, "sandbox_name", &sname,
			   "phase", &phase, "error_code", &code, "error_status",
			   &status, "error_message", &msg, "old_state", &olds,
			   "new_state", &news, "details", &details))
		fail_msg("unexpected hook JSON (%s): %s", e.text, line);
	assert_string_equal(event, w->event);
	assert_int_equal(jseq, seq);
	assert_int_equal(pid, getpid());
	assert_string_equal(sname, w->name);
	assert_true(json_is_object(details));
	if (!strcmp(w->event, "before_create"))
		assert_string_equal(sid, "");
	else if (!strcmp(w->name, "svc"))
		assert_string_equal(sid, id);
	else
		assert_int_equal(strlen(sid), *sid ? KILN_ID_LEN : 0);
	assert_int_equal(!strcmp(w->event, "error"), phase != NULL);
	if (phase) {
		assert_non_null(strstr(w->extra, phase));
		assert_true(code < 0);
		assert_non_null(msg);
		assert_true(*msg);
	}
	assert_int_equal(!strcmp(w->event, "state_change"), news != NULL);
	json_decref(o);
}

static void test_events_in_order(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	struct kiln_sandbox_config cfg = {.persistent = 1};
	struct kiln_sandbox_info *list;
	struct kiln_sandbox *sb = NULL;
	const char *plugins[] = {f->plugin, NULL};
	struct seen seen = {0};
	struct vmm_proc v;
	char path[256], hook[256], veto[256], text[1024], id[KILN_ID_LEN + 1],
		id2[KILN_ID_LEN + 1];
	char *all, *line, *save = NULL;
	size_t n;
	int i, rc, nw = 0;

	good_cache(f);
	/* the command appends its stdin to the plugin's log: one order */
	snprintf(hook, sizeof(hook), "%s/hook.sh", f->top);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\ncat >> '%s'\n"
		 "[ \"$KILN_EVENT\" ] || exit 3\n",
		 f->log);
	write_file(hook, text, 0700);
	snprintf(veto, sizeof(veto), "%s/veto.sh", f->top);
	write_file(veto,
		   "#!/bin/sh\nif grep -q '\"sandbox_name\":\"cmdveto\"'; "
		   "then\n  echo 'quota exceeded for cmdveto' >&2\n"
		   "  echo 'second line' >&2\n  exit 1\nfi\n",
		   0700);
	/* the default hook file: <state_dir>/hooks */
	snprintf(path, sizeof(path), "%s/hooks", f->state);
	snprintf(text, sizeof(text), "* %s\nbefore_create %s\n", hook, veto);
	write_file(path, text, 0600);
	opts_init(f, &o);
	o.vmm_path = "/nonexistent/kiln-vmm";
	o.plugins = plugins;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(kiln_add_hook(f->k, remember, &seen), KILN_OK);

	struct want w[32];

	/*
	 * 1. a create that fails after before_create (no kiln-vmm): then
	 * error(create), no after_create, nothing recorded.
	 */
	cfg.name = "web";
	rc = kiln_sandbox_create(f->k, &cfg, &sb);
	assert_int_equal(rc, KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k), "kiln-vmm not found"));
	assert_null(sb);
	w[nw++] = (struct want){"before_create", "web", "", true};
	w[nw++] = (struct want){"error", "web", "phase=create", true};
	/* 2. the plugin vetoes: nothing recorded, later hooks skipped */
	cfg.name = "deny-x";
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EVETO);
	assert_null(sb);
	assert_string_equal(kiln_errmsg(f->k),
			    "before_create hook 'plugin test_plugin' refused: "
			    "the test plugin denies deny-* sandboxes");
	w[nw++] = (struct want){"before_create", "deny-x", "", false};
	w[nw++] = (struct want){"error", "deny-x", "phase=create", true};
	/* 3. a command vetoes, with its stderr's first line */
	cfg.name = "cmdveto";
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EVETO);
	if (!strstr(kiln_errmsg(f->k), "refused: quota exceeded for cmdveto"))
		fail_msg("message: %s", kiln_errmsg(f->k));
	assert_null(strstr(kiln_errmsg(f->k), "second line"));
	w[nw++] = (struct want){"before_create", "cmdveto", "", true};
	w[nw++] = (struct want){"error", "cmdveto", "phase=create", true};
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 0); /* no row left by any of them */

	/* 4. stop, start (fails: no kernel), remove */
	row_running(f, "svc", &v, id);
	assert_int_equal(kiln_sandbox_stop(f->k, "svc", 0), KILN_OK);
	w[nw++] = (struct want){"before_stop", "svc", "", true};
	w[nw++] = (struct want){"state_change", "svc",
				"old=running new=stopping", true};
	w[nw++] = (struct want){"state_change", "svc",
				"old=stopping new=stopped", true};
	w[nw++] = (struct want){"after_stop", "svc", "", true};
	assert_int_equal(kiln_sandbox_start(f->k, "svc", NULL, NULL),
			 KILN_ENOTFOUND);
	w[nw++] = (struct want){"before_start", "svc", "", true};
	w[nw++] = (struct want){"state_change", "svc",
				"old=stopped new=starting", true};
	w[nw++] = (struct want){"state_change", "svc",
				"old=starting new=stopped", true};
	w[nw++] = (struct want){"error", "svc", "phase=start", true};
	assert_int_equal(kiln_sandbox_remove(f->k, "svc", 0), KILN_OK);
	w[nw++] = (struct want){"before_remove", "svc", "", true};
	w[nw++] = (struct want){"after_remove", "svc", "", true};
	vmm_proc_stop(&v, 0, 0);

	/*
	 * 5. pause: vetoed by the plugin (no request to the VMM), then one
	 * that fails (nothing listens on its api.sock); resume of a running
	 * one has nothing to do (no events).
	 */
	row_running(f, "nopause-a", &v, id2);
	assert_int_equal(kiln_sandbox_pause(f->k, "nopause-a"), KILN_EVETO);
	assert_string_equal(kiln_errmsg(f->k),
			    "before_pause hook 'plugin test_plugin' refused: "
			    "the test plugin keeps nopause-* running");
	w[nw++] = (struct want){"before_pause", "nopause-a", "", false};
	w[nw++] = (struct want){"error", "nopause-a", "phase=pause", true};
	assert_int_equal(kiln_sandbox_remove(f->k, id2, 1), KILN_OK);
	w[nw++] = (struct want){"before_remove", "nopause-a", "", true};
	w[nw++] = (struct want){"state_change", "nopause-a",
				"old=running new=stopping", true};
	w[nw++] = (struct want){"after_remove", "nopause-a", "", true};
	vmm_proc_stop(&v, 0, 0);
	row_running(f, "p2", &v, id2);
	assert_int_equal(kiln_sandbox_pause(f->k, "p2"), KILN_EVMM);
	w[nw++] = (struct want){"before_pause", "p2", "", true};
	w[nw++] = (struct want){"error", "p2", "phase=pause", true};
	assert_int_equal(kiln_sandbox_resume(f->k, "p2"), KILN_OK);
	assert_int_equal(kiln_sandbox_remove(f->k, "p2", 1), KILN_OK);
	w[nw++] = (struct want){"before_remove", "p2", "", true};
	w[nw++] = (struct want){"state_change", "p2",
				"old=running new=stopping", true};
	w[nw++] = (struct want){"after_remove", "p2", "", true};
	vmm_proc_stop(&v, 0, 0);

	/*
	 * The log: per event the plugin's line, then (unless vetoed by the
	 * plugin) the command's JSON with the same seq.
	 */
	all = file_read(f->log);
	line = strtok_r(all, "\n", &save);
	for (i = 0; i < nw; i++) {
		char head[128], *p;
		uint64_t seq = (uint64_t)i + 1;

		assert_non_null(line);
		snprintf(head, sizeof(head), "%llu %s ",
			 (unsigned long long)seq, w[i].event);
		if (strncmp(line, head, strlen(head)))
			fail_msg("event %d: expected '%s...', got '%s'", i + 1,
				 head, line);
		p = strstr(line, "name=");
		assert_non_null(p);
		assert_int_equal(strncmp(p + 5, w[i].name, strlen(w[i].name)),
				 0);
		if (*w[i].extra && !strstr(line, w[i].extra))
			fail_msg("event %d: '%s' lacks '%s'", i + 1, line,
				 w[i].extra);
		line = strtok_r(NULL, "\n", &save);
		if (w[i].cmd) {
			assert_non_null(line);
			check_json(line, seq, &w[i], id);
			line = strtok_r(NULL, "\n", &save);
		}
		/* the callback, after the plugin: all but vetoed ones */
	}
	if (line)
		fail_msg("unexpected extra event: %s", line);
	free(all);
	/* the in-memory callback is after the plugin: same order */
	for (i = 0, n = 0; i < nw; i++) {
		if (!w[i].cmd)
			continue;
		assert_true((int)n < seen.n);
		assert_int_equal(seen.seq[n], (uint64_t)i + 1);
		assert_string_equal(kiln_event_name(seen.ev[n]), w[i].event);
		n++;
	}
	assert_int_equal(seen.n, (int)n);
}

/* A before_* hook that does not finish in time is killed: a veto. */
static void test_cmd_timeout(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	struct kiln_sandbox_config cfg = {.persistent = 1, .name = "slow"};
	struct kiln_sandbox *sb = NULL;
	struct timespec t0, t1;
	struct kiln_sandbox_info *list;
	size_t n;
	long ms;

	good_cache(f);
	opts_init(f, &o);
	o.hooks_file = "";
	o.hook_timeout_ms = 300;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	/* what a hook leaves running may keep stderr open: not our wait */
	assert_int_equal(kiln_add_hook_command(f->k, "before_create",
					       "(sleep 20 &); exit 0"),
			 KILN_OK);
	/* killed with its process group (the background sleep too) */
	assert_int_equal(kiln_add_hook_command(f->k, "before_create",
					       "sleep 30 & sleep 30"),
			 KILN_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EVETO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 300 && ms < 10000);
	if (!strstr(kiln_errmsg(f->k), "timed out after 300 ms"))
		fail_msg("message: %s", kiln_errmsg(f->k));
	assert_null(sb);
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 0);
}

/* A failing hook of an event that cannot be vetoed is only logged. */
static void test_after_hook_fails(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	struct vmm_proc v;
	char id[KILN_ID_LEN + 1];

	opts_init(f, &o);
	o.hooks_file = "";
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(kiln_add_hook_command(f->k, "after_*",
					       "echo broken >&2; exit 4"),
			 KILN_OK);
	row_running(f, "a", &v, id);
	f->lastlog[0] = '\0';
	assert_int_equal(kiln_sandbox_stop(f->k, "a", 1), KILN_OK);
	if (!strstr(f->lastlog, "failed for after_stop: broken"))
		fail_msg("log: %s", f->lastlog);
	assert_int_equal(kiln_sandbox_remove(f->k, "a", 0), KILN_OK);
	vmm_proc_stop(&v, 0, 0);
}

static int veto_all(void *ctx, const struct kiln_event_info *ev)
{
	struct seen *s = ctx;

	remember(ctx, ev);
	if (ev->event == KILN_EV_BEFORE_CREATE && s->n == 1) {
		/* what a hook gets: the resolved configuration */
		assert_non_null(strstr(ev->details, "\"memory_mib\":256"));
		return ev->veto(ev, "no\nmore\x1b[2J");
	}
	if (ev->event == KILN_EV_BEFORE_CREATE)
		return KILN_OK;
	/* ignored (logged): only before_* events can be refused */
	return ev->veto(ev, "too late");
}

/* A sandbox that is not persistent (kiln run) can be refused too. */
static void test_ephemeral(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	struct kiln_sandbox *sb = NULL;
	struct seen seen = {0};

	good_cache(f);
	opts_init(f, &o);
	o.hooks_file = "";
	o.vmm_path = "/nonexistent/kiln-vmm";
	o.hook = veto_all;
	o.hook_ctx = &seen;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_EVETO);
	assert_null(sb);
	/* one line, control characters replaced */
	assert_string_equal(kiln_errmsg(f->k),
			    "before_create hook 'callback' refused: no");
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ev[1], KILN_EV_ERROR);
	/* the next one gets past the hook and fails on kiln-vmm */
	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_ENOTFOUND);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.ev[2], KILN_EV_BEFORE_CREATE);
	assert_int_equal(seen.ev[3], KILN_EV_ERROR);
	assert_int_equal(seen.seq[3], 4);
	assert_non_null(strstr(f->lastlog, "returned -13 for error; ignored"));
	assert_non_null(strstr(kiln_errmsg(f->k), "kiln-vmm not found"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_plugin_abi, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_in_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cmd_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_after_hook_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ephemeral, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
