/* SPDX-License-Identifier: MIT */
/*
 * Snapshot state file (see snapshot.h).
 *
 * A state file is input like anything the guest writes: it may be
 * truncated by a full disk, flipped by bad storage or crafted.  Everything
 * is checked before use: the header's own CRC, the body's CRC-32C, every
 * length against what is really there.  Section framing is re-walked in
 * full by every lookup, so a body whose framing is broken anywhere is
 * refused, not half used.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"

/* magic 8, version 4, flags 4, body length 8, body CRC 4, header CRC 4 */
#define SNAP_HDR_SIZE 32
#define SNAP_HDR_CRC_OFF 28
#define SNAP_SECTION_HDR 12
#define SNAP_STR_MAX 4096
#define SNAP_STR_NULL 0xffffffffu
/* Attempts at a free temporary name next to the target. */
#define SNAP_TMP_TRIES 64

/* ------------------------------------------------------------ CRC-32C */

/* Castagnoli polynomial 0x1EDC6F41, bit-reflected: 0x82F63B78. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc32c_table[i] = c;
	}
}

uint32_t snap_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;

	pthread_once(&crc32c_once, crc32c_init);
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc32c_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---------------------------------------------------- little endian */

static void le_store(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_load(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ------------------------------------------------------------ writing */

void snap_buf_init(struct snap_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Make room for n more bytes; false (and oom set) if that fails. */
static bool snap_buf_reserve(struct snap_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void snap_put(struct snap_buf *b, const void *p, size_t n)
{
	if (n == 0 || !snap_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void snap_put_le(struct snap_buf *b, uint64_t v, int n)
{
	uint8_t raw[8];

	le_store(raw, v, n);
	snap_put(b, raw, (size_t)n);
}

void snap_put_u8(struct snap_buf *b, uint8_t v)
{
	snap_put(b, &v, 1);
}

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	snap_put_le(b, v, 2);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	snap_put_le(b, v, 4);
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_put_le(b, v, 8);
}

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n;

	if (!s) {
		snap_put_u32(b, SNAP_STR_NULL);
		return;
	}
	n = strlen(s);
	if (n > SNAP_STR_MAX) {
		/* The reader would refuse it: fail now, where the bug is. */
		b->oom = true;
		return;
	}
	snap_put_u32(b, (uint32_t)n);
	snap_put(b, s, n);
}

size_t snap_section_begin(struct snap_buf *b, uint32_t tag, uint32_t instance)
{
	size_t mark = b->len;

	snap_put_u32(b, tag);
	snap_put_u32(b, instance);
	snap_put_u32(b, 0); /* length, patched by snap_section_end() */
	return mark;
}

void snap_section_end(struct snap_buf *b, size_t mark)
{
	size_t len;

	if (b->oom)
		return;
	if (mark > b->len || b->len - mark < SNAP_SECTION_HDR) {
		b->oom = true; /* not a mark from snap_section_begin() */
		return;
	}
	len = b->len - mark - SNAP_SECTION_HDR;
	if (len > UINT32_MAX) {
		b->oom = true;
		return;
	}
	le_store(b->data + mark + 8, len, 4);
}

/* ------------------------------------------------------------ reading */

void snap_reader_init(struct snap_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
	r->off = 0;
	r->bad = false;
}

void snap_get(struct snap_reader *r, void *out, size_t n)
{
	if (!r->bad && n > r->len - r->off)
		r->bad = true;
	if (r->bad) {
		memset(out, 0, n);
		return;
	}
	if (n)
		memcpy(out, r->p + r->off, n);
	r->off += n;
}

static uint64_t snap_get_le(struct snap_reader *r, int n)
{
	uint8_t raw[8];

	snap_get(r, raw, (size_t)n);
	return le_load(raw, n);
}

uint8_t snap_get_u8(struct snap_reader *r)
{
	return (uint8_t)snap_get_le(r, 1);
}

uint16_t snap_get_u16(struct snap_reader *r)
{
	return (uint16_t)snap_get_le(r, 2);
}

uint32_t snap_get_u32(struct snap_reader *r)
{
	return (uint32_t)snap_get_le(r, 4);
}

uint64_t snap_get_u64(struct snap_reader *r)
{
	return snap_get_le(r, 8);
}

char *snap_get_str(struct snap_reader *r)
{
	uint32_t n = snap_get_u32(r);
	char *s;

	if (r->bad || n == SNAP_STR_NULL)
		return NULL;
	if (n > SNAP_STR_MAX || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	/* An embedded NUL would silently shorten the string. */
	if (memchr(r->p + r->off, '\0', n)) {
		r->bad = true;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		r->bad = true;
		return NULL;
	}
	snap_get(r, s, n);
	s[n] = '\0';
	return s;
}

bool snap_reader_done(const struct snap_reader *r)
{
	return !r->bad && r->off == r->len;
}

int snap_find_section(const void *body, size_t len, uint32_t tag,
		      uint32_t instance, struct snap_reader *sec)
{
	const uint8_t *p = body;
	size_t off = 0;
	bool found = false;

	snap_reader_init(sec, NULL, 0);
	if (!p && len)
		return -EINVAL;
	/* Each step consumes at least a section header: bounded by len. */
	while (off < len) {
		uint32_t t, inst, slen;

		if (len - off < SNAP_SECTION_HDR)
			return -EINVAL;
		t = (uint32_t)le_load(p + off, 4);
		inst = (uint32_t)le_load(p + off + 4, 4);
		slen = (uint32_t)le_load(p + off + 8, 4);
		off += SNAP_SECTION_HDR;
		if (slen > len - off)
			return -EINVAL;
		if (t == tag && inst == instance) {
			if (found)
				return -EINVAL; /* two answers: which one? */
			found = true;
			snap_reader_init(sec, p + off, slen);
		}
		off += slen;
	}
	if (!found) {
		snap_reader_init(sec, NULL, 0);
		return -ENOENT;
	}
	return 0;
}

/* -------------------------------------------------------------- files */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO; /* no progress: do not spin */
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read up to n bytes; returns bytes read (short only at end of file). */
static ssize_t read_all(int fd, uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, p + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static void snap_header_encode(uint8_t hdr[SNAP_HDR_SIZE],
			       const struct snap_buf *body)
{
	memcpy(hdr, SNAP_MAGIC, 8);
	le_store(hdr + 8, SNAP_VERSION, 4);
	le_store(hdr + 12, 0, 4); /* flags: none defined */
	le_store(hdr + 16, body->len, 8);
	le_store(hdr + 24, snap_crc32c(0, body->data, body->len), 4);
	le_store(hdr + SNAP_HDR_CRC_OFF, snap_crc32c(0, hdr, SNAP_HDR_CRC_OFF),
		 4);
}

/* The directory part of path ("." if none), for the temp file and fsync. */
static int snap_dir_of(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return snprintf(dir, dirlen, ".") < (int)dirlen ? 0 : -1;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

/* Create a fresh temporary file next to path; its name goes to tmp. */
static int snap_tmp_create(const char *path, char *tmp, size_t tmplen)
{
	for (unsigned int i = 0; i < SNAP_TMP_TRIES; i++) {
		int n = snprintf(tmp, tmplen, "%s.tmp.%ld.%u", path,
				 (long)getpid(), i);
		int fd;

		if (n < 0 || (size_t)n >= tmplen)
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int snap_file_write(const char *path, const struct snap_buf *body, char *err,
		    size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	uint8_t hdr[SNAP_HDR_SIZE];
	const char *what;
	int fd, dfd, rc;

	if (body->oom) {
		snprintf(err, errlen,
			 "snapshot %s: out of memory while collecting the "
			 "VM state",
			 path);
		return -1;
	}
	if (body->len > SNAP_MAX_BODY) {
		snprintf(err, errlen,
			 "snapshot %s: VM state of %zu bytes exceeds the "
			 "%u-byte limit",
			 path, body->len, SNAP_MAX_BODY);
		return -1;
	}
	if (snap_dir_of(path, dir, sizeof(dir))) {
		snprintf(err, errlen, "snapshot %s: path too long", path);
		return -1;
	}
	fd = snap_tmp_create(path, tmp, sizeof(tmp));
	if (fd < 0) {
		snprintf(err, errlen,
			 "snapshot %s: cannot create a temporary file next "
			 "to it: %s",
			 path, strerror(-fd));
		return -1;
	}
	snap_header_encode(hdr, body);
	what = "write";
	rc = fchmod(fd, 0600) < 0 ? -errno : 0; /* whatever the umask */
	if (!rc)
		rc = write_all(fd, hdr, sizeof(hdr));
	if (!rc && body->len)
		rc = write_all(fd, body->data, body->len);
	if (!rc) {
		what = "fsync";
		rc = fsync(fd) < 0 ? -errno : 0;
	}
	if (close(fd) < 0 && !rc) {
		what = "close";
		rc = -errno;
	}
	if (!rc) {
		what = "rename";
		rc = rename(tmp, path) < 0 ? -errno : 0;
	}
	if (rc) {
		snprintf(err, errlen, "snapshot %s: %s of %s failed: %s", path,
			 what, tmp, strerror(-rc));
		unlink(tmp);
		return -1;
	}
	/* The rename is durable once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		snprintf(err, errlen,
			 "snapshot %s: written, but syncing directory %s "
			 "failed: %s",
			 path, dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/* Check the 32-byte header against the file size; 0 or -1 with err. */
static int snap_header_check(const char *path, const uint8_t *hdr, size_t got,
			     uint64_t file_size, uint64_t *body_len,
			     uint32_t *body_crc, char *err, size_t errlen)
{
	uint32_t version, flags;

	if (got < 8 || memcmp(hdr, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen,
			 "%s: not a kiln snapshot state file (bad magic)",
			 path);
		return -1;
	}
	if (got < SNAP_HDR_SIZE) {
		snprintf(err, errlen,
			 "%s: truncated snapshot (%zu bytes, the header alone "
			 "is %d)",
			 path, got, SNAP_HDR_SIZE);
		return -1;
	}
	/* Magic and version keep their place in every format version, so
	 * a newer file is named as such rather than called corrupt. */
	version = (uint32_t)le_load(hdr + 8, 4);
	if (version != SNAP_VERSION &&
	    (uint32_t)le_load(hdr + SNAP_HDR_CRC_OFF, 4) ==
		    snap_crc32c(0, hdr, SNAP_HDR_CRC_OFF)) {
		snprintf(err, errlen,
			 "%s: snapshot format version %u, this kiln-vmm "
			 "reads %u; restore it with the kiln-vmm that took it",
			 path, version, SNAP_VERSION);
		return -1;
	}
	if ((uint32_t)le_load(hdr + SNAP_HDR_CRC_OFF, 4) !=
	    snap_crc32c(0, hdr, SNAP_HDR_CRC_OFF)) {
		snprintf(err, errlen,
			 "%s: header checksum mismatch: the file is corrupt",
			 path);
		return -1;
	}
	flags = (uint32_t)le_load(hdr + 12, 4);
	*body_len = le_load(hdr + 16, 8);
	*body_crc = (uint32_t)le_load(hdr + 24, 4);
	if (flags) {
		snprintf(err, errlen,
			 "%s: snapshot uses unknown flags 0x%x; restore it "
			 "with the kiln-vmm that took it",
			 path, flags);
		return -1;
	}
	if (*body_len > SNAP_MAX_BODY) {
		snprintf(err, errlen,
			 "%s: snapshot state of %llu bytes exceeds the %u-byte "
			 "limit: the file is corrupt",
			 path, (unsigned long long)*body_len, SNAP_MAX_BODY);
		return -1;
	}
	if (file_size < SNAP_HDR_SIZE + *body_len) {
		snprintf(err, errlen,
			 "%s: truncated snapshot (%llu of %llu bytes)", path,
			 (unsigned long long)file_size,
			 (unsigned long long)(SNAP_HDR_SIZE + *body_len));
		return -1;
	}
	if (file_size > SNAP_HDR_SIZE + *body_len) {
		snprintf(err, errlen,
			 "%s: %llu bytes after the end of the snapshot: the "
			 "file is corrupt",
			 path,
			 (unsigned long long)(file_size - SNAP_HDR_SIZE -
					      *body_len));
		return -1;
	}
	return 0;
}

int snap_file_read(const char *path, uint8_t **body, size_t *len, char *err,
		   size_t errlen)
{
	uint8_t hdr[SNAP_HDR_SIZE], extra;
	uint64_t body_len;
	uint32_t body_crc;
	struct stat st;
	uint8_t *p = NULL;
	ssize_t got;
	int fd;

	*body = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open snapshot: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	got = read_all(fd, hdr, sizeof(hdr));
	if (got < 0) {
		snprintf(err, errlen, "%s: read: %s", path,
			 strerror((int)-got));
		goto fail;
	}
	if (snap_header_check(path, hdr, (size_t)got, (uint64_t)st.st_size,
			      &body_len, &body_crc, err, errlen))
		goto fail;
	p = malloc(body_len ? body_len : 1);
	if (!p) {
		snprintf(err, errlen, "%s: out of memory for %llu bytes", path,
			 (unsigned long long)body_len);
		goto fail;
	}
	/* One byte more than expected: the file may have changed since
	 * fstat, and a longer one is as wrong as a shorter one. */
	got = read_all(fd, p, body_len);
	if (got >= 0 && (uint64_t)got == body_len &&
	    read_all(fd, &extra, 1) == 1)
		got = -EFBIG;
	if (got < 0 && got != -EFBIG) {
		snprintf(err, errlen, "%s: read: %s", path,
			 strerror((int)-got));
		goto fail;
	}
	if (got == -EFBIG) {
		snprintf(err, errlen,
			 "%s: the file grew while being read: the snapshot is "
			 "corrupt",
			 path);
		goto fail;
	}
	if ((uint64_t)got != body_len) {
		snprintf(err, errlen,
			 "%s: truncated snapshot (%llu of %llu body bytes)",
			 path, (unsigned long long)got,
			 (unsigned long long)body_len);
		goto fail;
	}
	if (snap_crc32c(0, p, body_len) != body_crc) {
		snprintf(err, errlen,
			 "%s: checksum mismatch: the file is corrupt", path);
		goto fail;
	}
	close(fd);
	*body = p;
	*len = body_len;
	return 0;
fail:
	free(p);
	close(fd);
	return -1;
}
