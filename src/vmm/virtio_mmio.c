/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport, version 2 (virtio 1.1 section 4.2.2).
 *
 * The register file is driven by the guest, so every write is checked
 * against the device status state machine: features can only be chosen
 * between DRIVER and FEATURES_OK, queues can only be configured while not
 * ready, and anything out of order is ignored with a (rate-limited) log
 * line.  Nothing the guest writes here can crash the VMM.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "evloop.h"
#include "io.h"
#include "virtio_mmio.h"
#include "virtio_mmio_priv.h"
#include "vm.h"

#define VIRTIO_MMIO_MAGIC 0x74726976U /* "virt" */
#define VIRTIO_MMIO_VERSION 2

/* Register offsets inside the 4 KiB window. */
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_SHM_SEL 0x0ac
#define REG_SHM_LEN_LOW 0x0b0
#define REG_SHM_LEN_HIGH 0x0b4
#define REG_SHM_BASE_LOW 0x0b8
#define REG_SHM_BASE_HIGH 0x0bc
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define VIRTIO_WARN_LIMIT 32

uint64_t virtio_offered_features(const struct virtio_dev *d)
{
	return d->host_features | (1ULL << VIRTIO_F_VERSION_1);
}

static void virtio_dev_vlog(struct virtio_dev *d, const char *fmt, va_list ap)
{
	if (d->warnings > VIRTIO_WARN_LIMIT)
		return;
	if (d->warnings++ == VIRTIO_WARN_LIMIT) {
		fprintf(stderr,
			"kiln-vmm: %s: too many driver errors, "
			"suppressing further messages\n",
			d->name);
		return;
	}
	fprintf(stderr, "kiln-vmm: %s: ", d->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void virtio_dev_warn(struct virtio_dev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	virtio_dev_vlog(d, fmt, ap);
	va_end(ap);
}

bool virtio_dev_live(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(d->status &
		 (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void virtio_raise_irq(struct virtio_dev *d, uint32_t why)
{
	d->isr |= why;
	d->interrupts++;
	if (d->irqfd >= 0) {
		if (eventfd_write(d->irqfd, 1) < 0)
			virtio_dev_warn(d, "cannot signal irqfd: %s",
					strerror(errno));
		return;
	}
	if (d->vm && d->vm->vm_fd >= 0) {
		/* No irqfd: pulse the line (edge) ourselves. */
		struct kvm_irq_level irq = {.irq = d->gsi, .level = 1};

		if (ioctl(d->vm->vm_fd, KVM_IRQ_LINE, &irq) == 0) {
			irq.level = 0;
			if (ioctl(d->vm->vm_fd, KVM_IRQ_LINE, &irq) == 0)
				return;
		}
		virtio_dev_warn(d, "KVM_IRQ_LINE for GSI %u failed: %s", d->gsi,
				strerror(errno));
	}
	/* No VM (unit tests): the interrupt is only recorded in isr and
	 * d->interrupts. */
}

void virtio_signal_used(struct virtio_dev *d, uint16_t q)
{
	if (q >= d->nqueues || !d->vqs[q].ready)
		return;
	if (virtq_should_signal(&d->vqs[q]))
		virtio_raise_irq(d, VIRTIO_INT_USED);
}

void virtio_signal_config(struct virtio_dev *d)
{
	d->config_generation++;
	virtio_raise_irq(d, VIRTIO_INT_CONFIG);
}

void virtio_dev_fail(struct virtio_dev *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->status & VIRTIO_STATUS_NEEDS_RESET)
		return; /* already failed; said why the first time */
	virtio_dev_warn(d, "%s; device stopped until the driver resets it",
			msg);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	virtio_raise_irq(d, VIRTIO_INT_CONFIG);
}

void virtio_queue_defer(struct virtio_dev *d, uint16_t q)
{
	if (q >= d->nqueues)
		return;
	if (d->notify_fd[q] >= 0) {
		if (eventfd_write(d->notify_fd[q], 1) == 0)
			return;
		virtio_dev_warn(d, "queue %u: cannot defer work: %s", q,
				strerror(errno));
	}
	d->deferred |= 1U << q;
}

void virtio_dev_reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	for (int i = 0; i < d->nqueues; i++)
		virtq_reset(&d->vqs[i]);
	d->status = 0;
	d->guest_features = 0;
	d->features_invalid = false;
	d->isr = 0;
	d->device_features_sel = 0;
	d->driver_features_sel = 0;
	d->queue_sel = 0;
	d->deferred = 0;
}

/* Run the device on queue q; d->lock held. */
static void virtio_queue_run(struct virtio_dev *d, uint16_t q)
{
	if (!virtio_dev_live(d) || !d->vqs[q].ready || !d->ops->queue_notify)
		return;
	d->deferred &= ~(1U << q);
	d->ops->queue_notify(d, q);
}

/* Event loop: a queue's eventfd fired (guest kick or deferred work). */
static void virtio_notify_event(void *opaque, uint32_t events)
{
	struct virtio_notify *n = opaque;
	struct virtio_dev *d = n->d;
	eventfd_t count;

	(void)events;
	/* Non-blocking: EAGAIN just means someone else drained it. */
	(void)eventfd_read(d->notify_fd[n->q], &count);
	pthread_mutex_lock(&d->lock);
	virtio_queue_run(d, n->q);
	pthread_mutex_unlock(&d->lock);
}

static void virtio_queue_notify_write(struct virtio_dev *d, uint32_t val)
{
	if (val >= d->nqueues) {
		virtio_dev_warn(d, "notify for queue %u, device has %u", val,
				d->nqueues);
		return;
	}
	if (!virtio_dev_live(d) || !d->vqs[val].ready)
		return; /* kicks before DRIVER_OK or after a failure: ignore */
	if (d->notify_fd[val] >= 0 && eventfd_write(d->notify_fd[val], 1) == 0)
		return; /* the event loop runs the queue */
	virtio_queue_run(d, (uint16_t)val);
}

static bool features_acceptable(struct virtio_dev *d)
{
	uint64_t extra = d->guest_features & ~virtio_offered_features(d);

	if (extra) {
		virtio_dev_warn(d,
				"driver accepted features 0x%" PRIx64
				" that were not offered; FEATURES_OK refused",
				extra);
		return false;
	}
	if (d->features_invalid) {
		virtio_dev_warn(d, "driver accepted features above bit 63, "
				   "none are offered; FEATURES_OK refused");
		return false;
	}
	if (!(d->guest_features & (1ULL << VIRTIO_F_VERSION_1))) {
		virtio_dev_warn(d, "driver did not accept VERSION_1 (legacy "
				   "drivers are not supported); FEATURES_OK "
				   "refused");
		return false;
	}
	return true;
}

static void virtio_status_write(struct virtio_dev *d, uint32_t val)
{
	uint32_t old = d->status, set, need;

	if (val == 0) {
		virtio_dev_reset(d);
		return;
	}
	/* NEEDS_RESET is the device's bit: the driver can neither set nor
	 * clear it. */
	val = (val & 0xff & ~VIRTIO_STATUS_NEEDS_RESET) |
	      (old & VIRTIO_STATUS_NEEDS_RESET);
	if (old & ~val) {
		virtio_dev_warn(d,
				"driver cleared status bits 0x%x without a "
				"reset; write of 0x%x ignored",
				old & ~val, val);
		return;
	}
	set = val & ~old;
	if (!set)
		return;

	/* Each step of the initialisation sequence needs the previous one. */
	need = 0;
	if (val & VIRTIO_STATUS_DRIVER)
		need |= VIRTIO_STATUS_ACKNOWLEDGE;
	if (val & VIRTIO_STATUS_FEATURES_OK)
		need |= VIRTIO_STATUS_DRIVER;
	if (val & VIRTIO_STATUS_DRIVER_OK)
		need |= VIRTIO_STATUS_FEATURES_OK;
	if ((need & val) != need) {
		virtio_dev_warn(d,
				"status 0x%x out of order (missing 0x%x); "
				"ignored",
				val, need & ~val);
		return;
	}
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(d)) {
		/* The driver reads status back and sees FEATURES_OK unset. */
		val &= ~VIRTIO_STATUS_FEATURES_OK;
		val &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	if (set & VIRTIO_STATUS_FAILED)
		virtio_dev_warn(d, "driver gave up on the device (FAILED)");

	d->status = val;
	if ((val & set & VIRTIO_STATUS_DRIVER_OK) && d->ops->activate &&
	    !(val & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED))) {
		int err = d->ops->activate(d);

		if (err)
			virtio_dev_fail(d, "cannot start the device: %s",
					strerror(err < 0 ? -err : err));
	}
}

static void virtio_features_write(struct virtio_dev *d, uint32_t val)
{
	uint32_t sel = d->driver_features_sel;

	if (!(d->status & VIRTIO_STATUS_DRIVER) ||
	    (d->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_dev_warn(d,
				"DriverFeatures written in status 0x%x; "
				"ignored",
				d->status);
		return;
	}
	if (sel == 0)
		d->guest_features = (d->guest_features & ~0xffffffffULL) | val;
	else if (sel == 1)
		d->guest_features = (d->guest_features & 0xffffffffULL) |
				    (uint64_t)val << 32;
	else if (val)
		d->features_invalid = true;
}

static struct virtq *selected_queue(struct virtio_dev *d)
{
	return d->queue_sel < d->nqueues ? &d->vqs[d->queue_sel] : NULL;
}

/* Queue registers that may only change while the queue is not ready. */
static struct virtq *queue_for_config(struct virtio_dev *d, const char *reg)
{
	struct virtq *q = selected_queue(d);

	if (!q) {
		virtio_dev_warn(d, "%s written for queue %u, device has %u",
				reg, d->queue_sel, d->nqueues);
		return NULL;
	}
	if (q->ready) {
		virtio_dev_warn(d,
				"%s written while queue %u is ready; "
				"ignored",
				reg, d->queue_sel);
		return NULL;
	}
	return q;
}

static void set_low(uint64_t *v, uint32_t val)
{
	*v = (*v & ~0xffffffffULL) | val;
}

static void set_high(uint64_t *v, uint32_t val)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
}

static void virtio_queue_ready_write(struct virtio_dev *d, uint32_t val)
{
	struct virtq *q = selected_queue(d);

	if (!q) {
		virtio_dev_warn(d,
				"QueueReady written for queue %u, device "
				"has %u",
				d->queue_sel, d->nqueues);
		return;
	}
	if (!val) {
		q->ready = false;
		return;
	}
	if (q->ready)
		return;
	if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_dev_warn(d,
				"queue %u enabled before FEATURES_OK; "
				"ignored",
				d->queue_sel);
		return;
	}
	q->event_idx = d->guest_features & (1ULL << VIRTIO_F_RING_EVENT_IDX);
	if (virtq_validate(q)) {
		virtio_dev_fail(d, "queue %u: %s", d->queue_sel, q->error);
		return;
	}
	q->ready = true;
}

static void virtio_reg_write(struct virtio_dev *d, uint64_t off, uint32_t val)
{
	struct virtq *q;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		d->device_features_sel = val;
		break;
	case REG_DRIVER_FEATURES:
		virtio_features_write(d, val);
		break;
	case REG_DRIVER_FEATURES_SEL:
		d->driver_features_sel = val;
		break;
	case REG_QUEUE_SEL:
		d->queue_sel = val;
		break;
	case REG_QUEUE_NUM:
		q = queue_for_config(d, "QueueNum");
		if (!q)
			break;
		if (val == 0 || val > q->num_max || (val & (val - 1))) {
			/* Stored as invalid so QueueReady fails loudly. */
			virtio_dev_warn(d,
					"queue %u: QueueNum %u is not a power "
					"of two <= %u",
					d->queue_sel, val, q->num_max);
			q->num = 0;
			break;
		}
		q->num = (uint16_t)val;
		break;
	case REG_QUEUE_READY:
		virtio_queue_ready_write(d, val);
		break;
	case REG_QUEUE_NOTIFY:
		virtio_queue_notify_write(d, val);
		break;
	case REG_INTERRUPT_ACK:
		d->isr &= ~val;
		break;
	case REG_STATUS:
		virtio_status_write(d, val);
		break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH: {
		static const char *const names[] = {"QueueDesc", "QueueDriver",
						    "QueueDevice"};
		unsigned int which =
			(unsigned int)(off - REG_QUEUE_DESC_LOW) / 0x10;
		uint64_t *gpa;

		q = queue_for_config(d, names[which]);
		if (!q)
			break;
		gpa = which == 0   ? &q->desc_gpa
		      : which == 1 ? &q->avail_gpa
				   : &q->used_gpa;
		if (off & 4)
			set_high(gpa, val);
		else
			set_low(gpa, val);
		break;
	}
	case REG_SHM_SEL:
		break; /* no shared memory regions: reads below say so */
	default:
		virtio_dev_warn(d,
				"write 0x%x to read-only or unknown register "
				"0x%03" PRIx64 "; ignored",
				val, off);
		break;
	}
}

static uint32_t virtio_reg_read(struct virtio_dev *d, uint64_t off)
{
	struct virtq *q = selected_queue(d);

	switch (off) {
	case REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:
		return VIRTIO_MMIO_VERSION;
	case REG_DEVICE_ID:
		return d->device_id;
	case REG_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR_ID;
	case REG_DEVICE_FEATURES:
		if (d->device_features_sel == 0)
			return (uint32_t)virtio_offered_features(d);
		if (d->device_features_sel == 1)
			return (uint32_t)(virtio_offered_features(d) >> 32);
		return 0;
	case REG_QUEUE_NUM_MAX:
		return q ? q->num_max : 0;
	case REG_QUEUE_READY:
		return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS:
		return d->isr;
	case REG_STATUS:
		return d->status;
	case REG_CONFIG_GENERATION:
		return d->config_generation;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
	case REG_SHM_BASE_LOW:
	case REG_SHM_BASE_HIGH:
		return 0xffffffffU; /* "no such region" */
	default:
		virtio_dev_warn(d,
				"read of write-only or unknown register "
				"0x%03" PRIx64 "; returning 0",
				off);
		return 0;
	}
}

static void virtio_config_access(struct virtio_dev *d, uint64_t off,
				 uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t coff = (uint32_t)(off - REG_CONFIG);

	if (len == 0 || len > 8 || off + len > VM_VIRTIO_MMIO_SIZE) {
		virtio_dev_warn(d,
				"config access of %u bytes at 0x%" PRIx64
				" outside the window; ignored",
				len, off);
		if (!is_write)
			memset(data, 0, len > 8 ? 8 : len);
		return;
	}
	if (is_write) {
		if (d->ops->config_write)
			d->ops->config_write(d, coff, data, len);
		else
			virtio_dev_warn(d, "config space is read-only; write "
					   "ignored");
		return;
	}
	memset(data, 0, len);
	if (d->ops->config_read)
		d->ops->config_read(d, coff, data, len);
}

void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct virtio_dev *d = opaque;
	uint32_t val;

	pthread_mutex_lock(&d->lock);
	if (offset >= REG_CONFIG) {
		virtio_config_access(d, offset, data, len, is_write);
	} else if (len != 4 || (offset & 3)) {
		/* virtio-mmio registers are 32-bit only (spec 4.2.2.2). */
		virtio_dev_warn(d,
				"%u-byte %s at register 0x%03" PRIx64
				" (must be 4-byte aligned 32-bit); ignored",
				len, is_write ? "write" : "read", offset);
		if (!is_write)
			memset(data, 0, len > 8 ? 8 : len);
	} else if (is_write) {
		memcpy(&val, data, 4);
		virtio_reg_write(d, offset, le32toh(val));
	} else {
		val = htole32(virtio_reg_read(d, offset));
		memcpy(data, &val, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

static int virtio_check_dev(const struct virtio_dev *d)
{
	if (!d->name || !d->ops || d->nqueues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	for (int i = 0; i < d->nqueues; i++) {
		uint32_t m = d->queue_max[i];

		if (m == 0 || (m & (m - 1)) || m > 32768)
			return -EINVAL;
	}
	return 0;
}

static void virtio_release_fds(struct virtio_dev *d)
{
	uint64_t notify_addr = d->mmio_base + REG_QUEUE_NOTIFY;

	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (d->notify_fd[i] < 0)
			continue;
		if (d->ioeventfd_mask & (1U << i))
			vm_ioeventfd_remove(d->vm, d->notify_fd[i], notify_addr,
					    (uint32_t)i);
		if (d->vm->loop)
			evloop_del(d->vm->loop, d->notify_fd[i]);
		close(d->notify_fd[i]);
		d->notify_fd[i] = -1;
	}
	d->ioeventfd_mask = 0;
	if (d->irqfd >= 0)
		close(d->irqfd); /* closing the eventfd detaches the irqfd */
	d->irqfd = -1;
}

/* Queue kicks: an eventfd per queue on the loop, signalled by KVM if we can. */
static int virtio_setup_notify(struct vm *vm, struct virtio_dev *d)
{
	uint64_t notify_addr = d->mmio_base + REG_QUEUE_NOTIFY;
	int err;

	for (uint16_t i = 0; i < d->nqueues && vm->loop; i++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			fprintf(stderr, "kiln-vmm: %s: eventfd: %s\n", d->name,
				strerror(errno));
			return err;
		}
		d->notify_ctx[i].d = d;
		d->notify_ctx[i].q = i;
		err = evloop_add(vm->loop, fd, EPOLLIN, virtio_notify_event,
				 &d->notify_ctx[i]);
		if (err) {
			close(fd);
			fprintf(stderr, "kiln-vmm: %s: evloop_add: %s\n",
				d->name, strerror(-err));
			return err;
		}
		d->notify_fd[i] = fd;
		if (vm->vm_fd < 0)
			continue;
		err = vm_ioeventfd(vm, fd, notify_addr, i);
		if (err)
			fprintf(stderr,
				"kiln-vmm: %s: KVM_IOEVENTFD failed (%s); "
				"queue %u kicks will exit to the VMM\n",
				d->name, strerror(-err), i);
		else
			d->ioeventfd_mask |= 1U << i;
	}

	if (vm->vm_fd >= 0) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd < 0) {
			err = -errno;
			fprintf(stderr, "kiln-vmm: %s: eventfd: %s\n", d->name,
				strerror(errno));
			return err;
		}
		err = vm_irqfd(vm, fd, d->gsi);
		if (err) {
			fprintf(stderr,
				"kiln-vmm: %s: KVM_IRQFD failed (%s); using "
				"KVM_IRQ_LINE\n",
				d->name, strerror(-err));
			close(fd);
		} else {
			d->irqfd = fd;
		}
	}
	return 0;
}

int virtio_mmio_attach(struct vm *vm, struct virtio_dev *d)
{
	int err;

	err = virtio_check_dev(d);
	if (err) {
		fprintf(stderr,
			"kiln-vmm: %s: invalid virtio device description "
			"(queues or ops)\n",
			d->name ? d->name : "virtio");
		return err;
	}
	d->vm = vm;
	d->status = d->isr = d->config_generation = 0;
	d->guest_features = 0;
	d->features_invalid = false;
	d->device_features_sel = d->driver_features_sel = d->queue_sel = 0;
	d->deferred = d->ioeventfd_mask = 0;
	d->interrupts = 0;
	d->warnings = 0;
	d->irqfd = -1;
	for (int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		memset(&d->vqs[i], 0, sizeof(d->vqs[i]));
		d->notify_fd[i] = -1;
		if (i < d->nqueues) {
			d->vqs[i].num_max = d->queue_max[i];
			d->vqs[i].mem = &vm->mem;
			virtq_reset(&d->vqs[i]);
		}
	}

	err = vm_alloc_mmio(vm, &d->mmio_base, &d->gsi);
	if (err) {
		fprintf(stderr,
			"kiln-vmm: %s: no free virtio-mmio window or GSI "
			"(too many devices)\n",
			d->name);
		return err;
	}
	err = pthread_mutex_init(&d->lock, NULL);
	if (err)
		return -err;
	err = virtio_setup_notify(vm, d);
	if (err)
		goto fail;
	err = vm_cmdline_append(vm, "virtio_mmio.device=4K@0x%" PRIx64 ":%u",
				d->mmio_base, d->gsi);
	if (err) {
		fprintf(stderr,
			"kiln-vmm: %s: kernel command line full; use a "
			"shorter --cmdline or fewer devices\n",
			d->name);
		goto fail;
	}
	err = io_register(&vm->mmio, d->mmio_base, VM_VIRTIO_MMIO_SIZE,
			  virtio_mmio_access, d);
	if (err) {
		fprintf(stderr,
			"kiln-vmm: %s: cannot register MMIO window 0x%" PRIx64
			": %s\n",
			d->name, d->mmio_base, strerror(-err));
		goto fail;
	}
	return 0;

fail:
	virtio_release_fds(d);
	pthread_mutex_destroy(&d->lock);
	return err;
}

void virtio_mmio_detach(struct virtio_dev *d)
{
	virtio_release_fds(d);
	pthread_mutex_lock(&d->lock);
	virtio_dev_reset(d);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&d->lock);
}
