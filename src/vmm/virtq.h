/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x), written for a hostile driver.  The guest
 * owns the rings; every index, descriptor, address and length read from
 * them is checked before use, chains are bounded by the queue size, and an
 * inconsistency makes virtq_pop() fail so the device can enter NEEDS_RESET
 * instead of the VMM crashing or spinning.
 *
 * Not offered to the guest: indirect descriptors, packed rings.
 * VIRTIO_F_RING_EVENT_IDX is supported (set q->event_idx when negotiated);
 * with it, "no more chains" must be learnt from virtq_pop() returning 0 or
 * virtq_has_avail() returning false: both re-arm the driver's kick.
 *
 * Not thread-safe: the owner (virtio_dev) serialises calls with its lock.
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
	uint16_t signalled_used; /* used_idx at the last should_signal */
	const struct guest_mem *mem;
	const char *error; /* why the last call failed, for logs */
};

struct virtq_chain {
	/* RAM the iovecs point into (set by virtq_pop): writes through
	 * virtq_chain_write() and virtq_push() mark its pages dirty. */
	const struct guest_mem *mem;
	uint16_t head;
	uint16_t nout; /* device-readable segments: iov[0 .. nout) */
	uint16_t nin; /* device-writable segments: iov[nout .. nout + nin) */
	uint64_t out_len, in_len; /* total bytes of each kind */
	struct iovec iov[VIRTQ_MAX_IOV];
};

/* Forget ring addresses and indices (device reset); keeps num_max and mem,
 * num goes back to num_max. */
void virtq_reset(struct virtq *q);

/*
 * Check that the rings the driver configured lie in guest RAM and num is a
 * power of two <= num_max.  Called when the driver sets QueueReady.
 * Returns 0 or -EINVAL with q->error set.  (pop/push/should_signal repeat
 * these checks, so a queue that was never validated is still safe.)
 */
int virtq_validate(struct virtq *q);

/*
 * Take the next available chain.  Returns 1 with *c filled, 0 if the ring is
 * empty, -EINVAL if the driver broke the ring (index jump > num, descriptor
 * index out of range, loop, readable after writable, address outside RAM,
 * total length over 4 GiB, chain longer than num or VIRTQ_MAX_IOV,
 * indirect descriptor); q->error says which.  Zero-length descriptors are
 * accepted and produce no iovec, so every iovec is non-empty.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Give back the chain taken by the last virtq_pop() without consuming it. */
void virtq_unpop(struct virtq *q);

/*
 * Put c on the used ring.  written is the number of bytes the device wrote
 * into the chain's writable segments; it must be <= c->in_len (it is clamped
 * and the call returns -EINVAL if not).
 *
 * Dirty tracking (guest_mem_mark_dirty): the used element and used idx are
 * marked, and so are the first `written` bytes of the writable segments, so
 * a device that fills buffers directly through c->iov (preadv, getrandom)
 * is covered as long as its data starts at the front.  Bytes stored with
 * virtq_chain_write() are marked there, wherever they are (a status byte at
 * the end of a chain).
 */
int virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written);

/* True if the driver wants an interrupt for what was pushed since last time. */
bool virtq_should_signal(struct virtq *q);

/* True if the avail ring holds chains not yet popped (with EVENT_IDX, a
 * false answer also asks the driver to kick on its next chain). */
bool virtq_has_avail(struct virtq *q);

/* Copy out of the readable segments from byte off; returns bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf,
			size_t len);
/* Copy into the writable segments from byte off; returns bytes copied. */
size_t virtq_chain_write(const struct virtq_chain *c, size_t off,
			 const void *buf, size_t len);

#endif
