/* SPDX-License-Identifier: MIT */
/*
 * kiln agent wire protocol v1: framing shared by kiln-agent and libkiln.
 * docs/PROTOCOL.md is the specification; this is its code.
 *
 * A connection carries frames in both directions.  A frame is a 12-byte
 * header followed by len payload bytes:
 *
 *   offset 0  u8  'K'            magic: a peer speaking something else
 *   offset 1  u8  'N'            (or a desynchronised stream) is detected
 *   offset 2  u8  kind           enum proto_kind
 *   offset 3  u8  flags          0 in v1 (reserved)
 *   offset 4  u32 id             request id, little endian
 *   offset 8  u32 len            payload length, little endian
 *
 * Control frames carry one JSON object; data frames carry raw bytes.
 */
#ifndef KILN_COMMON_PROTO_H
#define KILN_COMMON_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION 1
#define PROTO_HDR_SIZE 12
#define PROTO_MAGIC0 'K'
#define PROTO_MAGIC1 'N'
/* Largest payload a peer may send; larger frames are refused (skipped). */
#define PROTO_MAX_PAYLOAD (1u << 20)
/* The guest port the agent listens on (vsock). */
#define PROTO_AGENT_PORT 1024

enum proto_kind {
	PROTO_CONTROL = 1, /* JSON object, UTF-8 */
	PROTO_STDIN = 2, /* client -> agent: bytes for process id's stdin */
	PROTO_STDOUT = 3, /* agent -> client: bytes from its stdout */
	PROTO_STDERR = 4, /* agent -> client: bytes from its stderr */
	PROTO_EOF = 5, /* end of one stream: 1-byte payload enum proto_stream */
};

enum proto_stream {
	PROTO_STREAM_STDIN = 0,
	PROTO_STREAM_STDOUT = 1,
	PROTO_STREAM_STDERR = 2,
};

struct proto_hdr {
	uint8_t kind;
	uint8_t flags;
	uint32_t id;
	uint32_t len;
};

/* Error codes of error replies ({"type":"error","code":...}). */
#define PROTO_E_BAD_FRAME "bad_frame"
#define PROTO_E_TOO_LARGE "frame_too_large"
#define PROTO_E_BAD_JSON "bad_json"
#define PROTO_E_INVALID "invalid_request"
#define PROTO_E_UNKNOWN_OP "unknown_op"
#define PROTO_E_VERSION "version_mismatch"
#define PROTO_E_HELLO "hello_required"
#define PROTO_E_BUSY "id_in_use"
#define PROTO_E_NO_PROCESS "no_such_process"
#define PROTO_E_NOT_FOUND "not_found"
#define PROTO_E_PERM "permission_denied"
#define PROTO_E_EXEC "exec_failed"
#define PROTO_E_LIMIT "limit_reached"
#define PROTO_E_INTERNAL "internal"
#define PROTO_E_NO_USER "no_such_user"
#define PROTO_E_NO_TTY "no_tty"
#define PROTO_E_ATTACHED "already_attached"
/* forward: nothing listens on the guest port / another connect error. */
#define PROTO_E_CONN_REFUSED "connection_refused"
#define PROTO_E_FORWARD "forward_failed"

/* Write a header into out[PROTO_HDR_SIZE]. */
void proto_hdr_encode(uint8_t *out, uint8_t kind, uint32_t id, uint32_t len);

/*
 * Parse a header.  Returns false only if the magic is wrong (the stream
 * cannot be trusted any more); kind, flags and len are the caller's to
 * check (they do not desynchronise the stream).
 */
bool proto_hdr_decode(const uint8_t *in, struct proto_hdr *h);

/* "control", "stdin", ... or "unknown". */
const char *proto_kind_name(uint8_t kind);

/*
 * Incremental frame reader: feed it bytes as they come from the socket, in
 * pieces of any size; it hands back whole frames.  Frames whose len is over
 * max_payload are reported (PROTO_EV_OVERSIZED) and their payload skipped
 * without buffering it, so the stream stays in sync.
 */
enum proto_event {
	PROTO_EV_NEED_MORE = 0, /* all input consumed, no frame complete */
	PROTO_EV_FRAME, /* r->hdr and r->payload hold a whole frame */
	PROTO_EV_OVERSIZED, /* r->hdr announced len > max_payload */
	PROTO_EV_BAD_MAGIC, /* not a frame header: stream unusable */
	PROTO_EV_NOMEM, /* payload buffer allocation failed */
};

struct proto_reader {
	uint32_t max_payload;
	uint8_t hdr_raw[PROTO_HDR_SIZE];
	size_t hdr_have;
	struct proto_hdr hdr;
	bool in_payload;
	uint8_t *payload; /* valid after PROTO_EV_FRAME until the next feed */
	size_t payload_cap;
	size_t payload_have;
	uint64_t skip; /* bytes of an oversized payload still to discard */
	bool broken; /* after PROTO_EV_BAD_MAGIC every feed says so again */
};

void proto_reader_init(struct proto_reader *r, uint32_t max_payload);
void proto_reader_free(struct proto_reader *r);

/*
 * Consume bytes from buf[len] until one event; *used says how many were
 * consumed.  Call again with the rest after handling PROTO_EV_FRAME or
 * PROTO_EV_OVERSIZED.
 */
enum proto_event proto_reader_feed(struct proto_reader *r, const void *buf,
				   size_t len, size_t *used);

/* True if a frame has started but not finished (EOF now = truncated). */
bool proto_reader_mid_frame(const struct proto_reader *r);

/*
 * Parse a control payload: exactly one JSON object, no duplicate keys, no
 * NUL bytes in strings.  Returns a new reference or NULL with a message in
 * err ("bad JSON at line 1 column 5: ...").
 */
json_t *proto_json_parse(const void *buf, size_t len, char *err, size_t errlen);

/*
 * Serialise a control object compactly into a malloc'ed buffer; NULL on
 * allocation failure or if it would exceed PROTO_MAX_PAYLOAD.
 */
char *proto_json_dump(const json_t *obj, size_t *len);

/*
 * Strictly unpack obj with a jansson format (JSON_STRICT: keys not named in
 * fmt are an error).  On failure writes "<what>: <reason>" to err, e.g.
 * `exec: unknown field "foo"`.  Returns 0 or -1.
 */
int proto_unpack(json_t *obj, char *err, size_t errlen, const char *what,
		 const char *fmt, ...);

#endif
