/* SPDX-License-Identifier: MIT */
/*
 * The network policy options of `kiln create` and `kiln network`
 * (docs/CLI.md, "Network policy"): parsing and checking, kept apart from
 * the commands so the rules can be unit-tested, and the policy's text and
 * JSON forms shared by `kiln network` and `kiln inspect`.
 */
#ifndef KILN_CLI_NET_ARGS_H
#define KILN_CLI_NET_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln.h"

enum net_opt {
	NET_OPT_NETWORK,
	NET_OPT_ALLOW_CIDR,
	NET_OPT_DENY_CIDR,
	NET_OPT_ALLOW_DOMAIN,
	NET_OPT_PUBLISH,
	NET_OPT_BANDWIDTH,
	NET_OPT_DNS_UPSTREAM,
	NET_OPT_COUNT,
};

/* getopt_long codes of the options: NET_OPT_BASE + enum net_opt. */
#define NET_OPT_BASE 0x1000

/* The policy options' entries of a struct option table (create, network). */
/* clang-format off */
#define NET_ARGS_LONGOPTS \
	{"network", required_argument, NULL, NET_OPT_BASE + NET_OPT_NETWORK}, \
	{"allow-cidr", required_argument, NULL, NET_OPT_BASE + NET_OPT_ALLOW_CIDR}, \
	{"deny-cidr", required_argument, NULL, NET_OPT_BASE + NET_OPT_DENY_CIDR}, \
	{"allow-domain", required_argument, NULL, NET_OPT_BASE + NET_OPT_ALLOW_DOMAIN}, \
	{"publish", required_argument, NULL, NET_OPT_BASE + NET_OPT_PUBLISH}, \
	{"bandwidth", required_argument, NULL, NET_OPT_BASE + NET_OPT_BANDWIDTH}, \
	{"dns-upstream", required_argument, NULL, NET_OPT_BASE + NET_OPT_DNS_UPSTREAM}
/* clang-format on */

/* Long names without "--", indexed by enum net_opt. */
extern const char *const net_opt_names[NET_OPT_COUNT];

/* The options' help lines, for the commands' usage texts. */
extern const char net_args_help[];

/* What the options said; the strings point into argv. */
struct net_args {
	unsigned int given; /* bit (1 << enum net_opt) per option seen */
	enum kiln_net_mode mode;
	const char *allow[KILN_NET_LIST_MAX + 1]; /* NULL-terminated */
	size_t n_allow;
	const char *deny[KILN_NET_LIST_MAX + 1];
	size_t n_deny;
	const char *domain[KILN_NET_LIST_MAX + 1];
	size_t n_domain;
	struct kiln_net_publish publish[KILN_NET_LIST_MAX];
	size_t n_publish;
	uint64_t rate_bps;
	const char *dns_upstream;
};

void net_args_init(struct net_args *a);

/*
 * One option (opt) with its value.  -1 with err filled in ("--opt: why")
 * for a bad value, a list over KILN_NET_LIST_MAX or a single-valued option
 * given twice.
 */
int net_args_add(struct net_args *a, enum net_opt opt, const char *val,
		 char *err, size_t errlen);

/*
 * The policy the options describe, into out (pointing into a, which must
 * outlive it).  No --network: custom if --allow-cidr, --deny-cidr or
 * --allow-domain was given, else none.  -1 with err filled in for a
 * contradiction (e.g. --network none with --allow-cidr).
 */
int net_args_finish(const struct net_args *a, struct kiln_net_policy *out,
		    char *err, size_t errlen);

/*
 * A rate as tc(8) writes it: a number (decimals allowed) in bits per
 * second, with an optional unit: k/m/g or kbit/mbit/gbit/bit (bits, SI
 * multiples), bps/kbps/mbps/gbps (BYTES per second, as in tc);
 * case-insensitive.  Must be within KILN_NET_RATE_MIN..MAX.
 */
int net_parse_rate(const char *s, uint64_t *out, char *err, size_t errlen);

/* "HOST_PORT:GUEST_PORT[/tcp|/udp]", ports 1..65535. */
int net_parse_publish(const char *s, struct kiln_net_publish *out, char *err,
		      size_t errlen);

/* "a.b.c.d" or "a.b.c.d/N" (N 0..32). */
int net_check_cidr(const char *s, char *err, size_t errlen);

/* "name" or "*.name" (docs/NETWORK.md, "Domains"). */
int net_check_domain(const char *s, char *err, size_t errlen);

/* "a.b.c.d" or "a.b.c.d:PORT". */
int net_check_upstream(const char *s, char *err, size_t errlen);

/* "none", "allow-all", "custom" (never NULL). */
const char *net_mode_name(enum kiln_net_mode m);

/* A rate for people: "10mbit", "1500kbit", "64001bit". */
void net_rate_format(uint64_t bps, char *buf, size_t len);

/*
 * The JSON object of a policy (docs/CLI.md, "kiln network --json"), with
 * the guest's and gateway's addresses of slot.  NULL when out of memory.
 */
struct json_t;
struct json_t *net_policy_json(const struct kiln_net_policy *p, uint32_t slot);

/* The policy as "key: value" lines on f, each starting with indent. */
void net_policy_print(const struct kiln_net_policy *p, uint32_t slot,
		      const char *indent, FILE *f);

#endif
