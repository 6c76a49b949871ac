/* SPDX-License-Identifier: MIT */
/*
 * Firecracker's REST routes on top of struct api_ops: the routing table,
 * replies, strict JSON object checks, and the routes that call the VMM
 * (instance info, actions, pause/resume, snapshots).  The configuration
 * routes are in api_config.c.  The ops are called only with a fully
 * validated request, so a refused request changes nothing.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_routes.h"
#include "config.h"

void api_reply_free(struct api_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* Take ownership of j and make it the reply body. */
void api_reply_json(struct api_reply *r, int status, json_t *j)
{
	api_reply_free(r);
	r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!r->body) {
		api_reply_fault(r, 500, "out of memory");
		return;
	}
	r->status = status;
	r->body_len = strlen(r->body);
}

void api_reply_fault(struct api_reply *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages quote client input and file names: keep them printable
	 * ASCII so the JSON string is always valid UTF-8. */
	for (char *s = msg; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
	api_reply_free(r);
	r->status = status;
	j = json_pack("{s:s}", "fault_message", msg);
	r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	/* Out of memory: a static-shaped message still tells the client. */
	if (!r->body)
		r->body = strdup("{\"fault_message\":\"out of memory\"}");
	r->body_len = r->body ? strlen(r->body) : 0;
}

void api_no_content(struct api_call *c)
{
	api_reply_free(c->reply);
	c->reply->status = 204;
}

/* An op's result: 204, or its errno mapped as api.h describes. */
static void api_op_result(struct api_call *c, const char *what, int rc,
			  const char *err)
{
	int status;

	if (!rc) {
		api_no_content(c);
		return;
	}
	status = rc == -EINVAL || rc == -ENOENT || rc == -EEXIST || rc == -EBUSY
			 ? 400
			 : 500;
	api_reply_fault(c->reply, status, "%s: %s", what,
			*err ? err : strerror(rc < 0 ? -rc : rc));
}

static const char *api_type_word(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	default:
		return "true or false";
	}
}

bool api_check_object(struct api_call *c, json_t *o, const char *where,
		      const struct api_field *f, size_t n)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o)) {
		api_reply_fault(c->reply, 400, "%s must be an object", where);
		return false;
	}
	json_object_foreach(o, key, v)
	{
		bool known = false;

		for (size_t i = 0; i < n; i++)
			known |= !strcmp(key, f[i].key);
		if (!known) {
			api_reply_fault(c->reply, 400,
					"unknown key \"%.64s\" in %s", key,
					where);
			return false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(o, f[i].key);
		if (!v && f[i].required) {
			api_reply_fault(c->reply, 400, "%s needs \"%s\"", where,
					f[i].key);
			return false;
		}
		if (v &&
		    (f[i].type == JSON_TRUE ? !json_is_boolean(v)
					    : json_typeof(v) != f[i].type)) {
			api_reply_fault(c->reply, 400, "%s.%s must be %s",
					where, f[i].key,
					api_type_word(f[i].type));
			return false;
		}
	}
	return true;
}

/* A string member that, if present, must not be empty. */
const char *api_str(struct api_call *c, json_t *o, const char *where,
		    const char *key, bool *bad)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s && !*s) {
		api_reply_fault(c->reply, 400, "%s.%s must not be empty", where,
				key);
		*bad = true;
	}
	return s;
}

static bool api_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}
/* ---- instance, actions, state, snapshots ---- */

static void api_get_instance(struct api_call *c)
{
	static const char *const names[] = {
		[API_VM_NOT_STARTED] = "Not started",
		[API_VM_RUNNING] = "Running",
		[API_VM_PAUSED] = "Paused",
	};
	enum api_vm_state st = c->ops->state(c->ctx);
	const char *id =
		c->ops->instance_id ? c->ops->instance_id(c->ctx) : NULL;

	if ((unsigned)st >= sizeof(names) / sizeof(names[0])) {
		api_reply_fault(c->reply, 500, "unknown VM state %d", (int)st);
		return;
	}
	api_reply_json(c->reply, 200,
		       json_pack("{s:s, s:s, s:s, s:s}", "id",
				 id ? id : "anonymous-instance", "state",
				 names[st], "vmm_version", KILN_VMM_VERSION,
				 "app_name", "kiln-vmm"));
}

typedef int (*api_op_fn)(void *ctx, char *err, size_t errlen);

static void api_call_op(struct api_call *c, const char *what, api_op_fn fn)
{
	char err[512] = "";

	if (!fn) {
		api_reply_fault(c->reply, 400,
				"%s is not supported by this kiln-vmm", what);
		return;
	}
	api_op_result(c, what, fn(c->ctx, err, sizeof(err)), err);
}

static void api_put_actions(struct api_call *c)
{
	static const struct api_field fields[] = {
		{"action_type", JSON_STRING, true},
	};
	enum api_vm_state st = c->ops->state(c->ctx);
	const char *type;

	if (!API_CHECK(c, c->body, "the action", fields))
		return;
	type = json_string_value(json_object_get(c->body, "action_type"));
	if (!strcmp(type, "InstanceStart")) {
		if (st != API_VM_NOT_STARTED) {
			api_reply_fault(c->reply, 400,
					"InstanceStart: the VM already "
					"started");
			return;
		}
		api_call_op(c, "InstanceStart", c->ops->start);
	} else if (!strcmp(type, "SendCtrlAltDel")) {
		if (st == API_VM_NOT_STARTED) {
			api_reply_fault(c->reply, 400,
					"SendCtrlAltDel: the VM is not "
					"running");
			return;
		}
		api_call_op(c, "SendCtrlAltDel", c->ops->ctrl_alt_del);
	} else if (!strcmp(type, "FlushMetrics")) {
		api_reply_fault(c->reply, 400,
				"FlushMetrics: kiln-vmm has no metrics");
	} else {
		api_reply_fault(c->reply, 400,
				"unknown action_type \"%.64s\": expected "
				"InstanceStart, SendCtrlAltDel or "
				"FlushMetrics",
				type);
	}
}

static void api_patch_vm(struct api_call *c)
{
	static const struct api_field fields[] = {
		{"state", JSON_STRING, true},
	};
	const char *want;

	if (!API_CHECK(c, c->body, "the VM state", fields))
		return;
	want = json_string_value(json_object_get(c->body, "state"));
	if (strcmp(want, "Paused") && strcmp(want, "Resumed")) {
		api_reply_fault(c->reply, 400,
				"state \"%.64s\": expected \"Paused\" or "
				"\"Resumed\"",
				want);
		return;
	}
	if (c->ops->state(c->ctx) == API_VM_NOT_STARTED) {
		api_reply_fault(c->reply, 400,
				"PATCH /vm: the VM has not started (send "
				"InstanceStart first)");
		return;
	}
	if (!strcmp(want, "Paused"))
		api_call_op(c, "pause", c->ops->pause);
	else
		api_call_op(c, "resume", c->ops->resume);
}

static void api_put_snapshot_create(struct api_call *c)
{
	static const struct api_field fields[] = {
		{"snapshot_path", JSON_STRING, true},
		{"mem_file_path", JSON_STRING, true},
		{"snapshot_type", JSON_STRING, false},
	};
	struct api_snapshot_create req = {0};
	const char *type;
	char err[512] = "";
	bool bad = false;

	if (!API_CHECK(c, c->body, "the snapshot parameters", fields))
		return;
	req.state_path = api_str(c, c->body, "snapshot", "snapshot_path", &bad);
	req.mem_path = api_str(c, c->body, "snapshot", "mem_file_path", &bad);
	if (bad)
		return;
	type = json_string_value(json_object_get(c->body, "snapshot_type"));
	if (type && strcmp(type, "Full") && strcmp(type, "Diff")) {
		api_reply_fault(c->reply, 400,
				"snapshot_type \"%.64s\": expected \"Full\" or "
				"\"Diff\"",
				type);
		return;
	}
	req.diff = type && !strcmp(type, "Diff");
	if (c->ops->state(c->ctx) != API_VM_PAUSED) {
		api_reply_fault(c->reply, 400,
				"PUT /snapshot/create: the VM must be paused "
				"first (PATCH /vm {\"state\": \"Paused\"})");
		return;
	}
	if (!c->ops->snapshot_create) {
		api_reply_fault(c->reply, 400, "snapshots are not supported");
		return;
	}
	api_op_result(c, "snapshot/create",
		      c->ops->snapshot_create(c->ctx, &req, err, sizeof(err)),
		      err);
}

/* The override lists of /snapshot/load. */
static bool api_load_overrides(struct api_call *c, struct api_snapshot_load *r)
{
	static const struct api_field drive[] = {
		{"drive_id", JSON_STRING, true},
		{"path_on_host", JSON_STRING, true},
	};
	static const struct api_field net[] = {
		{"iface_id", JSON_STRING, true},
		{"host_dev_name", JSON_STRING, true},
	};
	static const struct api_field vsock[] = {
		{"uds_path", JSON_STRING, true},
	};
	json_t *a = json_object_get(c->body, "drive_overrides"), *v;
	bool bad = false;
	size_t i;

	if (json_array_size(a) > API_MAX_DRIVE_OVERRIDES) {
		api_reply_fault(c->reply, 400,
				"drive_overrides: at most %d entries",
				API_MAX_DRIVE_OVERRIDES);
		return false;
	}
	json_array_foreach(a, i, v)
	{
		if (!API_CHECK(c, v, "drive_overrides[]", drive))
			return false;
		r->drives[i].id =
			api_str(c, v, "drive_overrides[]", "drive_id", &bad);
		r->drives[i].path = api_str(c, v, "drive_overrides[]",
					    "path_on_host", &bad);
		if (bad)
			return false;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(r->drives[j].id, r->drives[i].id)) {
				api_reply_fault(c->reply, 400,
						"drive_overrides: drive "
						"\"%.64s\" is listed twice",
						r->drives[i].id);
				return false;
			}
		}
		r->ndrives = (int)i + 1;
	}
	a = json_object_get(c->body, "network_overrides");
	if (json_array_size(a) > API_MAX_NET_OVERRIDES) {
		api_reply_fault(c->reply, 400,
				"network_overrides: at most %d entries",
				API_MAX_NET_OVERRIDES);
		return false;
	}
	json_array_foreach(a, i, v)
	{
		if (!API_CHECK(c, v, "network_overrides[]", net))
			return false;
		r->nets[i].id =
			api_str(c, v, "network_overrides[]", "iface_id", &bad);
		r->nets[i].tap = api_str(c, v, "network_overrides[]",
					 "host_dev_name", &bad);
		if (bad)
			return false;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(r->nets[j].id, r->nets[i].id)) {
				api_reply_fault(c->reply, 400,
						"network_overrides: interface "
						"\"%.64s\" is listed twice",
						r->nets[i].id);
				return false;
			}
		}
		r->nnets = (int)i + 1;
	}
	v = json_object_get(c->body, "vsock_override");
	if (v) {
		if (!API_CHECK(c, v, "vsock_override", vsock))
			return false;
		r->vsock_uds =
			api_str(c, v, "vsock_override", "uds_path", &bad);
	}
	return !bad;
}

static void api_put_snapshot_load(struct api_call *c)
{
	static const struct api_field fields[] = {
		{"snapshot_path", JSON_STRING, true},
		{"mem_file_path", JSON_STRING, false},
		{"mem_backend", JSON_OBJECT, false},
		{"enable_diff_snapshots", JSON_TRUE, false},
		{"track_dirty_pages", JSON_TRUE, false},
		{"resume_vm", JSON_TRUE, false},
		{"network_overrides", JSON_ARRAY, false},
		{"vsock_override", JSON_OBJECT, false},
		{"drive_overrides", JSON_ARRAY, false},
		{"clock_realtime", JSON_TRUE, false},
	};
	static const struct api_field backend[] = {
		{"backend_type", JSON_STRING, true},
		{"backend_path", JSON_STRING, true},
	};
	struct api_snapshot_load req = {0};
	json_t *be = json_object_get(c->body, "mem_backend");
	char err[512] = "";
	bool bad = false;

	if (!API_CHECK(c, c->body, "the snapshot parameters", fields))
		return;
	req.state_path = api_str(c, c->body, "snapshot", "snapshot_path", &bad);
	req.mem_path = api_str(c, c->body, "snapshot", "mem_file_path", &bad);
	if (bad)
		return;
	if (be) {
		const char *type;

		if (req.mem_path) {
			api_reply_fault(c->reply, 400,
					"give either mem_backend or "
					"mem_file_path, not both");
			return;
		}
		if (!API_CHECK(c, be, "mem_backend", backend))
			return;
		type = json_string_value(json_object_get(be, "backend_type"));
		if (strcmp(type, "File")) {
			api_reply_fault(c->reply, 400,
					"mem_backend.backend_type \"%.64s\": "
					"only \"File\" is supported",
					type);
			return;
		}
		req.mem_path =
			api_str(c, be, "mem_backend", "backend_path", &bad);
		if (bad)
			return;
	}
	if (!req.mem_path) {
		api_reply_fault(c->reply, 400,
				"the snapshot parameters need mem_backend or "
				"mem_file_path");
		return;
	}
	if (api_bool(c->body, "clock_realtime")) {
		api_reply_fault(c->reply, 400,
				"clock_realtime is not supported");
		return;
	}
	req.track_dirty = api_bool(c->body, "enable_diff_snapshots") ||
			  api_bool(c->body, "track_dirty_pages");
	req.resume = api_bool(c->body, "resume_vm");
	if (!api_load_overrides(c, &req))
		return;
	if (c->ops->state(c->ctx) != API_VM_NOT_STARTED) {
		api_reply_fault(c->reply, 400,
				"PUT /snapshot/load is not allowed after the "
				"VM started");
		return;
	}
	if (!c->ops->snapshot_load) {
		api_reply_fault(c->reply, 400, "snapshots are not supported");
		return;
	}
	api_op_result(c, "snapshot/load",
		      c->ops->snapshot_load(c->ctx, &req, err, sizeof(err)),
		      err);
}

/* ---- routing ---- */

struct api_route {
	const char *method;
	const char *path; /* ending in '/': a prefix followed by one segment */
	void (*fn)(struct api_call *c);
};

static const struct api_route api_routes[] = {
	{"GET", "/", api_get_instance},
	{"PUT", "/actions", api_put_actions},
	{"PUT", "/boot-source", api_put_boot_source},
	{"PUT", "/drives/", api_put_drive},
	{"PUT", "/network-interfaces/", api_put_net},
	{"GET", "/machine-config", api_get_machine_config},
	{"PUT", "/machine-config", api_put_machine_config},
	{"PATCH", "/machine-config", api_patch_machine_config},
	{"PUT", "/vsock", api_put_vsock},
	{"PUT", "/entropy", api_put_entropy},
	{"PATCH", "/vm", api_patch_vm},
	{"GET", "/vm/config", api_get_vm_config},
	{"PUT", "/snapshot/create", api_put_snapshot_create},
	{"PUT", "/snapshot/load", api_put_snapshot_load},
};

static bool api_path_match(const char *pattern, const char *path,
			   const char **param)
{
	size_t n = strlen(pattern);

	*param = NULL;
	if (n > 1 && pattern[n - 1] == '/') {
		if (strncmp(path, pattern, n) || !path[n] ||
		    strchr(path + n, '/'))
			return false;
		*param = path + n;
		return true;
	}
	return !strcmp(path, pattern);
}

/* Parse the body of a PUT/PATCH: a JSON object is required. */
static bool api_parse_body(struct api_call *c, const struct http_request *req)
{
	json_error_t je;

	if (!req->body_len) {
		api_reply_fault(c->reply, 400, "%s %s needs a JSON body",
				c->method, c->path);
		return false;
	}
	c->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
			     &je);
	if (!c->body) {
		api_reply_fault(c->reply, 400,
				"invalid JSON body (line %d, column %d): %s",
				je.line, je.column, je.text);
		return false;
	}
	if (!json_is_object(c->body)) {
		api_reply_fault(c->reply, 400,
				"the body of %s %s must be a JSON object",
				c->method, c->path);
		return false;
	}
	return true;
}

void api_route(const struct api_ops *ops, void *ctx,
	       const struct http_request *req, struct api_reply *out)
{
	char *path = strndup(req->target, req->target_len);
	struct api_call c = {
		.ops = ops,
		.ctx = ctx,
		.method = req->method,
		.path = path,
		.reply = out,
	};
	const struct api_route *r = NULL;

	out->status = 500;
	out->body = NULL;
	out->body_len = 0;
	if (!path) {
		api_reply_fault(out, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]);
	     i++) {
		if (!strcmp(api_routes[i].method, req->method) &&
		    api_path_match(api_routes[i].path, path, &c.param)) {
			r = &api_routes[i];
			break;
		}
	}
	if (!r) {
		/* Firecracker's answer for both unknown paths and known
		 * paths with the wrong method. */
		api_reply_fault(out, 400,
				"Invalid request method and/or path: %s %.200s",
				req->method, path);
	} else if (strcmp(req->method, "GET") && !api_parse_body(&c, req)) {
		/* the fault is set */
	} else {
		r->fn(&c);
	}
	json_decref(c.body);
	free(path);
}
