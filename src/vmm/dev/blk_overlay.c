/* SPDX-License-Identifier: MIT */
/*
 * The overlay file format (see blk_overlay.h): base fingerprint, layout,
 * header encoding and checks, bitmap loading, creation and inspection.
 * The I/O on an open overlay is in blk_disk.c.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/dev/blk_disk.h"
#include "vmm/dev/blk_overlay.h"

#define SECTOR 512
#define PAGE 4096u
/* Header field offsets. */
#define H_VERSION 8
#define H_HEADER_SIZE 12
#define H_CLUSTER_BITS 16
#define H_FLAGS 20
#define H_DISK_SIZE 24
#define H_BITMAP_OFF 32
#define H_BITMAP_BYTES 40
#define H_DATA_OFF 48
#define H_BASE_SIZE 56
#define H_BASE_FP 64
#define H_BASE_NAME 72
#define H_CHECKSUM (BLK_OVERLAY_HEADER_SIZE - 8)
/* Larger virtual disks are refused (keeps every offset far from 2^63). */
#define DISK_SIZE_MAX (1ULL << 50)
#define DATA_ALIGN (1ULL << 20)
/* Base fingerprint samples: head and tail, and this many blocks between. */
#define FP_EDGE (64u * 1024)
#define FP_BLOCKS 30

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/*
 * The base's identity: FNV-1a 64 over its size and sampled contents (see
 * blk_overlay.h for why sampling and why content, not inode/mtime).
 */
int blk_overlay_fingerprint(int fd, uint64_t size, uint64_t *fp)
{
	uint8_t sz[8], *buf = malloc(FP_EDGE);
	uint64_t h = FNV_INIT;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	put_le64(sz, size);
	h = fnv1a(h, sz, sizeof(sz));
	for (int i = 0; i <= FP_BLOCKS + 1 && !err; i++) {
		uint64_t off, len;

		if (i == 0) {
			off = 0;
			len = FP_EDGE;
		} else if (i == FP_BLOCKS + 1) {
			off = size > FP_EDGE ? size - FP_EDGE : 0;
			len = FP_EDGE;
		} else {
			off = size / (FP_BLOCKS + 1) * (uint64_t)i & ~4095ULL;
			len = 4096;
		}
		if (off >= size)
			continue;
		if (len > size - off)
			len = size - off;
		err = blk_file_io(fd, buf, len, off, false);
		h = fnv1a(h, buf, len);
	}
	free(buf);
	*fp = h;
	return err;
}

/* Clusters, bitmap size and data offset of a disk; -EINVAL if too big. */
static int ovl_layout(struct blk_overlay_header *h)
{
	uint64_t cs = 1ULL << h->cluster_bits;

	if (h->disk_size > DISK_SIZE_MAX)
		return -EINVAL;
	h->clusters = (h->disk_size + cs - 1) >> h->cluster_bits;
	h->bitmap_off = BLK_OVERLAY_HEADER_SIZE;
	h->bitmap_bytes = ((h->clusters + 7) / 8 + PAGE - 1) / PAGE * PAGE;
	if (h->bitmap_bytes == 0)
		h->bitmap_bytes = PAGE;
	if (h->bitmap_bytes > BLK_OVERLAY_BITMAP_MAX)
		return -EINVAL;
	/* 1 MiB aligned (>= any cluster): guest offsets keep their alignment
	 * in the file, so large guest I/O maps onto whole host extents. */
	h->data_off = (h->bitmap_off + h->bitmap_bytes + DATA_ALIGN - 1) /
		      DATA_ALIGN * DATA_ALIGN;
	return 0;
}

static void ovl_header_encode(const struct blk_overlay_header *h, uint8_t *p)
{
	memset(p, 0, BLK_OVERLAY_HEADER_SIZE);
	memcpy(p, BLK_OVERLAY_MAGIC, 8);
	put_le32(p + H_VERSION, BLK_OVERLAY_VERSION);
	put_le32(p + H_HEADER_SIZE, BLK_OVERLAY_HEADER_SIZE);
	put_le32(p + H_CLUSTER_BITS, h->cluster_bits);
	put_le32(p + H_FLAGS, 0);
	put_le64(p + H_DISK_SIZE, h->disk_size);
	put_le64(p + H_BITMAP_OFF, h->bitmap_off);
	put_le64(p + H_BITMAP_BYTES, h->bitmap_bytes);
	put_le64(p + H_DATA_OFF, h->data_off);
	put_le64(p + H_BASE_SIZE, h->base_size);
	put_le64(p + H_BASE_FP, h->base_fp);
	memcpy(p + H_BASE_NAME, h->base_name, BLK_OVERLAY_BASE_NAME_LEN);
	put_le64(p + H_CHECKSUM, fnv1a(FNV_INIT, p, H_CHECKSUM));
}

/*
 * Read and check the header of the overlay open at fd (file size
 * file_size).  -EINVAL with a message saying what is wrong.
 */
int blk_overlay_header_read(int fd, const char *path, uint64_t fsize,
			    struct blk_overlay_header *h)
{
	uint8_t *p = malloc(BLK_OVERLAY_HEADER_SIZE);
	struct blk_overlay_header want;
	const char *bad = NULL;
	uint32_t version;
	int err;

	if (!p)
		return -ENOMEM;
	if (fsize < BLK_OVERLAY_HEADER_SIZE) {
		bad = "truncated (shorter than its 4096-byte header)";
		goto out;
	}
	err = blk_file_io(fd, p, BLK_OVERLAY_HEADER_SIZE, 0, false);
	if (err) {
		fprintf(stderr, "kiln-vmm: overlay %s: reading header: %s\n",
			path, strerror(-err));
		free(p);
		return err;
	}
	if (memcmp(p, BLK_OVERLAY_MAGIC, 8)) {
		bad = "not a kiln overlay (bad magic)";
		goto out;
	}
	version = get_le32(p + H_VERSION);
	if (version != BLK_OVERLAY_VERSION) {
		fprintf(stderr,
			"kiln-vmm: overlay %s: format version %" PRIu32
			", this kiln-vmm reads %d\n",
			path, version, BLK_OVERLAY_VERSION);
		free(p);
		return -EINVAL;
	}
	if (get_le64(p + H_CHECKSUM) != fnv1a(FNV_INIT, p, H_CHECKSUM)) {
		bad = "header checksum mismatch: the file is corrupt";
		goto out;
	}
	memset(h, 0, sizeof(*h));
	h->cluster_bits = get_le32(p + H_CLUSTER_BITS);
	h->disk_size = get_le64(p + H_DISK_SIZE);
	h->base_size = get_le64(p + H_BASE_SIZE);
	h->base_fp = get_le64(p + H_BASE_FP);
	memcpy(h->base_name, p + H_BASE_NAME, BLK_OVERLAY_BASE_NAME_LEN);
	h->base_name[BLK_OVERLAY_BASE_NAME_LEN - 1] = 0;
	want = *h;
	if (get_le32(p + H_HEADER_SIZE) != BLK_OVERLAY_HEADER_SIZE ||
	    get_le32(p + H_FLAGS) != 0 || h->cluster_bits < 12 ||
	    h->cluster_bits > 20 || h->disk_size % SECTOR ||
	    ovl_layout(&want) ||
	    get_le64(p + H_BITMAP_OFF) != want.bitmap_off ||
	    get_le64(p + H_BITMAP_BYTES) != want.bitmap_bytes ||
	    get_le64(p + H_DATA_OFF) != want.data_off) {
		bad = "inconsistent header fields: the file is corrupt";
		goto out;
	}
	*h = want;
	if (fsize < h->data_off + (h->clusters << h->cluster_bits))
		bad = "truncated (shorter than its data area)";
out:
	free(p);
	if (bad) {
		fprintf(stderr,
			"kiln-vmm: overlay %s: %s; recreate it from its base "
			"or restore it from a checkpoint\n",
			path, bad);
		return -EINVAL;
	}
	return 0;
}

/* Read the bitmap; bits past the last cluster must be clear. */
int blk_overlay_bitmap_read(int fd, const char *path,
			    const struct blk_overlay_header *h, uint8_t *bitmap)
{
	int err =
		blk_file_io(fd, bitmap, h->bitmap_bytes, h->bitmap_off, false);
	bool bad;

	if (err) {
		fprintf(stderr, "kiln-vmm: overlay %s: reading bitmap: %s\n",
			path, strerror(-err));
		return err;
	}
	bad = h->clusters % 8 && bitmap[h->clusters / 8] >> (h->clusters % 8);
	for (uint64_t i = (h->clusters + 7) / 8; i < h->bitmap_bytes && !bad;
	     i++)
		bad = bitmap[i] != 0;
	if (!bad)
		return 0;
	fprintf(stderr,
		"kiln-vmm: overlay %s: bitmap has bits past the disk's "
		"end: the file is corrupt\n",
		path);
	return -EINVAL;
}

/*
 * rename() that never replaces an existing overlay.  9p (the test harness
 * shares the cache that way) refuses RENAME_NOREPLACE with EINVAL; then
 * check first and rename plainly (renameat2 with no flags: the syscall the
 * seccomp allowlist has).  The overlay's directory is the sandbox's own,
 * so nobody else creates the name in between.
 */
static int ovl_rename_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat2(AT_FDCWD, from, AT_FDCWD, to, 0);
}

/* Write a new overlay for the base open at base_fd to path, atomically. */
int blk_overlay_create_for(int base_fd, const char *base, uint64_t base_size,
			   const char *path, uint32_t cluster_size)
{
	struct blk_overlay_header h = {0};
	const char *name = strrchr(base, '/');
	char *tmp = NULL, *dir = NULL;
	uint8_t *hdr = NULL;
	int fd = -1, dfd, err;

	if (cluster_size == 0)
		cluster_size = BLK_OVERLAY_CLUSTER_DEFAULT;
	if (cluster_size < BLK_OVERLAY_CLUSTER_MIN ||
	    cluster_size > BLK_OVERLAY_CLUSTER_MAX ||
	    (cluster_size & (cluster_size - 1))) {
		fprintf(stderr,
			"kiln-vmm: overlay %s: cluster size %" PRIu32
			" is not a power of two from 4096 to 1048576\n",
			path, cluster_size);
		return -EINVAL;
	}
	if (base_size % SECTOR) {
		fprintf(stderr,
			"kiln-vmm: base %s: size %" PRIu64
			" is not a multiple of 512 bytes; pad it\n",
			base, base_size);
		return -EINVAL;
	}
	h.cluster_bits = (unsigned int)__builtin_ctz(cluster_size);
	h.disk_size = base_size;
	h.base_size = base_size;
	if (ovl_layout(&h)) {
		fprintf(stderr,
			"kiln-vmm: base %s: %" PRIu64
			" bytes is too large for an overlay with %" PRIu32
			"-byte clusters; use larger clusters\n",
			base, base_size, cluster_size);
		return -EFBIG;
	}
	err = blk_overlay_fingerprint(base_fd, base_size, &h.base_fp);
	if (err) {
		fprintf(stderr, "kiln-vmm: base %s: reading: %s\n", base,
			strerror(-err));
		return err;
	}
	name = name ? name + 1 : base;
	snprintf(h.base_name, sizeof(h.base_name), "%s", name);

	hdr = malloc(BLK_OVERLAY_HEADER_SIZE);
	dir = strdup(path);
	if (!hdr || !dir || asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: overlay %s: creating %s: %s\n", path,
			tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	ovl_header_encode(&h, hdr);
	err = blk_file_io(fd, hdr, BLK_OVERLAY_HEADER_SIZE, 0, true);
	if (!err && ftruncate(fd, (off_t)(h.data_off +
					  (h.clusters << h.cluster_bits))) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (!err && ovl_rename_noreplace(tmp, path) < 0)
		err = -errno;
	if (err) {
		if (err != -EEXIST)
			fprintf(stderr, "kiln-vmm: overlay %s: creating: %s\n",
				path, strerror(-err));
		unlink(tmp);
		goto out;
	}
	/* Make the new name durable too. */
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dir);
	free(hdr);
	return err;
}

int blk_overlay_base_open(const char *base, int *fd, uint64_t *size)
{
	return blk_file_open_locked("base", base, true, LOCK_SH, fd, size);
}

int blk_overlay_create(const char *base, const char *path,
		       uint32_t cluster_size)
{
	uint64_t size;
	int fd, err = blk_overlay_base_open(base, &fd, &size);

	if (err)
		return err;
	err = blk_overlay_create_for(fd, base, size, path, cluster_size);
	if (err == -EEXIST)
		fprintf(stderr,
			"kiln-vmm: overlay %s: already exists; not "
			"replacing it\n",
			path);
	close(fd);
	return err;
}

/* Check that overlay header h was made for this base. */
int blk_overlay_check_base(int base_fd, const char *base, uint64_t base_size,
			   const char *path, const struct blk_overlay_header *h)
{
	uint64_t fp;
	int err;

	err = blk_overlay_fingerprint(base_fd, base_size, &fp);
	if (err) {
		fprintf(stderr, "kiln-vmm: base %s: reading: %s\n", base,
			strerror(-err));
		return err;
	}
	if (base_size == h->base_size && fp == h->base_fp)
		return 0;
	fprintf(stderr,
		"kiln-vmm: overlay %s was made for base %s of size %" PRIu64
		" (fingerprint %016" PRIx64 "), not %s of size %" PRIu64
		" (fingerprint %016" PRIx64 "); use it with its own base or "
		"create a new overlay\n",
		path, h->base_name, h->base_size, h->base_fp, base, base_size,
		fp);
	return -EINVAL;
}

int blk_overlay_stat(const char *path, struct blk_overlay_info *info)
{
	struct blk_overlay_header h;
	uint8_t *bitmap = NULL;
	uint64_t fsize;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: overlay %s: cannot open: %s\n", path,
			strerror(errno));
		return err;
	}
	err = blk_file_size(fd, path, &fsize);
	if (!err)
		err = blk_overlay_header_read(fd, path, fsize, &h);
	if (!err) {
		bitmap = malloc(h.bitmap_bytes);
		err = bitmap ? blk_overlay_bitmap_read(fd, path, &h, bitmap)
			     : -ENOMEM;
	}
	if (!err) {
		memset(info, 0, sizeof(*info));
		info->cluster_size = 1u << h.cluster_bits;
		info->disk_size = h.disk_size;
		info->clusters = h.clusters;
		for (uint64_t i = 0; i < h.bitmap_bytes; i++)
			info->allocated +=
				(uint64_t)__builtin_popcount(bitmap[i]);
		info->base_size = h.base_size;
		info->base_fingerprint = h.base_fp;
		memcpy(info->base_name, h.base_name, sizeof(info->base_name));
	}
	free(bitmap);
	close(fd);
	return err;
}
