/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.1 section 5.1) over a TAP or a SEQPACKET socket.
 *
 * TX: one chain is one frame, header included; it goes to the backend with
 * one writev straight from guest memory.  EAGAIN gives the chain back to
 * the ring (virtq_unpop) and waits for EPOLLOUT, so nothing is consumed
 * that was not sent.  A malformed frame (too short for a header and an
 * Ethernet header, over 64 KiB, offloads the driver did not negotiate) is
 * dropped with a rate-limited warning and its chain completed: like a NIC
 * dropping a bad frame, and like Firecracker; failing the whole device for
 * one packet would take the guest's network down for a driver bug that
 * only hurts that packet.  A broken ring still fails the device.
 *
 * RX (net_rx.c): a frame is read straight into the guest's buffers.  Without
 * MRG_RXBUF one chain takes one frame.  With it, chains are popped until
 * they can hold the largest frame (NET_MAX_FRAME), the TAP is read with
 * all their iovecs at once, the chains the frame filled are completed
 * (num_buffers in the first one's header) and the rest go back to the ring
 * (virtq_unpop) before the lock is dropped: no chain stays popped and no
 * frame is held in the VMM between events, which is what makes the device
 * snapshot-safe with no state of its own.  When the guest has no room, the
 * TAP is not read and not even polled (EPOLLIN off) until the driver kicks
 * RX, so frames wait in the kernel's queue instead of being dropped here.
 *
 * Disconnected (no backend, `--net none`): the device exists so that a
 * snapshot has it and a restore can connect it (`--net-override ID=TAP`),
 * like a NIC with its cable pulled: TX chains are validated as above and
 * then completed unsent, RX buffers are never used, and the link status
 * says down.  It offers the same features as a TAP that takes offloads, so
 * the snapshot's offered features match the connected device's.  When a
 * restore changes the link state the guest last saw, a config interrupt
 * tells its driver (Linux then turns the carrier on or off).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/dev/net.h"
#include "vmm/dev/net_priv.h"
#include "vmm/dev/tap.h"
#include "vmm/evloop.h"
#include "vmm/snapshot.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"

/* Version of the device state in snapshots (2: the link state the guest
 * was shown; 1, without it, was always up). */
#define NET_SNAP_VERSION 2

#define BIT(f) (1ULL << (f))

static const struct virtio_dev_ops net_ops;

static struct net *to_net(struct virtio_dev *d)
{
	return d->priv;
}

/* --- event loop registration --- */

static void net_update_events(struct net *n)
{
	struct virtio_dev *d = &n->dev;
	bool live = virtio_dev_live(d);
	uint32_t want = 0;

	if (!n->registered)
		return;
	if (live && d->vqs[NET_QUEUE_RX].ready && !n->rx_stalled)
		want |= EPOLLIN;
	if (live && d->vqs[NET_QUEUE_TX].ready && n->tx_blocked)
		want |= EPOLLOUT;
	if (want == n->events)
		return;
	if (evloop_mod(n->vm->loop, n->fd, want) == 0)
		n->events = want;
	else
		virtio_dev_warn(d, "cannot change the backend's poll mask");
}

/* The backend hung up or failed: stop polling it (it would fire forever). */
void net_backend_lost(struct net *n, const char *why)
{
	if (!n->registered)
		return;
	evloop_del(n->vm->loop, n->fd);
	n->registered = false;
	n->events = 0;
	fprintf(stderr,
		"kiln-vmm: %s: backend %s; the guest's network is down until "
		"the VM is restarted\n",
		n->name, why);
}

/* --- TX --- */

/* Why the frame's header is unacceptable, or NULL. */
static const char *net_tx_hdr_check(const struct virtio_dev *d,
				    const uint8_t *h)
{
	uint64_t f = d->guest_features;
	uint8_t gso = h[1] & ~NET_HDR_GSO_ECN;

	if ((h[0] & NET_HDR_F_NEEDS_CSUM) && !(f & BIT(VIRTIO_NET_F_CSUM)))
		return "asks for checksum offload (CSUM not negotiated)";
	if (gso == NET_HDR_GSO_NONE)
		return (h[1] & NET_HDR_GSO_ECN) ? "ECN bit without GSO" : NULL;
	if (gso == NET_HDR_GSO_TCPV4 && !(f & BIT(VIRTIO_NET_F_HOST_TSO4)))
		return "TSO4 frame (HOST_TSO4 not negotiated)";
	if (gso == NET_HDR_GSO_TCPV6 && !(f & BIT(VIRTIO_NET_F_HOST_TSO6)))
		return "TSO6 frame (HOST_TSO6 not negotiated)";
	if (gso != NET_HDR_GSO_TCPV4 && gso != NET_HDR_GSO_TCPV6)
		return "unsupported GSO type";
	if ((h[1] & NET_HDR_GSO_ECN) && !(f & BIT(VIRTIO_NET_F_HOST_ECN)))
		return "ECN GSO frame (HOST_ECN not negotiated)";
	return NULL;
}

/* Send one chain.  Returns 1 sent or dropped (complete it), 0 EAGAIN. */
static int net_tx_one(struct net *n, const struct virtq_chain *c)
{
	struct virtio_dev *d = &n->dev;
	uint8_t h[NET_HDR_LEN];
	const char *bad = NULL;
	ssize_t r;

	if (c->nin)
		bad = "has device-writable buffers";
	else if (c->out_len < NET_MIN_TX_FRAME)
		bad = "is shorter than a header and an Ethernet header";
	else if (c->out_len > NET_MAX_FRAME)
		bad = "is longer than 64 KiB plus headers";
	if (!bad) {
		/* Advisory: the guest may change it after this look, and
		 * the TAP validates the header itself anyway. */
		virtq_chain_read(c, 0, h, sizeof(h));
		bad = net_tx_hdr_check(d, h);
	}
	if (bad) {
		virtio_dev_warn(d, "TX frame of %llu bytes %s; dropped",
				(unsigned long long)c->out_len, bad);
		return 1;
	}
	if (!n->connected)
		return 1; /* no cable: gone, as on a real NIC, and not logged */
	if (!n->registered) {
		virtio_dev_warn(d, "TX frame dropped: the backend is gone");
		return 1;
	}
	r = tap_write_frame(n->fd, n->is_tap, c->iov, c->nout);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		virtio_dev_warn(d, "TX frame of %llu bytes dropped: %s",
				(unsigned long long)c->out_len,
				strerror((int)-r));
	return 1;
}

static void net_tx(struct net *n)
{
	struct virtio_dev *d = &n->dev;
	struct virtq *q = &d->vqs[NET_QUEUE_TX];
	unsigned int done = 0;
	bool more = true;

	if (!virtio_dev_live(d) || !q->ready)
		return;
	n->tx_blocked = false;
	while (done < NET_BUDGET) {
		int r = virtq_pop(q, &n->chain);

		if (r < 0) {
			virtio_dev_fail(d, "TX queue: %s", q->error);
			return;
		}
		if (r == 0) {
			more = false;
			break;
		}
		if (net_tx_one(n, &n->chain) == 0) {
			/* Not consumed: sent again once writable. */
			virtq_unpop(q);
			n->tx_blocked = true;
			more = false;
			break;
		}
		virtq_push(q, &n->chain, 0);
		done++;
	}
	if (done)
		virtio_signal_used(d, NET_QUEUE_TX);
	if (more)
		virtio_queue_defer(d, NET_QUEUE_TX);
}

/* --- event loop --- */

static void net_fd_event(void *opaque, uint32_t events)
{
	struct net *n = opaque;
	struct virtio_dev *d = &n->dev;

	pthread_mutex_lock(&d->lock);
	if (!n->registered)
		goto out; /* stale: the backend went away meanwhile */
	if (events & EPOLLOUT)
		net_tx(n);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		net_rx(n);
	if (events & EPOLLERR)
		net_backend_lost(n, "reported an error");
	else if (events & EPOLLHUP)
		net_backend_lost(n, "hung up");
	net_update_events(n);
out:
	pthread_mutex_unlock(&d->lock);
}

/* --- virtio ops (d->lock held) --- */

static void net_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data,
			    uint32_t len)
{
	struct net *n = to_net(d);
	uint8_t cfg[8] = {0};

	if (n->has_mac)
		memcpy(cfg, n->mac, 6);
	cfg[6] = n->connected ? VIRTIO_NET_S_LINK_UP : 0;
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < sizeof(cfg) ? cfg[off + i] : 0;
}

static void net_config_write(struct virtio_dev *d, uint32_t off,
			     const uint8_t *data, uint32_t len)
{
	(void)data;
	virtio_dev_warn(d,
			"write of %u bytes to read-only config at %u; "
			"ignored",
			len, off);
}

/* A feature the driver took without the one it depends on (5.1.3.1). */
static const char *net_feature_gap(uint64_t f)
{
	static const struct {
		int feature, needs1, needs2;
		const char *what;
	} deps[] = {
		{VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_CSUM, -1,
		 "GUEST_TSO4 without GUEST_CSUM"},
		{VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_CSUM, -1,
		 "GUEST_TSO6 without GUEST_CSUM"},
		{VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_TSO4,
		 VIRTIO_NET_F_GUEST_TSO6, "GUEST_ECN without GUEST_TSO4/6"},
		{VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_CSUM, -1,
		 "HOST_TSO4 without CSUM"},
		{VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_CSUM, -1,
		 "HOST_TSO6 without CSUM"},
		{VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_HOST_TSO4,
		 VIRTIO_NET_F_HOST_TSO6, "HOST_ECN without HOST_TSO4/6"},
	};

	for (size_t i = 0; i < sizeof(deps) / sizeof(deps[0]); i++) {
		if (!(f & BIT(deps[i].feature)))
			continue;
		if (f & BIT(deps[i].needs1))
			continue;
		if (deps[i].needs2 >= 0 && (f & BIT(deps[i].needs2)))
			continue;
		return deps[i].what;
	}
	return NULL;
}

static int net_activate(struct virtio_dev *d)
{
	struct net *n = to_net(d);
	uint64_t f = d->guest_features;
	const char *gap = net_feature_gap(f);
	unsigned int off = 0;

	if (gap) {
		virtio_dev_warn(d, "driver accepted %s", gap);
		return -EINVAL;
	}
	n->mrg = f & BIT(VIRTIO_NET_F_MRG_RXBUF);
	n->guest_csum = f & BIT(VIRTIO_NET_F_GUEST_CSUM);
	n->guest_tso4 = f & BIT(VIRTIO_NET_F_GUEST_TSO4);
	n->guest_tso6 = f & BIT(VIRTIO_NET_F_GUEST_TSO6);
	n->guest_ecn = f & BIT(VIRTIO_NET_F_GUEST_ECN);
	/* With TSO the guest promised room for 64 KiB frames. */
	n->rx_min =
		n->guest_tso4 || n->guest_tso6 ? NET_MAX_FRAME : NET_STD_FRAME;
	if (n->guest_csum)
		off |= TAP_OFFLOAD_CSUM;
	if (n->guest_tso4)
		off |= TAP_OFFLOAD_TSO4;
	if (n->guest_tso6)
		off |= TAP_OFFLOAD_TSO6;
	if (n->guest_ecn)
		off |= TAP_OFFLOAD_TSO_ECN;
	if (n->is_tap) {
		int err = tap_set_offload(n->fd, off);

		if (err) {
			virtio_dev_warn(d, "TUNSETOFFLOAD 0x%x: %s", off,
					strerror(-err));
			return err;
		}
	}
	n->rx_stalled = false;
	n->tx_blocked = false;
	net_update_events(n);
	return 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct net *n = to_net(d);

	/* Stop polling: frames wait in the TAP until a driver is back. */
	n->rx_stalled = true;
	n->tx_blocked = false;
	if (n->registered && n->events &&
	    evloop_mod(n->vm->loop, n->fd, 0) == 0)
		n->events = 0;
}

static void net_queue_notify(struct virtio_dev *d, uint16_t q)
{
	struct net *n = to_net(d);

	if (q == NET_QUEUE_TX) {
		net_tx(n);
	} else if (q == NET_QUEUE_RX) {
		/* New buffers: read what waited, then poll again. */
		n->rx_stalled = false;
		net_rx(n);
	}
	net_update_events(n);
}

/*
 * Snapshots: no frame or chain is ever held between events, so the device
 * state is only what identifies it.  The MAC is saved to notice a change:
 * allowed, but the guest keeps the address it read at boot.  The link state
 * is saved to tell the guest when a restore connected or disconnected it.
 */
static void net_save(struct virtio_dev *d, struct snap_buf *b)
{
	struct net *n = to_net(d);

	snap_put_u32(b, NET_SNAP_VERSION);
	snap_put_u8(b, n->has_mac);
	snap_put(b, n->mac, sizeof(n->mac));
	snap_put_u8(b, n->connected);
}

static int net_restore(struct virtio_dev *d, struct snap_reader *r, char *err,
		       size_t errlen)
{
	struct net *n = to_net(d);
	uint32_t version = snap_get_u32(r);
	uint8_t has_mac = snap_get_u8(r), mac[6], link_up = 1;

	snap_get(r, mac, sizeof(mac));
	if (version == NET_SNAP_VERSION)
		link_up = snap_get_u8(r);
	if (r->bad || (version != 1 && version != NET_SNAP_VERSION) ||
	    has_mac > 1 || link_up > 1) {
		snprintf(err, errlen,
			 "net: device state is truncated or of unknown "
			 "version %u (expected %u); the snapshot is corrupt "
			 "or from another kiln-vmm",
			 version, NET_SNAP_VERSION);
		return -1;
	}
	if (has_mac != n->has_mac ||
	    (has_mac && memcmp(mac, n->mac, sizeof(mac))))
		fprintf(stderr,
			"kiln-vmm: %s: guest MAC differs from the snapshot's; "
			"the guest keeps using the address it read at boot\n",
			n->name);
	/* The link changed under the driver: a config interrupt makes it
	 * read the status again.  virtio_mmio_restore raises the pending
	 * ISR once this returns. */
	if (link_up != n->connected && virtio_dev_live(d) &&
	    (d->guest_features & BIT(VIRTIO_NET_F_STATUS))) {
		d->config_generation++;
		d->isr |= VIRTIO_INT_CONFIG;
	}
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.save = net_save,
	.restore = net_restore,
};

/* --- lifetime --- */

int net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6];
	int end = -1;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &end) != 6 ||
	    end != 17 || s[end] != '\0')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		/* %2x takes "+1" and " 1": insist on two hex digits. */
		for (int j = 0; j < 2; j++) {
			char ch = s[3 * i + j];

			if (!((ch >= '0' && ch <= '9') ||
			      (ch >= 'a' && ch <= 'f') ||
			      (ch >= 'A' && ch <= 'F')))
				return -EINVAL;
		}
		mac[i] = (uint8_t)v[i];
	}
	if ((mac[0] & 1) ||
	    !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

static void net_free(struct net *n)
{
	if (n->registered)
		evloop_del(n->vm->loop, n->fd);
	if (n->fd >= 0)
		close(n->fd);
	free(n);
}

/* Attach the backend fd (>= 0) to n and the event loop.  Returns 0 or
 * -errno (logged); fd then belongs to n either way. */
static int net_connect(struct net *n, struct vm *vm, int fd)
{
	int err;

	n->fd = fd;
	err = tap_adopt_fd(fd, &n->is_tap);
	if (err)
		return err;
	err = evloop_add(vm->loop, fd, 0, net_fd_event, n);
	if (err) {
		fprintf(stderr, "kiln-vmm: %s: evloop_add: %s\n", n->name,
			strerror(-err));
		return err;
	}
	n->registered = true;
	n->connected = true;
	return 0;
}

/* fd < 0: disconnected. */
static int net_create_on(struct vm *vm, int fd, const char *label,
			 const uint8_t mac[6], struct virtio_dev **out)
{
	struct net *n;
	uint64_t feat;
	int err;

	if (mac && ((mac[0] & 1) ||
		    !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))) {
		fprintf(stderr, "kiln-vmm: net: guest MAC must be a unicast "
				"address other than 00:00:00:00:00:00\n");
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (!vm->loop) {
		fprintf(stderr, "kiln-vmm: net: needs the event loop\n");
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	n->vm = vm;
	n->fd = -1;
	snprintf(n->name, sizeof(n->name), "net %s", label);
	if (mac) {
		n->has_mac = true;
		memcpy(n->mac, mac, 6);
	}
	n->rx_stalled = true; /* until activate */
	if (fd >= 0) {
		err = net_connect(n, vm, fd);
		if (err)
			goto fail;
	}

	feat = BIT(VIRTIO_F_RING_EVENT_IDX) | BIT(VIRTIO_NET_F_STATUS) |
	       BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
	       BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
	       BIT(VIRTIO_NET_F_HOST_ECN);
	if (n->has_mac)
		feat |= BIT(VIRTIO_NET_F_MAC);
	if (!n->connected || tap_offloads_supported(n->fd, n->is_tap))
		feat |= BIT(VIRTIO_NET_F_GUEST_CSUM) |
			BIT(VIRTIO_NET_F_GUEST_TSO4) |
			BIT(VIRTIO_NET_F_GUEST_TSO6) |
			BIT(VIRTIO_NET_F_GUEST_ECN);
	else
		fprintf(stderr,
			"kiln-vmm: %s: the TAP refuses offloads; the guest "
			"gets fully checksummed, unsegmented frames\n",
			n->name);
	n->dev.name = n->name;
	n->dev.device_id = VIRTIO_ID_NET;
	n->dev.host_features = feat;
	n->dev.nqueues = 2;
	n->dev.queue_max[NET_QUEUE_RX] = NET_QUEUE_SIZE;
	n->dev.queue_max[NET_QUEUE_TX] = NET_QUEUE_SIZE;
	n->dev.ops = &net_ops;
	n->dev.priv = n;
	err = virtio_mmio_attach(vm, &n->dev);
	if (err)
		goto fail;
	*out = &n->dev;
	return 0;
fail:
	net_free(n);
	return err;
}

int net_create(struct vm *vm, const char *tap_name, const uint8_t mac[6],
	       struct virtio_dev **out)
{
	int fd;

	if (!tap_name)
		return net_create_on(vm, -1, "(disconnected)", mac, out);
	fd = tap_open(tap_name);

	if (fd < 0)
		return fd;
	return net_create_on(vm, fd, tap_name, mac, out);
}

int net_create_fd(struct vm *vm, int fd, const uint8_t mac[6],
		  struct virtio_dev **out)
{
	char label[24];

	if (fd < 0) {
		fprintf(stderr, "kiln-vmm: net: invalid fd %d\n", fd);
		return -EBADF;
	}
	snprintf(label, sizeof(label), "fd %d", fd);
	return net_create_on(vm, fd, label, mac, out);
}

void net_destroy(struct virtio_dev *d)
{
	if (!d || d->ops != &net_ops)
		return;
	virtio_mmio_detach(d);
	net_free(to_net(d));
}
