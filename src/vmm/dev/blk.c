/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.1 section 5.2) on a raw image.
 *
 * A request is a readable 16-byte header (type, ioprio, sector), data
 * segments (readable for OUT, writable for IN) and a final writable status
 * byte.  The guest controls the layout, so the header may share a
 * descriptor with data and segments may be any length: the request is
 * described by byte offsets into the chain's readable and writable streams,
 * and the data part is cut out of the chain's iovecs for preadv/pwritev.
 *
 * The storage is a struct blk_disk (blk_disk.h): a raw image, or a
 * base image + copy-on-write overlay.  I/O is synchronous on the event loop
 * thread.  blk_request_*() compute a status from a chain and nothing else,
 * so an asynchronous backend (io_uring) could complete chains later without
 * changing the parsing.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "vmm/dev/blk.h"
#include "vmm/dev/blk_disk.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define BLK_HDR_SIZE 16

/* struct virtio_blk_config offsets; fields not offered read as 0. */
#define BLK_CFG_CAPACITY 0
#define BLK_CFG_SEG_MAX 12
#define BLK_CFG_BLK_SIZE 20
#define BLK_CFG_SIZE 60

/* Requests handled per notification before yielding to other events. */
#define BLK_REQUESTS_PER_NOTIFY 256

struct blk_req_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct blk {
	struct virtio_dev dev;
	struct blk_disk *disk;
	bool read_only;
	uint64_t capacity; /* in 512-byte sectors */
	char id[BLK_ID_BYTES];
	char name[40];
	struct virtq_chain chain;
	struct iovec data[VIRTQ_MAX_IOV];
};

/*
 * Point dst at bytes [off, off + len) of the stream iov[0..n).  Returns the
 * number of iovecs used (<= n).  The caller has checked that the stream
 * holds off + len bytes.
 */
static int iov_slice(const struct iovec *iov, unsigned int n, uint64_t off,
		     uint64_t len, struct iovec *dst)
{
	int cnt = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		dst[cnt].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[cnt].iov_len = take;
		cnt++;
		len -= take;
		off = 0;
	}
	return cnt;
}

static bool blk_range_ok(const struct blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t nsec = bytes / BLK_SECTOR_SIZE;

	return sector <= b->capacity && nsec <= b->capacity - sector;
}

/* IN: header only readable; data = writable bytes before the status. */
static uint8_t blk_request_read(struct blk *b, const struct virtq_chain *c,
				uint64_t sector, uint32_t *written)
{
	uint64_t len = c->in_len - 1, done = 0;
	int cnt, err;

	if (c->out_len != BLK_HDR_SIZE || len % BLK_SECTOR_SIZE) {
		virtio_dev_warn(&b->dev,
				"read request with %" PRIu64
				" readable and %" PRIu64
				" data bytes (need a 16-byte header and whole "
				"sectors)",
				c->out_len, len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (!blk_range_ok(b, sector, len)) {
		virtio_dev_warn(&b->dev,
				"read of %" PRIu64 " bytes at sector %" PRIu64
				" beyond capacity %" PRIu64 " sectors",
				len, sector, b->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	cnt = iov_slice(c->iov + c->nout, c->nin, 0, len, b->data);
	err = blk_disk_read(b->disk, b->data, cnt, sector * BLK_SECTOR_SIZE,
			    &done);
	*written = (uint32_t)done;
	if (err) {
		virtio_dev_warn(&b->dev,
				"read at sector %" PRIu64 " failed: %s", sector,
				strerror(-err));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* OUT: data = readable bytes after the header; only the status writable. */
static uint8_t blk_request_write(struct blk *b, const struct virtq_chain *c,
				 uint64_t sector)
{
	uint64_t len = c->out_len - BLK_HDR_SIZE, done = 0;
	int cnt, err;

	if (c->in_len != 1 || len % BLK_SECTOR_SIZE) {
		virtio_dev_warn(&b->dev,
				"write request with %" PRIu64
				" data and %" PRIu64
				" writable bytes (need whole sectors and a "
				"status byte)",
				len, c->in_len);
		return VIRTIO_BLK_S_IOERR;
	}
	if (b->read_only) {
		virtio_dev_warn(&b->dev, "write to a read-only drive refused");
		return VIRTIO_BLK_S_IOERR;
	}
	if (!blk_range_ok(b, sector, len)) {
		virtio_dev_warn(&b->dev,
				"write of %" PRIu64 " bytes at sector %" PRIu64
				" beyond capacity %" PRIu64 " sectors",
				len, sector, b->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	cnt = iov_slice(c->iov, c->nout, BLK_HDR_SIZE, len, b->data);
	err = blk_disk_write(b->disk, b->data, cnt, sector * BLK_SECTOR_SIZE,
			     &done);
	if (err) {
		virtio_dev_warn(&b->dev,
				"write at sector %" PRIu64
				" failed after %" PRIu64 " of %" PRIu64
				" bytes: %s",
				sector, done, len, strerror(-err));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_request_flush(struct blk *b)
{
	int err = blk_disk_flush(b->disk);

	if (err) {
		virtio_dev_warn(&b->dev, "flush failed: %s", strerror(-err));
		return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_request_get_id(struct blk *b, const struct virtq_chain *c,
				  uint32_t *written)
{
	uint64_t room = c->in_len - 1;

	*written = (uint32_t)virtq_chain_write(
		c, 0, b->id, room < BLK_ID_BYTES ? room : BLK_ID_BYTES);
	return VIRTIO_BLK_S_OK;
}

/*
 * Execute one request.  Returns the bytes written into the chain (data +
 * status), or -EINVAL if the chain has no status byte to report on.
 */
static int64_t blk_request(struct blk *b, const struct virtq_chain *c)
{
	struct blk_req_hdr hdr;
	uint32_t written = 0;
	uint8_t status;

	if (c->in_len == 0)
		return -EINVAL;
	if (c->out_len < BLK_HDR_SIZE) {
		virtio_dev_warn(&b->dev,
				"request header is %" PRIu64
				" bytes, need 16; failed with IOERR",
				c->out_len);
		status = VIRTIO_BLK_S_IOERR;
	} else {
		virtq_chain_read(c, 0, &hdr, sizeof(hdr));
		switch (le32toh(hdr.type)) {
		case VIRTIO_BLK_T_IN:
			status = blk_request_read(b, c, le64toh(hdr.sector),
						  &written);
			break;
		case VIRTIO_BLK_T_OUT:
			status = blk_request_write(b, c, le64toh(hdr.sector));
			break;
		case VIRTIO_BLK_T_FLUSH:
			status = blk_request_flush(b);
			break;
		case VIRTIO_BLK_T_GET_ID:
			status = blk_request_get_id(b, c, &written);
			break;
		default:
			status = VIRTIO_BLK_S_UNSUPP;
			break;
		}
	}
	virtq_chain_write(c, c->in_len - 1, &status, 1);
	return (int64_t)written + 1;
}

static void blk_queue_notify(struct virtio_dev *d, uint16_t qi)
{
	struct blk *b = d->priv;
	struct virtq *q = &d->vqs[qi];
	int n;

	for (n = 0; n < BLK_REQUESTS_PER_NOTIFY; n++) {
		int64_t used;
		int r = virtq_pop(q, &b->chain);

		if (r < 0) {
			virtio_dev_fail(d, "queue %u: %s", qi, q->error);
			break;
		}
		if (r == 0)
			break;
		used = blk_request(b, &b->chain);
		if (used < 0) {
			virtio_dev_fail(d, "request without a writable "
					   "status byte");
			break;
		}
		virtq_push(q, &b->chain, (uint32_t)used);
	}
	virtio_signal_used(d, qi);
	if (n == BLK_REQUESTS_PER_NOTIFY && virtio_dev_live(d) &&
	    virtq_has_avail(q))
		virtio_queue_defer(d, qi);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct blk *b = d->priv;
	uint8_t cfg[BLK_CFG_SIZE] = {0};
	uint64_t cap = htole64(b->capacity);

	memcpy(cfg + BLK_CFG_CAPACITY, &cap, 8);
	put_le32(cfg + BLK_CFG_SEG_MAX, BLK_QUEUE_SIZE - 2);
	put_le32(cfg + BLK_CFG_BLK_SIZE, BLK_SECTOR_SIZE);

	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static void blk_config_write(struct virtio_dev *d, uint32_t off,
			     const uint8_t *data, uint32_t len)
{
	virtio_dev_warn(d, "write to read-only config at 0x%x ignored", off);
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.queue_notify = blk_queue_notify,
	/* activate/reset: requests complete synchronously, so there is no
	 * backend state to start or to drop. */
};

/* GET_ID serial: the file name, printable ASCII, NUL-padded. */
static void blk_make_id(struct blk *b, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	memset(b->id, 0, sizeof(b->id));
	for (size_t i = 0; i < sizeof(b->id) && base[i]; i++)
		b->id[i] = base[i] > 0x20 && base[i] < 0x7f ? base[i] : '_';
}

/* Attach a virtio-blk device on disk (taken over: closed on failure). */
static int blk_attach(struct vm *vm, struct blk_disk *disk, const char *path,
		      bool read_only, struct virtio_dev **out)
{
	struct blk *b = calloc(1, sizeof(*b));
	int err;

	if (!b) {
		blk_disk_close(disk);
		return -ENOMEM;
	}
	b->disk = disk;
	b->read_only = read_only;
	b->capacity = blk_disk_size(disk) / BLK_SECTOR_SIZE;
	blk_make_id(b, path);
	snprintf(b->name, sizeof(b->name), "virtio-blk %.20s", b->id);

	b->dev.name = b->name;
	b->dev.device_id = VIRTIO_ID_BLOCK;
	b->dev.host_features =
		1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE |
		1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_F_RING_EVENT_IDX;
	if (read_only)
		b->dev.host_features |= 1ULL << VIRTIO_BLK_F_RO;
	b->dev.nqueues = 1;
	b->dev.queue_max[0] = BLK_QUEUE_SIZE;
	b->dev.ops = &blk_ops;
	b->dev.priv = b;

	err = virtio_mmio_attach(vm, &b->dev);
	if (err) {
		blk_disk_close(b->disk);
		free(b);
		return err;
	}
	*out = &b->dev;
	return 0;
}

int blk_create(struct vm *vm, const char *path, bool read_only,
	       struct virtio_dev **out)
{
	struct blk_disk *disk;
	int err = blk_disk_open_raw(path, read_only, &disk);

	if (err)
		return err;
	return blk_attach(vm, disk, path, read_only, out);
}

int blk_create_overlay(struct vm *vm, const char *base, const char *overlay,
		       bool read_only, struct virtio_dev **out)
{
	struct blk_disk *disk;
	int err = blk_disk_open_overlay(base, overlay, read_only, 0, &disk);

	if (err)
		return err;
	return blk_attach(vm, disk, base, read_only, out);
}

/*
 * Finish every request the guest has made available.  Requests run on the
 * event loop (or on a vCPU thread when KVM_IOEVENTFD is missing), and a
 * kick may still sit in the queue's eventfd, or work be deferred, when the
 * vCPUs pause: without this, such a request could write the image after a
 * checkpoint's blk_sync, while the caller copies the files.  With the
 * vCPUs paused nothing new can arrive, so once the ring is empty the disk
 * stays as it is until they resume; a kick handled later finds no work.
 * Bounded: each pass takes up to BLK_REQUESTS_PER_NOTIFY requests and the
 * ring holds at most BLK_QUEUE_SIZE.  Called with d->lock held.
 */
static void blk_drain(struct virtio_dev *d)
{
	struct virtq *q = &d->vqs[0];

	for (int pass = 0; pass <= BLK_QUEUE_SIZE / BLK_REQUESTS_PER_NOTIFY;
	     pass++) {
		if (!virtio_dev_live(d) || !q->ready || !virtq_has_avail(q))
			return;
		blk_queue_notify(d, 0);
	}
}

int blk_sync(struct virtio_dev *d)
{
	struct blk *b = d->priv;
	int err;

	pthread_mutex_lock(&d->lock);
	blk_drain(d);
	err = blk_disk_flush(b->disk);
	pthread_mutex_unlock(&d->lock);

	if (err)
		virtio_dev_warn(d, "flush for a checkpoint failed: %s",
				strerror(-err));
	return err;
}

void blk_destroy(struct virtio_dev *d)
{
	struct blk *b;

	if (!d)
		return;
	b = d->priv;
	virtio_mmio_detach(d);
	blk_disk_close(b->disk);
	free(b);
}
