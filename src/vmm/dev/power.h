/* SPDX-License-Identifier: MIT */
/*
 * Power control the guest can reach without ACPI:
 *   port 0x501, any write   power off (kiln's agent writes 0 through
 *                           /dev/port after syncing) -> exit status 0
 *   port 0x64, write 0xfe   i8042 "pulse reset line" -> reboot (status 2),
 *                           or crash (3) after a kernel panic
 * Reads of both ports return 0xff: there is no keyboard controller, and
 * saying so keeps Linux's i8042 driver from probing further.
 */
#ifndef KILN_VMM_DEV_POWER_H
#define KILN_VMM_DEV_POWER_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define POWER_OFF_PORT 0x501
#define POWER_I8042_CMD_PORT 0x64
#define POWER_I8042_RESET 0xfe

/* Register both ports on vm->pio.  0 or -errno. */
int power_create(struct vm *vm);

/* The trap handlers (opaque = struct vm *), exposed for unit tests. */
void power_off_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write);
void power_i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write);

#endif
