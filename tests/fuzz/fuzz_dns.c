/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the sandbox resolver's DNS parser (src/lib/
 * dns_msg.c): the input is parsed as a guest's query and as an upstream's
 * response to a fixed question (and, when it is a valid query, to its own
 * question), and every parse that succeeds is turned into a reply whose
 * invariants are checked: it fits the buffer, parses back as a response
 * with the same answers, and query names are within bounds.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_dns.c src/lib/dns_msg.c src/lib/dns_name.c -o fuzz_dns
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const struct dns_query *q, const struct dns_answer *a)
{
	static struct dns_answer back;
	uint8_t out[DNS_UDP_MAX];
	size_t used, len = dns_build_reply(q, a, out, sizeof(out), &used);

	if (!len)
		return;
	if (len > sizeof(out) || used > a->n)
		abort();
	/* TC is set exactly when answers had to be left out */
	if (!!(out[2] & 0x02) != (used < a->n))
		abort();
	/*
	 * Our own reply must read back as the same answers. kiln's parser
	 * treats a truncated reply as SERVFAIL (it does not retry over TCP),
	 * so read what was kept with TC cleared.
	 */
	out[2] &= (uint8_t)~0x02;
	if (dns_response_parse(out, len, q->id, &q->q, &back) ||
	    back.n != used || back.rcode != a->rcode)
		abort();
	for (size_t i = 0; i < used; i++)
		if (back.rr[i].type != a->rr[i].type ||
		    back.rr[i].rdlen != a->rr[i].rdlen ||
		    memcmp(back.rr[i].rdata, a->rr[i].rdata, a->rr[i].rdlen))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t fixed[] = {7,   'a', 'l', 'l', 'o', 'w', 'e',
					'd', 4,	  't', 'e', 's', 't', 0};
	static struct dns_answer a;
	struct dns_query q, fq = {.id = 0x1234};
	uint8_t out[DNS_UDP_MAX];
	char *pat[] = {"allowed.test", "*.allowed.test"};

	memcpy(fq.q.wire, fixed, sizeof(fixed));
	fq.q.wire_len = sizeof(fixed);
	fq.q.qtype = DNS_TYPE_A;
	fq.q.qclass = DNS_CLASS_IN;
	if (size >= 2)
		fq.id = (uint16_t)(data[0] << 8 | data[1]);
	if (!dns_response_parse(data, size, fq.id, &fq.q, &a))
		check_reply(&fq, &a);

	/* as a TCP stream: frames back to back, each parsed as a query */
	for (size_t off = 0, n; off < size;) {
		int f = dns_tcp_frame(data + off, size - off, DNS_TCP_QUERY_MAX,
				      &n);

		if (f <= 0)
			break;
		if (!n || n > DNS_TCP_QUERY_MAX || n + 2 > size - off)
			abort();
		(void)dns_query_parse(data + off + 2, n, &q);
		off += 2 + n;
	}

	int rc = dns_query_parse(data, size, &q);

	if (rc != DNS_EMALFORMED && dns_build_error(&q, DNS_RCODE_REFUSED, out,
						    sizeof(out)) > sizeof(out))
		abort();
	if (rc)
		return 0;
	if (strlen(q.q.name) > DNS_NAME_TEXT_MAX ||
	    q.q.wire_len > DNS_NAME_WIRE_MAX)
		abort();
	(void)dns_name_allowed(q.q.name, pat, 2);
	if (dns_build_query(q.id, &q.q, out, sizeof(out)) == 0 &&
	    q.q.wire_len + DNS_HDR_LEN + 4 <= sizeof(out))
		abort();
	if (!dns_response_parse(data, size, q.id, &q.q, &a))
		check_reply(&q, &a);
	return 0;
}
