/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's bandwidth limit: a token bucket (tbf) as the root qdisc of
 * both ends of its veth, since a qdisc shapes only what leaves a link:
 * kv<slot> on the host shapes what the guest receives, eth0 in its
 * namespace what the guest sends.  Rate 0 removes both.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/net.h"
#include "lib/net_rtnl.h"

#define TC_BURST_MIN (32u * 1024) /* bytes: a few full-size packets */
#define TC_BURST_DIV 50u /* burst: 20 ms at the rate */
#define TC_QUEUE_DIV 20u /* queue: 50 ms at the rate, then drop */

struct tc_work {
	const char *ifname;
	uint64_t rate_bps;
	char *err;
	size_t errlen;
};

/* Apply to one link of the calling thread's namespace. */
static int tc_link(void *arg)
{
	struct tc_work *w = arg;
	uint64_t rate = w->rate_bps / 8, burst, limit;
	struct net_rtnl r;
	int rc, idx;

	rc = rtnl_open(&r, w->err, w->errlen);
	if (rc)
		return rc;
	idx = rtnl_link_index(&r, w->ifname, w->err, w->errlen);
	if (idx == 0) {
		snprintf(w->err, w->errlen, "link %s is missing", w->ifname);
		idx = KILN_ESYS;
	}
	if (idx < 0) {
		rtnl_close(&r);
		return idx;
	}
	burst = rate / TC_BURST_DIV;
	if (burst < TC_BURST_MIN)
		burst = TC_BURST_MIN;
	limit = burst + rate / TC_QUEUE_DIV;
	if (burst > UINT32_MAX)
		burst = UINT32_MAX;
	if (limit > UINT32_MAX)
		limit = UINT32_MAX;
	rc = w->rate_bps ? rtnl_qdisc_tbf(&r, idx, rate, (uint32_t)burst,
					  (uint32_t)limit, w->err, w->errlen)
			 : rtnl_qdisc_del_root(&r, idx, w->err, w->errlen);
	rtnl_close(&r);
	return rc;
}

int net_tc_apply(const struct net_addrs *a, const char *id, uint64_t rate_bps,
		 char *err, size_t errlen)
{
	struct tc_work host = {a->host_if, rate_bps, err, errlen};
	struct tc_work ns = {NET_NS_IF_NAME, rate_bps, err, errlen};
	int rc, nsfd;

	rc = tc_link(&host);
	if (rc)
		return rc;
	nsfd = net_ns_open(id, err, errlen);
	if (nsfd < 0)
		return nsfd;
	rc = net_in_ns(nsfd, tc_link, &ns, err, errlen);
	close(nsfd);
	return rc;
}
