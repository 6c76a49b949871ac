/* SPDX-License-Identifier: MIT */
/*
 * Frame encoding/decoding and control-message JSON helpers for the agent
 * protocol (docs/PROTOCOL.md).  Pure code: no I/O, so the agent, the host
 * client, the unit tests and the fuzzer all run exactly this.
 */
#include "common/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Payload buffers above this are given back after use (idle connections). */
#define PROTO_READER_KEEP 65536

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void proto_hdr_encode(uint8_t *out, uint8_t kind, uint32_t id, uint32_t len)
{
	out[0] = PROTO_MAGIC0;
	out[1] = PROTO_MAGIC1;
	out[2] = kind;
	out[3] = 0;
	put_le32(out + 4, id);
	put_le32(out + 8, len);
}

bool proto_hdr_decode(const uint8_t *in, struct proto_hdr *h)
{
	if (in[0] != PROTO_MAGIC0 || in[1] != PROTO_MAGIC1)
		return false;
	h->kind = in[2];
	h->flags = in[3];
	h->id = get_le32(in + 4);
	h->len = get_le32(in + 8);
	return true;
}

const char *proto_kind_name(uint8_t kind)
{
	switch (kind) {
	case PROTO_CONTROL:
		return "control";
	case PROTO_STDIN:
		return "stdin";
	case PROTO_STDOUT:
		return "stdout";
	case PROTO_STDERR:
		return "stderr";
	case PROTO_EOF:
		return "eof";
	default:
		return "unknown";
	}
}

void proto_reader_init(struct proto_reader *r, uint32_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->max_payload = max_payload;
}

void proto_reader_free(struct proto_reader *r)
{
	free(r->payload);
	r->payload = NULL;
	r->payload_cap = 0;
}

bool proto_reader_mid_frame(const struct proto_reader *r)
{
	return r->hdr_have > 0 || r->in_payload || r->skip > 0;
}

/* Make room for a payload of len bytes (len <= max_payload). */
static bool reader_reserve(struct proto_reader *r, size_t len)
{
	uint8_t *p;

	if (r->payload && r->payload_cap >= len &&
	    (r->payload_cap <= PROTO_READER_KEEP || len > PROTO_READER_KEEP))
		return true;
	/* +1 so the payload can be NUL-terminated for JSON parsing. */
	p = realloc(r->payload, len + 1);
	if (!p)
		return false;
	r->payload = p;
	r->payload_cap = len;
	return true;
}

enum proto_event proto_reader_feed(struct proto_reader *r, const void *buf,
				   size_t len, size_t *used)
{
	const uint8_t *in = buf;
	size_t pos = 0, n;

	*used = 0;
	if (r->broken)
		return PROTO_EV_BAD_MAGIC;
	/* Each branch consumes bytes or returns: the loop is bounded by len. */
	while (pos < len || (r->in_payload && r->payload_have == r->hdr.len)) {
		if (r->skip > 0) {
			n = len - pos;
			if (n > r->skip)
				n = (size_t)r->skip;
			r->skip -= n;
			pos += n;
			continue;
		}
		if (r->in_payload) {
			n = r->hdr.len - r->payload_have;
			if (n > len - pos)
				n = len - pos;
			memcpy(r->payload + r->payload_have, in + pos, n);
			r->payload_have += n;
			pos += n;
			if (r->payload_have < r->hdr.len)
				continue;
			r->in_payload = false;
			r->payload[r->hdr.len] = 0;
			*used = pos;
			return PROTO_EV_FRAME;
		}
		n = PROTO_HDR_SIZE - r->hdr_have;
		if (n > len - pos)
			n = len - pos;
		memcpy(r->hdr_raw + r->hdr_have, in + pos, n);
		r->hdr_have += n;
		pos += n;
		if (r->hdr_have < PROTO_HDR_SIZE)
			continue;
		r->hdr_have = 0;
		if (!proto_hdr_decode(r->hdr_raw, &r->hdr)) {
			r->broken = true;
			*used = pos;
			return PROTO_EV_BAD_MAGIC;
		}
		if (r->hdr.len > r->max_payload) {
			r->skip = r->hdr.len;
			*used = pos;
			return PROTO_EV_OVERSIZED;
		}
		if (!reader_reserve(r, r->hdr.len)) {
			/* Skip it so the stream stays in sync. */
			r->skip = r->hdr.len;
			*used = pos;
			return PROTO_EV_NOMEM;
		}
		r->payload_have = 0;
		r->in_payload = true;
	}
	*used = pos;
	return PROTO_EV_NEED_MORE;
}

json_t *proto_json_parse(const void *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	/*
	 * Without JSON_ALLOW_NUL jansson rejects \u0000 in strings, so every
	 * string we hand to C code (argv, paths) is NUL-free.
	 */
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "bad JSON at line %d column %d: %s",
			 je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen,
			 "bad JSON: a control message must be an "
			 "object");
		json_decref(j);
		return NULL;
	}
	return j;
}

char *proto_json_dump(const json_t *obj, size_t *len)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	if (!s)
		return NULL;
	*len = strlen(s);
	if (*len > PROTO_MAX_PAYLOAD) {
		free(s);
		return NULL;
	}
	return s;
}

int proto_unpack(json_t *obj, char *err, size_t errlen, const char *what,
		 const char *fmt, ...)
{
	static const char unpacked[] = "left unpacked: ";
	json_error_t je;
	const char *keys;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = json_vunpack_ex(obj, &je, JSON_STRICT, fmt, ap);
	va_end(ap);
	if (rc == 0)
		return 0;
	/* jansson says "1 object item(s) left unpacked: foo": say it plainly.
	 */
	keys = strstr(je.text, unpacked);
	if (json_error_code(&je) == json_error_end_of_input_expected && keys)
		snprintf(err, errlen, "%s: unknown field(s): %s", what,
			 keys + sizeof(unpacked) - 1);
	else
		snprintf(err, errlen, "%s: %s", what, je.text);
	return -1;
}
