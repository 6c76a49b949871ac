/* SPDX-License-Identifier: MIT */
/*
 * The output options of `kiln exec` and `kiln run`: --max-output (a
 * per-stream cap, reported on stderr when hit) and --json (the output
 * collected and printed as one JSON object; docs/CLI.md).  Kept apart from
 * running commands so that it can be unit-tested.
 */
#ifndef KILN_CLI_EXEC_OUTPUT_H
#define KILN_CLI_EXEC_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* --json without --max-output: what is collected per stream (16 MiB) */
#define EXEC_JSON_DEFAULT_CAP KILN_EXEC_COLLECT_DEFAULT

/*
 * A byte count "123", "64K", "16M" (K, M, G, T: powers of 1024) in
 * 1..max.  0, or -1 with a message naming opt in err.
 */
int exec_output_parse_size(const char *opt, const char *s, uint64_t max,
			   uint64_t *out, char *err, size_t errlen);

/*
 * Output options into ex: the cap, and with json collected output (no
 * callbacks; EXEC_JSON_DEFAULT_CAP without a cap) to print as one object.
 */
void exec_output_configure(struct kiln_exec *ex, uint64_t max_output,
			   bool json);

/* Base64 (RFC 4648, with padding) of n bytes, malloc'd; NULL: no memory. */
char *exec_output_base64(const void *p, size_t n);

/*
 * The --json object of a command that ran, its output collected in res
 * (kiln_exec.collect): a new reference, NULL when out of memory.
 */
struct json_t *exec_output_json(const struct kiln_exec_result *res);

/*
 * On stderr, for each stream that was capped at cap bytes ("kiln: stdout
 * capped at N bytes (M produced)"; cap 0: an attach, its exec's cap), and
 * for terminal output dropped after the command exited.
 */
void exec_output_warn(const struct kiln_exec_result *res, uint64_t cap);

#endif
