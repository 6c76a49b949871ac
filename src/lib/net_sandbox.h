/* SPDX-License-Identifier: MIT */
/*
 * Networking of persistent sandboxes, for sandbox_store.c and
 * sandbox_reconcile.c (net_sandbox.c; docs/NETWORK.md).  Failures are
 * recorded on k.
 */
#ifndef KILN_LIB_NET_SANDBOX_H
#define KILN_LIB_NET_SANDBOX_H

#include <stdbool.h>

#include "kiln.h"
#include "lib/state.h"

/*
 * After the row exists (its slot allocated), before the VMM: record pol
 * (NULL: none) and build the namespace, links and rules.  Without root,
 * policy none means no namespace at all and anything else is refused.
 */
int net_sandbox_create(struct kiln *k, const struct state_sandbox *row,
		       const struct kiln_net_policy *pol);

/*
 * Before a VMM starts: *netns says whether it must start in the
 * sandbox's namespace; a recorded one that is gone (host reboot) is
 * rebuilt with the recorded policy.
 */
int net_sandbox_prepare(struct kiln *k, const struct state_sandbox *row,
			bool *netns);

/* Remove the sandbox's namespace, links, rules and record. */
int net_sandbox_remove(struct kiln *k, const struct state_sandbox *row);

/*
 * net_sandbox_remove() while rolling back a failed creation: a failure
 * is appended to k's message, not returned.
 */
void net_sandbox_cleanup(struct kiln *k, const struct state_sandbox *row);

/* Remove network objects and records of sandboxes not in st (root). */
void net_sandbox_reconcile(struct kiln *k, struct state *st);

#endif
