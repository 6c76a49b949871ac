/* SPDX-License-Identifier: MIT */
/*
 * Hooks: registration and in-order delivery of events (kiln.h, "Hooks and
 * plugins").  Delivery is synchronous so that a before_* hook can refuse
 * an operation before anything is done, and so that every hook sees
 * events in the order they happened (seq).
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/state.h"

static const char *const event_names[KILN_EV_COUNT] = {
	[KILN_EV_BEFORE_CREATE] = "before_create",
	[KILN_EV_AFTER_CREATE] = "after_create",
	[KILN_EV_BEFORE_START] = "before_start",
	[KILN_EV_AFTER_START] = "after_start",
	[KILN_EV_BEFORE_STOP] = "before_stop",
	[KILN_EV_AFTER_STOP] = "after_stop",
	[KILN_EV_BEFORE_REMOVE] = "before_remove",
	[KILN_EV_AFTER_REMOVE] = "after_remove",
	[KILN_EV_ERROR] = "error",
	[KILN_EV_STATE_CHANGE] = "state_change",
	[KILN_EV_NET_SETUP] = "net_setup",
	[KILN_EV_NET_TEARDOWN] = "net_teardown",
	[KILN_EV_NET_POLICY] = "net_policy",
	[KILN_EV_BEFORE_PAUSE] = "before_pause",
	[KILN_EV_AFTER_PAUSE] = "after_pause",
	[KILN_EV_BEFORE_RESUME] = "before_resume",
	[KILN_EV_AFTER_RESUME] = "after_resume",
};

const char *kiln_event_name(enum kiln_event ev)
{
	if ((unsigned int)ev >= KILN_EV_COUNT)
		return "unknown";
	return event_names[ev];
}

int kiln_event_parse(const char *name, enum kiln_event *out)
{
	for (unsigned int i = 0; name && i < KILN_EV_COUNT; i++) {
		if (!strcmp(name, event_names[i])) {
			*out = (enum kiln_event)i;
			return KILN_OK;
		}
	}
	return KILN_EINVAL;
}

static bool event_vetoable(enum kiln_event ev)
{
	return ev == KILN_EV_BEFORE_CREATE || ev == KILN_EV_BEFORE_START ||
	       ev == KILN_EV_BEFORE_STOP || ev == KILN_EV_BEFORE_REMOVE ||
	       ev == KILN_EV_BEFORE_PAUSE || ev == KILN_EV_BEFORE_RESUME;
}

static struct hooks *hooks_get(struct kiln *k)
{
	if (!k->hooks) {
		k->hooks = calloc(1, sizeof(*k->hooks));
		if (k->hooks)
			k->hooks->timeout_ms = HOOKS_TIMEOUT_DEFAULT_MS;
	}
	return k->hooks;
}

bool hooks_active(const struct kiln *k)
{
	return k->hooks && (k->hooks->n_cbs || k->hooks->n_cmds);
}

int hooks_cb_add(struct kiln *k, kiln_hook_fn fn, void *ctx, const char *name)
{
	struct hooks *h = hooks_get(k);
	struct hook_cb *cbs;

	if (!h)
		return KILN_ENOMEM;
	cbs = realloc(h->cbs, (h->n_cbs + 1) * sizeof(*cbs));
	if (!cbs)
		return KILN_ENOMEM;
	h->cbs = cbs;
	cbs[h->n_cbs].fn = fn;
	cbs[h->n_cbs].ctx = ctx;
	cbs[h->n_cbs].name = strdup(name);
	if (!cbs[h->n_cbs].name)
		return KILN_ENOMEM;
	h->n_cbs++;
	return KILN_OK;
}

int kiln_add_hook(struct kiln *k, kiln_hook_fn fn, void *ctx)
{
	if (!fn)
		return handle_fail(k, KILN_EINVAL,
				   "kiln_add_hook: no function");
	if (hooks_cb_add(k, fn, ctx, "callback"))
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	return KILN_OK;
}

int hooks_cmd_add(struct kiln *k, const char *pattern, const char *command,
		  const char *where, char *err, size_t errlen)
{
	struct hooks *h = hooks_get(k);
	struct hook_cmd *cmds, *c;
	bool any = false;

	if (!pattern || !*pattern || !command || !*command) {
		snprintf(err, errlen,
			 "%s: a hook needs an event pattern and "
			 "a command",
			 where);
		return KILN_EINVAL;
	}
	for (unsigned int i = 0; i < KILN_EV_COUNT && !any; i++)
		any = fnmatch(pattern, event_names[i], 0) == 0;
	if (!any) {
		snprintf(err, errlen,
			 "%s: event pattern '%.64s' matches no event (events: "
			 "before_create, after_create, before_start, ..., "
			 "error, state_change, net_setup, net_teardown, "
			 "net_policy, before_pause, ..., after_resume; globs "
			 "like 'before_*' or '*')",
			 where, pattern);
		return KILN_EINVAL;
	}
	if (!h)
		goto oom;
	cmds = realloc(h->cmds, (h->n_cmds + 1) * sizeof(*cmds));
	if (!cmds)
		goto oom;
	h->cmds = cmds;
	c = &cmds[h->n_cmds];
	c->pattern = strdup(pattern);
	c->command = strdup(command);
	c->where = strdup(where);
	if (!c->pattern || !c->command || !c->where) {
		free(c->pattern);
		free(c->command);
		free(c->where);
		goto oom;
	}
	h->n_cmds++;
	return KILN_OK;
oom:
	snprintf(err, errlen, "out of memory");
	return KILN_ENOMEM;
}

int kiln_add_hook_command(struct kiln *k, const char *pattern,
			  const char *command)
{
	char err[512];
	int rc = hooks_cmd_add(k, pattern, command, "kiln_add_hook_command",
			       err, sizeof(err));

	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

int kiln_load_plugin(struct kiln *k, const char *path)
{
	char err[1024];
	int rc = plugin_load(k, path, err, sizeof(err));

	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

int hooks_init(struct kiln *k, const struct kiln_options *opts,
	       const char *hooks_file, char *err, size_t errlen)
{
	int rc;

	if (opts->hook &&
	    hooks_cb_add(k, opts->hook, opts->hook_ctx, "callback")) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	for (size_t i = 0; opts->plugins && opts->plugins[i]; i++) {
		rc = plugin_load(k, opts->plugins[i], err, errlen);
		if (rc)
			return rc;
	}
	if (hooks_file) {
		rc = hooks_config_load(k, hooks_file, err, errlen);
		if (rc)
			return rc;
	}
	/* the option wins over the file's "timeout" line */
	if (opts->hook_timeout_ms) {
		if (!hooks_get(k)) {
			snprintf(err, errlen, "out of memory");
			return KILN_ENOMEM;
		}
		k->hooks->timeout_ms = opts->hook_timeout_ms;
	}
	return KILN_OK;
}

void hooks_free(struct kiln *k)
{
	struct hooks *h = k->hooks;

	if (!h)
		return;
	for (size_t i = 0; i < h->n_cbs; i++)
		free(h->cbs[i].name);
	for (size_t i = 0; i < h->n_cmds; i++) {
		free(h->cmds[i].pattern);
		free(h->cmds[i].command);
		free(h->cmds[i].where);
	}
	/* the plugins' hooks are gone first: fini, then unload */
	for (size_t i = h->n_plugins; i-- > 0;) {
		if (h->plugins[i].p.fini)
			h->plugins[i].p.fini(h->plugins[i].p.ctx);
		if (h->plugins[i].dl)
			plugin_unload(h->plugins[i].dl);
		free(h->plugins[i].path);
	}
	free(h->cbs);
	free(h->cmds);
	free(h->plugins);
	free(h);
	k->hooks = NULL;
}

/* A JSON string even for bytes that are not UTF-8 (they become '?'). */
static json_t *json_str_safe(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int obj_set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

json_t *hooks_event_json(const struct hooks_event *ev, uint64_t seq)
{
	struct timespec ts;
	struct tm tm;
	char when[64] = "", sec[32];
	json_t *o = json_object();
	int bad = 0;

	if (!o)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) &&
	    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(when, sizeof(when), "%s.%03ldZ", sec,
			 ts.tv_nsec / 1000000);
	bad |= obj_set(o, "event", json_string(kiln_event_name(ev->event)));
	bad |= obj_set(o, "seq", json_integer((json_int_t)seq));
	bad |= obj_set(o, "time", json_string(when));
	bad |= obj_set(o, "pid", json_integer(getpid()));
	bad |= obj_set(o, "sandbox_id", json_str_safe(ev->id));
	bad |= obj_set(o, "sandbox_name", json_str_safe(ev->name));
	if (ev->event == KILN_EV_ERROR) {
		bad |= obj_set(o, "phase", json_str_safe(ev->phase));
		bad |= obj_set(o, "error_code", json_integer(ev->code));
		bad |= obj_set(o, "error_status",
			       json_string(kiln_strstatus(ev->code)));
		bad |= obj_set(o, "error_message", json_str_safe(ev->msg));
	}
	if (ev->event == KILN_EV_STATE_CHANGE) {
		bad |= obj_set(o, "old_state", json_str_safe(ev->old_state));
		bad |= obj_set(o, "new_state", json_str_safe(ev->new_state));
	}
	bad |= obj_set(o, "details",
		       ev->details ? json_deep_copy(ev->details)
				   : json_object());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Where ev->veto() leaves its message. */
struct veto_box {
	bool set;
	char msg[512];
};

static int event_veto(const struct kiln_event_info *ev, const char *msg)
{
	struct veto_box *v = ev ? ev->internal : NULL;

	if (v && !v->set) {
		/* one printable line: it ends up on the caller's terminal */
		size_t n = 0;

		for (const char *p = msg ? msg : "";
		     *p && *p != '\n' && n + 1 < sizeof(v->msg); p++)
			v->msg[n++] = (unsigned char)*p < 0x20 || *p == 0x7f
					      ? '?'
					      : *p;
		v->msg[n] = '\0';
		v->set = true;
	}
	return KILN_EVETO;
}

static int vetoed(struct kiln *k, const struct hooks_event *ev, const char *who,
		  const char *why)
{
	return handle_fail(k, KILN_EVETO, "%s hook %s refused: %s",
			   kiln_event_name(ev->event), who,
			   *why ? why : "(no reason given)");
}

static int deliver_cbs(struct kiln *k, const struct hooks_event *ev,
		       uint64_t seq, bool vetoable)
{
	struct hooks *h = k->hooks;
	struct veto_box box;
	json_t *d = ev->details;
	char *details =
		d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct kiln_event_info info = {
		.event = ev->event,
		.seq = seq,
		.sandbox_id = ev->id ? ev->id : "",
		.sandbox_name = ev->name ? ev->name : "",
		.phase = ev->phase ? ev->phase : "",
		.error_code = ev->code,
		.error_msg = ev->msg ? ev->msg : "",
		.old_state = ev->old_state ? ev->old_state : "",
		.new_state = ev->new_state ? ev->new_state : "",
		.details = details ? details : "{}",
		.veto = event_veto,
		.internal = &box,
	};
	int rc = KILN_OK;

	for (size_t i = 0; i < h->n_cbs; i++) {
		int r;

		box.set = false;
		box.msg[0] = '\0';
		r = h->cbs[i].fn(h->cbs[i].ctx, &info);
		if (r == KILN_OK)
			continue;
		if (r == KILN_EVETO && vetoable) {
			char who[320];

			snprintf(who, sizeof(who), "'%s'", h->cbs[i].name);
			rc = vetoed(k, ev, who, box.msg);
			break;
		}
		handle_log(k, KILN_LOG_WARN,
			   "hook '%s' returned %d for %s; ignored",
			   h->cbs[i].name, r, kiln_event_name(ev->event));
	}
	free(details);
	return rc;
}

static int deliver_cmds(struct kiln *k, const struct hooks_event *ev,
			uint64_t seq, bool vetoable)
{
	struct hooks *h = k->hooks;
	const char *name = kiln_event_name(ev->event);
	char *json = NULL, msg[HOOKS_STDERR_MAX];
	int rc = KILN_OK;

	for (size_t i = 0; i < h->n_cmds && !rc; i++) {
		const struct hook_cmd *c = &h->cmds[i];

		if (fnmatch(c->pattern, name, 0))
			continue;
		if (!json) {
			json_t *o = hooks_event_json(ev, seq);
			char *text =
				o ? json_dumps(o, JSON_COMPACT |
							  JSON_PRESERVE_ORDER |
							  JSON_ENSURE_ASCII)
				  : NULL;

			/* one line, so `read -r event` works in a shell hook */
			if (text && asprintf(&json, "%s\n", text) < 0)
				json = NULL;
			free(text);
			json_decref(o);
			if (!json) {
				handle_log(k, KILN_LOG_ERROR,
					   "out of memory: %s not delivered to "
					   "hook commands",
					   name);
				return vetoable ? handle_fail(k, KILN_ENOMEM,
							      "out of memory")
						: KILN_OK;
			}
		}
		if (!hooks_cmd_run(k, c, json, name, msg, sizeof(msg)))
			continue;
		if (vetoable) {
			char who[200];

			snprintf(who, sizeof(who), "'%.120s' (%s)", c->command,
				 c->where);
			rc = vetoed(k, ev, who, msg);
		} else {
			handle_log(k, KILN_LOG_WARN,
				   "hook command '%.120s' (%s) failed for %s: "
				   "%s",
				   c->command, c->where, name, msg);
		}
	}
	free(json);
	return rc;
}

int hooks_deliver(struct kiln *k, const struct hooks_event *ev)
{
	bool vetoable = event_vetoable(ev->event);
	uint64_t seq;
	int rc;

	if (!hooks_active(k))
		return KILN_OK;
	seq = ++k->hooks->seq;
	rc = deliver_cbs(k, ev, seq, vetoable);
	if (!rc)
		rc = deliver_cmds(k, ev, seq, vetoable);
	return vetoable ? rc : KILN_OK;
}

int hooks_emit(struct kiln *k, enum kiln_event event, const char *id,
	       const char *name, json_t *details)
{
	struct hooks_event ev = {
		.event = event, .id = id, .name = name, .details = details};

	return hooks_deliver(k, &ev);
}

void hooks_emit_error(struct kiln *k, const char *phase, const char *id,
		      const char *name, int code)
{
	struct hooks_event ev = {
		.event = KILN_EV_ERROR,
		.id = id,
		.name = name,
		.phase = phase,
		.code = code,
	};
	char *msg;

	if (!hooks_active(k))
		return;
	/* a copy: nothing a hook does may change what the caller reports */
	msg = strdup(kiln_errmsg(k));
	ev.msg = msg ? msg : "";
	hooks_deliver(k, &ev);
	free(msg);
}

/* As kiln_sandbox_state_name() shows it ("failed" is shown as dead). */
static const char *status_shown(int st)
{
	const char *s;

	if (st < 0)
		return "";
	if (st == STATE_SB_FAILED)
		return "dead";
	s = state_status_name((enum state_sandbox_status)st);
	return s ? s : "unknown";
}

void hooks_state_observer(void *ctx, const char *id, const char *name, int from,
			  int to)
{
	struct kiln *k = ctx;
	struct hooks_event ev = {
		.event = KILN_EV_STATE_CHANGE,
		.id = id,
		.name = name,
		.old_state = status_shown(from),
		.new_state = status_shown(to),
	};

	if (from == to || !strcmp(ev.old_state, ev.new_state))
		return;
	hooks_deliver(k, &ev);
}

int hooks_before(struct kiln *k, enum kiln_event event, const char *phase,
		 const char *id, const char *name, json_t *details)
{
	int rc = hooks_emit(k, event, id, name, details);

	json_decref(details);
	if (rc)
		hooks_emit_error(k, phase, id, name, rc);
	return rc;
}

int hooks_after(struct kiln *k, int rc, enum kiln_event event,
		const char *phase, const char *id, const char *name,
		json_t *details)
{
	if (rc)
		hooks_emit_error(k, phase, id, name, rc);
	else
		hooks_emit(k, event, id, name, details);
	json_decref(details);
	return rc;
}
