/* SPDX-License-Identifier: MIT */
/*
 * Inside the agent client: the connection structure and the framing
 * helpers shared by agent_client.c (connecting, simple requests) and
 * agent_exec.c (running commands).  Not for use elsewhere.
 */
#ifndef KILN_LIB_AGENT_CLIENT_INT_H
#define KILN_LIB_AGENT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"

#define CLIENT_CHUNK 65536

struct agent_client {
	int fd;
	struct proto_reader rd;
	uint8_t in[CLIENT_CHUNK]; /* received, not yet fed to rd */
	size_t in_off, in_len;
	bool heard; /* any byte came from the agent on this connection */
	uint32_t next_id;
	bool broken; /* stream state unknown after an error: unusable */
	char agent_version[32];
	char where[160]; /* "unix socket /x" or "vsock /x port 1024" */
};

/* Frames waiting to be sent. */
struct outq {
	uint8_t *buf;
	size_t off, len, cap;
};

void aclient_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int64_t aclient_now_ms(void);
/* Deadline for a timeout in ms (< 0: none, returned as -1). */
int64_t aclient_deadline_in(int64_t timeout_ms);
/* poll() timeout until deadline: -1 forever, 0 if passed. */
int aclient_poll_timeout(int64_t deadline);

/* Append a frame; -1 if out of memory. */
int aclient_outq_push(struct outq *q, uint8_t kind, uint32_t id,
		      const void *buf, size_t len);
size_t aclient_outq_pending(const struct outq *q);
/* Send what the socket takes without blocking; <0 agent_err on failure. */
int aclient_outq_flush(struct agent_client *c, struct outq *q, char *err,
		       size_t errlen);

/* Take a frame from buffered input into c->rd: 1 got one, 0 need more. */
int aclient_pop_frame(struct agent_client *c, char *err, size_t errlen);
/* recv() into the (empty) input buffer; EOF is AGENT_ERR_IO. */
int aclient_read_some(struct agent_client *c, char *err, size_t errlen);

uint32_t aclient_new_id(struct agent_client *c);

/* Send everything in q, waiting for the socket (bounded by deadline). */
int aclient_outq_flush_all(struct agent_client *c, struct outq *q,
			   int64_t deadline, int cancel_fd, char *err,
			   size_t errlen);
/* Send one control message; obj is consumed. */
int aclient_send_json(struct agent_client *c, uint32_t id, json_t *obj,
		      int64_t deadline, int cancel_fd, char *err,
		      size_t errlen);
/*
 * Wait for the final reply to request id: a result (AGENT_OK, *reply set)
 * or an error (AGENT_ERR_REMOTE, *reply set, message in err).
 */
int aclient_wait_reply(struct agent_client *c, uint32_t id, int64_t deadline,
		       int cancel_fd, json_t **reply, char *err, size_t errlen);

/* Format an error reply into err as "agent: <message> [<code>]". */
void aclient_remote_error(json_t *obj, char *err, size_t errlen,
			  const char **code);

/* AGENT_ERR_INVAL if c is NULL or broken. */
int aclient_check_usable(struct agent_client *c, char *err, size_t errlen);
/* Mark c broken for errors that leave the stream unknown; returns rc. */
int aclient_result(struct agent_client *c, int rc);

#endif
