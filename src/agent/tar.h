/* SPDX-License-Identifier: MIT */
/*
 * A small tar (POSIX ustar + pax) reader and header writer for the agent's
 * upload/download ops (docs/PROTOCOL.md, "Files").  The agent is a static
 * binary and Debian's libarchive.a drags in nettle, libxml2, libacl, zstd
 * and lz4 (not all shipped as static libraries), so the guest side has
 * its own tar code, limited to what a directory copy needs: regular files,
 * directories, symlinks (hard links and special files are reported, the
 * caller skips them), modes, mtimes, long names through pax `path` /
 * `linkpath` records (and GNU 'L'/'K' long-name entries on input).
 *
 * The reader is a pure state machine fed arbitrary chunks (no I/O, no
 * allocation beyond bounded buffers), so it can be fuzzed on its own
 * (tests/fuzz/fuzz_tar.c).  The host side uses libarchive.
 */
#ifndef KILN_AGENT_TAR_H
#define KILN_AGENT_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512
/* Largest pax / GNU long-name header content accepted. */
#define TAR_EXT_MAX (64u << 10)
/* Largest path or link target (bytes, without the NUL). */
#define TAR_PATH_MAX 4095
/* Room tar_header_write() may need: pax header + its data + ustar header. */
#define TAR_HDR_MAX (3 * TAR_BLOCK + 2 * (TAR_PATH_MAX + 32) + TAR_BLOCK)

enum tar_type {
	TAR_FILE = '0',
	TAR_HARDLINK = '1',
	TAR_SYMLINK = '2',
	TAR_DIR = '5',
};

struct tar_entry {
	char type; /* enum tar_type, or another typeflag byte */
	const char *path; /* NUL-terminated, as in the archive */
	const char *linkpath; /* symlink/hard link target, else "" */
	uint64_t size; /* content bytes that follow the header */
	uint32_t mode; /* permission bits, 07777 */
	uint32_t uid, gid;
	int64_t mtime;
	long mtime_nsec;
};

/*
 * Reader callbacks; each returns 0 to go on or < 0 to stop (that value is
 * then returned by tar_reader_feed()).  data: content of the current entry
 * (any entry type with a size), in order; end: after its last byte.
 */
struct tar_reader_ops {
	int (*entry)(void *ctx, const struct tar_entry *e);
	int (*data)(void *ctx, const uint8_t *buf, size_t len);
	int (*end)(void *ctx);
};

enum tar_state {
	TAR_S_HEADER,
	TAR_S_DATA, /* entry content */
	TAR_S_EXT, /* pax / GNU long-name content, collected */
	TAR_S_SKIP, /* content of a pax global header: ignored */
	TAR_S_PAD,
	TAR_S_END, /* end-of-archive seen: the rest is ignored */
};

struct tar_reader {
	enum tar_state state;
	uint8_t block[TAR_BLOCK];
	size_t fill; /* bytes in block */
	uint64_t left; /* content left in this entry */
	size_t pad; /* padding bytes left */
	bool zero_block; /* the previous header block was all zero */
	/* Extended header being collected, and what earlier ones set. */
	char ext_type;
	char ext[TAR_EXT_MAX + 1];
	size_t ext_len;
	char path[TAR_PATH_MAX + 1], linkpath[TAR_PATH_MAX + 1];
	bool have_path, have_linkpath, have_size, have_mtime;
	uint64_t size;
	int64_t mtime;
	long mtime_nsec;
	char cur_path[TAR_PATH_MAX + 1], cur_link[TAR_PATH_MAX + 1];
	uint64_t entries;
	char err[256]; /* the reader's own errors */
};

void tar_reader_init(struct tar_reader *r);

/*
 * Feed the next len bytes of the archive.  Returns 0, -1 for a malformed
 * archive (message in r->err), or a callback's negative value.  After an
 * error the reader must not be fed again.
 */
int tar_reader_feed(struct tar_reader *r, const uint8_t *buf, size_t len,
		    const struct tar_reader_ops *ops, void *ctx);

/* The stream ended: 0 if the archive was complete, else -1 (r->err). */
int tar_reader_finish(struct tar_reader *r);

/*
 * Write the header(s) for e into out (TAR_HDR_MAX bytes): a pax extended
 * header first when the path, link target or size do not fit ustar.
 * Returns the bytes written, or -1 if a path is longer than TAR_PATH_MAX.
 */
long tar_header_write(uint8_t *out, const struct tar_entry *e);

/* Zero bytes after size bytes of content, to the next block. */
static inline size_t tar_padding(uint64_t size)
{
	return (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
}

#endif
