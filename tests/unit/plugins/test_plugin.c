/* SPDX-License-Identifier: MIT */
/*
 * A kiln plugin for tests/unit/test_lib_hooks.c: appends one line per
 * event to <state_dir>/plugin-events.log ("seq event id name phase old new
 * details"), vetoes before_create of sandboxes named "deny-*" and
 * before_pause of ones named "nopause-*".  Built
 * with -DTEST_PLUGIN_BAD_ABI it claims another ABI, to be refused.
 * It uses no libkiln symbol: only kiln.h's types and the host struct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#ifdef TEST_PLUGIN_BAD_ABI
const unsigned int kiln_plugin_abi = KILN_PLUGIN_ABI + 1;
#else
const unsigned int kiln_plugin_abi = KILN_PLUGIN_ABI;
#endif

int kiln_plugin_init(const struct kiln_plugin_host *host,
		     struct kiln_plugin *plugin);

static int on_event(void *ctx, const struct kiln_event_info *ev)
{
	FILE *fp = fopen(ctx, "a");
	static const char *const names[] = {
		"before_create", "after_create", "before_start",
		"after_start",	 "before_stop",	 "after_stop",
		"before_remove", "after_remove", "error",
		"state_change",	 "net_setup",	 "net_teardown",
		"net_policy",	 "before_pause", "after_pause",
		"before_resume", "after_resume",
	};

	if (!fp)
		return 0;
	fprintf(fp, "%llu %s id=%s name=%s phase=%s old=%s new=%s %s\n",
		(unsigned long long)ev->seq,
		(unsigned int)ev->event < sizeof(names) / sizeof(names[0])
			? names[ev->event]
			: "?",
		ev->sandbox_id, ev->sandbox_name, ev->phase, ev->old_state,
		ev->new_state, ev->details);
	fclose(fp);
	if (ev->event == KILN_EV_BEFORE_CREATE &&
	    !strncmp(ev->sandbox_name, "deny-", 5))
		return ev->veto(ev, "the test plugin denies deny-* sandboxes");
	if (ev->event == KILN_EV_BEFORE_PAUSE &&
	    !strncmp(ev->sandbox_name, "nopause-", 8))
		return ev->veto(ev, "the test plugin keeps nopause-* running");
	return 0;
}

static void fini(void *ctx)
{
	free(ctx);
}

int kiln_plugin_init(const struct kiln_plugin_host *host,
		     struct kiln_plugin *plugin)
{
	char *path;

	if (host->abi != KILN_PLUGIN_ABI || !host->state_dir) {
		snprintf(plugin->error, sizeof(plugin->error),
			 "unexpected host (abi %u)", host->abi);
		return 1;
	}
	/* per load: each struct kiln that loads us gets its own context */
	if (asprintf(&path, "%s/plugin-events.log", host->state_dir) < 0)
		return 1;
	plugin->ctx = path;
	plugin->name = "test_plugin";
	plugin->hook = on_event;
	plugin->fini = fini;
	return 0;
}
