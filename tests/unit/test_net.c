/* SPDX-License-Identifier: MIT */
/*
 * virtio-net end to end without KVM: a simulated driver (rings in fake
 * guest RAM, the real register file) on one side, a SOCK_SEQPACKET socket
 * standing in for the TAP on the other (it keeps frame boundaries like a
 * TAP; the 12-byte header is the device's business either way), the real
 * event loop on its own thread.  One test uses a real TAP in a private
 * network namespace when the host allows it.  Waits poll with deadlines.
 */
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <netinet/if_ether.h>

#include "virtio_test.h"
#include "vmm/dev/net.h"
#include "vmm/evloop.h"
#include "vmm/snapshot.h"

#define RAM_SIZE (8u << 20)
#define QNUM 16
#define RXBUF_BASE 0x100000ULL
#define RXBUF_STRIDE 0x10000ULL /* 64 KiB apart: room for any buffer */
#define TXBUF_BASE 0x400000ULL
#define TXBUF_STRIDE 0x20000ULL
#define DEADLINE_MS 5000
#define QUIET_MS 200 /* "nothing more happens" checks */

#define F(x) (1ULL << (x))
#define F_BASE (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC))
#define F_OFFLOADS                                                 \
	(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |       \
	 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | \
	 F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))

static const uint8_t MAC[6] = {0x02, 0x4b, 0x49, 0x4c, 0x4e, 0x01};

struct fix {
	struct vm vm;
	struct virtio_dev *d;
	pthread_t loop_thread;
	int peer; /* the "TAP" side the test plays */
	int devfd;
	struct test_ring rings[2]; /* RX, TX */
	uint16_t rx_buf_next, tx_next;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *loop_main(void *arg)
{
	struct fix *f = arg;

	evloop_run(f->vm.loop);
	return NULL;
}

static struct fix *fix_new_bare(int sndbuf)
{
	struct fix *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	f->vm.loop = evloop_new();
	assert_non_null(f->vm.loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	if (sndbuf)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
					    &sndbuf, sizeof(sndbuf)),
				 0);
	f->peer = sv[1];
	f->devfd = sv[0];
	assert_int_equal(net_create_fd(&f->vm, sv[0], MAC, &f->d), 0);
	assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f),
			 0);
	return f;
}

static void driver_init(struct fix *f, uint64_t features)
{
	test_ring_init(&f->rings[0], &f->vm.mem, QNUM, 0x1000);
	test_ring_init(&f->rings[1], &f->vm.mem, QNUM, 0x3000);
	f->rx_buf_next = f->tx_next = 0;
	mmio_driver_init(f->d, features, f->rings, 2);
}

static struct fix *fix_new(uint64_t features, int sndbuf)
{
	struct fix *f = fix_new_bare(sndbuf);

	driver_init(f, features);
	return f;
}

static void fix_free(struct fix *f)
{
	evloop_stop(f->vm.loop, 0);
	pthread_join(f->loop_thread, NULL);
	net_destroy(f->d);
	/* the device closed its end: the peer sees EOF */
	assert_int_equal(recv(f->peer, NULL, 0, MSG_DONTWAIT), 0);
	close(f->peer);
	evloop_free(f->vm.loop);
	test_vm_free(&f->vm);
	free(f);
}

static uint64_t rxbuf_gpa(uint16_t i)
{
	return RXBUF_BASE + (uint64_t)(i % QNUM) * RXBUF_STRIDE;
}

/* Post n one-descriptor RX buffers of len bytes (poisoned) and kick. */
static void post_rx(struct fix *f, int n, uint32_t len)
{
	pthread_mutex_lock(&f->d->lock);
	for (int i = 0; i < n; i++) {
		struct test_buf b = {rxbuf_gpa(f->rx_buf_next++), len, true};

		memset(test_gpa(&f->vm.mem, b.gpa, len), 0xee, len);
		test_ring_add(&f->rings[0], &b, 1);
	}
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_RX);
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

/* Used idx of q stays at want for QUIET_MS. */
static void expect_used_stays(struct fix *f, int q, uint16_t want)
{
	uint64_t end = now_ms() + QUIET_MS;

	while (now_ms() < end) {
		assert_int_equal(used_idx(f, q), want);
		usleep(1000);
	}
}

static void hdr_fill(uint8_t h[NET_HDR_LEN], uint8_t flags, uint8_t gso)
{
	memset(h, 0, NET_HDR_LEN);
	h[0] = flags;
	h[1] = gso;
}

/* A frame of len bytes after the header, bytes from seed. */
static void frame_fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Guest: queue one TX frame (header + payload in one buffer). */
static void gtx_raw(struct fix *f, const uint8_t *pkt, uint32_t len)
{
	uint64_t gpa =
		TXBUF_BASE + (uint64_t)(f->tx_next++ % QNUM) * TXBUF_STRIDE;
	struct test_buf b = {gpa, len, false};

	pthread_mutex_lock(&f->d->lock);
	memcpy(test_gpa(&f->vm.mem, gpa, len), pkt, len);
	test_ring_add(&f->rings[1], &b, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_TX);
}

static void gtx_frame(struct fix *f, uint8_t seed, uint32_t flen)
{
	static uint8_t pkt[NET_MAX_FRAME + 16];

	hdr_fill(pkt, 0, NET_HDR_GSO_NONE);
	frame_fill(pkt + NET_HDR_LEN, flen, seed);
	gtx_raw(f, pkt, NET_HDR_LEN + flen);
}

/* Peer: receive one message within the deadline; returns its length. */
static ssize_t peer_recv(struct fix *f, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {f->peer, POLLIN, 0};

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(f->peer, buf, cap, MSG_DONTWAIT);
}

static void peer_send(struct fix *f, uint8_t flags, uint8_t gso, uint8_t seed,
		      size_t flen)
{
	static uint8_t pkt[NET_MAX_FRAME + 16];

	hdr_fill(pkt, flags, gso);
	frame_fill(pkt + NET_HDR_LEN, flen, seed);
	assert_int_equal(send(f->peer, pkt, NET_HDR_LEN + flen, 0),
			 (ssize_t)(NET_HDR_LEN + flen));
}

/* Bytes [off, off + len) of what the device wrote to RX buffer i. */
static void rx_read(struct fix *f, uint16_t i, size_t off, void *out,
		    size_t len)
{
	pthread_mutex_lock(&f->d->lock);
	memcpy(out, test_gpa(&f->vm.mem, rxbuf_gpa(i) + off, len), len);
	pthread_mutex_unlock(&f->d->lock);
}

/* Check RX used entry `slot`: buffer head, length, frame bytes. */
static void expect_rx_frame(struct fix *f, uint16_t slot, uint16_t head,
			    uint32_t want_len, uint8_t seed,
			    uint16_t num_buffers, uint8_t flags)
{
	uint8_t h[NET_HDR_LEN], *got = malloc(want_len);
	uint32_t id, len;

	assert_non_null(got);
	test_used_elem(&f->rings[0], slot, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, want_len);
	rx_read(f, head, 0, h, sizeof(h));
	assert_int_equal(h[0], flags);
	assert_int_equal(h[10] | h[11] << 8, num_buffers);
	rx_read(f, head, NET_HDR_LEN, got, want_len - NET_HDR_LEN);
	for (uint32_t i = 0; i < want_len - NET_HDR_LEN; i++)
		assert_int_equal(got[i], (uint8_t)(seed + i * 7));
	free(got);
}

/* ------------------------------------------------------------ tests */

static void test_features_and_config(void **state)
{
	struct fix *f = fix_new_bare(0);
	uint64_t feat;
	uint8_t cfg[8];

	(void)state;
	mmio_write(f->d, 0x014, 0);
	feat = mmio_read(f->d, 0x010);
	mmio_write(f->d, 0x014, 1);
	feat |= (uint64_t)mmio_read(f->d, 0x010) << 32;
	assert_int_equal(mmio_read(f->d, 0x008), VIRTIO_ID_NET);
	assert_true(feat & F(VIRTIO_F_VERSION_1));
	assert_true(feat & F(VIRTIO_NET_F_MAC));
	assert_true(feat & F(VIRTIO_NET_F_STATUS));
	assert_true(feat & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_int_equal(feat & F_OFFLOADS, F_OFFLOADS);
	assert_false(feat & F(VIRTIO_NET_F_GUEST_UFO));
	assert_false(feat & F(VIRTIO_NET_F_HOST_UFO));
	for (int i = 0; i < 8; i++)
		cfg[i] = (uint8_t)mmio_read(f->d, 0x100 + (uint64_t)i);
	assert_memory_equal(cfg, MAC, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	fix_free(f);
}

static void test_tx_frame(void **state)
{
	struct fix *f = fix_new(F_BASE | F_OFFLOADS, 0);
	uint8_t pkt[NET_HDR_LEN + 1000], got[4096];
	uint32_t id, len;

	(void)state;
	/* a checksum-offloaded frame: the header reaches the TAP as is */
	hdr_fill(pkt, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_NONE);
	pkt[6] = 34; /* csum_start */
	pkt[8] = 16; /* csum_offset */
	frame_fill(pkt + NET_HDR_LEN, 1000, 3);
	gtx_raw(f, pkt, sizeof(pkt));
	assert_int_equal(peer_recv(f, got, sizeof(got), DEADLINE_MS),
			 (ssize_t)sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	wait_used(f, 1, 1);
	test_used_elem(&f->rings[1], 0, &id, &len);
	assert_int_equal(len, 0);
	assert_true(f->d->interrupts > 0);
	fix_free(f);
}

static void test_rx_frame(void **state)
{
	/* no MRG_RXBUF, no GUEST_CSUM: one buffer, flags cleared */
	struct fix *f = fix_new(F_BASE, 0);

	(void)state;
	post_rx(f, 2, 2048);
	peer_send(f, NET_HDR_F_DATA_VALID, NET_HDR_GSO_NONE, 9, 700);
	wait_used(f, 0, 1);
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 700, 9, 1, 0);
	/* with GUEST_CSUM the flag is passed on */
	fix_free(f);
	f = fix_new(F_BASE | F_OFFLOADS, 0);
	post_rx(f, 1, 2048);
	peer_send(f, NET_HDR_F_DATA_VALID, NET_HDR_GSO_NONE, 5, 100);
	wait_used(f, 0, 1);
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 100, 5, 1, NET_HDR_F_DATA_VALID);
	fix_free(f);
}

static void test_rx_mrg_spans_buffers(void **state)
{
	struct fix *f = fix_new(F_BASE | F(VIRTIO_NET_F_MRG_RXBUF) |
					F(VIRTIO_NET_F_GUEST_CSUM),
				0);
	uint8_t *got = malloc(3000);
	uint32_t id, len, off = 0;

	(void)state;
	assert_non_null(got);
	post_rx(f, 5, 1024);
	peer_send(f, 0, NET_HDR_GSO_NONE, 1, 3000 - NET_HDR_LEN);
	wait_used(f, 0, 3);
	for (uint16_t i = 0; i < 3; i++) {
		test_used_elem(&f->rings[0], i, &id, &len);
		assert_int_equal(id, i);
		assert_int_equal(len, i < 2 ? 1024 : 3000 - 2048);
		rx_read(f, i, 0, got + off, len);
		off += len;
	}
	assert_int_equal(got[10] | got[11] << 8, 3); /* num_buffers */
	for (uint32_t i = 0; i < 3000 - NET_HDR_LEN; i++)
		assert_int_equal(got[NET_HDR_LEN + i], (uint8_t)(1 + i * 7));
	/* the buffers not needed went back: the next frame takes #3 */
	peer_send(f, 0, NET_HDR_GSO_NONE, 2, 200);
	wait_used(f, 0, 4);
	expect_rx_frame(f, 3, 3, NET_HDR_LEN + 200, 2, 1, 0);
	expect_used_stays(f, 0, 4);
	free(got);
	fix_free(f);
}

/* CPU time this process used so far (all threads). */
static uint64_t cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int peer_pending(struct fix *f)
{
	int n = 0;

	assert_int_equal(ioctl(f->devfd, FIONREAD, &n), 0);
	return n;
}

static void test_rx_waits_for_buffers(void **state)
{
	struct fix *f = fix_new(F_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 0);
	uint64_t cpu;

	(void)state;
	/* no buffers: the frame stays in the socket, nothing is lost */
	peer_send(f, 0, NET_HDR_GSO_NONE, 4, 300);
	peer_send(f, 0, NET_HDR_GSO_NONE, 5, 400);
	cpu = cpu_ms();
	expect_used_stays(f, 0, 0);
	/* and the device stopped polling the socket (no busy loop) */
	assert_true(cpu_ms() - cpu < QUIET_MS / 4);
	/* (FIONREAD counts every queued message) */
	assert_int_equal(peer_pending(f), 2 * NET_HDR_LEN + 300 + 400);
	post_rx(f, 1, 2048);
	wait_used(f, 0, 1);
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 300, 4, 1, 0);
	expect_used_stays(f, 0, 1);
	post_rx(f, 1, 2048);
	wait_used(f, 0, 2);
	expect_rx_frame(f, 1, 1, NET_HDR_LEN + 400, 5, 1, 0);
	fix_free(f);
}

static void test_rx_tso_waits_for_room(void **state)
{
	/* GUEST_TSO: 64 KiB frames may come, so the device waits for that
	 * much room, unless the ring is full and cannot grow */
	struct fix *f =
		fix_new(F_BASE | F_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF) |
				F(VIRTIO_F_RING_EVENT_IDX),
			0);

	(void)state;
	post_rx(f, QNUM - 1, 4096);
	peer_send(f, 0, NET_HDR_GSO_NONE, 6, 1000);
	expect_used_stays(f, 0, 0);
	/* EVENT_IDX: the device asked for a kick on the next buffer */
	for (uint64_t dl = now_ms() + DEADLINE_MS;;) {
		uint16_t ev;

		pthread_mutex_lock(&f->d->lock);
		ev = test_avail_event(&f->rings[0]);
		pthread_mutex_unlock(&f->d->lock);
		if (ev == QNUM - 1)
			break;
		assert_true(now_ms() < dl);
		usleep(1000);
	}
	assert_int_equal(used_idx(f, 0), 0);
	post_rx(f, 1, 4096); /* ring full: 64 KiB - 26 is all it gets */
	wait_used(f, 0, 1);
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 1000, 6, 1, 0);
	fix_free(f);
}

static void test_rx_truncated_dropped(void **state)
{
	struct fix *f = fix_new(F_BASE, 0);

	(void)state;
	post_rx(f, 1, 200);
	peer_send(f, 0, NET_HDR_GSO_NONE, 1, 500); /* does not fit */
	peer_send(f, 0, NET_HDR_GSO_TCPV4, 2, 100); /* TSO not negotiated */
	peer_send(f, 0, NET_HDR_GSO_NONE, 3, 150);
	wait_used(f, 0, 1);
	/* the same buffer took the first good frame */
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 150, 3, 1, 0);
	expect_used_stays(f, 0, 1);
	fix_free(f);
}

static void test_tx_eagain_keeps_chain(void **state)
{
	/* a tiny send buffer fills after a few frames */
	struct fix *f = fix_new(F_BASE, 4096);
	uint8_t got[4096];
	uint16_t sent;
	int n = 0;

	(void)state;
	for (int i = 0; i < QNUM; i++)
		gtx_frame(f, (uint8_t)i, 1500);
	/* wait for the device to stop: some went, the rest wait */
	for (uint64_t deadline = now_ms() + DEADLINE_MS;;) {
		uint16_t a = used_idx(f, 1);

		usleep(20000);
		if (a == used_idx(f, 1) && a > 0)
			break;
		assert_true(now_ms() < deadline);
	}
	sent = used_idx(f, 1);
	assert_true(sent < QNUM);
	expect_used_stays(f, 1, sent);
	/* draining the peer wakes the device (EPOLLOUT): all arrive, in
	 * order, each exactly once */
	while (n < QNUM) {
		ssize_t r = peer_recv(f, got, sizeof(got), DEADLINE_MS);

		assert_int_equal(r, NET_HDR_LEN + 1500);
		assert_int_equal(got[NET_HDR_LEN], (uint8_t)n);
		n++;
	}
	wait_used(f, 1, QNUM);
	assert_int_equal(peer_recv(f, got, sizeof(got), QUIET_MS), -1);
	fix_free(f);
}

static void test_tx_budget_defers(void **state)
{
	/* more chains than one event may take, behind a single kick: the
	 * device defers the rest and still sends them all, in order */
	struct fix *f = fix_new_bare(0);
	const uint16_t num = 128, nframes = 100;
	uint8_t pkt[NET_HDR_LEN + 100], got[256];

	(void)state;
	test_ring_init(&f->rings[0], &f->vm.mem, QNUM, 0x1000);
	test_ring_init(&f->rings[1], &f->vm.mem, num, 0x3000);
	mmio_driver_init(f->d, F_BASE, f->rings, 2);
	pthread_mutex_lock(&f->d->lock);
	for (uint16_t i = 0; i < nframes; i++) {
		struct test_buf b = {TXBUF_BASE + 256ULL * i, sizeof(pkt),
				     false};

		hdr_fill(pkt, 0, 0);
		frame_fill(pkt + NET_HDR_LEN, 100, (uint8_t)i);
		memcpy(test_gpa(&f->vm.mem, b.gpa, sizeof(pkt)), pkt,
		       sizeof(pkt));
		test_ring_add(&f->rings[1], &b, 1);
	}
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_TX);
	for (uint16_t i = 0; i < nframes; i++) {
		assert_int_equal(peer_recv(f, got, sizeof(got), DEADLINE_MS),
				 (ssize_t)sizeof(pkt));
		assert_int_equal(got[NET_HDR_LEN], (uint8_t)i);
	}
	wait_used(f, 1, nframes);
	assert_int_equal(peer_recv(f, got, sizeof(got), QUIET_MS), -1);
	fix_free(f);
}

static void test_tx_malformed_dropped(void **state)
{
	struct fix *f = fix_new(F_BASE, 0);
	static uint8_t big[NET_MAX_FRAME + 1];
	uint8_t pkt[NET_HDR_LEN + 100], got[256];

	(void)state;
	memset(pkt, 0, sizeof(pkt));
	gtx_raw(f, pkt, 10); /* shorter than the header */
	memset(big, 0, sizeof(big));
	gtx_raw(f, big, sizeof(big)); /* over 64 KiB + headers */
	hdr_fill(pkt, 0, NET_HDR_GSO_TCPV4); /* HOST_TSO4 not negotiated */
	gtx_raw(f, pkt, sizeof(pkt));
	hdr_fill(pkt, NET_HDR_F_NEEDS_CSUM, 0); /* CSUM not negotiated */
	gtx_raw(f, pkt, sizeof(pkt));
	gtx_frame(f, 42, 100);
	wait_used(f, 1, 5);
	/* only the good one reached the peer; the device still works */
	assert_int_equal(peer_recv(f, got, sizeof(got), DEADLINE_MS),
			 NET_HDR_LEN + 100);
	assert_int_equal(got[NET_HDR_LEN], 42);
	assert_int_equal(peer_recv(f, got, sizeof(got), QUIET_MS), -1);
	assert_true(virtio_dev_live(f->d));
	fix_free(f);
}

static void test_rx_bad_chain_fails_device(void **state)
{
	struct fix *f = fix_new(F_BASE, 0);
	struct test_buf ro = {RXBUF_BASE, 2048, false};
	struct test_buf tiny = {RXBUF_BASE, 8, true};

	(void)state;
	/* a device-readable RX buffer is a driver bug */
	pthread_mutex_lock(&f->d->lock);
	test_ring_add(&f->rings[0], &ro, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_RX);
	peer_send(f, 0, 0, 1, 100);
	for (uint64_t dl = now_ms() + DEADLINE_MS;
	     !(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);)
		assert_true(now_ms() < dl);
	/* the frame is still there for the driver after its reset */
	assert_int_equal(peer_pending(f), NET_HDR_LEN + 100);
	/* a buffer too small for the header: same */
	driver_init(f, F_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
	pthread_mutex_lock(&f->d->lock);
	test_ring_add(&f->rings[0], &tiny, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, NET_QUEUE_RX);
	for (uint64_t dl = now_ms() + DEADLINE_MS;
	     !(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);)
		assert_true(now_ms() < dl);
	assert_int_equal(peer_pending(f), NET_HDR_LEN + 100);
	driver_init(f, F_BASE);
	post_rx(f, 1, 2048);
	wait_used(f, 0, 1);
	expect_rx_frame(f, 0, 0, NET_HDR_LEN + 100, 1, 1, 0);
	fix_free(f);
}

static void test_reset_mid_traffic(void **state)
{
	struct fix *f = fix_new(F_BASE, 0);
	uint8_t got[4096];
	uint16_t k, t;
	int n = 0;

	(void)state;
	post_rx(f, 4, 2048);
	for (int i = 0; i < 8; i++)
		peer_send(f, 0, 0, (uint8_t)i, 100 + (size_t)i);
	for (int i = 0; i < 4; i++)
		gtx_frame(f, (uint8_t)(100 + i), 200);
	mmio_write(f->d, 0x070, 0); /* reset while frames fly */
	assert_int_equal(mmio_read(f->d, 0x070), 0);
	/* what the first driver lifetime got is final now */
	k = used_idx(f, 0);
	t = used_idx(f, 1);
	assert_true(k <= 4 && t <= 4);
	for (uint16_t i = 0; i < k; i++)
		expect_rx_frame(f, i, i, NET_HDR_LEN + 100 + i, (uint8_t)i, 1,
				0);
	/* TX chains completed were sent exactly once, the others never */
	while (peer_recv(f, got, sizeof(got), QUIET_MS) > 0) {
		assert_int_equal(got[NET_HDR_LEN], 100 + n);
		n++;
	}
	assert_int_equal(n, t);

	/* the driver comes back: the frames RX could not take are
	 * delivered now, in order, none lost or duplicated */
	driver_init(f, F_BASE);
	post_rx(f, 8, 2048);
	wait_used(f, 0, (uint16_t)(8 - k));
	for (uint16_t i = 0; i < 8 - k; i++)
		expect_rx_frame(f, i, i, NET_HDR_LEN + 100 + k + i,
				(uint8_t)(k + i), 1, 0);
	expect_used_stays(f, 0, (uint16_t)(8 - k));
	gtx_frame(f, 77, 60);
	assert_int_equal(peer_recv(f, got, sizeof(got), DEADLINE_MS),
			 NET_HDR_LEN + 60);
	assert_int_equal(got[NET_HDR_LEN], 77);
	wait_used(f, 1, 1);
	fix_free(f);
}

static void test_snapshot_restore_other_backend(void **state)
{
	struct fix *a = fix_new(F_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 0);
	struct fix *b = fix_new_bare(0);
	struct snap_buf buf;
	struct snap_reader r;
	char err[256];

	(void)state;
	post_rx(a, 4, 2048);
	peer_send(a, 0, 0, 1, 100);
	wait_used(a, 0, 1);
	/* "paused": save, copy RAM */
	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(a->d, &buf), 0);
	pthread_mutex_lock(&a->d->lock);
	memcpy(b->vm.mem.r[0].hva, a->vm.mem.r[0].hva, RAM_SIZE);
	for (int i = 0; i < 2; i++) {
		b->rings[i] = a->rings[i];
		b->rings[i].mem = &b->vm.mem;
	}
	b->rx_buf_next = a->rx_buf_next;
	pthread_mutex_unlock(&a->d->lock);

	/* a corrupt device state (version) is refused */
	buf.data[buf.len - 12] ^= 0x55;
	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(b->d, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	buf.data[buf.len - 12] ^= 0x55;

	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(b->d, &r, err, sizeof(err)), 0);
	assert_true(virtio_dev_live(b->d));
	/* b's backend (another "TAP") carries on with the restored rings */
	peer_send(b, 0, 0, 2, 200);
	wait_used(b, 0, 2);
	expect_rx_frame(b, 1, 1, NET_HDR_LEN + 200, 2, 1, 0);
	snap_buf_free(&buf);
	fix_free(a);
	fix_free(b);
}

static void test_create_rejects(void **state)
{
	struct vm vm;
	struct virtio_dev *d;
	uint8_t mac[6];
	int p[2];

	(void)state;
	test_vm_init(&vm, RAM_SIZE);
	vm.loop = evloop_new();
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	/* a pipe keeps no frame boundaries: refused, fd closed */
	assert_int_equal(net_create_fd(&vm, p[0], MAC, &d), -EINVAL);
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	assert_int_equal(net_create(&vm, "bad/name", MAC, &d), -EINVAL);
	assert_int_equal(net_create(&vm, "tap%d", MAC, &d), -EINVAL);
	assert_int_equal(net_create(&vm, "", MAC, &d), -EINVAL);

	assert_int_equal(net_parse_mac("02:aB:00:11:22:ff", mac), 0);
	assert_int_equal(mac[1], 0xab);
	assert_int_equal(mac[5], 0xff);
	assert_int_equal(net_parse_mac("01:00:00:00:00:01", mac), -EINVAL);
	assert_int_equal(net_parse_mac("00:00:00:00:00:00", mac), -EINVAL);
	assert_int_equal(net_parse_mac("02:00:00:00:00", mac), -EINVAL);
	assert_int_equal(net_parse_mac("02:00:00:00:00:1", mac), -EINVAL);
	assert_int_equal(net_parse_mac("02:00:00:00:00:011", mac), -EINVAL);
	assert_int_equal(net_parse_mac("02:+0:00:00:00:01", mac), -EINVAL);
	assert_int_equal(net_parse_mac("02-00-00-00-00-01", mac), -EINVAL);
	evloop_free(vm.loop);
	test_vm_free(&vm);
}

/* ------------------------------------------- a real TAP, if possible */

#define TAP_NAME "kilntap0"
#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

static int if_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

/* Fewer frames of the kernel's own (router solicitations, MLD) in the
 * guest's buffers; best effort, the test copes with them anyway. */
static void quiet_ipv6(const char *name)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		print_message("note: cannot disable IPv6 on %s\n", name);
	close(fd);
}

/* An Ethernet frame of ours, after a zeroed vnet header. */
static size_t eth_frame(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
			uint8_t seed)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	frame_fill(p + 14, 100, seed);
	return 114;
}

static bool is_ours(const uint8_t *eth, ssize_t len, uint8_t seed)
{
	return len >= 114 && eth[12] == (TEST_ETHERTYPE >> 8) &&
	       eth[13] == (TEST_ETHERTYPE & 0xff) && eth[14] == seed;
}

/* 10.9.9.1/24 on the TAP, 10.9.9.2 (the guest) at MAC: no ARP needed. */
static void tap_ip_setup(const char *name)
{
	struct ifreq ifr;
	struct arpreq arp;
	struct sockaddr_in *sin;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a090901);
	assert_int_equal(ioctl(s, SIOCSIFADDR, &ifr), 0);
	sin->sin_addr.s_addr = htonl(0xffffff00);
	assert_int_equal(ioctl(s, SIOCSIFNETMASK, &ifr), 0);
	memset(&arp, 0, sizeof(arp));
	sin = (struct sockaddr_in *)&arp.arp_pa;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a090902);
	arp.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(arp.arp_ha.sa_data, MAC, 6);
	arp.arp_flags = ATF_COM | ATF_PERM;
	snprintf(arp.arp_dev, sizeof(arp.arp_dev), "%s", name);
	assert_int_equal(ioctl(s, SIOCSARP, &arp), 0);
	close(s);
}

/* Send a UDP datagram to the guest and find it in the RX buffers used
 * from slot *next on; copies its vnet header to h. */
static void udp_to_guest(struct fix *f, int us, uint16_t *next, uint8_t *h)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(7777),
				 .sin_addr.s_addr = htonl(0x0a090902)};
	uint8_t payload[200], got[2048];

	frame_fill(payload, sizeof(payload), 0x55);
	assert_int_equal(sendto(us, payload, sizeof(payload), 0,
				(struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)sizeof(payload));
	for (uint64_t dl = now_ms() + DEADLINE_MS;;) {
		assert_true(now_ms() < dl);
		while (*next != used_idx(f, 0)) {
			uint32_t id, len;

			test_used_elem(&f->rings[0], (*next)++, &id, &len);
			if (len != NET_HDR_LEN + 14 + 20 + 8 + sizeof(payload))
				continue;
			rx_read(f, (uint16_t)id, 0, got, len);
			if (got[NET_HDR_LEN + 23] != 17 ||
			    memcmp(got + len - sizeof(payload), payload,
				   sizeof(payload)))
				continue; /* not UDP, or not ours */
			memcpy(h, got, NET_HDR_LEN + 14 + 20 + 8);
			return;
		}
		usleep(1000);
	}
}

static void test_real_tap(void **state)
{
	static const uint8_t host_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
	struct fix *f;
	struct sockaddr_ll sll;
	uint8_t pkt[256], got[2048];
	int oldns, ps, us, ifindex;
	uint16_t next;
	uint8_t h[NET_HDR_LEN + 42];
	bool seen = false;

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		print_message("skipped: needs root and /dev/net/tun\n");
		skip();
	}
	oldns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(oldns >= 0);
	if (unshare(CLONE_NEWNET) != 0) {
		print_message("skipped: unshare(CLONE_NEWNET): %s\n",
			      strerror(errno));
		close(oldns);
		skip();
	}
	/* Everything network is made in the private namespace, which goes
	 * away with its last fd. */
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	f->vm.loop = evloop_new();
	assert_non_null(f->vm.loop);
	assert_int_equal(net_create(&f->vm, TAP_NAME, MAC, &f->d), 0);
	quiet_ipv6(TAP_NAME);
	assert_int_equal(if_up(TAP_NAME), 0);
	ifindex = (int)if_nametoindex(TAP_NAME);
	assert_true(ifindex > 0);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(ps >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);
	tap_ip_setup(TAP_NAME);
	us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(us >= 0);
	assert_int_equal(setns(oldns, CLONE_NEWNET), 0);
	close(oldns);

	f->peer = -1;
	assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f),
			 0);
	/* the TAP took TUNSETOFFLOAD: guest offloads are offered */
	mmio_write(f->d, 0x014, 0);
	assert_int_equal(mmio_read(f->d, 0x010) & F_OFFLOADS,
			 (uint32_t)F_OFFLOADS);
	driver_init(f, F_BASE | F_OFFLOADS | F(VIRTIO_NET_F_MRG_RXBUF));

	/* guest -> host: the frame comes out of the interface */
	memset(pkt, 0, NET_HDR_LEN);
	gtx_raw(f, pkt,
		(uint32_t)(NET_HDR_LEN +
			   eth_frame(pkt + NET_HDR_LEN, host_mac, MAC, 0x31)));
	for (uint64_t dl = now_ms() + DEADLINE_MS; !seen;) {
		struct pollfd p = {ps, POLLIN, 0};
		ssize_t n;

		assert_true(now_ms() < dl);
		if (poll(&p, 1, 100) != 1)
			continue;
		n = recv(ps, got, sizeof(got), MSG_DONTWAIT);
		seen = is_ours(got, n, 0x31);
	}
	wait_used(f, 1, 1);

	/* host -> guest: a frame sent on the interface reaches RX */
	post_rx(f, QNUM, 8192);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, MAC, 6);
	assert_int_equal(
		sendto(ps, pkt + NET_HDR_LEN,
		       eth_frame(pkt + NET_HDR_LEN, MAC, host_mac, 0x32), 0,
		       (struct sockaddr *)&sll, sizeof(sll)),
		114);
	seen = false;
	for (uint64_t dl = now_ms() + DEADLINE_MS; !seen;) {
		uint16_t used = used_idx(f, 0);

		assert_true(now_ms() < dl);
		/* the kernel may send its own frames (IPv6) first */
		for (uint16_t i = 0; i < used && !seen; i++) {
			uint32_t id, len;

			test_used_elem(&f->rings[0], i, &id, &len);
			rx_read(f, (uint16_t)id, 0, got, len);
			seen = len == NET_HDR_LEN + 114 &&
			       is_ours(got + NET_HDR_LEN, 114, 0x32) &&
			       got[10] == 1 && got[11] == 0;
		}
		usleep(1000);
	}

	/* offloads follow the driver: with GUEST_CSUM the TAP hands over
	 * UDP with the checksum left to the guest (NEEDS_CSUM) */
	next = used_idx(f, 0);
	post_rx(f, next, 8192); /* TSO: room for 64 KiB frames */
	udp_to_guest(f, us, &next, h);
	assert_int_equal(h[0], NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h[6] | h[7] << 8, 14 + 20); /* csum_start */
	assert_int_equal(h[8] | h[9] << 8, 6); /* UDP checksum field */
	/* a driver without it gets finished checksums (flags 0) */
	driver_init(f, F_BASE | F(VIRTIO_NET_F_MRG_RXBUF));
	post_rx(f, QNUM, 8192);
	next = 0;
	udp_to_guest(f, us, &next, h);
	assert_int_equal(h[0], 0);
	assert_int_equal(h[1], NET_HDR_GSO_NONE);
	assert_true(h[NET_HDR_LEN + 40] | h[NET_HDR_LEN + 41]); /* summed */
	close(us);
	close(ps);
	evloop_stop(f->vm.loop, 0);
	pthread_join(f->loop_thread, NULL);
	net_destroy(f->d);
	evloop_free(f->vm.loop);
	test_vm_free(&f->vm);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_and_config),
		cmocka_unit_test(test_tx_frame),
		cmocka_unit_test(test_rx_frame),
		cmocka_unit_test(test_rx_mrg_spans_buffers),
		cmocka_unit_test(test_rx_waits_for_buffers),
		cmocka_unit_test(test_rx_tso_waits_for_room),
		cmocka_unit_test(test_rx_truncated_dropped),
		cmocka_unit_test(test_tx_eagain_keeps_chain),
		cmocka_unit_test(test_tx_budget_defers),
		cmocka_unit_test(test_tx_malformed_dropped),
		cmocka_unit_test(test_rx_bad_chain_fails_device),
		cmocka_unit_test(test_reset_mid_traffic),
		cmocka_unit_test(test_snapshot_restore_other_backend),
		cmocka_unit_test(test_create_rejects),
		cmocka_unit_test(test_real_tap),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
