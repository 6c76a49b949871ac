/* SPDX-License-Identifier: MIT */
/*
 * The smallest agent protocol v1 client (docs/PROTOCOL.md) over a kernel
 * AF_VSOCK socket, for guests whose VMM uses vhost-vsock (QEMU's
 * vhost-vsock-device): there is no VMM Unix socket and no CONNECT line,
 * the socket is the guest connection.  libkiln's client only connects
 * through a VMM's Unix socket, so the benchmark frames hello, ping and
 * shutdown itself with src/common/proto.h.
 *
 * All deadlines are CLOCK_MONOTONIC ns (bench_now_ns()).
 */
#ifndef KILN_BENCH_AGENT_VSOCK_H
#define KILN_BENCH_AGENT_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/proto.h"

struct agent_vsock {
	int fd;
	struct proto_reader rd;
	uint32_t next_id;
	uint8_t in[4096]; /* received, not yet fed to rd */
	size_t in_off, in_len;
	bool heard; /* any byte came from the agent */
	bool closed; /* the guest closed or reset the connection */
};

enum {
	AGENT_VSOCK_OK = 0,
	AGENT_VSOCK_NOT_READY = 1, /* refused, reset or timed out: retry */
	AGENT_VSOCK_ERROR = -1, /* anything else; message in err */
};

/*
 * One attempt: connect to cid:port and do the hello handshake, bounded by
 * deadline_ns.  On AGENT_VSOCK_OK a is connected; else a is closed.
 */
int agent_vsock_connect(struct agent_vsock *a, uint32_t cid, uint32_t port,
			int64_t deadline_ns, char *err, size_t errlen);

/* ping; *uptime_ms is the agent's uptime from the reply. */
int agent_vsock_ping(struct agent_vsock *a, int64_t deadline_ns,
		     uint64_t *uptime_ms, char *err, size_t errlen);

/* shutdown: returns once the agent acknowledged it. */
int agent_vsock_shutdown(struct agent_vsock *a, int64_t deadline_ns, char *err,
			 size_t errlen);

void agent_vsock_close(struct agent_vsock *a);

#endif
