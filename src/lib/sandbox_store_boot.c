/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes coming to life: create (also from a checkpoint)
 * and start.  Both move the row into creating/starting owned by this
 * process, launch the VMM detached, record it, wait for the agent and
 * go to running (store_boot()); a failed create is undone on the spot,
 * a failed start leaves the sandbox stopped with the reason.
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

	/* created with the jail off: every start, rollback, fork keeps it */
	sb->no_jail = row->no_jail;
	sb->jail_relax = row->jail_relax;
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
	sb->net_slot =
		row->net_slot; /* eth0's address, once the agent answers */
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

/*
 * A failed creation whose runtime directory could not be removed (why:
 * rm_err): the row stays, failed, so that the directory is not left with
 * nothing naming it.  `kiln ls` shows it and `kiln rm` removes both (as
 * for a sandbox whose VMM died); reconciliation leaves a failed row alone.
 */
static void create_keep_failed(struct kiln *k, struct state *st,
			       const struct state_sandbox *row,
			       const char *rm_err)
{
	struct state_update u = {.status = STATE_SB_FAILED};
	char reason[STORE_REASON_MAX], err[ERRLEN];

	snprintf(reason, sizeof(reason),
		 "its creation failed and its runtime directory was left "
		 "behind: %.400s",
		 rm_err);
	u.exit_reason = reason;
	if (state_sandbox_transition(st, row->id, STATE_SB_CREATING, &u, err,
				     sizeof(err))) {
		handle_fail_append(k,
				   "\nwhile cleaning up: %s; and the sandbox "
				   "could not be kept to remove it later (%s): "
				   "remove %s by hand",
				   rm_err, err, row->runtime_dir);
		return;
	}
	handle_fail_append(k,
			   "\nwhile cleaning up: %s; sandbox %s is kept as "
			   "failed: remove it with `kiln rm %s` (once that "
			   "directory can be removed)",
			   rm_err, row->id, row->id);
}

void store_create_undo(struct kiln *k, struct state *st,
		       const struct state_sandbox *row)
{
	char err[ERRLEN];

	/* nothing may remain: the VMM and directory went with sb */
	net_sandbox_cleanup(k, row);
	if (row->runtime_dir &&
	    rundir_remove(row->runtime_dir, err, sizeof(err)))
		create_keep_failed(k, st, row, err);
	else if (state_sandbox_delete(st, row->id, err, sizeof(err)) &&
		 !strstr(err, "no sandbox"))
		handle_fail_append(k, "\nwhile cleaning up: %s", err);
}

int sandbox_store_create(struct kiln *k, const struct kiln_sandbox_config *cfg,
			 struct kiln_sandbox **out)
{
	return store_create_from(k, cfg, NULL, NULL, NULL, NULL, out);
}

int store_create_from(struct kiln *k, const struct kiln_sandbox_config *cfg,
		      const char *restore_state, const char *restore_mem,
		      const char *restore_overlay,
		      const struct state_sandbox *parent,
		      struct kiln_sandbox **out)
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
	/* the handle's choice (--no-jail, $KILN_JAIL=0) is the sandbox's */
	n.no_jail = (parent && parent->no_jail) || !k->jail;
	/* and so are the parts of the jail left out (--no-seccomp, ...) */
	n.jail_relax = (parent ? parent->jail_relax : 0) | k->jail_relax;
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
	if (rc)
		store_create_undo(k, st, &row);
	rc = hooks_after(
		k, rc, KILN_EV_AFTER_CREATE, "create", row.id, row.name,
		json_pack("{s:I, s:I, s:s?}", "cid", (json_int_t)row.cid,
			  "net_slot", (json_int_t)row.net_slot, "runtime_dir",
			  row.runtime_dir));
	state_sandbox_clear(&row);
	*out = sb;
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
			rc = store_busy_fail(k, &row);
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
