/* SPDX-License-Identifier: MIT */
/*
 * Per-sandbox networking end to end, without KVM (tests/integration/net.sh,
 * root only).  Each sandbox's TAP is replaced by a veth whose other end is
 * in a "guest" test namespace carrying the guest's address, so the real
 * namespace, links and nftables rules of libkiln carry real traffic; an
 * "upstream" test namespace behind a veth of the host stands for the
 * internet.  All addresses are on this machine's own links: nothing leaves
 * it.  Prints one "PASS: name" or "FAIL: name: why" line per check.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/net.h"
#include "lib/net_sandbox.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"
#include "net_test.h"

#define UP_NS "ktest-up"
#define UP_IF "ktup0"
#define UP_HOST "10.199.77.1" /* the host's end: a host address */
#define UP_ADDR "10.199.77.2" /* upstream host 1 */
#define UP_ADDR2 "10.199.88.1" /* upstream host 2 (behind it) */
#define ID_A "00000000fe01"
#define ID_B "00000000fe02"
#define ID_C "00000000fe03"
#define SLOT_A 16380u
#define SLOT_B 16381u
#define SLOT_C 16382u

static int apply(uint32_t slot, const char *id, enum kiln_net_mode mode,
		 const char *const *allow, const char *const *deny,
		 const struct kiln_net_publish *pub, size_t n_pub)
{
	struct kiln_net_policy kp;
	struct net_policy p;
	char err[512];
	int rc;

	kiln_net_policy_init(&kp);
	kp.mode = mode;
	kp.allow_cidr = allow;
	kp.deny_cidr = deny;
	kp.publish = pub;
	kp.n_publish = n_pub;
	rc = net_policy_from_public(&kp, &p, err, sizeof(err));
	if (!rc)
		rc = net_policy_apply(slot, id, &p, err, sizeof(err));
	if (rc)
		fprintf(stderr, "apply: %s\n", err);
	net_policy_free(&p);
	return rc;
}

/* Replace the sandbox's TAP by a veth into guest namespace gns. */
static int guest_attach(uint32_t slot, const char *id, const char *gns)
{
	struct net_addrs a;
	char err[256], tap[16], g[16];

	if (net_addrs_for_slot(slot, &a, err, sizeof(err)))
		return -1;
	net_ip_str(a.ns_tap, tap);
	net_ip_str(a.guest, g);
	return sh("ip netns add %s && "
		  "ip -n kiln-%s link del tap0 && "
		  "ip -n kiln-%s link add tap0 type veth peer name eth0 "
		  "netns %s && "
		  "ip -n kiln-%s addr add %s/30 dev tap0 && "
		  "ip -n kiln-%s link set tap0 up && "
		  "ip -n %s link set lo up && "
		  "ip -n %s addr add %s/30 dev eth0 && "
		  "ip -n %s link set eth0 up && "
		  "ip -n %s route add default via %s",
		  gns, id, id, gns, id, tap, id, gns, gns, g, gns, gns, tap);
}

static bool table_exists(uint32_t slot)
{
	return sh("nft list table inet kiln-%u >/dev/null 2>&1", slot) == 0;
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static bool ns_exists(const char *id)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/run/netns/kiln-%s", id);
	return stat(path, &st) == 0;
}

static bool all_gone(uint32_t slot, const char *id, char *why, size_t len)
{
	char kv[16];

	snprintf(kv, sizeof(kv), "kv%u", slot);
	snprintf(why, len, "%s%s%s", ns_exists(id) ? "namespace left " : "",
		 link_exists(kv) ? "link left " : "",
		 table_exists(slot) ? "nft table left" : "");
	return !why[0];
}

static void cleanup(void)
{
	char err[512];

	listeners_stop();
	net_teardown(SLOT_A, ID_A, err, sizeof(err));
	net_teardown(SLOT_B, ID_B, err, sizeof(err));
	net_teardown(SLOT_C, ID_C, err, sizeof(err));
	sh("ip netns del ktest-gA 2>/dev/null; ip netns del ktest-gB "
	   "2>/dev/null; ip netns del " UP_NS " 2>/dev/null; ip link del " UP_IF
	   " 2>/dev/null; ip route del " UP_ADDR2 "/32 2>/dev/null; "
	   "ip route del 10.202.128.0/24 2>/dev/null; true");
}

/* Every namespace and kv link now present, except those of victim. */
static void live_lists(const char *victim, uint32_t vslot, const char **ids,
		       size_t *n_ids, uint32_t *slots, size_t *n_slots,
		       char (*idbuf)[16])
{
	struct if_nameindex *ifs = if_nameindex();
	FILE *f = popen("ls /run/netns", "r");
	char line[256];

	*n_ids = *n_slots = 0;
	while (f && fgets(line, sizeof(line), f) && *n_ids < 64) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "kiln-", 5) || !strcmp(line + 5, victim))
			continue;
		snprintf(idbuf[*n_ids], 16, "%.12s", line + 5);
		ids[*n_ids] = idbuf[*n_ids];
		(*n_ids)++;
	}
	if (f)
		pclose(f);
	for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
		unsigned long v;
		char *end;

		if (strncmp(i->if_name, "kv", 2) || *n_slots >= 64)
			continue;
		v = strtoul(i->if_name + 2, &end, 10);
		if (!*end && v != vslot)
			slots[(*n_slots)++] = (uint32_t)v;
	}
	if (ifs)
		if_freenameindex(ifs);
	/* tables without links (none expected) stay: pass their slots too */
	for (uint32_t s = SLOT_A; s <= SLOT_B; s++)
		if (s != vslot && *n_slots < 64)
			slots[(*n_slots)++] = s;
}

static bool set_has(uint32_t slot, const char *set, const char *what)
{
	return sh("nft list set inet kiln-%u %s | grep -q '%s'", slot, set,
		  what) == 0;
}

/* The VMM's way in: a child started in the namespace sees tap0. */
static bool spawn_sees_tap(const char *id)
{
	char *argv[] = {"/bin/sh", "-c", "grep -q 'tap0:' /proc/net/dev", NULL};
	struct vmm_proc p;
	char err[256];
	int nsfd = net_ns_open(id, err, sizeof(err)), rc;

	if (nsfd < 0)
		return false;
	rc = vmm_proc_spawn_netns(&p, argv, 2, nsfd, false, err, sizeof(err));
	close(nsfd);
	if (rc || vmm_proc_wait(&p, 10000, -1) != 1) {
		vmm_proc_stop(&p, 0, 0);
		return false;
	}
	vmm_proc_stop(&p, 0, 0);
	return WIFEXITED(p.wstatus) && WEXITSTATUS(p.wstatus) == 0;
}

struct net_events {
	int setup, policy, teardown, teardown_error;
	char setup_details[256];
};

static int on_event(void *ctx, const struct kiln_event_info *ev)
{
	struct net_events *n = ctx;

	if (ev->event == KILN_EV_NET_SETUP) {
		n->setup++;
		snprintf(n->setup_details, sizeof(n->setup_details), "%s",
			 ev->details ? ev->details : "");
	} else if (ev->event == KILN_EV_NET_POLICY) {
		n->policy++;
	} else if (ev->event == KILN_EV_NET_TEARDOWN) {
		n->teardown++;
		n->teardown_error = ev->error_code;
	}
	return KILN_OK;
}

/*
 * A state directory with one recorded sandbox (no network yet) and a hook
 * counting network events: what the store tests below start from.
 */
struct store_fix {
	char dir[32];
	struct kiln_options o;
	struct kiln *k;
	struct state *st;
	struct state_sandbox row;
	struct net_events ev;
	char err[512];
};

/* 0, or -1 after reporting test as failed (then store_fix_close() it). */
static int store_fix_open(struct store_fix *f, const char *test,
			  const char *name)
{
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-netstore-XXXXXX");
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		report(test, false, "mkdtemp failed");
		return -1;
	}
	kiln_options_init(&f->o);
	f->o.state_dir = f->dir;
	f->o.runtime_dir = f->dir;
	rc = kiln_open(&f->o, &f->k);
	if (!rc)
		rc = kiln_add_hook(f->k, on_event, &f->ev);
	if (!rc)
		rc = store_open(f->k, &f->st);
	if (!rc)
		rc = state_sandbox_insert(f->st, name, NULL, NULL, &f->row,
					  f->err, sizeof(f->err));
	if (rc) {
		report(test, false, "setup rc %d: %s", rc,
		       f->k ? kiln_errmsg(f->k) : f->err);
		return -1;
	}
	/* this program's own namespace: nothing else allocates here */
	if (ns_exists(f->row.id) || table_exists(f->row.net_slot)) {
		report(test, false,
		       "slot %u is in use here (left by the test before?)",
		       f->row.net_slot);
		return -1;
	}
	return 0;
}

static void store_fix_close(struct store_fix *f)
{
	if (f->row.id[0])
		net_teardown(f->row.net_slot, f->row.id, f->err,
			     sizeof(f->err));
	state_sandbox_clear(&f->row);
	kiln_close(f->k);
	if (f->dir[0])
		sh("rm -rf %s", f->dir);
}

/*
 * The state store's side: a recorded sandbox gets its network, a policy
 * change is applied and recorded, a namespace lost (host reboot) comes
 * back with the recorded policy, and a sandbox whose record vanished
 * (its creator killed) loses its network at the next reconciliation.
 */
static void store_lifecycle(void)
{
	static const char *const allow[] = {"10.199.0.0/16", NULL};
	struct store_fix f;
	struct state_sandbox *row = &f.row;
	struct kiln_net_policy kp;
	char path[512];
	bool netns = false, ok;
	int rc = 0;

	if (store_fix_open(&f, "net_store_lifecycle", "nettest"))
		goto out;
	kiln_net_policy_init(&kp);
	kp.mode = KILN_NET_ALLOW_ALL;
	rc = net_sandbox_create(f.k, row, &kp);
	snprintf(path, sizeof(path), "%s/net/%s.json", f.dir, row->id);
	ok = !rc && ns_exists(row->id) && access(path, F_OK) == 0 &&
	     set_has(row->net_slot, "allow4", "0.0.0.0/0");
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = allow;
	if (ok)
		rc = kiln_sandbox_set_network(f.k, "nettest", &kp);
	ok = ok && !rc && set_has(row->net_slot, "allow4", "10.199.0.0/16") &&
	     f.ev.setup == 1 && f.ev.policy == 1 &&
	     strstr(f.ev.setup_details, "\"policy\":\"allow-all\"");
	if (ok)
		ok = spawn_sees_tap(row->id);
	/* a host reboot empties /run/netns; start rebuilds it */
	if (ok)
		rc = net_teardown(row->net_slot, row->id, f.err, sizeof(f.err));
	if (ok && !rc)
		rc = net_sandbox_prepare(f.k, row, &netns);
	ok = ok && !rc && netns && ns_exists(row->id) &&
	     set_has(row->net_slot, "allow4", "10.199.0.0/16");
	/* the record goes (as when a creation is rolled back) */
	if (ok)
		rc = state_sandbox_delete(f.st, row->id, f.err, sizeof(f.err));
	kiln_close(f.k);
	f.k = NULL;
	if (ok && !rc)
		rc = kiln_open(&f.o, &f.k);
	if (ok && !rc)
		rc = store_open(f.k, &f.st); /* reconciles */
	ok = ok && !rc && !ns_exists(row->id) && !table_exists(row->net_slot) &&
	     access(path, F_OK) != 0;
	report("net_store_lifecycle", ok, "rc %d: %s", rc,
	       f.k ? kiln_errmsg(f.k) : f.err);
out:
	store_fix_close(&f);
}

/*
 * A sandbox's removal takes its namespace, table and record, and hooks
 * see it as KILN_EV_NET_TEARDOWN (without error), after its net_setup.
 */
static void store_teardown_event(void)
{
	struct store_fix f;
	struct state_sandbox *row = &f.row;
	struct kiln_net_policy kp;
	char path[512];
	bool ok;
	int rc;

	if (store_fix_open(&f, "net_teardown_event", "netrm"))
		goto out;
	kiln_net_policy_init(&kp); /* policy none: still a namespace */
	rc = net_sandbox_create(f.k, row, &kp);
	snprintf(path, sizeof(path), "%s/net/%s.json", f.dir, row->id);
	ok = !rc && ns_exists(row->id) && f.ev.setup == 1 && f.ev.teardown == 0;
	if (ok)
		rc = net_sandbox_remove(f.k, row);
	ok = ok && !rc && f.ev.teardown == 1 && f.ev.teardown_error == 0 &&
	     !ns_exists(row->id) && !table_exists(row->net_slot) &&
	     access(path, F_OK) != 0;
	report("net_teardown_event", ok,
	       "rc %d, events setup %d teardown %d (error %d): %s", rc,
	       f.ev.setup, f.ev.teardown, f.ev.teardown_error,
	       kiln_errmsg(f.k));
out:
	store_fix_close(&f);
}

int main(void)
{
	static const char *const allow_up[] = {UP_ADDR "/32", NULL};
	static const char *const allow_wide[] = {"10.199.0.0/16", NULL};
	static const char *const deny_up2[] = {"10.199.88.0/24", NULL};
	static const char *const allow_host[] = {UP_HOST, NULL};
	const struct kiln_net_publish pub = {18080, 80, 0};
	struct net_policy none = {0};
	struct net_addrs a, b;
	char err[512], why[256], ga[16], gb[16], ka[16], fwd[8] = "0";
	bool ok;
	int rc;
	FILE *f;

	if (geteuid() != 0) {
		printf("SKIP: net: needs root\n");
		return 0;
	}
	f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	if (f && fgets(fwd, sizeof(fwd), f))
		fwd[strcspn(fwd, "\n")] = '\0';
	if (f)
		fclose(f);
	cleanup();
	net_addrs_for_slot(SLOT_A, &a, err, sizeof(err));
	net_addrs_for_slot(SLOT_B, &b, err, sizeof(err));
	net_ip_str(a.guest, ga);
	net_ip_str(b.guest, gb);
	net_ip_str(a.host_link, ka);

	if (sh("ip netns add " UP_NS " && "
	       "ip link add " UP_IF " type veth peer name eth0 netns " UP_NS
	       " && ip addr add " UP_HOST "/30 dev " UP_IF " && "
	       "ip link set " UP_IF " up && "
	       "ip -n " UP_NS " link set lo up && "
	       "ip -n " UP_NS " addr add " UP_ADDR2 "/32 dev lo && "
	       "ip -n " UP_NS " addr add " UP_ADDR "/30 dev eth0 && "
	       "ip -n " UP_NS " link set eth0 up && "
	       "ip -n " UP_NS " route add default via " UP_HOST " && "
	       "ip route add " UP_ADDR2 "/32 via " UP_ADDR) ||
	    !listen_in(UP_NS, UP_ADDR, 7000, 'u') ||
	    !listen_in(UP_NS, UP_ADDR2, 7000, 'v') ||
	    !listen_in(NULL, UP_HOST, 7001, 'h')) {
		report("net_setup_none", false, "test upstream setup failed");
		cleanup();
		return 1;
	}

	/* a new sandbox: namespace, links, TAP, rules; policy none */
	rc = net_setup(SLOT_A, ID_A, &none, err, sizeof(err));
	report("net_setup_none",
	       !rc && ns_exists(ID_A) && link_exists(a.host_if) &&
		       table_exists(SLOT_A) &&
		       sh("ip -n kiln-" ID_A " -d link show tap0 | grep -q "
			  "'tun type tap.*vnet_hdr on.*persist on'") == 0,
	       "rc %d: %s", rc, rc ? err : "something is missing");
	if (rc || guest_attach(SLOT_A, ID_A, "ktest-gA") ||
	    !listen_in("ktest-gA", "0.0.0.0", 80, 'a') ||
	    !listen_in(NULL, ka, 7002, 'k')) {
		report("net_none_isolated", false, "guest A setup failed");
		cleanup();
		return 1;
	}
	report("net_none_isolated",
	       !probe("ktest-gA", UP_ADDR, 7000) &&
		       !probe("ktest-gA", UP_ADDR2, 7000) &&
		       !probe("ktest-gA", UP_HOST, 7001) &&
		       !probe("ktest-gA", ka, 7002),
	       "the guest reached something under policy none");

	rc = apply(SLOT_A, ID_A, KILN_NET_CUSTOM, allow_up, NULL, NULL, 0);
	report("net_custom_allow_one",
	       !rc && probe("ktest-gA", UP_ADDR, 7000) == 'u' &&
		       !probe("ktest-gA", UP_ADDR2, 7000) &&
		       !probe("ktest-gA", UP_HOST, 7001),
	       "rc %d; allowed host %s, others must not answer", rc,
	       probe("ktest-gA", UP_ADDR, 7000) ? "answers" : "does not");

	rc = apply(SLOT_A, ID_A, KILN_NET_CUSTOM, allow_wide, deny_up2, NULL,
		   0);
	report("net_deny_wins",
	       !rc && probe("ktest-gA", UP_ADDR, 7000) == 'u' &&
		       !probe("ktest-gA", UP_ADDR2, 7000),
	       "rc %d", rc);

	rc = apply(SLOT_A, ID_A, KILN_NET_ALLOW_ALL, NULL, NULL, NULL, 0);
	report("net_allow_all",
	       !rc && probe("ktest-gA", UP_ADDR, 7000) == 'u' &&
		       probe("ktest-gA", UP_ADDR2, 7000) == 'v' &&
		       !probe("ktest-gA", UP_HOST, 7001) &&
		       !probe("ktest-gA", ka, 7002),
	       "rc %d (upstream must answer, host addresses must not)", rc);

	rc = apply(SLOT_A, ID_A, KILN_NET_CUSTOM, allow_host, NULL, NULL, 0);
	report("net_custom_host",
	       !rc && probe("ktest-gA", UP_HOST, 7001) == 'h' &&
		       !probe("ktest-gA", UP_ADDR, 7000),
	       "rc %d: an allowed host address must answer", rc);

	rc = apply(SLOT_A, ID_A, KILN_NET_NONE, NULL, NULL, NULL, 0);
	report("net_change_to_none",
	       !rc && !probe("ktest-gA", UP_HOST, 7001) &&
		       !probe("ktest-gA", UP_ADDR, 7000),
	       "rc %d", rc);

	/* a second sandbox: neither reaches the other */
	rc = net_setup(SLOT_B, ID_B, &none, err, sizeof(err));
	if (!rc)
		rc = guest_attach(SLOT_B, ID_B, "ktest-gB");
	if (!rc)
		rc = apply(SLOT_B, ID_B, KILN_NET_ALLOW_ALL, NULL, NULL, NULL,
			   0);
	if (!rc)
		rc = apply(SLOT_A, ID_A, KILN_NET_ALLOW_ALL, NULL, NULL, NULL,
			   0);
	report("net_cross_sandbox",
	       !rc && listen_in("ktest-gB", "0.0.0.0", 80, 'b') &&
		       probe("ktest-gB", UP_ADDR, 7000) == 'u' &&
		       !probe("ktest-gA", gb, 80) && !probe("ktest-gB", ga, 80),
	       "rc %d: %s", rc, rc ? err : "the sandboxes reached each other");

	/* a slot in use (another state directory) is refused, not taken */
	rc = net_setup(SLOT_A, ID_C, &none, err, sizeof(err));
	report("net_slot_in_use",
	       rc == KILN_ESTATE && !ns_exists(ID_C) && ns_exists(ID_A) &&
		       link_exists(a.host_if) && table_exists(SLOT_A),
	       "rc %d: %s", rc, err);

	/* published port: from the host and from upstream, and only then */
	rc = apply(SLOT_A, ID_A, KILN_NET_NONE, NULL, NULL, &pub, 1);
	report("net_publish",
	       !rc && probe(NULL, UP_HOST, 18080) == 'a' &&
		       probe(UP_NS, UP_HOST, 18080) == 'a' &&
		       !probe("ktest-gB", UP_HOST, 18080),
	       "rc %d: host %d, upstream %d (want 'a' = %d), sandbox B %d", rc,
	       probe(NULL, UP_HOST, 18080), probe(UP_NS, UP_HOST, 18080), 'a',
	       probe("ktest-gB", UP_HOST, 18080));
	rc = apply(SLOT_A, ID_A, KILN_NET_NONE, NULL, NULL, NULL, 0);
	report("net_unpublish", !rc && !probe(NULL, UP_HOST, 18080),
	       "rc %d: the port still answers", rc);

	/* bandwidth limit: a token bucket on both ends of the veth */
	{
		struct kiln_net_policy kp;
		struct net_policy p;

		kiln_net_policy_init(&kp);
		kp.rate_bps = 1000000;
		rc = net_policy_from_public(&kp, &p, err, sizeof(err));
		if (!rc)
			rc = net_policy_apply(SLOT_A, ID_A, &p, err,
					      sizeof(err));
		net_policy_free(&p);
		ok = !rc &&
		     sh("tc qdisc show dev %s | grep -q 'tbf .*rate 1Mbit'",
			a.host_if) == 0 &&
		     sh("tc -n kiln-" ID_A " qdisc show dev eth0 | grep -q "
			"'tbf .*rate 1Mbit'") == 0;
		rc = rc ? rc
			: apply(SLOT_A, ID_A, KILN_NET_NONE, NULL, NULL, NULL,
				0);
		report("net_bandwidth",
		       ok && !rc &&
			       sh("tc qdisc show dev %s | grep -q tbf",
				  a.host_if) != 0 &&
			       sh("tc -n kiln-" ID_A " qdisc show dev eth0 | "
				  "grep -q tbf") != 0,
		       "rc %d: %s", rc, rc ? err : "qdisc not as expected");
	}

	/* the address plan must not shadow a network of the host */
	sh("ip route add 10.202.128.0/24 dev " UP_IF);
	rc = net_setup(SLOT_C, ID_C, &none, err, sizeof(err));
	report("net_collision",
	       rc == KILN_EINVAL && strstr(err, "10.202.128.0/24") &&
		       !ns_exists(ID_C),
	       "rc %d: %s", rc, err);
	sh("ip route del 10.202.128.0/24 dev " UP_IF);

	rc = net_teardown(SLOT_A, ID_A, err, sizeof(err));
	if (!rc)
		rc = net_teardown(SLOT_A, ID_A, err, sizeof(err));
	report("net_teardown", !rc && all_gone(SLOT_A, ID_A, why, sizeof(why)),
	       "rc %d: %s %s", rc, rc ? err : "", why);

	/* the owner dies with SIGKILL: reconciliation cleans up */
	{
		const char *ids[64];
		char idbuf[64][16];
		uint32_t slots[64];
		size_t n_ids, n_slots;
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			if (net_setup(SLOT_C, ID_C, &none, err, sizeof(err)))
				_exit(1);
			raise(SIGKILL);
		}
		waitpid(pid, &st, 0);
		rc = !(WIFSIGNALED(st) && ns_exists(ID_C) &&
		       table_exists(SLOT_C));
		if (!rc) {
			live_lists(ID_C, SLOT_C, ids, &n_ids, slots, &n_slots,
				   idbuf);
			rc = net_reconcile(ids, n_ids, slots, n_slots, err,
					   sizeof(err));
		}
		/*
		 * 3: namespace, link, table.  The kernel may beat it to the
		 * link: once the namespace's last user is gone it destroys
		 * the namespace (asynchronously), and with it the veth pair.
		 */
		report("net_reconcile_after_kill",
		       (rc == 3 || rc == 2) &&
			       all_gone(SLOT_C, ID_C, why, sizeof(why)) &&
			       ns_exists(ID_B) && table_exists(SLOT_B),
		       "reconcile returned %d (want 3 objects removed, or 2 "
		       "when the kernel removed the link first): %s %s",
		       rc, rc < 0 ? err : "", why);
	}

	store_lifecycle();
	store_teardown_event();

	cleanup();
	sh("echo %s > /proc/sys/net/ipv4/ip_forward", fwd);
	report("net_no_leftovers",
	       all_gone(SLOT_B, ID_B, why, sizeof(why)) &&
		       sh("ip netns list | grep -q ktest-") != 0,
	       "%s", why);
	return failures ? 1 : 0;
}
