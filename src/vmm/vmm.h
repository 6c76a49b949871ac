/* SPDX-License-Identifier: MIT */
/*
 * The VMM process: one event loop (created first, so the API can serve
 * requests before any VM exists), at most one VM with its devices, the
 * REST API's ops table, booting from a configuration and snapshots
 * (create while paused, restore into a fresh process).
 *
 * Flow (Firecracker's): kiln-vmm --kernel ... boots at once; kiln-vmm
 * --restore STATE --restore-mem MEM restores at once; kiln-vmm --api-sock
 * PATH alone waits for PUT configuration + InstanceStart, or PUT
 * /snapshot/load.  Everything after vmm_init runs on the loop thread.
 */
#ifndef KILN_VMM_VMM_H
#define KILN_VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "boot.h"
#include "config.h"
#include "mem_file.h"
#include "vm.h"

struct serial;
struct virtio_dev;
struct api_server;

/* A pause that takes longer than this fails (and the VM keeps running). */
#define VMM_PAUSE_TIMEOUT_MS 5000
#define VMM_MAX_VIRTIO (CONFIG_MAX_DRIVES + 2 + CONFIG_MAX_NETS)

struct vmm {
	struct vmm_config *cfg; /* the caller's; replaced by a restore */
	const struct vmm_launch *launch;
	struct evloop *loop;
	int sigfd;
	struct api_server *api;
	int64_t start_ns; /* CLOCK_MONOTONIC at process start */
	char id[32];

	struct boot_kernel kernel;
	struct vm vm;
	bool vm_created;
	bool started; /* vCPU threads running (or parked) */
	int no_vm_status; /* exit status when the loop ends without a VM */

	struct serial *console;
	struct virtio_dev *blk[CONFIG_MAX_DRIVES];
	int nblk;
	struct virtio_dev *rng;
	struct virtio_dev *vsock;
	struct virtio_dev *net[CONFIG_MAX_NETS]; /* last: see config.h */
	int nnet;
	const char *init_args; /* after " -- " in the user's command line */
	/* Memory file a Diff snapshot builds on: the last snapshot's, or the
	 * one restored from (with dirty tracking); NULL: none. */
	char *snap_base;
	struct mem_file_id snap_base_id; /* what snap_base must still be */
};

/* What to restore, from the command line or PUT /snapshot/load. */
struct vmm_restore_req {
	const char *state_path;
	const char *mem_path;
	const char *vsock_uds; /* NULL: the saved one */
	int ndrives;
	struct config_drive_override drives[CONFIG_MAX_DRIVES];
	int nnets; /* interface id -> TAP (path) */
	struct config_drive_override nets[CONFIG_MAX_NETS];
	bool paused;
	bool track_dirty;
};

/* Event loop and signal handling.  0 or -1 with err. */
int vmm_init(struct vmm *v, struct vmm_config *cfg,
	     const struct vmm_launch *launch, int64_t start_ns, char *err,
	     size_t errlen);
/* Serve the REST API on path. */
int vmm_api_start(struct vmm *v, const char *path, char *err, size_t errlen);
/* Build the VM from v->cfg (validated) and start it. */
int vmm_boot(struct vmm *v, char *err, size_t errlen);
/* Build the VM from a snapshot and start it (unless req->paused). */
int vmm_restore(struct vmm *v, const struct vmm_restore_req *req, char *err,
		size_t errlen);
/* Run the loop until the VM ends (or a signal without a VM). */
enum vm_exit vmm_run(struct vmm *v);
/* Flush the console; on a crash/reboot, print its last lines. */
void vmm_report_end(struct vmm *v, enum vm_exit status);
void vmm_teardown(struct vmm *v);

extern const struct api_ops vmm_api_ops;

/* --- vmm.c internals shared with vmm_snapshot.c --- */

/* The VM and its devices per v->cfg, without kernel/boot setup. */
int vmm_build_vm(struct vmm *v, const struct vm_params *p, char *err,
		 size_t errlen);
/* Undo vmm_build_vm (the VM must not be started). */
void vmm_destroy_vm(struct vmm *v);
/* virtio devices in creation order (= MMIO window / GSI order). */
int vmm_virtio_devices(struct vmm *v, struct virtio_dev **out);
int64_t vmm_now_ns(void);

/* --- vmm_snapshot.c --- */

/* While paused.  0 or -1 with err. */
int vmm_snapshot_create(struct vmm *v, const struct api_snapshot_create *req,
			char *err, size_t errlen);

/* VM_CONFIG section codec (pure; unit-tested). */
struct snap_buf;
struct snap_reader;
void vmm_config_put(struct snap_buf *b, const struct vmm_config *c);
/* Into c (config_init'ed by the caller).  0 or -1 with err. */
int vmm_config_get(struct snap_reader *r, struct vmm_config *c, char *err,
		   size_t errlen);

/* VM_INFO: what a restore must match. */
struct vmm_info {
	uint32_t version;
	char vendor[13];
	uint32_t family, model, stepping;
	uint32_t cpu_template, ncpus;
	uint64_t mem_size;
	uint32_t kvm_api;
};
void vmm_info_host(struct vmm_info *i, const struct vmm_config *c);
void vmm_info_put(struct snap_buf *b, const struct vmm_info *i);
int vmm_info_get(struct snap_reader *r, struct vmm_info *i);
/* Can a snapshot with info saved restore on a host described by here?
 * 0 or -1 with err. */
int vmm_info_check(const struct vmm_info *saved, const struct vmm_info *here,
		   char *err, size_t errlen);

#endif
