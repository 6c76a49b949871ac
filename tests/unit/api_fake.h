/* SPDX-License-Identifier: MIT */
/*
 * A test double for struct api_ops shared by the API's unit tests: it
 * records every call (copying the request, whose strings die with the
 * request body) and answers with a programmed status and message.
 */
#ifndef KILN_TEST_API_FAKE_H
#define KILN_TEST_API_FAKE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/api.h"
#include "vmm/config.h"

enum fake_op {
	FAKE_START,
	FAKE_PAUSE,
	FAKE_RESUME,
	FAKE_CAD,
	FAKE_SNAP_CREATE,
	FAKE_SNAP_LOAD,
	FAKE_NOPS
};

struct fake {
	enum api_vm_state state;
	struct vmm_config cfg;
	bool no_config; /* config() returns NULL */
	int calls[FAKE_NOPS];
	int rc; /* what the next op returns */
	char msg[128]; /* and its message */
	/* The last snapshot requests, copied. */
	char state_path[256], mem_path[256], vsock_uds[256], net[64];
	bool diff, track_dirty, resume, has_vsock, has_net;
	int ndrives;
	char drive_id[API_MAX_DRIVE_OVERRIDES][64];
	char drive_path[API_MAX_DRIVE_OVERRIDES][256];
	int nnets; /* network_overrides; net is the first one's TAP */
	char net_id[API_MAX_NET_OVERRIDES][64];
	char net_tap[API_MAX_NET_OVERRIDES][64];
};

static inline int fake_calls(const struct fake *f)
{
	int n = 0;

	for (int i = 0; i < FAKE_NOPS; i++)
		n += f->calls[i];
	return n;
}

static inline int fake_answer(struct fake *f, enum fake_op op, char *err,
			      size_t errlen)
{
	f->calls[op]++;
	snprintf(err, errlen, "%s", f->msg);
	return f->rc;
}

static inline enum api_vm_state fake_state(void *ctx)
{
	return ((struct fake *)ctx)->state;
}

static inline struct vmm_config *fake_config(void *ctx)
{
	struct fake *f = ctx;

	return f->no_config ? NULL : &f->cfg;
}

static inline int fake_start(void *ctx, char *err, size_t errlen)
{
	struct fake *f = ctx;
	int rc = fake_answer(f, FAKE_START, err, errlen);

	if (!rc)
		f->state = API_VM_RUNNING;
	return rc;
}

static inline int fake_pause(void *ctx, char *err, size_t errlen)
{
	struct fake *f = ctx;
	int rc = fake_answer(f, FAKE_PAUSE, err, errlen);

	if (!rc)
		f->state = API_VM_PAUSED;
	return rc;
}

static inline int fake_resume(void *ctx, char *err, size_t errlen)
{
	struct fake *f = ctx;
	int rc = fake_answer(f, FAKE_RESUME, err, errlen);

	if (!rc)
		f->state = API_VM_RUNNING;
	return rc;
}

static inline int fake_cad(void *ctx, char *err, size_t errlen)
{
	return fake_answer(ctx, FAKE_CAD, err, errlen);
}

static inline int fake_snap_create(void *ctx,
				   const struct api_snapshot_create *req,
				   char *err, size_t errlen)
{
	struct fake *f = ctx;

	snprintf(f->state_path, sizeof(f->state_path), "%s", req->state_path);
	snprintf(f->mem_path, sizeof(f->mem_path), "%s", req->mem_path);
	f->diff = req->diff;
	return fake_answer(f, FAKE_SNAP_CREATE, err, errlen);
}

static inline int fake_snap_load(void *ctx, const struct api_snapshot_load *req,
				 char *err, size_t errlen)
{
	struct fake *f = ctx;

	snprintf(f->state_path, sizeof(f->state_path), "%s", req->state_path);
	snprintf(f->mem_path, sizeof(f->mem_path), "%s", req->mem_path);
	f->track_dirty = req->track_dirty;
	f->resume = req->resume;
	f->has_vsock = req->vsock_uds != NULL;
	if (req->vsock_uds)
		snprintf(f->vsock_uds, sizeof(f->vsock_uds), "%s",
			 req->vsock_uds);
	f->has_net = req->nnets > 0;
	f->nnets = req->nnets;
	for (int i = 0; i < req->nnets && i < API_MAX_NET_OVERRIDES; i++) {
		snprintf(f->net_id[i], sizeof(f->net_id[i]), "%s",
			 req->nets[i].id);
		snprintf(f->net_tap[i], sizeof(f->net_tap[i]), "%s",
			 req->nets[i].tap);
	}
	if (req->nnets)
		snprintf(f->net, sizeof(f->net), "%s", req->nets[0].tap);
	f->ndrives = req->ndrives;
	for (int i = 0; i < req->ndrives && i < API_MAX_DRIVE_OVERRIDES; i++) {
		snprintf(f->drive_id[i], sizeof(f->drive_id[i]), "%s",
			 req->drives[i].id);
		snprintf(f->drive_path[i], sizeof(f->drive_path[i]), "%s",
			 req->drives[i].path);
	}
	if (!f->rc && req->resume)
		f->state = API_VM_RUNNING;
	else if (!f->rc)
		f->state = API_VM_PAUSED;
	return fake_answer(f, FAKE_SNAP_LOAD, err, errlen);
}

static inline const char *fake_id(void *ctx)
{
	(void)ctx;
	return "sbx-1";
}

static const struct api_ops fake_ops = {
	.state = fake_state,
	.config = fake_config,
	.start = fake_start,
	.pause = fake_pause,
	.resume = fake_resume,
	.ctrl_alt_del = fake_cad,
	.snapshot_create = fake_snap_create,
	.snapshot_load = fake_snap_load,
	.instance_id = fake_id,
};

static inline void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
}

static inline void fake_free(struct fake *f)
{
	config_free(&f->cfg);
}

#endif
