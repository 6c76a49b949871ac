/* SPDX-License-Identifier: MIT */
/*
 * A new persistent sandbox from a checkpoint
 * (kiln_sandbox_config.from_checkpoint, `kiln create --from`;
 * sandbox_from.c).  The parsing and the merge of the two configurations
 * are separate so they are testable without a state database or a VM.
 */
#ifndef KILN_LIB_SANDBOX_FROM_H
#define KILN_LIB_SANDBOX_FROM_H

#include <stddef.h>

#include "kiln.h"
#include "lib/state.h"

/*
 * Split "SANDBOX:NAME" into the sandbox reference (id, id prefix or
 * name) and the checkpoint name, each checked against the naming rules.
 * KILN_EINVAL with a message in err otherwise.
 */
int sandbox_from_parse(const char *spec, char sandbox[STATE_NAME_MAX + 1],
		       char name[STATE_NAME_MAX + 1], char *err, size_t errlen);

/*
 * The configuration of a sandbox made from a checkpoint: *out is *cfg
 * with the kernel, image, vCPUs, memory and extra command line of the
 * checkpointed sandbox (*src, its stored configuration), which its VM
 * state was made with.  Each of them cfg leaves unset is taken from src;
 * one it sets must be equal (the same file for paths), else KILN_EINVAL
 * with a message naming both values.  what names the checkpoint in it.
 * out's strings point into cfg and src.
 */
int sandbox_from_merge(const struct kiln_sandbox_config *cfg,
		       const struct kiln_sandbox_config *src, const char *what,
		       struct kiln_sandbox_config *out, char *err,
		       size_t errlen);

/*
 * kiln_sandbox_create() with cfg->from_checkpoint (cfg->persistent is
 * set): the checkpoint is looked up, the configurations merged, and the
 * sandbox created restoring the checkpoint (store_create_from()).
 */
int sandbox_create_from_checkpoint(struct kiln *k,
				   const struct kiln_sandbox_config *cfg,
				   struct kiln_sandbox **out);

#endif
