/* SPDX-License-Identifier: MIT */
/*
 * kiln-dns: the resolver of one sandbox (docs/NETWORK.md, "Domains").
 *
 *   kiln-dns --id ID --slot N --dir STATE_DIR/net [--ready-fd FD]
 *
 * Started by libkiln (dns_proc.c) as root, detached.  It stays in the
 * host's network namespace (upstream and nftables are the host's) and
 * listens on a UDP and a TCP socket created inside the sandbox's namespace,
 * on the guest's gateway address, port 53 (TCP: RFC 7766 framing, for the
 * guest's retry after a reply with TC; at most TCP_CLIENTS_MAX clients,
 * one query at a time each, closed after TCP_IDLE_MS without a whole
 * query).  A query for a name the sandbox's
 * policy (DIR/ID.json, reread on SIGHUP) allows is forwarded upstream on
 * a fresh socket (random port and id); the A answers are added to the
 * host set "inet kiln-<slot> allowed_dns4" with a timeout of max(TTL,
 * 60 s), one nft transaction per answer, before the guest sees them.
 * Other names get REFUSED.  It exits on SIGTERM, or when the namespace
 * or the record is gone (the sandbox was removed behind its back).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/capability.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/net.h"

#define PENDING_MAX 128
#define UPSTREAM_MS 3000
#define PIN_MIN_S 60u
#define PIN_MAX_S 86400u
#define TCP_CLIENTS_MAX 16
#define TCP_IDLE_MS 10000 /* for a whole query, or to take a reply */

/* Who asked: a UDP address, or TCP connection conn of generation gen. */
struct client {
	struct sockaddr_in addr;
	int conn; /* -1: UDP */
	unsigned int gen;
};

struct pending {
	int fd; /* connected to upstream; -1: free */
	uint16_t up_id;
	struct dns_query q;
	struct client client;
	long deadline;
};

/*
 * A guest's TCP connection: reading one framed query (never more bytes
 * than it announced), then waiting for upstream (not reading), then
 * writing the framed reply; then reading again.
 */
struct tcp_conn {
	int fd; /* -1: free */
	unsigned int gen; /* bumped on close: late replies are dropped */
	enum { TCP_READING, TCP_WAITING, TCP_WRITING } st;
	long deadline; /* reading/writing; waiting has the upstream's */
	size_t in_len, out_len, out_off;
	uint8_t in[2 + DNS_TCP_QUERY_MAX];
	uint8_t out[2 + DNS_TCP_REPLY_MAX];
};

static struct {
	const char *id, *dir;
	uint32_t slot;
	struct net_policy pol;
	struct sockaddr_in upstream;
	int lfd, tfd; /* UDP, TCP listening */
	struct nft_ctx *nft;
	struct pending pend[PENDING_MAX];
	struct tcp_conn tcp[TCP_CLIENTS_MAX];
} R;

static void __attribute__((format(printf, 1, 2))) logf_(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	fprintf(stderr, "%s kiln-dns %s: ", ts, R.id ? R.id : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Failures a guest can provoke at will (queries while upstream is down)
 * are logged at most once a second: the log must not grow without bound.
 */
static bool log_ok(void)
{
	static long last = -1000;
	long now = now_ms();

	if (now - last < 1000)
		return false;
	last = now;
	return true;
}

static char *record_path(void)
{
	char *s;

	if (asprintf(&s, "%s/%s.json", R.dir, R.id) < 0)
		return NULL;
	return s;
}

/* The policy and upstream from the record; 0 or -1 with err filled in. */
static int policy_read(struct net_policy *p, struct sockaddr_in *up, char *err,
		       size_t errlen)
{
	char *path = record_path(), *text = NULL;
	json_t *root = path ? json_load_file(path, 0, NULL) : NULL, *pol = NULL;
	json_int_t slot = -1;
	const char *env;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (root &&
	    !json_unpack(root, "{s:I, s:o}", "slot", &slot, "policy", &pol) &&
	    slot == (json_int_t)R.slot)
		text = json_dumps(pol, JSON_COMPACT);
	if (!text)
		snprintf(err, errlen,
			 "%s: missing or not a network record of "
			 "slot %u",
			 path ? path : "?", R.slot);
	else if (!net_policy_from_json(text, p, err, errlen))
		rc = 0;
	free(text);
	json_decref(root);
	free(path);
	if (rc)
		return rc;
	env = getenv("KILN_DNS_UPSTREAM");
	if (p->dns_upstream)
		rc = dns_upstream_parse(p->dns_upstream, up, err, errlen);
	else if (env && *env)
		rc = dns_upstream_parse(env, up, err, errlen);
	else
		rc = dns_upstream_from_resolv("/etc/resolv.conf", up, err,
					      errlen);
	if (rc)
		net_policy_free(p);
	return rc;
}

/*
 * The UDP socket on gw:53 made inside the sandbox's namespace (returned),
 * and the TCP one (*tfd).
 */
static int listen_open(int *tfd, char *err, size_t errlen)
{
	char ns[256], gw[16];
	struct net_addrs a;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
	int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), fd = -1,
	    nsfd, e = 0;

	if (net_addrs_for_slot(R.slot, &a, err, errlen))
		return -1;
	snprintf(ns, sizeof(ns), NET_NS_DIR "/" NET_NS_PREFIX "%s", R.id);
	nsfd = open(ns, O_RDONLY | O_CLOEXEC);
	if (host < 0 || nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		snprintf(err, errlen, "cannot enter %s: %s", ns,
			 strerror(errno));
		goto out;
	}
	sa.sin_addr.s_addr = htonl(a.ns_tap);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	*tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || *tfd < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(*tfd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) <
		    0 ||
	    bind(*tfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(*tfd, TCP_CLIENTS_MAX) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		if (*tfd >= 0)
			close(*tfd);
		fd = *tfd = -1;
	}
	/* back home; staying in the wrong namespace is not an option */
	if (setns(host, CLONE_NEWNET) < 0)
		abort();
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s:53 in %s: %s",
			 net_ip_str(a.ns_tap, gw), ns, strerror(e));
out:
	if (host >= 0)
		close(host);
	if (nsfd >= 0)
		close(nsfd);
	return fd;
}

/* Whether the sandbox still exists: its namespace and its record. */
static bool sandbox_alive(ino_t ns_ino)
{
	char ns[256], *rec = record_path();
	struct stat st;
	bool ok = rec && access(rec, F_OK) == 0;

	free(rec);
	snprintf(ns, sizeof(ns), NET_NS_DIR "/" NET_NS_PREFIX "%s", R.id);
	return ok && stat(ns, &st) == 0 && st.st_ino == ns_ino;
}

/* Pin the A records among rr[0..n) into allowed_dns4: one transaction. */
static int pin(const struct dns_rr *rr, size_t n)
{
	char buf[8192], ip[16];
	size_t len = 0;
	int any = 0;

	for (size_t i = 0; i < n && len < sizeof(buf) - 256; i++) {
		uint32_t t = rr[i].ttl;

		if (rr[i].type != DNS_TYPE_A)
			continue;
		t = t < PIN_MIN_S ? PIN_MIN_S : t > PIN_MAX_S ? PIN_MAX_S : t;
		inet_ntop(AF_INET, rr[i].rdata, ip, sizeof(ip));
		/* add, delete, add: a pinned address gets the new timeout */
		len += (size_t)snprintf(
			buf + len, sizeof(buf) - len,
			"add element inet " NET_NFT_HOST_PREFIX
			"%u allowed_dns4 { %s }\n"
			"delete element inet " NET_NFT_HOST_PREFIX
			"%u allowed_dns4 { %s }\n"
			"add element inet " NET_NFT_HOST_PREFIX
			"%u allowed_dns4 { %s timeout %us }\n",
			R.slot, ip, R.slot, ip, R.slot, ip, t);
		any = 1;
	}
	if (!any)
		return 0;
	if (nft_run_cmd_from_buffer(R.nft, buf)) {
		const char *e = nft_ctx_get_error_buffer(R.nft);

		if (log_ok())
			logf_("pinning answers failed: %.*s",
			      (int)strcspn(e ? e : "", "\n"), e ? e : "?");
		return -1;
	}
	return 0;
}

static void tcp_close(struct tcp_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->gen++;
}

/* Send what is left of c's reply; done: read the next query. */
static void tcp_flush(struct tcp_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			tcp_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->st = TCP_READING;
	c->in_len = 0;
	c->deadline = now_ms() + TCP_IDLE_MS;
}

static void reply(const struct client *to, const uint8_t *m, size_t len)
{
	struct tcp_conn *c;

	if (to->conn < 0) {
		if (len)
			sendto(R.lfd, m, len, MSG_DONTWAIT,
			       (const struct sockaddr *)&to->addr,
			       sizeof(to->addr));
		return;
	}
	c = &R.tcp[to->conn];
	if (c->fd < 0 || c->gen != to->gen)
		return; /* the guest hung up meanwhile */
	if (!len || len > DNS_TCP_REPLY_MAX) {
		tcp_close(c);
		return;
	}
	c->out[0] = (uint8_t)(len >> 8);
	c->out[1] = (uint8_t)len;
	memcpy(c->out + 2, m, len);
	c->out_len = len + 2;
	c->out_off = 0;
	c->st = TCP_WRITING;
	c->deadline = now_ms() + TCP_IDLE_MS;
	tcp_flush(c);
}

static void reply_error(const struct client *to, const struct dns_query *q,
			int rcode)
{
	uint8_t out[DNS_UDP_MAX];

	reply(to, out, dns_build_error(q, rcode, out, sizeof(out)));
}

static bool name_allowed(const struct dns_query *q)
{
	if (R.pol.mode == KILN_NET_ALLOW_ALL)
		return true;
	return R.pol.mode == KILN_NET_CUSTOM &&
	       dns_name_allowed(q->q.name, R.pol.domains, R.pol.n_domains);
}

/*
 * A query from a guest (UDP or TCP): answered at once (refused, error) or
 * sent upstream.  false when it is not DNS at all (no reply).
 */
static bool query(const uint8_t *m, size_t n, const struct client *from)
{
	uint8_t out[DNS_UDP_MAX];
	struct dns_query q;
	struct pending *p = NULL;
	int rc;

	rc = dns_query_parse(m, n, &q);
	if (rc == DNS_EMALFORMED)
		return false;
	if (rc) {
		reply_error(from, &q,
			    rc == DNS_ENOTIMP ? DNS_RCODE_NOTIMP
					      : DNS_RCODE_FORMERR);
		return true;
	}
	if (q.q.qclass != DNS_CLASS_IN || !name_allowed(&q)) {
		reply_error(from, &q, DNS_RCODE_REFUSED);
		return true;
	}
	for (int i = 0; i < PENDING_MAX && !p; i++)
		if (R.pend[i].fd < 0)
			p = &R.pend[i];
	if (!p) {
		reply_error(from, &q, DNS_RCODE_SERVFAIL);
		return true;
	}
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->fd < 0 || getrandom(&p->up_id, sizeof(p->up_id), 0) < 0 ||
	    connect(p->fd, (struct sockaddr *)&R.upstream, sizeof(R.upstream)) <
		    0 ||
	    send(p->fd, out, dns_build_query(p->up_id, &q.q, out, sizeof(out)),
		 0) < 0) {
		if (log_ok())
			logf_("forwarding upstream: %s", strerror(errno));
		if (p->fd >= 0)
			close(p->fd);
		p->fd = -1;
		reply_error(from, &q, DNS_RCODE_SERVFAIL);
		return true;
	}
	p->q = q;
	p->client = *from;
	p->deadline = now_ms() + UPSTREAM_MS;
	return true;
}

static void on_query(void)
{
	struct client from = {.conn = -1};
	socklen_t fl = sizeof(from.addr);
	uint8_t m[1500];
	ssize_t n;

	n = recvfrom(R.lfd, m, sizeof(m), 0, (struct sockaddr *)&from.addr,
		     &fl);
	if (n >= 0 && fl == sizeof(from.addr))
		query(m, (size_t)n, &from);
}

/* A new TCP client; beyond TCP_CLIENTS_MAX it is closed at once. */
static void on_accept(void)
{
	int fd = accept4(R.tfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < TCP_CLIENTS_MAX; i++) {
		struct tcp_conn *c = &R.tcp[i];

		if (c->fd >= 0)
			continue;
		c->fd = fd;
		c->st = TCP_READING;
		c->in_len = 0;
		c->deadline = now_ms() + TCP_IDLE_MS;
		return;
	}
	if (log_ok())
		logf_("%d TCP clients already: refusing one more",
		      TCP_CLIENTS_MAX);
	close(fd);
}

/*
 * Read c's query: never past its end (the next one waits until the reply
 * is out), so the buffer holds at most one framed query.
 */
static void on_tcp_read(struct tcp_conn *c, int idx)
{
	struct client from = {.conn = idx, .gen = c->gen};
	size_t want = 2, msg = 0;
	ssize_t n;
	int f = dns_tcp_frame(c->in, c->in_len, DNS_TCP_QUERY_MAX, &msg);

	if (f < 0) {
		tcp_close(c);
		return;
	}
	if (c->in_len >= 2)
		want = 2 + ((size_t)c->in[0] << 8 | c->in[1]);
	n = recv(c->fd, c->in + c->in_len, want - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		tcp_close(c); /* the guest is done, or the connection broke */
		return;
	}
	c->in_len += (size_t)n;
	f = dns_tcp_frame(c->in, c->in_len, DNS_TCP_QUERY_MAX, &msg);
	if (f < 0) {
		tcp_close(c); /* not DNS, or too big to be a query */
		return;
	}
	if (!f)
		return;
	c->st = TCP_WAITING;
	if (!query(c->in + 2, msg, &from))
		tcp_close(c);
}

static void pending_done(struct pending *p)
{
	close(p->fd);
	p->fd = -1;
}

static void on_upstream(struct pending *p)
{
	static struct dns_answer a;
	static uint8_t out[DNS_TCP_REPLY_MAX];
	uint8_t m[4096];
	size_t used, len;
	ssize_t n = recv(p->fd, m, sizeof(m), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || dns_response_parse(m, (size_t)n, p->up_id, &p->q.q, &a)) {
		/* not a response to this query: the deadline decides */
		if (n < 0) {
			reply_error(&p->client, &p->q, DNS_RCODE_SERVFAIL);
			pending_done(p);
		}
		return;
	}
	/* the policy may have changed while upstream was asked */
	if (!name_allowed(&p->q)) {
		reply_error(&p->client, &p->q, DNS_RCODE_REFUSED);
		pending_done(p);
		return;
	}
	/* over UDP what fits in 512 bytes (TC if not all), over TCP all */
	len = dns_build_reply(&p->q, &a, out,
			      p->client.conn < 0 ? DNS_UDP_MAX : sizeof(out),
			      &used);
	/* pinned before the guest learns an address, or no address */
	if (R.pol.mode == KILN_NET_CUSTOM && pin(a.rr, used))
		reply_error(&p->client, &p->q, DNS_RCODE_SERVFAIL);
	else
		reply(&p->client, out, len);
	pending_done(p);
}

static void reload(void)
{
	struct net_policy p;
	struct sockaddr_in up;
	char err[512];

	if (policy_read(&p, &up, err, sizeof(err))) {
		logf_("reload: %s; keeping the previous policy", err);
		return;
	}
	/*
	 * A domain taken away takes its pinned addresses with it: all of
	 * them go (the set does not say which name an address came from);
	 * names still allowed are pinned again when next resolved.
	 */
	bool narrower = p.mode != KILN_NET_CUSTOM;

	for (size_t i = 0; i < R.pol.n_domains && !narrower; i++) {
		bool kept = false;

		for (size_t j = 0; j < p.n_domains && !kept; j++)
			kept = !strcmp(R.pol.domains[i], p.domains[j]);
		narrower = !kept;
	}
	if (narrower) {
		snprintf(err, sizeof(err),
			 "flush set inet " NET_NFT_HOST_PREFIX
			 "%u allowed_dns4\n",
			 R.slot);
		if (nft_run_cmd_from_buffer(R.nft, err))
			logf_("reload: cannot flush allowed_dns4");
		else
			logf_("a domain was taken away: flushed allowed_dns4");
	}
	net_policy_free(&R.pol);
	R.pol = p;
	R.upstream = up;
	logf_("policy reloaded: %zu domains", p.n_domains);
}

/*
 * Once listening, keep only what serving needs: CAP_NET_ADMIN (writing
 * allowed_dns4) and CAP_DAC_READ_SEARCH (rereading the record in a state
 * directory root may not own); no new privileges through exec.  A bug in
 * the parser then cannot load modules, trace processes, mount, ...
 */
static int caps_drop(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	const int keep[] = {CAP_NET_ADMIN, CAP_DAC_READ_SEARCH};

	for (int c = 0; c <= 63; c++)
		if (c != keep[0] && c != keep[1] &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		d[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		d[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int usage(void)
{
	fprintf(stderr, "usage: kiln-dns --id ID --slot N --dir DIR "
			"[--ready-fd FD]\n(started by libkiln; see "
			"docs/NETWORK.md)\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[3 + TCP_CLIENTS_MAX + PENDING_MAX];
	int ready = -1, sfd;
	char err[512] = "", *end;
	struct stat nst;
	char ns[256];
	sigset_t set;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--id"))
			R.id = argv[i + 1];
		else if (!strcmp(argv[i], "--dir"))
			R.dir = argv[i + 1];
		else if (!strcmp(argv[i], "--slot"))
			R.slot = (uint32_t)strtoul(argv[i + 1], &end, 10);
		else if (!strcmp(argv[i], "--ready-fd"))
			ready = (int)strtol(argv[i + 1], &end, 10);
		else
			return usage();
	}
	if (!R.id || !R.dir || argc % 2 == 0 || strlen(R.id) != KILN_ID_LEN ||
	    strspn(R.id, "0123456789abcdef") != KILN_ID_LEN ||
	    R.slot > NET_SLOT_MAX)
		return usage();
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	for (int i = 0; i < PENDING_MAX; i++)
		R.pend[i].fd = -1;
	for (int i = 0; i < TCP_CLIENTS_MAX; i++)
		R.tcp[i].fd = -1;
	R.lfd = R.tfd = -1;
	snprintf(ns, sizeof(ns), NET_NS_DIR "/" NET_NS_PREFIX "%s", R.id);
	R.nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (R.nft) {
		nft_ctx_buffer_output(R.nft);
		nft_ctx_buffer_error(R.nft);
	}
	if (sfd < 0 || !R.nft) {
		snprintf(err, sizeof(err), "cannot set up signals or nftables");
		goto fail;
	}
	if (policy_read(&R.pol, &R.upstream, err, sizeof(err)) ||
	    stat(ns, &nst) < 0 ||
	    (R.lfd = listen_open(&R.tfd, err, sizeof(err))) < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", ns,
				 strerror(errno));
		goto fail;
	}
	if (caps_drop() < 0) {
		snprintf(err, sizeof(err), "cannot drop capabilities: %s",
			 strerror(errno));
		goto fail;
	}
	logf_("listening; upstream %s:%u, %zu domains",
	      inet_ntoa(R.upstream.sin_addr), ntohs(R.upstream.sin_port),
	      R.pol.n_domains);
	if (ready >= 0) {
		dprintf(ready, "ok\n");
		close(ready);
	}
	for (long next_check = now_ms() + 1000;;) {
		int map[TCP_CLIENTS_MAX + PENDING_MAX], np = 3;
		long now = now_ms(), wait = next_check - now;

		pfd[0] = (struct pollfd){.fd = R.lfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = R.tfd, .events = POLLIN};
		for (int i = 0; i < PENDING_MAX; i++) {
			struct pending *p = &R.pend[i];

			if (p->fd < 0)
				continue;
			if (p->deadline <= now) {
				reply_error(&p->client, &p->q,
					    DNS_RCODE_SERVFAIL);
				pending_done(p);
				continue;
			}
			if (p->deadline - now < wait)
				wait = p->deadline - now;
			map[np - 3] = i;
			pfd[np++] =
				(struct pollfd){.fd = p->fd, .events = POLLIN};
		}
		/* after the pendings: a SERVFAIL above may start a write */
		for (int i = 0; i < TCP_CLIENTS_MAX; i++) {
			struct tcp_conn *c = &R.tcp[i];

			if (c->fd < 0 || c->st == TCP_WAITING)
				continue;
			if (c->deadline <= now) {
				tcp_close(
					c); /* too slow: idle, or not reading */
				continue;
			}
			if (c->deadline - now < wait)
				wait = c->deadline - now;
			map[np - 3] = PENDING_MAX + i;
			pfd[np++] = (struct pollfd){
				.fd = c->fd,
				.events = c->st == TCP_READING ? POLLIN
							       : POLLOUT};
		}
		if (poll(pfd, (nfds_t)np, wait < 0 ? 0 : (int)wait) < 0 &&
		    errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload();
				else if (si.ssi_signo != SIGPIPE)
					goto out;
			}
		}
		for (int i = 3; i < np; i++) {
			int m = map[i - 3];
			struct tcp_conn *c;

			if (!pfd[i].revents)
				continue;
			if (m < PENDING_MAX) {
				on_upstream(&R.pend[m]);
				continue;
			}
			c = &R.tcp[m - PENDING_MAX];
			/* an upstream answer above may have changed it */
			if (c->fd != pfd[i].fd)
				continue;
			if (c->st == TCP_READING)
				on_tcp_read(c, m - PENDING_MAX);
			else if (c->st == TCP_WRITING)
				tcp_flush(c);
		}
		if (pfd[0].revents & POLLIN)
			on_query();
		if (pfd[2].revents & POLLIN)
			on_accept();
		if (now_ms() >= next_check) {
			next_check = now_ms() + 1000;
			if (!sandbox_alive(nst.st_ino)) {
				logf_("the sandbox is gone: exiting");
				break;
			}
		}
	}
out:
	logf_("exiting");
	for (int i = 0; i < PENDING_MAX; i++)
		if (R.pend[i].fd >= 0)
			pending_done(&R.pend[i]);
	for (int i = 0; i < TCP_CLIENTS_MAX; i++)
		if (R.tcp[i].fd >= 0)
			tcp_close(&R.tcp[i]);
	net_policy_free(&R.pol);
	nft_ctx_free(R.nft);
	return 0;
fail:
	logf_("%s", err);
	if (ready >= 0)
		dprintf(ready, "%s\n", err);
	return 1;
}
