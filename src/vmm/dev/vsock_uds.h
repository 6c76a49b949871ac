/* SPDX-License-Identifier: MIT */
/*
 * Host side of virtio-vsock, Firecracker's Unix socket protocol:
 *
 *  - host-initiated: the VMM listens on <path>; a client connects and sends
 *    "CONNECT <port>\n"; once the guest accepts, the device answers
 *    "OK <host_port>\n" and relays bytes.  This file accepts clients and
 *    reads the CONNECT line (strictly, with a deadline), then hands the
 *    socket to the device.
 *  - guest-initiated: a connection to host port P becomes a connect() to
 *    "<path>_<P>".
 *
 * Everything here runs on the event loop thread.
 */
#ifndef KILN_VMM_DEV_VSOCK_UDS_H
#define KILN_VMM_DEV_VSOCK_UDS_H

#include <stddef.h>
#include <stdint.h>

struct evloop;
struct vsock_uds;

/* Longest CONNECT line accepted, newline included. */
#define VSOCK_UDS_LINE_MAX 32
/* Clients still sending their CONNECT line; more are turned away. */
#define VSOCK_UDS_MAX_PENDING 64
/* How long a client may take to send its CONNECT line. */
#define VSOCK_UDS_HANDSHAKE_MS 5000

/*
 * Parse the start of a client's stream.  Returns 1 with *port and *consumed
 * (bytes up to and including '\n') set, 0 if buf is a valid prefix that
 * needs more bytes, -EINVAL if it can never become "CONNECT <port>\n"
 * (decimal port < 2^32 - 1, no sign, no spaces, at most
 * VSOCK_UDS_LINE_MAX bytes).
 */
int vsock_uds_parse_connect(const char *buf, size_t len, uint32_t *port,
			    size_t *consumed);

/*
 * A client finished its CONNECT line: ownership of fd (non-blocking, not on
 * the event loop) passes to the callee.
 */
typedef void (*vsock_uds_connect_fn)(void *opaque, int fd, uint32_t port);

/*
 * Listen on path (a stale socket there is removed; a live one, or anything
 * that is not a socket, is an error) and serve CONNECT handshakes on loop.
 * Returns 0 or -errno after logging what went wrong.
 */
int vsock_uds_open(struct vsock_uds **out, const char *path,
		   struct evloop *loop, vsock_uds_connect_fn fn, void *opaque);
/* Stop listening, drop clients mid-handshake, unlink the socket. */
void vsock_uds_close(struct vsock_uds *u);
/* Handshake deadline in ms (tests shorten it). */
void vsock_uds_set_timeout(struct vsock_uds *u, unsigned int ms);

/*
 * Non-blocking connect() to "<path>_<port>" for a guest-initiated
 * connection.  Returns the connected socket or -errno (-ENAMETOOLONG if the
 * name does not fit in sun_path; -ECONNREFUSED/-ENOENT when nobody listens;
 * -EAGAIN when the listener's backlog is full).
 */
int vsock_uds_connect_port(const char *path, uint32_t port);

#endif
