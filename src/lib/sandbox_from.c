/* SPDX-License-Identifier: MIT */
/*
 * A new persistent sandbox restored from a checkpoint of another one
 * (kiln_sandbox_config.from_checkpoint = "SANDBOX:NAME").
 *
 * It is a fork that happened later: created like any sandbox (record,
 * own id, CID, slot, runtime directory, network per its own
 * configuration, detached VMM, agent, identity), but restoring the
 * checkpoint's state and memory instead of the base snapshot, with its
 * own copy of the checkpoint's disk overlay (store_create_from(), as
 * kiln_sandbox_fork() does).  The checkpoint is only read: its memory
 * file is mapped MAP_PRIVATE by the new VMM and its overlay copied, so
 * it stays usable for rollbacks and further creates, and the checkpointed
 * sandbox itself is not touched (it may be in any state).
 *
 * A VM state holds its vCPUs, memory size and devices, and the overlay
 * only makes sense over the image it was written on: so the new sandbox
 * gets the checkpointed sandbox's kernel, image, vCPUs, memory and
 * command line, and a configuration asking for other ones is refused
 * rather than silently overridden.  The jail settings are the new
 * sandbox's own (the handle's), unlike a fork's.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln.h"
#include "lib/checkpoint.h"
#include "lib/handle.h"
#include "lib/sandbox_from.h"
#include "lib/sandbox_store.h"

#define ERRLEN 1024

int sandbox_from_parse(const char *spec, char sandbox[STATE_NAME_MAX + 1],
		       char name[STATE_NAME_MAX + 1], char *err, size_t errlen)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	size_t n;
	int rc;

	sandbox[0] = name[0] = '\0';
	if (!colon || colon == spec || !colon[1] || strchr(colon + 1, ':')) {
		snprintf(err, errlen,
			 "'%.80s' is not SANDBOX:CHECKPOINT (a sandbox's id "
			 "or name, ':', one of its checkpoints' names); "
			 "`kiln snapshot ls` lists checkpoints",
			 spec ? spec : "");
		return KILN_EINVAL;
	}
	n = (size_t)(colon - spec);
	if (n > STATE_NAME_MAX) {
		snprintf(err, errlen,
			 "sandbox '%.80s...' of '%.80s...' is too long (at "
			 "most %d characters)",
			 spec, spec, STATE_NAME_MAX);
		return KILN_EINVAL;
	}
	memcpy(sandbox, spec, n);
	sandbox[n] = '\0';
	/* ids and id prefixes are hex digits: the name rule admits them */
	rc = state_name_check_what("sandbox", sandbox, err, errlen);
	if (!rc)
		rc = state_name_check_what("checkpoint", colon + 1, err,
					   errlen);
	if (rc) {
		sandbox[0] = '\0';
		return rc;
	}
	snprintf(name, STATE_NAME_MAX + 1, "%s", colon + 1);
	return KILN_OK;
}

/* Two paths of one file (a relative path, a symlink, the same string). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int conflict(char *err, size_t errlen, const char *field,
		    const char *opt, const char *want, const char *what,
		    const char *have)
{
	snprintf(err, errlen,
		 "%s %s conflicts with %s, which has %s: a sandbox created "
		 "from a checkpoint gets the checkpoint's kernel, image, "
		 "vCPUs, memory and command line; leave %s unset (no %s)",
		 field, want, what, have, field, opt);
	return KILN_EINVAL;
}

int sandbox_from_merge(const struct kiln_sandbox_config *cfg,
		       const struct kiln_sandbox_config *src, const char *what,
		       struct kiln_sandbox_config *out, char *err,
		       size_t errlen)
{
	const char *src_extra = src->cmdline_extra ? src->cmdline_extra : "";
	char want[32], have[32];

	*out = *cfg;
	if (cfg->kernel_path && *cfg->kernel_path &&
	    !same_file(cfg->kernel_path, src->kernel_path))
		return conflict(err, errlen, "kernel", "--kernel",
				cfg->kernel_path, what, src->kernel_path);
	if (cfg->image_path && *cfg->image_path &&
	    !same_file(cfg->image_path, src->image_path))
		return conflict(err, errlen, "image", "--image",
				cfg->image_path, what, src->image_path);
	if (cfg->cpus && cfg->cpus != src->cpus) {
		snprintf(want, sizeof(want), "%u", cfg->cpus);
		snprintf(have, sizeof(have), "%u", src->cpus);
		return conflict(err, errlen, "cpus", "--cpus", want, what,
				have);
	}
	if (cfg->memory_mib && cfg->memory_mib != src->memory_mib) {
		snprintf(want, sizeof(want), "%u MiB", cfg->memory_mib);
		snprintf(have, sizeof(have), "%u MiB", src->memory_mib);
		return conflict(err, errlen, "memory", "--memory", want, what,
				have);
	}
	if (cfg->cmdline_extra && *cfg->cmdline_extra &&
	    strcmp(cfg->cmdline_extra, src_extra))
		return conflict(err, errlen, "cmdline_extra", "cmdline_extra",
				cfg->cmdline_extra, what,
				*src_extra ? src_extra : "none");
	out->kernel_path = src->kernel_path;
	out->image_path = src->image_path;
	out->cpus = src->cpus;
	out->memory_mib = src->memory_mib;
	out->cmdline_extra = src->cmdline_extra;
	out->from_checkpoint = NULL;
	return KILN_OK;
}

int sandbox_create_from_checkpoint(struct kiln *k,
				   const struct kiln_sandbox_config *cfg,
				   struct kiln_sandbox **out)
{
	struct kiln_sandbox_config src, merged;
	struct state_checkpoint cp = {0};
	struct state_sandbox row = {0};
	struct state *st;
	json_t *root = NULL;
	char ref[STATE_NAME_MAX + 1], name[STATE_NAME_MAX + 1];
	char err[ERRLEN], what[2 * STATE_NAME_MAX + 64];
	char *state = NULL, *mem = NULL, *ovl = NULL, *msg = NULL;
	int rc;

	*out = NULL;
	rc = sandbox_from_parse(cfg->from_checkpoint, ref, name, err,
				sizeof(err));
	if (rc)
		return handle_fail(k, rc,
				   "cannot create a sandbox from a checkpoint: "
				   "%s",
				   err);
	rc = store_find(k, ref, &st, &row);
	if (rc) {
		/* k's message is the format's argument: copy it first */
		msg = strdup(kiln_errmsg(k));
		rc = handle_fail(k, rc,
				 "cannot create a sandbox from checkpoint "
				 "'%s': %s%s",
				 cfg->from_checkpoint, msg ? msg : "",
				 rc == KILN_ENOTFOUND
					 ? " (`kiln snapshot ls` lists every "
					   "sandbox's checkpoints)"
					 : "");
		goto out;
	}
	snprintf(what, sizeof(what), "checkpoint '%s' of sandbox %s", name,
		 row.id);
	rc = state_checkpoint_get(st, row.id, name, &cp, err, sizeof(err));
	if (rc) {
		rc = handle_fail(k, rc,
				 "cannot create a sandbox from checkpoint "
				 "'%s': %s%s",
				 cfg->from_checkpoint, err,
				 rc == KILN_ENOTFOUND
					 ? " (`kiln checkpoint SANDBOX NAME` "
					   "makes one)"
					 : "");
		goto out;
	}
	rc = checkpoint_files(k, &cp, &state, &mem, &ovl);
	if (!rc)
		rc = store_config_parse(k, row.id, row.config, &src, &root);
	if (rc)
		goto out;
	rc = sandbox_from_merge(cfg, &src, what, &merged, err, sizeof(err));
	if (rc) {
		rc = handle_fail(k, rc, "%s", err);
		goto out;
	}
	merged.persistent = 1;
	handle_log(k, KILN_LOG_INFO, "creating a sandbox from %s (%s)", what,
		   cp.dir);
	/* no parent: the jail is the new sandbox's own, as for a create */
	rc = store_create_from(k, &merged, state, mem, ovl, NULL, out);
out:
	json_decref(root);
	free(state);
	free(mem);
	free(ovl);
	free(msg);
	state_checkpoint_clear(&cp);
	state_sandbox_clear(&row);
	return rc;
}
