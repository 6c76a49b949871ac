/* SPDX-License-Identifier: MIT */
/*
 * The JSON forms of a sandbox and of a checkpoint (docs/CLI.md, "JSON
 * output"): every documented field present, in order, with the documented
 * types and nulls.
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

static const char *const cp_fields[] = {
	"sandbox",	"sandbox_name", "name", "created",
	"created_unix", "size_bytes",	"path",
};

static void assert_keys(json_t *o, const char *const *want, size_t n)
{
	const char *key;
	json_t *v;
	size_t i = 0;

	assert_non_null(o);
	assert_int_equal(json_object_size(o), n);
	json_object_foreach(o, key, v)
	{
		(void)v;
		assert_string_equal(key, want[i++]);
	}
}

/* `kiln checkpoint --json`, `snapshot ls/rm --json`, `rollback --json` */
static void test_checkpoint_schema(void **state)
{
	static const char *const rb_fields[] = {"sandbox", "checkpoint"};
	struct kiln_checkpoint_info cp = {
		.sandbox_id = "0123456789ab",
		.sandbox_name = "web",
		.name = "before",
		.created_at = 86400,
		.size_bytes = 4096,
		.path = "/s/checkpoints/0123456789ab/before",
	};
	struct kiln_sandbox_info sb = {
		.id = "0123456789ab",
		.state = KILN_SB_RUNNING,
		.cid = 3,
		.cpus = 1,
		.memory_mib = 256,
	};
	json_t *o = cli_checkpoint_json(&cp), *v;

	(void)state;
	assert_keys(o, cp_fields, sizeof(cp_fields) / sizeof(*cp_fields));
	assert_string_equal(json_string_value(json_object_get(o, "sandbox")),
			    "0123456789ab");
	assert_string_equal(
		json_string_value(json_object_get(o, "sandbox_name")), "web");
	assert_string_equal(json_string_value(json_object_get(o, "created")),
			    "1970-01-02T00:00:00Z");
	assert_int_equal(json_integer_value(json_object_get(o, "created_unix")),
			 86400);
	assert_int_equal(json_integer_value(json_object_get(o, "size_bytes")),
			 4096);
	json_decref(o);

	/* an unnamed sandbox's: null, still present */
	cp.sandbox_name[0] = '\0';
	o = cli_checkpoint_json(&cp);
	assert_keys(o, cp_fields, sizeof(cp_fields) / sizeof(*cp_fields));
	assert_true(json_is_null(json_object_get(o, "sandbox_name")));
	json_decref(o);

	o = cli_rollback_json(&sb, &cp);
	assert_keys(o, rb_fields, 2);
	v = json_object_get(o, "sandbox");
	assert_keys(v, fields, sizeof(fields) / sizeof(*fields));
	assert_string_equal(json_string_value(json_object_get(v, "state")),
			    "running");
	assert_keys(json_object_get(o, "checkpoint"), cp_fields,
		    sizeof(cp_fields) / sizeof(*cp_fields));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_checkpoint_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
