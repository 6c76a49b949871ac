/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes: create, open, list, stop, start, remove.
 *
 * The row in the state database is the sandbox; the VMM is what the row
 * says should run.  Every operation that changes a sandbox first moves its
 * row, by compare-and-set, into a state saying what is being done and by
 * whom (creating/starting/stopping + owner pid and start time), and out of
 * it when done.  A process that dies in between leaves a row that the
 * next kiln reconciles (sandbox_reconcile.c).  A creation that fails is
 * undone on the spot: VMM stopped, runtime directory and row removed.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/net_sandbox.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/sandbox_store.h"
#include "lib/vmm_proc.h"

#define ERRLEN 1024

/* mkdir -p with 0700 for what is created. */
static int dir_make(struct kiln *k, const char *dir)
{
	char *p = strdup(dir);

	if (!p)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	for (char *s = p + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			int e = errno;

			handle_fail(k, KILN_ESYS,
				    "cannot create the state directory %s: %s; "
				    "set KILN_STATE to a writable directory",
				    p, strerror(e));
			free(p);
			return KILN_ESYS;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return KILN_OK;
}

int store_open(struct kiln *k, struct state **out)
{
	char err[ERRLEN], *path;
	int rc;

	if (!k->state) {
		rc = dir_make(k, k->state_dir);
		if (rc)
			return rc;
		if (asprintf(&path, "%s/%s", k->state_dir, STORE_FILE) < 0)
			return handle_fail(k, KILN_ENOMEM, "out of memory");
		rc = state_open(path, &k->state, err, sizeof(err));
		free(path);
		if (rc)
			return handle_fail(k, rc, "%s", err);
		/* state changes (also reconciliation's) are hook events */
		state_set_observer(k->state, hooks_state_observer, k);
		reconcile_all(k, k->state);
	}
	*out = k->state;
	return KILN_OK;
}

const char *kiln_sandbox_state_name(enum kiln_sandbox_state st)
{
	static const char *const names[] = {
		[KILN_SB_CREATING] = "creating",
		[KILN_SB_STARTING] = "starting",
		[KILN_SB_RUNNING] = "running",
		[KILN_SB_STOPPING] = "stopping",
		[KILN_SB_STOPPED] = "stopped",
		[KILN_SB_DEAD] = "dead",
		[KILN_SB_PAUSED] = "paused",
	};

	if ((unsigned int)st >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[st];
}

static enum kiln_sandbox_state state_public(enum state_sandbox_status st)
{
	switch (st) {
	case STATE_SB_CREATING:
		return KILN_SB_CREATING;
	case STATE_SB_STARTING:
		return KILN_SB_STARTING;
	case STATE_SB_RUNNING:
		return KILN_SB_RUNNING;
	case STATE_SB_PAUSED:
		return KILN_SB_PAUSED;
	case STATE_SB_STOPPING:
		return KILN_SB_STOPPING;
	case STATE_SB_STOPPED:
		return KILN_SB_STOPPED;
	case STATE_SB_FAILED:
	case STATE_SB_DEAD:
		break;
	}
	return KILN_SB_DEAD;
}

/* The configuration a sandbox is (re)started with, as stored. */
static char *config_to_json(const struct sandbox_params *p)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "kernel", p->kernel,
			      "image", p->image, "cpus", (json_int_t)p->cpus,
			      "memory_mib", (json_int_t)p->memory_mib);
	char *s;

	if (!o)
		return NULL;
	if (p->cmdline_extra &&
	    json_object_set_new(o, "cmdline_extra",
				json_string(p->cmdline_extra))) {
		json_decref(o);
		return NULL;
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/*
 * Parse a stored configuration strictly into cfg (strings point into
 * *root; json_decref() it after use).
 */
int store_config_parse(struct kiln *k, const char *id, const char *text,
		       struct kiln_sandbox_config *cfg, json_t **root)
{
	json_int_t cpus = 0, mem = 0;
	json_error_t e;

	memset(cfg, 0, sizeof(*cfg));
	*root = text ? json_loads(text, 0, &e) : NULL;
	if (!*root)
		return handle_fail(k, KILN_EFORMAT,
				   "sandbox %s has no readable configuration "
				   "in the state database; remove it",
				   id);
	if (json_unpack_ex(*root, &e, JSON_STRICT, "{s:s, s:s, s:I, s:I, s?s}",
			   "kernel", &cfg->kernel_path, "image",
			   &cfg->image_path, "cpus", &cpus, "memory_mib", &mem,
			   "cmdline_extra", &cfg->cmdline_extra) ||
	    cpus < KILN_CPUS_MIN || cpus > KILN_CPUS_MAX ||
	    mem < KILN_MEMORY_MIB_MIN || mem > KILN_MEMORY_MIB_MAX) {
		json_decref(*root);
		*root = NULL;
		return handle_fail(k, KILN_EFORMAT,
				   "sandbox %s has a malformed configuration "
				   "in the state database (%s); remove it",
				   id, e.text);
	}
	cfg->cpus = (unsigned int)cpus;
	cfg->memory_mib = (unsigned int)mem;
	return KILN_OK;
}

static char *strdup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static int info_from_row(struct kiln *k, const struct state_sandbox *row,
			 struct kiln_sandbox_info *info)
{
	struct kiln_sandbox_config cfg;
	json_t *root = NULL;
	bool oom = false;

	memset(info, 0, sizeof(*info));
	memcpy(info->id, row->id, sizeof(info->id));
	snprintf(info->name, sizeof(info->name), "%s", row->name);
	info->state = state_public(row->status);
	info->vmm_pid = row->vmm_pid;
	info->vmm_start_time = row->vmm_pid ? row->vmm_start : 0;
	info->cid = row->cid;
	info->net_slot = row->net_slot;
	info->created_at = row->created_at;
	/* a sandbox with a bad configuration is still listed (to remove) */
	if (store_config_parse(k, row->id, row->config, &cfg, &root) == 0) {
		info->cpus = cfg.cpus;
		info->memory_mib = cfg.memory_mib;
		info->kernel_path = strdup_or_null(cfg.kernel_path, &oom);
		info->image_path = strdup_or_null(cfg.image_path, &oom);
		info->cmdline_extra = strdup_or_null(cfg.cmdline_extra, &oom);
		json_decref(root);
	}
	info->runtime_dir = strdup_or_null(row->runtime_dir, &oom);
	info->exit_reason = strdup_or_null(row->exit_reason, &oom);
	if (oom) {
		kiln_sandbox_info_clear(info);
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	return KILN_OK;
}

void kiln_sandbox_info_clear(struct kiln_sandbox_info *info)
{
	if (!info)
		return;
	free(info->kernel_path);
	free(info->image_path);
	free(info->cmdline_extra);
	free(info->runtime_dir);
	free(info->exit_reason);
	memset(info, 0, sizeof(*info));
}

void kiln_sandbox_info_list_free(struct kiln_sandbox_info *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		kiln_sandbox_info_clear(&list[i]);
	free(list);
}

int store_find(struct kiln *k, const char *ref, struct state **st,
	       struct state_sandbox *row)
{
	char err[ERRLEN];
	bool deleted;
	int rc;

	memset(row, 0, sizeof(*row));
	if (!ref || !*ref)
		return handle_fail(k, KILN_EINVAL, "no sandbox given");
	rc = store_open(k, st);
	if (rc)
		return rc;
	rc = state_sandbox_find(*st, ref, row, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	/* the state may have changed since the store was opened */
	rc = reconcile_row(k, *st, row, &deleted);
	if (!rc && deleted)
		rc = handle_fail(k, KILN_ENOTFOUND,
				 "sandbox %s was half-created by a process "
				 "that died and has been rolled back",
				 ref);
	if (rc)
		state_sandbox_clear(row);
	return rc;
}

int kiln_sandbox_get(struct kiln *k, const char *ref,
		     struct kiln_sandbox_info *out)
{
	struct state_sandbox row;
	struct state *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	rc = info_from_row(k, &row, out);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_sandbox_list(struct kiln *k, struct kiln_sandbox_info **list,
		      size_t *n)
{
	struct state_sandbox *rows;
	struct kiln_sandbox_info *infos;
	struct state *st;
	char err[ERRLEN];
	size_t count;
	int rc;

	*list = NULL;
	*n = 0;
	rc = store_open(k, &st);
	if (rc)
		return rc;
	rc = state_sandbox_list(st, &rows, &count, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	if (!count)
		return KILN_OK;
	infos = calloc(count, sizeof(*infos));
	if (!infos) {
		state_sandbox_list_free(rows, count);
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count && !rc; i++)
		rc = info_from_row(k, &rows[i], &infos[i]);
	state_sandbox_list_free(rows, count);
	if (rc) {
		kiln_sandbox_info_list_free(infos, count);
		return rc;
	}
	*list = infos;
	*n = count;
	return KILN_OK;
}

static char *path_join(const char *dir, const char *name)
{
	char *s;

	return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

/* The first line of k's error message, for the record. */
static void errmsg_first_line(struct kiln *k, char *buf, size_t len)
{
	const char *m = kiln_errmsg(k);

	snprintf(buf, len, "%.*s", (int)strcspn(m, "\n"), m);
}

/*
 * Boot sb (a persistent sandbox whose row is in state `during`, owned by
 * us): launch the VMM detached, record its pid and start time, wait for
 * the agent.  On failure the VMM is stopped and sb torn down (*sbp NULL).
 */
int store_boot(struct kiln *k, struct state *st, struct kiln_sandbox **sbp,
	       const struct state_sandbox *row,
	       const struct kiln_sandbox_config *cfg,
	       enum state_sandbox_status during, const struct state_update *own)
{
	struct kiln_sandbox *sb = *sbp;
	struct state_update u = *own;
	struct sandbox_params p;
	char err[ERRLEN], *vmm_path = NULL, *base = NULL;
	int rc, log_fd = -1;

	rc = sandbox_params_resolve(k->cache_dir, cfg, &p, err, sizeof(err));
	if (!rc)
		rc = sandbox_params_check_files(&p, err, sizeof(err));
	if (rc)
		handle_fail(k, rc, "%s", err);
	if (!rc)
		rc = sandbox_vmm_resolve(k, &vmm_path);
	if (!rc)
		rc = sandbox_kvm_check(k);
	/* where it was recorded, even if the runtime directory changed */
	if (!rc && row->runtime_dir) {
		char *slash;

		base = strdup(row->runtime_dir);
		if (!base)
			rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		else if ((slash = strrchr(base, '/')) && slash != base)
			*slash = '\0';
	}
	if (!rc)
		rc = sandbox_prepare_dir(sb, row->id, base, &log_fd);
	if (!rc)
		rc = net_sandbox_prepare(k, row, &sb->netns);
	if (!rc) {
		if (cfg->progress)
			cfg->progress(cfg->progress_ctx, KILN_PHASE_STARTING, 0,
				      "");
		rc = sandbox_launch_vmm(sb, &p, vmm_path, log_fd, row->cid,
					true);
	}
	if (!rc) {
		/* recorded at once: whoever rolls us back must find it */
		u.status = during;
		u.vmm_pid = sb->vmm.pid;
		u.vmm_start = sb->vmm.start_time;
		rc = state_sandbox_transition(st, row->id, during, &u, err,
					      sizeof(err));
		/* only now may it run: a VMM is never unrecorded */
		if (!rc)
			rc = vmm_proc_release(&sb->vmm, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
	}
	if (!rc)
		rc = sandbox_wait_agent(sb, cfg);
	if (!rc) {
		u.status = STATE_SB_RUNNING;
		u.owner_pid = 0;
		u.owner_start = 0;
		rc = state_sandbox_transition(st, row->id, during, &u, err,
					      sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
	}
	if (log_fd >= 0)
		close(log_fd);
	free(vmm_path);
	free(base);
	sandbox_params_free(&p);
	if (rc) {
		if (sandbox_teardown(sb, false, err, sizeof(err)))
			handle_fail_append(k, "\nwhile cleaning up: %s", err);
		*sbp = NULL;
	}
	return rc;
}

int sandbox_store_create(struct kiln *k, const struct kiln_sandbox_config *cfg,
			 struct kiln_sandbox **out)
{
	return store_create_from(k, cfg, NULL, NULL, NULL, out);
}

int store_create_from(struct kiln *k, const struct kiln_sandbox_config *cfg,
		      const char *restore_state, const char *restore_mem,
		      const char *restore_overlay, struct kiln_sandbox **out)
{
	struct state_new n = {.name = cfg->name,
			      .runtime_base = k->runtime_dir};
	struct state_update own = {0};
	struct kiln_sandbox *sb;
	struct state_sandbox row;
	struct sandbox_params p;
	struct state *st;
	char err[ERRLEN], *config;
	int rc;

	*out = NULL;
	/* the configuration is checked before anything is recorded */
	if (cfg->name && (rc = state_name_check(cfg->name, err, sizeof(err))))
		return handle_fail(k, rc, "%s", err);
	rc = sandbox_params_resolve(k->cache_dir, cfg, &p, err, sizeof(err));
	if (!rc)
		rc = sandbox_params_check_files(&p, err, sizeof(err));
	if (rc) {
		sandbox_params_free(&p);
		return handle_fail(k, rc, "%s", err);
	}
	config = config_to_json(&p);
	sandbox_params_free(&p);
	if (!config)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	/* before anything is recorded: a veto leaves nothing behind */
	rc = hooks_before(k, KILN_EV_BEFORE_CREATE, "create", NULL, cfg->name,
			  json_pack("{s:o?, s:s?}", "config",
				    json_loads(config, 0, NULL), "checkpoint",
				    restore_state));
	if (rc) {
		free(config);
		return rc;
	}
	/* and what is needed to boot: no record for what cannot start */
	{
		char *vmm_path = NULL;

		rc = sandbox_vmm_resolve(k, &vmm_path);
		free(vmm_path);
		if (!rc)
			rc = sandbox_kvm_check(k);
		if (rc) {
			free(config);
			return hooks_after(k, rc, KILN_EV_AFTER_CREATE,
					   "create", NULL, cfg->name, NULL);
		}
	}
	rc = store_open(k, &st);
	if (!rc && store_self(&own.owner_pid, &own.owner_start))
		rc = handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	if (rc) {
		free(config);
		return hooks_after(k, rc, KILN_EV_AFTER_CREATE, "create", NULL,
				   cfg->name, NULL);
	}
	n.config = config;
	n.owner_pid = own.owner_pid;
	n.owner_start = own.owner_start;
	rc = state_sandbox_create(st, &n, &row, err, sizeof(err));
	free(config);
	if (rc)
		return hooks_after(k, handle_fail(k, rc, "%s", err),
				   KILN_EV_AFTER_CREATE, "create", NULL,
				   cfg->name, NULL);

	/* its network before its VMM, which starts inside it */
	rc = net_sandbox_create(k, &row, cfg->network);
	sb = rc ? NULL : sandbox_alloc(k);
	if (rc) {
		/* failed: recorded on k */
	} else if (!sb) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
	} else {
		sb->persistent = true;
		sb->restore_state = restore_state;
		sb->restore_mem = restore_mem;
		sb->restore_overlay = restore_overlay;
		rc = store_boot(k, st, &sb, &row, cfg, STATE_SB_CREATING, &own);
	}
	if (rc) {
		/* nothing may remain: the VMM and directory went with sb */
		if (row.runtime_dir &&
		    rundir_remove(row.runtime_dir, err, sizeof(err)))
			handle_fail_append(k, "\nwhile cleaning up: %s", err);
		net_sandbox_cleanup(k, &row);
		if (state_sandbox_delete(st, row.id, err, sizeof(err)) &&
		    !strstr(err, "no sandbox"))
			handle_fail_append(k, "\nwhile cleaning up: %s", err);
	}
	rc = hooks_after(
		k, rc, KILN_EV_AFTER_CREATE, "create", row.id, row.name,
		json_pack("{s:I, s:I, s:s?}", "cid", (json_int_t)row.cid,
			  "net_slot", (json_int_t)row.net_slot, "runtime_dir",
			  row.runtime_dir));
	state_sandbox_clear(&row);
	*out = sb;
	return rc;
}

bool sandbox_vmm_gone(struct kiln_sandbox *sb, int wait_ms)
{
	int fd = proc_open_verified(sb->opened_pid, sb->opened_start);
	bool gone = fd < 0;

	if (fd >= 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		gone = poll(&pfd, 1, wait_ms) > 0;
		close(fd);
	}
	return gone;
}

int kiln_sandbox_open(struct kiln *k, const char *ref,
		      struct kiln_sandbox **out)
{
	struct kiln_sandbox *sb = NULL;
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	int rc, r, ms;

	*out = NULL;
	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	if (row.status == STATE_SB_PAUSED) {
		rc = handle_fail(k, KILN_ESTATE,
				 "sandbox %s is paused; resume it with 'kiln "
				 "resume %s'",
				 ref, ref);
		goto out;
	}
	if (row.status != STATE_SB_RUNNING) {
		rc = handle_fail(
			k, KILN_ESTATE, "sandbox %s is %s, not running%s",
			row.id,
			kiln_sandbox_state_name(state_public(row.status)),
			row.status == STATE_SB_STOPPED ||
					row.status == STATE_SB_DEAD
				? "; start it with `kiln start`"
				: "");
		goto out;
	}
	sb = sandbox_alloc(k);
	if (!sb) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	sb->persistent = sb->opened = true;
	sb->opened_pid = row.vmm_pid;
	sb->opened_start = row.vmm_start;
	memcpy(sb->id, row.id, sizeof(sb->id));
	sb->dir = strdup(row.runtime_dir ? row.runtime_dir : "");
	sb->uds_path = path_join(sb->dir ? sb->dir : "", "vsock.sock");
	sb->console_path = path_join(sb->dir ? sb->dir : "", "console.log");
	sb->vmm_log_path = path_join(sb->dir ? sb->dir : "", "vmm.log");
	sb->api_path = path_join(sb->dir ? sb->dir : "", "api.sock");
	if (!sb->dir || !sb->uds_path || !sb->console_path ||
	    !sb->vmm_log_path || !sb->api_path) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	ms = k->boot_timeout_ms < STORE_CONNECT_MS ? (int)k->boot_timeout_ms
						   : STORE_CONNECT_MS;
	r = agent_client_connect_vsock(sb->uds_path, PROTO_AGENT_PORT, ms,
				       &sb->agent, err, sizeof(err));
	if (r) {
		rc = handle_fail(
			k, KILN_EGUEST,
			"cannot reach the agent of sandbox %s: %s%s", row.id,
			err,
			sandbox_vmm_gone(sb, 0) ? " (its VMM has exited)" : "");
		if (sandbox_vmm_gone(sb, 0))
			sandbox_fail_tails(sb);
	}
out:
	if (rc && sb) {
		sandbox_teardown(sb, false, err, sizeof(err));
		sb = NULL;
	}
	state_sandbox_clear(&row);
	*out = sb;
	return rc;
}

int kiln_sandbox_close(struct kiln_sandbox *sb)
{
	char err[ERRLEN];

	if (!sb)
		return KILN_OK;
	if (!sb->persistent)
		return kiln_sandbox_destroy(sb);
	/*
	 * Keep the VMM and its directory: drop our watch on it and mark the
	 * handle opened so the teardown only disconnects.
	 */
	if (sb->vmm.pidfd >= 0)
		close(sb->vmm.pidfd);
	memset(&sb->vmm, 0, sizeof(sb->vmm));
	sb->vmm.pidfd = sb->vmm.gate_fd = sb->vmm.err_fd = -1;
	sb->opened = true;
	sandbox_teardown(sb, false, err, sizeof(err));
	return KILN_OK;
}

/* Move row from RUNNING (or PAUSED) to STOPPING, owned by us. */
static int claim_running(struct kiln *k, struct state *st,
			 const struct state_sandbox *row)
{
	struct state_update u = {
		.status = STATE_SB_STOPPING,
		.vmm_pid = row->vmm_pid,
		.vmm_start = row->vmm_start,
	};
	char err[ERRLEN];
	int rc;

	if (store_self(&u.owner_pid, &u.owner_start))
		return handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	rc = state_sandbox_transition(st, row->id, row->status, &u, err,
				      sizeof(err));
	return rc ? handle_fail(k, rc, "%s", err) : KILN_OK;
}

static int busy_fail(struct kiln *k, const struct state_sandbox *row)
{
	return handle_fail(k, KILN_ESTATE,
			   "sandbox %s is %s by another kiln process (pid "
			   "%d); wait for it, or remove the sandbox with "
			   "`kiln rm --force`",
			   row->id,
			   row->status == STATE_SB_CREATING   ? "being created"
			   : row->status == STATE_SB_STARTING ? "being started"
							      : "being stopped",
			   row->owner_pid);
}

int kiln_sandbox_stop(struct kiln *k, const char *ref, int force)
{
	struct state_update u = {.status = STATE_SB_STOPPED};
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	switch (row.status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
		break;
	case STATE_SB_CREATING:
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		rc = busy_fail(k, &row);
		state_sandbox_clear(&row);
		return rc;
	default: /* stopped or dead already */
		state_sandbox_clear(&row);
		return KILN_OK;
	}
	rc = hooks_before(k, KILN_EV_BEFORE_STOP, "stop", row.id, row.name,
			  json_pack("{s:b}", "force", force));
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	rc = claim_running(k, st, &row);
	if (!rc && !force && !store_unpause_for_stop(k, &row))
		force = 1;
	if (!rc) {
		rc = store_vmm_stop(&row, !force, err, sizeof(err));
		if (rc) {
			handle_fail(k, rc, "%s", err);
			/* still running: give the record back (paused
			 * unless store_unpause_for_stop() resumed it) */
			u.status = row.status == STATE_SB_PAUSED && force
					   ? STATE_SB_PAUSED
					   : STATE_SB_RUNNING;
			u.vmm_pid = row.vmm_pid;
			u.vmm_start = row.vmm_start;
		}
		if (state_sandbox_transition(st, row.id, STATE_SB_STOPPING, &u,
					     err, sizeof(err)) &&
		    !rc)
			rc = handle_fail(k, KILN_ESYS, "%s", err);
	}
	rc = hooks_after(k, rc, KILN_EV_AFTER_STOP, "stop", row.id, row.name,
			 NULL);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_sandbox_start(struct kiln *k, const char *ref,
		       kiln_progress_fn progress, void *progress_ctx)
{
	struct kiln_sandbox_config cfg;
	struct state_update own = {.status = STATE_SB_STARTING};
	struct kiln_sandbox *sb;
	struct state_sandbox row;
	struct state *st;
	json_t *root = NULL;
	char err[ERRLEN], reason[STORE_REASON_MAX];
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	if (row.status != STATE_SB_STOPPED && row.status != STATE_SB_DEAD &&
	    row.status != STATE_SB_FAILED) {
		if (row.status == STATE_SB_RUNNING)
			rc = handle_fail(k, KILN_ESTATE,
					 "sandbox %s is running already",
					 row.id);
		else if (row.status == STATE_SB_PAUSED)
			rc = handle_fail(k, KILN_ESTATE,
					 "sandbox %s is paused; resume it with "
					 "'kiln resume %s'",
					 ref, ref);
		else
			rc = busy_fail(k, &row);
		state_sandbox_clear(&row);
		return rc;
	}
	rc = hooks_before(
		k, KILN_EV_BEFORE_START, "start", row.id, row.name,
		json_pack("{s:o?}", "config",
			  row.config ? json_loads(row.config, 0, NULL) : NULL));
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	rc = store_config_parse(k, row.id, row.config, &cfg, &root);
	cfg.persistent = 1;
	cfg.progress = progress;
	cfg.progress_ctx = progress_ctx;
	if (!rc && store_self(&own.owner_pid, &own.owner_start))
		rc = handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	if (!rc) {
		rc = state_sandbox_transition(st, row.id, row.status, &own, err,
					      sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
	}
	if (rc) {
		json_decref(root);
		rc = hooks_after(k, rc, KILN_EV_AFTER_START, "start", row.id,
				 row.name, NULL);
		state_sandbox_clear(&row);
		return rc;
	}
	/* a fresh directory: the last run's logs and socket go */
	if (row.runtime_dir && rundir_remove(row.runtime_dir, err, sizeof(err)))
		handle_log(k, KILN_LOG_WARN, "%s", err);
	sb = sandbox_alloc(k);
	if (!sb) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
	} else {
		sb->persistent = true;
		rc = store_boot(k, st, &sb, &row, &cfg, STATE_SB_STARTING,
				&own);
	}
	if (rc) {
		struct state_update u = {.status = STATE_SB_STOPPED};

		errmsg_first_line(k, reason, sizeof(reason));
		u.exit_reason = reason;
		state_sandbox_transition(st, row.id, STATE_SB_STARTING, &u, err,
					 sizeof(err));
	}
	kiln_sandbox_close(sb);
	json_decref(root);
	rc = hooks_after(k, rc, KILN_EV_AFTER_START, "start", row.id, row.name,
			 NULL);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_sandbox_remove(struct kiln *k, const char *ref, int force)
{
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (!rc)
		rc = hooks_before(k, KILN_EV_BEFORE_REMOVE, "remove", row.id,
				  row.name, json_pack("{s:b}", "force", force));
	if (rc) {
		state_sandbox_clear(&row);
		return rc;
	}
	switch (row.status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
		rc = claim_running(k, st, &row);
		if (rc)
			break;
		if (!force && !store_unpause_for_stop(k, &row))
			force = 1;
		rc = store_vmm_stop(&row, !force, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
		break;
	case STATE_SB_CREATING:
	case STATE_SB_STARTING:
	case STATE_SB_STOPPING:
		if (!force) {
			rc = busy_fail(k, &row);
			break;
		}
		/* its owner finds the row gone and gives up */
		rc = store_vmm_stop(&row, false, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
		break;
	default:
		break;
	}
	if (!rc && row.runtime_dir &&
	    (rc = rundir_remove(row.runtime_dir, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	if (!rc)
		rc = net_sandbox_remove(k, &row);
	/* its checkpoints' rows go with its row (a trigger) */
	if (!rc)
		rc = checkpoint_files_remove(k, row.id, NULL);
	if (!rc && (rc = state_sandbox_delete(st, row.id, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	rc = hooks_after(k, rc, KILN_EV_AFTER_REMOVE, "remove", row.id,
			 row.name, NULL);
	state_sandbox_clear(&row);
	return rc;
}

int sandbox_store_destroy(struct kiln_sandbox *sb)
{
	struct kiln *k = sb->k;
	char id[KILN_ID_LEN + 1];

	memcpy(id, sb->id, sizeof(id));
	kiln_sandbox_close(sb);
	return kiln_sandbox_remove(k, id, 0);
}
