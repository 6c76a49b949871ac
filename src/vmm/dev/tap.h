/* SPDX-License-Identifier: MIT */
/*
 * Host TAP devices for virtio-net: opened by name through /dev/net/tun
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), or handed over already open (a
 * jailer opens it before dropping privileges).  Either way the fd ends up
 * non-blocking, close-on-exec, with a 12-byte virtio 1.x vnet header.
 */
#ifndef KILN_VMM_DEV_TAP_H
#define KILN_VMM_DEV_TAP_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The virtio 1.x net header (struct virtio_net_hdr_v1) is 12 bytes. */
#define TAP_VNET_HDR_LEN 12

/* TUNSETOFFLOAD bits (linux/if_tun.h), repeated for the device code. */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_TSO_ECN 0x08

/*
 * Attach to TAP interface `name` (created if it does not exist and we may;
 * usually it was created beforehand with `ip tuntap add NAME mode tap`).
 * Returns the configured fd (see tap_setup_fd) or -errno after logging
 * what failed and what to do.
 */
int tap_open(const char *name);

/*
 * Check that fd is a TAP queue with IFF_NO_PI and IFF_VNET_HDR, set the
 * vnet header size to TAP_VNET_HDR_LEN and make it non-blocking and
 * close-on-exec.  Returns 0 or -errno (logged).
 */
int tap_setup_fd(int fd);

/* True if fd is a TAP (TUNGETIFF answers). */
bool tap_is_tap(int fd);

/*
 * Take over fd as a virtio-net backend: a TAP queue (set up as by
 * tap_setup_fd; *is_tap = true) or a SOCK_SEQPACKET socket whose messages
 * are [vnet header | Ethernet frame] (made non-blocking, close-on-exec).
 * Anything else (a pipe, a stream socket) would lose frame boundaries and
 * is refused.  Returns 0 or -errno (logged).
 */
int tap_adopt_fd(int fd, bool *is_tap);

/*
 * One frame, header first, without blocking.  tap_read_frame returns the
 * frame's full length, which exceeds the iovecs' room if it was truncated
 * (the rest is lost), 0 if a socket peer closed, or -errno (-EAGAIN: none
 * waiting).  tap_write_frame returns the bytes sent or -errno (-EAGAIN:
 * nothing was sent, try again when writable).  EINTR is retried.
 */
ssize_t tap_read_frame(int fd, bool is_tap, struct iovec *iov,
		       unsigned int cnt);
ssize_t tap_write_frame(int fd, bool is_tap, const struct iovec *iov,
			unsigned int cnt);

/*
 * Can the backend hand over offloaded frames (TUNSETOFFLOAD takes CSUM,
 * TSO4/6 and TSO_ECN)?  Leaves offloads off.  A socket peer is assumed to
 * (what it sends is checked against the guest's features anyway).
 */
bool tap_offloads_supported(int fd, bool is_tap);

/*
 * TUNSETOFFLOAD: which offloaded frames the TAP may hand us (checksum
 * left to the receiver, TCP segmentation).  TSO needs CSUM and TSO_ECN
 * needs a TSO bit (the kernel refuses otherwise).  Returns 0 or -errno.
 */
int tap_set_offload(int fd, unsigned int flags);

#endif
