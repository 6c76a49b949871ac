/* SPDX-License-Identifier: MIT */
/*
 * Network interfaces in the configuration: adding one (from --net or the
 * JSON "network-interfaces"), --net TAP[,mac=MAC][,id=ID], --net-override
 * ID=TAP and MAC addresses.  The TAP name "none" (CONFIG_NET_NONE) means a
 * disconnected interface: no backend, so that a snapshot can have a NIC
 * that a restore connects to a TAP, and the other way round.  A host TAP
 * really called "none" cannot be used.  The TAP itself is opened by the device
 * (dev/tap.c) when the VM is built; here only the shapes are checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mac.h"
#include "config.h"
#include "config_priv.h"

#define CONFIG_NET_ID_MAX 64

/* A Linux interface name: 1-15 bytes, no '/', ':', '%', blanks or control
 * characters, not "." or "..". */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CONFIG_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == '/' || *s == ':' ||
		    *s == '%')
			return false;
	return true;
}

static bool net_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CONFIG_NET_ID_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

int config_add_net(struct vmm_config *c, const char *id, const char *tap,
		   const char *mac, char *err, size_t errlen)
{
	struct config_net *n;

	if (c->nnets >= CONFIG_MAX_NETS)
		return config_err(err, errlen,
				  "too many network interfaces: at most %d "
				  "are supported",
				  CONFIG_MAX_NETS);
	if (!net_id_ok(id))
		return config_err(err, errlen,
				  "network interface id \"%.64s\": use 1 to %d "
				  "letters, digits, '_' or '-'",
				  id, CONFIG_NET_ID_MAX);
	if (!ifname_ok(tap))
		return config_err(err, errlen,
				  "network interface %s: TAP name \"%.64s\" is "
				  "not a valid interface name (1 to %d "
				  "characters, no '/', ':', '%%' or blanks)",
				  id, tap, CONFIG_IFNAME_MAX);
	for (int i = 0; i < c->nnets; i++) {
		if (!strcmp(c->nets[i].id, id))
			return config_err(err, errlen,
					  "network interface id \"%s\" is used "
					  "twice",
					  id);
		/* One TAP queue per device: a second open would get its own
		 * queue only with IFF_MULTI_QUEUE, which tap_open does not
		 * ask for.  Disconnected ones share nothing. */
		if (!strcmp(c->nets[i].tap, tap) && !config_net_is_none(tap))
			return config_err(err, errlen,
					  "TAP %s is used by two network "
					  "interfaces (%s and %s)",
					  tap, c->nets[i].id, id);
	}
	n = &c->nets[c->nnets];
	memset(n, 0, sizeof(*n));
	if (mac) {
		if (mac_parse(mac, n->mac))
			return config_err(
				err, errlen,
				"network interface %s: MAC \"%.64s\": "
				"expected a unicast address "
				"AA:BB:CC:DD:EE:FF, not all zeros",
				id, mac);
		n->has_mac = true;
	}
	if (config_set_str(&n->id, id) || config_set_str(&n->tap, tap)) {
		free(n->id);
		free(n->tap);
		memset(n, 0, sizeof(*n));
		return config_err(err, errlen, "out of memory");
	}
	c->nnets++;
	return 0;
}

bool config_net_is_none(const char *tap)
{
	return tap && !strcmp(tap, CONFIG_NET_NONE);
}

void config_free_net(struct config_net *n)
{
	free(n->id);
	free(n->tap);
	memset(n, 0, sizeof(*n));
}

/*
 * --net TAP[,mac=MAC][,id=ID]: options in any order after the TAP name
 * (which has no commas; "none": disconnected); the id defaults to
 * "eth<N>", N counting the interfaces so far.
 */
int config_parse_net(struct vmm_config *c, const char *arg, char *err,
		     size_t errlen)
{
	char *copy = strdup(arg), *save = NULL, *tok, *tap;
	const char *mac = NULL, *id = NULL;
	char def_id[16];
	int rc = -1;

	if (!copy)
		return config_err(err, errlen, "out of memory");
	tap = strtok_r(copy, ",", &save);
	if (!tap || arg[0] == ',') {
		config_err(err, errlen,
			   "--net %s: expected TAP[,mac=MAC][,id=ID]", arg);
		goto out;
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		const char **dst = !strncmp(tok, "mac=", 4)  ? &mac
				   : !strncmp(tok, "id=", 3) ? &id
							     : NULL;

		if (!dst) {
			config_err(err, errlen,
				   "--net %s: unknown option \"%s\" (expected "
				   "TAP[,mac=MAC][,id=ID])",
				   arg, tok);
			goto out;
		}
		if (*dst) {
			config_err(err, errlen, "--net %s: %.*s given twice",
				   arg, (int)(strchr(tok, '=') - tok), tok);
			goto out;
		}
		*dst = strchr(tok, '=') + 1;
	}
	if (!id) {
		snprintf(def_id, sizeof(def_id), "eth%d", c->nnets);
		id = def_id;
	}
	rc = config_add_net(c, id, tap, mac, err, errlen);
out:
	free(copy);
	return rc;
}

int config_net_override(struct vmm_launch *l, const char *val, char *err,
			size_t errlen)
{
	const char *eq = strchr(val, '=');
	struct config_drive_override *o;

	if (!eq || eq == val || !eq[1])
		return config_err(err, errlen,
				  "--net-override %s: expected ID=TAP (or "
				  "ID=none to disconnect it)",
				  val);
	if (!ifname_ok(eq + 1))
		return config_err(err, errlen,
				  "--net-override %s: \"%s\" is not a valid "
				  "interface name",
				  val, eq + 1);
	if (l->nnet_overrides >= CONFIG_MAX_NETS)
		return config_err(err, errlen,
				  "too many --net-override (max %d)",
				  CONFIG_MAX_NETS);
	o = &l->net_overrides[l->nnet_overrides++];
	o->id = val; /* up to the '=', see config_override_matches */
	o->path = eq + 1;
	return 0;
}
