/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk on a raw image file (or block device), or on a read-only base
 * image + copy-on-write overlay (blk_disk.h).  One request queue,
 * synchronous preadv/pwritev straight into guest memory on the event loop
 * thread.  Images are flock()ed: shared when read-only, exclusive when
 * read-write, so two VMMs never write one image (a base is always shared,
 * an overlay exclusive unless read-only).
 */
#ifndef KILN_VMM_DEV_BLK_H
#define KILN_VMM_DEV_BLK_H

#include <stdbool.h>

struct vm;
struct virtio_dev;

/* Queue size offered; requests may use up to BLK_QUEUE_SIZE - 2 segments. */
#define BLK_QUEUE_SIZE 256
#define BLK_SECTOR_SIZE 512
/* GET_ID answer: the image's file name, NUL-padded to 20 bytes. */
#define BLK_ID_BYTES 20

/*
 * Open path, check its size (a multiple of 512 bytes), lock it and attach a
 * virtio-blk device to vm.  Returns 0 with *out set, or -errno after logging
 * what went wrong.
 */
int blk_create(struct vm *vm, const char *path, bool read_only,
	       struct virtio_dev **out);
/*
 * The same on base + overlay: base is opened read-only and never written;
 * overlay is created (0600, empty, default cluster size) if it does not
 * exist and the drive is not read-only, else it must have been made for
 * this base (refused with -EINVAL and a message otherwise).  The guest sees
 * a disk of the base's size.
 */
int blk_create_overlay(struct vm *vm, const char *base, const char *overlay,
		       bool read_only, struct virtio_dev **out);
/*
 * Make the drive's host files complete and durable (data fdatasynced, the
 * overlay's bitmap written), e.g. with the VM paused before a checkpoint
 * copies the overlay.  0 or -errno (logged).
 */
int blk_sync(struct virtio_dev *d);
/* Detach (see virtio_mmio_detach), close the image, free the device. */
void blk_destroy(struct virtio_dev *d);

#endif
