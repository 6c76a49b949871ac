/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock connection state machine and credit accounting, as pure code:
 * no system calls, no clocks, no global state.  The device glue (vsock.c)
 * feeds it packets from the guest and events from host sockets; it answers
 * with packets for the guest (pulled one at a time when the guest has an RX
 * buffer) and with the state the host socket should be brought to (read
 * interest, bytes to write, half-close, close).  The glue reconciles the
 * host socket with that state for every connection on the dirty list.
 *
 * Terms: "local" is the host end (CID 2), "peer" is the guest end.  A
 * connection is keyed by (local_port, peer_port).
 *
 * Credit (virtio spec 5.10.6.3): each side advertises buf_alloc (its receive
 * buffer) and fwd_cnt (bytes it has consumed).  We never send the guest more
 * than peer_buf_alloc - (tx_cnt - peer_fwd_cnt) bytes, and we accept at most
 * VSOCK_CONN_BUF_ALLOC bytes the host socket has not taken yet: a guest that
 * overruns the credit we advertised gets its connection reset.
 */
#ifndef KILN_VMM_DEV_VSOCK_CONN_H
#define KILN_VMM_DEV_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vsock_ring.h"

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE 44
#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN flags, from the sender's point of view. */
#define VSOCK_SHUTDOWN_RCV 1 /* sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2 /* sender will send no more */
#define VSOCK_SHUTDOWN_ALL (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* Largest payload of one packet, either direction. */
#define VSOCK_MAX_PKT_DATA (64u * 1024)
/* Receive buffer we advertise per connection (guest -> host bytes). */
#define VSOCK_CONN_BUF_ALLOC (256u * 1024)
/* Advertise fwd_cnt again once this much was forwarded since last time. */
#define VSOCK_CREDIT_UPDATE_CHUNK (64u * 1024)
/* Connections per device; REQUESTs beyond are refused with RST. */
#define VSOCK_MAX_CONNS 1024
/* Host ports of host-initiated connections are allocated from here up. */
#define VSOCK_EPHEMERAL_BASE (1u << 30)
/* RSTs for packets that match no connection, waiting for RX buffers. */
#define VSOCK_ORPHAN_RST_MAX 64

/* The 44-byte packet header, decoded (the wire format is little endian). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

enum vsock_conn_state {
	VSOCK_CONN_FREE = 0, /* slot unused */
	VSOCK_CONN_CONNECT_HOST, /* host asked: REQUEST to the guest, wait
				    RESPONSE */
	VSOCK_CONN_CONNECT_GUEST, /* guest asked: host connect() to do/in
				     progress */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_CLOSING, /* RST for the guest pending; host socket to close
			     */
	VSOCK_CONN_DEAD, /* forgotten by the guest side; host socket to close */
};

/* Control packets waiting to be sent to the guest (struct vsock_conn.pend). */
#define VSOCK_PEND_REQUEST (1u << 0)
#define VSOCK_PEND_RESPONSE (1u << 1)
#define VSOCK_PEND_RST (1u << 2)
#define VSOCK_PEND_CREDIT_UPDATE (1u << 3)
#define VSOCK_PEND_SHUTDOWN (1u << 4)

struct vsock_conn {
	uint32_t idx; /* slot index, stable for the mux's lifetime */
	enum vsock_conn_state state;
	uint32_t local_port, peer_port;
	int32_t hnext; /* hash chain, -1 ends */
	int32_t rx_prev, rx_next; /* RX queue links, -1 ends */
	bool hashed, in_rxq, dirty;

	uint32_t pend; /* VSOCK_PEND_* */
	bool req_sent; /* our REQUEST reached the guest */
	uint32_t peer_shut; /* SHUTDOWN flags received from the guest */
	uint32_t local_shut; /* SHUTDOWN flags sent (or pending) to the guest */

	/* host socket, as far as the state machine knows */
	bool host_attached; /* the glue holds an open socket for this slot */
	bool host_readable; /* may have data or EOF: read before waiting */
	bool host_eof; /* read returned 0 */
	bool host_shut_wr, host_shut_rd; /* shutdown(2) done */

	/* host -> guest credit */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t tx_cnt; /* payload bytes sent to the guest */

	/* guest -> host */
	uint32_t fwd_cnt; /* payload bytes written to the host socket */
	uint32_t adv_fwd_cnt; /* fwd_cnt in the last packet we sent */
	char ack[24]; /* "OK <port>\n" for host-initiated connections */
	uint8_t ack_len, ack_off;
	struct vsock_ring out; /* bytes accepted, not written to the host */
};

struct vsock_mux {
	uint64_t guest_cid;
	uint32_t max_conns;
	uint32_t nconns; /* slots not FREE */
	uint32_t next_port; /* next ephemeral host port to try */
	struct vsock_conn *conns; /* max_conns slots */
	int32_t *hash; /* VSOCK_HASH_SIZE heads */
	uint32_t *free_slots; /* stack of FREE slot indices */
	uint32_t nfree;

	/* connections that may have packets for the guest, FIFO */
	int32_t rxq_first, rxq_last;
	/* connections whose host socket must be reconciled, a stack */
	uint32_t *dirty;
	uint32_t ndirty;

	/* RSTs answering packets for no connection: {local, peer} ports */
	struct {
		uint32_t local_port, peer_port;
	} orphan[VSOCK_ORPHAN_RST_MAX];
	uint32_t orphan_head, orphan_len;

	/* statistics, for logs and tests */
	uint64_t bad_pkts; /* malformed or misaddressed guest packets */
	uint64_t orphan_dropped; /* RSTs not sent because the queue was full */
};

/* max_conns 0 means VSOCK_MAX_CONNS.  Returns 0 or -ENOMEM/-EINVAL. */
int vsock_mux_init(struct vsock_mux *m, uint64_t guest_cid, uint32_t max_conns);
void vsock_mux_free(struct vsock_mux *m);

/*
 * Forget every connection (device reset, transport reset): nothing is sent to
 * the guest; connections with a host socket become DEAD and go on the dirty
 * list so the glue closes them, the others are freed at once.
 */
void vsock_mux_reset(struct vsock_mux *m);

/* Outcome of vsock_mux_guest_pkt(), mostly for tests and logs. */
enum vsock_verdict {
	VSOCK_PKT_OK = 0, /* consumed */
	VSOCK_PKT_DROPPED, /* malformed or misaddressed: ignored */
	VSOCK_PKT_RESET, /* refused or protocol error: RST queued */
};

/*
 * One packet from the guest's TX queue: header + payload, len bytes (the
 * chain's readable bytes, at most VSOCK_HDR_SIZE + VSOCK_MAX_PKT_DATA are
 * looked at).  Payload is copied into the connection's buffer.
 */
enum vsock_verdict vsock_mux_guest_pkt(struct vsock_mux *m, const uint8_t *pkt,
				       size_t len);

/* --- host side events --- */

/*
 * A host client asked for guest port peer_port: allocate a local port and
 * queue a REQUEST.  Returns the connection (host_attached set) or NULL when
 * the connection limit is reached.
 */
struct vsock_conn *vsock_mux_host_connect(struct vsock_mux *m,
					  uint32_t peer_port);

/* The glue opened (guest-initiated) or now holds the host socket. */
void vsock_mux_host_attached(struct vsock_mux *m, struct vsock_conn *c);
/* The host connect() for a guest REQUEST succeeded: RESPONSE. */
void vsock_mux_host_connected(struct vsock_mux *m, struct vsock_conn *c);
/* Host socket failed (connect refused, write/read error, hang-up before
 * the connection was set up): RST to the guest if it knows the connection. */
void vsock_mux_host_error(struct vsock_mux *m, struct vsock_conn *c);
/* Host socket may be readable (EPOLLIN/EPOLLHUP). */
void vsock_mux_host_readable(struct vsock_mux *m, struct vsock_conn *c);
/* A read from the host socket returned EAGAIN. */
void vsock_mux_host_drained(struct vsock_mux *m, struct vsock_conn *c);
/* A read from the host socket returned 0. */
void vsock_mux_host_eof(struct vsock_mux *m, struct vsock_conn *c);
/* n bytes of vsock_conn_host_out() were written to the host socket. */
void vsock_mux_host_wrote(struct vsock_mux *m, struct vsock_conn *c, size_t n);
/* shutdown(2) done on the host socket: how = VSOCK_SHUTDOWN_SEND (SHUT_WR)
 * and/or VSOCK_SHUTDOWN_RCV (SHUT_RD). */
void vsock_mux_host_shut(struct vsock_mux *m, struct vsock_conn *c,
			 uint32_t how);
/* The glue closed the host socket (it must when vsock_conn_host_close()). */
void vsock_mux_host_closed(struct vsock_mux *m, struct vsock_conn *c);

/* --- what the host socket should look like --- */

/* Bytes waiting for the host socket: fills up to 3 iovecs, returns count. */
int vsock_conn_host_out(const struct vsock_conn *c, struct iovec iov[3]);
/* Watch for readability (established, not known readable, not shut). */
static inline bool vsock_conn_host_want_read(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->host_attached &&
	       !c->host_readable && !c->host_eof &&
	       !(c->peer_shut & VSOCK_SHUTDOWN_RCV);
}

/* shutdown(2) flags (VSOCK_SHUTDOWN_SEND = SHUT_WR, RCV = SHUT_RD) due now. */
static inline uint32_t vsock_conn_host_want_shut(const struct vsock_conn *c)
{
	uint32_t how = 0;

	if (c->state != VSOCK_CONN_ESTABLISHED || !c->host_attached)
		return 0;
	if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && !c->host_shut_wr &&
	    c->out.used == 0 && c->ack_off == c->ack_len)
		how |= VSOCK_SHUTDOWN_SEND;
	if ((c->peer_shut & VSOCK_SHUTDOWN_RCV) && !c->host_shut_rd)
		how |= VSOCK_SHUTDOWN_RCV;
	return how;
}

/* The host socket must be closed. */
static inline bool vsock_conn_host_close(const struct vsock_conn *c)
{
	return c->host_attached &&
	       (c->state == VSOCK_CONN_CLOSING || c->state == VSOCK_CONN_DEAD);
}

/* The glue must connect() the host socket (guest-initiated). */
static inline bool vsock_conn_host_want_connect(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_CONNECT_GUEST && !c->host_attached;
}

/* Next connection on the dirty list (removed from it), or NULL. */
struct vsock_conn *vsock_mux_next_dirty(struct vsock_mux *m);

/* --- packets for the guest --- */

enum vsock_rx_kind {
	VSOCK_RX_NONE = 0, /* nothing for the guest */
	VSOCK_RX_CTRL, /* *h is a control packet, already accounted for */
	VSOCK_RX_DATA, /* read up to *max bytes from c's host socket */
};

/* True if some packet may be waiting for the guest. */
bool vsock_mux_rx_pending(const struct vsock_mux *m);

/*
 * The next packet for the guest.  For VSOCK_RX_DATA the caller reads from
 * *conn's host socket and reports with vsock_mux_rx_data() (n > 0),
 * vsock_mux_host_eof(), vsock_mux_host_drained() or vsock_mux_host_error(),
 * or vsock_mux_rx_skip() if the RX buffer cannot hold payload, then asks
 * again.  Each call makes progress (sends, or drops a connection from the
 * RX queue), so callers loop a bounded number of times.
 */
enum vsock_rx_kind vsock_mux_rx_next(struct vsock_mux *m, struct vsock_hdr *h,
				     struct vsock_conn **conn, uint32_t *max);
/* n payload bytes (1 <= n <= max) were read for c: fills the RW header. */
void vsock_mux_rx_data(struct vsock_mux *m, struct vsock_conn *c, uint32_t n,
		       struct vsock_hdr *h);
/* The buffer offered cannot carry data: rotate c to the back of the queue. */
void vsock_mux_rx_skip(struct vsock_mux *m, struct vsock_conn *c);

/* Bytes the guest can take now (0 if it is out of credit). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);
/* Bytes accepted from the guest not yet written to the host socket. */
static inline uint32_t vsock_conn_buffered(const struct vsock_conn *c)
{
	return c->out.used;
}

/* Look up a live connection (any state but FREE/DEAD). */
struct vsock_conn *vsock_mux_find(struct vsock_mux *m, uint32_t local_port,
				  uint32_t peer_port);

#endif
