/* SPDX-License-Identifier: MIT */
/*
 * The detach key sequence (see detach_keys.h).
 */
#include "cli/detach_keys.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* One key of a spec, [s, s + len): its byte, or -1. */
static int parse_key(const char *s, size_t len)
{
	if (len == 1 && s[0] > ' ' && s[0] < 0x7f && s[0] != ',')
		return (unsigned char)s[0];
	if (len == 6 && !strncmp(s, "ctrl-", 5)) {
		char c = s[5];

		if (c >= 'a' && c <= 'z')
			return c - 'a' + 1;
		if (c >= 'A' && c <= 'Z')
			return c - 'A' + 1;
		if (c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' ||
		    c == '_')
			return c - '@';
	}
	return -1;
}

int detach_keys_parse(const char *spec, struct detach_keys *k, char *err,
		      size_t errlen)
{
	const char *p = spec;

	memset(k, 0, sizeof(*k));
	if (!strcmp(spec, "none"))
		return 0;
	/* Bounded by the spec: one step per key. */
	for (;;) {
		size_t len = strcspn(p, ",");
		int key = parse_key(p, len);

		if (key < 0) {
			snprintf(err, errlen,
				 "--detach-keys: '%.*s' is not a key (a "
				 "character, or ctrl-X with X a letter, @, [, "
				 "\\, ], ^ or _; e.g. \"ctrl-p,ctrl-q\", or "
				 "\"none\")",
				 (int)len, p);
			return -1;
		}
		if (k->len >= DETACH_KEYS_MAX) {
			snprintf(err, errlen,
				 "--detach-keys: more than %d keys",
				 DETACH_KEYS_MAX);
			return -1;
		}
		k->seq[k->len++] = (uint8_t)key;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/*
 * One byte through the matcher.  A mismatch after a partial match passes
 * the first held key on and feeds the others and b again (one of them may
 * begin the sequence anew); depth is bounded by DETACH_KEYS_MAX.
 */
static size_t feed(struct detach_keys *k, uint8_t b, uint8_t *out,
		   bool *detached)
{
	uint8_t again[DETACH_KEYS_MAX];
	size_t n, w = 0;

	if (b == k->seq[k->held]) {
		if (++k->held == k->len) {
			k->held = 0;
			*detached = true;
		}
		return 0;
	}
	if (k->held == 0) {
		out[0] = b;
		return 1;
	}
	out[w++] = k->seq[0];
	n = k->held - 1;
	memcpy(again, k->seq + 1, n);
	again[n++] = b;
	k->held = 0;
	for (size_t i = 0; i < n && !*detached; i++)
		w += feed(k, again[i], out + w, detached);
	return w;
}

size_t detach_keys_filter(struct detach_keys *k, const uint8_t *in, size_t n,
			  uint8_t *out, bool *detached)
{
	size_t w = 0;

	*detached = false;
	if (k->len == 0) {
		memcpy(out, in, n);
		return n;
	}
	for (size_t i = 0; i < n && !*detached; i++)
		w += feed(k, in[i], out + w, detached);
	return w;
}

size_t detach_keys_flush(struct detach_keys *k, uint8_t *out)
{
	size_t n = k->held;

	memcpy(out, k->seq, n);
	k->held = 0;
	return n;
}

/* ---- the relay ------------------------------------------------------------
 */

static int send_all(int fd, const uint8_t *p, size_t len)
{
	/* Bounded: each send progresses or fails (EPIPE once stopped). */
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *relay_thread(void *arg)
{
	struct detach_relay *r = arg;
	uint8_t in[4096], out[sizeof(in) + DETACH_KEYS_MAX];

	/* Bounded by the input: ends at EOF, an error, detach or stop. */
	for (;;) {
		struct pollfd p[2] = {{.fd = r->in_fd, .events = POLLIN},
				      {.fd = r->stop_fd, .events = POLLIN}};
		bool detached = false;
		ssize_t n;
		size_t w;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		n = read(r->in_fd, in, sizeof(in));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) { /* EOF: the held keys, then EOF */
			w = detach_keys_flush(&r->keys, out);
			send_all(r->peer, out, w);
			break;
		}
		w = detach_keys_filter(&r->keys, in, (size_t)n, out, &detached);
		if (send_all(r->peer, out, w) < 0)
			break;
		if (detached) {
			uint64_t one = 1;

			r->detached = true;
			(void)!write(r->wake_fd, &one, sizeof(one));
			return NULL; /* the peer stays open: no EOF */
		}
	}
	shutdown(r->peer, SHUT_WR);
	return NULL;
}

int detach_relay_start(struct detach_relay *r, const struct detach_keys *k,
		       int in_fd, char *err, size_t errlen)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	r->fd = r->peer = r->wake_fd = r->stop_fd = -1;
	r->keys = *k;
	r->keys.held = 0;
	r->in_fd = in_fd;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	r->fd = sv[0];
	r->peer = sv[1];
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0 || r->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		detach_relay_stop(r);
		return -1;
	}
	errno = pthread_create(&r->tid, NULL, relay_thread, r);
	if (errno) {
		snprintf(err, errlen, "pthread_create: %s", strerror(errno));
		detach_relay_stop(r);
		return -1;
	}
	r->running = true;
	return 0;
}

void detach_relay_stop(struct detach_relay *r)
{
	if (r->running) {
		uint64_t one = 1;

		(void)!write(r->stop_fd, &one, sizeof(one));
		/* a thread blocked in send() gets EPIPE */
		shutdown(r->fd, SHUT_RDWR);
		pthread_join(r->tid, NULL);
		r->running = false;
	}
	if (r->fd >= 0)
		close(r->fd);
	if (r->peer >= 0)
		close(r->peer);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	r->fd = r->peer = r->wake_fd = r->stop_fd = -1;
}
