/* SPDX-License-Identifier: MIT */
/*
 * Snapshot save/restore of a virtio-mmio device (see virtio_mmio.h).
 *
 * Layout (little endian, snapshot.h helpers):
 *   u32 device_id, u64 mmio_base, u32 gsi, u64 offered features,
 *   u64 guest_features, u32 status, u32 isr, u32 config_generation,
 *   u32 device_features_sel, u32 driver_features_sel, u32 queue_sel,
 *   u8 features_invalid, u16 nqueues, then per queue
 *     u16 num_max, u16 num, u8 ready, u8 event_idx,
 *     u64 desc, u64 avail, u64 used, u16 last_avail, u16 used_idx,
 *     u16 signalled_used,
 *   u32 length + the device's own state (ops->save).
 *
 * Restore parses and checks everything into a struct first and only then
 * touches the device, so a refused snapshot leaves it as it was: reset.
 * The checks are those the register file applies to a driver: a state a
 * driver could not have produced is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "virtio_mmio.h"
#include "virtio_mmio_priv.h"

#define STATUS_KNOWN                                           \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |    \
	 VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK | \
	 VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

struct virtio_queue_state {
	uint16_t num_max, num;
	bool ready, event_idx;
	uint64_t desc, avail, used;
	uint16_t last_avail, used_idx, signalled_used;
};

struct virtio_state {
	uint32_t device_id, gsi;
	uint64_t mmio_base, offered, guest_features;
	uint32_t status, isr, config_generation;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	bool features_invalid;
	uint16_t nqueues;
	struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
	struct snap_reader dev; /* the device's own state */
};

int virtio_mmio_save(struct virtio_dev *d, struct snap_buf *b)
{
	size_t mark;

	pthread_mutex_lock(&d->lock);
	snap_put_u32(b, d->device_id);
	snap_put_u64(b, d->mmio_base);
	snap_put_u32(b, d->gsi);
	snap_put_u64(b, virtio_offered_features(d));
	snap_put_u64(b, d->guest_features);
	snap_put_u32(b, d->status);
	snap_put_u32(b, d->isr);
	snap_put_u32(b, d->config_generation);
	snap_put_u32(b, d->device_features_sel);
	snap_put_u32(b, d->driver_features_sel);
	snap_put_u32(b, d->queue_sel);
	snap_put_u8(b, d->features_invalid);
	snap_put_u16(b, d->nqueues);
	for (int i = 0; i < d->nqueues; i++) {
		const struct virtq *q = &d->vqs[i];

		snap_put_u16(b, q->num_max);
		snap_put_u16(b, q->num);
		snap_put_u8(b, q->ready);
		snap_put_u8(b, q->event_idx);
		snap_put_u64(b, q->desc_gpa);
		snap_put_u64(b, q->avail_gpa);
		snap_put_u64(b, q->used_gpa);
		snap_put_u16(b, q->last_avail);
		snap_put_u16(b, q->used_idx);
		snap_put_u16(b, q->signalled_used);
	}
	/* Device state as a nested blob: its length is patched in after. */
	mark = b->len;
	snap_put_u32(b, 0);
	if (d->ops->save)
		d->ops->save(d, b);
	if (!b->oom) {
		uint64_t n = b->len - mark - 4;

		if (n > UINT32_MAX)
			b->oom = true;
		for (int i = 0; i < 4 && !b->oom; i++)
			b->data[mark + i] = (uint8_t)(n >> (8 * i));
	}
	pthread_mutex_unlock(&d->lock);
	return b->oom ? -ENOMEM : 0;
}

/* A u8 that must be 0 or 1. */
static bool get_bool(struct snap_reader *r)
{
	uint8_t v = snap_get_u8(r);

	if (v > 1)
		r->bad = true;
	return v == 1;
}

static void read_queue(struct snap_reader *r, struct virtio_queue_state *q)
{
	q->num_max = snap_get_u16(r);
	q->num = snap_get_u16(r);
	q->ready = get_bool(r);
	q->event_idx = get_bool(r);
	q->desc = snap_get_u64(r);
	q->avail = snap_get_u64(r);
	q->used = snap_get_u64(r);
	q->last_avail = snap_get_u16(r);
	q->used_idx = snap_get_u16(r);
	q->signalled_used = snap_get_u16(r);
}

/* Parse; only framing is checked here. */
static int virtio_state_read(struct snap_reader *r, struct virtio_state *s)
{
	uint32_t devlen;

	memset(s, 0, sizeof(*s));
	s->device_id = snap_get_u32(r);
	s->mmio_base = snap_get_u64(r);
	s->gsi = snap_get_u32(r);
	s->offered = snap_get_u64(r);
	s->guest_features = snap_get_u64(r);
	s->status = snap_get_u32(r);
	s->isr = snap_get_u32(r);
	s->config_generation = snap_get_u32(r);
	s->device_features_sel = snap_get_u32(r);
	s->driver_features_sel = snap_get_u32(r);
	s->queue_sel = snap_get_u32(r);
	s->features_invalid = get_bool(r);
	s->nqueues = snap_get_u16(r);
	if (s->nqueues > VIRTIO_MAX_QUEUES)
		return -1;
	for (int i = 0; i < s->nqueues && !r->bad; i++)
		read_queue(r, &s->q[i]);
	devlen = snap_get_u32(r);
	if (r->bad || devlen > r->len - r->off) {
		r->bad = true;
		return -1;
	}
	snap_reader_init(&s->dev, r->p + r->off, devlen);
	r->off += devlen;
	return 0;
}

/* Does the saved state belong to this device, as configured now? */
static int virtio_state_check_identity(struct virtio_dev *d,
				       const struct virtio_state *s, char *err,
				       size_t errlen)
{
	if (s->device_id != d->device_id) {
		snprintf(err, errlen,
			 "%s: snapshot holds virtio device type %u here, "
			 "this VM has type %u: the device list differs",
			 d->name, s->device_id, d->device_id);
		return -1;
	}
	if (s->mmio_base != d->mmio_base || s->gsi != d->gsi) {
		snprintf(err, errlen,
			 "%s: snapshot has it at MMIO 0x%" PRIx64
			 " GSI %u, this VM at 0x%" PRIx64
			 " GSI %u: devices must be created in the same order",
			 d->name, s->mmio_base, s->gsi, d->mmio_base, d->gsi);
		return -1;
	}
	if (s->offered != virtio_offered_features(d)) {
		snprintf(err, errlen,
			 "%s: snapshot device offered features 0x%" PRIx64
			 ", this one offers 0x%" PRIx64
			 " (e.g. a drive's read-only flag differs)",
			 d->name, s->offered, virtio_offered_features(d));
		return -1;
	}
	if (s->nqueues != d->nqueues) {
		snprintf(err, errlen,
			 "%s: snapshot has %u queues, the device has %u",
			 d->name, s->nqueues, d->nqueues);
		return -1;
	}
	for (int i = 0; i < s->nqueues; i++) {
		if (s->q[i].num_max != d->vqs[i].num_max) {
			snprintf(err, errlen,
				 "%s: queue %d: snapshot size limit %u, the "
				 "device's is %u",
				 d->name, i, s->q[i].num_max,
				 d->vqs[i].num_max);
			return -1;
		}
	}
	return 0;
}

/* The status byte a driver could have reached through the register file. */
static const char *virtio_state_check_status(const struct virtio_dev *d,
					     const struct virtio_state *s)
{
	uint32_t st = s->status;

	if (st & ~(uint32_t)STATUS_KNOWN)
		return "unknown device status bits";
	if ((st & VIRTIO_STATUS_DRIVER) && !(st & VIRTIO_STATUS_ACKNOWLEDGE))
		return "status DRIVER without ACKNOWLEDGE";
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(st & VIRTIO_STATUS_DRIVER))
		return "status FEATURES_OK without DRIVER";
	if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK))
		return "status DRIVER_OK without FEATURES_OK";
	if (!(st & VIRTIO_STATUS_DRIVER) &&
	    (s->guest_features || s->features_invalid))
		return "driver features set before status DRIVER";
	if (st & VIRTIO_STATUS_FEATURES_OK) {
		if (s->guest_features & ~virtio_offered_features(d))
			return "driver features that were not offered";
		if (s->features_invalid)
			return "driver features above bit 63";
		if (!(s->guest_features & (1ULL << VIRTIO_F_VERSION_1)))
			return "driver features without VERSION_1";
	}
	if (s->isr & ~(uint32_t)(VIRTIO_INT_USED | VIRTIO_INT_CONFIG))
		return "unknown interrupt status bits";
	return NULL;
}

static int virtio_state_check_queues(struct virtio_dev *d,
				     const struct virtio_state *s, char *err,
				     size_t errlen)
{
	bool event_idx = s->guest_features & (1ULL << VIRTIO_F_RING_EVENT_IDX);

	for (int i = 0; i < s->nqueues; i++) {
		const struct virtio_queue_state *qs = &s->q[i];
		struct virtq q = d->vqs[i]; /* num_max and guest RAM */
		const char *why = NULL;

		if (!qs->ready) {
			/* QueueNum stores a valid size or 0 (refused). */
			if (qs->num && (qs->num > qs->num_max ||
					(qs->num & (qs->num - 1))))
				why = "queue size is not a power of two "
				      "<= QueueNumMax";
		} else if (!(s->status & VIRTIO_STATUS_FEATURES_OK)) {
			why = "queue ready before FEATURES_OK";
		} else if (qs->event_idx != event_idx) {
			why = "EVENT_IDX use differs from the features";
		} else {
			q.num = qs->num;
			q.desc_gpa = qs->desc;
			q.avail_gpa = qs->avail;
			q.used_gpa = qs->used;
			if (virtq_validate(&q))
				why = q.error;
		}
		if (why) {
			snprintf(err, errlen,
				 "%s: snapshot queue %d: %s; the snapshot is "
				 "corrupt or does not belong to this VM",
				 d->name, i, why);
			return -1;
		}
	}
	return 0;
}

static void virtio_state_apply(struct virtio_dev *d,
			       const struct virtio_state *s)
{
	d->guest_features = s->guest_features;
	d->status = s->status;
	d->isr = s->isr;
	d->config_generation = s->config_generation;
	d->device_features_sel = s->device_features_sel;
	d->driver_features_sel = s->driver_features_sel;
	d->queue_sel = s->queue_sel;
	d->features_invalid = s->features_invalid;
	for (int i = 0; i < s->nqueues; i++) {
		const struct virtio_queue_state *qs = &s->q[i];
		struct virtq *q = &d->vqs[i];

		q->num = qs->num;
		q->ready = qs->ready;
		q->event_idx = qs->event_idx;
		q->desc_gpa = qs->desc;
		q->avail_gpa = qs->avail;
		q->used_gpa = qs->used;
		q->last_avail = qs->last_avail;
		q->used_idx = qs->used_idx;
		q->signalled_used = qs->signalled_used;
		q->error = NULL;
	}
}

/* Transport and device state into d; d->lock held.  0 or -1 with err. */
static int virtio_restore_locked(struct virtio_dev *d, struct snap_reader *r,
				 char *err, size_t errlen)
{
	struct virtio_state s;
	const char *why;
	int rc;

	if (d->status || d->guest_features) {
		snprintf(err, errlen,
			 "%s: restore into a device the guest already "
			 "set up",
			 d->name);
		return -1;
	}
	if (virtio_state_read(r, &s)) {
		snprintf(err, errlen,
			 "%s: snapshot device state is truncated or "
			 "malformed",
			 d->name);
		return -1;
	}
	if (virtio_state_check_identity(d, &s, err, errlen))
		return -1;
	why = virtio_state_check_status(d, &s);
	if (why) {
		snprintf(err, errlen,
			 "%s: snapshot device state: %s; the snapshot is "
			 "corrupt",
			 d->name, why);
		return -1;
	}
	if (virtio_state_check_queues(d, &s, err, errlen))
		return -1;
	if (!d->ops->restore && s.dev.len) {
		snprintf(err, errlen,
			 "%s: snapshot carries %zu bytes of device state, "
			 "this device keeps none",
			 d->name, s.dev.len);
		return -1;
	}

	virtio_state_apply(d, &s);
	if (d->ops->restore) {
		if (d->ops->restore(d, &s.dev, err, errlen))
			return -1;
		if (!snap_reader_done(&s.dev)) {
			snprintf(err, errlen,
				 "%s: snapshot device state is malformed "
				 "(%zu bytes left over)",
				 d->name, s.dev.len - s.dev.off);
			return -1;
		}
	}
	if (virtio_dev_live(d) && d->ops->activate) {
		rc = d->ops->activate(d);
		if (rc) {
			snprintf(err, errlen,
				 "%s: cannot start the restored device: %s",
				 d->name, strerror(rc < 0 ? -rc : rc));
			return -1;
		}
	}
	return 0;
}

int virtio_mmio_restore(struct virtio_dev *d, struct snap_reader *r, char *err,
			size_t errlen)
{
	uint32_t gen;

	pthread_mutex_lock(&d->lock);
	gen = d->config_generation;
	if (virtio_restore_locked(d, r, err, errlen)) {
		/* Nothing half restored: back to what attach left. */
		virtio_dev_reset(d);
		d->config_generation = gen;
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	/* An interrupt raised before the snapshot may not have reached the
	 * guest's interrupt controller state: raising it again costs the
	 * driver one look at the ISR at most. */
	if (d->isr)
		virtio_raise_irq(d, 0);
	/* Run each queue once: work deferred to the event loop, or a kick
	 * still in its eventfd, did not make it into the snapshot. */
	for (uint16_t i = 0; i < d->nqueues && virtio_dev_live(d); i++)
		if (d->vqs[i].ready)
			virtio_queue_defer(d, i);
	pthread_mutex_unlock(&d->lock);
	return 0;
}
