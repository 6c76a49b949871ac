/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm: one microVM per process.  Parse the command line, then boot
 * (--kernel), restore (--restore) or wait for the API (--api-sock), and exit
 * with the status that says how the guest ended (see config_usage()).  The
 * work is in vmm.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "seccomp.h"
#include "vm.h"
#include "vmm.h"

static int64_t start_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int vmm_launch(struct vmm *v, const struct vmm_launch *l, char *err,
		      size_t errlen)
{
	struct vmm_restore_req r = {0};

	if (l->api_sock && vmm_api_start(v, l->api_sock, err, errlen))
		return -1;
	if (l->restore_path) {
		r.state_path = l->restore_path;
		r.mem_path = l->restore_mem;
		r.vsock_uds = l->vsock_uds_set ? v->cfg->vsock_uds : NULL;
		r.ndrives = l->ndrive_overrides;
		memcpy(r.drives, l->drive_overrides, sizeof(r.drives));
		r.paused = l->paused;
		r.track_dirty = l->track_dirty;
		return vmm_restore(v, &r, err, errlen);
	}
	if (v->cfg->kernel_path)
		return vmm_boot(v, err, errlen);
	return 0; /* --api-sock alone: configured through the API */
}

int main(int argc, char **argv)
{
	int64_t t0 = start_time_ns();
	struct vmm_config cfg;
	struct vmm_launch launch;
	struct vmm v;
	char err[1024];
	enum vm_exit status;
	int rc;

	config_init(&cfg);
	switch (config_parse_launch(&cfg, &launch, argc, argv, err,
				    sizeof(err))) {
	case CONFIG_HELP:
		fputs(config_usage(), stdout);
		config_free(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "kiln-vmm: %s\n", err);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	case CONFIG_OK:
		break;
	}
	rc = vm_block_signals();
	if (rc) {
		fprintf(stderr, "kiln-vmm: cannot set up signals: %s\n",
			strerror(-rc));
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	/* Before any VM, file or socket exists: everything after this runs
	 * under the main thread's allowlist (vCPU threads add their own). */
	seccomp_set_mode(launch.no_seccomp    ? SECCOMP_OFF
			 : launch.seccomp_log ? SECCOMP_LOG
					      : SECCOMP_ENFORCE);
	if (seccomp_install(SECCOMP_VMM_MAIN, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: %s\n", err);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	if (vmm_init(&v, &cfg, &launch, t0, err, sizeof(err)) ||
	    vmm_launch(&v, &launch, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: %s\n", err);
		vmm_teardown(&v);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	status = vmm_run(&v);
	vmm_report_end(&v, status);
	vmm_teardown(&v);
	config_free(&cfg);
	return (int)status;
}
