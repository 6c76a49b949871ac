/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-vsock state machine (vsock_conn.c): the
 * input is a script of guest packets (mostly well addressed, so the fuzzer
 * gets past the CID checks) interleaved with host socket events, RX buffer
 * requests and resets.  A small model of the glue runs after each step
 * (connects, closes), and invariants are checked throughout: the guest is
 * never sent more than its credit, we never hold more than we advertised,
 * the connection count and hash table agree with the slots.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_vsock.c src/vmm/dev/vsock_conn.c src/vmm/dev/vsock_ring.c
 * \ -o fuzz_vsock
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/dev/vsock_conn.h"

#define CID 3
#define FUZZ_MAX_CONNS 8

struct script {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct script *s)
{
	uint8_t v = 0;

	if (s->n) {
		v = *s->p++;
		s->n--;
	}
	return v;
}

static uint32_t take32(struct script *s)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)take8(s) << (8 * i);
	return v;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_vsock: invariant broken: %s\n", what);
		abort();
	}
}

static void check_invariants(struct vsock_mux *m)
{
	uint32_t used = 0;

	for (uint32_t i = 0; i < m->max_conns; i++) {
		struct vsock_conn *c = &m->conns[i];

		if (c->state == VSOCK_CONN_FREE) {
			check(!c->hashed && !c->in_rxq && !c->out.buf,
			      "free slot still linked");
			continue;
		}
		used++;
		check(c->out.used <= VSOCK_CONN_BUF_ALLOC,
		      "buffered more than advertised");
		check(c->out.used <= c->out.cap && c->out.head < c->out.cap + 1,
		      "buffer accounting");
		check(c->ack_off <= c->ack_len, "ack accounting");
		if (c->hashed)
			check(vsock_mux_find(m, c->local_port, c->peer_port) ==
				      c,
			      "hashed connection not found");
		check(c->state != VSOCK_CONN_DEAD || (!c->hashed && !c->in_rxq),
		      "dead connection still reachable");
	}
	check(used == m->nconns, "connection count");
	check(m->nfree + m->nconns == m->max_conns, "free list count");
	check(m->orphan_len <= VSOCK_ORPHAN_RST_MAX, "orphan queue");
}

/* The glue's part: connect or close host sockets as asked. */
static void glue_sync(struct vsock_mux *m, struct script *s)
{
	struct vsock_conn *c;

	for (uint32_t n = 0; n < 4 * m->max_conns + 4; n++) {
		c = vsock_mux_next_dirty(m);
		if (!c)
			return;
		if (vsock_conn_host_want_connect(c)) {
			if (take8(s) & 1) {
				vsock_mux_host_attached(m, c);
				vsock_mux_host_connected(m, c);
			} else {
				vsock_mux_host_error(m, c);
			}
		}
		if (vsock_conn_host_close(c))
			vsock_mux_host_closed(m, c);
	}
}

/* One RX buffer: ask for a packet, "read" data when offered. */
static void guest_rx(struct vsock_mux *m, struct script *s)
{
	for (uint32_t n = 0; n < 2 * m->max_conns + 8; n++) {
		struct vsock_conn *c;
		struct vsock_hdr h;
		uint32_t max, credit, got;

		switch (vsock_mux_rx_next(m, &h, &c, &max)) {
		case VSOCK_RX_NONE:
			return;
		case VSOCK_RX_CTRL:
			check(h.dst_cid == CID && h.src_cid == VSOCK_HOST_CID,
			      "control packet addressing");
			check(h.len == 0, "control packet with payload");
			return;
		case VSOCK_RX_DATA:
			credit = vsock_conn_peer_credit(c);
			check(max > 0 && max <= credit &&
				      max <= VSOCK_MAX_PKT_DATA,
			      "data offered beyond the guest's credit");
			switch (take8(s) % 5) {
			case 0:
				vsock_mux_host_drained(m, c);
				break;
			case 1:
				vsock_mux_host_eof(m, c);
				break;
			case 2:
				vsock_mux_host_error(m, c);
				break;
			case 3:
				vsock_mux_rx_skip(m, c);
				break;
			default:
				got = take32(s) % max + 1;
				vsock_mux_rx_data(m, c, got, &h);
				check(h.len == got && h.op == VSOCK_OP_RW,
				      "data header");
				check(c->tx_cnt - c->peer_fwd_cnt <=
					      c->peer_buf_alloc,
				      "sent more than the guest's buffer");
				return;
			}
			break;
		}
	}
}

static struct vsock_conn *pick_conn(struct vsock_mux *m, struct script *s)
{
	struct vsock_conn *c = &m->conns[take8(s) % m->max_conns];

	return c->state == VSOCK_CONN_FREE ? NULL : c;
}

static void guest_packet(struct vsock_mux *m, struct script *s)
{
	static uint8_t pkt[VSOCK_HDR_SIZE + VSOCK_MAX_PKT_DATA];
	uint8_t mode = take8(s);
	struct vsock_hdr h;
	struct vsock_conn *c;
	size_t len, data;

	memset(&h, 0, sizeof(h));
	h.src_cid = CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.type = VSOCK_TYPE_STREAM;
	h.op = take8(s) % 9;
	h.flags = take8(s) % 5;
	h.buf_alloc = take32(s);
	h.fwd_cnt = take32(s);
	/* Usually aim at an existing connection. */
	c = (mode & 1) ? pick_conn(m, s) : NULL;
	if (c) {
		h.src_port = c->peer_port;
		h.dst_port = c->local_port;
	} else {
		h.src_port = take8(s) % 4;
		h.dst_port = take8(s) % 4;
	}
	data = (mode & 2) ? (take32(s) % (VSOCK_MAX_PKT_DATA + 2)) : 0;
	h.len = (uint32_t)data;
	if (mode & 4)
		h.len = take32(s); /* lie about the length */
	if (mode & 8)
		h.src_cid = take32(s);
	if (mode & 16)
		h.type = (uint16_t)take32(s);
	vsock_hdr_encode(&h, pkt);
	for (size_t i = 0; i < data && s->n; i++)
		pkt[VSOCK_HDR_SIZE + i] = take8(s);
	len = VSOCK_HDR_SIZE + data;
	if (mode & 32)
		len = take8(s) % VSOCK_HDR_SIZE; /* truncated */
	vsock_mux_guest_pkt(m, pkt, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = {data, size};
	struct vsock_mux m;
	struct vsock_conn *c;
	struct iovec iov[3];

	if (vsock_mux_init(&m, CID, FUZZ_MAX_CONNS))
		return 0;
	for (int steps = 0; s.n && steps < 4096; steps++) {
		switch (take8(&s) % 12) {
		case 0:
		case 1:
		case 2:
			guest_packet(&m, &s);
			break;
		case 3:
			vsock_mux_host_connect(&m, take32(&s));
			break;
		case 4:
			guest_rx(&m, &s);
			break;
		case 5:
			c = pick_conn(&m, &s);
			if (c && c->host_attached)
				vsock_mux_host_readable(&m, c);
			break;
		case 6:
			c = pick_conn(&m, &s);
			if (c && c->host_attached) {
				int n = vsock_conn_host_out(c, iov);
				size_t total = 0;

				for (int i = 0; i < n; i++)
					total += iov[i].iov_len;
				if (total)
					vsock_mux_host_wrote(
						&m, c, take32(&s) % total + 1);
			}
			break;
		case 7:
			c = pick_conn(&m, &s);
			if (c && c->host_attached) {
				uint32_t how = vsock_conn_host_want_shut(c);

				if (how)
					vsock_mux_host_shut(&m, c, how);
			}
			break;
		case 8:
			c = pick_conn(&m, &s);
			if (c && c->host_attached)
				vsock_mux_host_error(&m, c);
			break;
		case 9:
			c = pick_conn(&m, &s);
			if (c && c->host_attached &&
			    c->state == VSOCK_CONN_ESTABLISHED)
				vsock_mux_host_eof(&m, c);
			break;
		case 10:
			if ((take8(&s) & 7) == 0)
				vsock_mux_reset(&m);
			break;
		default:
			guest_rx(&m, &s);
			guest_rx(&m, &s);
			break;
		}
		glue_sync(&m, &s);
		check_invariants(&m);
	}
	vsock_mux_free(&m);
	return 0;
}
