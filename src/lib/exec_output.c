/* SPDX-License-Identifier: MIT */
/*
 * Capped and collected exec output (see exec_output.h).  The guest agent
 * forwards at most max_output bytes per stream and reports what it
 * dropped; agent_exec_feed() refuses more, so a collected buffer never
 * grows past the cap.  The collector bounds itself anyway (an attach does
 * not know its exec's cap): what it cannot keep is reported as capped.
 */
#include "lib/exec_output.h"

#include <stdlib.h>
#include <string.h>

#include "lib/handle.h"

void kiln_exec_result_free(struct kiln_exec_result *res)
{
	if (!res)
		return;
	free(res->stdout_data);
	free(res->stderr_data);
	res->stdout_data = res->stderr_data = NULL;
	res->stdout_len = res->stderr_len = 0;
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct exec_sink *s = ctx;
	size_t keep = len;

	if (*s->len + keep > s->cap) {
		keep = (size_t)(s->cap - *s->len);
		s->over = true;
	}
	if (keep == 0)
		return 0;
	/* room for the NUL; doubling, but never past cap + 1 */
	if (*s->len + keep + 1 > s->alloc) {
		size_t want = s->alloc ? s->alloc : 4096;
		char *p;

		while (want < *s->len + keep + 1)
			want *= 2;
		if (want > s->cap + 1)
			want = (size_t)s->cap + 1;
		p = realloc(*s->data, want);
		if (!p)
			return -1; /* the exec fails: KILN_ECANCELED */
		*s->data = p;
		s->alloc = want;
	}
	memcpy(*s->data + *s->len, buf, keep);
	*s->len += keep;
	(*s->data)[*s->len] = '\0';
	return 0;
}

/* An empty collected stream is "" rather than NULL: it was collected. */
static int sink_open(struct exec_sink *s, char **data, size_t *len,
		     uint64_t cap)
{
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->len = len;
	s->cap = cap;
	*data = calloc(1, 1);
	s->alloc = *data ? 1 : 0;
	return *data ? 0 : -1;
}

int exec_output_setup(struct kiln *k, const struct kiln_exec *ex,
		      struct kiln_exec_result *res, struct exec_collect *col,
		      struct agent_exec_opts *o, struct agent_exec_io *io)
{
	uint64_t cap = ex->max_output;

	memset(col, 0, sizeof(*col));
	if (ex->max_output > KILN_EXEC_MAX_OUTPUT)
		return handle_fail(k, KILN_EINVAL,
				   "exec: max_output %llu is too large; at "
				   "most %llu bytes per stream (0: no cap)",
				   (unsigned long long)ex->max_output,
				   (unsigned long long)KILN_EXEC_MAX_OUTPUT);
	if (o && ex->max_output) {
		o->cap_output = true;
		o->max_output = ex->max_output;
	}
	io->on_stdout = ex->on_stdout;
	io->stdout_ctx = ex->stdout_ctx;
	io->on_stderr = ex->on_stderr;
	io->stderr_ctx = ex->stderr_ctx;
	if (!ex->collect)
		return KILN_OK;
	if (ex->on_stdout || ex->on_stderr)
		return handle_fail(k, KILN_EINVAL,
				   "exec: collect gathers the output itself; "
				   "leave on_stdout and on_stderr NULL");
	if (!cap)
		cap = KILN_EXEC_COLLECT_DEFAULT;
	if (cap > KILN_EXEC_COLLECT_MAX)
		return handle_fail(k, KILN_EINVAL,
				   "exec: max_output %llu is too large to "
				   "collect; at most %llu bytes per stream "
				   "(stream it through on_stdout/on_stderr "
				   "instead)",
				   (unsigned long long)cap,
				   (unsigned long long)KILN_EXEC_COLLECT_MAX);
	if (o) {
		o->cap_output = true;
		o->max_output = cap;
	}
	if (sink_open(&col->out, &res->stdout_data, &res->stdout_len, cap) <
		    0 ||
	    sink_open(&col->err, &res->stderr_data, &res->stderr_len, cap) <
		    0) {
		kiln_exec_result_free(res);
		return handle_fail(k, KILN_ENOMEM,
				   "exec: out of memory for the output");
	}
	io->on_stdout = sink_write;
	io->stdout_ctx = &col->out;
	io->on_stderr = sink_write;
	io->stderr_ctx = &col->err;
	return KILN_OK;
}

void exec_output_finish(struct kiln_exec_result *res,
			const struct agent_exec_result *ar,
			const struct exec_collect *col)
{
	res->have_totals = ar->have_totals;
	res->stdout_bytes = ar->stdout_bytes;
	res->stderr_bytes = ar->stderr_bytes;
	res->stdout_capped = ar->stdout_capped || col->out.over;
	res->stderr_capped = ar->stderr_capped || col->err.over;
	res->output_dropped = ar->output_dropped;
}
