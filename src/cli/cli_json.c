/* SPDX-License-Identifier: MIT */
/*
 * The JSON form of a persistent sandbox, shared by `kiln create --json`,
 * `kiln ls --json` and `kiln inspect --json`.  The schema is documented in
 * docs/CLI.md and stable: fields are only ever added.
 */
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli_common.h"

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

json_t *cli_sandbox_json(const struct kiln_sandbox_info *info)
{
	time_t t = (time_t)info->created_at;
	char created[32] = "";
	struct tm tm;
	json_t *o;

	if (gmtime_r(&t, &tm))
		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
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
