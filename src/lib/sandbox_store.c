/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes: the store and its records.  Opening the state
 * database (once per handle, reconciled), looking sandboxes up and
 * listing them, their stored configuration, and connecting to a running
 * one (kiln_sandbox_open/close).  Creating and starting them is
 * sandbox_store_boot.c, stopping and removing sandbox_store_stop.c.
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
		/* in memory: nothing on disk, so no directory is needed */
		rc = k->state_memory ? KILN_OK : dir_make(k, k->state_dir);
		if (rc)
			return rc;
		if (k->state_memory)
			path = strdup(STATE_MEMORY);
		else if (asprintf(&path, "%s/%s", k->state_dir, STORE_FILE) < 0)
			path = NULL;
		if (!path)
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

void store_close(struct kiln *k)
{
	struct state_sandbox *rows = NULL;
	char err[ERRLEN];
	size_t n = 0;

	if (!k->state)
		return;
	/*
	 * Nothing can find an in-memory store's sandboxes once it is gone:
	 * remove them (their VMMs, directories, networks) rather than leave
	 * VMMs running that no record names.
	 */
	if (k->state_memory &&
	    state_sandbox_list(k->state, &rows, &n, err, sizeof(err)))
		handle_log(k, KILN_LOG_WARN,
			   "%s; persistent sandboxes of this handle may be "
			   "left running",
			   err);
	for (size_t i = 0; i < n; i++) {
		if (kiln_sandbox_remove(k, rows[i].id, 1))
			handle_log(k, KILN_LOG_WARN,
				   "sandbox %s (VMM pid %d) of an in-memory "
				   "state store could not be removed: %s",
				   rows[i].id, rows[i].vmm_pid, kiln_errmsg(k));
	}
	state_sandbox_list_free(rows, n);
	state_close(k->state);
	k->state = NULL;
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
	info->jail_relax = row->jail_relax;
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
	size_t count, listed = 0;
	bool fresh = !k->state, deleted;
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
	for (size_t i = 0; i < count && !rc; i++) {
		/*
		 * Each row as it is now, as for kiln_sandbox_get(): a VMM
		 * may have died since this handle opened the store (which
		 * reconciled everything then).  Cheap: rows in a live state
		 * cost a read of /proc/PID/stat, the others nothing.
		 */
		deleted = false;
		if (!fresh && reconcile_row(k, st, &rows[i], &deleted))
			handle_log(k, KILN_LOG_WARN, "reconciling: %s",
				   kiln_errmsg(k));
		if (!deleted)
			rc = info_from_row(k, &rows[i], &infos[listed++]);
	}
	state_sandbox_list_free(rows, count);
	if (rc) {
		kiln_sandbox_info_list_free(infos, count);
		return rc;
	}
	if (!listed) {
		free(infos);
		infos = NULL;
	}
	*list = infos;
	*n = listed;
	return KILN_OK;
}

static char *path_join(const char *dir, const char *name)
{
	char *s;

	return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
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
	r = agent_client_connect_vsock(sb->uds_path, PROTO_AGENT_PORT, ms, ms,
				       k->cancel_fd, &sb->agent, err,
				       sizeof(err));
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

int store_busy_fail(struct kiln *k, const struct state_sandbox *row)
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
