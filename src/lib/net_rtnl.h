/* SPDX-License-Identifier: MIT */
/*
 * The few rtnetlink requests kiln needs (libmnl): links, addresses,
 * routes.  A struct net_rtnl is a socket bound in the namespace of the
 * thread that opened it, so requests go to that namespace even after the
 * thread moved back.
 */
#ifndef KILN_LIB_NET_RTNL_H
#define KILN_LIB_NET_RTNL_H

#include <stddef.h>
#include <stdint.h>

struct mnl_socket;

struct net_rtnl {
	struct mnl_socket *nl;
	unsigned int portid;
	uint32_t seq;
};

int rtnl_open(struct net_rtnl *r, char *err, size_t errlen);
void rtnl_close(struct net_rtnl *r);

/* ifindex of name, 0 if there is no such link, negative on failure. */
int rtnl_link_index(struct net_rtnl *r, const char *name, char *err,
		    size_t errlen);

/* A veth pair: host_name here, peer_name created in namespace peer_nsfd. */
int rtnl_veth_add(struct net_rtnl *r, const char *host_name,
		  const char *peer_name, int peer_nsfd, char *err,
		  size_t errlen);

/* Set link ifindex up. */
int rtnl_link_up(struct net_rtnl *r, int ifindex, char *err, size_t errlen);

/* Delete link name; ENODEV is success (nothing to do). */
int rtnl_link_del(struct net_rtnl *r, const char *name, char *err,
		  size_t errlen);

/* Add addr/prefix (host order) on ifindex. */
int rtnl_addr_add(struct net_rtnl *r, int ifindex, uint32_t addr,
		  uint8_t prefix, char *err, size_t errlen);

/* Add a route dst/prefix via gw (0: none) out of ifindex. */
int rtnl_route_add(struct net_rtnl *r, uint32_t dst, uint8_t prefix,
		   uint32_t gw, int ifindex, char *err, size_t errlen);

/* Call fn for every link (name, ifindex); fn returns 0 to go on. */
int rtnl_link_each(struct net_rtnl *r,
		   int (*fn)(void *ctx, const char *name, int ifindex),
		   void *ctx, char *err, size_t errlen);

/* Call fn for every IPv4 route of the main table (dst, prefix, oif). */
int rtnl_route4_each(struct net_rtnl *r,
		     int (*fn)(void *ctx, uint32_t dst, uint8_t prefix,
			       int oif),
		     void *ctx, char *err, size_t errlen);

/*
 * Replace the root qdisc of ifindex with a token bucket: rate_Bps bytes
 * per second, burst bytes, limit bytes queued.
 */
int rtnl_qdisc_tbf(struct net_rtnl *r, int ifindex, uint64_t rate_Bps,
		   uint32_t burst, uint32_t limit, char *err, size_t errlen);

/* Remove the root qdisc of ifindex (back to the default); none is fine. */
int rtnl_qdisc_del_root(struct net_rtnl *r, int ifindex, char *err,
			size_t errlen);

#endif
