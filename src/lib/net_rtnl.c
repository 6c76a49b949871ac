/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink through libmnl: one request, wait for its ACK (or the end of a
 * dump), report the kernel's errno.  Requests are small and synchronous;
 * the socket is never shared between threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdarg.h>
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

/*
 * A request of type in buf (*nlh), and its family header of extra bytes
 * (zeroed, returned): every message below starts this way.
 */
static void *msg_new(char *buf, uint16_t type, uint16_t flags, size_t extra,
		     struct nlmsghdr **nlh)
{
	*nlh = mnl_nlmsg_put_header(buf);
	(*nlh)->nlmsg_type = type;
	(*nlh)->nlmsg_flags = NLM_F_REQUEST | flags;
	return mnl_nlmsg_put_extra_header(*nlh, extra);
}

/* A link request naming the link by name (if not NULL) or ifindex. */
static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags,
				 const char *name, int ifindex,
				 struct ifinfomsg **ifi_out)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi = msg_new(buf, type, flags, sizeof(*ifi), &nlh);

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (ifi_out)
		*ifi_out = ifi;
	return nlh;
}

/* A root qdisc request on ifindex. */
static struct nlmsghdr *qdisc_msg(char *buf, uint16_t type, uint16_t flags,
				  int ifindex, struct tcmsg **tcm_out)
{
	struct nlmsghdr *nlh;
	struct tcmsg *tcm = msg_new(buf, type, flags, sizeof(*tcm), &nlh);

	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = TC_H_ROOT;
	if (tcm_out)
		*tcm_out = tcm;
	return nlh;
}

/* "<what>: <the kernel's errno>" into err; KILN_ESYS. */
static int __attribute__((format(printf, 4, 5)))
fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s", strerror(-rc));
	return KILN_ESYS;
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
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, name, 0, NULL);
	struct index_ctx ctx = {0};
	int rc = rtnl_talk(r, nlh, index_cb, &ctx, false);

	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return fail(rc, err, errlen, "rtnetlink: looking up link %s",
			    name);
	return ctx.index;
}

int rtnl_veth_add(struct net_rtnl *r, const char *host_name,
		  const char *peer_name, int peer_nsfd, char *err,
		  size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
		link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, host_name,
			 0, NULL);
	struct nlattr *info, *data, *peer;
	struct ifinfomsg *pifi;
	size_t n;
	int rc;

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
		fail(rc, err, errlen, "cannot create veth pair %s/%s",
		     host_name, peer_name);
		n = strlen(err);
		if (rc == -EEXIST && n + 1 < errlen)
			snprintf(err + n, errlen - n,
				 " (a leftover: run any kiln command to "
				 "reconcile, or ip link del it)");
		return KILN_ESYS;
	}
	return 0;
}

int rtnl_link_up(struct net_rtnl *r, int ifindex, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh =
		link_msg(buf, RTM_NEWLINK, 0, NULL, ifindex, &ifi);
	int rc;

	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0)
		return fail(rc, err, errlen, "cannot set link %d up", ifindex);
	return 0;
}

int rtnl_link_del(struct net_rtnl *r, const char *name, char *err,
		  size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, name, 0, NULL);
	int rc = rtnl_talk(r, nlh, NULL, NULL, false);

	if (rc < 0 && rc != -ENODEV)
		return fail(rc, err, errlen, "cannot delete link %s", name);
	return 0;
}

int rtnl_addr_add(struct net_rtnl *r, int ifindex, uint32_t addr,
		  uint8_t prefix, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], a[16];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa =
		msg_new(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE,
			sizeof(*ifa), &nlh);
	uint32_t be = htonl(addr);
	int rc;

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, be);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
	rc = rtnl_talk(r, nlh, NULL, NULL, false);
	if (rc < 0)
		return fail(
			rc, err, errlen, "cannot add address %s/%u to link %d",
			inet_ntop(AF_INET, &be, a, sizeof(a)), prefix, ifindex);
	return 0;
}

int rtnl_route_add(struct net_rtnl *r, uint32_t dst, uint8_t prefix,
		   uint32_t gw, int ifindex, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm =
		msg_new(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
			sizeof(*rtm), &nlh);
	int rc;

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
	if (rc < 0)
		return fail(rc, err, errlen,
			    "cannot add route to %u.%u.%u.%u/%u", dst >> 24,
			    (dst >> 16) & 255, (dst >> 8) & 255, dst & 255,
			    prefix);
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
	struct nlmsghdr *nlh;
	struct rtgenmsg *g =
		msg_new(buf, RTM_GETLINK, NLM_F_DUMP, sizeof(*g), &nlh);
	struct link_each le = {fn, ctx, 0};
	int rc;

	g->rtgen_family = AF_UNSPEC;
	rc = rtnl_talk(r, nlh, link_each_cb, &le, true);
	if (rc < 0)
		return fail(rc, err, errlen, "rtnetlink: listing links");
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
	struct nlmsghdr *nlh;
	struct rtmsg *rtm =
		msg_new(buf, RTM_GETROUTE, NLM_F_DUMP, sizeof(*rtm), &nlh);
	struct route_each re = {fn, ctx, 0};
	int rc;

	rtm->rtm_family = AF_INET;
	rc = rtnl_talk(r, nlh, route_each_cb, &re, true);
	if (rc < 0)
		return fail(rc, err, errlen, "rtnetlink: listing routes");
	return re.stop < 0 ? re.stop : 0;
}

int rtnl_qdisc_tbf(struct net_rtnl *r, int ifindex, uint64_t rate_Bps,
		   uint32_t burst, uint32_t limit, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tcmsg *tcm;
	struct nlmsghdr *nlh = qdisc_msg(
		buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, &tcm);
	struct tc_tbf_qopt q = {0};
	struct nlattr *opts;
	int rc;

	tcm->tcm_handle = TC_H_MAKE(1u << 16, 0);
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
	if (rc < 0)
		return fail(rc, err, errlen,
			    "cannot set a bandwidth limit (tbf) on link %d",
			    ifindex);
	return 0;
}

int rtnl_qdisc_del_root(struct net_rtnl *r, int ifindex, char *err,
			size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = qdisc_msg(buf, RTM_DELQDISC, 0, ifindex, NULL);
	int rc = rtnl_talk(r, nlh, NULL, NULL, false);

	/* no root qdisc of ours: nothing to remove */
	if (rc < 0 && rc != -ENOENT && rc != -EINVAL)
		return fail(rc, err, errlen,
			    "cannot remove the bandwidth limit on link %d",
			    ifindex);
	return 0;
}
