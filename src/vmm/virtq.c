/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.1 section 2.6) for a hostile driver.
 *
 * Everything in the rings belongs to the guest and may change under our
 * feet, so each field is loaded exactly once (atomic loads stop the compiler
 * from re-reading guest memory after a check) and checked before use.  The
 * ring locations are re-derived through guest_mem_ptr() on every call, which
 * costs a couple of compares and means a stale or never-validated queue can
 * never be dereferenced out of bounds.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtq.h"

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

/* Largest queue size the split ring format allows. */
#define VIRTQ_NUM_LIMIT 32768

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* num entries, then avail_event */
};

/* Host views of the three rings of a queue. */
struct vring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static uint64_t desc_size(uint32_t num)
{
	return 16ULL * num;
}

static uint64_t avail_size(uint32_t num)
{
	return 6 + 2ULL * num;
}

static uint64_t used_size(uint32_t num)
{
	return 6 + 8ULL * num;
}

/* Record why the driver's ring is unusable, for the device's log line. */
static int virtq_error(struct virtq *q, const char *why)
{
	q->error = why;
	return -EINVAL;
}

static bool aligned(uint64_t gpa, const void *hva, uint64_t align)
{
	return (gpa & (align - 1)) == 0 &&
	       ((uintptr_t)hva & (uintptr_t)(align - 1)) == 0;
}

/*
 * Check the queue geometry and locate its rings.  Alignment is checked on
 * both the guest address (the spec's rule) and the host address (so the
 * atomic 16/32-bit accesses below are naturally aligned).
 */
static int virtq_map(struct virtq *q, struct vring *r)
{
	uint32_t num = q->num;

	if (!q->mem)
		return virtq_error(q, "queue has no guest memory");
	if (num == 0 || (num & (num - 1)) != 0)
		return virtq_error(q, "queue size is not a power of two");
	if (num > q->num_max || num > VIRTQ_NUM_LIMIT)
		return virtq_error(q, "queue size exceeds QueueNumMax");

	r->desc = guest_mem_ptr(q->mem, q->desc_gpa, desc_size(num));
	r->avail = guest_mem_ptr(q->mem, q->avail_gpa, avail_size(num));
	r->used = guest_mem_ptr(q->mem, q->used_gpa, used_size(num));
	if (!r->desc)
		return virtq_error(q, "descriptor table is not in guest RAM");
	if (!r->avail)
		return virtq_error(q, "available ring is not in guest RAM");
	if (!r->used)
		return virtq_error(q, "used ring is not in guest RAM");
	if (!aligned(q->desc_gpa, r->desc, 16))
		return virtq_error(q,
				   "descriptor table is not 16-byte aligned");
	if (!aligned(q->avail_gpa, r->avail, 2))
		return virtq_error(q, "available ring is not 2-byte aligned");
	if (!aligned(q->used_gpa, r->used, 4))
		return virtq_error(q, "used ring is not 4-byte aligned");
	return 0;
}

void virtq_reset(struct virtq *q)
{
	uint16_t num_max = q->num_max;
	const struct guest_mem *mem = q->mem;

	memset(q, 0, sizeof(*q));
	q->num_max = num_max;
	q->num = num_max;
	q->mem = mem;
}

int virtq_validate(struct virtq *q)
{
	struct vring r;

	return virtq_map(q, &r);
}

/*
 * Dirty tracking for diff snapshots: KVM's dirty log only sees the guest's
 * own writes, so every store the VMM makes into guest RAM is recorded here.
 */
static void mark_gpa(const struct virtq *q, uint64_t gpa, uint64_t len)
{
	guest_mem_mark_dirty(q->mem, gpa, len);
}

/* A host pointer into guest RAM back to its guest physical address. */
static void mark_hva(const struct guest_mem *m, const uint8_t *p, size_t len)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->r[i];

		if (!r->vmm_dirty || !r->hva || p < r->hva ||
		    (uint64_t)(p - r->hva) >= r->size)
			continue;
		guest_mem_mark_dirty(m, r->gpa + (uint64_t)(p - r->hva), len);
		return;
	}
}

static bool tracking(const struct guest_mem *m)
{
	for (int i = 0; m && i < m->nregions; i++)
		if (m->r[i].vmm_dirty)
			return true;
	return false;
}

/* Mark bytes [off, off + len) of c's writable segments dirty. */
static void chain_mark_dirty(const struct virtq_chain *c, size_t off,
			     size_t len)
{
	const struct iovec *iov = c->iov + c->nout;

	if (!tracking(c->mem))
		return;
	for (unsigned int i = 0; i < c->nin && len; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off < len ? seg - off : len;
		mark_hva(c->mem, (const uint8_t *)iov[i].iov_base + off, chunk);
		len -= chunk;
		off = 0;
	}
}

static uint16_t avail_idx_acquire(const struct vring *r)
{
	/* Acquire: ring entries the driver wrote before bumping idx are
	 * visible once we see the new idx. */
	return le16toh(__atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE));
}

/*
 * With VIRTIO_F_RING_EVENT_IDX the driver only kicks when its avail idx
 * passes avail_event.  Before reporting "empty" publish where we stopped,
 * then look again: a chain added between the first look and the publish
 * would otherwise wait for a kick that the driver decided not to send.
 */
static uint16_t avail_idx_rearm(const struct virtq *q, const struct vring *r)
{
	uint16_t *avail_event = (uint16_t *)&r->used->ring[q->num];

	__atomic_store_n(avail_event, htole16(q->last_avail), __ATOMIC_RELAXED);
	mark_gpa(q, q->used_gpa + 4 + 8ULL * q->num, 2);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_idx_acquire(r);
}

/* Walk the chain starting at head into c.  Bounded by num and VIRTQ_MAX_IOV. */
static int virtq_walk(struct virtq *q, const struct vring *r, uint16_t head,
		      struct virtq_chain *c)
{
	uint32_t limit = q->num < VIRTQ_MAX_IOV ? q->num : VIRTQ_MAX_IOV;
	uint64_t total = 0;
	uint32_t ndesc = 0;
	bool seen_writable = false;
	uint16_t idx = head;

	c->mem = q->mem;
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;

	for (;;) {
		const struct vring_desc *d;
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		void *p;

		if (idx >= q->num)
			return virtq_error(
				q, idx == head && ndesc == 0
					   ? "avail ring names a descriptor "
					     "beyond the queue size"
					   : "descriptor next index beyond the "
					     "queue size");
		/* Counting descriptors, not segments, also catches loops:
		 * a cycle revisits an index and overruns num. */
		if (++ndesc > limit)
			return virtq_error(
				q, "descriptor chain longer than the queue "
				   "size or VIRTQ_MAX_IOV (loop?)");

		d = &r->desc[idx];
		addr = le64toh(__atomic_load_n(&d->addr, __ATOMIC_RELAXED));
		len = le32toh(__atomic_load_n(&d->len, __ATOMIC_RELAXED));
		flags = le16toh(__atomic_load_n(&d->flags, __ATOMIC_RELAXED));
		next = le16toh(__atomic_load_n(&d->next, __ATOMIC_RELAXED));

		if (flags & VRING_DESC_F_INDIRECT)
			return virtq_error(
				q, "indirect descriptor (feature not offered)");
		if (flags & VRING_DESC_F_WRITE)
			seen_writable = true;
		else if (seen_writable)
			return virtq_error(q,
					   "device-readable descriptor after a "
					   "device-writable one");

		/* Empty segments carry nothing; skipping them keeps every
		 * iovec non-empty without rejecting a legal chain. */
		if (len != 0) {
			if (len > UINT32_MAX - total)
				return virtq_error(
					q, "descriptor chain total length "
					   "exceeds 4 GiB");
			total += len;
			p = guest_mem_ptr(q->mem, addr, len);
			if (!p)
				return virtq_error(
					q, "descriptor buffer is not inside "
					   "one guest RAM region");
			c->iov[c->nout + c->nin].iov_base = p;
			c->iov[c->nout + c->nin].iov_len = len;
			if (flags & VRING_DESC_F_WRITE) {
				c->nin++;
				c->in_len += len;
			} else {
				c->nout++;
				c->out_len += len;
			}
		}

		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	struct vring r;
	uint16_t avail_idx, pending, head;
	int err;

	err = virtq_map(q, &r);
	if (err)
		return err;

	avail_idx = avail_idx_acquire(&r);
	if (avail_idx == q->last_avail && q->event_idx)
		avail_idx = avail_idx_rearm(q, &r);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->num)
		return virtq_error(q, "avail idx moved by more than the "
				      "queue size");

	head = le16toh(
		__atomic_load_n(&r.avail->ring[q->last_avail & (q->num - 1)],
				__ATOMIC_RELAXED));
	err = virtq_walk(q, &r, head, c);
	if (err)
		return err;
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

int virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
	struct vring_used_elem *e;
	struct vring r;
	int err, ret = 0;

	err = virtq_map(q, &r);
	if (err)
		return err;
	if (c->head >= q->num)
		return virtq_error(q,
				   "pushed chain head beyond the queue size");
	if (written > c->in_len) {
		/* A device bug, not the guest's: still return the buffer,
		 * but never claim more bytes than the guest gave us. */
		written = (uint32_t)c->in_len;
		ret = virtq_error(q, "device wrote more than the chain holds");
	}

	chain_mark_dirty(c, 0, written);
	e = &r.used->ring[q->used_idx & (q->num - 1)];
	__atomic_store_n(&e->id, htole32(c->head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
	mark_gpa(q, q->used_gpa + 4 + 8ULL * (q->used_idx & (q->num - 1)), 8);
	q->used_idx++;
	/* Release: the element is visible before the index that covers it. */
	__atomic_store_n(&r.used->idx, htole16(q->used_idx), __ATOMIC_RELEASE);
	mark_gpa(q, q->used_gpa + 2, 2);
	return ret;
}

bool virtq_should_signal(struct virtq *q)
{
	uint16_t old = q->signalled_used, cur = q->used_idx;
	struct vring r;

	if (virtq_map(q, &r))
		return false;
	q->signalled_used = cur;
	/* Our used idx store must be visible before we read the driver's
	 * suppression state, or both sides can decide to stay quiet. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	if (q->event_idx) {
		uint16_t used_event = le16toh(__atomic_load_n(
			&r.avail->ring[q->num], __ATOMIC_RELAXED));

		/* Signal iff used_event lies in [old, cur): the driver asked
		 * to hear about the entry we just passed. */
		return (uint16_t)(cur - used_event - 1) < (uint16_t)(cur - old);
	}
	if (old == cur)
		return false;
	return !(le16toh(__atomic_load_n(&r.avail->flags, __ATOMIC_RELAXED)) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

bool virtq_has_avail(struct virtq *q)
{
	uint16_t avail_idx;
	struct vring r;

	if (virtq_map(q, &r))
		return false;
	avail_idx = avail_idx_acquire(&r);
	if (avail_idx == q->last_avail && q->event_idx)
		avail_idx = avail_idx_rearm(q, &r);
	return avail_idx != q->last_avail;
}

/*
 * Copy between a flat buffer and iov[0..n) starting at byte off of the
 * iovecs: into the iovecs from src, or out of them into dst.
 */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t off,
		       uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, chunk;
		uint8_t *base = iov[i].iov_base;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off;
		if (chunk > len - done)
			chunk = len - done;
		if (src)
			memcpy(base + off, src + done, chunk);
		else
			memcpy(dst + done, base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf,
			size_t len)
{
	return iov_copy(c->iov, c->nout, off, buf, NULL, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off,
			 const void *buf, size_t len)
{
	size_t done = iov_copy(c->iov + c->nout, c->nin, off, NULL, buf, len);

	chain_mark_dirty(c, off, done);
	return done;
}
