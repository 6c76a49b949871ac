/* SPDX-License-Identifier: MIT */
/*
 * Checkpoints of persistent sandboxes: a named full snapshot (vCPU, VM and
 * device state + the guest's memory) taken while the sandbox keeps
 * running, and a rollback that replaces the sandbox's VMM by one restored
 * from it.
 *
 * Files: <state_dir>/checkpoints/<sandbox id>/<name>/{state,mem}.  A
 * checkpoint is written into a temporary directory (".tmp-<name>-<pid>":
 * names cannot start with '.', so it never collides with one), recorded
 * in the state database (the UNIQUE (sandbox, name) constraint decides a
 * race between two checkpoints of one name), then renamed into place.
 * Leftovers of an interrupted checkpoint are removed with the sandbox.
 *
 * A checkpoint is the VMM's state file, its memory file and a copy of the
 * sandbox's root disk overlay (<runtime_dir>/root.ovl: the guest's writes
 * to its root, over the read-only image), made while the VM is still
 * paused, so memory (the guest's page cache) and disk agree.  A rollback
 * maps the memory file MAP_PRIVATE (kiln-vmm never writes to it) and gets
 * its own copy of the overlay, so a checkpoint stays pristine and can be
 * rolled back to any number of times.  A sandbox started before root
 * disks had overlays has none (its guest kept its writes in a tmpfs, in
 * memory): its checkpoints have no root.ovl and restore without one.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/checkpoint.h"
#include "lib/handle.h"
#include "lib/overlay_copy.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"
#include "lib/sandbox_store.h"
#include "lib/vmm_api.h"

#define ERRLEN 1024
#define SNAPSHOT_API_MS 300000 /* writes the guest's memory */
/* in a checkpoint of a sandbox without a disk overlay (older kiln) */
#define NO_OVERLAY_FILE "no-root.ovl"

int checkpoint_dir_of(struct kiln *k, const char *id, const char *leaf,
		      char **out)
{
	int n = leaf ? asprintf(out, "%s/checkpoints/%s/%s", k->state_dir, id,
				leaf)
		     : asprintf(out, "%s/checkpoints/%s", k->state_dir, id);

	if (n < 0) {
		*out = NULL;
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	return KILN_OK;
}

int checkpoint_mkdir_p(struct kiln *k, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c && c != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			int e = errno;

			handle_fail(k, KILN_ESYS, "cannot create %s: %s", p,
				    strerror(e));
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

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		return errno;
	return 0;
}

int checkpoint_tree_rm(const char *path)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	r = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r == 0 ? 0 : r > 0 ? r : errno;
}

int checkpoint_tree_remove(struct kiln *k, const char *path)
{
	int e = checkpoint_tree_rm(path);

	if (e)
		return handle_fail(k, KILN_ESYS, "cannot remove %s: %s", path,
				   strerror(e));
	return KILN_OK;
}

/*
 * Reading a kiln-vmm state file (src/vmm/snapshot.h): a 32-byte header
 * (magic, u32 version, u32 flags, u64 body length, two CRCs), then
 * sections of u32 tag, u32 instance, u32 length and the bytes; all little
 * endian.  Only the framing and VM_CONFIG (tag 2, vmm_config_put()) are
 * read here, and only to learn which NICs a snapshot has.
 */
#define STATE_HDR_SIZE 32
#define STATE_VERSION 1
#define STATE_TAG_VM_CONFIG 2
#define STATE_CONFIG_MAX (1u << 20) /* far above any real configuration */
#define STATE_STR_NULL 0xffffffffu

struct state_cursor {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* sticky: a read went past the end */
};

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t cur_get(struct state_cursor *c, int n)
{
	uint64_t v;

	if (c->bad || c->len - c->off < (size_t)n) {
		c->bad = true;
		return 0;
	}
	v = le_get(c->p + c->off, n);
	c->off += (size_t)n;
	return v;
}

/* Skip a string; true if it equals want (NULL: nobody wants it). */
static bool cur_str_is(struct state_cursor *c, const char *want)
{
	uint32_t n = (uint32_t)cur_get(c, 4);
	bool eq;

	if (c->bad || n == STATE_STR_NULL)
		return false;
	if (n > c->len - c->off) {
		c->bad = true;
		return false;
	}
	eq = want && strlen(want) == n && !memcmp(c->p + c->off, want, n);
	c->off += n;
	return eq;
}

/* VM_CONFIG's fields in vmm_config_put()'s order, up to the NICs. */
static int config_has_nic(struct state_cursor *c, const char *iface)
{
	uint32_t n;
	bool found = false;

	cur_str_is(c, NULL); /* cmdline */
	cur_get(c, 4); /* vCPUs */
	cur_get(c, 4); /* memory */
	cur_get(c, 1); /* smt */
	cur_get(c, 4); /* cpu template */
	n = (uint32_t)cur_get(c, 4);
	for (uint32_t i = 0; i < n && !c->bad; i++) {
		cur_str_is(c, NULL); /* id */
		cur_str_is(c, NULL); /* path */
		cur_get(c, 2); /* read_only, is_root */
		cur_str_is(c, NULL); /* overlay */
	}
	cur_get(c, 1); /* vsock */
	cur_get(c, 8); /* cid */
	cur_str_is(c, NULL); /* uds */
	cur_get(c, 1); /* rng */
	cur_get(c, 4); /* console */
	cur_str_is(c, NULL); /* console path */
	n = (uint32_t)cur_get(c, 4);
	for (uint32_t i = 0; i < n && !c->bad; i++) {
		found |= cur_str_is(c, iface); /* id */
		cur_str_is(c, NULL); /* tap */
		cur_get(c, 1); /* has_mac */
		cur_get(c, 6); /* mac */
	}
	return c->bad ? -1 : found;
}

int checkpoint_state_has_nic(const char *path, const char *iface)
{
	uint8_t hdr[STATE_HDR_SIZE], *buf = NULL;
	uint64_t body, off = 0;
	int rc = -1;
	FILE *f;

	if (!path || !iface)
		return -1;
	f = fopen(path, "rbe");
	if (!f)
		return -1;
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) ||
	    memcmp(hdr, "KILNSNAP", 8) || le_get(hdr + 8, 4) != STATE_VERSION)
		goto out;
	body = le_get(hdr + 16, 8);
	/* each step consumes a section header: bounded by the body */
	while (body - off >= 12) {
		uint8_t sh[12];
		uint32_t len;

		if (fread(sh, 1, sizeof(sh), f) != sizeof(sh))
			goto out;
		off += sizeof(sh);
		len = (uint32_t)le_get(sh + 8, 4);
		if (len > body - off)
			goto out;
		if (le_get(sh, 4) == STATE_TAG_VM_CONFIG &&
		    !le_get(sh + 4, 4)) {
			struct state_cursor c = {.len = len};

			if (len > STATE_CONFIG_MAX ||
			    !(buf = malloc(len ? len : 1)) ||
			    fread(buf, 1, len, f) != len)
				goto out;
			c.p = buf;
			rc = config_has_nic(&c, iface);
			goto out;
		}
		if (fseeko(f, (off_t)len, SEEK_CUR) < 0)
			goto out;
		off += len;
	}
out:
	free(buf);
	fclose(f);
	return rc;
}

int checkpoint_files_remove(struct kiln *k, const char *id, const char *name)
{
	char *dir;
	int rc;

	rc = checkpoint_dir_of(k, id, name, &dir);
	if (rc)
		return rc;
	rc = checkpoint_tree_remove(k, dir);
	free(dir);
	/* the whole sandbox: also where its jailed VMM wrote snapshots */
	if (!name)
		sandbox_jail_staging_remove(k, id);
	return rc;
}

/* The disk space of the files in dir (they are sparse). */
static uint64_t dir_usage(const char *dir)
{
	static const char *const files[] = {"state", "mem", "root.ovl"};
	uint64_t total = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p;
		struct stat st;

		if (asprintf(&p, "%s/%s", dir, files[i]) < 0)
			continue;
		if (stat(p, &st) == 0)
			total += (uint64_t)st.st_blocks * 512u;
		free(p);
	}
	return total;
}

/* The checkpoint in dir has no disk overlay (NO_OVERLAY_FILE). */
static int marker_write(struct kiln *k, const char *dir)
{
	char *p;
	int fd;

	if (asprintf(&p, "%s/" NO_OVERLAY_FILE, dir) < 0)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		handle_fail(k, KILN_ESYS, "cannot create %s: %s", p,
			    strerror(errno));
		free(p);
		return KILN_ESYS;
	}
	close(fd);
	free(p);
	return KILN_OK;
}

int checkpoint_capture(struct kiln *k, const struct state_sandbox *row,
		       const char *dir)
{
	char err[ERRLEN], *api = NULL, *state = NULL, *mem = NULL;
	char *ovl = NULL, *ovl_copy = NULL, *stage = NULL;
	char stage_state[PATH_MAX], stage_mem[PATH_MAX];
	const char *req_state, *req_mem;
	bool was_paused = row->status == STATE_SB_PAUSED;
	struct stat sst;
	int rc, r;

	if (!row->runtime_dir)
		return handle_fail(k, KILN_ESTATE,
				   "sandbox %s has no runtime directory "
				   "recorded; stop and start it",
				   row->id);
	if (asprintf(&api, "%s/api.sock", row->runtime_dir) < 0)
		api = NULL;
	if (asprintf(&state, "%s/state", dir) < 0)
		state = NULL;
	if (asprintf(&mem, "%s/mem", dir) < 0)
		mem = NULL;
	if (asprintf(&ovl, "%s/root.ovl", row->runtime_dir) < 0)
		ovl = NULL;
	if (asprintf(&ovl_copy, "%s/root.ovl", dir) < 0)
		ovl_copy = NULL;
	if (!api || !state || !mem || !ovl || !ovl_copy) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	/* a jailed VMM writes where its root lets it; moved here after */
	rc = sandbox_jail_staging(k, row->id, row->runtime_dir, &stage);
	if (rc)
		goto out;
	req_state = state;
	req_mem = mem;
	if (stage) {
		snprintf(stage_state, sizeof(stage_state), "%s/state", stage);
		snprintf(stage_mem, sizeof(stage_mem), "%s/mem", stage);
		req_state = stage_state;
		req_mem = stage_mem;
	}
	/* a sandbox paused by `kiln pause` stays paused afterwards */
	if (!was_paused) {
		rc = store_vmm_set_paused(k, row, true);
		if (rc)
			goto out;
	}
	rc = vmm_api_expect(api, "PUT", "/snapshot/create",
			    json_pack("{s:s, s:s, s:s}", "snapshot_type",
				      "Full", "snapshot_path", req_state,
				      "mem_file_path", req_mem),
			    SNAPSHOT_API_MS, err, sizeof(err));
	if (!rc && stage)
		rc = sandbox_jail_collect(stage, "state", state, err,
					  sizeof(err));
	if (!rc && stage)
		rc = sandbox_jail_collect(stage, "mem", mem, err, sizeof(err));
	if (rc)
		handle_fail(k, rc, "snapshot of sandbox %s: %s", row->id, err);
	/*
	 * The root disk's overlay, while the VM is still paused: the
	 * snapshot flushed it, and nothing writes to it until the resume.
	 * (A sandbox started before root disks had overlays has none: its
	 * guest's writes are all in the memory file.)
	 */
	if (!rc && stat(ovl, &sst) == 0) {
		rc = overlay_copy(ovl, ovl_copy, NULL, err, sizeof(err));
		if (rc)
			handle_fail(k, rc,
				    "copying the disk overlay of sandbox %s: "
				    "%s",
				    row->id, err);
	} else if (!rc) {
		/* says so, so that a lost root.ovl is never taken for this */
		rc = marker_write(k, dir);
	}
	/* always resumed, also after a failed snapshot */
	if (!was_paused) {
		char first[ERRLEN];

		snprintf(first, sizeof(first), "%s", kiln_errmsg(k));
		r = store_vmm_set_paused(k, row, false);
		if (r && rc)
			handle_fail(k, rc, "%s\nand then: %s", first,
				    kiln_errmsg(k));
		else if (rc)
			handle_fail(k, rc, "%s", first);
		else
			rc = r;
	}
out:
	free(api);
	free(state);
	free(mem);
	free(ovl);
	free(ovl_copy);
	free(stage);
	return rc;
}

static bool state_live(enum state_sandbox_status s)
{
	return s == STATE_SB_RUNNING || s == STATE_SB_PAUSED;
}

int kiln_checkpoint_create(struct kiln *k, const char *ref, const char *name)
{
	struct state_checkpoint cp = {0}, old;
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN], *base = NULL, *tmp = NULL, *final = NULL;
	char leaf[STATE_NAME_MAX + 32];
	int rc;

	if (!name)
		return handle_fail(k, KILN_EINVAL, "no checkpoint name given");
	rc = state_name_check_what("checkpoint", name, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	if (!state_live(row.status)) {
		rc = handle_fail(k, KILN_ESTATE,
				 "sandbox %s is %s: only a running (or paused) "
				 "sandbox can be checkpointed",
				 row.id, state_status_name(row.status));
		goto out;
	}
	rc = state_checkpoint_get(st, row.id, name, &old, err, sizeof(err));
	if (!rc) {
		state_checkpoint_clear(&old);
		rc = handle_fail(k, KILN_EINVAL,
				 "sandbox %s already has a checkpoint named "
				 "'%s'; remove it first (`kiln snapshot rm %s "
				 "%s`) or choose another name",
				 row.id, name, row.id, name);
		goto out;
	}
	if (rc != KILN_ENOTFOUND) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	snprintf(leaf, sizeof(leaf), ".tmp-%s-%d", name, (int)getpid());
	rc = checkpoint_dir_of(k, row.id, NULL, &base);
	if (!rc)
		rc = checkpoint_dir_of(k, row.id, leaf, &tmp);
	if (!rc)
		rc = checkpoint_dir_of(k, row.id, name, &final);
	if (!rc)
		rc = checkpoint_mkdir_p(k, base);
	if (!rc)
		rc = checkpoint_tree_remove(k, tmp);
	if (!rc && mkdir(tmp, 0700) < 0)
		rc = handle_fail(k, KILN_ESYS, "cannot create %s: %s", tmp,
				 strerror(errno));
	if (rc)
		goto out;
	handle_log(k, KILN_LOG_INFO, "sandbox %s: checkpoint '%s' into %s",
		   row.id, name, final);
	rc = checkpoint_capture(k, &row, tmp);
	if (!rc) {
		memcpy(cp.sandbox, row.id, sizeof(cp.sandbox));
		snprintf(cp.name, sizeof(cp.name), "%s", name);
		cp.created_at = (int64_t)time(NULL);
		cp.size = dir_usage(tmp);
		cp.dir = final;
		rc = state_checkpoint_insert(st, &cp, err, sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
	}
	if (!rc && rename(tmp, final) < 0) {
		int e = errno;

		/* the name is ours now (the row says so): a directory of
		 * that name is a leftover of a removal cut short */
		if ((e == EEXIST || e == ENOTEMPTY) &&
		    !(e = checkpoint_tree_rm(final)) && rename(tmp, final) < 0)
			e = errno;
		if (e) {
			rc = handle_fail(k, KILN_ESYS,
					 "cannot rename %s to %s: %s", tmp,
					 final, strerror(e));
			state_checkpoint_delete(st, row.id, name, err,
						sizeof(err));
		}
	}
out:
	if (rc && tmp)
		checkpoint_tree_rm(tmp);
	free(base);
	free(tmp);
	free(final);
	state_sandbox_clear(&row);
	return rc;
}

int checkpoint_files(struct kiln *k, const struct state_checkpoint *cp,
		     char **state, char **mem, char **ovl)
{
	struct stat st;

	*state = *mem = *ovl = NULL;
	if (asprintf(state, "%s/state", cp->dir) < 0 ||
	    asprintf(mem, "%s/mem", cp->dir) < 0 ||
	    asprintf(ovl, "%s/root.ovl", cp->dir) < 0)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	if (stat(*ovl, &st) < 0) {
		char *marker;
		bool none;

		if (asprintf(&marker, "%s/" NO_OVERLAY_FILE, cp->dir) < 0)
			return handle_fail(k, KILN_ENOMEM, "out of memory");
		none = stat(marker, &st) == 0;
		free(marker);
		free(*ovl);
		*ovl = NULL;
		/* restoring without it would give the guest an empty disk */
		if (!none)
			errno = ENOENT;
		if (!none || stat(*state, &st) < 0 || stat(*mem, &st) < 0)
			goto missing;
		return KILN_OK;
	}
	if (stat(*state, &st) < 0 || stat(*mem, &st) < 0)
		goto missing;
	return KILN_OK;
missing:
	return handle_fail(k, KILN_ENOTFOUND,
			   "the files of checkpoint '%s' of sandbox %s are "
			   "missing in %s: %s; remove it with `kiln snapshot "
			   "rm %s %s`",
			   cp->name, cp->sandbox, cp->dir, strerror(errno),
			   cp->sandbox, cp->name);
}

int kiln_checkpoint_rollback(struct kiln *k, const char *ref, const char *name,
			     kiln_progress_fn progress, void *progress_ctx)
{
	struct state_update own = {.status = STATE_SB_STARTING};
	struct kiln_sandbox_config cfg;
	struct state_checkpoint cp = {0};
	struct kiln_sandbox *sb = NULL;
	struct state_sandbox row;
	struct state *st;
	json_t *root = NULL;
	char err[ERRLEN], reason[STORE_REASON_MAX];
	char *state = NULL, *mem = NULL, *ovl = NULL;
	int rc;

	if (!name)
		return handle_fail(k, KILN_EINVAL, "no checkpoint name given");
	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	switch (row.status) {
	case STATE_SB_RUNNING:
	case STATE_SB_PAUSED:
	case STATE_SB_STOPPED:
	case STATE_SB_DEAD:
	case STATE_SB_FAILED:
		break;
	default:
		rc = handle_fail(k, KILN_ESTATE,
				 "sandbox %s is %s by another kiln process "
				 "(pid %d); wait for it",
				 row.id, state_status_name(row.status),
				 row.owner_pid);
		goto out;
	}
	rc = state_checkpoint_get(st, row.id, name, &cp, err, sizeof(err));
	if (rc) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	rc = checkpoint_files(k, &cp, &state, &mem, &ovl);
	if (!rc)
		rc = store_config_parse(k, row.id, row.config, &cfg, &root);
	if (rc)
		goto out;
	cfg.persistent = 1;
	cfg.progress = progress;
	cfg.progress_ctx = progress_ctx;
	/* claimed with the old VMM recorded: if we die, it gets stopped */
	own.vmm_pid = row.vmm_pid;
	own.vmm_start = row.vmm_start;
	if (store_self(&own.owner_pid, &own.owner_start))
		rc = handle_fail(k, KILN_ESYS, "cannot read /proc/self/stat");
	if (!rc) {
		rc = state_sandbox_transition(st, row.id, row.status, &own, err,
					      sizeof(err));
		if (rc)
			handle_fail(k, rc, "%s", err);
	}
	if (rc)
		goto out;
	/* the guest's state is thrown away: no power-off needed */
	rc = store_vmm_stop(&row, false, err, sizeof(err));
	if (rc) {
		struct state_update back = own;

		handle_fail(k, rc, "%s", err);
		back.status = row.status;
		back.owner_pid = 0;
		back.owner_start = 0;
		state_sandbox_transition(st, row.id, STATE_SB_STARTING, &back,
					 err, sizeof(err));
		goto out;
	}
	own.vmm_pid = 0;
	own.vmm_start = 0;
	/* a fresh runtime directory (same path) for the new VMM */
	if (row.runtime_dir && rundir_remove(row.runtime_dir, err, sizeof(err)))
		handle_log(k, KILN_LOG_WARN, "%s", err);
	handle_log(k, KILN_LOG_INFO, "sandbox %s: rolling back to '%s' (%s)",
		   row.id, name, cp.dir);
	sb = sandbox_alloc(k);
	if (!sb) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
	} else {
		sb->persistent = true;
		sb->restore_state = state;
		sb->restore_mem = mem;
		sb->restore_overlay = ovl;
		rc = store_boot(k, st, &sb, &row, &cfg, STATE_SB_STARTING,
				&own);
	}
	if (rc) {
		struct state_update u = {.status = STATE_SB_STOPPED};

		snprintf(reason, sizeof(reason),
			 "rollback to '%s' failed: %.*s", name,
			 (int)strcspn(kiln_errmsg(k), "\n"), kiln_errmsg(k));
		u.exit_reason = reason;
		state_sandbox_transition(st, row.id, STATE_SB_STARTING, &u, err,
					 sizeof(err));
	}
	kiln_sandbox_close(sb);
out:
	json_decref(root);
	free(state);
	free(mem);
	free(ovl);
	state_checkpoint_clear(&cp);
	state_sandbox_clear(&row);
	return rc;
}

void kiln_checkpoint_info_list_free(struct kiln_checkpoint_info *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].path);
	free(list);
}

int kiln_checkpoint_list(struct kiln *k, const char *ref,
			 struct kiln_checkpoint_info **list, size_t *n)
{
	struct state_checkpoint *rows = NULL;
	struct kiln_checkpoint_info *v = NULL;
	struct state_sandbox row = {0};
	struct state *st;
	char err[ERRLEN];
	size_t count = 0;
	int rc;

	*list = NULL;
	*n = 0;
	rc = ref ? store_find(k, ref, &st, &row) : store_open(k, &st);
	if (rc)
		return rc;
	rc = state_checkpoint_list(st, ref ? row.id : NULL, &rows, &count, err,
				   sizeof(err));
	if (rc) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	if (!count)
		goto out;
	v = calloc(count, sizeof(*v));
	if (!v) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count && !rc; i++) {
		struct state_sandbox owner;

		memcpy(v[i].sandbox_id, rows[i].sandbox,
		       sizeof(v[i].sandbox_id));
		if (state_sandbox_get(st, rows[i].sandbox, &owner, err,
				      sizeof(err)) == 0) {
			snprintf(v[i].sandbox_name, sizeof(v[i].sandbox_name),
				 "%s", owner.name);
			state_sandbox_clear(&owner);
		}
		snprintf(v[i].name, sizeof(v[i].name), "%s", rows[i].name);
		v[i].created_at = rows[i].created_at;
		v[i].size_bytes = rows[i].size;
		v[i].path = strdup(rows[i].dir);
		if (!v[i].path)
			rc = handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	if (rc) {
		kiln_checkpoint_info_list_free(v, count);
		goto out;
	}
	*list = v;
	*n = count;
out:
	state_checkpoint_list_free(rows, count);
	state_sandbox_clear(&row);
	return rc;
}

int kiln_checkpoint_remove(struct kiln *k, const char *ref, const char *name)
{
	struct state_checkpoint *rows = NULL;
	struct state_sandbox row;
	struct state *st;
	char err[ERRLEN];
	size_t count = 0;
	int rc;

	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	rc = state_checkpoint_list(st, row.id, &rows, &count, err, sizeof(err));
	if (rc) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	/* the row first: a checkpoint is never listed without its files */
	rc = state_checkpoint_delete(st, row.id, name, err, sizeof(err));
	if (rc) {
		handle_fail(k, rc, "%s", err);
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		int r;

		if (name && strcmp(rows[i].name, name))
			continue;
		r = checkpoint_tree_remove(k, rows[i].dir);
		if (r && !rc)
			rc = r;
	}
out:
	state_checkpoint_list_free(rows, count);
	state_sandbox_clear(&row);
	return rc;
}
