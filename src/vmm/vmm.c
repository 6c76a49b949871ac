/* SPDX-License-Identifier: MIT */
/*
 * The VMM process (see vmm.h): event loop and signals, building the VM and
 * its devices from a configuration, booting, the run/exit path and the
 * REST API's ops.  Snapshots are in vmm_snapshot.c and vmm_restore.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "boot.h"
#include "config.h"
#include "cpuid.h"
#include "dev/blk.h"
#include "dev/net.h"
#include "dev/power.h"
#include "dev/rng.h"
#include "dev/serial.h"
#include "dev/vsock.h"
#include "vm.h"
#include "vmm.h"

int64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void vmm_signal_event(void *opaque, uint32_t events)
{
	struct vmm *v = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(v->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	fprintf(stderr, "kiln-vmm: SIG%s received, stopping %s\n",
		sigabbrev_np((int)si.ssi_signo),
		v->started ? "the VM" : "kiln-vmm");
	if (v->started) {
		vm_request_exit(&v->vm, VM_EXIT_SIGNAL);
	} else {
		v->no_vm_status = VM_EXIT_SIGNAL;
		evloop_stop(v->loop, VM_EXIT_SIGNAL);
	}
}

int vmm_init(struct vmm *v, struct vmm_config *cfg,
	     const struct vmm_launch *launch, int64_t start_ns, char *err,
	     size_t errlen)
{
	sigset_t set;
	int rc;

	memset(v, 0, sizeof(*v));
	v->cfg = cfg;
	v->launch = launch;
	v->kernel.fd = -1;
	v->sigfd = -1;
	v->start_ns = start_ns;
	v->no_vm_status = VM_EXIT_ERROR;
	snprintf(v->id, sizeof(v->id), "kiln-vmm-%d", (int)getpid());
	v->loop = evloop_new();
	if (!v->loop) {
		snprintf(err, errlen, "cannot create the event loop: %s",
			 strerror(errno));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	v->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (v->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		return -1;
	}
	rc = evloop_add(v->loop, v->sigfd, EPOLLIN, vmm_signal_event, v);
	if (rc) {
		snprintf(err, errlen, "signalfd: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

int vmm_api_start(struct vmm *v, const char *path, char *err, size_t errlen)
{
	return api_server_start(v->loop, path, &vmm_api_ops, v, &v->api, err,
				errlen);
}

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
		const struct config_drive *d = &cfg->drives[i];

		rc = d->overlay_path
			     ? blk_create_overlay(&v->vm, d->path,
						  d->overlay_path, d->read_only,
						  &v->blk[v->nblk])
			     : blk_create(&v->vm, d->path, d->read_only,
					  &v->blk[v->nblk]);
		if (rc) {
			snprintf(err, errlen, "drive %s (%s%s%s): %s", d->id,
				 d->path, d->overlay_path ? " + overlay " : "",
				 d->overlay_path ? d->overlay_path : "",
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
	/* After every other device: a VM without interfaces keeps the MMIO
	 * windows (and so the snapshots) it had before virtio-net. */
	for (int i = 0; i < cfg->nnets; i++) {
		const struct config_net *n = &cfg->nets[i];

		rc = net_create(&v->vm,
				config_net_is_none(n->tap) ? NULL : n->tap,
				n->has_mac ? n->mac : NULL, &v->net[v->nnet]);
		if (rc) {
			snprintf(err, errlen,
				 "network interface %s on TAP %s: %s", n->id,
				 n->tap, strerror(-rc));
			return -1;
		}
		v->nnet++;
	}
	return 0;
}

int vmm_virtio_devices(struct vmm *v, struct virtio_dev **out)
{
	int n = 0;

	for (int i = 0; i < v->nblk; i++)
		out[n++] = v->blk[i];
	if (v->rng)
		out[n++] = v->rng;
	if (v->vsock)
		out[n++] = v->vsock;
	for (int i = 0; i < v->nnet; i++)
		out[n++] = v->net[i];
	return n;
}

/* Make the guest honour the CPU template when KVM will not. */
/*
 * Where guest kernel code is emulated an instruction at a time, boot code
 * that takes milliseconds on hardware takes tens of seconds, and RCU's CPU
 * stall detector fires and prints stack dumps over the emulated UART,
 * slowing the boot further.  Nothing is stalled: silence it.
 */
#define VMM_EMULATED_CMDLINE "rcupdate.rcu_cpu_stall_suppress=1"

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
	if (!probe.honoured || probe.ring0_emulated) {
		if (cpuid_guest_cmdline(probe.seen, v->cfg->cpu_template, extra,
					sizeof(extra), dropped,
					sizeof(dropped)) ||
		    vm_cmdline_append(&v->vm, "%s", extra) ||
		    (probe.ring0_emulated &&
		     vm_cmdline_append(&v->vm, "%s", VMM_EMULATED_CMDLINE))) {
			snprintf(err, errlen, "kernel command line too long");
			rc = -1;
		} else {
			fprintf(stderr,
				"kiln-vmm: this KVM %s (checked in %.1f ms); "
				"CPU template %s is enforced by the guest "
				"command line: %s\n",
				probe.honoured ? "emulates guest kernel mode"
					       : "ignores KVM_SET_CPUID2",
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

int vmm_build_vm(struct vmm *v, const struct vm_params *p, char *err,
		 size_t errlen)
{
	if (vm_create(&v->vm, v->loop, p, err, errlen))
		return -1;
	v->vm_created = true;
	v->vm.start_ns = v->start_ns;
	return vmm_create_devices(v, err, errlen);
}

void vmm_destroy_vm(struct vmm *v)
{
	for (int i = v->nnet - 1; i >= 0; i--)
		net_destroy(v->net[i]);
	v->nnet = 0;
	if (v->vsock)
		vsock_destroy(v->vsock);
	if (v->rng)
		rng_destroy(v->rng);
	for (int i = v->nblk - 1; i >= 0; i--)
		blk_destroy(v->blk[i]);
	if (v->console)
		serial_destroy(v->console);
	v->vsock = v->rng = NULL;
	v->nblk = 0;
	v->console = NULL;
	if (v->vm_created)
		vm_destroy(&v->vm);
	v->vm_created = false;
	v->started = false;
	boot_kernel_close(&v->kernel);
	v->kernel.fd = -1;
	v->init_args = NULL;
}

static int vmm_start_vcpus(struct vmm *v, char *err, size_t errlen)
{
	if (vm_start(&v->vm, err, errlen))
		return -1;
	v->started = true;
	return 0;
}

int vmm_boot(struct vmm *v, char *err, size_t errlen)
{
	struct vmm_config *cfg = v->cfg;
	struct vm_params p = {
		.ncpus = (int)cfg->ncpus,
		.mem_size = (uint64_t)cfg->mem_mib << 20,
		.smt = cfg->smt,
		.mem_fd = -1,
		.track_dirty = v->launch && v->launch->track_dirty,
	};

	if (vmm_check_inputs(v, err, errlen) ||
	    vm_create(&v->vm, v->loop, &p, err, errlen))
		goto fail;
	v->vm_created = true;
	if (vmm_base_cmdline(v, err, errlen) ||
	    vmm_cpu_template(v, err, errlen) ||
	    vmm_create_devices(v, err, errlen))
		goto fail;
	if (v->init_args && vm_cmdline_append(&v->vm, "-- %s", v->init_args)) {
		snprintf(err, errlen, "kernel command line too long");
		goto fail;
	}
	if (vm_boot_setup(&v->vm, &v->kernel, cfg->initrd_path, err, errlen) ||
	    vmm_start_vcpus(v, err, errlen))
		goto fail;
	return 0;
fail:
	if (!v->started)
		vmm_destroy_vm(v);
	return -1;
}

enum vm_exit vmm_run(struct vmm *v)
{
	int rc = evloop_run(v->loop);

	if (!v->started) {
		if (rc < 0)
			fprintf(stderr, "kiln-vmm: event loop failed: %s\n",
				strerror(-rc));
		return (enum vm_exit)v->no_vm_status;
	}
	if (!vm_exiting(&v->vm)) {
		/* The loop itself failed (epoll error). */
		fprintf(stderr, "kiln-vmm: event loop failed: %s\n",
			strerror(rc < 0 ? -rc : EIO));
		vm_request_exit(&v->vm, VM_EXIT_ERROR);
	}
	return vm_wait(&v->vm);
}

void vmm_report_end(struct vmm *v, enum vm_exit status)
{
	if (!v->console)
		return;
	serial_flush(v->console);
	if ((status == VM_EXIT_CRASH || status == VM_EXIT_REBOOT) &&
	    v->cfg->console != CONSOLE_STDOUT) {
		fprintf(stderr, "kiln-vmm: last console lines:\n");
		serial_dump_tail(v->console, stderr, "kiln-vmm: | ");
	}
}

void vmm_teardown(struct vmm *v)
{
	if (v->api)
		api_server_free(v->api);
	v->api = NULL;
	vmm_destroy_vm(v);
	if (v->sigfd >= 0) {
		if (v->loop)
			evloop_del(v->loop, v->sigfd);
		close(v->sigfd);
	}
	v->sigfd = -1;
	free(v->snap_base);
	v->snap_base = NULL;
	evloop_free(v->loop);
	v->loop = NULL;
}

/* --- REST API ops (all on the loop thread) --- */

static enum api_vm_state vmm_op_state(void *ctx)
{
	struct vmm *v = ctx;

	if (!v->started)
		return API_VM_NOT_STARTED;
	return vm_is_paused(&v->vm) ? API_VM_PAUSED : API_VM_RUNNING;
}

static struct vmm_config *vmm_op_config(void *ctx)
{
	return ((struct vmm *)ctx)->cfg;
}

static int vmm_op_start(void *ctx, char *err, size_t errlen)
{
	struct vmm *v = ctx;

	if (v->started || v->vm_created) {
		snprintf(err, errlen, "the VM is already running");
		return -EBUSY;
	}
	if (config_validate(v->cfg, err, errlen))
		return -EINVAL;
	if (vmm_boot(v, err, errlen))
		return -EINVAL;
	return 0;
}

static int vmm_op_pause(void *ctx, char *err, size_t errlen)
{
	struct vmm *v = ctx;

	if (!v->started) {
		snprintf(err, errlen, "the VM is not running");
		return -EBUSY;
	}
	if (vm_pause(&v->vm, VMM_PAUSE_TIMEOUT_MS, err, errlen))
		return -EIO;
	return 0;
}

static int vmm_op_resume(void *ctx, char *err, size_t errlen)
{
	struct vmm *v = ctx;

	if (!v->started) {
		snprintf(err, errlen, "the VM is not running");
		return -EBUSY;
	}
	vm_resume(&v->vm);
	return 0;
}

static int vmm_op_ctrl_alt_del(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	snprintf(err, errlen,
		 "SendCtrlAltDel is not supported: the guest has no i8042 "
		 "keyboard controller to deliver it; ask the guest agent to "
		 "power off instead");
	return -ENOTSUP;
}

static int vmm_op_snapshot_create(void *ctx,
				  const struct api_snapshot_create *req,
				  char *err, size_t errlen)
{
	struct vmm *v = ctx;

	if (!v->started || !vm_is_paused(&v->vm)) {
		snprintf(err, errlen,
			 "snapshots are taken of a paused VM: PATCH /vm "
			 "{\"state\": \"Paused\"} first");
		return -EBUSY;
	}
	if (vmm_snapshot_create(v, req, err, errlen))
		return -EIO;
	return 0;
}

static int vmm_op_snapshot_load(void *ctx, const struct api_snapshot_load *req,
				char *err, size_t errlen)
{
	struct vmm *v = ctx;
	struct vmm_restore_req r = {
		.state_path = req->state_path,
		.mem_path = req->mem_path,
		.vsock_uds = req->vsock_uds,
		.paused = !req->resume,
		.track_dirty = req->track_dirty,
	};

	if (v->started || v->vm_created) {
		snprintf(err, errlen, "a VM is already running");
		return -EBUSY;
	}
	if (req->nnets < 0 || req->nnets > CONFIG_MAX_NETS) {
		snprintf(err, errlen, "too many network_overrides");
		return -EINVAL;
	}
	r.nnets = req->nnets;
	for (int i = 0; i < req->nnets; i++) {
		r.nets[i].id = req->nets[i].id;
		r.nets[i].path = req->nets[i].tap;
	}
	if (req->ndrives < 0 || req->ndrives > CONFIG_MAX_DRIVES) {
		snprintf(err, errlen, "too many drive_overrides");
		return -EINVAL;
	}
	r.ndrives = req->ndrives;
	for (int i = 0; i < req->ndrives; i++) {
		r.drives[i].id = req->drives[i].id;
		r.drives[i].path = req->drives[i].path;
	}
	if (vmm_restore(v, &r, err, errlen))
		return -EINVAL;
	return 0;
}

static const char *vmm_op_instance_id(void *ctx)
{
	return ((struct vmm *)ctx)->id;
}

const struct api_ops vmm_api_ops = {
	.state = vmm_op_state,
	.config = vmm_op_config,
	.start = vmm_op_start,
	.pause = vmm_op_pause,
	.resume = vmm_op_resume,
	.ctrl_alt_del = vmm_op_ctrl_alt_del,
	.snapshot_create = vmm_op_snapshot_create,
	.snapshot_load = vmm_op_snapshot_load,
	.instance_id = vmm_op_instance_id,
};
