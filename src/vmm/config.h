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
#define CONFIG_DEFAULT_CPUS 1
#define CONFIG_DEFAULT_MEM_MIB 256
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=t panic=-1"
/* The guest kernel's own limit (x86 COMMAND_LINE_SIZE) minus the NUL. */
#define CONFIG_CMDLINE_MAX 2047

enum console_mode { CONSOLE_STDOUT, CONSOLE_NONE, CONSOLE_FILE };

struct config_drive {
	char *id; /* drive_id, "drive<N>" for --drive */
	char *path;
	bool read_only;
	bool is_root;
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

	enum console_mode console;
	char *console_path; /* CONSOLE_FILE */
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
 * Apply a Firecracker-style JSON document (text) on top of c.  source names
 * it in messages.  Unknown keys are errors.  Does not run config_validate().
 */
int config_parse_json(struct vmm_config *c, const char *text,
		      const char *source, char *err, size_t errlen);

/* Cross-field checks and defaults (root drive first).  0 or -1 with err. */
int config_validate(struct vmm_config *c, char *err, size_t errlen);

/* The effective kernel command line before devices add to it. */
const char *config_cmdline(const struct vmm_config *c);

const char *config_usage(void);

#endif
