/* SPDX-License-Identifier: MIT */
/*
 * Detached commands: the output rings and the attach op (see detach.h).
 * The command's life cycle stays in exec.c; this file only finds the
 * command for an attach request and keeps bytes for it meanwhile.
 */
#include "agent/detach.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/exec.h"
#include "agent/files.h"
#include "agent/identity.h"
#include "agent/log.h"
#include "agent/server.h"
#include "common/proto.h"

void ring_push(struct out_ring *r, const uint8_t *buf, size_t len)
{
	size_t end, first;

	if (len == 0)
		return;
	if (!r->buf) {
		r->buf = malloc(DETACH_RING_SIZE);
		if (!r->buf) {
			r->lost += len;
			return;
		}
		r->start = r->len = 0;
	}
	/* Only the last DETACH_RING_SIZE bytes can survive anyway. */
	if (len > DETACH_RING_SIZE) {
		r->lost += len - DETACH_RING_SIZE;
		buf += len - DETACH_RING_SIZE;
		len = DETACH_RING_SIZE;
	}
	if (r->len + len > DETACH_RING_SIZE) {
		size_t drop = r->len + len - DETACH_RING_SIZE;

		r->lost += drop;
		r->start = (r->start + drop) % DETACH_RING_SIZE;
		r->len -= drop;
	}
	end = (r->start + r->len) % DETACH_RING_SIZE;
	first = DETACH_RING_SIZE - end < len ? DETACH_RING_SIZE - end : len;
	memcpy(r->buf + end, buf, first);
	memcpy(r->buf, buf + first, len - first);
	r->len += len;
}

size_t ring_pop(struct out_ring *r, uint8_t *out, size_t max)
{
	size_t n = r->len < max ? r->len : max;
	size_t first = DETACH_RING_SIZE - r->start < n
			       ? DETACH_RING_SIZE - r->start
			       : n;

	if (n == 0)
		return 0;
	memcpy(out, r->buf + r->start, first);
	memcpy(out + first, r->buf, n - first);
	r->start = (r->start + n) % DETACH_RING_SIZE;
	r->len -= n;
	return n;
}

void ring_free(struct out_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->start = r->len = 0;
	r->lost = 0;
}

unsigned int detach_count(const struct agent *ag)
{
	unsigned int n = 0;

	for (const struct proc *p = ag->procs; p; p = p->next)
		n += p->session && !p->dead;
	return n;
}

static struct proc *detach_find(struct agent *ag, uint32_t session)
{
	for (struct proc *p = ag->procs; p; p = p->next)
		if (p->session == session && !p->dead)
			return p;
	return NULL;
}

uint32_t detach_new_session(struct agent *ag)
{
	/* Per agent process; the agent is one thread. */
	static uint32_t next;

	/* Bounded: at most DETACH_MAX ids are in use. */
	for (;;) {
		uint32_t s = ++next;

		if (s != 0 && !detach_find(ag, s))
			return s;
	}
}

void detach_conn_eof(struct conn *c)
{
	struct proc **pp = &c->procs;

	/* Bounded by c's commands. */
	while (*pp) {
		struct proc *p = *pp;

		if (!p->session || p->dead) {
			pp = &p->conn_next;
			continue;
		}
		*pp = p->conn_next;
		p->conn_next = NULL;
		log_debug("connection %u: end of input; session %u goes on "
			  "detached",
			  c->serial, p->session);
		proc_detach(p);
	}
}

void detach_attach_op(struct conn *c, uint32_t id, json_t *obj)
{
	json_t *op, *session;
	struct proc *p;
	char err[256];
	uint32_t s;

	if (proto_unpack(obj, err, sizeof(err), "attach", "{s:o,s:o}", "op",
			 &op, "session", &session) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (!json_is_integer(session) || json_integer_value(session) < 1 ||
	    json_integer_value(session) > UINT32_MAX) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"attach: \"session\" must be an integer in "
				"1..%u",
				UINT32_MAX);
		return;
	}
	s = (uint32_t)json_integer_value(session);
	if (proc_find(c, id) || files_busy_id(c, id) ||
	    identity_busy_id(c, id)) {
		conn_send_error(c, id, PROTO_E_BUSY,
				"attach: request id %u is still in use on this "
				"connection",
				id);
		return;
	}
	p = detach_find(c->ag, s);
	if (!p) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS,
				"attach: no detached command with session %u "
				"(it never existed, or its exit was already "
				"collected)",
				s);
		return;
	}
	if (p->conn) {
		conn_send_error(c, id, PROTO_E_ATTACHED,
				"attach: session %u is attached to another "
				"client (connection %u); that client must "
				"disconnect first",
				s, p->conn->serial);
		return;
	}
	proc_attach(p, c, id);
}
