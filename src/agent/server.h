/* SPDX-License-Identifier: MIT */
/*
 * Listeners and connections: accept, read and frame the input, queue and
 * write the output, and apply backpressure (docs/PROTOCOL.md, "Flow
 * control").  What a frame means is request.c's business.
 */
#ifndef KILN_AGENT_SERVER_H
#define KILN_AGENT_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "common/proto.h"

struct conn {
	struct agent *ag;
	struct conn *next, *prev; /* ag->conns, or ag->dead_conns */
	unsigned int serial; /* for log messages */
	int fd;
	struct loop_watch w;

	struct proto_reader rd;
	uint8_t *in; /* bytes read but not fed to rd yet */
	size_t in_off, in_len;

	uint8_t *out; /* queued output frames: out[out_off, out_len) */
	size_t out_off, out_len, out_cap;
	bool out_paused; /* over AGENT_OUT_HIGH: our pipes are paused */

	bool hello_done;
	bool read_eof; /* peer shut down its sending side */
	bool closing; /* protocol broken: flush, then close */
	bool dead;
	bool settling, settle_again; /* see conn_settle() */

	struct proc *procs; /* commands started on this connection */
	struct file_xfer *files; /* read_file/write_file in flight */
	struct identity_pending *identity; /* waiting for its entropy frame */
	struct forward *forward; /* forward op connecting: input held */
};

/*
 * Listen on "vsock:PORT" or "unix:PATH" (a stale socket file at PATH is
 * replaced).  Returns 0 or -1 with a message in err.
 */
int server_listen(struct agent *ag, const char *spec, char *err, size_t errlen);

/* "vsock port 1024" / "unix socket /x" of every listener, for the log. */
void server_describe(const struct agent *ag, char *buf, size_t len);

void server_close_listeners(struct agent *ag);

/* Queue a control message; obj is consumed (json_decref'ed). */
void conn_send_json(struct conn *c, uint32_t id, json_t *obj);

/* Queue {"type":"error","code":code,"message":...}. */
void conn_send_error(struct conn *c, uint32_t id, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Queue {"type":"result", ...fields of extra...}; extra may be NULL. */
void conn_send_result(struct conn *c, uint32_t id, json_t *extra);

/* Queue an EOF frame for stream. */
void conn_send_eof(struct conn *c, uint32_t id, enum proto_stream stream);

/*
 * Zero-copy data frames: conn_data_begin() reserves room for a header and
 * up to max payload bytes and returns where the payload goes;
 * conn_data_commit() finishes a frame of len (0 < len <= max) bytes.
 * Returns NULL on allocation failure.
 */
uint8_t *conn_data_begin(struct conn *c, size_t max);
void conn_data_commit(struct conn *c, uint8_t kind, uint32_t id, size_t len);

/* True while output over the high-water mark is queued. */
bool conn_out_full(const struct conn *c);

/*
 * Re-evaluate what the connection waits for and process buffered input
 * that backpressure held back (after a stdin queue drained, a process
 * finished, ...).
 */
void conn_kick(struct conn *c);

/*
 * Take the socket away from c (a forward turns it into a raw relay) and
 * retire c as conn_close() does; returns the descriptor.
 */
int conn_take_fd(struct conn *c, const char *why);

/* Close now: kill its commands, free it after this batch. */
void conn_close(struct conn *c, const char *why);

/* Close every connection (agent stopping). */
void server_close_all(struct agent *ag);

/* Free what conn_close() retired during the last batch. */
void server_reap_dead(struct agent *ag);

#endif
