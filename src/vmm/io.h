/* SPDX-License-Identifier: MIT */
/*
 * The trap registry: one table for port I/O and one for MMIO.  A vCPU exit
 * (KVM_EXIT_IO / KVM_EXIT_MMIO) is routed to the handler whose range holds
 * the address.  Handlers get the offset into their range, not the absolute
 * address.  Unclaimed reads return all ones (0xFF bytes) so the guest does
 * not find phantom devices; unclaimed writes are dropped.
 *
 * Handlers run on vCPU threads: a device whose state is also touched by the
 * event loop takes its own lock.
 */
#ifndef KILN_VMM_IO_H
#define KILN_VMM_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

enum io_space { IO_PIO, IO_MMIO };

typedef void (*io_handler_fn)(void *opaque, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	io_handler_fn fn;
	void *opaque;
};

#define IO_MAX_RANGES 64

struct io_bus {
	int n;
	struct io_range ranges[IO_MAX_RANGES];
};

/* Returns 0, -EEXIST on overlap, -ENOSPC when full, -EINVAL on len 0. */
int io_register(struct io_bus *bus, uint64_t base, uint64_t len,
		io_handler_fn fn, void *opaque);

/*
 * Dispatch one access.  Returns true if a handler claimed it; otherwise
 * fills data with 0xFF on reads and returns false.
 */
bool io_dispatch(const struct io_bus *bus, uint64_t addr, uint8_t *data,
		 uint32_t len, bool is_write);

#endif
