/* SPDX-License-Identifier: MIT */
/*
 * Minimal libkiln user: boot a microVM, run one command, print its output
 * and exit status.
 *
 *   cc -Iinclude examples/run.c build/libkiln.a -ljansson -lpthread \
 *      -o /tmp/kiln-example
 *   /tmp/kiln-example uname -a
 */
#include <stdio.h>
#include <unistd.h>

#include "kiln.h"

static int print_output(void *ctx, const void *buf, size_t len)
{
	FILE *to = ctx;

	return fwrite(buf, 1, len, to) == len ? 0 : -1;
}

static void log_line(void *ctx, enum kiln_log_level level, const char *tag,
		     const char *msg)
{
	(void)ctx;
	fprintf(stderr, "libkiln[%s] %s: %s\n", kiln_log_level_name(level), tag,
		msg);
}

int main(int argc, char **argv)
{
	struct kiln_sandbox_config cfg = {.cpus = 1, .memory_mib = 256};
	struct kiln_exec_result res;
	struct kiln_options opts;
	struct kiln_exec ex;
	struct kiln *k;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	kiln_options_init(&opts);
	opts.log = log_line;
	/* it keeps no sandboxes: a private in-memory store, no state file */
	opts.state_store = KILN_STATE_MEMORY;
	if (kiln_open(&opts, &k) != KILN_OK)
		return 1; /* the logger said why */

	kiln_exec_init(&ex);
	ex.argv = (const char *const *)(argv + 1);
	ex.on_stdout = print_output;
	ex.stdout_ctx = stdout;
	ex.on_stderr = print_output;
	ex.stderr_ctx = stderr;

	rc = kiln_run(k, &cfg, &ex, &res);
	if (rc != KILN_OK) {
		fprintf(stderr, "kiln_run: %s: %s\n", kiln_strstatus(rc),
			kiln_errmsg(k));
		kiln_close(k);
		return 1;
	}
	fflush(stdout);
	if (res.exited)
		fprintf(stderr, "exited with %d\n", res.exit_code);
	else
		fprintf(stderr, "killed by signal %d\n", res.signal);
	kiln_close(k);
	return 0;
}
