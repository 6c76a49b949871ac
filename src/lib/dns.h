/* SPDX-License-Identifier: MIT */
/*
 * The sandbox resolver's pieces (docs/NETWORK.md, "Domains"):
 *   dns_msg.c   DNS messages: parse a guest's query and an upstream's
 *               response, build the upstream query and the guest's reply.
 *               Everything comes from the network (the guest is the
 *               attacker): every read is bounds-checked, compression
 *               pointers only point backwards, names are at most 255
 *               bytes.
 *   dns_name.c  allow-list patterns ("name", "*.suffix") and matching,
 *               the upstream address.
 *   dns_proc.c  the resolver process (build/kiln-dns, src/dns/main.c):
 *               start, reload, stop, pid file.
 */
#ifndef KILN_LIB_DNS_H
#define KILN_LIB_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 3.1, with the root label */
#define DNS_NAME_TEXT_MAX 253
#define DNS_UDP_MAX 512 /* replies to the guest: no EDNS */
#define DNS_TCP_QUERY_MAX 1024 /* a guest's query over TCP, framing aside */
#define DNS_TCP_REPLY_MAX 16384 /* the guest's reply over TCP */
#define DNS_ANSWER_MAX 32
#define DNS_CHAIN_MAX 8 /* CNAMEs followed in one answer */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5

struct dns_question {
	char name[DNS_NAME_TEXT_MAX + 1]; /* lowercase, no final dot */
	uint8_t wire[DNS_NAME_WIRE_MAX]; /* uncompressed, as sent */
	size_t wire_len;
	uint16_t qtype, qclass;
};

struct dns_query {
	uint16_t id;
	bool rd; /* recursion desired, echoed */
	struct dns_question q;
};

/* Query parse results (besides 0). */
#define DNS_EMALFORMED (-1) /* not DNS: no reply at all */
#define DNS_EFORMERR (-2) /* header readable: reply FORMERR */
#define DNS_ENOTIMP (-3) /* not a standard one-question query: NOTIMP */

/*
 * A guest's query: a standard query (QR 0, opcode 0) with exactly one
 * question whose labels are letters, digits, '-' and '_' only (so the
 * text form matched against the allow list is exactly what upstream
 * resolves).  Answer/authority sections must be empty; an additional
 * section (EDNS OPT) is ignored.
 */
int dns_query_parse(const uint8_t *msg, size_t len, struct dns_query *q);

/* A reply with rcode and q's question, no answers; its length or 0. */
size_t dns_build_error(const struct dns_query *q, int rcode, uint8_t *out,
		       size_t cap);

/* The query sent upstream for q, with id (RD set); its length or 0. */
size_t dns_build_query(uint16_t id, const struct dns_question *q, uint8_t *out,
		       size_t cap);

struct dns_rr {
	uint8_t name[DNS_NAME_WIRE_MAX];
	size_t name_len;
	uint16_t type;
	uint32_t ttl;
	uint8_t rdata[DNS_NAME_WIRE_MAX]; /* A: 4, AAAA: 16, CNAME: a name */
	uint16_t rdlen;
};

struct dns_answer {
	int rcode; /* NOERROR, NXDOMAIN or SERVFAIL */
	size_t n;
	struct dns_rr rr[DNS_ANSWER_MAX];
};

/*
 * An upstream's response to the query (id, question q).  Kept: answers of
 * class IN and type A, AAAA or CNAME whose owner is the question's name or
 * the target of a CNAME kept before (so an upstream cannot slip in
 * addresses of other names), at most DNS_ANSWER_MAX.  Rcodes other than
 * NOERROR and NXDOMAIN, and truncated responses, become SERVFAIL.
 * Returns 0, or -1 if msg is not a valid response to that query.
 */
int dns_response_parse(const uint8_t *msg, size_t len, uint16_t id,
		       const struct dns_question *q, struct dns_answer *a);

/*
 * The guest's reply to q from a: as many answers as fit in cap (no
 * compression), *n_used of them (a prefix of a->rr).  Length or 0.
 */
size_t dns_build_reply(const struct dns_query *q, const struct dns_answer *a,
		       uint8_t *out, size_t cap, size_t *n_used);

/*
 * DNS over TCP (RFC 1035 4.2.2): each message comes after its length, 2
 * bytes big-endian.  Looks at the len bytes received so far: 1 when buf
 * starts with a whole message (its length into *msg_len, the message at
 * buf + 2), 0 when more bytes are needed, -1 when the announced length is
 * 0 or above max (the connection is to be closed: it is not DNS, or too
 * big to be a query).
 */
int dns_tcp_frame(const uint8_t *buf, size_t len, size_t max, size_t *msg_len);

/*
 * An allow-list entry: "name" or "*.name", labels of letters, digits,
 * '-' and '_', at most 253 characters, one final dot dropped; lowercased
 * into out (DNS_NAME_TEXT_MAX + 1 bytes).  0 or -1 with err filled in.
 */
int dns_pattern_normalize(const char *in, char *out, char *err, size_t errlen);

/* Whether name (lowercase, from dns_query_parse) matches a pattern. */
bool dns_name_allowed(const char *name, char *const *patterns, size_t n);

/*
 * "a.b.c.d" or "a.b.c.d:port" (port 53 by default) into sa.  0 or -1
 * with err filled in.
 */
int dns_upstream_parse(const char *s, struct sockaddr_in *sa, char *err,
		       size_t errlen);

/* The first IPv4 nameserver of resolv.conf (path) into sa; 0 or -1. */
int dns_upstream_from_resolv(const char *path, struct sockaddr_in *sa,
			     char *err, size_t errlen);

struct net_policy;
/*
 * Set p's domains (NULL-terminated list of patterns, at most
 * KILN_NET_LIST_MAX, normalized, duplicates dropped) and upstream (NULL:
 * none recorded).  0 or a negative kiln status with err filled in.
 */
int net_policy_set_dns(struct net_policy *p, const char *const *domains,
		       const char *upstream, char *err, size_t errlen);

/*
 * The resolver process of sandbox id (slot), run by libkiln as root.
 * exe: the kiln-dns program; dir: <state_dir>/net, holding <id>.json (the
 * record the resolver reads), <id>.dns.pid and <id>.dns.log.  start
 * replaces a running one and returns once it listens (or failed, with
 * its message); reload makes it reread the record; stop ends it (no
 * resolver is not an error).  0 or a negative kiln status.
 */
int dns_proc_start(const char *exe, const char *dir, const char *id,
		   uint32_t slot, char *err, size_t errlen);
int dns_proc_reload(const char *dir, const char *id, char *err, size_t errlen);
void dns_proc_stop(const char *dir, const char *id);
/* The pid of id's resolver if it runs, else 0. */
int dns_proc_pid(const char *dir, const char *id);

#endif
