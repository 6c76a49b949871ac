/* SPDX-License-Identifier: MIT */
/*
 * The status op (docs/PROTOCOL.md): the guest's health in one reply:
 * versions, uptime, load, memory (/proc/meminfo), root file system usage,
 * process count, sandbox id and hostname.
 */
#ifndef KILN_AGENT_STATUS_H
#define KILN_AGENT_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/server.h"

/* Processes counted in /proc at most (the loop's bound). */
#define STATUS_MAX_PROCS 1000000

/*
 * MemTotal and MemAvailable (kB) from the text of /proc/meminfo (pure).
 * Returns 0, or -1 if either is missing or malformed.
 */
int status_parse_meminfo(const char *text, uint64_t *total_kib,
			 uint64_t *avail_kib);

/* Number of processes: numeric entries of proc_dir (/proc); -1 on error. */
long status_count_processes(const char *proc_dir);

/* The op handler (request.c dispatches to it). */
void status_op(struct conn *c, uint32_t id, json_t *obj);

#endif
