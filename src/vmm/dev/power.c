/* SPDX-License-Identifier: MIT */
/* Power-off and reset ports (see power.h). */
#include <stdio.h>
#include <string.h>

#include "vmm/dev/power.h"
#include "vmm/io.h"
#include "vmm/vm.h"

void power_off_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct vm *vm = opaque;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	fprintf(stderr, "kiln-vmm: guest powered off\n");
	vm_request_exit(vm, VM_EXIT_POWEROFF);
}

void power_i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct vm *vm = opaque;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, len); /* no controller */
		return;
	}
	if (data[0] == POWER_I8042_RESET)
		vm_guest_reset(vm, "i8042 reset");
}

int power_create(struct vm *vm)
{
	int rc = io_register(&vm->pio, POWER_OFF_PORT, 1, power_off_io, vm);

	if (rc)
		return rc;
	return io_register(&vm->pio, POWER_I8042_CMD_PORT, 1, power_i8042_io,
			   vm);
}
