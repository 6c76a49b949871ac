/* SPDX-License-Identifier: MIT */
/*
 * Snapshot state file: CRC-32C, the writer/reader helpers, section framing,
 * atomic file write and a reader that refuses every truncation, every
 * single-bit flip, foreign magic and other versions.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/snapshot.h"

#define HDR 32

struct fix {
	char dir[64];
	char path[128];
};

static int fix_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kiln-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.state", f->dir);
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_raw(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static uint8_t *read_raw(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

/* A small body with two sections. */
static void build_body(struct snap_buf *b)
{
	size_t m;

	snap_buf_init(b);
	m = snap_section_begin(b, SNAP_TAG_VM_INFO, 0);
	snap_put_u32(b, 0xdeadbeef);
	snap_put_str(b, "hello");
	snap_section_end(b, m);
	m = snap_section_begin(b, SNAP_TAG_VCPU, 1);
	snap_put_u64(b, 0x0102030405060708ULL);
	snap_section_end(b, m);
	assert_false(b->oom);
}

static void test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (RFC 3720 / iSCSI). */
	assert_int_equal(snap_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(snap_crc32c(0, "", 0), 0);
	/* 32 bytes of zeros, RFC 3720 B.4 */
	{
		uint8_t z[32] = {0};

		assert_int_equal(snap_crc32c(0, z, 32), 0x8A9136AAu);
	}
	/* Continuing a CRC equals one pass. */
	assert_int_equal(snap_crc32c(snap_crc32c(0, "1234", 4), "56789", 5),
			 0xE3069283u);
}

static void test_put_get_round_trip(void **state)
{
	struct snap_buf b;
	struct snap_reader r;
	uint8_t raw[3] = {1, 2, 3}, out[3];
	char *s;

	(void)state;
	snap_buf_init(&b);
	snap_put_u8(&b, 0xab);
	snap_put_u16(&b, 0x1234);
	snap_put_u32(&b, 0x89abcdef);
	snap_put_u64(&b, 0x0011223344556677ULL);
	snap_put_str(&b, "path/to");
	snap_put_str(&b, NULL);
	snap_put_str(&b, "");
	snap_put(&b, raw, 3);
	assert_false(b.oom);
	/* little endian on the wire */
	assert_int_equal(b.data[1], 0x34);
	assert_int_equal(b.data[2], 0x12);
	assert_int_equal(b.data[3], 0xef);

	snap_reader_init(&r, b.data, b.len);
	assert_int_equal(snap_get_u8(&r), 0xab);
	assert_int_equal(snap_get_u16(&r), 0x1234);
	assert_int_equal(snap_get_u32(&r), 0x89abcdef);
	assert_true(snap_get_u64(&r) == 0x0011223344556677ULL);
	s = snap_get_str(&r);
	assert_string_equal(s, "path/to");
	free(s);
	assert_null(snap_get_str(&r));
	assert_false(r.bad);
	s = snap_get_str(&r);
	assert_string_equal(s, "");
	free(s);
	snap_get(&r, out, 3);
	assert_memory_equal(out, raw, 3);
	assert_true(snap_reader_done(&r));
	snap_buf_free(&b);
}

static void test_reader_overrun_is_sticky(void **state)
{
	uint8_t data[5] = {1, 2, 3, 4, 5};
	struct snap_reader r;

	(void)state;
	snap_reader_init(&r, data, sizeof(data));
	assert_int_equal(snap_get_u32(&r), 0x04030201);
	assert_false(r.bad);
	assert_int_equal(snap_get_u16(&r), 0); /* 1 byte left: overrun */
	assert_true(r.bad);
	/* sticky: even a read that would fit gives 0 now */
	assert_int_equal(snap_get_u8(&r), 0);
	assert_true(r.bad);
	assert_false(snap_reader_done(&r));

	/* Consumed everything but not done: trailing bytes are visible. */
	snap_reader_init(&r, data, sizeof(data));
	snap_get_u32(&r);
	assert_false(snap_reader_done(&r));
	snap_get_u8(&r);
	assert_true(snap_reader_done(&r));
}

static void test_reader_bad_strings(void **state)
{
	struct snap_buf b;
	struct snap_reader r;

	(void)state;
	/* length beyond the data */
	snap_buf_init(&b);
	snap_put_u32(&b, 10);
	snap_put(&b, "abc", 3);
	snap_reader_init(&r, b.data, b.len);
	assert_null(snap_get_str(&r));
	assert_true(r.bad);
	snap_buf_free(&b);

	/* over 4096 bytes */
	snap_buf_init(&b);
	snap_put_u32(&b, 5000);
	for (int i = 0; i < 5000; i++)
		snap_put_u8(&b, 'a');
	snap_reader_init(&r, b.data, b.len);
	assert_null(snap_get_str(&r));
	assert_true(r.bad);
	snap_buf_free(&b);

	/* embedded NUL */
	snap_buf_init(&b);
	snap_put_u32(&b, 3);
	snap_put(&b, "a\0b", 3);
	snap_reader_init(&r, b.data, b.len);
	assert_null(snap_get_str(&r));
	assert_true(r.bad);
	snap_buf_free(&b);

	/* the writer refuses what the reader would refuse */
	{
		char *big = malloc(5000);

		assert_non_null(big);
		memset(big, 'x', 4999);
		big[4999] = '\0';
		snap_buf_init(&b);
		snap_put_str(&b, big);
		assert_true(b.oom);
		snap_buf_free(&b);
		free(big);
	}
}

static void test_sections(void **state)
{
	struct snap_buf b;
	struct snap_reader sec;
	char *s;

	(void)state;
	build_body(&b);
	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_VM_INFO, 0, &sec), 0);
	assert_int_equal(snap_get_u32(&sec), 0xdeadbeef);
	s = snap_get_str(&sec);
	assert_string_equal(s, "hello");
	free(s);
	assert_true(snap_reader_done(&sec));
	/* a section reader cannot read into the next section */
	assert_int_equal(snap_get_u8(&sec), 0);
	assert_true(sec.bad);

	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_VCPU, 1, &sec), 0);
	assert_true(snap_get_u64(&sec) == 0x0102030405060708ULL);
	assert_true(snap_reader_done(&sec));

	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_VCPU, 0, &sec),
		-ENOENT);
	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_PIT, 0, &sec),
		-ENOENT);
	assert_int_equal(snap_find_section(NULL, 0, SNAP_TAG_PIT, 0, &sec),
			 -ENOENT);

	/* Broken framing anywhere is refused, even after the match; a cut
	 * between the two sections is a valid one-section body. */
	for (size_t cut = 1; cut < b.len; cut++) {
		int rc = snap_find_section(b.data, cut, SNAP_TAG_VM_INFO, 0,
					   &sec);
		size_t first_end = 12 + 4 + 4 + 5;

		assert_int_equal(rc, cut == first_end ? 0 : -EINVAL);
	}
	/* a length that points past the end */
	b.data[8] = 0xff;
	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_VCPU, 1, &sec),
		-EINVAL);
	snap_buf_free(&b);

	/* the same (tag, instance) twice: refused */
	snap_buf_init(&b);
	snap_section_end(&b, snap_section_begin(&b, SNAP_TAG_PIT, 0));
	snap_section_end(&b, snap_section_begin(&b, SNAP_TAG_PIT, 0));
	assert_int_equal(
		snap_find_section(b.data, b.len, SNAP_TAG_PIT, 0, &sec),
		-EINVAL);
	snap_buf_free(&b);
}

static void test_file_round_trip(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	struct snap_reader sec;
	uint8_t *body;
	size_t len;
	char err[256];
	struct stat st;
	char stray[PATH_MAX];

	build_body(&b);
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, HDR + b.len);
	/* no temporary file left behind */
	snprintf(stray, sizeof(stray), "%s.tmp.%ld.0", f->path, (long)getpid());
	assert_int_equal(access(stray, F_OK), -1);

	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 0);
	assert_int_equal(len, b.len);
	assert_memory_equal(body, b.data, len);
	assert_int_equal(snap_find_section(body, len, SNAP_TAG_VCPU, 1, &sec),
			 0);
	assert_true(snap_get_u64(&sec) == 0x0102030405060708ULL);
	free(body);

	/* overwriting replaces atomically; an empty body is fine */
	snap_buf_free(&b);
	snap_buf_init(&b);
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), 0);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 0);
	assert_int_equal(len, 0);
	free(body);
	snap_buf_free(&b);
}

static void test_file_write_errors(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	char err[256], path[256];

	snap_buf_init(&b);
	b.oom = true;
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "out of memory"));
	assert_int_equal(access(f->path, F_OK), -1);

	snap_buf_init(&b);
	snprintf(path, sizeof(path), "%s/no/such/dir/vm.state", f->dir);
	assert_int_equal(snap_file_write(path, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
}

static void test_file_every_truncation_refused(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	uint8_t *raw, *body;
	size_t n, len;
	char err[256];

	build_body(&b);
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), 0);
	raw = read_raw(f->path, &n);
	for (size_t cut = 0; cut < n; cut++) {
		write_raw(f->path, raw, cut);
		assert_int_equal(
			snap_file_read(f->path, &body, &len, err, sizeof(err)),
			-1);
		assert_null(body);
		assert_non_null(strstr(err, f->path));
		if (cut >= 8)
			assert_non_null(strstr(err, "truncated"));
		else
			assert_non_null(strstr(err, "not a kiln snapshot"));
	}
	/* one byte too many is as wrong */
	raw = realloc(raw, n + 1);
	raw[n] = 0;
	write_raw(f->path, raw, n + 1);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "corrupt"));
	free(raw);
	snap_buf_free(&b);
}

static void test_file_every_bit_flip_refused(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	uint8_t *raw, *body;
	size_t n, len;
	char err[256];

	build_body(&b);
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), 0);
	raw = read_raw(f->path, &n);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			raw[i] ^= (uint8_t)(1u << bit);
			write_raw(f->path, raw, n);
			assert_int_equal(snap_file_read(f->path, &body, &len,
							err, sizeof(err)),
					 -1);
			if (i >= 8)
				assert_true(strstr(err, "corrupt") ||
					    strstr(err, "truncated"));
			raw[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* and unflipped it still reads */
	write_raw(f->path, raw, n);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 0);
	free(body);
	free(raw);
	snap_buf_free(&b);
}

/* Rewrite the header CRC after editing the header (a "valid" header). */
static void fix_header_crc(uint8_t *raw)
{
	uint32_t c = snap_crc32c(0, raw, 28);

	for (int i = 0; i < 4; i++)
		raw[28 + i] = (uint8_t)(c >> (8 * i));
}

static void test_file_magic_version_flags(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	uint8_t *raw, *body;
	size_t n, len;
	char err[256];

	build_body(&b);
	assert_int_equal(snap_file_write(f->path, &b, err, sizeof(err)), 0);
	raw = read_raw(f->path, &n);

	memcpy(raw, "ELF\x7f....", 8);
	write_raw(f->path, raw, n);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "not a kiln snapshot"));
	memcpy(raw, SNAP_MAGIC, 8);

	raw[8] = 7; /* version 7 with a consistent header */
	fix_header_crc(raw);
	write_raw(f->path, raw, n);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "version 7"));
	raw[8] = SNAP_VERSION;

	raw[12] = 1; /* unknown flag */
	fix_header_crc(raw);
	write_raw(f->path, raw, n);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "flags"));
	raw[12] = 0;

	/* a body length over the limit is refused before any allocation */
	raw[19] = 0x40; /* 1 GiB */
	fix_header_crc(raw);
	write_raw(f->path, raw, n);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "limit"));
	free(raw);

	/* not a regular file */
	assert_int_equal(snap_file_read(f->dir, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "regular"));
	/* missing */
	unlink(f->path);
	assert_int_equal(snap_file_read(f->path, &body, &len, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, f->path));
	snap_buf_free(&b);
}

static void test_section_length_overflow(void **state)
{
	struct snap_buf b;
	size_t m;

	(void)state;
	/* a bogus mark makes the buffer unusable rather than corrupt */
	snap_buf_init(&b);
	m = snap_section_begin(&b, SNAP_TAG_PIT, 0);
	snap_section_end(&b, m + 100);
	assert_true(b.oom);
	snap_buf_free(&b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fix_setup, fix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_put_get_round_trip),
		cmocka_unit_test(test_reader_overrun_is_sticky),
		cmocka_unit_test(test_reader_bad_strings),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_section_length_overflow),
		T(test_file_round_trip),
		T(test_file_write_errors),
		T(test_file_every_truncation_refused),
		T(test_file_every_bit_flip_refused),
		T(test_file_magic_version_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
