/* SPDX-License-Identifier: MIT */
/*
 * Guest status and identity requests of the agent client (see
 * agent_client.h, docs/PROTOCOL.md "status" and "identity").  As
 * everywhere in the client, replies are checked: types and ranges of the
 * fields used, strings copied bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

/* A non-negative integer field, or 0 when absent (an older agent). */
static int get_u64(json_t *rep, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(rep, name);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_str(json_t *rep, const char *name, char *out, size_t len)
{
	json_t *v = json_object_get(rep, name);

	out[0] = 0;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len)
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int parse_status(json_t *rep, struct agent_status *st)
{
	json_t *load = json_object_get(rep, "load"), *up;
	uint64_t pv = 0;

	memset(st, 0, sizeof(*st));
	if (get_str(rep, "agent_version", st->agent_version,
		    sizeof(st->agent_version)) < 0 ||
	    get_u64(rep, "protocol_version", &pv) < 0 || pv > 1000000 ||
	    get_u64(rep, "agent_uptime_ms", &st->agent_uptime_ms) < 0 ||
	    get_u64(rep, "mem_total_kib", &st->mem_total_kib) < 0 ||
	    get_u64(rep, "mem_available_kib", &st->mem_available_kib) < 0 ||
	    get_u64(rep, "root_total_bytes", &st->root_total_bytes) < 0 ||
	    get_u64(rep, "root_free_bytes", &st->root_free_bytes) < 0 ||
	    get_u64(rep, "root_avail_bytes", &st->root_avail_bytes) < 0 ||
	    get_u64(rep, "processes", &st->processes) < 0 ||
	    get_str(rep, "sandbox_id", st->sandbox_id, sizeof(st->sandbox_id)) <
		    0 ||
	    get_str(rep, "hostname", st->hostname, sizeof(st->hostname)) < 0)
		return -1;
	st->protocol_version = (int)pv;
	st->init = json_is_true(json_object_get(rep, "init"));
	up = json_object_get(rep, "uptime_s");
	if (up) {
		if (!json_is_number(up) || json_number_value(up) < 0)
			return -1;
		st->uptime_s = json_number_value(up);
	}
	if (load) {
		if (!json_is_array(load) || json_array_size(load) != 3)
			return -1;
		for (size_t i = 0; i < 3; i++) {
			json_t *v = json_array_get(load, i);

			if (!json_is_number(v) || json_number_value(v) < 0)
				return -1;
			st->load[i] = json_number_value(v);
		}
	}
	return 0;
}

int agent_client_status(struct agent_client *c, int timeout_ms,
			struct agent_status *st, char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	struct agent_status tmp;
	json_t *rep = NULL;
	uint32_t id;
	int rc = aclient_check_usable(c, err, errlen);

	if (rc < 0)
		return rc;
	id = aclient_new_id(c);
	rc = aclient_send_json(c, id, json_pack("{s:s}", "op", "status"),
			       deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == 0 && parse_status(rep, &tmp) < 0) {
		aclient_seterr(err, errlen,
			       "agent sent a malformed status reply");
		rc = AGENT_ERR_PROTO;
	}
	if (rc == 0 && st)
		*st = tmp;
	json_decref(rep);
	return aclient_result(c, rc);
}

static void parse_identity(json_t *rep, struct agent_identity_result *res)
{
	uint64_t v;

	memset(res, 0, sizeof(*res));
	if (get_u64(rep, "entropy_bytes", &v) == 0 && v <= 1u << 20)
		res->entropy_bytes = (unsigned int)v;
	if (get_u64(rep, "entropy_credited_bits", &v) == 0 && v <= 8u << 20)
		res->entropy_credited_bits = (unsigned int)v;
	res->crng_reseeded =
		json_is_true(json_object_get(rep, "crng_reseeded"));
	res->clock_set = json_is_true(json_object_get(rep, "clock_set"));
	res->hostname_set = json_is_true(json_object_get(rep, "hostname_set"));
	res->sandbox_id_set =
		json_is_true(json_object_get(rep, "sandbox_id_set"));
}

/* Fill buf with len bytes from the host's CRNG. */
static int host_entropy(uint8_t *buf, size_t len, char *err, size_t errlen)
{
	size_t off = 0;

	/* Bounded: getrandom() returns at least 1 byte or fails. */
	while (off < len) {
		ssize_t n = getrandom(buf + off, len - off, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			aclient_seterr(err, errlen,
				       "identity: getrandom on the host: %s",
				       strerror(errno));
			return AGENT_ERR_IO;
		}
		off += (size_t)n;
	}
	return 0;
}

/* {"op":"identity",...}; NULL with a message on bad input. */
static json_t *identity_request(const struct agent_identity *o, char *err,
				size_t errlen)
{
	json_t *req = json_pack("{s:s}", "op", "identity");
	struct timespec now;

	if (!req)
		goto nomem;
	if (o->hostname && json_object_set_new(req, "hostname",
					       json_string(o->hostname)) < 0) {
		aclient_seterr(err, errlen,
			       "identity: hostname is not valid UTF-8");
		goto fail;
	}
	if (o->sandbox_id &&
	    json_object_set_new(req, "sandbox_id", json_string(o->sandbox_id)) <
		    0) {
		aclient_seterr(err, errlen,
			       "identity: sandbox id is not valid UTF-8");
		goto fail;
	}
	/* Read the clock last: the less time until the guest sets it. */
	if (!o->no_entropy &&
	    json_object_set_new(req, "entropy_bytes",
				json_integer(AGENT_IDENTITY_ENTROPY)) < 0)
		goto nomem;
	if (!o->no_clock) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (json_object_set_new(
			    req, "time_ns",
			    json_integer((json_int_t)now.tv_sec * 1000000000 +
					 now.tv_nsec)) < 0)
			goto nomem;
	}
	return req;
nomem:
	aclient_seterr(err, errlen, "identity: out of memory");
fail:
	json_decref(req);
	return NULL;
}

int agent_client_identity(struct agent_client *c,
			  const struct agent_identity *o, int timeout_ms,
			  struct agent_identity_result *res, char *err,
			  size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	static const struct agent_identity defaults;
	uint8_t entropy[AGENT_IDENTITY_ENTROPY];
	struct agent_identity_result tmp;
	struct outq q = {0};
	json_t *req, *rep = NULL;
	size_t len;
	uint32_t id;
	char *s;
	int rc = aclient_check_usable(c, err, errlen);

	if (res)
		memset(res, 0, sizeof(*res));
	if (rc < 0)
		return rc;
	if (!o)
		o = &defaults;
	if (!o->no_entropy) {
		rc = host_entropy(entropy, sizeof(entropy), err, errlen);
		if (rc < 0)
			return rc;
	}
	req = identity_request(o, err, errlen);
	if (!req) {
		explicit_bzero(entropy, sizeof(entropy));
		return AGENT_ERR_INVAL;
	}
	id = aclient_new_id(c);
	s = proto_json_dump(req, &len);
	json_decref(req);
	/* The entropy follows its request as one stdin frame. */
	if (!s || aclient_outq_push(&q, PROTO_CONTROL, id, s, len) < 0 ||
	    (!o->no_entropy && aclient_outq_push(&q, PROTO_STDIN, id, entropy,
						 sizeof(entropy)) < 0)) {
		aclient_seterr(err, errlen, "identity: out of memory");
		rc = AGENT_ERR_INVAL;
	}
	free(s);
	explicit_bzero(entropy, sizeof(entropy));
	if (rc == 0)
		rc = aclient_outq_flush_all(c, &q, deadline, -1, err, errlen);
	if (q.buf)
		explicit_bzero(q.buf, q.cap);
	free(q.buf);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rep && res) {
		parse_identity(rep, &tmp);
		*res = tmp;
	}
	json_decref(rep);
	return aclient_result(c, rc);
}
