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
#include <arpa/inet.h>
#include <sys/socket.h>

#include "agent/detach.h"
#include "agent/files.h"
#include "agent/forward.h"
#include "agent/identity.h"
#include "agent/log.h"
#include "agent/net.h"
#include "agent/ps.h"
#include "agent/status.h"

/* Ops this agent serves, announced in the hello reply. */
static const char *const request_ops[] = {
	"hello",     "ping",	   "exec",    "signal",	  "shutdown",
	"read_file", "write_file", "stat",    "list_dir", "mkdir",
	"remove",    "rename",	   "status",  "identity", "resize",
	"ps",	     "kill",	   "forward", "attach",	  "upload",
	"download",  "net_config", "sync"};

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

/* "tty", "rows", "cols" of an exec request. */
static int parse_tty(json_t *tty, json_t *rows, json_t *cols,
		     struct exec_spec *spec, char *err, size_t errlen)
{
	json_int_t r = EXEC_TTY_ROWS, k = EXEC_TTY_COLS;

	if (tty && want_bool(tty, "exec", "tty", &spec->tty, err, errlen) < 0)
		return -1;
	if ((rows || cols) && !spec->tty) {
		snprintf(err, errlen,
			 "exec: \"rows\" and \"cols\" need \"tty\": true");
		return -1;
	}
	if ((rows &&
	     want_int(rows, "exec", "rows", 1, 65535, &r, err, errlen) < 0) ||
	    (cols &&
	     want_int(cols, "exec", "cols", 1, 65535, &k, err, errlen) < 0))
		return -1;
	spec->rows = (unsigned short)r;
	spec->cols = (unsigned short)k;
	return 0;
}

/* "user" (a name or a uid) or "uid" with "gid" of an exec request. */
static int parse_user(json_t *user, json_t *uid, json_t *gid,
		      struct exec_spec *spec, char *err, size_t errlen)
{
	json_int_t u, g;

	if (user && (uid || gid)) {
		snprintf(err, errlen,
			 "exec: give either \"user\" or \"uid\" and \"gid\", "
			 "not both");
		return -1;
	}
	if (user && json_is_string(user)) {
		if (want_string(user, "exec", "user", &spec->user_name, err,
				errlen) < 0)
			return -1;
		spec->user = EXEC_USER_NAME;
		return 0;
	}
	if (user) {
		if (!json_is_integer(user)) {
			snprintf(err, errlen,
				 "exec: \"user\" must be a user name or a "
				 "uid (integer in 0..4294967294)");
			return -1;
		}
		if (want_int(user, "exec", "user", 0, UINT32_MAX - 1, &u, err,
			     errlen) < 0)
			return -1;
		spec->user = EXEC_USER_UID;
		spec->uid = (uint32_t)u;
		return 0;
	}
	if (!uid && !gid)
		return 0;
	if (!uid || !gid) {
		snprintf(err, errlen,
			 "exec: \"uid\" and \"gid\" go together (or use "
			 "\"user\")");
		return -1;
	}
	if (want_int(uid, "exec", "uid", 0, UINT32_MAX - 1, &u, err, errlen) <
		    0 ||
	    want_int(gid, "exec", "gid", 0, UINT32_MAX - 1, &g, err, errlen) <
		    0)
		return -1;
	spec->user = EXEC_USER_IDS;
	spec->uid = (uint32_t)u;
	spec->gid = (uint32_t)g;
	return 0;
}

int request_parse_exec(json_t *obj, struct exec_spec *spec, char *err,
		       size_t errlen)
{
	json_t *op, *argv = NULL, *env = NULL, *cwd = NULL, *in = NULL,
		    *timeout = NULL, *tty = NULL, *rows = NULL, *cols = NULL,
		    *user = NULL, *uid = NULL, *gid = NULL, *detach = NULL,
		    *max_out = NULL;
	json_int_t t = 0, mo = 0;
	size_t i;

	memset(spec, 0, sizeof(*spec));
	spec->cwd = "/";
	if (proto_unpack(
		    obj, err, errlen, "exec",
		    "{s:o,s:o,s?o,s?o,s?o,s?o,s?o,s?o,s?o,s?o,s?o,s?o,s?o,s?o}",
		    "op", &op, "argv", &argv, "env", &env, "cwd", &cwd, "stdin",
		    &in, "timeout_ms", &timeout, "tty", &tty, "rows", &rows,
		    "cols", &cols, "user", &user, "uid", &uid, "gid", &gid,
		    "detach", &detach, "max_output", &max_out) < 0)
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
		      (json_int_t)EXEC_MAX_TIMEOUT_MS, &t, err, errlen) < 0) ||
	    (detach && want_bool(detach, "exec", "detach", &spec->detach, err,
				 errlen) < 0) ||
	    (max_out &&
	     want_int(max_out, "exec", "max_output", 0,
		      (json_int_t)EXEC_MAX_OUTPUT_MAX, &mo, err, errlen) < 0) ||
	    parse_tty(tty, rows, cols, spec, err, errlen) < 0 ||
	    parse_user(user, uid, gid, spec, err, errlen) < 0)
		return -1;
	spec->timeout_ms = (uint64_t)t;
	spec->cap_output = max_out != NULL;
	spec->max_output = (uint64_t)mo;
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

int request_parse_resize(json_t *obj, struct resize_req *req, char *err,
			 size_t errlen)
{
	json_t *op, *target, *rows, *cols;
	json_int_t t, r, k;

	if (proto_unpack(obj, err, errlen, "resize", "{s:o,s:o,s:o,s:o}", "op",
			 &op, "target", &target, "rows", &rows, "cols",
			 &cols) < 0 ||
	    want_int(target, "resize", "target", 1, UINT32_MAX, &t, err,
		     errlen) < 0 ||
	    want_int(rows, "resize", "rows", 1, 65535, &r, err, errlen) < 0 ||
	    want_int(cols, "resize", "cols", 1, 65535, &k, err, errlen) < 0)
		return -1;
	req->target = (uint32_t)t;
	req->rows = (unsigned short)r;
	req->cols = (unsigned short)k;
	return 0;
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

/* A signal as a name ("TERM", "SIGTERM") or a number 1..NSIG-1. */
static int want_signal(json_t *sig, const char *what, int *out, char *err,
		       size_t errlen)
{
	json_int_t n;

	if (json_is_string(sig)) {
		*out = proc_signal_from_name(json_string_value(sig));
		if (!*out) {
			snprintf(err, errlen,
				 "%s: unknown signal name \"%s\" (use "
				 "e.g. \"TERM\", \"KILL\", \"INT\" or a "
				 "number)",
				 what, json_string_value(sig));
			return -1;
		}
		return 0;
	}
	if (want_int(sig, what, "signal", 1, NSIG - 1, &n, err, errlen) < 0)
		return -1;
	*out = (int)n;
	return 0;
}

int request_parse_kill(json_t *obj, struct kill_req *req, char *err,
		       size_t errlen)
{
	json_t *op, *pid = NULL, *eid = NULL, *econn = NULL, *sig = NULL;
	json_int_t v;

	memset(req, 0, sizeof(*req));
	req->signo = SIGTERM;
	if (proto_unpack(obj, err, errlen, "kill", "{s:o,s?o,s?o,s?o,s?o}",
			 "op", &op, "pid", &pid, "exec_id", &eid, "exec_conn",
			 &econn, "signal", &sig) < 0)
		return -1;
	if (!pid == !eid) {
		snprintf(err, errlen,
			 "kill: give exactly one of \"pid\" and \"exec_id\"");
		return -1;
	}
	if (econn && !eid) {
		snprintf(err, errlen, "kill: \"exec_conn\" needs \"exec_id\"");
		return -1;
	}
	if (sig && want_signal(sig, "kill", &req->signo, err, errlen) < 0)
		return -1;
	if (pid) {
		if (!json_is_integer(pid)) {
			snprintf(err, errlen,
				 "kill: \"pid\" must be an integer");
			return -1;
		}
		v = json_integer_value(pid);
		if (v == 1) {
			snprintf(err, errlen,
				 "kill: pid 1 is the agent (the guest's init) "
				 "itself; refusing (use the shutdown op to "
				 "power the guest off)");
			return -1;
		}
		if (v <= 0 || v > INT32_MAX) {
			snprintf(err, errlen,
				 "kill: pid %lld is not a process id (want "
				 "2..%d; process groups are killed by "
				 "\"exec_id\")",
				 (long long)v, INT32_MAX);
			return -1;
		}
		req->pid = v;
		return 0;
	}
	if (want_int(eid, "kill", "exec_id", 1, UINT32_MAX, &v, err, errlen) <
	    0)
		return -1;
	req->exec_id = (uint32_t)v;
	if (econn) {
		if (want_int(econn, "kill", "exec_conn", 1, UINT32_MAX, &v, err,
			     errlen) < 0)
			return -1;
		req->exec_conn = (uint32_t)v;
	}
	return 0;
}

int request_parse_ps(json_t *obj, char *err, size_t errlen)
{
	json_t *op;

	return proto_unpack(obj, err, errlen, "ps", "{s:o}", "op", &op);
}

int request_parse_forward(json_t *obj, struct forward_req *req, char *err,
			  size_t errlen)
{
	json_t *op, *port, *host = NULL;
	const char *h = "127.0.0.1";
	json_int_t v;

	memset(req, 0, sizeof(*req));
	if (proto_unpack(obj, err, errlen, "forward", "{s:o,s:o,s?o}", "op",
			 &op, "port", &port, "host", &host) < 0 ||
	    want_int(port, "forward", "port", 1, 65535, &v, err, errlen) < 0 ||
	    (host && want_string(host, "forward", "host", &h, err, errlen) < 0))
		return -1;
	req->port = (uint16_t)v;
	if (strlen(h) >= sizeof(req->host)) {
		snprintf(err, errlen, "forward: \"host\" is too long");
		return -1;
	}
	memcpy(req->host, h, strlen(h) + 1);
	if (inet_pton(AF_INET, h, req->addr) == 1) {
		req->family = AF_INET;
	} else if (inet_pton(AF_INET6, h, req->addr) == 1) {
		req->family = AF_INET6;
	} else {
		snprintf(err, errlen,
			 "forward: \"host\" \"%s\" is not a numeric IPv4 or "
			 "IPv6 address (the agent does not resolve names)",
			 h);
		return -1;
	}
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

	if (proc_find(c, id) || files_busy_id(c, id) ||
	    identity_busy_id(c, id)) {
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

static void handle_resize(struct conn *c, uint32_t id, json_t *obj)
{
	struct resize_req req;
	struct proc *p;
	char err[256];
	int rc;

	if (request_parse_resize(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	p = proc_find(c, req.target);
	if (!p || p->reaped) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS,
				"resize: no running command with request id "
				"%u on this connection",
				req.target);
		return;
	}
	rc = proc_resize(p, req.rows, req.cols);
	if (rc == -ENOTTY) {
		conn_send_error(c, id, PROTO_E_NO_TTY,
				"resize: command %u has no terminal (start it "
				"with \"tty\": true)",
				req.target);
		return;
	}
	if (rc < 0) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS, "resize: %s",
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
		{"hello", handle_hello},
		{"ping", handle_ping},
		{"exec", handle_exec},
		{"signal", handle_signal},
		{"shutdown", handle_shutdown},
		{"read_file", files_op_read},
		{"write_file", files_op_write},
		{"stat", files_op_stat},
		{"list_dir", files_op_list_dir},
		{"mkdir", files_op_mkdir},
		{"remove", files_op_remove},
		{"rename", files_op_rename},
		{"sync", files_op_sync},
		{"upload", files_op_upload},
		{"download", files_op_download},
		{"status", status_op},
		{"identity", identity_op},
		{"resize", handle_resize},
		{"ps", ps_op},
		{"kill", ps_kill_op},
		{"forward", forward_op},
		{"attach", detach_attach_op},
		{"net_config", netcfg_op},
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
		if (files_data(c, h->id, payload, h->len) ||
		    identity_data(c, h->id, payload, h->len))
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
		if (files_eof(c, h->id) || identity_eof(c, h->id))
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
