/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio snapshot save/restore: a device saved in a given state and
 * restored into a fresh device of a fresh VM (RAM copied) behaves the same
 * and keeps processing its queues; a snapshot for another device or with
 * any field a driver could not have produced is refused with a message and
 * leaves the device reset; no byte mutation of a saved state crashes.
 */
#include <fcntl.h>
#include <unistd.h>

#include "virtio_test.h"
#include "vmm/dev/blk.h"
#include "vmm/dev/rng.h"
#include "vmm/snapshot.h"

#define RAM_SIZE (1024 * 1024)
#define RING0 0x1000
#define RING1 0x3000
#define BUF 0x10000

#define F_DEV_BIT3 (1ULL << 3)
#define F_VERSION_1 (1ULL << VIRTIO_F_VERSION_1)
#define F_EVENT_IDX (1ULL << VIRTIO_F_RING_EVENT_IDX)

#define ST_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV VIRTIO_STATUS_DRIVER
#define ST_FOK VIRTIO_STATUS_FEATURES_OK
#define ST_DOK VIRTIO_STATUS_DRIVER_OK

/* Offsets in the saved transport state (see virtio_mmio_state.c). */
#define OFF_DEVICE_ID 0
#define OFF_GSI 12
#define OFF_OFFERED 16
#define OFF_GUEST_FEATURES 24
#define OFF_STATUS 32
#define OFF_ISR 36
#define OFF_FEATURES_INVALID 56
#define OFF_NQUEUES 57
#define OFF_Q0 59
#define QSIZE 36
#define Q_NUM 2
#define Q_READY 4
#define Q_EVENT_IDX 5
#define Q_DESC 6
#define Q_USED 22
#define OFF_DEVLEN (OFF_Q0 + 2 * QSIZE)

/* A device that answers each chain with 4 bytes of 'x' and keeps one
 * number of device state. */
struct dummy {
	struct virtio_dev dev;
	int activates, resets, notifies;
	int activate_ret;
	uint32_t value;
	bool stateless; /* no save/restore ops */
	struct virtq_chain chain;
};

static void dummy_notify(struct virtio_dev *d, uint16_t qi)
{
	struct dummy *m = d->priv;
	struct virtq *q = &d->vqs[qi];

	m->notifies++;
	for (int n = 0; n < 64; n++) {
		int r = virtq_pop(q, &m->chain);

		if (r < 0) {
			virtio_dev_fail(d, "queue %u: %s", qi, q->error);
			return;
		}
		if (r == 0)
			break;
		virtq_push(
			q, &m->chain,
			(uint32_t)virtq_chain_write(&m->chain, 0, "xxxx", 4));
	}
	virtio_signal_used(d, qi);
}

static int dummy_activate(struct virtio_dev *d)
{
	struct dummy *m = d->priv;

	m->activates++;
	return m->activate_ret;
}

static void dummy_reset(struct virtio_dev *d)
{
	struct dummy *m = d->priv;

	m->resets++;
	m->value = 0;
}

static void dummy_save(struct virtio_dev *d, struct snap_buf *b)
{
	snap_put_u32(b, ((struct dummy *)d->priv)->value);
}

static int dummy_restore(struct virtio_dev *d, struct snap_reader *r, char *err,
			 size_t errlen)
{
	uint32_t v = snap_get_u32(r);

	if (r->bad || v == 0xbad) {
		snprintf(err, errlen, "dummy: bad device state");
		return -1;
	}
	((struct dummy *)d->priv)->value = v;
	return 0;
}

static const struct virtio_dev_ops dummy_ops = {
	.activate = dummy_activate,
	.reset = dummy_reset,
	.queue_notify = dummy_notify,
	.save = dummy_save,
	.restore = dummy_restore,
};

static const struct virtio_dev_ops stateless_ops = {
	.activate = dummy_activate,
	.reset = dummy_reset,
	.queue_notify = dummy_notify,
};

struct side {
	struct vm vm;
	struct dummy m;
	struct test_ring r[2];
};

static void dummy_attach(struct vm *vm, struct dummy *m, uint32_t device_id,
			 bool stateless)
{
	memset(m, 0, sizeof(*m));
	m->dev.name = "dummy";
	m->dev.device_id = device_id;
	m->dev.host_features = F_DEV_BIT3 | F_EVENT_IDX;
	m->dev.nqueues = 2;
	m->dev.queue_max[0] = 16;
	m->dev.queue_max[1] = 8;
	m->dev.ops = stateless ? &stateless_ops : &dummy_ops;
	m->dev.priv = m;
	assert_int_equal(virtio_mmio_attach(vm, &m->dev), 0);
}

static void side_init(struct side *s, uint32_t device_id, bool stateless)
{
	memset(s, 0, sizeof(*s));
	test_vm_init(&s->vm, RAM_SIZE);
	dummy_attach(&s->vm, &s->m, device_id, stateless);
	test_ring_init(&s->r[0], &s->vm.mem, 16, RING0);
	test_ring_init(&s->r[1], &s->vm.mem, 8, RING1);
}

static void side_free(struct side *s)
{
	virtio_mmio_detach(&s->m.dev);
	test_vm_free(&s->vm);
}

static void add_chain(struct side *s, int qi)
{
	struct test_buf b = {BUF + 0x100 * (uint64_t)s->r[qi].avail_idx, 16,
			     true};

	test_ring_add(&s->r[qi], &b, 1);
}

/* The destination continues from the source's RAM and driver state. */
static void side_take_ram(struct side *dst, const struct side *src)
{
	memcpy(dst->vm.mem.r[0].hva, src->vm.mem.r[0].hva, RAM_SIZE);
	for (int i = 0; i < 2; i++) {
		dst->r[i] = src->r[i];
		dst->r[i].mem = &dst->vm.mem;
	}
}

struct fix {
	struct side a, b;
	struct snap_buf buf;
};

/* Source in a busy state: EVENT_IDX, traffic on both queues, an
 * interrupt not yet acknowledged, odd selectors, device state 1234. */
static struct fix *fix_new(void)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	side_init(&f->a, 42, false);
	side_init(&f->b, 42, false);
	mmio_driver_init(&f->a.m.dev, F_VERSION_1 | F_EVENT_IDX, f->a.r, 2);
	for (int i = 0; i < 3; i++)
		add_chain(&f->a, 0);
	mmio_write(&f->a.m.dev, 0x050, 0);
	add_chain(&f->a, 1);
	mmio_write(&f->a.m.dev, 0x050, 1);
	assert_int_equal(test_used_idx(&f->a.r[0]), 3);
	mmio_write(&f->a.m.dev, 0x030, 1); /* queue_sel */
	mmio_write(&f->a.m.dev, 0x014, 1); /* device_features_sel */
	f->a.m.value = 1234;
	snap_buf_init(&f->buf);
	assert_int_equal(virtio_mmio_save(&f->a.m.dev, &f->buf), 0);
	side_take_ram(&f->b, &f->a);
	return f;
}

static void fix_free(struct fix *f)
{
	side_free(&f->a);
	side_free(&f->b);
	snap_buf_free(&f->buf);
	free(f);
}

static int restore(struct side *s, const uint8_t *p, size_t len, char *err,
		   size_t errlen)
{
	struct snap_reader r;

	snap_reader_init(&r, p, len);
	err[0] = '\0';
	return virtio_mmio_restore(&s->m.dev, &r, err, errlen);
}

/* The device is as attach left it. */
static void assert_reset(struct side *s)
{
	struct virtio_dev *d = &s->m.dev;

	assert_int_equal(d->status, 0);
	assert_int_equal(d->guest_features, 0);
	assert_int_equal(d->isr, 0);
	assert_int_equal(d->queue_sel, 0);
	for (int i = 0; i < d->nqueues; i++) {
		assert_false(d->vqs[i].ready);
		assert_int_equal(d->vqs[i].used_idx, 0);
		assert_int_equal(d->vqs[i].last_avail, 0);
	}
	assert_int_equal(s->m.value, 0);
	assert_false(virtio_dev_live(d));
}

static void test_round_trip(void **state)
{
	struct fix *f = fix_new();
	struct virtio_dev *a = &f->a.m.dev, *b = &f->b.m.dev;
	char err[256];
	uint32_t id, len;

	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), 0);
	assert_int_equal(b->status, a->status);
	assert_true(b->guest_features == (F_VERSION_1 | F_EVENT_IDX));
	assert_int_equal(b->isr, VIRTIO_INT_USED);
	assert_int_equal(b->config_generation, a->config_generation);
	assert_int_equal(b->queue_sel, 1);
	assert_int_equal(b->device_features_sel, 1);
	assert_int_equal(b->driver_features_sel, a->driver_features_sel);
	for (int i = 0; i < 2; i++) {
		const struct virtq *qa = &a->vqs[i], *qb = &b->vqs[i];

		assert_int_equal(qb->num, qa->num);
		assert_true(qb->ready);
		assert_true(qb->event_idx);
		assert_true(qb->desc_gpa == qa->desc_gpa);
		assert_true(qb->avail_gpa == qa->avail_gpa);
		assert_true(qb->used_gpa == qa->used_gpa);
		assert_int_equal(qb->last_avail, qa->last_avail);
		assert_int_equal(qb->used_idx, qa->used_idx);
		assert_int_equal(qb->signalled_used, qa->signalled_used);
		assert_ptr_equal(qb->mem, &f->b.vm.mem);
	}
	assert_int_equal(f->b.m.value, 1234);
	assert_int_equal(f->b.m.activates, 1);
	/* the pending ISR is raised again; each ready queue is run once */
	assert_int_equal(b->interrupts, 1);
	assert_int_equal(b->deferred, 3);
	assert_int_equal(mmio_read(b, 0x070),
			 ST_ACK | ST_DRV | ST_FOK | ST_DOK);

	/* The guest carries on: the next chain continues the rings. */
	mmio_write(b, 0x064, VIRTIO_INT_USED);
	add_chain(&f->b, 0);
	mmio_write(b, 0x050, 0);
	assert_int_equal(test_used_idx(&f->b.r[0]), 4);
	test_used_elem(&f->b.r[0], 3, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 4);
	assert_int_equal(b->vqs[0].last_avail, 4);
	/* a chain added on the source after the snapshot is not seen */
	assert_int_equal(test_used_idx(&f->a.r[0]), 3);

	/* a second restore into the now-used device is refused */
	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already"));
	fix_free(f);
}

static void test_not_live_device(void **state)
{
	struct side a, b;
	struct snap_buf buf;
	char err[256];

	side_init(&a, 42, false);
	side_init(&b, 42, false);
	mmio_write(&a.m.dev, 0x070, ST_ACK);
	mmio_write(&a.m.dev, 0x070, ST_ACK | ST_DRV);
	mmio_write_features(&a.m.dev, F_VERSION_1 | F_DEV_BIT3);
	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(&a.m.dev, &buf), 0);
	assert_int_equal(restore(&b, buf.data, buf.len, err, sizeof(err)), 0);
	assert_int_equal(b.m.dev.status, ST_ACK | ST_DRV);
	assert_true(b.m.dev.guest_features == (F_VERSION_1 | F_DEV_BIT3));
	assert_int_equal(b.m.activates, 0);
	assert_int_equal(b.m.dev.deferred, 0);
	assert_int_equal(b.m.dev.interrupts, 0);
	/* the driver finishes its bring-up on the restored device */
	mmio_write(&b.m.dev, 0x070, ST_ACK | ST_DRV | ST_FOK);
	assert_int_equal(mmio_read(&b.m.dev, 0x070), ST_ACK | ST_DRV | ST_FOK);
	snap_buf_free(&buf);
	side_free(&a);
	side_free(&b);
}

static void test_identity_mismatch(void **state)
{
	struct fix *f = fix_new();
	struct side other;
	char err[256];

	/* another device type */
	side_init(&other, 43, false);
	assert_int_equal(
		restore(&other, f->buf.data, f->buf.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "type"));
	assert_reset(&other);
	side_free(&other);

	/* the same type in another window / GSI */
	{
		struct dummy second;
		struct snap_reader r;

		side_init(&other, 42, false);
		dummy_attach(&other.vm, &second, 42, false);
		snap_reader_init(&r, f->buf.data, f->buf.len);
		assert_int_equal(
			virtio_mmio_restore(&second.dev, &r, err, sizeof(err)),
			-1);
		assert_non_null(strstr(err, "same order"));
		assert_int_equal(second.dev.status, 0);
		virtio_mmio_detach(&second.dev);
		side_free(&other);
	}

	/* other offered features (a drive's read-only flag) */
	f->b.m.dev.host_features |= 1ULL << 5;
	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "features"));
	assert_reset(&f->b);
	f->b.m.dev.host_features &= ~(1ULL << 5);

	/* and now it fits */
	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), 0);
	fix_free(f);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Restore a copy of the saved state with one field replaced. */
static int restore_with(struct fix *f, size_t off, uint64_t v, int n, char *err,
			size_t errlen)
{
	uint8_t *copy = malloc(f->buf.len);
	int rc;

	assert_non_null(copy);
	memcpy(copy, f->buf.data, f->buf.len);
	put_le(copy + off, v, n);
	rc = restore(&f->b, copy, f->buf.len, err, errlen);
	free(copy);
	return rc;
}

static void test_corrupt_fields(void **state)
{
	struct fix *f = fix_new();
	char err[256];
	static const struct {
		size_t off;
		uint64_t v;
		int n;
		const char *msg;
	} cases[] = {
		{OFF_STATUS, 0x10 | ST_ACK, 4, "status"},
		{OFF_STATUS, ST_ACK | ST_DRV | ST_DOK, 4, "DRIVER_OK"},
		{OFF_STATUS, ST_DRV, 4, "ACKNOWLEDGE"},
		{OFF_ISR, 4, 4, "interrupt"},
		{OFF_GUEST_FEATURES, F_VERSION_1 | F_EVENT_IDX | (1ULL << 7), 8,
		 "not offered"},
		{OFF_GUEST_FEATURES, F_EVENT_IDX, 8, "VERSION_1"},
		{OFF_FEATURES_INVALID, 1, 1, "bit 63"},
		{OFF_FEATURES_INVALID, 2, 1, "malformed"},
		{OFF_NQUEUES, 3, 2, "malformed"},
		{OFF_NQUEUES, 200, 2, "malformed"},
		{OFF_OFFERED, 0, 8, "features"},
		{OFF_DEVICE_ID, 7, 4, "type"},
		{OFF_GSI, 99, 4, "GSI"},
		{OFF_Q0 + Q_NUM, 12, 2, "queue 0"},
		{OFF_Q0 + Q_NUM, 32, 2, "queue 0"},
		{OFF_Q0 + Q_READY, 3, 1, "malformed"},
		{OFF_Q0 + Q_EVENT_IDX, 0, 1, "EVENT_IDX"},
		{OFF_Q0 + Q_DESC, RAM_SIZE - 8, 8, "descriptor table"},
		{OFF_Q0 + Q_DESC, 0x1008, 8, "aligned"},
		{OFF_Q0 + QSIZE + Q_USED, ~0ULL - 3, 8, "used ring"},
		{OFF_DEVLEN, 3, 4, "bad device state"},
		{OFF_DEVLEN, 1000, 4, "malformed"},
		{OFF_DEVLEN + 4, 0xbad, 4, "bad device state"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = restore_with(f, cases[i].off, cases[i].v, cases[i].n,
				      err, sizeof(err));

		if (rc != -1 || !strstr(err, cases[i].msg))
			fail_msg("case %zu: rc %d, err \"%s\", want \"%s\"", i,
				 rc, err, cases[i].msg);
		assert_reset(&f->b);
		assert_int_equal(f->b.m.activates, 0);
		assert_int_equal(f->b.m.dev.interrupts, 0);
	}
	/* device state longer than the device reads */
	{
		uint8_t *grown = calloc(1, f->buf.len + 2);

		assert_non_null(grown);
		memcpy(grown, f->buf.data, f->buf.len);
		put_le(grown + OFF_DEVLEN, 6, 4);
		assert_int_equal(
			restore(&f->b, grown, f->buf.len + 2, err, sizeof(err)),
			-1);
		assert_non_null(strstr(err, "left over"));
		assert_reset(&f->b);
		free(grown);
	}
	/* a refused restore does not spoil the device for a good one */
	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), 0);
	assert_int_equal(f->b.m.value, 1234);
	fix_free(f);
}

static void test_every_truncation(void **state)
{
	struct fix *f = fix_new();
	char err[256];

	for (size_t cut = 0; cut < f->buf.len; cut++) {
		assert_int_equal(
			restore(&f->b, f->buf.data, cut, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_reset(&f->b);
	}
	fix_free(f);
}

static void test_activate_failure(void **state)
{
	struct fix *f = fix_new();
	char err[256];

	f->b.m.activate_ret = -EIO;
	assert_int_equal(
		restore(&f->b, f->buf.data, f->buf.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot start"));
	assert_reset(&f->b);
	fix_free(f);
}

static void test_stateless_device(void **state)
{
	struct side a, b;
	struct snap_buf buf;
	char err[256];
	uint8_t *grown;

	side_init(&a, 42, true);
	side_init(&b, 42, true);
	mmio_driver_init(&a.m.dev, F_VERSION_1, a.r, 2);
	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(&a.m.dev, &buf), 0);
	assert_int_equal(buf.len, OFF_DEVLEN + 4); /* empty device blob */
	side_take_ram(&b, &a);
	assert_int_equal(restore(&b, buf.data, buf.len, err, sizeof(err)), 0);
	assert_true(virtio_dev_live(&b.m.dev));
	add_chain(&b, 1);
	mmio_write(&b.m.dev, 0x050, 1);
	assert_int_equal(test_used_idx(&b.r[1]), 1);

	/* device state for a device that keeps none: refused */
	mmio_write(&b.m.dev, 0x070, 0);
	grown = calloc(1, buf.len + 2);
	assert_non_null(grown);
	memcpy(grown, buf.data, buf.len);
	put_le(grown + OFF_DEVLEN, 2, 4);
	assert_int_equal(restore(&b, grown, buf.len + 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "keeps none"));
	free(grown);
	snap_buf_free(&buf);
	side_free(&a);
	side_free(&b);
}

/* No mutation of any single byte crashes or leaves a half state. */
static void test_byte_mutations(void **state)
{
	struct fix *f = fix_new();
	static const uint8_t xors[] = {0x01, 0x80, 0xff};
	char err[256];
	uint8_t *copy = malloc(f->buf.len);

	assert_non_null(copy);
	for (size_t i = 0; i < f->buf.len; i++) {
		for (size_t k = 0; k < sizeof(xors); k++) {
			int rc;

			memcpy(copy, f->buf.data, f->buf.len);
			copy[i] ^= xors[k];
			rc = restore(&f->b, copy, f->buf.len, err, sizeof(err));
			if (rc == 0) {
				/* harmless (a selector, an index): the
				 * driver can reset it like any device */
				mmio_write(&f->b.m.dev, 0x070, 0);
			} else {
				assert_true(err[0] != '\0');
			}
			assert_reset(&f->b);
		}
	}
	free(copy);
	fix_free(f);
}

/* A VM of its own (test_vm_init) for a real device. */
static void vm_pair_init(struct vm *a, struct vm *b)
{
	test_vm_init(a, RAM_SIZE);
	test_vm_init(b, RAM_SIZE);
}

static void save_move(struct virtio_dev *from, struct vm *va,
		      struct virtio_dev *to, struct vm *vb,
		      struct test_ring *rings, int nrings, char *err,
		      size_t errlen, int want)
{
	struct snap_buf buf;
	struct snap_reader r;

	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(from, &buf), 0);
	memcpy(vb->mem.r[0].hva, va->mem.r[0].hva, RAM_SIZE);
	for (int i = 0; i < nrings; i++)
		rings[i].mem = &vb->mem;
	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(to, &r, err, errlen), want);
	snap_buf_free(&buf);
}

/* virtio-rng keeps no state of its own: the transport is all there is. */
static void test_rng_device(void **state)
{
	struct vm va, vb;
	struct virtio_dev *a, *b;
	struct test_ring ring;
	struct test_buf buf = {BUF, 32, true};
	uint32_t id, len;
	char err[256];

	vm_pair_init(&va, &vb);
	assert_int_equal(rng_create(&va, &a), 0);
	assert_int_equal(rng_create(&vb, &b), 0);
	test_ring_init(&ring, &va.mem, RNG_QUEUE_SIZE, RING0);
	mmio_driver_init(a, F_VERSION_1 | F_EVENT_IDX, &ring, 1);
	test_ring_add(&ring, &buf, 1);
	mmio_write(a, 0x050, 0);
	assert_int_equal(test_used_idx(&ring), 1);

	save_move(a, &va, b, &vb, &ring, 1, err, sizeof(err), 0);
	assert_true(virtio_dev_live(b));
	memset(test_gpa(&vb.mem, BUF, 32), 0, 32);
	test_ring_add(&ring, &buf, 1);
	mmio_write(b, 0x050, 0);
	assert_int_equal(test_used_idx(&ring), 2);
	test_used_elem(&ring, 1, &id, &len);
	assert_int_equal(len, 32);
	rng_destroy(a);
	rng_destroy(b);
	test_vm_free(&va);
	test_vm_free(&vb);
}

/* A read request on a restored virtio-blk device: 16-byte header, one
 * sector of data, status byte. */
static void blk_read_sector0(struct virtio_dev *d, struct test_ring *ring,
			     struct vm *vm)
{
	uint8_t hdr[16] = {0}; /* type 0 (IN), sector 0 */
	struct test_buf b[3] = {{BUF, 16, false},
				{BUF + 0x1000, 512, true},
				{BUF + 0x2000, 1, true}};
	uint16_t before = test_used_idx(ring);

	memcpy(test_gpa(&vm->mem, BUF, 16), hdr, 16);
	memset(test_gpa(&vm->mem, BUF + 0x1000, 512), 0, 512);
	memset(test_gpa(&vm->mem, BUF + 0x2000, 1), 0xff, 1);
	test_ring_add(ring, b, 3);
	mmio_write(d, 0x050, 0);
	assert_int_equal(test_used_idx(ring), (uint16_t)(before + 1));
	assert_int_equal(*(uint8_t *)test_gpa(&vm->mem, BUF + 0x2000, 1), 0);
	assert_memory_equal(test_gpa(&vm->mem, BUF + 0x1000, 5), "KILN!", 5);
}

/* virtio-blk completes requests synchronously: nothing in flight, no
 * state of its own.  A drive opened with another read-only flag offers
 * other features and is refused. */
static void test_blk_device(void **state)
{
	char dir[] = "/tmp/kiln-vms-XXXXXX", img[64], img2[64];
	struct vm va, vb, vc;
	struct virtio_dev *a, *b, *c;
	struct test_ring ring;
	uint8_t sector[512] = "KILN!";
	char err[256];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/a.img", dir);
	snprintf(img2, sizeof(img2), "%s/b.img", dir);
	for (int i = 0; i < 2; i++) {
		fd = open(i ? img2 : img, O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, sector, 512), 512);
		assert_int_equal(ftruncate(fd, 8192), 0);
		close(fd);
	}
	vm_pair_init(&va, &vb);
	test_vm_init(&vc, RAM_SIZE);
	assert_int_equal(blk_create(&va, img, true, &a), 0);
	assert_int_equal(blk_create(&vb, img2, false, &b), 0);
	assert_int_equal(blk_create(&vc, img, true, &c), 0);
	test_ring_init(&ring, &va.mem, 16, RING0);
	mmio_driver_init(a, F_VERSION_1, &ring, 1);
	blk_read_sector0(a, &ring, &va);

	save_move(a, &va, b, &vb, &ring, 1, err, sizeof(err), -1);
	assert_non_null(strstr(err, "read-only"));
	assert_int_equal(b->status, 0);
	save_move(a, &va, c, &vc, &ring, 1, err, sizeof(err), 0);
	blk_read_sector0(c, &ring, &vc);
	assert_int_equal(test_used_idx(&ring), 2);

	blk_destroy(a);
	blk_destroy(b);
	blk_destroy(c);
	unlink(img);
	unlink(img2);
	rmdir(dir);
	test_vm_free(&va);
	test_vm_free(&vb);
	test_vm_free(&vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_not_live_device),
		cmocka_unit_test(test_identity_mismatch),
		cmocka_unit_test(test_corrupt_fields),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_activate_failure),
		cmocka_unit_test(test_stateless_device),
		cmocka_unit_test(test_byte_mutations),
		cmocka_unit_test(test_rng_device),
		cmocka_unit_test(test_blk_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
