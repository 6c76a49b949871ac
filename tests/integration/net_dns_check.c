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
#include "net_test.h"

#define UP_NS "ktest-dnsup"
#define G_NS "ktest-dnsg"
#define UP_IF "ktdns0"
#define UP_HOST "10.199.66.1"
#define UP_ADDR "10.199.66.2" /* dnsmasq, and a TCP server */
#define HOST_A "10.199.67.1" /* allowed.test */
#define HOST_B "10.199.67.2" /* denied.test */
#define HOST_C "10.199.67.3" /* www.wild.test */
#define HOST_D "10.199.67.4" /* new.test */

/*
 * dig from the guest namespace: the first address of name from server
 * into addr ("" if none), the status (NOERROR, REFUSED, ...) into status
 * ("" if no answer came within 1 s).
 */
static void dig_opt(const char *server, const char *name, const char *opt,
		    char *addr, char *status)
{
	char cmd[512], line[512];
	FILE *f;

	addr[0] = status[0] = '\0';
	snprintf(cmd, sizeof(cmd),
		 "ip netns exec " G_NS
		 " dig +time=1 +tries=1 +noedns %s @%s %s A "
		 "2>&1",
		 opt, server, name);
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

static void dig(const char *server, const char *name, char *addr, char *status)
{
	dig_opt(server, name, "", addr, status);
}

/*
 * In the guest namespace: open TCP_CLIENTS_MAX (16) connections to gw:53
 * and keep them; one more must be closed by the resolver at once (EOF
 * within 1 s); so must a connection announcing a 65535-byte query.
 * Returns 0 if so, else which step failed.
 */
static int tcp_limits(const char *gw)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(53)};
		struct pollfd pfd;
		int fds[17], s;
		char c;

		enter_ns(G_NS);
		inet_pton(AF_INET, gw, &sa.sin_addr);
		/* a query announced too big: closed at once */
		s = socket(AF_INET, SOCK_STREAM, 0);
		pfd = (struct pollfd){.fd = s, .events = POLLIN};
		if (s < 0 ||
		    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    write(s, "\xff\xff\x00\x01", 4) != 4 ||
		    poll(&pfd, 1, 1000) != 1 || read(s, &c, 1) > 0)
			_exit(2);
		close(s);
		for (int i = 0; i < 17; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM, 0);
			if (fds[i] < 0 ||
			    connect(fds[i], (struct sockaddr *)&sa,
				    sizeof(sa)) < 0)
				_exit(10 + i);
		}
		/* the 17th is closed by the resolver, the 16 others stay */
		pfd = (struct pollfd){.fd = fds[16], .events = POLLIN};
		if (poll(&pfd, 1, 1000) != 1 || read(fds[16], &c, 1) > 0)
			_exit(3);
		for (int i = 0; i < 16; i++) {
			pfd = (struct pollfd){.fd = fds[i], .events = POLLIN};
			if (poll(&pfd, 1, 0) != 0)
				_exit(40 + i);
		}
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 1;
	return WEXITSTATUS(st);
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

/*
 * Run the kiln CLI ($KILN_BIN) on state directory dir with args (shell
 * words); its stdout and stderr into out.  Its exit status, or -1.
 */
static int kiln_cli(const char *dir, char *out, size_t len, const char *fmt,
		    ...)
{
	const char *bin = getenv("KILN_BIN");
	char args[1024], cmd[1400];
	size_t n = 0;
	va_list ap;
	FILE *f;
	int st;

	out[0] = '\0';
	if (!bin)
		return -1;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd),
		 "KILN_STATE=%s KILN_RUNTIME_DIR=%s timeout 20 %s %s 2>&1", dir,
		 dir, bin, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * `kiln network` and `kiln inspect` on the sandbox (its row is ours,
 * "creating" by this live process, so the CLI leaves it alone): show,
 * replace (checked through the resolver, the rules and tc), usage errors
 * (exit 2, policy unchanged).
 */
static void cli_checks(const char *dir, const struct state_sandbox *row,
		       const char *gw)
{
	char out[8192], addr[64], status[32];
	int rc;

	rc = kiln_cli(dir, out, sizeof(out), "network %s --json", row->id);
	report("net_cli_show",
	       rc == 0 && strstr(out, "\"mode\": \"allow-all\"") &&
		       strstr(out, "\"dns_upstream\": \"" UP_ADDR ":53\"") &&
		       strstr(out, "\"allow_cidr\": []") &&
		       kiln_cli(dir, out + 4096, 4096, "network %s", row->id) ==
			       0 &&
		       strstr(out + 4096, "mode:         allow-all\n"),
	       "exit %d: %.600s", rc, out);

	rc = kiln_cli(
		dir, out, sizeof(out),
		"network %s --allow-domain allowed.test --allow-cidr " UP_ADDR
		" --dns-upstream " UP_ADDR
		" --bandwidth 1mbit --publish 18080:7000 --json",
		row->id);
	{
		bool json_ok = rc == 0 && strstr(out, "\"mode\": \"custom\"") &&
			       strstr(out, "\"rate_bps\": 1000000") &&
			       strstr(out, "\"host_port\": 18080");
		bool tc = sh("tc qdisc show dev kv%u | grep -q tbf",
			     row->net_slot) == 0;
		bool a_ok = resolves_within(gw, "allowed.test", HOST_A);

		dig(gw, "denied.test", addr, status);
		report("net_cli_set",
		       json_ok && tc && a_ok && !strcmp(status, "REFUSED"),
		       "exit %d (json %d), tbf %d, allowed.test %d, "
		       "denied.test %s: %.400s",
		       rc, json_ok, tc, a_ok, status, out);
	}

	rc = kiln_cli(dir, out, sizeof(out), "inspect %s --json", row->id);
	report("net_cli_inspect",
	       rc == 0 && strstr(out, "\"network\": {") &&
		       strstr(out,
			      "\"allow_domain\": [\n      \"allowed.test\"") &&
		       kiln_cli(dir, out + 4096, 4096, "inspect %s", row->id) ==
			       0 &&
		       strstr(out + 4096, "  domains:      allowed.test\n"),
	       "exit %d: %.600s", rc, out);

	{
		static const char *const bad[] = {
			"--network none --allow-cidr 10.0.0.1",
			"--network allow-all --deny-cidr 10.0.0.0/8",
			"--network open",
			"--allow-cidr 10.0.0.300",
			"--bandwidth 10",
			"--bandwidth 2g --bandwidth 1g",
			"--publish 0:80",
			"--allow-domain 'bad name'",
			"--dns-upstream 10.0.0.1",
			"--deny-cidr 10.0.0.0/8",
		};
		bool ok = true;

		for (size_t i = 0; ok && i < sizeof(bad) / sizeof(bad[0]);
		     i++) {
			rc = kiln_cli(dir, out, sizeof(out), "network %s %s",
				      row->id, bad[i]);
			ok = rc == 2 && strstr(out, "kiln network: --");
			if (!ok)
				snprintf(addr, sizeof(addr), "%.60s", bad[i]);
		}
		rc = ok ? kiln_cli(dir, out, sizeof(out), "network %s --json",
				   row->id)
			: rc;
		report("net_cli_usage",
		       ok && rc == 0 && strstr(out, "\"mode\": \"custom\"") &&
			       strstr(out, "\"rate_bps\": 1000000"),
		       "'%s': exit %d: %.300s", ok ? "(policy after)" : addr,
		       rc, out);
	}
}

static void cleanup(void)
{
	listeners_stop();
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
	struct state_new nw = {.name = "dnstest"};
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
	/* owned by this live process: the CLI's reconciliation keeps it */
	if (!rc && store_self(&nw.owner_pid, &nw.owner_start))
		rc = KILN_ESYS;
	if (!rc)
		rc = state_sandbox_create(st, &nw, &row, why, sizeof(why));
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

	/* the same over TCP (the guest's retry after a truncated reply) */
	{
		char a2[64], s2[32];
		int lim;

		dig_opt(gw, "allowed.test", "+tcp", addr, status);
		dig_opt(gw, "denied.test", "+tcp", a2, s2);
		lim = tcp_limits(gw);
		ok = !strcmp(addr, HOST_A) && !strcmp(s2, "REFUSED") &&
		     !a2[0] && !lim;
		if (ok) {
			dig_opt(gw, "www.wild.test", "+tcp", addr, status);
			ok = !strcmp(addr, HOST_C);
		}
		report("net_dns_tcp", ok,
		       "allowed.test \"%s\", denied.test %s \"%s\", limits "
		       "step %d, after: \"%s\" %s",
		       addr, s2, a2, lim, addr, status);
	}

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

	/* the CLI over the same sandbox (it leaves a custom policy) */
	cli_checks(dir, &row, gw);

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
