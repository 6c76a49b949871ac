/* SPDX-License-Identifier: MIT */
/*
 * libkiln's client for kiln-vmm's REST API (Firecracker's paths and JSON
 * over HTTP/1.1 on a Unix socket; docs/API.md).  One request per
 * connection: the VMM's API is used a few times per sandbox operation, so
 * keep-alive buys nothing and a fresh connection never sees a stale reply.
 */
#ifndef KILN_LIB_VMM_API_H
#define KILN_LIB_VMM_API_H

#include <stddef.h>

#include <jansson.h>

/* A reply body larger than this is refused (the API's are tiny). */
#define VMM_API_MAX_REPLY (256 * 1024)

/*
 * Send METHOD PATH with body (NULL: none; serialised compactly) to the
 * API socket sock and read the reply within timeout_ms.  *status gets the
 * HTTP status; *reply (if not NULL) the parsed JSON body or NULL when the
 * body is empty.  A transport failure returns a negative kiln status
 * (KILN_EVMM) with err naming the socket; an HTTP error status is NOT a
 * failure here: check *status (vmm_api_expect does).
 */
int vmm_api_request(const char *sock, const char *method, const char *path,
		    json_t *body, int timeout_ms, int *status, json_t **reply,
		    char *err, size_t errlen);

/*
 * vmm_api_request expecting a 2xx status.  Otherwise fails with KILN_EVMM
 * and err says "kiln-vmm refused PUT /snapshot/create: <fault_message>".
 * body is consumed (json_decref'd) in every case.
 */
int vmm_api_expect(const char *sock, const char *method, const char *path,
		   json_t *body, int timeout_ms, char *err, size_t errlen);

/*
 * Parse an HTTP/1.1 response held wholly in buf: status line, headers,
 * Content-Length body.  Returns 1 with *status, *body, *body_len set when
 * complete, 0 when more bytes are needed, -1 when malformed.  Exposed for
 * unit tests.
 */
int vmm_api_parse_reply(const char *buf, size_t len, int *status,
			const char **body, size_t *body_len);

#endif
