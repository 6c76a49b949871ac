/* SPDX-License-Identifier: MIT */
/*
 * PIT, kvmclock and irqchip state (see vm_state.h).
 *
 * The clock is restored to the saved kvmclock value, not advanced by the
 * time the snapshot sat on disk: guest time must never go backwards, and a
 * forward jump of minutes trips the guest's watchdogs; the guest resyncs
 * its wall clock itself (NTP or the agent) if it cares.  So the flags given
 * to KVM_SET_CLOCK are 0 even where KVM offers KVM_CLOCK_REALTIME.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "snapshot.h"
#include "vm.h"
#include "vm_state.h"

#define NCHIPS 3

static int vm_ioctl_err(char *err, size_t errlen, const char *name)
{
	snprintf(err, errlen, "%s: %s", name, strerror(errno));
	return -1;
}

int vm_state_save(struct vm *vm, struct snap_buf *b, char *err, size_t errlen)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	size_t mark;

	memset(&pit, 0, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
		return vm_ioctl_err(err, errlen, "KVM_GET_PIT2");
	mark = snap_section_begin(b, SNAP_TAG_PIT, 0);
	snap_put(b, &pit, sizeof(pit));
	snap_section_end(b, mark);

	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return vm_ioctl_err(err, errlen, "KVM_GET_CLOCK");
	mark = snap_section_begin(b, SNAP_TAG_CLOCK, 0);
	snap_put(b, &clock, sizeof(clock));
	snap_section_end(b, mark);

	for (uint32_t id = 0; id < NCHIPS; id++) {
		struct kvm_irqchip chip;

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return vm_ioctl_err(err, errlen, "KVM_GET_IRQCHIP");
		mark = snap_section_begin(b, SNAP_TAG_IRQCHIP, id);
		snap_put(b, &chip, sizeof(chip));
		snap_section_end(b, mark);
	}
	if (b->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Copy section (tag, instance) of exactly n bytes into out. */
static int vm_state_get(const uint8_t *body, size_t len, uint32_t tag,
			uint32_t instance, const char *name, void *out,
			size_t n, char *err, size_t errlen)
{
	struct snap_reader r;

	if (snap_find_section(body, len, tag, instance, &r)) {
		snprintf(err, errlen, "the snapshot has no %s state", name);
		return -1;
	}
	snap_get(&r, out, n);
	if (!snap_reader_done(&r)) {
		snprintf(err, errlen,
			 "the snapshot's %s state has the wrong size", name);
		return -1;
	}
	return 0;
}

int vm_state_restore(struct vm *vm, const uint8_t *body, size_t len, char *err,
		     size_t errlen)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	if (vm_state_get(body, len, SNAP_TAG_PIT, 0, "PIT", &pit, sizeof(pit),
			 err, errlen))
		return -1;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return vm_ioctl_err(err, errlen, "KVM_SET_PIT2");
	if (vm_state_get(body, len, SNAP_TAG_CLOCK, 0, "kvmclock", &clock,
			 sizeof(clock), err, errlen))
		return -1;
	clock.flags = 0; /* the saved value exactly: see the top */
	memset(clock.pad, 0, sizeof(clock.pad));
	clock.realtime = 0;
	clock.host_tsc = 0;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return vm_ioctl_err(err, errlen, "KVM_SET_CLOCK");
	for (uint32_t id = 0; id < NCHIPS; id++) {
		struct kvm_irqchip chip;

		if (vm_state_get(body, len, SNAP_TAG_IRQCHIP, id,
				 "interrupt controller", &chip, sizeof(chip),
				 err, errlen))
			return -1;
		if (chip.chip_id != id) {
			snprintf(err, errlen,
				 "interrupt controller section %u holds chip "
				 "%u",
				 id, chip.chip_id);
			return -1;
		}
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return vm_ioctl_err(err, errlen, "KVM_SET_IRQCHIP");
	}
	return 0;
}
