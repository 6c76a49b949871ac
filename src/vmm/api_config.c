/* SPDX-License-Identifier: MIT */
/*
 * The configuration routes: the pre-boot PUTs (boot-source, drives,
 * machine-config, vsock, entropy) and the GETs that show the
 * configuration.  A PUT is applied by config_parse_json() to a deep copy of
 * the configuration, which replaces the live one only if parsing and the
 * cross-field checks pass: a refused request changes nothing.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mac.h"
#include "api_routes.h"
#include "config.h"

#define API_MAX_DRIVE_ID 64

/*
 * Deep copy of struct vmm_config.  It only owns the strings below; a new
 * pointer member in config.h must be added here too.
 */
static int api_config_copy(struct vmm_config *dst, const struct vmm_config *src)
{
	char **const strs[] = {&dst->kernel_path, &dst->initrd_path,
			       &dst->cmdline, &dst->vsock_uds,
			       &dst->console_path};
	bool oom = false;

	*dst = *src;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (*strs[i] && !(*strs[i] = strdup(*strs[i])))
			oom = true;
	for (int i = 0; i < dst->ndrives; i++) {
		dst->drives[i].id = strdup(src->drives[i].id);
		dst->drives[i].path = strdup(src->drives[i].path);
		oom |= !dst->drives[i].id || !dst->drives[i].path;
		if (src->drives[i].overlay_path &&
		    !(dst->drives[i].overlay_path =
			      strdup(src->drives[i].overlay_path)))
			oom = true;
	}
	for (int i = 0; i < dst->nnets; i++) {
		dst->nets[i].id = strdup(src->nets[i].id);
		dst->nets[i].tap = strdup(src->nets[i].tap);
		oom |= !dst->nets[i].id || !dst->nets[i].tap;
	}
	if (oom) {
		config_free(dst);
		return -1;
	}
	return 0;
}

/* Cross-field checks (two root drives, odd vCPUs with SMT, too many
 * devices, ...) on a scratch copy: config_validate() reorders drives and
 * wants a kernel, which may legitimately not be configured yet. */
static int api_config_check(const struct vmm_config *c, char *err,
			    size_t errlen)
{
	struct vmm_config scratch;
	int rc;

	if (api_config_copy(&scratch, c)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!scratch.kernel_path && !(scratch.kernel_path = strdup("-"))) {
		config_free(&scratch);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = config_validate(&scratch, err, errlen);
	config_free(&scratch);
	return rc;
}

static struct vmm_config *api_preboot_config(struct api_call *c)
{
	struct vmm_config *cfg;

	if (c->ops->state(c->ctx) != API_VM_NOT_STARTED) {
		api_reply_fault(c->reply, 400,
				"%s %s is not allowed after the VM started",
				c->method, c->path);
		return NULL;
	}
	cfg = c->ops->config(c->ctx);
	if (!cfg)
		api_reply_fault(c->reply, 500,
				"%s %s: the VM configuration is not available",
				c->method, c->path);
	return cfg;
}

enum api_put_kind {
	API_PUT_BOOT,
	API_PUT_DRIVE,
	API_PUT_MACHINE,
	API_PUT_MACHINE_PATCH,
	API_PUT_VSOCK,
	API_PUT_ENTROPY,
	API_PUT_NET
};

static void api_drive_remove(struct vmm_config *c, int i)
{
	free(c->drives[i].id);
	free(c->drives[i].path);
	free(c->drives[i].overlay_path);
	memmove(&c->drives[i], &c->drives[i + 1],
		(size_t)(c->ndrives - i - 1) * sizeof(c->drives[0]));
	c->ndrives--;
}

/*
 * PUT replaces the whole section (Firecracker): what the body omits goes
 * back to its default before the body is applied.
 */
static void api_config_reset(struct vmm_config *c, enum api_put_kind kind,
			     const char *drive_id, int *drive_at)
{
	*drive_at = -1;
	switch (kind) {
	case API_PUT_BOOT:
		free(c->kernel_path);
		free(c->cmdline);
		free(c->initrd_path);
		c->kernel_path = c->cmdline = c->initrd_path = NULL;
		break;
	case API_PUT_DRIVE:
		for (int i = 0; i < c->ndrives; i++) {
			if (!strcmp(c->drives[i].id, drive_id)) {
				api_drive_remove(c, i);
				*drive_at = i;
				break;
			}
		}
		break;
	case API_PUT_NET:
		for (int i = 0; i < c->nnets; i++) {
			if (!strcmp(c->nets[i].id, drive_id)) {
				config_free_net(&c->nets[i]);
				memmove(&c->nets[i], &c->nets[i + 1],
					(size_t)(c->nnets - i - 1) *
						sizeof(c->nets[0]));
				c->nnets--;
				*drive_at = i;
				break;
			}
		}
		break;
	case API_PUT_MACHINE:
		c->smt = false;
		c->cpu_template = CPU_TEMPLATE_HOST;
		break;
	default:
		break;
	}
}

static void api_config_put(struct api_call *c, enum api_put_kind kind,
			   const char *key, json_t *section)
{
	struct vmm_config *cur = api_preboot_config(c), copy;
	char err[512], src[64];
	json_t *doc;
	char *text;
	int at, rc;

	if (!cur)
		return;
	if (api_config_copy(&copy, cur)) {
		api_reply_fault(c->reply, 500, "out of memory");
		return;
	}
	api_config_reset(&copy, kind, c->param, &at);
	doc = json_pack("{s:O}", key, section);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text) {
		config_free(&copy);
		api_reply_fault(c->reply, 500, "out of memory");
		return;
	}
	snprintf(src, sizeof(src), "%s %s", c->method,
		 kind == API_PUT_DRIVE ? "/drives"
		 : kind == API_PUT_NET ? "/network-interfaces"
				       : c->path);
	rc = config_parse_json(&copy, text, src, err, sizeof(err));
	free(text);
	/* A replaced drive keeps its place (and so its /dev/vdX name), an
	 * interface its ethN. */
	if (!rc && at >= 0 && kind == API_PUT_NET && at < copy.nnets - 1) {
		struct config_net n = copy.nets[copy.nnets - 1];

		memmove(&copy.nets[at + 1], &copy.nets[at],
			(size_t)(copy.nnets - 1 - at) * sizeof(n));
		copy.nets[at] = n;
	}
	if (!rc && at >= 0 && kind == API_PUT_DRIVE && at < copy.ndrives - 1) {
		struct config_drive d = copy.drives[copy.ndrives - 1];

		memmove(&copy.drives[at + 1], &copy.drives[at],
			(size_t)(copy.ndrives - 1 - at) * sizeof(d));
		copy.drives[at] = d;
	}
	if (rc || api_config_check(&copy, err, sizeof(err))) {
		config_free(&copy);
		api_reply_fault(c->reply, 400, "%s", err);
		return;
	}
	config_free(cur);
	*cur = copy;
	api_no_content(c);
}

void api_put_boot_source(struct api_call *c)
{
	api_config_put(c, API_PUT_BOOT, "boot-source", c->body);
}

void api_put_vsock(struct api_call *c)
{
	api_config_put(c, API_PUT_VSOCK, "vsock", c->body);
}

void api_put_entropy(struct api_call *c)
{
	api_config_put(c, API_PUT_ENTROPY, "entropy", c->body);
}

void api_put_machine_config(struct api_call *c)
{
	api_config_put(c, API_PUT_MACHINE, "machine-config", c->body);
}

/* PATCH: the keys the body leaves out keep their current values. */
void api_patch_machine_config(struct api_call *c)
{
	struct vmm_config *cur = api_preboot_config(c);
	json_t *o;

	if (!cur)
		return;
	o = json_deep_copy(c->body);
	if (!o ||
	    (!json_object_get(o, "vcpu_count") &&
	     json_object_set_new(o, "vcpu_count", json_integer(cur->ncpus))) ||
	    (!json_object_get(o, "mem_size_mib") &&
	     json_object_set_new(o, "mem_size_mib",
				 json_integer(cur->mem_mib)))) {
		json_decref(o);
		api_reply_fault(c->reply, 500, "out of memory");
		return;
	}
	api_config_put(c, API_PUT_MACHINE_PATCH, "machine-config", o);
	json_decref(o);
}

static bool api_drive_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > API_MAX_DRIVE_ID)
		return false;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') ||
		      (*id >= 'A' && *id <= 'Z') ||
		      (*id >= '0' && *id <= '9') || *id == '_' || *id == '-'))
			return false;
	return true;
}

/*
 * PUT /drives/{id} and /network-interfaces/{id}: the id in the path must
 * be well formed and match the body's (idkey) if it has one; then the
 * body is applied as a one-element list under key, like a config file's.
 */
static void api_put_item(struct api_call *c, const char *what,
			 const char *idkey, enum api_put_kind op,
			 const char *key)
{
	json_t *id = json_object_get(c->body, idkey), *list;

	if (!api_drive_id_ok(c->param)) {
		api_reply_fault(c->reply, 400,
				"invalid %s id \"%.64s\": use 1 to %d "
				"letters, digits, '_' or '-'",
				what, c->param, API_MAX_DRIVE_ID);
		return;
	}
	if (json_is_string(id) && strcmp(json_string_value(id), c->param)) {
		api_reply_fault(c->reply, 400,
				"%s \"%.64s\" in the body does not match "
				"the path's \"%s\"",
				idkey, json_string_value(id), c->param);
		return;
	}
	list = json_pack("[O]", c->body);
	if (!list) {
		api_reply_fault(c->reply, 500, "out of memory");
		return;
	}
	api_config_put(c, op, key, list);
	json_decref(list);
}

void api_put_drive(struct api_call *c)
{
	api_put_item(c, "drive", "drive_id", API_PUT_DRIVE, "drives");
}

/* Firecracker's shape (its rate limiters are refused as unknown keys). */
void api_put_net(struct api_call *c)
{
	api_put_item(c, "interface", "iface_id", API_PUT_NET,
		     "network-interfaces");
}

static json_t *api_nets_json(const struct vmm_config *cfg)
{
	json_t *a = json_array();

	for (int i = 0; a && i < cfg->nnets; i++) {
		const struct config_net *n = &cfg->nets[i];
		json_t *v = json_pack("{s:s, s:s}", "iface_id", n->id,
				      "host_dev_name", n->tap);
		char mac[18];

		if (v && n->has_mac) {
			mac_format(n->mac, mac);
			if (json_object_set_new(v, "guest_mac",
						json_string(mac))) {
				json_decref(v);
				v = NULL;
			}
		}
		if (!v || json_array_append_new(a, v)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *api_machine_json(const struct vmm_config *cfg)
{
	/* Firecracker's "None" is "no template": the host's CPUID. */
	return json_pack("{s:I, s:I, s:b, s:s}", "vcpu_count",
			 (json_int_t)cfg->ncpus, "mem_size_mib",
			 (json_int_t)cfg->mem_mib, "smt", cfg->smt,
			 "cpu_template",
			 cfg->cpu_template == CPU_TEMPLATE_HOST
				 ? "None"
				 : cpu_template_name(cfg->cpu_template));
}

static struct vmm_config *api_config_for_get(struct api_call *c)
{
	struct vmm_config *cfg = c->ops->config(c->ctx);

	if (!cfg)
		api_reply_fault(c->reply, 500,
				"%s %s: the VM configuration is not available",
				c->method, c->path);
	return cfg;
}

void api_get_machine_config(struct api_call *c)
{
	struct vmm_config *cfg = api_config_for_get(c);

	if (cfg)
		api_reply_json(c->reply, 200, api_machine_json(cfg));
}

/* Firecracker's FullVmConfiguration, limited to what kiln has. */
void api_get_vm_config(struct api_call *c)
{
	struct vmm_config *cfg = api_config_for_get(c);
	json_t *o, *drives, *v;
	bool oom = false;

	if (!cfg)
		return;
	o = json_object();
	drives = json_array();
	oom = !o || !drives;
	for (int i = 0; !oom && i < cfg->ndrives; i++) {
		const struct config_drive *d = &cfg->drives[i];

		v = json_pack("{s:s, s:s, s:b, s:b}", "drive_id", d->id,
			      "path_on_host", d->path, "is_root_device",
			      d->is_root, "is_read_only", d->read_only);
		if (v && d->overlay_path)
			oom |= json_object_set_new(
				       v, "kiln_overlay_path",
				       json_string(d->overlay_path)) != 0;
		oom |= !v || json_array_append_new(drives, v);
	}
	if (!oom && cfg->kernel_path) {
		v = json_pack("{s:s, s:s}", "kernel_image_path",
			      cfg->kernel_path, "boot_args",
			      config_cmdline(cfg));
		if (v && cfg->initrd_path)
			oom |= json_object_set_new(
				       v, "initrd_path",
				       json_string(cfg->initrd_path)) != 0;
		oom |= !v || json_object_set_new(o, "boot-source", v);
	}
	if (!oom) {
		oom |= json_object_set_new(o, "drives", drives) != 0;
		drives = NULL;
		oom |= json_object_set_new(o, "machine-config",
					   api_machine_json(cfg)) != 0;
	}
	if (!oom && cfg->vsock)
		oom |= json_object_set_new(
			       o, "vsock",
			       json_pack("{s:I, s:s}", "guest_cid",
					 (json_int_t)cfg->vsock_cid, "uds_path",
					 cfg->vsock_uds ? cfg->vsock_uds
							: "")) != 0;
	if (!oom && cfg->rng)
		oom |= json_object_set_new(o, "entropy", json_object()) != 0;
	if (!oom && cfg->nnets)
		oom |= json_object_set_new(o, "network-interfaces",
					   api_nets_json(cfg)) != 0;
	json_decref(drives);
	if (oom) {
		json_decref(o);
		api_reply_fault(c->reply, 500, "out of memory");
		return;
	}
	api_reply_json(c->reply, 200, o);
}
