/* SPDX-License-Identifier: MIT */
/*
 * Allow-list patterns of the sandbox resolver and their matching, and the
 * resolver's upstream address (docs/NETWORK.md, "Domains").
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/net.h"

static bool label_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

int dns_pattern_normalize(const char *in, char *out, char *err, size_t errlen)
{
	const char *s = in;
	size_t len, label = 0;

	if (!in)
		goto bad;
	len = strlen(in);
	if (len && in[len - 1] == '.')
		len--; /* "example.com." is "example.com" */
	if (len > DNS_NAME_TEXT_MAX || !len)
		goto bad;
	if (len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!label)
				goto bad;
			label = 0;
		} else if (!label_char((unsigned char)s[i]) || ++label > 63) {
			goto bad;
		}
	}
	if (!label)
		goto bad;
	len += (size_t)(s - in);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return 0;
bad:
	snprintf(err, errlen,
		 "bad domain \"%.80s\": want a name like example.com or "
		 "*.example.com (labels of letters, digits, '-' and '_', 1..63 "
		 "characters, 253 in all)",
		 in ? in : "(null)");
	return -1;
}

bool dns_name_allowed(const char *name, char *const *patterns, size_t n)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++) {
		const char *p = patterns[i];

		if (p[0] == '*' && p[1] == '.') {
			/* "*.example.com": strictly below example.com */
			size_t plen = strlen(p + 1); /* ".example.com" */

			if (len > plen && !strcmp(name + len - plen, p + 1))
				return true;
		} else if (!strcmp(name, p)) {
			return true;
		}
	}
	return false;
}

int dns_upstream_parse(const char *s, struct sockaddr_in *sa, char *err,
		       size_t errlen)
{
	char buf[32], *colon;
	unsigned long port = 53;

	memset(sa, 0, sizeof(*sa));
	if (!s || strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	colon = strchr(buf, ':');
	if (colon) {
		char *end;

		*colon = '\0';
		if (!colon[1] ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			goto bad;
		port = strtoul(colon + 1, &end, 10);
		if (!port || port > 65535)
			goto bad;
	}
	if (inet_pton(AF_INET, buf, &sa->sin_addr) != 1)
		goto bad;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
bad:
	snprintf(err, errlen,
		 "bad DNS upstream \"%.40s\": want a.b.c.d or a.b.c.d:port",
		 s ? s : "(null)");
	return -1;
}

int dns_upstream_from_resolv(const char *path, struct sockaddr_in *sa,
			     char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[512], word[64];

	if (!f) {
		snprintf(err, errlen,
			 "cannot read %s for a DNS upstream; set "
			 "KILN_DNS_UPSTREAM=a.b.c.d[:port]",
			 path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nameserver %63s", word) == 1 &&
		    !dns_upstream_parse(word, sa, err, errlen)) {
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	snprintf(err, errlen,
		 "%s names no IPv4 nameserver; set "
		 "KILN_DNS_UPSTREAM=a.b.c.d[:port]",
		 path);
	return -1;
}

bool net_policy_wants_dns(const struct net_policy *p)
{
	return p->mode == KILN_NET_ALLOW_ALL ||
	       (p->mode == KILN_NET_CUSTOM && p->n_domains);
}

int net_policy_set_dns(struct net_policy *p, const char *const *domains,
		       const char *upstream, char *err, size_t errlen)
{
	char norm[DNS_NAME_TEXT_MAX + 1];
	struct sockaddr_in sa;
	size_t count = 0;

	while (domains && domains[count])
		if (++count > KILN_NET_LIST_MAX) {
			snprintf(err, errlen,
				 "too many allowed domains (at most %d)",
				 KILN_NET_LIST_MAX);
			return KILN_EINVAL;
		}
	if (upstream) {
		char ip[16];

		if (dns_upstream_parse(upstream, &sa, err, errlen))
			return KILN_EINVAL;
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
		if (asprintf(&p->dns_upstream, "%s:%u", ip,
			     ntohs(sa.sin_port)) < 0) {
			p->dns_upstream = NULL;
			goto oom;
		}
	}
	if (!count)
		return 0;
	p->domains = calloc(count, sizeof(*p->domains));
	if (!p->domains)
		goto oom;
	for (size_t i = 0; i < count; i++) {
		if (dns_pattern_normalize(domains[i], norm, err, errlen))
			return KILN_EINVAL;
		bool dup = false;

		for (size_t j = 0; j < p->n_domains && !dup; j++)
			dup = !strcmp(p->domains[j], norm);
		if (dup)
			continue;
		p->domains[p->n_domains] = strdup(norm);
		if (!p->domains[p->n_domains])
			goto oom;
		p->n_domains++;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return KILN_ENOMEM;
}
