/* SPDX-License-Identifier: MIT */
/* --max-output and --json of `kiln exec` and `kiln run` (exec_output.h). */
#include "cli/exec_output.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int exec_output_parse_size(const char *opt, const char *s, uint64_t max,
			   uint64_t *out, char *err, size_t errlen)
{
	static const char suffixes[] = "KMGT";
	unsigned long long v = 0;
	unsigned int shift = 0;
	const char *suf;
	char *end = NULL;

	errno = 0;
	if (s[0] >= '0' && s[0] <= '9')
		v = strtoull(s, &end, 10);
	if (!end || errno || (end[0] && end[1]))
		goto bad;
	if (end[0]) {
		suf = strchr(suffixes, end[0]);
		if (!suf)
			goto bad;
		shift = 10u * (unsigned int)(suf - suffixes + 1);
	}
	if (v == 0)
		goto bad;
	if (v > (max >> shift)) {
		snprintf(err, errlen, "%s: '%s' is too large (at most %llu)",
			 opt, s, (unsigned long long)max);
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
bad:
	snprintf(err, errlen,
		 "%s: '%s' is not a size > 0 (bytes, optionally with K, M, G "
		 "or T)",
		 opt, s);
	return -1;
}

void exec_output_configure(struct kiln_exec *ex, uint64_t max_output, bool json)
{
	ex->max_output = max_output;
	if (!json)
		return;
	/* collected, printed as one object (exec_output_json()) */
	ex->collect = 1;
	ex->on_stdout = ex->on_stderr = NULL;
	if (!ex->max_output)
		ex->max_output = EXEC_JSON_DEFAULT_CAP;
}

char *exec_output_base64(const void *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789+/";
	const unsigned char *in = p;
	size_t i, o = 0;
	char *s;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	s = malloc((n + 2) / 3 * 4 + 1);
	if (!s)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 |
				  (unsigned long)in[i + 1] << 8 | in[i + 2];

		s[o++] = tab[v >> 18];
		s[o++] = tab[(v >> 12) & 63];
		s[o++] = tab[(v >> 6) & 63];
		s[o++] = tab[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		s[o++] = tab[v >> 18];
		s[o++] = tab[(v >> 12) & 63];
		s[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		s[o++] = '=';
	}
	s[o] = '\0';
	return s;
}

/*
 * One stream into o: "NAME" as a string when it is valid UTF-8 (jansson
 * checks; NUL bytes are fine, as \u0000), else null and "NAME_base64".
 */
static int stream_json(json_t *o, const char *name, const char *data,
		       size_t len, uint64_t bytes, int capped)
{
	json_t *str = json_stringn(data ? data : "", data ? len : 0);
	char key[32], *b64 = NULL;
	int rc;

	if (!str) {
		b64 = exec_output_base64(data, len);
		if (!b64)
			return -1;
	}
	snprintf(key, sizeof(key), "%s_base64", name);
	rc = json_object_set_new(o, name, str ? str : json_null());
	rc |= json_object_set_new(o, key, b64 ? json_string(b64) : json_null());
	free(b64);
	snprintf(key, sizeof(key), "%s_bytes", name);
	rc |= json_object_set_new(o, key, json_integer((json_int_t)bytes));
	snprintf(key, sizeof(key), "%s_capped", name);
	rc |= json_object_set_new(o, key, json_boolean(capped));
	return rc ? -1 : 0;
}

json_t *exec_output_json(const struct kiln_exec_result *res)
{
	const char *sig = res->signaled ? sigabbrev_np(res->signal) : NULL;
	char signum[16];
	json_t *o;

	if (res->signaled && !sig) {
		snprintf(signum, sizeof(signum), "%d", res->signal);
		sig = signum;
	}
	o = json_pack("{s:o,s:o,s:b}", "exit_code",
		      res->exited ? json_integer(res->exit_code) : json_null(),
		      "signal", sig ? json_string(sig) : json_null(),
		      "timed_out", res->timed_out);
	/* an older agent reports no totals: what arrived is all we know */
	if (!o ||
	    stream_json(o, "stdout", res->stdout_data, res->stdout_len,
			res->have_totals ? res->stdout_bytes : res->stdout_len,
			res->stdout_capped) < 0 ||
	    stream_json(o, "stderr", res->stderr_data, res->stderr_len,
			res->have_totals ? res->stderr_bytes : res->stderr_len,
			res->stderr_capped) < 0 ||
	    json_object_set_new(o, "output_dropped",
				json_boolean(res->output_dropped)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void warn_capped(const char *name, uint64_t cap, uint64_t bytes)
{
	if (cap)
		fprintf(stderr,
			"kiln: %s capped at %llu bytes (%llu produced)\n", name,
			(unsigned long long)cap, (unsigned long long)bytes);
	else /* attach: the cap its exec was started with */
		fprintf(stderr,
			"kiln: %s capped by the command's --max-output (%llu "
			"bytes produced)\n",
			name, (unsigned long long)bytes);
}

void exec_output_warn(const struct kiln_exec_result *res, uint64_t cap)
{
	if (res->stdout_capped)
		warn_capped("stdout", cap, res->stdout_bytes);
	if (res->stderr_capped)
		warn_capped("stderr", cap, res->stderr_bytes);
	if (res->output_dropped)
		fprintf(stderr,
			"kiln: output dropped: the terminal still had output "
			"after the command exited (the guest reads at most "
			"1 MiB more once it exits; a background process kept "
			"writing)\n");
}
