/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (device id 1) on a host TAP device.  Queues: RX 0, TX 1 (one
 * pair, no control queue).  Frames cross with the 12-byte virtio 1.x
 * header, which the TAP understands natively (IFF_VNET_HDR), so checksum
 * and TCP segmentation offloads pass through without copies: TX chains are
 * written to the TAP with one writev, RX frames are read straight into the
 * guest's buffers.
 *
 * Offered: VERSION_1, RING_EVENT_IDX, MAC (when one is given), STATUS
 * (LINK_UP unless disconnected), MRG_RXBUF, CSUM, HOST_TSO4/6, HOST_ECN and,
 * when the TAP accepts TUNSETOFFLOAD, GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN.  UFO
 * is not offered (Linux dropped it; a TAP no longer produces it).  The TAP's
 * offloads are set from the features the driver accepted when it starts
 * the device.
 *
 * Nothing is lost or consumed when the host side is busy: a TX chain that
 * meets EAGAIN is given back and retried on EPOLLOUT; the TAP is only read
 * when the guest has room for the largest frame it may send (with
 * MRG_RXBUF: 64 KiB if it took GUEST_TSO, else a standard frame, or a full
 * ring that cannot grow), and is not polled at all while it has not (frames
 * stay queued in the kernel until the driver kicks RX).  No frame is ever
 * held in the VMM, so snapshots need nothing beyond the transport state.
 */
#ifndef KILN_VMM_DEV_NET_H
#define KILN_VMM_DEV_NET_H

#include <stdint.h>

struct vm;
struct virtio_dev;

#define NET_QUEUE_RX 0
#define NET_QUEUE_TX 1
#define NET_QUEUE_SIZE 256

/* Feature bits (virtio 1.1 section 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

/* struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers (all little-endian). */
#define NET_HDR_LEN 12
#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE 0
#define NET_HDR_GSO_TCPV4 1
#define NET_HDR_GSO_UDP 3
#define NET_HDR_GSO_TCPV6 4
#define NET_HDR_GSO_ECN 0x80

/* Config space: mac[6], le16 status. */
#define VIRTIO_NET_S_LINK_UP 1

/* Largest frame with its header: 64 KiB of TSO payload plus headers
 * (the spec's 65562 for drivers without mergeable buffers). */
#define NET_MAX_FRAME 65562
/* Shortest TX frame worth sending: header and an Ethernet header. */
#define NET_MIN_TX_FRAME (NET_HDR_LEN + 14)

/* Frames handled per queue per event before yielding to others. */
#define NET_BUDGET 64

/*
 * Create the device on TAP interface tap_name (opened now: a restore with
 * another name just creates the device with that one), or disconnected if
 * tap_name is NULL (no backend: TX dropped, no RX, link down; see net.c).
 * A snapshot of either restores into either.  mac: the guest's
 * address, or NULL to let the guest pick one (no VIRTIO_NET_F_MAC); it
 * must be a unicast address that is not all zeros.  Returns 0 with *out
 * set, or -errno after logging the reason.
 */
int net_create(struct vm *vm, const char *tap_name, const uint8_t mac[6],
	       struct virtio_dev **out);

/*
 * Same with an open fd, which the device owns from now on (closed on
 * failure too).  fd is a TAP queue (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * e.g. opened by a jailer) or a SOCK_SEQPACKET socket whose messages are
 * [12-byte header | Ethernet frame], a userspace switch (or a test).
 * A socket peer is assumed to take and send offloaded frames; frames it
 * sends are checked against the features the guest accepted all the same.
 */
int net_create_fd(struct vm *vm, int fd, const uint8_t mac[6],
		  struct virtio_dev **out);

/* Detach and free the device, closing the TAP.  Call with the event loop
 * stopped (or from its thread). */
void net_destroy(struct virtio_dev *d);

/*
 * Parse "AA:BB:CC:DD:EE:FF" (hex, case-insensitive) into mac.  Returns 0,
 * or -EINVAL if malformed, multicast or all zeros.
 */
int net_parse_mac(const char *s, uint8_t mac[6]);

#endif
