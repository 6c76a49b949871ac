/* SPDX-License-Identifier: MIT */
/*
 * Kernel and image checks on synthetic files: each header field the checks
 * rely on is broken in turn, and a real mkfs.ext4 image must pass.
 */
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

#include "kiln.h"
#include "lib/artifact.h"

struct fixture {
	char dir[64];
	char path[128];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kiln-test-artifact-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *buf, size_t len,
		       off_t total)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	if (total > (off_t)len)
		assert_int_equal(truncate(path, total), 0);
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* A minimal x86-64 ELF executable header. */
static void elf_header(unsigned char *h)
{
	memset(h, 0, 64);
	memcpy(h,
	       "\x7f"
	       "ELF",
	       4);
	h[4] = 2; /* 64-bit */
	h[5] = 1; /* little endian */
	h[6] = 1;
	put16(h + 16, 2); /* ET_EXEC */
	put16(h + 18, 62); /* x86-64 */
}

/* A bzImage setup header: protocol 2.15, 64-bit entry, 30 setup sectors. */
static void bz_header(unsigned char *h)
{
	memset(h, 0, 0x1000);
	h[0x1F1] = 30;
	put16(h + 0x1FE, 0xAA55);
	memcpy(h + 0x202, "HdrS", 4);
	put16(h + 0x206, 0x020F);
	put16(h + 0x236, 0x1);
}

static int check_kernel(struct fixture *f, enum artifact_kernel_kind *kind)
{
	return artifact_check_kernel(f->path, NULL, kind, f->err,
				     sizeof(f->err));
}

static void test_kernel_elf_ok(void **state)
{
	struct fixture *f = *state;
	enum artifact_kernel_kind kind = 0;
	unsigned char h[64];

	elf_header(h);
	write_file(f->path, h, sizeof(h), 4096);
	assert_int_equal(check_kernel(f, &kind), 0);
	assert_int_equal(kind, ARTIFACT_KERNEL_ELF);
}

static void test_kernel_elf_wrong(void **state)
{
	struct fixture *f = *state;
	enum artifact_kernel_kind kind;
	unsigned char h[64];

	elf_header(h);
	put16(h + 18, 183); /* aarch64 */
	write_file(f->path, h, sizeof(h), 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "machine 183"));

	elf_header(h);
	put16(h + 16, 1); /* ET_REL: a module */
	write_file(f->path, h, sizeof(h), 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "not an executable"));

	elf_header(h);
	h[4] = 1; /* 32-bit */
	write_file(f->path, h, sizeof(h), 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "64-bit"));

	/* a header cut short */
	elf_header(h);
	write_file(f->path, h, 20, 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
}

static void test_kernel_bzimage(void **state)
{
	struct fixture *f = *state;
	enum artifact_kernel_kind kind = 0;
	static unsigned char h[0x1000];

	bz_header(h);
	write_file(f->path, h, sizeof(h), 1 << 20);
	assert_int_equal(check_kernel(f, &kind), 0);
	assert_int_equal(kind, ARTIFACT_KERNEL_BZIMAGE);

	put16(h + 0x206, 0x0206); /* protocol 2.06 */
	write_file(f->path, h, sizeof(h), 1 << 20);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "2.06"));

	bz_header(h);
	put16(h + 0x236, 0); /* no 64-bit entry */
	write_file(f->path, h, sizeof(h), 1 << 20);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "64-bit"));

	bz_header(h);
	write_file(f->path, h, 0x1000, 0); /* setup only: truncated */
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "truncated"));
}

static void test_kernel_not_a_kernel(void **state)
{
	struct fixture *f = *state;
	enum artifact_kernel_kind kind;

	write_file(f->path, "#!/bin/sh\necho hi\n", 18, 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "is not a kernel"));
	assert_non_null(strstr(f->err, f->path));

	write_file(f->path, "", 0, 0);
	assert_int_equal(check_kernel(f, &kind), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "is empty"));
}

static void test_kernel_missing(void **state)
{
	struct fixture *f = *state;
	enum artifact_kernel_kind kind;
	char path[160];

	snprintf(path, sizeof(path), "%s/nope/vmlinux", f->dir);
	assert_int_equal(artifact_check_kernel(path,
					       "build it with 'make "
					       "kernel'",
					       &kind, f->err, sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_string_equal(f->err + strlen(f->err) -
				    strlen("; build it with 'make kernel'"),
			    "; build it with 'make kernel'");
	assert_non_null(strstr(f->err, "kernel not found at"));
	assert_non_null(strstr(f->err, path));

	/* a directory is not a kernel */
	assert_int_equal(artifact_check_kernel(f->dir, NULL, &kind, f->err,
					       sizeof(f->err)),
			 KILN_EFORMAT);
	assert_non_null(strstr(f->err, "not a regular file"));
}

/* An ext4 superblock at 1024 describing blocks of 1024 << log_bs. */
static void ext4_write(const char *path, uint32_t blocks, uint32_t log_bs,
		       uint32_t incompat, off_t size)
{
	static unsigned char img[2048];
	unsigned char *sb = img + 1024;

	memset(img, 0, sizeof(img));
	put32(sb + 4, blocks);
	put32(sb + 24, log_bs);
	put16(sb + 56, 0xEF53);
	put32(sb + 0x60, incompat);
	write_file(path, img, sizeof(img), size);
}

static int check_image(struct fixture *f)
{
	return artifact_check_image(f->path, NULL, f->err, sizeof(f->err));
}

static void test_image_ok(void **state)
{
	struct fixture *f = *state;

	ext4_write(f->path, 1024, 2, 0x2c2, 4 << 20); /* 1024 x 4 KiB */
	assert_int_equal(check_image(f), 0);
}

static void test_image_bad(void **state)
{
	struct fixture *f = *state;
	static unsigned char zero[4096];

	write_file(f->path, zero, sizeof(zero), 1 << 20);
	assert_int_equal(check_image(f), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "0xEF53"));

	write_file(f->path, zero, 1000, 0); /* shorter than a superblock */
	assert_int_equal(check_image(f), KILN_EFORMAT);

	ext4_write(f->path, 1024, 2, 0, (4 << 20) - 4096);
	assert_int_equal(check_image(f), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "truncated"));

	ext4_write(f->path, 1024, 9, 0, 4 << 20);
	assert_int_equal(check_image(f), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "block size"));

	ext4_write(f->path, 0, 2, 0, 4 << 20);
	assert_int_equal(check_image(f), KILN_EFORMAT);

	ext4_write(f->path, 1024, 2, 0x4, 4 << 20); /* needs_recovery */
	assert_int_equal(check_image(f), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "e2fsck"));
}

static void test_image_64bit_blocks(void **state)
{
	struct fixture *f = *state;
	static unsigned char img[2048];
	unsigned char *sb = img + 1024;

	/* 64bit feature: blocks_hi counts, 1 << 32 blocks cannot fit */
	memset(img, 0, sizeof(img));
	put32(sb + 4, 16);
	put32(sb + 24, 2);
	put16(sb + 56, 0xEF53);
	put32(sb + 0x60, 0x80);
	put32(sb + 0x150, 1);
	write_file(f->path, img, sizeof(img), 1 << 20);
	assert_int_equal(check_image(f), KILN_EFORMAT);
	assert_non_null(strstr(f->err, "truncated"));

	/* without the feature the high word is ignored */
	put32(sb + 0x60, 0);
	write_file(f->path, img, sizeof(img), 1 << 20);
	assert_int_equal(check_image(f), 0);
}

static void test_image_real_mkfs(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	if (system("command -v mkfs.ext4 >/dev/null 2>&1") != 0)
		skip();
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s 16M >/dev/null 2>&1",
		 f->path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(check_image(f), 0);
	/* cutting the file in half must be noticed */
	assert_int_equal(truncate(f->path, 8 << 20), 0);
	assert_int_equal(check_image(f), KILN_EFORMAT);
}

static void test_image_missing_hint(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(artifact_check_image("/nonexistent/base.ext4",
					      "build it with 'make image'",
					      f->err, sizeof(f->err)),
			 KILN_ENOTFOUND);
	assert_string_equal(f->err,
			    "image not found at /nonexistent/base.ext4; "
			    "build it with 'make image'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kernel_elf_ok, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_elf_wrong, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_bzimage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_not_a_kernel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kernel_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_image_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_bad, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_image_64bit_blocks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_image_real_mkfs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_image_missing_hint, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
