/* SPDX-License-Identifier: MIT */
/*
 * The net_config request of the agent client (agent_client.h,
 * docs/PROTOCOL.md "net_config"): tell a restored guest its address.
 */
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "common/proto.h"
#include "lib/agent_client.h"
#include "lib/agent_client_int.h"

int agent_client_net_config(struct agent_client *c,
			    const struct agent_net_config *nc, int timeout_ms,
			    bool *link_up, char *err, size_t errlen)
{
	int64_t deadline = aclient_deadline_in(timeout_ms);
	json_t *req, *rep = NULL;
	uint32_t id;
	bool oom;
	int rc = aclient_check_usable(c, err, errlen);

	if (link_up)
		*link_up = false;
	if (rc < 0)
		return rc;
	if (!nc || !nc->iface || !nc->address) {
		aclient_seterr(err, errlen,
			       "net_config: an interface and an address are "
			       "required");
		return AGENT_ERR_INVAL;
	}
	req = json_pack("{s:s, s:s, s:s}", "op", "net_config", "iface",
			nc->iface, "address", nc->address);
	oom = !req;
	if (!oom && nc->gateway)
		oom = json_object_set_new(req, "gateway",
					  json_string(nc->gateway)) != 0;
	if (!oom && nc->nameserver)
		oom = json_object_set_new(req, "nameserver",
					  json_string(nc->nameserver)) != 0;
	if (!oom && nc->mac)
		oom = json_object_set_new(req, "mac", json_string(nc->mac)) !=
		      0;
	if (oom) {
		json_decref(req);
		req = NULL;
	}
	id = aclient_new_id(c);
	/* aclient_send_json takes req (NULL: out of memory) */
	rc = aclient_send_json(c, id, req, deadline, -1, err, errlen);
	if (rc == 0)
		rc = aclient_wait_reply(c, id, deadline, -1, &rep, err, errlen);
	if (rc == 0) {
		json_t *up = json_object_get(rep, "link_up");

		/* an agent that does not say: not known to be up */
		if (up && !json_is_boolean(up)) {
			aclient_seterr(err, errlen,
				       "agent sent a malformed net_config "
				       "reply");
			rc = AGENT_ERR_PROTO;
		} else if (link_up) {
			*link_up = json_is_true(up);
		}
	}
	json_decref(rep);
	return aclient_result(c, rc);
}
