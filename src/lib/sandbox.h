/* SPDX-License-Identifier: MIT */
/*
 * struct kiln_sandbox inside libkiln: one microVM (kiln-vmm child, its
 * runtime directory, the agent connection), or a connection to an agent
 * that runs elsewhere (kiln_sandbox_attach()).
 */
#ifndef KILN_LIB_SANDBOX_H
#define KILN_LIB_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "lib/agent_client.h"
#include "lib/rundir.h"
#include "lib/vmm_proc.h"

struct kiln_sandbox {
	struct kiln *k;
	struct kiln_sandbox *next, *prev; /* k->sandboxes */
	char id[RUNDIR_ID_LEN + 1];

	char *dir; /* private runtime directory; NULL when attached */
	char *uds_path; /* the VMM's vsock socket */
	char *console_path;
	char *vmm_log_path;
	char *api_path; /* the VMM's REST API socket (pause, snapshots) */
	struct vmm_proc vmm; /* pid 0 when attached */

	/* the agent connection: take it with sandbox_agent_get(), which
	 * opens a fresh one when it was lost (a restore, a rollback) or
	 * abandoned (a cancel, a timeout); NULL until then */
	struct agent_client *agent;
	char *endpoint; /* attached: the agent's Unix socket; else NULL */
	bool restored; /* from a snapshot: give the guest its identity */
	/* restore this snapshot instead of the base one (checkpoints);
	 * restore_overlay: its root disk overlay (NULL: it has none) */
	const char *restore_state, *restore_mem, *restore_overlay;

	/* persistent sandboxes (sandbox_store.c) */
	bool persistent; /* recorded in the state database */
	bool opened; /* by kiln_sandbox_open(): the VMM is not in vmm */
	int opened_pid; /* then: its pid and start time, for liveness */
	uint64_t opened_start;
	/* the VMM starts in network namespace kiln-<id> (net.h), and the
	 * guest's eth0 gets the addresses of slot net_slot */
	bool netns;
	uint32_t net_slot;
	/* restored from a snapshot without eth0 (older than the base
	 * snapshot's NIC): the guest stays offline, no net_config */
	bool net_offline;
	/* created with the jail off (its row's no_jail): never jailed,
	 * whatever the handle says (sandbox_jail_wanted()) */
	bool no_jail;
	/* KILN_JAIL_NO_* it was created with (its row's jail_relax) */
	unsigned int jail_relax;
};

struct sandbox_params;

/* ---- shared by sandbox.c, sandbox_launch.c and sandbox_store*.c ---- */

struct kiln_sandbox *sandbox_alloc(struct kiln *k);

/*
 * Stop everything sb owns (the VMM, the runtime directory) and free sb.
 * graceful: ask the agent to power off first.  Returns 0, or a status
 * with a message in err.
 */
int sandbox_teardown(struct kiln_sandbox *sb, bool graceful, char *err,
		     size_t errlen);

/* Find kiln-vmm (k->vmm_path, else $PATH); check /dev/kvm. */
int sandbox_vmm_resolve(struct kiln *k, char **out);
int sandbox_kvm_check(struct kiln *k);

/*
 * Create sb's runtime directory <base>/<id> (id: the state store's id, base
 * NULL: the handle's runtime directory; id NULL: a fresh random id) with
 * an empty console log and the VMM's log, open for appending in *log_fd.
 */
int sandbox_prepare_dir(struct kiln_sandbox *sb, const char *id,
			const char *base, int *log_fd);

/*
 * Start sb's VMM (sandbox_launch.c).  The only place that decides how a VM
 * comes to life: a restore of the base snapshot or of a checkpoint, or a
 * cold boot; its NIC eth0 on tap0 when sb->netns, else disconnected.
 */
int sandbox_launch_vmm(struct kiln_sandbox *sb, const struct sandbox_params *p,
		       const char *vmm_path, int log_fd, unsigned int cid,
		       bool detach);

/* Boot p with the REST API on api_sock and the root disk's overlay in
 * overlay (for building base snapshots). */
int sandbox_launch_vmm_api(struct kiln_sandbox *sb,
			   const struct sandbox_params *p, const char *vmm_path,
			   int log_fd, const char *api_sock,
			   const char *overlay);

/* Wait for the agent (boot deadline, VMM exit, cancel fd); a restored
 * sandbox then gets its own identity (entropy, clock, hostname), one with
 * a network namespace its address (sb->net_slot). */
int sandbox_wait_agent(struct kiln_sandbox *sb,
		       const struct kiln_sandbox_config *cfg);

/* Append kiln-vmm's output and the console's last lines to k's message. */
void sandbox_fail_tails(struct kiln_sandbox *sb);

/* ---- sandbox_agent.c: the one way to the agent ---- */

/*
 * sb's agent connection for the next request, in *out.  A connection that
 * was lost (hung up while idle: the VM was restored or rolled back, the
 * agent restarted) or abandoned (sandbox_agent_lost()) is replaced by a
 * fresh one, with the handshake, bounded by SANDBOX_RECONNECT_MS, as long
 * as the VMM runs; a persistent sandbox's VMM is the one its row names,
 * so the handle follows a rollback or restart by any process.  Else a
 * status with a message saying which sandbox, what happened and what to
 * do.
 */
#define SANDBOX_RECONNECT_MS 10000
int sandbox_agent_get(struct kiln_sandbox *sb, struct agent_client **out);

/* Close sb's connection (the agent kills what still runs on it). */
void sandbox_agent_drop(struct kiln_sandbox *sb);

/* Replace sb's connection by a fresh one, recording nothing on k (for
 * the teardown's power-off request).  An agent_err. */
int sandbox_agent_reconnect_quiet(struct kiln_sandbox *sb, int timeout_ms);

/*
 * Request `what` failed on sb's connection with r (an agent_err that left
 * the connection unusable: I/O, protocol, timeout, cancel): drop the
 * connection so the next call reconnects (the request itself is not
 * retried), and record on k why: KILN_ECANCELED, KILN_EVMM when the VM
 * stopped (with its last output), else KILN_ETIMEOUT or KILN_EGUEST.
 * Returns that status.
 */
int sandbox_agent_lost(struct kiln_sandbox *sb, int r, const char *what,
		       const char *err);

/* ---- sandbox_store.c ---- */

/* kiln_sandbox_create() with cfg->persistent set. */
int sandbox_store_create(struct kiln *k, const struct kiln_sandbox_config *cfg,
			 struct kiln_sandbox **out);

/* kiln_sandbox_destroy() of a persistent sandbox. */
int sandbox_store_destroy(struct kiln_sandbox *sb);

/* An opened sandbox's VMM has ended (waits up to wait_ms for it). */
bool sandbox_vmm_gone(struct kiln_sandbox *sb, int wait_ms);

#endif
