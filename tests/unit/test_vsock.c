/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device end to end: a simulated guest driver (rings in fake
 * guest RAM, driven through the real virtio-mmio register file) on one
 * side, real Unix sockets on the other, and the real event loop running on
 * its own thread as in kiln-vmm.  Waits are polls with deadlines.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "virtio_test.h"
#include "vmm/evloop.h"
#include "vmm/snapshot.h"
#include "vmm/dev/vsock.h"
#include "vmm/dev/vsock_conn.h"

#define CID 3
#define RAM_SIZE (8u << 20)
#define QNUM 16
#define RXBUF_SIZE (VSOCK_HDR_SIZE + VSOCK_MAX_PKT_DATA)
#define RXBUF_BASE 0x100000ULL
#define TXBUF_BASE 0x300000ULL
#define EVBUF_BASE 0x600000ULL
#define DEADLINE_MS 5000
#define QUIET_MS 200 /* "nothing more arrives" checks */

struct fix {
	struct vm vm;
	struct virtio_dev *d;
	pthread_t loop_thread;
	char dir[64];
	char uds[128];
	struct test_ring rings[3]; /* RX, TX, EVENT */
	uint16_t rx_seen;
	uint16_t tx_next;
	/* the guest's receive side: what it advertises */
	uint32_t g_buf_alloc, g_fwd_cnt, g_rx_total;
	uint32_t g_adv_fwd; /* fwd_cnt the device has been told */
	bool auto_consume;
};

struct pkt {
	struct vsock_hdr h;
	uint8_t data[VSOCK_MAX_PKT_DATA];
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

static uint64_t rxbuf(uint16_t i)
{
	return RXBUF_BASE + (uint64_t)i * RXBUF_SIZE;
}

static void post_rx_buffers(struct fix *f, int n)
{
	pthread_mutex_lock(&f->d->lock);
	for (int i = 0; i < n; i++) {
		struct test_buf b = {rxbuf(f->rings[0].free_desc), RXBUF_SIZE,
				     true};

		test_ring_add(&f->rings[0], &b, 1);
	}
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, VSOCK_QUEUE_RX);
}

static void driver_init(struct fix *f, int rx_buffers)
{
	test_ring_init(&f->rings[0], &f->vm.mem, QNUM, 0x1000);
	test_ring_init(&f->rings[1], &f->vm.mem, QNUM, 0x3000);
	test_ring_init(&f->rings[2], &f->vm.mem, QNUM, 0x5000);
	f->rx_seen = 0;
	f->tx_next = 0;
	mmio_driver_init(f->d, 1ULL << VIRTIO_F_VERSION_1, f->rings, 3);
	if (rx_buffers)
		post_rx_buffers(f, rx_buffers);
}

/* The device on a running event loop, the driver not started yet. */
static struct fix *fix_new_bare(void)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	f->vm.loop = evloop_new();
	assert_non_null(f->vm.loop);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kiln-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	assert_int_equal(vsock_create(&f->vm, CID, f->uds, &f->d), 0);
	assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f),
			 0);
	f->g_buf_alloc = 64 * 1024;
	f->auto_consume = true;
	return f;
}

static struct fix *fix_new(int rx_buffers)
{
	struct fix *f = fix_new_bare();

	driver_init(f, rx_buffers);
	return f;
}

static void fix_free(struct fix *f)
{
	char path[160];

	evloop_stop(f->vm.loop, 0);
	pthread_join(f->loop_thread, NULL);
	vsock_destroy(f->d);
	/* the device unlinks its socket */
	assert_int_equal(access(f->uds, F_OK), -1);
	snprintf(path, sizeof(path), "%s_5000", f->uds);
	unlink(path);
	rmdir(f->dir);
	evloop_free(f->vm.loop);
	test_vm_free(&f->vm);
	free(f);
}

/* ------------------------------------------------------- guest side */

/* Send one packet on the TX queue and wait until the device took it. */
static void gtx(struct fix *f, struct vsock_hdr h, const void *data)
{
	struct test_ring *r = &f->rings[1];
	uint64_t gpa =
		TXBUF_BASE + (uint64_t)(f->tx_next++ % QNUM) * RXBUF_SIZE;
	uint64_t deadline = now_ms() + DEADLINE_MS;
	struct test_buf b = {gpa, VSOCK_HDR_SIZE + h.len, false};
	uint16_t want;

	if (!h.src_cid)
		h.src_cid = CID;
	if (!h.dst_cid)
		h.dst_cid = VSOCK_HOST_CID;
	if (!h.type)
		h.type = VSOCK_TYPE_STREAM;
	if (!h.buf_alloc)
		h.buf_alloc = f->g_buf_alloc;
	if (!h.fwd_cnt)
		h.fwd_cnt = f->g_fwd_cnt;
	if (h.src_cid == CID)
		f->g_adv_fwd = h.fwd_cnt;
	pthread_mutex_lock(&f->d->lock);
	vsock_hdr_encode(&h, test_gpa(&f->vm.mem, gpa, VSOCK_HDR_SIZE));
	if (h.len)
		memcpy(test_gpa(&f->vm.mem, gpa + VSOCK_HDR_SIZE, h.len), data,
		       h.len);
	test_ring_add(r, &b, 1);
	want = r->avail_idx;
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, VSOCK_QUEUE_TX);
	for (;;) {
		uint16_t used;

		pthread_mutex_lock(&f->d->lock);
		used = test_used_idx(r);
		pthread_mutex_unlock(&f->d->lock);
		if (used == want)
			return;
		assert_true(now_ms() < deadline);
		sched_yield();
	}
}

static void gtx_op(struct fix *f, uint32_t src_port, uint32_t dst_port,
		   uint16_t op, uint32_t flags)
{
	gtx(f,
	    (struct vsock_hdr){.src_port = src_port,
			       .dst_port = dst_port,
			       .op = op,
			       .flags = flags},
	    NULL);
}

/* Take the next RX packet within timeout_ms; false if none came. */
static bool grx(struct fix *f, struct pkt *p, unsigned int timeout_ms)
{
	struct test_ring *r = &f->rings[0];
	uint64_t deadline = now_ms() + timeout_ms;
	uint32_t id, len;

	for (;;) {
		pthread_mutex_lock(&f->d->lock);
		if (test_used_idx(r) != f->rx_seen)
			break;
		pthread_mutex_unlock(&f->d->lock);
		if (now_ms() >= deadline)
			return false;
		sched_yield();
	}
	test_used_elem(r, f->rx_seen, &id, &len);
	/* Every used RX buffer carries a packet: never an empty one. */
	assert_true(len >= VSOCK_HDR_SIZE);
	assert_true(len <= RXBUF_SIZE);
	assert_int_equal(id, f->rx_seen % QNUM);
	vsock_hdr_decode(test_gpa(&f->vm.mem, rxbuf((uint16_t)id), len), &p->h);
	assert_int_equal(p->h.len, len - VSOCK_HDR_SIZE);
	memcpy(p->data,
	       test_gpa(&f->vm.mem, rxbuf((uint16_t)id) + VSOCK_HDR_SIZE,
			p->h.len),
	       p->h.len);
	f->rx_seen++;
	pthread_mutex_unlock(&f->d->lock);
	assert_int_equal(p->h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(p->h.dst_cid, CID);
	assert_int_equal(p->h.type, VSOCK_TYPE_STREAM);
	if (p->h.op == VSOCK_OP_RW) {
		/* The device must respect the credit we advertised. */
		f->g_rx_total += p->h.len;
		assert_true(f->g_rx_total - f->g_adv_fwd <= f->g_buf_alloc);
		if (f->auto_consume)
			f->g_fwd_cnt += p->h.len;
	}
	post_rx_buffers(f, 1); /* recycle the buffer */
	return true;
}

static void grx_expect(struct fix *f, struct pkt *p, uint16_t op)
{
	assert_true(grx(f, p, DEADLINE_MS));
	assert_int_equal(p->h.op, op);
}

/* -------------------------------------------------------- host side */

static int uds_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* Read exactly len bytes within the deadline; returns bytes read (less
 * on EOF). */
static size_t read_full(int fd, void *buf, size_t len, unsigned int ms)
{
	uint64_t deadline = now_ms() + ms;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t t = now_ms();
		ssize_t n;

		assert_true(t < deadline);
		if (poll(&p, 1, (int)(deadline - t)) <= 0)
			continue;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* The host end sees EOF (or a reset) within the deadline. */
static void expect_eof(int fd)
{
	char c;

	assert_int_equal(read_full(fd, &c, 1, DEADLINE_MS), 0);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Host client -> guest port 1024, accepted by the guest. */
static int host_conn(struct fix *f, uint32_t *hport)
{
	int fd = uds_connect(f->uds);
	struct pkt *p = malloc(sizeof(*p));
	char line[32], want[32];

	write_all(fd, "CONNECT 1024\n", 13);
	grx_expect(f, p, VSOCK_OP_REQUEST);
	assert_int_equal(p->h.dst_port, 1024);
	assert_true(p->h.src_port >= VSOCK_EPHEMERAL_BASE);
	*hport = p->h.src_port;
	gtx_op(f, 1024, *hport, VSOCK_OP_RESPONSE, 0);
	snprintf(want, sizeof(want), "OK %u\n", *hport);
	assert_int_equal(read_full(fd, line, strlen(want), DEADLINE_MS),
			 strlen(want));
	assert_memory_equal(line, want, strlen(want));
	free(p);
	return fd;
}

/* ------------------------------------------------------------ tests */

static void test_config_and_features(void **state)
{
	struct fix *f = fix_new(0);
	uint64_t features;

	(void)state;
	assert_int_equal(mmio_read(f->d, 0x008), VIRTIO_ID_VSOCK);
	assert_int_equal(mmio_read(f->d, 0x100), CID);
	assert_int_equal(mmio_read(f->d, 0x104), 0);
	mmio_write(f->d, 0x014, 0);
	features = mmio_read(f->d, 0x010);
	mmio_write(f->d, 0x014, 1);
	features |= (uint64_t)mmio_read(f->d, 0x010) << 32;
	assert_true(features & (1ULL << VIRTIO_F_VERSION_1));
	assert_false(features & (1ULL << 1)); /* no SEQPACKET */
	mmio_write(f->d, 0x030, 0);
	assert_int_equal(mmio_read(f->d, 0x034), VSOCK_QUEUE_MAX);
	assert_non_null(strstr(f->vm.cmdline, "virtio_mmio.device=4K@0x"));
	fix_free(f);
}

static void test_host_initiated(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	uint32_t hport;
	char buf[16];
	int fd;

	(void)state;
	fd = host_conn(f, &hport);
	/* host -> guest */
	write_all(fd, "hello", 5);
	grx_expect(f, p, VSOCK_OP_RW);
	assert_int_equal(p->h.len, 5);
	assert_memory_equal(p->data, "hello", 5);
	assert_int_equal(p->h.src_port, hport);
	assert_int_equal(p->h.dst_port, 1024);
	/* guest -> host */
	gtx(f,
	    (struct vsock_hdr){.src_port = 1024,
			       .dst_port = hport,
			       .op = VSOCK_OP_RW,
			       .len = 5},
	    "world");
	assert_int_equal(read_full(fd, buf, 5, DEADLINE_MS), 5);
	assert_memory_equal(buf, "world", 5);
	/* host half-closes: the guest hears SHUTDOWN(SEND) */
	shutdown(fd, SHUT_WR);
	grx_expect(f, p, VSOCK_OP_SHUTDOWN);
	assert_int_equal(p->h.flags, VSOCK_SHUTDOWN_SEND);
	/* the guest can still send */
	gtx(f,
	    (struct vsock_hdr){.src_port = 1024,
			       .dst_port = hport,
			       .op = VSOCK_OP_RW,
			       .len = 3},
	    "bye");
	assert_int_equal(read_full(fd, buf, 3, DEADLINE_MS), 3);
	assert_memory_equal(buf, "bye", 3);
	/* guest closes: RST completes it, the host sees EOF */
	gtx_op(f, 1024, hport, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_ALL);
	grx_expect(f, p, VSOCK_OP_RST);
	expect_eof(fd);
	close(fd);
	free(p);
	fix_free(f);
}

static void test_host_initiated_refused(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	int fd = uds_connect(f->uds);

	(void)state;
	write_all(fd, "CONNECT 7\n", 10);
	grx_expect(f, p, VSOCK_OP_REQUEST);
	assert_int_equal(p->h.dst_port, 7);
	gtx_op(f, 7, p->h.src_port, VSOCK_OP_RST, 0);
	expect_eof(fd); /* closed without "OK" */
	close(fd);
	/* nothing was sent back for the RST */
	assert_false(grx(f, p, QUIET_MS));
	free(p);
	fix_free(f);
}

static void test_host_client_leaves(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	uint32_t hport;
	int fd = uds_connect(f->uds);

	(void)state;
	/* gone while the guest is asked: the guest hears RST */
	write_all(fd, "CONNECT 1024\n", 13);
	grx_expect(f, p, VSOCK_OP_REQUEST);
	hport = p->h.src_port;
	close(fd);
	grx_expect(f, p, VSOCK_OP_RST);
	assert_int_equal(p->h.src_port, hport);
	/* a late RESPONSE is answered with RST too */
	gtx_op(f, 1024, hport, VSOCK_OP_RESPONSE, 0);
	grx_expect(f, p, VSOCK_OP_RST);
	/* gone after sending data: the data, then SHUTDOWN */
	fd = host_conn(f, &hport);
	write_all(fd, "last words", 10);
	close(fd);
	grx_expect(f, p, VSOCK_OP_RW);
	assert_memory_equal(p->data, "last words", 10);
	grx_expect(f, p, VSOCK_OP_SHUTDOWN);
	assert_int_equal(p->h.flags, VSOCK_SHUTDOWN_SEND);
	/* the guest writes anyway: the peer is gone, RST */
	gtx(f,
	    (struct vsock_hdr){.src_port = 1024,
			       .dst_port = hport,
			       .op = VSOCK_OP_RW,
			       .len = 2},
	    "hi");
	grx_expect(f, p, VSOCK_OP_RST);
	free(p);
	fix_free(f);
}

static void test_handshake_rejects(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	static const char *const bad[] = {"HELLO\n", "CONNECT x\n",
					  "CONNECT 99999999999\n",
					  "CONNECT 1024 \n"};
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = uds_connect(f->uds);
		write_all(fd, bad[i], strlen(bad[i]));
		expect_eof(fd);
		close(fd);
	}
	/* an over-long line without a newline */
	fd = uds_connect(f->uds);
	write_all(fd, "CONNECT 000000000000000000000000000000001", 41);
	expect_eof(fd);
	close(fd);
	/* too slow */
	vsock_set_handshake_timeout(f->d, 50);
	fd = uds_connect(f->uds);
	write_all(fd, "CONNECT 10", 10);
	expect_eof(fd);
	close(fd);
	/* the guest never heard of any of them */
	assert_false(grx(f, p, QUIET_MS));
	free(p);
	fix_free(f);
}

static void test_bytes_after_connect_line(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	int fd = uds_connect(f->uds);
	char line[32];
	int n;

	(void)state;
	/* A client that does not wait for OK: its first bytes must not be
	 * eaten by the handshake. */
	write_all(fd, "CONNECT 1024\nearly", 18);
	grx_expect(f, p, VSOCK_OP_REQUEST);
	gtx_op(f, 1024, p->h.src_port, VSOCK_OP_RESPONSE, 0);
	n = snprintf(line, sizeof(line), "OK %u\n", p->h.src_port);
	assert_int_equal(read_full(fd, line, (size_t)n, DEADLINE_MS), n);
	grx_expect(f, p, VSOCK_OP_RW);
	assert_int_equal(p->h.len, 5);
	assert_memory_equal(p->data, "early", 5);
	close(fd);
	free(p);
	fix_free(f);
}

static void test_guest_initiated(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	char path[160], buf[8];
	int lfd, fd;

	(void)state;
	snprintf(path, sizeof(path), "%s_5000", f->uds);
	lfd = listen_at(path);
	gtx_op(f, 40000, 5000, VSOCK_OP_REQUEST, 0);
	grx_expect(f, p, VSOCK_OP_RESPONSE);
	assert_int_equal(p->h.src_port, 5000);
	assert_int_equal(p->h.dst_port, 40000);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	gtx(f,
	    (struct vsock_hdr){.src_port = 40000,
			       .dst_port = 5000,
			       .op = VSOCK_OP_RW,
			       .len = 4},
	    "ping");
	assert_int_equal(read_full(fd, buf, 4, DEADLINE_MS), 4);
	assert_memory_equal(buf, "ping", 4);
	write_all(fd, "pong", 4);
	grx_expect(f, p, VSOCK_OP_RW);
	assert_memory_equal(p->data, "pong", 4);
	/* the host closes after the guest finished sending: RST */
	gtx_op(f, 40000, 5000, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
	expect_eof(fd); /* half-closed towards the host */
	close(fd);
	grx_expect(f, p, VSOCK_OP_SHUTDOWN);
	grx_expect(f, p, VSOCK_OP_RST);
	/* nobody listens on port 5001 */
	gtx_op(f, 40001, 5001, VSOCK_OP_REQUEST, 0);
	grx_expect(f, p, VSOCK_OP_RST);
	assert_int_equal(p->h.src_port, 5001);
	assert_int_equal(p->h.dst_port, 40001);
	close(lfd);
	free(p);
	fix_free(f);
}

static void test_credit_limits_host_data(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	static uint8_t data[3000];
	uint32_t hport, got = 0;
	int fd;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	f->g_buf_alloc = 1000;
	f->auto_consume = false;
	fd = host_conn(f, &hport);
	write_all(fd, data, sizeof(data));
	while (got < 1000) {
		grx_expect(f, p, VSOCK_OP_RW);
		assert_memory_equal(p->data, data + got, p->h.len);
		got += p->h.len;
	}
	assert_int_equal(got, 1000);
	/* out of credit: nothing more may come */
	assert_false(grx(f, p, QUIET_MS));
	/* the guest read it all and says so */
	f->g_fwd_cnt = 1000;
	gtx_op(f, 1024, hport, VSOCK_OP_CREDIT_UPDATE, 0);
	while (got < 2000) {
		grx_expect(f, p, VSOCK_OP_RW);
		assert_memory_equal(p->data, data + got, p->h.len);
		got += p->h.len;
	}
	assert_false(grx(f, p, QUIET_MS));
	f->g_fwd_cnt = 2000;
	f->auto_consume = true;
	gtx_op(f, 1024, hport, VSOCK_OP_CREDIT_UPDATE, 0);
	while (got < 3000) {
		grx_expect(f, p, VSOCK_OP_RW);
		assert_memory_equal(p->data, data + got, p->h.len);
		got += p->h.len;
	}
	/* CREDIT_REQUEST is answered with our counters */
	gtx_op(f, 1024, hport, VSOCK_OP_CREDIT_REQUEST, 0);
	grx_expect(f, p, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(p->h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
	close(fd);
	free(p);
	fix_free(f);
}

static void test_no_rx_buffers_waits(void **state)
{
	struct fix *f = fix_new(0);
	struct pkt *p = malloc(sizeof(*p));
	int fd = uds_connect(f->uds);

	(void)state;
	write_all(fd, "CONNECT 1024\n", 13);
	/* no RX buffers: the REQUEST waits, nothing is lost */
	assert_false(grx(f, p, QUIET_MS));
	post_rx_buffers(f, 2);
	grx_expect(f, p, VSOCK_OP_REQUEST);
	/* buffers posted and nothing to say: they stay with the guest */
	assert_false(grx(f, p, QUIET_MS));
	close(fd);
	free(p);
	fix_free(f);
}

/* Guest -> host bulk while the host reads slowly: the device buffers up to
 * its advertised 256 KiB, sends CREDIT_UPDATEs, and loses nothing. */
static void test_guest_to_host_bulk(void **state)
{
	struct fix *f = fix_new(QNUM);
	struct pkt *p = malloc(sizeof(*p));
	static uint8_t chunk[32 * 1024], in[64 * 1024];
	const uint32_t total = 2u << 20;
	uint32_t sent = 0, host_fwd = 0, rcvd = 0, hport;
	uint64_t deadline;
	int fd;

	(void)state;
	fd = host_conn(f, &hport);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	deadline = now_ms() + 4 * DEADLINE_MS;
	while (rcvd < total) {
		uint32_t credit = VSOCK_CONN_BUF_ALLOC - (sent - host_fwd);
		ssize_t n;

		assert_true(now_ms() < deadline);
		if (sent < total && credit >= sizeof(chunk)) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = (uint8_t)((sent + i) % 251);
			gtx(f,
			    (struct vsock_hdr){.src_port = 1024,
					       .dst_port = hport,
					       .op = VSOCK_OP_RW,
					       .len = sizeof(chunk)},
			    chunk);
			sent += sizeof(chunk);
			continue;
		}
		/* out of credit (as the guest sees it): let the host read,
		 * then learn the new fwd_cnt */
		n = read(fd, in, sizeof(in));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(in[i],
						 (uint8_t)((rcvd + i) % 251));
			rcvd += (uint32_t)n;
		}
		while (grx(f, p, 0)) {
			assert_int_equal(p->h.op, VSOCK_OP_CREDIT_UPDATE);
			assert_true(p->h.fwd_cnt - host_fwd <= sent - host_fwd);
			host_fwd = p->h.fwd_cnt;
		}
	}
	assert_int_equal(rcvd, total);
	close(fd);
	free(p);
	fix_free(f);
}

/* Host -> guest bulk: credit respected (checked in grx), data intact. */
static void test_host_to_guest_bulk(void **state)
{
	struct fix *f = fix_new(QNUM);
	struct pkt *p = malloc(sizeof(*p));
	static uint8_t buf[48 * 1024];
	const uint32_t total = 2u << 20;
	uint32_t written = 0, got = 0, adv = 0, hport;
	uint64_t deadline;
	int fd;

	(void)state;
	fd = host_conn(f, &hport);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	deadline = now_ms() + 4 * DEADLINE_MS;
	while (got < total) {
		assert_true(now_ms() < deadline);
		if (written < total) {
			uint32_t len = total - written < sizeof(buf)
					       ? total - written
					       : sizeof(buf);
			ssize_t n;

			for (uint32_t i = 0; i < len; i++)
				buf[i] = (uint8_t)((written + i) % 253);
			n = write(fd, buf, len);
			if (n > 0)
				written += (uint32_t)n;
		}
		while (grx(f, p, 0)) {
			assert_int_equal(p->h.op, VSOCK_OP_RW);
			for (uint32_t i = 0; i < p->h.len; i++)
				assert_int_equal(p->data[i],
						 (uint8_t)((got + i) % 253));
			got += p->h.len;
		}
		/* the guest application consumed it: tell the device */
		if (f->g_fwd_cnt - adv >= 16 * 1024) {
			gtx_op(f, 1024, hport, VSOCK_OP_CREDIT_UPDATE, 0);
			adv = f->g_fwd_cnt;
		}
	}
	assert_int_equal(got, total);
	close(fd);
	free(p);
	fix_free(f);
}

static void test_device_reset_closes_host(void **state)
{
	struct fix *f = fix_new(8);
	struct pkt *p = malloc(sizeof(*p));
	uint32_t hport;
	int fd;

	(void)state;
	fd = host_conn(f, &hport);
	mmio_write(f->d, 0x070, 0); /* driver resets the device */
	expect_eof(fd);
	close(fd);
	/* a fresh driver gets a working device */
	driver_init(f, 8);
	fd = host_conn(f, &hport);
	write_all(fd, "again", 5);
	grx_expect(f, p, VSOCK_OP_RW);
	assert_memory_equal(p->data, "again", 5);
	close(fd);
	free(p);
	fix_free(f);
}

static void test_transport_reset(void **state)
{
	struct fix *f = fix_new(8);
	struct test_buf b = {EVBUF_BASE, 8, true};
	uint64_t deadline = now_ms() + DEADLINE_MS;
	uint32_t hport, id, len, ev;
	uint16_t used;
	int fd;

	(void)state;
	fd = host_conn(f, &hport);
	assert_int_equal(vsock_send_transport_reset(f->d), 0);
	expect_eof(fd);
	close(fd);
	/* no event buffer yet: it is delivered once there is one */
	memset(test_gpa(&f->vm.mem, EVBUF_BASE, 8), 0xff, 8);
	pthread_mutex_lock(&f->d->lock);
	test_ring_add(&f->rings[2], &b, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, VSOCK_QUEUE_EVENT);
	do {
		assert_true(now_ms() < deadline);
		pthread_mutex_lock(&f->d->lock);
		used = test_used_idx(&f->rings[2]);
		pthread_mutex_unlock(&f->d->lock);
	} while (used != 1);
	test_used_elem(&f->rings[2], 0, &id, &len);
	assert_int_equal(len, 4);
	memcpy(&ev, test_gpa(&f->vm.mem, EVBUF_BASE, 4), 4);
	assert_int_equal(ev, VSOCK_EVENT_TRANSPORT_RESET);
	/* the old connection is gone for the device too */
	{
		struct pkt *p = malloc(sizeof(*p));

		gtx_op(f, 1024, hport, VSOCK_OP_RW, 0);
		grx_expect(f, p, VSOCK_OP_RST);
		free(p);
	}
	fix_free(f);
}

/* Wait until the EVENT queue's used idx reaches want. */
static void wait_event_used(struct fix *f, uint16_t want)
{
	uint64_t deadline = now_ms() + DEADLINE_MS;
	uint16_t used;

	for (;;) {
		pthread_mutex_lock(&f->d->lock);
		used = test_used_idx(&f->rings[2]);
		pthread_mutex_unlock(&f->d->lock);
		if (used == want)
			return;
		assert_true(now_ms() < deadline);
		sched_yield();
	}
}

/*
 * Snapshot of a VM with an open connection, restored into a fresh device in
 * a fresh VM (RAM copied): the guest is told TRANSPORT_RESET, the old
 * connection is unknown (RST), and the restored VM's listener serves new
 * connections with fresh credit.  A corrupt CID is refused.
 */
static void test_snapshot_restore(void **state)
{
	struct fix *a = fix_new(8), *b = fix_new_bare();
	struct test_buf ev = {EVBUF_BASE, 8, true};
	struct pkt *p = malloc(sizeof(*p));
	struct snap_buf buf;
	struct snap_reader r;
	uint32_t hport, hport2, id, len, evid;
	char err[256];
	int fd, fd2;

	(void)state;
	fd = host_conn(a, &hport);
	write_all(fd, "before", 6);
	grx_expect(a, p, VSOCK_OP_RW);
	pthread_mutex_lock(&a->d->lock);
	test_ring_add(&a->rings[2], &ev, 1);
	pthread_mutex_unlock(&a->d->lock);

	/* "pause": nothing runs on a's device while it is saved and its
	 * RAM copied (the lock is the device's own) */
	snap_buf_init(&buf);
	assert_int_equal(virtio_mmio_save(a->d, &buf), 0);
	pthread_mutex_lock(&a->d->lock);
	memcpy(b->vm.mem.r[0].hva, a->vm.mem.r[0].hva, RAM_SIZE);
	for (int i = 0; i < 3; i++) {
		b->rings[i] = a->rings[i];
		b->rings[i].mem = &b->vm.mem;
	}
	b->rx_seen = a->rx_seen;
	b->tx_next = a->tx_next;
	pthread_mutex_unlock(&a->d->lock);

	/* a corrupt CID (the last 8 bytes) is refused, nothing changes */
	buf.data[buf.len - 8] = 2;
	memset(buf.data + buf.len - 7, 0, 7);
	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(b->d, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CID"));
	assert_int_equal(mmio_read(b->d, 0x070), 0);
	buf.data[buf.len - 8] = CID;

	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(virtio_mmio_restore(b->d, &r, err, sizeof(err)), 0);
	assert_true(virtio_dev_live(b->d));
	wait_event_used(b, 1);
	test_used_elem(&b->rings[2], 0, &id, &len);
	assert_int_equal(len, 4);
	pthread_mutex_lock(&b->d->lock);
	memcpy(&evid, test_gpa(&b->vm.mem, EVBUF_BASE, 4), 4);
	pthread_mutex_unlock(&b->d->lock);
	assert_int_equal(evid, VSOCK_EVENT_TRANSPORT_RESET);

	/* the old connection does not exist in the restored VM */
	gtx_op(b, 1024, hport, VSOCK_OP_RW, 0);
	grx_expect(b, p, VSOCK_OP_RST);
	/* the listener does, and a new connection starts from scratch */
	b->g_rx_total = b->g_fwd_cnt = b->g_adv_fwd = 0;
	fd2 = host_conn(b, &hport2);
	write_all(fd2, "after", 5);
	grx_expect(b, p, VSOCK_OP_RW);
	assert_memory_equal(p->data, "after", 5);
	assert_int_equal(p->h.fwd_cnt, 0);
	close(fd2);
	close(fd);
	snap_buf_free(&buf);
	free(p);
	fix_free(a);
	fix_free(b);
}

static void test_bad_tx_and_small_rx(void **state)
{
	struct fix *f = fix_new(0);
	struct test_buf small = {RXBUF_BASE, 20, true};
	uint64_t deadline;

	(void)state;
	pthread_mutex_lock(&f->d->lock);
	test_ring_add(&f->rings[0], &small, 1);
	pthread_mutex_unlock(&f->d->lock);
	mmio_write(f->d, 0x050, VSOCK_QUEUE_RX);
	/* misaddressed: consumed (gtx waits for that), never answered, so
	 * the (too small) RX buffer is not even looked at */
	gtx(f, (struct vsock_hdr){.src_cid = 99, .op = VSOCK_OP_REQUEST}, NULL);
	gtx(f, (struct vsock_hdr){.dst_cid = 1, .op = VSOCK_OP_REQUEST}, NULL);
	assert_false(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_lock(&f->d->lock);
	assert_int_equal(test_used_idx(&f->rings[0]), 0);
	pthread_mutex_unlock(&f->d->lock);
	/* unknown connection: an RST is due, and a buffer that cannot hold
	 * a header fails the device */
	gtx_op(f, 1, 2, VSOCK_OP_RW, 0);
	deadline = now_ms() + DEADLINE_MS;
	while (!(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET))
		assert_true(now_ms() < deadline);
	fix_free(f);
}

static void test_create_errors(void **state)
{
	struct vm vm;
	struct virtio_dev *d;
	char dir[] = "/tmp/kiln-vsock-XXXXXX", path[300];
	int fd;

	(void)state;
	test_vm_init(&vm, RAM_SIZE);
	vm.loop = evloop_new();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	assert_int_equal(vsock_create(&vm, 2, path, &d), -EINVAL);
	assert_int_equal(vsock_create(&vm, 0xffffffffULL, path, &d), -EINVAL);
	snprintf(path, sizeof(path), "%s/%0120d", dir, 0);
	assert_int_equal(vsock_create(&vm, CID, path, &d), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "%s/missing/v.sock", dir);
	assert_int_equal(vsock_create(&vm, CID, path, &d), -ENOENT);
	/* a regular file is not replaced */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(vsock_create(&vm, CID, path, &d), -EEXIST);
	unlink(path);
	/* a live socket is not stolen; a stale one is replaced */
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	fd = listen_at(path);
	assert_int_equal(vsock_create(&vm, CID, path, &d), -EADDRINUSE);
	close(fd); /* now stale: the file remains */
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(vsock_create(&vm, CID, path, &d), 0);
	vsock_destroy(d);
	rmdir(dir);
	evloop_free(vm.loop);
	test_vm_free(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_and_features),
		cmocka_unit_test(test_host_initiated),
		cmocka_unit_test(test_host_initiated_refused),
		cmocka_unit_test(test_host_client_leaves),
		cmocka_unit_test(test_handshake_rejects),
		cmocka_unit_test(test_bytes_after_connect_line),
		cmocka_unit_test(test_guest_initiated),
		cmocka_unit_test(test_credit_limits_host_data),
		cmocka_unit_test(test_no_rx_buffers_waits),
		cmocka_unit_test(test_guest_to_host_bulk),
		cmocka_unit_test(test_host_to_guest_bulk),
		cmocka_unit_test(test_device_reset_closes_host),
		cmocka_unit_test(test_transport_reset),
		cmocka_unit_test(test_snapshot_restore),
		cmocka_unit_test(test_bad_tx_and_small_rx),
		cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
