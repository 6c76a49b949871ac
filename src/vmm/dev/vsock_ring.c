/* SPDX-License-Identifier: MIT */
/*
 * Byte ring for buffered vsock data (see vsock_ring.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsock_ring.h"

#define VSOCK_RING_MIN 4096
/* A drained buffer larger than this is given back to the allocator, so idle
 * connections do not pin bulk-transfer buffers. */
#define VSOCK_RING_KEEP (64u * 1024)

static int ring_grow(struct vsock_ring *r, uint32_t need)
{
	uint32_t cap = r->cap ? r->cap : VSOCK_RING_MIN, first;
	uint8_t *nb;

	while (cap < need)
		cap *= 2;
	nb = malloc(cap);
	if (!nb)
		return -ENOMEM;
	/* Linearise the old contents at the start of the new buffer. */
	if (r->used) {
		first = r->cap - r->head;
		if (first > r->used)
			first = r->used;
		memcpy(nb, r->buf + r->head, first);
		memcpy(nb + first, r->buf, r->used - first);
	}
	free(r->buf);
	r->buf = nb;
	r->cap = cap;
	r->head = 0;
	return 0;
}

int vsock_ring_push(struct vsock_ring *r, const uint8_t *data, uint32_t n)
{
	uint32_t tail, first;

	if (n == 0)
		return 0;
	if (r->used + n > r->cap && ring_grow(r, r->used + n) < 0)
		return -ENOMEM;
	tail = (r->head + r->used) % r->cap;
	first = r->cap - tail;
	if (first > n)
		first = n;
	memcpy(r->buf + tail, data, first);
	memcpy(r->buf, data + first, n - first);
	r->used += n;
	return 0;
}

int vsock_ring_peek(const struct vsock_ring *r, struct iovec iov[2])
{
	uint32_t first;

	if (r->used == 0)
		return 0;
	first = r->cap - r->head;
	if (first > r->used)
		first = r->used;
	iov[0].iov_base = r->buf + r->head;
	iov[0].iov_len = first;
	if (first == r->used)
		return 1;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = r->used - first;
	return 2;
}

void vsock_ring_consume(struct vsock_ring *r, uint32_t n)
{
	if (n > r->used)
		n = r->used;
	if (n == 0)
		return;
	r->head = (r->head + n) % r->cap;
	r->used -= n;
	if (r->used == 0) {
		r->head = 0;
		if (r->cap > VSOCK_RING_KEEP)
			vsock_ring_free(r);
	}
}

void vsock_ring_free(struct vsock_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->head = r->used = 0;
}
