/* SPDX-License-Identifier: MIT */
/*
 * PUT /network-interfaces/{iface_id} (Firecracker's shape) with a test
 * double for the VMM, and the interfaces in GET /vm/config.
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

/* Route one request; returns the status, *reply the parsed body (or
 * NULL for 204). */
static int route(struct fake *f, const char *method, const char *path,
		 const char *body, json_t **reply)
{
	struct http_request req = {0};
	struct api_reply r;
	json_error_t je;
	int status;

	snprintf(req.method, sizeof(req.method), "%s", method);
	req.target = path;
	req.target_len = strlen(path);
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	api_route(&fake_ops, f, &req, &r);
	status = r.status;
	*reply = r.body ? json_loadb(r.body, r.body_len, 0, &je) : NULL;
	if (r.body && !*reply)
		fail_msg("reply is not JSON: %.*s", (int)r.body_len, r.body);
	api_reply_free(&r);
	return status;
}

static void put_ok(struct fake *f, const char *path, const char *body)
{
	json_t *j;
	int st = route(f, "PUT", path, body, &j);

	if (st != 204)
		fail_msg(
			"PUT %s %s: %d %s", path, body, st,
			json_string_value(json_object_get(j, "fault_message")));
	json_decref(j);
}

/* A refused PUT: status, message, and the configuration unchanged. */
static void put_refused(struct fake *f, const char *path, const char *body,
			int status, const char *want)
{
	json_t *before, *after, *j;
	const char *msg;
	int st;

	assert_int_equal(route(f, "GET", "/vm/config", NULL, &before), 200);
	st = route(f, "PUT", path, body, &j);
	msg = json_string_value(json_object_get(j, "fault_message"));
	if (st != status || !msg || !strstr(msg, want))
		fail_msg("PUT %s %s: expected %d \"%s\", got %d \"%s\"", path,
			 body, status, want, st, msg ? msg : "");
	json_decref(j);
	assert_int_equal(route(f, "GET", "/vm/config", NULL, &after), 200);
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

static void test_put_network_interface(void **state)
{
	struct fake f;
	json_t *j, *a;

	(void)state;
	fake_init(&f);
	put_ok(&f, "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\","
	       "\"guest_mac\":\"AA:FC:00:00:00:01\"}");
	put_ok(&f, "/network-interfaces/eth1",
	       "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\"}");
	assert_int_equal(f.cfg.nnets, 2);
	assert_string_equal(f.cfg.nets[0].tap, "tap0");
	assert_true(f.cfg.nets[0].has_mac);
	assert_false(f.cfg.nets[1].has_mac);
	/* The same id replaces the interface in place (it stays eth0). */
	put_ok(&f, "/network-interfaces/eth0",
	       "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap9\"}");
	assert_int_equal(f.cfg.nnets, 2);
	assert_string_equal(f.cfg.nets[0].id, "eth0");
	assert_string_equal(f.cfg.nets[0].tap, "tap9");
	assert_false(f.cfg.nets[0].has_mac);

	put_ok(&f, "/network-interfaces/eth1",
	       "{\"iface_id\":\"eth1\",\"host_dev_name\":\"tap1\","
	       "\"guest_mac\":\"02:00:00:00:00:0A\"}");
	assert_int_equal(route(&f, "GET", "/vm/config", NULL, &j), 200);
	a = json_object_get(j, "network-interfaces");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(a, 0), "host_dev_name")),
			    "tap9");
	assert_null(json_object_get(json_array_get(a, 0), "guest_mac"));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(a, 1), "guest_mac")),
			    "02:00:00:00:00:0a");
	json_decref(j);

	put_refused(&f, "/network-interfaces/eth2",
		    "{\"iface_id\":\"eth3\",\"host_dev_name\":\"tap3\"}", 400,
		    "does not match");
	put_refused(&f, "/network-interfaces/bad%20id",
		    "{\"host_dev_name\":\"tap3\"}", 400,
		    "invalid interface id");
	put_refused(&f, "/network-interfaces/eth2",
		    "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap3\","
		    "\"rx_rate_limiter\":{}}",
		    400, "unknown key \"rx_rate_limiter\"");
	put_refused(&f, "/network-interfaces/eth2", "{\"iface_id\":\"eth2\"}",
		    400, "needs \"host_dev_name\"");
	put_refused(&f, "/network-interfaces/eth2",
		    "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap1\"}", 400,
		    "TAP tap1 is used by two");
	put_refused(&f, "/network-interfaces/eth2",
		    "{\"iface_id\":\"eth2\",\"host_dev_name\":\"a/b\"}", 400,
		    "not a valid interface name");
	put_refused(&f, "/network-interfaces/eth2",
		    "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap2\","
		    "\"guest_mac\":\"03:00:00:00:00:01\"}",
		    400, "MAC");
	put_ok(&f, "/network-interfaces/eth2",
	       "{\"iface_id\":\"eth2\",\"host_dev_name\":\"tap2\"}");
	put_ok(&f, "/network-interfaces/eth3",
	       "{\"iface_id\":\"eth3\",\"host_dev_name\":\"tap3\"}");
	put_refused(&f, "/network-interfaces/eth4",
		    "{\"iface_id\":\"eth4\",\"host_dev_name\":\"tap4\"}", 400,
		    "too many network interfaces");
	f.state = API_VM_RUNNING;
	put_refused(&f, "/network-interfaces/eth0",
		    "{\"iface_id\":\"eth0\",\"host_dev_name\":\"tap0\"}", 400,
		    "not allowed after the VM started");
	fake_free(&f);
}

/* GET /vm/config with interfaces is a config file that reproduces them. */
static void test_vm_config_round_trip(void **state)
{
	struct fake f;
	struct vmm_config c;
	char err[256], *text;
	json_t *j;

	(void)state;
	fake_init(&f);
	put_ok(&f, "/boot-source", "{\"kernel_image_path\":\"/k\"}");
	put_ok(&f, "/network-interfaces/up",
	       "{\"iface_id\":\"up\",\"host_dev_name\":\"kiln0\","
	       "\"guest_mac\":\"06:00:00:00:00:01\"}");
	assert_int_equal(route(&f, "GET", "/vm/config", NULL, &j), 200);
	text = json_dumps(j, 0);
	json_decref(j);
	assert_non_null(text);
	config_init(&c);
	assert_int_equal(config_parse_json(&c, text, "GET", err, sizeof(err)),
			 0);
	free(text);
	assert_int_equal(c.nnets, 1);
	assert_string_equal(c.nets[0].id, "up");
	assert_string_equal(c.nets[0].tap, "kiln0");
	assert_memory_equal(c.nets[0].mac, f.cfg.nets[0].mac, 6);
	config_free(&c);
	fake_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_network_interface),
		cmocka_unit_test(test_vm_config_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
