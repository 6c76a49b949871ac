/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes inside libkiln: the state database as the record of
 * which VMMs should exist, and the reconciliation of that record with the
 * processes that really do (sandbox_store.c, sandbox_reconcile.c).
 */
#ifndef KILN_LIB_SANDBOX_STORE_H
#define KILN_LIB_SANDBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "lib/state.h"

#define STORE_FILE "state.db"
#define STORE_SHUTDOWN_ACK_MS 10000 /* agent accepts a power-off request */
#define STORE_POWEROFF_WAIT_MS 20000 /* then the VMM should exit */
#define STORE_TERM_WAIT_MS 5000 /* after SIGTERM, before SIGKILL */
#define STORE_CONNECT_MS 10000 /* connect + hello to a running agent */
#define STORE_REASON_MAX 512

/*
 * The state database of k, opened on first use (creating the state
 * directory, 0700) and reconciled once per handle.  Failures are recorded
 * on k.
 */
int store_open(struct kiln *k, struct state **out);

/* This process as an owner of an operation: pid and start time. */
int store_self(int *pid, uint64_t *start);

/* Whether pid with that start time still runs (0 pid: no). */
bool store_proc_alive(int pid, uint64_t start);

/*
 * Make row's VMM exit if it still runs (same pid and start time):
 * graceful asks its agent to power off first, then SIGTERM, then SIGKILL.
 * Returns 0 (also when it was gone already) or a status with a message in
 * err.
 */
int store_vmm_stop(const struct state_sandbox *row, bool graceful, char *err,
		   size_t errlen);

/*
 * Why row's VMM ended, as far as its log tells: its last own message in
 * vmm.log, else a note that it left none (SIGKILL, host restart).
 */
void store_exit_reason(const struct state_sandbox *row, char *buf, size_t len);

/*
 * Bring one row in line with reality (see kiln.h, "Persistent
 * sandboxes").  On return *row is the current record, or *deleted is set
 * when a half-created sandbox was rolled back.
 */
int reconcile_row(struct kiln *k, struct state *st, struct state_sandbox *row,
		  bool *deleted);

/* reconcile_row() for every sandbox; failures are logged, not fatal. */
void reconcile_all(struct kiln *k, struct state *st);

#endif
