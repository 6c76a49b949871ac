/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink through libmnl: one request, wait for its ACK (or the end of a
 * dump), report the kernel's errno.  Requests are small and synchronous;
 * the socket is never shared between threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "kiln.h"
#include "lib/net_rtnl.h"

#define RTNL_TIMEOUT_S 10

int rtnl_open(struct net_rtnl *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink socket: %s", strerror(errno));
		if (r->nl)
			mnl_socket_close(r->nl);
		r->nl = NULL;
		return KILN_ESYS;
	}
	/* the kernel answers at once; never wait forever on a lost reply */
	struct timeval tv = {.tv_sec = RTNL_TIMEOUT_S};

	setsockopt(mnl_socket_get_fd(r->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	return 0;
}

void rtnl_close(struct net_rtnl *r)
{
	if (r->nl)
		mnl_socket_close(r->nl);
	r->nl = NULL;
}

struct dump_cb {
	mnl_cb_t fn;
	void *data;
};

/*
 * Send nlh and read answers until the ACK (or NLMSG_DONE of a dump);
 * data messages go to cb.  dump: a dump request (no ACK).  Returns 0 or -errno
 * from the kernel.
 */
static int rtnl_talk(struct net_rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb,
		     void *data, bool dump)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = ++r->seq;
	ssize_t n;
	int ret;

	nlh->nlmsg_seq = seq;
	/* (NLM_F_EXCL shares a bit with NLM_F_DUMP: hence the flag) */
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, r->portid, cb, data);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

static struct nlmsghdr *msg_new(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

struct index_ctx {
	int index;
};

static int index_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	((struct index_ctx *)data)->index = ifi->ifi_index;
	return MNL_CB_OK;
}

int rtnl_link_index(struct net_rtnl *r, const char *name, char *err,
		    size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, 0);
	struct index_ctx ctx = {0};
	struct ifinfomsg *ifi;
	int rc;

	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = rtnl_talk(r, nlh, index_cb, &ctx, false);
	if (rc == -ENODEV)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "rtnetlink: looking up link %s: %s", name,
			 strerror(-rc));
		return KILN_ESYS;
	}
	return ctx.index;
}

int rtnl_veth_add(struct net_rtnl *r, const char *host_name,
		  const char *peer_name, int peer_nsfd, char *err,
		  size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *info, *data, *peer;
	struct ifinfomsg *ifi, *pifi;
	int rc;

	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* the peer's attributes follow its own ifinfomsg */
	pifi = (struct ifinfomsg *)((char *)nlh + nlh->nlmsg_len);
	memset(pifi, 0, sizeof(*pifi));
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_nsfd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create veth pair %s/%s: %s%s",
			 host_name, peer_name, strerror(-rc),
			 rc == -EEXIST ? " (a leftover: run any kiln command "
					 "to reconcile, or ip link del it)"
				       : "");
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_link_up(struct net_rtnl *r, int ifindex, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi;
	int rc;

	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0) {
		snprintf(err, errlen, "cannot set link %d up: %s", ifindex,
			 strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_link_del(struct net_rtnl *r, const char *name, char *err,
		  size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi;
	int rc;

	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0 && rc != -ENODEV) {
		snprintf(err, errlen, "cannot delete link %s: %s", name,
			 strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_addr_add(struct net_rtnl *r, int ifindex, uint32_t addr,
		  uint8_t prefix, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		msg_new(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	uint32_t be = htonl(addr);
	struct ifaddrmsg *ifa;
	int rc;

	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, be);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0) {
		char a[16];

		snprintf(err, errlen, "cannot add address %s/%u to link %d: %s",
			 inet_ntop(AF_INET, &be, a, sizeof(a)), prefix, ifindex,
			 strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_route_add(struct net_rtnl *r, uint32_t dst, uint8_t prefix,
		   uint32_t gw, int ifindex, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		msg_new(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm;
	int rc;

	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (prefix)
		mnl_attr_put_u32(nlh, RTA_DST, htonl(dst));
	if (gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0) {
		snprintf(err, errlen, "cannot add route to %u.%u.%u.%u/%u: %s",
			 dst >> 24, (dst >> 16) & 255, (dst >> 8) & 255,
			 dst & 255, prefix, strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}

struct link_each {
	int (*fn)(void *ctx, const char *name, int ifindex);
	void *ctx;
	int stop;
};

static int link_each_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_each *le = data;
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct nlattr *attr;

	if (le->stop)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(*ifi))
	{
		if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
			le->stop = le->fn(le->ctx, mnl_attr_get_str(attr),
					  ifi->ifi_index);
			break;
		}
	}
	return MNL_CB_OK;
}

int rtnl_link_each(struct net_rtnl *r,
		   int (*fn)(void *ctx, const char *name, int ifindex),
		   void *ctx, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, NLM_F_DUMP);
	struct link_each le = {fn, ctx, 0};
	struct rtgenmsg *g;
	int rc;

	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	rc = rtnl_talk(r, nlh, link_each_cb, &le, true);
	if (rc < 0) {
		snprintf(err, errlen, "rtnetlink: listing links: %s",
			 strerror(-rc));
		return KILN_ESYS;
	}
	return le.stop < 0 ? le.stop : 0;
}

struct route_each {
	int (*fn)(void *ctx, uint32_t dst, uint8_t prefix, int oif);
	void *ctx;
	int stop;
};

static int route_each_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_each *re = data;
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct nlattr *attr;
	uint32_t dst = 0, table = rtm->rtm_table;
	int oif = 0;

	if (re->stop || rtm->rtm_family != AF_INET)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(*rtm))
	{
		int t = mnl_attr_get_type(attr);

		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			continue;
		if (t == RTA_DST)
			dst = ntohl(mnl_attr_get_u32(attr));
		else if (t == RTA_OIF)
			oif = (int)mnl_attr_get_u32(attr);
		else if (t == RTA_TABLE)
			table = mnl_attr_get_u32(attr);
	}
	if (table == RT_TABLE_MAIN && rtm->rtm_type == RTN_UNICAST)
		re->stop = re->fn(re->ctx, dst, rtm->rtm_dst_len, oif);
	return MNL_CB_OK;
}

int rtnl_route4_each(struct net_rtnl *r,
		     int (*fn)(void *ctx, uint32_t dst, uint8_t prefix,
			       int oif),
		     void *ctx, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct route_each re = {fn, ctx, 0};
	struct rtmsg *rtm;
	int rc;

	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rc = rtnl_talk(r, nlh, route_each_cb, &re, true);
	if (rc < 0) {
		snprintf(err, errlen, "rtnetlink: listing routes: %s",
			 strerror(-rc));
		return KILN_ESYS;
	}
	return re.stop < 0 ? re.stop : 0;
}

int rtnl_qdisc_tbf(struct net_rtnl *r, int ifindex, uint64_t rate_Bps,
		   uint32_t burst, uint32_t limit, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		msg_new(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
	struct tc_tbf_qopt q = {0};
	struct nlattr *opts;
	struct tcmsg *tcm;
	int rc;

	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_handle = TC_H_MAKE(1u << 16, 0);
	tcm->tcm_parent = TC_H_ROOT;
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	/* ethernet link layer: no rate table needed, the kernel computes */
	q.rate.linklayer = TC_LINKLAYER_ETHERNET;
	q.rate.rate = rate_Bps >= UINT32_MAX ? UINT32_MAX : (uint32_t)rate_Bps;
	q.limit = limit;
	opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(q), &q);
	if (rate_Bps >= UINT32_MAX)
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, rate_Bps);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, burst);
	mnl_attr_nest_end(nlh, opts);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0) {
		snprintf(err, errlen,
			 "cannot set a bandwidth limit (tbf) on link %d: %s",
			 ifindex, strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_qdisc_del_root(struct net_rtnl *r, int ifindex, char *err,
			size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_new(buf, RTM_DELQDISC, 0);
	struct tcmsg *tcm;
	int rc;

	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = TC_H_ROOT;
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	/* no root qdisc of ours: nothing to remove */
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL) {
		snprintf(err, errlen,
			 "cannot remove the bandwidth limit on link %d: %s",
			 ifindex, strerror(-rc));
		return KILN_ESYS;
	}
	return 0;
}
