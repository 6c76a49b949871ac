/* SPDX-License-Identifier: MIT */
/*
 * The JSON forms of a persistent sandbox (`kiln create/ls/inspect/start/
 * stop/pause/resume/fork --json`) and of a checkpoint (`kiln checkpoint/
 * rollback/snapshot ls/snapshot rm --json`).  The schemas are documented
 * in docs/CLI.md and stable: fields are only ever added.
 */
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli_common.h"

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* YYYY-MM-DDTHH:MM:SSZ, "" if the time cannot be shown */
static void utc(int64_t secs, char created[32])
{
	time_t t = (time_t)secs;
	struct tm tm;

	created[0] = '\0';
	if (gmtime_r(&t, &tm) &&
	    !strftime(created, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		created[0] = '\0';
}

json_t *cli_sandbox_json(const struct kiln_sandbox_info *info)
{
	char created[32];
	json_t *o;

	utc(info->created_at, created);
	o = json_pack(
		"{s:s, s:o, s:s, s:o, s:o, s:I, s:I, s:s, s:I, s:I, s:I, s:o, "
		"s:o, s:o, s:o, s:o}",
		"id", info->id, "name", str_or_null(info->name), "state",
		kiln_sandbox_state_name(info->state), "pid",
		info->vmm_pid ? json_integer(info->vmm_pid) : json_null(),
		"pid_start_time",
		info->vmm_pid ? json_integer((json_int_t)info->vmm_start_time)
			      : json_null(),
		"cid", (json_int_t)info->cid, "net_slot",
		(json_int_t)info->net_slot, "created", created, "created_unix",
		(json_int_t)info->created_at, "cpus", (json_int_t)info->cpus,
		"memory_mib", (json_int_t)info->memory_mib, "kernel",
		str_or_null(info->kernel_path), "image",
		str_or_null(info->image_path), "cmdline_extra",
		str_or_null(info->cmdline_extra), "runtime_dir",
		str_or_null(info->runtime_dir), "exit_reason",
		str_or_null(info->exit_reason));
	return o;
}

json_t *cli_checkpoint_json(const struct kiln_checkpoint_info *i)
{
	char created[32];

	utc(i->created_at, created);
	return json_pack(
		"{s:s, s:o, s:s, s:s, s:I, s:I, s:s}", "sandbox", i->sandbox_id,
		"sandbox_name", str_or_null(i->sandbox_name), "name", i->name,
		"created", created, "created_unix", (json_int_t)i->created_at,
		"size_bytes", (json_int_t)i->size_bytes, "path",
		i->path ? i->path : "");
}

json_t *cli_rollback_json(const struct kiln_sandbox_info *sb,
			  const struct kiln_checkpoint_info *cp)
{
	return json_pack("{s:o, s:o}", "sandbox", cli_sandbox_json(sb),
			 "checkpoint", cli_checkpoint_json(cp));
}
