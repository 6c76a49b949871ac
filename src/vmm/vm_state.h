/* SPDX-License-Identifier: MIT */
/*
 * VM-wide KVM state for snapshots: the PIT (SNAP_TAG_PIT), kvmclock
 * (SNAP_TAG_CLOCK) and the in-kernel interrupt controllers (SNAP_TAG_IRQCHIP,
 * instance = KVM chip id: 0 PIC master, 1 PIC slave, 2 IOAPIC).  Saved while
 * the vCPUs are paused; restored after the vCPUs' state (the LAPICs) and
 * before the devices, which may raise interrupts.
 */
#ifndef KILN_VMM_VM_STATE_H
#define KILN_VMM_VM_STATE_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct snap_buf;

int vm_state_save(struct vm *vm, struct snap_buf *b, char *err, size_t errlen);

/* From the state file body.  0 or -1 with err. */
int vm_state_restore(struct vm *vm, const uint8_t *body, size_t len, char *err,
		     size_t errlen);

#endif
