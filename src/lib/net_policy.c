/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's network policy as nftables rules (docs/NETWORK.md).
 *
 * Policy lives on the host, in one table per sandbox, "inet kiln-<slot>",
 * keyed on the host end of its veth ("kv<slot>"): everything the guest
 * sends crosses it, and nothing the guest controls can touch it.  A
 * change is one nft script run as one transaction (libnftables): the
 * table, sets and chains are created if missing, the chains and the
 * allow/deny sets flushed and refilled, so a reader never sees a half
 * policy.  The set allowed_dns4 is left alone: a resolver adds the
 * addresses of allowed domains to it (with timeouts).
 *
 * Rules apply to every packet, not only to new connections, so that a
 * narrower policy also cuts flows opened under a wider one; the only
 * state-based exceptions are replies of connections the host or a
 * published port opened towards the guest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/net.h"

void kiln_net_policy_init(struct kiln_net_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = KILN_NET_NONE;
}

int net_cidr_parse(const char *s, struct net_cidr *out, char *err,
		   size_t errlen)
{
	char buf[32], *slash;
	struct in_addr in;
	long len = 32;

	if (!s || strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		char *end;

		*slash = '\0';
		if (!slash[1] ||
		    strspn(slash + 1, "0123456789") != strlen(slash + 1))
			goto bad;
		len = strtol(slash + 1, &end, 10);
		if (len > 32)
			goto bad;
	}
	/* inet_pton takes only the strict dotted quad */
	if (inet_pton(AF_INET, buf, &in) != 1)
		goto bad;
	out->len = (uint8_t)len;
	out->addr = ntohl(in.s_addr) & (len ? ~0u << (32 - len) : 0);
	return 0;
bad:
	snprintf(
		err, errlen,
		"bad CIDR \"%.40s\": want an IPv4 address a.b.c.d or a.b.c.d/N "
		"with N 0..32",
		s ? s : "(null)");
	return KILN_EINVAL;
}

void net_policy_free(struct net_policy *p)
{
	free(p->allow);
	free(p->deny);
	free(p->publish);
	for (size_t i = 0; i < p->n_domains; i++)
		free(p->domains[i]);
	free(p->domains);
	free(p->dns_upstream);
	memset(p, 0, sizeof(*p));
}

static int list_parse(const char *const *in, struct net_cidr **out, size_t *n,
		      const char *what, char *err, size_t errlen)
{
	size_t count = 0;

	while (in && in[count])
		if (++count > KILN_NET_LIST_MAX) {
			snprintf(err, errlen,
				 "too many %s entries (at most %d)", what,
				 KILN_NET_LIST_MAX);
			return KILN_EINVAL;
		}
	*n = 0;
	*out = count ? calloc(count, sizeof(**out)) : NULL;
	if (count && !*out) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		int rc = net_cidr_parse(in[i], &(*out)[i], err, errlen);

		if (rc)
			return rc;
		*n = i + 1;
	}
	return 0;
}

static int publish_check(const struct net_publish *pub, size_t n, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (!pub[i].host_port || !pub[i].guest_port) {
			snprintf(err, errlen,
				 "published port %u:%u: ports are 1..65535",
				 pub[i].host_port, pub[i].guest_port);
			return KILN_EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (pub[j].host_port == pub[i].host_port &&
			    pub[j].udp == pub[i].udp) {
				snprintf(err, errlen,
					 "host port %s/%u is published twice",
					 pub[i].udp ? "udp" : "tcp",
					 pub[i].host_port);
				return KILN_EINVAL;
			}
	}
	return 0;
}

int net_policy_from_public(const struct kiln_net_policy *in,
			   struct net_policy *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!in)
		return 0;
	if (in->mode != KILN_NET_NONE && in->mode != KILN_NET_ALLOW_ALL &&
	    in->mode != KILN_NET_CUSTOM) {
		snprintf(err, errlen, "unknown network mode %d", (int)in->mode);
		return KILN_EINVAL;
	}
	if (in->mode != KILN_NET_CUSTOM &&
	    ((in->allow_cidr && in->allow_cidr[0]) ||
	     (in->deny_cidr && in->deny_cidr[0]))) {
		snprintf(err, errlen,
			 "allow/deny CIDR lists need the custom network mode");
		return KILN_EINVAL;
	}
	if (in->n_publish > KILN_NET_LIST_MAX ||
	    (in->n_publish && !in->publish)) {
		snprintf(err, errlen,
			 "bad list of published ports (at most %d)",
			 KILN_NET_LIST_MAX);
		return KILN_EINVAL;
	}
	if (in->rate_bps && (in->rate_bps < KILN_NET_RATE_MIN ||
			     in->rate_bps > KILN_NET_RATE_MAX)) {
		snprintf(err, errlen,
			 "bandwidth limit %llu bit/s is out of range "
			 "(%llu..%llu, "
			 "or 0 for none)",
			 (unsigned long long)in->rate_bps, KILN_NET_RATE_MIN,
			 KILN_NET_RATE_MAX);
		return KILN_EINVAL;
	}
	out->mode = in->mode;
	out->rate_bps = in->rate_bps;
	rc = list_parse(in->allow_cidr, &out->allow, &out->n_allow, "allow",
			err, errlen);
	if (!rc)
		rc = list_parse(in->deny_cidr, &out->deny, &out->n_deny, "deny",
				err, errlen);
	if (!rc && in->n_publish) {
		out->publish = calloc(in->n_publish, sizeof(*out->publish));
		if (!out->publish) {
			snprintf(err, errlen, "out of memory");
			rc = KILN_ENOMEM;
		}
		for (size_t i = 0; !rc && i < in->n_publish; i++) {
			out->publish[i].host_port = in->publish[i].host_port;
			out->publish[i].guest_port = in->publish[i].guest_port;
			out->publish[i].udp = in->publish[i].udp != 0;
		}
		out->n_publish = in->n_publish;
		if (!rc)
			rc = publish_check(out->publish, out->n_publish, err,
					   errlen);
	}
	if (!rc && in->mode != KILN_NET_CUSTOM && in->allow_domain &&
	    in->allow_domain[0]) {
		snprintf(err, errlen,
			 "allowed domains need the custom network mode");
		rc = KILN_EINVAL;
	}
	if (!rc)
		rc = net_policy_set_dns(out, in->allow_domain, in->dns_upstream,
					err, errlen);
	if (rc)
		net_policy_free(out);
	return rc;
}

static const char *const mode_names[] = {
	[KILN_NET_NONE] = "none",
	[KILN_NET_ALLOW_ALL] = "allow-all",
	[KILN_NET_CUSTOM] = "custom",
};

static json_t *cidrs_json(const struct net_cidr *c, size_t n)
{
	json_t *a = json_array();
	char ip[16], buf[24];

	for (size_t i = 0; a && i < n; i++) {
		snprintf(buf, sizeof(buf), "%s/%u", net_ip_str(c[i].addr, ip),
			 c[i].len);
		if (json_array_append_new(a, json_string(buf))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

char *net_policy_to_json(const struct net_policy *p)
{
	json_t *pub = json_array(), *o;
	char *s;

	for (size_t i = 0; pub && i < p->n_publish; i++)
		if (json_array_append_new(
			    pub, json_pack("{s:i, s:i, s:b}", "host",
					   p->publish[i].host_port, "guest",
					   p->publish[i].guest_port, "udp",
					   p->publish[i].udp))) {
			json_decref(pub);
			return NULL;
		}
	json_t *doms = p->n_domains ? json_array() : NULL;

	for (size_t i = 0; doms && i < p->n_domains; i++)
		json_array_append_new(doms, json_string(p->domains[i]));
	if (p->n_domains && json_array_size(doms) != p->n_domains) {
		json_decref(doms);
		json_decref(pub);
		return NULL;
	}
	o = json_pack("{s:s, s:o*, s:o*, s:o*, s:I, s:o*, s:s*}", "mode",
		      mode_names[p->mode], "allow",
		      cidrs_json(p->allow, p->n_allow), "deny",
		      cidrs_json(p->deny, p->n_deny), "publish", pub,
		      "rate_bps", (json_int_t)p->rate_bps, "domains", doms,
		      "dns_upstream", p->dns_upstream);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static int cidrs_from_json(json_t *a, struct net_cidr **out, size_t *n,
			   char *err, size_t errlen)
{
	size_t count = json_array_size(a), i;
	json_t *v;

	*n = 0;
	if (count > KILN_NET_LIST_MAX) {
		snprintf(err, errlen, "stored network policy: list too long");
		return KILN_EFORMAT;
	}
	*out = count ? calloc(count, sizeof(**out)) : NULL;
	if (count && !*out) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	json_array_foreach(a, i, v)
	{
		if (net_cidr_parse(json_string_value(v), &(*out)[i], err,
				   errlen))
			return KILN_EFORMAT;
		*n = i + 1;
	}
	return 0;
}

int net_policy_from_json(const char *text, struct net_policy *out, char *err,
			 size_t errlen)
{
	json_t *root, *allow, *deny, *pub, *v, *doms = NULL;
	const char *upstream = NULL;
	json_int_t rate = 0;
	const char *mode;
	json_error_t e;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	root = json_loads(text, 0, &e);
	if (!root ||
	    json_unpack_ex(root, &e, JSON_STRICT,
			   "{s:s, s:o, s:o, s:o, s?I, s?o, s?s}", "mode", &mode,
			   "allow", &allow, "deny", &deny, "publish", &pub,
			   "rate_bps", &rate, "domains", &doms, "dns_upstream",
			   &upstream) ||
	    (doms && (!json_is_array(doms) ||
		      json_array_size(doms) > KILN_NET_LIST_MAX)) ||
	    (rate && (rate < (json_int_t)KILN_NET_RATE_MIN ||
		      rate > (json_int_t)KILN_NET_RATE_MAX)) ||
	    !json_is_array(allow) || !json_is_array(deny) ||
	    !json_is_array(pub) || json_array_size(pub) > KILN_NET_LIST_MAX) {
		snprintf(err, errlen, "stored network policy is malformed: %s",
			 root ? e.text : "not JSON");
		json_decref(root);
		return KILN_EFORMAT;
	}
	out->rate_bps = (uint64_t)rate;
	if (!strcmp(mode, "none"))
		out->mode = KILN_NET_NONE;
	else if (!strcmp(mode, "allow-all"))
		out->mode = KILN_NET_ALLOW_ALL;
	else if (!strcmp(mode, "custom"))
		out->mode = KILN_NET_CUSTOM;
	else
		rc = KILN_EFORMAT;
	if (rc)
		snprintf(err, errlen, "stored network policy: bad mode");
	if (!rc)
		rc = cidrs_from_json(allow, &out->allow, &out->n_allow, err,
				     errlen);
	if (!rc)
		rc = cidrs_from_json(deny, &out->deny, &out->n_deny, err,
				     errlen);
	if (!rc && json_array_size(pub)) {
		out->publish =
			calloc(json_array_size(pub), sizeof(*out->publish));
		if (!out->publish) {
			snprintf(err, errlen, "out of memory");
			rc = KILN_ENOMEM;
		}
	}
	json_array_foreach(pub, i, v)
	{
		int h, g, udp;

		if (rc)
			break;
		if (json_unpack_ex(v, &e, JSON_STRICT, "{s:i, s:i, s:b}",
				   "host", &h, "guest", &g, "udp", &udp) ||
		    h < 1 || h > 65535 || g < 1 || g > 65535) {
			snprintf(err, errlen,
				 "stored network policy: bad published port");
			rc = KILN_EFORMAT;
			break;
		}
		out->publish[i] = (struct net_publish){(uint16_t)h, (uint16_t)g,
						       udp != 0};
		out->n_publish = i + 1;
	}
	if (!rc && (doms || upstream)) {
		const char *list[KILN_NET_LIST_MAX + 1] = {0};

		json_array_foreach(doms, i, v) list[i] = json_string_value(v);
		for (i = 0; i < json_array_size(doms) && list[i]; i++)
			;
		if (i != json_array_size(doms) ||
		    net_policy_set_dns(out, list, upstream, err, errlen)) {
			snprintf(err, errlen,
				 "stored network policy: bad domain list or "
				 "DNS upstream");
			rc = KILN_EFORMAT;
		}
	}
	json_decref(root);
	if (rc)
		net_policy_free(out);
	return rc;
}

/* A growing string; on allocation failure it turns NULL for good. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3)))
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL,
			      b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
}

static char *sb_take(struct sbuf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	return b->s ? b->s : strdup("");
}

static void sb_elements(struct sbuf *b, const char *table, const char *set,
			const struct net_cidr *c, size_t n)
{
	char ip[16];

	if (!n)
		return;
	sb_add(b, "add element inet %s %s { ", table, set);
	for (size_t i = 0; i < n; i++)
		sb_add(b, "%s%s/%u", i ? ", " : "", net_ip_str(c[i].addr, ip),
		       c[i].len);
	sb_add(b, " }\n");
}

char *net_nft_ns_script(const struct net_addrs *a, const struct net_policy *p)
{
	struct sbuf b = {0};
	char g[16], gw[16];

	/* the namespace itself offers the guest its resolver only */
	sb_add(&b,
	       "add table inet " NET_NFT_NS_TABLE "\n"
	       "delete table inet " NET_NFT_NS_TABLE "\n"
	       "table inet " NET_NFT_NS_TABLE " {\n"
	       "\tchain input {\n"
	       "\t\ttype filter hook input priority filter; policy accept;\n"
	       "\t\tiifname \"" NET_TAP_NAME "\" ct direction reply accept\n"
	       "\t\tiifname \"" NET_TAP_NAME "\" ip saddr %s ip daddr %s "
	       "meta l4proto { tcp, udp } th dport 53 accept\n"
	       "\t\tiifname \"" NET_TAP_NAME "\" drop\n"
	       "\t}\n"
	       "\tchain forward {\n"
	       "\t\ttype filter hook forward priority filter; policy accept;\n"
	       "\t\tmeta nfproto ipv6 drop\n"
	       "\t\tiifname \"" NET_TAP_NAME "\" ip saddr != %s drop\n"
	       "\t}\n"
	       "}\n",
	       net_ip_str(a->guest, g), net_ip_str(a->ns_tap, gw),
	       net_ip_str(a->guest, g));
	return sb_take(&b);
}

char *net_nft_host_script(const struct net_addrs *a, const struct net_policy *p)
{
	static const char *const chains[][2] = {
		{"forward", "filter hook forward priority filter"},
		{"input", "filter hook input priority filter"},
		{"prerouting", "nat hook prerouting priority dstnat"},
		{"output", "nat hook output priority -100"},
		{"postrouting", "nat hook postrouting priority srcnat"},
	};
	struct sbuf b = {0};
	char t[32], g[16], kv[32];
	const char *guest = net_ip_str(a->guest, g);
	static const struct net_cidr all = {0, 0};

	snprintf(t, sizeof(t), NET_NFT_HOST_PREFIX "%u", a->slot);
	snprintf(kv, sizeof(kv), "iifname \"%s\"", a->host_if);
	sb_add(&b, "add table inet %s\n", t);
	sb_add(&b,
	       "add set inet %s allow4 { type ipv4_addr; flags interval; }\n"
	       "add set inet %s deny4 { type ipv4_addr; flags interval; }\n"
	       "add set inet %s allowed_dns4 { type ipv4_addr; "
	       "flags timeout; }\n",
	       t, t, t);
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		sb_add(&b,
		       "add chain inet %s %s { type %s; policy accept; }\n"
		       "flush chain inet %s %s\n",
		       t, chains[i][0], chains[i][1], t, chains[i][0]);
	sb_add(&b, "flush set inet %s allow4\nflush set inet %s deny4\n", t, t);
	/* no resolver, so no name the guest may still use (dns_name.c) */
	if (!net_policy_wants_dns(p))
		sb_add(&b, "flush set inet %s allowed_dns4\n", t);
	if (p->mode == KILN_NET_ALLOW_ALL)
		sb_elements(&b, t, "allow4", &all, 1);
	else if (p->mode == KILN_NET_CUSTOM)
		sb_elements(&b, t, "allow4", p->allow, p->n_allow);
	sb_elements(&b, t, "deny4", p->deny, p->n_deny);

	/* from the sandbox, forwarded: other sandboxes never, then policy */
	sb_add(&b,
	       "add rule inet %s forward %s oifname \"" NET_HOST_IF_PREFIX
	       "*\" drop\n"
	       "add rule inet %s forward %s ip saddr != %s drop\n"
	       "add rule inet %s forward %s meta nfproto != ipv4 drop\n"
	       "add rule inet %s forward %s ct status dnat ct direction reply "
	       "accept\n"
	       "add rule inet %s forward %s meta l4proto { tcp, udp } th dport "
	       "{ 53, 853 } drop\n"
	       "add rule inet %s forward %s ip daddr @deny4 drop\n"
	       "add rule inet %s forward %s ip daddr @allowed_dns4 accept\n"
	       "add rule inet %s forward %s ip daddr @allow4 accept\n"
	       "add rule inet %s forward %s drop\n",
	       t, kv, t, kv, guest, t, kv, t, kv, t, kv, t, kv, t, kv, t, kv, t,
	       kv);
	/* to the sandbox, forwarded: replies and published ports only */
	sb_add(&b,
	       "add rule inet %s forward oifname \"%s\" ct direction reply "
	       "accept\n"
	       "add rule inet %s forward oifname \"%s\" ip daddr %s ct status "
	       "dnat accept\n"
	       "add rule inet %s forward oifname \"%s\" drop\n",
	       t, a->host_if, t, a->host_if, guest, t, a->host_if);
	/* to the host's own addresses: only what a custom allow names */
	sb_add(&b, "add rule inet %s input %s ct direction reply accept\n", t,
	       kv);
	if (p->mode == KILN_NET_CUSTOM)
		sb_add(&b,
		       "add rule inet %s input %s meta l4proto { tcp, udp } th "
		       "dport 53 drop\n"
		       "add rule inet %s input %s ip saddr %s ip daddr != "
		       "@deny4 "
		       "ip daddr @allow4 accept\n",
		       t, kv, t, kv, guest);
	sb_add(&b, "add rule inet %s input %s drop\n", t, kv);
	for (size_t i = 0; i < p->n_publish; i++) {
		const struct net_publish *pub = &p->publish[i];
		const char *proto = pub->udp ? "udp" : "tcp";

		sb_add(&b,
		       "add rule inet %s prerouting fib daddr type local %s "
		       "dport %u "
		       "dnat ip to %s:%u\n"
		       "add rule inet %s output fib daddr type local %s dport "
		       "%u "
		       "dnat ip to %s:%u\n",
		       t, proto, pub->host_port, guest, pub->guest_port, t,
		       proto, pub->host_port, guest, pub->guest_port);
	}
	sb_add(&b,
	       "add rule inet %s postrouting ip saddr %s oifname != "
	       "\"" NET_HOST_IF_PREFIX "*\" masquerade\n",
	       t, guest);
	return sb_take(&b);
}

/*
 * Whether the kernel speaks nfnetlink at all.  Asked first because
 * libnftables, when it cannot open its netlink socket, prints to stderr
 * and calls exit(): a library must never let that happen to its caller.
 */
static bool nft_available(char *err, size_t errlen)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

	if (fd < 0) {
		snprintf(err, errlen,
			 "nftables is not available: netlink: %s (no "
			 "nfnetlink in this kernel)",
			 strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

int net_nft_run(const char *script, char *err, size_t errlen)
{
	struct nft_ctx *ctx;
	int rc;

	if (!nft_available(err, errlen))
		return KILN_ESYS;
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "libnftables: cannot create a context");
		return KILN_ENOMEM;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	rc = nft_run_cmd_from_buffer(ctx, script);
	if (rc) {
		const char *e = nft_ctx_get_error_buffer(ctx);

		snprintf(err, errlen, "nftables refused kiln's rules: %.*s",
			 (int)strcspn(e ? e : "", "\n"), e ? e : "?");
		rc = KILN_ESYS;
	}
	nft_ctx_free(ctx);
	return rc;
}

/*
 * Whether nftables is missing from the kernel (nf_tables not built or
 * loadable): then no table of ours can exist either.
 */
static bool nft_unsupported(const char *msg)
{
	return strstr(msg, "nftables is not available") ||
	       strstr(msg, "Protocol not supported") ||
	       strstr(msg, "Operation not supported") ||
	       strstr(msg, "Address family not supported");
}

int net_nft_host_delete(uint32_t slot, char *err, size_t errlen)
{
	char script[128];
	int rc;

	/* "add" first makes the delete a no-op when there is nothing */
	snprintf(script, sizeof(script),
		 "add table inet " NET_NFT_HOST_PREFIX "%u\n"
		 "delete table inet " NET_NFT_HOST_PREFIX "%u\n",
		 slot, slot);
	rc = net_nft_run(script, err, errlen);
	return rc && nft_unsupported(err) ? 0 : rc;
}

int net_nft_host_slots(uint32_t **slots, size_t *n, char *err, size_t errlen)
{
	struct nft_ctx *ctx;
	const char *out, *line;
	size_t cap = 0;
	int rc = 0;

	*slots = NULL;
	*n = 0;
	if (!nft_available(err, errlen))
		return 0; /* then no table of ours can exist */
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "libnftables: cannot create a context");
		return KILN_ENOMEM;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	if (nft_run_cmd_from_buffer(ctx, "list tables inet")) {
		const char *e = nft_ctx_get_error_buffer(ctx);

		if (e && nft_unsupported(e)) {
			nft_ctx_free(ctx);
			return 0;
		}

		snprintf(err, errlen, "nftables: listing tables: %.*s",
			 (int)strcspn(e ? e : "", "\n"), e ? e : "?");
		nft_ctx_free(ctx);
		return KILN_ESYS;
	}
	out = nft_ctx_get_output_buffer(ctx);
	for (line = out; line && *line && !rc;) {
		static const char pfx[] = "table inet " NET_NFT_HOST_PREFIX;
		size_t len = strcspn(line, "\n");
		unsigned long v;
		char *end;

		if (len > sizeof(pfx) - 1 &&
		    !strncmp(line, pfx, sizeof(pfx) - 1) &&
		    line[sizeof(pfx) - 1] >= '0' &&
		    line[sizeof(pfx) - 1] <= '9') {
			errno = 0;
			v = strtoul(line + sizeof(pfx) - 1, &end, 10);
			if (end == line + len && !errno && v <= NET_SLOT_MAX) {
				if (*n == cap) {
					void *p;

					cap = cap ? cap * 2 : 8;
					p = realloc(*slots,
						    cap * sizeof(**slots));
					if (!p) {
						snprintf(err, errlen,
							 "out of memory");
						rc = KILN_ENOMEM;
						break;
					}
					*slots = p;
				}
				(*slots)[(*n)++] = (uint32_t)v;
			}
		}
		line += len;
		if (*line)
			line++;
	}
	nft_ctx_free(ctx);
	if (rc) {
		free(*slots);
		*slots = NULL;
		*n = 0;
	}
	return rc;
}

int net_policy_apply(uint32_t slot, const char *id, const struct net_policy *p,
		     char *err, size_t errlen)
{
	struct net_addrs a;
	char *script;
	int rc;

	rc = net_addrs_for_slot(slot, &a, err, errlen);
	if (rc)
		return rc;
	if (!net_exists(id)) {
		snprintf(err, errlen,
			 "sandbox %s has no network namespace (created without "
			 "root?): its network cannot be changed",
			 id ? id : "?");
		return KILN_ESTATE;
	}
	script = net_nft_host_script(&a, p);
	if (!script) {
		snprintf(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	rc = net_nft_run(script, err, errlen);
	free(script);
	if (!rc)
		rc = net_tc_apply(&a, id, p->rate_bps, err, errlen);
	if (rc || (p->mode == KILN_NET_NONE && !p->n_publish))
		return rc;
	/*
	 * Replies from the uplink to a masqueraded guest, and published
	 * ports, are forwarded from the uplink, so forwarding must be on for
	 * every interface, not only kv<slot> (docs/NETWORK.md says what that
	 * means for a host without a forward policy of its own).
	 */
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "1", 1) != 1) {
		snprintf(err, errlen,
			 "cannot enable /proc/sys/net/ipv4/ip_forward: %s",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}
