/* SPDX-License-Identifier: MIT */
/*
 * Restoring a snapshot into this (fresh) process.  The state file is
 * untrusted input: snap_file_read checks its framing and checksums, each
 * section is size-checked by its reader, and the devices validate their
 * state like guest input.
 *
 * Order: check the host (VM_INFO), rebuild the configuration (VM_CONFIG +
 * overrides), open and check the memory file, create the VM (irqchip and
 * PIT before the vCPUs) with RAM mapped MAP_PRIVATE from the memory file,
 * the devices in the saved order (same MMIO windows and GSIs), the vCPUs'
 * state, PIT/clock/irqchip, then the devices' state (which may raise
 * interrupts, so the interrupt controllers come first), then run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/serial.h"
#include "mem_file.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "virtio_mmio.h"
#include "vm_state.h"
#include "vmm.h"

struct restore_ctx {
	const struct vmm_restore_req *req;
	uint8_t *body;
	size_t len;
	struct vmm_config cfg;
	struct vmm_config old; /* v->cfg before the restore, put back on
				  failure (a refused request changes nothing) */
	bool swapped;
	struct mem_file_id mem;
};

static int section(struct restore_ctx *c, uint32_t tag, uint32_t inst,
		   const char *what, struct snap_reader *r, char *err,
		   size_t errlen)
{
	int rc = snap_find_section(c->body, c->len, tag, inst, r);

	if (rc == -ENOENT)
		snprintf(err, errlen, "%s: no %s in the snapshot",
			 c->req->state_path, what);
	else if (rc)
		snprintf(err, errlen, "%s: the sections are corrupt",
			 c->req->state_path);
	return rc ? -1 : 0;
}

static int apply_overrides(struct restore_ctx *c, const struct vmm *v,
			   char *err, size_t errlen)
{
	const struct vmm_restore_req *req = c->req;

	for (int i = 0; i < req->ndrives; i++) {
		char **dst;
		int d = 0;

		while (d < c->cfg.ndrives &&
		       !config_override_matches(&req->drives[i],
						c->cfg.drives[d].id))
			d++;
		if (d == c->cfg.ndrives) {
			snprintf(err, errlen,
				 "drive override %s: the snapshot has no such "
				 "drive",
				 req->drives[i].id);
			return -1;
		}
		/* An overlay drive's base is shared by every clone and stays
		 * (blk_overlay checks the overlay was made for it): the
		 * override names the overlay, e.g. a copy taken while the
		 * snapshotted VM was paused. */
		dst = c->cfg.drives[d].overlay_path
			      ? &c->cfg.drives[d].overlay_path
			      : &c->cfg.drives[d].path;
		free(*dst);
		*dst = strdup(req->drives[i].path);
		if (!*dst) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	for (int i = 0; i < req->nnets; i++) {
		int n = 0;

		while (n < c->cfg.nnets &&
		       !config_override_matches(&req->nets[i],
						c->cfg.nets[n].id))
			n++;
		/* "disconnect it" of an interface the snapshot lacks: done
		 * (a client need not know which snapshots have one) */
		if (n == c->cfg.nnets && config_net_is_none(req->nets[i].path))
			continue;
		if (n == c->cfg.nnets) {
			snprintf(err, errlen,
				 "network override %s: the snapshot has no "
				 "such interface",
				 req->nets[i].id);
			return -1;
		}
		free(c->cfg.nets[n].tap);
		c->cfg.nets[n].tap = strdup(req->nets[i].path);
		if (!c->cfg.nets[n].tap) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	/* blk_create_overlay would make a missing overlay anew, empty: the
	 * guest's file systems would then lose what it wrote before the
	 * snapshot, which its page cache still believes is on disk. */
	for (int d = 0; d < c->cfg.ndrives; d++) {
		const char *ovl = c->cfg.drives[d].overlay_path;
		struct stat st;

		if (ovl && stat(ovl, &st) < 0) {
			snprintf(err, errlen,
				 "drive %s: overlay %s: %s (a snapshot's "
				 "overlay holds the guest's writes: restore "
				 "with it, or with a copy taken while the VM "
				 "was paused, via --drive-override %s=PATH)",
				 c->cfg.drives[d].id, ovl, strerror(errno),
				 c->cfg.drives[d].id);
			return -1;
		}
	}
	if (req->vsock_uds) {
		if (!c->cfg.vsock) {
			snprintf(err, errlen,
				 "vsock override: the snapshot has no vsock "
				 "device");
			return -1;
		}
		free(c->cfg.vsock_uds);
		c->cfg.vsock_uds = strdup(req->vsock_uds);
	}
	/* The console is where this process was told to put it. */
	if (v->launch && v->launch->console_set) {
		free(c->cfg.console_path);
		c->cfg.console = v->cfg->console;
		c->cfg.console_path = v->cfg->console_path
					      ? strdup(v->cfg->console_path)
					      : NULL;
	}
	return 0;
}

/* VM_INFO, VM_CONFIG, MEMORY. */
static int restore_describe(struct restore_ctx *c, const struct vmm *v,
			    char *err, size_t errlen)
{
	struct vmm_info saved, here;
	struct snap_reader r;
	char *mem_name;

	if (section(c, SNAP_TAG_VM_INFO, 0, "VM info", &r, err, errlen))
		return -1;
	if (vmm_info_get(&r, &saved)) {
		snprintf(err, errlen, "%s: the VM info is corrupt",
			 c->req->state_path);
		return -1;
	}
	if (section(c, SNAP_TAG_VM_CONFIG, 0, "VM configuration", &r, err,
		    errlen) ||
	    vmm_config_get(&r, &c->cfg, err, errlen))
		return -1;
	vmm_info_host(&here, &c->cfg);
	if (vmm_info_check(&saved, &here, err, errlen) ||
	    apply_overrides(c, v, err, errlen))
		return -1;
	if (section(c, SNAP_TAG_MEMORY, 0, "memory description", &r, err,
		    errlen))
		return -1;
	if (!mem_file_id_get(&r, &c->mem) ||
	    ((mem_name = snap_get_str(&r)), free(mem_name),
	     !snap_reader_done(&r))) {
		snprintf(err, errlen, "%s: the memory description is corrupt",
			 c->req->state_path);
		return -1;
	}
	return 0;
}

static int restore_vcpus(struct restore_ctx *c, struct vmm *v, char *err,
			 size_t errlen)
{
	struct snap_reader r;

	for (int i = 0; i < v->vm.ncpus; i++)
		if (section(c, SNAP_TAG_VCPU, (uint32_t)i, "vCPU state", &r,
			    err, errlen) ||
		    vcpu_state_restore(&v->vm.vcpus[i], &r, err, errlen))
			return -1;
	if (snap_find_section(c->body, c->len, SNAP_TAG_VCPU,
			      (uint32_t)v->vm.ncpus, &r) != -ENOENT) {
		snprintf(err, errlen, "%s: more vCPU states than vCPUs",
			 c->req->state_path);
		return -1;
	}
	return 0;
}

static int restore_devices(struct restore_ctx *c, struct vmm *v, char *err,
			   size_t errlen)
{
	struct virtio_dev *dev[VMM_MAX_VIRTIO];
	int n = vmm_virtio_devices(v, dev);
	struct snap_reader r;
	char why[512];

	if (section(c, SNAP_TAG_SERIAL, 0, "serial port state", &r, err,
		    errlen))
		return -1;
	if (serial_restore(v->console, &r, why, sizeof(why))) {
		snprintf(err, errlen, "serial port: %s", why);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (section(c, SNAP_TAG_VIRTIO, (uint32_t)i, "virtio state", &r,
			    err, errlen))
			return -1;
		if (virtio_mmio_restore(dev[i], &r, why, sizeof(why)) ||
		    !snap_reader_done(&r)) {
			snprintf(err, errlen, "virtio device %d: %s", i,
				 why[0] ? why : "trailing data");
			return -1;
		}
	}
	if (snap_find_section(c->body, c->len, SNAP_TAG_VIRTIO, (uint32_t)n,
			      &r) != -ENOENT) {
		snprintf(err, errlen,
			 "%s: state for more virtio devices than configured",
			 c->req->state_path);
		return -1;
	}
	return 0;
}

static int restore_vm(struct restore_ctx *c, struct vmm *v, char *err,
		      size_t errlen)
{
	struct guest_mem layout;
	struct vm_params p = {
		.ncpus = (int)c->cfg.ncpus,
		.mem_size = (uint64_t)c->cfg.mem_mib << 20,
		.smt = c->cfg.smt,
		.track_dirty = c->req->track_dirty,
	};
	int rc;

	if (guest_mem_layout(&layout, p.mem_size)) {
		snprintf(err, errlen, "bad memory size in the snapshot");
		return -1;
	}
	p.mem_fd =
		mem_file_open(c->req->mem_path, &c->mem, &layout, err, errlen);
	if (p.mem_fd < 0)
		return -1;
	/* Devices are created from v->cfg: hand it the snapshot's. */
	c->old = *v->cfg;
	*v->cfg = c->cfg;
	config_init(&c->cfg);
	c->swapped = true;
	rc = vmm_build_vm(v, &p, err, errlen);
	close(p.mem_fd); /* the mappings keep the file */
	if (rc || restore_vcpus(c, v, err, errlen) ||
	    vm_state_restore(&v->vm, c->body, c->len, err, errlen) ||
	    restore_devices(c, v, err, errlen))
		return -1;
	return 0;
}

int vmm_restore(struct vmm *v, const struct vmm_restore_req *req, char *err,
		size_t errlen)
{
	struct restore_ctx c = {.req = req};
	int64_t t0 = vmm_now_ns();
	int rc = -1;

	config_init(&c.cfg);
	if (!req->state_path || !req->mem_path) {
		snprintf(err, errlen,
			 "a restore needs a state file and a "
			 "memory file");
		return -1;
	}
	if (snap_file_read(req->state_path, &c.body, &c.len, err, errlen))
		return -1;
	if (restore_describe(&c, v, err, errlen) ||
	    restore_vm(&c, v, err, errlen))
		goto out;
	if (req->paused)
		vm_pause_initial(&v->vm);
	v->vm.report_first_run = !req->paused;
	if (vm_start(&v->vm, err, errlen))
		goto out;
	v->started = true;
	if (req->track_dirty) {
		v->snap_base = strdup(req->mem_path); /* NULL: no diffs */
		v->snap_base_id = c.mem;
	}
	fprintf(stderr,
		"kiln-vmm: restored %s in %.1f ms (%.1f ms after start)%s\n",
		req->state_path, (double)(vmm_now_ns() - t0) / 1e6,
		(double)(vmm_now_ns() - v->start_ns) / 1e6,
		req->paused ? ", paused" : "");
	rc = 0;
out:
	if (rc && !v->started)
		vmm_destroy_vm(v);
	if (c.swapped && rc) {
		config_free(v->cfg);
		*v->cfg = c.old;
	} else if (c.swapped) {
		config_free(&c.old);
	}
	config_free(&c.cfg);
	free(c.body);
	return rc;
}
