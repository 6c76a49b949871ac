/* SPDX-License-Identifier: MIT */
/*
 * What frames mean: control requests (hello, ping, exec, signal, shutdown)
 * and stdin data, validated strictly (docs/PROTOCOL.md).  The parse
 * functions are pure so the unit tests and the fuzzer call them directly.
 */
#ifndef KILN_AGENT_REQUEST_H
#define KILN_AGENT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/exec.h"
#include "agent/server.h"
#include "common/proto.h"

/* Handle one complete frame received on c. */
void request_handle_frame(struct conn *c, const struct proto_hdr *h,
			  const uint8_t *payload);

/*
 * Validate an exec request object into spec (pointers into obj; free
 * spec's arrays with request_exec_spec_free()).  Returns 0 or -1 with a
 * message in err.
 */
int request_parse_exec(json_t *obj, struct exec_spec *spec, char *err,
		       size_t errlen);
void request_exec_spec_free(struct exec_spec *spec);

struct signal_req {
	uint32_t target; /* the exec request id */
	int signo;
	bool group; /* signal the whole process group (default) */
};

int request_parse_signal(json_t *obj, struct signal_req *req, char *err,
			 size_t errlen);

struct resize_req {
	uint32_t target; /* the exec request id */
	unsigned short rows, cols;
};

int request_parse_resize(json_t *obj, struct resize_req *req, char *err,
			 size_t errlen);

/* hello: the client's protocol version. */
int request_parse_hello(json_t *obj, int64_t *version, char *err,
			size_t errlen);

/* kill: a guest pid, or the process group of an exec (any connection). */
struct kill_req {
	int64_t pid; /* > 1, or 0 when exec_id is given */
	uint32_t exec_id; /* the exec's request id, 0: by pid */
	uint32_t exec_conn; /* its connection (from ps), 0: any (unique) */
	int signo;
};

int request_parse_kill(json_t *obj, struct kill_req *req, char *err,
		       size_t errlen);

/* ps: nothing but the op (validated strictly all the same). */
int request_parse_ps(json_t *obj, char *err, size_t errlen);

/* forward: the guest TCP address to connect to (numeric, no DNS). */
struct forward_req {
	uint16_t port;
	char host[64]; /* as given, for messages */
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order */
};

int request_parse_forward(json_t *obj, struct forward_req *req, char *err,
			  size_t errlen);

#endif
