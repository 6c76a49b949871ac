/* SPDX-License-Identifier: MIT */
/*
 * Disks for virtio-blk: a raw file, or a base image + copy-on-write
 * overlay.  The semantics and their reasons are in blk_disk.h, the overlay
 * format in blk_overlay.h.
 *
 * Everything runs on the event loop thread, so a disk has no locks; the
 * bitmap, the bounce buffer for copy-ups and the iovec scratch array are
 * allocated once at open, so no I/O allocates.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "vmm/dev/blk_disk.h"
#include "vmm/dev/blk_overlay.h"

#define SECTOR 512
#define PAGE 4096u

struct blk_disk {
	int fd; /* the raw image, or the overlay */
	int base_fd; /* -1 for a raw image */
	bool read_only;
	bool unsynced; /* writes since the last fdatasync */
	uint64_t size;
	char *path; /* for messages: the image, or the overlay */

	/* Overlay only. */
	unsigned int cluster_bits;
	uint64_t clusters, bitmap_off, bitmap_bytes, data_off;
	uint8_t *bitmap;
	uint8_t *page_dirty; /* one byte per bitmap page that gained bits */
	bool bitmap_dirty;
	uint8_t *bounce; /* one cluster, for copy-ups */
	struct iovec scratch[BLK_DISK_MAX_IOV];
};

/* Drop the first n bytes of iov[0..*cnt). */
static struct iovec *iov_advance(struct iovec *iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		iov->iov_base = (uint8_t *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	return iov;
}

/*
 * Read or write all of iov at file offset off, retrying short transfers.
 * *done counts bytes transferred.  Reads past the end of the file give
 * zeros (a base shorter than the disk, or an image that shrank).
 */
static int io_full(int fd, struct iovec *iov, int cnt, uint64_t off, bool write,
		   uint64_t *done)
{
	*done = 0;
	while (cnt > 0) {
		ssize_t r = write ? pwritev(fd, iov, cnt, (off_t)off)
				  : preadv(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -EIO; /* no progress: do not spin */
			for (int i = 0; i < cnt; i++) {
				memset(iov[i].iov_base, 0, iov[i].iov_len);
				*done += iov[i].iov_len;
			}
			return 0;
		}
		*done += (uint64_t)r;
		off += (uint64_t)r;
		iov = iov_advance(iov, &cnt, (size_t)r);
	}
	return 0;
}

int blk_file_io(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	struct iovec iov = {buf, len};
	uint64_t done;

	return io_full(fd, &iov, 1, off, write, &done);
}

/* Size in bytes of a regular file or block device. */
int blk_file_size(int fd, const char *path, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			return -errno;
		return 0;
	}
	fprintf(stderr,
		"kiln-vmm: drive %s: not a regular file or block device\n",
		path);
	return -EINVAL;
}

/*
 * Open path, lock it (shared or exclusive, never waiting) and size it.
 * what names the role in messages ("drive", "base", "overlay").
 */
int blk_file_open_locked(const char *what, const char *path, bool read_only,
			 int lock, int *fdp, uint64_t *size)
{
	int fd, err;

	fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT || strcmp(what, "overlay"))
			fprintf(stderr, "kiln-vmm: %s %s: cannot open %s: %s\n",
				what, path,
				read_only ? "read-only" : "read-write",
				strerror(errno));
		return err;
	}
	if (flock(fd, lock | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			fprintf(stderr,
				"kiln-vmm: %s %s: locked by another process "
				"(another VM using it%s?); stop it or use a "
				"copy\n",
				what, path,
				lock == LOCK_SH ? " read-write" : "");
		else
			fprintf(stderr, "kiln-vmm: %s %s: flock: %s\n", what,
				path, strerror(-err));
		close(fd);
		return err;
	}
	err = blk_file_size(fd, path, size);
	if (err) {
		if (err != -EINVAL)
			fprintf(stderr, "kiln-vmm: %s %s: size: %s\n", what,
				path, strerror(-err));
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

static struct blk_disk *disk_alloc(const char *path, bool read_only)
{
	struct blk_disk *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->fd = -1;
	d->base_fd = -1;
	d->read_only = read_only;
	d->path = strdup(path);
	if (!d->path) {
		free(d);
		return NULL;
	}
	return d;
}

static void disk_free(struct blk_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->base_fd >= 0)
		close(d->base_fd);
	free(d->bitmap);
	free(d->page_dirty);
	free(d->bounce);
	free(d->path);
	free(d);
}

int blk_disk_open_raw(const char *path, bool read_only, struct blk_disk **out)
{
	struct blk_disk *d = disk_alloc(path, read_only);
	int err;

	if (!d)
		return -ENOMEM;
	err = blk_file_open_locked("drive", path, read_only,
				   read_only ? LOCK_SH : LOCK_EX, &d->fd,
				   &d->size);
	if (err)
		goto fail;
	if (d->size % SECTOR) {
		fprintf(stderr,
			"kiln-vmm: drive %s: size %" PRIu64
			" is not a multiple of 512 bytes; pad it (truncate -s "
			"%%512 ...)\n",
			path, d->size);
		err = -EINVAL;
		goto fail;
	}
	*out = d;
	return 0;
fail:
	disk_free(d);
	return err;
}

int blk_disk_open_overlay(const char *base, const char *overlay_path,
			  bool read_only, uint32_t cluster_size,
			  struct blk_disk **out)
{
	struct blk_disk *d = disk_alloc(overlay_path, read_only);
	struct blk_overlay_header h;
	uint64_t base_size, fsize;
	int err;

	if (!d)
		return -ENOMEM;
	err = blk_overlay_base_open(base, &d->base_fd, &base_size);
	if (err)
		goto fail;
	for (int tries = 0; tries < 2; tries++) {
		err = blk_file_open_locked("overlay", overlay_path, read_only,
					   read_only ? LOCK_SH : LOCK_EX,
					   &d->fd, &fsize);
		if (err != -ENOENT || read_only || tries)
			break;
		err = blk_overlay_create_for(d->base_fd, base, base_size,
					     overlay_path, cluster_size);
		if (err && err != -EEXIST) /* EEXIST: lost a race; open it */
			goto fail;
	}
	if (err) {
		if (err == -ENOENT)
			fprintf(stderr,
				"kiln-vmm: overlay %s: does not exist (a "
				"read-only drive does not create one)\n",
				overlay_path);
		goto fail;
	}
	err = blk_overlay_header_read(d->fd, overlay_path, fsize, &h);
	if (err)
		goto fail;
	err = blk_overlay_check_base(d->base_fd, base, base_size, overlay_path,
				     &h);
	if (err)
		goto fail;

	d->size = h.disk_size;
	d->cluster_bits = h.cluster_bits;
	d->clusters = h.clusters;
	d->bitmap_off = h.bitmap_off;
	d->bitmap_bytes = h.bitmap_bytes;
	d->data_off = h.data_off;
	d->bitmap = malloc(h.bitmap_bytes);
	d->page_dirty = calloc(h.bitmap_bytes / PAGE, 1);
	d->bounce = aligned_alloc(PAGE, 1ULL << h.cluster_bits);
	if (!d->bitmap || !d->page_dirty || !d->bounce) {
		err = -ENOMEM;
		goto fail;
	}
	err = blk_overlay_bitmap_read(d->fd, overlay_path, &h, d->bitmap);
	if (err)
		goto fail;
	*out = d;
	return 0;
fail:
	disk_free(d);
	return err;
}

/* --- I/O --- */

uint64_t blk_disk_size(const struct blk_disk *d)
{
	return d->size;
}

bool blk_disk_read_only(const struct blk_disk *d)
{
	return d->read_only;
}

static bool cluster_allocated(const struct blk_disk *d, uint64_t c)
{
	return d->bitmap[c / 8] >> (c % 8) & 1;
}

static void cluster_set_allocated(struct blk_disk *d, uint64_t c)
{
	if (cluster_allocated(d, c))
		return;
	d->bitmap[c / 8] |= (uint8_t)(1u << (c % 8));
	d->page_dirty[c / 8 / PAGE] = 1;
	d->bitmap_dirty = true;
}

/* A position in an iovec array, consumed front to back. */
struct iov_cursor {
	const struct iovec *iov;
	int cnt, i;
	size_t off; /* into iov[i] */
};

/* Point dst at the next len bytes; returns the iovecs used. */
static int iov_cursor_take(struct iov_cursor *cur, uint64_t len,
			   struct iovec *dst)
{
	int n = 0;

	while (len && cur->i < cur->cnt) {
		size_t avail = cur->iov[cur->i].iov_len - cur->off;
		size_t take = avail < len ? avail : (size_t)len;

		if (take) {
			dst[n].iov_base =
				(uint8_t *)cur->iov[cur->i].iov_base + cur->off;
			dst[n].iov_len = take;
			n++;
		}
		len -= take;
		cur->off += take;
		if (cur->off == cur->iov[cur->i].iov_len) {
			cur->i++;
			cur->off = 0;
		}
	}
	return n;
}

/* Copy the next len bytes into buf. */
static void iov_cursor_copy(struct iov_cursor *cur, uint8_t *buf, uint64_t len)
{
	while (len && cur->i < cur->cnt) {
		size_t avail = cur->iov[cur->i].iov_len - cur->off;
		size_t take = avail < len ? avail : (size_t)len;

		memcpy(buf, (uint8_t *)cur->iov[cur->i].iov_base + cur->off,
		       take);
		buf += take;
		len -= take;
		cur->off += take;
		if (cur->off == cur->iov[cur->i].iov_len) {
			cur->i++;
			cur->off = 0;
		}
	}
}

/* Total length of iov, and a range check against the disk. */
static int disk_range(const struct blk_disk *d, const struct iovec *iov,
		      int cnt, uint64_t off, uint64_t *len)
{
	uint64_t total = 0;

	if (cnt < 0 || cnt > BLK_DISK_MAX_IOV)
		return -EINVAL;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > d->size - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (off > d->size || total > d->size - off)
		return -EINVAL;
	*len = total;
	return 0;
}

int blk_disk_read(struct blk_disk *d, struct iovec *iov, int cnt, uint64_t off,
		  uint64_t *done)
{
	struct iov_cursor cur = {iov, cnt, 0, 0};
	uint64_t len, pos, end, cs;
	int err;

	*done = 0;
	err = disk_range(d, iov, cnt, off, &len);
	if (err)
		return err;
	if (d->base_fd < 0)
		return io_full(d->fd, iov, cnt, off, false, done);

	cs = 1ULL << d->cluster_bits;
	end = off + len;
	/* Runs of clusters with one source, each one preadv. */
	for (pos = off; pos < end;) {
		uint64_t c = pos >> d->cluster_bits, got;
		bool ovl = cluster_allocated(d, c);
		uint64_t run_end = (c + 1) * cs;
		int n;

		while (run_end < end &&
		       cluster_allocated(d, run_end >> d->cluster_bits) == ovl)
			run_end += cs;
		if (run_end > end)
			run_end = end;
		n = iov_cursor_take(&cur, run_end - pos, d->scratch);
		err = io_full(ovl ? d->fd : d->base_fd, d->scratch, n,
			      ovl ? d->data_off + pos : pos, false, &got);
		*done += got;
		if (err)
			return err;
		pos = run_end;
	}
	return 0;
}

/*
 * Copy-up: write cluster c whole, made of the base's bytes with the next
 * to - from bytes of cur at [from, to).
 */
static int cluster_write_merged(struct blk_disk *d, struct iov_cursor *cur,
				uint64_t c, uint64_t from, uint64_t to)
{
	uint64_t cs = 1ULL << d->cluster_bits, start = c * cs;
	int err;

	err = blk_file_io(d->base_fd, d->bounce, cs, start, false);
	if (err)
		return err;
	iov_cursor_copy(cur, d->bounce + (from - start), to - from);
	return blk_file_io(d->fd, d->bounce, cs, d->data_off + start, true);
}

static int overlay_write(struct blk_disk *d, struct iovec *iov, int cnt,
			 uint64_t off, uint64_t len, uint64_t *done)
{
	struct iov_cursor cur = {iov, cnt, 0, 0};
	uint64_t cs = 1ULL << d->cluster_bits, end = off + len;
	uint64_t c0 = off >> d->cluster_bits, c1 = (end - 1) >> d->cluster_bits;
	uint64_t head_end = (c0 + 1) * cs < end ? (c0 + 1) * cs : end;
	bool head_copy, tail_copy = false;
	uint64_t mid_start = off, mid_end = end;
	int err;

	head_copy =
		(off % cs || head_end - off < cs) && !cluster_allocated(d, c0);
	if (c1 != c0)
		tail_copy = end % cs && !cluster_allocated(d, c1);
	if (head_copy) {
		err = cluster_write_merged(d, &cur, c0, off, head_end);
		if (err)
			return err;
		*done += head_end - off;
		mid_start = head_end;
	}
	if (tail_copy)
		mid_end = c1 * cs;
	if (mid_end > mid_start) {
		int n = iov_cursor_take(&cur, mid_end - mid_start, d->scratch);
		uint64_t got;

		err = io_full(d->fd, d->scratch, n, d->data_off + mid_start,
			      true, &got);
		*done += got;
		if (err)
			return err;
	}
	if (tail_copy) {
		err = cluster_write_merged(d, &cur, c1, c1 * cs, end);
		if (err)
			return err;
		*done += end - c1 * cs;
	}
	/* Only now: a failed write leaves unallocated clusters as they were. */
	for (uint64_t c = c0; c <= c1; c++)
		cluster_set_allocated(d, c);
	return 0;
}

int blk_disk_write(struct blk_disk *d, struct iovec *iov, int cnt, uint64_t off,
		   uint64_t *done)
{
	uint64_t len;
	int err;

	*done = 0;
	if (d->read_only)
		return -EROFS;
	err = disk_range(d, iov, cnt, off, &len);
	if (err || len == 0)
		return err;
	d->unsynced = true;
	if (d->base_fd < 0)
		return io_full(d->fd, iov, cnt, off, true, done);
	return overlay_write(d, iov, cnt, off, len, done);
}

int blk_disk_flush(struct blk_disk *d)
{
	if (d->read_only)
		return 0;
	/* Data first: a bit must never reach the disk before its cluster. */
	if (d->unsynced) {
		if (fdatasync(d->fd) < 0)
			return -errno;
		d->unsynced = false;
	}
	if (!d->bitmap_dirty)
		return 0;
	for (uint64_t p = 0; p < d->bitmap_bytes / PAGE; p++) {
		int err;

		if (!d->page_dirty[p])
			continue;
		err = blk_file_io(d->fd, d->bitmap + p * PAGE, PAGE,
				  d->bitmap_off + p * PAGE, true);
		if (err)
			return err;
		d->page_dirty[p] = 0;
	}
	if (fdatasync(d->fd) < 0)
		return -errno;
	d->bitmap_dirty = false;
	return 0;
}

void blk_disk_close(struct blk_disk *d)
{
	int err;

	if (!d)
		return;
	err = blk_disk_flush(d);
	if (err)
		fprintf(stderr,
			"kiln-vmm: drive %s: flush at close failed: %s; "
			"writes since the guest's last flush may be lost\n",
			d->path, strerror(-err));
	disk_free(d);
}
