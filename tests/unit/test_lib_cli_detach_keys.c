/* SPDX-License-Identifier: MIT */
/*
 * The detach key sequence (src/cli/detach_keys.c): parsing docker's key
 * format, and the filter on raw terminal input: a sequence in one read,
 * split across reads, a partial one at the end of a buffer, a lone first
 * key followed by another byte (passed through, in order), repeated first
 * keys, "none"; and the relay thread end to end through a pipe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/detach_keys.c"

#define CP 0x10 /* ctrl-p */
#define CQ 0x11 /* ctrl-q */

static struct detach_keys keys(const char *spec)
{
	struct detach_keys k;
	char err[256];

	if (detach_keys_parse(spec, &k, err, sizeof(err)) < 0)
		fail_msg("%s: %s", spec, err);
	return k;
}

static void test_parse(void **state)
{
	struct detach_keys k = keys(DETACH_KEYS_DEFAULT);
	char err[256];

	assert_int_equal(k.len, 2);
	assert_int_equal(k.seq[0], CP);
	assert_int_equal(k.seq[1], CQ);
	k = keys("ctrl-a,x,ctrl-[,ctrl-@,ctrl-_,Z");
	assert_int_equal(k.len, 6);
	assert_memory_equal(k.seq, "\x01x\x1b\x00\x1fZ", 6);
	k = keys("none");
	assert_int_equal(k.len, 0);
	assert_int_equal(detach_keys_parse("", &k, err, sizeof(err)), -1);
	assert_int_equal(detach_keys_parse("ctrl-", &k, err, sizeof(err)), -1);
	assert_int_equal(detach_keys_parse("ctrl-p,", &k, err, sizeof(err)),
			 -1);
	assert_int_equal(detach_keys_parse("ctrl-1", &k, err, sizeof(err)), -1);
	assert_int_equal(detach_keys_parse("ab", &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'ab' is not a key"));
	assert_int_equal(detach_keys_parse("a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a,a",
					   &k, err, sizeof(err)),
			 -1);
}

/* Filter in through k; the output must be want (wlen), detached as given. */
static void check(struct detach_keys *k, const char *in, size_t n,
		  const char *want, size_t wlen, bool want_detached)
{
	uint8_t out[256];
	bool detached = !want_detached;
	size_t w =
		detach_keys_filter(k, (const uint8_t *)in, n, out, &detached);

	assert_int_equal(w, wlen);
	assert_memory_equal(out, want, wlen);
	assert_int_equal(detached, want_detached);
}

static void test_filter(void **state)
{
	struct detach_keys k = keys(DETACH_KEYS_DEFAULT);
	uint8_t out[64];

	/* plain input passes unchanged */
	check(&k, "ls -l\r", 6, "ls -l\r", 6, false);
	/* the whole sequence in one read: what came before passes */
	check(&k,
	      "ab\x10\x11"
	      "cd",
	      6, "ab", 2, true);
	/* split across reads: held, nothing passes, then detached */
	k = keys(DETACH_KEYS_DEFAULT);
	check(&k, "x\x10", 2, "x", 1, false);
	assert_int_equal(k.held, 1);
	check(&k, "\x11", 1, "", 0, true);
	/* a lone ctrl-p then another byte: both pass, in order */
	k = keys(DETACH_KEYS_DEFAULT);
	check(&k, "\x10", 1, "", 0, false);
	check(&k, "a", 1,
	      "\x10"
	      "a",
	      2, false);
	check(&k,
	      "\x10"
	      "b\x10",
	      3,
	      "\x10"
	      "b",
	      2, false);
	/* ... a partial match at the end is passed at EOF */
	assert_int_equal(detach_keys_flush(&k, out), 1);
	assert_int_equal(out[0], CP);
	assert_int_equal(k.held, 0);
	/* ctrl-p ctrl-p ctrl-q: the first passes, the rest detaches */
	check(&k, "\x10\x10\x11", 3, "\x10", 1, true);
	/* a longer sequence with a repeated prefix: a, a, b */
	k = keys("a,a,b");
	check(&k, "aaab", 4, "a", 1, true);
	check(&k, "aXaab", 5, "aX", 2, true);
	check(&k, "aa", 2, "", 0, false);
	check(&k, "a", 1, "a", 1, false); /* "aaa": one passes, 2 held */
	check(&k, "c", 1, "aac", 3, false);
	/* disabled: everything passes, ctrl-p ctrl-q too */
	k = keys("none");
	check(&k, "\x10\x11", 2, "\x10\x11", 2, false);
	assert_int_equal(detach_keys_flush(&k, out), 0);
}

/* The relay: bytes pass, the sequence wakes, EOF passes as EOF. */
static void test_relay(void **state)
{
	struct detach_keys k = keys(DETACH_KEYS_DEFAULT);
	struct detach_relay r;
	char err[256], buf[64];
	struct pollfd p;
	int in[2];
	ssize_t n;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(detach_relay_start(&r, &k, in[0], err, sizeof(err)),
			 0);
	assert_int_equal(write(in[1], "hi\x10", 3), 3);
	n = read(r.fd, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "hi", 2);
	assert_int_equal(write(in[1],
			       "\x11"
			       "late",
			       5),
			 5);
	p = (struct pollfd){.fd = r.wake_fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_true(r.detached);
	detach_relay_stop(&r);

	/* EOF: a held key is passed, then EOF */
	assert_int_equal(detach_relay_start(&r, &k, in[0], err, sizeof(err)),
			 0);
	assert_int_equal(write(in[1], "\x10", 1), 1);
	close(in[1]);
	n = read(r.fd, buf, sizeof(buf));
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], CP);
	assert_int_equal(read(r.fd, buf, sizeof(buf)), 0);
	assert_false(r.detached);
	detach_relay_stop(&r);
	close(in[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_relay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
