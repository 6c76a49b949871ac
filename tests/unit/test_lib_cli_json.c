/* SPDX-License-Identifier: MIT */
/*
 * The JSON form of a sandbox (docs/CLI.md, "JSON output"): every
 * documented field present, in order, with the documented types and nulls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_json.c"

static const char *const fields[] = {
	"id",	       "name",	   "state",   "pid",	       "pid_start_time",
	"cid",	       "net_slot", "created", "created_unix",  "cpus",
	"memory_mib",  "kernel",   "image",   "cmdline_extra", "runtime_dir",
	"exit_reason",
};

static void test_schema(void **state)
{
	struct kiln_sandbox_info info = {
		.id = "0123456789ab",
		.name = "web",
		.state = KILN_SB_RUNNING,
		.vmm_pid = 42,
		.vmm_start_time = 777,
		.cid = 5,
		.net_slot = 2,
		.created_at = 0,
		.cpus = 2,
		.memory_mib = 512,
		.kernel_path = "/k",
		.image_path = "/i",
		.runtime_dir = "/run/kiln/0123456789ab",
	};
	json_t *o = cli_sandbox_json(&info);
	const char *key;
	json_t *v;
	size_t i = 0;

	assert_non_null(o);
	assert_int_equal(json_object_size(o), sizeof(fields) / sizeof(*fields));
	json_object_foreach(o, key, v)
	{
		(void)v;
		assert_string_equal(key, fields[i++]);
	}
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "running");
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), 42);
	assert_int_equal(
		json_integer_value(json_object_get(o, "pid_start_time")), 777);
	assert_string_equal(json_string_value(json_object_get(o, "created")),
			    "1970-01-01T00:00:00Z");
	assert_true(json_is_null(json_object_get(o, "cmdline_extra")));
	assert_true(json_is_null(json_object_get(o, "exit_reason")));
	json_decref(o);

	/* unnamed, dead: nulls where documented */
	memset(info.name, 0, sizeof(info.name));
	info.state = KILN_SB_DEAD;
	info.vmm_pid = 0;
	info.exit_reason = "kiln-vmm: guest rebooted";
	o = cli_sandbox_json(&info);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "name")));
	assert_true(json_is_null(json_object_get(o, "pid")));
	assert_true(json_is_null(json_object_get(o, "pid_start_time")));
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "dead");
	assert_string_equal(
		json_string_value(json_object_get(o, "exit_reason")),
		"kiln-vmm: guest rebooted");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
