/* SPDX-License-Identifier: MIT */
/*
 * Test helper for tests/integration/snapshot.sh: wait for the agent behind
 * a kiln-vmm vsock Unix socket, run one command, copy its stdout to ours and
 * exit with its exit code (125 when the agent could not be reached).
 *
 *   vsock_exec UDS TIMEOUT_MS CMD [ARGS...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/proto.h"
#include "lib/agent_client.h"

static int copy_out(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct agent_client *c;
	struct agent_exec_opts o = {0};
	struct agent_exec_io io;
	struct agent_exec_result res = {0};
	char err[512];
	int timeout, rc;

	if (argc < 4) {
		fprintf(stderr, "usage: vsock_exec UDS TIMEOUT_MS CMD...\n");
		return 125;
	}
	timeout = atoi(argv[2]);
	rc = agent_client_wait_ready(argv[1], PROTO_AGENT_PORT, timeout, -1, &c,
				     err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vsock_exec: %s\n", err);
		return 125;
	}
	o.argv = (const char *const *)&argv[3];
	o.wait_timeout_ms = (unsigned int)timeout;
	agent_exec_io_init(&io);
	io.on_stdout = copy_out;
	rc = agent_client_exec(c, &o, &io, &res, err, sizeof(err));
	agent_client_close(c);
	fflush(stdout);
	if (rc) {
		fprintf(stderr, "vsock_exec: %s\n", err);
		return 125;
	}
	return res.exit_code;
}
