/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for everything that parses agent-protocol input: the
 * frame reader (fed in pieces of a fuzzer-chosen size, with a small frame
 * limit so oversized frames are exercised), control JSON, the agent's
 * request validation (hello, exec, signal, resize, identity, kill, ps,
 * forward), and the host client's exec reply state machine, which must
 * survive a hostile guest.
 *
 *   clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Iinclude -Isrc tests/fuzz/fuzz_proto.c src/common/proto.c \
 *     $(ls src/agent/[!m]*.c) src/lib/agent_client.c \
 *     src/lib/agent_exec.c -ljansson -o build/fuzz_proto
 *   build/fuzz_proto -max_total_time=60 -max_len=8192
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/identity.h"
#include "agent/request.h"
#include "common/proto.h"
#include "lib/agent_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ctx, const void *buf, size_t len)
{
	size_t *total = ctx;

	*total += len;
	return *total > 100000; /* exercise the cancel path too */
}

static void sink_started(void *ctx, int pid)
{
}

static void check_frame(const struct proto_hdr *h, const uint8_t *payload,
			struct agent_exec_state *st)
{
	char err[256];
	int rc;

	if (h->kind == PROTO_CONTROL) {
		json_t *j = proto_json_parse(payload, h->len, err, sizeof(err));

		if (j) {
			struct exec_spec spec;
			struct signal_req sig;
			struct resize_req rs;
			struct identity_req idr;
			struct kill_req kr;
			struct forward_req fr;
			int64_t version;

			if (request_parse_exec(j, &spec, err, sizeof(err)) == 0)
				request_exec_spec_free(&spec);
			request_parse_signal(j, &sig, err, sizeof(err));
			request_parse_hello(j, &version, err, sizeof(err));
			request_parse_resize(j, &rs, err, sizeof(err));
			identity_parse(j, &idr, err, sizeof(err));
			request_parse_ps(j, err, sizeof(err));
			/* kill: what passes must be a pid > 1 or an exec id */
			if (request_parse_kill(j, &kr, err, sizeof(err)) == 0 &&
			    ((kr.pid <= 1 && !kr.exec_id) ||
			     (kr.pid && kr.exec_id) || kr.signo <= 0))
				__builtin_trap();
			if (request_parse_forward(j, &fr, err, sizeof(err)) ==
				    0 &&
			    (fr.port == 0 ||
			     (fr.family != AF_INET && fr.family != AF_INET6)))
				__builtin_trap();
			json_decref(j);
		}
	}
	/* The client side: the same bytes as if a guest had sent them. */
	rc = agent_exec_feed(st, h, payload);
	if (rc != 0) { /* exec over: start the next one */
		st->started = false;
		st->cancel = false;
		memset(st->res, 0, sizeof(*st->res));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_exec_result res;
	struct agent_exec_state st;
	struct agent_exec_io io;
	struct proto_reader r;
	size_t off = 0, piece, total = 0;
	char err[256];

	if (size < 2)
		return 0;
	/* byte 0: piece size (0 = all at once); byte 1: exec id */
	piece = data[0];
	agent_exec_io_init(&io);
	io.on_stdout = sink;
	io.stdout_ctx = &total;
	io.on_stderr = sink;
	io.stderr_ctx = &total;
	io.on_started = sink_started;
	memset(&st, 0, sizeof(st));
	memset(&res, 0, sizeof(res));
	st.id = data[1];
	st.io = &io;
	st.res = &res;
	st.err = err;
	st.errlen = sizeof(err);
	data += 2;
	size -= 2;
	proto_reader_init(&r, 4096);
	while (off < size) {
		size_t n = piece && piece < size - off ? piece : size - off;
		size_t pos = 0;

		while (pos < n) {
			size_t used;
			enum proto_event ev = proto_reader_feed(
				&r, data + off + pos, n - pos, &used);

			pos += used;
			if (ev == PROTO_EV_FRAME)
				check_frame(&r.hdr, r.payload, &st);
			else if (ev == PROTO_EV_BAD_MAGIC)
				goto out;
		}
		off += n;
	}
out:
	proto_reader_free(&r);
	return 0;
}
