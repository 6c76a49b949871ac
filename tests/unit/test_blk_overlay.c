/* SPDX-License-Identifier: MIT */
/*
 * Copy-on-write disks (src/vmm/dev/blk_overlay.c) against temporary files:
 * untouched reads, copy-up of partial writes, flush/reopen, the crash
 * ordering of data and bitmap, sparse copies that diverge, base identity,
 * corrupt headers, range checks, locking, and a random differential test
 * against an in-memory model.  Also overlay_copy (src/lib).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/overlay_copy.h"
#include "vmm/dev/blk_disk.h"
#include "vmm/dev/blk_overlay.h"

#define CS 4096u
#define BASE_SIZE (64u * CS + 1024) /* last cluster partial */

struct env {
	char dir[64];
	char base[96], ovl[96], other[96];
};

static uint8_t base_byte(uint64_t off, unsigned int seed)
{
	return (uint8_t)(off * 13 + (off >> 12) + seed);
}

static void write_base(const char *path, uint64_t size, unsigned int seed)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = base_byte(i, seed);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	strcpy(e->dir, "/tmp/kiln-ovl-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->base, sizeof(e->base), "%s/base.ext4", e->dir);
	snprintf(e->ovl, sizeof(e->ovl), "%s/root.ovl", e->dir);
	snprintf(e->other, sizeof(e->other), "%s/other", e->dir);
	write_base(e->base, BASE_SIZE, 0);
	return e;
}

static void env_free(struct env *e)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
}

static struct blk_disk *open_ovl(const char *base, const char *ovl, bool ro)
{
	struct blk_disk *d = NULL;

	assert_int_equal(blk_disk_open_overlay(base, ovl, ro, 0, &d), 0);
	return d;
}

static int disk_rw(struct blk_disk *d, bool write, void *buf, uint64_t len,
		   uint64_t off)
{
	struct iovec iov = {buf, len};
	uint64_t done;

	return write ? blk_disk_write(d, &iov, 1, off, &done)
		     : blk_disk_read(d, &iov, 1, off, &done);
}

static void expect_base(struct blk_disk *d, uint64_t off, uint64_t len,
			unsigned int seed)
{
	uint8_t *buf = malloc(len);

	assert_int_equal(disk_rw(d, false, buf, len, off), 0);
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(buf[i], base_byte(off + i, seed));
	free(buf);
}

static void expect_fill(struct blk_disk *d, uint64_t off, uint64_t len,
			uint8_t v)
{
	uint8_t *buf = malloc(len);

	assert_int_equal(disk_rw(d, false, buf, len, off), 0);
	for (uint64_t i = 0; i < len; i++)
		assert_int_equal(buf[i], v);
	free(buf);
}

static void fill(struct blk_disk *d, uint64_t off, uint64_t len, uint8_t v)
{
	uint8_t *buf = malloc(len);

	memset(buf, v, len);
	assert_int_equal(disk_rw(d, true, buf, len, off), 0);
	free(buf);
}

static uint64_t file_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_untouched_reads_equal_base(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);
	uint8_t a[700], b[3000];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct blk_overlay_info info;
	struct stat st;
	uint64_t done;

	assert_int_equal(blk_disk_size(d), BASE_SIZE);
	expect_base(d, 0, BASE_SIZE, 0);
	assert_int_equal(blk_disk_read(d, iov, 2, 12345, &done), 0);
	assert_int_equal(done, sizeof(a) + sizeof(b));
	assert_int_equal(a[0], base_byte(12345, 0));
	assert_int_equal(b[2999], base_byte(12345 + 3699, 0));
	blk_disk_close(d);

	/* A fresh overlay: private, and header + bitmap only on disk. */
	assert_int_equal(stat(e->ovl, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(file_blocks(e->ovl) <= 4 * CS);
	assert_int_equal(blk_overlay_stat(e->ovl, &info), 0);
	assert_int_equal(info.cluster_size, CS);
	assert_int_equal(info.disk_size, BASE_SIZE);
	assert_int_equal(info.clusters, 65);
	assert_int_equal(info.allocated, 0);
	assert_string_equal(info.base_name, "base.ext4");
	env_free(e);
}

/* Unaligned writes spanning clusters keep the base bytes around them. */
static void test_partial_writes_across_clusters(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);
	uint8_t x[100], y[5000], z[3];
	struct iovec iov[3] = {{x, sizeof(x)}, {y, sizeof(y)}, {z, sizeof(z)}};
	uint64_t off = 3 * CS - 50, done;
	struct blk_overlay_info info;

	memset(x, 0xa1, sizeof(x));
	memset(y, 0xb2, sizeof(y));
	memset(z, 0xc3, sizeof(z));
	assert_int_equal(blk_disk_write(d, iov, 3, off, &done), 0);
	assert_int_equal(done, 5103);
	expect_base(d, 0, off, 0);
	expect_fill(d, off, 100, 0xa1);
	expect_fill(d, off + 100, 5000, 0xb2);
	expect_fill(d, off + 5100, 3, 0xc3);
	expect_base(d, off + 5103, BASE_SIZE - off - 5103, 0);

	/* Inside one cluster, and the partial last cluster of the disk. */
	fill(d, 10 * CS + 7, 9, 0x11);
	expect_base(d, 10 * CS, 7, 0);
	expect_fill(d, 10 * CS + 7, 9, 0x11);
	expect_base(d, 10 * CS + 16, CS - 16, 0);
	fill(d, BASE_SIZE - 10, 10, 0x22);
	expect_base(d, 64 * CS, 1014, 0);
	expect_fill(d, BASE_SIZE - 10, 10, 0x22);

	/* A full-cluster write to a fresh cluster; then reuse allocated. */
	fill(d, 20 * CS, CS, 0x33);
	fill(d, 20 * CS + 1, 1, 0x44);
	expect_fill(d, 20 * CS, 1, 0x33);
	expect_fill(d, 20 * CS + 1, 1, 0x44);
	expect_fill(d, 20 * CS + 2, CS - 2, 0x33);
	assert_int_equal(blk_disk_flush(d), 0);
	assert_int_equal(blk_overlay_stat(e->ovl, &info), 0);
	assert_int_equal(info.allocated, 3 + 1 + 1 + 1); /* clusters 2-4 ... */
	blk_disk_close(d);

	/* The base was never written. */
	d = NULL;
	assert_int_equal(blk_disk_open_raw(e->base, true, &d), 0);
	expect_base(d, 0, BASE_SIZE, 0);
	blk_disk_close(d);
	env_free(e);
}

static void test_reopen_keeps_data(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);

	fill(d, 5 * CS + 512, 1024, 0x5a);
	assert_int_equal(blk_disk_flush(d), 0);
	fill(d, 30 * CS, 2 * CS, 0x6b); /* unflushed: close flushes */
	blk_disk_close(d);

	d = open_ovl(e->base, e->ovl, false);
	expect_base(d, 5 * CS, 512, 0);
	expect_fill(d, 5 * CS + 512, 1024, 0x5a);
	expect_base(d, 5 * CS + 1536, CS - 1536, 0);
	expect_fill(d, 30 * CS, 2 * CS, 0x6b);
	blk_disk_close(d);

	/* Read-only: opens the existing overlay, refuses writes. */
	d = open_ovl(e->base, e->ovl, true);
	assert_true(blk_disk_read_only(d));
	expect_fill(d, 30 * CS, 2 * CS, 0x6b);
	uint8_t b = 1;
	assert_int_equal(disk_rw(d, true, &b, 1, 0), -EROFS);
	blk_disk_close(d);
	env_free(e);
}

/*
 * Crash ordering: until a flush, the overlay file on disk says nothing
 * about new clusters (a copy taken then reads the base there, never
 * garbage); after it, the copy has them.
 */
static void test_unflushed_writes_invisible_after_crash(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false), *c;
	char copy1[128], copy2[128], msg[256];

	fill(d, 7 * CS, CS, 0x77);
	fill(d, 9 * CS + 100, 10, 0x99);
	snprintf(copy1, sizeof(copy1), "%s/crash1.ovl", e->dir);
	assert_int_equal(overlay_copy(e->ovl, copy1, NULL, msg, sizeof(msg)),
			 0);
	assert_int_equal(blk_disk_flush(d), 0);
	snprintf(copy2, sizeof(copy2), "%s/crash2.ovl", e->dir);
	assert_int_equal(overlay_copy(e->ovl, copy2, NULL, msg, sizeof(msg)),
			 0);

	c = open_ovl(e->base, copy1, true);
	expect_base(c, 0, BASE_SIZE, 0);
	blk_disk_close(c);
	c = open_ovl(e->base, copy2, true);
	expect_fill(c, 7 * CS, CS, 0x77);
	expect_base(c, 9 * CS, 100, 0);
	expect_fill(c, 9 * CS + 100, 10, 0x99);
	blk_disk_close(c);
	blk_disk_close(d);
	env_free(e);
}

/* A checkpoint copy and the original diverge independently. */
static void test_copy_then_diverge(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false), *c;
	char msg[256];
	uint64_t copied = 0;

	fill(d, 2 * CS, 3 * CS, 0x10);
	assert_int_equal(blk_disk_flush(d), 0);
	assert_int_equal(
		overlay_copy(e->ovl, e->other, &copied, msg, sizeof(msg)), 0);
	/* Header + a bitmap page + 3 clusters, not the whole disk. */
	assert_true(copied <= 5 * CS);
	assert_true(file_blocks(e->other) <= 8 * CS);
	/* Never replaces a file. */
	assert_int_equal(overlay_copy(e->ovl, e->other, NULL, msg, sizeof(msg)),
			 KILN_EINVAL);
	assert_non_null(strstr(msg, "not replacing"));

	c = open_ovl(e->base, e->other, false);
	fill(d, 2 * CS, CS, 0x20);
	fill(c, 3 * CS, CS, 0x30);
	fill(c, 40 * CS + 5, 5, 0x31);
	blk_disk_close(d);
	blk_disk_close(c);

	d = open_ovl(e->base, e->ovl, true);
	c = open_ovl(e->base, e->other, true);
	expect_fill(d, 2 * CS, CS, 0x20);
	expect_fill(d, 3 * CS, 2 * CS, 0x10);
	expect_base(d, 40 * CS, CS, 0);
	expect_fill(c, 2 * CS, CS, 0x10);
	expect_fill(c, 3 * CS, CS, 0x30);
	expect_fill(c, 4 * CS, CS, 0x10);
	expect_fill(c, 40 * CS + 5, 5, 0x31);
	blk_disk_close(d);
	blk_disk_close(c);

	assert_int_equal(overlay_copy("/nonexistent/x", e->other, NULL, msg,
				      sizeof(msg)),
			 KILN_ENOTFOUND);
	env_free(e);
}

/* The identity is the content: a copied base works, another does not. */
static void test_base_identity(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);
	char copy[128], cmd[300];

	fill(d, 0, 512, 0xee);
	blk_disk_close(d);

	snprintf(copy, sizeof(copy), "%s/moved-base.ext4", e->dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", e->base, copy);
	assert_int_equal(system(cmd), 0);
	d = open_ovl(copy, e->ovl, false);
	expect_fill(d, 0, 512, 0xee);
	blk_disk_close(d);

	/* Same size, different content (one byte in a sampled block). */
	int fd = open(copy, O_WRONLY);
	assert_int_equal(pwrite(fd, "x", 1, 1024), 1);
	close(fd);
	assert_int_equal(blk_disk_open_overlay(copy, e->ovl, false, 0, &d),
			 -EINVAL);
	/* Different size. */
	write_base(e->other, BASE_SIZE + 512, 0);
	assert_int_equal(blk_disk_open_overlay(e->other, e->ovl, false, 0, &d),
			 -EINVAL);
	/* The refusals changed nothing. */
	d = open_ovl(e->base, e->ovl, false);
	expect_fill(d, 0, 512, 0xee);
	blk_disk_close(d);
	env_free(e);
}

static void corrupt(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

/* Rewrite the header checksum after a deliberate change to a field. */
static void header_fix_checksum(const char *path)
{
	uint8_t hdr[4096];
	uint64_t h = 0xcbf29ce484222325ULL;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	for (int i = 0; i < 4088; i++) {
		h ^= hdr[i];
		h *= 0x100000001b3ULL;
	}
	assert_int_equal(pwrite(fd, &h, 8, 4088), 8);
	close(fd);
}

static void test_bad_overlay_refused(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d;
	char cmd[300], msg[256];
	const uint8_t v2[4] = {2, 0, 0, 0}, one = 1;
	uint8_t byte;
	const struct {
		const char *what;
		off_t off;
		const void *p;
		size_t n;
	} damage[] = {
		{"magic", 0, "X", 1},
		{"version", 8, v2, 4},
		{"cluster size, checksum not updated", 16, "\x10", 1},
		{"base name", 80, "Z", 1},
		{"bit past the last cluster", 4096 + 9, &one, 1},
	};

	assert_int_equal(blk_overlay_create(e->base, e->ovl, 0), 0);
	assert_int_equal(blk_overlay_create(e->base, e->ovl, 0), -EEXIST);
	assert_int_equal(blk_overlay_create(e->base, e->other, 3000), -EINVAL);
	assert_int_equal(blk_overlay_create(e->base, e->other, 2u << 20),
			 -EINVAL);
	assert_int_equal(access(e->other, F_OK), -1);

	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s.%zu", e->other, i);
		assert_int_equal(
			overlay_copy(e->ovl, cmd, NULL, msg, sizeof(msg)), 0);
		corrupt(cmd, damage[i].off, damage[i].p, damage[i].n);
		print_message("damage: %s\n", damage[i].what);
		assert_int_equal(
			blk_disk_open_overlay(e->base, cmd, false, 0, &d),
			-EINVAL);
	}
	/* Fields that disagree with each other, with a valid checksum. */
	const struct {
		off_t off;
		uint8_t v;
	} fields[] = {{16, 11}, {16, 21}, {16, 40}, {24, 1}, {32, 1},
		      {40, 1},	{48, 1},  {20, 1},  {12, 1}};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s.f%zu", e->other, i);
		assert_int_equal(
			overlay_copy(e->ovl, cmd, NULL, msg, sizeof(msg)), 0);
		corrupt(cmd, fields[i].off, &fields[i].v, 1);
		header_fix_checksum(cmd);
		print_message("field at %d\n", (int)fields[i].off);
		assert_int_equal(
			blk_disk_open_overlay(e->base, cmd, false, 0, &d),
			-EINVAL);
	}
	/* ...and the checksum helper itself is right: an untouched copy with
	 * a recomputed checksum opens. */
	snprintf(cmd, sizeof(cmd), "%s.ok", e->other);
	assert_int_equal(overlay_copy(e->ovl, cmd, NULL, msg, sizeof(msg)), 0);
	header_fix_checksum(cmd);
	assert_int_equal(blk_disk_open_overlay(e->base, cmd, false, 0, &d), 0);
	blk_disk_close(d);

	/* Truncated: inside the header, and inside the data area. */
	assert_int_equal(truncate(e->ovl, 100), 0);
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, false, 0, &d),
			 -EINVAL);
	assert_int_equal(truncate(e->ovl, 0), 0);
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, false, 0, &d),
			 -EINVAL);
	unlink(e->ovl);
	assert_int_equal(blk_overlay_create(e->base, e->ovl, 0), 0);
	assert_int_equal(truncate(e->ovl, 3 * CS), 0);
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, false, 0, &d),
			 -EINVAL);
	/* Not an overlay at all (the base itself), nothing written to it. */
	assert_int_equal(blk_disk_open_overlay(e->base, e->base, false, 0, &d),
			 -EBUSY);
	assert_int_equal(blk_disk_open_overlay(e->other, e->base, true, 0, &d),
			 -ENOENT); /* e->other does not exist */
	write_base(e->other, BASE_SIZE, 1);
	assert_int_equal(blk_disk_open_overlay(e->other, e->base, true, 0, &d),
			 -EINVAL);
	assert_int_equal(blk_disk_open_raw(e->base, true, &d), 0);
	assert_int_equal(disk_rw(d, false, &byte, 1, 0), 0);
	assert_int_equal(byte, base_byte(0, 0));
	blk_disk_close(d);
	env_free(e);
}

static void test_out_of_range_refused(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);
	static struct iovec many[BLK_DISK_MAX_IOV + 1];
	uint8_t buf[1024];
	struct iovec huge[2] = {{buf, UINT64_MAX - 10}, {buf, 20}};
	const uint64_t bad[] = {BASE_SIZE - 1023, BASE_SIZE,
				BASE_SIZE + 1,	  1ULL << 55,
				UINT64_MAX - 512, UINT64_MAX};
	uint64_t done;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(disk_rw(d, false, buf, sizeof(buf), bad[i]),
				 -EINVAL);
		assert_int_equal(disk_rw(d, true, buf, sizeof(buf), bad[i]),
				 -EINVAL);
	}
	assert_int_equal(blk_disk_read(d, huge, 2, 0, &done), -EINVAL);
	assert_int_equal(blk_disk_write(d, huge, 2, 0, &done), -EINVAL);
	for (int i = 0; i <= BLK_DISK_MAX_IOV; i++)
		many[i] = (struct iovec){buf, 1};
	assert_int_equal(blk_disk_read(d, many, BLK_DISK_MAX_IOV + 1, 0, &done),
			 -EINVAL);
	assert_int_equal(blk_disk_read(d, many, BLK_DISK_MAX_IOV, 0, &done), 0);
	assert_int_equal(done, BLK_DISK_MAX_IOV);
	/* The exact end is fine; nothing was allocated by the refusals. */
	assert_int_equal(disk_rw(d, true, buf, 1024, BASE_SIZE - 1024), 0);
	assert_int_equal(disk_rw(d, false, buf, 0, BASE_SIZE), 0);
	assert_int_equal(blk_disk_flush(d), 0);
	struct blk_overlay_info info;
	assert_int_equal(blk_overlay_stat(e->ovl, &info), 0);
	assert_int_equal(info.allocated, 1);
	blk_disk_close(d);
	env_free(e);
}

static void test_locking(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false), *x;

	/* One writer per overlay; the base can't be opened read-write. */
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, false, 0, &x),
			 -EBUSY);
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, true, 0, &x),
			 -EBUSY);
	assert_int_equal(blk_disk_open_raw(e->base, false, &x), -EBUSY);
	/* Two overlays share a base. */
	x = open_ovl(e->base, e->other, false);
	blk_disk_close(x);
	blk_disk_close(d);
	/* A base in read-write use can't get an overlay. */
	assert_int_equal(blk_disk_open_raw(e->base, false, &x), 0);
	assert_int_equal(blk_disk_open_overlay(e->base, e->ovl, false, 0, &d),
			 -EBUSY);
	blk_disk_close(x);
	/* Read-only never creates an overlay. */
	unlink(e->other);
	assert_int_equal(blk_disk_open_overlay(e->base, e->other, true, 0, &d),
			 -ENOENT);
	assert_int_equal(access(e->other, F_OK), -1);
	env_free(e);
}

/* A failed write leaves fresh clusters showing their old contents. */
static void test_failed_write_keeps_old_data(void **state)
{
	struct env *e = env_new();
	struct blk_disk *d = open_ovl(e->base, e->ovl, false);
	struct blk_overlay_info info;
	struct rlimit old, lim;
	uint8_t buf[3 * CS];
	uint64_t limit;

	/* Header + bitmap page, then data at the next 1 MiB. */
	limit = (1u << 20) + 11 * CS;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	memset(buf, 0x42, sizeof(buf));
	/* Clusters 10 (partial: copy-up), 11, 12: fails at 11. */
	assert_true(disk_rw(d, true, buf, sizeof(buf) - 100, 10 * CS + 100) <
		    0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	expect_base(d, 10 * CS, 3 * CS, 0);
	assert_int_equal(blk_disk_flush(d), 0);
	assert_int_equal(blk_overlay_stat(e->ovl, &info), 0);
	assert_int_equal(info.allocated, 0);
	/* Retried, it works. */
	assert_int_equal(
		disk_rw(d, true, buf, sizeof(buf) - 100, 10 * CS + 100), 0);
	expect_base(d, 10 * CS, 100, 0);
	expect_fill(d, 10 * CS + 100, 3 * CS - 100, 0x42);
	blk_disk_close(d);
	env_free(e);
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Thousands of random reads, writes, flushes and reopens vs a model. */
static void differential(uint32_t cluster_size, uint64_t seed)
{
	struct env *e = env_new();
	const uint64_t size = BASE_SIZE;
	uint8_t *model = malloc(size), *buf = malloc(size), *got = malloc(size);
	struct iovec iov[16];
	struct blk_disk *d = NULL;

	rnd_state = seed;
	for (uint64_t i = 0; i < size; i++)
		model[i] = base_byte(i, 0);
	assert_int_equal(
		blk_disk_open_overlay(e->base, e->ovl, false, cluster_size, &d),
		0);
	for (int op = 0; op < 4000; op++) {
		unsigned int kind = rnd() % 100;
		uint64_t off, len, done, pos = 0;
		int n = 1 + (int)(rnd() % 16);

		if (kind < 2) {
			blk_disk_close(d);
			d = open_ovl(e->base, e->ovl, false);
			continue;
		}
		if (kind < 5) {
			assert_int_equal(blk_disk_flush(d), 0);
			continue;
		}
		/* Mostly sector-aligned (what the guest sends), some not. */
		len = rnd() % 4 ? (1 + rnd() % 24) * 512 : 1 + rnd() % 9000;
		if (len > size)
			len = size;
		off = rnd() % (size - len + 1);
		if (rnd() % 4)
			off &= ~511ULL;
		for (int i = 0; i < n; i++) {
			uint64_t part = i == n - 1 ? len - pos
						   : rnd() % (len - pos + 1);

			iov[i] = (struct iovec){buf + pos, part};
			pos += part;
		}
		if (kind < 50) {
			for (uint64_t i = 0; i < len; i++)
				buf[i] = (uint8_t)rnd();
			assert_int_equal(blk_disk_write(d, iov, n, off, &done),
					 0);
			assert_int_equal(done, len);
			memcpy(model + off, buf, len);
		} else {
			assert_int_equal(blk_disk_read(d, iov, n, off, &done),
					 0);
			assert_int_equal(done, len);
			assert_memory_equal(buf, model + off, len);
		}
	}
	blk_disk_close(d);
	d = open_ovl(e->base, e->ovl, true);
	assert_int_equal(disk_rw(d, false, got, size, 0), 0);
	assert_memory_equal(got, model, size);
	blk_disk_close(d);
	free(model);
	free(buf);
	free(got);
	env_free(e);
}

static void test_differential_4k(void **state)
{
	differential(4096, 0x9e3779b97f4a7c15ULL);
}

static void test_differential_64k(void **state)
{
	differential(65536, 0x123456789abcdefULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untouched_reads_equal_base),
		cmocka_unit_test(test_partial_writes_across_clusters),
		cmocka_unit_test(test_reopen_keeps_data),
		cmocka_unit_test(test_unflushed_writes_invisible_after_crash),
		cmocka_unit_test(test_copy_then_diverge),
		cmocka_unit_test(test_base_identity),
		cmocka_unit_test(test_bad_overlay_refused),
		cmocka_unit_test(test_out_of_range_refused),
		cmocka_unit_test(test_locking),
		cmocka_unit_test(test_failed_write_keeps_old_data),
		cmocka_unit_test(test_differential_4k),
		cmocka_unit_test(test_differential_64k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
