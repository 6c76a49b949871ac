/* SPDX-License-Identifier: MIT */
/*
 * Detached commands (exec with "detach": true) and the attach op
 * (docs/PROTOCOL.md, "Detached commands"): a detached command does not die
 * with a connection; while no client is attached its output goes into a
 * bounded ring per stream (the oldest bytes are dropped and counted), and
 * after it ended it waits, with its exit status, until a client attaches.
 */
#ifndef KILN_AGENT_DETACH_H
#define KILN_AGENT_DETACH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Output kept per stream of a detached command without a client. */
#define DETACH_RING_SIZE (64u << 10)
/* Detached commands at once (running or waiting for their exit to go). */
#define DETACH_MAX 64

/* The last DETACH_RING_SIZE bytes written; buf allocated on first use. */
struct out_ring {
	uint8_t *buf;
	size_t start, len; /* data: buf[start..] wrapping, len bytes */
	uint64_t lost; /* bytes dropped since the last attach */
};

/*
 * Append len bytes, dropping the oldest if the ring overflows.  Without
 * memory the bytes are counted as lost.
 */
void ring_push(struct out_ring *r, const uint8_t *buf, size_t len);

/*
 * Copy out up to max of the oldest bytes into out and remove them;
 * returns how many.
 */
size_t ring_pop(struct out_ring *r, uint8_t *out, size_t max);

void ring_free(struct out_ring *r);

struct conn;
struct agent;

/* Live detached commands (for the DETACH_MAX limit). */
unsigned int detach_count(const struct agent *ag);

/* A fresh session id, unused by any live command (never 0). */
uint32_t detach_new_session(struct agent *ag);

/* {"op":"attach","session":S}: see docs/PROTOCOL.md. */
void detach_attach_op(struct conn *c, uint32_t id, json_t *obj);

/*
 * c's client ended its sending side (EOF).  Through the VMM a closed host
 * socket looks exactly like that, so the detached commands c is attached
 * to go on detached at once (else an idle one would stay attached to a
 * gone client until it writes, and refuse every new attach).
 */
void detach_conn_eof(struct conn *c);

#endif
