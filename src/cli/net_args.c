/* SPDX-License-Identifier: MIT */
/*
 * Network policy options (net_args.h).  Everything is checked here, with
 * messages naming the option, before libkiln checks it again: a typo must
 * fail before a sandbox is booted, not after.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/net_args.h"

const char *const net_opt_names[NET_OPT_COUNT] = {
	[NET_OPT_NETWORK] = "network",
	[NET_OPT_ALLOW_CIDR] = "allow-cidr",
	[NET_OPT_DENY_CIDR] = "deny-cidr",
	[NET_OPT_ALLOW_DOMAIN] = "allow-domain",
	[NET_OPT_PUBLISH] = "publish",
	[NET_OPT_BANDWIDTH] = "bandwidth",
	[NET_OPT_DNS_UPSTREAM] = "dns-upstream",
};

const char net_args_help[] =
	"network policy (root; see docs/NETWORK.md):\n"
	"  --network MODE       none (default: reaches nothing), allow-all\n"
	"                       (everything but the host and other "
	"sandboxes),\n"
	"                       custom (only what --allow-* names)\n"
	"  --allow-cidr CIDR    let the guest reach a.b.c.d[/N] (repeatable;\n"
	"                       implies custom)\n"
	"  --deny-cidr CIDR     never a.b.c.d[/N], even if allowed "
	"(repeatable;\n"
	"                       custom only)\n"
	"  --allow-domain NAME  resolve NAME (or *.NAME: every name below it)\n"
	"                       and reach its addresses (repeatable; implies\n"
	"                       custom)\n"
	"  --publish H:G[/tcp|/udp]  host port H to guest port G "
	"(repeatable)\n"
	"  --bandwidth RATE     limit each direction: 10mbit, 1g, 500k (bits/s;"
	"\n"
	"                       kbps/mbps are BYTES/s as in tc)\n"
	"  --dns-upstream A[:P] the resolver's upstream (default: the "
	"host's)\n";

void net_args_init(struct net_args *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = KILN_NET_NONE;
}

const char *net_mode_name(enum kiln_net_mode m)
{
	switch (m) {
	case KILN_NET_NONE:
		return "none";
	case KILN_NET_ALLOW_ALL:
		return "allow-all";
	case KILN_NET_CUSTOM:
		return "custom";
	}
	return "unknown";
}

/* A decimal number 1..max, digits only (no sign, no spaces). */
static int parse_port(const char *s, size_t len, unsigned long max,
		      unsigned long *out)
{
	unsigned long v = 0;

	if (!len || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (!v || v > max)
		return -1;
	*out = v;
	return 0;
}

int net_check_cidr(const char *s, char *err, size_t errlen)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr in;

	if (alen && alen < sizeof(buf)) {
		memcpy(buf, s, alen);
		buf[alen] = '\0';
		if (inet_pton(AF_INET, buf, &in) == 1) {
			size_t n = slash ? strlen(slash + 1) : 0;

			if (!slash)
				return 0;
			/* 0..32, no sign, no leading zeros beyond "0" */
			if (n >= 1 && n <= 2 &&
			    strspn(slash + 1, "0123456789") == n &&
			    !(n == 2 && slash[1] == '0') &&
			    atoi(slash + 1) <= 32)
				return 0;
		}
	}
	snprintf(err, errlen,
		 "'%.64s' is not an IPv4 address a.b.c.d or a network "
		 "a.b.c.d/N (N 0..32)",
		 s);
	return -1;
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int net_check_domain(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s), label = 0;
	const char *p = s;

	if (len && s[len - 1] == '.')
		len--; /* "example.com." is "example.com" */
	if (len > 2 && p[0] == '*' && p[1] == '.') {
		p += 2;
		len -= 2;
	}
	if (!len || len + (size_t)(p - s) > 253)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (!label)
				goto bad;
			label = 0;
		} else if (!label_char(p[i]) || ++label > 63) {
			goto bad;
		}
	}
	if (label)
		return 0;
bad:
	snprintf(err, errlen,
		 "'%.80s' is not a domain like example.com or *.example.com "
		 "(labels of letters, digits, '-' and '_', 1..63 characters, "
		 "253 in all)",
		 s);
	return -1;
}

int net_check_upstream(const char *s, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	char buf[INET_ADDRSTRLEN];
	size_t alen = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long port;
	struct in_addr in;

	if (alen && alen < sizeof(buf)) {
		memcpy(buf, s, alen);
		buf[alen] = '\0';
		if (inet_pton(AF_INET, buf, &in) == 1 &&
		    (!colon ||
		     !parse_port(colon + 1, strlen(colon + 1), 65535, &port)))
			return 0;
	}
	snprintf(err, errlen,
		 "'%.64s' is not an IPv4 address a.b.c.d or a.b.c.d:PORT "
		 "(PORT 1..65535)",
		 s);
	return -1;
}

int net_parse_publish(const char *s, struct kiln_net_publish *out, char *err,
		      size_t errlen)
{
	const char *colon = strchr(s, ':'), *slash;
	unsigned long h, g;

	memset(out, 0, sizeof(*out));
	if (!colon)
		goto bad;
	slash = strchr(colon, '/');
	if (slash && strcmp(slash, "/tcp") && strcmp(slash, "/udp"))
		goto bad;
	if (parse_port(s, (size_t)(colon - s), 65535, &h) ||
	    parse_port(colon + 1,
		       slash ? (size_t)(slash - colon - 1) : strlen(colon + 1),
		       65535, &g))
		goto bad;
	out->host_port = (uint16_t)h;
	out->guest_port = (uint16_t)g;
	out->udp = slash && !strcmp(slash, "/udp");
	return 0;
bad:
	snprintf(err, errlen,
		 "'%.64s' is not HOST_PORT:GUEST_PORT[/tcp|/udp] (ports "
		 "1..65535)",
		 s);
	return -1;
}

int net_parse_rate(const char *s, uint64_t *out, char *err, size_t errlen)
{
	static const struct {
		const char *unit;
		uint64_t mult; /* bits per second per unit */
	} units[] = {
		{"", 1},	   {"bit", 1},		 {"k", 1000},
		{"kbit", 1000},	   {"m", 1000000},	 {"mbit", 1000000},
		{"g", 1000000000}, {"gbit", 1000000000}, {"bps", 8},
		{"kbps", 8000},	   {"mbps", 8000000},	 {"gbps", 8000000000},
	};
	uint64_t whole = 0, frac = 0, scale = 1, mult = 0, v;
	const char *p = s;
	size_t nd = 0, nf = 0;

	for (; *p >= '0' && *p <= '9'; p++, nd++)
		if (nd < 13)
			whole = whole * 10 + (uint64_t)(*p - '0');
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nf++)
			if (nf < 9) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		if (!nf)
			goto bad;
	}
	if (!nd)
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcasecmp(p, units[i].unit))
			mult = units[i].mult;
	if (!mult)
		goto bad;
	/* whole < 10^13 and mult <= 8 * 10^9 could overflow: check first */
	if (nd > 12 || whole > KILN_NET_RATE_MAX / mult + 1)
		goto range;
	v = whole * mult + frac * mult / scale;
	if (v < KILN_NET_RATE_MIN || v > KILN_NET_RATE_MAX)
		goto range;
	*out = v;
	return 0;
range:
	snprintf(err, errlen,
		 "'%.40s' is out of range: %llukbit..%llugbit (omit "
		 "--bandwidth for no limit)",
		 s, KILN_NET_RATE_MIN / 1000, KILN_NET_RATE_MAX / 1000000000);
	return -1;
bad:
	snprintf(err, errlen,
		 "'%.40s' is not a rate: a number with an optional unit bit, "
		 "k, kbit, m, mbit, g, gbit (bits/s) or bps, kbps, mbps, gbps "
		 "(bytes/s), e.g. 10mbit",
		 s);
	return -1;
}

void net_rate_format(uint64_t bps, char *buf, size_t len)
{
	if (bps && bps % 1000000000 == 0)
		snprintf(buf, len, "%llugbit",
			 (unsigned long long)(bps / 1000000000));
	else if (bps && bps % 1000000 == 0)
		snprintf(buf, len, "%llumbit",
			 (unsigned long long)(bps / 1000000));
	else if (bps && bps % 1000 == 0)
		snprintf(buf, len, "%llukbit",
			 (unsigned long long)(bps / 1000));
	else
		snprintf(buf, len, "%llubit", (unsigned long long)bps);
}

/* Append val to a NULL-terminated list of at most KILN_NET_LIST_MAX. */
static int list_add(const char **list, size_t *n, const char *val,
		    const char *opt, char *err, size_t errlen)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcasecmp(list[i], val)) {
			snprintf(err, errlen, "--%s: '%.64s' given twice", opt,
				 val);
			return -1;
		}
	if (*n >= KILN_NET_LIST_MAX) {
		snprintf(err, errlen, "--%s: more than %d entries", opt,
			 KILN_NET_LIST_MAX);
		return -1;
	}
	list[(*n)++] = val;
	list[*n] = NULL;
	return 0;
}

int net_args_add(struct net_args *a, enum net_opt opt, const char *val,
		 char *err, size_t errlen)
{
	const char *name =
		(unsigned)opt < NET_OPT_COUNT ? net_opt_names[opt] : "?";
	bool single = opt == NET_OPT_NETWORK || opt == NET_OPT_BANDWIDTH ||
		      opt == NET_OPT_DNS_UPSTREAM;
	char why[256];
	int rc = 0;

	if ((unsigned)opt >= NET_OPT_COUNT) {
		snprintf(err, errlen, "unknown network option %d", (int)opt);
		return -1;
	}
	if (single && (a->given & (1u << opt))) {
		snprintf(err, errlen, "--%s given more than once", name);
		return -1;
	}
	a->given |= 1u << opt;
	why[0] = '\0';
	switch (opt) {
	case NET_OPT_NETWORK:
		if (!strcmp(val, "none"))
			a->mode = KILN_NET_NONE;
		else if (!strcmp(val, "allow-all"))
			a->mode = KILN_NET_ALLOW_ALL;
		else if (!strcmp(val, "custom"))
			a->mode = KILN_NET_CUSTOM;
		else
			snprintf(why, sizeof(why),
				 "'%.40s' is not none, allow-all or custom",
				 val);
		rc = why[0] ? -1 : 0;
		break;
	case NET_OPT_ALLOW_CIDR:
	case NET_OPT_DENY_CIDR:
		rc = net_check_cidr(val, why, sizeof(why));
		if (!rc)
			return opt == NET_OPT_ALLOW_CIDR
				       ? list_add(a->allow, &a->n_allow, val,
						  name, err, errlen)
				       : list_add(a->deny, &a->n_deny, val,
						  name, err, errlen);
		break;
	case NET_OPT_ALLOW_DOMAIN:
		rc = net_check_domain(val, why, sizeof(why));
		if (!rc)
			return list_add(a->domain, &a->n_domain, val, name, err,
					errlen);
		break;
	case NET_OPT_PUBLISH: {
		struct kiln_net_publish p;

		rc = net_parse_publish(val, &p, why, sizeof(why));
		if (rc)
			break;
		for (size_t i = 0; i < a->n_publish; i++)
			if (a->publish[i].host_port == p.host_port &&
			    a->publish[i].udp == p.udp) {
				snprintf(err, errlen,
					 "--publish: host port %u/%s is "
					 "published twice",
					 p.host_port, p.udp ? "udp" : "tcp");
				return -1;
			}
		if (a->n_publish >= KILN_NET_LIST_MAX) {
			snprintf(err, errlen, "--publish: more than %d ports",
				 KILN_NET_LIST_MAX);
			return -1;
		}
		a->publish[a->n_publish++] = p;
		return 0;
	}
	case NET_OPT_BANDWIDTH:
		rc = net_parse_rate(val, &a->rate_bps, why, sizeof(why));
		break;
	case NET_OPT_DNS_UPSTREAM:
		rc = net_check_upstream(val, why, sizeof(why));
		if (!rc)
			a->dns_upstream = val;
		break;
	case NET_OPT_COUNT:
		break;
	}
	if (rc)
		snprintf(err, errlen, "--%s: %s", name, why);
	return rc;
}

int net_args_finish(const struct net_args *a, struct kiln_net_policy *out,
		    char *err, size_t errlen)
{
	bool mode_given = a->given & (1u << NET_OPT_NETWORK);
	enum kiln_net_mode mode = a->mode;
	const char *list_opt = a->n_allow    ? "--allow-cidr"
			       : a->n_domain ? "--allow-domain"
			       : a->n_deny   ? "--deny-cidr"
					     : NULL;

	kiln_net_policy_init(out);
	if (!mode_given && (a->n_allow || a->n_domain))
		mode = KILN_NET_CUSTOM;
	if (mode == KILN_NET_NONE && list_opt) {
		snprintf(err, errlen,
			 mode_given ? "--network none reaches nothing: it "
				      "contradicts %s (use --network custom)"
				    : "%s only narrows what --allow-cidr or "
				      "--allow-domain allows (custom mode); "
				      "give one of them too",
			 list_opt);
		return -1;
	}
	if (mode == KILN_NET_ALLOW_ALL && list_opt) {
		snprintf(err, errlen,
			 "--network allow-all contradicts %s (lists are for "
			 "--network custom)",
			 list_opt);
		return -1;
	}
	if (a->dns_upstream && !(mode == KILN_NET_ALLOW_ALL ||
				 (mode == KILN_NET_CUSTOM && a->n_domain))) {
		snprintf(err, errlen,
			 "--dns-upstream is for the sandbox's resolver, which "
			 "only runs with --allow-domain or --network "
			 "allow-all");
		return -1;
	}
	out->mode = mode;
	out->allow_cidr = a->n_allow ? a->allow : NULL;
	out->deny_cidr = a->n_deny ? a->deny : NULL;
	out->allow_domain = a->n_domain ? a->domain : NULL;
	out->publish = a->n_publish ? a->publish : NULL;
	out->n_publish = a->n_publish;
	out->rate_bps = a->rate_bps;
	out->dns_upstream = a->dns_upstream;
	return 0;
}

/* The guest's address of slot + off (docs/NETWORK.md, "Layout"). */
static const char *slot_ip(uint32_t slot, uint32_t off, char *buf)
{
	struct in_addr in = {.s_addr = htonl(0x0aca0000u + 4 * slot + off)};

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

static json_t *str_list(const char *const *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && l && l[i]; i++)
		if (json_array_append_new(a, json_string(l[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *net_policy_json(const struct kiln_net_policy *p, uint32_t slot)
{
	json_t *pub = json_array();
	char g[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];

	for (size_t i = 0; pub && i < p->n_publish; i++)
		if (json_array_append_new(
			    pub,
			    json_pack("{s:i, s:i, s:s}", "host_port",
				      p->publish[i].host_port, "guest_port",
				      p->publish[i].guest_port, "protocol",
				      p->publish[i].udp ? "udp" : "tcp"))) {
			json_decref(pub);
			return NULL;
		}
	return json_pack(
		"{s:s, s:o*, s:o*, s:o*, s:o*, s:o, s:o, s:s, s:s}", "mode",
		net_mode_name(p->mode), "allow_cidr", str_list(p->allow_cidr),
		"deny_cidr", str_list(p->deny_cidr), "allow_domain",
		str_list(p->allow_domain), "publish", pub, "rate_bps",
		p->rate_bps ? json_integer((json_int_t)p->rate_bps)
			    : json_null(),
		"dns_upstream",
		p->dns_upstream ? json_string(p->dns_upstream) : json_null(),
		"guest", slot_ip(slot, 2, g), "gateway", slot_ip(slot, 1, gw));
}

static void print_list(FILE *f, const char *indent, const char *key,
		       const char *const *l)
{
	fprintf(f, "%s%-14s", indent, key);
	for (size_t i = 0; l && l[i]; i++)
		fprintf(f, "%s%s", i ? ", " : "", l[i]);
	fprintf(f, "%s\n", l && l[0] ? "" : "-");
}

void net_policy_print(const struct kiln_net_policy *p, uint32_t slot,
		      const char *indent, FILE *f)
{
	char g[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], rate[32];

	fprintf(f, "%smode:         %s\n", indent, net_mode_name(p->mode));
	print_list(f, indent, "allow cidr:", p->allow_cidr);
	print_list(f, indent, "deny cidr:", p->deny_cidr);
	print_list(f, indent, "domains:", p->allow_domain);
	fprintf(f, "%spublish:      ", indent);
	for (size_t i = 0; i < p->n_publish; i++)
		fprintf(f, "%s%u:%u/%s", i ? ", " : "", p->publish[i].host_port,
			p->publish[i].guest_port,
			p->publish[i].udp ? "udp" : "tcp");
	fprintf(f, "%s\n", p->n_publish ? "" : "-");
	net_rate_format(p->rate_bps, rate, sizeof(rate));
	fprintf(f, "%sbandwidth:    %s\n", indent,
		p->rate_bps ? rate : "unlimited");
	fprintf(f, "%sdns upstream: %s\n", indent,
		p->dns_upstream ? p->dns_upstream : "-");
	fprintf(f, "%sguest:        %s (gateway %s)\n", indent,
		slot_ip(slot, 2, g), slot_ip(slot, 1, gw));
}
