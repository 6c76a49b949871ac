/* SPDX-License-Identifier: MIT */
/*
 * virtio-net RX (see net.c for the whole device): frames from the backend
 * straight into the guest's buffers.  Without MRG_RXBUF one chain takes
 * one frame.  With it, chains are popped until they can hold the largest
 * frame (NET_MAX_FRAME), the TAP is read with all their iovecs at once, the
 * chains the frame filled are completed (num_buffers in the first one's
 * header) and the rest go back to the ring (virtq_unpop) before the lock
 * is dropped: no chain stays popped and no frame is held in the VMM
 * between events.  Called with d->lock held.
 */
#include <errno.h>
#include <string.h>

#include "vmm/dev/net.h"
#include "vmm/dev/net_priv.h"
#include "vmm/dev/tap.h"
#include "vmm/virtio_mmio.h"

/* Copy between iov[0..cnt) from byte 0 and a small flat buffer. */
static void iov_rw(const struct iovec *iov, unsigned int cnt, uint8_t *buf,
		   size_t len, bool to_iov)
{
	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		if (to_iov)
			memcpy(iov[i].iov_base, buf, k);
		else
			memcpy(buf, iov[i].iov_base, k);
		buf += k;
		len -= k;
	}
}

/* --- RX --- */

/* Give back every chain still popped (the pass is over). */
static void net_rx_release(struct net *n)
{
	struct virtq *q = &n->dev.vqs[NET_QUEUE_RX];

	/* The popped chains are the last rx_count the ring handed out:
	 * stepping last_avail back returns exactly those. */
	for (uint32_t i = 0; i < n->rx_count; i++)
		virtq_unpop(q);
	n->rx_first = n->rx_count = n->rx_niov = 0;
	n->rx_room = n->rx_descs = 0;
}

/* Move the chains still popped to the front of the arrays. */
static void net_rx_compact(struct net *n)
{
	uint32_t from;

	if (n->rx_first == 0)
		return;
	if (n->rx_count == 0) {
		n->rx_first = n->rx_niov = 0;
		return;
	}
	from = n->rx[n->rx_first].iov_first;
	memmove(n->rx_iov, n->rx_iov + from,
		(n->rx_niov - from) * sizeof(n->rx_iov[0]));
	memmove(n->rx, n->rx + n->rx_first, n->rx_count * sizeof(n->rx[0]));
	for (uint32_t i = 0; i < n->rx_count; i++)
		n->rx[i].iov_first -= from;
	n->rx_niov -= from;
	n->rx_first = 0;
}

/*
 * Pop RX chains until there is room for want bytes.  Returns 1 if the ring
 * ran dry first, 2 if our arrays did (the guest's buffers are too
 * fragmented for a full frame: read anyway), 0 if want was met, -1 if the
 * device failed.
 */
static int net_rx_gather(struct net *n, uint64_t want)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vqs[NET_QUEUE_RX];
	struct virtq_chain *c = &n->chain;

	while (n->rx_room < want) {
		struct net_rxbuf *b;
		int r;

		if (n->rx_first + n->rx_count == NET_QUEUE_SIZE ||
		    n->rx_niov + VIRTQ_MAX_IOV > NET_RX_MAX_IOV)
			net_rx_compact(n);
		if (n->rx_count == NET_QUEUE_SIZE)
			return 2;
		r = virtq_pop(q, c);
		if (r < 0) {
			virtio_dev_fail(d, "RX queue: %s", q->error);
			return -1;
		}
		if (r == 0)
			return 1;
		if (c->nout || c->in_len < NET_HDR_LEN) {
			virtq_unpop(q);
			virtio_dev_fail(d,
					"RX buffer of %llu bytes %s; each must "
					"be device-writable and hold the "
					"%d-byte header",
					(unsigned long long)c->in_len,
					c->nout ? "has device-readable parts"
						: "is too small",
					NET_HDR_LEN);
			return -1;
		}
		if (n->rx_niov + c->nin > NET_RX_MAX_IOV) {
			virtq_unpop(q);
			return 2;
		}
		b = &n->rx[n->rx_first + n->rx_count++];
		b->head = c->head;
		b->niov = c->nin;
		b->iov_first = n->rx_niov;
		b->len = c->in_len;
		memcpy(n->rx_iov + n->rx_niov, c->iov,
		       c->nin * sizeof(c->iov[0]));
		n->rx_niov += c->nin;
		n->rx_room += c->in_len;
		n->rx_descs += c->nin;
	}
	return 0;
}

/* Why a received header is not for this guest, or NULL (fixes flags). */
static const char *net_rx_hdr_check(const struct net *n, uint8_t *h)
{
	uint8_t gso = h[1] & ~NET_HDR_GSO_ECN;

	if (!n->guest_csum) {
		if (h[0] & NET_HDR_F_NEEDS_CSUM)
			return "needs a checksum (GUEST_CSUM not negotiated)";
		h[0] = 0; /* the spec wants flags 0 then: no DATA_VALID */
	}
	if (gso == NET_HDR_GSO_NONE)
		return (h[1] & NET_HDR_GSO_ECN) ? "ECN bit without GSO" : NULL;
	if (gso == NET_HDR_GSO_TCPV4 && !n->guest_tso4)
		return "TSO4 (GUEST_TSO4 not negotiated)";
	if (gso == NET_HDR_GSO_TCPV6 && !n->guest_tso6)
		return "TSO6 (GUEST_TSO6 not negotiated)";
	if (gso != NET_HDR_GSO_TCPV4 && gso != NET_HDR_GSO_TCPV6)
		return "unsupported GSO type";
	if ((h[1] & NET_HDR_GSO_ECN) && !n->guest_ecn)
		return "ECN (GUEST_ECN not negotiated)";
	return NULL;
}

/* Complete the first k popped chains holding a frame of len bytes. */
static void net_rx_complete(struct net *n, uint32_t k, uint64_t len)
{
	struct virtq *q = &n->dev.vqs[NET_QUEUE_RX];
	struct virtq_chain *c = &n->chain;

	for (uint32_t i = 0; i < k; i++) {
		struct net_rxbuf *b = &n->rx[n->rx_first];
		uint64_t w = len < b->len ? len : b->len;

		c->mem = q->mem;
		c->head = b->head;
		c->nout = 0;
		c->nin = b->niov;
		c->out_len = 0;
		c->in_len = b->len;
		memcpy(c->iov, n->rx_iov + b->iov_first,
		       b->niov * sizeof(c->iov[0]));
		virtq_push(q, c, (uint32_t)w);
		len -= w;
		n->rx_room -= b->len;
		n->rx_descs -= b->niov;
		n->rx_first++;
		n->rx_count--;
	}
}

/*
 * Move one frame from the backend to the guest.  Returns 1 if a frame was
 * delivered or dropped, 0 if there is nothing to read or no room (then
 * rx_stalled says which), -1 if the device or the backend failed.
 */
static int net_rx_one(struct net *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vqs[NET_QUEUE_RX];
	struct net_rxbuf *b;
	uint8_t h[NET_HDR_LEN];
	uint64_t room, left;
	const char *bad;
	unsigned int cnt;
	uint32_t k;
	ssize_t r;
	int g;

	g = net_rx_gather(n, n->mrg ? NET_MAX_FRAME : 1);
	if (g < 0)
		return -1;
	if (n->rx_count == 0 || (n->mrg && g == 1 && n->rx_room < n->rx_min &&
				 n->rx_descs < q->num)) {
		/* Wait for the driver's kick (the ring was re-armed by the
		 * pop that found it empty).  A full ring that still cannot
		 * hold a frame is read anyway: it will not grow. */
		n->rx_stalled = true;
		return 0;
	}
	b = &n->rx[n->rx_first];
	if (n->mrg) {
		cnt = n->rx_niov - b->iov_first;
		room = n->rx_room;
	} else {
		cnt = b->niov;
		room = b->len;
	}
	r = tap_read_frame(n->fd, n->is_tap, n->rx_iov + b->iov_first, cnt);
	if (r == -EAGAIN)
		return 0;
	if (r <= 0) {
		net_backend_lost(n, r == 0 ? "closed" : strerror((int)-r));
		return -1;
	}
	/* The buffers written below stay popped and are reused for the next
	 * frame: the guest never sees a dropped frame's bytes. */
	if ((uint64_t)r > room) {
		virtio_dev_warn(d,
				"RX frame of %zd bytes does not fit the %llu "
				"bytes of buffers the guest has; dropped",
				r, (unsigned long long)room);
		return 1;
	}
	if (r < NET_HDR_LEN + 14) {
		virtio_dev_warn(
			d, "RX frame of %zd bytes is too short; dropped", r);
		return 1;
	}
	iov_rw(n->rx_iov + b->iov_first, cnt, h, sizeof(h), false);
	bad = net_rx_hdr_check(n, h);
	if (bad) {
		virtio_dev_warn(d, "RX frame of %zd bytes %s; dropped", r, bad);
		return 1;
	}
	k = 0;
	for (left = (uint64_t)r; left && k < n->rx_count; k++) {
		uint64_t l = n->rx[n->rx_first + k].len;

		left -= left < l ? left : l;
	}
	/* num_buffers: 1 without MRG_RXBUF as well (virtio 1.x header). */
	h[10] = (uint8_t)k;
	h[11] = (uint8_t)(k >> 8);
	iov_rw(n->rx_iov + b->iov_first, cnt, h, sizeof(h), true);
	net_rx_complete(n, k, (uint64_t)r);
	return 1;
}

/* Deliver frames until the budget, the backend or the guest's room ends. */
void net_rx(struct net *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vqs[NET_QUEUE_RX];
	uint16_t used = q->used_idx;

	if (!virtio_dev_live(d) || !q->ready || !n->registered)
		return;
	for (int i = 0; i < NET_BUDGET; i++)
		if (net_rx_one(n) <= 0)
			break;
	net_rx_release(n);
	if (q->used_idx != used)
		virtio_signal_used(d, NET_QUEUE_RX);
	/* More frames are left to EPOLLIN (level-triggered). */
}
