/* SPDX-License-Identifier: MIT */
/*
 * The ps and kill ops (docs/PROTOCOL.md): the guest's processes from
 * /proc, each marked with the exec (connection and request id) whose
 * process group it belongs to, and signals to a pid or to an exec's
 * process group.
 */
#ifndef KILN_AGENT_PS_H
#define KILN_AGENT_PS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/server.h"

/* Command lines are cut to this many bytes (and marked truncated). */
#define PS_CMDLINE_MAX 256
/* At most this many processes per reply (and under PS_REPLY_MAX bytes). */
#define PS_MAX_PROCS 4096
#define PS_REPLY_MAX (900u << 10)

struct ps_entry {
	pid_t pid, ppid, pgid;
	uint32_t uid; /* effective */
	char state; /* R, S, D, Z, T, ... */
	uint64_t rss_kib;
	uint64_t start_ticks; /* since boot, in clock ticks */
	char comm[64];
	char cmdline[PS_CMDLINE_MAX + 1]; /* argv joined by spaces */
	bool cmdline_truncated;
};

/*
 * Parse the text of /proc/<pid>/stat (pure): pid, comm, state, ppid,
 * pgrp, starttime, rss (pages, converted with page_kib).  0 or -1.
 */
int ps_parse_stat(const char *text, size_t len, unsigned int page_kib,
		  struct ps_entry *e);

/*
 * Join a raw /proc/<pid>/cmdline (NUL-separated) into e->cmdline with
 * spaces, at most PS_CMDLINE_MAX bytes, bytes that are not valid UTF-8
 * replaced by '?'; total is the full length (for the truncated flag).
 */
void ps_join_cmdline(const uint8_t *raw, size_t len, size_t total,
		     struct ps_entry *e);

/*
 * Read one process from proc_dir/<pid>; -1 if it vanished or cannot be
 * read (the caller skips it).
 */
int ps_read_one(const char *proc_dir, pid_t pid, struct ps_entry *e);

/* The op handlers (request.c dispatches to them). */
void ps_op(struct conn *c, uint32_t id, json_t *obj);
void ps_kill_op(struct conn *c, uint32_t id, json_t *obj);

#endif
