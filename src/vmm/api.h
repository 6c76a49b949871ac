/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm's REST API: Firecracker's paths and JSON shapes over HTTP/1.1 on
 * a Unix socket, served from the event loop.  The routes (api.c) parse and
 * validate requests and call the VMM through struct api_ops, so the API
 * knows nothing about KVM and can be unit-tested and fuzzed on its own.
 *
 * Errors follow Firecracker: a 4xx/5xx status with
 * {"fault_message": "..."}; a request refused for any reason changes
 * nothing.
 */
#ifndef KILN_VMM_API_H
#define KILN_VMM_API_H

#include <stdbool.h>
#include <stddef.h>

struct evloop;
struct vmm_config;

enum api_vm_state {
	API_VM_NOT_STARTED, /* configuring: the pre-boot PUTs are allowed */
	API_VM_RUNNING,
	API_VM_PAUSED,
};

#define API_MAX_DRIVE_OVERRIDES 16
#define API_MAX_NET_OVERRIDES 4

struct api_snapshot_create {
	const char *state_path; /* "snapshot_path" */
	const char *mem_path; /* "mem_file_path" */
	bool diff; /* "snapshot_type": "Diff" (default "Full") */
};

struct api_snapshot_load {
	const char *state_path; /* "snapshot_path" */
	const char *mem_path; /* "mem_backend": {"backend_path"} or
				 "mem_file_path" */
	bool track_dirty; /* "enable_diff_snapshots"/"track_dirty_pages" */
	bool resume; /* "resume_vm" */
	const char *vsock_uds; /* override: "vsock_override": {"uds_path"} */
	int ndrives; /* overrides: "drive_overrides": [{"drive_id",
			"path_on_host"}] */
	struct {
		const char *id, *path;
	} drives[API_MAX_DRIVE_OVERRIDES];
	int nnets; /* overrides: "network_overrides": [{"iface_id",
		      "host_dev_name"}] */
	struct {
		const char *id, *tap;
	} nets[API_MAX_NET_OVERRIDES];
};

/*
 * What the API needs from the VMM.  Every call runs on the event loop
 * thread.  Return 0, or a negative errno with a message in err:
 * -EINVAL / -ENOENT / -EEXIST / -EBUSY (wrong state) become 400,
 * anything else 500.
 */
struct api_ops {
	enum api_vm_state (*state)(void *ctx);
	/* The configuration the pre-boot PUTs edit (API_VM_NOT_STARTED). */
	struct vmm_config *(*config)(void *ctx);
	/* "InstanceStart": validate the configuration and boot. */
	int (*start)(void *ctx, char *err, size_t errlen);
	int (*pause)(void *ctx, char *err, size_t errlen);
	int (*resume)(void *ctx, char *err, size_t errlen);
	/* "SendCtrlAltDel": ask the guest to shut down cleanly. */
	int (*ctrl_alt_del)(void *ctx, char *err, size_t errlen);
	/* Only while paused. */
	int (*snapshot_create)(void *ctx, const struct api_snapshot_create *req,
			       char *err, size_t errlen);
	/* Only before start (the VM is built from the snapshot). */
	int (*snapshot_load)(void *ctx, const struct api_snapshot_load *req,
			     char *err, size_t errlen);
	/* Informational "id" for GET / (may return NULL). */
	const char *(*instance_id)(void *ctx);
};

struct api_server;

/*
 * Listen on path (which must not exist; removed again by api_server_free)
 * and serve requests on loop.  0 or -1 with err.
 */
int api_server_start(struct evloop *loop, const char *path,
		     const struct api_ops *ops, void *ctx,
		     struct api_server **out, char *err, size_t errlen);
void api_server_free(struct api_server *s);

/*
 * Override the connection timeouts (<= 0: the default): a request must
 * arrive whole within request_ms of its first byte (10 s; else 408 and
 * the connection closes), an idle connection closes after idle_ms (60 s).
 */
void api_server_set_timeouts(struct api_server *s, int request_ms, int idle_ms);

#endif
