/* SPDX-License-Identifier: MIT */
/*
 * Requests (see request.h and docs/PROTOCOL.md).  Every control message is
 * unpacked strictly: unknown fields, wrong types and out-of-range values
 * get an error reply naming the field, and the connection goes on.
 */
#include "agent/request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/files.h"
#include "agent/log.h"

/* Ops this agent serves, announced in the hello reply. */
static const char *const request_ops[] = {
	"hello",      "ping", "exec",	  "signal", "shutdown", "read_file",
	"write_file", "stat", "list_dir", "mkdir",  "remove",	"rename"};

/*
 * Fields are unpacked as plain JSON values ("o") so that a wrong type gets
 * a message naming the field; jansson's own type errors do not.
 */
static int want_int(json_t *v, const char *what, const char *field,
		    json_int_t min, json_int_t max, json_int_t *out, char *err,
		    size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen,
			 "%s: \"%s\" must be an integer in %lld..%lld", what,
			 field, (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int want_bool(json_t *v, const char *what, const char *field, bool *out,
		     char *err, size_t errlen)
{
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: \"%s\" must be true or false", what,
			 field);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int want_string(json_t *v, const char *what, const char *field,
		       const char **out, char *err, size_t errlen)
{
	if (!json_is_string(v) || !json_string_value(v)[0]) {
		snprintf(err, errlen, "%s: \"%s\" must be a non-empty string",
			 what, field);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int request_parse_hello(json_t *obj, int64_t *version, char *err, size_t errlen)
{
	json_t *op, *ver, *client = NULL;
	const char *ignored;
	json_int_t v;

	if (proto_unpack(obj, err, errlen, "hello", "{s:o,s:o,s?o}", "op", &op,
			 "version", &ver, "client", &client) < 0 ||
	    want_int(ver, "hello", "version", 0, INT32_MAX, &v, err, errlen) <
		    0 ||
	    (client &&
	     want_string(client, "hello", "client", &ignored, err, errlen) < 0))
		return -1;
	*version = v;
	return 0;
}

void request_exec_spec_free(struct exec_spec *spec)
{
	free(spec->argv);
	free(spec->env_names);
	free(spec->env_values);
	memset(spec, 0, sizeof(*spec));
}

static int parse_env(json_t *env, struct exec_spec *spec, char *err,
		     size_t errlen)
{
	const char *name;
	json_t *val;
	size_t n = 0;

	if (!json_is_object(env)) {
		snprintf(err, errlen,
			 "exec: \"env\" must be an object of strings");
		return -1;
	}
	spec->nenv = json_object_size(env);
	spec->env_names = calloc(spec->nenv + 1, sizeof(char *));
	spec->env_values = calloc(spec->nenv + 1, sizeof(char *));
	if (!spec->env_names || !spec->env_values) {
		snprintf(err, errlen, "exec: out of memory");
		return -1;
	}
	json_object_foreach(env, name, val)
	{
		if (!*name || strchr(name, '=')) {
			snprintf(err, errlen,
				 "exec: env name \"%s\" is empty or contains "
				 "'='",
				 name);
			return -1;
		}
		if (!json_is_string(val)) {
			snprintf(err, errlen,
				 "exec: env \"%s\" must be a string", name);
			return -1;
		}
		spec->env_names[n] = name;
		spec->env_values[n] = json_string_value(val);
		n++;
	}
	return 0;
}

int request_parse_exec(json_t *obj, struct exec_spec *spec, char *err,
		       size_t errlen)
{
	json_t *op, *argv = NULL, *env = NULL, *cwd = NULL, *in = NULL,
		    *timeout = NULL;
	json_int_t t = 0;
	size_t i;

	memset(spec, 0, sizeof(*spec));
	spec->cwd = "/";
	if (proto_unpack(obj, err, errlen, "exec", "{s:o,s:o,s?o,s?o,s?o,s?o}",
			 "op", &op, "argv", &argv, "env", &env, "cwd", &cwd,
			 "stdin", &in, "timeout_ms", &timeout) < 0)
		return -1;
	if (!json_is_array(argv) || json_array_size(argv) == 0) {
		snprintf(err, errlen,
			 "exec: \"argv\" must be a non-empty array of strings");
		return -1;
	}
	if ((cwd &&
	     want_string(cwd, "exec", "cwd", &spec->cwd, err, errlen) < 0) ||
	    (in && want_bool(in, "exec", "stdin", &spec->stdin_pipe, err,
			     errlen) < 0) ||
	    (timeout &&
	     want_int(timeout, "exec", "timeout_ms", 0,
		      (json_int_t)EXEC_MAX_TIMEOUT_MS, &t, err, errlen) < 0))
		return -1;
	spec->timeout_ms = (uint64_t)t;
	spec->argc = json_array_size(argv);
	spec->argv = calloc(spec->argc + 1, sizeof(char *));
	if (!spec->argv) {
		snprintf(err, errlen, "exec: out of memory");
		return -1;
	}
	for (i = 0; i < spec->argc; i++) {
		json_t *a = json_array_get(argv, i);

		if (!json_is_string(a)) {
			snprintf(err, errlen,
				 "exec: argv[%zu] must be a string", i);
			goto fail;
		}
		spec->argv[i] = json_string_value(a);
	}
	if (!spec->argv[0][0]) {
		snprintf(err, errlen, "exec: argv[0] is empty");
		goto fail;
	}
	if (env && parse_env(env, spec, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	request_exec_spec_free(spec);
	return -1;
}

int request_parse_signal(json_t *obj, struct signal_req *req, char *err,
			 size_t errlen)
{
	json_t *op, *target, *sig, *group = NULL;
	json_int_t t, n;
	bool g = true;

	if (proto_unpack(obj, err, errlen, "signal", "{s:o,s:o,s:o,s?o}", "op",
			 &op, "target", &target, "signal", &sig, "group",
			 &group) < 0 ||
	    want_int(target, "signal", "target", 1, UINT32_MAX, &t, err,
		     errlen) < 0 ||
	    (group && want_bool(group, "signal", "group", &g, err, errlen) < 0))
		return -1;
	if (json_is_string(sig)) {
		req->signo = proc_signal_from_name(json_string_value(sig));
		if (!req->signo) {
			snprintf(err, errlen,
				 "signal: unknown signal name \"%s\" (use "
				 "e.g. \"TERM\", \"KILL\", \"INT\" or a "
				 "number)",
				 json_string_value(sig));
			return -1;
		}
	} else if (want_int(sig, "signal", "signal", 1, NSIG - 1, &n, err,
			    errlen) < 0) {
		return -1;
	} else {
		req->signo = (int)n;
	}
	req->target = (uint32_t)t;
	req->group = g;
	return 0;
}

static void handle_hello(struct conn *c, uint32_t id, json_t *obj)
{
	char err[256];
	int64_t version;
	json_t *ops;

	if (request_parse_hello(obj, &version, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (version != PROTO_VERSION) {
		conn_send_error(c, id, PROTO_E_VERSION,
				"protocol version %lld is not supported: this "
				"agent (kiln-agent %s) speaks version %d; use "
				"a matching kiln",
				(long long)version, AGENT_VERSION,
				PROTO_VERSION);
		return;
	}
	ops = json_array();
	for (size_t i = 0;
	     ops && i < sizeof(request_ops) / sizeof(*request_ops); i++)
		json_array_append_new(ops, json_string(request_ops[i]));
	c->hello_done = true;
	conn_send_result(c, id,
			 json_pack("{s:i,s:s,s:o*}", "version", PROTO_VERSION,
				   "agent_version", AGENT_VERSION, "ops", ops));
}

static void handle_ping(struct conn *c, uint32_t id, json_t *obj)
{
	char err[256];
	const char *op;

	if (proto_unpack(obj, err, sizeof(err), "ping", "{s:s}", "op", &op) <
	    0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	conn_send_result(
		c, id,
		json_pack("{s:s,s:I,s:b,s:i,s:i}", "agent_version",
			  AGENT_VERSION, "uptime_ms",
			  (json_int_t)((agent_now_ns() - c->ag->start_ns) /
				       1000000),
			  "init", c->ag->init_mode, "connections",
			  (int)c->ag->nconns, "processes", (int)c->ag->nprocs));
}

static void handle_exec(struct conn *c, uint32_t id, json_t *obj)
{
	struct exec_spec spec;
	const char *code;
	char err[512];

	if (proc_find(c, id) || files_busy_id(c, id)) {
		conn_send_error(c, id, PROTO_E_BUSY,
				"exec: request id %u is still in use by a "
				"running command on this connection",
				id);
		return;
	}
	if (request_parse_exec(obj, &spec, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (proc_spawn(c, id, &spec, &code, err, sizeof(err)) < 0)
		conn_send_error(c, id, code, "%s", err);
	request_exec_spec_free(&spec);
}

static void handle_signal(struct conn *c, uint32_t id, json_t *obj)
{
	struct signal_req req;
	struct proc *p;
	char err[256];
	int rc;

	if (request_parse_signal(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	p = proc_find(c, req.target);
	if (!p || p->reaped) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS,
				"signal: no running command with request id "
				"%u on this connection",
				req.target);
		return;
	}
	rc = proc_signal(p, req.signo, req.group);
	if (rc < 0) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS, "signal: %s",
				strerror(-rc));
		return;
	}
	conn_send_result(c, id, NULL);
}

static void handle_shutdown(struct conn *c, uint32_t id, json_t *obj)
{
	char err[256];
	const char *op;

	if (proto_unpack(obj, err, sizeof(err), "shutdown", "{s:s}", "op",
			 &op) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	log_msg("shutdown requested (%s)",
		c->ag->init_mode ? "powering off" : "exiting");
	conn_send_result(c, id, NULL);
	agent_request_stop(c->ag);
}

static void handle_control(struct conn *c, uint32_t id, const uint8_t *buf,
			   size_t len)
{
	static const struct {
		const char *op;
		void (*fn)(struct conn *c, uint32_t id, json_t *obj);
	} ops[] = {
		{"hello", handle_hello},	 {"ping", handle_ping},
		{"exec", handle_exec},		 {"signal", handle_signal},
		{"shutdown", handle_shutdown},	 {"read_file", files_op_read},
		{"write_file", files_op_write},	 {"stat", files_op_stat},
		{"list_dir", files_op_list_dir}, {"mkdir", files_op_mkdir},
		{"remove", files_op_remove},	 {"rename", files_op_rename},
	};
	char err[256];
	const char *op;
	json_t *obj;

	obj = proto_json_parse(buf, len, err, sizeof(err));
	if (!obj) {
		conn_send_error(c, id, PROTO_E_BAD_JSON, "%s", err);
		return;
	}
	op = json_string_value(json_object_get(obj, "op"));
	if (!op) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"request has no \"op\" string");
		goto out;
	}
	if (id == 0) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"%s: request id 0 is reserved; use 1 or more",
				op);
		goto out;
	}
	if (!c->hello_done && strcmp(op, "hello") != 0) {
		conn_send_error(c, id, PROTO_E_HELLO,
				"%s: send {\"op\":\"hello\",\"version\":%d} "
				"first",
				op, PROTO_VERSION);
		goto out;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].op) == 0) {
			ops[i].fn(c, id, obj);
			goto out;
		}
	}
	conn_send_error(c, id, PROTO_E_UNKNOWN_OP,
			"op \"%s\" is not supported by kiln-agent %s", op,
			AGENT_VERSION);
out:
	json_decref(obj);
}

void request_handle_frame(struct conn *c, const struct proto_hdr *h,
			  const uint8_t *payload)
{
	struct proc *p;

	if (h->flags != 0) {
		conn_send_error(c, h->id, PROTO_E_BAD_FRAME,
				"frame flags 0x%02x: must be 0 in protocol "
				"v%d; frame ignored",
				h->flags, PROTO_VERSION);
		return;
	}
	switch (h->kind) {
	case PROTO_CONTROL:
		handle_control(c, h->id, payload, h->len);
		return;
	case PROTO_STDIN:
		/* write_file content, else a command's stdin. */
		if (files_data(c, h->id, payload, h->len))
			return;
		/* Data for a finished or stdin-less command is dropped. */
		p = proc_find(c, h->id);
		if (p)
			proc_stdin_write(p, payload, h->len);
		return;
	case PROTO_EOF:
		if (h->len != 1 || payload[0] != PROTO_STREAM_STDIN) {
			conn_send_error(
				c, h->id, PROTO_E_BAD_FRAME,
				"eof frame from a client must carry one "
				"byte, 0 (stdin)");
			return;
		}
		if (files_eof(c, h->id))
			return;
		p = proc_find(c, h->id);
		if (p)
			proc_stdin_close(p);
		return;
	default:
		conn_send_error(c, h->id, PROTO_E_BAD_FRAME,
				"frame kind %u (%s) is not accepted by the "
				"agent; frame ignored",
				h->kind, proto_kind_name(h->kind));
		return;
	}
}
