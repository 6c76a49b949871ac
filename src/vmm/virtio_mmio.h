/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport, version 2 (virtio 1.x, no legacy).  A device fills
 * in struct virtio_dev (id, features, queues, ops) and calls
 * virtio_mmio_attach(): the transport claims a 4 KiB MMIO window and a GSI
 * from the VM, appends `virtio_mmio.device=4K@<base>:<gsi>` to the kernel
 * command line, wires QueueNotify to one ioeventfd per queue and the
 * interrupt to an irqfd, and serves the register file.
 *
 * Locking: d->lock is held around every ops callback.  Register accesses
 * come from vCPU threads, queue notifications and backend events from the
 * event loop thread.
 *
 * Without KVM (vm->vm_fd < 0, unit tests) or when KVM_IOEVENTFD/KVM_IRQFD
 * fail, the transport falls back: a QueueNotify write reaching the register
 * file is forwarded to the queue's eventfd on the event loop, or handled
 * inline when there is no loop; interrupts use KVM_IRQ_LINE, or are only
 * counted (d->interrupts) when there is no VM.
 */
#ifndef KILN_VMM_VIRTIO_MMIO_H
#define KILN_VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq.h"

struct vm;
struct virtio_dev;
struct snap_buf;
struct snap_reader;

/* Device IDs */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_VSOCK 19

/* Status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* virtio-mmio VendorID: "KILN" as little-endian bytes. */
#define VIRTIO_MMIO_VENDOR_ID 0x4e4c494bU

/* Transport feature bits */
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Interrupt status bits */
#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

struct virtio_dev_ops {
	/* Config space (offset from 0x100); out of range reads give 0. */
	void (*config_read)(struct virtio_dev *d, uint32_t off, uint8_t *data,
			    uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off,
			     const uint8_t *data, uint32_t len);
	/* DRIVER_OK was set: start backends.  Non-zero fails the device. */
	int (*activate)(struct virtio_dev *d);
	/* Status written 0 or device torn down: stop backends, drop state. */
	void (*reset)(struct virtio_dev *d);
	/* The driver kicked queue q (only called while the device is live and
	 * q is ready).  Do bounded work; if chains remain, call
	 * virtio_queue_defer() to be called again after other events. */
	void (*queue_notify)(struct virtio_dev *d, uint16_t q);
	/*
	 * Optional, for snapshots: device state beyond the transport (not
	 * host resources such as file or socket paths).  save appends it to
	 * b; restore reads it back into a device created with the same
	 * configuration, after the transport state (queues) is in place and
	 * before activate.  restore returns 0, or -1 with err and then must
	 * not have changed anything ops->reset would not undo.  Each is
	 * called with d->lock held; a device without them saves nothing and
	 * refuses a snapshot that carries device state.
	 */
	void (*save)(struct virtio_dev *d, struct snap_buf *b);
	int (*restore)(struct virtio_dev *d, struct snap_reader *r, char *err,
		       size_t errlen);
};

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev {
	/* Set by the device before virtio_mmio_attach() */
	const char *name; /* "blk0", for logs */
	uint32_t device_id;
	/* VIRTIO_F_VERSION_1 is added by the transport. */
	uint64_t host_features;
	uint16_t nqueues;
	uint16_t queue_max[VIRTIO_MAX_QUEUES];
	const struct virtio_dev_ops *ops;
	void *priv;

	/* Transport state */
	struct vm *vm;
	pthread_mutex_t lock;
	uint64_t guest_features;
	uint32_t status;
	uint32_t isr;
	uint32_t config_generation;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	uint64_t mmio_base;
	uint32_t gsi;
	int irqfd; /* eventfd bound to gsi with KVM_IRQFD, or -1 */
	int notify_fd[VIRTIO_MAX_QUEUES]; /* on the event loop, or -1 */
	uint32_t ioeventfd_mask; /* queues whose notify_fd KVM signals */
	bool features_invalid; /* driver accepted features beyond bit 63 */
	uint32_t deferred; /* queues with deferred work and no event loop */
	uint64_t interrupts; /* interrupts raised (statistics, tests) */
	unsigned int warnings; /* log lines so far (rate limit) */
	struct virtio_notify {
		struct virtio_dev *d;
		uint16_t q;
	} notify_ctx[VIRTIO_MAX_QUEUES];
};

/*
 * Claim a window and GSI, register handlers.  Returns 0 or -errno (and has
 * logged why).  A failed attach may have named the window on the kernel
 * command line already: the VM must not be started then.
 */
int virtio_mmio_attach(struct vm *vm, struct virtio_dev *d);
/*
 * Reset the device and release its eventfds.  The MMIO window stays
 * registered (the trap registry has no removal), so call this only once
 * the vCPUs have stopped, while tearing the VM down.
 */
void virtio_mmio_detach(struct virtio_dev *d);

/*
 * Snapshots.  virtio_mmio_save() appends the transport state (status,
 * features, selectors, ISR, every queue's configuration and indices) and
 * then ops->save's device state as a length-prefixed blob.  Call it with
 * the vCPUs paused; d->lock makes it atomic with respect to the event
 * loop, so no request is half done.  Returns 0, or -ENOMEM if b ran out of
 * memory.
 *
 * virtio_mmio_restore() reads that back into a device just created and
 * attached with the same configuration (same MMIO window and GSI: checked,
 * like the device id, offered features and queue sizes).  Everything is
 * validated as if the guest had written it (a snapshot is untrusted
 * input); on any error the device is left reset and -1 returned with err.
 * On success a live device is activated, a pending ISR is raised again
 * and every ready queue is run once from the event loop (work deferred or
 * a kick in flight at snapshot time is not lost).  Guest RAM must hold
 * the snapshot's memory (rings are checked) and the interrupt controller
 * its restored state (an interrupt may be raised) before this is called,
 * with the vCPUs not yet running.  Leaves r just past this device's data.
 */
int virtio_mmio_save(struct virtio_dev *d, struct snap_buf *b);
int virtio_mmio_restore(struct virtio_dev *d, struct snap_reader *r, char *err,
			size_t errlen);

/* The register file; exposed for unit tests and the trap registry. */
void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data,
			uint32_t len, bool is_write);

/* Raise the used-buffer interrupt if q wants one (call with d->lock held). */
void virtio_signal_used(struct virtio_dev *d, uint16_t q);
/* Raise a config-change interrupt. */
void virtio_signal_config(struct virtio_dev *d);

/*
 * The driver did something illegal: log why, set NEEDS_RESET, raise a config
 * interrupt and ignore the device's queues until the driver resets it.
 */
void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True once DRIVER_OK is set and the device has not failed. */
bool virtio_dev_live(const struct virtio_dev *d);

/*
 * Log a complaint about the driver ("kiln-vmm: <name>: ..."), at most a
 * few dozen per device so a hostile guest cannot flood the log.
 */
void virtio_dev_warn(struct virtio_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Ask for ops->queue_notify(d, q) to run again from the event loop after
 * other pending events (bounded work per notification).  Without an event
 * loop (unit tests) it only sets the bit in d->deferred; the next kick runs
 * the queue.  Call with d->lock held.
 */
void virtio_queue_defer(struct virtio_dev *d, uint16_t q);

#endif
