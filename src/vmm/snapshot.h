/* SPDX-License-Identifier: MIT */
/*
 * Snapshot state file: the container format and the serialisation helpers
 * every part of the VMM uses to save and restore its state.
 *
 * A state file is
 *   header   magic "KILNSNAP", u32 format version, u32 flags,
 *            u64 body length, u32 CRC-32C of the body, u32 header CRC
 *   body     a sequence of sections: u32 tag, u32 instance, u32 length,
 *            then length bytes
 * All integers little endian.  The file is written to a temporary name
 * created 0600, fsynced and renamed into place, so a reader never sees a
 * half-written snapshot.  A reader checks magic, version, lengths and both
 * checksums before it hands out a single section.
 *
 * Writers append to a growable struct snap_buf; readers take values from a
 * bounds-checked struct snap_reader that turns any overrun into a sticky
 * error (values read after it are 0), so parsing code checks once at the
 * end instead of after every field.
 *
 * Guest memory is not in the state file: it goes to a separate memory file
 * (see vmm.h) so a restore can map it MAP_PRIVATE.
 */
#ifndef KILN_VMM_SNAPSHOT_H
#define KILN_VMM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "KILNSNAP"
#define SNAP_VERSION 1
/* A state file larger than this is refused before it is read. */
#define SNAP_MAX_BODY (64u << 20)

/* Section tags ("instance" tells apart sections of one kind). */
enum snap_tag {
	SNAP_TAG_VM_INFO = 1, /* compatibility: template, vCPUs, memory... */
	SNAP_TAG_VM_CONFIG = 2, /* the VMM configuration (devices to create) */
	SNAP_TAG_VCPU = 3, /* instance = vCPU id */
	SNAP_TAG_IRQCHIP = 4, /* PIC master/slave, IOAPIC */
	SNAP_TAG_PIT = 5,
	SNAP_TAG_CLOCK = 6,
	SNAP_TAG_SERIAL = 7,
	SNAP_TAG_VIRTIO = 8, /* instance = device index: transport + queues */
	SNAP_TAG_DEVICE = 9, /* instance = device index: device-specific */
	SNAP_TAG_MEMORY = 10, /* memory file layout and identity */
};

/* --- writing --- */

struct snap_buf {
	uint8_t *data;
	size_t len, cap;
	bool oom; /* an allocation failed: the buffer is unusable */
};

void snap_buf_init(struct snap_buf *b);
void snap_buf_free(struct snap_buf *b);
void snap_put(struct snap_buf *b, const void *p, size_t n);
void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
/* u32 length + bytes (NULL is written as length 0xffffffff). */
void snap_put_str(struct snap_buf *b, const char *s);

/* Start a section; returns a mark for snap_section_end(), which patches in
 * the length. */
size_t snap_section_begin(struct snap_buf *b, uint32_t tag, uint32_t instance);
void snap_section_end(struct snap_buf *b, size_t mark);

/* --- reading --- */

struct snap_reader {
	const uint8_t *p;
	size_t len, off;
	bool bad; /* sticky: a read went past the end or a value was invalid */
};

void snap_reader_init(struct snap_reader *r, const void *p, size_t len);
/* Copy n bytes (zeros once r->bad). */
void snap_get(struct snap_reader *r, void *out, size_t n);
uint8_t snap_get_u8(struct snap_reader *r);
uint16_t snap_get_u16(struct snap_reader *r);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
/* A string written by snap_put_str: malloc'd copy, NULL for a NULL string
 * or on error (then r->bad).  Strings longer than 4096 bytes are refused. */
char *snap_get_str(struct snap_reader *r);
/* True when every byte was consumed and nothing went wrong. */
bool snap_reader_done(const struct snap_reader *r);

/*
 * Find the section (tag, instance) in a body; *sec reads exactly its bytes.
 * Returns 0, -ENOENT if absent, -EINVAL if the body's section framing is
 * broken.
 */
int snap_find_section(const void *body, size_t len, uint32_t tag,
		      uint32_t instance, struct snap_reader *sec);

/* --- files --- */

/*
 * Write header + body to path atomically (tmp file 0600 in the same
 * directory, fsync, rename, fsync of the directory).  0 or -1 with err.
 */
int snap_file_write(const char *path, const struct snap_buf *body, char *err,
		    size_t errlen);

/*
 * Read and verify a state file: regular file, size, magic, version, header
 * and body checksums.  On success *body is a malloc'd copy of the body.
 * Errors name the file and say what is wrong ("truncated", "checksum
 * mismatch: the file is corrupt", "format version 7, this kiln-vmm reads
 * 1").  0 or -1 with err.
 */
int snap_file_read(const char *path, uint8_t **body, size_t *len, char *err,
		   size_t errlen);

/* CRC-32C (Castagnoli) of p[0..n), continuing from crc (start with 0). */
uint32_t snap_crc32c(uint32_t crc, const void *p, size_t n);

#endif
