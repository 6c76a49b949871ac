/* SPDX-License-Identifier: MIT */
/*
 * Kernel and image checks.  Only headers are read: the point is to catch
 * the wrong file, a missing build step or a truncated copy with a message
 * that names the file, before a VM spends minutes failing to boot it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/artifact.h"

/* ELF64 header fields we look at. */
#define ELF_EI_CLASS 4
#define ELF_EI_DATA 5
#define ELF_CLASS64 2
#define ELF_DATA2LSB 1
#define ELF_OFF_TYPE 16
#define ELF_OFF_MACHINE 18
#define ELF_ET_EXEC 2
#define ELF_EM_X86_64 62

/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst). */
#define BZ_OFF_SETUP_SECTS 0x1F1
#define BZ_OFF_BOOT_FLAG 0x1FE
#define BZ_OFF_HEADER 0x202
#define BZ_OFF_VERSION 0x206
#define BZ_OFF_XLOADFLAGS 0x236
#define BZ_HDR_END 0x238
#define BZ_BOOT_FLAG 0xAA55
#define BZ_MIN_VERSION 0x020C
#define BZ_XLF_KERNEL_64 0x1

/* ext2/3/4 superblock, 1024 bytes into the device. */
#define EXT_SB_OFF 1024
#define EXT_OFF_BLOCKS_LO 4
#define EXT_OFF_LOG_BLOCK_SIZE 24
#define EXT_OFF_MAGIC 56
#define EXT_OFF_INCOMPAT 0x60
#define EXT_OFF_BLOCKS_HI 0x150
#define EXT_SB_NEEDED (EXT_OFF_BLOCKS_HI + 4)
#define EXT_MAGIC 0xEF53
#define EXT_INCOMPAT_RECOVER 0x4
#define EXT_INCOMPAT_64BIT 0x80
#define EXT_MAX_LOG_BLOCK_SIZE 6 /* 64 KiB */

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* Read up to len bytes at off; returns bytes read or -errno. */
static ssize_t read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
				  off + (off_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Open path for reading and make sure it is a regular file.  Returns the
 * fd, or a negative kiln status with err filled in.
 */
static int artifact_open(const char *what, const char *path, const char *hint,
			 struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int e = errno;

		if (e == ENOENT || e == ENOTDIR) {
			snprintf(err, errlen, "%s not found at %s%s%s", what,
				 path, hint ? "; " : "", hint ? hint : "");
			return KILN_ENOTFOUND;
		}
		snprintf(err, errlen, "cannot open %s %s: %s", what, path,
			 strerror(e));
		return KILN_ESYS;
	}
	if (fstat(fd, st) < 0) {
		snprintf(err, errlen, "cannot stat %s %s: %s", what, path,
			 strerror(errno));
		close(fd);
		return KILN_ESYS;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what,
			 path);
		close(fd);
		return KILN_EFORMAT;
	}
	if (st->st_size == 0) {
		snprintf(err, errlen, "%s %s is empty%s%s", what, path,
			 hint ? "; " : "", hint ? hint : "");
		close(fd);
		return KILN_EFORMAT;
	}
	return fd;
}

static int kernel_check_elf(const char *path, const unsigned char *h, size_t n,
			    char *err, size_t errlen)
{
	if (n < 64 || h[ELF_EI_CLASS] != ELF_CLASS64 ||
	    h[ELF_EI_DATA] != ELF_DATA2LSB) {
		snprintf(err, errlen,
			 "kernel %s is an ELF file but not a 64-bit "
			 "little-endian one",
			 path);
		return KILN_EFORMAT;
	}
	if (le16(h + ELF_OFF_MACHINE) != ELF_EM_X86_64) {
		snprintf(err, errlen,
			 "kernel %s is an ELF file for machine %u, not x86-64",
			 path, le16(h + ELF_OFF_MACHINE));
		return KILN_EFORMAT;
	}
	if (le16(h + ELF_OFF_TYPE) != ELF_ET_EXEC) {
		snprintf(err, errlen,
			 "kernel %s is an ELF file but not an executable "
			 "(a module or object file?); use the vmlinux from the "
			 "kernel build",
			 path);
		return KILN_EFORMAT;
	}
	return 0;
}

static int kernel_check_bzimage(const char *path, const unsigned char *h,
				size_t n, off_t size, char *err, size_t errlen)
{
	unsigned int setup_sects;
	uint16_t version;

	if (n < BZ_HDR_END) {
		snprintf(err, errlen, "kernel %s is truncated (%zu bytes)",
			 path, n);
		return KILN_EFORMAT;
	}
	version = le16(h + BZ_OFF_VERSION);
	if (version < BZ_MIN_VERSION) {
		snprintf(err, errlen,
			 "kernel %s uses boot protocol %u.%02u; 2.12 or later "
			 "is needed",
			 path, version >> 8, version & 0xff);
		return KILN_EFORMAT;
	}
	if (!(le16(h + BZ_OFF_XLOADFLAGS) & BZ_XLF_KERNEL_64)) {
		snprintf(err, errlen,
			 "kernel %s is a bzImage without a 64-bit entry point "
			 "(not an x86-64 kernel?)",
			 path);
		return KILN_EFORMAT;
	}
	setup_sects = h[BZ_OFF_SETUP_SECTS] ? h[BZ_OFF_SETUP_SECTS] : 4;
	if ((off_t)(setup_sects + 1) * 512 >= size) {
		snprintf(err, errlen,
			 "kernel %s is truncated: its setup code claims %u "
			 "sectors but the file has %lld bytes",
			 path, setup_sects, (long long)size);
		return KILN_EFORMAT;
	}
	return 0;
}

int artifact_check_kernel(const char *path, const char *hint,
			  enum artifact_kernel_kind *kind, char *err,
			  size_t errlen)
{
	unsigned char h[BZ_HDR_END];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = artifact_open("kernel", path, hint, &st, err, errlen);
	if (fd < 0)
		return fd;
	n = read_at(fd, h, sizeof(h), 0);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read kernel %s: %s", path,
			 strerror((int)-n));
		return KILN_ESYS;
	}
	if (n >= 4 && memcmp(h,
			     "\x7f"
			     "ELF",
			     4) == 0) {
		rc = kernel_check_elf(path, h, (size_t)n, err, errlen);
		if (!rc)
			*kind = ARTIFACT_KERNEL_ELF;
		return rc;
	}
	if (n >= BZ_OFF_HEADER + 4 &&
	    le16(h + BZ_OFF_BOOT_FLAG) == BZ_BOOT_FLAG &&
	    memcmp(h + BZ_OFF_HEADER, "HdrS", 4) == 0) {
		rc = kernel_check_bzimage(path, h, (size_t)n, st.st_size, err,
					  errlen);
		if (!rc)
			*kind = ARTIFACT_KERNEL_BZIMAGE;
		return rc;
	}
	snprintf(err, errlen,
		 "%s is not a kernel: expected an x86-64 ELF vmlinux or a "
		 "bzImage",
		 path);
	return KILN_EFORMAT;
}

int artifact_check_image(const char *path, const char *hint, char *err,
			 size_t errlen)
{
	unsigned char sb[EXT_SB_NEEDED];
	uint64_t blocks, need;
	uint32_t log_bs, incompat;
	struct stat st;
	ssize_t n;
	int fd;

	fd = artifact_open("image", path, hint, &st, err, errlen);
	if (fd < 0)
		return fd;
	n = read_at(fd, sb, sizeof(sb), EXT_SB_OFF);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read image %s: %s", path,
			 strerror((int)-n));
		return KILN_ESYS;
	}
	if ((size_t)n < sizeof(sb) || le16(sb + EXT_OFF_MAGIC) != EXT_MAGIC) {
		snprintf(err, errlen,
			 "image %s is not an ext4 file system (no superblock "
			 "magic 0xEF53 at byte 1080)%s%s",
			 path, hint ? "; " : "", hint ? hint : "");
		return KILN_EFORMAT;
	}
	log_bs = le32(sb + EXT_OFF_LOG_BLOCK_SIZE);
	if (log_bs > EXT_MAX_LOG_BLOCK_SIZE) {
		snprintf(err, errlen,
			 "image %s has a corrupt ext4 superblock (block size "
			 "1024 << %u)",
			 path, log_bs);
		return KILN_EFORMAT;
	}
	incompat = le32(sb + EXT_OFF_INCOMPAT);
	blocks = le32(sb + EXT_OFF_BLOCKS_LO);
	if (incompat & EXT_INCOMPAT_64BIT)
		blocks |= (uint64_t)le32(sb + EXT_OFF_BLOCKS_HI) << 32;
	need = blocks << (10 + log_bs);
	if (blocks == 0 || need >> (10 + log_bs) != blocks) {
		snprintf(err, errlen,
			 "image %s has a corrupt ext4 superblock (%llu blocks)",
			 path, (unsigned long long)blocks);
		return KILN_EFORMAT;
	}
	if ((uint64_t)st.st_size < need) {
		snprintf(err, errlen,
			 "image %s is truncated: the file system needs %llu "
			 "bytes but the file has %lld",
			 path, (unsigned long long)need, (long long)st.st_size);
		return KILN_EFORMAT;
	}
	/*
	 * The image is attached read-only, and the guest kernel refuses to
	 * mount a read-only device whose journal needs replaying.
	 */
	if (incompat & EXT_INCOMPAT_RECOVER) {
		snprintf(err, errlen,
			 "image %s has an unrecovered journal and cannot be "
			 "mounted read-only; run 'e2fsck -fy %s'",
			 path, path);
		return KILN_EFORMAT;
	}
	return 0;
}
