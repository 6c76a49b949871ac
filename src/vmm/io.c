/* SPDX-License-Identifier: MIT */
/*
 * The trap registry.  Ranges are registered while the VM is being built
 * (single-threaded) and only looked up afterwards, so lookups need no lock.
 * A table of at most IO_MAX_RANGES entries is scanned linearly: exits are
 * dominated by the KVM round trip, not by this scan.
 */
#include <errno.h>
#include <string.h>

#include "io.h"

int io_register(struct io_bus *bus, uint64_t base, uint64_t len,
		io_handler_fn fn, void *opaque)
{
	if (len == 0 || !fn || base + len < base)
		return -EINVAL;
	for (int i = 0; i < bus->n; i++) {
		const struct io_range *r = &bus->ranges[i];

		/* [base, base+len) and [r->base, r->base+r->len) intersect */
		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->n >= IO_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->n++] = (struct io_range){
		.base = base, .len = len, .fn = fn, .opaque = opaque};
	return 0;
}

bool io_dispatch(const struct io_bus *bus, uint64_t addr, uint8_t *data,
		 uint32_t len, bool is_write)
{
	for (int i = 0; len && i < bus->n; i++) {
		const struct io_range *r = &bus->ranges[i];
		uint64_t off = addr - r->base;

		if (addr < r->base || off >= r->len)
			continue;
		/*
		 * An access that runs past the end of the range belongs to no
		 * device: handlers may assume offset + len <= their length.
		 */
		if (len > r->len - off)
			break;
		r->fn(r->opaque, off, data, len, is_write);
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
