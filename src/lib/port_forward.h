/* SPDX-License-Identifier: MIT */
/*
 * Port forwarding on the host (kubectl port-forward style): a TCP listener
 * on the host whose connections are each relayed, over a new vsock
 * connection to the guest agent (the VMM's Unix socket, CONNECT 1024), to
 * a TCP port in the guest (the agent's forward op, docs/PROTOCOL.md).
 * One thread, poll(), any number of connections (up to max_conns), a
 * bounded buffer per direction with backpressure, nothing blocks: the
 * vsock handshake (CONNECT line, hello, forward) is pipelined and parsed
 * as its bytes arrive.
 */
#ifndef KILN_LIB_PORT_FORWARD_H
#define KILN_LIB_PORT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

/* Bytes buffered per direction of one relayed connection. */
#define PORT_FORWARD_BUF (128u << 10)
#define PORT_FORWARD_MAX_CONNS 256
/* The vsock handshake must finish within this long. */
#define PORT_FORWARD_HANDSHAKE_MS 10000

struct port_forward_hooks {
	/* Once listening; port is the bound one (host_port 0: the kernel's). */
	void (*on_listening)(void *ctx, const char *addr, int port);
	/* One line per connection opened, refused or closed (no newline). */
	void (*log)(void *ctx, const char *line);
	void *ctx;
	const char *guest_host; /* NULL: 127.0.0.1 (numeric IPv4/IPv6) */
	unsigned int max_conns; /* 0: 64 */
	uint32_t agent_port; /* 0: 1024 */
};

/*
 * Listen on bind_addr:host_port (bind_addr NULL: 127.0.0.1; numeric) and
 * relay every connection to guest_port in the guest behind vsock_uds until
 * cancel_fd (>= 0, required) is readable; it is never read.  Returns 0
 * when cancelled, or a negative enum agent_err (lib/agent_client.h) with a
 * message in err if it could not start (bad address, port in use, ...).
 * Failures of single connections are logged, never fatal.  hooks may be
 * NULL.
 */
int port_forward_run(const char *vsock_uds, const char *bind_addr,
		     int host_port, int guest_port, int cancel_fd,
		     const struct port_forward_hooks *hooks, char *err,
		     size_t errlen);

#endif
