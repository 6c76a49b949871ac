/* SPDX-License-Identifier: MIT */
/*
 * Host-side port forwarding (see port_forward.h).  Each accepted client
 * gets a new connection to the VMM's vsock socket on which the whole
 * handshake is sent at once: "CONNECT 1024\n", hello (id 1) and forward
 * (id 2).  The answer is parsed as it arrives: the VMM's "OK <port>\n"
 * line, the hello result, the forward result; every byte after that is
 * the guest port's stream.  Until then the client's bytes simply wait in
 * its socket.  A descriptor is only polled for what is wanted from it, so
 * a hung-up socket that nothing is asked of cannot spin the loop.
 */
#include "common/errbuf.h"
#include "lib/port_forward.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"

#define PF_LINE_MAX 64
#define PF_ACCEPT_BATCH 16
#define PF_READ_CHUNK 65536
/* read()/write() passes per direction per wakeup (fairness). */
#define PF_PASSES 4

struct pf_dir {
	uint8_t *buf;
	size_t off, len;
	bool eof; /* the source shut down its sending side */
	bool shut; /* passed on with shutdown(dst, SHUT_WR) */
	uint64_t total;
};

struct pf_conn {
	struct pf_conn *next;
	unsigned int serial;
	char peer[80];
	int cfd; /* the host client (TCP) */
	int afd; /* the vsock connection to the agent */
	bool relaying; /* handshake done */
	bool dead;
	int64_t deadline; /* of the handshake */

	uint8_t hs[256]; /* handshake bytes to send */
	size_t hs_off, hs_len;
	char line[PF_LINE_MAX + 1];
	size_t line_len;
	bool line_done;
	struct proto_reader rd;

	struct pf_dir up; /* client -> guest */
	struct pf_dir down; /* guest -> client */
};

struct pf {
	const char *uds;
	int guest_port;
	const struct port_forward_hooks *hooks;
	const char *guest_host;
	uint32_t agent_port;
	struct pf_conn *conns;
	unsigned int nconns, max_conns, serial;
	uint8_t *chunk; /* PF_READ_CHUNK bytes: handshake reads */
};

static void pf_log(struct pf *pf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void pf_log(struct pf *pf, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!pf->hooks || !pf->hooks->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pf->hooks->log(pf->hooks->ctx, line);
}

static int64_t pf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pf_close(struct pf *pf, struct pf_conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->relaying)
		pf_log(pf,
		       "connection %u from %s closed: %s (%llu bytes to the "
		       "guest, %llu from it)",
		       c->serial, c->peer, why, (unsigned long long)c->up.total,
		       (unsigned long long)c->down.total);
	else
		pf_log(pf, "connection %u from %s failed: %s", c->serial,
		       c->peer, why);
	close(c->cfd);
	if (c->afd >= 0)
		close(c->afd);
	c->cfd = c->afd = -1;
}

static void pf_free(struct pf_conn *c)
{
	proto_reader_free(&c->rd);
	free(c->up.buf);
	free(c->down.buf);
	free(c);
}

/* ---- relay -----------------------------------------------------------------
 */

static int dir_fill(struct pf_dir *d, int src)
{
	ssize_t n;

	if (d->eof || d->len == PORT_FORWARD_BUF)
		return 0;
	if (d->off > 0 && d->off + d->len == PORT_FORWARD_BUF) {
		memmove(d->buf, d->buf + d->off, d->len);
		d->off = 0;
	}
	n = recv(src, d->buf + d->off + d->len,
		 PORT_FORWARD_BUF - d->off - d->len, MSG_DONTWAIT);
	if (n > 0) {
		d->len += (size_t)n;
		d->total += (uint64_t)n;
		return 1;
	}
	if (n == 0) {
		d->eof = true;
		return 1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int dir_drain(struct pf_dir *d, int dst)
{
	int progress = 0;

	if (d->len > 0) {
		ssize_t n = send(dst, d->buf + d->off, d->len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		d->off += (size_t)n;
		d->len -= (size_t)n;
		if (d->len == 0)
			d->off = 0;
		progress = n > 0;
	}
	if (d->eof && d->len == 0 && !d->shut) {
		d->shut = true;
		shutdown(dst, SHUT_WR);
		progress = 1;
	}
	return progress;
}

static void pf_pump(struct pf *pf, struct pf_conn *c)
{
	for (int pass = 0; pass < PF_PASSES; pass++) {
		int a = dir_fill(&c->up, c->cfd);
		int b = a < 0 ? 0 : dir_drain(&c->up, c->afd);
		int x = b < 0 ? 0 : dir_fill(&c->down, c->afd);
		int y = x < 0 ? 0 : dir_drain(&c->down, c->cfd);

		if (a < 0 || b < 0 || x < 0 || y < 0) {
			pf_close(pf, c, strerror(errno));
			return;
		}
		if (!a && !b && !x && !y)
			break;
	}
	if (c->up.shut && c->down.shut)
		pf_close(pf, c, "both sides finished");
}

/* ---- handshake
 * --------------------------------------------------------------- */

/* One reply frame of the handshake: 0 go on, 1 forward accepted, -1. */
static int pf_reply(struct pf *pf, struct pf_conn *c, const char **why,
		    char *msg, size_t msglen)
{
	const struct proto_hdr *h = &c->rd.hdr;
	const char *type, *code = "?", *text = "(no message)";
	char jerr[128];
	json_t *j;
	int rc = -1;

	if (h->kind != PROTO_CONTROL || (h->id != 1 && h->id != 2 && h->id)) {
		*why = "the agent sent an unexpected frame";
		return -1;
	}
	j = proto_json_parse(c->rd.payload, h->len, jerr, sizeof(jerr));
	type = j ? json_string_value(json_object_get(j, "type")) : NULL;
	if (!type) {
		*why = "the agent sent a malformed reply";
	} else if (strcmp(type, "error") == 0) {
		json_unpack(j, "{s?s,s?s}", "code", &code, "message", &text);
		snprintf(msg, msglen, "%s [%s]", text, code);
		*why = msg;
	} else if (strcmp(type, "result") == 0 && h->id) {
		rc = h->id == 2;
	} else {
		*why = "the agent sent an unexpected reply";
	}
	json_decref(j);
	return rc;
}

static void pf_handshake_input(struct pf *pf, struct pf_conn *c)
{
	const char *why = NULL;
	char msg[400];
	size_t i = 0, n;
	ssize_t r = recv(c->afd, pf->chunk, PF_READ_CHUNK, MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		pf_close(pf, c,
			 !c->line_done
				 ? "the VMM hung up before OK: no agent "
				   "listening in the guest (not booted yet?)"
				 : "the agent closed the connection during the "
				   "handshake");
		return;
	}
	n = (size_t)r;
	while (!c->line_done && i < n) { /* the VMM's "OK <port>\n" */
		char ch = (char)pf->chunk[i++];

		if (ch == '\n') {
			c->line[c->line_len] = 0;
			c->line_done = true;
			if (strncmp(c->line, "OK ", 3) != 0) {
				snprintf(msg, sizeof(msg),
					 "unexpected answer to CONNECT: "
					 "\"%.32s\" (not a kiln-vmm or "
					 "Firecracker vsock socket?)",
					 c->line);
				pf_close(pf, c, msg);
				return;
			}
		} else if (c->line_len == PF_LINE_MAX) {
			pf_close(pf, c, "over-long answer to CONNECT");
			return;
		} else {
			c->line[c->line_len++] = ch;
		}
	}
	while (i < n && !c->relaying) {
		size_t used;
		enum proto_event ev =
			proto_reader_feed(&c->rd, pf->chunk + i, n - i, &used);
		int rc;

		i += used;
		if (ev == PROTO_EV_NEED_MORE)
			break;
		if (ev != PROTO_EV_FRAME) {
			pf_close(pf, c, "the agent broke protocol v1");
			return;
		}
		rc = pf_reply(pf, c, &why, msg, sizeof(msg));
		if (rc < 0) {
			pf_close(pf, c, why);
			return;
		}
		if (rc == 1) {
			c->relaying = true;
			pf_log(pf,
			       "connection %u from %s: forwarding to %s port "
			       "%d in the guest",
			       c->serial, c->peer, pf->guest_host,
			       pf->guest_port);
		}
	}
	if (c->relaying && i < n) { /* the guest's first bytes */
		memcpy(c->down.buf, pf->chunk + i, n - i);
		c->down.len = n - i;
		c->down.total = n - i;
	}
}

static void pf_handshake_output(struct pf *pf, struct pf_conn *c)
{
	ssize_t n = send(c->afd, c->hs + c->hs_off, c->hs_len - c->hs_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		pf_close(pf, c, strerror(errno));
		return;
	}
	c->hs_off += (size_t)n;
}

static int pf_frame(struct pf_conn *c, uint32_t id, json_t *obj)
{
	size_t len;
	char *s = obj ? proto_json_dump(obj, &len) : NULL;

	json_decref(obj);
	if (!s || c->hs_len + PROTO_HDR_SIZE + len > sizeof(c->hs)) {
		free(s);
		return -1;
	}
	proto_hdr_encode(c->hs + c->hs_len, PROTO_CONTROL, id, (uint32_t)len);
	memcpy(c->hs + c->hs_len + PROTO_HDR_SIZE, s, len);
	c->hs_len += PROTO_HDR_SIZE + len;
	free(s);
	return 0;
}

static int pf_connect_vmm(const char *uds)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(uds) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, uds, strlen(uds) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A local connect completes at once; non-blocking after it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void pf_accept_one(struct pf *pf, int cfd, const char *peer)
{
	struct pf_conn *c = calloc(1, sizeof(*c));
	int n;

	if (!c) {
		close(cfd);
		return;
	}
	c->serial = ++pf->serial;
	c->cfd = cfd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->deadline = pf_now_ms() + PORT_FORWARD_HANDSHAKE_MS;
	proto_reader_init(&c->rd, PROTO_MAX_PAYLOAD);
	c->next = pf->conns;
	pf->conns = c;
	pf->nconns++;
	c->up.buf = malloc(PORT_FORWARD_BUF);
	c->down.buf = malloc(PORT_FORWARD_BUF);
	c->afd = -1;
	if (!c->up.buf || !c->down.buf) {
		pf_close(pf, c, "out of memory");
		return;
	}
	n = snprintf((char *)c->hs, sizeof(c->hs), "CONNECT %u\n",
		     pf->agent_port);
	c->hs_len = (size_t)n;
	if (pf_frame(c, 1,
		     json_pack("{s:s,s:i,s:s}", "op", "hello", "version",
			       PROTO_VERSION, "client", "kiln-port-forward")) <
		    0 ||
	    pf_frame(c, 2,
		     json_pack("{s:s,s:i,s:s}", "op", "forward", "port",
			       pf->guest_port, "host", pf->guest_host)) < 0) {
		pf_close(pf, c, "cannot encode the forward request");
		return;
	}
	c->afd = pf_connect_vmm(pf->uds);
	if (c->afd < 0) {
		char msg[300];

		snprintf(msg, sizeof(msg),
			 "connecting to the VMM's vsock socket %s: %s (is the "
			 "sandbox running?)",
			 pf->uds, strerror(errno));
		pf_close(pf, c, msg);
	}
}

static void pf_accept(struct pf *pf, int lfd)
{
	for (int i = 0; i < PF_ACCEPT_BATCH && pf->nconns < pf->max_conns;
	     i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[64] = "?", serv[16] = "?", peer[80];
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host),
			    serv, sizeof(serv),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof(peer), "%s:%s", host, serv);
		pf_accept_one(pf, fd, peer);
	}
}

/* ---- the loop
 * ------------------------------------------------------------------ */

static int pf_listen(const char *addr, int port, int *lfd, int *bound,
		     char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_PASSIVE |
					     AI_NUMERICSERV};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai;
	char serv[16], host[64];
	int fd, one = 1, rc;

	snprintf(serv, sizeof(serv), "%d", port);
	rc = getaddrinfo(addr, serv, &hints, &ai);
	if (rc) {
		errbuf_set(err, errlen,
			   "port-forward: bind address \"%s\": %s (give a "
			   "numeric IPv4 or IPv6 address)",
			   addr, gai_strerror(rc));
		return AGENT_ERR_INVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		errbuf_set(err, errlen,
			   "port-forward: listen on %s port %d: %s", addr, port,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return AGENT_ERR_IO;
	}
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
		    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
	*bound = atoi(serv);
	*lfd = fd;
	return 0;
}

static short pf_events_client(const struct pf_conn *c)
{
	if (!c->relaying)
		return 0; /* its bytes wait in its socket meanwhile */
	return (short)((!c->up.eof && c->up.len < PORT_FORWARD_BUF ? POLLIN
								   : 0) |
		       (c->down.len > 0 ? POLLOUT : 0));
}

static short pf_events_agent(const struct pf_conn *c)
{
	if (!c->relaying)
		return (short)(POLLIN | (c->hs_off < c->hs_len ? POLLOUT : 0));
	return (short)((!c->down.eof && c->down.len < PORT_FORWARD_BUF ? POLLIN
								       : 0) |
		       (c->up.len > 0 ? POLLOUT : 0));
}

int port_forward_run(const char *vsock_uds, const char *bind_addr,
		     int host_port, int guest_port, int cancel_fd,
		     const struct port_forward_hooks *hooks, char *err,
		     size_t errlen)
{
	struct pf pf = {
		.uds = vsock_uds,
		.guest_port = guest_port,
		.hooks = hooks,
		.guest_host = hooks && hooks->guest_host ? hooks->guest_host
							 : "127.0.0.1",
		.agent_port = hooks && hooks->agent_port ? hooks->agent_port
							 : PROTO_AGENT_PORT,
		.max_conns = hooks && hooks->max_conns ? hooks->max_conns : 64};
	struct pollfd *pfds = NULL;
	struct pf_conn **owner = NULL;
	int lfd = -1, bound = 0, rc;

	if (!vsock_uds || !*vsock_uds || cancel_fd < 0 || host_port < 0 ||
	    host_port > 65535 || guest_port < 1 || guest_port > 65535) {
		errbuf_set(err, errlen,
			   "port-forward: need a vsock socket, a cancel fd, a "
			   "host port 0..65535 and a guest port 1..65535");
		return AGENT_ERR_INVAL;
	}
	if (pf.max_conns > PORT_FORWARD_MAX_CONNS)
		pf.max_conns = PORT_FORWARD_MAX_CONNS;
	if (!bind_addr)
		bind_addr = "127.0.0.1";
	rc = pf_listen(bind_addr, host_port, &lfd, &bound, err, errlen);
	if (rc < 0)
		return rc;
	pfds = calloc(2 + 2 * (size_t)pf.max_conns, sizeof(*pfds));
	owner = calloc(2 + 2 * (size_t)pf.max_conns, sizeof(*owner));
	pf.chunk = malloc(PF_READ_CHUNK);
	if (!pfds || !owner || !pf.chunk) {
		errbuf_set(err, errlen, "port-forward: out of memory");
		rc = AGENT_ERR_IO;
		goto out;
	}
	if (hooks && hooks->on_listening)
		hooks->on_listening(hooks->ctx, bind_addr, bound);
	for (;;) { /* until cancelled; each wait is a poll() */
		int64_t now = pf_now_ms(), next = -1;
		size_t n = 2;
		int t;

		pfds[0] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
		pfds[1] = (struct pollfd){.fd = pf.nconns < pf.max_conns ? lfd
									 : -1,
					  .events = POLLIN};
		for (struct pf_conn *c = pf.conns; c; c = c->next) {
			short ec = pf_events_client(c), ea = pf_events_agent(c);

			pfds[n] = (struct pollfd){.fd = ec ? c->cfd : -1,
						  .events = ec};
			owner[n++] = c;
			pfds[n] = (struct pollfd){.fd = ea ? c->afd : -1,
						  .events = ea};
			owner[n++] = c;
			if (!c->relaying && (next < 0 || c->deadline < next))
				next = c->deadline;
		}
		t = next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
		if (poll(pfds, n, t) < 0 && errno != EINTR) {
			errbuf_set(err, errlen, "port-forward: poll: %s",
				   strerror(errno));
			rc = AGENT_ERR_IO;
			goto out;
		}
		if (pfds[0].revents) {
			rc = 0;
			goto out;
		}
		for (size_t i = 2; i < n; i += 2) {
			struct pf_conn *c = owner[i];

			if (c->dead || !(pfds[i].revents | pfds[i + 1].revents))
				continue;
			if (c->relaying) {
				pf_pump(&pf, c);
				continue;
			}
			if (pfds[i + 1].revents & POLLOUT)
				pf_handshake_output(&pf, c);
			if (!c->dead && (pfds[i + 1].revents &
					 (POLLIN | POLLHUP | POLLERR)))
				pf_handshake_input(&pf, c);
			if (!c->dead && c->relaying)
				pf_pump(&pf, c);
		}
		now = pf_now_ms();
		for (struct pf_conn *c = pf.conns; c; c = c->next)
			if (!c->dead && !c->relaying && now >= c->deadline)
				pf_close(&pf, c,
					 "the guest did not answer the forward "
					 "request in time");
		for (struct pf_conn **pp = &pf.conns; *pp;) {
			struct pf_conn *c = *pp;

			if (!c->dead) {
				pp = &c->next;
				continue;
			}
			*pp = c->next;
			pf.nconns--;
			pf_free(c);
		}
		if (pfds[1].revents)
			pf_accept(&pf, lfd);
	}
out:
	while (pf.conns) {
		struct pf_conn *c = pf.conns;

		pf.conns = c->next;
		pf_close(&pf, c, "port-forward stopping");
		pf_free(c);
	}
	close(lfd);
	free(pfds);
	free(owner);
	free(pf.chunk);
	return rc;
}
