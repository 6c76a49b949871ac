/* SPDX-License-Identifier: MIT */
/*
 * Command-line and JSON configuration.  The JSON file follows the shape of
 * Firecracker's --config-file so existing configs mostly carry over; keys
 * kiln does not implement are rejected by name rather than ignored, since a
 * silently ignored rate limiter or network interface is worse than an error.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "vm.h"

static const char usage_text[] =
	"usage: kiln-vmm --kernel PATH [options]\n"
	"       kiln-vmm --config FILE.json [options]\n"
	"\n"
	"Run one microVM on KVM until it powers off.\n"
	"\n"
	"  --kernel PATH            guest kernel: ELF vmlinux or bzImage "
	"(64-bit)\n"
	"  --initrd PATH            initial ramdisk\n"
	"  --cmdline STR            kernel command line\n"
	"                           (default: \"" CONFIG_DEFAULT_CMDLINE "\")\n"
	"  --cpus N                 vCPUs, 1..32 (default 1)\n"
	"  --memory MIB             RAM in MiB, 128..16384 (default 256)\n"
	"  --drive PATH[,ro]        virtio-blk disk; repeat for more; the "
	"first\n"
	"                           is /dev/vda\n"
	"  --vsock-cid N            guest vsock CID (>= 3); needs --vsock-uds\n"
	"  --vsock-uds PATH         Unix socket for host-side vsock "
	"connections\n"
	"  --rng                    virtio-rng entropy device\n"
	"  --console stdout|none|PATH\n"
	"                           where the serial console goes (default "
	"stdout;\n"
	"                           with stdout, stdin is the console input)\n"
	"  --cpu-template host|baseline\n"
	"                           CPUID given to the guest (default host)\n"
	"  --config FILE.json       Firecracker-style config: boot-source, "
	"drives,\n"
	"                           machine-config, vsock, entropy; flags "
	"after it\n"
	"                           override it\n"
	"  --help                   this text\n"
	"\n"
	"Exit status: 0 guest powered off, 1 VMM error, 2 guest reboot,\n"
	"3 guest crash (kernel panic, emulation failure), 4 stopped by a "
	"signal.\n";

const char *config_usage(void)
{
	return usage_text;
}

static int config_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Replace *dst with a copy of src.  0 or -1 (out of memory). */
static int config_set_str(char **dst, const char *src)
{
	char *s = strdup(src);

	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

void config_init(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->ncpus = CONFIG_DEFAULT_CPUS;
	c->mem_mib = CONFIG_DEFAULT_MEM_MIB;
	c->cpu_template = CPU_TEMPLATE_HOST;
	c->console = CONSOLE_STDOUT;
}

void config_free(struct vmm_config *c)
{
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->cmdline);
	free(c->vsock_uds);
	free(c->console_path);
	for (int i = 0; i < c->ndrives; i++) {
		free(c->drives[i].id);
		free(c->drives[i].path);
	}
	config_init(c);
}

const char *config_cmdline(const struct vmm_config *c)
{
	return c->cmdline ? c->cmdline : CONFIG_DEFAULT_CMDLINE;
}

/* Decimal only: "0x10", "-1", "", "12abc" and overflow are all rejected. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int config_add_drive(struct vmm_config *c, const char *id,
			    const char *path, bool read_only, bool is_root,
			    char *err, size_t errlen)
{
	struct config_drive *d;

	if (c->ndrives >= CONFIG_MAX_DRIVES)
		return config_err(err, errlen,
				  "too many drives: at most %d are supported",
				  CONFIG_MAX_DRIVES);
	if (!*path)
		return config_err(err, errlen, "drive %s: empty path", id);
	for (int i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].id, id))
			return config_err(err, errlen,
					  "drive id \"%s\" is used twice", id);
	d = &c->drives[c->ndrives];
	memset(d, 0, sizeof(*d));
	if (config_set_str(&d->id, id) || config_set_str(&d->path, path)) {
		free(d->id);
		free(d->path);
		return config_err(err, errlen, "out of memory");
	}
	d->read_only = read_only;
	d->is_root = is_root;
	c->ndrives++;
	return 0;
}

/* --drive PATH[,ro|,rw]: the option is whatever follows the last comma. */
static int config_parse_drive(struct vmm_config *c, const char *arg, char *err,
			      size_t errlen)
{
	const char *comma = strrchr(arg, ',');
	bool ro = false;
	char id[32];
	char *path;
	int rc;

	if (comma) {
		if (!strcmp(comma + 1, "ro"))
			ro = true;
		else if (strcmp(comma + 1, "rw"))
			return config_err(
				err, errlen,
				"--drive %s: unknown option \"%s\" (expected "
				"PATH, PATH,ro or PATH,rw)",
				arg, comma + 1);
		path = strndup(arg, (size_t)(comma - arg));
	} else {
		path = strdup(arg);
	}
	if (!path)
		return config_err(err, errlen, "out of memory");
	snprintf(id, sizeof(id), "drive%d", c->ndrives);
	rc = config_add_drive(c, id, path, ro, false, err, errlen);
	free(path);
	return rc;
}

static int config_load_file(struct vmm_config *c, const char *path, char *err,
			    size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!f)
		return config_err(err, errlen, "cannot open config %s: %s",
				  path, strerror(errno));
	{
		/* Config files are small; cap them so a wrong path (a disk
		 * image, /dev/zero) fails fast instead of eating memory. */
		const size_t cap = 1 << 20;

		text = malloc(cap + 1);
		if (!text) {
			fclose(f);
			return config_err(err, errlen, "out of memory");
		}
		len = fread(text, 1, cap + 1, f);
		if (ferror(f)) {
			rc = config_err(err, errlen,
					"cannot read config %s: %s", path,
					strerror(errno));
			goto out;
		}
		if (len > cap) {
			rc = config_err(err, errlen,
					"config %s is larger than 1 MiB", path);
			goto out;
		}
		text[len] = '\0';
	}
	rc = config_parse_json(c, text, path, err, errlen);
out:
	free(text);
	fclose(f);
	return rc;
}

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
	};
	size_t i;
	json_t *d;

	if (!json_is_array(a))
		return config_err(err, errlen, "%s: drives must be an array",
				  src);
	json_array_foreach(a, i, d)
	{
		const char *id, *path;
		int is_root, ro = 0;
		json_error_t je;

		if (json_unpack_ex(d, &je, JSON_STRICT, "{s:s, s:s, s:b, s?b}",
				   "drive_id", &id, "path_on_host", &path,
				   "is_root_device", &is_root, "is_read_only",
				   &ro)) {
			char where[32];

			snprintf(where, sizeof(where), "drives[%zu]", i);
			return config_json_explain(d, fields, NFIELDS(fields),
						   src, where, &je, err,
						   errlen);
		}
		if (config_add_drive(c, id, path, ro, is_root, err, errlen)) {
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

int config_parse_json(struct vmm_config *c, const char *text,
		      const char *source, char *err, size_t errlen)
{
	json_t *root, *boot = NULL, *drives = NULL, *machine = NULL;
	json_t *vsock = NULL, *entropy = NULL;
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
	if (json_unpack_ex(root, &je, JSON_STRICT, "{s?o, s?o, s?o, s?o, s?o}",
			   "boot-source", &boot, "drives", &drives,
			   "machine-config", &machine, "vsock", &vsock,
			   "entropy", &entropy)) {
		static const struct json_field fields[] = {
			{"boot-source", JSON_OBJECT, false},
			{"drives", JSON_ARRAY, false},
			{"machine-config", JSON_OBJECT, false},
			{"vsock", JSON_OBJECT, false},
			{"entropy", JSON_OBJECT, false},
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

static bool cmdline_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

int config_validate(struct vmm_config *c, char *err, size_t errlen)
{
	const char *cmd = config_cmdline(c);
	int nroot = 0, ndev;

	if (!c->kernel_path || !*c->kernel_path)
		return config_err(err, errlen,
				  "no kernel given: use --kernel PATH or "
				  "boot-source.kernel_image_path in --config");
	if (c->ncpus < 1 || c->ncpus > VM_MAX_VCPUS)
		return config_err(err, errlen,
				  "%u vCPUs: must be between 1 and %d",
				  c->ncpus, VM_MAX_VCPUS);
	if (c->mem_mib < VM_MIN_MEM_MIB || c->mem_mib > VM_MAX_MEM_MIB)
		return config_err(err, errlen,
				  "%u MiB of memory: must be between %d and %d",
				  c->mem_mib, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
	if (c->smt && c->ncpus > 1 && c->ncpus % 2)
		return config_err(err, errlen,
				  "smt needs an even vCPU count (got %u)",
				  c->ncpus);
	if (strlen(cmd) > CONFIG_CMDLINE_MAX || !cmdline_printable(cmd))
		return config_err(err, errlen,
				  "the kernel command line must be at most %d "
				  "printable ASCII characters",
				  CONFIG_CMDLINE_MAX);
	if (c->initrd_path && !*c->initrd_path)
		return config_err(err, errlen, "empty initrd path");
	if (c->vsock) {
		if (!c->vsock_uds || !*c->vsock_uds)
			return config_err(err, errlen,
					  "--vsock-cid needs --vsock-uds PATH");
		if (strlen(c->vsock_uds) >=
		    sizeof(((struct sockaddr_un *)0)->sun_path))
			return config_err(
				err, errlen,
				"vsock socket path %s is too long "
				"for a Unix socket (max %zu bytes)",
				c->vsock_uds,
				sizeof(((struct sockaddr_un *)0)->sun_path) -
					1);
	} else if (c->vsock_uds) {
		return config_err(err, errlen,
				  "--vsock-uds needs --vsock-cid N");
	}
	if (c->console == CONSOLE_FILE &&
	    (!c->console_path || !*c->console_path))
		return config_err(err, errlen, "empty console path");

	for (int i = 0; i < c->ndrives; i++)
		nroot += c->drives[i].is_root;
	if (nroot > 1)
		return config_err(err, errlen,
				  "%d drives are marked is_root_device; at "
				  "most one may be",
				  nroot);
	/* The root drive becomes /dev/vda: move it first, keep the order of
	 * the others. */
	for (int i = 1; i < c->ndrives; i++) {
		if (c->drives[i].is_root) {
			struct config_drive root = c->drives[i];

			memmove(&c->drives[1], &c->drives[0],
				(size_t)i * sizeof(c->drives[0]));
			c->drives[0] = root;
			break;
		}
	}
	ndev = c->ndrives + (c->rng ? 1 : 0) + (c->vsock ? 1 : 0);
	if (ndev > VM_VIRTIO_GSI_MAX - VM_VIRTIO_GSI_BASE + 1)
		return config_err(err, errlen,
				  "%d virtio devices: at most %d fit", ndev,
				  VM_VIRTIO_GSI_MAX - VM_VIRTIO_GSI_BASE + 1);
	return 0;
}

/* Flags that take a value, and what they do with it. */
static int config_apply_flag(struct vmm_config *c, const char *flag,
			     const char *val, char *err, size_t errlen)
{
	uint64_t n;

	if (!strcmp(flag, "--kernel") || !strcmp(flag, "--initrd") ||
	    !strcmp(flag, "--cmdline") || !strcmp(flag, "--vsock-uds")) {
		char **dst = !strcmp(flag, "--kernel")	  ? &c->kernel_path
			     : !strcmp(flag, "--initrd")  ? &c->initrd_path
			     : !strcmp(flag, "--cmdline") ? &c->cmdline
							  : &c->vsock_uds;

		if (!*val)
			return config_err(err, errlen, "%s: empty value", flag);
		if (config_set_str(dst, val))
			return config_err(err, errlen, "out of memory");
		return 0;
	}
	if (!strcmp(flag, "--cpus")) {
		if (parse_u64(val, 1, VM_MAX_VCPUS, &n))
			return config_err(err, errlen,
					  "--cpus %s: must be a number between "
					  "1 and %d",
					  val, VM_MAX_VCPUS);
		c->ncpus = (unsigned int)n;
		return 0;
	}
	if (!strcmp(flag, "--memory")) {
		if (parse_u64(val, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB, &n))
			return config_err(
				err, errlen,
				"--memory %s: must be a number of MiB "
				"between %d and %d",
				val, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
		c->mem_mib = (unsigned int)n;
		return 0;
	}
	if (!strcmp(flag, "--drive"))
		return config_parse_drive(c, val, err, errlen);
	if (!strcmp(flag, "--vsock-cid")) {
		if (parse_u64(val, 3, UINT32_MAX, &n))
			return config_err(err, errlen,
					  "--vsock-cid %s: must be a number "
					  "between 3 and %u (0-2 are reserved)",
					  val, UINT32_MAX);
		c->vsock = true;
		c->vsock_cid = n;
		return 0;
	}
	if (!strcmp(flag, "--console")) {
		if (!strcmp(val, "stdout")) {
			c->console = CONSOLE_STDOUT;
		} else if (!strcmp(val, "none")) {
			c->console = CONSOLE_NONE;
		} else {
			if (!*val)
				return config_err(err, errlen,
						  "--console: empty path");
			if (config_set_str(&c->console_path, val))
				return config_err(err, errlen, "out of memory");
			c->console = CONSOLE_FILE;
		}
		return 0;
	}
	if (!strcmp(flag, "--cpu-template")) {
		if (cpu_template_from_name(val, &c->cpu_template))
			return config_err(err, errlen,
					  "--cpu-template %s: expected host or "
					  "baseline",
					  val);
		return 0;
	}
	if (!strcmp(flag, "--config"))
		return config_load_file(c, val, err, errlen);
	return config_err(err, errlen, "unknown option %s (see --help)", flag);
}

static const char *const value_flags[] = {
	"--kernel",  "--initrd",       "--cmdline",   "--cpus",
	"--memory",  "--drive",	       "--vsock-cid", "--vsock-uds",
	"--console", "--cpu-template", "--config",
};

static bool flag_takes_value(const char *flag)
{
	for (size_t i = 0; i < sizeof(value_flags) / sizeof(value_flags[0]);
	     i++)
		if (!strcmp(flag, value_flags[i]))
			return true;
	return false;
}

enum config_result config_parse_args(struct vmm_config *c, int argc,
				     char *const argv[], char *err,
				     size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *val;
		char flag[32];

		if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
			return CONFIG_HELP;
		if (!strcmp(arg, "--rng")) {
			c->rng = true;
			continue;
		}
		if (strncmp(arg, "--", 2)) {
			config_err(err, errlen,
				   "unexpected argument \"%s\" (see --help)",
				   arg);
			return CONFIG_ERROR;
		}
		/* --flag=value or --flag value */
		eq = strchr(arg, '=');
		if (eq) {
			size_t n = (size_t)(eq - arg);

			/* Longer than any flag: copy a prefix, it won't match.
			 */
			if (n >= sizeof(flag))
				n = sizeof(flag) - 1;
			memcpy(flag, arg, n);
			flag[n] = '\0';
			val = eq + 1;
		} else {
			snprintf(flag, sizeof(flag), "%s", arg);
			val = NULL;
		}
		if (!flag_takes_value(flag)) {
			int n = eq ? (int)(eq - arg) : (int)strlen(arg);

			config_err(err, errlen,
				   "unknown option %.*s (see --help)", n, arg);
			return CONFIG_ERROR;
		}
		if (!val) {
			if (i + 1 >= argc) {
				config_err(err, errlen, "%s needs a value",
					   flag);
				return CONFIG_ERROR;
			}
			val = argv[++i];
		}
		if (config_apply_flag(c, flag, val, err, errlen))
			return CONFIG_ERROR;
	}
	if (config_validate(c, err, errlen))
		return CONFIG_ERROR;
	return CONFIG_OK;
}
