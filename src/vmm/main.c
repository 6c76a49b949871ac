/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm: one microVM per process.  Parse the configuration, check the
 * kernel (before any VM exists, so a bad path fails fast and clearly),
 * create the VM, its devices and the guest command line, boot, and exit
 * with the status that says how the guest ended (see config_usage()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot.h"
#include "config.h"
#include "cpuid.h"
#include "dev/blk.h"
#include "dev/power.h"
#include "dev/rng.h"
#include "dev/serial.h"
#include "dev/vsock.h"
#include "vm.h"

struct vmm {
	struct vmm_config *cfg;
	struct boot_kernel kernel;
	struct vm vm;
	bool vm_created;
	struct serial *console;
	struct virtio_dev *blk[CONFIG_MAX_DRIVES];
	int nblk;
	struct virtio_dev *rng;
	struct virtio_dev *vsock;
	const char *init_args; /* after " -- " in the user's command line */
};

/* Everything that can be checked without KVM: kernel, initrd, memory. */
static int vmm_check_inputs(struct vmm *v, char *err, size_t errlen)
{
	struct vmm_config *cfg = v->cfg;
	struct guest_mem layout;
	struct stat st;
	uint64_t gpa;

	if (boot_kernel_open(&v->kernel, cfg->kernel_path, err, errlen))
		return -1;
	if (guest_mem_layout(&layout, (uint64_t)cfg->mem_mib << 20) ||
	    boot_kernel_check_fit(&v->kernel, &layout, err, errlen))
		return -1;
	if (cfg->initrd_path) {
		if (stat(cfg->initrd_path, &st) < 0) {
			snprintf(err, errlen, "cannot open initrd %s: %s",
				 cfg->initrd_path, strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
		    boot_initrd_place(guest_mem_low_end(&layout), v->kernel.end,
				      v->kernel.initrd_addr_max,
				      (uint64_t)st.st_size, &gpa)) {
			snprintf(err, errlen,
				 "initrd %s is empty, not a file, or does not "
				 "fit in %u MiB next to the kernel",
				 cfg->initrd_path, cfg->mem_mib);
			return -1;
		}
	}
	return 0;
}

static bool cmdline_has_param(const char *cmdline, const char *param)
{
	for (const char *p = cmdline; (p = strstr(p, param)); p++)
		if (p == cmdline || p[-1] == ' ')
			return true;
	return false;
}

/*
 * The user's command line goes first.  Anything after " -- " is for init,
 * so it is held back and re-appended after the VMM's own parameters.
 */
static int vmm_base_cmdline(struct vmm *v, char *err, size_t errlen)
{
	const char *cmd = config_cmdline(v->cfg);
	const char *sep = strstr(cmd, " -- ");
	int len = sep ? (int)(sep - cmd) : (int)strlen(cmd);

	if (sep)
		v->init_args = sep + 4;
	if (len && vm_cmdline_append(&v->vm, "%.*s", len, cmd))
		goto full;
	if (v->cfg->ndrives && v->cfg->drives[0].is_root &&
	    !cmdline_has_param(cmd, "root=") &&
	    vm_cmdline_append(&v->vm, "root=/dev/vda %s",
			      v->cfg->drives[0].read_only ? "ro" : "rw"))
		goto full;
	return 0;
full:
	snprintf(err, errlen, "kernel command line too long");
	return -1;
}

static int vmm_create_devices(struct vmm *v, char *err, size_t errlen)
{
	struct vmm_config *cfg = v->cfg;
	int rc;

	if (serial_create(&v->vm, cfg->console, cfg->console_path, &v->console,
			  err, errlen))
		return -1;
	rc = power_create(&v->vm);
	if (rc) {
		snprintf(err, errlen, "cannot claim the power ports: %s",
			 strerror(-rc));
		return -1;
	}
	for (int i = 0; i < cfg->ndrives; i++) {
		rc = blk_create(&v->vm, cfg->drives[i].path,
				cfg->drives[i].read_only, &v->blk[v->nblk]);
		if (rc) {
			snprintf(err, errlen, "drive %s (%s): %s",
				 cfg->drives[i].id, cfg->drives[i].path,
				 strerror(-rc));
			return -1;
		}
		v->nblk++;
	}
	if (cfg->rng) {
		rc = rng_create(&v->vm, &v->rng);
		if (rc) {
			snprintf(err, errlen, "virtio-rng: %s", strerror(-rc));
			return -1;
		}
	}
	if (cfg->vsock) {
		rc = vsock_create(&v->vm, cfg->vsock_cid, cfg->vsock_uds,
				  &v->vsock);
		if (rc) {
			snprintf(err, errlen, "vsock on %s: %s", cfg->vsock_uds,
				 strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* Make the guest honour the CPU template when KVM will not. */
static int vmm_cpu_template(struct vmm *v, char *err, size_t errlen)
{
	struct cpuid_probe_result probe;
	char note[256], extra[512], dropped[256];
	int rc = 0;

	if (vm_setup_cpuid(&v->vm, v->cfg->cpu_template, err, errlen))
		return -1;
	cpuid_probe(v->vm.kvm_fd, v->vm.cpuid, &probe, note, sizeof(note));
	if (note[0])
		fprintf(stderr, "kiln-vmm: %s\n", note);
	if (!probe.honoured) {
		if (cpuid_guest_cmdline(probe.seen, v->cfg->cpu_template, extra,
					sizeof(extra), dropped,
					sizeof(dropped)) ||
		    vm_cmdline_append(&v->vm, "%s", extra)) {
			snprintf(err, errlen, "kernel command line too long");
			rc = -1;
		} else {
			fprintf(stderr,
				"kiln-vmm: this KVM ignores KVM_SET_CPUID2 "
				"(checked in %.1f ms); CPU template %s is "
				"enforced by the guest command line: %s\n",
				probe.seconds * 1e3,
				cpu_template_name(v->cfg->cpu_template), extra);
			if (dropped[0])
				fprintf(stderr,
					"kiln-vmm: warning: clearcpuid= is "
					"limited to %d characters; still "
					"visible to the guest: %s\n",
					CPUID_CLEARCPUID_MAX, dropped);
		}
	}
	free(probe.seen);
	return rc;
}

static int vmm_setup(struct vmm *v, char *err, size_t errlen)
{
	struct vmm_config *cfg = v->cfg;

	if (vmm_check_inputs(v, err, errlen))
		return -1;
	if (vm_create(&v->vm, (int)cfg->ncpus, (uint64_t)cfg->mem_mib << 20,
		      cfg->smt, err, errlen))
		return -1;
	v->vm_created = true;
	if (vmm_base_cmdline(v, err, errlen) ||
	    vmm_cpu_template(v, err, errlen) ||
	    vmm_create_devices(v, err, errlen))
		return -1;
	if (v->init_args && vm_cmdline_append(&v->vm, "-- %s", v->init_args)) {
		snprintf(err, errlen, "kernel command line too long");
		return -1;
	}
	return vm_boot_setup(&v->vm, &v->kernel, cfg->initrd_path, err, errlen);
}

static void vmm_teardown(struct vmm *v)
{
	if (v->vsock)
		vsock_destroy(v->vsock);
	if (v->rng)
		rng_destroy(v->rng);
	for (int i = v->nblk - 1; i >= 0; i--)
		blk_destroy(v->blk[i]);
	if (v->console)
		serial_destroy(v->console);
	if (v->vm_created)
		vm_destroy(&v->vm);
	boot_kernel_close(&v->kernel);
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct vmm v;
	char err[1024];
	enum vm_exit status;
	int rc;

	config_init(&cfg);
	switch (config_parse_args(&cfg, argc, argv, err, sizeof(err))) {
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

	memset(&v, 0, sizeof(v));
	v.cfg = &cfg;
	v.kernel.fd = -1;
	rc = vm_block_signals();
	if (rc) {
		fprintf(stderr, "kiln-vmm: cannot set up signals: %s\n",
			strerror(-rc));
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	if (vmm_setup(&v, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: %s\n", err);
		vmm_teardown(&v);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}

	status = vm_run(&v.vm);

	if (v.console)
		serial_flush(v.console);
	if ((status == VM_EXIT_CRASH || status == VM_EXIT_REBOOT) &&
	    cfg.console != CONSOLE_STDOUT && v.console) {
		fprintf(stderr, "kiln-vmm: last console lines:\n");
		serial_dump_tail(v.console, stderr, "kiln-vmm: | ");
	}
	vmm_teardown(&v);
	config_free(&cfg);
	return (int)status;
}
