/* SPDX-License-Identifier: MIT */
/*
 * struct kiln_sandbox inside libkiln: one microVM (kiln-vmm child, its
 * runtime directory, the agent connection), or a connection to an agent
 * that runs elsewhere (kiln_sandbox_attach()).
 */
#ifndef KILN_LIB_SANDBOX_H
#define KILN_LIB_SANDBOX_H

#include <stdbool.h>

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
	struct vmm_proc vmm; /* pid 0 when attached */

	struct agent_client *agent;
	bool broken; /* the agent connection failed: only destroy is left */
};

#endif
