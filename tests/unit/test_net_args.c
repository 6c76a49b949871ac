/* SPDX-License-Identifier: MIT */
/*
 * The network policy options of `kiln create` and `kiln network`
 * (src/cli/net_args.c), compiled in directly: the CLI is not in an archive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/net_args.c"

static uint64_t rate(const char *s)
{
	char err[256];
	uint64_t v = 0;

	return net_parse_rate(s, &v, err, sizeof(err)) ? 0 : v;
}

static void test_rate(void **state)
{
	char err[256];
	uint64_t v = 7;

	(void)state;
	assert_int_equal(rate("10mbit"), 10000000);
	assert_int_equal(rate("10Mbit"), 10000000);
	assert_int_equal(rate("1g"), 1000000000);
	assert_int_equal(rate("1gbit"), 1000000000);
	assert_int_equal(rate("500k"), 500000);
	assert_int_equal(rate("500kbit"), 500000);
	assert_int_equal(rate("64000"), 64000);
	assert_int_equal(rate("64000bit"), 64000);
	assert_int_equal(rate("1.5m"), 1500000);
	assert_int_equal(rate("0.25g"), 250000000);
	/* bps as in tc: bytes per second */
	assert_int_equal(rate("1mbps"), 8000000);
	assert_int_equal(rate("10kbps"), 80000);
	assert_int_equal(rate("100g"), KILN_NET_RATE_MAX);
	assert_int_equal(rate("12.5gbps"), KILN_NET_RATE_MAX);
	/* out of range */
	assert_int_equal(net_parse_rate("63999", &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(v, 7);
	assert_int_equal(rate("0"), 0);
	assert_int_equal(rate("101g"), 0);
	assert_int_equal(rate("100000000001"), 0);
	assert_int_equal(rate("99999999999999999999999g"), 0);
	/* not a rate */
	assert_int_equal(net_parse_rate("fast", &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a rate"));
	assert_int_equal(rate(""), 0);
	assert_int_equal(rate("10 mbit"), 0);
	assert_int_equal(rate("10mbits"), 0);
	assert_int_equal(rate("-10m"), 0);
	assert_int_equal(rate("+10m"), 0);
	assert_int_equal(rate("1.m"), 0);
	assert_int_equal(rate(".5g"), 0);
	assert_int_equal(rate("10kib"), 0);
	assert_int_equal(rate("0x100000"), 0);
}

static void test_rate_format(void **state)
{
	char b[32];

	(void)state;
	net_rate_format(10000000, b, sizeof(b));
	assert_string_equal(b, "10mbit");
	net_rate_format(1500000, b, sizeof(b));
	assert_string_equal(b, "1500kbit");
	net_rate_format(2000000000, b, sizeof(b));
	assert_string_equal(b, "2gbit");
	net_rate_format(64001, b, sizeof(b));
	assert_string_equal(b, "64001bit");
}

static void test_publish(void **state)
{
	struct kiln_net_publish p;
	char err[256];

	(void)state;
	assert_int_equal(net_parse_publish("8080:80", &p, err, sizeof(err)), 0);
	assert_int_equal(p.host_port, 8080);
	assert_int_equal(p.guest_port, 80);
	assert_int_equal(p.udp, 0);
	assert_int_equal(net_parse_publish("53:5353/udp", &p, err, 256), 0);
	assert_int_equal(p.udp, 1);
	assert_int_equal(p.guest_port, 5353);
	assert_int_equal(net_parse_publish("1:65535/tcp", &p, err, 256), 0);
	assert_int_equal(p.udp, 0);
	static const char *const bad[] = {
		"8080",
		"8080:",
		":80",
		"0:80",
		"80:0",
		"65536:1",
		"1:65536",
		"80:80/sctp",
		"80:80/",
		"80:80/TCP",
		"a:80",
		"80:8o",
		"-1:80",
		" 80:80",
		"80:80:90",
		"",
		"99999999999999:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(net_parse_publish(bad[i], &p, err, 256), -1);
		assert_non_null(strstr(err, "HOST_PORT:GUEST_PORT"));
	}
}

static void test_cidr_domain_upstream(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(net_check_cidr("10.0.0.0/8", err, 256), 0);
	assert_int_equal(net_check_cidr("1.2.3.4", err, 256), 0);
	assert_int_equal(net_check_cidr("0.0.0.0/0", err, 256), 0);
	assert_int_equal(net_check_cidr("1.2.3.4/32", err, 256), 0);
	static const char *const bad_cidr[] = {
		"10.0.0.0/33", "10.0.0.0/",   "10.0.0/8",
		"::1",	       "10.0.0.0/08", "10.0.0.0/-1",
		"10.0.0.0/8x", "example.com", "",
		"/8",	       "1.2.3.4/100", "01.2.3.4",
	};
	for (size_t i = 0; i < sizeof(bad_cidr) / sizeof(bad_cidr[0]); i++)
		assert_int_equal(net_check_cidr(bad_cidr[i], err, 256), -1);
	assert_non_null(strstr(err, "IPv4"));

	assert_int_equal(net_check_domain("example.com", err, 256), 0);
	assert_int_equal(net_check_domain("*.Example.COM.", err, 256), 0);
	assert_int_equal(net_check_domain("a_b-c.d", err, 256), 0);
	static const char *const bad_dom[] = {"",      "*",    "*.",   "a..b",
					      ".a",    "a b",  "a/b",  "*.*.a",
					      "a.*.b", "é.fr", "*a.b", "a.b.."};
	for (size_t i = 0; i < sizeof(bad_dom) / sizeof(bad_dom[0]); i++)
		assert_int_equal(net_check_domain(bad_dom[i], err, 256), -1);
	{
		char longlabel[80], longname[300];

		memset(longlabel, 'a', 64);
		longlabel[64] = '\0';
		assert_int_equal(net_check_domain(longlabel, err, 256), -1);
		longlabel[63] = '\0';
		assert_int_equal(net_check_domain(longlabel, err, 256), 0);
		for (size_t i = 0; i < 254; i++)
			longname[i] = i % 2 ? '.' : 'a';
		longname[254] = '\0'; /* ends with '.': 253 characters */
		assert_int_equal(net_check_domain(longname, err, 256), 0);
		longname[254] = 'a';
		longname[255] = '\0';
		assert_int_equal(net_check_domain(longname, err, 256), -1);
	}

	assert_int_equal(net_check_upstream("1.1.1.1", err, 256), 0);
	assert_int_equal(net_check_upstream("10.0.0.1:5353", err, 256), 0);
	assert_int_equal(net_check_upstream("10.0.0.1:0", err, 256), -1);
	assert_int_equal(net_check_upstream("10.0.0.1:", err, 256), -1);
	assert_int_equal(net_check_upstream("10.0.0.1:65536", err, 256), -1);
	assert_int_equal(net_check_upstream("dns.google", err, 256), -1);
	assert_int_equal(net_check_upstream("[::1]:53", err, 256), -1);
}

/* Parse options NAME, VALUE, ... into a policy; 0, -1 (add), -2 (finish). */
static int policy(struct net_args *a, struct kiln_net_policy *p, char *err,
		  int n, ...)
{
	va_list ap;
	int rc = 0;

	net_args_init(a);
	va_start(ap, n);
	for (int i = 0; i < n && !rc; i++) {
		enum net_opt o = (enum net_opt)va_arg(ap, int);
		const char *v = va_arg(ap, const char *);

		rc = net_args_add(a, o, v, err, 256);
	}
	va_end(ap);
	if (!rc && net_args_finish(a, p, err, 256))
		rc = -2;
	return rc;
}

static void test_policy(void **state)
{
	static struct net_args a;
	struct kiln_net_policy p;
	char err[256];

	(void)state;
	/* lists imply custom */
	assert_int_equal(policy(&a, &p, err, 3, NET_OPT_ALLOW_CIDR,
				"10.0.0.0/8", NET_OPT_ALLOW_DOMAIN,
				"*.example.com", NET_OPT_DENY_CIDR,
				"10.1.0.0/16"),
			 0);
	assert_int_equal(p.mode, KILN_NET_CUSTOM);
	assert_string_equal(p.allow_cidr[0], "10.0.0.0/8");
	assert_null(p.allow_cidr[1]);
	assert_string_equal(p.deny_cidr[0], "10.1.0.0/16");
	assert_string_equal(p.allow_domain[0], "*.example.com");
	assert_null(p.allow_domain[1]);
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_ALLOW_DOMAIN, "a.b"),
			 0);
	assert_int_equal(p.mode, KILN_NET_CUSTOM);
	assert_null(p.allow_cidr);
	/* nothing network-wise but a port: none, inbound only */
	assert_int_equal(policy(&a, &p, err, 3, NET_OPT_PUBLISH, "8080:80",
				NET_OPT_PUBLISH, "8080:80/udp",
				NET_OPT_BANDWIDTH, "10mbit"),
			 0);
	assert_int_equal(p.mode, KILN_NET_NONE);
	assert_int_equal(p.n_publish, 2);
	assert_int_equal(p.publish[1].udp, 1);
	assert_int_equal(p.rate_bps, 10000000);
	/* explicit modes */
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_NETWORK, "allow-all",
				NET_OPT_DNS_UPSTREAM, "10.0.0.1:53"),
			 0);
	assert_int_equal(p.mode, KILN_NET_ALLOW_ALL);
	assert_string_equal(p.dns_upstream, "10.0.0.1:53");
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_NETWORK, "custom"), 0);
	assert_int_equal(p.mode, KILN_NET_CUSTOM);
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_NETWORK, "custom",
				NET_OPT_DENY_CIDR, "1.2.3.4"),
			 0);
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_NETWORK, "none"), 0);
	assert_int_equal(p.mode, KILN_NET_NONE);

	/* contradictions */
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_NETWORK, "none",
				NET_OPT_ALLOW_CIDR, "1.2.3.4"),
			 -2);
	assert_non_null(strstr(err, "--network none"));
	assert_non_null(strstr(err, "--allow-cidr"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_ALLOW_DOMAIN, "a.b",
				NET_OPT_NETWORK, "none"),
			 -2);
	assert_non_null(strstr(err, "--allow-domain"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_NETWORK, "allow-all",
				NET_OPT_DENY_CIDR, "1.2.3.4"),
			 -2);
	assert_non_null(strstr(err, "allow-all contradicts --deny-cidr"));
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_DENY_CIDR, "1.2.3.4"),
			 -2);
	assert_non_null(strstr(err, "--deny-cidr only narrows"));
	assert_int_equal(
		policy(&a, &p, err, 1, NET_OPT_DNS_UPSTREAM, "1.1.1.1"), -2);
	assert_non_null(strstr(err, "--dns-upstream"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_ALLOW_CIDR, "1.1.1.1",
				NET_OPT_DNS_UPSTREAM, "1.1.1.1"),
			 -2);

	/* bad values and repeats name the option */
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_NETWORK, "open"), -1);
	assert_non_null(strstr(err, "--network: 'open'"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_NETWORK, "none",
				NET_OPT_NETWORK, "none"),
			 -1);
	assert_non_null(strstr(err, "--network given more than once"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_BANDWIDTH, "1m",
				NET_OPT_BANDWIDTH, "2m"),
			 -1);
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_ALLOW_CIDR, "x"), -1);
	assert_non_null(strstr(err, "--allow-cidr: 'x'"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_ALLOW_CIDR, "1.2.3.4",
				NET_OPT_ALLOW_CIDR, "1.2.3.4"),
			 -1);
	assert_non_null(strstr(err, "given twice"));
	assert_int_equal(policy(&a, &p, err, 2, NET_OPT_PUBLISH, "80:80",
				NET_OPT_PUBLISH, "80:81/tcp"),
			 -1);
	assert_non_null(strstr(err, "published twice"));
	assert_int_equal(policy(&a, &p, err, 1, NET_OPT_BANDWIDTH, "1"), -1);
	assert_non_null(strstr(err, "--bandwidth: '1' is out of range"));
	assert_int_equal(net_args_add(&a, NET_OPT_COUNT, "x", err, 256), -1);
}

static void test_list_max(void **state)
{
	static struct net_args a;
	static char names[KILN_NET_LIST_MAX + 1][32];
	char err[256];

	(void)state;
	net_args_init(&a);
	for (int i = 0; i <= KILN_NET_LIST_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "10.%d.%d.0/24", i / 256,
			 i % 256);
		int rc = net_args_add(&a, NET_OPT_ALLOW_CIDR, names[i], err,
				      sizeof(err));

		assert_int_equal(rc, i < KILN_NET_LIST_MAX ? 0 : -1);
	}
	assert_non_null(strstr(err, "more than 256"));
	assert_null(a.allow[KILN_NET_LIST_MAX]);
}

static void test_json_and_text(void **state)
{
	static const char *const allow[] = {"10.0.0.0/8", NULL};
	static const char *const doms[] = {"example.com", NULL};
	static const struct kiln_net_publish pub[] = {{8080, 80, 0},
						      {53, 53, 1}};
	struct kiln_net_policy p;
	char *s, *text = NULL;
	size_t len = 0;
	json_t *o;
	FILE *f;

	(void)state;
	kiln_net_policy_init(&p);
	p.mode = KILN_NET_CUSTOM;
	p.allow_cidr = allow;
	p.allow_domain = doms;
	p.publish = pub;
	p.n_publish = 2;
	p.rate_bps = 10000000;
	o = net_policy_json(&p, 5);
	assert_non_null(o);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		s, "{\"allow_cidr\":[\"10.0.0.0/8\"],\"allow_domain\":["
		   "\"example.com\"],\"deny_cidr\":[],\"dns_upstream\":null,"
		   "\"gateway\":\"10.202.0.21\",\"guest\":\"10.202.0.22\","
		   "\"mode\":\"custom\",\"publish\":[{\"guest_port\":80,"
		   "\"host_port\":8080,\"protocol\":\"tcp\"},{\"guest_port\":"
		   "53,\"host_port\":53,\"protocol\":\"udp\"}],\"rate_bps\":"
		   "10000000}");
	free(s);
	json_decref(o);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	net_policy_print(&p, 5, "  ", f);
	fclose(f);
	assert_non_null(strstr(text, "  mode:         custom\n"));
	assert_non_null(strstr(text, "allow cidr:   10.0.0.0/8\n"));
	assert_non_null(strstr(text, "deny cidr:    -\n"));
	assert_non_null(strstr(text, "publish:      8080:80/tcp, 53:53/udp\n"));
	assert_non_null(strstr(text, "bandwidth:    10mbit\n"));
	assert_non_null(strstr(text, "guest:        10.202.0.22 (gateway "
				     "10.202.0.21)\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rate_format),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_cidr_domain_upstream),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_list_max),
		cmocka_unit_test(test_json_and_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
