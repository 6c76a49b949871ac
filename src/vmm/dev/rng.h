/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (entropy device) fed from getrandom().  Each request is
 * capped at RNG_MAX_PER_REQUEST bytes and each notification at
 * RNG_MAX_PER_NOTIFY bytes, so the guest cannot monopolise the event loop.
 */
#ifndef KILN_VMM_DEV_RNG_H
#define KILN_VMM_DEV_RNG_H

struct vm;
struct virtio_dev;

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_PER_REQUEST (64 * 1024)
#define RNG_MAX_PER_NOTIFY (256 * 1024)

/* Attach a virtio-rng device to vm.  Returns 0 with *out set, or -errno. */
int rng_create(struct vm *vm, struct virtio_dev **out);
/* Detach (see virtio_mmio_detach) and free the device. */
void rng_destroy(struct virtio_dev *d);

#endif
