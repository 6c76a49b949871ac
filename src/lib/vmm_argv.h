/* SPDX-License-Identifier: MIT */
/*
 * The kiln-vmm command line libkiln starts a sandbox with (the flags are
 * described in docs/ARCHITECTURE.md and `kiln-vmm --help`).
 */
#ifndef KILN_LIB_VMM_ARGV_H
#define KILN_LIB_VMM_ARGV_H

#include <stddef.h>

/* Kernel command line every sandbox starts with (TEAM conventions). */
#define VMM_CMDLINE_HEAD "console=ttyS0 panic=-1 reboot=t root=/dev/vda "
#define VMM_CMDLINE_TAIL " init=/sbin/kiln-agent"
/* The image read-only: the guest keeps its writes in a tmpfs overlay. */
#define VMM_BASE_CMDLINE VMM_CMDLINE_HEAD "ro" VMM_CMDLINE_TAIL
/* The image under a disk overlay: the guest writes to its root. */
#define VMM_OVERLAY_CMDLINE VMM_CMDLINE_HEAD "rw" VMM_CMDLINE_TAIL
/* kiln-vmm's id of the first --drive (the root disk). */
#define VMM_ROOT_DRIVE_ID "drive0"
#define VMM_CMDLINE_EXTRA_MAX 1024
#define VMM_GUEST_CID 3
/* kiln-vmm's id of the sandbox's one NIC, and its TAP name when it has no
 * backend (kiln-vmm --net none). */
#define VMM_NET_ID "eth0"
#define VMM_NET_NONE "none"
#define VMM_ARGV_MAX 32

struct vmm_launch {
	const char *vmm_path; /* argv[0] and the program run */
	const char *kernel;
	const char *image; /* attached as /dev/vda, never written */
	/* NULL: the image read-only; else the root disk is the image under
	 * this copy-on-write overlay file (created if missing) */
	const char *overlay;
	const char *cmdline_extra; /* NULL or appended to the base */
	unsigned int cpus;
	unsigned int memory_mib;
	unsigned int cid;
	const char *vsock_uds;
	const char *console; /* file the guest console is written to */
	const char *api_sock; /* NULL, or serve the REST API there */
	/* Restore this snapshot instead of booting (kernel, image, cpus,
	 * memory and cmdline_extra are then the snapshot's own and ignored;
	 * vsock_uds and console override the saved ones). */
	const char *restore_state;
	const char *restore_mem;
	/* restore: the root disk's overlay instead of the saved one */
	const char *overlay_override;
	/* The NIC VMM_NET_ID.  Boot: on this TAP (VMM_NET_NONE:
	 * disconnected), NULL: none.  Restore: connected to this TAP
	 * (--net-override), NULL: as saved. */
	const char *net_tap;
};

struct vmm_argv {
	char *argv[VMM_ARGV_MAX + 1]; /* NULL-terminated, owned */
	int argc;
};

/*
 * Build argv for l.  Returns 0, or a negative kiln status with a message
 * in err (bad characters in a path or the extra command line, too long).
 * Release with vmm_argv_free() in every case.
 */
int vmm_argv_build(const struct vmm_launch *l, struct vmm_argv *out, char *err,
		   size_t errlen);

void vmm_argv_free(struct vmm_argv *a);

/* The syntax checks vmm_argv_build() makes, for early use: 0 or -KILN_*. */
int vmm_check_drive_path(const char *path, char *err, size_t errlen);
int vmm_check_cmdline_extra(const char *extra, char *err, size_t errlen);

#endif
