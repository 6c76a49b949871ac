/* SPDX-License-Identifier: MIT */
/*
 * The sandbox resolver end to end, without KVM (tests/integration/net.sh,
 * root only): a sandbox network made through the state store's path
 * (net_sandbox_create(), kiln_sandbox_set_network(), net_sandbox_remove())
 * with a domain allow list; its TAP replaced by a veth into a "guest" test
 * namespace; a test "upstream" namespace running dnsmasq (the only DNS
 * server asked: nothing leaves this machine) and TCP servers answering one
 * byte each.  Queries are made with dig from the guest namespace, every
 * one with a 1 s deadline.  Prints "PASS: name" / "FAIL: name: why".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/net.h"
#include "lib/net_sandbox.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"

#define UP_NS "ktest-dnsup"
#define G_NS "ktest-dnsg"
#define UP_IF "ktdns0"
#define UP_HOST "10.199.66.1"
#define UP_ADDR "10.199.66.2" /* dnsmasq, and a TCP server */
#define HOST_A "10.199.67.1" /* allowed.test */
#define HOST_B "10.199.67.2" /* denied.test */
#define HOST_C "10.199.67.3" /* www.wild.test */
#define HOST_D "10.199.67.4" /* new.test */

static int failures;
static pid_t kids[16];
static int n_kids;

static void __attribute__((format(printf, 3, 4)))
report(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		printf("FAIL: %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
}

static int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void enter_ns(const char *ns)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		_exit(99);
	close(fd);
}

/* A TCP server in ns on ip:port answering tag; false if it cannot. */
static bool listen_in(const char *ns, const char *ip, int port, char tag)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	int p[2], one = 1;
	char c = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	pid = fork();
	if (pid == 0) {
		int s;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		enter_ns(ns);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(s, 16) < 0 || write(p[1], "k", 1) != 1)
			_exit(98);
		for (;;) {
			int c2 = accept(s, NULL, NULL);

			if (c2 >= 0) {
				if (write(c2, &tag, 1) != 1)
					_exit(96);
				close(c2);
			}
		}
	}
	close(p[1]);
	if (pid > 0)
		kids[n_kids++] = pid;
	if (pid < 0 || read(p[0], &c, 1) != 1)
		c = 0;
	close(p[0]);
	return c == 'k';
}

/* What ip:port answers to a TCP client in ns; 0: nothing within 1 s. */
static char probe(const char *ns, const char *ip, int port)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port)};
		struct pollfd pfd;
		char c = 0;
		int s;

		enter_ns(ns);
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno != EINPROGRESS)
			_exit(0);
		pfd = (struct pollfd){.fd = s, .events = POLLIN};
		if (poll(&pfd, 1, 1000) != 1 || read(s, &c, 1) != 1)
			_exit(0);
		_exit((unsigned char)c);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 0;
	return (char)WEXITSTATUS(st);
}

/*
 * dig from the guest namespace: the first address of name from server
 * into addr ("" if none), the status (NOERROR, REFUSED, ...) into status
 * ("" if no answer came within 1 s).
 */
static void dig(const char *server, const char *name, char *addr, char *status)
{
	char cmd[512], line[512];
	FILE *f;

	addr[0] = status[0] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "ip netns exec " G_NS " dig +time=1 +tries=1 +noedns @%s %s A "
		 "2>&1",
		 server, name);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "status: "), a[64];

		if (s)
			sscanf(s + 8, "%31[A-Z]", status);
		if (!addr[0] && line[0] != ';' &&
		    sscanf(line, "%*s %*d IN A %63s", a) == 1)
			snprintf(addr, 16, "%.15s", a);
	}
	if (f)
		pclose(f);
}

/* dig until name resolves to want, for up to 3 s (a reload is async). */
static bool resolves_within(const char *gw, const char *name, const char *want)
{
	char addr[64], status[32];

	for (int i = 0; i < 30; i++) {
		dig(gw, name, addr, status);
		if (!strcmp(addr, want))
			return true;
		poll(NULL, 0, 100);
	}
	return false;
}

/* Whether pid runs (not a zombie: init may reap it late). */
static bool alive(int pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z';
}

static bool set_has(uint32_t slot, const char *ip)
{
	return sh("nft list set inet kiln-%u allowed_dns4 | grep -q '%s '",
		  slot, ip) == 0;
}

static void cleanup(void)
{
	for (int i = 0; i < n_kids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	n_kids = 0;
	sh("[ -f /tmp/kiln-dnsmasq-test.pid ] && kill $(cat "
	   "/tmp/kiln-dnsmasq-test.pid) 2>/dev/null; "
	   "rm -f /tmp/kiln-dnsmasq-test.pid; "
	   "ip netns del " G_NS " 2>/dev/null; ip netns del " UP_NS
	   " 2>/dev/null; ip link del " UP_IF " 2>/dev/null; "
	   "ip route del 10.199.67.0/24 2>/dev/null; true");
}

/* Replace the sandbox's TAP by a veth into the guest namespace. */
static int guest_attach(const struct net_addrs *a, const char *id)
{
	char tap[16], g[16];

	net_ip_str(a->ns_tap, tap);
	net_ip_str(a->guest, g);
	return sh("ip netns add " G_NS " && "
		  "ip -n kiln-%s link del tap0 && "
		  "ip -n kiln-%s link add tap0 type veth peer name eth0 "
		  "netns " G_NS " && "
		  "ip -n kiln-%s addr add %s/30 dev tap0 && "
		  "ip -n kiln-%s link set tap0 up && "
		  "ip -n " G_NS " link set lo up && "
		  "ip -n " G_NS " addr add %s/30 dev eth0 && "
		  "ip -n " G_NS " link set eth0 up && "
		  "ip -n " G_NS " route add default via %s",
		  id, id, id, tap, id, g, tap);
}

static bool upstream_setup(void)
{
	return sh("ip netns add " UP_NS " && "
		  "ip link add " UP_IF " type veth peer name eth0 netns " UP_NS
		  " && ip addr add " UP_HOST "/30 dev " UP_IF " && "
		  "ip link set " UP_IF " up && "
		  "ip -n " UP_NS " link set lo up && "
		  "for h in " HOST_A " " HOST_B " " HOST_C " " HOST_D "; do "
		  "ip -n " UP_NS " addr add $h/32 dev lo || exit 1; done && "
		  "ip -n " UP_NS " addr add " UP_ADDR "/30 dev eth0 && "
		  "ip -n " UP_NS " link set eth0 up && "
		  "ip -n " UP_NS " route add default via " UP_HOST " && "
		  "ip route add 10.199.67.0/24 via " UP_ADDR " && "
		  "ip netns exec " UP_NS " dnsmasq --conf-file=/dev/null "
		  "--no-resolv --no-hosts --bind-interfaces "
		  "--listen-address=" UP_ADDR " --port=53 "
		  "--pid-file=/tmp/kiln-dnsmasq-test.pid --user=root "
		  "--host-record=allowed.test," HOST_A " "
		  "--host-record=denied.test," HOST_B " "
		  "--host-record=www.wild.test," HOST_C " "
		  "--host-record=new.test," HOST_D " --local-ttl=5") == 0 &&
	       listen_in(UP_NS, UP_ADDR, 7000, 'U') &&
	       listen_in(UP_NS, HOST_A, 7000, 'A') &&
	       listen_in(UP_NS, HOST_A, 853, 'T') &&
	       listen_in(UP_NS, HOST_B, 7000, 'B') &&
	       listen_in(UP_NS, HOST_C, 7000, 'C') &&
	       listen_in(UP_NS, HOST_D, 7000, 'D');
}

int main(void)
{
	static const char *const allow[] = {UP_ADDR "/32", NULL};
	static const char *const doms[] = {"Allowed.test", "*.wild.test", NULL};
	static const char *const doms2[] = {"allowed.test", "*.wild.test",
					    "new.test", NULL};
	char dir[] = "/tmp/kiln-dnsstore-XXXXXX", netdir[256], gw[16];
	char addr[64], status[32], why[512] = "";
	struct state_sandbox row = {0};
	struct kiln_net_policy kp;
	struct kiln_options o;
	struct kiln *k = NULL;
	struct net_addrs a;
	struct state *st;
	int rc, pid;
	bool ok;

	if (geteuid() != 0) {
		printf("SKIP: net_dns: needs root\n");
		return 0;
	}
	cleanup();
	if (!mkdtemp(dir) || !upstream_setup()) {
		report("net_dns_start", false, "test upstream setup failed");
		cleanup();
		return 1;
	}
	snprintf(netdir, sizeof(netdir), "%s/net", dir);
	kiln_options_init(&o);
	o.state_dir = dir;
	o.runtime_dir = dir;
	kiln_net_policy_init(&kp);
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = allow;
	kp.allow_domain = doms;
	kp.dns_upstream = UP_ADDR;
	rc = kiln_open(&o, &k);
	if (!rc)
		rc = store_open(k, &st);
	if (!rc)
		rc = state_sandbox_insert(st, "dnstest", NULL, NULL, &row, why,
					  sizeof(why));
	if (!rc)
		rc = net_addrs_for_slot(row.net_slot, &a, why, sizeof(why));
	if (!rc && net_exists(row.id)) {
		printf("SKIP: net_dns: slot %u is in use here\n", row.net_slot);
		goto out;
	}
	if (!rc)
		rc = net_sandbox_create(k, &row, &kp);
	pid = rc ? 0 : dns_proc_pid(netdir, row.id);
	/* serving, it keeps CAP_NET_ADMIN and CAP_DAC_READ_SEARCH only */
	report("net_dns_start",
	       !rc && pid > 0 &&
		       sh("grep -q '^CapEff:.*0000000000001004$' "
			  "/proc/%d/status",
			  pid) == 0,
	       "rc %d: %s", rc,
	       rc ? (k ? kiln_errmsg(k) : why)
		  : "no resolver process, or it kept capabilities");
	if (rc || guest_attach(&a, row.id)) {
		report("net_dns_allowed", false, "guest setup failed");
		goto out;
	}
	net_ip_str(a.ns_tap, gw);

	/* an allowed name resolves, and only then is its address reachable */
	ok = !probe(G_NS, HOST_A, 7000);
	dig(gw, "allowed.test", addr, status);
	report("net_dns_allowed",
	       ok && !strcmp(addr, HOST_A) && set_has(row.net_slot, HOST_A) &&
		       probe(G_NS, HOST_A, 7000) == 'A',
	       "reachable before: %s, answer \"%s\" status %s, pinned %d",
	       ok ? "no" : "yes", addr, status, set_has(row.net_slot, HOST_A));

	dig(gw, "denied.test", addr, status);
	report("net_dns_denied",
	       !addr[0] && !strcmp(status, "REFUSED") &&
		       !set_has(row.net_slot, HOST_B) &&
		       !probe(G_NS, HOST_B, 7000),
	       "answer \"%s\" status %s", addr, status);

	dig(gw, "WWW.wild.test", addr, status);
	ok = !strcmp(addr, HOST_C) && probe(G_NS, HOST_C, 7000) == 'C';
	dig(gw, "wild.test", addr, status);
	report("net_dns_wildcard", ok && !strcmp(status, "REFUSED"),
	       "*.wild.test must resolve www.wild.test but not wild.test "
	       "(%s)",
	       status);

	/* upstream itself is allowed (7000 answers), its DNS is not */
	dig(UP_ADDR, "denied.test", addr, status);
	report("net_dns_direct_blocked",
	       !addr[0] && !status[0] && probe(G_NS, UP_ADDR, 7000) == 'U',
	       "a query straight to upstream got \"%s\" %s", addr, status);

	report("net_dns_dot_blocked",
	       probe(G_NS, HOST_A, 7000) == 'A' && !probe(G_NS, HOST_A, 853),
	       "port 853 of a pinned address answered");

	/* a policy change adding a domain reaches the running resolver */
	dig(gw, "new.test", addr, status);
	ok = !addr[0] && !strcmp(status, "REFUSED");
	kp.allow_domain = doms2;
	rc = kiln_sandbox_set_network(k, row.id, &kp);
	report("net_dns_policy_change",
	       ok && !rc && resolves_within(gw, "new.test", HOST_D) &&
		       probe(G_NS, HOST_D, 7000) == 'D' &&
		       dns_proc_pid(netdir, row.id) == pid,
	       "rc %d: %s (refused before: %d)", rc, rc ? kiln_errmsg(k) : "",
	       ok);

	/* a domain taken away: its address goes at once */
	kp.allow_domain = doms;
	rc = kiln_sandbox_set_network(k, row.id, &kp);
	ok = !rc;
	for (int i = 0; ok && i < 30 && set_has(row.net_slot, HOST_D); i++)
		poll(NULL, 0, 100);
	{
		bool d_pinned = set_has(row.net_slot, HOST_D);
		char d = probe(G_NS, HOST_D, 7000);
		bool a_res = resolves_within(gw, "allowed.test", HOST_A);
		char pa = probe(G_NS, HOST_A, 7000);

		report("net_dns_narrow",
		       ok && !d_pinned && !d && a_res && pa == 'A',
		       "rc %d: new.test's address pinned %d, answers %d; "
		       "allowed.test resolves %d, answers %d",
		       rc, d_pinned, d, a_res, pa);
	}

	/* allow-all: every name resolves (the same resolver, reloaded) */
	kp.mode = KILN_NET_ALLOW_ALL;
	kp.allow_cidr = NULL;
	kp.allow_domain = NULL;
	rc = kiln_sandbox_set_network(k, row.id, &kp);
	report("net_dns_allow_all",
	       !rc && resolves_within(gw, "denied.test", HOST_B) &&
		       probe(G_NS, HOST_B, 7000) == 'B' &&
		       dns_proc_pid(netdir, row.id) == pid,
	       "rc %d: %s", rc, rc ? kiln_errmsg(k) : "denied.test not served");
	kp.mode = KILN_NET_CUSTOM;
	kp.allow_cidr = allow;

	/* a policy without domains stops it; remove leaves nothing */
	rc = kiln_sandbox_set_network(k, row.id, &kp);
	ok = !rc && dns_proc_pid(netdir, row.id) == 0 && !alive(pid);
	if (!ok)
		snprintf(why, sizeof(why), "pid file names %d, old %d alive %d",
			 dns_proc_pid(netdir, row.id), pid, alive(pid));
	if (ok && sh("nft list set inet kiln-%u allowed_dns4 | grep -q '\\.'",
		     row.net_slot) == 0) {
		snprintf(why, sizeof(why), "addresses still pinned");
		ok = false;
	}
	kp.allow_domain = doms;
	if (!rc)
		rc = kiln_sandbox_set_network(k, row.id, &kp);
	pid = dns_proc_pid(netdir, row.id);
	if (!rc)
		rc = net_sandbox_remove(k, &row);
	report("net_dns_stop",
	       ok && !rc && pid > 0 && !alive(pid) && !net_exists(row.id),
	       "rc %d: %s (stopped without domains: %d %s, pid %d alive %d)",
	       rc, rc ? kiln_errmsg(k) : "", ok, why, pid,
	       pid > 0 && alive(pid));
out:
	if (row.id[0]) {
		net_sandbox_remove(k, &row);
		state_sandbox_clear(&row);
	}
	kiln_close(k);
	cleanup();
	sh("rm -rf %s", dir);
	return failures ? 1 : 0;
}
