/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device glue: virtqueues <-> the connection state machine
 * (vsock_conn.c) <-> host Unix sockets (vsock_uds.c).
 *
 * RX: packets for the guest are not built ahead of time.  Connections with
 * something to say wait on the state machine's RX queue; when the guest has
 * an RX buffer we ask for the next packet and, for data, read the host
 * socket straight into the guest buffer.  A buffer is only popped when a
 * packet may be ready and is given back (virtq_unpop) if nothing was
 * written, so the guest's ring is never drained by empty completions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/snapshot.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"
#include "vsock.h"
#include "vsock_conn.h"
#include "vsock_uds.h"

/* Rounds of "reconcile host sockets, fill RX" per event. */
#define VSOCK_PROCESS_ROUNDS 4
/* Writes to one host socket per reconcile pass. */
#define VSOCK_WRITE_TRIES 8

/* Per connection slot: the host socket.  Also the event loop's opaque
 * pointer, so it lives as long as the device. */
struct vsock_host {
	struct vsock_dev *v;
	uint32_t idx;
	int fd; /* -1: none */
	uint32_t events; /* mask on the event loop */
	bool registered;
};

struct vsock_dev {
	struct virtio_dev vdev;
	struct vm *vm;
	uint64_t guest_cid;
	struct vsock_mux mux;
	struct vsock_host *hosts; /* mux.max_conns entries */
	struct vsock_uds *uds;
	char *uds_path;
	int kick_fd; /* eventfd: finish work on the loop thread */
	bool event_pending; /* TRANSPORT_RESET waits for an event buffer */
	unsigned int limit_logged;
	struct virtq_chain chain;
	struct iovec data_iov[VIRTQ_MAX_IOV];
	uint8_t pkt[VSOCK_HDR_SIZE + VSOCK_MAX_PKT_DATA];
};

static const struct virtio_dev_ops vsock_ops;

static struct vsock_dev *to_vsock(struct virtio_dev *d)
{
	return d->priv;
}

static void vsock_kick(struct vsock_dev *v)
{
	if (eventfd_write(v->kick_fd, 1) < 0)
		virtio_dev_warn(&v->vdev, "cannot wake the event loop: %s",
				strerror(errno));
}

/* --- host sockets --- */

static void vsock_host_event(void *opaque, uint32_t events);

static void host_close(struct vsock_dev *v, struct vsock_conn *c)
{
	struct vsock_host *h = &v->hosts[c->idx];

	if (h->fd >= 0) {
		if (h->registered)
			evloop_del(v->vm->loop, h->fd);
		close(h->fd);
	}
	h->fd = -1;
	h->registered = false;
	h->events = 0;
	vsock_mux_host_closed(&v->mux, c);
}

/* Put a fresh host socket on the loop.  Mask 0 still reports hang-ups. */
static int host_register(struct vsock_dev *v, struct vsock_conn *c, int fd)
{
	struct vsock_host *h = &v->hosts[c->idx];
	int err;

	h->fd = fd;
	h->events = 0;
	err = evloop_add(v->vm->loop, fd, 0, vsock_host_event, h);
	h->registered = err == 0;
	return err;
}

static void host_connect(struct vsock_dev *v, struct vsock_conn *c)
{
	int fd = vsock_uds_connect_port(v->uds_path, c->local_port);

	if (fd < 0) {
		/* Nobody listens on <uds>_<port>: the guest gets RST. */
		vsock_mux_host_error(&v->mux, c);
		return;
	}
	vsock_mux_host_attached(&v->mux, c);
	if (host_register(v, c, fd) < 0) {
		host_close(v, c);
		return;
	}
	vsock_mux_host_connected(&v->mux, c);
}

static void host_write(struct vsock_dev *v, struct vsock_conn *c)
{
	struct vsock_host *h = &v->hosts[c->idx];

	for (int i = 0; i < VSOCK_WRITE_TRIES; i++) {
		struct iovec iov[3];
		struct msghdr msg = {.msg_iov = iov};
		ssize_t n;

		msg.msg_iovlen = (size_t)vsock_conn_host_out(c, iov);
		if (msg.msg_iovlen == 0)
			return;
		n = sendmsg(h->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			vsock_mux_host_wrote(&v->mux, c, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* EPOLLOUT below */
		vsock_mux_host_error(&v->mux, c); /* EPIPE: peer gone */
		return;
	}
}

/* Bring c's host socket in line with what the state machine wants. */
static void host_sync(struct vsock_dev *v, struct vsock_conn *c)
{
	struct vsock_host *h = &v->hosts[c->idx];
	struct iovec iov[3];
	uint32_t shut, events;

	if (c->state == VSOCK_CONN_FREE)
		return;
	if (vsock_conn_host_want_connect(c))
		host_connect(v, c);
	if (vsock_conn_host_close(c)) {
		host_close(v, c);
		return;
	}
	if (h->fd < 0)
		return;
	host_write(v, c);
	shut = vsock_conn_host_want_shut(c);
	if (shut) {
		/* Errors (ENOTCONN: the peer is gone) surface on I/O later. */
		if (shut & VSOCK_SHUTDOWN_SEND)
			shutdown(h->fd, SHUT_WR);
		if (shut & VSOCK_SHUTDOWN_RCV)
			shutdown(h->fd, SHUT_RD);
		vsock_mux_host_shut(&v->mux, c, shut);
	}
	if (vsock_conn_host_close(c)) {
		host_close(v, c);
		return;
	}
	if (!h->registered)
		return; /* hung up: nothing more to learn from epoll */
	events = vsock_conn_host_want_read(c) ? EPOLLIN : 0;
	if (vsock_conn_host_out(c, iov) > 0)
		events |= EPOLLOUT;
	if (events != h->events && evloop_mod(v->vm->loop, h->fd, events) == 0)
		h->events = events;
}

/* Reconcile every dirty connection; false if work was left over. */
static bool vsock_sync(struct vsock_dev *v)
{
	/* host_sync can re-dirty the connection it works on; it settles
	 * on the second visit, so this bound is never reached normally. */
	for (uint32_t n = 0; n < 4 * v->mux.max_conns + 4; n++) {
		struct vsock_conn *c = vsock_mux_next_dirty(&v->mux);

		if (!c)
			return true;
		host_sync(v, c);
	}
	return false;
}

/* --- RX: packets for the guest --- */

/* The chain's writable bytes [off, off + len) as iovecs in v->data_iov. */
static int chain_in_iov(struct vsock_dev *v, const struct virtq_chain *ch,
			size_t off, size_t len)
{
	int n = 0;

	for (int i = ch->nout; i < ch->nout + ch->nin && len; i++) {
		const struct iovec *s = &ch->iov[i];
		size_t take;

		if (off >= s->iov_len) {
			off -= s->iov_len;
			continue;
		}
		take = s->iov_len - off;
		if (take > len)
			take = len;
		v->data_iov[n].iov_base = (uint8_t *)s->iov_base + off;
		v->data_iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

static size_t rx_put_hdr(struct virtq_chain *ch, const struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];

	vsock_hdr_encode(h, raw);
	return virtq_chain_write(ch, 0, raw, sizeof(raw));
}

/* Read up to max bytes of c's host socket into the chain after the header. */
static size_t rx_data(struct vsock_dev *v, struct virtq_chain *ch,
		      struct vsock_conn *c, uint32_t max)
{
	struct vsock_host *h = &v->hosts[c->idx];
	struct vsock_hdr hdr;
	ssize_t n;
	int niov;

	if (h->fd < 0) {
		vsock_mux_host_error(&v->mux, c);
		return 0;
	}
	niov = chain_in_iov(v, ch, VSOCK_HDR_SIZE, max);
	do {
		n = readv(h->fd, v->data_iov, niov);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		vsock_mux_rx_data(&v->mux, c, (uint32_t)n, &hdr);
		rx_put_hdr(ch, &hdr);
		return VSOCK_HDR_SIZE + (size_t)n;
	}
	if (n == 0)
		vsock_mux_host_eof(&v->mux, c);
	else if (errno == EAGAIN)
		vsock_mux_host_drained(&v->mux, c);
	else
		vsock_mux_host_error(&v->mux, c);
	return 0;
}

/* Fill one RX chain; returns the bytes written (0: nothing to send). */
static size_t rx_build(struct vsock_dev *v, struct virtq_chain *ch)
{
	uint64_t room = ch->in_len - VSOCK_HDR_SIZE;

	/* Each step sends, or retires a connection from the RX queue, or
	 * changes its state (EOF, EAGAIN, error): bounded by the table. */
	for (uint32_t n = 0; n < 2 * v->mux.max_conns + 8; n++) {
		struct vsock_conn *c;
		struct vsock_hdr h;
		uint32_t max;
		size_t done;

		switch (vsock_mux_rx_next(&v->mux, &h, &c, &max)) {
		case VSOCK_RX_NONE:
			return 0;
		case VSOCK_RX_CTRL:
			return rx_put_hdr(ch, &h);
		case VSOCK_RX_DATA:
			if (room == 0) {
				vsock_mux_rx_skip(&v->mux, c);
				break;
			}
			if (max > room)
				max = (uint32_t)room;
			done = rx_data(v, ch, c, max);
			if (done)
				return done;
			break;
		}
	}
	return 0;
}

static void vsock_rx_fill(struct vsock_dev *v)
{
	struct virtio_dev *d = &v->vdev;
	struct virtq *q = &d->vqs[VSOCK_QUEUE_RX];
	unsigned int pushed = 0, budget;

	if (!virtio_dev_live(d) || !q->ready)
		return;
	for (budget = q->num; budget; budget--) {
		size_t n;
		int rc;

		/* Pop only when something may be sent. */
		if (!vsock_mux_rx_pending(&v->mux))
			break;
		rc = virtq_pop(q, &v->chain);
		if (rc < 0) {
			virtio_dev_fail(d, "RX queue: %s", q->error);
			break;
		}
		if (rc == 0)
			break; /* the guest kicks RX when it adds buffers */
		if (v->chain.in_len < VSOCK_HDR_SIZE) {
			virtio_dev_fail(d,
					"RX buffer of %llu bytes cannot hold "
					"a %d-byte packet header",
					(unsigned long long)v->chain.in_len,
					VSOCK_HDR_SIZE);
			break;
		}
		n = rx_build(v, &v->chain);
		if (n == 0) {
			virtq_unpop(q);
			break;
		}
		virtq_push(q, &v->chain, (uint32_t)n);
		pushed++;
	}
	if (pushed)
		virtio_signal_used(d, VSOCK_QUEUE_RX);
	if (budget == 0 && vsock_mux_rx_pending(&v->mux))
		virtio_queue_defer(d, VSOCK_QUEUE_RX);
}

/* After any event: close/connect/write host sockets, then feed the guest
 * (which may in turn change host sockets: EOF, errors, RSTs sent). */
static void vsock_process(struct vsock_dev *v)
{
	bool settled = false;

	for (int i = 0; i < VSOCK_PROCESS_ROUNDS && !settled; i++) {
		settled = vsock_sync(v);
		vsock_rx_fill(v);
		settled = settled && v->mux.ndirty == 0;
	}
	if (!settled)
		vsock_kick(v); /* finish after other events */
}

/* --- TX and EVENT queues --- */

static void vsock_tx(struct vsock_dev *v)
{
	struct virtio_dev *d = &v->vdev;
	struct virtq *q = &d->vqs[VSOCK_QUEUE_TX];
	unsigned int pushed = 0, budget;

	for (budget = q->num; budget; budget--) {
		enum vsock_verdict verdict;
		size_t len;
		int rc = virtq_pop(q, &v->chain);

		if (rc < 0) {
			virtio_dev_fail(d, "TX queue: %s", q->error);
			break;
		}
		if (rc == 0)
			break;
		len = v->chain.out_len < sizeof(v->pkt) ? v->chain.out_len
							: sizeof(v->pkt);
		len = virtq_chain_read(&v->chain, 0, v->pkt, len);
		verdict = vsock_mux_guest_pkt(&v->mux, v->pkt, len);
		if (verdict == VSOCK_PKT_DROPPED)
			virtio_dev_warn(d,
					"dropped a malformed or misaddressed "
					"TX packet (%zu bytes)",
					len);
		virtq_push(q, &v->chain, 0);
		pushed++;
	}
	if (pushed)
		virtio_signal_used(d, VSOCK_QUEUE_TX);
	if (budget == 0)
		virtio_queue_defer(d, VSOCK_QUEUE_TX);
}

static void vsock_event_deliver(struct vsock_dev *v)
{
	struct virtio_dev *d = &v->vdev;
	struct virtq *q = &d->vqs[VSOCK_QUEUE_EVENT];
	uint8_t ev[4] = {VSOCK_EVENT_TRANSPORT_RESET, 0, 0, 0};
	int rc;

	if (!v->event_pending || !virtio_dev_live(d) || !q->ready)
		return;
	rc = virtq_pop(q, &v->chain);
	if (rc < 0) {
		virtio_dev_fail(d, "EVENT queue: %s", q->error);
		return;
	}
	if (rc == 0)
		return; /* delivered when the driver adds a buffer */
	if (v->chain.in_len < sizeof(ev)) {
		virtio_dev_fail(d, "EVENT buffer of %llu bytes is too small",
				(unsigned long long)v->chain.in_len);
		return;
	}
	virtq_chain_write(&v->chain, 0, ev, sizeof(ev));
	virtq_push(q, &v->chain, sizeof(ev));
	v->event_pending = false;
	virtio_signal_used(d, VSOCK_QUEUE_EVENT);
}

/* --- event loop callbacks (take d->lock) --- */

static void vsock_host_event(void *opaque, uint32_t events)
{
	struct vsock_host *h = opaque;
	struct vsock_dev *v = h->v;
	struct vsock_conn *c = &v->mux.conns[h->idx];

	pthread_mutex_lock(&v->vdev.lock);
	if (h->fd < 0 || !h->registered)
		goto out; /* stale: the socket went away meanwhile */
	if (events & EPOLLERR) {
		vsock_mux_host_error(&v->mux, c);
	} else if (events & EPOLLHUP) {
		/* Both directions are shut: what is left can be read without
		 * waiting, writes fail at once, and HUP would fire forever. */
		evloop_del(v->vm->loop, h->fd);
		h->registered = false;
		if (c->state == VSOCK_CONN_ESTABLISHED)
			vsock_mux_host_readable(&v->mux, c);
		else
			vsock_mux_host_error(&v->mux, c);
	} else if (events & EPOLLIN) {
		vsock_mux_host_readable(&v->mux, c);
	}
	/* EPOLLOUT: host_sync retries the write and recomputes the mask. */
	host_sync(v, c);
	vsock_process(v);
out:
	pthread_mutex_unlock(&v->vdev.lock);
}

static void vsock_kick_event(void *opaque, uint32_t events)
{
	struct vsock_dev *v = opaque;
	eventfd_t count;

	(void)events;
	(void)eventfd_read(v->kick_fd, &count);
	pthread_mutex_lock(&v->vdev.lock);
	vsock_process(v);
	vsock_event_deliver(v);
	pthread_mutex_unlock(&v->vdev.lock);
}

/* A host client sent "CONNECT <port>\n": ask the guest. */
static void vsock_uds_connect(void *opaque, int fd, uint32_t port)
{
	struct vsock_dev *v = opaque;
	struct vsock_conn *c;

	pthread_mutex_lock(&v->vdev.lock);
	c = vsock_mux_host_connect(&v->mux, port);
	if (!c) {
		if (v->limit_logged++ < 8)
			fprintf(stderr,
				"kiln-vmm: %s: %u connections open; refusing "
				"a host connection to port %u\n",
				v->vdev.name, v->mux.max_conns, port);
		close(fd);
		goto out;
	}
	if (host_register(v, c, fd) < 0)
		host_close(v, c); /* the REQUEST was not sent: just dropped */
	vsock_process(v);
out:
	pthread_mutex_unlock(&v->vdev.lock);
}

/* --- virtio ops (called with d->lock held) --- */

static void vsock_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data,
			      uint32_t len)
{
	struct vsock_dev *v = to_vsock(d);
	uint8_t cfg[8];

	for (int i = 0; i < 8; i++)
		cfg[i] = (uint8_t)(v->guest_cid >> (8 * i));
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < sizeof(cfg) ? cfg[off + i] : 0;
}

static void vsock_config_write(struct virtio_dev *d, uint32_t off,
			       const uint8_t *data, uint32_t len)
{
	(void)data;
	virtio_dev_warn(d,
			"write of %u bytes to read-only config at %u; "
			"ignored",
			len, off);
}

static int vsock_activate(struct virtio_dev *d)
{
	/* Host connections may have queued REQUESTs before the driver was
	 * ready: let the loop thread deliver them. */
	vsock_kick(to_vsock(d));
	return 0;
}

static void vsock_reset(struct virtio_dev *d)
{
	struct vsock_dev *v = to_vsock(d);

	/* The driver forgot everything: so do we.  Sockets are closed on
	 * the loop thread (this may be a vCPU thread). */
	vsock_mux_reset(&v->mux);
	v->event_pending = false;
	vsock_kick(v);
}

static void vsock_queue_notify(struct virtio_dev *d, uint16_t q)
{
	struct vsock_dev *v = to_vsock(d);

	switch (q) {
	case VSOCK_QUEUE_TX:
		vsock_tx(v);
		vsock_process(v);
		break;
	case VSOCK_QUEUE_RX:
		vsock_process(v);
		break;
	case VSOCK_QUEUE_EVENT:
		vsock_event_deliver(v);
		break;
	default:
		break;
	}
}

/*
 * Snapshots keep no connection: host sockets cannot be saved, so every
 * connection (and its credit state) dies with the snapshot and the guest is
 * told with TRANSPORT_RESET.  Listeners live on: guest ones are guest
 * memory, the host one is the UDS path the restored VM was configured with.
 * The guest CID is saved to notice a change, which is allowed: the guest
 * re-reads the config space when it gets the reset.
 */
static void vsock_save(struct virtio_dev *d, struct snap_buf *b)
{
	snap_put_u64(b, to_vsock(d)->guest_cid);
}

static int vsock_restore(struct virtio_dev *d, struct snap_reader *r, char *err,
			 size_t errlen)
{
	struct vsock_dev *v = to_vsock(d);
	uint64_t cid = snap_get_u64(r);

	if (r->bad || cid < 3 || cid >= UINT32_MAX) {
		snprintf(err, errlen,
			 "vsock: snapshot guest CID is missing or out of "
			 "range; the snapshot is corrupt");
		return -1;
	}
	if (cid != v->guest_cid)
		fprintf(stderr,
			"kiln-vmm: vsock: guest CID changes from %llu to %llu "
			"with this restore; the guest re-reads it on the "
			"transport reset\n",
			(unsigned long long)cid,
			(unsigned long long)v->guest_cid);
	/* Delivered from the event loop once the VM is fully restored (the
	 * EVENT queue may even be empty until the guest runs). */
	vsock_mux_reset(&v->mux);
	v->event_pending = true;
	vsock_kick(v);
	return 0;
}

static const struct virtio_dev_ops vsock_ops = {
	.config_read = vsock_config_read,
	.config_write = vsock_config_write,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.save = vsock_save,
	.restore = vsock_restore,
};

/* --- lifetime --- */

static void vsock_free(struct vsock_dev *v)
{
	if (v->uds)
		vsock_uds_close(v->uds);
	for (uint32_t i = 0; v->hosts && i < v->mux.max_conns; i++) {
		struct vsock_host *h = &v->hosts[i];

		if (h->fd < 0)
			continue;
		if (h->registered)
			evloop_del(v->vm->loop, h->fd);
		close(h->fd);
	}
	if (v->kick_fd >= 0) {
		evloop_del(v->vm->loop, v->kick_fd);
		close(v->kick_fd);
	}
	vsock_mux_free(&v->mux);
	free(v->hosts);
	free(v->uds_path);
	free(v);
}

int vsock_create(struct vm *vm, uint64_t guest_cid, const char *uds_path,
		 struct virtio_dev **out)
{
	struct vsock_dev *v;
	int err;

	if (guest_cid < 3 || guest_cid >= UINT32_MAX) {
		fprintf(stderr,
			"kiln-vmm: vsock: guest CID %llu is reserved or out "
			"of range; use a value in [3, %u]\n",
			(unsigned long long)guest_cid, UINT32_MAX - 1);
		return -EINVAL;
	}
	if (!vm->loop) {
		fprintf(stderr, "kiln-vmm: vsock: needs the event loop\n");
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->guest_cid = guest_cid;
	v->kick_fd = -1;
	err = vsock_mux_init(&v->mux, guest_cid, VSOCK_MAX_CONNS);
	if (err)
		goto fail;
	v->hosts = calloc(v->mux.max_conns, sizeof(*v->hosts));
	v->uds_path = strdup(uds_path);
	if (!v->hosts || !v->uds_path) {
		err = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < v->mux.max_conns; i++) {
		v->hosts[i].v = v;
		v->hosts[i].idx = i;
		v->hosts[i].fd = -1;
	}
	v->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	err = v->kick_fd < 0 ? -errno
			     : evloop_add(vm->loop, v->kick_fd, EPOLLIN,
					  vsock_kick_event, v);
	if (err) {
		fprintf(stderr,
			"kiln-vmm: vsock: cannot set up its event: %s\n",
			strerror(-err));
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		v->kick_fd = -1;
		goto fail;
	}
	err = vsock_uds_open(&v->uds, uds_path, vm->loop, vsock_uds_connect, v);
	if (err)
		goto fail;

	v->vdev.name = "vsock";
	v->vdev.device_id = VIRTIO_ID_VSOCK;
	v->vdev.host_features = 0; /* stream only; no SEQPACKET */
	v->vdev.nqueues = 3;
	for (int i = 0; i < 3; i++)
		v->vdev.queue_max[i] = VSOCK_QUEUE_MAX;
	v->vdev.ops = &vsock_ops;
	v->vdev.priv = v;
	err = virtio_mmio_attach(vm, &v->vdev);
	if (err)
		goto fail;
	*out = &v->vdev;
	return 0;
fail:
	/* uds and attach failures were logged where they happened */
	if (err == -ENOMEM)
		fprintf(stderr, "kiln-vmm: vsock: out of memory\n");
	vsock_free(v);
	return err;
}

void vsock_destroy(struct virtio_dev *d)
{
	struct vsock_dev *v;

	if (!d || d->ops != &vsock_ops)
		return;
	v = to_vsock(d);
	virtio_mmio_detach(d);
	vsock_free(v);
}

int vsock_send_transport_reset(struct virtio_dev *d)
{
	struct vsock_dev *v;

	if (!d || d->ops != &vsock_ops)
		return -EINVAL;
	v = to_vsock(d);
	pthread_mutex_lock(&d->lock);
	vsock_mux_reset(&v->mux);
	v->event_pending = true;
	vsock_event_deliver(v);
	vsock_kick(v); /* the loop thread closes the host sockets */
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void vsock_set_handshake_timeout(struct virtio_dev *d, unsigned int ms)
{
	if (d && d->ops == &vsock_ops)
		vsock_uds_set_timeout(to_vsock(d)->uds, ms);
}
