/* SPDX-License-Identifier: MIT */
/*
 * Per-sandbox networking (docs/NETWORK.md): a network namespace
 * "kiln-<id>" holding the guest's TAP (tap0) and one end of a veth pair
 * (eth0; the host end is "kv<slot>"), addresses derived from the
 * sandbox's network slot, and nftables rules for its egress policy and
 * published ports.  net_ns.c builds and removes the namespace and links
 * (rtnetlink through libmnl), net_policy.c the rules (libnftables, one
 * transaction per change), net_rtnl.c the netlink messages.
 *
 * Every function returns 0 or a negative kiln status with err filled in.
 * All of it needs CAP_NET_ADMIN and CAP_SYS_ADMIN (root).
 */
#ifndef KILN_LIB_NET_H
#define KILN_LIB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/*
 * The address plan: slot s owns one /30 in each of two /16s.
 *   link  NET_LINK_BASE + 4s: .1 host (kv<s>), .2 namespace (eth0)
 *   guest NET_GUEST_BASE + 4s: .1 namespace (tap0, the guest's gateway),
 *                              .2 the guest (eth0 in the guest)
 * 16384 slots (STATE_NET_SLOT_MAX + 1) fill each /16 exactly.
 */
#define NET_LINK_BASE 0x0ac90000u /* 10.201.0.0/16 */
#define NET_GUEST_BASE 0x0aca0000u /* 10.202.0.0/16 */
#define NET_RANGE_PREFIX 16
#define NET_SLOT_MAX 16383u
#define NET_NS_PREFIX "kiln-"
#define NET_NS_DIR "/run/netns"
#define NET_HOST_IF_PREFIX "kv"
#define NET_TAP_NAME "tap0"
#define NET_NS_IF_NAME "eth0"
/* nftables: per-sandbox host table "kiln-<slot>", namespace table "kiln" */
#define NET_NFT_HOST_PREFIX "kiln-"
#define NET_NFT_NS_TABLE "kiln"

struct net_addrs {
	uint32_t slot;
	uint32_t host_link, ns_link; /* host byte order */
	uint32_t ns_tap, guest;
	char host_if[16]; /* "kv<slot>" */
};

/* The addresses of slot; KILN_EINVAL beyond NET_SLOT_MAX. */
int net_addrs_for_slot(uint32_t slot, struct net_addrs *a, char *err,
		       size_t errlen);

/* a.b.c.d of a host-order address into buf (>= 16 bytes). */
const char *net_ip_str(uint32_t ip, char *buf);

struct net_cidr {
	uint32_t addr; /* host order, host bits cleared */
	uint8_t len;
};

struct net_publish {
	uint16_t host_port, guest_port;
	bool udp;
};

/* A checked, owned copy of a struct kiln_net_policy. */
struct net_policy {
	enum kiln_net_mode mode;
	struct net_cidr *allow, *deny;
	size_t n_allow, n_deny;
	struct net_publish *publish;
	size_t n_publish;
	uint64_t rate_bps; /* bandwidth limit each way, bits/s; 0: none */
	char **domains; /* lowercase, "name" or "*.suffix" (dns_name.c) */
	size_t n_domains;
	char *dns_upstream; /* "a.b.c.d:port", or NULL */
};

/* Whether p needs the sandbox's resolver (domains, or allow-all). */
bool net_policy_wants_dns(const struct net_policy *p);

/* Parse "a.b.c.d/len" (or a bare address: /32) strictly. */
int net_cidr_parse(const char *s, struct net_cidr *out, char *err,
		   size_t errlen);

/* Check and copy in (NULL: mode none) into out; net_policy_free() after. */
int net_policy_from_public(const struct kiln_net_policy *in,
			   struct net_policy *out, char *err, size_t errlen);
void net_policy_free(struct net_policy *p);

/* JSON text of p (stored in the state database), and back. */
char *net_policy_to_json(const struct net_policy *p);
int net_policy_from_json(const char *text, struct net_policy *out, char *err,
			 size_t errlen);

/*
 * The nft scripts (exposed for the unit tests): the namespace's ruleset
 * for p, and the host's per-sandbox table.  malloc'ed, NULL when out of
 * memory.
 */
char *net_nft_ns_script(const struct net_addrs *a, const struct net_policy *p);
char *net_nft_host_script(const struct net_addrs *a,
			  const struct net_policy *p);

/*
 * Create everything for a sandbox: the namespace kiln-<id> (bind-mounted
 * at /run/netns like `ip netns add`), tap0 in it, the veth pair,
 * addresses, routes, forwarding, and the rules for p.  Fails without
 * leaving anything behind; KILN_EINVAL if the address plan collides with a
 * route of the host.  Replaces leftovers of the same slot or id.
 */
int net_setup(uint32_t slot, const char *id, const struct net_policy *p,
	      char *err, size_t errlen);

/* Whether the namespace of id exists. */
bool net_exists(const char *id);

/* Replace the rules of a set-up sandbox with p, atomically. */
int net_policy_apply(uint32_t slot, const char *id, const struct net_policy *p,
		     char *err, size_t errlen);

/* Remove everything net_setup() made; nothing there is not an error. */
int net_teardown(uint32_t slot, const char *id, char *err, size_t errlen);

/*
 * Remove what belongs to no live sandbox: namespaces kiln-<12 hex> whose
 * id is not in ids, links kv<N> and host tables kiln-<N> whose slot is
 * not in slots.  Returns the number of objects removed, or a status.
 */
int net_reconcile(const char *const *ids, size_t n_ids, const uint32_t *slots,
		  size_t n_slots, char *err, size_t errlen);

/* An fd (O_CLOEXEC) of the namespace of id, for setns(); or a status. */
int net_ns_open(const char *id, char *err, size_t errlen);

/* ---- internal, shared by net_*.c ---- */

/* Set (rate_bps 0: remove) the bandwidth limit of a set-up sandbox. */
int net_tc_apply(const struct net_addrs *a, const char *id, uint64_t rate_bps,
		 char *err, size_t errlen);

/*
 * Run fn(arg) with the calling thread inside the namespace nsfd, then
 * return to the thread's own namespace.  If that return fails the thread
 * is in the wrong namespace for good: abort() (the only safe outcome).
 */
int net_in_ns(int nsfd, int (*fn)(void *arg), void *arg, char *err,
	      size_t errlen);

/* Run an nft script in the calling thread's namespace, one transaction. */
int net_nft_run(const char *script, char *err, size_t errlen);

/* Names of the host's nftables tables "kiln-<N>" (family inet). */
int net_nft_host_slots(uint32_t **slots, size_t *n, char *err, size_t errlen);

/* Delete host table kiln-<slot> if it exists. */
int net_nft_host_delete(uint32_t slot, char *err, size_t errlen);

#endif
