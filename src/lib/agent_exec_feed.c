/* SPDX-License-Identifier: MIT */
/*
 * agent_exec_feed(): what the client does with each frame of a running
 * exec (see agent_client.h).  Pure, no I/O, and it trusts nothing in a
 * frame: unit-tested (test_proto.c) and fuzzed (fuzz_proto.c).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

/*
 * The output totals of an exit message (docs/PROTOCOL.md, exec): all four
 * stream fields or none (an older agent), each consistent with what was
 * received and with the cap the request asked for.
 */
static int feed_exit_totals(struct agent_exec_state *st, json_t *obj)
{
	static const char *const names[2][2] = {
		{"stdout_bytes", "stdout_capped"},
		{"stderr_bytes", "stderr_capped"}};
	struct agent_exec_result *res = st->res;
	json_t *dropped = json_object_get(obj, "output_dropped");
	int present = 0;

	for (int i = 0; i < 2; i++) {
		json_t *b = json_object_get(obj, names[i][0]);
		json_t *cp = json_object_get(obj, names[i][1]);
		uint64_t bytes;
		bool capped;

		present += (b != NULL) + (cp != NULL);
		if (!b && !cp)
			continue;
		if (!json_is_integer(b) || json_integer_value(b) < 0 ||
		    !json_is_boolean(cp))
			return -1;
		bytes = (uint64_t)json_integer_value(b);
		capped = json_is_true(cp);
		/* what arrived was produced; a cap is only hit beyond it */
		if (bytes < st->got[i] ||
		    (st->cap_known && capped &&
		     (!st->cap_output || bytes <= st->max_output)) ||
		    (st->cap_known && !capped && st->cap_output &&
		     bytes > st->max_output))
			return -1;
		*(i ? &res->stderr_bytes : &res->stdout_bytes) = bytes;
		*(i ? &res->stderr_capped : &res->stdout_capped) = capped;
	}
	if (present != 0 && present != 4)
		return -1;
	if (present == 0 && st->cap_known && st->cap_output)
		return -1; /* asked for a cap, no report of it */
	if (dropped && !json_is_boolean(dropped))
		return -1;
	res->have_totals = present == 4;
	res->output_dropped = json_is_true(dropped);
	return 0;
}

static int feed_control(struct agent_exec_state *st, const uint8_t *payload,
			size_t len)
{
	struct agent_exec_result *res = st->res;
	json_int_t pid, code, sig, dur = 0;
	const char *type, *ecode = "";
	int timed_out, rc;
	char jerr[256];
	json_t *obj;

	obj = proto_json_parse(payload, len, jerr, sizeof(jerr));
	if (!obj) {
		aclient_seterr(st->err, st->errlen, "agent reply: %s", jerr);
		return AGENT_ERR_PROTO;
	}
	type = json_string_value(json_object_get(obj, "type"));
	if (!type)
		type = "";
	if (strcmp(type, "started") == 0) {
		if (st->started || json_unpack(obj, "{s:I}", "pid", &pid) < 0 ||
		    pid <= 0 || pid > INT_MAX) {
			aclient_seterr(st->err, st->errlen,
				       "agent sent a malformed or repeated "
				       "\"started\" message");
			rc = AGENT_ERR_PROTO;
			goto out;
		}
		st->started = true;
		res->pid = (int)pid;
		/* attach: output dropped while no client was attached */
		for (const char *const *f =
			     (const char *const[]){"lost_stdout", "lost_stderr",
						   NULL};
		     *f; f++) {
			json_t *v = json_object_get(obj, *f);

			if (json_is_integer(v) && json_integer_value(v) > 0)
				res->lost_bytes +=
					(uint64_t)json_integer_value(v);
		}
		if (st->io->on_started)
			st->io->on_started(st->io->started_ctx, (int)pid);
		rc = 0;
	} else if (strcmp(type, "exit") == 0) {
		if (!st->started ||
		    json_unpack(obj, "{s:I,s:I,s:b,s?I}", "exit_code", &code,
				"signal", &sig, "timed_out", &timed_out,
				"duration_ms", &dur) < 0 ||
		    sig < 0 || sig >= 128 ||
		    (sig == 0 && (code < 0 || code > 255)) ||
		    (sig > 0 && code != 128 + sig) || dur < 0 ||
		    feed_exit_totals(st, obj) < 0) {
			aclient_seterr(
				st->err, st->errlen,
				"agent sent a malformed \"exit\" message");
			rc = AGENT_ERR_PROTO;
			goto out;
		}
		res->exited = sig == 0;
		res->signaled = sig > 0;
		res->term_signal = (int)sig;
		res->exit_code = (int)code;
		res->timed_out = timed_out;
		res->duration_ms = (uint64_t)dur;
		rc = 1;
	} else if (strcmp(type, "error") == 0) {
		aclient_remote_error(obj, st->err, st->errlen, &ecode);
		if (strcmp(ecode, PROTO_E_NOT_FOUND) == 0) {
			res->exit_code = 127;
			rc = AGENT_ERR_NOT_FOUND;
		} else if (strcmp(ecode, PROTO_E_PERM) == 0) {
			res->exit_code = 126;
			rc = AGENT_ERR_PERM;
		} else if (strcmp(ecode, PROTO_E_NO_PROCESS) == 0) {
			rc = AGENT_ERR_NOT_FOUND; /* attach: no such session */
		} else {
			rc = AGENT_ERR_REMOTE;
		}
	} else {
		aclient_seterr(
			st->err, st->errlen,
			"agent sent an unexpected message type \"%.32s\" "
			"for an exec",
			type);
		rc = AGENT_ERR_PROTO;
	}
out:
	json_decref(obj);
	return rc;
}

int agent_exec_feed(struct agent_exec_state *st, const struct proto_hdr *h,
		    const uint8_t *payload)
{
	agent_output_fn fn;
	void *ctx;
	char msg[256];
	json_t *obj;

	if (h->id != st->id) {
		if (h->id != 0)
			return 0; /* a late frame of an earlier request */
		/* The agent gave up on the connection; say why. */
		obj = h->kind == PROTO_CONTROL
			      ? proto_json_parse(payload, h->len, msg,
						 sizeof(msg))
			      : NULL;
		if (obj)
			aclient_remote_error(obj, st->err, st->errlen, NULL);
		else
			aclient_seterr(st->err, st->errlen,
				       "agent sent a %s frame with id 0",
				       proto_kind_name(h->kind));
		json_decref(obj);
		return AGENT_ERR_PROTO;
	}
	switch (h->kind) {
	case PROTO_CONTROL:
		return feed_control(st, payload, h->len);
	case PROTO_STDOUT:
	case PROTO_STDERR:
		if (!st->started) {
			aclient_seterr(st->err, st->errlen,
				       "agent sent output before \"started\"");
			return AGENT_ERR_PROTO;
		}
		/* The cap holds whatever the guest does. */
		st->got[h->kind == PROTO_STDERR] += h->len;
		if (st->cap_known && st->cap_output &&
		    st->got[h->kind == PROTO_STDERR] > st->max_output) {
			aclient_seterr(st->err, st->errlen,
				       "agent sent more than max_output (%llu "
				       "bytes) of %s",
				       (unsigned long long)st->max_output,
				       h->kind == PROTO_STDOUT ? "stdout"
							       : "stderr");
			return AGENT_ERR_PROTO;
		}
		fn = h->kind == PROTO_STDOUT ? st->io->on_stdout
					     : st->io->on_stderr;
		ctx = h->kind == PROTO_STDOUT ? st->io->stdout_ctx
					      : st->io->stderr_ctx;
		if (st->cancel || !fn || h->len == 0)
			return 0;
		if (fn(ctx, payload, h->len) != 0) {
			st->cancel = true;
			aclient_seterr(
				st->err, st->errlen,
				"exec: cancelled by the output callback");
			return AGENT_ERR_CANCELLED;
		}
		return 0;
	case PROTO_EOF:
		if (h->len != 1 || (payload[0] != PROTO_STREAM_STDOUT &&
				    payload[0] != PROTO_STREAM_STDERR)) {
			aclient_seterr(st->err, st->errlen,
				       "agent sent a malformed eof frame");
			return AGENT_ERR_PROTO;
		}
		return 0;
	default:
		aclient_seterr(st->err, st->errlen,
			       "agent sent an unexpected %s frame (kind %u)",
			       proto_kind_name(h->kind), h->kind);
		return AGENT_ERR_PROTO;
	}
}
