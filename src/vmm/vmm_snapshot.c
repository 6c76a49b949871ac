/* SPDX-License-Identifier: MIT */
/*
 * Taking a snapshot of a paused VM, and the two sections that describe the
 * VM rather than its state: VM_INFO (may this host restore it?) and
 * VM_CONFIG (which devices, in which order, to recreate).
 *
 * Every drive is drained and flushed first (snap_drives).
 *
 * Layout of a state file body: VM_INFO, VM_CONFIG, one VCPU section per
 * vCPU, PIT, CLOCK, IRQCHIP x3, SERIAL, one VIRTIO section per virtio
 * device (instance = creation index), MEMORY.  The memory file is written
 * first and the state file last, so a state file that exists always
 * refers to a complete memory file.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "dev/blk.h"
#include "dev/serial.h"
#include "guest_mem.h"
#include "mem_file.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "virtio_mmio.h"
#include "vm_state.h"
#include "vmm.h"

/* 2: VM_CONFIG has each drive's overlay path and the network interfaces
 * (older files are refused by version rather than as corrupt). */
#define VMM_INFO_VERSION 2

/* --- VM_INFO --- */

void vmm_info_host(struct vmm_info *i, const struct vmm_config *c)
{
	unsigned int a = 0, b = 0, cx = 0, d = 0, fam, model;

	memset(i, 0, sizeof(*i));
	i->version = VMM_INFO_VERSION;
	__cpuid(0, a, b, cx, d);
	memcpy(i->vendor, &b, 4);
	memcpy(i->vendor + 4, &d, 4);
	memcpy(i->vendor + 8, &cx, 4);
	__cpuid(1, a, b, cx, d);
	fam = (a >> 8) & 0xf;
	model = (a >> 4) & 0xf;
	if (fam == 0xf)
		fam += (a >> 20) & 0xff;
	if (fam >= 6)
		model |= ((a >> 16) & 0xf) << 4;
	i->family = fam;
	i->model = model;
	i->stepping = a & 0xf;
	i->cpu_template = (uint32_t)c->cpu_template;
	i->ncpus = c->ncpus;
	i->mem_size = (uint64_t)c->mem_mib << 20;
	i->kvm_api = KVM_API_VERSION;
}

void vmm_info_put(struct snap_buf *b, const struct vmm_info *i)
{
	snap_put_u32(b, i->version);
	snap_put(b, i->vendor, 12);
	snap_put_u32(b, i->family);
	snap_put_u32(b, i->model);
	snap_put_u32(b, i->stepping);
	snap_put_u32(b, i->cpu_template);
	snap_put_u32(b, i->ncpus);
	snap_put_u64(b, i->mem_size);
	snap_put_u32(b, i->kvm_api);
}

int vmm_info_get(struct snap_reader *r, struct vmm_info *i)
{
	memset(i, 0, sizeof(*i));
	i->version = snap_get_u32(r);
	snap_get(r, i->vendor, 12);
	i->vendor[12] = '\0';
	i->family = snap_get_u32(r);
	i->model = snap_get_u32(r);
	i->stepping = snap_get_u32(r);
	i->cpu_template = snap_get_u32(r);
	i->ncpus = snap_get_u32(r);
	i->mem_size = snap_get_u64(r);
	i->kvm_api = snap_get_u32(r);
	return snap_reader_done(r) ? 0 : -1;
}

int vmm_info_check(const struct vmm_info *s, const struct vmm_info *h,
		   char *err, size_t errlen)
{
	if (s->version != VMM_INFO_VERSION) {
		snprintf(err, errlen,
			 "snapshot VM info version %u, this kiln-vmm reads %u",
			 s->version, VMM_INFO_VERSION);
		return -1;
	}
	if (strcmp(s->vendor, h->vendor)) {
		snprintf(err, errlen,
			 "snapshot taken on a %s CPU, this host is %s: CPU "
			 "state cannot move between vendors",
			 s->vendor, h->vendor);
		return -1;
	}
	/* The host template passes the host's features through: another
	 * CPU model may lack some the guest already uses. */
	if (s->cpu_template == CPU_TEMPLATE_HOST &&
	    (s->family != h->family || s->model != h->model)) {
		snprintf(err, errlen,
			 "snapshot taken on CPU family %u model %u with the "
			 "host CPU template; this host is family %u model %u "
			 "(use --cpu-template baseline for snapshots that "
			 "move between CPU models)",
			 s->family, s->model, h->family, h->model);
		return -1;
	}
	if (s->kvm_api != h->kvm_api) {
		snprintf(err, errlen, "snapshot KVM API %u, this host %u",
			 s->kvm_api, h->kvm_api);
		return -1;
	}
	if (s->ncpus != h->ncpus || s->mem_size != h->mem_size ||
	    s->cpu_template != h->cpu_template) {
		snprintf(err, errlen,
			 "the snapshot's VM info (%u vCPUs, %llu MiB) does "
			 "not match its configuration: the file is corrupt",
			 s->ncpus, (unsigned long long)(s->mem_size >> 20));
		return -1;
	}
	return 0;
}

/* --- VM_CONFIG --- */

void vmm_config_put(struct snap_buf *b, const struct vmm_config *c)
{
	snap_put_str(b, c->cmdline);
	snap_put_u32(b, c->ncpus);
	snap_put_u32(b, c->mem_mib);
	snap_put_u8(b, c->smt);
	snap_put_u32(b, (uint32_t)c->cpu_template);
	snap_put_u32(b, (uint32_t)c->ndrives);
	for (int i = 0; i < c->ndrives; i++) {
		snap_put_str(b, c->drives[i].id);
		snap_put_str(b, c->drives[i].path);
		snap_put_u8(b, c->drives[i].read_only);
		snap_put_u8(b, c->drives[i].is_root);
		snap_put_str(b, c->drives[i].overlay_path);
	}
	snap_put_u8(b, c->vsock);
	snap_put_u64(b, c->vsock_cid);
	snap_put_str(b, c->vsock_uds);
	snap_put_u8(b, c->rng);
	snap_put_u32(b, (uint32_t)c->console);
	snap_put_str(b, c->console_path);
	snap_put_u32(b, (uint32_t)c->nnets);
	for (int i = 0; i < c->nnets; i++) {
		snap_put_str(b, c->nets[i].id);
		snap_put_str(b, c->nets[i].tap);
		snap_put_u8(b, c->nets[i].has_mac);
		snap_put(b, c->nets[i].mac, 6);
	}
}

static bool get_bool(struct snap_reader *r)
{
	uint8_t v = snap_get_u8(r);

	if (v > 1)
		r->bad = true;
	return v == 1;
}

int vmm_config_get(struct snap_reader *r, struct vmm_config *c, char *err,
		   size_t errlen)
{
	uint32_t n, tmpl, console;

	c->cmdline = snap_get_str(r);
	c->ncpus = snap_get_u32(r);
	c->mem_mib = snap_get_u32(r);
	c->smt = get_bool(r);
	tmpl = snap_get_u32(r);
	n = snap_get_u32(r);
	if (n > CONFIG_MAX_DRIVES)
		r->bad = true;
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		struct config_drive *d = &c->drives[c->ndrives++];

		d->id = snap_get_str(r);
		d->path = snap_get_str(r);
		d->read_only = get_bool(r);
		d->is_root = get_bool(r);
		/* NULL (no overlay) is valid; a bad read sets r->bad. */
		d->overlay_path = snap_get_str(r);
		if (!d->id || !d->path ||
		    (d->overlay_path && !*d->overlay_path))
			r->bad = true;
	}
	c->vsock = get_bool(r);
	c->vsock_cid = snap_get_u64(r);
	c->vsock_uds = snap_get_str(r);
	c->rng = get_bool(r);
	console = snap_get_u32(r);
	c->console_path = snap_get_str(r);
	n = snap_get_u32(r);
	if (n > CONFIG_MAX_NETS)
		r->bad = true;
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		struct config_net *nt = &c->nets[c->nnets++];

		nt->id = snap_get_str(r);
		nt->tap = snap_get_str(r);
		nt->has_mac = get_bool(r);
		snap_get(r, nt->mac, 6);
		/* net_create checks the name and address again. */
		if (!nt->id || !nt->tap)
			r->bad = true;
	}
	if (!snap_reader_done(r) || tmpl > CPU_TEMPLATE_BASELINE ||
	    console > CONSOLE_FILE || c->ncpus < 1 || c->ncpus > VM_MAX_VCPUS ||
	    c->mem_mib < VM_MIN_MEM_MIB || c->mem_mib > VM_MAX_MEM_MIB ||
	    (c->vsock && !c->vsock_uds) ||
	    (console == CONSOLE_FILE && !c->console_path)) {
		snprintf(err, errlen,
			 "the snapshot's VM configuration is corrupt");
		return -1;
	}
	c->cpu_template = (enum cpu_template)tmpl;
	c->console = (enum console_mode)console;
	return 0;
}

/* --- taking a snapshot --- */

static int snap_devices(struct vmm *v, struct snap_buf *b, char *err,
			size_t errlen)
{
	struct virtio_dev *dev[VMM_MAX_VIRTIO];
	int n = vmm_virtio_devices(v, dev);
	size_t mark = snap_section_begin(b, SNAP_TAG_SERIAL, 0);

	if (serial_save(v->console, b))
		goto oom;
	snap_section_end(b, mark);
	for (int i = 0; i < n; i++) {
		mark = snap_section_begin(b, SNAP_TAG_VIRTIO, (uint32_t)i);
		if (virtio_mmio_save(dev[i], b))
			goto oom;
		snap_section_end(b, mark);
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory saving device state");
	return -1;
}

static int snap_build(struct vmm *v, struct snap_buf *b,
		      const struct mem_file_id *id, const char *mem_path,
		      char *err, size_t errlen)
{
	struct vmm_info info;
	size_t mark;

	vmm_info_host(&info, v->cfg);
	mark = snap_section_begin(b, SNAP_TAG_VM_INFO, 0);
	vmm_info_put(b, &info);
	snap_section_end(b, mark);
	mark = snap_section_begin(b, SNAP_TAG_VM_CONFIG, 0);
	vmm_config_put(b, v->cfg);
	snap_section_end(b, mark);
	for (int i = 0; i < v->vm.ncpus; i++)
		if (vcpu_state_save(&v->vm.vcpus[i], b, err, errlen))
			return -1;
	if (vm_state_save(&v->vm, b, err, errlen) ||
	    snap_devices(v, b, err, errlen))
		return -1;
	mark = snap_section_begin(b, SNAP_TAG_MEMORY, 0);
	mem_file_id_put(b, id);
	snap_put_str(b, mem_path); /* informational: restores name it */
	snap_section_end(b, mark);
	if (b->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The memory file.  With dirty tracking on, every snapshot (Full or Diff)
 * fetches and resets the dirty log, so the next Diff holds exactly the
 * pages written since this one; a Diff is a copy of the previous
 * snapshot's memory file with those pages replaced (a complete file, see
 * mem_file.h).  If writing fails after the log was reset, the base is
 * forgotten and the next snapshot must be Full.
 */
static int snap_memory(struct vmm *v, const struct api_snapshot_create *req,
		       struct mem_file_id *id, char *err, size_t errlen)
{
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS] = {NULL};
	struct guest_mem *m = &v->vm.mem;
	int rc = -1;

	if (req->diff && !v->snap_base) {
		snprintf(err, errlen,
			 "a Diff snapshot needs dirty tracking (--track-dirty "
			 "or track_dirty_pages) and a previous snapshot of "
			 "this VM to build on: take a Full snapshot first");
		return -1;
	}
	if (v->vm.track_dirty) {
		for (int i = 0; i < m->nregions; i++)
			if (!(dirty[i] = malloc(
				      guest_mem_bitmap_bytes(m->r[i].size)))) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
		if (vm_dirty_fetch(&v->vm, dirty, err, errlen))
			goto out;
	}
	rc = req->diff ? mem_file_write_diff(m, v->snap_base, &v->snap_base_id,
					     req->mem_path, dirty, id, err,
					     errlen)
		       : mem_file_write(m, req->mem_path, id, err, errlen);
out:
	for (int i = 0; i < m->nregions; i++)
		free(dirty[i]);
	free(v->snap_base);
	v->snap_base = NULL;
	if (!rc && v->vm.track_dirty) {
		v->snap_base = strdup(req->mem_path); /* NULL: no diffs */
		v->snap_base_id = *id;
	}
	return rc;
}

/*
 * Before the memory is saved: finish the requests the guest has queued
 * and make every drive's host files complete (data and overlay bitmap on
 * disk).  The disk then matches the memory file, and stays as it is while
 * the VM remains paused, so the caller may copy an overlay now.
 */
static int snap_drives(struct vmm *v, char *err, size_t errlen)
{
	for (int i = 0; i < v->nblk; i++) {
		int rc = blk_sync(v->blk[i]);

		if (rc) {
			snprintf(err, errlen,
				 "drive %s: cannot flush it for the snapshot: "
				 "%s",
				 v->cfg->drives[i].id, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

int vmm_snapshot_create(struct vmm *v, const struct api_snapshot_create *req,
			char *err, size_t errlen)
{
	struct mem_file_id id;
	struct snap_buf b;
	int64_t t0 = vmm_now_ns(), t1;
	int rc;

	if (!req->state_path || !req->mem_path) {
		snprintf(err, errlen,
			 "a snapshot needs snapshot_path and mem_file_path");
		return -1;
	}
	if (snap_drives(v, err, errlen) ||
	    snap_memory(v, req, &id, err, errlen))
		return -1;
	t1 = vmm_now_ns();
	snap_buf_init(&b);
	rc = snap_build(v, &b, &id, req->mem_path, err, errlen);
	if (!rc)
		rc = snap_file_write(req->state_path, &b, err, errlen);
	if (!rc)
		fprintf(stderr,
			"kiln-vmm: %s snapshot %s (%zu KiB) + %s written in "
			"%.1f ms (memory %.1f ms)\n",
			req->diff ? "diff" : "full", req->state_path,
			b.len >> 10, req->mem_path,
			(double)(vmm_now_ns() - t0) / 1e6,
			(double)(t1 - t0) / 1e6);
	snap_buf_free(&b);
	return rc;
}
