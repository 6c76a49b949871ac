/* SPDX-License-Identifier: MIT */
/*
 * Transport internals shared by virtio_mmio.c (the register file) and
 * virtio_mmio_state.c (snapshot save/restore).  Not for devices.
 */
#ifndef KILN_VMM_VIRTIO_MMIO_PRIV_H
#define KILN_VMM_VIRTIO_MMIO_PRIV_H

#include <stdint.h>

#include "virtio_mmio.h"

/* host_features plus what the transport always offers (VERSION_1). */
uint64_t virtio_offered_features(const struct virtio_dev *d);
/* Set isr bits and interrupt the guest (irqfd, KVM_IRQ_LINE or, without a
 * VM, only counted).  d->lock held. */
void virtio_raise_irq(struct virtio_dev *d, uint32_t why);
/* Status 0: ops->reset, queues and transport registers back to reset
 * values (config_generation is kept, as the spec allows).  d->lock held. */
void virtio_dev_reset(struct virtio_dev *d);

#endif
