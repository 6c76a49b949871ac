/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x), written for a hostile driver.  The guest
 * owns the rings; every index, descriptor, address and length read from
 * them is checked before use, chains are bounded by the queue size, and an
 * inconsistency makes virtq_pop() fail so the device can enter NEEDS_RESET
 * instead of the VMM crashing or spinning.
 *
 * Not offered to the guest: indirect descriptors, packed rings.
 */
#ifndef KILN_VMM_VIRTQ_H
#define KILN_VMM_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"

/* Longest chain accepted; longer ones are a driver error. */
#define VIRTQ_MAX_IOV 256

struct virtq {
	uint16_t num_max; /* device's limit, power of two */
	uint16_t num; /* chosen by the driver, power of two <= num_max */
	bool ready;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next avail ring slot to consume */
	uint16_t used_idx; /* next used ring slot to fill */
	uint16_t signalled_used; /* used_idx at the last interrupt */
	const struct guest_mem *mem;
};

struct virtq_chain {
	uint16_t head;
	uint16_t nout; /* device-readable segments: iov[0 .. nout) */
	uint16_t nin; /* device-writable segments: iov[nout .. nout + nin) */
	uint64_t out_len, in_len; /* total bytes of each kind */
	struct iovec iov[VIRTQ_MAX_IOV];
};

/* Forget ring addresses and indices (device reset). */
void virtq_reset(struct virtq *q);

/*
 * Check that the rings the driver configured lie in guest RAM and num is a
 * power of two <= num_max.  Called when the driver sets QueueReady.
 * Returns 0 or -EINVAL.
 */
int virtq_validate(const struct virtq *q);

/*
 * Take the next available chain.  Returns 1 with *c filled, 0 if the ring is
 * empty, -EINVAL if the driver broke the ring (index jump > num, descriptor
 * index out of range, loop, readable after writable, address outside RAM,
 * total length overflow, chain longer than VIRTQ_MAX_IOV).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Give back the chain taken by the last virtq_pop() without consuming it. */
void virtq_unpop(struct virtq *q);

/*
 * Put c on the used ring.  written is the number of bytes the device wrote
 * into the chain's writable segments; it must be <= c->in_len (it is clamped
 * and the call returns -EINVAL if not).
 */
int virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);

/* True if the driver wants an interrupt for what was pushed since last time. */
bool virtq_should_signal(struct virtq *q);

/* True if the avail ring holds chains not yet popped. */
bool virtq_has_avail(const struct virtq *q);

/* Copy out of the readable segments starting at byte off; returns bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf,
			size_t len);
/* Copy into the writable segments starting at byte off; returns bytes copied. */
size_t virtq_chain_write(const struct virtq_chain *c, size_t off,
			 const void *buf, size_t len);

#endif
