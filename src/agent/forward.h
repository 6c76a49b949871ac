/* SPDX-License-Identifier: MIT */
/*
 * The forward op (docs/PROTOCOL.md, "Port forwarding"): a connection whose
 * request after hello is {"op":"forward","port":N} becomes a raw byte
 * relay to that TCP port in the guest once the agent has connected to
 * it.  The relay runs in the agent's event loop with a bounded buffer per
 * direction: when one is full the agent stops reading the side that fills
 * it (TCP's flow control then reaches the sender), so a slow reader never
 * makes the agent buffer without bound.  A side that shuts down its
 * sending half has it propagated (shutdown(SHUT_WR)) once its data is
 * delivered; the relay ends when both directions have ended, or at once
 * on an error.
 */
#ifndef KILN_AGENT_FORWARD_H
#define KILN_AGENT_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/server.h"

/* Bytes buffered per direction of one forward. */
#define FORWARD_BUF (128u << 10)
/* Forwards at once (each holds two FORWARD_BUF buffers). */
#define FORWARD_MAX 256

struct forward;

/* The op handler (request.c dispatches to it). */
void forward_op(struct conn *c, uint32_t id, json_t *obj);

/* c closes while its forward is still connecting: drop that. */
void forward_conn_close(struct conn *c);

/* Agent stopping: close every forward. */
void forward_close_all(struct agent *ag);

/* Free what closed during the last batch. */
void forward_reap_dead(struct agent *ag);

#endif
