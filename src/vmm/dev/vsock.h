/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock device (device id 19) bridged to Unix sockets with
 * Firecracker's protocol (see vsock_uds.h).  Queues: RX 0, TX 1, EVENT 2;
 * config space: the guest CID (u64 LE).  Stream sockets only
 * (VIRTIO_VSOCK_F_SEQPACKET is not offered).
 *
 * Host sockets are only touched on the event loop thread; reset from a
 * vCPU thread detaches the connections and wakes the loop to close them.
 */
#ifndef KILN_VMM_DEV_VSOCK_H
#define KILN_VMM_DEV_VSOCK_H

#include <stdint.h>

struct vm;
struct virtio_dev;

#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1
#define VSOCK_QUEUE_EVENT 2
#define VSOCK_QUEUE_MAX 256

/* Event id on the EVENT queue (struct virtio_vsock_event, le32 id). */
#define VSOCK_EVENT_TRANSPORT_RESET 0

/*
 * Create the device, listen on uds_path and attach it to vm's virtio-mmio
 * bus.  guest_cid must be in [3, 2^32 - 2].  Returns 0 or -errno after
 * logging the reason (bad CID, path too long, directory missing, socket
 * path in use, ...).
 */
int vsock_create(struct vm *vm, uint64_t guest_cid, const char *uds_path,
		 struct virtio_dev **out);

/* Detach, close every socket, unlink uds_path.  Call with the event loop
 * stopped (or from its thread). */
void vsock_destroy(struct virtio_dev *d);

/*
 * Drop all connections (host sockets are closed by the event loop thread,
 * nothing is sent per connection) and post VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
 * on the EVENT queue, now or as soon as the driver offers an event buffer.
 * Used after a snapshot restore.  Any thread.  Returns 0 or -EINVAL if d is
 * not a vsock device.
 */
int vsock_send_transport_reset(struct virtio_dev *d);

/*
 * Snapshots: the device saves its guest CID through ops->save and, when
 * restored (virtio_mmio_restore), drops every connection and posts
 * TRANSPORT_RESET from the event loop, so guest connections die but
 * listeners on both sides survive.  The UDS path and the CID in effect are
 * those given to vsock_create() (a changed CID reaches the guest with the
 * reset).
 */

/* How long a host client may take to send "CONNECT <port>\n" (ms). */
void vsock_set_handshake_timeout(struct virtio_dev *d, unsigned int ms);

#endif
