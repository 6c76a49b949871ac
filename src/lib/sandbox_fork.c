/* SPDX-License-Identifier: MIT */
/*
 * Forks: N new persistent sandboxes restored from one snapshot of a
 * running one.
 *
 * The snapshot is taken as for a checkpoint (checkpoint_capture(): the
 * parent is paused, snapshotted, its disk overlay copied, and resumed)
 * into a hidden directory
 * <state_dir>/checkpoints/<parent id>/.fork-<pid>-<n>, not recorded in
 * the database.  Each fork is then created like `kiln create` (record,
 * detached VMM, agent, identity), restoring that snapshot instead of the
 * base snapshot, each with its own copy of the disk overlay.  The
 * directory is removed as soon as every fork's agent
 * answered: a restoring kiln-vmm opens the memory file once, maps it
 * MAP_PRIVATE and closes it (vmm_restore.c), and never opens it again
 * (only a Diff snapshot reads its base's memory file, and libkiln takes
 * Full ones), so the forks keep the unlinked file's pages through their
 * mappings.  A kiln killed half-way leaves the directory behind; it goes
 * with the parent (`kiln rm`), and the half-created fork is rolled back
 * by the reconciliation like any interrupted create.
 */
#include <errno.h>
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
#include "lib/sandbox.h"
#include "lib/sandbox_store.h"

#define ERRLEN 1024
#define FORK_SUFFIX "-fork-"

/* The lowest free name "<base>-fork-<n>". */
static int fork_name(struct kiln *k, struct state *st, const char *base,
		     char out[STATE_NAME_MAX + 1])
{
	char err[ERRLEN];

	for (unsigned int n = 1; n < 100000; n++) {
		struct state_sandbox other;
		int rc, len;

		len = snprintf(out, STATE_NAME_MAX + 1, "%s" FORK_SUFFIX "%u",
			       base, n);
		if (len > STATE_NAME_MAX)
			return handle_fail(k, KILN_EINVAL,
					   "sandbox name '%s' is too long to "
					   "name its forks '%s" FORK_SUFFIX
					   "N' (at most %d characters)",
					   base, base, STATE_NAME_MAX);
		rc = state_sandbox_get(st, out, &other, err, sizeof(err));
		if (rc == KILN_ENOTFOUND)
			return KILN_OK;
		if (rc)
			return handle_fail(k, rc, "%s", err);
		state_sandbox_clear(&other);
	}
	return handle_fail(k, KILN_EINVAL, "no free fork name for '%s'", base);
}

/* Remove the forks made so far, keeping k's message about the failure. */
static void fork_undo(struct kiln *k, char (*ids)[KILN_ID_LEN + 1],
		      unsigned int made, int rc)
{
	char *msg = strdup(kiln_errmsg(k));
	char *fails = NULL;

	for (unsigned int i = 0; i < made; i++) {
		if (kiln_sandbox_remove(k, ids[i], 1)) {
			char *n;

			if (asprintf(&n, "%s\nremoving fork %s: %s",
				     fails ? fails : "", ids[i],
				     kiln_errmsg(k)) >= 0) {
				free(fails);
				fails = n;
			}
		}
		ids[i][0] = '\0';
	}
	handle_fail(k, rc, "%s%s", msg ? msg : "fork failed",
		    fails ? fails : "");
	free(msg);
	free(fails);
}

int kiln_sandbox_fork(struct kiln *k, const char *ref, unsigned int count,
		      char (*ids)[KILN_ID_LEN + 1])
{
	struct kiln_sandbox_config cfg;
	struct state_sandbox row;
	struct state *st;
	json_t *root = NULL;
	char leaf[64], name[STATE_NAME_MAX + 1];
	char *base = NULL, *dir = NULL, *state = NULL, *mem = NULL, *ovl = NULL;
	struct stat sst;
	unsigned int made = 0;
	struct timespec ts;
	int rc;

	if (count < 1 || count > KILN_FORK_MAX)
		return handle_fail(k, KILN_EINVAL,
				   "fork count %u is out of range 1..%d", count,
				   KILN_FORK_MAX);
	for (unsigned int i = 0; i < count; i++)
		ids[i][0] = '\0';
	rc = store_find(k, ref, &st, &row);
	if (rc)
		return rc;
	if (row.status != STATE_SB_RUNNING && row.status != STATE_SB_PAUSED) {
		rc = handle_fail(k, KILN_ESTATE,
				 "sandbox %s is %s: only a running (or paused) "
				 "sandbox can be forked",
				 row.id, state_status_name(row.status));
		goto out;
	}
	rc = store_config_parse(k, row.id, row.config, &cfg, &root);
	if (rc)
		goto out;
	cfg.persistent = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(leaf, sizeof(leaf), ".fork-%d-%09ld", (int)getpid(),
		 ts.tv_nsec);
	rc = checkpoint_dir_of(k, row.id, NULL, &base);
	if (!rc)
		rc = checkpoint_dir_of(k, row.id, leaf, &dir);
	if (rc)
		goto out;
	if (asprintf(&state, "%s/state", dir) < 0 ||
	    asprintf(&mem, "%s/mem", dir) < 0 ||
	    asprintf(&ovl, "%s/root.ovl", dir) < 0) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	rc = checkpoint_mkdir_p(k, base);
	if (rc)
		goto out;
	if (mkdir(dir, 0700) < 0) {
		rc = handle_fail(k, KILN_ESYS, "cannot create %s: %s", dir,
				 strerror(errno));
		goto out;
	}
	handle_log(k, KILN_LOG_INFO, "sandbox %s: forking %u time%s via %s",
		   row.id, count, count == 1 ? "" : "s", dir);
	rc = checkpoint_capture(k, &row, dir);
	if (!rc && stat(ovl, &sst) < 0) {
		free(ovl); /* the parent has no disk overlay */
		ovl = NULL;
	}
	for (; !rc && made < count; made++) {
		struct kiln_sandbox *sb;

		cfg.name = NULL;
		if (row.name[0]) {
			rc = fork_name(k, st, row.name, name);
			if (rc)
				break;
			cfg.name = name;
		}
		/* a fork of an unjailed (relaxed) sandbox is so too */
		rc = store_create_from(k, &cfg, state, mem, ovl, &row, &sb);
		if (rc)
			break;
		snprintf(ids[made], KILN_ID_LEN + 1, "%s", kiln_sandbox_id(sb));
		kiln_sandbox_close(sb);
	}
	if (rc)
		fork_undo(k, ids, made, rc);
out:
	/* every fork has mapped the memory by now (or failed) */
	if (dir && !rc)
		rc = checkpoint_tree_remove(k, dir);
	else if (dir)
		checkpoint_tree_rm(dir);
	json_decref(root);
	free(base);
	free(dir);
	free(state);
	free(mem);
	free(ovl);
	state_sandbox_clear(&row);
	return rc;
}
