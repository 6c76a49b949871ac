/* SPDX-License-Identifier: MIT */
/*
 * The sandbox resolver's DNS messages and allow list (src/lib/dns_msg.c,
 * dns_name.c), and the domain part of the network policy (checks, stored
 * JSON, nft scripts).  The resolver carrying real queries:
 * tests/integration/net.sh (net_dns_* checks).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/net.h"

/* a query for name (dotted) of type A, id 0xbeef, RD */
static size_t query(uint8_t *m, const char *name, uint16_t type)
{
	size_t off = 12;

	memset(m, 0, 12);
	m[0] = 0xbe;
	m[1] = 0xef;
	m[2] = 0x01; /* RD */
	m[5] = 1;
	while (*name) {
		size_t l = strcspn(name, ".");

		m[off++] = (uint8_t)l;
		memcpy(m + off, name, l);
		off += l;
		name += l + (name[l] ? 1 : 0);
	}
	m[off++] = 0;
	m[off++] = (uint8_t)(type >> 8);
	m[off++] = (uint8_t)type;
	m[off++] = 0;
	m[off++] = 1;
	return off;
}

static void test_query_parse(void **state)
{
	uint8_t m[600];
	struct dns_query q;
	size_t n = query(m, "WWW.Allowed.test", DNS_TYPE_A);

	assert_int_equal(dns_query_parse(m, n, &q), 0);
	assert_string_equal(q.q.name, "www.allowed.test");
	assert_int_equal(q.id, 0xbeef);
	assert_true(q.rd);
	assert_int_equal(q.q.qtype, DNS_TYPE_A);
	/* every truncation is refused, none crashes */
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(dns_query_parse(m, i, &q), 0);
	/* a response is never answered */
	m[2] |= 0x80;
	assert_int_equal(dns_query_parse(m, n, &q), DNS_EMALFORMED);
	m[2] &= 0x7f;
	/* two questions; a non-zero opcode */
	m[5] = 2;
	assert_int_equal(dns_query_parse(m, n, &q), DNS_ENOTIMP);
	m[5] = 1;
	m[2] |= 0x08; /* opcode 1 */
	assert_int_equal(dns_query_parse(m, n, &q), DNS_ENOTIMP);
	m[2] &= ~0x08;
	/* a dot inside a label would make the text lie about the name */
	n = query(m, "allowed.test", DNS_TYPE_A);
	m[12 + 1 + 6] = 'X';
	assert_int_equal(dns_query_parse(m, n, &q), 0);
	m[12 + 1 + 3] = '.';
	assert_int_equal(dns_query_parse(m, n, &q), DNS_EFORMERR);
	/* a compression pointer in a query pointing at itself */
	n = 12;
	m[n++] = 0xc0;
	m[n++] = 12;
	m[n++] = 0;
	m[n++] = 1;
	m[n++] = 0;
	m[n++] = 1;
	assert_int_equal(dns_query_parse(m, n, &q), DNS_EFORMERR);
	/* a label of 64 and names over 255 bytes */
	memset(m + 12, 0, sizeof(m) - 12);
	m[12] = 64;
	memset(m + 13, 'a', 64);
	assert_int_equal(dns_query_parse(m, 12 + 1 + 64 + 1 + 4, &q),
			 DNS_EFORMERR);
	n = 12;
	for (int i = 0; i < 5; i++) {
		m[n++] = 63;
		memset(m + n, 'a', 63);
		n += 63;
	}
	m[n++] = 0;
	n += 4;
	assert_int_equal(dns_query_parse(m, n, &q), DNS_EFORMERR);
}

/* an answer to q: CNAME via compression, then A, and a stray A */
static size_t response(uint8_t *m, const uint8_t *qm, size_t qn, uint16_t id)
{
	size_t off = qn;
	static const uint8_t rrs[] = {
		/* allowed.test CNAME a.allowed.test (pointer to 12) */
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 4, 1, 'a', 0xc0, 12,
		/* a.allowed.test (pointer to the CNAME's rdata) A 10.1.2.3 */
		0xc0, 0, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 10, 1, 2, 3,
		/* other.test A 6.6.6.6: not in the chain */
		5, 'o', 't', 'h', 'e', 'r', 4, 't', 'e', 's', 't', 0, 0, 1, 0,
		1, 0, 0, 0, 9, 0, 4, 6, 6, 6, 6};

	memcpy(m, qm, qn);
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[2] = 0x81;
	m[3] = 0x80;
	m[7] = 3;
	memcpy(m + off, rrs, sizeof(rrs));
	m[off + 16 + 1] = (uint8_t)(qn + 12 + 2); /* -> "a" + ptr */
	return off + sizeof(rrs);
}

static void test_response(void **state)
{
	uint8_t qm[300], m[600], out[DNS_UDP_MAX];
	static struct dns_answer a, back;
	struct dns_query q;
	size_t qn = query(qm, "allowed.test", DNS_TYPE_A), n, used, len;

	assert_int_equal(dns_query_parse(qm, qn, &q), 0);
	n = response(m, qm, qn, 0x4242);
	assert_int_equal(dns_response_parse(m, n, 0x4242, &q.q, &a), 0);
	assert_int_equal(a.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(a.n, 2); /* the stray A is left out */
	assert_int_equal(a.rr[0].type, DNS_TYPE_CNAME);
	assert_int_equal(a.rr[1].type, DNS_TYPE_A);
	assert_int_equal(a.rr[1].ttl, 300);
	assert_memory_equal(a.rr[1].rdata, "\x0a\x01\x02\x03", 4);
	/* wrong id, truncations */
	assert_int_equal(dns_response_parse(m, n, 0x4243, &q.q, &a), -1);
	for (size_t i = 0; i < n; i++)
		if (dns_response_parse(m, i, 0x4242, &q.q, &a) == 0)
			assert_true(i >= n - 22); /* only the stray A cut */
	/* a forward compression pointer */
	n = response(m, qm, qn, 0x4242);
	m[qn + 1] = (uint8_t)(qn + 20);
	assert_int_equal(dns_response_parse(m, n, 0x4242, &q.q, &a), -1);
	/* the reply for the guest reads back the same */
	n = response(m, qm, qn, 0x4242);
	assert_int_equal(dns_response_parse(m, n, 0x4242, &q.q, &a), 0);
	len = dns_build_reply(&q, &a, out, sizeof(out), &used);
	assert_true(len > 0);
	assert_int_equal(used, 2);
	assert_int_equal(out[0], 0xbe);
	assert_int_equal(dns_response_parse(out, len, 0xbeef, &q.q, &back), 0);
	assert_int_equal(back.n, 2);
	assert_memory_equal(back.rr[1].rdata, a.rr[1].rdata, 4);
	/* what does not fit is left out, never overflows */
	len = dns_build_reply(&q, &a, out, qn + 20, &used);
	assert_int_equal(used, 0);
	assert_int_equal(len, qn);
	/* SERVFAIL upstream stays SERVFAIL; REFUSED becomes SERVFAIL */
	m[3] = 0x85;
	assert_int_equal(dns_response_parse(m, n, 0x4242, &q.q, &a), 0);
	assert_int_equal(a.rcode, DNS_RCODE_SERVFAIL);
	assert_int_equal(a.n, 0);
	/* error replies carry the question */
	len = dns_build_error(&q, DNS_RCODE_REFUSED, out, sizeof(out));
	assert_int_equal(len, qn);
	assert_int_equal(out[3] & 0xf, DNS_RCODE_REFUSED);
	assert_int_equal(out[2] & 0x80, 0x80);
}

static void test_patterns(void **state)
{
	char *pats[3], a[256], b[256], c[256], err[256];

	assert_int_equal(
		dns_pattern_normalize("Allowed.TEST.", a, err, sizeof(err)), 0);
	assert_string_equal(a, "allowed.test");
	assert_int_equal(
		dns_pattern_normalize("*.Ex-ample.com", b, err, sizeof(err)),
		0);
	assert_string_equal(b, "*.ex-ample.com");
	assert_int_equal(dns_pattern_normalize("_srv.x", c, err, sizeof(err)),
			 0);
	assert_int_equal(dns_pattern_normalize("*", c, err, sizeof(err)), -1);
	assert_int_equal(dns_pattern_normalize("a..b", c, err, sizeof(err)),
			 -1);
	assert_int_equal(dns_pattern_normalize("a.*.b", c, err, sizeof(err)),
			 -1);
	assert_int_equal(dns_pattern_normalize("", c, err, sizeof(err)), -1);
	assert_int_equal(dns_pattern_normalize("a b", c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a b"));
	pats[0] = a;
	pats[1] = b;
	assert_true(dns_name_allowed("allowed.test", pats, 2));
	assert_false(dns_name_allowed("www.allowed.test", pats, 2));
	assert_false(dns_name_allowed("allowed.test.evil", pats, 2));
	assert_false(dns_name_allowed("notallowed.test", pats, 2));
	assert_true(dns_name_allowed("a.b.ex-ample.com", pats, 2));
	assert_true(dns_name_allowed("x.ex-ample.com", pats, 2));
	assert_false(dns_name_allowed("ex-ample.com", pats, 2));
	assert_false(dns_name_allowed("xex-ample.com", pats, 2));
	assert_false(dns_name_allowed("", pats, 2));
	assert_false(dns_name_allowed("allowed.test", pats, 0));
}

static void test_upstream(void **state)
{
	struct sockaddr_in sa;
	char err[256], path[] = "/tmp/kiln-test-resolv-XXXXXX";
	FILE *f;
	int fd;

	assert_int_equal(dns_upstream_parse("10.1.2.3", &sa, err, sizeof(err)),
			 0);
	assert_int_equal(ntohs(sa.sin_port), 53);
	assert_int_equal(
		dns_upstream_parse("10.1.2.3:5353", &sa, err, sizeof(err)), 0);
	assert_int_equal(ntohs(sa.sin_port), 5353);
	assert_int_equal(
		dns_upstream_parse("10.1.2.3:0", &sa, err, sizeof(err)), -1);
	assert_int_equal(dns_upstream_parse("10.1.2.3:", &sa, err, sizeof(err)),
			 -1);
	assert_int_equal(dns_upstream_parse("host", &sa, err, sizeof(err)), -1);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# c\nnameserver ::1\nnameserver 192.0.2.53\n", f);
	fclose(f);
	assert_int_equal(dns_upstream_from_resolv(path, &sa, err, sizeof(err)),
			 0);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), 0xc0000235);
	unlink(path);
	assert_int_equal(dns_upstream_from_resolv(path, &sa, err, sizeof(err)),
			 -1);
}

static void test_policy_domains(void **state)
{
	static const char *const doms[] = {"Allowed.test", "*.allowed.test",
					   "allowed.test.", NULL};
	static const char *const bad[] = {"bad name", NULL};
	struct kiln_net_policy kp;
	struct net_policy p, back;
	struct net_addrs a;
	char err[256], *json, *script;

	kiln_net_policy_init(&kp);
	kp.allow_domain = doms;
	/* domains need the custom mode */
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	kp.mode = KILN_NET_CUSTOM;
	kp.dns_upstream = "10.0.0.1";
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_domains, 2); /* the duplicate dropped */
	assert_string_equal(p.domains[0], "allowed.test");
	assert_string_equal(p.dns_upstream, "10.0.0.1:53");
	assert_true(net_policy_wants_dns(&p));
	json = net_policy_to_json(&p);
	assert_non_null(json);
	assert_int_equal(net_policy_from_json(json, &back, err, sizeof(err)),
			 0);
	assert_int_equal(back.n_domains, 2);
	assert_string_equal(back.domains[1], "*.allowed.test");
	assert_string_equal(back.dns_upstream, "10.0.0.1:53");
	net_policy_free(&back);
	free(json);
	/* a record without domains (older) still reads */
	assert_int_equal(net_policy_from_json(
				 "{\"mode\":\"none\",\"allow\":[],\"deny\":[],"
				 "\"publish\":[]}",
				 &back, err, sizeof(err)),
			 0);
	assert_false(net_policy_wants_dns(&back));
	net_policy_free(&back);
	assert_int_equal(
		net_policy_from_json("{\"mode\":\"custom\",\"allow\":[],"
				     "\"deny\":[],\"publish\":[],\"domains\":"
				     "[\"a b\"]}",
				     &back, err, sizeof(err)),
		KILN_EFORMAT);
	assert_int_equal(
		net_policy_from_json("{\"mode\":\"custom\",\"allow\":[],"
				     "\"deny\":[],\"publish\":[],\"domains\":"
				     "[7]}",
				     &back, err, sizeof(err)),
		KILN_EFORMAT);
	/* the rules: DNS only to the gateway, DoT nowhere */
	assert_int_equal(net_addrs_for_slot(5, &a, err, sizeof(err)), 0);
	script = net_nft_host_script(&a, &p);
	assert_non_null(strstr(script, "th dport { 53, 853 } drop"));
	assert_non_null(strstr(script, "@allowed_dns4 accept"));
	/* the resolver's pins survive a change that keeps a resolver */
	assert_null(strstr(script, "flush set inet kiln-5 allowed_dns4"));
	free(script);
	script = net_nft_ns_script(&a, &p);
	assert_non_null(strstr(script, "ip saddr 10.202.0.22 ip daddr "
				       "10.202.0.21 meta l4proto { tcp, udp } "
				       "th dport 53 accept"));
	free(script);
	net_policy_free(&p);
	kp.allow_domain = bad;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	kp.allow_domain = NULL;
	kp.dns_upstream = "nope";
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
}

/* DNS over TCP framing: whole, partial, empty, too big. */
static void test_tcp_frame(void **state)
{
	static const uint8_t two[] = {0, 3, 'a', 'b', 'c', 0, 1, 'x'};
	uint8_t big[2] = {0x04, 0x01}; /* 1025 */
	size_t n = 99;

	(void)state;
	assert_int_equal(dns_tcp_frame(two, 0, 1024, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dns_tcp_frame(two, 1, 1024, &n), 0);
	assert_int_equal(dns_tcp_frame(two, 4, 1024, &n), 0);
	assert_int_equal(dns_tcp_frame(two, 5, 1024, &n), 1);
	assert_int_equal(n, 3);
	/* only the first message counts; the rest waits its turn */
	assert_int_equal(dns_tcp_frame(two, sizeof(two), 1024, &n), 1);
	assert_int_equal(n, 3);
	assert_int_equal(dns_tcp_frame(two + 5, 3, 1024, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(dns_tcp_frame(two, 5, 2, &n), -1);
	assert_int_equal(dns_tcp_frame((const uint8_t *)"\0\0", 2, 1024, &n),
			 -1);
	assert_int_equal(dns_tcp_frame(big, 2, 1024, &n), -1);
	big[1] = 0;
	assert_int_equal(dns_tcp_frame(big, 2, 1024, &n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_policy_domains),
		cmocka_unit_test(test_tcp_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
