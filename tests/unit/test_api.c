/* SPDX-License-Identifier: MIT */
/*
 * The REST routes with a test double for the VMM: each route's status and
 * body, Firecracker's shapes, and that a refused request neither calls the
 * VMM nor changes the configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_fake.h"
#include "vmm/api_routes.h"

/* Route one request; returns the status, *reply the parsed body. */
static int route(struct fake *f, const char *method, const char *path,
		 const char *body, json_t **reply)
{
	struct http_request req = {0};
	struct api_reply r;
	int status;

	snprintf(req.method, sizeof(req.method), "%s", method);
	req.target = path;
	req.target_len = strlen(path);
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	api_route(&fake_ops, f, &req, &r);
	status = r.status;
	if (reply)
		*reply = NULL;
	if (status == 204) {
		assert_null(r.body);
	} else {
		json_error_t je;
		json_t *j;

		assert_non_null(r.body);
		j = json_loadb(r.body, r.body_len, 0, &je);
		if (!j)
			fail_msg("reply is not JSON: %.*s", (int)r.body_len,
				 r.body);
		if (status >= 400 &&
		    !json_is_string(json_object_get(j, "fault_message")))
			fail_msg("error reply without fault_message: %s",
				 r.body);
		if (reply)
			*reply = j;
		else
			json_decref(j);
	}
	api_reply_free(&r);
	return status;
}

static json_t *vm_config(struct fake *f)
{
	json_t *j;

	assert_int_equal(route(f, "GET", "/vm/config", NULL, &j), 200);
	return j;
}

/*
 * Expect status with want in the fault message, no call into the VMM and
 * an unchanged configuration.
 */
static void expect_refused(struct fake *f, const char *method, const char *path,
			   const char *body, int status, const char *want)
{
	json_t *before = f->no_config ? NULL : vm_config(f), *after, *reply;
	int calls = fake_calls(f);
	int st = route(f, method, path, body, &reply);
	const char *msg =
		json_string_value(json_object_get(reply, "fault_message"));

	if (st != status || !msg || !strstr(msg, want))
		fail_msg("%s %s %s: expected %d \"%s\", got %d \"%s\"", method,
			 path, body ? body : "", status, want, st,
			 msg ? msg : "");
	assert_int_equal(fake_calls(f), calls);
	if (before) {
		after = vm_config(f);
		assert_true(json_equal(before, after));
		json_decref(after);
	}
	json_decref(before);
	json_decref(reply);
}

#define PUT_OK(f, path, body) \
	assert_int_equal(route(f, "PUT", path, body, NULL), 204)

static void test_instance_info(void **state)
{
	struct fake f;
	json_t *j;

	(void)state;
	fake_init(&f);
	assert_int_equal(route(&f, "GET", "/", NULL, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "id")),
			    "sbx-1");
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "Not started");
	assert_string_equal(json_string_value(json_object_get(j, "app_name")),
			    "kiln-vmm");
	assert_string_equal(
		json_string_value(json_object_get(j, "vmm_version")),
		KILN_VMM_VERSION);
	assert_int_equal(json_object_size(j), 4);
	json_decref(j);
	f.state = API_VM_PAUSED;
	assert_int_equal(route(&f, "GET", "/", NULL, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "Paused");
	json_decref(j);
	f.state = API_VM_RUNNING;
	assert_int_equal(route(&f, "GET", "/", NULL, &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "Running");
	json_decref(j);
	fake_free(&f);
}

static void test_unknown_path_and_method(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	expect_refused(&f, "GET", "/nope", NULL, 400,
		       "Invalid request method and/or path: GET /nope");
	expect_refused(&f, "DELETE", "/vm", NULL, 400,
		       "Invalid request method and/or path");
	expect_refused(&f, "GET", "/boot-source", NULL, 400,
		       "Invalid request method and/or path");
	expect_refused(&f, "POST", "/actions", "{}", 400,
		       "Invalid request method and/or path");
	expect_refused(&f, "GET", "/?x=1", NULL, 400, "Invalid request");
	expect_refused(&f, "PUT", "/drives/", "{}", 400, "Invalid request");
	expect_refused(&f, "PUT", "/drives/a/b", "{}", 400, "Invalid request");
	expect_refused(&f, "PUT", "/boot-source/", "{}", 400,
		       "Invalid request");
	fake_free(&f);
}

static void test_body_errors(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	expect_refused(&f, "PUT", "/boot-source", NULL, 400,
		       "needs a JSON body");
	expect_refused(&f, "PUT", "/boot-source", "{", 400, "invalid JSON");
	expect_refused(&f, "PUT", "/boot-source", "[]", 400,
		       "must be a JSON object");
	expect_refused(&f, "PUT", "/boot-source",
		       "{\"kernel_image_path\":\"/a\",\"kernel_image_path\":"
		       "\"/b\"}",
		       400, "duplicate");
	expect_refused(&f, "PUT", "/actions", "{\"action_type\":1}", 400,
		       "action_type must be a string");
	expect_refused(&f, "PUT", "/actions",
		       "{\"action_type\":\"InstanceStart\",\"x\":1}", 400,
		       "unknown key \"x\"");
	expect_refused(&f, "PUT", "/actions", "{}", 400,
		       "needs \"action_type\"");
	fake_free(&f);
}

static void test_boot_source(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	PUT_OK(&f, "/boot-source",
	       "{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\","
	       "\"initrd_path\":\"/i\"}");
	assert_string_equal(f.cfg.kernel_path, "/k");
	assert_string_equal(f.cfg.cmdline, "console=ttyS0");
	assert_string_equal(f.cfg.initrd_path, "/i");
	/* PUT replaces: what is left out goes back to the default. */
	PUT_OK(&f, "/boot-source", "{\"kernel_image_path\":\"/k2\"}");
	assert_string_equal(f.cfg.kernel_path, "/k2");
	assert_null(f.cfg.cmdline);
	assert_null(f.cfg.initrd_path);
	expect_refused(&f, "PUT", "/boot-source", "{\"boot_args\":\"x\"}", 400,
		       "needs \"kernel_image_path\"");
	expect_refused(&f, "PUT", "/boot-source",
		       "{\"kernel_image_path\":\"/k\",\"rate\":1}", 400,
		       "unknown key \"rate\"");
	expect_refused(
		&f, "PUT", "/boot-source",
		"{\"kernel_image_path\":\"/k\",\"boot_args\":\"a\\u0001\"}",
		400, "printable");
	assert_string_equal(f.cfg.kernel_path, "/k2");
	f.state = API_VM_RUNNING;
	expect_refused(&f, "PUT", "/boot-source",
		       "{\"kernel_image_path\":\"/x\"}", 400,
		       "not allowed after the VM started");
	f.state = API_VM_NOT_STARTED;
	f.no_config = true;
	expect_refused(&f, "PUT", "/boot-source",
		       "{\"kernel_image_path\":\"/x\"}", 500, "not available");
	fake_free(&f);
}

static void test_drives(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	PUT_OK(&f, "/drives/data",
	       "{\"drive_id\":\"data\",\"path_on_host\":\"/d.img\","
	       "\"is_root_device\":false}");
	PUT_OK(&f, "/drives/rootfs",
	       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r.ext4\","
	       "\"is_root_device\":true,\"is_read_only\":true}");
	PUT_OK(&f, "/drives/scratch",
	       "{\"drive_id\":\"scratch\",\"path_on_host\":\"/s.img\","
	       "\"is_root_device\":false}");
	assert_int_equal(f.cfg.ndrives, 3);
	assert_string_equal(f.cfg.drives[1].id, "rootfs");
	assert_true(f.cfg.drives[1].read_only);
	assert_true(f.cfg.drives[1].is_root);
	/* The same id replaces the drive in place. */
	PUT_OK(&f, "/drives/data",
	       "{\"drive_id\":\"data\",\"path_on_host\":\"/d2.img\","
	       "\"is_root_device\":false,\"is_read_only\":true}");
	assert_int_equal(f.cfg.ndrives, 3);
	assert_string_equal(f.cfg.drives[0].id, "data");
	assert_string_equal(f.cfg.drives[0].path, "/d2.img");
	assert_true(f.cfg.drives[0].read_only);
	assert_string_equal(f.cfg.drives[2].id, "scratch");

	expect_refused(&f, "PUT", "/drives/other",
		       "{\"drive_id\":\"data\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":false}",
		       400, "does not match");
	expect_refused(&f, "PUT", "/drives/second_root",
		       "{\"drive_id\":\"second_root\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":true}",
		       400, "is_root_device");
	expect_refused(&f, "PUT", "/drives/data",
		       "{\"drive_id\":\"data\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":false,\"cache_type\":\"Unsafe\"}",
		       400, "unknown key \"cache_type\"");
	expect_refused(&f, "PUT", "/drives/data",
		       "{\"drive_id\":\"data\",\"path_on_host\":\"\","
		       "\"is_root_device\":false}",
		       400, "empty path");
	expect_refused(&f, "PUT", "/drives/a%20b",
		       "{\"drive_id\":\"a%20b\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":false}",
		       400, "invalid drive id");
	expect_refused(&f, "PUT", "/drives/x",
		       "{\"drive_id\":\"x\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":\"no\"}",
		       400, "is_root_device must be true or false");
	/* Up to CONFIG_MAX_DRIVES, not more. */
	for (int i = f.cfg.ndrives; i < CONFIG_MAX_DRIVES; i++) {
		char path[64], body[256];

		snprintf(path, sizeof(path), "/drives/d%d", i);
		snprintf(body, sizeof(body),
			 "{\"drive_id\":\"d%d\",\"path_on_host\":\"/x\","
			 "\"is_root_device\":false}",
			 i);
		PUT_OK(&f, path, body);
	}
	expect_refused(&f, "PUT", "/drives/one_more",
		       "{\"drive_id\":\"one_more\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":false}",
		       400, "too many drives");
	f.state = API_VM_PAUSED;
	expect_refused(&f, "PUT", "/drives/data",
		       "{\"drive_id\":\"data\",\"path_on_host\":\"/x\","
		       "\"is_root_device\":false}",
		       400, "not allowed after the VM started");
	fake_free(&f);
}

/* kiln_overlay_path: accepted by PUT /drives, shown by GET /vm/config. */
static void test_drive_overlay(void **state)
{
	struct fake f;
	json_t *j, *d;

	(void)state;
	fake_init(&f);
	PUT_OK(&f, "/drives/rootfs",
	       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/base.ext4\","
	       "\"is_root_device\":true,\"kiln_overlay_path\":\"/ovl\"}");
	assert_string_equal(f.cfg.drives[0].overlay_path, "/ovl");
	j = vm_config(&f);
	d = json_array_get(json_object_get(j, "drives"), 0);
	assert_string_equal(
		json_string_value(json_object_get(d, "kiln_overlay_path")),
		"/ovl");
	assert_string_equal(
		json_string_value(json_object_get(d, "path_on_host")),
		"/base.ext4");
	json_decref(j);
	/* Replacing the drive without the field drops the overlay. */
	PUT_OK(&f, "/drives/rootfs",
	       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r.ext4\","
	       "\"is_root_device\":true}");
	assert_null(f.cfg.drives[0].overlay_path);
	j = vm_config(&f);
	d = json_array_get(json_object_get(j, "drives"), 0);
	assert_null(json_object_get(d, "kiln_overlay_path"));
	json_decref(j);
	expect_refused(&f, "PUT", "/drives/rootfs",
		       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r\","
		       "\"is_root_device\":true,\"kiln_overlay_path\":\"/r\"}",
		       400, "is the base image itself");
	expect_refused(&f, "PUT", "/drives/rootfs",
		       "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/r\","
		       "\"is_root_device\":true,\"kiln_overlay\":\"/o\"}",
		       400, "unknown key \"kiln_overlay\"");
	fake_free(&f);
}

static void test_machine_config(void **state)
{
	struct fake f;
	json_t *j;

	(void)state;
	fake_init(&f);
	assert_int_equal(route(&f, "GET", "/machine-config", NULL, &j), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "vcpu_count")),
			 CONFIG_DEFAULT_CPUS);
	assert_int_equal(json_integer_value(json_object_get(j, "mem_size_mib")),
			 CONFIG_DEFAULT_MEM_MIB);
	assert_true(json_is_false(json_object_get(j, "smt")));
	assert_string_equal(
		json_string_value(json_object_get(j, "cpu_template")), "None");
	json_decref(j);

	PUT_OK(&f, "/machine-config",
	       "{\"vcpu_count\":2,\"mem_size_mib\":512,\"smt\":true,"
	       "\"cpu_template\":\"baseline\"}");
	assert_int_equal(f.cfg.ncpus, 2);
	assert_int_equal(f.cfg.mem_mib, 512);
	assert_true(f.cfg.smt);
	assert_int_equal(f.cfg.cpu_template, CPU_TEMPLATE_BASELINE);
	assert_int_equal(route(&f, "GET", "/machine-config", NULL, &j), 200);
	assert_string_equal(
		json_string_value(json_object_get(j, "cpu_template")),
		"baseline");
	json_decref(j);
	/* PATCH keeps what it does not name. */
	assert_int_equal(route(&f, "PATCH", "/machine-config",
			       "{\"mem_size_mib\":1024}", NULL),
			 204);
	assert_int_equal(f.cfg.ncpus, 2);
	assert_int_equal(f.cfg.mem_mib, 1024);
	assert_true(f.cfg.smt);
	/* PUT resets what it does not name. */
	PUT_OK(&f, "/machine-config",
	       "{\"vcpu_count\":3,\"mem_size_mib\":256}");
	assert_false(f.cfg.smt);
	assert_int_equal(f.cfg.cpu_template, CPU_TEMPLATE_HOST);

	expect_refused(&f, "PUT", "/machine-config", "{\"vcpu_count\":2}", 400,
		       "needs \"mem_size_mib\"");
	expect_refused(&f, "PUT", "/machine-config",
		       "{\"vcpu_count\":\"2\",\"mem_size_mib\":256}", 400,
		       "vcpu_count must be an integer");
	expect_refused(&f, "PUT", "/machine-config",
		       "{\"vcpu_count\":0,\"mem_size_mib\":256}", 400,
		       "between 1 and");
	expect_refused(&f, "PUT", "/machine-config",
		       "{\"vcpu_count\":3,\"mem_size_mib\":256,\"smt\":true}",
		       400, "even vCPU count");
	expect_refused(&f, "PATCH", "/machine-config", "{\"smt\":true}", 400,
		       "even vCPU count");
	expect_refused(&f, "PUT", "/machine-config",
		       "{\"vcpu_count\":1,\"mem_size_mib\":256,"
		       "\"track_dirty_pages\":true}",
		       400, "unknown key \"track_dirty_pages\"");
	f.state = API_VM_RUNNING;
	expect_refused(&f, "PATCH", "/machine-config", "{\"vcpu_count\":1}",
		       400, "not allowed after the VM started");
	/* GET still works after the start. */
	assert_int_equal(route(&f, "GET", "/machine-config", NULL, NULL), 200);
	fake_free(&f);
}

static void test_vsock_entropy(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	PUT_OK(&f, "/vsock", "{\"guest_cid\":3,\"uds_path\":\"/run/v.sock\"}");
	assert_true(f.cfg.vsock);
	assert_int_equal(f.cfg.vsock_cid, 3);
	assert_string_equal(f.cfg.vsock_uds, "/run/v.sock");
	expect_refused(&f, "PUT", "/vsock",
		       "{\"guest_cid\":2,\"uds_path\":\"/v\"}", 400,
		       "guest_cid 2");
	expect_refused(&f, "PUT", "/vsock", "{\"guest_cid\":5}", 400,
		       "needs \"uds_path\"");
	PUT_OK(&f, "/entropy", "{}");
	assert_true(f.cfg.rng);
	expect_refused(&f, "PUT", "/entropy", "{\"rate_limiter\":{}}", 400,
		       "rate_limiter");
	fake_free(&f);
}

/* GET /vm/config is a config file config_parse_json() reads back. */
static void test_vm_config_round_trip(void **state)
{
	struct fake f;
	struct vmm_config back;
	char err[256], *text;
	json_t *j;

	(void)state;
	fake_init(&f);
	j = vm_config(&f);
	assert_null(json_object_get(j, "boot-source"));
	assert_int_equal(json_array_size(json_object_get(j, "drives")), 0);
	assert_null(json_object_get(j, "vsock"));
	json_decref(j);

	PUT_OK(&f, "/boot-source",
	       "{\"kernel_image_path\":\"/k\",\"boot_args\":\"quiet\","
	       "\"initrd_path\":\"/i\"}");
	PUT_OK(&f, "/drives/root",
	       "{\"drive_id\":\"root\",\"path_on_host\":\"/r\","
	       "\"is_root_device\":true,\"is_read_only\":true}");
	PUT_OK(&f, "/machine-config",
	       "{\"vcpu_count\":2,\"mem_size_mib\":384,\"smt\":true}");
	PUT_OK(&f, "/vsock", "{\"guest_cid\":7,\"uds_path\":\"/v.sock\"}");
	PUT_OK(&f, "/entropy", "{}");
	j = vm_config(&f);
	text = json_dumps(j, 0);
	json_decref(j);
	config_init(&back);
	if (config_parse_json(&back, text, "GET /vm/config", err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	free(text);
	assert_string_equal(back.kernel_path, "/k");
	assert_string_equal(back.cmdline, "quiet");
	assert_string_equal(back.initrd_path, "/i");
	assert_int_equal(back.ndrives, 1);
	assert_string_equal(back.drives[0].id, "root");
	assert_true(back.drives[0].read_only && back.drives[0].is_root);
	assert_int_equal(back.ncpus, 2);
	assert_int_equal(back.mem_mib, 384);
	assert_true(back.smt);
	assert_int_equal(back.vsock_cid, 7);
	assert_string_equal(back.vsock_uds, "/v.sock");
	assert_true(back.rng);
	config_free(&back);
	fake_free(&f);
}

static void test_actions(void **state)
{
	struct fake f;
	json_t *j;

	(void)state;
	fake_init(&f);
	expect_refused(&f, "PUT", "/actions",
		       "{\"action_type\":\"SendCtrlAltDel\"}", 400,
		       "not running");
	expect_refused(&f, "PUT", "/actions",
		       "{\"action_type\":\"FlushMetrics\"}", 400, "no metrics");
	expect_refused(&f, "PUT", "/actions", "{\"action_type\":\"Reboot\"}",
		       400, "unknown action_type");
	/* The VMM refuses: its errno picks the status. */
	f.rc = -EINVAL;
	snprintf(f.msg, sizeof(f.msg), "no kernel configured");
	assert_int_equal(route(&f, "PUT", "/actions",
			       "{\"action_type\":\"InstanceStart\"}", &j),
			 400);
	assert_string_equal(
		json_string_value(json_object_get(j, "fault_message")),
		"InstanceStart: no kernel configured");
	json_decref(j);
	f.rc = -EIO;
	f.msg[0] = '\0';
	assert_int_equal(route(&f, "PUT", "/actions",
			       "{\"action_type\":\"InstanceStart\"}", &j),
			 500);
	assert_non_null(
		strstr(json_string_value(json_object_get(j, "fault_message")),
		       "Input/output error"));
	json_decref(j);
	assert_int_equal(f.calls[FAKE_START], 2);
	f.rc = 0;
	PUT_OK(&f, "/actions", "{\"action_type\":\"InstanceStart\"}");
	assert_int_equal(f.calls[FAKE_START], 3);
	assert_int_equal(f.state, API_VM_RUNNING);
	expect_refused(&f, "PUT", "/actions",
		       "{\"action_type\":\"InstanceStart\"}", 400,
		       "already started");
	PUT_OK(&f, "/actions", "{\"action_type\":\"SendCtrlAltDel\"}");
	assert_int_equal(f.calls[FAKE_CAD], 1);
	fake_free(&f);
}

static void test_pause_resume(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	expect_refused(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", 400,
		       "has not started");
	f.state = API_VM_RUNNING;
	expect_refused(&f, "PATCH", "/vm", "{\"state\":\"Stopped\"}", 400,
		       "expected \"Paused\" or \"Resumed\"");
	expect_refused(&f, "PATCH", "/vm", "{\"state\":\"Paused\",\"x\":1}",
		       400, "unknown key");
	assert_int_equal(
		route(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 204);
	assert_int_equal(f.calls[FAKE_PAUSE], 1);
	assert_int_equal(f.state, API_VM_PAUSED);
	assert_int_equal(
		route(&f, "PATCH", "/vm", "{\"state\":\"Resumed\"}", NULL),
		204);
	assert_int_equal(f.calls[FAKE_RESUME], 1);
	f.rc = -EBUSY;
	snprintf(f.msg, sizeof(f.msg), "busy");
	assert_int_equal(
		route(&f, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 400);
	fake_free(&f);
}

static void test_snapshot_create(void **state)
{
	static const char body[] =
		"{\"snapshot_type\":\"Diff\",\"snapshot_path\":"
		"\"/s/state\",\"mem_file_path\":\"/s/mem\"}";
	struct fake f;

	(void)state;
	fake_init(&f);
	f.state = API_VM_RUNNING;
	expect_refused(&f, "PUT", "/snapshot/create", body, 400,
		       "must be paused");
	f.state = API_VM_PAUSED;
	expect_refused(&f, "PUT", "/snapshot/create",
		       "{\"snapshot_path\":\"/s\"}", 400,
		       "needs \"mem_file_path\"");
	expect_refused(&f, "PUT", "/snapshot/create",
		       "{\"snapshot_path\":\"\",\"mem_file_path\":\"/m\"}", 400,
		       "must not be empty");
	expect_refused(&f, "PUT", "/snapshot/create",
		       "{\"snapshot_type\":\"Incremental\",\"snapshot_path\":"
		       "\"/s\",\"mem_file_path\":\"/m\"}",
		       400, "snapshot_type");
	expect_refused(&f, "PUT", "/snapshot/create",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"version\":\"1.0\"}",
		       400, "unknown key \"version\"");
	PUT_OK(&f, "/snapshot/create", body);
	assert_int_equal(f.calls[FAKE_SNAP_CREATE], 1);
	assert_string_equal(f.state_path, "/s/state");
	assert_string_equal(f.mem_path, "/s/mem");
	assert_true(f.diff);
	PUT_OK(&f, "/snapshot/create",
	       "{\"snapshot_path\":\"/a\",\"mem_file_path\":\"/b\"}");
	assert_false(f.diff);
	f.rc = -ENOSPC;
	snprintf(f.msg, sizeof(f.msg), "disk full writing /b");
	assert_int_equal(route(&f, "PUT", "/snapshot/create",
			       "{\"snapshot_path\":\"/a\",\"mem_file_path\":"
			       "\"/b\"}",
			       NULL),
			 500);
	fake_free(&f);
}

static void test_snapshot_load(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f);
	PUT_OK(&f, "/snapshot/load",
	       "{\"snapshot_path\":\"/s\",\"mem_backend\":{\"backend_type\":"
	       "\"File\",\"backend_path\":\"/m\"},\"track_dirty_pages\":true,"
	       "\"resume_vm\":true,\"vsock_override\":{\"uds_path\":\"/v2\"},"
	       "\"network_overrides\":[{\"iface_id\":\"eth0\","
	       "\"host_dev_name\":\"tap7\"}],\"drive_overrides\":[{"
	       "\"drive_id\":\"root\",\"path_on_host\":\"/r2\"},{\"drive_id\":"
	       "\"data\",\"path_on_host\":\"/d2\"}],\"clock_realtime\":false}");
	assert_int_equal(f.calls[FAKE_SNAP_LOAD], 1);
	assert_string_equal(f.state_path, "/s");
	assert_string_equal(f.mem_path, "/m");
	assert_true(f.track_dirty);
	assert_true(f.resume);
	assert_true(f.has_vsock);
	assert_string_equal(f.vsock_uds, "/v2");
	assert_true(f.has_net);
	assert_string_equal(f.net, "tap7");
	assert_int_equal(f.nnets, 1);
	assert_string_equal(f.net_id[0], "eth0");
	assert_int_equal(f.ndrives, 2);
	assert_string_equal(f.drive_id[1], "data");
	assert_string_equal(f.drive_path[1], "/d2");

	/* Legacy shape. */
	fake_free(&f);
	fake_init(&f);
	PUT_OK(&f, "/snapshot/load",
	       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
	       "\"enable_diff_snapshots\":true}");
	assert_true(f.track_dirty);
	assert_false(f.resume);
	assert_false(f.has_vsock);
	assert_false(f.has_net);
	assert_int_equal(f.ndrives, 0);

	fake_free(&f);
	fake_init(&f);
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\"}", 400,
		       "need mem_backend or mem_file_path");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"mem_backend\":{\"backend_type\":\"File\","
		       "\"backend_path\":\"/m\"}}",
		       400, "not both");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_backend\":{"
		       "\"backend_type\":\"Uffd\",\"backend_path\":\"/u\"}}",
		       400, "only \"File\"");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_backend\":{"
		       "\"backend_type\":\"File\"}}",
		       400, "needs \"backend_path\"");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"clock_realtime\":true}",
		       400, "clock_realtime");
	expect_refused(
		&f, "PUT", "/snapshot/load",
		"{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		"\"drive_overrides\":[{\"drive_id\":\"a\",\"path_on_host\":"
		"\"/1\"},{\"drive_id\":\"a\",\"path_on_host\":\"/2\"}]}",
		400, "listed twice");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"drive_overrides\":[{\"drive_id\":\"a\"}]}",
		       400, "needs \"path_on_host\"");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"network_overrides\":[{\"iface_id\":\"a\","
		       "\"host_dev_name\":\"t\"},{\"iface_id\":\"a\","
		       "\"host_dev_name\":\"u\"}]}",
		       400, "interface \"a\" is listed twice");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"network_overrides\":[{\"iface_id\":\"a\","
		       "\"host_dev_name\":\"t\"},{\"iface_id\":\"b\","
		       "\"host_dev_name\":\"u\"},{\"iface_id\":\"c\","
		       "\"host_dev_name\":\"u\"},{\"iface_id\":\"d\","
		       "\"host_dev_name\":\"u\"},{\"iface_id\":\"e\","
		       "\"host_dev_name\":\"u\"}]}",
		       400, "at most 4 entries");
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\","
		       "\"vsock_override\":{}}",
		       400, "needs \"uds_path\"");
	f.state = API_VM_RUNNING;
	expect_refused(&f, "PUT", "/snapshot/load",
		       "{\"snapshot_path\":\"/s\",\"mem_file_path\":\"/m\"}",
		       400, "not allowed after the VM started");
	fake_free(&f);
}

/* Client text in messages is made printable, so the reply stays JSON. */
static void test_fault_message_sanitised(void **state)
{
	struct fake f;
	json_t *j;

	(void)state;
	fake_init(&f);
	f.state = API_VM_RUNNING;
	f.rc = -EINVAL;
	snprintf(f.msg, sizeof(f.msg), "bad \xff\x01 byte");
	assert_int_equal(route(&f, "PUT", "/actions",
			       "{\"action_type\":\"SendCtrlAltDel\"}", &j),
			 400);
	assert_string_equal(
		json_string_value(json_object_get(j, "fault_message")),
		"SendCtrlAltDel: bad ?? byte");
	json_decref(j);
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instance_info),
		cmocka_unit_test(test_unknown_path_and_method),
		cmocka_unit_test(test_body_errors),
		cmocka_unit_test(test_boot_source),
		cmocka_unit_test(test_drives),
		cmocka_unit_test(test_drive_overlay),
		cmocka_unit_test(test_machine_config),
		cmocka_unit_test(test_vsock_entropy),
		cmocka_unit_test(test_vm_config_round_trip),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_snapshot_create),
		cmocka_unit_test(test_snapshot_load),
		cmocka_unit_test(test_fault_message_sanitised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
