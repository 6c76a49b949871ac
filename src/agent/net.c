/* SPDX-License-Identifier: MIT */
/*
 * The net_config op (see net.h).  Classic ioctls on an AF_INET socket do
 * all of it (SIOCSIFADDR replaces the interface's primary address, so a
 * clone's address replaces its original's; SIOCDELRT/SIOCADDRT replace the
 * default route): no netlink code in the agent for four small steps.
 */
#include "common/mac.h"
#include "agent/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "common/proto.h"

/* Error code of a step that failed (docs/PROTOCOL.md). */
#define PROTO_E_NET_CONFIG "net_config_failed"
/* Default routes removed before ours; more than one is already odd. */
#define NETCFG_MAX_OLD_ROUTES 16

static int fail(char *err, size_t errlen, const char *fmt, const char *a,
		const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

/* Strict dotted quad (inet_pton takes exactly a.b.c.d) into host order. */
static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (strlen(s) > 15 || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > NETCFG_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
		      *s == '.'))
			return false;
	return true;
}

/* Not 0.0.0.0/8, loopback, multicast, reserved or broadcast. */
static bool unicast_ok(uint32_t ip)
{
	uint8_t top = (uint8_t)(ip >> 24);

	return top != 0 && top != 127 && top < 224;
}

/* Field name of obj as a string (absent: *out NULL unless required). */
static int get_str(json_t *obj, const char *name, bool required,
		   const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v && !required)
		return 0;
	if (!v || !json_is_string(v)) {
		snprintf(err, errlen, "net_config: \"%s\" must be a string",
			 name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int netcfg_parse(json_t *obj, struct netcfg_req *req, char *err, size_t errlen)
{
	const char *iface, *address, *gw, *ns, *mac;
	json_t *op, *o1, *o2, *o3 = NULL, *o4 = NULL, *o5 = NULL;
	char ip[16], *end;
	const char *slash;
	uint32_t mask, host;
	unsigned long len;

	memset(req, 0, sizeof(*req));
	/* plain values first (unknown fields refused), then each type
	 * checked by name: jansson's type errors do not name the field */
	if (proto_unpack(obj, err, errlen, "net_config",
			 "{s:o, s:o, s:o, s?o, s?o, s?o}", "op", &op, "iface",
			 &o1, "address", &o2, "gateway", &o3, "nameserver", &o4,
			 "mac", &o5) < 0 ||
	    get_str(obj, "iface", true, &iface, err, errlen) ||
	    get_str(obj, "address", true, &address, err, errlen) ||
	    get_str(obj, "gateway", false, &gw, err, errlen) ||
	    get_str(obj, "nameserver", false, &ns, err, errlen) ||
	    get_str(obj, "mac", false, &mac, err, errlen))
		return -1;
	if (!ifname_ok(iface))
		return fail(err, errlen,
			    "net_config: iface \"%.32s\": expected 1 to 15 "
			    "letters, digits, '_', '-' or '.'%s",
			    iface, "");
	snprintf(req->iface, sizeof(req->iface), "%s", iface);
	slash = strchr(address, '/');
	if (!slash || slash - address > 15 || !slash[1] ||
	    !(slash[1] >= '0' && slash[1] <= '9'))
		return fail(err, errlen,
			    "net_config: address \"%.40s\": expected "
			    "a.b.c.d/len%s",
			    address, "");
	memcpy(ip, address, (size_t)(slash - address));
	ip[slash - address] = '\0';
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (parse_ip(ip, &req->address) || *end || errno || len < 1 ||
	    len > 30 || end - (slash + 1) > 2)
		return fail(err, errlen,
			    "net_config: address \"%.40s\": expected "
			    "a.b.c.d/len with len 1..30%s",
			    address, "");
	req->prefix = (uint8_t)len;
	mask = ~0u << (32 - len);
	host = req->address & ~mask;
	if (!unicast_ok(req->address) || host == 0 || host == ~mask)
		return fail(err, errlen,
			    "net_config: address \"%.40s\" is not a host "
			    "address (network, broadcast, loopback or "
			    "multicast)%s",
			    address, "");
	if (gw) {
		uint32_t gh;

		if (parse_ip(gw, &req->gateway))
			return fail(err, errlen,
				    "net_config: gateway \"%.40s\": expected "
				    "a.b.c.d%s",
				    gw, "");
		gh = req->gateway & ~mask;
		if ((req->gateway & mask) != (req->address & mask) ||
		    req->gateway == req->address || gh == 0 || gh == ~mask)
			return fail(err, errlen,
				    "net_config: gateway %.40s is not another "
				    "host of %.40s's subnet",
				    gw, address);
		req->has_gateway = true;
	}
	if (ns) {
		if (parse_ip(ns, &req->nameserver) ||
		    !unicast_ok(req->nameserver))
			return fail(err, errlen,
				    "net_config: nameserver \"%.40s\": "
				    "expected a unicast a.b.c.d%s",
				    ns, "");
		req->has_nameserver = true;
	}
	if (mac) {
		if (mac_parse(mac, req->mac))
			return fail(err, errlen,
				    "net_config: mac \"%.40s\": expected a "
				    "unicast AA:BB:CC:DD:EE:FF, not all "
				    "zeros%s",
				    mac, "");
		req->has_mac = true;
	}
	return 0;
}

static void sin_set(struct sockaddr *sa, uint32_t ip)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	sin.sin_addr.s_addr = htonl(ip);
	memcpy(sa, &sin, sizeof(sin));
}

static int step_fail(char *err, size_t errlen, const char *what,
		     const char *iface)
{
	int e = errno ? errno : EIO;

	snprintf(err, errlen, "net_config: %s %s: %s", what, iface,
		 strerror(e));
	return -e;
}

/* Remove every default route, then add ours via req->gateway. */
static int set_default_route(int s, const struct netcfg_req *req, char *err,
			     size_t errlen)
{
	struct rtentry rt;
	char dev[IFNAMSIZ];

	for (int i = 0; i < NETCFG_MAX_OLD_ROUTES; i++) {
		memset(&rt, 0, sizeof(rt));
		sin_set(&rt.rt_dst, 0);
		sin_set(&rt.rt_genmask, 0);
		if (ioctl(s, SIOCDELRT, &rt) < 0) {
			if (errno == ESRCH)
				break;
			return step_fail(err, errlen,
					 "removing the old default route of",
					 req->iface);
		}
	}
	if (!req->has_gateway)
		return 0;
	memset(&rt, 0, sizeof(rt));
	snprintf(dev, sizeof(dev), "%s", req->iface);
	sin_set(&rt.rt_dst, 0);
	sin_set(&rt.rt_genmask, 0);
	sin_set(&rt.rt_gateway, req->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = dev;
	if (ioctl(s, SIOCADDRT, &rt) < 0)
		return step_fail(err, errlen, "adding the default route via",
				 req->iface);
	return 0;
}

/* "nameserver a.b.c.d" into path, replaced atomically. */
static int write_resolv(const struct netcfg_req *req, const char *path,
			char *err, size_t errlen)
{
	char tmp[4096], line[64], ip[16];
	struct in_addr a = {htonl(req->nameserver)};
	int fd, n;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	n = snprintf(line, sizeof(line), "nameserver %s\n", ip);
	if (snprintf(tmp, sizeof(tmp), "%s.kiln-tmp", path) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "net_config: path %s is too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return step_fail(err, errlen, "creating", tmp);
	if (write(fd, line, (size_t)n) != n) {
		int rc = step_fail(err, errlen, "writing", tmp);

		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int rc = step_fail(err, errlen, "replacing", path);

		unlink(tmp);
		return rc;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Wait (bounded) until the interface runs: carrier on and the kernel's
 * link watch done, which is also when its queue starts sending.  Right
 * after a restore connected the NIC, the driver learns of the link from a
 * config interrupt and Linux turns the queue on up to a second later;
 * until then what the guest sends (its first ARP requests too) is dropped.
 * Replying only then means the guest is reachable once libkiln says ready.
 */
static bool wait_running(int s, struct ifreq *ifr)
{
	uint64_t deadline = now_ms() + NETCFG_LINK_WAIT_MS;

	for (;;) {
		if (ioctl(s, SIOCGIFFLAGS, ifr) < 0)
			return false;
		if (ifr->ifr_flags & IFF_RUNNING)
			return true;
		if (now_ms() >= deadline)
			return false;
		poll(NULL, 0, 10); /* polling the flags, bounded above */
	}
}

int netcfg_apply(const struct netcfg_req *req, const char *resolv_conf,
		 bool *link_up, char *err, size_t errlen)
{
	struct ifreq ifr;
	int s, rc = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return step_fail(err, errlen, "socket for", req->iface);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", req->iface);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = step_fail(err, errlen, "no interface", req->iface);
		goto out;
	}
	if (req->has_mac) {
		/* the address can only change while the link is down */
		ifr.ifr_flags &= ~IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
			rc = step_fail(err, errlen, "bringing down",
				       req->iface);
			goto out;
		}
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, req->mac, 6);
		if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) {
			rc = step_fail(err, errlen, "setting the MAC of",
				       req->iface);
			goto out;
		}
	}
	sin_set(&ifr.ifr_addr, req->address);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0) {
		rc = step_fail(err, errlen, "setting the address of",
			       req->iface);
		goto out;
	}
	sin_set(&ifr.ifr_netmask, ~0u << (32 - req->prefix));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) {
		rc = step_fail(err, errlen, "setting the prefix of",
			       req->iface);
		goto out;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = step_fail(err, errlen, "reading the flags of", req->iface);
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		rc = step_fail(err, errlen, "bringing up", req->iface);
		goto out;
	}
	rc = set_default_route(s, req, err, errlen);
	if (!rc && req->has_nameserver)
		rc = write_resolv(req, resolv_conf, err, errlen);
	if (!rc && link_up)
		*link_up = wait_running(s, &ifr);
out:
	close(s);
	return rc;
}

void netcfg_op(struct conn *c, uint32_t id, json_t *obj)
{
	struct netcfg_req req;
	bool link_up = false;
	char err[256];
	int rc;

	if (netcfg_parse(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	rc = netcfg_apply(&req, NETCFG_RESOLV_CONF, &link_up, err, sizeof(err));
	if (rc) {
		log_msg("%s", err);
		conn_send_error(c, id,
				rc == -ENODEV ? PROTO_E_NOT_FOUND
					      : PROTO_E_NET_CONFIG,
				"%s", err);
		return;
	}
	if (!link_up)
		log_msg("net_config: %s has no link yet", req.iface);
	conn_send_result(c, id, json_pack("{s:b}", "link_up", link_up));
}
