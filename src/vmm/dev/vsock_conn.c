/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock connection state machine (see vsock_conn.h).  Pure code: the
 * only side effects are on struct vsock_mux and heap buffers.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_conn.h"
#include "vsock_ring.h"

#define VSOCK_HASH_SIZE 2048 /* power of two */

/* The header as it sits in guest memory: little endian, no padding. */
struct vsock_wire_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_wire_hdr) == VSOCK_HDR_SIZE,
	       "virtio-vsock header is 44 bytes");

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
	struct vsock_wire_hdr w;

	memcpy(&w, raw, sizeof(w));
	h->src_cid = le64toh(w.src_cid);
	h->dst_cid = le64toh(w.dst_cid);
	h->src_port = le32toh(w.src_port);
	h->dst_port = le32toh(w.dst_port);
	h->len = le32toh(w.len);
	h->type = le16toh(w.type);
	h->op = le16toh(w.op);
	h->flags = le32toh(w.flags);
	h->buf_alloc = le32toh(w.buf_alloc);
	h->fwd_cnt = le32toh(w.fwd_cnt);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
	struct vsock_wire_hdr w = {
		.src_cid = htole64(h->src_cid),
		.dst_cid = htole64(h->dst_cid),
		.src_port = htole32(h->src_port),
		.dst_port = htole32(h->dst_port),
		.len = htole32(h->len),
		.type = htole16(h->type),
		.op = htole16(h->op),
		.flags = htole32(h->flags),
		.buf_alloc = htole32(h->buf_alloc),
		.fwd_cnt = htole32(h->fwd_cnt),
	};

	memcpy(raw, &w, sizeof(w));
}

/* --- bookkeeping: hash, RX queue, dirty list, slots --- */

static uint32_t conn_hash(uint32_t local_port, uint32_t peer_port)
{
	uint32_t x = local_port * 0x9E3779B1u ^ peer_port * 0x85EBCA77u;

	return (x ^ x >> 16) & (VSOCK_HASH_SIZE - 1);
}

static void hash_insert(struct vsock_mux *m, struct vsock_conn *c)
{
	uint32_t b = conn_hash(c->local_port, c->peer_port);

	c->hnext = m->hash[b];
	m->hash[b] = (int32_t)c->idx;
	c->hashed = true;
}

static void hash_remove(struct vsock_mux *m, struct vsock_conn *c)
{
	int32_t *link;

	if (!c->hashed)
		return;
	link = &m->hash[conn_hash(c->local_port, c->peer_port)];
	/* Bounded: a chain holds each slot at most once. */
	for (uint32_t n = 0; *link >= 0 && n < m->max_conns; n++) {
		if (*link == (int32_t)c->idx) {
			*link = c->hnext;
			break;
		}
		link = &m->conns[*link].hnext;
	}
	c->hashed = false;
	c->hnext = -1;
}

struct vsock_conn *vsock_mux_find(struct vsock_mux *m, uint32_t local_port,
				  uint32_t peer_port)
{
	int32_t i = m->hash[conn_hash(local_port, peer_port)];

	for (uint32_t n = 0; i >= 0 && n < m->max_conns; n++) {
		struct vsock_conn *c = &m->conns[i];

		if (c->local_port == local_port && c->peer_port == peer_port)
			return c;
		i = c->hnext;
	}
	return NULL;
}

static void rxq_add(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->in_rxq)
		return;
	c->rx_next = -1;
	c->rx_prev = m->rxq_last;
	if (m->rxq_last >= 0)
		m->conns[m->rxq_last].rx_next = (int32_t)c->idx;
	else
		m->rxq_first = (int32_t)c->idx;
	m->rxq_last = (int32_t)c->idx;
	c->in_rxq = true;
}

static void rxq_remove(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->in_rxq)
		return;
	if (c->rx_prev >= 0)
		m->conns[c->rx_prev].rx_next = c->rx_next;
	else
		m->rxq_first = c->rx_next;
	if (c->rx_next >= 0)
		m->conns[c->rx_next].rx_prev = c->rx_prev;
	else
		m->rxq_last = c->rx_prev;
	c->rx_prev = c->rx_next = -1;
	c->in_rxq = false;
}

/* Move c behind the others so connections take turns. */
static void rxq_rotate(struct vsock_mux *m, struct vsock_conn *c)
{
	rxq_remove(m, c);
	rxq_add(m, c);
}

static void mark_dirty(struct vsock_mux *m, struct vsock_conn *c)
{
	/* The dirty flag keeps each slot at most once on the stack, so the
	 * stack (max_conns entries) cannot overflow. */
	if (c->dirty)
		return;
	c->dirty = true;
	m->dirty[m->ndirty++] = c->idx;
}

struct vsock_conn *vsock_mux_next_dirty(struct vsock_mux *m)
{
	struct vsock_conn *c;

	if (m->ndirty == 0)
		return NULL;
	c = &m->conns[m->dirty[--m->ndirty]];
	c->dirty = false;
	return c;
}

static struct vsock_conn *conn_alloc(struct vsock_mux *m, uint32_t local_port,
				     uint32_t peer_port,
				     enum vsock_conn_state state)
{
	struct vsock_conn *c;
	uint32_t idx;
	bool dirty;

	if (m->nfree == 0)
		return NULL;
	idx = m->free_slots[--m->nfree];
	c = &m->conns[idx];
	dirty = c->dirty; /* may still sit on the dirty stack */
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->dirty = dirty;
	c->hnext = c->rx_prev = c->rx_next = -1;
	c->state = state;
	c->local_port = local_port;
	c->peer_port = peer_port;
	hash_insert(m, c);
	m->nconns++;
	return c;
}

static void conn_release(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_FREE)
		return;
	hash_remove(m, c);
	rxq_remove(m, c);
	vsock_ring_free(&c->out);
	c->state = VSOCK_CONN_FREE;
	c->pend = 0;
	c->host_attached = false;
	m->free_slots[m->nfree++] = c->idx;
	m->nconns--;
}

/* The guest forgot c (or never knew it): close the host side, then free. */
static void conn_forget(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->host_attached) {
		conn_release(m, c);
		return;
	}
	hash_remove(m, c);
	rxq_remove(m, c);
	vsock_ring_free(&c->out);
	c->ack_len = c->ack_off = 0;
	c->pend = 0;
	c->state = VSOCK_CONN_DEAD;
	mark_dirty(m, c);
}

/* Tell the guest the connection is gone (RST) and close the host side. */
static void conn_abort(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_CONNECT_HOST && !c->req_sent) {
		/* The guest never saw the REQUEST: nothing to reset. */
		conn_forget(m, c);
		return;
	}
	vsock_ring_free(&c->out);
	c->ack_len = c->ack_off = 0;
	c->pend = VSOCK_PEND_RST;
	c->state = VSOCK_CONN_CLOSING;
	rxq_add(m, c);
	mark_dirty(m, c);
}

/*
 * Nothing more can flow either way once all accepted bytes are written: the
 * guest shut both directions, or it stopped sending and the host hit EOF.
 * Close with RST, which is how a Linux guest expects a close to complete.
 */
static void conn_check_finished(struct vsock_mux *m, struct vsock_conn *c)
{
	bool guest_done, host_done;

	if (c->state != VSOCK_CONN_ESTABLISHED || c->out.used != 0 ||
	    c->ack_off != c->ack_len)
		return;
	guest_done = (c->peer_shut & VSOCK_SHUTDOWN_SEND) != 0;
	host_done = c->host_eof || (c->peer_shut & VSOCK_SHUTDOWN_RCV);
	if (!guest_done || !host_done)
		return;
	c->pend = (c->pend & VSOCK_PEND_SHUTDOWN) | VSOCK_PEND_RST;
	c->state = VSOCK_CONN_CLOSING;
	rxq_add(m, c);
	mark_dirty(m, c);
}

static void orphan_rst(struct vsock_mux *m, uint32_t local_port,
		       uint32_t peer_port)
{
	uint32_t tail;

	if (m->orphan_len == VSOCK_ORPHAN_RST_MAX) {
		m->orphan_dropped++;
		return;
	}
	tail = (m->orphan_head + m->orphan_len) % VSOCK_ORPHAN_RST_MAX;
	m->orphan[tail].local_port = local_port;
	m->orphan[tail].peer_port = peer_port;
	m->orphan_len++;
}

int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, uint32_t max_conns)
{
	memset(m, 0, sizeof(*m));
	if (max_conns == 0)
		max_conns = VSOCK_MAX_CONNS;
	if (max_conns > (1u << 20))
		return -EINVAL;
	m->guest_cid = guest_cid;
	m->max_conns = max_conns;
	m->next_port = VSOCK_EPHEMERAL_BASE;
	m->rxq_first = m->rxq_last = -1;
	m->conns = calloc(max_conns, sizeof(*m->conns));
	m->hash = malloc(VSOCK_HASH_SIZE * sizeof(*m->hash));
	m->free_slots = malloc(max_conns * sizeof(*m->free_slots));
	m->dirty = malloc(max_conns * sizeof(*m->dirty));
	if (!m->conns || !m->hash || !m->free_slots || !m->dirty) {
		vsock_mux_free(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < VSOCK_HASH_SIZE; i++)
		m->hash[i] = -1;
	/* Hand out low slots first (the stack pops from the end). */
	for (uint32_t i = 0; i < max_conns; i++) {
		m->conns[i].idx = i;
		m->conns[i].hnext = -1;
		m->conns[i].rx_prev = m->conns[i].rx_next = -1;
		m->free_slots[i] = max_conns - 1 - i;
	}
	m->nfree = max_conns;
	return 0;
}

void vsock_mux_free(struct vsock_mux *m)
{
	if (m->conns) {
		for (uint32_t i = 0; i < m->max_conns; i++)
			vsock_ring_free(&m->conns[i].out);
	}
	free(m->conns);
	free(m->hash);
	free(m->free_slots);
	free(m->dirty);
	memset(m, 0, sizeof(*m));
}

void vsock_mux_reset(struct vsock_mux *m)
{
	for (uint32_t i = 0; i < m->max_conns; i++) {
		struct vsock_conn *c = &m->conns[i];

		if (c->state != VSOCK_CONN_FREE && c->state != VSOCK_CONN_DEAD)
			conn_forget(m, c);
	}
	m->orphan_head = m->orphan_len = 0;
}

/* --- credit --- */

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest claiming to have consumed more than we sent, or shrinking
	 * its buffer below what is in flight, simply has no credit. */
	if (in_flight >= c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - in_flight;
}

static bool conn_can_send_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->host_attached &&
	       c->host_readable && !c->host_eof &&
	       !(c->peer_shut & VSOCK_SHUTDOWN_RCV) &&
	       vsock_conn_peer_credit(c) > 0;
}

static void conn_update_peer_credit(struct vsock_mux *m, struct vsock_conn *c,
				    const struct vsock_hdr *h)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (conn_can_send_data(c))
		rxq_add(m, c);
}

/*
 * Decide whether the guest needs to hear our fwd_cnt: it has sent
 * fwd_cnt + out.used bytes and believes we consumed adv_fwd_cnt of them.
 */
static void conn_maybe_credit_update(struct vsock_mux *m, struct vsock_conn *c)
{
	uint32_t unadvertised = c->fwd_cnt - c->adv_fwd_cnt;
	uint32_t seen_used = c->out.used + unadvertised;
	uint32_t seen_free = seen_used >= VSOCK_CONN_BUF_ALLOC
				     ? 0
				     : VSOCK_CONN_BUF_ALLOC - seen_used;

	if (c->state != VSOCK_CONN_ESTABLISHED || unadvertised == 0)
		return;
	if (unadvertised >= VSOCK_CREDIT_UPDATE_CHUNK ||
	    seen_free < VSOCK_MAX_PKT_DATA) {
		c->pend |= VSOCK_PEND_CREDIT_UPDATE;
		rxq_add(m, c);
	}
}

/* --- the guest -> host bytes --- */

int vsock_conn_host_out(const struct vsock_conn *c, struct iovec iov[3])
{
	int n = 0;

	/* Closing connections have no buffer left: aborts drop it. */
	if (c->ack_off < c->ack_len) {
		iov[n].iov_base = (void *)(c->ack + c->ack_off);
		iov[n].iov_len = (size_t)(c->ack_len - c->ack_off);
		n++;
	}
	return n + vsock_ring_peek(&c->out, iov + n);
}

/* --- packets from the guest --- */

static bool hdr_malformed(const struct vsock_hdr *h, size_t payload_avail)
{
	if (h->len > VSOCK_MAX_PKT_DATA || h->len > payload_avail)
		return true;
	if (h->type != VSOCK_TYPE_STREAM)
		return true;
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		return true;
	if (h->op != VSOCK_OP_RW && h->len != 0)
		return true;
	if (h->op == VSOCK_OP_SHUTDOWN && (h->flags & ~VSOCK_SHUTDOWN_ALL))
		return true;
	return false;
}

static enum vsock_verdict conn_established_pkt(struct vsock_mux *m,
					       struct vsock_conn *c,
					       const struct vsock_hdr *h,
					       const uint8_t *data)
{
	switch (h->op) {
	case VSOCK_OP_RW:
		/* Data after SHUTDOWN(SEND), or beyond the credit we gave,
		 * is a broken guest: never buffer more than advertised. */
		if (h->len == 0)
			return VSOCK_PKT_OK;
		if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) ||
		    h->len > VSOCK_CONN_BUF_ALLOC - c->out.used ||
		    vsock_ring_push(&c->out, data, h->len) < 0) {
			conn_abort(m, c);
			return VSOCK_PKT_RESET;
		}
		mark_dirty(m, c);
		return VSOCK_PKT_OK;
	case VSOCK_OP_CREDIT_UPDATE:
		return VSOCK_PKT_OK;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pend |= VSOCK_PEND_CREDIT_UPDATE;
		rxq_add(m, c);
		return VSOCK_PKT_OK;
	case VSOCK_OP_SHUTDOWN:
		c->peer_shut |= h->flags & VSOCK_SHUTDOWN_ALL;
		if (c->peer_shut & VSOCK_SHUTDOWN_RCV)
			c->host_readable = false;
		mark_dirty(m, c);
		conn_check_finished(m, c);
		return VSOCK_PKT_OK;
	default: /* REQUEST is handled by the caller; RESPONSE is illegal */
		conn_abort(m, c);
		return VSOCK_PKT_RESET;
	}
}

enum vsock_verdict vsock_mux_guest_pkt(struct vsock_mux *m, const uint8_t *pkt,
				       size_t len)
{
	struct vsock_hdr h;
	struct vsock_conn *c;

	if (len < VSOCK_HDR_SIZE) {
		m->bad_pkts++;
		return VSOCK_PKT_DROPPED;
	}
	vsock_hdr_decode(pkt, &h);
	/* Misaddressed packets cannot be answered sensibly: drop them. */
	if (h.src_cid != m->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		m->bad_pkts++;
		return VSOCK_PKT_DROPPED;
	}
	c = vsock_mux_find(m, h.dst_port, h.src_port);
	if (hdr_malformed(&h, len - VSOCK_HDR_SIZE)) {
		m->bad_pkts++;
		/* Never answer an RST with an RST. */
		if (h.op == VSOCK_OP_RST)
			return VSOCK_PKT_DROPPED;
		if (!c)
			orphan_rst(m, h.dst_port, h.src_port);
		else if (c->state != VSOCK_CONN_CLOSING)
			conn_abort(m, c);
		else
			return VSOCK_PKT_DROPPED; /* RST already queued */
		return VSOCK_PKT_RESET;
	}

	if (!c) {
		if (h.op == VSOCK_OP_RST)
			return VSOCK_PKT_OK;
		if (h.op != VSOCK_OP_REQUEST) {
			orphan_rst(m, h.dst_port, h.src_port);
			return VSOCK_PKT_RESET;
		}
		c = conn_alloc(m, h.dst_port, h.src_port,
			       VSOCK_CONN_CONNECT_GUEST);
		if (!c) {
			orphan_rst(m, h.dst_port, h.src_port);
			return VSOCK_PKT_RESET;
		}
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		mark_dirty(m, c); /* the glue connects the host socket */
		return VSOCK_PKT_OK;
	}

	/* Our RST is on its way; whatever the guest says crossed it. */
	if (c->state == VSOCK_CONN_CLOSING)
		return VSOCK_PKT_OK;
	if (h.op == VSOCK_OP_RST) {
		conn_forget(m, c);
		return VSOCK_PKT_OK;
	}
	if (h.op == VSOCK_OP_REQUEST) {
		/* Duplicate REQUEST: the guest lost track; reset it. */
		conn_abort(m, c);
		return VSOCK_PKT_RESET;
	}

	switch (c->state) {
	case VSOCK_CONN_CONNECT_HOST:
		if (h.op != VSOCK_OP_RESPONSE || !c->req_sent) {
			conn_abort(m, c);
			return VSOCK_PKT_RESET;
		}
		c->state = VSOCK_CONN_ESTABLISHED;
		c->ack_len = (uint8_t)snprintf(c->ack, sizeof(c->ack),
					       "OK %u\n", c->local_port);
		c->ack_off = 0;
		conn_update_peer_credit(m, c, &h);
		mark_dirty(m, c);
		return VSOCK_PKT_OK;
	case VSOCK_CONN_CONNECT_GUEST:
		/* Credit chatter before our RESPONSE is harmless; anything
		 * else is a protocol violation. */
		if (h.op == VSOCK_OP_CREDIT_UPDATE ||
		    h.op == VSOCK_OP_CREDIT_REQUEST) {
			c->peer_buf_alloc = h.buf_alloc;
			c->peer_fwd_cnt = h.fwd_cnt;
			if (h.op == VSOCK_OP_CREDIT_REQUEST)
				c->pend |= VSOCK_PEND_CREDIT_UPDATE;
			return VSOCK_PKT_OK;
		}
		conn_abort(m, c);
		return VSOCK_PKT_RESET;
	case VSOCK_CONN_ESTABLISHED:
		conn_update_peer_credit(m, c, &h);
		return conn_established_pkt(m, c, &h, pkt + VSOCK_HDR_SIZE);
	default:
		return VSOCK_PKT_DROPPED;
	}
}

/* --- host side events --- */

static bool local_port_in_use(const struct vsock_mux *m, uint32_t port)
{
	for (uint32_t i = 0; i < m->max_conns; i++) {
		const struct vsock_conn *c = &m->conns[i];

		if (c->state != VSOCK_CONN_FREE && c->local_port == port)
			return true;
	}
	return false;
}

struct vsock_conn *vsock_mux_host_connect(struct vsock_mux *m,
					  uint32_t peer_port)
{
	struct vsock_conn *c;
	uint32_t port = 0;
	bool found = false;

	if (m->nfree == 0)
		return NULL;
	/* At most nconns ports are taken, so nconns + 1 tries find one. */
	for (uint32_t n = 0; n <= m->nconns && !found; n++) {
		port = m->next_port;
		/* Stay in [BASE, 2^32 - 2]: -1U is VMADDR_PORT_ANY. */
		m->next_port = port >= UINT32_MAX - 1 ? VSOCK_EPHEMERAL_BASE
						      : port + 1;
		found = !local_port_in_use(m, port);
	}
	if (!found)
		return NULL;
	c = conn_alloc(m, port, peer_port, VSOCK_CONN_CONNECT_HOST);
	if (!c)
		return NULL;
	c->host_attached = true;
	c->pend = VSOCK_PEND_REQUEST;
	rxq_add(m, c);
	mark_dirty(m, c);
	return c;
}

void vsock_mux_host_attached(struct vsock_mux *m, struct vsock_conn *c)
{
	c->host_attached = true;
	mark_dirty(m, c);
}

void vsock_mux_host_connected(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_CONNECT_GUEST)
		return;
	c->state = VSOCK_CONN_ESTABLISHED;
	c->pend |= VSOCK_PEND_RESPONSE;
	rxq_add(m, c);
	mark_dirty(m, c);
}

void vsock_mux_host_error(struct vsock_mux *m, struct vsock_conn *c)
{
	switch (c->state) {
	case VSOCK_CONN_CONNECT_HOST:
	case VSOCK_CONN_CONNECT_GUEST:
	case VSOCK_CONN_ESTABLISHED:
		conn_abort(m, c);
		break;
	default:
		break;
	}
}

void vsock_mux_host_readable(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_ESTABLISHED || c->host_eof)
		return;
	c->host_readable = true;
	if (conn_can_send_data(c))
		rxq_add(m, c);
	mark_dirty(m, c);
}

void vsock_mux_host_drained(struct vsock_mux *m, struct vsock_conn *c)
{
	c->host_readable = false;
	mark_dirty(m, c);
}

void vsock_mux_host_eof(struct vsock_mux *m, struct vsock_conn *c)
{
	c->host_readable = false;
	if (c->state != VSOCK_CONN_ESTABLISHED) {
		vsock_mux_host_error(m, c);
		return;
	}
	if (c->host_eof)
		return;
	c->host_eof = true;
	/* Tell the guest we will send no more; it may still send. */
	c->local_shut |= VSOCK_SHUTDOWN_SEND;
	c->pend |= VSOCK_PEND_SHUTDOWN;
	rxq_add(m, c);
	mark_dirty(m, c);
	conn_check_finished(m, c);
}

void vsock_mux_host_wrote(struct vsock_mux *m, struct vsock_conn *c, size_t n)
{
	uint32_t a = (uint32_t)(c->ack_len - c->ack_off);

	if (a > n)
		a = (uint32_t)n;
	c->ack_off = (uint8_t)(c->ack_off + a);
	n -= a;
	if (n > c->out.used)
		n = c->out.used; /* the glue never writes more than offered */
	vsock_ring_consume(&c->out, (uint32_t)n);
	c->fwd_cnt += (uint32_t)n;
	mark_dirty(m, c);
	conn_maybe_credit_update(m, c);
	conn_check_finished(m, c);
}

void vsock_mux_host_shut(struct vsock_mux *m, struct vsock_conn *c,
			 uint32_t how)
{
	if (how & VSOCK_SHUTDOWN_SEND)
		c->host_shut_wr = true;
	if (how & VSOCK_SHUTDOWN_RCV)
		c->host_shut_rd = true;
	mark_dirty(m, c);
}

void vsock_mux_host_closed(struct vsock_mux *m, struct vsock_conn *c)
{
	c->host_attached = false;
	switch (c->state) {
	case VSOCK_CONN_DEAD:
		conn_release(m, c);
		break;
	case VSOCK_CONN_CLOSING:
		break; /* freed once the RST is out */
	case VSOCK_CONN_FREE:
		break;
	default:
		/* Closed without being asked to: the guest must hear. */
		conn_abort(m, c);
		break;
	}
}

/* --- packets for the guest --- */

bool vsock_mux_rx_pending(const struct vsock_mux *m)
{
	return m->orphan_len > 0 || m->rxq_first >= 0;
}

static void conn_fill_hdr(const struct vsock_mux *m, struct vsock_conn *c,
			  struct vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = m->guest_cid;
	h->src_port = c->local_port;
	h->dst_port = c->peer_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = VSOCK_CONN_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
	/* Every packet tells the guest our fwd_cnt. */
	c->adv_fwd_cnt = c->fwd_cnt;
	c->pend &= ~VSOCK_PEND_CREDIT_UPDATE;
}

/* The RST for a closing connection is out: drop it. */
static void conn_rst_sent(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->host_attached) {
		/* conn_forget keeps it until the glue closed the socket. */
		conn_forget(m, c);
	} else {
		conn_release(m, c);
	}
}

/* A control packet for c, or VSOCK_OP_INVALID if none is due. */
static uint16_t conn_next_ctrl(struct vsock_conn *c, uint32_t *flags)
{
	*flags = 0;
	if (c->pend & VSOCK_PEND_REQUEST) {
		c->pend &= ~VSOCK_PEND_REQUEST;
		c->req_sent = true;
		return VSOCK_OP_REQUEST;
	}
	if (c->pend & VSOCK_PEND_RESPONSE) {
		c->pend &= ~VSOCK_PEND_RESPONSE;
		return VSOCK_OP_RESPONSE;
	}
	/* A graceful close sends SHUTDOWN before the RST. */
	if (c->pend & VSOCK_PEND_SHUTDOWN &&
	    (c->pend & VSOCK_PEND_RST || !conn_can_send_data(c))) {
		c->pend &= ~VSOCK_PEND_SHUTDOWN;
		*flags = c->local_shut;
		return VSOCK_OP_SHUTDOWN;
	}
	if (c->pend & VSOCK_PEND_RST)
		return VSOCK_OP_RST;
	if (c->state != VSOCK_CONN_ESTABLISHED)
		return VSOCK_OP_INVALID;
	if ((c->pend & VSOCK_PEND_CREDIT_UPDATE) && !conn_can_send_data(c))
		return VSOCK_OP_CREDIT_UPDATE;
	return VSOCK_OP_INVALID;
}

enum vsock_rx_kind vsock_mux_rx_next(struct vsock_mux *m, struct vsock_hdr *h,
				     struct vsock_conn **conn, uint32_t *max)
{
	*conn = NULL;
	*max = 0;
	if (m->orphan_len) {
		memset(h, 0, sizeof(*h));
		h->src_cid = VSOCK_HOST_CID;
		h->dst_cid = m->guest_cid;
		h->src_port = m->orphan[m->orphan_head].local_port;
		h->dst_port = m->orphan[m->orphan_head].peer_port;
		h->type = VSOCK_TYPE_STREAM;
		h->op = VSOCK_OP_RST;
		m->orphan_head = (m->orphan_head + 1) % VSOCK_ORPHAN_RST_MAX;
		m->orphan_len--;
		return VSOCK_RX_CTRL;
	}
	/* Each pass sends or takes one connection off the queue. */
	for (uint32_t n = 0; m->rxq_first >= 0 && n <= m->max_conns; n++) {
		struct vsock_conn *c = &m->conns[m->rxq_first];
		uint32_t flags;
		uint16_t op = conn_next_ctrl(c, &flags);

		if (op != VSOCK_OP_INVALID) {
			conn_fill_hdr(m, c, h, op);
			h->flags = flags;
			*conn = c;
			if (op == VSOCK_OP_RST)
				conn_rst_sent(m, c);
			else
				rxq_rotate(m, c);
			return VSOCK_RX_CTRL;
		}
		if (conn_can_send_data(c)) {
			uint32_t credit = vsock_conn_peer_credit(c);

			*max = credit < VSOCK_MAX_PKT_DATA ? credit
							   : VSOCK_MAX_PKT_DATA;
			*conn = c;
			return VSOCK_RX_DATA;
		}
		rxq_remove(m, c);
	}
	return VSOCK_RX_NONE;
}

void vsock_mux_rx_data(struct vsock_mux *m, struct vsock_conn *c, uint32_t n,
		       struct vsock_hdr *h)
{
	conn_fill_hdr(m, c, h, VSOCK_OP_RW);
	h->len = n;
	c->tx_cnt += n;
	rxq_rotate(m, c);
}

void vsock_mux_rx_skip(struct vsock_mux *m, struct vsock_conn *c)
{
	rxq_rotate(m, c);
}
