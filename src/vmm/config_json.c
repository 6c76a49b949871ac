/* SPDX-License-Identifier: MIT */
/*
 * The Firecracker-shaped JSON configuration (--config FILE, see config.h):
 * strict unpacking with jansson; keys kiln does not implement are rejected
 * by name.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_priv.h"
#include "vm.h"

/*
 * Field lists of each JSON object, used to turn a failed strict unpack into
 * a message that names the key (jansson's own text does not always).
 */
struct json_field {
	const char *key;
	json_type type; /* JSON_TRUE stands for any boolean */
	bool required;
};

static const char *json_type_word(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_TRUE:
	case JSON_FALSE:
		return "true or false";
	default:
		return "a value of another type";
	}
}

static bool json_field_type_ok(json_t *v, json_type t)
{
	if (t == JSON_TRUE)
		return json_is_boolean(v);
	return json_typeof(v) == t;
}

static int config_json_explain(json_t *o, const struct json_field *f, int n,
			       const char *src, const char *where,
			       const json_error_t *je, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return config_err(err, errlen, "%s: %s must be an object", src,
				  where);
	json_object_foreach(o, key, v)
	{
		bool known = false;

		for (int i = 0; i < n; i++)
			known |= !strcmp(key, f[i].key);
		if (!known)
			return config_err(err, errlen,
					  "%s: unknown key \"%s\" in %s", src,
					  key, where);
	}
	for (int i = 0; i < n; i++) {
		v = json_object_get(o, f[i].key);
		if (!v && f[i].required)
			return config_err(err, errlen, "%s: %s needs \"%s\"",
					  src, where, f[i].key);
		if (v && !json_field_type_ok(v, f[i].type))
			return config_err(err, errlen, "%s: %s.%s must be %s",
					  src, where, f[i].key,
					  json_type_word(f[i].type));
	}
	return config_err(err, errlen, "%s: %s: %s", src, where, je->text);
}

#define NFIELDS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int config_json_boot(struct vmm_config *c, json_t *o, const char *src,
			    char *err, size_t errlen)
{
	const char *kernel = NULL, *args = NULL, *initrd = NULL;
	json_error_t je;

	static const struct json_field fields[] = {
		{"kernel_image_path", JSON_STRING, true},
		{"boot_args", JSON_STRING, false},
		{"initrd_path", JSON_STRING, false},
	};

	if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s?s, s?s}",
			   "kernel_image_path", &kernel, "boot_args", &args,
			   "initrd_path", &initrd))
		return config_json_explain(o, fields, NFIELDS(fields), src,
					   "boot-source", &je, err, errlen);
	if (config_set_str(&c->kernel_path, kernel) ||
	    (args && config_set_str(&c->cmdline, args)) ||
	    (initrd && config_set_str(&c->initrd_path, initrd)))
		return config_err(err, errlen, "out of memory");
	return 0;
}

static int config_json_drives(struct vmm_config *c, json_t *a, const char *src,
			      char *err, size_t errlen)
{
	static const struct json_field fields[] = {
		{"drive_id", JSON_STRING, true},
		{"path_on_host", JSON_STRING, true},
		{"is_root_device", JSON_TRUE, true},
		{"is_read_only", JSON_TRUE, false},
		/* kiln extension: copy-on-write overlay over path_on_host */
		{"kiln_overlay_path", JSON_STRING, false},
	};
	size_t i;
	json_t *d;

	if (!json_is_array(a))
		return config_err(err, errlen, "%s: drives must be an array",
				  src);
	json_array_foreach(a, i, d)
	{
		const char *id, *path, *overlay = NULL;
		int is_root, ro = 0;
		json_error_t je;

		if (json_unpack_ex(d, &je, JSON_STRICT,
				   "{s:s, s:s, s:b, s?b, s?s}", "drive_id", &id,
				   "path_on_host", &path, "is_root_device",
				   &is_root, "is_read_only", &ro,
				   "kiln_overlay_path", &overlay)) {
			char where[32];

			snprintf(where, sizeof(where), "drives[%zu]", i);
			return config_json_explain(d, fields, NFIELDS(fields),
						   src, where, &je, err,
						   errlen);
		}
		if (config_add_drive(c, id, path, overlay, ro, is_root, err,
				     errlen)) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", err);
			return config_err(err, errlen, "%s: drives[%zu]: %s",
					  src, i, msg);
		}
	}
	return 0;
}

static int config_json_machine(struct vmm_config *c, json_t *o, const char *src,
			       char *err, size_t errlen)
{
	json_int_t ncpus, mem;
	int smt = c->smt;
	const char *tmpl = NULL;
	json_error_t je;

	static const struct json_field fields[] = {
		{"vcpu_count", JSON_INTEGER, true},
		{"mem_size_mib", JSON_INTEGER, true},
		{"smt", JSON_TRUE, false},
		{"cpu_template", JSON_STRING, false},
	};

	if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I, s:I, s?b, s?s}",
			   "vcpu_count", &ncpus, "mem_size_mib", &mem, "smt",
			   &smt, "cpu_template", &tmpl))
		return config_json_explain(o, fields, NFIELDS(fields), src,
					   "machine-config", &je, err, errlen);
	if (ncpus < 1 || ncpus > VM_MAX_VCPUS)
		return config_err(
			err, errlen,
			"%s: machine-config: vcpu_count %lld: must be "
			"between 1 and %d",
			src, (long long)ncpus, VM_MAX_VCPUS);
	if (mem < VM_MIN_MEM_MIB || mem > VM_MAX_MEM_MIB)
		return config_err(err, errlen,
				  "%s: machine-config: mem_size_mib %lld: must "
				  "be between %d and %d",
				  src, (long long)mem, VM_MIN_MEM_MIB,
				  VM_MAX_MEM_MIB);
	/* Firecracker's "None" means "no template": our host template. */
	if (tmpl && strcmp(tmpl, "None") &&
	    cpu_template_from_name(tmpl, &c->cpu_template))
		return config_err(err, errlen,
				  "%s: machine-config: cpu_template \"%s\": "
				  "expected \"host\" or \"baseline\"",
				  src, tmpl);
	if (tmpl && !strcmp(tmpl, "None"))
		c->cpu_template = CPU_TEMPLATE_HOST;
	c->ncpus = (unsigned int)ncpus;
	c->mem_mib = (unsigned int)mem;
	c->smt = smt;
	return 0;
}

static int config_json_vsock(struct vmm_config *c, json_t *o, const char *src,
			     char *err, size_t errlen)
{
	json_int_t cid;
	const char *uds, *id = NULL;
	json_error_t je;

	static const struct json_field fields[] = {
		{"guest_cid", JSON_INTEGER, true},
		{"uds_path", JSON_STRING, true},
		{"vsock_id", JSON_STRING, false},
	};

	if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I, s:s, s?s}", "guest_cid",
			   &cid, "uds_path", &uds, "vsock_id", &id))
		return config_json_explain(o, fields, NFIELDS(fields), src,
					   "vsock", &je, err, errlen);
	if (cid < 3 || cid > UINT32_MAX)
		return config_err(err, errlen,
				  "%s: vsock: guest_cid %lld: must be between "
				  "3 and %u (0-2 are reserved)",
				  src, (long long)cid, UINT32_MAX);
	if (config_set_str(&c->vsock_uds, uds))
		return config_err(err, errlen, "out of memory");
	c->vsock = true;
	c->vsock_cid = (uint64_t)cid;
	return 0;
}

/* Firecracker's network-interfaces; its rate limiters are refused (unknown
 * keys). */
static int config_json_nets(struct vmm_config *c, json_t *a, const char *src,
			    char *err, size_t errlen)
{
	static const struct json_field fields[] = {
		{"iface_id", JSON_STRING, true},
		{"host_dev_name", JSON_STRING, true},
		{"guest_mac", JSON_STRING, false},
	};
	size_t i;
	json_t *n;

	if (!json_is_array(a))
		return config_err(err, errlen,
				  "%s: network-interfaces must be an array",
				  src);
	json_array_foreach(a, i, n)
	{
		const char *id, *tap, *mac = NULL;
		json_error_t je;
		char where[48];

		snprintf(where, sizeof(where), "network-interfaces[%zu]", i);
		if (json_unpack_ex(n, &je, JSON_STRICT, "{s:s, s:s, s?s}",
				   "iface_id", &id, "host_dev_name", &tap,
				   "guest_mac", &mac))
			return config_json_explain(n, fields, NFIELDS(fields),
						   src, where, &je, err,
						   errlen);
		if (config_add_net(c, id, tap, mac, err, errlen)) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", err);
			return config_err(err, errlen, "%s: %s: %s", src, where,
					  msg);
		}
	}
	return 0;
}

int config_parse_json(struct vmm_config *c, const char *text,
		      const char *source, char *err, size_t errlen)
{
	json_t *root, *boot = NULL, *drives = NULL, *machine = NULL;
	json_t *vsock = NULL, *entropy = NULL, *nets = NULL;
	json_error_t je;
	int rc = -1;

	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return config_err(err, errlen, "%s:%d:%d: invalid JSON: %s",
				  source, je.line, je.column, je.text);
	if (!json_is_object(root)) {
		config_err(err, errlen, "%s: the top level must be an object",
			   source);
		goto out;
	}
	if (json_unpack_ex(root, &je, JSON_STRICT,
			   "{s?o, s?o, s?o, s?o, s?o, s?o}", "boot-source",
			   &boot, "drives", &drives, "machine-config", &machine,
			   "vsock", &vsock, "entropy", &entropy,
			   "network-interfaces", &nets)) {
		static const struct json_field fields[] = {
			{"boot-source", JSON_OBJECT, false},
			{"drives", JSON_ARRAY, false},
			{"machine-config", JSON_OBJECT, false},
			{"vsock", JSON_OBJECT, false},
			{"entropy", JSON_OBJECT, false},
			{"network-interfaces", JSON_ARRAY, false},
		};

		config_json_explain(root, fields, NFIELDS(fields), source,
				    "the top level", &je, err, errlen);
		goto out;
	}
	if (boot && config_json_boot(c, boot, source, err, errlen))
		goto out;
	if (drives && config_json_drives(c, drives, source, err, errlen))
		goto out;
	if (machine && config_json_machine(c, machine, source, err, errlen))
		goto out;
	if (vsock && config_json_vsock(c, vsock, source, err, errlen))
		goto out;
	if (nets && config_json_nets(c, nets, source, err, errlen))
		goto out;
	if (entropy) {
		/* Firecracker's entropy device; its rate_limiter is not
		 * implemented, so only {} is accepted. */
		if (json_unpack_ex(entropy, &je, JSON_STRICT, "{}")) {
			config_json_explain(entropy, NULL, 0, source, "entropy",
					    &je, err, errlen);
			goto out;
		}
		c->rng = true;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
