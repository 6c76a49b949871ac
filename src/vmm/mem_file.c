/* SPDX-License-Identifier: MIT */
/*
 * Snapshot memory files (see mem_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest_mem.h"
#include "mem_file.h"
#include "snapshot.h"

#define PAGE 4096u

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

size_t mem_next_nonzero(const uint8_t *base, size_t npages, size_t from)
{
	while (from < npages && page_is_zero(base + from * PAGE))
		from++;
	return from;
}

size_t mem_next_zero(const uint8_t *base, size_t npages, size_t from)
{
	while (from < npages && !page_is_zero(base + from * PAGE))
		from++;
	return from;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Non-zero runs of one region at file offset off; zero runs stay holes. */
static int mem_write_region(int fd, const struct guest_region *r, uint64_t off)
{
	size_t npages = (size_t)(r->size / PAGE), at = 0;

	while (at < npages) {
		size_t start = mem_next_nonzero(r->hva, npages, at);
		size_t end = mem_next_zero(r->hva, npages, start);
		int rc;

		if (start == npages)
			break;
		rc = pwrite_all(fd, r->hva + start * PAGE, (end - start) * PAGE,
				off + start * PAGE);
		if (rc)
			return rc;
		at = end;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	int dfd, rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	dfd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

static void id_fill(struct mem_file_id *id, const struct stat *st,
		    const struct guest_mem *m)
{
	memset(id, 0, sizeof(*id));
	id->size = (uint64_t)st->st_size;
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->mtime_sec = st->st_mtim.tv_sec;
	id->mtime_nsec = st->st_mtim.tv_nsec;
	id->nregions = m->nregions;
	for (int i = 0; i < m->nregions && i < 2; i++) {
		id->gpa[i] = m->r[i].gpa;
		id->len[i] = m->r[i].size;
	}
}

static int mem_write_all(int fd, const struct guest_mem *m, const char *what,
			 char *err, size_t errlen)
{
	uint64_t off = 0;
	int rc;

	if (ftruncate(fd, (off_t)m->total) < 0) {
		snprintf(err, errlen, "%s: cannot size it: %s", what,
			 strerror(errno));
		return -1;
	}
	for (int i = 0; i < m->nregions; i++) {
		rc = mem_write_region(fd, &m->r[i], off);
		if (rc) {
			snprintf(err, errlen, "%s: write failed: %s", what,
				 strerror(-rc));
			return -1;
		}
		off += m->r[i].size;
	}
	if (fsync(fd) < 0) {
		snprintf(err, errlen, "%s: fsync: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* Copy the data extents of base into fd (same offsets); holes stay. */
static int mem_copy_base(int fd, int base, uint64_t size)
{
	const size_t bufsz = 1 << 20;
	uint8_t *buf = malloc(bufsz);
	off_t at = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (!rc && (uint64_t)at < size) {
		off_t data = lseek(base, at, SEEK_DATA), hole;

		if (data < 0) {
			rc = errno == ENXIO ? 0 : -errno; /* no more data */
			break;
		}
		hole = lseek(base, data, SEEK_HOLE);
		if (hole < 0) {
			rc = -errno;
			break;
		}
		while (!rc && data < hole) {
			size_t n = (size_t)(hole - data) < bufsz
					   ? (size_t)(hole - data)
					   : bufsz;
			ssize_t r = pread(base, buf, n, data);

			if (r <= 0) {
				rc = r < 0 ? -errno : -EIO;
				break;
			}
			rc = pwrite_all(fd, buf, (size_t)r, (uint64_t)data);
			data += r;
		}
		at = hole;
	}
	free(buf);
	return rc;
}

/* The dirty pages of region r at file offset off; zero pages are punched
 * out (or written as zeros where the file system cannot punch). */
static int mem_write_dirty(int fd, const struct guest_region *r,
			   const uint64_t *dirty, uint64_t off)
{
	size_t npages = (size_t)(r->size / PAGE);

	for (size_t pg = 0; pg < npages; pg++) {
		const uint8_t *p = r->hva + pg * PAGE;
		uint64_t at = off + pg * PAGE;
		int rc;

		if (!(dirty[pg / 64] & (1ULL << (pg % 64))))
			continue;
		if (page_is_zero(p) &&
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)at, PAGE) == 0)
			continue;
		rc = pwrite_all(fd, p, PAGE, at);
		if (rc)
			return rc;
	}
	return 0;
}

static int mem_diff_fill(int fd, const struct guest_mem *m,
			 const char *base_path,
			 const struct mem_file_id *base_id,
			 uint64_t *const *dirty, char *err, size_t errlen)
{
	uint64_t off = 0;
	int base, rc;

	/* The pages not dirty come from here: it must be the right file. */
	base = mem_file_open(base_path, base_id, m, err, errlen);
	if (base < 0)
		return -1;
	rc = ftruncate(fd, (off_t)m->total) < 0
		     ? -errno
		     : mem_copy_base(fd, base, m->total);
	close(base);
	for (int i = 0; !rc && i < m->nregions; i++) {
		rc = mem_write_dirty(fd, &m->r[i], dirty[i], off);
		off += m->r[i].size;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (rc) {
		snprintf(err, errlen,
			 "diff snapshot: writing the memory file: %s",
			 strerror(-rc));
		return -1;
	}
	return 0;
}

/* base_path NULL: a full file; else a diff over it (dirty bitmaps). */
static int mem_file_create(const struct guest_mem *m, const char *base_path,
			   const struct mem_file_id *base_id, const char *path,
			   uint64_t *const *dirty, struct mem_file_id *id,
			   char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "memory file path too long: %s", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* 0600, O_EXCL */
	if (fd < 0) {
		snprintf(err, errlen,
			 "cannot create the memory file next to %s: %s", path,
			 strerror(errno));
		return -1;
	}
	rc = base_path ? mem_diff_fill(fd, m, base_path, base_id, dirty, err,
				       errlen)
		       : mem_write_all(fd, m, path, err, errlen);
	if (rc || fstat(fd, &st) < 0)
		goto fail;
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
			 strerror(errno));
		goto fail;
	}
	close(fd);
	fsync_dir_of(path); /* best effort: the data itself is synced */
	id_fill(id, &st, m);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

int mem_file_write(const struct guest_mem *m, const char *path,
		   struct mem_file_id *id, char *err, size_t errlen)
{
	return mem_file_create(m, NULL, NULL, path, NULL, id, err, errlen);
}

int mem_file_write_diff(const struct guest_mem *m, const char *base_path,
			const struct mem_file_id *base_id, const char *path,
			uint64_t *const *dirty, struct mem_file_id *id,
			char *err, size_t errlen)
{
	return mem_file_create(m, base_path, base_id, path, dirty, id, err,
			       errlen);
}

void mem_file_id_put(struct snap_buf *b, const struct mem_file_id *id)
{
	snap_put_u64(b, id->size);
	snap_put_u64(b, id->dev);
	snap_put_u64(b, id->ino);
	snap_put_u64(b, (uint64_t)id->mtime_sec);
	snap_put_u64(b, (uint64_t)id->mtime_nsec);
	snap_put_u32(b, (uint32_t)id->nregions);
	for (int i = 0; i < id->nregions && i < 2; i++) {
		snap_put_u64(b, id->gpa[i]);
		snap_put_u64(b, id->len[i]);
	}
}

bool mem_file_id_get(struct snap_reader *r, struct mem_file_id *id)
{
	uint32_t n;

	memset(id, 0, sizeof(*id));
	id->size = snap_get_u64(r);
	id->dev = snap_get_u64(r);
	id->ino = snap_get_u64(r);
	id->mtime_sec = (int64_t)snap_get_u64(r);
	id->mtime_nsec = (int64_t)snap_get_u64(r);
	n = snap_get_u32(r);
	if (n < 1 || n > 2)
		return false;
	id->nregions = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		id->gpa[i] = snap_get_u64(r);
		id->len[i] = snap_get_u64(r);
	}
	return !r->bad;
}

static bool layout_matches(const struct mem_file_id *id,
			   const struct guest_mem *m)
{
	uint64_t total = 0;

	if (id->nregions != m->nregions)
		return false;
	for (int i = 0; i < m->nregions; i++) {
		if (id->gpa[i] != m->r[i].gpa || id->len[i] != m->r[i].size)
			return false;
		total += m->r[i].size;
	}
	return total == id->size;
}

int mem_file_open(const char *path, const struct mem_file_id *id,
		  const struct guest_mem *layout, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (!layout_matches(id, layout)) {
		snprintf(err, errlen,
			 "the snapshot's memory layout does not match its "
			 "memory size: the state file is corrupt");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open memory file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "memory file %s is not a regular file",
			 path);
		goto fail;
	}
	if ((uint64_t)st.st_size != id->size) {
		snprintf(err, errlen,
			 "memory file %s has %llu bytes, the snapshot expects "
			 "%llu: wrong or truncated memory file",
			 path, (unsigned long long)st.st_size,
			 (unsigned long long)id->size);
		goto fail;
	}
	if ((uint64_t)st.st_ino != id->ino || (uint64_t)st.st_dev != id->dev ||
	    st.st_mtim.tv_sec != id->mtime_sec ||
	    st.st_mtim.tv_nsec != id->mtime_nsec) {
		snprintf(err, errlen,
			 "memory file %s is not the one written with this "
			 "snapshot (inode or modification time differ: "
			 "replaced, rewritten or copied); use the memory file "
			 "of the same snapshot",
			 path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
