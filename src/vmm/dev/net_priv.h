/* SPDX-License-Identifier: MIT */
/*
 * virtio-net's insides, shared by dev/net.c (TX, the virtio ops, the event
 * loop, snapshots, lifetime) and dev/net_rx.c (RX).  Not for other code.
 */
#ifndef KILN_VMM_DEV_NET_PRIV_H
#define KILN_VMM_DEV_NET_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/dev/net.h"
#include "vmm/virtio_mmio.h"
#include "vmm/virtq.h"

/* iovecs one readv may take (the kernel's UIO_MAXIOV). */
#define NET_RX_MAX_IOV 1024
/* A standard frame: Ethernet header, 802.1Q tag, 1500 bytes of payload. */
#define NET_STD_FRAME (NET_HDR_LEN + 1518)
/* An RX chain popped for the frame being read: its writable iovecs are
 * rx_iov[iov_first .. iov_first + niov). */
struct net_rxbuf {
	uint16_t head;
	uint16_t niov;
	uint32_t iov_first;
	uint64_t len;
};

struct net {
	struct virtio_dev dev;
	struct vm *vm;
	char name[32];
	int fd; /* -1 when disconnected */
	bool connected; /* has a backend: link up */
	bool is_tap; /* else a SOCK_SEQPACKET socket */
	bool has_mac;
	uint8_t mac[6];

	/* Event loop state (d->lock). */
	bool registered; /* fd on the loop; false once the backend is gone */
	uint32_t events; /* mask on the loop */
	bool rx_stalled; /* no room in the guest: EPOLLIN off until a kick */
	bool tx_blocked; /* EAGAIN: waiting for EPOLLOUT */

	/* From the negotiated features, set at activate. */
	bool mrg, guest_csum, guest_ecn, guest_tso4, guest_tso6;
	uint64_t rx_min; /* room needed before reading with MRG_RXBUF */

	/* RX chains popped during one pass; empty between passes. */
	struct net_rxbuf rx[NET_QUEUE_SIZE];
	uint32_t rx_first, rx_count, rx_niov;
	uint64_t rx_room, rx_descs;
	struct iovec rx_iov[NET_RX_MAX_IOV];
	struct virtq_chain chain;
};

/* Deliver frames until the budget, the backend or the guest's room ends
 * (d->lock held). */
void net_rx(struct net *n);

/* The backend hung up or failed: stop polling it (it would fire forever). */
void net_backend_lost(struct net *n, const char *why);

#endif
