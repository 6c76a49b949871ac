/* SPDX-License-Identifier: MIT */
/*
 * File operations (docs/PROTOCOL.md, "Files"): read_file and write_file
 * stream content as data frames (files.c); stat, list_dir, mkdir, remove,
 * rename and sync answer with one reply (files_ops.c).  Transfers in flight
 * belong to their connection (conn->files) and are pumped by the connection's
 * settle loop a bounded amount at a time, so one huge file never starves other
 * connections.
 */
#ifndef KILN_AGENT_FILES_H
#define KILN_AGENT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/server.h"

/* Error code for file errors other than not_found / permission_denied. */
#define FILES_E_FILE "file_error"
/* read_file data queued per pump call (one loop iteration). */
#define FILES_PUMP_BUDGET (4u * AGENT_CHUNK)
/* list_dir: default and largest entry cap. */
#define FILES_LIST_DEFAULT 10000
#define FILES_LIST_MAX 100000
/* remove recursive: deepest directory nesting handled. */
#define FILES_MAX_DEPTH 128

/* Request handlers (request.c dispatches control messages to them). */
void files_op_read(struct conn *c, uint32_t id, json_t *obj);
void files_op_write(struct conn *c, uint32_t id, json_t *obj);
void files_op_stat(struct conn *c, uint32_t id, json_t *obj);
void files_op_list_dir(struct conn *c, uint32_t id, json_t *obj);
void files_op_mkdir(struct conn *c, uint32_t id, json_t *obj);
void files_op_remove(struct conn *c, uint32_t id, json_t *obj);
void files_op_rename(struct conn *c, uint32_t id, json_t *obj);
void files_op_sync(struct conn *c, uint32_t id, json_t *obj);

/* True if a transfer with request id runs on c. */
bool files_busy_id(const struct conn *c, uint32_t id);

/*
 * Content / EOF frames from the client: true if they belonged to a
 * write_file transfer (then they were consumed).
 */
bool files_data(struct conn *c, uint32_t id, const uint8_t *buf, size_t len);
bool files_eof(struct conn *c, uint32_t id);

/* Queue more read_file content (bounded); called from conn_settle(). */
void files_pump(struct conn *c);

/* True while a read_file still has content to send (wants EPOLLOUT). */
bool files_want_pump(const struct conn *c);

/* Connection closing: abort every transfer (temp files are removed). */
void files_conn_close(struct conn *c);

/* ---- upload / download (files_tar.c) and what files.c shares with it -- */
struct tar_xfer;
struct file_xfer;

void files_op_upload(struct conn *c, uint32_t id, json_t *obj);
void files_op_download(struct conn *c, uint32_t id, json_t *obj);

/* Feed upload content; true if the transfer failed (error sent). */
bool tarx_data(struct conn *c, uint32_t id, const char *path,
	       struct tar_xfer *t, const uint8_t *buf, size_t len);
/* The upload's eof frame: sends the result or the error. */
void tarx_eof(struct conn *c, uint32_t id, const char *path,
	      struct tar_xfer *t);
/* Queue download data within *budget; true when it ended (reply sent). */
bool tarx_pump(struct conn *c, uint32_t id, const char *path,
	       struct tar_xfer *t, size_t *budget);
/* Abort: an unfinished upload file is removed. NULL is fine. */
void tarx_free(struct tar_xfer *t);

/* Register transfer t (owned by the new entry) under id on c. */
struct file_xfer *files_xfer_add(struct conn *c, uint32_t id, const char *path,
				 struct tar_xfer *t, bool writing);
bool files_id_free(struct conn *c, uint32_t id, const char *op);
void files_send_errno(struct conn *c, uint32_t id, const char *op,
		      const char *path, int e);
int files_want_path(json_t *v, const char *op, const char *field,
		    const char **out, char *err, size_t errlen);
int files_want_bool(json_t *v, const char *op, const char *field, bool *out,
		    char *err, size_t errlen);
/* "mode": 0..07777 (unchanged when v is NULL). */
int files_want_mode(json_t *v, const char *op, mode_t *out, char *err,
		    size_t errlen);
/* "file", "dir", "symlink", ... for the type bits of m. */
const char *files_type_name(mode_t m);
/*
 * The owner of what an op creates (files_owner.c): set from "user" (a
 * name or uid looked up in the guest's passwd) or "uid" and "gid".
 */
struct files_owner {
	bool set; /* else: the agent's user (root) */
	uid_t uid;
	gid_t gid;
};

/*
 * Fill o from a request's "user", "uid", "gid" (each may be NULL).
 * Returns 0, or -1 after an error reply (invalid_request, no_such_user).
 */
int files_want_owner(struct conn *c, uint32_t id, const char *op, json_t *juser,
		     json_t *juid, json_t *jgid, struct files_owner *o);
/* Give the new path (not followed if a symlink) to o; 0 or -errno. */
int files_chown_new(const char *path, const struct files_owner *o);

/*
 * mkdir -p of path[0, len): returns 0 or -errno.  The directories it
 * creates belong to o (NULL: the agent's user).
 */
int files_mkdir_parents(const char *path, size_t len, mode_t mode,
			const struct files_owner *o);

#endif
