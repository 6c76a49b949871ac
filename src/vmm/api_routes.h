/* SPDX-License-Identifier: MIT */
/*
 * The REST API's routes: one parsed HTTP request in, one reply out.  Pure
 * apart from the calls into struct api_ops, so the unit tests and the
 * fuzzer drive it with a test double.  api.c does the sockets.
 */
#ifndef KILN_VMM_API_ROUTES_H
#define KILN_VMM_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api.h"
#include "http.h"

/* GET /'s "vmm_version". */
#define KILN_VMM_VERSION "0.1.0"

struct api_reply {
	int status;
	char *body; /* malloc'd JSON text or NULL (204) */
	size_t body_len;
};

/* Answer req; out is overwritten (release it with api_reply_free). */
void api_route(const struct api_ops *ops, void *ctx,
	       const struct http_request *req, struct api_reply *out);

/* A {"fault_message": ...} reply with the given status; r holds a reply
 * (which is released) or is zeroed. */
void api_reply_fault(struct api_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void api_reply_free(struct api_reply *r);

/* ---- Shared by api_routes.c and api_config.c only ---- */

/* One request being answered. */
struct api_call {
	const struct api_ops *ops;
	void *ctx;
	const char *method;
	const char *path;
	const char *param; /* the {drive_id} of /drives/{drive_id}, the
			      {iface_id} of /network-interfaces/{iface_id} */
	json_t *body; /* the parsed body: an object, or NULL for GET */
	struct api_reply *reply;
};

/* Reply 200/... with j as the body (j is consumed). */
void api_reply_json(struct api_reply *r, int status, json_t *j);
void api_no_content(struct api_call *c);

/*
 * Strict object shapes: unknown keys, missing required keys and wrong
 * types are 400s that name the key.  json_type JSON_TRUE stands for any
 * boolean.
 */
struct api_field {
	const char *key;
	json_type type;
	bool required;
};

bool api_check_object(struct api_call *c, json_t *o, const char *where,
		      const struct api_field *f, size_t n);
#define API_CHECK(c, o, where, fields)        \
	api_check_object(c, o, where, fields, \
			 sizeof(fields) / sizeof(fields[0]))

/* A string member that, if present, must not be empty (else a 400 and
 * *bad = true). */
const char *api_str(struct api_call *c, json_t *o, const char *where,
		    const char *key, bool *bad);

/* api_config.c */
void api_put_boot_source(struct api_call *c);
void api_put_drive(struct api_call *c);
void api_put_net(struct api_call *c);
void api_put_machine_config(struct api_call *c);
void api_patch_machine_config(struct api_call *c);
void api_put_vsock(struct api_call *c);
void api_put_entropy(struct api_call *c);
void api_get_machine_config(struct api_call *c);
void api_get_vm_config(struct api_call *c);

#endif
