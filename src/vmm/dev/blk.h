/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk on a raw image file (or block device).  One request queue,
 * synchronous preadv/pwritev straight into guest memory on the event loop
 * thread.  The image is flock()ed: shared when read-only, exclusive when
 * read-write, so two VMMs never write one image.
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
/* Detach (see virtio_mmio_detach), close the image, free the device. */
void blk_destroy(struct virtio_dev *d);

#endif
