/* SPDX-License-Identifier: MIT */
/*
 * Sparse-aware file copy for disk overlays (see overlay_copy.h).
 *
 * ext4 has no reflink, so copy_file_range there is an in-kernel copy that
 * reads holes as zeros and writes them out: it must only ever be given the
 * data extents, which SEEK_DATA/SEEK_HOLE find (ext4 reports dirty,
 * not-yet-allocated page cache as data too).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/overlay_copy.h"

#define COPY_CHUNK (1u << 20)

/* Copy [off, off + len) with read/write, for when copy_file_range is not
 * available between these files. */
static int copy_by_rw(int sfd, int dfd, off_t off, uint64_t len)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (len && !err) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t r = pread(sfd, buf, want, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ENODATA;
			break;
		}
		for (ssize_t w = 0; w < r && !err;) {
			ssize_t n =
				pwrite(dfd, buf + w, (size_t)(r - w), off + w);

			if (n < 0 && errno != EINTR)
				err = -errno;
			else if (n == 0)
				err = -EIO; /* no progress: do not spin */
			else if (n > 0)
				w += n;
		}
		off += r;
		len -= (uint64_t)r;
	}
	free(buf);
	return err;
}

/* Copy one data extent; *use_cfr is cleared when the kernel refuses. */
static int copy_extent(int sfd, int dfd, off_t off, uint64_t len, bool *use_cfr)
{
	loff_t in = off, out = off;

	while (len && *use_cfr) {
		size_t want = len < (1u << 30) ? (size_t)len : (1u << 30);
		ssize_t r = copy_file_range(sfd, &in, dfd, &out, want, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EXDEV && errno != EINVAL &&
			    errno != ENOSYS && errno != EOPNOTSUPP)
				return -errno;
			*use_cfr = false;
			break;
		}
		if (r == 0)
			return -ENODATA; /* src shrank under us */
		len -= (uint64_t)r;
	}
	return len ? copy_by_rw(sfd, dfd, (off_t)in, len) : 0;
}

/* Copy the data extents of sfd (size bytes) into dfd. */
static int copy_sparse(int sfd, int dfd, off_t size, uint64_t *copied)
{
	bool use_cfr = true;
	off_t off = 0;

	*copied = 0;
	while (off < size) {
		off_t data = lseek(sfd, off, SEEK_DATA), hole;
		int err;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: no more */
		if (data >= size)
			return 0;
		hole = lseek(sfd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > size)
			hole = size;
		if (hole <= data)
			return -EIO; /* would not advance */
		err = copy_extent(sfd, dfd, data, (uint64_t)(hole - data),
				  &use_cfr);
		if (err)
			return err;
		*copied += (uint64_t)(hole - data);
		off = hole;
	}
	return 0;
}

static void dir_sync(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

/*
 * rename() that never replaces to.  Some file systems (9p, as the test
 * harness shares $KILN_CACHE) refuse RENAME_NOREPLACE with EINVAL; link()
 * never replaces either, and where that is refused too, to is checked
 * first (the directories we copy into are private).
 */
static int rename_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (link(from, to) == 0) {
		unlink(from);
		return 0;
	}
	if (errno == EEXIST)
		return -1;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

int overlay_copy(const char *src, const char *dst, uint64_t *copied, char *err,
		 size_t errlen)
{
	uint64_t n = 0;
	char *tmp = NULL;
	int sfd, dfd = -1, rc = 0, e = 0;
	struct stat st;

	sfd = open(src, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		snprintf(err, errlen, "overlay copy: cannot open %s: %s", src,
			 strerror(errno));
		return errno == ENOENT ? KILN_ENOTFOUND : KILN_ESYS;
	}
	if (fstat(sfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "overlay copy: %s is not a regular file; give the "
			 "overlay file",
			 src);
		close(sfd);
		return KILN_EINVAL;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", dst) < 0) {
		close(sfd);
		snprintf(err, errlen, "overlay copy: out of memory");
		return KILN_ENOMEM;
	}
	dfd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (dfd < 0) {
		snprintf(err, errlen, "overlay copy: cannot create %s: %s", tmp,
			 strerror(errno));
		rc = KILN_ESYS;
		goto out;
	}
	if (ftruncate(dfd, st.st_size) < 0)
		e = -errno;
	if (!e)
		e = copy_sparse(sfd, dfd, st.st_size, &n);
	if (e) {
		snprintf(err, errlen, "overlay copy: %s -> %s: %s%s", src, dst,
			 strerror(-e),
			 e == -ENODATA ? " (the source changed while copying: "
					 "pause the VM and flush its drive)"
				       : "");
		rc = KILN_ESYS;
		goto out;
	}
	if (fsync(dfd) < 0 || rename_noreplace(tmp, dst) < 0) {
		e = errno;
		snprintf(err, errlen, "overlay copy: writing %s: %s%s", dst,
			 strerror(e),
			 e == EEXIST ? " (not replacing it; remove it or "
				       "choose another name)"
				     : "");
		rc = e == EEXIST ? KILN_EINVAL : KILN_ESYS;
		goto out;
	}
	dir_sync(dst);
	if (copied)
		*copied = n;
out:
	if (rc && dfd >= 0)
		unlink(tmp);
	if (dfd >= 0)
		close(dfd);
	close(sfd);
	free(tmp);
	return rc;
}
