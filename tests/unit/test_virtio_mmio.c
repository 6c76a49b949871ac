/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio register file: identity, feature negotiation, the status
 * state machine, queue setup, notifications and interrupts, reset,
 * NEEDS_RESET on a broken ring, access widths, deferred work.
 */
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "virtio_test.h"
#include "vmm/evloop.h"
#include "vmm/io.h"

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

/* A device that answers each chain with up to 4 bytes of 'x'. */
struct dummy {
	struct virtio_dev dev;
	uint8_t config[8];
	int activates, resets, notifies;
	int activate_ret;
	int budget; /* chains per notification, 0 = all */
	struct evloop *stop_when_drained; /* stop this loop on an empty ring */
	struct virtq_chain chain;
};

static void dummy_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data,
			      uint32_t len)
{
	struct dummy *m = d->priv;

	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < sizeof(m->config) ? m->config[off + i] : 0;
}

static void dummy_config_write(struct virtio_dev *d, uint32_t off,
			       const uint8_t *data, uint32_t len)
{
	struct dummy *m = d->priv;

	for (uint32_t i = 0; i < len && off + i < sizeof(m->config); i++)
		m->config[off + i] = data[i];
}

static int dummy_activate(struct virtio_dev *d)
{
	struct dummy *m = d->priv;

	m->activates++;
	return m->activate_ret;
}

static void dummy_reset(struct virtio_dev *d)
{
	((struct dummy *)d->priv)->resets++;
}

static void dummy_queue_notify(struct virtio_dev *d, uint16_t qi)
{
	struct dummy *m = d->priv;
	struct virtq *q = &d->vqs[qi];
	int n = 0;

	m->notifies++;
	for (;;) {
		int r;

		if (m->budget && n == m->budget) {
			if (virtq_has_avail(q))
				virtio_queue_defer(d, qi);
			break;
		}
		r = virtq_pop(q, &m->chain);
		if (r < 0) {
			virtio_dev_fail(d, "queue %u: %s", qi, q->error);
			return;
		}
		if (r == 0) {
			if (m->stop_when_drained)
				evloop_stop(m->stop_when_drained, 0);
			break;
		}
		virtq_push(
			q, &m->chain,
			(uint32_t)virtq_chain_write(&m->chain, 0, "xxxx", 4));
		n++;
	}
	virtio_signal_used(d, qi);
}

static const struct virtio_dev_ops dummy_ops = {
	.config_read = dummy_config_read,
	.config_write = dummy_config_write,
	.activate = dummy_activate,
	.reset = dummy_reset,
	.queue_notify = dummy_queue_notify,
};

struct fix {
	struct vm vm;
	struct dummy m;
	struct test_ring r[2];
};

static struct fix *fix_new(bool with_loop)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	if (with_loop) {
		f->vm.loop = evloop_new();
		assert_non_null(f->vm.loop);
	}
	f->m.dev.name = "dummy";
	f->m.dev.device_id = 42;
	f->m.dev.host_features = F_DEV_BIT3 | F_EVENT_IDX;
	f->m.dev.nqueues = 2;
	f->m.dev.queue_max[0] = 16;
	f->m.dev.queue_max[1] = 8;
	f->m.dev.ops = &dummy_ops;
	f->m.dev.priv = &f->m;
	memcpy(f->m.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(virtio_mmio_attach(&f->vm, &f->m.dev), 0);
	test_ring_init(&f->r[0], &f->vm.mem, 16, RING0);
	test_ring_init(&f->r[1], &f->vm.mem, 8, RING1);
	return f;
}

static void fix_free(struct fix *f)
{
	virtio_mmio_detach(&f->m.dev);
	if (f->vm.loop)
		evloop_free(f->vm.loop);
	test_vm_free(&f->vm);
	free(f);
}

static struct virtio_dev *dev(struct fix *f)
{
	return &f->m.dev;
}

static void add_chain(struct fix *f, int qi)
{
	struct test_buf b = {BUF + 0x100 * (uint64_t)f->r[qi].avail_idx, 16,
			     true};

	test_ring_add(&f->r[qi], &b, 1);
}

static void test_identity_and_attach(void **state)
{
	struct fix *f = fix_new(false);
	struct dummy m2 = {0};

	assert_int_equal(mmio_read(dev(f), 0x000), 0x74726976);
	assert_int_equal(mmio_read(dev(f), 0x004), 2);
	assert_int_equal(mmio_read(dev(f), 0x008), 42);
	assert_int_equal(mmio_read(dev(f), 0x00c), VIRTIO_MMIO_VENDOR_ID);
	assert_int_equal(dev(f)->mmio_base, VM_VIRTIO_MMIO_BASE);
	assert_int_equal(dev(f)->gsi, VM_VIRTIO_GSI_BASE);
	assert_non_null(
		strstr(f->vm.cmdline, "virtio_mmio.device=4K@0xd0000000:5"));
	assert_int_equal(f->vm.mmio.n, 1);
	assert_int_equal(f->vm.mmio.ranges[0].base, VM_VIRTIO_MMIO_BASE);
	assert_int_equal(f->vm.mmio.ranges[0].len, VM_VIRTIO_MMIO_SIZE);
	assert_ptr_equal(f->vm.mmio.ranges[0].opaque, dev(f));
	/* The trap registry routes the window to the register file. */
	{
		uint8_t b[4];

		assert_true(io_dispatch(&f->vm.mmio, VM_VIRTIO_MMIO_BASE + 8, b,
					4, false));
		assert_memory_equal(b, "\x2a\0\0\0", 4);
	}
	assert_int_equal(dev(f)->irqfd, -1);
	assert_int_equal(dev(f)->notify_fd[0], -1);

	/* A second device gets the next window and GSI. */
	m2.dev = f->m.dev;
	m2.dev.priv = &m2;
	assert_int_equal(virtio_mmio_attach(&f->vm, &m2.dev), 0);
	assert_non_null(
		strstr(f->vm.cmdline, "virtio_mmio.device=4K@0xd0001000:6"));
	virtio_mmio_detach(&m2.dev);

	/* A device description the transport cannot serve is refused. */
	m2.dev.queue_max[1] = 12;
	assert_int_equal(virtio_mmio_attach(&f->vm, &m2.dev), -EINVAL);
	fix_free(f);
}

static void test_device_features(void **state)
{
	struct fix *f = fix_new(false);

	mmio_write(dev(f), 0x014, 0);
	assert_int_equal(mmio_read(dev(f), 0x010),
			 (uint32_t)(F_DEV_BIT3 | F_EVENT_IDX));
	mmio_write(dev(f), 0x014, 1);
	assert_int_equal(mmio_read(dev(f), 0x010), 1); /* VERSION_1 */
	mmio_write(dev(f), 0x014, 2);
	assert_int_equal(mmio_read(dev(f), 0x010), 0);
	fix_free(f);
}

static void negotiate(struct fix *f, uint64_t features)
{
	mmio_write(dev(f), 0x070, ST_ACK);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV);
	mmio_write_features(dev(f), features);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK);
}

static void test_negotiation_ok(void **state)
{
	struct fix *f = fix_new(false);

	negotiate(f, F_VERSION_1 | F_DEV_BIT3);
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK | ST_DRV | ST_FOK);
	assert_int_equal(dev(f)->guest_features, F_VERSION_1 | F_DEV_BIT3);

	/* Features are frozen once FEATURES_OK is set. */
	mmio_write_features(dev(f), F_VERSION_1);
	assert_int_equal(dev(f)->guest_features, F_VERSION_1 | F_DEV_BIT3);
	fix_free(f);
}

static void test_negotiation_refused(void **state)
{
	struct fix *f = fix_new(false);

	/* Bit 5 was never offered. */
	negotiate(f, F_VERSION_1 | (1ULL << 5));
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK | ST_DRV);

	/* Legacy driver: no VERSION_1. */
	mmio_write(dev(f), 0x070, 0);
	negotiate(f, F_DEV_BIT3);
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK | ST_DRV);

	/* Features above bit 63. */
	mmio_write(dev(f), 0x070, 0);
	mmio_write(dev(f), 0x070, ST_ACK);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV);
	mmio_write_features(dev(f), F_VERSION_1);
	mmio_write(dev(f), 0x024, 2);
	mmio_write(dev(f), 0x020, 1);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK);
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK | ST_DRV);

	/* Features written before DRIVER are ignored. */
	mmio_write(dev(f), 0x070, 0);
	mmio_write_features(dev(f), F_VERSION_1);
	assert_int_equal(dev(f)->guest_features, 0);
	fix_free(f);
}

static void test_status_state_machine(void **state)
{
	struct fix *f = fix_new(false);

	mmio_write(dev(f), 0x070, ST_DRV); /* without ACKNOWLEDGE */
	assert_int_equal(mmio_read(dev(f), 0x070), 0);
	mmio_write(dev(f), 0x070, ST_ACK);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_DOK); /* skips FOK */
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV);
	mmio_write_features(dev(f), F_VERSION_1);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK);
	mmio_write(dev(f), 0x070, ST_ACK | ST_FOK); /* clears DRIVER */
	assert_int_equal(mmio_read(dev(f), 0x070), ST_ACK | ST_DRV | ST_FOK);
	assert_int_equal(f->m.activates, 0);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	assert_int_equal(f->m.activates, 1);
	assert_true(virtio_dev_live(dev(f)));
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	assert_int_equal(f->m.activates, 1); /* no second activation */

	/* The driver gives up: queues are no longer served. */
	mmio_write(dev(f), 0x070,
		   ST_ACK | ST_DRV | ST_FOK | ST_DOK | VIRTIO_STATUS_FAILED);
	assert_false(virtio_dev_live(dev(f)));
	fix_free(f);
}

static void test_activate_failure(void **state)
{
	struct fix *f = fix_new(false);

	f->m.activate_ret = -EIO;
	negotiate(f, F_VERSION_1);
	mmio_write(dev(f), 0x070, ST_ACK | ST_DRV | ST_FOK | ST_DOK);
	assert_true(mmio_read(dev(f), 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_dev_live(dev(f)));
	assert_int_equal(mmio_read(dev(f), 0x060), VIRTIO_INT_CONFIG);
	fix_free(f);
}

static void test_queue_setup(void **state)
{
	struct fix *f = fix_new(false);
	struct virtq *q0 = &dev(f)->vqs[0];

	mmio_write(dev(f), 0x030, 0);
	assert_int_equal(mmio_read(dev(f), 0x034), 16);
	mmio_write(dev(f), 0x030, 1);
	assert_int_equal(mmio_read(dev(f), 0x034), 8);
	mmio_write(dev(f), 0x030, 2); /* no such queue */
	assert_int_equal(mmio_read(dev(f), 0x034), 0);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);
	mmio_write(dev(f), 0x038, 4); /* ignored, no crash */

	/* Enabling a queue before FEATURES_OK is ignored. */
	mmio_setup_queue(dev(f), 0, &f->r[0]);
	mmio_write(dev(f), 0x030, 0);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);

	negotiate(f, F_VERSION_1);
	mmio_setup_queue(dev(f), 0, &f->r[0]);
	assert_int_equal(mmio_read(dev(f), 0x044), 1);
	assert_int_equal(q0->desc_gpa, RING0);
	assert_int_equal(q0->avail_gpa, f->r[0].avail_gpa);
	assert_int_equal(q0->used_gpa, f->r[0].used_gpa);

	/* No changes under a ready queue. */
	mmio_write(dev(f), 0x038, 8);
	mmio_write(dev(f), 0x080, 0x5000);
	mmio_write(dev(f), 0x0a4, 1);
	assert_int_equal(q0->num, 16);
	assert_int_equal(q0->desc_gpa, RING0);
	assert_int_equal(q0->used_gpa, f->r[0].used_gpa);

	/* Disabled, it can be moved (64-bit addresses from two halves). */
	mmio_write(dev(f), 0x044, 0);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);
	mmio_write(dev(f), 0x080, 0x5000);
	mmio_write(dev(f), 0x084, 0x1);
	assert_int_equal(q0->desc_gpa, 0x100005000ULL);
	fix_free(f);
}

static void test_queue_bad_config_fails(void **state)
{
	struct fix *f = fix_new(false);

	negotiate(f, F_VERSION_1);
	mmio_setup_queue(dev(f), 0, &f->r[0]);
	mmio_write(dev(f), 0x030, 1);
	mmio_write(dev(f), 0x038, 6); /* not a power of two */
	mmio_write(dev(f), 0x044, 1);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);
	assert_true(mmio_read(dev(f), 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(mmio_read(dev(f), 0x060), VIRTIO_INT_CONFIG);
	assert_int_equal(dev(f)->interrupts, 1);

	/* Rings outside RAM. */
	mmio_write(dev(f), 0x070, 0);
	negotiate(f, F_VERSION_1);
	mmio_write(dev(f), 0x030, 0);
	mmio_write(dev(f), 0x038, 16);
	mmio_write(dev(f), 0x0a0, RAM_SIZE - 4);
	mmio_write(dev(f), 0x044, 1);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);
	assert_true(mmio_read(dev(f), 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	fix_free(f);
}

static void test_notify_and_interrupt(void **state)
{
	struct fix *f = fix_new(false);
	uint32_t id, len;

	/* Kicks before DRIVER_OK do nothing. */
	negotiate(f, F_VERSION_1);
	mmio_setup_queue(dev(f), 0, &f->r[0]);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(f->m.notifies, 0);

	test_ring_init(&f->r[0], &f->vm.mem, 16, RING0);
	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(f->m.notifies, 1);
	assert_int_equal(test_used_idx(&f->r[0]), 1);
	test_used_elem(&f->r[0], 0, &id, &len);
	assert_int_equal(len, 4);
	assert_int_equal(mmio_read(dev(f), 0x060), VIRTIO_INT_USED);
	assert_int_equal(dev(f)->interrupts, 1);
	mmio_write(dev(f), 0x064, VIRTIO_INT_USED);
	assert_int_equal(mmio_read(dev(f), 0x060), 0);

	/* Queue 1 is independent. */
	add_chain(f, 1);
	mmio_write(dev(f), 0x050, 1);
	assert_int_equal(test_used_idx(&f->r[1]), 1);
	assert_int_equal(dev(f)->interrupts, 2);

	/* Kicks for queues that do not exist are ignored. */
	mmio_write(dev(f), 0x050, 7);
	mmio_write(dev(f), 0x050, 0xffffffffU);
	assert_int_equal(f->m.notifies, 2);

	/* The driver suppressed interrupts: none raised. */
	test_avail_set_flags(&f->r[0], 1);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(test_used_idx(&f->r[0]), 2);
	assert_int_equal(dev(f)->interrupts, 2);
	fix_free(f);
}

static void test_event_idx_negotiated(void **state)
{
	struct fix *f = fix_new(false);

	mmio_driver_init(dev(f), F_VERSION_1 | F_EVENT_IDX, f->r, 2);
	assert_true(dev(f)->vqs[0].event_idx);
	test_used_event_set(&f->r[0], 5); /* interrupt only after 6 used */
	for (int i = 0; i < 5; i++) {
		add_chain(f, 0);
		mmio_write(dev(f), 0x050, 0);
	}
	assert_int_equal(dev(f)->interrupts, 0);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(dev(f)->interrupts, 1);
	assert_int_equal(test_used_idx(&f->r[0]), 6);

	mmio_write(dev(f), 0x070, 0);
	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	assert_false(dev(f)->vqs[0].event_idx);
	fix_free(f);
}

static void test_reset(void **state)
{
	struct fix *f = fix_new(false);
	struct virtq *q0 = &dev(f)->vqs[0];
	int resets;

	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	add_chain(f, 0);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(q0->last_avail, 2);
	mmio_write(dev(f), 0x030, 1);

	resets = f->m.resets;
	mmio_write(dev(f), 0x070, 0);
	assert_int_equal(f->m.resets, resets + 1);
	assert_int_equal(mmio_read(dev(f), 0x070), 0);
	assert_int_equal(mmio_read(dev(f), 0x060), 0);
	assert_int_equal(dev(f)->guest_features, 0);
	assert_int_equal(dev(f)->queue_sel, 0);
	assert_int_equal(mmio_read(dev(f), 0x044), 0);
	assert_int_equal(q0->last_avail, 0);
	assert_int_equal(q0->used_idx, 0);
	assert_int_equal(q0->desc_gpa, 0);
	assert_int_equal(q0->num, 16);
	assert_false(virtio_dev_live(dev(f)));

	/* A fresh ring after reset is served from index 0. */
	test_ring_init(&f->r[0], &f->vm.mem, 16, RING0);
	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(test_used_idx(&f->r[0]), 1);
	fix_free(f);
}

static void test_needs_reset_on_broken_ring(void **state)
{
	struct fix *f = fix_new(false);
	uint32_t st;

	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	test_desc_set(&f->r[0], 0, BUF, 8, TEST_F_NEXT, 0); /* loop */
	test_avail_push(&f->r[0], 0);
	mmio_write(dev(f), 0x050, 0);
	st = mmio_read(dev(f), 0x070);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(mmio_read(dev(f), 0x060) & VIRTIO_INT_CONFIG);
	assert_int_equal(dev(f)->interrupts, 1);
	assert_false(virtio_dev_live(dev(f)));

	/* The driver cannot clear NEEDS_RESET except by resetting. */
	mmio_write(dev(f), 0x070, st & ~VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(mmio_read(dev(f), 0x070), st);

	/* Queues are ignored until reset. */
	add_chain(f, 1);
	mmio_write(dev(f), 0x050, 1);
	assert_int_equal(f->m.notifies, 1);
	assert_int_equal(test_used_idx(&f->r[1]), 0);

	mmio_write(dev(f), 0x070, 0);
	test_ring_init(&f->r[0], &f->vm.mem, 16, RING0);
	test_ring_init(&f->r[1], &f->vm.mem, 8, RING1);
	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	add_chain(f, 1);
	mmio_write(dev(f), 0x050, 1);
	assert_int_equal(test_used_idx(&f->r[1]), 1);
	fix_free(f);
}

static void raw_access(struct fix *f, uint64_t off, void *buf, uint32_t len,
		       bool write)
{
	virtio_mmio_access(dev(f), off, buf, len, write);
}

static void test_access_widths(void **state)
{
	struct fix *f = fix_new(false);
	uint8_t b[8];
	uint64_t v8;
	uint16_t v2;

	/* Registers: 32-bit aligned only. */
	memset(b, 0xaa, sizeof(b));
	raw_access(f, 0x000, b, 2, false);
	assert_int_equal(b[0] | b[1], 0);
	memset(b, 0xaa, sizeof(b));
	raw_access(f, 0x000, b, 8, false);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], 0);
	b[0] = ST_ACK;
	raw_access(f, 0x070, b, 1, true);
	assert_int_equal(mmio_read(dev(f), 0x070), 0);
	memcpy(b, "\x01\x00\x00\x00", 4);
	raw_access(f, 0x071, b, 4, true);
	assert_int_equal(mmio_read(dev(f), 0x070), 0);
	assert_int_equal(mmio_read(dev(f), 0x072), 0);

	/* Config space: any width, at any offset. */
	raw_access(f, 0x103, b, 1, false);
	assert_int_equal(b[0], 4);
	raw_access(f, 0x101, &v2, 2, false);
	assert_int_equal(v2, 0x0302);
	assert_int_equal(mmio_read(dev(f), 0x104), 0x08070605);
	raw_access(f, 0x100, &v8, 8, false);
	assert_int_equal(v8, 0x0807060504030201ULL);
	memset(b, 0xaa, sizeof(b));
	raw_access(f, 0x106, b, 4, false); /* half beyond the config */
	assert_memory_equal(b, "\x07\x08\x00\x00", 4);
	b[0] = 0x55;
	raw_access(f, 0x102, b, 1, true);
	assert_int_equal(f->m.config[2], 0x55);

	/* Past the 4 KiB window: refused, not forwarded. */
	memset(b, 0xaa, sizeof(b));
	raw_access(f, 0xffe, b, 4, false);
	assert_memory_equal(b, "\x00\x00\x00\x00", 4);
	raw_access(f, 0xffe, b, 4, true);

	/* Write-only and unknown registers read as 0; SHM says none. */
	assert_int_equal(mmio_read(dev(f), 0x050), 0);
	assert_int_equal(mmio_read(dev(f), 0x0f0), 0);
	assert_int_equal(mmio_read(dev(f), 0x0b0), 0xffffffffU);
	assert_int_equal(mmio_read(dev(f), 0x0bc), 0xffffffffU);
	mmio_write(dev(f), 0x000, 0); /* read-only: ignored */
	assert_int_equal(mmio_read(dev(f), 0x000), 0x74726976);
	assert_int_equal(mmio_read(dev(f), 0x0fc), 0);
	fix_free(f);
}

static void test_log_rate_limit(void **state)
{
	struct fix *f = fix_new(false);

	for (int i = 0; i < 1000; i++)
		mmio_write(dev(f), 0x0f0, 1);
	assert_int_equal(dev(f)->warnings, 33);
	fix_free(f);
}

static void deadline_expired(void *opaque, uint32_t events)
{
	evloop_stop(opaque, -1);
}

/* Bounded work per notification, with an event loop: the rest is re-run
 * from the loop through the queue's eventfd. */
static void test_defer_with_event_loop(void **state)
{
	struct fix *f = fix_new(true);
	struct itimerspec deadline = {.it_value = {.tv_sec = 10}};
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	assert_true(dev(f)->notify_fd[0] >= 0);
	assert_true(dev(f)->notify_fd[1] >= 0);
	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	f->m.budget = 2;
	for (int i = 0; i < 5; i++)
		add_chain(f, 0);

	/* The MMIO kick is forwarded to the loop, not handled inline. */
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(f->m.notifies, 0);

	/* Run the loop until the device drains the ring (or 10 s pass). */
	assert_true(tfd >= 0);
	assert_int_equal(timerfd_settime(tfd, 0, &deadline, NULL), 0);
	assert_int_equal(evloop_add(f->vm.loop, tfd, EPOLLIN, deadline_expired,
				    f->vm.loop),
			 0);
	f->m.stop_when_drained = f->vm.loop;
	assert_int_equal(evloop_run(f->vm.loop), 0);
	assert_int_equal(f->m.notifies, 3); /* 2 + 2 + 1 */
	assert_int_equal(test_used_idx(&f->r[0]), 5);
	assert_int_equal(dev(f)->deferred, 0);
	evloop_del(f->vm.loop, tfd);
	close(tfd);
	fix_free(f);
}

static void test_defer_without_event_loop(void **state)
{
	struct fix *f = fix_new(false);

	mmio_driver_init(dev(f), F_VERSION_1, f->r, 2);
	f->m.budget = 2;
	for (int i = 0; i < 3; i++)
		add_chain(f, 0);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(test_used_idx(&f->r[0]), 2);
	assert_int_equal(dev(f)->deferred, 1);
	mmio_write(dev(f), 0x050, 0);
	assert_int_equal(test_used_idx(&f->r[0]), 3);
	assert_int_equal(dev(f)->deferred, 0);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_and_attach),
		cmocka_unit_test(test_device_features),
		cmocka_unit_test(test_negotiation_ok),
		cmocka_unit_test(test_negotiation_refused),
		cmocka_unit_test(test_status_state_machine),
		cmocka_unit_test(test_activate_failure),
		cmocka_unit_test(test_queue_setup),
		cmocka_unit_test(test_queue_bad_config_fails),
		cmocka_unit_test(test_notify_and_interrupt),
		cmocka_unit_test(test_event_idx_negotiated),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_needs_reset_on_broken_ring),
		cmocka_unit_test(test_access_widths),
		cmocka_unit_test(test_log_rate_limit),
		cmocka_unit_test(test_defer_with_event_loop),
		cmocka_unit_test(test_defer_without_event_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
