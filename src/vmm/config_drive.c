/* SPDX-License-Identifier: MIT */
/*
 * Drives in the configuration: adding one (from --drive or JSON), the
 * --drive PATH[,ro|,rw][,overlay=OVL] syntax and --drive-override ID=PATH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"

int config_add_drive(struct vmm_config *c, const char *id, const char *path,
		     const char *overlay, bool read_only, bool is_root,
		     char *err, size_t errlen)
{
	struct config_drive *d;

	if (c->ndrives >= CONFIG_MAX_DRIVES)
		return config_err(err, errlen,
				  "too many drives: at most %d are supported",
				  CONFIG_MAX_DRIVES);
	if (!*path)
		return config_err(err, errlen, "drive %s: empty path", id);
	if (overlay && !*overlay)
		return config_err(err, errlen,
				  "drive %s: empty overlay path (leave it out "
				  "to write the image itself)",
				  id);
	/* The base is opened read-only and shared: it cannot be its own
	 * overlay. */
	if (overlay && !strcmp(overlay, path))
		return config_err(err, errlen,
				  "drive %s: the overlay %s is the base image "
				  "itself; give the overlay its own file",
				  id, overlay);
	for (int i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].id, id))
			return config_err(err, errlen,
					  "drive id \"%s\" is used twice", id);
	d = &c->drives[c->ndrives];
	memset(d, 0, sizeof(*d));
	if (config_set_str(&d->id, id) || config_set_str(&d->path, path) ||
	    (overlay && config_set_str(&d->overlay_path, overlay))) {
		free(d->id);
		free(d->path);
		free(d->overlay_path);
		memset(d, 0, sizeof(*d));
		return config_err(err, errlen, "out of memory");
	}
	d->read_only = read_only;
	d->is_root = is_root;
	c->ndrives++;
	return 0;
}

/*
 * --drive PATH[,ro|,rw][,overlay=OVL]: the options are the comma-separated
 * words at the end, read from the right; the first word that is not an
 * option ends them, so PATH itself may contain commas (OVL may not).  With
 * a comma there must be at least one option, so a typo in one is an error
 * rather than part of the path.
 */
int config_parse_drive(struct vmm_config *c, const char *arg, char *err,
		       size_t errlen)
{
	const char *end = arg + strlen(arg), *comma;
	const char *ovl = NULL;
	size_t ovl_len = 0;
	bool ro = false, rw_set = false, any = false;
	char id[32], *path, *overlay = NULL;
	int rc;

	while ((comma = memrchr(arg, ',', (size_t)(end - arg)))) {
		const char *w = comma + 1;
		size_t n = (size_t)(end - w);

		if ((n == 2 && !strncmp(w, "ro", 2)) ||
		    (n == 2 && !strncmp(w, "rw", 2))) {
			if (rw_set)
				return config_err(err, errlen,
						  "--drive %s: ro/rw given "
						  "twice",
						  arg);
			rw_set = true;
			ro = w[1] == 'o';
		} else if (n >= 8 && !strncmp(w, "overlay=", 8)) {
			if (ovl)
				return config_err(err, errlen,
						  "--drive %s: overlay= given "
						  "twice",
						  arg);
			ovl = w + 8;
			ovl_len = n - 8;
			if (!ovl_len)
				return config_err(err, errlen,
						  "--drive %s: empty overlay= "
						  "path",
						  arg);
		} else if (!any) {
			return config_err(err, errlen,
					  "--drive %s: unknown option \"%.*s\" "
					  "(expected PATH[,ro|,rw]"
					  "[,overlay=FILE])",
					  arg, (int)n, w);
		} else {
			break;
		}
		any = true;
		end = comma;
	}
	path = strndup(arg, (size_t)(end - arg));
	if (ovl)
		overlay = strndup(ovl, ovl_len);
	if (!path || (ovl && !overlay)) {
		free(path);
		return config_err(err, errlen, "out of memory");
	}
	snprintf(id, sizeof(id), "drive%d", c->ndrives);
	rc = config_add_drive(c, id, path, overlay, ro, false, err, errlen);
	free(path);
	free(overlay);
	return rc;
}

int config_drive_override(struct vmm_launch *l, const char *val, char *err,
			  size_t errlen)
{
	const char *eq = strchr(val, '=');
	struct config_drive_override *o;

	if (!eq || eq == val || !eq[1])
		return config_err(err, errlen,
				  "--drive-override %s: expected ID=PATH", val);
	if (l->ndrive_overrides >= CONFIG_MAX_DRIVES)
		return config_err(err, errlen,
				  "too many --drive-override (max %d)",
				  CONFIG_MAX_DRIVES);
	o = &l->drive_overrides[l->ndrive_overrides++];
	/* argv is not ours to split: id runs up to the '=' (see
	 * config_override_matches). */
	o->id = val;
	o->path = eq + 1;
	return 0;
}

bool config_override_matches(const struct config_drive_override *o,
			     const char *id)
{
	const char *eq = strchr(o->id, '=');
	size_t n = eq ? (size_t)(eq - o->id) : strlen(o->id);

	return strlen(id) == n && !strncmp(o->id, id, n);
}
