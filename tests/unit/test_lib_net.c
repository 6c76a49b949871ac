/* SPDX-License-Identifier: MIT */
/*
 * Sandbox networking without touching the host: the address plan, CIDR
 * and policy checking, the stored JSON form, and the nftables scripts.
 * (The rules carrying real traffic: tests/integration/net.sh, as root.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/net.h"

static void test_addrs(void **state)
{
	struct net_addrs a;
	char err[256], ip[16];

	assert_int_equal(net_addrs_for_slot(0, &a, err, sizeof(err)), 0);
	assert_string_equal(net_ip_str(a.host_link, ip), "10.201.0.1");
	assert_string_equal(net_ip_str(a.ns_link, ip), "10.201.0.2");
	assert_string_equal(net_ip_str(a.ns_tap, ip), "10.202.0.1");
	assert_string_equal(net_ip_str(a.guest, ip), "10.202.0.2");
	assert_string_equal(a.host_if, "kv0");
	assert_int_equal(net_addrs_for_slot(65, &a, err, sizeof(err)), 0);
	assert_string_equal(net_ip_str(a.guest, ip), "10.202.1.6");
	assert_string_equal(a.host_if, "kv65");
	/* the last slot ends exactly at the end of each /16 */
	assert_int_equal(net_addrs_for_slot(NET_SLOT_MAX, &a, err, sizeof(err)),
			 0);
	assert_string_equal(net_ip_str(a.guest, ip), "10.202.255.254");
	assert_string_equal(net_ip_str(a.ns_link, ip), "10.201.255.254");
	assert_int_equal(
		net_addrs_for_slot(NET_SLOT_MAX + 1, &a, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "out of range"));
}

static void test_cidr(void **state)
{
	static const char *const bad[] = {"",
					  "1.2.3",
					  "1.2.3.4/",
					  "1.2.3.4/33",
					  "1.2.3.4/-1",
					  "1.2.3.4/1x",
					  "256.1.1.1",
					  "1.2.3.4 ",
					  "::1",
					  "01.2.3.4/8 ",
					  "1.2.3.4/8/8",
					  "a.b.c.d",
					  "1.2.3.4/008888888888888888888"};
	struct net_cidr c;
	char err[256];

	assert_int_equal(net_cidr_parse("10.1.2.3/8", &c, err, sizeof(err)), 0);
	assert_int_equal(c.addr, 0x0a000000u); /* host bits cleared */
	assert_int_equal(c.len, 8);
	assert_int_equal(net_cidr_parse("192.0.2.7", &c, err, sizeof(err)), 0);
	assert_int_equal(c.len, 32);
	assert_int_equal(c.addr, 0xc0000207u);
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &c, err, sizeof(err)), 0);
	assert_int_equal(c.addr, 0);
	assert_int_equal(c.len, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(net_cidr_parse(bad[i], &c, err, sizeof(err)),
				 KILN_EINVAL);
		assert_non_null(strstr(err, "bad CIDR"));
	}
	assert_int_equal(net_cidr_parse(NULL, &c, err, sizeof(err)),
			 KILN_EINVAL);
}

static void test_policy_checks(void **state)
{
	static const char *const good[] = {"10.0.0.0/8", "192.0.2.1", NULL};
	static const char *const badl[] = {"10.0.0.0/8", "nope", NULL};
	const struct kiln_net_publish dup[] = {{80, 8080, 0}, {80, 81, 0}};
	const struct kiln_net_publish tcpudp[] = {{53, 53, 0}, {53, 53, 1}};
	const struct kiln_net_publish zero[] = {{0, 80, 0}};
	struct kiln_net_policy kp;
	struct net_policy p;
	char err[256];

	/* NULL is "none" */
	assert_int_equal(net_policy_from_public(NULL, &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, KILN_NET_NONE);
	net_policy_free(&p);

	kiln_net_policy_init(&kp);
	assert_int_equal(kp.mode, KILN_NET_NONE);
	kp.mode = (enum kiln_net_mode)7;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "unknown network mode"));

	/* lists only with custom */
	kp.mode = KILN_NET_ALLOW_ALL;
	kp.allow_cidr = good;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "custom"));

	kp.mode = KILN_NET_CUSTOM;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_allow, 2);
	assert_int_equal(p.allow[1].len, 32);
	net_policy_free(&p);

	kp.deny_cidr = badl;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "nope"));
	assert_null(p.allow); /* nothing half-filled is left */
	kp.deny_cidr = NULL;

	kp.publish = dup;
	kp.n_publish = 2;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "published twice"));
	kp.publish = tcpudp;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	net_policy_free(&p);
	kp.publish = zero;
	kp.n_publish = 1;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	kp.publish = NULL;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	kp.n_publish = 0;

	/* bandwidth: 0 (none) or within the range */
	kp.rate_bps = KILN_NET_RATE_MIN - 1;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "bandwidth"));
	kp.rate_bps = KILN_NET_RATE_MAX + 1;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	kp.rate_bps = KILN_NET_RATE_MAX;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	assert_true(p.rate_bps == KILN_NET_RATE_MAX);
	net_policy_free(&p);
}

static void test_policy_list_max(void **state)
{
	const char **list = calloc(KILN_NET_LIST_MAX + 2, sizeof(*list));
	struct kiln_net_policy kp;
	struct net_policy p;
	char err[256];

	assert_non_null(list);
	for (int i = 0; i <= KILN_NET_LIST_MAX; i++)
		list[i] = "10.0.0.0/8";
	kiln_net_policy_init(&kp);
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = list;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(err, "too many"));
	list[KILN_NET_LIST_MAX] = NULL;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_allow, KILN_NET_LIST_MAX);
	net_policy_free(&p);
	free(list);
}

static void test_policy_json(void **state)
{
	static const char *const allow[] = {"10.0.0.0/8", NULL};
	static const char *const deny[] = {"10.9.0.0/16", "10.8.0.1", NULL};
	const struct kiln_net_publish pub[] = {{8080, 80, 0}, {5353, 53, 1}};
	static const char *const bad[] = {
		"",
		"[]",
		"{\"mode\":\"none\"}",
		"{\"mode\":\"open\",\"allow\":[],\"deny\":[],\"publish\":[]}",
		"{\"mode\":\"custom\",\"allow\":[\"1.2.3\"],\"deny\":[],"
		"\"publish\":[]}",
		"{\"mode\":\"none\",\"allow\":[],\"deny\":[],\"publish\":"
		"[{\"host\":0,\"guest\":1,\"udp\":false}]}",
		"{\"mode\":\"none\",\"allow\":[],\"deny\":[],\"publish\":[],"
		"\"extra\":1}",
		"{\"mode\":\"none\",\"allow\":[],\"deny\":[],\"publish\":[],"
		"\"rate_bps\":-5}",
	};
	struct kiln_net_policy kp;
	struct net_policy p, q;
	char err[256], *s, *t;

	kiln_net_policy_init(&kp);
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = allow;
	kp.deny_cidr = deny;
	kp.publish = pub;
	kp.n_publish = 2;
	kp.rate_bps = 5000000;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	s = net_policy_to_json(&p);
	assert_non_null(s);
	assert_int_equal(net_policy_from_json(s, &q, err, sizeof(err)), 0);
	t = net_policy_to_json(&q);
	assert_string_equal(s, t);
	assert_int_equal(q.mode, KILN_NET_CUSTOM);
	assert_int_equal(q.n_deny, 2);
	assert_int_equal(q.n_publish, 2);
	assert_true(q.publish[1].udp);
	assert_int_equal(q.publish[1].host_port, 5353);
	assert_true(q.rate_bps == 5000000);
	free(s);
	free(t);
	net_policy_free(&p);
	net_policy_free(&q);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			net_policy_from_json(bad[i], &q, err, sizeof(err)),
			KILN_EFORMAT);
		assert_null(q.allow);
	}
}

static void test_scripts(void **state)
{
	static const char *const allow[] = {"192.0.2.0/24", NULL};
	static const char *const deny[] = {"192.0.2.9", NULL};
	const struct kiln_net_publish pub[] = {{8080, 80, 0}};
	struct kiln_net_policy kp;
	struct net_policy p;
	struct net_addrs a;
	char err[256], *s;

	assert_int_equal(net_addrs_for_slot(7, &a, err, sizeof(err)), 0);
	/* none: empty allow set, host addresses dropped, nothing published */
	assert_int_equal(net_policy_from_public(NULL, &p, err, sizeof(err)), 0);
	s = net_nft_host_script(&a, &p);
	assert_non_null(s);
	assert_non_null(strstr(s, "add table inet kiln-7\n"));
	assert_non_null(strstr(s, "flush set inet kiln-7 allow4\n"));
	assert_null(strstr(s, "add element"));
	assert_null(strstr(s, "dnat ip to"));
	/* no resolver under none: nothing pinned may stay reachable */
	assert_non_null(strstr(s, "flush set inet kiln-7 allowed_dns4\n"));
	assert_non_null(strstr(s, "input iifname \"kv7\" drop\n"));
	assert_non_null(
		strstr(s, "forward iifname \"kv7\" oifname \"kv*\" drop\n"));
	assert_non_null(strstr(s, "ip saddr != 10.202.0.30 drop\n"));
	free(s);

	kiln_net_policy_init(&kp);
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = allow;
	kp.deny_cidr = deny;
	kp.publish = pub;
	kp.n_publish = 1;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	s = net_nft_host_script(&a, &p);
	assert_non_null(s);
	assert_non_null(
		strstr(s, "add element inet kiln-7 allow4 { 192.0.2.0/24 }\n"));
	assert_non_null(
		strstr(s, "add element inet kiln-7 deny4 { 192.0.2.9/32 }\n"));
	/* deny is checked before allow */
	assert_true(strstr(s, "ip daddr @deny4 drop") <
		    strstr(s, "ip daddr @allow4 accept"));
	assert_non_null(strstr(s, "prerouting fib daddr type local tcp dport "
				  "8080 dnat ip to 10.202.0.30:80\n"));
	assert_non_null(strstr(s, "output fib daddr type local tcp dport "
				  "8080 dnat ip to 10.202.0.30:80\n"));
	free(s);
	net_policy_free(&p);

	kp.mode = KILN_NET_ALLOW_ALL;
	kp.allow_cidr = kp.deny_cidr = NULL;
	kp.n_publish = 0;
	assert_int_equal(net_policy_from_public(&kp, &p, err, sizeof(err)), 0);
	s = net_nft_host_script(&a, &p);
	assert_non_null(strstr(s, "allow4 { 0.0.0.0/0 }"));
	/* allow-all never opens the host's own addresses */
	assert_null(strstr(s, "input iifname \"kv7\" ip saddr"));
	free(s);
	s = net_nft_ns_script(&a, &p);
	assert_non_null(s);
	assert_non_null(strstr(s, "iifname \"tap0\" ip saddr != 10.202.0.30 "
				  "drop"));
	free(s);
	net_policy_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_policy_checks),
		cmocka_unit_test(test_policy_list_max),
		cmocka_unit_test(test_policy_json),
		cmocka_unit_test(test_scripts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
