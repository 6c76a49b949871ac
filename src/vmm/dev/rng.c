/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.1 section 5.4): one queue of device-writable
 * buffers, filled from the host's getrandom() directly in guest memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vmm/dev/rng.h"
#include "vmm/virtio_mmio.h"

struct rng {
	struct virtio_dev dev;
	struct virtq_chain chain;
};

/* Fill up to max bytes of the chain's writable segments; returns bytes. */
static int64_t rng_fill(const struct virtq_chain *c, uint64_t max)
{
	uint64_t done = 0;

	for (unsigned int i = c->nout; i < c->nout + c->nin && done < max;
	     i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t left = c->iov[i].iov_len;

		if (left > max - done)
			left = (size_t)(max - done);
		while (left) {
			ssize_t r = getrandom(p, left, 0);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return done ? (int64_t)done : -errno;
			}
			p += r;
			left -= (size_t)r;
			done += (uint64_t)r;
		}
	}
	return (int64_t)done;
}

static void rng_queue_notify(struct virtio_dev *d, uint16_t qi)
{
	struct rng *g = d->priv;
	struct virtq *q = &d->vqs[qi];
	uint64_t bytes = 0;
	int n;

	/* Bounded in chains and in bytes per notification. */
	for (n = 0; n < RNG_QUEUE_SIZE && bytes < RNG_MAX_PER_NOTIFY; n++) {
		uint64_t want;
		int64_t got;
		int r = virtq_pop(q, &g->chain);

		if (r < 0) {
			virtio_dev_fail(d, "queue %u: %s", qi, q->error);
			return;
		}
		if (r == 0)
			break;
		want = g->chain.in_len;
		if (want > RNG_MAX_PER_REQUEST)
			want = RNG_MAX_PER_REQUEST;
		if (want > RNG_MAX_PER_NOTIFY - bytes)
			want = RNG_MAX_PER_NOTIFY - bytes;
		got = rng_fill(&g->chain, want);
		if (got < 0) {
			/* Keep the buffer for later rather than hand the
			 * guest an empty answer. */
			virtio_dev_warn(d, "getrandom: %s",
					strerror((int)-got));
			virtq_unpop(q);
			break;
		}
		virtq_push(q, &g->chain, (uint32_t)got);
		bytes += (uint64_t)got;
	}
	virtio_signal_used(d, qi);
	if ((n == RNG_QUEUE_SIZE || bytes >= RNG_MAX_PER_NOTIFY) &&
	    virtq_has_avail(q))
		virtio_queue_defer(d, qi);
}

static const struct virtio_dev_ops rng_ops = {
	/* No config space, no backend state: only requests. */
	.queue_notify = rng_queue_notify,
};

int rng_create(struct vm *vm, struct virtio_dev **out)
{
	struct rng *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return -ENOMEM;
	g->dev.name = "virtio-rng";
	g->dev.device_id = VIRTIO_ID_RNG;
	g->dev.host_features = 1ULL << VIRTIO_F_RING_EVENT_IDX;
	g->dev.nqueues = 1;
	g->dev.queue_max[0] = RNG_QUEUE_SIZE;
	g->dev.ops = &rng_ops;
	g->dev.priv = g;
	err = virtio_mmio_attach(vm, &g->dev);
	if (err) {
		free(g);
		return err;
	}
	*out = &g->dev;
	return 0;
}

void rng_destroy(struct virtio_dev *d)
{
	if (!d)
		return;
	virtio_mmio_detach(d);
	free(d->priv);
}
