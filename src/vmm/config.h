/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm configuration: command-line flags and a Firecracker-shaped JSON
 * file (--config).  Parsing is pure: nothing here touches KVM or prints;
 * errors come back as one message in a caller buffer.
 */
#ifndef KILN_VMM_CONFIG_H
#define KILN_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpuid.h"

#define CONFIG_MAX_DRIVES 16
#define CONFIG_MAX_NETS 4
/* Linux interface names: IFNAMSIZ - 1. */
#define CONFIG_IFNAME_MAX 15
/* The TAP name of a disconnected interface (--net none, --net-override
 * ID=none, "host_dev_name": "none"). */
#define CONFIG_NET_NONE "none"
#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_DEFAULT_MEM_MIB 256
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=t panic=-1"
/* The guest kernel's own limit (x86 COMMAND_LINE_SIZE) minus the NUL. */
#define CONFIG_CMDLINE_MAX 2047

enum console_mode { CONSOLE_STDOUT, CONSOLE_NONE, CONSOLE_FILE };

struct config_drive {
	char *id; /* drive_id, "drive<N>" for --drive */
	char *path; /* the image; with overlay_path, the read-only base */
	bool read_only;
	bool is_root;
	/* kiln extension: copy-on-write overlay file over path (created if
	 * missing); NULL: the guest writes path itself. */
	char *overlay_path;
};

struct config_net {
	char *id; /* iface_id, "eth<N>" for --net */
	char *tap; /* host_dev_name: the host TAP, or "none" (disconnected) */
	bool has_mac; /* false: the guest picks its own address */
	uint8_t mac[6];
};

struct vmm_config {
	char *kernel_path;
	char *initrd_path; /* NULL: none */
	char *cmdline; /* NULL: CONFIG_DEFAULT_CMDLINE */
	unsigned int ncpus;
	unsigned int mem_mib;
	bool smt;
	enum cpu_template cpu_template;

	int ndrives; /* the root drive, if any, is drives[0] after parsing */
	struct config_drive drives[CONFIG_MAX_DRIVES];

	bool vsock;
	uint64_t vsock_cid;
	char *vsock_uds;

	bool rng;

	/* virtio-net, created after every other virtio device (so a VM
	 * without one keeps the MMIO layout of older snapshots). */
	int nnets;
	struct config_net nets[CONFIG_MAX_NETS];

	enum console_mode console;
	char *console_path; /* CONSOLE_FILE */
};

/*
 * How this kiln-vmm process starts, beyond the VM configuration: the API
 * socket, a snapshot to restore and its overrides.  Not part of struct
 * vmm_config (which the API copies and edits); the strings point into argv
 * and are not owned.
 */
struct config_drive_override {
	const char *id, *path;
};

/* Does override o (its id runs up to '=') name drive (or interface) id? */
bool config_override_matches(const struct config_drive_override *o,
			     const char *id);

struct vmm_launch {
	const char *api_sock; /* --api-sock */
	const char *restore_path; /* --restore STATE */
	const char *restore_mem; /* --restore-mem MEM */
	int ndrive_overrides; /* --drive-override ID=PATH */
	struct config_drive_override drive_overrides[CONFIG_MAX_DRIVES];
	int nnet_overrides; /* --net-override ID=TAP (path = the TAP) */
	struct config_drive_override net_overrides[CONFIG_MAX_NETS];
	bool paused; /* --paused: restore without running the vCPUs */
	bool track_dirty; /* --track-dirty: log dirty pages (diffs) */
	bool no_seccomp; /* --no-seccomp: no syscall filters (debugging) */
	bool seccomp_log; /* --seccomp-log: log forbidden calls, allow them */
	bool console_set; /* --console was given */
	bool vsock_uds_set; /* --vsock-uds was given (a restore override) */
};

enum config_result {
	CONFIG_OK = 0,
	CONFIG_HELP = 1, /* --help: print config_usage() and exit 0 */
	CONFIG_ERROR = -1, /* message in err */
};

void config_init(struct vmm_config *c);
void config_free(struct vmm_config *c);

/*
 * Parse argv (argv[0] is the program).  Flags apply in order; --config FILE
 * applies the file at its position, so later flags override it and drives
 * accumulate.  On CONFIG_OK the result has been validated.
 */
enum config_result config_parse_args(struct vmm_config *c, int argc,
				     char *const argv[], char *err,
				     size_t errlen);

/*
 * The whole kiln-vmm command line: config_parse_args plus the launch flags
 * (--api-sock, --restore, --restore-mem, --drive-override, --paused,
 * --track-dirty).  With --restore no kernel is needed (the configuration
 * comes from the snapshot; --vsock-uds, --console and --drive-override
 * change it); with --api-sock and no --kernel the configuration may come
 * later through the API, so only the flags themselves are checked.
 */
enum config_result config_parse_launch(struct vmm_config *c,
				       struct vmm_launch *l, int argc,
				       char *const argv[], char *err,
				       size_t errlen);

/*
 * Apply a Firecracker-style JSON document (text) on top of c.  source names
 * it in messages.  Unknown keys are errors.  Does not run config_validate().
 */
int config_parse_json(struct vmm_config *c, const char *text,
		      const char *source, char *err, size_t errlen);

/* Cross-field checks and defaults (root drive first).  0 or -1 with err. */
int config_validate(struct vmm_config *c, char *err, size_t errlen);

/* True if tap is CONFIG_NET_NONE: a disconnected interface. */
bool config_net_is_none(const char *tap);
/* Free one interface's strings (config_free does all of them). */
void config_free_net(struct config_net *n);

/* The effective kernel command line before devices add to it. */
const char *config_cmdline(const struct vmm_config *c);

const char *config_usage(void);

#endif
