/* SPDX-License-Identifier: MIT */
/*
 * Plugins: shared objects with kiln_plugin_abi and kiln_plugin_init
 * (kiln.h, "Hooks and plugins").  The ABI number is read before any of
 * the plugin's functions is called, so a plugin built against other
 * structs is refused instead of being handed memory it misreads.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"

void plugin_unload(void *dl)
{
	dlclose(dl);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int plugin_load(struct kiln *k, const char *path, char *err, size_t errlen)
{
	struct kiln_plugin_host host = {
		.abi = KILN_PLUGIN_ABI,
		.kiln_version = KILN_VERSION,
		.plugin_path = path,
		.state_dir = k->state_dir,
	};
	struct hook_plugin *pls, *pl;
	const unsigned int *abi;
	kiln_plugin_init_fn init;
	struct hooks *h;
	void *dl;
	int r;

	if (!path || !*path) {
		snprintf(err, errlen, "no plugin path given");
		return KILN_EINVAL;
	}
	if (!strchr(path, '/')) {
		/* dlopen would search the library path: say what to give */
		snprintf(err, errlen,
			 "plugin '%s': give a path (e.g. ./%s), not a bare "
			 "name",
			 path, path);
		return KILN_EINVAL;
	}
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();

		snprintf(err, errlen, "cannot load plugin %s: %s", path,
			 e ? e : "unknown error");
		return KILN_ENOTFOUND;
	}
	abi = dlsym(dl, "kiln_plugin_abi");
	init = (kiln_plugin_init_fn)(uintptr_t)dlsym(dl, "kiln_plugin_init");
	if (!abi || !init) {
		snprintf(err, errlen,
			 "%s is not a kiln plugin: it does not export %s "
			 "(see docs/API.md, \"Plugins\")",
			 path, !abi ? "kiln_plugin_abi" : "kiln_plugin_init");
		dlclose(dl);
		return KILN_EFORMAT;
	}
	if (*abi != KILN_PLUGIN_ABI) {
		snprintf(err, errlen,
			 "plugin %s was built for kiln plugin ABI %u, this "
			 "libkiln has %u; rebuild it",
			 path, *abi, (unsigned int)KILN_PLUGIN_ABI);
		dlclose(dl);
		return KILN_EFORMAT;
	}
	if (!k->hooks && !(k->hooks = calloc(1, sizeof(*k->hooks))))
		goto oom;
	if (!k->hooks->timeout_ms)
		k->hooks->timeout_ms = HOOKS_TIMEOUT_DEFAULT_MS;
	h = k->hooks;
	pls = realloc(h->plugins, (h->n_plugins + 1) * sizeof(*pls));
	if (!pls)
		goto oom;
	h->plugins = pls;
	pl = &pls[h->n_plugins];
	memset(pl, 0, sizeof(*pl));
	pl->path = strdup(path);
	if (!pl->path)
		goto oom;
	r = init(&host, &pl->p);
	if (r) {
		pl->p.error[sizeof(pl->p.error) - 1] = '\0';
		snprintf(err, errlen, "plugin %s refused to load (%d): %s",
			 path, r,
			 pl->p.error[0] ? pl->p.error : "no reason given");
		free(pl->path);
		dlclose(dl);
		return KILN_EINVAL;
	}
	if (!pl->p.name)
		pl->p.name = base_name(pl->path);
	pl->dl = dl;
	h->n_plugins++;
	if (pl->p.hook) {
		char name[300];

		snprintf(name, sizeof(name), "plugin %s", pl->p.name);
		/* on failure it stays loaded: hooks_free() unloads it */
		if (hooks_cb_add(k, pl->p.hook, pl->p.ctx, name)) {
			snprintf(err, errlen, "out of memory");
			return KILN_ENOMEM;
		}
	}
	return KILN_OK;
oom:
	dlclose(dl);
	snprintf(err, errlen, "out of memory");
	return KILN_ENOMEM;
}
