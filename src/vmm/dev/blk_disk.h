/* SPDX-License-Identifier: MIT */
/*
 * The storage under virtio-blk: a "disk" of fixed size with read, write and
 * flush, backed either by one raw file (or block device) or by a shared
 * read-only base image plus a private copy-on-write overlay file
 * (format in blk_overlay.h).  Creating a sandbox then copies no image data:
 * its root disk is a new, empty overlay over the base (hosts are ext4,
 * which has no reflink).
 *
 * Semantics and ordering:
 * - Read: per cluster from the overlay if its bit is set, else from the
 *   base (zeros past the base's end); runs of clusters with the same source
 *   are one preadv.
 * - Write: a partial write to an unallocated cluster first builds the whole
 *   cluster (base data + new bytes) in a preallocated buffer and writes it;
 *   full clusters and allocated clusters are written straight from the
 *   guest's iovecs.  Bits are set in memory only after the data write
 *   succeeded; a failed write leaves unallocated clusters reading their old
 *   (base) contents.
 * - Flush: fdatasync the overlay (data), then write the bitmap pages that
 *   gained bits and fdatasync again.  A bit on disk therefore always means
 *   its cluster's data is on disk: a crash loses writes since the last
 *   flush (like a disk with a volatile write cache, which is what virtio-blk
 *   with FLUSH advertises) but never shows garbage or base data in place of
 *   flushed data.  Bits only go from 0 to 1, so a torn bitmap page write is
 *   harmless.  Closing flushes.
 * - Checkpoint/fork: flush (blk_disk_flush), then copy the overlay file
 *   sparse-aware; the copy plus the same base is an independent disk.
 * - The base is opened O_RDONLY and flock(LOCK_SH)ed (no VM can have it
 *   read-write meanwhile) and is never written.  The overlay is created 0600
 *   (temp file + fsync + rename, so a half-made overlay never exists under
 *   its name) and flock(LOCK_EX)ed, or LOCK_SH when opened read-only.
 * - Discard and write-zeroes are not offered by virtio-blk.  If they are
 *   added: a discarded cluster must read as zeros, not as base data, so it
 *   becomes "bit set + hole punched in the overlay" (FALLOC_FL_PUNCH_HOLE),
 *   never "bit cleared".
 * - All offsets are checked against the disk size without overflow here as
 *   well as in blk.c.
 */
#ifndef KILN_VMM_DEV_BLK_DISK_H
#define KILN_VMM_DEV_BLK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Most iovecs one read or write may have. */
#define BLK_DISK_MAX_IOV 1024

struct blk_disk;

/*
 * Open a raw image or block device (size a multiple of 512), flock()ed
 * shared when read-only, exclusive otherwise.  0 with *out, or -errno after
 * logging what went wrong ("kiln-vmm: drive PATH: ...").  -EBUSY when
 * another process holds a conflicting lock.
 */
int blk_disk_open_raw(const char *path, bool read_only, struct blk_disk **out);

/*
 * Open base (read-only, shared lock) with the overlay at overlay_path.  A
 * missing overlay is created for this base with cluster_size (0: default)
 * unless read_only (then -ENOENT); an existing one must have been made for
 * this base (size and fingerprint) or it is refused with -EINVAL.  A header
 * that is truncated, corrupt or of another version is refused with -EINVAL.
 */
int blk_disk_open_overlay(const char *base, const char *overlay_path,
			  bool read_only, uint32_t cluster_size,
			  struct blk_disk **out);

uint64_t blk_disk_size(const struct blk_disk *d);
bool blk_disk_read_only(const struct blk_disk *d);

/*
 * Read or write bytes [off, off + total of iov) of the disk.  The range
 * must lie within the disk (else -EINVAL, nothing transferred); iov may
 * have at most BLK_DISK_MAX_IOV entries and its array is clobbered.
 * *done counts the bytes transferred before an error (for reads: stored
 * into iov).  Writes to a read-only disk fail with -EROFS.  0 or -errno.
 */
int blk_disk_read(struct blk_disk *d, struct iovec *iov, int cnt, uint64_t off,
		  uint64_t *done);
int blk_disk_write(struct blk_disk *d, struct iovec *iov, int cnt, uint64_t off,
		   uint64_t *done);

/* Make every completed write durable (see "Flush" above).  0 or -errno. */
int blk_disk_flush(struct blk_disk *d);

/* Flush (errors logged), unlock and close; NULL is fine. */
void blk_disk_close(struct blk_disk *d);

/* --- host file helpers, shared with blk_overlay.c --- */

/*
 * Open path (read-only or read-write, O_CLOEXEC), flock it with lock
 * (LOCK_SH/LOCK_EX, never waiting: -EBUSY) and get its size (regular file
 * or block device).  what names the role in messages ("drive", "base",
 * "overlay"); a missing overlay is not logged (the caller creates it).
 */
int blk_file_open_locked(const char *what, const char *path, bool read_only,
			 int lock, int *fd, uint64_t *size);
/* Size of a regular file or block device (-EINVAL, logged, otherwise). */
int blk_file_size(int fd, const char *path, uint64_t *size);
/* pread/pwrite all of buf, retrying short transfers; reads past the end
 * of the file give zeros.  0 or -errno. */
int blk_file_io(int fd, void *buf, size_t len, uint64_t off, bool write);

#endif
