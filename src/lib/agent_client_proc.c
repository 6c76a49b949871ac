/* SPDX-License-Identifier: MIT */
/*
 * Processes and port forwarding in the agent client (see agent_client.h,
 * docs/PROTOCOL.md "ps", "kill", "forward").  Replies are checked like
 * everywhere in the client: types and ranges of the fields used, strings
 * copied bounded; a malformed reply is AGENT_ERR_PROTO.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

/* Most processes accepted in one reply (the agent sends at most 4096). */
#define PS_MAX 100000

static int get_int(json_t *o, const char *name, json_int_t min, json_int_t max,
		   json_int_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int copy_str(json_t *o, const char *name, char *out, size_t len)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v))
		return -1;
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

static int parse_proc(json_t *o, struct agent_proc_info *p)
{
	json_int_t pid, ppid, pgid, uid, rss, v;
	json_t *st = json_object_get(o, "state"),
	       *t = json_object_get(o, "start_time");

	memset(p, 0, sizeof(*p));
	if (!json_is_object(o) || get_int(o, "pid", 1, INT32_MAX, &pid) < 0 ||
	    get_int(o, "ppid", 0, INT32_MAX, &ppid) < 0 ||
	    get_int(o, "pgid", 0, INT32_MAX, &pgid) < 0 ||
	    get_int(o, "uid", 0, UINT32_MAX, &uid) < 0 ||
	    get_int(o, "rss_kib", 0, INT64_MAX, &rss) < 0 ||
	    copy_str(o, "comm", p->comm, sizeof(p->comm)) < 0 ||
	    copy_str(o, "cmdline", p->cmdline, sizeof(p->cmdline)) < 0 ||
	    !json_is_string(st) || !json_is_number(t))
		return -1;
	p->pid = (int)pid;
	p->ppid = (int)ppid;
	p->pgid = (int)pgid;
	p->uid = (uint32_t)uid;
	p->rss_kib = (uint64_t)rss;
	p->state = json_string_length(st) == 1 ? json_string_value(st)[0] : '?';
	p->start_time = json_number_value(t);
	p->cmdline_truncated =
		json_is_true(json_object_get(o, "cmdline_truncated"));
	if (json_object_get(o, "exec_id")) {
		if (get_int(o, "exec_id", 1, UINT32_MAX, &v) < 0)
			return -1;
		p->exec_id = (uint32_t)v;
		if (get_int(o, "exec_conn", 1, UINT32_MAX, &v) < 0)
			return -1;
		p->exec_conn = (uint32_t)v;
		p->exec_leader =
			json_is_true(json_object_get(o, "exec_leader"));
	}
	if (json_object_get(o, "session")) {
		if (get_int(o, "session", 1, UINT32_MAX, &v) < 0)
			return -1;
		p->session = (uint32_t)v;
	}
	return 0;
}

int agent_ps_parse(json_t *rep, struct agent_proc_info **procs, size_t *n,
		   bool *truncated)
{
	json_t *list = json_object_get(rep, "processes");
	struct agent_proc_info *a;
	size_t count;

	*procs = NULL;
	*n = 0;
	if (!json_is_array(list) || json_array_size(list) > PS_MAX)
		return -1;
	count = json_array_size(list);
	a = calloc(count ? count : 1, sizeof(*a));
	if (!a)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (parse_proc(json_array_get(list, i), &a[i]) < 0) {
			free(a);
			return -1;
		}
	if (truncated)
		*truncated = json_is_true(json_object_get(rep, "truncated"));
	*procs = a;
	*n = count;
	return 0;
}

int agent_client_ps(struct agent_client *c, int timeout_ms,
		    struct agent_proc_info **procs, size_t *n, bool *truncated,
		    char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	json_t *rep = NULL;
	uint32_t id;
	int rc;

	*procs = NULL;
	*n = 0;
	rc = aclient_check_usable(c, err, errlen);
	if (rc < 0)
		return rc;
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, json_pack("{s:s}", "op", "ps"), deadline,
			       -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == 0 && agent_ps_parse(rep, procs, n, truncated) < 0) {
		aclient_seterr(err, errlen, "agent sent a malformed ps reply");
		rc = AGENT_ERR_PROTO;
	}
	json_decref(rep);
	return aclient_result(c, rc);
}

int agent_client_kill(struct agent_client *c, int pid, uint32_t exec_id,
		      uint32_t exec_conn, int signo, int timeout_ms, char *err,
		      size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	const char *code = NULL;
	json_t *req, *rep = NULL;
	uint32_t id;
	int rc = aclient_check_usable(c, err, errlen);

	if (rc < 0)
		return rc;
	if ((pid != 0) == (exec_id != 0) || pid < 0 || signo <= 0) {
		aclient_seterr(err, errlen,
			       "kill: give a pid (> 1) or an exec id, and a "
			       "signal number > 0");
		return AGENT_ERR_INVAL;
	}
	req = pid ? json_pack("{s:s,s:i,s:i}", "op", "kill", "pid", pid,
			      "signal", signo)
		  : json_pack("{s:s,s:I,s:i}", "op", "kill", "exec_id",
			      (json_int_t)exec_id, "signal", signo);
	if (req && exec_conn)
		json_object_set_new(req, "exec_conn",
				    json_integer((json_int_t)exec_conn));
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, req, deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == AGENT_ERR_REMOTE) {
		aclient_remote_error(rep, err, errlen, &code);
		if (strcmp(code, PROTO_E_NO_PROCESS) == 0)
			rc = AGENT_ERR_NOT_FOUND;
		else if (strcmp(code, PROTO_E_PERM) == 0)
			rc = AGENT_ERR_PERM;
	}
	json_decref(rep);
	return aclient_result(c, rc);
}

int agent_client_forward(struct agent_client *c, const char *host,
			 unsigned int port, int timeout_ms, int *fd,
			 uint8_t **early, size_t *early_len, char *err,
			 size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	const char *code = NULL;
	json_t *rep = NULL;
	size_t left;
	uint32_t id;
	int rc = aclient_check_usable(c, err, errlen);

	*fd = -1;
	*early = NULL;
	*early_len = 0;
	if (rc < 0)
		return rc;
	if (port == 0 || port > 65535) {
		aclient_seterr(err, errlen, "forward: port %u is not 1..65535",
			       port);
		return AGENT_ERR_INVAL;
	}
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id,
			       json_pack("{s:s,s:i,s:s}", "op", "forward",
					 "port", (int)port, "host",
					 host ? host : "127.0.0.1"),
			       deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == AGENT_ERR_REMOTE) {
		aclient_remote_error(rep, err, errlen, &code);
		if (strcmp(code, PROTO_E_CONN_REFUSED) == 0)
			rc = AGENT_ERR_NOT_FOUND;
	}
	json_decref(rep);
	/* After a forward request the stream is raw bytes or closed. */
	c->broken = true;
	if (rc < 0)
		return rc;
	left = c->in_len - c->in_off;
	if (left > 0) {
		*early = malloc(left);
		if (!*early) {
			aclient_seterr(err, errlen, "forward: out of memory");
			return AGENT_ERR_IO;
		}
		memcpy(*early, c->in + c->in_off, left);
		*early_len = left;
	}
	*fd = c->fd;
	c->fd = -1;
	agent_client_close(c);
	return 0;
}
