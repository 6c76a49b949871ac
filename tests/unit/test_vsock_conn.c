/* SPDX-License-Identifier: MIT */
/*
 * The pure virtio-vsock state machine (src/vmm/dev/vsock_conn.c) and the
 * CONNECT line parser: handshakes both ways, RSTs, credit, shutdown.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/dev/vsock_conn.h"
#include "vmm/dev/vsock_uds.h"

#define CID 3
#define GPORT 50000 /* the guest's ephemeral port */

static uint8_t pkt[VSOCK_HDR_SIZE + VSOCK_MAX_PKT_DATA + 16];

struct gp { /* a guest packet, defaults filled by send() */
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len, flags, buf_alloc, fwd_cnt;
	uint16_t type, op;
	const void *data;
	size_t extra; /* bytes of chain beyond len */
	bool raw_cids;
};

static enum vsock_verdict send_gp(struct vsock_mux *m, struct gp p)
{
	struct vsock_hdr h = {
		.src_cid = p.raw_cids ? p.src_cid : CID,
		.dst_cid = p.raw_cids ? p.dst_cid : VSOCK_HOST_CID,
		.src_port = p.src_port,
		.dst_port = p.dst_port,
		.len = p.len,
		.type = p.type ? p.type : VSOCK_TYPE_STREAM,
		.op = p.op,
		.flags = p.flags,
		.buf_alloc = p.buf_alloc,
		.fwd_cnt = p.fwd_cnt,
	};
	size_t avail = p.len + p.extra;

	if (avail > sizeof(pkt) - VSOCK_HDR_SIZE)
		avail = sizeof(pkt) - VSOCK_HDR_SIZE;
	vsock_hdr_encode(&h, pkt);
	memset(pkt + VSOCK_HDR_SIZE, 0, avail);
	if (p.data)
		memcpy(pkt + VSOCK_HDR_SIZE, p.data, p.len);
	return vsock_mux_guest_pkt(m, pkt, VSOCK_HDR_SIZE + avail);
}

/* Expect the next packet for the guest to be control packet op. */
static struct vsock_hdr expect_ctrl(struct vsock_mux *m, uint16_t op)
{
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t max;

	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_CTRL);
	assert_int_equal(h.op, op);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.type, VSOCK_TYPE_STREAM);
	assert_int_equal(h.len, 0);
	return h;
}

static void expect_none(struct vsock_mux *m)
{
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t max;

	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_NONE);
	assert_false(vsock_mux_rx_pending(m));
}

/* Expect a data packet; returns the max offered. */
static uint32_t expect_data(struct vsock_mux *m, struct vsock_conn *want)
{
	struct vsock_conn *c;
	struct vsock_hdr h;
	uint32_t max;

	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_DATA);
	assert_ptr_equal(c, want);
	assert_true(max > 0);
	return max;
}

static void drain_dirty(struct vsock_mux *m)
{
	while (vsock_mux_next_dirty(m))
		;
}

static struct vsock_mux *mux_new(uint32_t max)
{
	struct vsock_mux *m = malloc(sizeof(*m));

	assert_non_null(m);
	assert_int_equal(vsock_mux_init(m, CID, max), 0);
	return m;
}

static void mux_del(struct vsock_mux *m)
{
	vsock_mux_free(m);
	free(m);
}

/* Guest connects to host port hport; the host side accepts. */
static struct vsock_conn *guest_connect(struct vsock_mux *m, uint32_t hport,
					uint32_t gport, uint32_t buf_alloc)
{
	struct vsock_conn *c;
	struct vsock_hdr h;

	assert_int_equal(send_gp(m, (struct gp){.src_port = gport,
						.dst_port = hport,
						.op = VSOCK_OP_REQUEST,
						.buf_alloc = buf_alloc}),
			 VSOCK_PKT_OK);
	c = vsock_mux_find(m, hport, gport);
	assert_non_null(c);
	assert_int_equal(c->state, VSOCK_CONN_CONNECT_GUEST);
	assert_true(vsock_conn_host_want_connect(c));
	vsock_mux_host_attached(m, c);
	assert_false(vsock_conn_host_want_connect(c));
	vsock_mux_host_connected(m, c);
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	h = expect_ctrl(m, VSOCK_OP_RESPONSE);
	assert_int_equal(h.src_port, hport);
	assert_int_equal(h.dst_port, gport);
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
	assert_int_equal(h.fwd_cnt, 0);
	expect_none(m);
	drain_dirty(m);
	return c;
}

static void test_hdr_layout(void **state)
{
	struct vsock_hdr h = {.src_cid = 0x0102030405060708ULL,
			      .dst_cid = 2,
			      .src_port = 0x11223344,
			      .dst_port = 1024,
			      .len = 5,
			      .type = 1,
			      .op = 5,
			      .flags = 3,
			      .buf_alloc = 0x40000,
			      .fwd_cnt = 0xdeadbeef},
			 back;
	uint8_t raw[VSOCK_HDR_SIZE];

	(void)state;
	vsock_hdr_encode(&h, raw);
	assert_int_equal(raw[0], 0x08); /* little endian */
	assert_int_equal(raw[7], 0x01);
	assert_int_equal(raw[8], 2);
	assert_int_equal(raw[16], 0x44);
	assert_int_equal(raw[20], 0x00);
	assert_int_equal(raw[21], 0x04);
	assert_int_equal(raw[24], 5);
	assert_int_equal(raw[28], 1);
	assert_int_equal(raw[30], 5);
	assert_int_equal(raw[32], 3);
	assert_int_equal(raw[38], 0x04);
	assert_int_equal(raw[40], 0xef);
	assert_int_equal(raw[43], 0xde);
	vsock_hdr_decode(raw, &back);
	assert_int_equal(back.src_cid, h.src_cid);
	assert_int_equal(back.dst_cid, h.dst_cid);
	assert_int_equal(back.src_port, h.src_port);
	assert_int_equal(back.dst_port, h.dst_port);
	assert_int_equal(back.len, h.len);
	assert_int_equal(back.type, h.type);
	assert_int_equal(back.op, h.op);
	assert_int_equal(back.flags, h.flags);
	assert_int_equal(back.buf_alloc, h.buf_alloc);
	assert_int_equal(back.fwd_cnt, h.fwd_cnt);
}

static void test_guest_connect_ok(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(m->nconns, 1);
	assert_true(vsock_conn_host_want_read(c));
	assert_int_equal(c->peer_buf_alloc, 4096);
	assert_int_equal(vsock_conn_peer_credit(c), 4096);
	mux_del(m);
}

static void test_guest_connect_refused(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;
	struct vsock_hdr h;

	(void)state;
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_OK);
	c = vsock_mux_find(m, 5000, GPORT);
	assert_non_null(c);
	/* connect() to <uds>_5000 failed */
	vsock_mux_host_error(m, c);
	assert_false(vsock_conn_host_close(c)); /* no socket to close */
	h = expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(h.src_port, 5000);
	assert_int_equal(h.dst_port, GPORT);
	expect_none(m);
	assert_int_equal(m->nconns, 0);
	assert_null(vsock_mux_find(m, 5000, GPORT));
	mux_del(m);
}

/* Host client connects to guest port 1024; returns the connection after
 * the guest's RESPONSE. */
static struct vsock_conn *host_connect(struct vsock_mux *m, uint32_t buf_alloc)
{
	struct vsock_conn *c = vsock_mux_host_connect(m, 1024);
	struct vsock_hdr h;
	struct iovec iov[3];
	char ok[32];

	assert_non_null(c);
	assert_int_equal(c->state, VSOCK_CONN_CONNECT_HOST);
	assert_true(c->local_port >= VSOCK_EPHEMERAL_BASE);
	assert_false(vsock_conn_host_want_read(c));
	assert_int_equal(vsock_conn_host_out(c, iov), 0);
	h = expect_ctrl(m, VSOCK_OP_REQUEST);
	assert_int_equal(h.dst_port, 1024);
	assert_int_equal(h.src_port, c->local_port);
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
	expect_none(m);
	assert_int_equal(send_gp(m, (struct gp){.src_port = 1024,
						.dst_port = c->local_port,
						.op = VSOCK_OP_RESPONSE,
						.buf_alloc = buf_alloc}),
			 VSOCK_PKT_OK);
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	/* "OK <port>\n" goes to the host client before any data */
	assert_int_equal(vsock_conn_host_out(c, iov), 1);
	snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
	assert_int_equal(iov[0].iov_len, strlen(ok));
	assert_memory_equal(iov[0].iov_base, ok, strlen(ok));
	vsock_mux_host_wrote(m, c, 2);
	assert_int_equal(vsock_conn_host_out(c, iov), 1);
	assert_memory_equal(iov[0].iov_base, ok + 2, strlen(ok) - 2);
	vsock_mux_host_wrote(m, c, strlen(ok) - 2);
	assert_int_equal(vsock_conn_host_out(c, iov), 0);
	assert_int_equal(c->fwd_cnt, 0); /* the OK line is not guest data */
	drain_dirty(m);
	return c;
}

static void test_host_connect_ok(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;

	(void)state;
	c = host_connect(m, 8192);
	assert_true(vsock_conn_host_want_read(c));
	assert_int_equal(vsock_conn_peer_credit(c), 8192);
	mux_del(m);
}

static void test_host_connect_guest_refuses(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c = vsock_mux_host_connect(m, 1024);

	(void)state;
	expect_ctrl(m, VSOCK_OP_REQUEST);
	/* No listener in the guest: RST.  We close the host client and
	 * send nothing back. */
	assert_int_equal(send_gp(m, (struct gp){.src_port = 1024,
						.dst_port = c->local_port,
						.op = VSOCK_OP_RST}),
			 VSOCK_PKT_OK);
	assert_int_equal(c->state, VSOCK_CONN_DEAD);
	assert_true(vsock_conn_host_close(c));
	assert_ptr_equal(vsock_mux_next_dirty(m), c);
	expect_none(m);
	vsock_mux_host_closed(m, c);
	assert_int_equal(c->state, VSOCK_CONN_FREE);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_host_client_leaves_early(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c = vsock_mux_host_connect(m, 1024);

	(void)state;
	/* Hang-up before the REQUEST reached the guest: nothing to tell. */
	vsock_mux_host_error(m, c);
	assert_true(vsock_conn_host_close(c));
	expect_none(m);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);

	/* After the REQUEST went out the guest must hear an RST. */
	c = vsock_mux_host_connect(m, 1024);
	expect_ctrl(m, VSOCK_OP_REQUEST);
	vsock_mux_host_error(m, c);
	assert_true(vsock_conn_host_close(c));
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 1); /* until the RST is out */
	expect_ctrl(m, VSOCK_OP_RST);
	expect_none(m);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_ephemeral_ports(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *a, *b, *c;

	(void)state;
	a = vsock_mux_host_connect(m, 1024);
	b = vsock_mux_host_connect(m, 1024);
	assert_int_equal(a->local_port, VSOCK_EPHEMERAL_BASE);
	assert_int_equal(b->local_port, VSOCK_EPHEMERAL_BASE + 1);
	/* Wrap: 2^32 - 1 is never used, and ports in use are skipped. */
	m->next_port = UINT32_MAX - 1;
	c = vsock_mux_host_connect(m, 1024);
	assert_int_equal(c->local_port, UINT32_MAX - 1);
	c = vsock_mux_host_connect(m, 1024);
	assert_int_equal(c->local_port, VSOCK_EPHEMERAL_BASE + 2);
	/* A guest-initiated connection to a high port is skipped too. */
	assert_int_equal(
		send_gp(m, (struct gp){.src_port = 7,
				       .dst_port = VSOCK_EPHEMERAL_BASE + 3,
				       .op = VSOCK_OP_REQUEST}),
		VSOCK_PKT_OK);
	c = vsock_mux_host_connect(m, 1024);
	assert_int_equal(c->local_port, VSOCK_EPHEMERAL_BASE + 4);
	mux_del(m);
}

static void test_unknown_connection(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_hdr h;
	static const uint16_t ops[] = {VSOCK_OP_RESPONSE, VSOCK_OP_SHUTDOWN,
				       VSOCK_OP_RW, VSOCK_OP_CREDIT_UPDATE,
				       VSOCK_OP_CREDIT_REQUEST};

	(void)state;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		assert_int_equal(send_gp(m, (struct gp){.src_port = 77,
							.dst_port = 88,
							.op = ops[i]}),
				 VSOCK_PKT_RESET);
		h = expect_ctrl(m, VSOCK_OP_RST);
		assert_int_equal(h.src_port, 88);
		assert_int_equal(h.dst_port, 77);
		expect_none(m);
	}
	/* RST for nothing: silence (never RST an RST). */
	assert_int_equal(send_gp(m, (struct gp){.src_port = 77,
						.dst_port = 88,
						.op = VSOCK_OP_RST}),
			 VSOCK_PKT_OK);
	expect_none(m);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_bad_headers(void **state)
{
	struct vsock_mux *m = mux_new(0);
	uint8_t data[16] = {0};

	(void)state;
	/* Misaddressed: dropped without an answer. */
	assert_int_equal(send_gp(m, (struct gp){.raw_cids = true,
						.src_cid = 4,
						.dst_cid = 2,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_DROPPED);
	assert_int_equal(send_gp(m, (struct gp){.raw_cids = true,
						.src_cid = CID,
						.dst_cid = 1,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_DROPPED);
	assert_int_equal(vsock_mux_guest_pkt(m, pkt, VSOCK_HDR_SIZE - 1),
			 VSOCK_PKT_DROPPED);
	expect_none(m);
	/* Malformed but addressed: RST. */
	assert_int_equal(
		send_gp(m, (struct gp){.op = VSOCK_OP_REQUEST, .type = 2}),
		VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(send_gp(m, (struct gp){.op = 0}), VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(send_gp(m, (struct gp){.op = 8}), VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	/* len beyond the chain */
	assert_int_equal(send_gp(m, (struct gp){.op = VSOCK_OP_RW,
						.len = 16,
						.data = data}),
			 VSOCK_PKT_RESET); /* (unknown conn anyway) */
	expect_ctrl(m, VSOCK_OP_RST);
	mux_del(m);
}

static void test_bad_packets_reset_connection(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;
	uint8_t data[8] = "abcdefg";
	struct vsock_hdr h;

	(void)state;
	/* len larger than the descriptor chain holds */
	c = guest_connect(m, 5000, GPORT, 4096);
	vsock_hdr_encode(&(struct vsock_hdr){.src_cid = CID,
					     .dst_cid = 2,
					     .src_port = GPORT,
					     .dst_port = 5000,
					     .len = 100,
					     .type = 1,
					     .op = VSOCK_OP_RW},
			 pkt);
	assert_int_equal(vsock_mux_guest_pkt(m, pkt, VSOCK_HDR_SIZE + 99),
			 VSOCK_PKT_RESET);
	assert_int_equal(c->state, VSOCK_CONN_CLOSING);
	assert_true(vsock_conn_host_close(c));
	h = expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, GPORT);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);

	/* len above the 64 KiB maximum, even if the chain is longer */
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RW,
						.len = VSOCK_MAX_PKT_DATA + 1}),
			 VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);

	/* SHUTDOWN with unknown flags; control op carrying payload */
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_SHUTDOWN,
						.flags = 4}),
			 VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_CREDIT_UPDATE,
						.len = 3,
						.data = data}),
			 VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);

	/* RESPONSE on an established connection */
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RESPONSE}),
			 VSOCK_PKT_RESET);
	/* Packets crossing our RST are ignored, not answered. */
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RW,
						.len = 3,
						.data = data}),
			 VSOCK_PKT_OK);
	expect_ctrl(m, VSOCK_OP_RST);
	expect_none(m);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_duplicate_request(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_RESET);
	assert_int_equal(c->state, VSOCK_CONN_CLOSING);
	assert_true(vsock_conn_host_close(c));
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);

	/* Data before our RESPONSE is a protocol error too. */
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_OK);
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RW}),
			 VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_connection_limit(void **state)
{
	struct vsock_mux *m = mux_new(2);
	struct vsock_hdr h;

	(void)state;
	guest_connect(m, 5000, 1, 4096);
	guest_connect(m, 5000, 2, 4096);
	assert_int_equal(send_gp(m, (struct gp){.src_port = 3,
						.dst_port = 5000,
						.op = VSOCK_OP_REQUEST}),
			 VSOCK_PKT_RESET);
	h = expect_ctrl(m, VSOCK_OP_RST);
	assert_int_equal(h.dst_port, 3);
	assert_null(vsock_mux_host_connect(m, 1024));
	assert_int_equal(m->nconns, 2);
	mux_del(m);
}

static void test_orphan_queue_bounded(void **state)
{
	struct vsock_mux *m = mux_new(0);

	(void)state;
	for (uint32_t i = 0; i < VSOCK_ORPHAN_RST_MAX + 10; i++)
		send_gp(m, (struct gp){.src_port = i,
				       .dst_port = 9,
				       .op = VSOCK_OP_RW});
	assert_int_equal(m->orphan_dropped, 10);
	for (uint32_t i = 0; i < VSOCK_ORPHAN_RST_MAX; i++)
		assert_int_equal(expect_ctrl(m, VSOCK_OP_RST).dst_port, i);
	expect_none(m);
	mux_del(m);
}

static void test_credit_host_to_guest(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;
	struct vsock_hdr h;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 1000);
	expect_none(m);
	vsock_mux_host_readable(m, c);
	assert_false(vsock_conn_host_want_read(c)); /* known readable */
	assert_int_equal(expect_data(m, c), 1000);
	vsock_mux_rx_data(m, c, 600, &h);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 600);
	assert_int_equal(h.src_port, 5000);
	assert_int_equal(h.dst_port, GPORT);
	assert_int_equal(vsock_conn_peer_credit(c), 400);
	assert_int_equal(expect_data(m, c), 400);
	vsock_mux_rx_data(m, c, 400, &h);
	/* Out of credit: nothing more, and the socket is not watched. */
	expect_none(m);
	assert_false(vsock_conn_host_want_read(c));
	/* The guest consumed 600: 600 more may go. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_UPDATE,
			       .buf_alloc = 1000,
			       .fwd_cnt = 600});
	assert_int_equal(expect_data(m, c), 600);
	/* Read hit EAGAIN: watch the socket again. */
	vsock_mux_host_drained(m, c);
	assert_true(vsock_conn_host_want_read(c));
	expect_none(m);
	/* A guest that shrinks its buffer below what is in flight, or
	 * claims more consumed than sent, simply has no credit. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_UPDATE,
			       .buf_alloc = 100,
			       .fwd_cnt = 600});
	assert_int_equal(vsock_conn_peer_credit(c), 0);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_UPDATE,
			       .buf_alloc = 1000,
			       .fwd_cnt = 5000});
	assert_int_equal(vsock_conn_peer_credit(c), 0);
	/* A large buffer is sent in packets of at most 64 KiB. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_UPDATE,
			       .buf_alloc = 1u << 20,
			       .fwd_cnt = 1000});
	vsock_mux_host_readable(m, c);
	assert_int_equal(expect_data(m, c), VSOCK_MAX_PKT_DATA);
	mux_del(m);
}

static void test_credit_guest_to_host(void **state)
{
	struct vsock_mux *m = mux_new(0);
	static uint8_t data[VSOCK_MAX_PKT_DATA];
	struct vsock_conn *c;
	struct iovec iov[3];
	struct vsock_hdr h;

	(void)state;
	memset(data, 'x', sizeof(data));
	c = guest_connect(m, 5000, GPORT, 4096);
	/* Exactly the advertised 256 KiB may be outstanding. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
							.dst_port = 5000,
							.op = VSOCK_OP_RW,
							.len = sizeof(data),
							.data = data}),
				 VSOCK_PKT_OK);
	assert_int_equal(vsock_conn_buffered(c), VSOCK_CONN_BUF_ALLOC);
	assert_true(vsock_conn_host_out(c, iov) >= 1);
	/* The host takes 100 bytes: not worth an update on its own... */
	vsock_mux_host_wrote(m, c, 100);
	assert_int_equal(c->fwd_cnt, 100);
	/* ...but the guest believes it has no credit at all, so it hears. */
	h = expect_ctrl(m, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, 100);
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
	expect_none(m);
	/* 100 bytes of room: 101 is an overrun and resets. */
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RW,
						.len = 101,
						.data = data}),
			 VSOCK_PKT_RESET);
	assert_int_equal(c->state, VSOCK_CONN_CLOSING);
	assert_int_equal(vsock_conn_buffered(c), 0);
	expect_ctrl(m, VSOCK_OP_RST);
	mux_del(m);
}

static void test_credit_update_policy(void **state)
{
	struct vsock_mux *m = mux_new(0);
	static uint8_t data[1000];
	struct vsock_conn *c;
	struct vsock_hdr h;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	/* Small writes forwarded at once: no update until 64 KiB went by. */
	for (uint32_t sent = 0; sent + sizeof(data) < VSOCK_CREDIT_UPDATE_CHUNK;
	     sent += sizeof(data)) {
		send_gp(m, (struct gp){.src_port = GPORT,
				       .dst_port = 5000,
				       .op = VSOCK_OP_RW,
				       .len = sizeof(data),
				       .data = data});
		vsock_mux_host_wrote(m, c, sizeof(data));
		expect_none(m);
	}
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = sizeof(data),
			       .data = data});
	vsock_mux_host_wrote(m, c, sizeof(data));
	h = expect_ctrl(m, VSOCK_OP_CREDIT_UPDATE);
	assert_true(h.fwd_cnt >= VSOCK_CREDIT_UPDATE_CHUNK);
	assert_int_equal(h.fwd_cnt, c->fwd_cnt);
	expect_none(m);

	/* CREDIT_REQUEST is answered. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_REQUEST,
			       .buf_alloc = 4096});
	h = expect_ctrl(m, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(h.fwd_cnt, c->fwd_cnt);

	/* With host data flowing, the RW header carries fwd_cnt instead. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_CREDIT_REQUEST,
			       .buf_alloc = 4096});
	vsock_mux_host_readable(m, c);
	expect_data(m, c);
	vsock_mux_rx_data(m, c, 10, &h);
	assert_int_equal(h.fwd_cnt, c->fwd_cnt);
	vsock_mux_host_drained(m, c);
	expect_none(m);
	mux_del(m);
}

static void test_buffer_wraps(void **state)
{
	struct vsock_mux *m = mux_new(0);
	static uint8_t data[3000], out[6000];
	struct vsock_conn *c;
	struct iovec iov[3];
	size_t got = 0;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	c = guest_connect(m, 5000, GPORT, 4096);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = sizeof(data),
			       .data = data});
	vsock_mux_host_wrote(m, c, 2500); /* head moves near the end */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = sizeof(data),
			       .data = data});
	/* 500 + 3000 bytes; the 4 KiB ring wraps */
	n = vsock_conn_host_out(c, iov);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	assert_int_equal(got, 3500);
	assert_memory_equal(out, data + 2500, 500);
	assert_memory_equal(out + 500, data, 3000);
	/* Growing a wrapped ring keeps the order. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = sizeof(data),
			       .data = data});
	n = vsock_conn_host_out(c, iov);
	got = 0;
	for (int i = 0; i < n; i++)
		got += iov[i].iov_len;
	assert_int_equal(got, 6500);
	assert_memory_equal((uint8_t *)iov[0].iov_base + 500, data, 3000);
	assert_memory_equal((uint8_t *)iov[0].iov_base + 3500, data, 3000);
	mux_del(m);
}

static void test_guest_shutdown_send(void **state)
{
	struct vsock_mux *m = mux_new(0);
	uint8_t data[10] = "0123456789";
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = 10,
			       .data = data});
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_SEND});
	/* Half-close only after the buffered bytes are written. */
	assert_int_equal(vsock_conn_host_want_shut(c), 0);
	vsock_mux_host_wrote(m, c, 10);
	assert_int_equal(vsock_conn_host_want_shut(c), VSOCK_SHUTDOWN_SEND);
	vsock_mux_host_shut(m, c, VSOCK_SHUTDOWN_SEND);
	assert_int_equal(vsock_conn_host_want_shut(c), 0);
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	/* More data after SHUTDOWN(SEND) breaks the protocol. */
	assert_int_equal(send_gp(m, (struct gp){.src_port = GPORT,
						.dst_port = 5000,
						.op = VSOCK_OP_RW,
						.len = 1,
						.data = data}),
			 VSOCK_PKT_RESET);
	expect_ctrl(m, VSOCK_OP_RST);
	mux_del(m);
}

static void test_guest_shutdown_rcv_then_both(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	vsock_mux_host_readable(m, c);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_RCV});
	/* The guest takes no more data: stop reading, SHUT_RD the host. */
	assert_false(vsock_conn_host_want_read(c));
	assert_int_equal(vsock_conn_host_want_shut(c), VSOCK_SHUTDOWN_RCV);
	vsock_mux_host_shut(m, c, VSOCK_SHUTDOWN_RCV);
	expect_none(m);
	/* Now SEND as well: nothing flows either way, close with RST. */
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_SEND});
	assert_int_equal(c->state, VSOCK_CONN_CLOSING);
	assert_true(vsock_conn_host_close(c));
	expect_ctrl(m, VSOCK_OP_RST);
	expect_none(m);
	assert_int_equal(m->nconns, 1); /* socket still open */
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_shutdown_both_waits_for_flush(void **state)
{
	struct vsock_mux *m = mux_new(0);
	uint8_t data[4] = "abc";
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = 4,
			       .data = data});
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_ALL});
	/* Guest bytes are never dropped: close only once written. */
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	assert_false(vsock_conn_host_close(c));
	vsock_mux_host_wrote(m, c, 4);
	assert_int_equal(c->state, VSOCK_CONN_CLOSING);
	expect_ctrl(m, VSOCK_OP_RST);
	mux_del(m);
}

static void test_host_eof(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;
	struct vsock_hdr h;

	(void)state;
	c = host_connect(m, 4096);
	vsock_mux_host_readable(m, c);
	expect_data(m, c);
	vsock_mux_host_eof(m, c);
	/* The guest hears SHUTDOWN(SEND); the connection stays half open. */
	h = expect_ctrl(m, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	expect_none(m);
	assert_false(vsock_conn_host_want_read(c));
	assert_int_equal(c->state, VSOCK_CONN_ESTABLISHED);
	/* The guest finishes sending: both directions done, RST. */
	send_gp(m, (struct gp){.src_port = 1024,
			       .dst_port = c->local_port,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_SEND});
	assert_true(vsock_conn_host_close(c));
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);

	/* Guest done first, then the host closes: SHUTDOWN then RST. */
	c = host_connect(m, 4096);
	send_gp(m, (struct gp){.src_port = 1024,
			       .dst_port = c->local_port,
			       .op = VSOCK_OP_SHUTDOWN,
			       .flags = VSOCK_SHUTDOWN_SEND,
			       .buf_alloc = 4096});
	vsock_mux_host_readable(m, c);
	expect_data(m, c);
	vsock_mux_host_eof(m, c);
	assert_true(vsock_conn_host_close(c));
	expect_ctrl(m, VSOCK_OP_SHUTDOWN);
	expect_ctrl(m, VSOCK_OP_RST);
	expect_none(m);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_guest_rst_closes(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RST});
	assert_int_equal(c->state, VSOCK_CONN_DEAD);
	assert_null(vsock_mux_find(m, 5000, GPORT));
	assert_true(vsock_conn_host_close(c));
	expect_none(m);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_host_write_error(void **state)
{
	struct vsock_mux *m = mux_new(0);
	uint8_t data[4] = "abc";
	struct vsock_conn *c;

	(void)state;
	c = guest_connect(m, 5000, GPORT, 4096);
	send_gp(m, (struct gp){.src_port = GPORT,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = 4,
			       .data = data});
	vsock_mux_host_error(m, c); /* EPIPE */
	assert_true(vsock_conn_host_close(c));
	expect_ctrl(m, VSOCK_OP_RST);
	vsock_mux_host_closed(m, c);
	assert_int_equal(m->nconns, 0);
	mux_del(m);
}

static void test_reset_all(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *a, *b, *c;

	(void)state;
	a = guest_connect(m, 5000, 1, 4096);
	b = host_connect(m, 4096);
	c = vsock_mux_host_connect(m, 1024);
	send_gp(m, (struct gp){.src_port = 9, .dst_port = 9, .op = 5});
	assert_true(vsock_mux_rx_pending(m));
	vsock_mux_reset(m);
	/* Nothing is sent; every host socket must be closed. */
	expect_none(m);
	assert_true(vsock_conn_host_close(a));
	assert_true(vsock_conn_host_close(b));
	assert_true(vsock_conn_host_close(c));
	assert_null(vsock_mux_find(m, 5000, 1));
	for (struct vsock_conn *d; (d = vsock_mux_next_dirty(m));)
		if (vsock_conn_host_close(d))
			vsock_mux_host_closed(m, d);
	assert_int_equal(m->nconns, 0);
	/* The table works again afterwards. */
	guest_connect(m, 5000, 1, 4096);
	mux_del(m);
}

static void test_rx_round_robin(void **state)
{
	struct vsock_mux *m = mux_new(0);
	struct vsock_conn *a, *b, *c;
	struct vsock_hdr h;
	uint32_t max;

	(void)state;
	a = guest_connect(m, 5000, 1, 1u << 20);
	b = guest_connect(m, 5000, 2, 1u << 20);
	vsock_mux_host_readable(m, a);
	vsock_mux_host_readable(m, b);
	for (int i = 0; i < 4; i++) {
		struct vsock_conn *want = i % 2 ? b : a;

		assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max),
				 VSOCK_RX_DATA);
		assert_ptr_equal(c, want);
		vsock_mux_rx_data(m, c, 100, &h);
	}
	/* Orphan RSTs jump the queue. */
	send_gp(m, (struct gp){.src_port = 9, .dst_port = 9, .op = 5});
	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_CTRL);
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_null(c);
	/* A buffer too small for data rotates, it does not stall. */
	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_DATA);
	vsock_mux_rx_skip(m, c);
	assert_int_equal(vsock_mux_rx_next(m, &h, &c, &max), VSOCK_RX_DATA);
	mux_del(m);
}

static void test_parse_connect(void **state)
{
	uint32_t port = 0;
	size_t used = 0;
	static const char *const bad[] = {
		"connect 1\n",		"CONNECT\n",
		"CONNECT \n",		"CONNECT  1\n",
		"CONNECT +1\n",		"CONNECT -1\n",
		"CONNECT 1 \n",		"CONNECT 1\r\n",
		"CONNECT 4294967295\n", "CONNECT 99999999999\n",
		"CONNECT 0x10\n",	"GET / HTTP/1.1\r\n",
	};

	(void)state;
	assert_int_equal(
		vsock_uds_parse_connect("CONNECT 1024\n", 13, &port, &used), 1);
	assert_int_equal(port, 1024);
	assert_int_equal(used, 13);
	assert_int_equal(vsock_uds_parse_connect("CONNECT 4294967294\nxyz", 22,
						 &port, &used),
			 1);
	assert_int_equal(port, 4294967294u);
	assert_int_equal(used, 19);
	assert_int_equal(
		vsock_uds_parse_connect("CONNECT 0\n", 10, &port, &used), 1);
	assert_int_equal(port, 0);
	/* prefixes need more bytes */
	assert_int_equal(vsock_uds_parse_connect("CONN", 4, &port, &used), 0);
	assert_int_equal(
		vsock_uds_parse_connect("CONNECT 10", 10, &port, &used), 0);
	assert_int_equal(vsock_uds_parse_connect("", 0, &port, &used), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vsock_uds_parse_connect(bad[i], strlen(bad[i]),
							 &port, &used),
				 -EINVAL);
	/* garbage is refused as soon as it shows */
	assert_int_equal(vsock_uds_parse_connect("X", 1, &port, &used),
			 -EINVAL);
	assert_int_equal(
		vsock_uds_parse_connect("CONNECT 1x", 10, &port, &used),
		-EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_layout),
		cmocka_unit_test(test_guest_connect_ok),
		cmocka_unit_test(test_guest_connect_refused),
		cmocka_unit_test(test_host_connect_ok),
		cmocka_unit_test(test_host_connect_guest_refuses),
		cmocka_unit_test(test_host_client_leaves_early),
		cmocka_unit_test(test_ephemeral_ports),
		cmocka_unit_test(test_unknown_connection),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_bad_packets_reset_connection),
		cmocka_unit_test(test_duplicate_request),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_orphan_queue_bounded),
		cmocka_unit_test(test_credit_host_to_guest),
		cmocka_unit_test(test_credit_guest_to_host),
		cmocka_unit_test(test_credit_update_policy),
		cmocka_unit_test(test_buffer_wraps),
		cmocka_unit_test(test_guest_shutdown_send),
		cmocka_unit_test(test_guest_shutdown_rcv_then_both),
		cmocka_unit_test(test_shutdown_both_waits_for_flush),
		cmocka_unit_test(test_host_eof),
		cmocka_unit_test(test_guest_rst_closes),
		cmocka_unit_test(test_host_write_error),
		cmocka_unit_test(test_reset_all),
		cmocka_unit_test(test_rx_round_robin),
		cmocka_unit_test(test_parse_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
