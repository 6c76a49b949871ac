/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the agent's tar reader (src/agent/tar.c), which
 * parses archives sent by the host for the upload op.  The first input
 * byte picks the chunk size the rest is fed in (the reader must give the
 * same result for any chunking: checked against a single whole-buffer
 * pass), and invariants are checked on every callback: paths are
 * NUL-terminated within bounds, content never exceeds the entry's size,
 * and every entry with content ends exactly once.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     tests/fuzz/fuzz_tar.c src/agent/tar.c -o fuzz_tar
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tar.h"

struct seen {
	uint64_t entries, ends, bytes, left;
	uint64_t sum; /* of the content, to compare the two passes */
	bool in_entry;
};

static int on_entry(void *ctx, const struct tar_entry *e)
{
	struct seen *s = ctx;

	if (s->in_entry)
		abort(); /* the previous entry never ended */
	if (strlen(e->path) > TAR_PATH_MAX ||
	    strlen(e->linkpath) > TAR_PATH_MAX || !e->path[0] ||
	    e->mode > 07777)
		abort();
	s->entries++;
	s->left = e->size;
	s->in_entry = true;
	return 0;
}

static int on_data(void *ctx, const uint8_t *buf, size_t len)
{
	struct seen *s = ctx;

	if (!s->in_entry || len == 0 || len > s->left)
		abort();
	s->left -= len;
	s->bytes += len;
	for (size_t i = 0; i < len; i++)
		s->sum = s->sum * 31 + buf[i];
	return 0;
}

static int on_end(void *ctx)
{
	struct seen *s = ctx;

	if (!s->in_entry || s->left)
		abort();
	s->in_entry = false;
	s->ends++;
	return 0;
}

static const struct tar_reader_ops ops = {on_entry, on_data, on_end};

static int run(struct tar_reader *r, const uint8_t *p, size_t n, size_t chunk,
	       struct seen *s)
{
	int rc = 0;

	tar_reader_init(r);
	memset(s, 0, sizeof(*s));
	for (size_t off = 0; off < n && rc == 0; off += chunk)
		rc = tar_reader_feed(
			r, p + off, off + chunk > n ? n - off : chunk, &ops, s);
	if (rc == 0)
		rc = tar_reader_finish(r) == 0 ? 1 : 0;
	return rc; /* 1 complete, 0 truncated, -1 malformed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tar_reader r;
	struct seen a, b;
	size_t chunk;
	int ra, rb;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 97 + 1;
	ra = run(&r, data + 1, size - 1, chunk, &a);
	rb = run(&r, data + 1, size - 1, size, &b);
	if (ra != rb || a.entries != b.entries || a.bytes != b.bytes ||
	    a.sum != b.sum || a.ends != b.ends)
		abort(); /* chunking changed the outcome */
	if (ra == 1 && a.in_entry)
		abort(); /* complete, but an entry never ended */
	return 0;
}
