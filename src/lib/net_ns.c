/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's network namespace and links (docs/NETWORK.md).
 *
 * The namespace is made the way `ip netns add` makes one (a bind mount of
 * the namespace file at /run/netns/NAME, /run/netns a shared mount), so
 * `ip netns exec kiln-<id> ...` works for debugging.  Work inside it is
 * done by moving the calling thread in with setns() and straight back
 * (net_in_ns()): sockets, TUN fds and /proc/sys/net files opened there
 * keep pointing into it.  Everything here is idempotent so that a second
 * teardown, or a reconciliation after kill -9, finds nothing left to do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h> /* before linux/if_tun.h: it has struct ifreq */
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/net.h"
#include "lib/net_rtnl.h"

#define ERRLEN 512

int net_addrs_for_slot(uint32_t slot, struct net_addrs *a, char *err,
		       size_t errlen)
{
	if (slot > NET_SLOT_MAX) {
		snprintf(err, errlen, "network slot %u is out of range (0..%u)",
			 slot, NET_SLOT_MAX);
		return KILN_EINVAL;
	}
	memset(a, 0, sizeof(*a));
	a->slot = slot;
	a->host_link = NET_LINK_BASE + 4 * slot + 1;
	a->ns_link = NET_LINK_BASE + 4 * slot + 2;
	a->ns_tap = NET_GUEST_BASE + 4 * slot + 1;
	a->guest = NET_GUEST_BASE + 4 * slot + 2;
	snprintf(a->host_if, sizeof(a->host_if), NET_HOST_IF_PREFIX "%u", slot);
	return 0;
}

const char *net_ip_str(uint32_t ip, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
	return buf;
}

/* Whether name is "kiln-" + 12 lowercase hex digits (a sandbox id). */
static bool ns_name_is_ours(const char *name)
{
	size_t n = strlen(NET_NS_PREFIX);

	if (strncmp(name, NET_NS_PREFIX, n) || strlen(name + n) != 12)
		return false;
	return strspn(name + n, "0123456789abcdef") == 12;
}

static int ns_path(const char *id, char *buf, size_t len, char *err,
		   size_t errlen)
{
	char name[64];

	snprintf(name, sizeof(name), NET_NS_PREFIX "%s", id ? id : "");
	if (!id || !ns_name_is_ours(name)) {
		snprintf(err, errlen, "bad sandbox id for a network namespace");
		return KILN_EINVAL;
	}
	snprintf(buf, len, NET_NS_DIR "/%s", name);
	return 0;
}

int net_in_ns(int nsfd, int (*fn)(void *arg), void *arg, char *err,
	      size_t errlen)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int rc;

	if (self < 0) {
		snprintf(err, errlen, "/proc/thread-self/ns/net: %s",
			 strerror(errno));
		return KILN_ESYS;
	}
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		snprintf(err, errlen, "setns into a sandbox namespace: %s",
			 strerror(errno));
		close(self);
		return KILN_ESYS;
	}
	rc = fn(arg);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* this thread would act on the wrong network */
	close(self);
	return rc;
}

/* Like `ip netns`: /run/netns a shared mount, so other mount
 * namespaces see the namespaces bind-mounted below it. */
static int ns_dir_prepare(char *err, size_t errlen)
{
	if (mkdir(NET_NS_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", NET_NS_DIR,
			 strerror(errno));
		return KILN_ESYS;
	}
	if (mount("", NET_NS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL ||
	    mount(NET_NS_DIR, NET_NS_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
	    mount("", NET_NS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		snprintf(err, errlen, "cannot make %s a shared mount: %s",
			 NET_NS_DIR, strerror(errno));
		return KILN_ESYS;
	}
	return 0;
}

/* Unmount and remove a namespace file; a missing one is fine. */
static int ns_remove_path(const char *path, char *err, size_t errlen)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT) {
		snprintf(err, errlen, "cannot unmount %s: %s", path,
			 strerror(errno));
		return KILN_ESYS;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", path,
			 strerror(errno));
		return KILN_ESYS;
	}
	return 0;
}

/* A new, empty network namespace pinned at path. */
static int ns_create(const char *path, char *err, size_t errlen)
{
	int fd, self, rc = 0;

	rc = ns_dir_prepare(err, errlen);
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path,
			 strerror(errno));
		return KILN_ESYS;
	}
	close(fd);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		snprintf(err, errlen, "/proc/thread-self/ns/net: %s",
			 strerror(errno));
		unlink(path);
		return KILN_ESYS;
	}
	/* only this thread moves; it comes straight back */
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(err, errlen, "cannot create a network namespace: %s%s",
			 strerror(errno),
			 errno == EPERM ? " (networking needs root)" : "");
		rc = KILN_ESYS;
	} else {
		if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND,
			  NULL) < 0) {
			snprintf(err, errlen, "cannot bind-mount %s: %s", path,
				 strerror(errno));
			rc = KILN_ESYS;
		}
		if (setns(self, CLONE_NEWNET) < 0)
			abort();
	}
	close(self);
	if (rc)
		unlink(path);
	return rc;
}

int net_ns_open(const char *id, char *err, size_t errlen)
{
	char path[128];
	int fd, rc;

	rc = ns_path(id, path, sizeof(path), err, errlen);
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "network namespace %s: %s", path,
			 strerror(errno));
		return errno == ENOENT ? KILN_ENOTFOUND : KILN_ESYS;
	}
	return fd;
}

bool net_exists(const char *id)
{
	char err[ERRLEN];
	int fd = net_ns_open(id, err, sizeof(err));

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int sysctl_write(const char *path, const char *val, char *err,
			size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return KILN_ESYS;
	}
	n = write(fd, val, strlen(val));
	close(fd);
	if (n != (ssize_t)strlen(val)) {
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(errno));
		return KILN_ESYS;
	}
	return 0;
}

/* A persistent TAP owned by root, with virtio-net headers. */
static int tap_create(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return KILN_ESYS;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOWNER, 0) < 0 ||
	    ioctl(fd, TUNSETPERSIST, 1) < 0) {
		snprintf(err, errlen, "cannot create TAP %s: %s", name,
			 strerror(errno));
		close(fd);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}

struct ns_work {
	const struct net_addrs *a;
	const struct net_policy *p;
	char *err;
	size_t errlen;
};

/* Inside the namespace: lo, eth0, tap0, routes, forwarding, rules. */
static int ns_configure(void *arg)
{
	struct ns_work *w = arg;
	const struct net_addrs *a = w->a;
	struct net_rtnl r;
	char *script;
	int rc, lo, eth, tap;

	rc = rtnl_open(&r, w->err, w->errlen);
	if (rc)
		return rc;
	rc = tap_create(NET_TAP_NAME, w->err, w->errlen);
	lo = rc ? rc : rtnl_link_index(&r, "lo", w->err, w->errlen);
	eth = lo <= 0 ? lo
		      : rtnl_link_index(&r, NET_NS_IF_NAME, w->err, w->errlen);
	tap = eth <= 0 ? eth
		       : rtnl_link_index(&r, NET_TAP_NAME, w->err, w->errlen);
	if (tap <= 0) {
		if (tap == 0)
			snprintf(w->err, w->errlen,
				 "a link is missing in the new namespace");
		rtnl_close(&r);
		return tap ? tap : KILN_ESYS;
	}
	rc = rtnl_link_up(&r, lo, w->err, w->errlen);
	if (!rc)
		rc = rtnl_addr_add(&r, eth, a->ns_link, 30, w->err, w->errlen);
	if (!rc)
		rc = rtnl_link_up(&r, eth, w->err, w->errlen);
	if (!rc)
		rc = rtnl_addr_add(&r, tap, a->ns_tap, 30, w->err, w->errlen);
	if (!rc)
		rc = rtnl_link_up(&r, tap, w->err, w->errlen);
	if (!rc)
		rc = rtnl_route_add(&r, 0, 0, a->host_link, eth, w->err,
				    w->errlen);
	rtnl_close(&r);
	if (!rc)
		rc = sysctl_write("/proc/sys/net/ipv4/ip_forward", "1", w->err,
				  w->errlen);
	if (rc)
		return rc;
	script = net_nft_ns_script(a, w->p);
	if (!script) {
		snprintf(w->err, w->errlen, "out of memory");
		return KILN_ENOMEM;
	}
	rc = net_nft_run(script, w->err, w->errlen);
	free(script);
	return rc;
}

struct collide_ctx {
	uint32_t dst;
	uint8_t prefix;
	char name[IF_NAMESIZE];
	bool hit;
};

static bool overlaps(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint8_t len = alen < blen ? alen : blen;
	uint32_t mask = len ? ~0u << (32 - len) : 0;

	return (a & mask) == (b & mask);
}

static int collide_cb(void *arg, uint32_t dst, uint8_t prefix, int oif)
{
	struct collide_ctx *c = arg;
	char name[IF_NAMESIZE] = "";
	size_t n = strlen(NET_HOST_IF_PREFIX);

	/* the default route overlaps everything and is no conflict */
	if (!prefix)
		return 0;
	if (!overlaps(dst, prefix, NET_LINK_BASE, NET_RANGE_PREFIX) &&
	    !overlaps(dst, prefix, NET_GUEST_BASE, NET_RANGE_PREFIX))
		return 0;
	if (oif > 0 && if_indextoname((unsigned int)oif, name) &&
	    !strncmp(name, NET_HOST_IF_PREFIX, n) && name[n] &&
	    strspn(name + n, "0123456789") == strlen(name + n))
		return 0; /* a sandbox's own route */
	c->dst = dst;
	c->prefix = prefix;
	snprintf(c->name, sizeof(c->name), "%s", name[0] ? name : "?");
	c->hit = true;
	return 1;
}

/* The plan's two /16s must be ours alone on this host. */
static int check_collisions(struct net_rtnl *r, char *err, size_t errlen)
{
	struct collide_ctx c = {0};
	char ip[16], l[16], g[16];
	int rc;

	rc = rtnl_route4_each(r, collide_cb, &c, err, errlen);
	if (rc)
		return rc;
	if (c.hit) {
		snprintf(err, errlen,
			 "the host has a route to %s/%u (dev %s) that overlaps "
			 "kiln's sandbox networks %s/%d and %s/%d; remove "
			 "that route or renumber that network "
			 "(docs/NETWORK.md)",
			 net_ip_str(c.dst, ip), c.prefix, c.name,
			 net_ip_str(NET_LINK_BASE, l), NET_RANGE_PREFIX,
			 net_ip_str(NET_GUEST_BASE, g), NET_RANGE_PREFIX);
		return KILN_EINVAL;
	}
	return 0;
}

int net_teardown(uint32_t slot, const char *id, char *err, size_t errlen)
{
	struct net_addrs a;
	struct net_rtnl r;
	char path[128], e2[ERRLEN];
	int rc, first = 0;

	rc = net_addrs_for_slot(slot, &a, err, errlen);
	if (!rc)
		rc = ns_path(id, path, sizeof(path), err, errlen);
	if (rc)
		return rc;
	/* each step runs even if one before failed; the first error wins */
	rc = rtnl_open(&r, err, errlen);
	if (!rc) {
		rc = rtnl_link_del(&r, a.host_if, err, errlen);
		rtnl_close(&r);
	}
	first = rc;
	rc = ns_remove_path(path, first ? e2 : err,
			    first ? sizeof(e2) : errlen);
	if (!first)
		first = rc;
	rc = net_nft_host_delete(slot, first ? e2 : err,
				 first ? sizeof(e2) : errlen);
	if (!first)
		first = rc;
	return first;
}

/* KILN_ESTATE if the namespace, link or table of this slot/id exists. */
static int in_use(struct net_rtnl *r, const struct net_addrs *a,
		  const char *path, char *err, size_t errlen)
{
	uint32_t *tables = NULL;
	size_t n = 0;
	bool table = false;
	int rc, idx;

	idx = rtnl_link_index(r, a->host_if, err, errlen);
	if (idx < 0)
		return idx;
	rc = net_nft_host_slots(&tables, &n, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		table = table || tables[i] == a->slot;
	free(tables);
	if (idx || table || access(path, F_OK) == 0) {
		snprintf(err, errlen,
			 "network slot %u is in use on this host (%s exists): "
			 "by another kiln state directory, or left over; "
			 "see docs/NETWORK.md",
			 a->slot,
			 idx	 ? a->host_if
			 : table ? "nftables table inet " NET_NFT_HOST_PREFIX
				   "<slot>"
				 : path);
		return KILN_ESTATE;
	}
	return 0;
}

int net_setup(uint32_t slot, const char *id, const struct net_policy *p,
	      char *err, size_t errlen)
{
	struct net_addrs a;
	struct net_rtnl r = {0};
	char path[128], sysctl[96], e2[ERRLEN];
	int rc, nsfd = -1, host;
	bool made = false;

	rc = net_addrs_for_slot(slot, &a, err, errlen);
	if (!rc)
		rc = ns_path(id, path, sizeof(path), err, errlen);
	if (!rc)
		rc = rtnl_open(&r, err, errlen);
	if (!rc)
		rc = check_collisions(&r, err, errlen);
	if (rc) {
		rtnl_close(&r);
		return rc;
	}
	/*
	 * Never take over what exists: slots are unique per state database,
	 * and another one on this host may use this slot (its leftovers go
	 * through its own reconciliation, or net_reconcile()).
	 */
	rc = in_use(&r, &a, path, err, errlen);
	made = !rc; /* from here on, a failure undoes everything */
	if (!rc)
		rc = ns_create(path, err, errlen);
	if (!rc) {
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			rc = KILN_ESYS;
		}
	}
	if (!rc)
		rc = rtnl_veth_add(&r, a.host_if, NET_NS_IF_NAME, nsfd, err,
				   errlen);
	host = rc ? rc : rtnl_link_index(&r, a.host_if, err, errlen);
	if (host == 0) {
		snprintf(err, errlen, "link %s vanished", a.host_if);
		host = KILN_ESYS;
	}
	rc = host < 0 ? host : 0;
	if (!rc)
		rc = rtnl_addr_add(&r, host, a.host_link, 30, err, errlen);
	if (!rc)
		rc = rtnl_link_up(&r, host, err, errlen);
	if (!rc) {
		struct ns_work w = {&a, p, err, errlen};

		rc = net_in_ns(nsfd, ns_configure, &w, err, errlen);
	}
	if (!rc)
		rc = rtnl_route_add(&r, a.guest & ~3u, 30, a.ns_link, host, err,
				    errlen);
	if (!rc) {
		/* forward what arrives from the sandbox (policy decides) */
		snprintf(sysctl, sizeof(sysctl),
			 "/proc/sys/net/ipv4/conf/%s/forwarding", a.host_if);
		rc = sysctl_write(sysctl, "1", err, errlen);
	}
	if (!rc)
		rc = net_policy_apply(slot, id, p, err, errlen);
	rtnl_close(&r);
	if (nsfd >= 0)
		close(nsfd);
	if (rc && made && net_teardown(slot, id, e2, sizeof(e2)))
		snprintf(err + strlen(err), errlen - strlen(err),
			 "; while cleaning up: %s", e2);
	return rc;
}

struct reconcile_ctx {
	const uint32_t *slots;
	size_t n_slots;
	char (*dead)[IF_NAMESIZE];
	size_t n_dead, cap;
};

static bool slot_live(const uint32_t *slots, size_t n, uint32_t slot)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i] == slot)
			return true;
	return false;
}

/* "kv<N>" -> N; -1 if name is not a sandbox's host link. */
static long host_if_slot(const char *name)
{
	size_t n = strlen(NET_HOST_IF_PREFIX);
	char *end;
	long v;

	if (strncmp(name, NET_HOST_IF_PREFIX, n) || !name[n] ||
	    strspn(name + n, "0123456789") != strlen(name + n) ||
	    (name[n] == '0' && name[n + 1]))
		return -1;
	v = strtol(name + n, &end, 10);
	return v > (long)NET_SLOT_MAX ? -1 : v;
}

static int reconcile_link_cb(void *arg, const char *name, int ifindex)
{
	struct reconcile_ctx *c = arg;
	long slot = host_if_slot(name);

	if (slot < 0 || slot_live(c->slots, c->n_slots, (uint32_t)slot))
		return 0;
	if (c->n_dead == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		void *p = realloc(c->dead, cap * sizeof(*c->dead));

		if (!p)
			return KILN_ENOMEM;
		c->dead = p;
		c->cap = cap;
	}
	snprintf(c->dead[c->n_dead++], IF_NAMESIZE, "%s", name);
	return 0;
}

static bool id_live(const char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] && !strcmp(ids[i], id))
			return true;
	return false;
}

int net_reconcile(const char *const *ids, size_t n_ids, const uint32_t *slots,
		  size_t n_slots, char *err, size_t errlen)
{
	struct reconcile_ctx c = {slots, n_slots, NULL, 0, 0};
	struct net_rtnl r;
	uint32_t *tables = NULL;
	size_t n_tables = 0;
	int rc, removed = 0;
	struct dirent *de;
	char path[300];
	DIR *d;

	/* namespaces first: their VMMs may still hold them, not the path */
	d = opendir(NET_NS_DIR);
	while (d && (de = readdir(d))) {
		if (!ns_name_is_ours(de->d_name) ||
		    id_live(ids, n_ids, de->d_name + strlen(NET_NS_PREFIX)))
			continue;
		snprintf(path, sizeof(path), NET_NS_DIR "/%s", de->d_name);
		rc = ns_remove_path(path, err, errlen);
		if (rc) {
			closedir(d);
			return rc;
		}
		removed++;
	}
	if (d)
		closedir(d);
	rc = rtnl_open(&r, err, errlen);
	if (rc)
		return rc;
	rc = rtnl_link_each(&r, reconcile_link_cb, &c, err, errlen);
	if (rc == KILN_ENOMEM)
		snprintf(err, errlen, "out of memory");
	for (size_t i = 0; !rc && i < c.n_dead; i++) {
		rc = rtnl_link_del(&r, c.dead[i], err, errlen);
		removed += !rc;
	}
	rtnl_close(&r);
	free(c.dead);
	if (!rc)
		rc = net_nft_host_slots(&tables, &n_tables, err, errlen);
	for (size_t i = 0; !rc && i < n_tables; i++) {
		if (slot_live(slots, n_slots, tables[i]))
			continue;
		rc = net_nft_host_delete(tables[i], err, errlen);
		removed += !rc;
	}
	free(tables);
	return rc ? rc : removed;
}
