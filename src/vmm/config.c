/* SPDX-License-Identifier: MIT */
/*
 * Command-line and JSON configuration.  The JSON file follows the shape of
 * Firecracker's --config-file so existing configs mostly carry over; keys
 * kiln does not implement are rejected by name rather than ignored, since a
 * silently ignored rate limiter or MMDS setting is worse than an error.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "config_priv.h"
#include "vm.h"

static const char usage_text[] =
	"usage: kiln-vmm --kernel PATH [options]\n"
	"       kiln-vmm --config FILE.json [options]\n"
	"       kiln-vmm --restore STATE --restore-mem MEM [options]\n"
	"       kiln-vmm --api-sock PATH [options]\n"
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
	"  --drive PATH[,ro|,rw][,overlay=OVL]\n"
	"                           virtio-blk disk; repeat for more; the "
	"first\n"
	"                           is /dev/vda; with overlay=OVL, PATH is a\n"
	"                           read-only base and writes go to the "
	"copy-on-\n"
	"                           write file OVL (created if missing; OVL\n"
	"                           may not contain ',')\n"
	"  --vsock-cid N            guest vsock CID (>= 3); needs --vsock-uds\n"
	"  --vsock-uds PATH         Unix socket for host-side vsock "
	"connections\n"
	"  --rng                    virtio-rng entropy device\n"
	"  --net TAP[,mac=MAC][,id=ID]\n"
	"                           virtio-net on the host TAP interface TAP "
	"(up\n"
	"                           to 4; id defaults to eth0, eth1, ...);\n"
	"                           TAP \"none\": disconnected (TX dropped, "
	"no RX,\n"
	"                           link down) until a restore connects it\n"
	"  --console stdout|none|PATH\n"
	"                           where the serial console goes (default "
	"stdout;\n"
	"                           with stdout, stdin is the console input)\n"
	"  --cpu-template host|baseline\n"
	"                           CPUID given to the guest (default host)\n"
	"  --config FILE.json       Firecracker-style config: boot-source, "
	"drives,\n"
	"                           machine-config, vsock, entropy,\n"
	"                           network-interfaces; flags after it "
	"override it\n"
	"  --api-sock PATH          serve Firecracker's REST API on this Unix\n"
	"                           socket; without --kernel/--restore, wait "
	"for\n"
	"                           the configuration (or a snapshot load)\n"
	"  --restore STATE          restore a snapshot instead of booting "
	"(needs\n"
	"                           --restore-mem; --vsock-uds, --console and\n"
	"                           --drive-override, --net-override replace "
	"saved\n"
	"                           settings)\n"
	"  --restore-mem MEM        the snapshot's memory file (mapped "
	"private)\n"
	"  --drive-override ID=PATH use PATH for drive ID of the snapshot; "
	"for an\n"
	"                           overlay drive PATH replaces the overlay "
	"(the\n"
	"                           base stays and must be unchanged)\n"
	"  --net-override ID=TAP    use TAP for network interface ID of the "
	"snapshot\n"
	"                           (ID=none: restore it disconnected)\n"
	"  --paused                 restore without starting the vCPUs\n"
	"  --track-dirty            log dirty pages (for diff snapshots)\n"
	"  --no-seccomp             do not install the syscall filters "
	"(debugging only)\n"
	"  --seccomp-log            log forbidden syscalls instead of "
	"killing the VMM\n"
	"  --help                   this text\n"
	"\n"
	"Exit status: 0 guest powered off, 1 VMM error, 2 guest reboot,\n"
	"3 guest crash (kernel panic, emulation failure), 4 stopped by a "
	"signal.\n";

const char *config_usage(void)
{
	return usage_text;
}

int config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Replace *dst with a copy of src.  0 or -1 (out of memory). */
int config_set_str(char **dst, const char *src)
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
		free(c->drives[i].overlay_path);
	}
	for (int i = 0; i < c->nnets; i++)
		config_free_net(&c->nets[i]);
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
	ndev = c->ndrives + (c->rng ? 1 : 0) + (c->vsock ? 1 : 0) + c->nnets;
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
	if (!strcmp(flag, "--net"))
		return config_parse_net(c, val, err, errlen);
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
	"--console", "--cpu-template", "--config",    "--net",
};

static const char *const launch_value_flags[] = {
	"--api-sock",	    "--restore",      "--restore-mem",
	"--drive-override", "--net-override",
};

static bool flag_in(const char *flag, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(flag, list[i]))
			return true;
	return false;
}

static bool flag_takes_value(const char *flag, bool launch)
{
	return flag_in(flag, value_flags,
		       sizeof(value_flags) / sizeof(value_flags[0])) ||
	       (launch && flag_in(flag, launch_value_flags,
				  sizeof(launch_value_flags) /
					  sizeof(launch_value_flags[0])));
}

/* A launch flag with its value; 1 if flag is not one. */
static int config_apply_launch(struct vmm_config *c, struct vmm_launch *l,
			       const char *flag, const char *val, char *err,
			       size_t errlen)
{
	if (!strcmp(flag, "--console"))
		l->console_set = true;
	if (!strcmp(flag, "--vsock-uds"))
		l->vsock_uds_set = true;
	if (!strcmp(flag, "--drive-override"))
		return config_drive_override(l, val, err, errlen);
	if (!strcmp(flag, "--net-override"))
		return config_net_override(l, val, err, errlen);
	if (!strcmp(flag, "--api-sock") || !strcmp(flag, "--restore") ||
	    !strcmp(flag, "--restore-mem")) {
		const char **dst = !strcmp(flag, "--api-sock") ? &l->api_sock
				   : !strcmp(flag, "--restore")
					   ? &l->restore_path
					   : &l->restore_mem;

		if (!*val)
			return config_err(err, errlen, "%s: empty value", flag);
		*dst = val;
		return 0;
	}
	(void)c;
	return 1;
}

/* What a launch needs beyond config_validate(). */
static int config_validate_launch(struct vmm_config *c, struct vmm_launch *l,
				  char *err, size_t errlen)
{
	if (l->restore_path) {
		if (!l->restore_mem)
			return config_err(err, errlen,
					  "--restore needs --restore-mem MEM "
					  "(the snapshot's memory file)");
		if (c->kernel_path || c->initrd_path || c->ndrives || c->nnets)
			return config_err(err, errlen,
					  "--restore takes the VM from the "
					  "snapshot: drop --kernel, --initrd, "
					  "--drive and --net (use "
					  "--drive-override ID=PATH to move a "
					  "drive, --net-override ID=TAP for an "
					  "interface)");
		if (c->cmdline || c->vsock || c->rng ||
		    c->ncpus != CONFIG_DEFAULT_CPUS ||
		    c->mem_mib != CONFIG_DEFAULT_MEM_MIB ||
		    c->cpu_template != CPU_TEMPLATE_HOST)
			return config_err(err, errlen,
					  "--restore takes the command line, "
					  "vCPUs, memory, CPU template and "
					  "devices from the snapshot; only "
					  "--vsock-uds, --console and "
					  "--drive-override change it");
		if (c->vsock_uds &&
		    strlen(c->vsock_uds) >=
			    sizeof(((struct sockaddr_un *)0)->sun_path))
			return config_err(err, errlen,
					  "vsock socket path %s is too long",
					  c->vsock_uds);
		return 0;
	}
	if (l->restore_mem || l->ndrive_overrides || l->nnet_overrides ||
	    l->paused)
		return config_err(err, errlen,
				  "--restore-mem, --drive-override, "
				  "--net-override and --paused only go with "
				  "--restore STATE");
	if (l->api_sock && !c->kernel_path)
		return 0; /* configured later through the API */
	return config_validate(c, err, errlen);
}

static enum config_result config_parse(struct vmm_config *c,
				       struct vmm_launch *l, int argc,
				       char *const argv[], char *err,
				       size_t errlen);

enum config_result config_parse_args(struct vmm_config *c, int argc,
				     char *const argv[], char *err,
				     size_t errlen)
{
	return config_parse(c, NULL, argc, argv, err, errlen);
}

enum config_result config_parse_launch(struct vmm_config *c,
				       struct vmm_launch *l, int argc,
				       char *const argv[], char *err,
				       size_t errlen)
{
	memset(l, 0, sizeof(*l));
	return config_parse(c, l, argc, argv, err, errlen);
}

static enum config_result config_parse(struct vmm_config *c,
				       struct vmm_launch *l, int argc,
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
		if (l && !strcmp(arg, "--paused")) {
			l->paused = true;
			continue;
		}
		if (l && !strcmp(arg, "--track-dirty")) {
			l->track_dirty = true;
			continue;
		}
		if (l && !strcmp(arg, "--no-seccomp")) {
			l->no_seccomp = true;
			continue;
		}
		if (l && !strcmp(arg, "--seccomp-log")) {
			l->seccomp_log = true;
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
		if (!flag_takes_value(flag, l != NULL)) {
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
		if (l) {
			int rc = config_apply_launch(c, l, flag, val, err,
						     errlen);

			if (rc < 0)
				return CONFIG_ERROR;
			if (rc == 0)
				continue;
		}
		if (config_apply_flag(c, flag, val, err, errlen))
			return CONFIG_ERROR;
	}
	if (l ? config_validate_launch(c, l, err, errlen)
	      : config_validate(c, err, errlen))
		return CONFIG_ERROR;
	return CONFIG_OK;
}
