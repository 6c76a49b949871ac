/* SPDX-License-Identifier: MIT */
/*
 * DNS messages for the sandbox resolver (RFC 1035 4.1).  Queries come from
 * the guest and responses from upstream: both are untrusted, so every read
 * is checked against the message's length, a compression pointer must
 * point before the name it is in (no loops), and names are at most 255
 * bytes on the wire.  Replies are built without compression.
 */
#include <string.h>

#include "lib/dns.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The name at *off into wire (uncompressed, lowercase-insensitive compare
 * left to callers); *off moves past it in the message.  -1 if it runs off
 * the message, loops, has a label of 64..191 (reserved), or is too long.
 */
static int name_read(const uint8_t *m, size_t len, size_t *off, uint8_t *wire,
		     size_t *wire_len)
{
	size_t pos = *off, out = 0, limit = *off;
	bool jumped = false;

	for (int hops = 0;; hops++) {
		if (pos >= len || hops > DNS_NAME_WIRE_MAX)
			return -1;
		uint8_t l = m[pos];

		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -1;
			size_t to = (size_t)(l & 0x3f) << 8 | m[pos + 1];

			/* strictly backwards: no loops, bounded work */
			if (to >= limit)
				return -1;
			if (!jumped)
				*off = pos + 2;
			jumped = true;
			limit = to;
			pos = to;
			continue;
		}
		if (l & 0xc0)
			return -1;
		if (pos + 1 + l > len || out + 1 + l > DNS_NAME_WIRE_MAX)
			return -1;
		memcpy(wire + out, m + pos, 1 + (size_t)l);
		out += 1 + (size_t)l;
		pos += 1 + (size_t)l;
		if (!l)
			break;
	}
	if (!jumped)
		*off = pos;
	*wire_len = out;
	return 0;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool names_equal(const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* The text form of a query name; -1 for a byte outside [A-Za-z0-9_-]. */
static int name_text(const uint8_t *wire, size_t wire_len, char *text)
{
	size_t pos = 0, out = 0;

	while (pos < wire_len && wire[pos]) {
		uint8_t l = wire[pos++];

		if (out)
			text[out++] = '.';
		for (uint8_t i = 0; i < l; i++) {
			int c = wire[pos + i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			text[out++] = (char)lower(c);
		}
		pos += l;
	}
	text[out] = '\0'; /* at most 253: 255 minus first length and root */
	return 0;
}

int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q)
{
	size_t off = DNS_HDR_LEN;
	uint16_t flags;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HDR_LEN)
		return DNS_EMALFORMED;
	q->id = rd16(msg);
	flags = rd16(msg + 2);
	if (flags & 0x8000)
		return DNS_EMALFORMED; /* a response: never answer those */
	q->rd = flags & 0x0100;
	if ((flags >> 11 & 0xf) != 0 || rd16(msg + 4) != 1)
		return DNS_ENOTIMP;
	if (rd16(msg + 6) || rd16(msg + 8))
		return DNS_EFORMERR;
	if (name_read(msg, len, &off, q->q.wire, &q->q.wire_len) ||
	    off + 4 > len)
		return DNS_EFORMERR;
	q->q.qtype = rd16(msg + off);
	q->q.qclass = rd16(msg + off + 2);
	if (name_text(q->q.wire, q->q.wire_len, q->q.name))
		return DNS_EFORMERR;
	return 0;
}

/* Header and question; the offset after them, or 0 if cap is too small. */
static size_t head_write(uint16_t id, uint16_t flags, uint16_t ancount,
			 const struct dns_question *q, uint8_t *out, size_t cap)
{
	size_t n = DNS_HDR_LEN + q->wire_len + 4;

	if (cap < n || !q->wire_len)
		return 0;
	memset(out, 0, DNS_HDR_LEN);
	wr16(out, id);
	wr16(out + 2, flags);
	wr16(out + 4, 1);
	wr16(out + 6, ancount);
	memcpy(out + DNS_HDR_LEN, q->wire, q->wire_len);
	wr16(out + DNS_HDR_LEN + q->wire_len, q->qtype);
	wr16(out + DNS_HDR_LEN + q->wire_len + 2, q->qclass);
	return n;
}

/* QR, RD echoed, RA, rcode */
static uint16_t reply_flags(const struct dns_query *q, int rcode)
{
	return (uint16_t)(0x8000 | (q->rd ? 0x0100 : 0) | 0x0080 |
			  (rcode & 0xf));
}

size_t dns_build_error(const struct dns_query *q, int rcode, uint8_t *out,
		       size_t cap)
{
	if (!q->q.wire_len) {
		/* nothing readable past the header: echo the id only */
		if (cap < DNS_HDR_LEN)
			return 0;
		memset(out, 0, DNS_HDR_LEN);
		wr16(out, q->id);
		wr16(out + 2, reply_flags(q, rcode));
		return DNS_HDR_LEN;
	}
	return head_write(q->id, reply_flags(q, rcode), 0, &q->q, out, cap);
}

size_t dns_build_query(uint16_t id, const struct dns_question *q, uint8_t *out,
		       size_t cap)
{
	return head_write(id, 0x0100, 0, q, out, cap);
}

int dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
		       const struct dns_question *q, struct dns_answer *a)
{
	uint8_t chain[DNS_CHAIN_MAX][DNS_NAME_WIRE_MAX],
		wire[DNS_NAME_WIRE_MAX];
	size_t chain_len[DNS_CHAIN_MAX], n_chain = 1, off = DNS_HDR_LEN, wlen;
	uint16_t flags, ancount;

	memset(a, 0, sizeof(*a));
	if (len < DNS_HDR_LEN || rd16(msg) != id)
		return -1;
	flags = rd16(msg + 2);
	if (!(flags & 0x8000) || (flags >> 11 & 0xf) != 0 || rd16(msg + 4) != 1)
		return -1;
	if (name_read(msg, len, &off, wire, &wlen) || off + 4 > len ||
	    !names_equal(wire, wlen, q->wire, q->wire_len) ||
	    rd16(msg + off) != q->qtype || rd16(msg + off + 2) != q->qclass)
		return -1;
	off += 4;
	switch (flags & 0xf) {
	case DNS_RCODE_NOERROR:
	case DNS_RCODE_NXDOMAIN:
		a->rcode = flags & 0xf;
		break;
	default:
		a->rcode = DNS_RCODE_SERVFAIL;
		return 0;
	}
	if (flags & 0x0200) { /* truncated: kiln does not retry over TCP */
		a->rcode = DNS_RCODE_SERVFAIL;
		return 0;
	}
	memcpy(chain[0], q->wire, q->wire_len);
	chain_len[0] = q->wire_len;
	ancount = rd16(msg + 6);
	for (uint16_t i = 0; i < ancount; i++) {
		struct dns_rr *rr = &a->rr[a->n];
		uint16_t type, cls, rdlen;
		bool owner = false;
		size_t rdoff;

		if (name_read(msg, len, &off, wire, &wlen) || off + 10 > len)
			return -1;
		type = rd16(msg + off);
		cls = rd16(msg + off + 2);
		rdlen = rd16(msg + off + 8);
		rdoff = off + 10;
		if (rdoff + rdlen > len)
			return -1;
		for (size_t c = 0; c < n_chain && !owner; c++)
			owner = names_equal(wire, wlen, chain[c], chain_len[c]);
		off = rdoff + rdlen;
		if (!owner || cls != DNS_CLASS_IN || a->n == DNS_ANSWER_MAX)
			continue;
		if ((type == DNS_TYPE_A && rdlen == 4) ||
		    (type == DNS_TYPE_AAAA && rdlen == 16)) {
			memcpy(rr->rdata, msg + rdoff, rdlen);
			rr->rdlen = rdlen;
		} else if (type == DNS_TYPE_CNAME) {
			size_t t = rdoff, tlen;

			/* the target must be a whole name inside the rdata */
			if (name_read(msg, len, &t, rr->rdata, &tlen) ||
			    t != rdoff + rdlen)
				return -1;
			rr->rdlen = (uint16_t)tlen;
			if (n_chain < DNS_CHAIN_MAX) {
				memcpy(chain[n_chain], rr->rdata, tlen);
				chain_len[n_chain++] = tlen;
			}
		} else if (type == DNS_TYPE_A || type == DNS_TYPE_AAAA) {
			return -1; /* wrong address length */
		} else {
			continue;
		}
		memcpy(rr->name, wire, wlen);
		rr->name_len = wlen;
		rr->type = type;
		rr->ttl = rd32(msg + off - rdlen - 6) & 0x7fffffff;
		a->n++;
	}
	return 0;
}

size_t dns_build_reply(const struct dns_query *q, const struct dns_answer *a,
		       uint8_t *out, size_t cap, size_t *n_used)
{
	size_t off = head_write(q->id, reply_flags(q, a->rcode), 0, &q->q, out,
				cap),
	       n = 0;

	*n_used = 0;
	if (!off)
		return 0;
	for (; n < a->n; n++) {
		const struct dns_rr *rr = &a->rr[n];
		size_t need = rr->name_len + 10 + rr->rdlen;

		if (off + need > cap)
			break; /* the rest does not fit: leave it out */
		memcpy(out + off, rr->name, rr->name_len);
		off += rr->name_len;
		wr16(out + off, rr->type);
		wr16(out + off + 2, DNS_CLASS_IN);
		out[off + 4] = (uint8_t)(rr->ttl >> 24);
		out[off + 5] = (uint8_t)(rr->ttl >> 16);
		out[off + 6] = (uint8_t)(rr->ttl >> 8);
		out[off + 7] = (uint8_t)rr->ttl;
		wr16(out + off + 8, rr->rdlen);
		memcpy(out + off + 10, rr->rdata, rr->rdlen);
		off += 10 + rr->rdlen;
	}
	wr16(out + 6, (uint16_t)n);
	if (n < a->n)
		out[2] |= 0x02; /* TC: a resolver asks again over TCP */
	*n_used = n;
	return off;
}

int dns_tcp_frame(const uint8_t *buf, size_t len, size_t max, size_t *msg_len)
{
	size_t n;

	*msg_len = 0;
	if (len < 2)
		return 0;
	n = (size_t)buf[0] << 8 | buf[1];
	if (!n || n > max)
		return -1;
	if (len - 2 < n)
		return 0;
	*msg_len = n;
	return 1;
}
