/* SPDX-License-Identifier: MIT */
/*
 * Tar reader and header writer (see tar.h).  The archive comes from the
 * host, i.e. from whoever drives the agent: every field is checked
 * (checksum, magic, octal digits, bounds, pax record lengths) and nothing
 * is trusted to be NUL-terminated.
 */
#include "agent/tar.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ustar header fields: offset, size */
#define H_NAME 0, 100
#define H_MODE 100, 8
#define H_UID 108, 8
#define H_GID 116, 8
#define H_SIZE 124, 12
#define H_MTIME 136, 12
#define H_CHKSUM 148, 8
#define H_TYPE 156
#define H_LINK 157, 100
#define H_MAGIC 257
#define H_PREFIX 345, 155

static int fail(struct tar_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct tar_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

void tar_reader_init(struct tar_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = TAR_S_HEADER;
}

/*
 * A numeric field: octal digits (leading spaces, ended by NUL/space or
 * the field's end), or GNU base-256 (first byte 0x80, positive only).
 */
static int parse_num(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] == 0x80) {
		for (i = 1; i < n; i++) {
			if (v >> 56)
				return -1;
			v = v << 8 | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	if (i == n || f[i] < '0' || f[i] > '7')
		return (i == n || f[i] == 0) ? (*out = 0, 0) : -1;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != 0 && f[i] != ' ')
			return -1;
	*out = v;
	return 0;
}

/* Copy a field that may fill its whole size without a NUL. */
static size_t field_str(char *dst, const uint8_t *f, size_t n)
{
	size_t len = strnlen((const char *)f, n);

	memcpy(dst, f, len);
	dst[len] = 0;
	return len;
}

/* "LEN key=value\n" records of a pax header into r's overrides. */
static int parse_pax(struct tar_reader *r)
{
	size_t off = 0;

	/* Bounded: every record is at least 5 bytes and advances off. */
	while (off < r->ext_len) {
		const char *rec = r->ext + off, *sp, *eq, *val;
		size_t len = 0, i = 0, avail = r->ext_len - off, klen, vlen;

		while (i < avail && rec[i] >= '0' && rec[i] <= '9' &&
		       len < TAR_EXT_MAX)
			len = len * 10 + (size_t)(rec[i++] - '0');
		if (i == 0 || i >= avail || rec[i] != ' ' || len > avail ||
		    len < i + 3 || rec[len - 1] != '\n')
			return fail(r,
				    "malformed pax record at byte %zu of "
				    "an extended header",
				    off);
		sp = rec + i;
		eq = memchr(sp + 1, '=', len - i - 1);
		if (!eq)
			return fail(r, "pax record without '='");
		klen = (size_t)(eq - sp - 1);
		val = eq + 1;
		vlen = (size_t)(rec + len - 1 - val);
		if (klen == 4 && !memcmp(sp + 1, "path", 4)) {
			if (vlen == 0 || vlen > TAR_PATH_MAX ||
			    memchr(val, 0, vlen))
				return fail(r, "pax path: empty, too long or "
					       "with a NUL byte");
			memcpy(r->path, val, vlen);
			r->path[vlen] = 0;
			r->have_path = true;
		} else if (klen == 8 && !memcmp(sp + 1, "linkpath", 8)) {
			if (vlen > TAR_PATH_MAX || memchr(val, 0, vlen))
				return fail(r, "pax linkpath: too long or "
					       "with a NUL byte");
			memcpy(r->linkpath, val, vlen);
			r->linkpath[vlen] = 0;
			r->have_linkpath = true;
		} else if (klen == 4 && !memcmp(sp + 1, "size", 4)) {
			uint64_t v = 0;

			if (vlen == 0 || vlen > 19)
				return fail(r, "pax size: not a number");
			for (size_t k = 0; k < vlen; k++) {
				if (val[k] < '0' || val[k] > '9')
					return fail(r, "pax size: not a "
						       "number");
				v = v * 10 + (uint64_t)(val[k] - '0');
			}
			r->size = v;
			r->have_size = true;
		} else if (klen == 5 && !memcmp(sp + 1, "mtime", 5)) {
			int64_t s = 0;
			long ns = 0, scale = 100000000;
			size_t k = 0;

			/* seconds[.fraction]; negative times are refused */
			for (; k < vlen && k < 18 && val[k] >= '0' &&
			       val[k] <= '9';
			     k++)
				s = s * 10 + (val[k] - '0');
			if (k == 0)
				return fail(r, "pax mtime: not a number");
			if (k < vlen && val[k] == '.')
				for (k++;
				     k < vlen && val[k] >= '0' && val[k] <= '9';
				     k++, scale /= 10)
					ns += scale * (val[k] - '0');
			if (k != vlen)
				return fail(r, "pax mtime: not a number");
			r->mtime = s;
			r->mtime_nsec = ns;
			r->have_mtime = true;
		}
		/* other keys (uid, uname, atime, xattrs, ...) are ignored */
		off += len;
	}
	return 0;
}

static bool all_zero(const uint8_t *b)
{
	for (size_t i = 0; i < TAR_BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static void clear_overrides(struct tar_reader *r)
{
	r->have_path = r->have_linkpath = r->have_size = r->have_mtime = false;
}

/* A complete header block in r->block. */
static int header(struct tar_reader *r, const struct tar_reader_ops *ops,
		  void *ctx)
{
	const uint8_t *b = r->block;
	uint64_t sum = 0, want, mode, uid, gid, size, mtime;
	struct tar_entry e = {0};
	char type = (char)b[H_TYPE];

	if (all_zero(b)) {
		if (r->zero_block)
			r->state = TAR_S_END;
		r->zero_block = true;
		return 0;
	}
	if (r->zero_block)
		return fail(r,
			    "a lone zero block inside the archive "
			    "(after %" PRIu64 " entries)",
			    r->entries);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : b[i];
	if (parse_num(b + H_CHKSUM, &want) < 0 || want != sum)
		return fail(r,
			    "header checksum mismatch after %" PRIu64
			    " entries (not a tar archive, or corrupt)",
			    r->entries);
	if (memcmp(b + H_MAGIC, "ustar", 5) != 0)
		return fail(r, "header without the ustar magic (old v7 "
			       "archives are not supported)");
	if (parse_num(b + H_MODE, &mode) < 0 ||
	    parse_num(b + H_UID, &uid) < 0 || parse_num(b + H_GID, &gid) < 0 ||
	    parse_num(b + H_SIZE, &size) < 0 ||
	    parse_num(b + H_MTIME, &mtime) < 0)
		return fail(r, "bad numeric field in a header");
	if (r->have_size)
		size = r->size;
	r->left = size;
	r->pad = tar_padding(size);
	if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
		if (type == 'g') {
			r->state = size ? TAR_S_SKIP : TAR_S_HEADER;
			return 0;
		}
		if (size > TAR_EXT_MAX)
			return fail(r,
				    "extended header of %" PRIu64
				    " bytes (at most %u)",
				    size, TAR_EXT_MAX);
		r->ext_type = type;
		r->ext_len = 0;
		r->state = size ? TAR_S_EXT : TAR_S_HEADER;
		return 0;
	}
	/* the entry itself */
	if (r->have_path) {
		memcpy(r->cur_path, r->path, sizeof(r->path));
	} else {
		size_t plen = 0;

		/* POSIX ustar: prefix "/" name (GNU uses the field else) */
		if (!memcmp(b + H_MAGIC, "ustar\0", 6) && b[345]) {
			plen = field_str(r->cur_path, b + H_PREFIX);
			r->cur_path[plen++] = '/';
		}
		field_str(r->cur_path + plen, b + H_NAME);
	}
	if (r->have_linkpath)
		memcpy(r->cur_link, r->linkpath, sizeof(r->linkpath));
	else
		field_str(r->cur_link, b + H_LINK);
	if (!r->cur_path[0])
		return fail(r, "entry %" PRIu64 " has an empty name",
			    r->entries + 1);
	e.type = type == 0 || type == '7' ? TAR_FILE : type;
	e.path = r->cur_path;
	e.linkpath = r->cur_link;
	e.size = size;
	e.mode = (uint32_t)(mode & 07777);
	e.uid = (uint32_t)uid;
	e.gid = (uint32_t)gid;
	e.mtime = r->have_mtime ? r->mtime : (int64_t)(mtime & INT64_MAX);
	e.mtime_nsec = r->have_mtime ? r->mtime_nsec : 0;
	clear_overrides(r);
	r->entries++;
	r->state = size ? TAR_S_DATA : TAR_S_PAD;
	if (ops->entry) {
		int rc = ops->entry(ctx, &e);

		if (rc < 0)
			return rc;
	}
	if (!size && ops->end)
		return ops->end(ctx);
	return 0;
}

/* Extended header content complete: apply it. */
static int ext_done(struct tar_reader *r)
{
	r->ext[r->ext_len] = 0;
	if (r->ext_type == 'x')
		return parse_pax(r);
	/* GNU long name / link: NUL-terminated string */
	size_t n = strnlen(r->ext, r->ext_len);

	if (n == 0 || n > TAR_PATH_MAX)
		return fail(r, "GNU long name: empty or longer than %d",
			    TAR_PATH_MAX);
	if (r->ext_type == 'L') {
		memcpy(r->path, r->ext, n + 1);
		r->have_path = true;
	} else {
		memcpy(r->linkpath, r->ext, n + 1);
		r->have_linkpath = true;
	}
	return 0;
}

int tar_reader_feed(struct tar_reader *r, const uint8_t *buf, size_t len,
		    const struct tar_reader_ops *ops, void *ctx)
{
	size_t off = 0;
	int rc;

	/* Bounded: every pass consumes input or changes state. */
	while (off < len) {
		size_t n = len - off;

		switch (r->state) {
		case TAR_S_END:
			return 0;
		case TAR_S_HEADER:
			if (n > TAR_BLOCK - r->fill)
				n = TAR_BLOCK - r->fill;
			memcpy(r->block + r->fill, buf + off, n);
			r->fill += n;
			off += n;
			if (r->fill < TAR_BLOCK)
				break;
			r->fill = 0;
			rc = header(r, ops, ctx);
			if (rc < 0)
				return rc;
			break;
		case TAR_S_DATA:
		case TAR_S_EXT:
		case TAR_S_SKIP:
			if (n > r->left)
				n = (size_t)r->left;
			if (r->state == TAR_S_EXT) {
				memcpy(r->ext + r->ext_len, buf + off, n);
				r->ext_len += n;
			} else if (r->state == TAR_S_DATA && ops->data) {
				rc = ops->data(ctx, buf + off, n);
				if (rc < 0)
					return rc;
			}
			off += n;
			r->left -= n;
			if (r->left)
				break;
			if (r->state == TAR_S_EXT)
				rc = ext_done(r);
			else if (r->state == TAR_S_DATA && ops->end)
				rc = ops->end(ctx);
			else
				rc = 0;
			if (rc < 0)
				return rc;
			r->state = TAR_S_PAD;
			break;
		case TAR_S_PAD:
			if (n > r->pad)
				n = r->pad;
			off += n;
			r->pad -= n;
			if (!r->pad)
				r->state = TAR_S_HEADER;
			break;
		}
	}
	/* a zero-size entry's padding is 0: leave PAD at once */
	if (r->state == TAR_S_PAD && !r->pad)
		r->state = TAR_S_HEADER;
	return 0;
}

int tar_reader_finish(struct tar_reader *r)
{
	if (r->state == TAR_S_END)
		return 0;
	if (r->state == TAR_S_DATA)
		return fail(r,
			    "archive truncated: %" PRIu64
			    " bytes of \"%s\" missing",
			    r->left, r->cur_path);
	return fail(r,
		    "archive truncated: no end-of-archive marker after "
		    "%" PRIu64 " entries",
		    r->entries);
}

/* ---- writing ------------------------------------------------------------ */

static void put_octal(uint8_t *f, size_t n, uint64_t v)
{
	/* n-1 digits and a NUL; callers check that v fits */
	f[n - 1] = 0;
	for (size_t i = n - 1; i-- > 0; v >>= 3)
		f[i] = (uint8_t)('0' + (v & 7));
}

static bool fits_octal(uint64_t v, size_t n)
{
	return (n - 1) * 3 >= 64 || v < (UINT64_C(1) << ((n - 1) * 3));
}

static void put_checksum(uint8_t *b)
{
	unsigned int sum = 0;

	memset(b + 148, ' ', 8);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += b[i];
	put_octal(b + 148, 7, sum);
	b[155] = ' ';
}

static void ustar_block(uint8_t *b, char type, const char *name,
			const char *link, uint64_t size, uint32_t mode,
			uint32_t uid, uint32_t gid, int64_t mtime)
{
	memset(b, 0, TAR_BLOCK);
	memcpy(b, name, strnlen(name, 100));
	put_octal(b + H_MODE, mode & 07777);
	put_octal(b + H_UID, fits_octal(uid, 8) ? uid : 0);
	put_octal(b + H_GID, fits_octal(gid, 8) ? gid : 0);
	put_octal(b + H_SIZE, fits_octal(size, 12) ? size : 0);
	put_octal(b + H_MTIME, mtime > 0 && fits_octal((uint64_t)mtime, 12)
				       ? (uint64_t)mtime
				       : 0);
	b[H_TYPE] = (uint8_t)type;
	memcpy(b + 157, link, strnlen(link, 100));
	memcpy(b + H_MAGIC,
	       "ustar\0"
	       "00",
	       8);
	put_checksum(b);
}

/* Append one "LEN key=value\n" record; LEN counts itself. */
static size_t pax_record(char *out, const char *key, const char *val)
{
	size_t body = strlen(key) + strlen(val) + 3; /* ' ', '=', '\n' */
	size_t digits = 1, total;

	/* Bounded: at most 20 digits. */
	for (;;) {
		size_t t = body + digits, d = 1;

		for (size_t x = t; x >= 10; x /= 10)
			d++;
		if (d == digits)
			break;
		digits = d;
	}
	total = body + digits;
	sprintf(out, "%zu %s=%s\n", total, key, val);
	return total;
}

long tar_header_write(uint8_t *out, const struct tar_entry *e)
{
	size_t plen = strlen(e->path), llen = strlen(e->linkpath);
	char pax[2 * (TAR_PATH_MAX + 32) + 64];
	size_t paxlen = 0;
	long off = 0;

	if (plen > TAR_PATH_MAX || llen > TAR_PATH_MAX)
		return -1;
	if (plen >= 100)
		paxlen += pax_record(pax + paxlen, "path", e->path);
	if (llen >= 100)
		paxlen += pax_record(pax + paxlen, "linkpath", e->linkpath);
	if (!fits_octal(e->size, 12)) {
		char num[24];

		snprintf(num, sizeof(num), "%" PRIu64, e->size);
		paxlen += pax_record(pax + paxlen, "size", num);
	}
	if (paxlen) {
		ustar_block(out, 'x', "././@PaxHeader", "", paxlen, 0644, 0, 0,
			    e->mtime);
		memcpy(out + TAR_BLOCK, pax, paxlen);
		memset(out + TAR_BLOCK + paxlen, 0, tar_padding(paxlen));
		off = (long)(TAR_BLOCK + paxlen + tar_padding(paxlen));
	}
	ustar_block(out + off, e->type, e->path, e->linkpath, e->size, e->mode,
		    e->uid, e->gid, e->mtime);
	return off + TAR_BLOCK;
}
