/* SPDX-License-Identifier: MIT */
/*
 * Byte ring for guest -> host vsock data the host socket has not taken
 * yet.  Grows by doubling (from 4 KiB) up to the caller's limit, and gives
 * a large buffer back once drained so idle connections stay small.
 */
#ifndef KILN_VMM_DEV_VSOCK_RING_H
#define KILN_VMM_DEV_VSOCK_RING_H

#include <stdint.h>
#include <sys/uio.h>

struct vsock_ring {
	uint8_t *buf;
	uint32_t cap, head, used;
};

/* Append n bytes; the ring grows to hold used + n (a power of two >= 4 KiB,
 * so keep used + n <= 2^31).  Returns 0 or -ENOMEM (nothing appended). */
int vsock_ring_push(struct vsock_ring *r, const uint8_t *data, uint32_t n);
/* The buffered bytes as up to 2 iovecs; returns the count. */
int vsock_ring_peek(const struct vsock_ring *r, struct iovec iov[2]);
/* Drop the first n buffered bytes (n <= used). */
void vsock_ring_consume(struct vsock_ring *r, uint32_t n);
/* Free the buffer and forget its contents. */
void vsock_ring_free(struct vsock_ring *r);

#endif
