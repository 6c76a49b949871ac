/* SPDX-License-Identifier: MIT */
/*
 * virtio-net without a backend (`--net none`): TX consumed and dropped, RX
 * never delivered, link down, the same offered features as a connected
 * device, and snapshots that restore into a connected device (and back)
 * with a config interrupt telling the driver the link changed.  A
 * simulated driver on the real register file, the real event loop on its
 * own thread, a SOCK_SEQPACKET socket as the "TAP" of connected devices.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "virtio_test.h"
#include "vmm/dev/net.h"
#include "vmm/evloop.h"
#include "vmm/snapshot.h"

#define RAM_SIZE (4u << 20)
#define QNUM 16
#define RXBUF_BASE 0x100000ULL
#define TXBUF_BASE 0x200000ULL
#define BUF_STRIDE 0x1000ULL
#define DEADLINE_MS 5000
#define QUIET_MS 200

#define F(x) (1ULL << (x))
#define F_DRV                                          \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | \
	 F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF))

static const uint8_t MAC[6] = {0x02, 0x4b, 0x49, 0x4c, 0x4e, 0x07};

struct fix {
	struct vm vm;
	pthread_t loop_thread;
	struct virtio_dev *d;
	int peer; /* -1: disconnected */
	struct test_ring rings[2];
	uint16_t rx_next, tx_next;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *loop_main(void *arg)
{
	evloop_run(((struct fix *)arg)->vm.loop);
	return NULL;
}

/* connected: a socket backend, else none. */
static struct fix *fix_new(bool connected)
{
	struct fix *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	f->vm.loop = evloop_new();
	assert_non_null(f->vm.loop);
	f->peer = -1;
	if (connected) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		f->peer = sv[1];
		assert_int_equal(net_create_fd(&f->vm, sv[0], MAC, &f->d), 0);
	} else {
		assert_int_equal(net_create(&f->vm, NULL, MAC, &f->d), 0);
	}
	assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f),
			 0);
	return f;
}

static void fix_free(struct fix *f)
{
	evloop_stop(f->vm.loop, 0);
	pthread_join(f->loop_thread, NULL);
	net_destroy(f->d);
	if (f->peer >= 0)
		close(f->peer);
	evloop_free(f->vm.loop);
	test_vm_free(&f->vm);
	free(f);
}

static void driver_init(struct fix *f)
{
	test_ring_init(&f->rings[0], &f->vm.mem, QNUM, 0x1000);
	test_ring_init(&f->rings[1], &f->vm.mem, QNUM, 0x3000);
	mmio_driver_init(f->d, F_DRV, f->rings, 2);
}

static uint64_t offered(struct virtio_dev *d)
{
	uint64_t feat;

	mmio_write(d, 0x014, 0);
	feat = mmio_read(d, 0x010);
	mmio_write(d, 0x014, 1);
	return feat | (uint64_t)mmio_read(d, 0x010) << 32;
}

/* The config space's status field (offset 6). */
static uint16_t link_status(struct virtio_dev *d)
{
	return (uint16_t)(mmio_read(d, 0x104) >> 16);
}

static uint16_t used_idx(struct fix *f, int q)
{
	uint16_t v;

	pthread_mutex_lock(&f->d->lock);
	v = test_used_idx(&f->rings[q]);
	pthread_mutex_unlock(&f->d->lock);
	return v;
}

static void wait_used(struct fix *f, int q, uint16_t want)
{
	uint64_t deadline = now_ms() + DEADLINE_MS;

	while (used_idx(f, q) != want) {
		if (now_ms() > deadline)
			fail_msg("queue %d: used idx %u, want %u", q,
				 used_idx(f, q), want);
		sched_yield();
	}
}

static void expect_used_stays(struct fix *f, int q, uint16_t want)
{
	uint64_t end = now_ms() + QUIET_MS;

	while (now_ms() < end) {
		assert_int_equal(used_idx(f, q), want);
		usleep(1000);
	}
}

static void post_rx(struct fix *f, int n)
{
	pthread_mutex_lock(&f->d->lock);
	for (int i = 0; i < n; i++) {
		struct test_buf b = {RXBUF_BASE +
					     (f->rx_next++ % QNUM) * BUF_STRIDE,
				     4096, true};

		test_ring_add(&f->rings[0], &b, 1);
	}
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_RX);
}

/* Queue one TX frame of len bytes (header included), zero header. */
static void gtx(struct fix *f, uint32_t len)
{
	struct test_buf b = {TXBUF_BASE + (f->tx_next++ % QNUM) * BUF_STRIDE,
			     len, false};
	uint8_t *p;

	pthread_mutex_lock(&f->d->lock);
	p = test_gpa(&f->vm.mem, b.gpa, len);
	memset(p, 0, len);
	if (len > NET_HDR_LEN)
		memset(p + NET_HDR_LEN, 0x5a, len - NET_HDR_LEN);
	test_ring_add(&f->rings[1], &b, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_TX);
}

static void test_disconnected_drops(void **state)
{
	struct fix *f = fix_new(false), *c = fix_new(true);

	(void)state;
	/* what a snapshot checks: the same features as a connected device */
	assert_int_equal(offered(f->d), offered(c->d));
	assert_true(offered(f->d) & F(VIRTIO_NET_F_STATUS));
	assert_int_equal(link_status(f->d), 0);
	assert_int_equal(link_status(c->d), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(mmio_read(f->d, 0x100), 0x4c494b02); /* the MAC */

	driver_init(f);
	post_rx(f, 4);
	/* TX: every frame consumed (so the guest's queue never fills),
	 * a malformed one too */
	for (int i = 0; i < 3; i++)
		gtx(f, NET_HDR_LEN + 60);
	gtx(f, 4);
	wait_used(f, 1, 4);
	/* RX: the buffers stay the guest's */
	expect_used_stays(f, 0, 0);
	assert_true(virtio_dev_live(f->d));
	/* a reset and a second driver lifetime work the same */
	mmio_write(f->d, 0x070, 0);
	f->tx_next = f->rx_next = 0;
	driver_init(f);
	gtx(f, NET_HDR_LEN + 100);
	wait_used(f, 1, 1);
	fix_free(f);
	fix_free(c);
}

/* Save a's device, restore into b (RAM copied as a restore maps it). */
static int snap_move(struct fix *a, struct fix *b, char *err, size_t errlen)
{
	struct snap_buf buf;
	struct snap_reader r;
	int rc;

	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(a->d, &buf), 0);
	pthread_mutex_lock(&a->d->lock);
	memcpy(b->vm.mem.r[0].hva, a->vm.mem.r[0].hva, RAM_SIZE);
	for (int i = 0; i < 2; i++) {
		b->rings[i] = a->rings[i];
		b->rings[i].mem = &b->vm.mem;
	}
	b->rx_next = a->rx_next;
	b->tx_next = a->tx_next;
	pthread_mutex_unlock(&a->d->lock);
	snap_reader_init(&r, buf.data, buf.len);
	rc = virtio_mmio_restore(b->d, &r, err, errlen);
	snap_buf_free(&buf);
	return rc;
}

static void test_restore_connects(void **state)
{
	struct fix *a = fix_new(false), *b = fix_new(true);
	uint8_t pkt[NET_HDR_LEN + 64] = {0}, got[256];
	struct pollfd p;
	uint32_t gen;
	char err[256];

	(void)state;
	driver_init(a);
	post_rx(a, 4);
	gen = mmio_read(a->d, 0x0fc);
	assert_int_equal(snap_move(a, b, err, sizeof(err)), 0);
	assert_true(virtio_dev_live(b->d));
	/* the driver is told: config interrupt, new generation, link up */
	assert_true(mmio_read(b->d, 0x060) & VIRTIO_INT_CONFIG);
	assert_int_equal(mmio_read(b->d, 0x0fc), gen + 1);
	assert_int_equal(link_status(b->d), VIRTIO_NET_S_LINK_UP);
	/* and the backend carries frames both ways on the restored rings */
	memset(pkt + NET_HDR_LEN, 0x33, sizeof(pkt) - NET_HDR_LEN);
	assert_int_equal(send(b->peer, pkt, sizeof(pkt), 0),
			 (ssize_t)sizeof(pkt));
	wait_used(b, 0, 1);
	gtx(b, NET_HDR_LEN + 60);
	p = (struct pollfd){b->peer, POLLIN, 0};
	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	assert_int_equal(recv(b->peer, got, sizeof(got), 0), NET_HDR_LEN + 60);
	wait_used(b, 1, 1);
	fix_free(a);
	fix_free(b);
}

static void test_restore_disconnects(void **state)
{
	struct fix *a = fix_new(true), *b = fix_new(false), *c;
	char err[256];

	(void)state;
	driver_init(a);
	post_rx(a, 2);
	assert_int_equal(snap_move(a, b, err, sizeof(err)), 0);
	assert_true(mmio_read(b->d, 0x060) & VIRTIO_INT_CONFIG);
	assert_int_equal(link_status(b->d), 0);
	gtx(b, NET_HDR_LEN + 60);
	wait_used(b, 1, 1);
	expect_used_stays(b, 0, 0);
	/* same link state on both sides: no config interrupt (the one
	 * above acknowledged first, as a driver does) */
	mmio_write(b->d, 0x064, VIRTIO_INT_CONFIG);
	c = fix_new(false);
	assert_int_equal(snap_move(b, c, err, sizeof(err)), 0);
	assert_false(mmio_read(c->d, 0x060) & VIRTIO_INT_CONFIG);
	fix_free(a);
	fix_free(b);
	fix_free(c);
}

/* The saved link state is validated like everything else in a snapshot. */
static void test_restore_rejects_bad_link(void **state)
{
	struct fix *a = fix_new(false), *b = fix_new(true);
	struct snap_buf buf;
	struct snap_reader r;
	char err[256];

	(void)state;
	driver_init(a);
	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(a->d, &buf), 0);
	buf.data[buf.len - 1] = 2;
	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(b->d, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "net: device state"));
	assert_false(virtio_dev_live(b->d));
	snap_buf_free(&buf);
	fix_free(a);
	fix_free(b);
}

static void test_create_disconnected_rejects(void **state)
{
	static const uint8_t mcast[6] = {0x01, 0, 0, 0, 0, 1};
	struct virtio_dev *d = NULL;
	struct vm vm;

	(void)state;
	test_vm_init(&vm, RAM_SIZE);
	/* no event loop */
	assert_int_equal(net_create(&vm, NULL, MAC, &d), -EINVAL);
	vm.loop = evloop_new();
	assert_int_equal(net_create(&vm, NULL, mcast, &d), -EINVAL);
	assert_int_equal(net_create(&vm, NULL, NULL, &d), 0);
	assert_false(offered(d) & F(VIRTIO_NET_F_MAC));
	net_destroy(d);
	evloop_free(vm.loop);
	test_vm_free(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disconnected_drops),
		cmocka_unit_test(test_restore_connects),
		cmocka_unit_test(test_restore_disconnects),
		cmocka_unit_test(test_restore_rejects_bad_link),
		cmocka_unit_test(test_create_disconnected_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
