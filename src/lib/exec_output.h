/* SPDX-License-Identifier: MIT */
/*
 * The output options of a struct kiln_exec (kiln.h): the per-stream cap
 * (max_output, enforced by the guest agent and checked by the client) and
 * collected output (collect: into malloc'd buffers of the result instead
 * of the caller's callbacks).  Shared by kiln_sandbox_exec() (sandbox.c)
 * and kiln_sandbox_exec_attach() (sandbox_procs.c).
 */
#ifndef KILN_LIB_EXEC_OUTPUT_H
#define KILN_LIB_EXEC_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"
#include "lib/agent_client.h"

/* One collected stream: its bytes go to a buffer and length of the result. */
struct exec_sink {
	char **data;
	size_t *len;
	size_t alloc; /* bytes allocated at *data */
	uint64_t cap; /* keep at most this many */
	bool over; /* more than cap arrived (an attach: its exec's cap) */
};

struct exec_collect {
	struct exec_sink out, err;
};

/*
 * Check ex's output options and apply them: the cap to o (NULL for an
 * attach: its exec's cap applies), and with ex->collect the collectors,
 * writing into res, as io's output callbacks (else ex's callbacks).
 * KILN_OK, or KILN_EINVAL/KILN_ENOMEM with the message set on k.
 */
int exec_output_setup(struct kiln *k, const struct kiln_exec *ex,
		      struct kiln_exec_result *res, struct exec_collect *col,
		      struct agent_exec_opts *o, struct agent_exec_io *io);

/* The command ended: its output totals (ar) and col's findings into res. */
void exec_output_finish(struct kiln_exec_result *res,
			const struct agent_exec_result *ar,
			const struct exec_collect *col);

#endif
