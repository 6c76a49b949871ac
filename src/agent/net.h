/* SPDX-License-Identifier: MIT */
/*
 * The net_config op (docs/PROTOCOL.md): after every restore of a sandbox
 * with a network, the host tells the guest its address.  A clone restored
 * from a snapshot has its own slot and so its own address; the snapshot
 * holds the original's (or none: the base snapshot's NIC was never
 * configured).  The agent brings the interface up, sets the address and
 * prefix, replaces the default route and writes /etc/resolv.conf.
 *
 * Everything in the request is checked before anything is done: the
 * request comes from the host, but a malformed one must get an error
 * reply, never a half-configured interface or a crash.
 */
#ifndef KILN_AGENT_NET_H
#define KILN_AGENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/server.h"

#define NETCFG_IFNAME_MAX 15 /* IFNAMSIZ - 1 */
#define NETCFG_RESOLV_CONF "/etc/resolv.conf"
/* How long the op waits for the link (the agent serves nothing else
 * meanwhile; it is sent once, right after a restore). */
#define NETCFG_LINK_WAIT_MS 5000

struct netcfg_req {
	char iface[NETCFG_IFNAME_MAX + 1];
	uint32_t address; /* host byte order */
	uint8_t prefix; /* 1..30 */
	bool has_gateway, has_nameserver, has_mac;
	uint32_t gateway, nameserver;
	uint8_t mac[6];
};

/*
 * Validate a net_config request (pure): an interface name, "a.b.c.d/len"
 * with a host address (not the subnet's network or broadcast address), a
 * gateway in that subnet other than the address, a unicast nameserver, a
 * unicast MAC.  Returns 0, or -1 with a message in err.
 */
int netcfg_parse(json_t *obj, struct netcfg_req *req, char *err, size_t errlen);

/*
 * Carry out req (ioctls on an AF_INET socket; resolv_conf: where the
 * nameserver line goes, NETCFG_RESOLV_CONF in the guest).  link_up (may be
 * NULL: no wait): then waits up to NETCFG_LINK_WAIT_MS for the interface
 * to run (carrier on, queue started) and says whether it did.  Returns 0,
 * or -errno with a message in err naming the step.
 */
int netcfg_apply(const struct netcfg_req *req, const char *resolv_conf,
		 bool *link_up, char *err, size_t errlen);

/* The op handler (request.c dispatches to it). */
void netcfg_op(struct conn *c, uint32_t id, json_t *obj);

#endif
