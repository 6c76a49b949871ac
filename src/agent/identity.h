/* SPDX-License-Identifier: MIT */
/*
 * The identity op (docs/PROTOCOL.md): after a snapshot restore every clone
 * of a guest has the same CRNG state, clock and hostname; the host makes
 * each one distinct by sending fresh entropy (credited to the kernel pool,
 * then the CRNG is reseeded), the wall-clock time, a hostname and the
 * sandbox id.  The system calls go through a small table so the unit
 * tests (which run as root on the host) can check the requests without
 * changing the host's clock and hostname.
 */
#ifndef KILN_AGENT_IDENTITY_H
#define KILN_AGENT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "agent/server.h"

/* Largest entropy payload accepted (the host sends 64 bytes). */
#define IDENTITY_MAX_ENTROPY 4096
#define IDENTITY_MAX_ID 64

/* The system actions; each returns 0 or -errno. */
struct identity_sys {
	/* Mix buf into the kernel pool crediting bits (RNDADDENTROPY). */
	int (*add_entropy)(const void *buf, size_t len, int bits);
	/* Reseed the CRNG now (RNDRESEEDCRNG). */
	int (*reseed)(void);
	int (*set_clock)(const struct timespec *ts);
	int (*set_hostname)(const char *name);
};

/* Replace the system actions (tests); NULL restores the real ones. */
void identity_set_sys(const struct identity_sys *sys);

struct identity_req {
	bool has_hostname, has_sandbox_id, has_time;
	char hostname[65];
	char sandbox_id[IDENTITY_MAX_ID + 1];
	int64_t time_ns; /* CLOCK_REALTIME, ns since the epoch */
	uint32_t entropy_bytes; /* size of the entropy frame that follows */
};

/* Validate an identity request (pure).  0 or -1 with a message in err. */
int identity_parse(json_t *obj, struct identity_req *req, char *err,
		   size_t errlen);

/* The op handler (request.c dispatches to it). */
void identity_op(struct conn *c, uint32_t id, json_t *obj);

/* True if request id on c is an identity waiting for its entropy. */
bool identity_busy_id(const struct conn *c, uint32_t id);

/*
 * A stdin frame: true if it was the entropy of a pending identity request
 * (then it was consumed and the request carried out).
 */
bool identity_data(struct conn *c, uint32_t id, const uint8_t *buf, size_t len);

/*
 * An eof frame: true if id is a pending identity request (it is refused:
 * the entropy frame must come first).
 */
bool identity_eof(struct conn *c, uint32_t id);

/* Connection closing: forget a pending request. */
void identity_conn_close(struct conn *c);

#endif
