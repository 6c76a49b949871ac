/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API: arbitrary bytes arrive on a simulated
 * connection in chunks (the first input byte picks the chunk size and the
 * VM state), are parsed as pipelined HTTP requests and routed to a test
 * double of the VMM, exactly as api.c does.  Checked: no crash, leak or
 * hang; a request parsed incrementally equals the same bytes parsed at
 * once; every reply is well-formed JSON; and after any accepted change
 * GET /vm/config still reads back with config_parse_json().
 *
 * Build and run: make fuzz FUZZ_SECONDS=60 (or build/fuzz/fuzz_http by
 * hand with a corpus directory).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/api_fake.h"
#include "vmm/api_routes.h"
#include "vmm/http.h"

#define BUF_CAP (HTTP_MAX_HEAD + HTTP_MAX_BODY)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const struct api_reply *r)
{
	json_t *j;

	if (r->status == 204) {
		if (r->body)
			abort();
		return;
	}
	if (!r->body || r->status < 200 || r->status > 599)
		abort();
	j = json_loadb(r->body, r->body_len, 0, NULL);
	if (!j)
		abort();
	if (r->status >= 400 &&
	    !json_is_string(json_object_get(j, "fault_message")))
		abort();
	json_decref(j);
}

/* What GET /vm/config shows must be a valid config document. */
static void check_config_round_trip(struct fake *f)
{
	struct http_request req = {.method = "GET", .target = "/vm/config"};
	struct vmm_config back;
	struct api_reply r;
	char err[256];

	req.target_len = strlen(req.target);
	api_route(&fake_ops, f, &req, &r);
	if (r.status != 200)
		abort();
	config_init(&back);
	if (config_parse_json(&back, r.body, "GET /vm/config", err,
			      sizeof(err)))
		abort();
	config_free(&back);
	api_reply_free(&r);
}

/* The whole request parsed in one call must agree with the incremental
 * result. */
static void check_whole_parse(const char *buf, const struct http_parser *p)
{
	struct http_parser whole;

	http_parser_init(&whole);
	if (http_parse(&whole, buf, p->len) != HTTP_DONE ||
	    whole.len != p->len || whole.req.body_len != p->req.body_len ||
	    whole.req.target_len != p->req.target_len ||
	    whole.req.keep_alive != p->req.keep_alive ||
	    strcmp(whole.req.method, p->req.method))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[BUF_CAP];
	struct http_parser p;
	struct fake f;
	size_t chunk, off = 1, len = 0;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x3f) + 1;
	fake_init(&f);
	f.state = (enum api_vm_state)((data[0] >> 6) % 3);
	http_parser_init(&p);
	while (off < size || len) {
		size_t n = size - off < chunk ? size - off : chunk;
		struct api_reply r = {0};
		int rc;

		if (n > BUF_CAP - len)
			n = BUF_CAP - len;
		memcpy(buf + len, data + off, n);
		len += n;
		off += n;
		rc = http_parse(&p, buf, len);
		if (rc == HTTP_ERROR) {
			api_reply_fault(&r, p.status, "%s", p.error);
			check_reply(&r);
			api_reply_free(&r);
			break;
		}
		if (rc == HTTP_NEED_MORE) {
			if (off == size || len == BUF_CAP)
				break; /* the connection ends mid-request */
			continue;
		}
		if (p.len > len || p.len == 0)
			abort();
		check_whole_parse(buf, &p);
		api_route(&fake_ops, &f, &p.req, &r);
		check_reply(&r);
		if (r.status == 204 && !f.no_config)
			check_config_round_trip(&f);
		api_reply_free(&r);
		/* api.c closes the connection after such a reply. */
		if (!p.req.keep_alive)
			break;
		memmove(buf, buf + p.len, len - p.len);
		len -= p.len;
		http_parser_init(&p);
	}
	fake_free(&f);
	return 0;
}
